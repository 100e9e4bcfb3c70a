// The demo's heavy work, off the main thread: decoding, embed, PSNR, the amplified difference,
// the PNG for download, detect and the region map. The page only paints what comes back: the
// previews are at most PREVIEW_SIDE pixels a side (worker-common.js), so that a 24-megapixel
// photo does not freeze the page while its canvases are drawn.
// The full-size pixels stay here: the page sends its image file, which this worker decodes and
// keeps (worker-common.js imageFor), and the last marked image is kept for 'detect' with
// `marked: true`. The page holds neither.
// Messages in:  { id, op: 'decode', image: { id, file } }
//               { id, op: 'mark', key, strength, payload, amplify, image: { id, file } }
//               { id, op: 'detect', key, strength, pieces, image }  or  { id, op: 'detect', key, strength, pieces, marked: true }
//               (pieces: true also looks for a marked piece pasted into a larger image, 'all' for every one: detect's option)
// Messages out: { id, ok: true, ... } or { id, ok: false, error: { name, code, message } }
//   decode: { width, height, file }: `file` is an in-memory copy of the file, for the next requests
//   mark:   { payload, psnr, png: Blob, previews: { original, marked, diff } }
//   detect: { result, map }  (previews and map: { width, height, data }, worker-common.js forPage)
import { createWatermarker, payloadHex, parsePayload, psnr } from 'modelmark';
import { canvasOf, forPage, imageFor, markViews, scaled, serve } from './worker-common.js';

/** The longest side of the region map. */
const MAP_SIDE = 1200;

const watermarkers = new Map();
/** The last marked image, full size (RGBA): what 'detect' with `marked: true` reads. */
let lastMarked = null;

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

/** The further pieces' marked cells (pieces: 'all'), as the CLI's --map draws them: cyan, magenta, blue, orange. */
const PIECE_FILLS = ['rgba(30, 190, 230, 0.67)', 'rgba(220, 60, 210, 0.67)', 'rgba(60, 90, 240, 0.67)', 'rgba(250, 120, 20, 0.67)'];

/**
 * Region map over a dimmed grey copy of the image (as the CLI's --map), at most MAP_SIDE a side:
 * `maps[0]` in green, amber and red; each further piece's marked cells in its own colour.
 */
function regionMap(image, maps) {
  const regions = maps[0];
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
  maps.forEach((m, k) => {
    if (!m) return;
    const cw = m.cellWidth * s, ch = m.cellHeight * s;
    m.scores.forEach((score, i) => {
      if (score === null || (k > 0 && score < 3)) return;
      ctx.fillStyle = k > 0 ? PIECE_FILLS[(k - 1) % PIECE_FILLS.length]
        : score >= 3 ? 'rgba(40, 210, 70, 0.59)' : score >= 1.5 ? 'rgba(240, 180, 30, 0.47)' : 'rgba(220, 40, 40, 0.27)';
      const cx = i % m.columns, cy = Math.floor(i / m.columns);
      const x0 = Math.round(cx * cw), y0 = Math.round(cy * ch);
      ctx.fillRect(x0, y0, Math.round((cx + 1) * cw) - x0, Math.round((cy + 1) * ch) - y0);
    });
  });
  return ctx.getImageData(0, 0, canvas.width, canvas.height);
}

async function handle(msg) {
  const { op, key, strength } = msg;
  if (op === 'decode') {
    // The file's bytes copied into memory (here, off the main thread): the page keeps this copy
    // for the workers, which decode it when they need it, even after the file on disk changed or
    // was deleted (reading the original File would then fail).
    const { id, file } = msg.image;
    const copy = new File([await file.arrayBuffer()], file.name, { type: file.type });
    const { width, height } = await imageFor({ id, file: copy });
    return { width, height, file: copy };
  }
  const wm = await watermarker(key, strength);
  if (op === 'mark') {
    const payload = payloadHex(parsePayload(msg.payload));
    const image = await imageFor(msg.image);
    const marked = wm.embed(image, payload);
    const db = await psnr(image, marked);
    const { png, previews, transfer } = await markViews(image, marked, msg.amplify);
    lastMarked = marked;
    return { payload, psnr: db, png, previews, transfer };
  }
  if (op === 'detect') {
    const image = msg.marked ? lastMarked : await imageFor(msg.image);
    // The page disables "Detect in the marked image" until a mark is made.
    if (!image) throw Object.assign(new Error('There is no marked image to detect in: mark the image first.'), { code: 'ERR_INVALID_ARGUMENT' });
    const result = wm.detect(image, { pieces: msg.pieces === 'all' ? 'all' : msg.pieces === true });
    // Every piece's map with pieces: 'all', the further ones in their own colours.
    const map = forPage(regionMap(image, result.pieces && result.pieces.length > 1 ? result.pieces.map((p) => p.regions) : [result.regions]));
    return { result, map, transfer: [map.data.buffer] };
  }
  throw new Error(`unknown operation ${op}`);
}

serve(handle);
