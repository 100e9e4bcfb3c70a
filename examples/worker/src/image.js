// Image container sniffing and decoding/encoding with jSquash's wasm codecs (PNG: Rust png
// crate via wasm-bindgen; JPEG: MozJPEG via Emscripten). Every codec is handed its
// pre-compiled WebAssembly.Module: Workers refuse to compile wasm from bytes at run time.
import decodePng, { init as initPngDecode } from '@jsquash/png/decode.js';
import encodePng, { init as initPngEncode } from '@jsquash/png/encode.js';
import decodeJpeg, { init as initJpegDecode } from '@jsquash/jpeg/decode.js';
import encodeJpeg, { init as initJpegEncode } from '@jsquash/jpeg/encode.js';
import pngWasm from '@jsquash/png/codec/pkg/squoosh_png_bg.wasm';
import jpegDecWasm from '@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm';
import jpegEncWasm from '@jsquash/jpeg/codec/enc/mozjpeg_enc.wasm';
import { imageHeader } from 'modelmark';
import { HttpError } from './errors.js';

export const TYPES = { png: 'image/png', jpeg: 'image/jpeg' };

let png;
let jpegDec;
let jpegEnc;

// MozJPEG says why it gives up ("Unsupported JPEG data precision 12", "Sorry, arithmetic coding
// is not implemented") on stderr and then exits, which reaches the caller only as "Program
// terminated with exit(1)": keep its last word for the error message.
let jpegSaid;
const JPEG_DEC_OPTIONS = { printErr: (msg) => { jpegSaid = String(msg); } };

/**
 * Instantiate the codec a format needs in one direction, once per isolate (lazily: JPEG-only
 * traffic never loads PNG, and /detect never instantiates MozJPEG's encoder: 2-5 ms of its first
 * request, measured in Node).
 */
function codecs(format, encoding) {
  if (format === 'png') {
    // Decode and encode share one wasm-bindgen instance: the second init returns the first's.
    png ??= initPngDecode(pngWasm).then(() => initPngEncode(pngWasm));
    return png;
  }
  if (encoding) return (jpegEnc ??= initJpegEncode(jpegEncWasm));
  return (jpegDec ??= initJpegDecode(jpegDecWasm, JPEG_DEC_OPTIONS));
}

/**
 * Format and dimensions from the container header alone (the core's imageHeader), so the pixel
 * limit is enforced before anything is decoded (decompression bombs); with PNG's bit depth and
 * JPEG's component count. Returns null when the bytes are neither PNG nor JPEG.
 * @example
 * probe(bytes); // { format: 'png', width: 512, height: 512, depth: 8 }
 */
export function probe(b) {
  const h = imageHeader(b);
  if (h?.format === 'png') return { format: 'png', width: h.width, height: h.height, depth: h.bitDepth };
  if (h?.format === 'jpeg') return { format: 'jpeg', width: h.width, height: h.height, components: h.components };
  return null;
}

/**
 * Why these bytes are a cut-short file, or null: a JPEG needs an end-of-image marker after its
 * last scan, a PNG its IEND chunk. The decoders here fill a truncated file's missing rows with
 * grey without a word, so a cut upload would otherwise be marked and returned as if whole.
 */
/** Most start-of-scan markers accepted in a JPEG (libjpeg-turbo's advice: 500 or fewer). */
export const MAX_JPEG_SCANS = 100;

/**
 * Count a JPEG's scans (start-of-scan markers), walking its marker segments: a segment's stated
 * length is skipped (so FF DA bytes inside comments, EXIF thumbnails or APP data do not count),
 * entropy-coded data is skipped to the next marker (FF 00 stuffing and restart markers are part
 * of it), and counting stops at the end-of-image marker (data after it, such as an MPF image, is
 * not this image). A progressive file with thousands of tiny scans costs about a millisecond of
 * decoding per scan at 8 MP: 290 KB of upload took 12 s of CPU.
 */
export function jpegScans(b) {
  let n = 0, i = 2;
  while (i + 3 < b.length) {
    if (b[i] !== 0xff) return n; // not a marker where one must be: the decoder will say more
    const m = b[i + 1];
    if (m === 0xff) { i++; continue; } // fill byte
    if (m === 0xd9) return n; // end of image
    if (m === 0x01 || (m >= 0xd0 && m <= 0xd7)) { i += 2; continue; }
    i += 2 + ((b[i + 2] << 8) | b[i + 3]);
    if (m === 0xda) {
      n++;
      // Entropy-coded data up to the next marker that is neither stuffing nor a restart.
      while (i + 1 < b.length && !(b[i] === 0xff && b[i + 1] !== 0x00 && !(b[i + 1] >= 0xd0 && b[i + 1] <= 0xd7))) i++;
    }
  }
  return n;
}

export function truncation(format, b) {
  if (format === 'png') {
    for (let i = b.length - 8; i >= 8; i--) {
      if (b[i] === 0x49 && b[i + 1] === 0x45 && b[i + 2] === 0x4e && b[i + 3] === 0x44) return null; // "IEND"
    }
    return 'it has no IEND chunk';
  }
  // The last start-of-scan (FF DA: never inside entropy-coded data, where FF is followed by 00
  // or a restart marker) must be followed by an end-of-image marker (FF D9). A thumbnail's own
  // markers lie before the main image's scans.
  let sos = -1;
  for (let i = b.length - 2; i >= 2; i--) if (b[i] === 0xff && b[i + 1] === 0xda) { sos = i; break; }
  if (sos < 0) return 'it has no image data';
  for (let i = b.length - 2; i > sos; i--) if (b[i] === 0xff && b[i + 1] === 0xd9) return null;
  return 'it ends before its end-of-image marker';
}

/** Decode to RGBA `{ width, height, data }`; a corrupt file is a 400 ERR_DECODE, never a crash. */
export async function decode(format, bytes) {
  await codecs(format, false);
  let image;
  jpegSaid = undefined;
  try {
    image = format === 'png' ? await decodePng(bytes) : await decodeJpeg(bytes);
  } catch (cause) {
    // MozJPEG reports a corrupt file through Emscripten's exit(): start the next request on a
    // fresh decoder instance rather than one that died mid-call.
    if (format === 'jpeg') jpegDec = undefined;
    // The PNG decoder (Rust, wasm-bindgen) fails with "`unwrap_throw` failed" whatever the fault.
    const why = format === 'jpeg'
      ? (jpegSaid ?? cause?.message ?? String(cause)).replace(/\.?\s*$/, '')
      : 'it is corrupt or breaks the PNG format (a chunk that fails its checksum, compressed pixels that are corrupt or cut short, a chunk that is invalid, repeated or out of place)';
    throw new HttpError(400, 'ERR_DECODE', `The ${format.toUpperCase()} image could not be decoded: ${why}. Re-save it as a standard 8-bit ${format.toUpperCase()}.`);
  }
  if (!image || !image.width || !image.height) {
    throw new HttpError(400, 'ERR_DECODE', `The ${format.toUpperCase()} image could not be decoded.`);
  }
  return { width: image.width, height: image.height, channels: 4, data: image.data };
}

/**
 * Encode RGBA pixels; `jpeg` holds MozJPEG's options for JPEG (`quality` 1-100, `progressive`,
 * and for a copy matched to its upload `quant_table: 0`, the standard tables, and the chroma
 * subsampling). Returns an ArrayBuffer. MozJPEG's progressive scans cost about twice the CPU of
 * a sequential file (1920x1080: 430-510 against 205 ms in wasm, the same size within 1%), so
 * JPEG is sequential unless asked.
 */
export async function encode(format, image, jpeg = {}) {
  await codecs(format, true);
  const d = image.data;
  // jSquash's PNG encoder reads `data.buffer` whole, so hand it a view that owns its buffer.
  const data = d.byteOffset === 0 && d.buffer.byteLength === d.length ? new Uint8ClampedArray(d.buffer) : new Uint8ClampedArray(d);
  const frame = { width: image.width, height: image.height, data };
  return format === 'png' ? encodePng(frame) : encodeJpeg(frame, { progressive: false, ...jpeg });
}
