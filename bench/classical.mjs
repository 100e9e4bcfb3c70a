// Speed of the classical watermark on a 1920x1080 RGBA photo (`npm run bench`):
//   (a) the library's embed and detect (WebAssembly SIMD kernels);
//   (b) the same algorithm in plain JavaScript (bench/js-reference.mjs);
//   (c) the memory floor: the kernels' `touch`, one SIMD pass reading and writing the 8 MB of
//       pixels already in wasm memory, the least any in-place image kernel can cost;
//   (d) the API floor: what any WASM filter with this API pays at least: copy the pixels into
//       wasm memory, touch them, copy them out into a new array;
// plus a per-step breakdown of the library's embed and detect, so a step that costs much more
// than its share of the floor stands out. Every figure is the median of RUNS timed runs after
// WARMUP untimed ones, on the main thread (the process is single threaded).
//
//   node bench/classical.mjs [--json] [--runs N] [--warmup N] [--quick]
//
// --json prints one JSON object (for regenerating BENCHMARKS.md) instead of the table.
// --quick runs every step with 3 rounds after 1 warm-up round and 2 calls per item per round
// (instead of at least 20, 5 and 8): a check that the script works (test/bench-smoke.test.mjs),
// its figures too noisy to quote.

import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { createWatermarker } from '../dist/index.js';
import { Arena, init } from '../dist/wasm.js';
import { deriveKey } from '../dist/key.js';
import { checkImage } from '../dist/image.js';
import { convEncode, infoBits, parsePayload, decodeList, LIST_SIZE } from '../dist/payload.js';
import { addLumaStreamed, analysePlane, channelGains, despread, framesStreamed, geometry, lumaFrameStreamed, makeLayout, BASE_AMPLITUDE, NB, NSYM, PILOT, TILE } from '../dist/scheme.js';
import { informedGains } from '../dist/informed.js';
import { createJsWatermarker, crossCheck, crossCheckLine, syntheticImage } from './js-reference.mjs';

const args = process.argv.slice(2);
const JSON_OUT = args.includes('--json');
function intArg(name, fallback, min) {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} needs an integer >= ${min}`);
  return v;
}
const QUICK = args.includes('--quick');
const RUNS = QUICK ? 3 : intArg('--runs', 25, 20);
const WARMUP = QUICK ? 1 : intArg('--warmup', 5, 5);
/**
 * Calls per item per round in the warm comparison: each item runs REPS times back to back, so
 * every timed call (floors and library alike) starts from the cache state its own previous
 * call left. The cold comparison runs each item once per round instead, after the others have
 * pushed its data out of the caches. Either way the floors and the library are timed in the
 * same state: a floor timed warm against a library timed cold (or the reverse) would compare
 * cache states, not work (measured here: the floor takes 0.4 ms warm and 1.0 ms cold).
 */
const REPS = QUICK ? 2 : 8;
const FLOOR_RUNS = RUNS * REPS;

const WIDTH = 1920, HEIGHT = 1080;
const KEY = 'modelmark benchmark key';
const PAYLOAD = 'c0ffee0000000001';
const PHOTO = fileURLToPath(new URL('../../shared/photos/mate-Storm.jpg', import.meta.url));
const WASM = fileURLToPath(new URL('../build/modelmark.wasm', import.meta.url));

const log = JSON_OUT ? () => {} : (...a) => console.log(...a);

/** Median, min, max and quartiles (ms) of a list of timings. */
function summary(times) {
  const t = Float64Array.from(times).sort();
  const n = t.length;
  const q = (f) => {
    const x = f * (n - 1), i = Math.floor(x);
    return i + 1 < n ? t[i] + (x - i) * (t[i + 1] - t[i]) : t[i];
  };
  return { median: q(0.5), min: t[0], p25: q(0.25), p75: q(0.75), max: t[n - 1], runs: n };
}

/** `runs` timed calls of fn after `warmup` untimed ones. */
function measure(fn, runs = RUNS, warmup = WARMUP) {
  for (let i = 0; i < warmup; i++) fn();
  const t = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return summary(t);
}

/**
 * Time several functions round-robin: WARMUP untimed rounds, then RUNS rounds in which each
 * item runs `reps` timed calls. Interleaving makes the items share whatever the machine was
 * doing (other processes, the allocator's state: a fresh 8 MB result array costs ~1 ms more
 * when its pages must be faulted in), so their ratios stay steady even when the absolute
 * times drift. An item's `before`, when given, runs untimed before each of its calls.
 * Returns { name: summary }.
 */
function measureInterleaved(items) {
  for (let r = 0; r < WARMUP; r++) for (const it of items) for (let i = 0; i < it.reps; i++) { it.before?.(); it.fn(); }
  const times = items.map(() => []);
  for (let r = 0; r < RUNS; r++) {
    items.forEach((it, j) => {
      for (let i = 0; i < it.reps; i++) {
        it.before?.();
        const t0 = performance.now();
        it.fn();
        times[j].push(performance.now() - t0);
      }
    });
  }
  return Object.fromEntries(items.map((it, j) => [it.name, summary(times[j])]));
}

async function loadImage() {
  if (existsSync(PHOTO)) {
    const { data, info } = await sharp(PHOTO).resize(WIDTH, HEIGHT, { fit: 'cover' }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    return { image: { width: info.width, height: info.height, channels: info.channels, data: new Uint8Array(data.buffer, data.byteOffset, data.length) }, source: 'mate-Storm.jpg' };
  }
  return { image: { width: WIDTH, height: HEIGHT, channels: 4, data: syntheticImage(WIDTH, HEIGHT, 4) }, source: 'synthetic (../shared/photos absent)' };
}

/**
 * The library's embed and detect cut into their steps, with the same kernels and allocations as
 * src/watermarker.ts; each step timed on its own (medians of the steps need not add up exactly
 * to the median of the whole).
 */
function stepBreakdown(k, layout, image) {
  const img = checkImage(image);
  const { width: w, height: h, channels: ch } = img;
  const n = w * h * ch;
  const g = geometry(w, h);
  const coded = convEncode(infoBits(parsePayload(PAYLOAD)));
  const symInit = new Float32Array(NSYM);
  for (let i = 0; i < coded.length; i++) symInit[i] = coded[i] ? 1 : -1;
  symInit[PILOT] = 1;
  const amp = BASE_AMPLITUDE;
  const steps = {};
  const a = new Arena(k);
  try {
    const an = analysePlane(a, lumaFrameStreamed(a, img, g), g);
    const base = k.mark();
    const scoped = (fn) => () => { const m = k.mark(); try { fn(); } finally { k.release(m); } };
    steps['frame, streamed (lumaFrameStreamed)'] = measure(scoped(() => lumaFrameStreamed(a, img, g)));
    steps['luma and Cb frames, streamed (framesStreamed; detect)'] = measure(scoped(() => framesStreamed(a, img, g)));
    const coef2 = a.f32(g.fw * g.fh);
    steps['forward DCT (dct8x8)'] = measure(() => k.dct8x8(an.coef, coef2, g.fw, g.bw, g.bh, 0));
    steps['analyse (frame + DCT + stats + mask)'] = measure(scoped(() => analysePlane(a, lumaFrameStreamed(a, img, g), g)));
    steps['despread (fold + correlate)'] = measure(scoped(() => despread(a, an, layout)));
    const wm = a.f32(g.fw * g.fh);
    const code = a.put(layout.code), sign = a.put(layout.sign), symp = a.put(symInit);
    steps['informed gains'] = measure(scoped(() => {
      a.f32view(symp, NSYM).set(symInit);
      informedGains(a, an, layout, code, symp, wm, amp);
    }));
    steps['spreadEmbed + inverse DCT'] = measure(() => {
      k.zero(wm, g.fw * g.fh * 4);
      k.spreadEmbed(wm, g.fw, g.bw, g.bh, an.band, NB, TILE, code, sign, symp, an.mask, amp);
      k.dct8x8(wm, wm, g.fw, g.bw, g.bh, 1);
    });
    steps['add, streamed into a new array (addLumaStreamed)'] = measure(scoped(() => addLumaStreamed(a, img, wm, g, new Uint8Array(n))));
    // The two full-resolution kernels alone, on pixels already in wasm memory (what they cost
    // against the memory floor, which is measured the same way). addLuma adds in place and
    // saturates; timed on a scratch buffer (its cost does not depend on the pixel values).
    const pix = a.put(img.data);
    steps['  kernel alone: lumaArea, pixels in wasm memory'] = measure(scoped(() => {
      const coef = a.f32(g.fw * g.fh), tmp = a.f32(8 * (w + 4) + 5 * (g.fw + g.fh) + 8);
      k.lumaArea(pix, w, h, ch, coef, g.fw, g.fh, g.sx, g.sy, tmp);
    }));
    const tmp = a.f32(g.fh * w + 2 * (w + h) + 4 * w + 72); // addMarkPrepare's size (addLuma's and 64)
    // The add a colour image gets: the residual on R, G and B with the chroma share's gains.
    const gains = channelGains(ch)?.rgb ?? [1, 1, 1];
    steps['  kernel alone: addMarkRows (luma + Cb), pixels in wasm memory'] = measure(() => {
      k.addMarkPrepare(w, h, wm, g.fw, g.fh, 1 / g.sx, 1 / g.sy, tmp);
      k.addMarkRows(pix, 0, w, h, ch, g.fh, 0, h, tmp, gains[0], gains[1], gains[2]);
    });
    steps['  kernel alone: addLuma (luma only, grey images), pixels in wasm memory'] = measure(() => {
      k.addLuma(pix, w, h, ch, wm, g.fw, g.fh, 1 / g.sx, 1 / g.sy, tmp);
    });
    // noise: the list decoder's paths all fail their CRC, as on an unmarked image
    const soft = Float64Array.from({ length: PILOT }, (_, i) => Math.sin(i * 12.9898) * 43758.5453 % 1);
    steps['Viterbi + CRC (best path)'] = measure(() => decodeList(a, soft, 1));
    steps[`list decoding + CRC (${LIST_SIZE} paths; only when the best fails)`] = measure(() => decodeList(a, soft, LIST_SIZE));
    k.release(base);
  } finally {
    a.release();
  }
  return steps;
}

async function main() {
  const { image, source } = await loadImage();
  const n = image.data.length;
  const k = await init();
  const lib = await createWatermarker({ key: KEY });
  const js = await createJsWatermarker({ key: KEY });

  log(`modelmark classical benchmark: ${image.width}x${image.height} RGBA (${source}), ${(n / 2 ** 20).toFixed(2)} MiB of pixels`);
  log(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} logical CPUs), ${new Date().toISOString()}`);
  if (QUICK) log('--quick: a smoke run, too few rounds for the figures to mean anything');
  log(`medians of ${RUNS} rounds after ${WARMUP} warm-up rounds, items interleaved round-robin, one thread; warm: ${REPS} calls per item per round (${FLOOR_RUNS} timed), cold: 1`);

  // Sanity: the two implementations compute the same mark.
  const check = crossCheck(lib, js, image, PAYLOAD);
  log(`sanity: ${crossCheckLine(check)}`);
  if (!check.ok) {
    console.error('The JS reference and the library disagree; the speed comparison would be meaningless.');
    process.exitCode = 1;
  }
  const marked = lib.embed(image, PAYLOAD);
  const jsMarked = js.embed(image, PAYLOAD);

  // (c) memory floor: touch of the pixels already in wasm memory (a buffer kept allocated below
  // the library's arenas for the whole run). (d) API floor: copy in, touch, copy out into a new
  // array. (a) the library. Interleaved, so that the ratios compare like with like, and timed
  // twice: warm (REPS calls of each item back to back per round) and cold (one call of each per
  // round). (b) the plain-JS reference, interleaved on its own: its garbage would otherwise
  // disturb the rest.
  const floorArena = new Arena(k);
  const floorPix = floorArena.put(image.data);
  // The in-place embed marks a copy of the photo over and over (an in-place call can only be
  // repeated on its own output): the kernels' work does not depend on the pixel values, and
  // the check after the timing compares this copy's embed with one on a fresh copy.
  const work = { ...image, data: image.data.slice() };
  const items = (reps) => [
    { name: 'touch', reps, fn: () => k.touch(floorPix, n) },
    {
      name: 'apiFloor', reps, fn: () => {
        const a = new Arena(k);
        try {
          const p = a.put(image.data);
          k.touch(p, n);
          const out = new Uint8Array(n);
          out.set(a.u8(p, n));
          return out;
        } finally {
          a.release();
        }
      },
    },
    { name: 'libEmbed', reps, fn: () => lib.embed(image, PAYLOAD) },
    { name: 'libEmbedInPlace', reps, fn: () => lib.embed(work, PAYLOAD, { inPlace: true }) },
    { name: 'libDetect', reps, fn: () => lib.detect(marked) },
  ];
  const results = measureInterleaved(items(REPS));
  const cold = measureInterleaved(items(1));
  Object.assign(results, measureInterleaved([
    { name: 'jsEmbed', reps: 1, fn: () => js.embed(image, PAYLOAD) },
    { name: 'jsDetect', reps: 1, fn: () => js.detect(jsMarked) },
  ]));

  // Does the in-place embed's copy, marked a few hundred times over, cost what a fresh copy
  // does? Both refreshed (untimed) before every call, so the two see the same cache state.
  const worn = work.data.slice(), scratch = { ...image, data: new Uint8Array(n) };
  const wear = measureInterleaved([
    { name: 'fresh', reps: 1, before: () => scratch.data.set(image.data), fn: () => lib.embed(scratch, PAYLOAD, { inPlace: true }) },
    { name: 'worn', reps: 1, before: () => scratch.data.set(worn), fn: () => lib.embed(scratch, PAYLOAD, { inPlace: true }) },
  ]);

  const words = await deriveKey(KEY, 'modelmark classical tile v1');
  const steps = stepBreakdown(k, makeLayout(words), image);
  floorArena.release();

  const wasmBytes = readFileSync(WASM);
  const gz = gzipSync(wasmBytes, { level: 9 }).length;
  const med = (r) => r.median;
  const wornOverFresh = med(wear.worn) / med(wear.fresh);
  /** The floor ratios of one cache state's medians; `prefix` names the state in the keys. */
  const floorRatios = (set, prefix) => {
    const key = (name) => (prefix ? prefix + name[0].toUpperCase() + name.slice(1) : name);
    return {
      [key('embedOverFloor')]: med(set.libEmbed) / med(set.touch),
      [key('embedInPlaceOverFloor')]: med(set.libEmbedInPlace) / med(set.touch),
      [key('detectOverFloor')]: med(set.libDetect) / med(set.touch),
      [key('embedOverApiFloor')]: med(set.libEmbed) / med(set.apiFloor),
      [key('detectOverApiFloor')]: med(set.libDetect) / med(set.apiFloor),
    };
  };
  const ratios = {
    // the plain-JS calls run once per round (they take 40-100 ms): against the library's cold figures
    jsOverWasmEmbed: med(results.jsEmbed) / med(cold.libEmbed),
    jsOverWasmDetect: med(results.jsDetect) / med(cold.libDetect),
    ...floorRatios(results, ''),
    ...floorRatios(cold, 'cold'),
  };

  if (JSON_OUT) {
    console.log(JSON.stringify({
      date: new Date().toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model ?? null,
      logicalCpus: cpus().length,
      image: { width: image.width, height: image.height, channels: image.channels, bytes: n, source },
      runs: RUNS, warmup: WARMUP, floorRuns: FLOOR_RUNS,
      ms: results,
      coldMs: cold,
      ratios,
      inPlaceWear: { freshMs: wear.fresh, wornMs: wear.worn, wornOverFresh },
      steps,
      wasm: { bytes: wasmBytes.length, gzip9Bytes: gz },
      sanity: {
        ok: check.ok, jsDetectsLib: check.jsDetectsLib, libDetectsJs: check.libDetectsJs,
        psnrLibVsJs: Number.isFinite(check.psnrLibVsJs) ? check.psnrLibVsJs : 'Infinity',
        differingBytes: check.differingBytes, maxByteDiff: check.maxByteDiff, scoreDiff: check.scoreDiff,
        psnrLib: check.psnrLib, psnrJs: check.psnrJs,
      },
    }, null, 2));
    return;
  }

  const f = (x) => x.toFixed(x < 10 ? 2 : 1);
  const row = (name, r, extra = '') =>
    log(`  ${name.padEnd(50)} ${f(r.median).padStart(8)} ms   (min ${f(r.min)}, p25 ${f(r.p25)}, p75 ${f(r.p75)}, max ${f(r.max)})${extra}`);
  log('');
  const states = [['warm', `each item ${REPS} times back to back per round`, results], ['cold', 'each item once per round, after the others', cold]];
  for (const [state, how, set] of states) {
    log(`Time (ms), ${state}: ${how}`);
    row('(a) library embed (WASM SIMD)', set.libEmbed);
    row('(a) library embed in place ({ inPlace: true })', set.libEmbedInPlace);
    row('(a) library detect (WASM SIMD)', set.libDetect);
    row('(c) memory floor: touch 8 MB in place', set.touch);
    row('(d) API floor: copy in + touch + copy out', set.apiFloor);
    log('');
  }
  log('Time (ms), plain JS, once per round');
  row('(b) plain-JS embed', results.jsEmbed);
  row('(b) plain-JS detect', results.jsDetect);
  log('  (plain JS = bench/js-reference.mjs: the test/ref.mjs scalar kernels, Float64, separable DCT)');
  log('');
  log('Ratios (of medians; the floors and the library in the same cache state)');
  log(`  JS / WASM speed-up (cold)           embed ${ratios.jsOverWasmEmbed.toFixed(1)}x    detect ${ratios.jsOverWasmDetect.toFixed(1)}x`);
  for (const [state, , set] of states) {
    const r = floorRatios(set, '');
    log(`  library / memory floor, ${state.padEnd(10)} embed ${r.embedOverFloor.toFixed(1)}x    detect ${r.detectOverFloor.toFixed(1)}x    embed in place ${r.embedInPlaceOverFloor.toFixed(1)}x`);
    log(`  library / API floor, ${state.padEnd(13)} embed ${r.embedOverApiFloor.toFixed(1)}x    detect ${r.detectOverApiFloor.toFixed(1)}x`);
  }
  log('');
  log('Library steps (each timed alone; ms)');
  for (const [name, r] of Object.entries(steps)) row(name, r, `   ${(r.median / med(results.touch)).toFixed(1)}x floor`);
  log('');
  log(`In-place embed on the copy marked over and over vs on a fresh copy (both refreshed before each call): ${f(med(wear.worn))} vs ${f(med(wear.fresh))} ms, ratio ${wornOverFresh.toFixed(2)}`);
  log(`build/modelmark.wasm: ${wasmBytes.length} bytes, ${gz} bytes gzip -9`);
}

await main();
