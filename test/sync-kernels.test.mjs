// The synchronisation kernels (assembly/fft.ts, assembly/sync.ts) against plain-JS references
// written here from their definitions, with asserted maximum differences.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { init } from '../dist/index.js';
import { Arena } from '../dist/wasm.js';
import { mulberry32 } from '../bench/attacks.mjs';

const k = await init();
const rand = mulberry32(42);
const maxDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const withArena = (fn) => { const a = new Arena(k); try { return fn(a); } finally { a.release(); } };
const randomPlane = (n) => Float32Array.from({ length: n }, () => rand() * 2 - 1);

test('fft2d matches a direct 2-D DFT, forward and inverse, including skipped zero rows', () => {
  for (const [n, rows] of [[4, 4], [4, 3], [8, 8], [16, 16], [32, 20]]) {
    const xr = randomPlane(n * n), xi = randomPlane(n * n);
    for (let i = rows * n; i < n * n; i++) xr[i] = xi[i] = 0;
    const wr = new Float64Array(n * n), wi = new Float64Array(n * n);
    for (let v = 0; v < n; v++) for (let u = 0; u < n; u++) {
      let sr = 0, si = 0;
      for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
        const t = (-2 * Math.PI * (u * x + v * y)) / n;
        sr += xr[y * n + x] * Math.cos(t) - xi[y * n + x] * Math.sin(t);
        si += xr[y * n + x] * Math.sin(t) + xi[y * n + x] * Math.cos(t);
      }
      wr[v * n + u] = sr; wi[v * n + u] = si;
    }
    withArena((a) => {
      const re = a.put(xr), im = a.put(xi), tmp = a.f32(3 * n);
      k.fft2d(re, im, n, 0, tmp, rows);
      // f32 butterflies: error grows like log2(n) * eps * sum |x| (sum |x| <= 2 n^2)
      const tol = 1e-5 * n * n;
      assert.ok(maxDiff(a.f32view(re, n * n), wr) < tol, `re n=${n}`);
      assert.ok(maxDiff(a.f32view(im, n * n), wi) < tol, `im n=${n}`);
      k.fft2d(re, im, n, 1, tmp, n);
      assert.ok(maxDiff(a.f32view(re, n * n), xr) < 1e-5, `inverse re n=${n}`);
      assert.ok(maxDiff(a.f32view(im, n * n), xi) < 1e-5, `inverse im n=${n}`);
    });
  }
});

test('mulConj multiplies by the complex conjugate', () => {
  const n = 37, ar = randomPlane(n), ai = randomPlane(n), br = randomPlane(n), bi = randomPlane(n);
  withArena((a) => {
    const o1 = a.f32(n), o2 = a.f32(n);
    k.mulConj(a.put(ar), a.put(ai), a.put(br), a.put(bi), o1, o2, n);
    assert.ok(maxDiff(a.f32view(o1, n), ar.map((x, i) => x * br[i] + ai[i] * bi[i])) < 1e-6);
    assert.ok(maxDiff(a.f32view(o2, n), ai.map((x, i) => x * br[i] - ar[i] * bi[i])) < 1e-6);
  });
});

test('boxBlur is the mean over the clipped (2r + 1)^2 window', () => {
  const w = 23, h = 17, r = 3, src = randomPlane(w * h);
  const want = new Float64Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    let s = 0, c = 0;
    for (let yy = Math.max(0, y - r); yy <= Math.min(h - 1, y + r); yy++) for (let xx = Math.max(0, x - r); xx <= Math.min(w - 1, x + r); xx++) { s += src[yy * w + xx]; c++; }
    want[y * w + x] = s / c;
  }
  withArena((a) => {
    const dst = a.f32(w * h);
    k.boxBlur(a.put(src), w, h, r, dst, a.f32(w * h));
    assert.ok(maxDiff(a.f32view(dst, w * h), want) < 1e-5);
  });
});

test('whiten is (y - mean_r1(y)) / sqrt(mean_r2(e^2) + c), clipped to +-2.5 on both sides, as a plain-JS reference', () => {
  // Plain-JS box mean over the clipped (2r + 1)^2 window (as the boxBlur test above).
  const box = (src, w, h, r) => {
    const out = new Float64Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      let s = 0, c = 0;
      for (let yy = Math.max(0, y - r); yy <= Math.min(h - 1, y + r); yy++) for (let xx = Math.max(0, x - r); xx <= Math.min(w - 1, x + r); xx++) { s += src[yy * w + xx]; c++; }
      out[y * w + x] = s / c;
    }
    return out;
  };
  // Sizes with n % 4 = 0 (SIMD only) and not (the scalar tail); a noise plane with bright and
  // dark spikes, so that values beyond +2.5 and below -2.5 local deviations both occur.
  const rand = mulberry32(43); // its own stream: the other tests' inputs stay as they were
  for (const [w, h, r1, r2, c] of [[24, 16, 2, 4, 1], [23, 17, 2, 4, 1], [31, 9, 1, 3, 0.5]]) {
    const src = Float32Array.from({ length: w * h }, () => 128 + 10 * (rand() * 2 - 1));
    for (let i = 0; i < 12; i++) src[Math.floor(rand() * w * h)] += (i % 2 ? -1 : 1) * 120;
    const mean = box(src, w, h, r1);
    const e = Float64Array.from(src, (v, i) => v - mean[i]);
    const e2 = box(e.map((v) => v * v), w, h, r2);
    const want = e.map((v, i) => Math.max(-2.5, Math.min(2.5, v / Math.sqrt(e2[i] + c))));
    assert.ok(want.some((v) => v === 2.5) && want.some((v) => v === -2.5), `${w}x${h}: the clip is not exercised on both sides`);
    withArena((a) => {
      const dst = a.f32(w * h);
      k.whiten(a.put(src), w, h, r1, r2, c, dst, a.f32(3 * w * h));
      const diff = maxDiff(a.f32view(dst, w * h), want);
      assert.ok(diff < 1e-4, `${w}x${h}, r ${r1}/${r2}: max difference ${diff}`);
    });
  }
});

test('affineSample: identity copies, a half-pixel shift averages neighbours, outside is 0', () => {
  const w = 9, h = 7, src = randomPlane(w * h);
  withArena((a) => {
    const s = a.put(src), d = a.f32(12 * 10);
    const inside = k.affineSample(s, w, h, d, 12, 10, 1, 0, 0, 1, 0, 0);
    assert.is(inside, w * h);
    const D = a.f32view(d, 120);
    for (let y = 0; y < 10; y++) for (let x = 0; x < 12; x++) assert.is(D[y * 12 + x], x < w && y < h ? src[y * w + x] : 0);
    k.affineSample(s, w, h, d, 8, 7, 1, 0, 0, 1, 0.5, 0);
    const E = a.f32view(d, 56);
    for (let y = 0; y < 7; y++) for (let x = 0; x < 8; x++) assert.ok(Math.abs(E[y * 8 + x] - (src[y * w + x] + src[y * w + x + 1]) / 2) < 1e-6);
  });
});

/** Plain-JS Catmull-Rom affine sampler (edges clamped, 0 outside), the reference for the kernel. */
function cubicRef(src, sw, sh, dw, dh, [m00, m01, m10, m11, tx, ty]) {
  const w = (t) => [0.5 * t * (t * (2 - t) - 1), 0.5 * (t * t * (3 * t - 5) + 2), 0.5 * t * (t * (4 - 3 * t) + 1), 0.5 * t * t * (t - 1)];
  const at = (x, y) => src[Math.min(sh - 1, Math.max(0, y)) * sw + Math.min(sw - 1, Math.max(0, x))];
  const out = new Float64Array(dw * dh);
  for (let y = 0; y < dh; y++) {
    for (let x = 0; x < dw; x++) {
      const sx = m00 * x + m01 * y + tx, sy = m10 * x + m11 * y + ty;
      if (sx < 0 || sy < 0 || sx > sw - 1 || sy > sh - 1) continue;
      const x0 = Math.floor(sx), y0 = Math.floor(sy), wx = w(sx - x0), wy = w(sy - y0);
      let v = 0;
      for (let j = 0; j < 4; j++) for (let i = 0; i < 4; i++) v += wy[j] * wx[i] * at(x0 - 1 + i, y0 - 1 + j);
      out[y * dw + x] = v;
    }
  }
  return out;
}

test('affineSampleCubic matches the plain-JS Catmull-Rom reference (interior and clamped edges); integer positions copy', () => {
  const w = 37, h = 29, src = randomPlane(w * h);
  withArena((a) => {
    const s = a.put(src), d = a.f32(40 * 36);
    for (const m of [[1, 0, 0, 1, 0, 0], [0.93, 0.21, -0.19, 1.07, 0.37, -1.2], [1.6, -0.4, 0.5, 1.3, -3.1, 2.7], [-0.8123, 0.1137, 0.2031, 0.9071, 35.63, 0.4519]]) {
      const inside = k.affineSampleCubic(s, w, h, d, 40, 36, ...m);
      const want = cubicRef(src, w, h, 40, 36, m);
      // The kernel steps its source coordinates in f32 (about 1e-5 px of drift over a row), so
      // values up to 255 can differ by a few thousandths.
      const diff = maxDiff(a.f32view(d, 40 * 36), want);
      assert.ok(diff < 1e-2, `matrix ${m}: max difference ${diff}`);
      assert.ok(inside > 0);
    }
    k.affineSampleCubic(s, w, h, d, w, h, 1, 0, 0, 1, 0, 0);
    assert.ok(maxDiff(a.f32view(d, w * h), src) < 1e-6);
  });
});

test('affineSampleCubic2 gives each plane the bytes of affineSampleCubic on it alone (same map, one pass)', () => {
  const w = 37, h = 29, src = randomPlane(w * h), src2 = randomPlane(w * h);
  withArena((a) => {
    const s = a.put(src), s2 = a.put(src2);
    for (const [dw, dh] of [[40, 36], [41, 7], [3, 5]]) {
      const d = a.f32(dw * dh), d2 = a.f32(dw * dh), e = a.f32(dw * dh), e2 = a.f32(dw * dh);
      for (const m of [[1, 0, 0, 1, 0, 0], [0.93, 0.21, -0.19, 1.07, 0.37, -1.2], [1.6, -0.4, 0.5, 1.3, -3.1, 2.7], [-0.8123, 0.1137, 0.2031, 0.9071, 35.63, 0.4519]]) {
        const inside = k.affineSampleCubic2(s, s2, w, h, d, d2, dw, dh, ...m);
        assert.is(inside, k.affineSampleCubic(s, w, h, e, dw, dh, ...m), `inside count, matrix ${m}`);
        k.affineSampleCubic(s2, w, h, e2, dw, dh, ...m);
        assert.equal(a.f32view(d, dw * dh), a.f32view(e, dw * dh), `first plane, ${dw}x${dh}, matrix ${m}`);
        assert.equal(a.f32view(d2, dw * dh), a.f32view(e2, dw * dh), `second plane, ${dw}x${dh}, matrix ${m}`);
      }
    }
  });
});

test('fillOutside fills the outside pixels of blocks cut by the edge with the mean of their inside pixels, as the plain-JS reference', () => {
  const w = 61, h = 45, dw = 96, dh = 80, src = Float32Array.from({ length: w * h }, () => 255 * rand());
  const f = Math.fround;
  // The kernel's inside test in its own f32 arithmetic (wasm rounds every operation).
  const inside = (x, y, m) => {
    const sx = f(f(x * m[0]) + f(f(m[1] * y) + m[4])), sy = f(f(x * m[2]) + f(f(m[3] * y) + m[5]));
    return sx >= 0 && sy >= 0 && sx <= w - 1 && sy <= h - 1;
  };
  withArena((a) => {
    const s = a.put(src), d = a.f32(dw * dh);
    for (const m of [[1, 0, 0, 1, -13.37, -9.71], [0.93, 0.21, -0.19, 1.07, -20.3, -3.1], [0.8, 0, 0, 0.8, -5.5, -4.3]].map((r) => r.map(f))) {
      k.affineSampleCubic(s, w, h, d, dw, dh, ...m);
      const want = a.f32view(d, dw * dh).slice();
      let cut = 0;
      for (let by = 0; by < dh; by += 8) for (let bx = 0; bx < dw; bx += 8) {
        let n = 0, sum = 0;
        for (let y = by; y < by + 8; y++) for (let x = bx; x < bx + 8; x++) if (inside(x, y, m)) { n++; sum += want[y * dw + x]; }
        if (n === 0 || n === 64) continue;
        cut++;
        for (let y = by; y < by + 8; y++) for (let x = bx; x < bx + 8; x++) if (!inside(x, y, m)) want[y * dw + x] = sum / n;
      }
      const filled = k.fillOutside(d, dw, dh, w, h, ...m);
      assert.ok(cut > 0, `matrix ${m}: no block is cut by the edge: the test shows nothing`);
      assert.is(filled, cut, `matrix ${m}: blocks filled`);
      const diff = maxDiff(a.f32view(d, dw * dh), want);
      assert.ok(diff < 1e-3, `matrix ${m}: max difference ${diff}`);
    }
  });
});

test('foldSpatial sums a plane modulo the periods; orient gives the eight right-angle views', () => {
  const w = 21, h = 13, p = 8, src = randomPlane(w * h);
  withArena((a) => {
    const s = a.put(src);
    // Square tiles, rows only (a p-row strip as wide as the plane), columns only, and periods
    // that do not divide the plane (partial runs and the scalar tail).
    for (const [px, py] of [[p, p], [w, p], [p, h], [6, 5], [5, 3]]) {
      const want = new Float64Array(px * py);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) want[(y % py) * px + (x % px)] += src[y * w + x];
      const d = a.f32(px * py);
      k.foldSpatial(s, w, h, px, py, d);
      assert.ok(maxDiff(a.f32view(d, px * py), want) < 1e-5, `periods ${px} x ${py}`);
    }
  });
  // Sizes in whole groups of four (the SIMD path: rows, or 4 x 4 blocks transposed) and not.
  for (const [w, h] of [[21, 13], [24, 16], [8, 20], [4, 4], [12, 7]]) {
    const src = randomPlane(w * h);
    withArena((a) => {
      const s = a.put(src);
      const at = (x, y) => src[y * w + x];
      const views = [
        [w, h, (x, y) => at(x, y)], [h, w, (x, y) => at(y, h - 1 - x)], [w, h, (x, y) => at(w - 1 - x, h - 1 - y)], [h, w, (x, y) => at(w - 1 - y, x)],
        [w, h, (x, y) => at(w - 1 - x, y)], [w, h, (x, y) => at(x, h - 1 - y)], [h, w, (x, y) => at(y, x)], [h, w, (x, y) => at(w - 1 - y, h - 1 - x)],
      ];
      const o = a.f32(w * h);
      views.forEach(([dw, dh, f], op) => {
        k.orient(s, w, h, op, o);
        const O = a.f32view(o, w * h);
        for (let y = 0; y < dh; y++) for (let x = 0; x < dw; x++) assert.is(O[y * dw + x], f(x, y), `${w}x${h} op ${op} at ${x},${y}`);
      });
    });
  }
});

test('foldResampledRows resamples rows with Catmull-Rom weights and folds them, as affineSampleCubic then foldSpatial', () => {
  const w = 12, sh = 37, p = 8, src = randomPlane(w * sh);
  withArena((a) => {
    const s = a.put(src);
    // Shrinking, enlarging and unit steps; n past the last source row (those outputs are left out).
    for (const [step, n] of [[0.8, 40], [1.3, 30], [1, 37], [0.55, 80]]) {
      const rows = cubicRef(src, w, sh, w, n, [1, 0, 0, step, 0, 0]);
      const want = new Float64Array(p * w);
      for (let u = 0; u < n; u++) for (let x = 0; x < w; x++) want[(u % p) * w + x] += rows[u * w + x];
      const d = a.f32(p * w);
      k.foldResampledRows(s, w, sh, step, n, p, d);
      assert.ok(maxDiff(a.f32view(d, p * w), want) < 1e-4, `step ${step}: max difference ${maxDiff(a.f32view(d, p * w), want)}`);
    }
  });
});

test('latticeComb sums an autocorrelation over each square lattice\'s points (bilinear, mirrored), as a plain-JS reference', () => {
  const n = 128, lag = 50, A = randomPlane(n * n);
  // Plain JS: every half-plane point of the lattice within the radius, bilinear, A(-v) = A(v).
  const at = (x, y) => {
    if (y < 0) { x = -x; y = -y; }
    const x0 = Math.floor(x), y0 = Math.floor(y), fx = x - x0, fy = y - y0;
    const g = (xx, yy) => A[yy * n + (((xx % n) + n) % n)];
    const top = g(x0, y0) + (g(x0 + 1, y0) - g(x0, y0)) * fx, bottom = g(x0, y0 + 1) + (g(x0 + 1, y0 + 1) - g(x0, y0 + 1)) * fx;
    return top + (bottom - top) * fy;
  };
  const ref = (rho, th, p) => {
    const c = Math.cos(th), s = Math.sin(th), K = Math.ceil(lag / (p * Math.min(1, rho)));
    let sum = 0, count = 0;
    for (let b = 0; b <= K; b++) for (let a = -K; a <= K; a++) {
      if (b === 0 && a <= 0) continue;
      const x = p * (a * c - b * s), y = rho * p * (a * s + b * c);
      if (x * x + y * y > lag * lag) continue;
      sum += at(x, y); count++;
    }
    return count ? sum / Math.sqrt(count) : 0;
  };
  withArena((a) => {
    const src = a.put(A);
    // Seven periods: one group of four lanes and a scalar tail; pixel aspects on both sides of 1.
    for (const [rho, th0, dth, p0, dp] of [[1, -0.7, 0.05, 9.3, 0.37], [1.03, 0.2, 0.11, 12, 1.9], [0.96, -0.05, 0.01, 20.5, 0.25]]) {
      const nth = 5, np = 7, out = a.f32(nth * np);
      k.latticeComb(src, n, lag, rho, th0, dth, nth, p0, dp, np, out);
      const got = a.f32view(out, nth * np);
      let diff = 0;
      for (let i = 0; i < nth; i++) for (let j = 0; j < np; j++) diff = Math.max(diff, Math.abs(got[i * np + j] - ref(rho, th0 + i * dth, p0 + j * dp)));
      assert.ok(diff < 1e-4, `rho ${rho}: max difference ${diff}`);
    }
  });
});

test('gridPeaks lists the largest local maxima of a plane whose rows wrap; meanStd its mean and deviation', () => {
  const w = 13, h = 9, src = randomPlane(w * h);
  const want = [];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const v = src[y * w + x];
    let isMax = true;
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const xx = x + dx;
      if ((dx || dy) && xx >= 0 && xx < w && src[((y + dy + h) % h) * w + xx] > v) isMax = false;
    }
    if (isMax) want.push([v, x, y]);
  }
  want.sort((p, q) => q[0] - p[0]);
  withArena((a) => {
    const s = a.put(src), out = a.f32(3 * 5);
    const count = k.gridPeaks(s, w, h, out, 5);
    assert.is(count, Math.min(5, want.length));
    const got = a.f32view(out, 3 * count);
    for (let i = 0; i < count; i++) assert.equal([got[3 * i], got[3 * i + 1], got[3 * i + 2]], [Math.fround(want[i][0]), want[i][1], want[i][2]]);
    const stats = a.f32(2);
    k.meanStd(s, w * h, stats);
    const mean = src.reduce((p, v) => p + v, 0) / src.length;
    const sd = Math.sqrt(src.reduce((p, v) => p + (v - mean) ** 2, 0) / src.length);
    assert.ok(Math.abs(a.f32view(stats, 2)[0] - mean) < 1e-6 && Math.abs(a.f32view(stats, 2)[1] - sd) < 1e-5);
  });
});

test('lagPeaks finds planted peaks in order and ignores the mirrored half', () => {
  const n = 64;
  withArena((a) => {
    const p = a.f32(n * n);
    const P = a.f32view(p, n * n);
    P.fill(0);
    P[10 * n + 20] = 5; // lag (20, 10)
    P[0 * n + 30] = 3; // lag (30, 0)
    P[15 * n + (n - 12)] = 4; // lag (-12, 15)
    P[(n - 5) * n + 20] = 9; // lag (20, -5): mirrored half, skipped
    const out = a.f32(3 * 8);
    const c = k.lagPeaks(p, n, 10, 40, out, 8);
    const O = a.f32view(out, 3 * c);
    assert.equal(Array.from(O.slice(0, 9)), [5, 20, 10, 4, -12, 15, 3, 30, 0]);
  });
});

test('harmonicMap adds each lag\'s 3x3-maximum second harmonic less the noise mean; -Infinity elsewhere', () => {
  const n = 64, ymax = 24, rmin = 5;
  const src = randomPlane(n * n);
  const m = n - 1;
  const at = (x, y) => src[((y + n) & m) * n + ((x + n) & m)];
  const max3 = (x, y) => { let b = -Infinity; for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) b = Math.max(b, at(x + dx, y + dy)); return b; };
  let sum = 0, count = 0;
  for (let y = 0; y <= ymax; y += 3) for (let x = -ymax; x <= ymax; x += 3) { sum += max3(x, y); count++; }
  const noise = sum / count;
  const want = new Float64Array(n * n).fill(-Infinity);
  const reach = ymax >> 1;
  for (let y = 0; y <= reach; y++) for (let x = -reach; x <= reach; x++) {
    if ((y === 0 && x <= 0) || Math.hypot(x, y) < rmin || Math.abs(2 * x) >= n / 2 - 1) continue;
    want[y * n + ((x + n) & m)] = at(x, y) + max3(2 * x, 2 * y) - noise;
  }
  withArena((a) => {
    const s = a.put(src), d = a.f32(n * n);
    const got = k.harmonicMap(s, n, ymax, rmin, d);
    assert.ok(Math.abs(got - noise) < 1e-6, `noise ${got} vs ${noise}`);
    const D = a.f32view(d, n * n);
    let finite = 0, diff = 0;
    for (let i = 0; i < n * n; i++) {
      if (want[i] === -Infinity) { assert.is(D[i], -Infinity, `index ${i} should be -Infinity`); continue; }
      finite++;
      diff = Math.max(diff, Math.abs(D[i] - want[i]));
    }
    assert.ok(finite > 100 && diff < 1e-5, `${finite} lags, max difference ${diff}`);
    // a planted period with its harmonic becomes the map's strongest peak
    const P = a.f32view(s, n * n);
    P[6 * n + 9] += 10; // lag (9, 6)
    P[12 * n + 18] += 10; // lag (18, 12)
    k.harmonicMap(s, n, ymax, rmin, d);
    const out = a.f32(3);
    assert.is(k.lagPeaks(d, n, rmin, ymax, out, 1), 1);
    assert.equal(Array.from(a.f32view(out, 3)).slice(1), [9, 6]);
  });
});

test('tileOnGrid reads a folded tile on each of the eight lattice symmetries, cyclically', () => {
  const p = 8, src = randomPlane(p * p);
  const symmetries = [[1, 0, 0, 1], [0, -1, 1, 0], [-1, 0, 0, -1], [0, 1, -1, 0], [-1, 0, 0, 1], [1, 0, 0, -1], [0, 1, 1, 0], [0, -1, -1, 0]];
  withArena((a) => {
    const s = a.put(src), d = a.f32(p * p);
    for (const [da, db, dc, dd] of symmetries) {
      for (const [tx, ty] of [[0, 0], [3, 5], [7, 1]]) {
        k.tileOnGrid(s, p, da, db, dc, dd, tx, ty, d);
        const D = a.f32view(d, p * p);
        for (let gy = 0; gy < p; gy++) for (let gx = 0; gx < p; gx++) {
          const x = (((tx + da * gx + db * gy) % p) + p) % p, y = (((ty + dc * gx + dd * gy) % p) + p) % p;
          assert.is(D[gy * p + gx], src[y * p + x], `D ${[da, db, dc, dd]} t ${[tx, ty]} g ${[gx, gy]}`);
        }
      }
    }
  });
});

test.run();
