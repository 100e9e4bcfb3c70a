// The WebAssembly SIMD kernels against the scalar Float64 references in test/ref.mjs.
//
// Inputs are random (seeded, so every run sees the same data) with odd sizes, so that the
// scalar tails after the 4-wide SIMD loops run too, and 1, 3 and 4 channels. Each comparison
// asserts the maximum absolute difference against a tolerance derived below from the f32
// arithmetic the kernel does; integer results must match exactly. Set KERNEL_DIFFS=1 to print
// the measured maximum differences next to their tolerances.
//
// Outputs are allocated with guard bytes after them, which must survive the kernel: no kernel
// may write outside its output (SIMD tails included).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { init } from '../dist/index.js';
import { geometry, lumaFrame, lumaFrameStreamed } from '../dist/scheme.js';
import { Arena } from '../dist/wasm.js';
import * as ref from './ref.mjs';
import { convEncode, viterbi } from '../dist/payload.js';
import { comparer } from './helpers/compare.mjs';
import { wasmMemory } from './helpers/wasm-memory.mjs';
import { mulberry32 } from '../bench/attacks.mjs';

const k = await init();

// ---------------------------------------------------------------------------------------------
// Tolerances. u = 2^-24 is the unit roundoff of f32: one rounded f32 operation on a value of
// magnitude M is off by at most u * M. A kernel that does m rounded operations on values of
// magnitude <= M is off by about m * u * M at most (standard error analysis), and the
// reference itself (Float64) is exact by comparison.

const U = 2 ** -24;
/** Colour conversion: 3 products, 3 sums and the f32-rounded constants (~2 more roundings) on
 * values <= 256: 8 u * 256 = 1.2e-4. */
const TOL_COLOUR = 8 * U * 256;
/** Bilinear: weights rounded to f32 (u), two lerps of 3 operations each on values <= 256 (with
 * |b - a| <= 256): 8 u * 256 = 1.2e-4. */
const TOL_BILINEAR = 8 * U * 256;
/** Area resampling: each output is a weighted sum of `taps` inputs per axis in f32 (plus the
 * weight roundings and the normalisation); bound (2 * (tapsX + tapsY) + 8) u * 256. */
const tolArea = (sx, sy) => (2 * (Math.ceil(sx) + 1 + Math.ceil(sy) + 1) + 8) * U * 256;
/** 8x8 DCT: two passes of 8-term dot products in f32 with constants given to 8 decimals (a
 * relative error of up to 1e-7 each). For inputs |x| <= M, intermediate values are <= sqrt(8) M
 * and outputs <= 8 M; bound 2 passes * (8 + 2) roundings * u * 8 M ~ 1e-5 M, i.e. 2.4e-3 for
 * M = 255 (the measured difference is about a tenth of that). */
const tolDct = (M) => 2 * 10 * U * 8 * M;
const { measured, record, close, exact, closeBytes } = comparer();

// ---------------------------------------------------------------------------------------------
// Seeded random inputs (mulberry32). KERNEL_SEED=n runs the same tests on other inputs.

const SEED = Number(process.env.KERNEL_SEED ?? 0);

const rng = (seed) => mulberry32((seed + Math.imul(SEED, 0x9e3779b1)) >>> 0);
const bytes = (rand, n) => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
const floats = (rand, n, lo, hi) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());
const randInt = (rand, lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));

/** A natural-looking grey plane in 0..255: smooth shapes plus some texture and noise. */
function naturalPlane(rand, w, h) {
  const p = new Float32Array(w * h);
  const fx = 0.05 + 0.3 * rand(), fy = 0.05 + 0.3 * rand(), ph = 6 * rand();
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = 128 + 60 * Math.sin(fx * x + ph) * Math.cos(fy * y) + 40 * ((x + 2 * y) / (w + 2 * h) - 0.5) + 20 * (rand() - 0.5);
      p[y * w + x] = Math.min(255, Math.max(0, v));
    }
  }
  return p;
}

// Image sizes: odd, prime, non-multiples of 4 and 8, single rows and columns.
const SIZES = [[37, 29], [1, 1], [2, 3], [5, 1], [1, 7], [3, 5], [8, 8], [13, 11], [64, 48], [33, 17], [101, 3]];
const CHANNELS = [1, 3, 4];

// ---------------------------------------------------------------------------------------------
// Wasm memory helpers: outputs and inputs get GUARD sentinel bytes after them.

const { put, out, guard, withArena, f32 } = wasmMemory(k);

/**
 * Reserve scratch space (`tmp` arguments) for `floats` floats, the size the kernel documents.
 * Scratch layouts are the kernels' own business and change as they are tuned, so the tests
 * give twice that plus 4 KB and do not guard it; allocate scratch last.
 */
function scratch(a, floats) {
  return a.f32(2 * floats + 1024);
}

// ---------------------------------------------------------------------------------------------
// Colour.

test('rgbToY matches the reference (1, 3, 4 channels)', () => {
  const rand = rng(1);
  for (const ch of CHANNELS) {
    for (const n of [1, 2, 3, 4, 5, 7, 8, 13, 16, 37 * 29, 1000]) {
      withArena((a) => {
        const src = bytes(rand, n * ch);
        const ps = put(a, src), py = out(a, n * 4);
        k.rgbToY(ps, n, ch, py);
        close('rgbToY', f32(a, py, n), ref.rgbToY(src, n, ch), TOL_COLOUR, `n=${n} ch=${ch}`);
        guard(a, py, n * 4, 'rgbToY');
        assert.equal(a.u8(ps, n * ch), src, 'rgbToY modified its input');
      });
    }
  }
});

test('rgbToYcc matches the reference (1, 3, 4 channels)', () => {
  const rand = rng(2);
  for (const ch of CHANNELS) {
    for (const n of [1, 3, 4, 5, 9, 37 * 29, 1001]) {
      withArena((a) => {
        const src = bytes(rand, n * ch);
        const ps = put(a, src), py = out(a, n * 4), pb = out(a, n * 4), pr = out(a, n * 4);
        k.rgbToYcc(ps, n, ch, py, pb, pr);
        const e = ref.rgbToYcc(src, n, ch);
        const what = `n=${n} ch=${ch}`;
        close('rgbToYcc', f32(a, py, n), e.y, TOL_COLOUR, `Y ${what}`);
        close('rgbToYcc', f32(a, pb, n), e.cb, TOL_COLOUR, `Cb ${what}`);
        close('rgbToYcc', f32(a, pr, n), e.cr, TOL_COLOUR, `Cr ${what}`);
        for (const p of [py, pb, pr]) guard(a, p, n * 4, 'rgbToYcc');
      });
    }
  }
});

test('yccToRgb matches the reference, clamps, keeps alpha (1, 3, 4 channels)', () => {
  const rand = rng(3);
  for (const ch of CHANNELS) {
    for (const n of [1, 3, 4, 5, 7, 37 * 29, 1003]) {
      withArena((a) => {
        // Y, Cb, Cr partly outside the RGB gamut, so the clamps at 0 and 255 are exercised.
        const y = floats(rand, n, -20, 275), cb = floats(rand, n, -10, 266), cr = floats(rand, n, -10, 266);
        const init = bytes(rand, n * ch);
        const py = put(a, y), pb = put(a, cb), pr = put(a, cr), pd = put(a, init);
        k.yccToRgb(py, pb, pr, n, ch, pd);
        const got = Uint8Array.from(a.u8(pd, n * ch));
        const want = ref.yccToRgb(y, cb, cr, n, ch, init);
        closeBytes('yccToRgb', got, want, `n=${n} ch=${ch}`);
        if (ch === 4) for (let i = 3; i < n * 4; i += 4) assert.is(got[i], init[i], `alpha of pixel ${i >> 2} changed`);
        guard(a, pd, n * ch, 'yccToRgb');
      });
    }
  }
});

test('rgbToYcc then yccToRgb round-trips pixels within 1', () => {
  const rand = rng(4);
  for (const ch of [3, 4]) {
    withArena((a) => {
      const n = 37 * 29;
      const src = bytes(rand, n * ch);
      const ps = put(a, src), py = out(a, n * 4), pb = out(a, n * 4), pr = out(a, n * 4);
      k.rgbToYcc(ps, n, ch, py, pb, pr);
      const pd = put(a, src);
      k.yccToRgb(py, pb, pr, n, ch, pd);
      // The BT.601 inverse constants are given to 6 decimals: the round trip is within 1.
      close('ycc round trip', a.u8(pd, n * ch), src, 1, `ch=${ch}`);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Resampling.

/** Size pairs (source -> destination) for resampling: down, up, mixed, odd, tiny. */
const RESIZES = [
  [37, 29, 11, 7], [37, 29, 37, 29], [64, 48, 16, 12], [101, 67, 13, 9], [37, 29, 80, 61],
  [5, 7, 3, 2], [1, 1, 5, 3], [9, 1, 2, 1], [1, 9, 1, 4], [123, 45, 7, 5], [17, 19, 18, 20],
];

test('areaResize matches the reference (down, up, fractional scales)', () => {
  const rand = rng(5);
  const cases = RESIZES.map(([sw, sh, dw, dh]) => [sw, sh, dw, dh, sw / dw, sh / dh]);
  // Scales that do not divide the size: the last output is partly or not at all covered.
  cases.push([37, 29, 10, 8, 3.9, 3.7], [37, 29, 13, 11, 2.5, 2.25], [20, 20, 7, 7, 3.5, 3.5]);
  for (const [sw, sh, dw, dh, sx, sy] of cases) {
    withArena((a) => {
      const src = floats(rand, sw * sh, 0, 255);
      const ps = put(a, src), pd = out(a, dw * dh * 4), tmp = scratch(a, dh * sw + 5 * dw);
      k.areaResize(ps, sw, sh, pd, dw, dh, sx, sy, tmp);
      close('areaResize', f32(a, pd, dw * dh), ref.areaResize(src, sw, sh, dw, dh, sx, sy), tolArea(sx, sy),
        `${sw}x${sh} -> ${dw}x${dh}, s=${sx},${sy}`);
      guard(a, pd, dw * dh * 4, 'areaResize');
    });
  }
});

test('areaResize preserves a constant plane and the mean of an exact downscale', () => {
  withArena((a) => {
    const src = new Float32Array(37 * 29).fill(200);
    const ps = put(a, src), pd = out(a, 9 * 7 * 4), tmp = scratch(a, 7 * 37 + 5 * 9);
    k.areaResize(ps, 37, 29, pd, 9, 7, 37 / 9, 29 / 7, tmp);
    close('areaResize', f32(a, pd, 63), new Float64Array(63).fill(200), tolArea(5, 5), 'constant');
  });
  withArena((a) => {
    const rand = rng(6);
    const src = floats(rand, 40 * 24, 0, 255);
    const ps = put(a, src), pd = out(a, 10 * 6 * 4), tmp = scratch(a, 6 * 40 + 5 * 10);
    k.areaResize(ps, 40, 24, pd, 10, 6, 4, 4, tmp);
    const mean = (v) => v.reduce((s, x) => s + x, 0) / v.length;
    assert.ok(Math.abs(mean(f32(a, pd, 60)) - mean(src)) < 1e-3, 'mean not preserved by a 4x area downscale');
  });
});

test('lumaArea matches fixed-point luma + areaResize (1, 3, 4 channels)', () => {
  const rand = rng(7);
  // Downscales only (s >= 1 on both axes), as documented.
  const cases = RESIZES.filter(([sw, sh, dw, dh]) => dw <= sw && dh <= sh).map(([sw, sh, dw, dh]) => [sw, sh, dw, dh, sw / dw, sh / dh]);
  cases.push([37, 29, 10, 8, 3.7, 3.6], [37, 29, 9, 7, 4, 4], [50, 30, 14, 9, 3.5, 3.25]);
  // Frame rows over more than 130 pixel rows: the packed 16-bit sums run in several passes.
  cases.push([21, 700, 6, 2, 3.5, 350], [35, 300, 5, 1, 7, 300]);
  // Wide rows in every channel count: the 16-pixel grey steps and their tails.
  cases.push([83, 40, 19, 9, 83 / 19, 40 / 9], [64, 33, 16, 7, 4, 33 / 7]);
  for (const ch of CHANNELS) {
    for (const [w, h, dw, dh, sx, sy] of cases) {
      withArena((a) => {
        const src = bytes(rand, w * h * ch);
        const ps = put(a, src), pd = out(a, dw * dh * 4), tmp = scratch(a, 8 * (w + 4) + 5 * (dw + dh) + 8);
        k.lumaArea(ps, w, h, ch, pd, dw, dh, sx, sy, tmp);
        close('lumaArea', f32(a, pd, dw * dh), ref.lumaArea(src, w, h, ch, dw, dh, sx, sy), tolArea(sx, sy) + TOL_COLOUR,
          `${w}x${h}x${ch} -> ${dw}x${dh}, s=${sx},${sy}`);
        guard(a, pd, dw * dh * 4, 'lumaArea');
      });
    }
  }
});

test('lumaAreaRows gives lumaArea\'s frame bit for bit from a buffer of only the rows each band covers', () => {
  const rand = rng(71);
  for (const ch of CHANNELS) {
    for (const [w, h, dw, dh, band] of [[83, 61, 19, 13, 4], [83, 61, 19, 13, 3], [64, 300, 16, 9, 8], [37, 29, 10, 8, 4], [50, 97, 12, 24, 12], [50, 97, 12, 24, 1]]) {
      withArena((a) => {
        const sx = w / dw, sy = h / dh;
        const src = bytes(rand, w * h * ch);
        const tmpN = 8 * (w + 4) + 5 * (dw + dh) + 8;
        const ps = put(a, src), whole = out(a, dw * dh * 4), tmp = scratch(a, tmpN);
        k.lumaArea(ps, w, h, ch, whole, dw, dh, sx, sy, tmp);
        const want = Float32Array.from(a.f32view(whole, dw * dh));
        const banded = out(a, dw * dh * 4);
        k.lumaAreaTables(w, h, dw, dh, sx, sy, tmp);
        for (let o0 = 0; o0 < dh; o0 += band) {
          const o1 = Math.min(dh, o0 + band);
          const first = Math.min(h, Math.floor(o0 * sy)), end = Math.min(h, Math.ceil(Math.min(o1 * sy, h)));
          // A fresh buffer holding only rows first..end - 1, poisoned around them.
          const buf = a.bytes((end - first) * w * ch + 64);
          a.u8(buf, (end - first) * w * ch + 64).fill(0xa5);
          a.u8(buf, (end - first) * w * ch).set(src.subarray(first * w * ch, end * w * ch));
          k.lumaAreaRows(buf, first, w, h, ch, banded, dw, dh, o0, o1, tmp);
        }
        exact(`lumaAreaRows ${w}x${h}x${ch} -> ${dw}x${dh}, bands of ${band}`, a.f32view(banded, dw * dh), want);
      });
    }
  }
});

test('cbArea matches fixed-point Cb + areaResize (3, 4 channels; grey gives 0), and cbAreaRows gives it bit for bit by bands', () => {
  const rand = rng(77);
  const cases = [[37, 29, 10, 8, 3.7, 3.6], [50, 30, 14, 9, 3.5, 3.25], [21, 700, 6, 2, 3.5, 350], [83, 40, 19, 9, 83 / 19, 40 / 9], [64, 33, 16, 7, 4, 33 / 7]];
  for (const ch of CHANNELS) {
    for (const [w, h, dw, dh, sx, sy] of cases) {
      withArena((a) => {
        const src = bytes(rand, w * h * ch);
        const tmpN = 8 * (w + 4) + 5 * (dw + dh) + 8;
        const ps = put(a, src), pd = out(a, dw * dh * 4), tmp = scratch(a, tmpN);
        k.cbArea(ps, w, h, ch, pd, dw, dh, sx, sy, tmp);
        const got = Float32Array.from(f32(a, pd, dw * dh));
        close('cbArea', got, ref.cbArea(src, w, h, ch, dw, dh, sx, sy), tolArea(sx, sy) + TOL_COLOUR, `${w}x${h}x${ch} -> ${dw}x${dh}`);
        if (ch < 3) assert.ok(got.every((v) => v === 0), 'grey has no Cb');
        guard(a, pd, dw * dh * 4, 'cbArea');
        // By bands of 3 frame rows, each from a buffer of only its pixel rows.
        const banded = out(a, dw * dh * 4);
        k.lumaAreaTables(w, h, dw, dh, sx, sy, tmp);
        for (let o0 = 0; o0 < dh; o0 += 3) {
          const o1 = Math.min(dh, o0 + 3);
          const first = Math.min(h, Math.floor(o0 * sy)), end = Math.min(h, Math.ceil(Math.min(o1 * sy, h)));
          const buf = a.bytes((end - first) * w * ch + 64);
          a.u8(buf, (end - first) * w * ch + 64).fill(0xa5);
          a.u8(buf, (end - first) * w * ch).set(src.subarray(first * w * ch, end * w * ch));
          k.cbAreaRows(buf, first, w, h, ch, banded, dw, dh, o0, o1, tmp);
        }
        exact(`cbAreaRows ${w}x${h}x${ch}`, a.f32view(banded, dw * dh), got);
      });
    }
  }
  // A grey colour image (R = G = B) has Cb 0 exactly; pure blue has Cb 127.5 (0.5 * 255).
  withArena((a) => {
    const w = 16, h = 8, dw = 4, dh = 2, tmp = scratch(a, 8 * (w + 4) + 5 * (dw + dh) + 8), pd = out(a, dw * dh * 4);
    const grey = new Uint8Array(w * h * 3).map((_, i) => (Math.floor(i / 3) * 37) & 255);
    k.cbArea(put(a, grey), w, h, 3, pd, dw, dh, 4, 4, tmp);
    assert.ok(f32(a, pd, dw * dh).every((v) => v === 0), 'grey RGB has Cb 0');
    const blue = new Uint8Array(w * h * 3).map((_, i) => (i % 3 === 2 ? 255 : 0));
    k.cbArea(put(a, blue), w, h, 3, pd, dw, dh, 4, 4, tmp);
    assert.ok(f32(a, pd, dw * dh).every((v) => Math.abs(v - 127.5) < 1e-3), 'blue has Cb 127.5');
  });
});

test('lumaArea keeps white at 255 over frame rows of many pixel rows (no integer overflow)', () => {
  // 1000 white rows per frame row: a single 32-bit fixed-point sum would overflow past 257.
  for (const ch of CHANNELS) {
    withArena((a) => {
      const w = 23, h = 2000, dw = 5, dh = 2;
      const ps = put(a, new Uint8Array(w * h * ch).fill(255)), pd = out(a, dw * dh * 4), tmp = scratch(a, 8 * (w + 4) + 5 * (dw + dh) + 8);
      k.lumaArea(ps, w, h, ch, pd, dw, dh, w / dw, h / dh, tmp);
      for (const v of f32(a, pd, dw * dh)) assert.ok(Math.abs(v - 255) < 1e-3, `white frame value ${v} (ch ${ch})`);
    });
  }
});

test('bilinearResize matches the reference (down, up, fractional scales)', () => {
  const rand = rng(8);
  const cases = RESIZES.map(([sw, sh, dw, dh]) => [sw, sh, dw, dh, sw / dw, sh / dh]);
  cases.push([37, 29, 10, 8, 3.9, 3.7], [13, 11, 40, 30, 0.3, 0.35], [20, 20, 7, 7, 3.5, 3.5]);
  for (const [sw, sh, dw, dh, sx, sy] of cases) {
    withArena((a) => {
      const src = floats(rand, sw * sh, 0, 255);
      const ps = put(a, src), pd = out(a, dw * dh * 4), tmp = scratch(a, sh * dw + 2 * (dw + dh));
      k.bilinearResize(ps, sw, sh, pd, dw, dh, sx, sy, tmp);
      close('bilinearResize', f32(a, pd, dw * dh), ref.bilinearResize(src, sw, sh, dw, dh, sx, sy), TOL_BILINEAR,
        `${sw}x${sh} -> ${dw}x${dh}, s=${sx},${sy}`);
      guard(a, pd, dw * dh * 4, 'bilinearResize');
    });
  }
});

test('addLuma matches the reference, saturates, keeps alpha (1, 3, 4 channels)', () => {
  const rand = rng(9);
  const cases = [
    [37, 29, 10, 8], [37, 29, 37, 29], [64, 48, 16, 12], [5, 3, 2, 1], [1, 1, 1, 1], [7, 1, 3, 1],
    [1, 6, 1, 2], [101, 7, 26, 2], [33, 17, 9, 5], [203, 9, 41, 3], [96, 11, 22, 4], [50, 6, 33, 3],
  ];
  for (const ch of CHANNELS) {
    for (const [w, h, rw, rh] of cases) {
      for (const amp of [3, 40, 300]) {
        withArena((a) => {
          const sx = rw / w, sy = rh / h;
          const pix = bytes(rand, w * h * ch);
          // Residuals of +-amp: 300 pushes every pixel into saturation on one side.
          const res = floats(rand, rw * rh, -amp, amp);
          const pp = put(a, pix), pr = put(a, res), tmp = scratch(a, rh * w + 2 * (w + h) + 4 * w + 8);
          k.addLuma(pp, w, h, ch, pr, rw, rh, sx, sy, tmp);
          const got = Uint8Array.from(a.u8(pp, w * h * ch));
          const want = ref.addLuma(pix, w, h, ch, res, rw, rh, sx, sy);
          closeBytes('addLuma', got, want, `${w}x${h}x${ch}, residual ${rw}x${rh} +-${amp}`, ch);
          if (ch === 4) for (let i = 3; i < w * h * 4; i += 4) assert.is(got[i], pix[i], `alpha of pixel ${i >> 2} changed`);
          guard(a, pp, w * h * ch, 'addLuma');
          exact('addLuma residual untouched', a.f32view(pr, rw * rh), res);
        });
      }
    }
  }
});

test('lumaFrameStreamed gives lumaFrame\'s frame bit for bit, also when a pass holds fewer than 16 frame rows', () => {
  const rand = rng(73);
  // 1920 x 1080 RGB: 16 frame rows a pass; 6000 x 1500 RGBA: 7 (the 1 MB pass limit).
  for (const [w, h, ch] of [[1920, 1080, 3], [6000, 1500, 4], [300, 200, 1]]) {
    const img = { width: w, height: h, channels: ch, data: bytes(rand, w * h * ch) };
    const g = geometry(w, h);
    const a = new Arena(k);
    try {
      const streamed = Float32Array.from(a.f32view(lumaFrameStreamed(a, img, g), g.fw * g.fh));
      const whole = a.f32view(lumaFrame(a, img, a.put(img.data), g), g.fw * g.fh);
      exact(`lumaFrameStreamed ${w}x${h}x${ch}`, streamed, whole);
    } finally {
      a.release();
    }
  }
});

test('addMarkRows adds the residual times a gain per colour channel, as the reference (3, 4 channels), saturating, alpha kept', () => {
  const rand = rng(91);
  // Residuals narrower than the image (the SIMD horizontal pass), narrower than one window of
  // eight, and wider than the image (images smaller than their frame: one output at a time).
  const cases = [[37, 29, 10, 8], [64, 48, 16, 12], [5, 3, 2, 1], [101, 7, 26, 2], [203, 9, 41, 3], [8, 8, 2, 2], [17, 5, 5, 2],
    [20, 10, 33, 12], [37, 29, 74, 58], [9, 9, 9, 9]];
  // The chroma-share gains (luma 0.863, Cb 0.244), then uneven and negative ones.
  const gainSets = [[0.8633, 0.7792, 1.2961], [1, 1, 1], [0.5, -0.25, 2]];
  const vsFloat = { differ: 0, total: 0 };
  for (const ch of [3, 4]) {
    for (const [w, h, rw, rh] of cases) {
      for (const amp of [3, 40, 300]) {
        for (const gains of gainSets) {
          withArena((a) => {
            const sx = rw / w, sy = rh / h;
            const pix = bytes(rand, w * h * ch);
            const res = floats(rand, rw * rh, -amp, amp);
            const pp = put(a, pix), pr = put(a, res), tmp = scratch(a, rh * w + 2 * (w + h) + 4 * w + 8);
            k.addMarkPrepare(w, h, pr, rw, rh, sx, sy, tmp);
            k.addMarkRows(pp, 0, w, h, ch, rh, 0, h, tmp, ...gains);
            const got = Uint8Array.from(a.u8(pp, w * h * ch));
            closeBytes('addMarkRows', got, ref.addMark(pix, w, h, ch, res, rw, rh, sx, sy, gains), `${w}x${h}x${ch}, +-${amp}, gains ${gains}`, ch);
            if (ch === 4) for (let i = 3; i < w * h * 4; i += 4) assert.is(got[i], pix[i], `alpha of pixel ${i >> 2} changed`);
            guard(a, pp, w * h * ch, 'addMarkRows');
            if (gains.every((g) => g === 1) && amp <= 40) {
              // Gains 1: the fixed point is the float path (addLuma) up to its rounding: 7
              // fraction bits and ties up, so a few deltas in a hundred land 1 apart.
              const want = ref.addLuma(pix, w, h, ch, res, rw, rh, sx, sy);
              let differ = 0;
              for (let i = 0; i < want.length; i++) {
                const d = Math.abs(got[i] - want[i]);
                assert.ok(d <= 1, `addMarkRows with gains 1 vs addLuma: sample ${i} off by ${d} (${w}x${h}x${ch}, +-${amp})`);
                differ += d;
              }
              vsFloat.differ += differ;
              vsFloat.total += want.length;
            }
          });
        }
      }
    }
  }
  record('addMarkRows with gains 1: samples 1 apart from the float path (fraction)', vsFloat.differ / vsFloat.total, 0.03);
  assert.ok(vsFloat.differ <= 0.03 * vsFloat.total, `addMarkRows with gains 1 vs addLuma: ${vsFloat.differ} of ${vsFloat.total} samples differ by 1`);
});

test('addMarkPrepare and addMarkRows stay inside their documented scratch (rh * w + 2 * (w + h) + 4 * w + 72 floats)', () => {
  const rand = rng(95);
  // Small and narrow residuals, where the fixed head and the block table weigh most, on both
  // horizontal paths (window of eight, one output at a time).
  for (const [w, h, rw, rh] of [[8, 1, 8, 1], [16, 2, 8, 1], [9, 3, 9, 1], [5, 2, 9, 3], [64, 4, 16, 1], [24, 24, 48, 48]]) {
    withArena((a) => {
      const n = (rh * w + 2 * (w + h) + 4 * w + 72) * 4;
      const pix = bytes(rand, w * h * 4);
      const pr = put(a, floats(rand, rw * rh, -20, 20)), pp = put(a, pix), tmp = out(a, n);
      k.addMarkPrepare(w, h, pr, rw, rh, rw / w, rh / h, tmp);
      k.addMarkRows(pp, 0, w, h, 4, rh, 0, h, tmp, 0.8633, 0.7792, 1.2961);
      guard(a, tmp, n, `addMark scratch (${w}x${h}, residual ${rw}x${rh})`);
      guard(a, pp, w * h * 4, 'addMarkRows');
    });
  }
});

test('addMarkRows over bands of rows gives the bytes of one call, from buffers holding only those rows', () => {
  const rand = rng(93);
  for (const ch of [3, 4]) {
    for (const [w, h, rw, rh, band] of [[37, 29, 10, 8, 5], [101, 70, 26, 18, 16], [64, 48, 16, 12, 1], [30, 20, 60, 40, 3]]) {
      withArena((a) => {
        const sx = rw / w, sy = rh / h, gains = [0.8633, 0.7792, 1.2961];
        const pix = bytes(rand, w * h * ch);
        const res = floats(rand, rw * rh, -40, 40);
        const pr = put(a, res), tmp = scratch(a, rh * w + 2 * (w + h) + 4 * w + 8);
        k.addMarkPrepare(w, h, pr, rw, rh, sx, sy, tmp);
        const whole = put(a, pix);
        k.addMarkRows(whole, 0, w, h, ch, rh, 0, h, tmp, ...gains);
        const want = Uint8Array.from(a.u8(whole, w * h * ch));
        const got = new Uint8Array(w * h * ch);
        const stride = w * ch;
        const buf = scratch(a, band * stride / 4 + 4);
        for (let y0 = 0; y0 < h; y0 += band) {
          const y1 = Math.min(h, y0 + band);
          a.u8(buf, (y1 - y0) * stride).set(pix.subarray(y0 * stride, y1 * stride));
          k.addMarkRows(buf, y0, w, h, ch, rh, y0, y1, tmp, ...gains);
          got.set(a.u8(buf, (y1 - y0) * stride), y0 * stride);
        }
        exact(`addMarkRows in bands of ${band} rows (${w}x${h}x${ch})`, got, want);
      });
    }
  }
});

test('addLumaRows over bands of rows gives addLuma\'s bytes, from buffers holding only those rows', () => {
  const rand = rng(72);
  for (const ch of CHANNELS) {
    for (const [w, h, rw, rh, band] of [[37, 29, 10, 8, 5], [101, 70, 26, 18, 16], [64, 48, 16, 12, 1], [9, 40, 3, 11, 7]]) {
      withArena((a) => {
        const sx = rw / w, sy = rh / h;
        const pix = bytes(rand, w * h * ch);
        const res = floats(rand, rw * rh, -40, 40);
        const pr = put(a, res), tmp = scratch(a, rh * w + 2 * (w + h) + 4 * w + 8);
        const whole = put(a, pix);
        k.addLuma(whole, w, h, ch, pr, rw, rh, sx, sy, tmp);
        const want = Uint8Array.from(a.u8(whole, w * h * ch));
        k.addLumaPrepare(w, h, pr, rw, rh, sx, sy, tmp);
        const got = new Uint8Array(w * h * ch);
        const stride = w * ch;
        for (let y0 = 0; y0 < h; y0 += band) {
          const y1 = Math.min(h, y0 + band);
          const buf = a.bytes((y1 - y0) * stride + 16);
          a.u8(buf, (y1 - y0) * stride).set(pix.subarray(y0 * stride, y1 * stride));
          k.addLumaRows(buf, y0, w, h, ch, rh, y0, y1, tmp);
          got.set(a.u8(buf, (y1 - y0) * stride), y0 * stride);
        }
        exact(`addLumaRows ${w}x${h}x${ch}, residual ${rw}x${rh}, bands of ${band}`, got, want);
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------
// DCT.

/** Run dct8x8 on a copy of `plane` (w x h) in place; returns the result plane. */
function dctWasm(a, plane, w, bw, bh, inverse) {
  const p = put(a, plane);
  k.dct8x8(p, p, w, bw, bh, inverse);
  guard(a, p, plane.length * 4, 'dct8x8');
  return f32(a, p, plane.length);
}

test('dct8x8 forward and inverse match the reference (in place, partial blocks untouched)', () => {
  const rand = rng(10);
  for (const [w, h] of [[8, 8], [37, 29], [64, 48], [23, 17], [16, 9], [7, 7]]) {
    const bw = w >> 3, bh = h >> 3;
    for (const inverse of [0, 1]) {
      withArena((a) => {
        // Forward: pixel-like values in 0..255. Inverse: coefficient-like values in +-255.
        const plane = inverse ? floats(rand, w * h, -255, 255) : floats(rand, w * h, 0, 255);
        const got = dctWasm(a, plane, w, bw, bh, inverse);
        // Outside the full blocks the result must be the input, bit for bit (ref copies it).
        close(inverse ? 'dct8x8 inverse' : 'dct8x8 forward', got, ref.dct8x8(plane, w, bw, bh, inverse), tolDct(255),
          `${w}x${h}`);
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            if (x < bw * 8 && y < bh * 8) continue;
            assert.ok(Object.is(got[y * w + x], plane[y * w + x]), `dct8x8 changed sample (${x}, ${y}) outside the blocks`);
          }
        }
      });
    }
  }
});

test('dct8x8 out of place writes only the blocks of dst and leaves src alone', () => {
  const rand = rng(11);
  withArena((a) => {
    const w = 37, h = 29, bw = 4, bh = 3;
    const plane = floats(rand, w * h, 0, 255);
    const ps = put(a, plane);
    const pd = out(a, w * h * 4);
    a.f32view(pd, w * h).fill(-7);
    k.dct8x8(ps, pd, w, bw, bh, 0);
    exact('dct8x8 src untouched', a.f32view(ps, w * h), plane);
    const got = f32(a, pd, w * h);
    const want = ref.dct8x8(plane, w, bw, bh, 0);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (x < bw * 8 && y < bh * 8) {
          const d = Math.abs(got[y * w + x] - want[y * w + x]);
          record('dct8x8 forward', d, tolDct(255));
          assert.ok(d <= tolDct(255), `dct8x8 out of place: (${x}, ${y}) off by ${d}`);
        } else {
          assert.is(got[y * w + x], -7, `dct8x8 out of place wrote (${x}, ${y}) outside the blocks`);
        }
      }
    }
    guard(a, pd, w * h * 4, 'dct8x8');
  });
});

test('dct8x8 is orthonormal: inverse(forward(x)) = x and energy is preserved', () => {
  const rand = rng(12);
  withArena((a) => {
    const w = 40, h = 24, bw = 5, bh = 3;
    const plane = floats(rand, w * h, 0, 255);
    const p = put(a, plane);
    k.dct8x8(p, p, w, bw, bh, 0);
    const coef = f32(a, p, w * h);
    k.dct8x8(p, p, w, bw, bh, 1);
    // Round trip: 4 passes with |values| <= 2040, each within ~1e-4 (see tolDct): 1e-3.
    close('dct8x8 round trip', f32(a, p, w * h), plane, 1e-3);
    // Parseval per block: sum of squares of the coefficients = that of the samples. f32 values
    // carry a relative error of ~1e-7 each, so the sums agree to 1e-5 relative.
    for (let by = 0; by < bh; by++) {
      for (let bx = 0; bx < bw; bx++) {
        let ex = 0, ey = 0;
        for (let r = 0; r < 8; r++) {
          for (let c = 0; c < 8; c++) {
            const i = (by * 8 + r) * w + bx * 8 + c;
            ex += plane[i] ** 2;
            ey += coef[i] ** 2;
          }
        }
        const rel = Math.abs(ey - ex) / ex;
        record('dct8x8 energy (relative)', rel, 1e-5);
        assert.ok(rel <= 1e-5, `dct8x8 block (${bx}, ${by}) energy ${ey} vs ${ex}`);
      }
    }
  });
  // The basis itself: the transform of a unit impulse is a column of C (x) C, and the 64
  // transforms of the impulses are orthonormal vectors.
  withArena((a) => {
    const basis = [];
    for (let i = 0; i < 64; i++) {
      const e = new Float32Array(64);
      e[i] = 1;
      basis.push(dctWasm(a, e, 8, 1, 1, 0));
    }
    let worst = 0;
    for (let i = 0; i < 64; i++) {
      for (let j = i; j < 64; j++) {
        let dot = 0;
        for (let t = 0; t < 64; t++) dot += basis[i][t] * basis[j][t];
        worst = Math.max(worst, Math.abs(dot - (i === j ? 1 : 0)));
      }
    }
    // Constants given to 8 decimals, f32 products: the Gram matrix is the identity to 1e-6.
    record('dct8x8 orthonormality', worst, 1e-6);
    assert.ok(worst <= 1e-6, `dct8x8 basis is not orthonormal: Gram matrix off by ${worst}`);
  });
});

// ---------------------------------------------------------------------------------------------
// Keyed random numbers: integer arithmetic, so results must match exactly.

const KEYS = [
  [0, 0, 0, 0],
  [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
  [0x01234567, 0x89abcdef, 0xfedcba98, 0x76543210],
  [0xdeadbeef, 0x00000001, 0x80000000, 0x7fffffff],
];

test('hash matches the reference exactly', () => {
  withArena((a) => {
    for (const key of KEYS) {
      const pk = put(a, Uint32Array.from(key));
      for (const stream of [0, 1, 2, 3, 0x7fffffff, 0xffffffff]) {
        for (const i of [0, 1, 2, 3, 4, 5, 1000, 65535, 0x7fffffff, 0x80000000, 0xffffffff]) {
          const got = k.hash(pk, stream, i) >>> 0;
          assert.is(got, ref.hash(key, stream, i), `hash(key ${key}, stream ${stream}, i ${i})`);
        }
      }
    }
  });
  // A fixed value, so that the reference itself cannot drift along with the kernel.
  assert.is(ref.hash([0x01234567, 0x89abcdef, 0xfedcba98, 0x76543210], 1, 42), REF_HASH_KNOWN);
});
// Computed from the formula in assembly/chips.ts (step by step with BigInt, see knownHash()).
const REF_HASH_KNOWN = knownHash([0x01234567, 0x89abcdef, 0xfedcba98, 0x76543210], 1, 42);

/** The keyed hash in BigInt arithmetic mod 2^32: an independent check of ref.hash. */
function knownHash(key, stream, i) {
  const M = (1n << 32n) - 1n;
  const fmix = (h) => {
    h ^= h >> 16n; h = (h * 0x85ebca6bn) & M;
    h ^= h >> 13n; h = (h * 0xc2b2ae35n) & M;
    return h ^ (h >> 16n);
  };
  const kk = key.map(BigInt);
  let h = ((BigInt(i) * 0x9e3779b1n) & M) ^ ((BigInt(stream) * 0x632be5abn) & M);
  h = fmix((h + kk[0]) & M);
  h = fmix(h ^ kk[1]);
  h = fmix((h + kk[2]) & M);
  return Number(fmix(h ^ kk[3]));
}

test('random and chips match the reference exactly', () => {
  for (const key of KEYS) {
    for (const stream of [0, 1, 2, 0x9e3779b9]) {
      for (const n of [1, 2, 3, 4, 5, 7, 8, 63, 64, 1001]) {
        withArena((a) => {
          const pk = put(a, Uint32Array.from(key));
          const pr = out(a, n * 4), pc = out(a, n * 4);
          k.random(pk, stream, n, pr);
          k.chips(pk, stream, n, pc);
          const r = new Uint32Array(a.k.memory.buffer, pr, n);
          exact('random', r, ref.random(key, stream, n), `n=${n}`);
          exact('chips', a.f32view(pc, n), ref.chips(key, stream, n), `n=${n}`);
          guard(a, pr, n * 4, 'random');
          guard(a, pc, n * 4, 'chips');
        });
      }
    }
  }
  // Chips are balanced: about half of them are -1.
  const c = ref.chips(KEYS[2], 2, 100000);
  const neg = c.filter((v) => v < 0).length;
  assert.ok(Math.abs(neg - 50000) < 1000, `chips are not balanced: ${neg} of 100000 negative`);
});

test('layout matches the reference exactly and deals slots evenly', () => {
  for (const key of KEYS) {
    for (const [nslots, npilot, nsym, npsym] of [[1, 0, 2, 1], [2, 1, 2, 1], [7, 2, 3, 1], [64, 8, 5, 2], [397, 40, 17, 1], [1536, 128, 97, 2], [4096, 300, 257, 1], [4096, 512, 174, 2]]) {
      withArena((a) => {
        const pk = put(a, Uint32Array.from(key));
        const pc = out(a, nslots * 4), ps = out(a, nslots * 4), pt = out(a, nslots * 4);
        k.layout(pk, nslots, npilot, nsym, npsym, pc, ps, pt);
        const want = ref.layout(key, nslots, npilot, nsym, npsym);
        const what = `${nslots} slots, ${npilot} pilot, ${nsym} symbols (${npsym} pilot)`;
        exact('layout code', a.i32view(pc, nslots), want.code, what);
        exact('layout sign', a.f32view(ps, nslots), want.sign, what);
        for (const [p, name] of [[pc, 'code'], [ps, 'sign'], [pt, 'tmp']]) guard(a, p, nslots * 4, `layout (${name})`);
        // The pilot symbols share npilot slots evenly; data symbols get floor or ceil of the
        // rest / (nsym - npsym).
        const count = new Array(nsym).fill(0);
        for (const c of want.code) count[c]++;
        let pilots = 0;
        for (let c = nsym - npsym; c < nsym; c++) { pilots += count[c]; assert.ok(Math.abs(count[c] - npilot / npsym) < 1, `pilot ${c} has ${count[c]} slots`); }
        assert.is(pilots, npilot, 'pilot slot count');
        const per = (nslots - npilot) / (nsym - npsym);
        for (let c = 0; c < nsym - npsym; c++) assert.ok(Math.abs(count[c] - per) < 1, `symbol ${c} has ${count[c]} slots`);
      });
    }
  }
  // Keys change the layout.
  const l0 = ref.layout(KEYS[2], 256, 16, 9).code, l1 = ref.layout(KEYS[3], 256, 16, 9).code;
  assert.ok(l0.some((c, i) => c !== l1[i]), 'two keys gave the same layout');
});

// ---------------------------------------------------------------------------------------------
// Spread spectrum.

/** A coefficient plane (w x h, bw x bh blocks): the DCT of a natural plane, as the kernels see it. */
function coefPlane(rand, w, h) {
  return Float32Array.from(ref.dct8x8(naturalPlane(rand, w, h), w, w >> 3, h >> 3, 0));
}
/** nb distinct AC band indices (1..63) in random order. */
function randomBand(rand, nb) {
  const idx = Array.from({ length: 63 }, (_, i) => i + 1);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return Int32Array.from(idx.slice(0, nb));
}
/** Geometries [w, h, nb, tb]: odd block counts, partial blocks at the edges, tiles that do
 * not divide the frame. */
const SPREAD = [[37, 29, 5, 2], [64, 48, 12, 3], [8, 8, 1, 1], [105, 71, 7, 4], [17, 96, 63, 5], [24, 8, 3, 2]];

test('blockStats matches the reference', () => {
  const rand = rng(14);
  for (const [w, h, nb] of SPREAD) {
    withArena((a) => {
      const bw = w >> 3, bh = h >> 3, n = bw * bh;
      const coef = coefPlane(rand, w, h);
      const band = randomBand(rand, nb);
      const pc = put(a, coef), pb = put(a, band);
      const pa = out(a, n * 4), pp = out(a, n * nb * 4), tmp = scratch(a, 2 * (1 + nb) * n);
      k.blockStats(pc, w, bw, bh, pb, nb, pa, pp, tmp);
      const want = ref.blockStats(coef, w, bw, bh, band, nb);
      // act = (sum of all 64 squares - DC^2) / 63 in f32: the sum of 64 terms and the
      // cancellation against DC^2 make its error relative to the total block energy E / 63 (DC
      // included), about (64 + 8) u * E / 63 per block; the 3x3 mean (up to 9 more additions
      // and a product with a rounded 1/9) adds 12 u and keeps the bound when E is the
      // neighbourhood mean. Band powers are means of up to 9 squares of positive terms: 12 u
      // relative.
      const energy = ref.blockStats(coef, w, bw, bh, Int32Array.of(0), 1);
      const gotAct = f32(a, pa, n), gotPow = f32(a, pp, n * nb);
      let worstAct = 0, worstPow = 0;
      for (let b = 0; b < n; b++) {
        const E = energy.act[b] + energy.pow[b] / 63; // mean AC energy + DC^2 / 63 over the 3x3 area
        const tol = (72 + 12) * U * E + 1e-30;
        const d = Math.abs(gotAct[b] - want.act[b]);
        worstAct = Math.max(worstAct, d / tol);
        assert.ok(d <= tol, `blockStats act[${b}] = ${gotAct[b]}, ref ${want.act[b]} (tolerance ${tol})`);
        for (let j = 0; j < nb; j++) {
          const i = b * nb + j;
          const tp = 12 * U * want.pow[i] + 1e-30;
          const dp = Math.abs(gotPow[i] - want.pow[i]);
          worstPow = Math.max(worstPow, dp / tp);
          assert.ok(dp <= tp, `blockStats pow[${i}] = ${gotPow[i]}, ref ${want.pow[i]}`);
        }
      }
      // The scratch's first n floats keep each block's own activity, unsmoothed (texturedBoxes in
      // src/pieces.ts reads them there): (sum of the 64 squares - DC^2) / 63, within 72 u of the
      // block's own energy.
      const own = f32(a, tmp, n);
      for (let by = 0; by < bh; by++) {
        for (let bx = 0; bx < bw; bx++) {
          let all = 0;
          for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) all += coef[(by * 8 + y) * w + bx * 8 + x] ** 2;
          const dc = coef[by * 8 * w + bx * 8] ** 2, b = by * bw + bx;
          const d = Math.abs(own[b] - (all - dc) / 63);
          assert.ok(d <= 72 * U * all / 63 + 1e-30, `blockStats scratch[${b}] = ${own[b]}, the block's own activity ${(all - dc) / 63}`);
        }
      }
      record('blockStats act (fraction of tolerance)', worstAct, 1);
      record('blockStats pow (fraction of tolerance)', worstPow, 1);
      guard(a, pa, n * 4, 'blockStats (act)');
      guard(a, pp, n * nb * 4, 'blockStats (pow)');
    });
  }
});

test('maskWeights matches the reference, mask clamped to [lo, hi]', () => {
  const rand = rng(15);
  for (const [n, nb] of [[1, 1], [7, 3], [117, 12], [500, 63]]) {
    for (const [a0, aref, gamma, lo, hi, p0] of [[1, 100, 0.5, 0.5, 4, 10], [0.5, 30, 0.7, 0.25, 2.5, 1], [4, 1000, 1, 0, 1e9, 100]]) {
      withArena((a) => {
        // Activities spanning flat (0) to very busy blocks, so both clamps are hit.
        const act = Float32Array.from({ length: n }, () => (rand() < 0.1 ? 0 : Math.exp(12 * rand()) - 1));
        const pow = Float32Array.from({ length: n * nb }, () => Math.exp(14 * rand()) - 1);
        const pa = put(a, act), pp = put(a, pow), pm = out(a, n * 4), pw = out(a, n * nb * 4);
        k.maskWeights(pa, pp, n, nb, a0, aref, gamma, lo, hi, p0, pm, pw);
        const want = ref.maskWeights(act, pow, n, nb, Math.fround(a0), Math.fround(aref), Math.fround(gamma),
          Math.fround(lo), Math.fround(hi), Math.fround(p0));
        // f32: a sum, a quotient, pow (a few ulps in f32, and it scales the relative error of
        // its base by gamma <= 1), a clamp, then a sum and a quotient: 16 u relative.
        const gotM = f32(a, pm, n), gotW = f32(a, pw, n * nb);
        let worst = 0;
        for (let i = 0; i < n; i++) {
          const r = Math.abs(gotM[i] - want.mask[i]) / want.mask[i];
          worst = Math.max(worst, r);
          assert.ok(r <= 16 * U, `maskWeights mask[${i}] = ${gotM[i]}, ref ${want.mask[i]}`);
          assert.ok(gotM[i] >= Math.fround(lo) && gotM[i] <= Math.fround(hi), `mask[${i}] = ${gotM[i]} outside [lo, hi]`);
        }
        for (let i = 0; i < n * nb; i++) {
          const r = Math.abs(gotW[i] - want.weight[i]) / want.weight[i];
          worst = Math.max(worst, r);
          assert.ok(r <= 16 * U, `maskWeights weight[${i}] = ${gotW[i]}, ref ${want.weight[i]}`);
        }
        record('maskWeights (relative)', worst, 16 * U);
        guard(a, pm, n * 4, 'maskWeights (mask)');
        guard(a, pw, n * nb * 4, 'maskWeights (weight)');
      });
    }
  }
});

/** A random layout for a tile: code, sign and symbol values. */
function randomLayout(rand, nslots, nsym) {
  const code = Int32Array.from({ length: nslots }, () => randInt(rand, 0, nsym - 1));
  const sign = Float32Array.from({ length: nslots }, () => (rand() < 0.5 ? -1 : 1));
  const sym = Float32Array.from({ length: nsym }, () => (rand() < 0.5 ? -1 : 1) * (0.5 + rand()));
  return { code, sign, sym };
}

test('spreadEmbed matches the reference and writes only band coefficients', () => {
  const rand = rng(16);
  for (const [w, h, nb, tb] of SPREAD) {
    withArena((a) => {
      const bw = w >> 3, bh = h >> 3, nslots = tb * tb * nb, nsym = randInt(rand, 2, 20);
      const band = randomBand(rand, nb);
      const { code, sign, sym } = randomLayout(rand, nslots, nsym);
      const mask = floats(rand, bw * bh, 0.25, 4);
      const amp = 1 + 5 * rand();
      // Fill the plane with a marker so that stray writes show up (the kernel is documented
      // for a zeroed plane, which this generalises).
      const wm = new Float32Array(w * h).fill(-3);
      const pwm = put(a, wm);
      k.spreadEmbed(pwm, w, bw, bh, put(a, band), nb, tb, put(a, code), put(a, sign), put(a, sym), put(a, mask), amp);
      const got = f32(a, pwm, w * h);
      const want = ref.spreadEmbed(wm, w, bw, bh, band, nb, tb, code, sign, sym, mask, Math.fround(amp));
      // Three f32 products (and amp rounded to f32 by the call, as in the reference): 3 u
      // relative to values <= amp * mask * |sym| <= 6 * 4 * 1.5 = 36; 4 u * 36 = 8.6e-6.
      close('spreadEmbed', got, want, 4 * U * 36, `${w}x${h} nb=${nb} tb=${tb}`);
      for (let i = 0; i < w * h; i++) if (want[i] === -3) assert.is(got[i], -3, `spreadEmbed wrote non-band sample ${i}`);
      guard(a, pwm, w * h * 4, 'spreadEmbed');
    });
  }
});

test('fold matches the reference', () => {
  const rand = rng(17);
  for (const [w, h, nb, tb] of SPREAD) {
    withArena((a) => {
      const bw = w >> 3, bh = h >> 3, nslots = tb * tb * nb;
      const coef = coefPlane(rand, w, h);
      const band = randomBand(rand, nb);
      const weight = Float32Array.from({ length: bw * bh * nb }, () => Math.exp(-8 * rand()));
      const pF = out(a, nslots * 4, 0xff); // fold must overwrite, not accumulate into, F
      k.fold(put(a, coef), w, bw, bh, put(a, band), nb, tb, put(a, weight), pF);
      const want = ref.fold(coef, w, bw, bh, band, nb, tb, weight);
      // Each slot sums m = ceil(bw / tb) * ceil(bh / tb) f32 products in sequence: error at
      // most (m + 1) u times the sum of the terms' magnitudes (recursive summation bound).
      const m = Math.ceil(bw / tb) * Math.ceil(bh / tb);
      const got = f32(a, pF, nslots);
      let worst = 0;
      for (let s = 0; s < nslots; s++) {
        const tol = (m + 1) * U * want.scale[s] + 1e-30;
        const d = Math.abs(got[s] - want.F[s]);
        worst = Math.max(worst, d / tol);
        assert.ok(d <= tol, `fold F[${s}] = ${got[s]}, ref ${want.F[s]} (tolerance ${tol}) for ${w}x${h} nb=${nb} tb=${tb}`);
      }
      record('fold (fraction of tolerance)', worst, 1);
      guard(a, pF, nslots * 4, 'fold');
    });
  }
});

test('correlate matches the reference exactly', () => {
  const rand = rng(18);
  for (const [nslots, nsym] of [[1, 1], [5, 2], [75, 9], [1536, 97], [4096, 257]]) {
    withArena((a) => {
      const F = floats(rand, nslots, -50, 50);
      const { code, sign } = randomLayout(rand, nslots, nsym);
      const ps = out(a, nsym * 8, 0xff), pe = out(a, nsym * 8, 0xff);
      k.correlate(put(a, F), put(a, code), put(a, sign), nslots, nsym, ps, pe);
      const want = ref.correlate(F, code, sign, nslots, nsym);
      // The kernel sums exact f32 -> f64 conversions in f64, in slot order, like the
      // reference: the results are bit-identical.
      exact('correlate soft', a.f64view(ps, nsym), want.soft, `${nslots} slots`);
      exact('correlate energy', a.f64view(pe, nsym), want.energy, `${nslots} slots`);
      guard(a, ps, nsym * 8, 'correlate (soft)');
      guard(a, pe, nsym * 8, 'correlate (energy)');
    });
  }
});

test('blockEvidence matches the reference exactly, one plane or two (luma and Cb with their cross term)', () => {
  const rand = rng(19);
  for (const [w, h, nb, tb] of SPREAD) {
    for (const two of [false, true]) {
      withArena((a) => {
        const bw = w >> 3, bh = h >> 3, nslots = tb * tb * nb, nsym = randInt(rand, 2, 20);
        const coef = coefPlane(rand, w, h), coef2 = coefPlane(rand, w, h);
        const band = randomBand(rand, nb);
        const { code, sign, sym } = randomLayout(rand, nslots, nsym);
        const weight = Float32Array.from({ length: bw * bh * nb }, () => Math.exp(-8 * rand()));
        const weight2 = Float32Array.from({ length: bw * bh * nb }, () => Math.exp(-8 * rand()));
        const k1 = 0.2 + rand(), k2 = 0.2 + rand();
        const pn = out(a, bw * bh * 4, 0xff), pd = out(a, bw * bh * 4, 0xff);
        k.blockEvidence(put(a, coef), two ? put(a, coef2) : 0, w, bw, bh, put(a, band), nb, tb, put(a, weight), two ? put(a, weight2) : 0,
          k1, k2, put(a, code), put(a, sign), put(a, sym), pn, pd);
        const want = ref.blockEvidence(coef, two ? coef2 : null, w, bw, bh, band, nb, tb, weight, weight2, k1, k2, code, sign, sym);
        exact('blockEvidence num', f32(a, pn, bw * bh), want.num, `${w}x${h} nb=${nb} tb=${tb} two=${two}`);
        exact('blockEvidence den', f32(a, pd, bw * bh), want.den, `${w}x${h} nb=${nb} tb=${tb} two=${two}`);
        guard(a, pn, bw * bh * 4, 'blockEvidence (num)');
        guard(a, pd, bw * bh * 4, 'blockEvidence (den)');
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Payload decoding (assembly/viterbi.ts).

/** Run the listViterbi kernel: { count, paths: Uint8Array[] (bits), metrics: number[] }. */
function kernelList(a, soft, L, infoLength) {
  const steps = infoLength + 6;
  const ps = put(a, Float64Array.from(soft));
  const pOut = out(a, L * infoLength, 0xff), pMet = out(a, L * 8, 0xff);
  const tmp = a.bytes(2 * 64 * L * 8 + steps * 64 * L * 2);
  const count = k.listViterbi(ps, infoLength, L, pOut, pMet, tmp);
  const paths = Array.from({ length: count }, (_, r) => a.u8(pOut + r * infoLength, infoLength).slice());
  const metrics = Array.from(a.f64view(pMet, count));
  guard(a, pOut, L * infoLength, 'listViterbi (paths)');
  guard(a, pMet, L * 8, 'listViterbi (metrics)');
  return { count, paths, metrics };
}

test('listViterbi matches the reference list decoder: the same paths, in the same order, with the same metrics', () => {
  const rand = rng(30);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  for (const [infoLength, L] of [[80, 1], [80, 2], [80, 8], [80, 16], [12, 5], [3, 8], [1, 4]]) {
    for (const noise of [0.3, 1, 3]) {
      withArena((a) => {
        // a codeword of random bits plus Gaussian noise: from easy to hopeless
        const info = Uint8Array.from({ length: infoLength }, () => (rand() < 0.5 ? 1 : 0));
        const soft = Array.from(convEncode(info), (c) => (c ? 1 : -1) + noise * gauss());
        const got = kernelList(a, soft, L, infoLength);
        const want = ref.listViterbi(soft, L, infoLength);
        assert.is(got.count, want.length, `${infoLength} bits, L ${L}: path count`);
        for (let r = 0; r < want.length; r++) {
          assert.equal(Array.from(got.paths[r]), Array.from(want[r].bits), `${infoLength} bits, L ${L}, noise ${noise}: path ${r + 1}`);
          // same additions in the same order: bit-identical
          assert.is(got.metrics[r], want[r].metric, `${infoLength} bits, L ${L}: metric ${r + 1}`);
        }
        for (let r = 1; r < got.count; r++) assert.ok(got.metrics[r] <= got.metrics[r - 1], 'metrics sorted best first');
      });
    }
  }
});

test('listViterbi breaks ties as the reference and viterbi do (to the lower predecessor), on soft values with many equal metrics', () => {
  // Hard decisions (+-1) with erasures (0) and small integers: paths of equal metric are
  // everywhere, so any other tie rule picks other paths (or another order) than the reference.
  const rand = rng(32);
  for (const [infoLength, L] of [[80, 1], [80, 8], [12, 5], [3, 8]]) {
    for (const quantise of [(x) => Math.sign(Math.round(x)), (x) => Math.round(x), (x) => (rand() < 0.3 ? 0 : x > 0 ? 1 : -1)]) {
      withArena((a) => {
        const info = Uint8Array.from({ length: infoLength }, () => (rand() < 0.5 ? 1 : 0));
        const soft = Array.from(convEncode(info), (c) => quantise((c ? 1 : -1) + 1.2 * (2 * rand() - 1)));
        const got = kernelList(a, soft, L, infoLength);
        const want = ref.listViterbi(soft, L, infoLength);
        assert.is(got.count, want.length, `${infoLength} bits, L ${L}: path count`);
        for (let r = 0; r < want.length; r++) {
          assert.equal(Array.from(got.paths[r]), Array.from(want[r].bits), `${infoLength} bits, L ${L}: path ${r + 1}`);
          assert.is(got.metrics[r], want[r].metric, `${infoLength} bits, L ${L}: metric ${r + 1}`);
        }
        assert.equal(Array.from(got.paths[0]), Array.from(viterbi(soft, infoLength)), `${infoLength} bits: rank 1 is the single-path decision`);
      });
    }
  }
});

test('listViterbi finds the L best codewords of all 2^n (exhaustive check on short codes); rank 1 is viterbi\'s decision', () => {
  const rand = rng(31);
  for (const infoLength of [4, 7, 10]) {
    const words = Array.from({ length: 1 << infoLength }, (_, w) => {
      const info = Uint8Array.from({ length: infoLength }, (_, i) => (w >> (infoLength - 1 - i)) & 1);
      return { info, coded: convEncode(info) };
    });
    for (let trial = 0; trial < 5; trial++) {
      const soft = Array.from({ length: (infoLength + 6) * 2 }, () => 2 * rand() - 1);
      const scored = words.map(({ info, coded }) => ({ info, metric: coded.reduce((s, c, j) => s + (c ? soft[j] : -soft[j]), 0) }))
        .sort((x, y) => y.metric - x.metric);
      withArena((a) => {
        const L = 6;
        const got = kernelList(a, soft, L, infoLength);
        assert.is(got.count, L);
        for (let r = 0; r < L; r++) {
          // sums in another order: equal to rounding
          assert.ok(Math.abs(got.metrics[r] - scored[r].metric) < 1e-9, `${infoLength} bits: metric ${r + 1} ${got.metrics[r]} vs ${scored[r].metric}`);
          // continuous random soft values: no ties, the same codewords
          assert.equal(Array.from(got.paths[r]), Array.from(scored[r].info), `${infoLength} bits: path ${r + 1}`);
        }
        assert.equal(Array.from(got.paths[0]), Array.from(viterbi(soft, infoLength)), 'rank 1 is the single-path decision');
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Metrics.

test('sse16 matches the reference exactly (1, 3, 4 channels), the largest differences included', () => {
  const rand = rng(41);
  for (const ch of CHANNELS) {
    for (const n of [1, 2, 3, 5, 7, 8, 9, 17, 37 * 29, 5000]) {
      withArena((a) => {
        const x = Uint16Array.from({ length: n * ch }, () => randInt(rand, 0, 65535));
        const y = Uint16Array.from({ length: n * ch }, () => randInt(rand, 0, 65535));
        assert.is(k.sse16(put(a, x), put(a, y), n, ch), ref.sse(x, y, n, ch), `sse16 n=${n} ch=${ch}`);
        // 65535 against 0 everywhere: squares of 2^32 - 2^17 + 1, beyond any 32-bit lane
        const zero = new Uint16Array(n * ch), full = new Uint16Array(n * ch).fill(65535);
        assert.is(k.sse16(put(a, full), put(a, zero), n, ch), ref.sse(full, zero, n, ch), `sse16 extremes n=${n} ch=${ch}`);
      });
    }
  }
});

test('sse matches the reference exactly (1, 3, 4 channels)', () => {
  const rand = rng(19);
  for (const ch of CHANNELS) {
    for (const n of [1, 2, 3, 4, 5, 6, 7, 15, 16, 17, 37 * 29, 5000]) {
      withArena((a) => {
        const x = bytes(rand, n * ch), y = bytes(rand, n * ch);
        // Integer sums below 2^53: exact.
        assert.is(k.sse(put(a, x), put(a, y), n, ch), ref.sse(x, y, n, ch), `sse n=${n} ch=${ch}`);
      });
    }
  }
  // The largest difference everywhere over more than 4096 vector iterations, so that the i32
  // lane accumulators have to be flushed to f64 before they overflow.
  for (const ch of CHANNELS) {
    withArena((a) => {
      const n = 100003;
      const x = new Uint8Array(n * ch), y = new Uint8Array(n * ch).fill(255);
      assert.is(k.sse(put(a, x), put(a, y), n, ch), ref.sse(x, y, n, ch), `sse worst case ch=${ch}`);
      assert.is(k.sse(put(a, y), put(a, x), n, ch), ref.sse(y, x, n, ch), `sse worst case swapped ch=${ch}`);
    });
  }
});

// SSIM: the kernel takes the variances as E[x^2] - mu^2 in f32. E[x^2] (about 128^2 for
// mid-grey content) goes through two 11-tap passes, 22 roundings, so a variance is off by up to
// 2 * 22 u * 128^2 = 0.04, against a denominator sigma_a^2 + sigma_b^2 + C2 >= C2 = 58.5: up to
// ~7e-4 relative per window in the worst case, but the roundings have random signs and partly
// cancel (measured: ~1e-5 on single windows, less on means over many). 1e-4 absolute on the mean
// SSIM, which lies in [-1, 1], is 8x the measured difference.
const TOL_SSIM = 1e-4;

test('ssim matches the reference', () => {
  const rand = rng(20);
  for (const [w, h] of [[37, 29], [11, 11], [12, 11], [11, 13], [14, 12], [64, 48], [25, 40]]) {
    for (const noise of [0, 2, 10, 60]) {
      withArena((a) => {
        const x = naturalPlane(rand, w, h);
        const y = Float32Array.from(x, (v) => Math.min(255, Math.max(0, v + noise * (rand() - 0.5) * 2)));
        const px = put(a, x), py = put(a, y), tmp = scratch(a, 10 * w * h);
        const got = k.ssim(px, py, w, h, tmp);
        const want = ref.ssim(x, y, w, h);
        const d = Math.abs(got - want);
        record('ssim', d, TOL_SSIM);
        assert.ok(d <= TOL_SSIM, `ssim ${w}x${h} noise ${noise}: wasm ${got}, ref ${want}`);
        // An image against itself: 1 up to the f32 rounding of one window's ratio (the scalar
        // tail for (w - 10) % 4 != 0 is not bit-identical to the SIMD lanes).
        if (noise === 0) assert.ok(Math.abs(got - 1) <= 1e-6, `ssim of an image with itself: ${got}`);
      });
    }
  }
});

test('ssim of flat and unrelated planes', () => {
  const rand = rng(21);
  withArena((a) => {
    const w = 29, h = 23;
    const flat = new Float32Array(w * h).fill(100), flat2 = new Float32Array(w * h).fill(110);
    const noise = floats(rand, w * h, 0, 255), noise2 = floats(rand, w * h, 0, 255);
    for (const [x, y] of [[flat, flat2], [noise, noise2], [flat, noise]]) {
      const px = put(a, x), py = put(a, y), tmp = scratch(a, 10 * w * h);
      const got = k.ssim(px, py, w, h, tmp);
      const want = ref.ssim(x, y, w, h);
      record('ssim', Math.abs(got - want), TOL_SSIM);
      assert.ok(Math.abs(got - want) <= TOL_SSIM, `ssim: wasm ${got}, ref ${want}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 16-bit samples and grey + alpha (assembly/depth.ts).

test('narrow16 is round(s / 257) for every 16-bit value (exhaustive), with SIMD lanes and tail', () => {
  withArena((a) => {
    const all = Uint16Array.from({ length: 65536 + 5 }, (_, i) => i % 65536); // 65541: a 5-sample tail
    const ps = put(a, all), pd = out(a, all.length);
    k.narrow16(ps, all.length, pd);
    exact('narrow16 (all 65536 values)', a.u8(pd, all.length), ref.narrowSamples(all, all.length, 'rgb16'));
    guard(a, pd, all.length, 'narrow16');
  });
});

test('apply16, narrow16ga, apply16ga, narrowGa8 and applyGa8 match the references; alpha is never changed', () => {
  const rand = rng(40);
  for (const n of [1, 7, 8, 15, 16, 17, 33, 1000, 4099]) {
    for (const layout of ['rgb16', 'ga16', 'ga8']) {
      withArena((a) => {
        const per = layout === 'rgb16' ? 1 : 2;
        const T = layout === 'ga8' ? Uint8Array : Uint16Array;
        const max = layout === 'ga8' ? 255 : 65535;
        // Edge values often: 0, max, and values whose 8-bit view is 0 or 255, so that the
        // saturation in apply is exercised.
        const edges = [0, max, 127, 128, 129, 65407, 65408, 65535 - 127].filter((v) => v <= max);
        const src = T.from({ length: n * per }, () => (rand() < 0.2 ? edges[randInt(rand, 0, edges.length - 1)] : randInt(rand, 0, max)));
        const work = ref.narrowSamples(src, n, layout);
        const ps = put(a, src), pw = out(a, n);
        (layout === 'rgb16' ? k.narrow16 : layout === 'ga16' ? k.narrow16ga : k.narrowGa8)(ps, n, pw);
        exact(`narrow ${layout}`, a.u8(pw, n), work, `${n} pixels`);
        guard(a, pw, n, `narrow ${layout}`);
        // the "marked" copy: the working copy moved by up to +-20, saturated at 0 and 255
        const marked = Uint8Array.from(work, (v) => Math.min(255, Math.max(0, v + randInt(rand, -20, 20))));
        const pm = put(a, marked);
        (layout === 'rgb16' ? k.apply16 : layout === 'ga16' ? k.apply16ga : k.applyGa8)(ps, pm, n);
        const got = (layout === 'ga8' ? a.u8(ps, n * per) : new Uint16Array(k.memory.buffer, ps, n * per)).slice();
        exact(`apply ${layout}`, got, ref.applySamples(src, marked, n, layout), `${n} pixels`);
        guard(a, ps, src.byteLength, `apply ${layout}`);
        // the 8-bit view of the result is the marked copy, exactly
        exact(`apply ${layout}: 8-bit view`, ref.narrowSamples(got, n, layout), marked, `${n} pixels`);
        if (per === 2) for (let i = 0; i < n; i++) assert.is(got[2 * i + 1], src[2 * i + 1], `apply ${layout}: alpha of pixel ${i}`);
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------
// The module itself.

const wasmBytes = readFileSync(new URL('../build/modelmark.wasm', import.meta.url));

test('the module imports nothing and exports every kernel', () => {
  const module = new WebAssembly.Module(wasmBytes);
  assert.equal(WebAssembly.Module.imports(module), [], 'the module has imports');
  const exports = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  for (const name of ['memory', 'alloc', 'mark', 'release', 'zero', 'touch', 'rgbToY', 'rgbToYcc', 'yccToRgb',
    'areaResize', 'bilinearResize', 'lumaArea', 'cbArea', 'addLuma', 'addMarkPrepare', 'addMarkRows', 'dct8x8', 'hash', 'random', 'chips', 'layout',
    'blockStats', 'maskWeights', 'spreadEmbed', 'fold', 'correlate', 'sse', 'ssim', 'listViterbi']) {
    assert.ok(exports.has(name), `missing export ${name}`);
  }
});

test('the module inlined into dist is build/modelmark.wasm', async () => {
  const { WASM_BASE64 } = await import('../dist/generated/wasm-bytes.js');
  assert.ok(Buffer.from(WASM_BASE64, 'base64').equals(wasmBytes), 'dist/generated/wasm-bytes.js is stale: run npm run build');
});

/** Count the functions with v128 locals by walking the code section (binary format spec 5.5). */
function v128Functions(buf) {
  let pos = 8;
  const leb = () => {
    let result = 0, shift = 0, byte;
    do { byte = buf[pos++]; result += (byte & 0x7f) * 2 ** shift; shift += 7; } while (byte & 0x80);
    return result;
  };
  let count = 0, bodies = 0;
  while (pos < buf.length) {
    const id = buf[pos++];
    const size = leb();
    const end = pos + size;
    if (id === 10) {
      bodies = leb();
      for (let f = 0; f < bodies; f++) {
        const bodySize = leb();
        const bodyEnd = pos + bodySize;
        const groups = leb();
        let simd = false;
        for (let g = 0; g < groups; g++) {
          leb(); // count
          if (buf[pos++] === 0x7b) simd = true; // valtype v128
        }
        if (simd) count++;
        pos = bodyEnd;
      }
    }
    pos = end;
  }
  return { count, bodies };
}

test('the module uses SIMD instructions', async () => {
  assert.ok(WebAssembly.validate(wasmBytes), 'build/modelmark.wasm does not validate');
  const { count, bodies } = v128Functions(wasmBytes);
  assert.ok(count >= 10, `only ${count} of ${bodies} functions have v128 locals`);
  // Decode the instructions with binaryen (the compiler's own back end) and count SIMD ones.
  const { default: binaryen } = await import('binaryen');
  const mod = binaryen.readBinary(wasmBytes);
  const text = mod.emitText();
  mod.dispose();
  const ops = text.match(/\b(?:v128|i8x16|i16x8|i32x4|i64x2|f32x4|f64x2)\.[a-z0-9_]+/g) ?? [];
  const kinds = new Set(ops);
  for (const op of ['v128.load', 'v128.store', 'f32x4.mul', 'f32x4.add', 'i32x4.mul', 'i8x16.swizzle', 'i16x8.narrow_i32x4_s']) {
    assert.ok(kinds.has(op), `no ${op} in the module`);
  }
  assert.ok(ops.length >= 300, `only ${ops.length} SIMD instructions`);
  record(`SIMD instructions (${ops.length}, ${kinds.size} kinds; ${count} of ${bodies} functions use v128)`, 0, 0);
});

test('the module is small: gzipped <= 64 KB', () => {
  const gz = gzipSync(wasmBytes, { level: 9 }).length;
  record(`wasm size (${wasmBytes.length} B raw, ${gz} B gzipped)`, 0, 0);
  assert.ok(gz <= 64 * 1024, `build/modelmark.wasm is ${gz} bytes gzipped, over 64 KB`);
  assert.ok(gz > 1024, `build/modelmark.wasm is only ${gz} bytes gzipped: not a real build?`);
});

test.after(() => {
  if (!process.env.KERNEL_DIFFS) return;
  const rows = [...measured].map(([name, { diff, tol }]) => `    ${name.padEnd(48)} ${diff.toExponential(2).padStart(10)}   tol ${tol === 0 ? 'exact' : tol.toExponential(2)}`);
  process.stdout.write(`\n  max |wasm - ref| per kernel (KERNEL_SEED=${SEED}):\n${rows.join('\n')}\n`);
});

test('the bench\'s plain-JS watermarker (bench/js-reference.mjs) is the library\'s algorithm: each reads the other\'s mark, on unmarked images too', async () => {
  const { createJsWatermarker, crossCheck, crossCheckLine, syntheticImage } = await import('../bench/js-reference.mjs');
  const { createWatermarker } = await import('../dist/index.js');
  const key = 'js-reference test';
  const lib = await createWatermarker({ key });
  const js = await createJsWatermarker({ key });
  // Colour images exercise the combined luma + Cb read on the unmarked copy (its luma read fails).
  for (const [w, h, ch] of [[640, 480, 1], [300, 200, 4], [688, 512, 3]]) {
    const image = { width: w, height: h, channels: ch, data: syntheticImage(w, h, ch) };
    const r = crossCheck(lib, js, image, 'c0ffee0000000001');
    assert.ok(r.ok, `${w}x${h}x${ch}: ${crossCheckLine(r)}`);
    assert.ok(r.psnrLibVsJs > 90, `${w}x${h}x${ch}: the two marked images differ by rounding only (${r.psnrLibVsJs.toFixed(1)} dB)`);
  }
});

test.run();
