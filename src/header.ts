// Image dimensions from a file's header alone, so a pixel limit can be enforced before a decoder
// allocates the pixels (decompression bombs: a 1 MB PNG can hold 268 megapixels, a gigabyte of
// RGBA). Core code: no Node built-ins; browsers use it before createImageBitmap.
import { ImageSizeError } from './errors.js';
import { invalidParameter } from './args.js';
import { DEFAULT_MAX_PIXELS, pixelCount } from './image.js';

/** What a file's header says: its container format and pixel dimensions. */
export interface ImageHeader {
  format: 'png' | 'jpeg' | 'webp' | 'gif' | 'bmp';
  width: number;
  height: number;
  /** PNG: bits per sample (1, 2, 4, 8 or 16); a 16-bit image decodes through twice the memory. */
  bitDepth?: number;
  /** JPEG: colour components in the frame (1 grey, 3 YCbCr, 4 CMYK or YCCK). */
  components?: number;
}

const be16 = (b: Uint8Array, i: number) => (b[i] << 8) | b[i + 1];
const be32 = (b: Uint8Array, i: number) => ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
const le16 = (b: Uint8Array, i: number) => b[i] | (b[i + 1] << 8);
const le24 = (b: Uint8Array, i: number) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
const le32 = (b: Uint8Array, i: number) => (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
const tag = (b: Uint8Array, i: number, s: string) => b.length >= i + s.length && [...s].every((c, k) => b[i + k] === c.charCodeAt(0));

/**
 * The format and dimensions a PNG, JPEG, WebP, GIF or BMP file declares in its header (nothing
 * is decoded); undefined for other or unreadable bytes.
 * @example
 * imageHeader(new Uint8Array(await file.arrayBuffer())); // { format: 'png', width: 4000, height: 3000 }
 */
export function imageHeader(bytes: Uint8Array): ImageHeader | undefined {
  if (!(bytes instanceof Uint8Array)) throw invalidParameter('bytes', 'the bytes of an image file (a Uint8Array)', bytes);
  const b = bytes;
  if (b.length >= 25 && be32(b, 0) === 0x89504e47 && be32(b, 4) === 0x0d0a1a0a && tag(b, 12, 'IHDR')) {
    return { format: 'png', width: be32(b, 16), height: be32(b, 20), bitDepth: b[24] };
  }
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) {
    // The marker segments up to the first start-of-frame (SOF0-15 except DHT, JPG and DAC).
    for (let i = 2; i + 4 <= b.length;) {
      if (b[i] !== 0xff) return undefined;
      const m = b[i + 1];
      if (m === 0xff) { i++; continue; }
      if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) { i += 2; continue; }
      if (m === 0xd9 || m === 0xda) return undefined;
      const len = be16(b, i + 2);
      if (len < 2) return undefined;
      if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
        return i + 10 <= b.length ? { format: 'jpeg', width: be16(b, i + 7), height: be16(b, i + 5), components: b[i + 9] } : undefined;
      }
      i += 2 + len;
    }
    return undefined;
  }
  if (b.length >= 30 && tag(b, 0, 'RIFF') && tag(b, 8, 'WEBP')) {
    if (tag(b, 12, 'VP8X')) return { format: 'webp', width: le24(b, 24) + 1, height: le24(b, 27) + 1 };
    if (tag(b, 12, 'VP8L') && b[20] === 0x2f) {
      const v = le32(b, 21);
      return { format: 'webp', width: (v & 0x3fff) + 1, height: ((v >>> 14) & 0x3fff) + 1 };
    }
    if (tag(b, 12, 'VP8 ') && b[23] === 0x9d && b[24] === 0x01 && b[25] === 0x2a) {
      return { format: 'webp', width: le16(b, 26) & 0x3fff, height: le16(b, 28) & 0x3fff };
    }
    return undefined;
  }
  if (b.length >= 10 && (tag(b, 0, 'GIF87a') || tag(b, 0, 'GIF89a'))) return { format: 'gif', width: le16(b, 6), height: le16(b, 8) };
  if (b.length >= 26 && tag(b, 0, 'BM')) {
    const w = le32(b, 18) | 0, h = le32(b, 22) | 0;
    return { format: 'bmp', width: Math.abs(w), height: Math.abs(h) };
  }
  return undefined;
}

/**
 * Refuse an image file whose header declares more than `maxPixels` pixels, before anything
 * decodes it, with the same ImageSizeError (`ERR_IMAGE_TOO_LARGE`) the watermarker throws on
 * decoded pixels. Returns the header (undefined for a format it does not know: decode and let
 * the watermarker check the pixels).
 * @example
 * checkImageFileSize(new Uint8Array(await file.arrayBuffer()), 100_000_000, file.name);
 * const bitmap = await createImageBitmap(file);
 */
export function checkImageFileSize(bytes: Uint8Array, maxPixels: number = DEFAULT_MAX_PIXELS, name = 'image'): ImageHeader | undefined {
  if (!(typeof maxPixels === 'number' && maxPixels >= 1)) throw invalidParameter('maxPixels', 'a number of pixels, at least 1', maxPixels);
  const header = imageHeader(bytes);
  if (header && header.width * header.height > maxPixels) {
    const { width: w, height: h } = header;
    throw new ImageSizeError('ERR_IMAGE_TOO_LARGE',
      `${name} is ${w}x${h} (${pixelCount(w * h)}), over the limit of ${pixelCount(maxPixels)}; ` +
      'pass a larger maxPixels option if you trust this input (the limit protects against decompression bombs).');
  }
  return header;
}

/**
 * Where a GIF's data is cut off inside a block: the number of frames whole before the cut, or -1
 * for a GIF whose blocks are all whole (including one that ends without its trailer, the ';' some
 * encoders leave out). libvips decodes a truncated animated GIF without a
 * word, dropping the frames cut off and filling the rest of a frame cut in half from the one
 * before; only a truncated still GIF fails there. readImage and the sharp plug-in's stream refuse
 * such a file as truncated; call this where you decode GIF bytes yourself.
 * @example
 * if (gifTruncatedAt(bytes) >= 0) throw new Error('the GIF is truncated');
 */
export function gifTruncatedAt(bytes: Uint8Array): number {
  const n = bytes.length;
  if (n < 13) return 0;
  let at = 13;
  if (bytes[10] & 0x80) at += 3 << ((bytes[10] & 7) + 1); // the global colour table
  /** Past a run of sub-blocks (each a length byte and its bytes; a zero length ends it), or -1. */
  const subBlocks = (from: number): number => {
    for (let i = from; i < n;) {
      const len = bytes[i];
      if (len === 0) return i + 1;
      i += len + 1;
    }
    return -1;
  };
  let frames = 0;
  while (at < n) {
    const kind = bytes[at];
    if (kind === 0x3b) return -1; // the trailer
    if (kind === 0x21) { // an extension: its label, then sub-blocks
      if (at + 2 > n) return frames;
      at = subBlocks(at + 2);
    } else if (kind === 0x2c) { // an image: its descriptor, local colour table, LZW code size, data
      if (at + 10 > n) return frames;
      const flags = bytes[at + 9];
      at += 10 + (flags & 0x80 ? 3 << ((flags & 7) + 1) : 0) + 1;
      at = at <= n ? subBlocks(at) : -1;
      if (at >= 0) frames++;
    } else {
      return -1; // not a block this walk knows: left to the decoder
    }
    if (at < 0) return frames;
  }
  return -1; // every block whole: a trailer left out, or a cut between blocks (what is there is sound)
}

/**
 * The number of images an animated PNG (APNG) holds: the frames its acTL chunk declares, and its
 * default image when that is not the first frame (an IDAT before the first fcTL: a fallback for
 * viewers without APNG, which APNG viewers never show); 0 for a still PNG (or bytes that are not
 * a PNG). libvips reads an APNG as a still image, its default image: a copy made from that loses
 * the animation (or, for a one-frame APNG whose frame is not the default image, shows another
 * image than APNG viewers do), so readImage refuses to make one (ERR_ANIMATED).
 * @example
 * if (apngFrames(bytes) > 1) throw new Error('an animated PNG: convert it to WebP or GIF first');
 */
export function apngFrames(bytes: Uint8Array): number {
  const b = bytes;
  if (!(b instanceof Uint8Array) || b.length < 8 || b[0] !== 0x89 || b[1] !== 0x50 || b[2] !== 0x4e || b[3] !== 0x47) return 0;
  const u32 = (at: number) => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
  // acTL comes before the first IDAT (the APNG specification), and the default image is the
  // first frame when an fcTL comes before the IDAT too: the chunks up to the IDAT are read.
  let frames = 0;
  for (let at = 8; at + 12 <= b.length;) {
    const n = u32(at);
    const type = String.fromCharCode(b[at + 4], b[at + 5], b[at + 6], b[at + 7]);
    if (type === 'acTL' && frames === 0) {
      frames = n >= 8 ? u32(at + 8) : 0;
      if (frames === 0) return 0;
    } else if (type === 'fcTL' && frames > 0) return frames; // the default image is the first frame
    else if (type === 'IDAT') return frames > 0 ? frames + 1 : 0; // a default image outside the animation
    else if (type === 'IEND') return frames;
    at += 12 + n;
  }
  return frames;
}
