// The deep watermark's WebAssembly SIMD kernels (assembly/deep.ts) against the scalar Float64
// references in test/ref.mjs, in the manner of test/kernels.test.mjs: seeded random inputs with
// odd sizes (tails after the 4-wide SIMD loops), 1, 3 and 4 channels, an asserted maximum
// absolute difference per kernel, and guard bytes after every output and after the scratch
// space (allocated at exactly the size each kernel documents). KERNEL_DIFFS=1 prints the
// measured maxima.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { init } from '../dist/index.js';
import * as ref from './ref.mjs';
import { mulberry32 } from '../bench/attacks.mjs';
import { comparer } from './helpers/compare.mjs';
import { wasmMemory } from './helpers/wasm-memory.mjs';

const k = await init();

// Tolerances (u = 2^-24, the f32 unit roundoff; see test/kernels.test.mjs).
const U = 2 ** -24;
/** Taps per axis of deepInput: area covers ceil(s) + 1 inputs, bilinear 2. */
const taps = (n, m) => (m <= n ? Math.ceil(n / m) + 1 : 2);
/**
 * deepInput: per output a weighted sum of tapsX * tapsY bytes / 255 with f32 weights (the 1/255
 * folded into the vertical weights: one more rounding), values <= 1: bound
 * (2 * (tapsX + tapsY) + 8) u.
 */
const tolInput = (w, h, dw, dh) => (2 * (taps(w, dw) + taps(h, dh)) + 8) * U;
/** tileNc's mean: T - 1 f32 additions of values <= M and a product: (T + 2) u M. */
const tolMean = (tiles, M) => (tiles + 2) * U * M;

const { measured, close, closeBytes } = comparer();

const rng = (seed) => mulberry32((seed + Math.imul(Number(process.env.KERNEL_SEED ?? 0), 0x9e3779b1)) >>> 0);
const bytes = (rand, n) => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
const floats = (rand, n, lo, hi) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());
const CHANNELS = [1, 3, 4];

const { put, out, guard, withArena, f32 } = wasmMemory(k);

// Sizes: shrink, enlarge, mixed per axis, identity, odd, tiny, single rows and columns.
const INPUT_SIZES = [
  [37, 29, 16, 12], [64, 48, 64, 48], [13, 11, 40, 32], [37, 29, 20, 40], [33, 17, 12, 20],
  [101, 3, 8, 8], [1, 1, 4, 4], [5, 7, 3, 2], [3, 2, 5, 9], [7, 1, 4, 4], [1, 9, 4, 4],
  [301, 203, 64, 64], [150, 130, 256, 128], [257, 131, 128, 128],
];

test('deepInput matches the reference (1, 3, 4 channels; shrink, enlarge, mixed)', () => {
  const rand = rng(21);
  for (const ch of CHANNELS) {
    for (const [w, h, dw, dh] of INPUT_SIZES) {
      withArena((a) => {
        const src = bytes(rand, w * h * ch);
        const ps = put(a, src), pd = out(a, 3 * dw * dh * 4);
        const nt = (3 * dh * w + 6 * dw + 2 * dh + 16) * 4, tmp = out(a, nt);
        k.deepInput(ps, w, h, ch, pd, dw, dh, tmp);
        const what = `${w}x${h}x${ch} -> ${dw}x${dh}`;
        close('deepInput', f32(a, pd, 3 * dw * dh), ref.deepInput(src, w, h, ch, dw, dh), tolInput(w, h, dw, dh), what);
        guard(a, pd, 3 * dw * dh * 4, 'deepInput');
        guard(a, tmp, nt, 'deepInput (scratch)');
        guard(a, ps, src.length, 'deepInput (input)');
        assert.equal(a.u8(ps, src.length), src, `deepInput changed its input (${what})`);
      });
    }
  }
});

test('deepInput: a constant image gives constant planes; grey planes are equal', () => {
  withArena((a) => {
    const w = 53, h = 41, dw = 16, dh = 24;
    const src = new Uint8Array(w * h * 4);
    for (let i = 0; i < w * h; i++) src.set([200, 100, 50, 7], i * 4);
    const ps = put(a, src), pd = out(a, 3 * dw * dh * 4), tmp = out(a, (3 * dh * w + 6 * dw + 2 * dh + 16) * 4);
    k.deepInput(ps, w, h, 4, pd, dw, dh, tmp);
    const got = f32(a, pd, 3 * dw * dh);
    [200, 100, 50].forEach((v, c) => close('deepInput', got.subarray(c * dw * dh, (c + 1) * dw * dh), new Float64Array(dw * dh).fill(v / 255), tolInput(w, h, dw, dh), 'constant'));
  });
  withArena((a) => {
    const rand = rng(22);
    const w = 45, h = 38, dw = 32, dh = 48;
    const src = bytes(rand, w * h);
    const ps = put(a, src), pd = out(a, 3 * dw * dh * 4), tmp = out(a, (3 * dh * w + 6 * dw + 2 * dh + 16) * 4);
    k.deepInput(ps, w, h, 1, pd, dw, dh, tmp);
    const got = f32(a, pd, 3 * dw * dh), n = dw * dh;
    assert.equal(got.subarray(n, 2 * n), got.subarray(0, n), 'grey: G plane differs from R');
    assert.equal(got.subarray(2 * n), got.subarray(0, n), 'grey: B plane differs from R');
  });
});

test('deepInputRows over bands, then deepInputFinish: bit for bit what deepInput gives (bands of 1 row, odd and whole)', () => {
  const rand = rng(27);
  for (const ch of CHANNELS) {
    for (const [w, h, dw, dh] of [[37, 29, 16, 12], [64, 48, 64, 48], [301, 203, 64, 64], [257, 131, 128, 128], [33, 40, 12, 40], [13, 97, 20, 7]]) {
      for (const band of [1, 5, 17, h]) {
        withArena((a) => {
          const src = bytes(rand, w * h * ch);
          const nt = (3 * dh * w + 6 * dw + 2 * dh + 16) * 4;
          const ps = put(a, src), whole = out(a, 3 * dw * dh * 4), t1 = out(a, nt);
          k.deepInput(ps, w, h, ch, whole, dw, dh, t1);
          const streamed = out(a, 3 * dw * dh * 4), t2 = out(a, nt), buf = out(a, band * w * ch + 16);
          for (let y0 = 0; y0 < h; y0 += band) {
            const y1 = Math.min(h, y0 + band);
            a.u8(buf, (y1 - y0) * w * ch).set(src.subarray(y0 * w * ch, y1 * w * ch));
            k.deepInputRows(buf, y0, y1, w, h, ch, dh, t2);
          }
          k.deepInputFinish(w, ch, streamed, dw, dh, t2);
          assert.equal(f32(a, streamed, 3 * dw * dh), f32(a, whole, 3 * dw * dh), `${w}x${h}x${ch} -> ${dw}x${dh}, bands of ${band}`);
          guard(a, streamed, 3 * dw * dh * 4, 'deepInputFinish');
          guard(a, t2, nt, 'deepInputRows (scratch)');
        });
      }
    }
  }
});

test('deepTiles matches the reference exactly (partial tiles left out)', () => {
  const rand = rng(23);
  for (const [w, h, c, tile] of [[256, 256, 3, 64], [128, 64, 3, 64], [37, 29, 3, 9], [13, 13, 1, 13], [20, 12, 2, 3], [11, 7, 3, 5], [9, 9, 3, 1]]) {
    withArena((a) => {
      const src = floats(rand, c * w * h, -1, 1);
      const T = Math.floor(w / tile) * Math.floor(h / tile), n = T * c * tile * tile;
      const ps = put(a, src), pd = out(a, n * 4);
      k.deepTiles(ps, w, h, c, tile, pd);
      const want = ref.deepTiles(src, w, h, c, tile);
      close('deepTiles', f32(a, pd, n), want, 0, `${w}x${h}x${c}, tile ${tile}`);
      guard(a, pd, n * 4, 'deepTiles');
    });
  }
});

// Residual sizes against image sizes: enlarging (the usual case), shrinking (small images),
// equal, odd, single rows and columns.
const RESIDUAL_SIZES = [
  [37, 29, 10, 8], [37, 29, 37, 29], [64, 48, 16, 12], [5, 3, 2, 1], [1, 1, 1, 1], [7, 1, 3, 1],
  [1, 6, 1, 2], [101, 7, 26, 2], [203, 9, 41, 3], [96, 11, 22, 4], [50, 6, 33, 3], [20, 14, 32, 24],
  [131, 67, 64, 64],
];

test('addResidual matches the reference, saturates, keeps alpha and the residual (1, 3, 4 channels)', () => {
  const rand = rng(24);
  for (const ch of CHANNELS) {
    for (const [w, h, rw, rh] of RESIDUAL_SIZES) {
      // Amplitudes in [0, 1] units: 0.01 (~2.5 levels), 0.15, and 1.2 (saturation both ways).
      for (const amp of [0.01, 0.15, 1.2]) {
        withArena((a) => {
          const pix = bytes(rand, w * h * ch);
          const res = floats(rand, 3 * rw * rh, -amp, amp);
          const pp = put(a, pix), pr = put(a, res);
          const nt = (3 * rw * rh + 3 * rh * w + 6 * w + 2 * h + 32) * 4, tmp = out(a, nt);
          k.addResidual(pp, w, h, ch, pr, rw, rh, tmp);
          const got = Uint8Array.from(a.u8(pp, w * h * ch));
          const want = ref.addResidual(pix, w, h, ch, res, rw, rh);
          closeBytes('addResidual', got, want, `${w}x${h}x${ch}, residual ${rw}x${rh} +-${amp}`);
          if (ch === 4) for (let i = 3; i < w * h * 4; i += 4) assert.is(got[i], pix[i], `alpha of pixel ${i >> 2} changed`);
          guard(a, pp, w * h * ch, 'addResidual');
          guard(a, tmp, nt, 'addResidual (scratch)');
          close('addResidual residual untouched', a.f32view(pr, 3 * rw * rh), res, 0);
        });
      }
    }
  }
});

test('addResidualPrepare, then addResidualRows over bands: the bytes addResidual gives (3, 4 channels)', () => {
  const rand = rng(28);
  for (const ch of [3, 4]) {
    for (const [w, h, rw, rh] of [[37, 29, 10, 8], [131, 67, 64, 64], [203, 9, 41, 3], [20, 14, 32, 24], [96, 111, 22, 40]]) {
      for (const band of [1, 4, 13, h]) {
        withArena((a) => {
          const pix = bytes(rand, w * h * ch);
          const res = floats(rand, 3 * rw * rh, -0.2, 0.2);
          const nt = (3 * rw * rh + 3 * rh * w + 6 * w + 2 * h + 32) * 4;
          const pp = put(a, pix), pr = put(a, res), t1 = out(a, nt);
          k.addResidual(pp, w, h, ch, pr, rw, rh, t1);
          const want = Uint8Array.from(a.u8(pp, w * h * ch));
          const t2 = out(a, nt), buf = out(a, band * w * ch + 16);
          k.addResidualPrepare(w, h, pr, rw, rh, t2);
          const got = new Uint8Array(w * h * ch), stride = w * ch;
          for (let y0 = 0; y0 < h; y0 += band) {
            const y1 = Math.min(h, y0 + band);
            a.u8(buf, (y1 - y0) * stride).set(pix.subarray(y0 * stride, y1 * stride));
            k.addResidualRows(buf, y0, y1, w, h, ch, rw, rh, t2);
            got.set(a.u8(buf, (y1 - y0) * stride), y0 * stride);
          }
          assert.equal(got, want, `${w}x${h}x${ch}, residual ${rw}x${rh}, bands of ${band}`);
          guard(a, t2, nt, 'addResidualPrepare (scratch)');
        });
      }
    }
  }
});

test('addResidual: a zero residual changes nothing', () => {
  for (const ch of CHANNELS) {
    withArena((a) => {
      const w = 67, h = 35, rw = 32, rh = 32;
      const pix = bytes(rng(25), w * h * ch);
      const pp = put(a, pix), pr = out(a, 3 * rw * rh * 4), tmp = out(a, (3 * rw * rh + 3 * rh * w + 6 * w + 2 * h + 32) * 4);
      k.addResidual(pp, w, h, ch, pr, rw, rh, tmp);
      assert.equal(Uint8Array.from(a.u8(pp, w * h * ch)), pix, `ch ${ch}`);
    });
  }
});

test('tileNc matches the reference (mean of tiles and Pearson correlation)', () => {
  const rand = rng(26);
  for (const [tiles, n] of [[16, 1024], [1, 1024], [4, 37], [3, 5], [7, 1], [2, 3]]) {
    withArena((a) => {
      const src = floats(rand, tiles * n, -1.5, 1.5);
      const logo = Float32Array.from({ length: n }, () => Math.floor(rand() * 256) / 255);
      // Half the cases: extractions that carry the logo, so the correlation is high.
      if (tiles % 2 === 0) for (let i = 0; i < tiles * n; i++) src[i] = 0.3 * src[i] + 2 * logo[i % n] - 1;
      const ps = put(a, src), pl = put(a, logo), pe = out(a, n * 4);
      const nc = k.tileNc(ps, tiles, n, pl, pe);
      const want = ref.tileNc(src, tiles, n, logo);
      const e = f32(a, pe, n);
      close('tileNc mean', e, want.e, tolMean(tiles, 1.5 + 2), `${tiles} tiles of ${n}`);
      guard(a, pe, n * 4, 'tileNc');
      // The correlation of the kernel's own mean, computed in Float64: only summation order differs.
      close('tileNc nc', [nc], [ref.pearson(e, logo)], 1e-12, `${tiles} tiles of ${n}`);
      close('tileNc nc vs ref mean', [nc], [want.nc], 1e-5, `${tiles} tiles of ${n}`);
      assert.ok(nc >= -1 && nc <= 1);
    });
  }
});

test('tileNc: constant extraction or logo gives 0; the logo itself gives 1', () => {
  withArena((a) => {
    const n = 1024;
    const logo = Float32Array.from({ length: n }, (_, i) => (i % 7) / 6);
    const pl = put(a, logo), pe = out(a, n * 4);
    assert.is(k.tileNc(put(a, new Float32Array(4 * n).fill(0.25)), 4, n, pl, pe), 0);
    assert.is(k.tileNc(put(a, logo), 1, n, put(a, new Float32Array(n).fill(0.5)), pe), 0);
    const marked = Float32Array.from({ length: 2 * n }, (_, i) => 2 * logo[i % n] - 1);
    assert.ok(Math.abs(k.tileNc(put(a, marked), 2, n, pl, pe) - 1) < 1e-9);
  });
});

test.after(() => {
  if (!process.env.KERNEL_DIFFS) return;
  for (const [name, { diff, tol }] of measured) console.log(`${name.padEnd(50)} max ${diff.toExponential(2)}  tol ${tol.toExponential(2)}`);
});

test.run();
