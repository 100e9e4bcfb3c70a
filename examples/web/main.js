// The demo page: load an image (drop, file input or keyboard), mark it in a Web Worker, show the
// marked image, an amplified difference view and the PSNR, offer the PNG for download; detect
// in any image and draw the region map (green where the mark is) over a dimmed copy. The deep
// (logo) watermark's section is in deep.js.
import { checkImageFileSize, DEFAULT_MAX_PIXELS, parsePayload, payloadHex } from 'modelmark';
import { setupDeep } from './deep.js';

const $ = (id) => document.getElementById(id);
const ui = {
  drop: $('drop'), file: $('file'), info: $('image-info'), key: $('key'), payload: $('payload'), random: $('random'),
  strength: $('strength'), strengthValue: $('strength-value'), amplify: $('amplify'), mark: $('mark'), detect: $('detect'),
  status: $('status'), error: $('error'), markResult: $('mark-result'), psnr: $('psnr'), markedPayload: $('marked-payload'),
  original: $('original'), marked: $('marked'), diff: $('diff'), diffCaption: $('diff-caption'), download: $('download'),
  detectMarked: $('detect-marked'), detectResult: $('detect-result'), verdict: $('verdict'), found: $('found'),
  foundPayload: $('found-payload'), pvalue: $('pvalue'), score: $('score'), geometry: $('geometry'), map: $('map'),
};

// ---- Worker: one request at a time, answered by id.
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const waiting = new Map();
let nextId = 0;
worker.onmessage = ({ data }) => {
  const w = waiting.get(data.id);
  waiting.delete(data.id);
  if (data.ok) w.resolve(data);
  else w.reject(Object.assign(new Error(data.error.message), data.error));
};
worker.onerror = (e) => { for (const w of waiting.values()) w.reject(new Error(e.message || 'The worker failed to start.')); waiting.clear(); };
function call(message) {
  const id = ++nextId;
  return new Promise((resolve, reject) => { waiting.set(id, { resolve, reject }); worker.postMessage({ id, ...message }); });
}

// ---- State
let current = null;      // { name, image: ImageData }
let lastMarked = null;   // { image: ImageData, name }
let downloadUrl = null;

function randomPayload() {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
ui.payload.value = randomPayload();

function say(text) { ui.status.textContent = text; }
function fail(err) {
  ui.error.textContent = err?.code ? `${err.message} (${err.code})` : String(err?.message ?? err);
  document.body.dataset.state = 'error';
}
function busy(on) {
  document.body.setAttribute('aria-busy', String(on));
  for (const b of [ui.mark, ui.detect, ui.detectMarked]) b.disabled = on || !current;
  ui.detectMarked.disabled = on || !lastMarked;
}

function formatP(p) { return p === 0 ? '< 1e-300' : p < 1e-3 ? p.toExponential(1) : p.toPrecision(2); }

// ---- Images
async function decode(file) {
  // The worker's watermarker refuses over 100 megapixels, but only after the page has decoded
  // them: a 1 MB PNG can declare a gigabyte of pixels. Refused from its header instead.
  checkImageFileSize(new Uint8Array(await file.arrayBuffer()), DEFAULT_MAX_PIXELS, file.name || 'The file');
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { premultiplyAlpha: 'none', colorSpaceConversion: 'none', imageOrientation: 'from-image' });
  } catch {
    throw Object.assign(new Error(`${file.name || 'The file'} could not be decoded as an image.`), { code: 'ERR_DECODE' });
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return ctx.getImageData(0, 0, canvas.width, canvas.height);
}

function paint(canvas, image) {
  canvas.width = image.width; canvas.height = image.height;
  canvas.getContext('2d').putImageData(image, 0, 0);
}

/** Region map over a dimmed grey copy of the image (as the CLI's --map). */
function drawRegionMap(canvas, image, regions, maxSide = 1200) {
  const s = Math.min(1, maxSide / Math.max(image.width, image.height));
  const w = Math.round(image.width * s), h = Math.round(image.height * s);
  const full = new OffscreenCanvas(image.width, image.height);
  full.getContext('2d').putImageData(image, 0, 0);
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(full, 0, 0, w, h);
  const px = ctx.getImageData(0, 0, w, h), d = px.data;
  for (let i = 0; i < d.length; i += 4) {
    const v = 0.6 * (0.2126 * d[i] + 0.7152 * d[i + 1] + 0.0722 * d[i + 2]) + 30;
    d[i] = d[i + 1] = d[i + 2] = v; d[i + 3] = 255;
  }
  ctx.putImageData(px, 0, 0);
  if (!regions) return;
  const cw = regions.cellWidth * s, ch = regions.cellHeight * s;
  regions.scores.forEach((score, i) => {
    if (score === null) return;
    ctx.fillStyle = score >= 3 ? 'rgba(40, 210, 70, 0.59)' : score >= 1.5 ? 'rgba(240, 180, 30, 0.47)' : 'rgba(220, 40, 40, 0.27)';
    const cx = i % regions.columns, cy = Math.floor(i / regions.columns);
    const x0 = Math.round(cx * cw), y0 = Math.round(cy * ch);
    ctx.fillRect(x0, y0, Math.round((cx + 1) * cw) - x0, Math.round((cy + 1) * ch) - y0);
  });
}

async function load(file) {
  if (!file) return;
  ui.error.textContent = '';
  document.body.dataset.state = 'loading';
  busy(true);
  try {
    say(`Reading ${file.name}…`);
    const image = await decode(file);
    current = { name: file.name, image };
    ui.info.textContent = `${file.name}: ${image.width} × ${image.height} pixels.`;
    say(`Loaded ${file.name}. Mark it or detect in it.`);
    document.body.dataset.state = 'loaded';
  } catch (err) {
    fail(err);
  } finally {
    busy(false);
    deep.imageChanged();
  }
}

function settings() {
  const key = ui.key.value;
  if (!key) { ui.key.focus(); throw Object.assign(new Error('Enter a secret key.'), { code: 'ERR_INVALID_ARGUMENT' }); }
  return { key, strength: Number(ui.strength.value) };
}

// ---- Mark
async function mark() {
  ui.error.textContent = '';
  document.body.dataset.state = 'working';
  busy(true);
  try {
    const { key, strength } = settings();
    let payload;
    try { payload = payloadHex(parsePayload(ui.payload.value.trim(), 'payload')); } catch (e) { ui.payload.focus(); throw e; }
    const amplify = amplifyFactor();
    const { image, name } = current;
    say('Marking…');
    const out = await call({ op: 'mark', key, strength, payload, amplify, image: { width: image.width, height: image.height, data: image.data } });
    const marked = new ImageData(out.marked, image.width, image.height);
    paint(ui.original, image);
    paint(ui.marked, marked);
    paint(ui.diff, new ImageData(out.diff, image.width, image.height));
    ui.diffCaption.textContent = `|marked − original| × ${amplify}`;
    ui.psnr.textContent = out.psnr.toFixed(2);
    ui.markedPayload.textContent = out.payload;
    const blob = await new Promise((ok) => ui.marked.toBlob(ok, 'image/png'));
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = URL.createObjectURL(blob);
    ui.download.href = downloadUrl;
    ui.download.download = `${name.replace(/\.[^.]+$/, '') || 'image'}-marked.png`;
    lastMarked = { image: marked, name: ui.download.download };
    ui.markResult.hidden = false;
    say(`Marked with payload ${out.payload} (PSNR ${out.psnr.toFixed(2)} dB). Download the PNG below.`);
    document.body.dataset.state = 'marked';
  } catch (err) {
    fail(err);
  } finally {
    busy(false);
  }
}

// ---- Detect
async function detect(source) {
  ui.error.textContent = '';
  document.body.dataset.state = 'working';
  busy(true);
  try {
    const { key, strength } = settings();
    const { image, name } = source;
    say(`Detecting in ${name}…`);
    const { result } = await call({ op: 'detect', key, strength, image: { width: image.width, height: image.height, data: image.data } });
    ui.found.textContent = result.found ? 'yes' : 'no';
    ui.foundPayload.textContent = result.payload ?? '–';
    ui.pvalue.textContent = formatP(result.pValue);
    ui.score.textContent = result.score.toFixed(2);
    const t = result.transform;
    // As the CLI: mention the geometry only when the image was rotated, mirrored or stretched.
    ui.geometry.textContent = !t ? '–' : Math.abs(t.rotation) > 0.5 || t.flipped || Math.abs(t.aspect - 1) > 0.05
      ? `${t.flipped ? 'mirrored, ' : ''}rotated ${t.rotation.toFixed(1)}°, aspect ${t.aspect.toFixed(3)}` : 'not rotated, mirrored or stretched';
    ui.verdict.textContent = result.found ? `Mark found in ${name}: payload ${result.payload}.`
      : result.pValue < 1e-6 && !result.crcOk ? `A mark-like signal in ${name}, but its payload failed the CRC check.`
      : `No mark of this key in ${name}.`;
    drawRegionMap(ui.map, image, result.regions);
    ui.detectResult.hidden = false;
    say(result.found ? `Found, p-value ${formatP(result.pValue)}.` : `Not found (p-value ${formatP(result.pValue)}).`);
    document.body.dataset.state = result.found ? 'found' : 'not-found';
  } catch (err) {
    fail(err);
  } finally {
    busy(false);
  }
}

// ---- The deep (logo) watermark: the image of step 1 and the difference view's factor.
const amplifyFactor = () => Math.min(100, Math.max(1, Number(ui.amplify.value) || 20));
const deep = setupDeep({ getImage: () => current, getAmplify: amplifyFactor });

// ---- Wiring
ui.file.addEventListener('change', () => load(ui.file.files[0]));
ui.drop.addEventListener('click', () => ui.file.click());
ui.drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); ui.file.click(); } });
for (const type of ['dragenter', 'dragover']) ui.drop.addEventListener(type, (e) => { e.preventDefault(); ui.drop.classList.add('over'); });
ui.drop.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
ui.drop.addEventListener('drop', (e) => { e.preventDefault(); ui.drop.classList.remove('over'); load(e.dataTransfer?.files?.[0]); });
// A file dropped anywhere else should not navigate away from the demo.
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => { e.preventDefault(); if (!ui.drop.contains(e.target)) load(e.dataTransfer?.files?.[0]); });
ui.random.addEventListener('click', () => { ui.payload.value = randomPayload(); });
ui.strength.addEventListener('input', () => { ui.strengthValue.textContent = ui.strength.value; });
ui.mark.addEventListener('click', mark);
ui.detect.addEventListener('click', () => detect(current));
ui.detectMarked.addEventListener('click', () => detect(lastMarked));
document.body.dataset.state = 'ready';
