// An image file's metadata (EXIF, ICC profile, XMP, IPTC) read from encoded JPEG, PNG and WebP bytes and
// written into others, so that a marked copy keeps what its original carried. Pixels are marked
// as raw samples and re-encoded, and no encoder here carries metadata through raw samples: the
// blocks go into the encoded container instead (JPEG APP1 / APP2 segments, PNG chunks, WebP's
// extended-format chunks), and nothing is re-encoded. Plain Uint8Array work plus the web's
// CompressionStream for PNG's compressed profiles: runs in Node, browsers and workers alike.

import { invalidParameter } from './args.js';
import { ascii, startsWith } from './bytes.js';
import { genuineBytes } from './image.js';
import { iptcRecords, IRB_SIGNATURE, PHOTOSHOP_TAG } from './iptc.js';

export { iptcRecords };
import { isTiff, tiffRead, tiffWith } from './tiff.js';

/**
 * The metadata of an image file that a copy keeps.
 * - `exif`: the EXIF block as a TIFF structure (no "Exif\0\0" prefix).
 * - `icc`: the ICC profile; it describes the colours of the pixels it travels with.
 * - `xmp`: the XMP packet (XML, UTF-8).
 * - `iptc`: the IPTC-IIM records (IPTC-NAA: caption, creator, copyright notice, keywords, ...) as
 *   a JPEG's Photoshop APP13 resource 0x0404 or a TIFF's tag 33723 holds them. JPEG and TIFF carry
 *   them; PNG, WebP, AVIF and GIF have no standard place for them.
 * - `pngText`: a PNG's text chunks (tEXt, zTXt, iTXt) as they are stored: title, author,
 *   copyright, description, and what image generators record (Stable Diffusion's `parameters`,
 *   ComfyUI's `prompt` and `workflow`). PNG copies carry them; other formats have no place for them.
 *   The XMP packet (`xmp`) and ImageMagick's "Raw profile type" copies of EXIF, IPTC and XMP are not among them.
 * - `density`: the resolution in pixels per inch (as sharp's `density`): a JPEG's JFIF header, a
 *   PNG's pHYs chunk, a TIFF's resolution. A scan's 300 dpi decides its printed size.
 */
export interface ImageMetadata {
  exif?: Uint8Array | undefined;
  icc?: Uint8Array | undefined;
  xmp?: Uint8Array | undefined;
  iptc?: Uint8Array | undefined;
  pngText?: PngTextChunk[] | undefined;
  density?: number | undefined;
}

/** One PNG text chunk: its type and its data (keyword, separator and text, as stored; zTXt's deflated). */
export interface PngTextChunk {
  type: 'tEXt' | 'zTXt' | 'iTXt';
  data: Uint8Array;
}

/** The PNG text chunk types. */
const PNG_TEXT_TYPES = new Set(['tEXt', 'zTXt', 'iTXt']);

/**
 * The most PNG text a copy carries: 4 MiB of chunk data in all (an image generator's workflow is
 * tens to hundreds of kilobytes), in at most 1024 chunks. The chunks are copied as stored
 * (zTXt stays deflated), so a copy is never larger than the text of its original.
 */
export const PNG_TEXT_LIMITS = Object.freeze({ bytes: 4 << 20, chunks: 1024 });

/** The largest resolution a copy carries, in pixels per inch (JFIF's field holds 65535). */
const DENSITY_MAX = 65535;

/** `d` when it is a resolution a copy can carry (finite, at least 1 pixel per inch, at most DENSITY_MAX), else undefined. */
const densityOf = (d: unknown): number | undefined => (typeof d === 'number' && d >= 1 && d <= DENSITY_MAX ? d : undefined);

/** Formats whose metadata {@link readMetadata} reads and {@link embedMetadata} writes. */
export type MetadataFormat = 'jpeg' | 'png' | 'webp' | 'tiff';

/**
 * What {@link readMetadata} found: the blocks, the container's format and EXIF's orientation (1
 * to 8), and `warnings` when a block over {@link METADATA_LIMITS} was left out.
 */
export interface ReadMetadata extends ImageMetadata {
  format?: MetadataFormat;
  orientation?: number;
  /**
   * A block over its limit in METADATA_LIMITS, left out (e.g. "metadata: the XMP packet inflates
   * to over 1 MiB (the most a copy carries): left out"), or what a copy cannot carry (a JPEG's
   * further images in Multi-Picture Format: an HDR gain map, a depth map).
   */
  warnings?: string[];
}

const latin1 = (b: Uint8Array, from: number, to: number) => String.fromCharCode(...b.subarray(from, Math.min(to, b.length)));
const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/**
 * The largest block of each kind that a copy carries, in bytes: EXIF, XMP and IPTC 1 MiB, an ICC profile
 * 4 MiB (real ones are kilobytes; a printer's LUT profile can reach a few megabytes). A PNG stores
 * XMP and ICC profiles deflated, so a few kilobytes of file can inflate to megabytes of metadata
 * that every marked copy would then carry uncompressed (a 17 KB upload became a 16 MB copy):
 * {@link readMetadata} stops inflating at these limits, and it and {@link metadataOf} leave a
 * larger block out (with a warning from {@link readMetadata} and {@link metadataWarnings}).
 */
export const METADATA_LIMITS: Readonly<Record<BlockKind, number>> = Object.freeze({ exif: 1 << 20, icc: 4 << 20, xmp: 1 << 20, iptc: 1 << 20 });

/** The kinds of metadata block. */
type BlockKind = 'exif' | 'icc' | 'xmp' | 'iptc';
const BLOCK_KINDS: readonly BlockKind[] = ['exif', 'icc', 'xmp', 'iptc'];
const BLOCK_NAMES = { exif: 'EXIF block', icc: 'ICC profile', xmp: 'XMP packet', iptc: 'IPTC data' } as const;

/** The warning for a block over its limit, left out. */
function overLimit(kind: BlockKind, size: number | 'inflated' | 'rebuilt'): string {
  const limit = `${METADATA_LIMITS[kind] / (1 << 20)} MiB`;
  const is = size === 'inflated' ? 'inflates to' : size === 'rebuilt' ? 'comes to' : `is ${size} bytes,`;
  return `metadata: the ${BLOCK_NAMES[kind]} ${is} over ${limit} (the most a copy carries): left out`;
}

/**
 * Warnings for the blocks of `meta` over {@link METADATA_LIMITS}, which {@link metadataOf} leaves
 * out (e.g. `metadata: the XMP packet is 15900055 bytes, over 1 MiB (the most a copy carries): left out`).
 * @example
 * const meta = await sharp(bytes).metadata();
 * for (const w of metadataWarnings(meta)) console.warn(w);
 */
export function metadataWarnings(meta: ImageMetadata): string[] {
  if (typeof meta !== 'object' || meta === null) throw invalidParameter('meta', 'an object { exif?, icc?, xmp? }', meta);
  return BLOCK_KINDS.filter((k) => (meta[k]?.length ?? 0) > METADATA_LIMITS[k]).map((k) => overLimit(k, meta[k]!.length));
}

/** Over its limit, an inflation stops there and gives this instead of the bytes. */
const OVER = Symbol('over the limit');

async function transform(bytes: Uint8Array, stream: CompressionStream | DecompressionStream, limit = Infinity): Promise<Uint8Array | typeof OVER> {
  const reader = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(stream).getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > limit) {
      // Stop pulling: the rest is never inflated.
      await reader.cancel().catch(() => {});
      return OVER;
    }
    parts.push(value);
  }
  return concat(parts);
}

/** A PNG block deflated: its bytes, OVER past the kind's limit, undefined when it does not inflate. */
const inflate = (bytes: Uint8Array, kind: 'icc' | 'xmp') => transform(bytes, new DecompressionStream('deflate'), METADATA_LIMITS[kind]).catch(() => undefined);

/**
 * The colour space an ICC profile describes ('RGB', 'GRAY', 'CMYK', 'Lab', ...), from its header;
 * undefined for a block too short to be a profile.
 * @example
 * iccColourSpace(meta.icc); // 'RGB' for a Display P3 or Adobe RGB profile
 */
export function iccColourSpace(icc: Uint8Array | undefined): string | undefined {
  if (icc !== undefined && !(icc instanceof Uint8Array)) throw invalidParameter('icc', 'an ICC profile (a Uint8Array) or undefined', icc);
  if (!icc || icc.length < 128) return undefined;
  return latin1(icc, 16, 20).trim();
}

/**
 * Whether pixels with `channels` channels can keep an ICC profile of this colour space: an RGB
 * profile for RGB or RGBA pixels, a grey one for grey pixels. Others (CMYK, Lab, a grey profile
 * on grey + alpha read as RGBA) are converted to sRGB instead, and the profile is dropped.
 * @example
 * profileFits(meta.icc, 3); // true for a Display P3 profile and RGB pixels
 */
export function profileFits(icc: Uint8Array | undefined, channels: number): boolean {
  const space = iccColourSpace(icc);
  return (space === 'RGB' && (channels === 3 || channels === 4)) || (space === 'GRAY' && (channels === 1 || channels === 2));
}

/** The TIFF structure of an EXIF block (an "Exif\0\0" prefix removed), or undefined when it is none. */
function tiffOf(exif: Uint8Array): Uint8Array | undefined {
  const tiff = exif.length >= 6 && latin1(exif, 0, 4) === 'Exif' ? exif.subarray(6) : exif;
  if (tiff.length < 8) return undefined;
  const order = latin1(tiff, 0, 2);
  return order === 'II' || order === 'MM' ? tiff : undefined;
}

/** IFD0's Orientation entry: its value's offset in `tiff`, and the IFD's end (where its link to IFD1 is). */
function orientationEntry(tiff: Uint8Array): { at: number; value: number; next: number } | undefined {
  const d = view(tiff);
  const le = tiff[0] === 0x49;
  const ifd = d.getUint32(4, le);
  if (ifd + 2 > tiff.length) return undefined;
  const count = d.getUint16(ifd, le);
  for (let i = 0; i < count; i++) {
    const e = ifd + 2 + 12 * i;
    if (e + 12 > tiff.length) break;
    if (d.getUint16(e, le) === 0x0112 && d.getUint16(e + 2, le) === 3) { // Orientation, SHORT
      return { at: e + 8, value: d.getUint16(e + 8, le), next: ifd + 2 + 12 * count };
    }
  }
  return undefined;
}

/**
 * The EXIF block as a TIFF structure (its "Exif\0\0" prefix removed) with its Orientation set to
 * 1 (top-left), for pixels that were turned upright; undefined when it is not a TIFF structure.
 * When the orientation was another, the embedded thumbnail (IFD1), which is still stored turned,
 * is unlinked too. A copy: `exif` is not changed.
 * @example
 * const tiff = uprightExif(meta.exif); // for pixels already turned upright (autoOrient); undefined without EXIF
 */
export function uprightExif(exif: Uint8Array | undefined): Uint8Array | undefined {
  if (exif === undefined) return undefined;
  if (!(exif instanceof Uint8Array)) throw invalidParameter('exif', 'an EXIF block (a Uint8Array) or undefined', exif);
  const src = tiffOf(exif);
  if (!src) return undefined;
  const tiff = src.slice();
  const o = orientationEntry(tiff);
  if (o) {
    const d = view(tiff), le = tiff[0] === 0x49;
    d.setUint16(o.at, 1, le);
    if (o.value !== 1 && o.next + 4 <= tiff.length) d.setUint32(o.next, 0, le); // unlink IFD1
  }
  return tiff;
}

/**
 * What a copy keeps of a file's metadata (as sharp's `metadata()` or {@link readMetadata} give
 * it): its EXIF, as a TIFF structure (set upright with `upright`, for pixels turned upright), its
 * XMP, and its ICC profile when `keepIcc` (the copy's pixels are in the profile's colours). A
 * block over {@link METADATA_LIMITS} is left out ({@link metadataWarnings} gives the warnings).
 * @example
 * const meta = await sharp(bytes).metadata();
 * const kept = metadataOf(meta, profileFits(meta.icc, 3), { upright: true });
 */
export function metadataOf(meta: ImageMetadata, keepIcc: boolean, options: { upright?: boolean | undefined } = {}): ImageMetadata {
  if (typeof meta !== 'object' || meta === null) throw invalidParameter('meta', 'an object { exif?, icc?, xmp? } (sharp metadata() or readMetadata())', meta);
  const out: ImageMetadata = {};
  if (meta.exif && meta.exif.length > 0) {
    const tiff = options.upright ? uprightExif(meta.exif) : tiffOf(meta.exif);
    if (tiff) out.exif = tiff;
  }
  if (keepIcc && meta.icc && meta.icc.length > 0) out.icc = meta.icc;
  if (meta.xmp && meta.xmp.length > 0) out.xmp = meta.xmp;
  // sharp's `iptc` is a JPEG's whole APP13 payload (Photoshop resources): its IPTC records kept.
  const iptc = meta.iptc && meta.iptc.length > 0 ? iptcRecords(meta.iptc) : undefined;
  if (iptc) out.iptc = iptc;
  if (Array.isArray(meta.pngText) && meta.pngText.length > 0) out.pngText = meta.pngText;
  const density = densityOf(meta.density);
  if (density !== undefined) out.density = density;
  // A block over its limit is left out (metadataWarnings says which).
  for (const k of BLOCK_KINDS) if ((out[k]?.length ?? 0) > METADATA_LIMITS[k]) delete out[k];
  return out;
}

/** Whether `m` has a block (EXIF, ICC profile, XMP, IPTC) to write. */
const hasBlocks = (m: ImageMetadata | undefined): boolean => !!(m?.exif?.length || m?.icc?.length || m?.xmp?.length || m?.iptc?.length);
/** Whether `m` has anything to write: a block or a resolution. */
const hasAny = (m: ImageMetadata | undefined): m is ImageMetadata => !!m && (hasBlocks(m) || densityOf(m.density) !== undefined || !!m.pngText?.length);

// ---- JPEG: APP1 EXIF, APP1 XMP and APP2 ICC_PROFILE segments ----

const JPEG_SEGMENT_MAX = 65533; // the length field counts itself: 65535 - 2 bytes of payload
const EXIF_TAG = ascii('Exif\0\0');
const XMP_NS = ascii('http://ns.adobe.com/xap/1.0/\0');
const ICC_TAG = ascii('ICC_PROFILE\0');

function segment(marker: number, ...parts: Uint8Array[]): Uint8Array {
  const length = 2 + parts.reduce((n, p) => n + p.length, 0);
  return concat([Uint8Array.of(0xff, marker, length >> 8, length & 0xff), ...parts]);
}

function jpegWith(jpeg: Uint8Array, m: ImageMetadata): Uint8Array {
  const segments: Uint8Array[] = [];
  if (m.exif?.length && m.exif.length + EXIF_TAG.length <= JPEG_SEGMENT_MAX) segments.push(segment(0xe1, EXIF_TAG, m.exif));
  if (m.xmp?.length && m.xmp.length + XMP_NS.length <= JPEG_SEGMENT_MAX) segments.push(segment(0xe1, XMP_NS, m.xmp));
  if (m.iptc?.length) {
    // One Photoshop resource, IPTC-NAA (0x0404), with an empty name; left out over one segment.
    const size = m.iptc.length, pad = size & 1;
    const resource = concat([IRB_SIGNATURE, Uint8Array.of(0x04, 0x04, 0, 0, size >>> 24, (size >>> 16) & 0xff, (size >>> 8) & 0xff, size & 0xff), m.iptc, new Uint8Array(pad)]);
    if (PHOTOSHOP_TAG.length + resource.length <= JPEG_SEGMENT_MAX) segments.push(segment(0xed, PHOTOSHOP_TAG, resource));
  }
  if (m.icc?.length) {
    const room = JPEG_SEGMENT_MAX - ICC_TAG.length - 2;
    const count = Math.ceil(m.icc.length / room);
    if (count <= 255) {
      for (let i = 0; i < count; i++) segments.push(segment(0xe2, ICC_TAG, Uint8Array.of(i + 1, count), m.icc.subarray(i * room, (i + 1) * room)));
    }
  }
  // After SOI and the APP0 segments the encoder wrote there: JFIF wants to come first, and a JFXX
  // extension (a thumbnail) straight after it.
  const density = densityOf(m.density);
  const app0s: Uint8Array[] = [];
  let at = 2;
  while (at + 4 <= jpeg.length && jpeg[at] === 0xff && jpeg[at + 1] === 0xe0) {
    const end = Math.min(jpeg.length, at + 2 + ((jpeg[at + 2] << 8) | jpeg[at + 3]));
    // With a resolution, the encoder's JFIF header (its default density) gives way to the copy's.
    if (density === undefined || !startsWith(jpeg, at + 4, JFIF_TAG)) app0s.push(jpeg.subarray(at, end));
    at = end;
  }
  if (density === undefined) return concat([jpeg.subarray(0, 2), ...app0s, ...segments, jpeg.subarray(at)]);
  // The resolution goes in JFIF's header, written first.
  const d = Math.round(density);
  const app0 = segment(0xe0, JFIF_TAG, Uint8Array.of(1, 1, 1, d >> 8, d & 0xff, d >> 8, d & 0xff, 0, 0)); // version 1.01, units 1: per inch
  return concat([jpeg.subarray(0, 2), app0, ...app0s, ...segments, jpeg.subarray(at)]);
}

const JFIF_TAG = ascii('JFIF\0');
/**
 * The most of a JPEG's Photoshop resources (APP13 payloads, joined) read, in bytes: room for IPTC
 * records over their limit (left out with a warning) after a thumbnail. A 50 MB file of tiny
 * APP13 segments had made millions of views and a copy of them all (a second and 280 MB).
 */
const PHOTOSHOP_MAX = METADATA_LIMITS.iptc + (1 << 20);

const MPF_TAG = ascii('MPF\0');

/**
 * An MPF segment's NumberOfImages (tag 0xB001 of its MP Index IFD, a TIFF structure, LONG as the
 * standard has it or SHORT); 0 when unreadable. The count is believed only as far as the MP
 * entries (tag 0xB002, 16 bytes per image, mandatory) list images within the segment: a bare or
 * broken NumberOfImages (4294967295 in a crafted or damaged file) is not a count of images, and
 * -1 then says "more than one, how many unknown".
 */
function mpfImageCount(tiff: Uint8Array): number {
  if (tiff.length < 8) return 0;
  const le = tiff[0] === 0x49 && tiff[1] === 0x49;
  if (!le && !(tiff[0] === 0x4d && tiff[1] === 0x4d)) return 0;
  const d = view(tiff);
  const ifd = d.getUint32(4, le);
  if (ifd + 2 > tiff.length) return 0;
  const count = d.getUint16(ifd, le);
  let images = 0, listed = -1;
  for (let i = 0; i < count && ifd + 2 + 12 * i + 12 <= tiff.length; i++) {
    const e = ifd + 2 + 12 * i, tag = d.getUint16(e, le), type = d.getUint16(e + 2, le);
    if (tag === 0xb001 && type === 4) images = d.getUint32(e + 8, le);
    else if (tag === 0xb001 && type === 3) images = d.getUint16(e + 8, le);
    else if (tag === 0xb002) {
      const size = d.getUint32(e + 4, le), at = d.getUint32(e + 8, le);
      if (size % 16 === 0 && at + size <= tiff.length) listed = size / 16;
    }
  }
  if (images <= 1) return images;
  return listed < 0 ? -1 : Math.min(images, listed) > 1 ? Math.min(images, listed) : -1;
}

function jpegRead(jpeg: Uint8Array, warnings: string[]): ImageMetadata {
  const out: ImageMetadata = {};
  // Photoshop's resources, split over APP13 segments when large, read as one list: the first
  // segment's payload as it is, more joined in one buffer (grown by doubling), up to PHOTOSHOP_MAX.
  let photoshop: Uint8Array | undefined, joined = 0, cut = false;
  const icc: Uint8Array[] = [];
  let iccCount = 0, mpfSeen = false;
  for (let at = 2; at + 4 <= jpeg.length;) {
    if (jpeg[at] !== 0xff) break;
    const marker = jpeg[at + 1];
    if (marker === 0xff) { at++; continue; } // fill byte
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { at += 2; continue; }
    if (marker === 0xda || marker === 0xd9) break; // the scan: no metadata after it here
    const length = (jpeg[at + 2] << 8) | jpeg[at + 3];
    if (marker === 0xed) {
      // Photoshop's resources, split over APP13 segments when large: read as one list.
      if (!cut && startsWith(jpeg, at + 4, PHOTOSHOP_TAG)) {
        const from = at + 4 + PHOTOSHOP_TAG.length, size = Math.max(0, Math.min(jpeg.length, at + 2 + length) - from);
        if (!photoshop) { photoshop = jpeg.subarray(from, from + size); joined = size; }
        else if (joined + size > PHOTOSHOP_MAX) cut = true;
        else if (size > 0) {
          if (joined === photoshop.length || photoshop.buffer === jpeg.buffer) {
            const grown = new Uint8Array(Math.min(PHOTOSHOP_MAX, Math.max(2 * joined, joined + size, 1024)));
            grown.set(photoshop.subarray(0, joined));
            photoshop = grown;
          }
          // Copied byte by byte when small: no view made for each of a crafted file's tiny segments.
          if (size < 64) for (let i = 0; i < size; i++) photoshop[joined + i] = jpeg[from + i];
          else photoshop.set(jpeg.subarray(from, from + size), joined);
          joined += size;
        }
      }
      at += 2 + length;
      continue;
    }
    // A view of the body only for the segments read (a crafted file can hold millions of others).
    if (marker !== 0xe0 && marker !== 0xe1 && marker !== 0xe2) { at += 2 + length; continue; }
    const body = jpeg.subarray(at + 4, Math.min(jpeg.length, at + 2 + length));
    if (marker === 0xe0 && out.density === undefined && startsWith(body, 0, JFIF_TAG) && body.length >= 12) {
      // Units 1: per inch, 2: per centimetre (0: an aspect ratio only, no resolution).
      const units = body[7], x = (body[8] << 8) | body[9];
      const d = units === 1 ? x : units === 2 ? x * 2.54 : undefined;
      if (densityOf(d) !== undefined) out.density = d;
    } else if (marker === 0xe1 && !out.exif && startsWith(body, 0, EXIF_TAG)) out.exif = body.subarray(EXIF_TAG.length);
    else if (marker === 0xe1 && !out.xmp && startsWith(body, 0, XMP_NS)) out.xmp = body.subarray(XMP_NS.length);
    else if (marker === 0xe2 && !mpfSeen && startsWith(body, 0, MPF_TAG)) {
      // Multi-Picture Format: more images after this one's end (an HDR gain map, a depth map, a
      // preview). A copy re-encodes the main image alone: said, not silently dropped.
      mpfSeen = true;
      const images = mpfImageCount(body.subarray(MPF_TAG.length));
      if (images > 1 || images < 0) {
        warnings.push(`metadata: the file holds ${images > 1 ? images : 'further'} images (Multi-Picture Format: an HDR gain map, a depth map or a preview after the main one); a copy carries the main image only`);
      }
    }
    else if (marker === 0xe2 && startsWith(body, 0, ICC_TAG) && body.length > ICC_TAG.length + 2) {
      const seq = body[ICC_TAG.length], count = body[ICC_TAG.length + 1];
      if (seq >= 1 && seq <= count) { icc[seq - 1] = body.subarray(ICC_TAG.length + 2); iccCount = count; }
    }
    at += 2 + length;
  }
  if (iccCount > 0 && icc.length === iccCount && icc.every(Boolean)) out.icc = concat(icc);
  const iptc = photoshop ? iptcRecords(photoshop.subarray(0, joined)) : undefined;
  if (iptc) out.iptc = iptc;
  else if (cut) warnings.push(`metadata: the Photoshop resources (APP13 segments) come to over ${PHOTOSHOP_MAX / (1 << 20)} MiB: read no further, and no IPTC data found in them`);
  return out;
}

// ---- PNG: iCCP, eXIf and iTXt (XMP) chunks (XMP read from zTXt / tEXt too) ----

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const d = view(out);
  d.setUint32(0, data.length);
  out.set(ascii(type), 4);
  out.set(data, 8);
  d.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
const XMP_KEYWORD = 'XML:com.adobe.xmp';

/**
 * `metadata` as PNG chunks: iCCP (the profile deflated), eXIf, iTXt (XMP), pHYs and the text chunks, in that order.
 * @example
 * const chunks = await pngMetadataChunks({ icc }); // [iCCP chunk]
 */
export async function pngMetadataChunks(m: ImageMetadata): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  if (m.icc?.length) chunks.push(pngChunk('iCCP', concat([ascii('ICC profile\0\0'), await transform(m.icc, new CompressionStream('deflate')) as Uint8Array])));
  if (m.exif?.length) chunks.push(pngChunk('eXIf', m.exif));
  if (m.xmp?.length) chunks.push(pngChunk('iTXt', concat([ascii(`${XMP_KEYWORD}\0\0\0\0\0`), m.xmp])));
  const density = densityOf(m.density);
  if (density !== undefined) {
    // Pixels per metre, unit 1 (the metre).
    const ppm = ppmOf(density), body = new Uint8Array(9);
    view(body).setUint32(0, ppm);
    view(body).setUint32(4, ppm);
    body[8] = 1;
    chunks.push(pngChunk('pHYs', body));
  }
  for (const t of m.pngText ?? []) chunks.push(pngChunk(t.type, t.data));
  return chunks;
}

/** A resolution in pixels per inch as PNG's pixels per metre. */
const ppmOf = (density: number) => Math.round(density / 0.0254);
const PPM_MIN = ppmOf(1), PPM_MAX = ppmOf(DENSITY_MAX);

async function pngWith(png: Uint8Array, m: ImageMetadata): Promise<Uint8Array> {
  const ihdrEnd = 8 + 12 + view(png).getUint32(8);
  const chunks = await pngMetadataChunks(m);
  if (densityOf(m.density) === undefined) return concat([png.subarray(0, ihdrEnd), ...chunks, png.subarray(ihdrEnd)]);
  // One pHYs only: an encoder's own (its default resolution) gives way to the copy's, wherever
  // it is (one after IDAT, out of place, would be a second).
  const d = view(png), rest: Uint8Array[] = [];
  let at = ihdrEnd, from = ihdrEnd;
  for (; at + 12 <= png.length; at += 12 + d.getUint32(at)) {
    const type = latin1(png, at + 4, at + 8);
    if (type === 'IEND') break;
    if (type === 'pHYs') { rest.push(png.subarray(from, at)); from = at + 12 + d.getUint32(at); }
  }
  rest.push(png.subarray(from));
  return concat([png.subarray(0, ihdrEnd), ...chunks, ...rest]);
}

/** A chunk type as the number its four bytes make (big-endian), as pngRead compares them. */
const typeCode = (type: string) => view(ascii(type)).getUint32(0);
const PNG_TEXT_CODES = new Set([...PNG_TEXT_TYPES].map(typeCode));
/** The chunk types pngRead reads; it steps over the others. */
const XMP_KEY = ascii(`${XMP_KEYWORD}\0`);
const PNG_READ_TYPES = new Set([...PNG_TEXT_CODES, ...['IEND', 'eXIf', 'pHYs', 'iCCP'].map(typeCode)]);

async function pngRead(png: Uint8Array, warnings: string[]): Promise<ImageMetadata> {
  const out: ImageMetadata = {};
  /** An inflated block, or undefined with a warning when it inflates past its limit. */
  const inflated = async (bytes: Uint8Array, kind: 'icc' | 'xmp') => {
    const b = await inflate(bytes, kind);
    if (b !== OVER) return b;
    warnings.push(overLimit(kind, 'inflated'));
    return undefined;
  };
  const d = view(png);
  // Only the first iCCP chunk and the first XMP text chunk are read, whether or not they inflate:
  // a file of a thousand compressed blocks that each inflate past METADATA_LIMITS (1 KB of upload
  // apiece) would otherwise cost the reader a thousand inflations to the limit.
  let iccSeen = false, xmpSeen = false, textOver = false, textBytes = 0, damaged = 0;
  const text: PngTextChunk[] = [];
  for (let at = 8; at + 12 <= png.length;) {
    const n = d.getUint32(at), code = d.getUint32(at + 4);
    // No string or view made for a chunk not read (a crafted file can hold millions of tiny ones),
    // nor for text chunks once the text is over its limits (unless one is the XMP, still unread).
    if (!PNG_READ_TYPES.has(code) || (textOver && PNG_TEXT_CODES.has(code) && (xmpSeen || !startsWith(png, at + 8, XMP_KEY)))) { at += 12 + n; continue; }
    const type = latin1(png, at + 4, at + 8);
    const body = png.subarray(at + 8, Math.min(png.length, at + 8 + n));
    if (type === 'IEND') break;
    if (type === 'eXIf' && !out.exif) out.exif = body;
    else if (type === 'pHYs' && out.density === undefined && body.length === 9 && body[8] === 1) {
      // Any count that a resolution from 1 to DENSITY_MAX rounds to when written (1 per inch is 39
      // per metre, 0.99 per inch) reads back within that range.
      const ppm = view(body).getUint32(0);
      if (ppm >= PPM_MIN && ppm <= PPM_MAX) out.density = Math.min(DENSITY_MAX, Math.max(1, ppm * 0.0254));
    }
    else if (type === 'iCCP' && !iccSeen) {
      iccSeen = true;
      const nul = body.indexOf(0);
      if (nul > 0 && body[nul + 1] === 0) out.icc = await inflated(body.subarray(nul + 2), 'icc');
    } else if (type === 'iTXt' && !xmpSeen && latin1(body, 0, XMP_KEYWORD.length + 1) === `${XMP_KEYWORD}\0`) {
      xmpSeen = true;
      const flag = body[XMP_KEYWORD.length + 1];
      const lang = body.indexOf(0, XMP_KEYWORD.length + 3); // end of the language tag
      const translated = lang < 0 ? -1 : body.indexOf(0, lang + 1); // end of the translated keyword
      if (translated > 0) {
        const text = body.subarray(translated + 1);
        out.xmp = flag === 1 ? await inflated(text, 'xmp') : text;
      }
    } else if ((type === 'zTXt' || type === 'tEXt') && !xmpSeen && latin1(body, 0, XMP_KEYWORD.length + 1) === `${XMP_KEYWORD}\0`) {
      xmpSeen = true;
      // libvips writes XMP as compressed Latin-1 text (zTXt: keyword, 0, method 0, zlib data).
      const text = body.subarray(XMP_KEYWORD.length + (type === 'zTXt' ? 2 : 1));
      out.xmp = type === 'zTXt' ? await inflated(text, 'xmp') : text;
    } else if (PNG_TEXT_TYPES.has(type) && body.length === n && !textOver && !isMetadataText(body)) {
      // Every other text chunk, as stored, up to PNG_TEXT_LIMITS (past them: none, with a warning).
      textBytes += n;
      if (text.length >= PNG_TEXT_LIMITS.chunks || textBytes > PNG_TEXT_LIMITS.bytes) {
        textOver = true;
        warnings.push(`metadata: the PNG text comes to over ${text.length >= PNG_TEXT_LIMITS.chunks ? `${PNG_TEXT_LIMITS.chunks} chunks` : `${PNG_TEXT_LIMITS.bytes / (1 << 20)} MiB`} (the most a copy carries): left out`);
      } else if (at + 12 + n <= png.length && d.getUint32(at + 8 + n) === crc32(png.subarray(at + 4, at + 8 + n))) {
        text.push({ type: type as PngTextChunk['type'], data: body });
      } else damaged++; // its CRC fails (or is cut off): not carried into a copy under a new, sound CRC
    }
    at += 12 + n;
  }
  for (const k of ['exif', 'icc', 'xmp', 'density'] as const) if (out[k] === undefined) delete out[k];
  if (text.length && !textOver) out.pngText = text;
  if (damaged && !textOver) warnings.push(`metadata: the PNG text holds ${damaged} chunk${damaged > 1 ? 's' : ''} that fail${damaged > 1 ? '' : 's'} its CRC check (damaged): left out`);
  return out;
}

/**
 * Check `text` as {@link ImageMetadata.pngText}: undefined, or an array of `{ type, data }` (type
 * 'tEXt', 'zTXt' or 'iTXt'; data a Uint8Array) within PNG_TEXT_LIMITS.
 * @example
 * checkPngText('options.metadata.pngText', meta.pngText);
 */
export function checkPngText(name: string, text: unknown): void {
  if (text === undefined) return;
  const ok = Array.isArray(text) && text.length <= PNG_TEXT_LIMITS.chunks &&
    text.every((t) => typeof t === 'object' && t !== null && PNG_TEXT_TYPES.has(t.type) && t.data instanceof Uint8Array) &&
    text.reduce((n, t) => n + t.data.length, 0) <= PNG_TEXT_LIMITS.bytes;
  if (!ok) throw invalidParameter(name, `an array of at most ${PNG_TEXT_LIMITS.chunks} { type: 'tEXt' | 'zTXt' | 'iTXt', data: Uint8Array } of at most ${PNG_TEXT_LIMITS.bytes} bytes in all`, text);
}

/** Whether a text chunk's keyword names metadata read on its own (XMP) or a copy of it (ImageMagick's "Raw profile type exif", ...). */
function isMetadataText(body: Uint8Array): boolean {
  const nul = body.indexOf(0);
  const keyword = latin1(body, 0, nul < 0 ? Math.min(body.length, 80) : nul);
  return keyword === XMP_KEYWORD || keyword.startsWith('Raw profile type');
}

// ---- WebP: the extended format (VP8X) with ICCP, EXIF and XMP chunks ----

function riffChunk(fourcc: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + data.length + (data.length & 1)); // padded to an even size
  out.set(ascii(fourcc), 0);
  view(out).setUint32(4, data.length, true);
  out.set(data, 8);
  return out;
}

function riffChunks(webp: Uint8Array): { fourcc: string; data: Uint8Array }[] {
  const chunks: { fourcc: string; data: Uint8Array }[] = [];
  const d = view(webp);
  for (let at = 12; at + 8 <= webp.length;) {
    const n = d.getUint32(at + 4, true);
    chunks.push({ fourcc: latin1(webp, at, at + 4), data: webp.subarray(at + 8, Math.min(webp.length, at + 8 + n)) });
    at += 8 + n + (n & 1);
  }
  return chunks;
}

function webpWith(webp: Uint8Array, m: ImageMetadata, size: { width: number; height: number; alpha: boolean }): Uint8Array {
  const chunks = riffChunks(webp);
  const old = chunks.find((c) => c.fourcc === 'VP8X');
  let flags = old && old.data.length >= 1 ? old.data[0] : 0;
  const image = chunks.filter((c) => c.fourcc !== 'VP8X' && c.fourcc !== 'ICCP' && c.fourcc !== 'EXIF' && c.fourcc !== 'XMP ');
  if (m.icc?.length) flags |= 0x20;
  if (size.alpha) flags |= 0x10;
  if (m.exif?.length) flags |= 0x08;
  if (m.xmp?.length) flags |= 0x04;
  const vp8x = new Uint8Array(10);
  vp8x[0] = flags;
  const w = size.width - 1, h = size.height - 1;
  vp8x.set([w & 0xff, (w >> 8) & 0xff, (w >> 16) & 0xff, h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff], 4);
  const parts = [riffChunk('VP8X', vp8x)];
  if (m.icc?.length) parts.push(riffChunk('ICCP', m.icc));
  for (const c of image) parts.push(riffChunk(c.fourcc, c.data));
  if (m.exif?.length) parts.push(riffChunk('EXIF', m.exif));
  if (m.xmp?.length) parts.push(riffChunk('XMP ', m.xmp));
  const body = concat(parts);
  const head = new Uint8Array(12);
  head.set(ascii('RIFF'), 0);
  view(head).setUint32(4, 4 + body.length, true);
  head.set(ascii('WEBP'), 8);
  return concat([head, body]);
}

function webpRead(webp: Uint8Array): ImageMetadata {
  const out: ImageMetadata = {};
  for (const c of riffChunks(webp)) {
    if (c.fourcc === 'ICCP' && !out.icc) out.icc = c.data;
    else if (c.fourcc === 'EXIF' && !out.exif) out.exif = c.data;
    else if (c.fourcc === 'XMP ' && !out.xmp) out.xmp = c.data;
  }
  return out;
}

// ---- The entry points ----

/** The container format of encoded bytes, from their signature. */
function sniff(bytes: Uint8Array): MetadataFormat | undefined {
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (startsWith(bytes, 0, PNG_SIGNATURE) && latin1(bytes, 12, 16) === 'IHDR') return 'png';
  if (bytes.length >= 20 && latin1(bytes, 0, 4) === 'RIFF' && latin1(bytes, 8, 12) === 'WEBP') return 'webp';
  if (isTiff(bytes)) return 'tiff';
  return undefined;
}

/**
 * The EXIF (a TIFF structure), ICC profile, XMP and resolution of an encoded JPEG, PNG, WebP or
 * TIFF file, with its format and orientation; an empty result for other bytes. (A TIFF's EXIF is
 * its EXIF and GPS sub-IFDs and descriptive first-IFD tags, made into a block of their own.)
 * Blocks are views into `bytes` where they are stored whole (a JPEG profile split over segments,
 * a compressed PNG one or a TIFF's EXIF is a new array). Reads the containers only: nothing is
 * decoded. A block over
 * {@link METADATA_LIMITS} is left out, with a line in `warnings`; a compressed one (PNG) is
 * inflated no further than its limit.
 * @example
 * const meta = await readMetadata(new Uint8Array(await request.arrayBuffer()));
 * // { format: 'jpeg', exif, icc, orientation: 6 }
 */
export async function readMetadata(given: Uint8Array): Promise<ReadMetadata> {
  const bytes = genuineBytes(given);
  if (bytes === undefined) throw invalidParameter('bytes', 'the bytes of an encoded image (a Uint8Array)', given);
  const format = sniff(bytes);
  if (!format) return {};
  const warnings: string[] = [];
  const m: ImageMetadata & { orientation?: number } = format === 'jpeg' ? jpegRead(bytes, warnings) : format === 'png' ? await pngRead(bytes, warnings)
    : format === 'tiff' ? tiffRead(bytes, METADATA_LIMITS.exif) : webpRead(bytes);
  if ('exifOver' in m) warnings.push(overLimit('exif', 'rebuilt')); // a TIFF's, made into a block of its own
  const out: ReadMetadata = { format };
  const tiff = m.exif && tiffOf(m.exif);
  if (tiff) {
    out.exif = tiff;
    const o = orientationEntry(tiff);
    if (o && o.value >= 1 && o.value <= 8) out.orientation = o.value; // read even when the block is too large to carry
  }
  if (m.orientation !== undefined) out.orientation = m.orientation; // a TIFF's own, in its first IFD
  if (m.icc?.length) out.icc = m.icc;
  if (m.xmp?.length) out.xmp = m.xmp;
  if (m.iptc?.length) out.iptc = m.iptc;
  if (m.pngText?.length) out.pngText = m.pngText;
  // (A TIFF's resolution can be any ratio: one a copy cannot carry, which embedMetadata refuses, is left out.)
  const density = densityOf(m.density);
  if (density !== undefined) out.density = density;
  // Stored blocks over their limits (no inflation): left out too, so that every block here can be carried.
  for (const w of metadataWarnings(out)) warnings.push(w);
  for (const k of BLOCK_KINDS) if ((out[k]?.length ?? 0) > METADATA_LIMITS[k]) delete out[k];
  if (warnings.length) out.warnings = warnings;
  return out;
}

/**
 * Put `metadata` into an encoded image (as encoders write them from raw pixels: no metadata of
 * their own) without re-encoding it: JPEG, PNG, WebP or TIFF (classic TIFF: the blocks become tags
 * of its first IFD, its EXIF the EXIF and GPS sub-IFDs). `size` gives the image's width, height and
 * whether it has alpha (for WebP's extended header). A block too large for its container's segment
 * (EXIF or XMP over 64 KB in JPEG) is left out. Resolves with `encoded` itself when there is
 * nothing to add.
 * @throws InvalidArgumentError when `encoded` is not in `format`, or an argument is malformed.
 * @example
 * const jpeg = await encodeJpeg(marked);
 * const withMeta = await embedMetadata(new Uint8Array(jpeg), 'jpeg', { exif, icc }, { width, height, alpha: false });
 */
export async function embedMetadata(encoded: Uint8Array, format: MetadataFormat, metadata: ImageMetadata | undefined,
  size: { width: number; height: number; alpha: boolean }): Promise<Uint8Array> {
  const bytes = genuineBytes(encoded); // a Proxy is refused, a lying length measured by the array's slots
  if (bytes === undefined) throw invalidParameter('encoded', 'the bytes of an encoded image (a Uint8Array)', encoded);
  encoded = bytes;
  if (format !== 'jpeg' && format !== 'png' && format !== 'webp' && format !== 'tiff') throw invalidParameter('format', '"jpeg", "png", "webp" or "tiff"', format);
  if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null)) throw invalidParameter('metadata', 'an object { exif?, icc?, xmp? } or undefined', metadata);
  for (const k of BLOCK_KINDS) {
    const v = metadata?.[k];
    if (v !== undefined && !(v instanceof Uint8Array)) throw invalidParameter(`metadata.${k}`, 'a Uint8Array', v);
  }
  checkPngText('metadata.pngText', metadata?.pngText);
  if (metadata?.density !== undefined && densityOf(metadata.density) === undefined) {
    throw invalidParameter('metadata.density', `a resolution in pixels per inch, 1 to ${DENSITY_MAX}`, metadata.density);
  }
  if (!hasAny(metadata)) return encoded;
  if (sniff(encoded) !== format) throw invalidParameter('encoded', `the bytes of a ${format.toUpperCase()} stream (as format says)`, encoded);
  if (format === 'webp' && (typeof size !== 'object' || size === null || !Number.isInteger(size.width) || !Number.isInteger(size.height))) {
    throw invalidParameter('size', 'an object { width, height, alpha } (WebP needs the image size)', size);
  }
  if (format === 'jpeg') return jpegWith(encoded, metadata);
  if (format === 'png') return pngWith(encoded, metadata);
  if (format === 'tiff') return tiffWith(encoded, metadata);
  // WebP has no field for the resolution: with no block to add, the file stays as it was (not
  // rewritten in the extended format for nothing).
  if (!hasBlocks(metadata)) return encoded;
  return webpWith(encoded, metadata, size);
}
