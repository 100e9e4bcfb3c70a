// The demo's heavy work, off the main thread: decoding, embed, PSNR, the amplified difference,
// the PNG for download, detect and the region map. The page only paints what comes back: the
// previews are at most PREVIEW_SIDE pixels a side (worker-common.js), so that a 24-megapixel
// photo does not freeze the page while its canvases are drawn.
// Messages in:  { id, op: 'decode', file }
//               { id, op: 'mark', key, strength, payload, amplify, image: { width, height, data } }
//               { id, op: 'detect', key, strength, image }
// Messages out: { id, ok: true, ... } or { id, ok: false, error: { name, code, message } }
import { checkImageFileSize, createWatermarker, DEFAULT_MAX_PIXELS, payloadHex, parsePayload, psnr } from 'modelmark';
import { canvasOf, markViews, scaled, serve } from './worker-common.js';

/** The longest side of the region map. */
const MAP_SIDE = 1200;

const watermarkers = new Map();

/** One watermarker per key and strength (the key derivation and kernel load happen once). */
function watermarker(key, strength) {
  const id = `${strength}|${key}`;
  if (!watermarkers.has(id)) {
    const wm = createWatermarker({ key, strength });
    wm.catch(() => watermarkers.delete(id));
    watermarkers.set(id, wm);
  }
  return watermarkers.get(id);
}

/** A file's pixels (RGBA, upright as its EXIF orientation says). */
async function decode(file) {
  const name = file.name || 'The file';
  // The watermarker refuses over 100 megapixels, but only after they are decoded: a 1 MB PNG can
  // declare a gigabyte of pixels. Refused from its header instead.
  checkImageFileSize(new Uint8Array(await file.arrayBuffer()), DEFAULT_MAX_PIXELS, name);
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { premultiplyAlpha: 'none', colorSpaceConversion: 'none', imageOrientation: 'from-image' });
  } catch {
    throw Object.assign(new Error(`${name} could not be decoded as an image: it is not a PNG, JPEG or WebP image, or it is damaged or cut short.`), { code: 'ERR_DECODE' });
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return ctx.getImageData(0, 0, canvas.width, canvas.height);
}

/** Region map over a dimmed grey copy of the image (as the CLI's --map), at most MAP_SIDE a side. */
function regionMap(image, regions) {
  const px = scaled(canvasOf(image), MAP_SIDE), d = px.data;
  const s = px.width / image.width;
  for (let i = 0; i < d.length; i += 4) {
    const v = 0.6 * (0.2126 * d[i] + 0.7152 * d[i + 1] + 0.0722 * d[i + 2]) + 30;
    d[i] = d[i + 1] = d[i + 2] = v; d[i + 3] = 255;
  }
  if (!regions) return px;
  const canvas = new OffscreenCanvas(px.width, px.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.putImageData(px, 0, 0);
  const cw = regions.cellWidth * s, ch = regions.cellHeight * s;
  regions.scores.forEach((score, i) => {
    if (score === null) return;
    ctx.fillStyle = score >= 3 ? 'rgba(40, 210, 70, 0.59)' : score >= 1.5 ? 'rgba(240, 180, 30, 0.47)' : 'rgba(220, 40, 40, 0.27)';
    const cx = i % regions.columns, cy = Math.floor(i / regions.columns);
    const x0 = Math.round(cx * cw), y0 = Math.round(cy * ch);
    ctx.fillRect(x0, y0, Math.round((cx + 1) * cw) - x0, Math.round((cy + 1) * ch) - y0);
  });
  return ctx.getImageData(0, 0, canvas.width, canvas.height);
}

async function handle(msg) {
  const { op, key, strength, image } = msg;
  if (op === 'decode') {
    const decoded = await decode(msg.file);
    return { image: decoded, transfer: [decoded.data.buffer] };
  }
  const wm = await watermarker(key, strength);
  if (op === 'mark') {
    const payload = payloadHex(parsePayload(msg.payload));
    const marked = wm.embed(image, payload);
    const db = await psnr(image, marked);
    const { png, previews, transfer } = await markViews(image, marked, msg.amplify);
    return { payload, psnr: db, marked: marked.data, png, previews, transfer: [marked.data.buffer, ...transfer] };
  }
  if (op === 'detect') {
    const result = wm.detect(image);
    const map = regionMap(image, result.regions);
    return { result, map, transfer: [map.data.buffer] };
  }
  throw new Error(`unknown operation ${op}`);
}

serve(handle);
