// Speed of the deep watermark (modelmark/deep) in Node, onnxruntime-web's WebAssembly backend:
// median embed and extract of a synthetic 1920x1080 RGBA image and of a photo from
// ../shared/photos/ (decoded with sharp), with 1 and 2 onnxruntime threads, and the time split
// of each: resize (pixels into wasm memory, deepInput, deepTiles for extract), inference (H or
// R through onnxruntime) and the rest (embed: residual upsampled and added, pixels copied out;
// extract: tile mean and NC). The split runs the runner's own steps one by one (same kernels,
// same sessions). Each thread count runs in its own process (ort.env.wasm.numThreads is fixed
// when onnxruntime starts). Uses the shipped models in models/ when present, else development
// models with random weights (same sizes, so the same speed).
//
//   node bench/deep.mjs [--runs N] [--photo NAME] [--json] [--quick]
//
// --quick: one timed run and no warm-up per figure (a check that the script works,
// test/bench-smoke.test.mjs; too few runs to quote).
//
// Targets (issue 5, 2 cores): embed <= 250 ms, extract <= 150 ms for 1920x1080.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const args = process.argv.slice(2);
const arg = (name, fallback) => { const i = args.indexOf(name); return i < 0 ? fallback : args[i + 1]; };
const QUICK = args.includes('--quick');
const RUNS = QUICK ? 1 : Number(arg('--runs', 9));
const WARMUP = QUICK ? 0 : 2;
const PHOTOS = fileURLToPath(new URL('../../shared/photos/', import.meta.url));
const PHOTO = arg('--photo', 'mate-Storm.jpg');
const MODELS = fileURLToPath(new URL('../models/', import.meta.url));
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

if (args.includes('--child')) {
  await child(Number(arg('--threads', 1)), arg('--models'));
} else {
  await parent();
}

async function parent() {
  let dir = MODELS, tmp;
  if (!fs.existsSync(path.join(MODELS, 'deep.json'))) {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmark-deep-bench-'));
    const { writeDevModels } = await import('./deep-dev-models.mjs');
    dir = await writeDevModels(tmp);
  }
  const results = [];
  try {
    for (const threads of [1, 2]) {
      const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', '--threads', String(threads), '--models', dir, '--runs', String(RUNS), '--photo', PHOTO, ...(QUICK ? ['--quick'] : [])], { encoding: 'utf8', maxBuffer: 1 << 24 });
      if (r.status !== 0) throw new Error(`bench child (${threads} threads) failed: ${r.stderr || r.stdout}`);
      results.push(...JSON.parse(r.stdout.trim().split('\n').pop()));
    }
  } finally {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (args.includes('--json')) {
    console.log(JSON.stringify({ models: tmp ? 'development (random weights)' : 'shipped', cpus: os.cpus().length, cpu: os.cpus()[0]?.model, runs: RUNS, results }));
    return;
  }
  const f = (v) => v.toFixed(1).padStart(7);
  console.log(`deep watermark, Node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model}, ${tmp ? 'development models (random weights, same sizes)' : 'shipped models'}; medians of ${RUNS} runs after ${WARMUP} warm-up, ms`);
  console.log('image                      threads | embed   resize  H       add    | extract resize  R       nc');
  for (const r of results) {
    console.log(`${r.image.padEnd(26)} ${String(r.threads).padStart(7)} | ${f(r.embed)} ${f(r.embedSplit.resize)} ${f(r.embedSplit.infer)} ${f(r.embedSplit.add)} | ${f(r.extract)} ${f(r.extractSplit.resize)} ${f(r.extractSplit.infer)} ${f(r.extractSplit.nc)}`);
  }
  console.log('targets (2 cores): embed <= 250 ms, extract <= 150 ms for 1920x1080');
}

async function child(threads, dir) {
  const ort = await import('onnxruntime-web');
  const { createDeepWatermarker } = await import('../dist/deep/index.js');
  const { loadDeepModels } = await import('../dist/node/index.js');
  const { Arena, init } = await import('../dist/wasm.js');
  const sharp = (await import('sharp')).default;
  const models = await loadDeepModels(dir);
  const deep = await createDeepWatermarker({ models, numThreads: threads });
  const k = await init();
  const { workSize: W, tile, logoSize: ls } = models.meta;
  const T = (W / tile) ** 2;
  // The runner's own steps, on sessions of the same models (same options).
  const opts = { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };
  const h = await ort.InferenceSession.create(models.h, opts);
  const r = await ort.InferenceSession.create(models.r, opts);
  const logoMap = new ort.Tensor('float32', new Float32Array(W * W).fill(0.5), [1, 1, W, W]);
  const logo = new Float32Array(ls * ls).fill(0.5);

  const synthetic = { width: 1920, height: 1080, channels: 4, data: new Uint8ClampedArray(1920 * 1080 * 4) };
  for (let y = 0, i = 0; y < 1080; y++) {
    for (let x = 0; x < 1920; x++, i += 4) {
      synthetic.data[i] = 128 + 100 * Math.sin(x / 40) * Math.cos(y / 55);
      synthetic.data[i + 1] = (x + y) & 255;
      synthetic.data[i + 2] = (x * y) & 255;
      synthetic.data[i + 3] = 255;
    }
  }
  const { photoInput } = await import('./photos.mjs');
  const source = await photoInput(PHOTO);
  const { data, info } = await sharp(source.input).raw().toBuffer({ resolveWithObject: true });
  const photo = { width: info.width, height: info.height, channels: info.channels, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  const out = [];
  for (const [name, img] of [['1920x1080 RGBA synthetic', synthetic], [`${source.label} ${photo.width}x${photo.height}x${photo.channels}`, photo]]) {
    const time = async (fn) => {
      const t = [];
      for (let i = 0; i < WARMUP + RUNS; i++) {
        const t0 = performance.now();
        await fn();
        if (i >= WARMUP) t.push(performance.now() - t0);
      }
      return median(t);
    };
    const embed = await time(() => deep.embed(img));
    const extract = await time(() => deep.extract(img));
    // Split.
    const { width: w, height: hh, channels: ch } = img;
    const split = { resize: [], infer: [], add: [], tiles: [], rinfer: [], nc: [] };
    for (let i = 0; i < WARMUP + RUNS; i++) {
      let t0 = performance.now();
      let a = new Arena(k);
      let pix = a.put(img.data);
      const planes = a.f32(3 * W * W);
      k.deepInput(pix, w, hh, ch, planes, W, W, a.f32(3 * W * w + 8 * W + 16));
      const input = a.f32view(planes, 3 * W * W).slice();
      const tp = a.f32(3 * W * W);
      const t1 = performance.now();
      k.deepTiles(planes, W, W, 3, tile, tp);
      const tiles = a.f32view(tp, 3 * W * W).slice();
      a.release();
      const t2 = performance.now();
      const res = (await h.run({ image: new ort.Tensor('float32', input, [1, 3, W, W]), logo: logoMap })).residual.data;
      const t3 = performance.now();
      a = new Arena(k);
      pix = a.put(img.data);
      k.addResidual(pix, w, hh, ch, a.put(res), W, W, a.f32(3 * W * W + 3 * W * w + 6 * w + 2 * hh + 32));
      new Uint8Array(w * hh * ch).set(a.u8(pix, w * hh * ch));
      a.release();
      const t4 = performance.now();
      const lo = (await r.run({ image: new ort.Tensor('float32', tiles, [T, 3, tile, tile]) })).logo.data;
      const t5 = performance.now();
      a = new Arena(k);
      k.tileNc(a.put(lo), T, ls * ls, a.put(logo), a.f32(ls * ls));
      a.release();
      const t6 = performance.now();
      if (i < WARMUP) continue;
      split.resize.push(t1 - t0); split.tiles.push(t2 - t1); split.infer.push(t3 - t2); split.add.push(t4 - t3); split.rinfer.push(t5 - t4); split.nc.push(t6 - t5);
    }
    out.push({
      image: name, threads, embed, extract,
      embedSplit: { resize: median(split.resize), infer: median(split.infer), add: median(split.add) },
      extractSplit: { resize: median(split.resize) + median(split.tiles), infer: median(split.rinfer), nc: median(split.nc) },
    });
  }
  await deep.dispose();
  await h.release();
  await r.release();
  console.log(JSON.stringify(out));
  process.exit(0);
}
