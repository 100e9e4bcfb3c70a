// Page for test/plugin-canvas.test.mjs: modelmark/canvas on ImageData and HTMLCanvasElement, and
// the modelmark/canvas/worker client against a real Web Worker (./canvas-worker.js, bundled from
// canvas-worker.mjs; ./entry.js is the package's own worker entry, for the no-argument client).
import { watermarkImageData, detectImageData, watermarkCanvas, detectCanvas } from 'modelmark/canvas';
import { createWatermarkWorker } from 'modelmark/canvas/worker';
import { InvalidArgumentError, createWatermarker } from 'modelmark';
import { normalUpperTail, studentUpperTail } from '../../dist/stats.js';
import * as libm from '../../dist/libm.js';
import { mathSweeps } from '../helpers/math-sweeps.mjs';

async function photoCanvas(url) {
  const bitmap = await createImageBitmap(await (await fetch(url)).blob());
  const canvas = document.createElement('canvas');
  canvas.width = bitmap.width; canvas.height = bitmap.height;
  canvas.getContext('2d', { willReadFrequently: true }).drawImage(bitmap, 0, 0);
  return canvas;
}

async function pngRoundTrip(canvas) {
  const blob = await new Promise((ok) => canvas.toBlob(ok, 'image/png'));
  const bytes = new Uint8Array(await blob.arrayBuffer());
  const bitmap = await createImageBitmap(blob);
  const back = document.createElement('canvas');
  back.width = bitmap.width; back.height = bitmap.height;
  back.getContext('2d').drawImage(bitmap, 0, 0);
  return { back, bytes };
}

const errorInfo = (e) => ({ code: e?.code, name: e?.name, message: String(e?.message ?? e), invalidArgument: e instanceof InvalidArgumentError });

window.runImageData = async (url, key, payload) => {
  const canvas = await photoCanvas(url);
  const ctx = canvas.getContext('2d');
  const imageData = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const before = imageData.data.slice();
  const returned = await watermarkImageData(imageData, { key, payload });
  let changed = 0;
  for (let i = 0; i < before.length; i++) if (before[i] !== imageData.data[i]) changed++;
  ctx.putImageData(imageData, 0, 0);
  const { back, bytes } = await pngRoundTrip(canvas);
  const bctx = back.getContext('2d');
  const r = await detectImageData(bctx.getImageData(0, 0, back.width, back.height), { key });
  const wrong = await detectImageData(bctx.getImageData(0, 0, back.width, back.height), { key: key + '-other' });
  let badPayload;
  try { await watermarkImageData(imageData, { key, payload: 'not hex' }); } catch (e) { badPayload = errorInfo(e); }
  return { same: returned === imageData, changed, alphaKept: imageData.data[3] === 255, found: r.found, payload: r.payload, pValue: r.pValue,
    wrongFound: wrong.found, png: Array.from(bytes), badPayload, width: back.width, height: back.height };
};

window.runCanvas = async (url, key, payload) => {
  const canvas = await photoCanvas(url);
  const before = await detectCanvas(canvas, { key });
  const returned = await watermarkCanvas(canvas, { key, payload });
  const { back } = await pngRoundTrip(canvas);
  const after = await detectCanvas(back, { key });
  return { same: returned === canvas, before: before.found, found: after.found, payload: after.payload };
};

window.runWorker = async (url, key, payload) => {
  const canvas = await photoCanvas(url);
  const imageData = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  const client = createWatermarkWorker(new Worker(new URL('./canvas-worker.js', import.meta.url), { type: 'module' }));
  // The UI thread must stay free while the worker marks: count timer ticks meanwhile.
  let ticks = 0;
  const timer = setInterval(() => ticks++, 2);
  const t0 = performance.now();
  const marked = await client.embed(imageData, { key, payload });
  const embedMs = performance.now() - t0;
  clearInterval(timer);
  const out = { ticks, embedMs, detached: imageData.data.length === 0, isImageData: marked instanceof ImageData, width: marked.width, height: marked.height };
  const r = await client.detect(marked, { key });
  Object.assign(out, { found: r.found, payload: r.payload, pValue: r.pValue, stillThere: marked.data.length > 0 });
  // Parallel requests are matched by id.
  const [a, b] = await Promise.all([client.detect(marked, { key }), client.detect(marked, { key: key + '-other' })]);
  Object.assign(out, { parallel: [a.found, b.found] });
  // Pixels that view part of a larger buffer (a pooled buffer, other data around them): the
  // transfer moves a copy, so the caller's buffer and what else it holds stay.
  const pool = new Uint8Array(marked.data.length + 32).fill(7);
  pool.set(marked.data, 16);
  const view = { width: marked.width, height: marked.height, data: pool.subarray(16, 16 + marked.data.length) };
  const fromView = await client.embed(view, { key, payload });
  out.viewKept = { pool: pool.length, head: pool[0], tail: pool[pool.length - 1], view: view.data.length, marked: fromView.data.length };
  // Errors come back with the core's class and code.
  const small = new ImageData(64, 64);
  try { await client.embed(small, { key, payload }); } catch (e) { out.tooSmall = errorInfo(e); }
  try { await client.embed(marked, { key, payload: 'zz' }, { transfer: false }); } catch (e) { out.badPayload = errorInfo(e); }
  // Refused before the transfer: the caller's pixels are still there (transfer is the default).
  const keep = new ImageData(new Uint8ClampedArray(marked.data), marked.width, marked.height);
  try { await client.embed(keep, { key, payload: 'zz' }); } catch (e) { out.keptAfterBadPayload = { code: e.code, length: keep.data.length }; }
  try { await client.embed(small, { key, payload }); } catch { out.keptAfterTooSmall = small.data.length; }
  const keep2 = new ImageData(new Uint8ClampedArray(marked.data), marked.width, marked.height);
  try { await client.embed(keep2, { key, payload, strength: 9 }); } catch (e) { out.keptAfterBadStrength = { code: e.code, length: keep2.data.length }; }
  // A worker whose script fails to load: every call rejects, the later ones at once (no hang).
  const broken = createWatermarkWorker(new Worker('/no-such.worker.js', { type: 'module' }));
  const settle = (p) => Promise.race([p.then(() => 'resolved', (e) => e.code), new Promise((ok) => setTimeout(() => ok('hung'), 5000))]);
  out.broken = [await settle(broken.detect(marked, { key })), await settle(broken.detect(marked, { key }))];
  // A canvas with no pixels: a typed error, not the browser's IndexSizeError.
  const empty = document.createElement('canvas');
  empty.width = 0;
  try { await watermarkCanvas(empty, { key, payload }); } catch (e) { out.emptyCanvas = e.code; }
  // OffscreenCanvas inside the worker: a message the worker answers itself, beside the modelmark ones.
  const worker = new Worker(new URL('./canvas-worker.js', import.meta.url), { type: 'module' });
  out.offscreen = await new Promise((ok, fail) => {
    worker.onmessage = (e) => { if (e.data?.offscreen) ok(e.data.offscreen); };
    worker.onerror = (e) => fail(new Error(e.message));
    worker.postMessage({ offscreen: { url: new URL(url, location.href).href, key, payload } });
  });
  worker.terminate();
  client.terminate();
  // Bounded: a call after terminate() that never settles is a failure here, not a hung test.
  try {
    await Promise.race([client.detect(marked, { key }), new Promise((ok, fail) => setTimeout(() => fail({ code: 'HUNG', message: 'no answer in 5 s' }), 5000))]);
  } catch (e) { out.terminated = errorInfo(e); }
  // The package's own entry (./entry.js beside the bundle), with no argument.
  const own = createWatermarkWorker();
  const r2 = await own.detect(marked, { key });
  own.terminate();
  out.defaultEntry = { found: r2.found, payload: r2.payload };
  return out;
};

// createWatermarkWorker() where the package's own entry is not beside the bundle (the test moves
// it away, as esbuild and Rollup leave it out): the error says which script and what to do.
window.runMissingEntry = async () => {
  const client = createWatermarkWorker();
  try {
    await client.detect(new ImageData(64, 64), { key: 'k' });
    return { code: 'none' };
  } catch (e) {
    return { code: e.code, message: e.message };
  } finally {
    client.terminate();
  }
};

// The core's embed (not in place) and the deep mark's on an ImageData: the copies are ImageData
// too, so putImageData and createImageBitmap take them.
window.runCoreCopy = async (url, key, payload) => {
  const canvas = await photoCanvas(url);
  const ctx = canvas.getContext('2d');
  const imageData = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const wm = await createWatermarker({ key });
  const marked = wm.embed(imageData, payload);
  const out = { isImageData: marked instanceof ImageData, channels: marked.channels, clamped: marked.data instanceof Uint8ClampedArray, colorSpace: marked.colorSpace };
  ctx.putImageData(marked, 0, 0);
  await createImageBitmap(marked);
  const r = wm.detect(ctx.getImageData(0, 0, canvas.width, canvas.height));
  return { ...out, found: r.found, payload: r.payload, inputKept: imageData.data !== marked.data };
};

// An ImageData reused after the worker client's embed transferred its buffer (the default), and
// one detached by any other transfer: both refused with a message that says so.
window.runDetached = async (key, payload) => {
  const client = createWatermarkWorker(new Worker('./canvas-worker.js', { type: 'module' }));
  try {
    const d = new ImageData(256, 256);
    await client.embed(d, { key, payload });
    const out = {};
    for (const [name, call] of [['clientDetect', () => client.detect(d, { key })], ['pageDetect', () => detectImageData(d, { key })], ['pageEmbed', () => watermarkImageData(d, { key, payload })]]) {
      try { await call(); out[name] = 'resolved'; } catch (e) { out[name] = errorInfo(e); }
    }
    return out;
  } finally {
    client.terminate();
  }
};

// Colour spaces and pixel formats: a display-p3 canvas's ImageData marked in place and through the
// worker client (the copy must stay display-p3, or putImageData converts its colours), and
// Chromium's half-float ImageData refused by name.
window.runColourSpace = async (url, key, payload) => {
  const bitmap = await createImageBitmap(await (await fetch(url)).blob());
  const canvas = document.createElement('canvas');
  canvas.width = bitmap.width; canvas.height = bitmap.height;
  const ctx = canvas.getContext('2d', { colorSpace: 'display-p3', willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const out = {};
  const imageData = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const original = imageData.data.slice();
  const returned = await watermarkImageData(imageData, { key, payload });
  out.inPlace = { same: returned === imageData, colorSpace: returned.colorSpace, size: [returned.width, returned.height] };
  const client = createWatermarkWorker(new Worker('./canvas-worker.js', { type: 'module' }));
  try {
    const input = new ImageData(original, canvas.width, canvas.height, { colorSpace: 'display-p3' });
    const marked = await client.embed(input, { key, payload }, { transfer: false });
    out.worker = { isImageData: marked instanceof ImageData, colorSpace: marked.colorSpace, size: [marked.width, marked.height] };
    // Put on the P3 canvas it came from and read back: the same bytes when no conversion happened.
    ctx.putImageData(marked, 0, 0);
    const back = ctx.getImageData(0, 0, canvas.width, canvas.height);
    let changed = 0;
    for (let i = 0; i < back.data.length; i++) if (back.data[i] !== marked.data[i]) changed++;
    const r = await detectImageData(back, { key });
    Object.assign(out.worker, { changedByPut: changed, found: r.found, payload: r.payload });
    // Half floats, where this Chromium has them: a typed error that names the pixel format.
    const f16 = new ImageData(256, 256, { pixelFormat: 'rgba-float16' });
    out.float16 = { supported: f16.pixelFormat === 'rgba-float16' };
    if (out.float16.supported) {
      for (const [name, call] of [['embed', () => watermarkImageData(f16, { key, payload })], ['detect', () => detectImageData(f16, { key })],
        ['client', () => client.embed(f16, { key, payload })], ['fromCanvas', () => detectImageData(ctx.getImageData(0, 0, 256, 256, { pixelFormat: 'rgba-float16' }), { key })]]) {
        try { await call(); out.float16[name] = 'resolved'; } catch (e) { out.float16[name] = errorInfo(e); }
      }
      out.float16.keptByClient = f16.data.length;
      // A half-float canvas still reads and writes 8-bit ImageData by default: watermarkCanvas works on it.
      const fc = document.createElement('canvas');
      fc.width = 512; fc.height = 512;
      fc.getContext('2d', { colorType: 'float16' }).drawImage(bitmap, 0, 0);
      await watermarkCanvas(fc, { key, payload });
      out.float16.canvas = (await detectCanvas(fc, { key })).payload;
    }
  } finally {
    client.terminate();
  }
  return out;
};

// Alpha: a photo made transparent on its left quarter and fading in (alpha 0 to 255) over the
// rest, marked as ImageData, put on a canvas (premultiplied), exported as PNG and read back.
window.runAlpha = async (url, key, payload) => {
  const canvas = await photoCanvas(url);
  const ctx = canvas.getContext('2d');
  const { width: w, height: h } = canvas;
  const imageData = ctx.getImageData(0, 0, w, h);
  const q = Math.floor(w / 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) imageData.data[(y * w + x) * 4 + 3] = x < q ? 0 : Math.round((x - q) / (w - 1 - q) * 255);
  }
  const original = imageData.data.slice();
  await watermarkImageData(imageData, { key, payload });
  let alphaChanged = 0, clear = 0, clearChanged = 0, visibleChanged = 0;
  for (let i = 0; i < original.length; i += 4) {
    if (original[i + 3] !== imageData.data[i + 3]) alphaChanged++;
    const rgbChanged = original[i] !== imageData.data[i] || original[i + 1] !== imageData.data[i + 1] || original[i + 2] !== imageData.data[i + 2];
    if (original[i + 3] === 0) { clear++; if (rgbChanged) clearChanged++; } else if (rgbChanged) visibleChanged++;
  }
  const out = { alphaChanged, clear, clearChanged, visibleChanged };
  const summary = (r) => ({ found: r.found, payload: r.payload, pValue: r.pValue });
  ctx.putImageData(imageData, 0, 0);
  out.readBack = summary(await detectImageData(ctx.getImageData(0, 0, w, h), { key }));
  const { back, bytes } = await pngRoundTrip(canvas);
  out.png = Array.from(bytes);
  out.afterPng = summary(await detectCanvas(back, { key }));
  // watermarkCanvas on a canvas holding the transparent photo.
  const c2 = document.createElement('canvas');
  c2.width = w; c2.height = h;
  c2.getContext('2d').putImageData(new ImageData(original, w, h), 0, 0);
  await watermarkCanvas(c2, { key, payload });
  out.canvas = summary(await detectCanvas((await pngRoundTrip(c2)).back, { key }));
  return out;
};

// The same RGBA pixels as Node's (given as base64), marked and read here by the core, by
// watermarkImageData and by the worker client: for test/plugin-canvas.test.mjs to compare with
// Node's core byte for byte and field by field (the kernels are the same WebAssembly).
const fromBase64 = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
function toBase64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
const sameBytes = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
/** The rows and columns [x, x + w) x [y, y + h) of an RGBA image (the test crops the same way). */
function cropRgba(img, [x, y, w, h]) {
  const data = new Uint8ClampedArray(w * h * 4);
  for (let r = 0; r < h; r++) data.set(img.data.subarray(((y + r) * img.width + x) * 4, ((y + r) * img.width + x + w) * 4), r * w * 4);
  return { width: w, height: h, data };
}
window.runAgreement = async (b64, width, height, key, payload, crop) => {
  const pixels = new Uint8ClampedArray(fromBase64(b64).buffer);
  const wm = await createWatermarker({ key });
  const marked = wm.embed(new ImageData(pixels.slice(), width, height), payload);
  const inPlace = new ImageData(pixels.slice(), width, height);
  await watermarkImageData(inPlace, { key, payload });
  const client = createWatermarkWorker(new Worker(new URL('./canvas-worker.js', import.meta.url), { type: 'module' }));
  try {
    const fromWorker = await client.embed(new ImageData(pixels.slice(), width, height), { key, payload });
    return {
      marked: toBase64(marked.data),
      pluginSame: sameBytes(inPlace.data, marked.data),
      workerSame: sameBytes(fromWorker.data, marked.data),
      detect: {
        marked: wm.detect(marked),
        cropped: wm.detect(cropRgba(marked, crop)),
        unmarked: wm.detect({ width, height, data: pixels }),
        inWorker: await client.detect(fromWorker, { key }),
      },
    };
  } finally {
    client.terminate();
  }
};

// The detector's p-value functions and src/libm.ts over the same arguments as in Node.
window.runMathSweeps = () => mathSweeps({ normalUpperTail, studentUpperTail }, libm);

window.ready = true;
