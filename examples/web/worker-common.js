// Shared by the demo's two workers (worker.js, deep-worker.js): decoding the page's image file
// (each worker decodes and keeps its own copy: the page holds no full-size pixels), the difference
// view, the previews and the PNG for download, made off the main thread. The page only paints the
// previews: they are at most PREVIEW_SIDE pixels a side, so that a 24-megapixel photo does not
// freeze the page (nor fill its memory) while its canvases are drawn.
import { checkImageFileSize, DEFAULT_MAX_PIXELS } from 'modelmark';

/**
 * 'TIFF' or 'HEIC' when `bytes` start as such a file (formats browsers other than Safari do not
 * decode), else ''. HEIC by the brands of its ftyp box: HEVC ones, and no AV1 one (an AVIF may
 * name 'mif1' first, as any HEIF may; browsers decode AVIF).
 */
function notForBrowsers(bytes) {
  const ascii = (from, to) => String.fromCharCode(...bytes.subarray(from, to));
  if ((ascii(0, 2) === 'II' && bytes[2] === 42 && bytes[3] === 0) || (ascii(0, 2) === 'MM' && bytes[2] === 0 && bytes[3] === 42)) return 'TIFF';
  if (bytes.length < 16 || ascii(4, 8) !== 'ftyp') return '';
  const size = Math.min(bytes.length, ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0, 256);
  const brands = [ascii(8, 12)];
  for (let at = 16; at + 4 <= size; at += 4) brands.push(ascii(at, at + 4));
  if (brands.some((b) => b === 'avif' || b === 'avis')) return '';
  return brands.some((b) => ['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis'].includes(b)) ? 'HEIC' : '';
}

/** A file's pixels (RGBA ImageData, upright as its EXIF orientation says). */
export async function decodeFile(file) {
  const name = file.name || 'The file';
  // The watermarker refuses over 100 megapixels, but only after they are decoded: a 1 MB PNG can
  // declare a gigabyte of pixels. Refused from its header instead.
  const bytes = new Uint8Array(await file.arrayBuffer());
  checkImageFileSize(bytes, DEFAULT_MAX_PIXELS, name);
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { premultiplyAlpha: 'none', colorSpaceConversion: 'none', imageOrientation: 'from-image' });
  } catch {
    const kind = notForBrowsers(bytes);
    throw Object.assign(new Error(kind
      ? `${name} could not be decoded as an image: it is a ${kind} file, which browsers do not decode. Convert it to JPEG or PNG first` +
        `${kind === 'TIFF' ? ', or mark it with the command line (modelmark embed), which reads and writes TIFF' : ''}.`
      : `${name} could not be decoded as an image: it is not a PNG, JPEG, WebP, GIF or AVIF image, or it is damaged or cut short.`), { code: 'ERR_DECODE' });
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return ctx.getImageData(0, 0, canvas.width, canvas.height);
}

// The page's image, as this worker decoded it: the page sends `{ id, file }` (a File is a handle,
// not its pixels; `id` grows with each image the page loads) with every request that reads it.
let held = null;     // { id, image }: the decoded image with the highest id
let pending = null;  // { id, promise }: a decode under way
/**
 * The pixels of the page's image `{ id, file }`: those this worker keeps when it holds `id`, else
 * `file` decoded (and kept, unless a later image is already kept). A failed decode keeps nothing
 * and leaves the image kept before.
 */
export function imageFor({ id, file }) {
  if (held?.id === id) return Promise.resolve(held.image);
  if (pending?.id === id) return pending.promise;
  const promise = decodeFile(file).then((image) => {
    if (!held || id > held.id) held = { id, image };
    return image;
  });
  pending = { id, promise };
  const done = () => { if (pending?.promise === promise) pending = null; };
  promise.then(done, done);
  return promise;
}

/** The longest side of the previews (original, marked, difference). */
export const PREVIEW_SIDE = 1600;
/** |a - b| x amplify on the colour channels, opaque: the demo's difference view (RGBA bytes). */
export function difference(a, b, amplify) {
  const out = new Uint8ClampedArray(a.length);
  for (let i = 0; i < a.length; i += 4) {
    out[i] = Math.abs(a[i] - b[i]) * amplify;
    out[i + 1] = Math.abs(a[i + 1] - b[i + 1]) * amplify;
    out[i + 2] = Math.abs(a[i + 2] - b[i + 2]) * amplify;
    out[i + 3] = 255;
  }
  return out;
}

/** An OffscreenCanvas holding RGBA pixels `{ width, height, data }` (data a Uint8ClampedArray). */
export function canvasOf({ width, height, data }) {
  const canvas = new OffscreenCanvas(width, height);
  canvas.getContext('2d').putImageData(new ImageData(data, width, height), 0, 0);
  return canvas;
}

/** `canvas` scaled down (smoothly) to at most `maxSide` pixels a side; as it is when smaller. */
export function scaled(canvas, maxSide) {
  const s = Math.min(1, maxSide / Math.max(canvas.width, canvas.height));
  if (s === 1) return canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  const out = new OffscreenCanvas(Math.max(1, Math.round(canvas.width * s)), Math.max(1, Math.round(canvas.height * s)));
  const ctx = out.getContext('2d', { willReadFrequently: true });
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(canvas, 0, 0, out.width, out.height);
  return ctx.getImageData(0, 0, out.width, out.height);
}

/**
 * Pixels for the page: `{ width, height, data }`, with `data` (a Uint8ClampedArray) to transfer.
 * Not the ImageData itself: the structured clone copies an ImageData's pixels even when its
 * buffer is in the transfer list, on the page's main thread too (about 20 ms there for the three
 * 1600-pixel previews of a mark, 6.8 MB each). The page wraps them in an ImageData, without a copy.
 */
export const forPage = ({ width, height, data }) => ({ width, height, data });

/**
 * What a mark shows: the marked image's PNG (full size) and the previews of the original, the
 * marked image and |marked − original| × amplify, each at most PREVIEW_SIDE a side (forPage).
 * `transfer` lists the previews' buffers. Both images are RGBA `{ width, height, data }`.
 */
export async function markViews(image, marked, amplify) {
  const markedCanvas = canvasOf(marked);
  const png = await markedCanvas.convertToBlob({ type: 'image/png' });
  const previews = {
    original: forPage(scaled(canvasOf(image), PREVIEW_SIDE)),
    marked: forPage(scaled(markedCanvas, PREVIEW_SIDE)),
    diff: forPage(scaled(canvasOf({ width: image.width, height: image.height, data: difference(image.data, marked.data, amplify) }), PREVIEW_SIDE)),
  };
  return { png, previews, transfer: Object.values(previews).map((p) => p.data.buffer) };
}

/**
 * Answers the page's messages `{ id, op, ... }` with `handle(msg)`: `{ id, ok: true, ...out }`
 * (transferring `out.transfer`), or `{ id, ok: false, error: { name, code, message } }`.
 */
export function serve(handle) {
  self.onmessage = async ({ data: msg }) => {
    try {
      const { transfer = [], ...out } = await handle(msg);
      self.postMessage({ id: msg.id, ok: true, ...out }, transfer);
    } catch (e) {
      self.postMessage({ id: msg.id, ok: false, error: { name: e?.name ?? 'Error', code: e?.code, message: e?.message ?? String(e) } });
    }
  };
}
