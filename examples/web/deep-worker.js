// The demo's deep watermark (modelmark/deep on onnxruntime-web), off the main thread. The models
// are fetched from models/ next to this script (h.onnx, r.onnx, deep.json, copied there by
// scripts/build-web.mjs); onnxruntime-web's runtime (ort-wasm-simd-threaded.jsep.wasm) is served
// next to it too: nothing comes from a CDN.
//
// Execution provider: 'auto' tries WebGPU when the browser exposes navigator.gpu and gives an
// adapter, and falls back to WebAssembly when there is none or the WebGPU session fails (the
// reason is reported); 'webgpu' and 'wasm' ask for one. One WebAssembly thread (threads would need
// cross-origin isolation for SharedArrayBuffer).
//
// The page gets back what it paints, as the classical section's worker.js: the previews
// (original, marked, amplified difference) at most PREVIEW_SIDE a side and the full-size marked
// PNG for download. The full-size pixels stay here: the page sends its image file, which this
// worker decodes and keeps (worker-common.js imageFor), and the marked pixels are kept for
// 'extract' on the marked image.
//
// Messages in:  { id, op: 'init', provider: 'auto' | 'webgpu' | 'wasm' }
//               { id, op: 'embed', provider, amplify, image: { id, file } }
//               { id, op: 'extract', provider, image }  or  { id, op: 'extract', provider, marked: true }
// Messages out: { id, ok: true, provider, fallback, ... } or { id, ok: false, error: { name, code, message } }
//   embed:   { psnr, ms, png: Blob, previews: { original, marked, diff }: { width, height, data } (forPage), width, height }
//   extract: { logo, logoSize, nc, found, threshold, ms }
import * as ort from 'onnxruntime-web';
import { createDeepWatermarker } from 'modelmark/deep';
import { psnr } from 'modelmark';
import { imageFor, markViews, serve } from './worker-common.js';

ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = { wasm: new URL('./ort-wasm-simd-threaded.jsep.wasm', import.meta.url).href };

let models = null;
/** The last logo-marked image, full size (RGBA): what 'extract' with `marked: true` reads. */
let lastMarked = null;
/** provider preference -> Promise<{ deep, provider, fallback, adapter }> */
const watermarkers = new Map();

async function fetchBytes(name) {
  const url = new URL(`./models/${name}`, import.meta.url);
  let res;
  try {
    res = await fetch(url);
  } catch (cause) {
    throw Object.assign(new Error(`Could not fetch the deep model ${url.pathname}: ${cause?.message ?? cause}.`), { code: 'ERR_MODEL' });
  }
  if (!res.ok) throw Object.assign(new Error(`Could not fetch the deep model ${url.pathname} (HTTP ${res.status}): serve the folder built by scripts/build-web.mjs.`), { code: 'ERR_MODEL' });
  return new Uint8Array(await res.arrayBuffer());
}

function loadModels() {
  models ??= (async () => {
    const [h, r, json] = await Promise.all(['h.onnx', 'r.onnx', 'deep.json'].map(fetchBytes));
    let meta;
    try {
      meta = JSON.parse(new TextDecoder().decode(json));
    } catch (cause) {
      throw Object.assign(new Error(`models/deep.json is not valid JSON (${cause.message}).`), { code: 'ERR_MODEL' });
    }
    return { h, r, meta };
  })();
  models.catch(() => { models = null; });
  return models;
}

/** A short description of a WebGPU adapter, or null when there is none. */
async function webgpuAdapter() {
  if (!self.navigator?.gpu) return { adapter: null, why: 'this browser has no WebGPU (navigator.gpu)' };
  let adapter = null;
  try {
    adapter = await navigator.gpu.requestAdapter();
  } catch (e) {
    return { adapter: null, why: `WebGPU requestAdapter failed: ${e?.message ?? e}` };
  }
  if (!adapter) return { adapter: null, why: 'WebGPU gave no adapter' };
  const i = adapter.info ?? {};
  const name = [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ') || 'unnamed adapter';
  return { adapter: `${name}${i.isFallbackAdapter ? ' (software fallback adapter)' : ''}`, why: null };
}

async function create(preference) {
  const m = await loadModels();
  let fallback = null, adapter = null;
  if (preference !== 'wasm') {
    const gpu = await webgpuAdapter();
    adapter = gpu.adapter;
    if (gpu.adapter) {
      try {
        const deep = await createDeepWatermarker({ models: m, executionProviders: ['webgpu'], numThreads: 1 });
        return { deep, provider: 'webgpu', fallback: null, adapter };
      } catch (e) {
        if (preference === 'webgpu') throw e;
        fallback = `WebGPU failed (${e?.message ?? e}); using WebAssembly`;
      }
    } else if (preference === 'webgpu') {
      throw Object.assign(new Error(`WebGPU was asked for, but ${gpu.why}.`), { code: 'ERR_NO_WEBGPU' });
    } else {
      fallback = `${gpu.why}; using WebAssembly`;
    }
  }
  const deep = await createDeepWatermarker({ models: m, executionProviders: ['wasm'], numThreads: 1 });
  return { deep, provider: 'wasm', fallback, adapter };
}

function watermarker(preference) {
  if (!watermarkers.has(preference)) {
    const p = create(preference);
    p.catch(() => watermarkers.delete(preference));
    watermarkers.set(preference, p);
  }
  return watermarkers.get(preference);
}

/**
 * Run `job(deep)` on the watermarker for `preference`. When WebGPU was picked automatically and
 * a run fails on it, switch this preference to WebAssembly for good and run again.
 */
async function withDeep(preference, job) {
  const w = await watermarker(preference);
  try {
    return { ...w, out: await job(w.deep) };
  } catch (e) {
    if (w.provider !== 'webgpu' || preference !== 'auto' || e?.code === 'ERR_INVALID_ARGUMENT' || e?.code === 'ERR_IMAGE_TOO_SMALL') throw e;
    const m = await loadModels();
    const deep = await createDeepWatermarker({ models: m, executionProviders: ['wasm'], numThreads: 1 });
    const next = { deep, provider: 'wasm', fallback: `WebGPU failed while running (${e?.message ?? e}); using WebAssembly`, adapter: w.adapter };
    watermarkers.set(preference, Promise.resolve(next));
    void w.deep.dispose().catch(() => {});
    return { ...next, out: await job(deep) };
  }
}

const info = ({ provider, fallback, adapter, deep }) => ({ provider, fallback, adapter, meta: {
  workSize: deep.meta.workSize, tile: deep.meta.tile, logoSize: deep.meta.logoSize, threshold: deep.meta.threshold,
  logo: deep.meta.logo, development: /development/i.test(String(deep.meta.note ?? '')),
} });

async function handle(msg) {
  const { op, provider = 'auto' } = msg;
  if (!['auto', 'webgpu', 'wasm'].includes(provider)) throw new Error(`unknown execution provider ${provider}`);
  if (op === 'init') return info(await watermarker(provider));
  if (op === 'embed') {
    const image = await imageFor(msg.image);
    const t0 = performance.now();
    const w = await withDeep(provider, (deep) => deep.embed(image));
    const ms = performance.now() - t0;
    const marked = w.out;
    const db = await psnr(image, marked);
    const { png, previews, transfer } = await markViews(image, marked, msg.amplify);
    lastMarked = marked;
    return { ...info(w), ms, psnr: db, png, previews, width: marked.width, height: marked.height, transfer };
  }
  if (op === 'extract') {
    const source = msg.marked ? lastMarked : await imageFor(msg.image);
    // Only after this worker failed and was started again: the page then disables the button.
    if (!source) throw Object.assign(new Error('There is no logo-marked image to extract from: mark the image again.'), { code: 'ERR_INVALID_ARGUMENT' });
    const t0 = performance.now();
    const w = await withDeep(provider, (deep) => deep.extract(source));
    const ms = performance.now() - t0;
    const { logo, nc, found, threshold } = w.out;
    return { ...info(w), ms, logo: logo.data, logoSize: logo.width, nc, found, threshold };
  }
  throw new Error(`unknown operation ${op}`);
}

serve(handle);
