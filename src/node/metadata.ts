// An image file's metadata (EXIF, ICC profile, XMP) carried from the file that was read to the
// file that is written. sharp strips metadata from raw pixels, and its own keep methods only
// carry an input file's metadata through one pipeline; a marked copy is encoded from raw pixels,
// so the metadata goes into the encoded container here instead: JPEG APP1 / APP2 segments, PNG
// chunks, WebP's extended-format chunks. Nothing is re-encoded: the pixels' bytes stay as the
// encoder wrote them. Node only (Buffer, zlib).
import { deflateSync } from 'node:zlib';
import type { Metadata } from 'sharp';

/**
 * The metadata of an image file that a copy keeps.
 * - `exif`: the EXIF block as a TIFF structure (no "Exif\0\0" prefix), with its Orientation set to
 *   1 (the pixels it travels with are upright).
 * - `icc`: the ICC profile. Present only when the pixels it travels with are in its colours.
 * - `xmp`: the XMP packet (XML, UTF-8).
 */
export interface ImageMetadata {
  exif?: Uint8Array;
  icc?: Uint8Array;
  xmp?: Uint8Array;
}

/** Formats {@link embedMetadata} writes into. */
export type MetadataFormat = 'jpeg' | 'png' | 'webp';

/**
 * The colour space an ICC profile describes ('RGB', 'GRAY', 'CMYK', 'Lab', ...), from its header;
 * undefined for a block too short to be a profile.
 * @example
 * iccColourSpace(meta.icc); // 'RGB' for a Display P3 or Adobe RGB profile
 */
export function iccColourSpace(icc: Uint8Array | undefined): string | undefined {
  if (!icc || icc.length < 128) return undefined;
  return String.fromCharCode(icc[16], icc[17], icc[18], icc[19]).trim();
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
  return (space === 'RGB' && (channels === 3 || channels === 4)) || (space === 'GRAY' && channels === 1);
}

/**
 * The EXIF block as a TIFF structure (its "Exif\0\0" prefix removed) with its Orientation set to
 * 1 (top-left), or undefined when it is not a TIFF structure. When the orientation was another,
 * the embedded thumbnail (IFD1), which is still stored turned, is unlinked too. A copy: `exif`
 * is not changed.
 * @example
 * const tiff = uprightExif(meta.exif); // for pixels already turned upright (autoOrient)
 */
export function uprightExif(exif: Uint8Array): Buffer | undefined {
  let tiff = Buffer.from(exif);
  if (tiff.length >= 6 && tiff.toString('latin1', 0, 4) === 'Exif') tiff = tiff.subarray(6);
  if (tiff.length < 8) return undefined;
  const order = tiff.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') return undefined;
  const le = order === 'II';
  const u16 = (o: number) => (le ? tiff.readUInt16LE(o) : tiff.readUInt16BE(o));
  const u32 = (o: number) => (le ? tiff.readUInt32LE(o) : tiff.readUInt32BE(o));
  const ifd = u32(4);
  if (ifd + 2 <= tiff.length) {
    const count = u16(ifd);
    for (let i = 0; i < count; i++) {
      const e = ifd + 2 + 12 * i;
      if (e + 12 > tiff.length) break;
      if (u16(e) === 0x0112 && u16(e + 2) === 3) { // Orientation, SHORT
        const turned = u16(e + 8) !== 1;
        if (le) tiff.writeUInt16LE(1, e + 8); else tiff.writeUInt16BE(1, e + 8);
        const next = ifd + 2 + 12 * count; // IFD0's link to IFD1, the thumbnail
        if (turned && next + 4 <= tiff.length) tiff.writeUInt32LE(0, next); // 0 in either byte order
        break;
      }
    }
  }
  return tiff;
}

/**
 * What a copy keeps of the metadata sharp read from a file: its EXIF (upright), its XMP, and its
 * ICC profile when `keepIcc` (the copy's pixels are in the profile's colours).
 * @example
 * const meta = await sharp(bytes).metadata();
 * const kept = metadataOf(meta, profileFits(meta.icc, 3));
 */
export function metadataOf(meta: Pick<Metadata, 'exif' | 'icc' | 'xmp'>, keepIcc: boolean): ImageMetadata {
  const out: ImageMetadata = {};
  if (meta.exif && meta.exif.length > 0) {
    const tiff = uprightExif(meta.exif);
    if (tiff) out.exif = tiff;
  }
  if (keepIcc && meta.icc && meta.icc.length > 0) out.icc = meta.icc;
  if (meta.xmp && meta.xmp.length > 0) out.xmp = meta.xmp;
  return out;
}

const hasAny = (m: ImageMetadata | undefined): m is ImageMetadata => !!m && !!(m.exif?.length || m.icc?.length || m.xmp?.length);

/**
 * Put `metadata` into an encoded image (as sharp writes them: no metadata of their own) without
 * re-encoding it. `size` gives the image's width, height and whether it has alpha (for WebP's
 * extended header). A block too large for its container's segment (EXIF or XMP over 64 KB in
 * JPEG) is left out. Returns `encoded` itself when there is nothing to add.
 * @example
 * const jpeg = await sharp(pixels, { raw }).jpeg().toBuffer();
 * const withMeta = embedMetadata(jpeg, 'jpeg', { exif, icc }, { width, height, alpha: false });
 */
export function embedMetadata(encoded: Buffer, format: MetadataFormat, metadata: ImageMetadata | undefined,
  size: { width: number; height: number; alpha: boolean }): Buffer {
  if (!hasAny(metadata)) return encoded;
  if (format === 'jpeg') return jpegWith(encoded, metadata);
  if (format === 'png') return pngWith(encoded, metadata);
  return webpWith(encoded, metadata, size);
}

// ---- JPEG: APP1 EXIF, APP1 XMP and APP2 ICC_PROFILE segments after SOI (and JFIF's APP0) ----

const JPEG_SEGMENT_MAX = 65533; // the length field counts itself: 65535 - 2 bytes of payload
const XMP_NS = Buffer.from('http://ns.adobe.com/xap/1.0/\0', 'latin1');
const ICC_TAG = Buffer.from('ICC_PROFILE\0', 'latin1');

function segment(marker: number, ...parts: Uint8Array[]): Buffer {
  const length = 2 + parts.reduce((n, p) => n + p.length, 0);
  const head = Buffer.from([0xff, marker, length >> 8, length & 0xff]);
  return Buffer.concat([head, ...parts]);
}

function jpegWith(jpeg: Buffer, m: ImageMetadata): Buffer {
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) throw new Error('embedMetadata: not a JPEG stream');
  const segments: Buffer[] = [];
  if (m.exif?.length && m.exif.length + 6 <= JPEG_SEGMENT_MAX) segments.push(segment(0xe1, Buffer.from('Exif\0\0', 'latin1'), m.exif));
  if (m.xmp?.length && m.xmp.length + XMP_NS.length <= JPEG_SEGMENT_MAX) segments.push(segment(0xe1, XMP_NS, m.xmp));
  if (m.icc?.length) {
    const room = JPEG_SEGMENT_MAX - ICC_TAG.length - 2;
    const count = Math.ceil(m.icc.length / room);
    if (count <= 255) {
      for (let i = 0; i < count; i++) {
        segments.push(segment(0xe2, ICC_TAG, Uint8Array.of(i + 1, count), m.icc.subarray(i * room, (i + 1) * room)));
      }
    }
  }
  // After SOI, and after a JFIF APP0 when the encoder wrote one (JFIF wants to come first).
  let at = 2;
  if (jpeg[2] === 0xff && jpeg[3] === 0xe0 && jpeg.length >= 6) at = 4 + jpeg.readUInt16BE(4);
  return Buffer.concat([jpeg.subarray(0, at), ...segments, jpeg.subarray(at)]);
}

// ---- PNG: iCCP, eXIf and iTXt (XMP) chunks after IHDR ----

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

function pngChunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/**
 * `metadata` as PNG chunks: iCCP, eXIf and iTXt (XMP), in that order.
 * @example
 * const chunks = pngMetadataChunks({ icc }); // [iCCP chunk]
 */
export function pngMetadataChunks(m: ImageMetadata): Buffer[] {
  const chunks: Buffer[] = [];
  if (m.icc?.length) chunks.push(pngChunk('iCCP', Buffer.concat([Buffer.from('ICC profile\0\0', 'latin1'), deflateSync(m.icc)])));
  if (m.exif?.length) chunks.push(pngChunk('eXIf', m.exif));
  if (m.xmp?.length) chunks.push(pngChunk('iTXt', Buffer.concat([Buffer.from('XML:com.adobe.xmp\0\0\0\0\0', 'latin1'), m.xmp])));
  return chunks;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function pngWith(png: Buffer, m: ImageMetadata): Buffer {
  if (png.length < 33 || !png.subarray(0, 8).equals(PNG_SIGNATURE) || png.toString('latin1', 12, 16) !== 'IHDR') {
    throw new Error('embedMetadata: not a PNG stream');
  }
  const ihdrEnd = 8 + 12 + png.readUInt32BE(8);
  return Buffer.concat([png.subarray(0, ihdrEnd), ...pngMetadataChunks(m), png.subarray(ihdrEnd)]);
}

// ---- WebP: the extended format (VP8X) with ICCP, EXIF and XMP chunks ----

function riffChunk(fourcc: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(8 + data.length + (data.length & 1)); // padded to an even size
  out.write(fourcc, 0, 'latin1');
  out.writeUInt32LE(data.length, 4);
  out.set(data, 8);
  return out;
}

function webpWith(webp: Buffer, m: ImageMetadata, size: { width: number; height: number; alpha: boolean }): Buffer {
  if (webp.length < 20 || webp.toString('latin1', 0, 4) !== 'RIFF' || webp.toString('latin1', 8, 12) !== 'WEBP') {
    throw new Error('embedMetadata: not a WebP stream');
  }
  // The file's chunks, in order.
  const chunks: { fourcc: string; data: Buffer }[] = [];
  for (let at = 12; at + 8 <= webp.length;) {
    const fourcc = webp.toString('latin1', at, at + 4);
    const n = webp.readUInt32LE(at + 4);
    chunks.push({ fourcc, data: webp.subarray(at + 8, Math.min(webp.length, at + 8 + n)) });
    at += 8 + n + (n & 1);
  }
  let flags = 0;
  const old = chunks.find((c) => c.fourcc === 'VP8X');
  if (old && old.data.length >= 1) flags = old.data[0];
  const image = chunks.filter((c) => c.fourcc !== 'VP8X' && c.fourcc !== 'ICCP' && c.fourcc !== 'EXIF' && c.fourcc !== 'XMP ');
  if (m.icc?.length) flags |= 0x20;
  if (size.alpha) flags |= 0x10;
  if (m.exif?.length) flags |= 0x08;
  if (m.xmp?.length) flags |= 0x04;
  const vp8x = Buffer.alloc(10);
  vp8x[0] = flags;
  vp8x.writeUIntLE(size.width - 1, 4, 3);
  vp8x.writeUIntLE(size.height - 1, 7, 3);
  const parts = [riffChunk('VP8X', vp8x)];
  if (m.icc?.length) parts.push(riffChunk('ICCP', m.icc));
  for (const c of image) parts.push(riffChunk(c.fourcc, c.data));
  if (m.exif?.length) parts.push(riffChunk('EXIF', m.exif));
  if (m.xmp?.length) parts.push(riffChunk('XMP ', m.xmp));
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(12);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(4 + body.length, 4);
  head.write('WEBP', 8, 'latin1');
  return Buffer.concat([head, body]);
}
