// The demo page: load an image (drop, file input or keyboard), mark it in a Web Worker, show the
// marked image, an amplified difference view and the PSNR, offer the PNG for download; detect
// in any image and draw the region map (green where the mark is) over a dimmed copy. Decoding,
// the previews, the PNG and the region map are made in the worker too: the page only paints
// them. The page holds no full-size pixels: it sends the image's File (a handle, not its pixels)
// with an id, and each worker decodes and keeps its own copy; the marked image stays in the
// worker. The deep (logo) watermark's section is in deep.js.
import { parsePayload, payloadHex } from 'modelmark';
import { setupDeep } from './deep.js';

const $ = (id) => document.getElementById(id);
const ui = {
  drop: $('drop'), file: $('file'), info: $('image-info'), key: $('key'), payload: $('payload'), random: $('random'),
  strength: $('strength'), strengthValue: $('strength-value'), amplify: $('amplify'), pieces: $('pieces'), allPieces: $('all-pieces'), mark: $('mark'), detect: $('detect'),
  status: $('status'), error: $('error'), markResult: $('mark-result'), psnr: $('psnr'), markedPayload: $('marked-payload'), downloadInfo: $('download-info'),
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
function call(message, transfer = []) {
  const id = ++nextId;
  return new Promise((resolve, reject) => { waiting.set(id, { resolve, reject }); worker.postMessage({ id, ...message }, transfer); });
}
// ---- State
// current: the loaded image { id, file, name, width, height }; the workers decode `file` and keep
// its pixels under `id` (worker-common.js imageFor). `id` grows with each load; of the loads that
// succeed, the one with the highest id is current, here as in the workers.
let current = null;
let lastMarked = null;   // { name, width, height } of the marked image the worker keeps (not its pixels)
let nextImageId = 0;
let downloadUrl = null;

function randomPayload() {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
ui.payload.value = randomPayload();

function say(text) { ui.status.textContent = text; }
function fail(err) {
  // The status would still say what was under way ("Reading x…"): the alert says what happened.
  say('');
  ui.error.textContent = err?.code ? `${err.message} (${err.code})` : String(err?.message ?? err);
  document.body.dataset.state = 'error';
}
// Disabling the focused button drops the focus to the page's start; it goes back when the work
// is done (unless the work moved it, e.g. to the key field it asks for).
let refocus = null;
function busy(on) {
  if (on && document.activeElement instanceof HTMLButtonElement) refocus = document.activeElement;
  for (const section of [ui.markResult, ui.detectResult]) section.setAttribute('aria-busy', String(on));
  for (const b of [ui.mark, ui.detect]) b.disabled = on || !current;
  ui.detectMarked.disabled = on || !lastMarked;
  if (!on) {
    const lost = !document.activeElement || document.activeElement === document.body;
    if (lost && refocus?.isConnected && !refocus.disabled) refocus.focus();
    refocus = null;
  }
}

function formatBytes(n) { return n < 1e6 ? `${(n / 1e3).toFixed(1)} kB` : `${(n / 1e6).toFixed(1)} MB`; }
function formatP(p) { return p === 0 ? '< 1e-300' : p < 1e-3 ? p.toExponential(1) : p.toPrecision(2); }

// ---- Images
/** The page's image for a worker: its File and id (the worker decodes and keeps the pixels). */
const imageRef = ({ id, file }) => ({ id, file });

/** Draw pixels from a worker, { width, height, data } (worker-common.js forPage). */
function paint(canvas, { width, height, data }) {
  canvas.width = width; canvas.height = height;
  canvas.getContext('2d').putImageData(new ImageData(data, width, height), 0, 0);
}

async function load(file) {
  if (!file) return;
  ui.error.textContent = '';
  document.body.dataset.state = 'loading';
  busy(true);
  try {
    say(`Reading ${file.name}…`);
    const id = ++nextImageId;
    // Decoded in the worker (which refuses a decompression bomb from its header), and kept there.
    // The worker answers with a copy of the file in memory, which the workers read from then on.
    const { width, height, file: copy } = await call({ op: 'decode', image: { id, file } });
    if (current && current.id > id) return; // a later image loaded first
    current = { id, file: copy, name: file.name, width, height };
    ui.info.textContent = `${file.name}: ${width} × ${height} pixels.`;
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
    const image = current, { name, width, height } = image;
    say('Marking…');
    const out = await call({ op: 'mark', key, strength, payload, amplify, image: imageRef(image) });
    paint(ui.original, out.previews.original);
    paint(ui.marked, out.previews.marked);
    paint(ui.diff, out.previews.diff);
    const scale = out.previews.diff.width / width;
    ui.diffCaption.textContent = `|marked − original| × ${amplify}` + (scale < 1 ? ` (shown at ${Math.round(scale * 100)} %)` : '');
    ui.psnr.textContent = out.psnr.toFixed(2);
    ui.markedPayload.textContent = out.payload;
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = URL.createObjectURL(out.png);
    ui.downloadInfo.textContent = `PNG, ${width} × ${height} pixels, ${formatBytes(out.png.size)}`;
    ui.download.href = downloadUrl;
    ui.download.download = `${name.replace(/\.[^.]+$/, '') || 'image'}-marked.png`;
    lastMarked = { name: ui.download.download, width, height };
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
/** `source`: step 1's image (current) or the marked one the worker keeps (lastMarked). */
async function detect(source) {
  ui.error.textContent = '';
  document.body.dataset.state = 'working';
  busy(true);
  try {
    const { key, strength } = settings();
    const { name } = source;
    const pieces = ui.allPieces.checked ? 'all' : ui.pieces.checked;
    say(pieces === 'all' ? `Detecting in ${name}, looking for every marked piece…` : pieces ? `Detecting in ${name}, also looking for a pasted piece…` : `Detecting in ${name}…`);
    const { result, map } = await call(source.file ? { op: 'detect', key, strength, pieces, image: imageRef(source) }
      : { op: 'detect', key, strength, pieces, marked: true });
    ui.found.textContent = result.found ? 'yes' : 'no';
    ui.foundPayload.textContent = result.payload ?? '–';
    ui.pvalue.textContent = formatP(result.pValue);
    ui.score.textContent = result.score.toFixed(2);
    const t = result.transform;
    // As the CLI: mention the geometry only when the image was rotated, mirrored or stretched.
    ui.geometry.textContent = !t ? '–' : Math.abs(t.rotation) > 0.5 || t.flipped || Math.abs(t.aspect - 1) > 0.05
      ? `${t.flipped ? 'mirrored, ' : ''}rotated ${t.rotation.toFixed(1)}°, aspect ${t.aspect.toFixed(3)}` : 'not rotated, mirrored or stretched';
    // Every piece listed (pieces: 'all'): the further ones after the first.
    const more = (result.pieces ?? []).slice(1).map((p) => `, and ${p.payload} in another piece (p-value ${formatP(p.pValue)})`).join('');
    ui.verdict.textContent = result.found ? `Mark found in ${name}: payload ${result.payload}${more}.`
      : result.pValue < 1e-6 && !result.crcOk ? `A mark-like signal in ${name}, but its payload failed the CRC check.`
      : `No mark of this key in ${name}.`;
    paint(ui.map, map);
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
// What the field says, within its 1 to 100 (20 when empty); written back, so that the field shows
// the factor the difference view and its caption use.
function amplifyFactor() {
  const v = ui.amplify.value.trim() === '' ? 20 : Number(ui.amplify.value);
  const amplify = Number.isFinite(v) ? Math.min(100, Math.max(1, v)) : 20;
  if (String(amplify) !== ui.amplify.value) ui.amplify.value = String(amplify);
  return amplify;
}
const deep = setupDeep({ getImage: () => current, getAmplify: amplifyFactor });

// ---- Wiring
ui.file.addEventListener('change', () => load(ui.file.files[0]));
ui.drop.addEventListener('click', () => ui.file.click());
ui.drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); ui.file.click(); } });
for (const type of ['dragenter', 'dragover']) ui.drop.addEventListener(type, (e) => { e.preventDefault(); ui.drop.classList.add('over'); });
ui.drop.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
// A dropped file replaces the one the file input holds: clear it, or choosing that file again
// would fire no change event and load nothing.
function dropped(e) {
  const file = e.dataTransfer?.files?.[0];
  if (file) ui.file.value = '';
  load(file);
}
ui.drop.addEventListener('drop', (e) => { e.preventDefault(); ui.drop.classList.remove('over'); dropped(e); });
// A file dropped anywhere else should not navigate away from the demo.
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => { e.preventDefault(); if (!ui.drop.contains(e.target)) dropped(e); });
ui.random.addEventListener('click', () => { ui.payload.value = randomPayload(); });
ui.strength.addEventListener('input', () => { ui.strengthValue.textContent = ui.strength.value; });
ui.mark.addEventListener('click', mark);
ui.detect.addEventListener('click', () => detect(current));
ui.detectMarked.addEventListener('click', () => detect(lastMarked));
document.body.dataset.state = 'ready';
