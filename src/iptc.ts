// IPTC-IIM records (IPTC-NAA: caption, creator, copyright notice, keywords, ...) found where files
// keep them: as records, inside Photoshop image resources (resource 0x0404), or in a JPEG's APP13
// payload. Plain Uint8Array work (core code).

import { ascii, startsWith } from './bytes.js';

/** A JPEG APP13 segment's signature, before its Photoshop image resources. */
export const PHOTOSHOP_TAG = ascii('Photoshop 3.0\0');
/** Each Photoshop image resource's signature. */
export const IRB_SIGNATURE = ascii('8BIM');

/**
 * The IPTC-IIM records in `bytes`: records themselves (they start with the tag marker 0x1C), a
 * list of Photoshop image resources ("8BIM" ones: its IPTC-NAA resource, 0x0404), or a JPEG's
 * APP13 payload ("Photoshop 3.0" and that list, as sharp's `iptc` gives it); undefined when there
 * are none or the list is malformed.
 * @example
 * const records = iptcRecords((await sharp(jpeg).metadata()).iptc); // starts with 0x1c
 */
export function iptcRecords(bytes: Uint8Array | undefined): Uint8Array | undefined {
  if (!(bytes instanceof Uint8Array)) return undefined;
  const b = startsWith(bytes, 0, PHOTOSHOP_TAG) ? bytes.subarray(PHOTOSHOP_TAG.length) : bytes;
  if (b.length > 0 && b[0] === 0x1c) return b;
  for (let at = 0; at + 12 <= b.length;) {
    if (!startsWith(b, at, IRB_SIGNATURE)) return undefined;
    const id = (b[at + 4] << 8) | b[at + 5];
    const name = 1 + b[at + 6]; // a Pascal string, padded to an even length
    const p = at + 6 + name + (name & 1);
    if (p + 4 > b.length) return undefined;
    const size = ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
    if (p + 4 + size > b.length) return undefined;
    if (id === 0x0404) return size > 0 && b[p + 4] === 0x1c ? b.subarray(p + 4, p + 4 + size) : undefined;
    at = p + 4 + size + (size & 1);
  }
  return undefined;
}

