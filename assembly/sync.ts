// Kernels for blind geometric synchronisation: a whitening filter that turns the luma frame into
// an estimate of the (noise-like) watermark, an affine bilinear resampler, and a spatial fold.

import { unpackLo, unpackHi, lo64, hi64, laneSums, ROUND_MAGIC, ROUND_MAGIC_BITS } from "./simd";

/** Box mean of radius r (window 2r + 1, shrunk at the edges) of an f32 plane. tmp: w * h floats. */
export function boxBlur(src: usize, w: i32, h: i32, r: i32, dst: usize, tmp: usize): void {
  // horizontal running sums
  for (let y = 0; y < h; y++) {
    const s = src + (<usize>(y * w) << 2), d = tmp + (<usize>(y * w) << 2);
    let acc: f32 = 0;
    let lo = 0, hi = -1;
    for (let x = 0; x < w; x++) {
      const want = x + r < w - 1 ? x + r : w - 1;
      while (hi < want) { hi++; acc += load<f32>(s + (<usize>hi << 2)); }
      const from = x - r > 0 ? x - r : 0;
      while (lo < from) { acc -= load<f32>(s + (<usize>lo << 2)); lo++; }
      store<f32>(d + (<usize>x << 2), acc / <f32>(hi - lo + 1));
    }
  }
  // vertical: each output row is the mean of input rows [y - r, y + r], four columns per lane
  for (let y = 0; y < h; y++) {
    const y0 = y - r > 0 ? y - r : 0, y1 = y + r < h - 1 ? y + r : h - 1;
    const inv = f32x4.splat(1 / <f32>(y1 - y0 + 1));
    const d = dst + (<usize>(y * w) << 2);
    let x = 0;
    for (; x + 4 <= w; x += 4) {
      let acc = f32x4.splat(0);
      for (let yy = y0; yy <= y1; yy++) acc = f32x4.add(acc, v128.load(tmp + (<usize>(yy * w + x) << 2)));
      v128.store(d + (<usize>x << 2), f32x4.mul(acc, inv));
    }
    for (; x < w; x++) {
      let acc: f32 = 0;
      for (let yy = y0; yy <= y1; yy++) acc += load<f32>(tmp + (<usize>(yy * w + x) << 2));
      store<f32>(d + (<usize>x << 2), acc / <f32>(y1 - y0 + 1));
    }
  }
}

// Whitened values are clipped to +-CLIP local standard deviations, so that a few strong edges
// (the borders a rotation adds, text) cannot dominate the autocorrelation.
// @ts-ignore: decorator
@inline const CLIP: f32 = 2.5;

/**
 * Whitened detail of a plane: e = y - mean_r1(y), then e / sqrt(mean_r2(e^2) + c), clipped to
 * +-CLIP. Smooth content and the local contrast are removed, leaving a noise-like plane in which
 * a repeated watermark tile shows up as autocorrelation peaks. tmp: 3 * w * h floats.
 */
export function whiten(src: usize, w: i32, h: i32, r1: i32, r2: i32, c: f32, dst: usize, tmp: usize): void {
  const n = w * h;
  const a = tmp, b = tmp + (<usize>n << 2), t = tmp + (<usize>(2 * n) << 2);
  boxBlur(src, w, h, r1, a, t);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const e = f32x4.sub(v128.load(src + o), v128.load(a + o));
    v128.store(a + o, e);
    v128.store(b + o, f32x4.mul(e, e));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const e = load<f32>(src + o) - load<f32>(a + o);
    store<f32>(a + o, e);
    store<f32>(b + o, e * e);
  }
  boxBlur(b, w, h, r2, dst, t);
  const cv = f32x4.splat(c);
  const hi = f32x4.splat(CLIP), lo = f32x4.splat(-CLIP);
  i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const e = f32x4.div(v128.load(a + o), f32x4.sqrt(f32x4.add(v128.load(dst + o), cv)));
    v128.store(dst + o, f32x4.max(lo, f32x4.min(hi, e)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const e = load<f32>(a + o) / Mathf.sqrt(load<f32>(dst + o) + c);
    store<f32>(dst + o, e > CLIP ? CLIP : e < -CLIP ? -CLIP : e);
  }
}

/** src sampled bilinearly at (sx, sy), inside [0, sw - 1] x [0, sh - 1]. */
// @ts-ignore: decorator
@inline function bilinearAt(src: usize, sw: i32, sh: i32, sx: f32, sy: f32): f32 {
  const x0 = <i32>sx, y0 = <i32>sy;
  const fx = sx - <f32>x0, fy = sy - <f32>y0;
  const x1 = x0 + 1 < sw ? x0 + 1 : x0, y1 = y0 + 1 < sh ? y0 + 1 : y0;
  const r0 = src + (<usize>(y0 * sw) << 2), r1 = src + (<usize>(y1 * sw) << 2);
  const a = load<f32>(r0 + (<usize>x0 << 2)), b = load<f32>(r0 + (<usize>x1 << 2));
  const c = load<f32>(r1 + (<usize>x0 << 2)), e = load<f32>(r1 + (<usize>x1 << 2));
  const top = a + fx * (b - a), bot = c + fx * (e - c);
  return top + fy * (bot - top);
}

// Catmull-Rom weights of the four taps around a sample at fraction t past tap 1.
// @ts-ignore: decorator
@inline function cr0(t: f32): f32 { return 0.5 * t * (t * (2 - t) - 1); }
// @ts-ignore: decorator
@inline function cr1(t: f32): f32 { return 0.5 * (t * t * (3 * t - 5) + 2); }
// @ts-ignore: decorator
@inline function cr2(t: f32): f32 { return 0.5 * t * (t * (4 - 3 * t) + 1); }
// @ts-ignore: decorator
@inline function cr3(t: f32): f32 { return 0.5 * t * t * (t - 1); }

// @ts-ignore: decorator
@inline function tap(row: usize, x: i32, w: i32): f32 {
  return load<f32>(row + (<usize>(x < 0 ? 0 : x >= w ? w - 1 : x) << 2));
}

/** src sampled with Catmull-Rom weights at (sx, sy), inside the plane; edge taps clamped. */
// @ts-ignore: decorator
@inline function cubicAt(src: usize, sw: i32, sh: i32, sx: f32, sy: f32): f32 {
  const x0 = <i32>sx, y0 = <i32>sy;
  const fx = sx - <f32>x0, fy = sy - <f32>y0;
  const wx0 = cr0(fx), wx1 = cr1(fx), wx2 = cr2(fx), wx3 = cr3(fx);
  if (x0 >= 1 && y0 >= 1 && x0 + 2 < sw && y0 + 2 < sh) {
    // Interior: the four taps of a row are one v128 load.
    const p = src + (<usize>((y0 - 1) * sw + x0 - 1) << 2), stride = <usize>sw << 2;
    let r = f32x4.mul(v128.load(p), f32x4.splat(cr0(fy)));
    r = f32x4.add(r, f32x4.mul(v128.load(p + stride), f32x4.splat(cr1(fy))));
    r = f32x4.add(r, f32x4.mul(v128.load(p + 2 * stride), f32x4.splat(cr2(fy))));
    r = f32x4.add(r, f32x4.mul(v128.load(p + 3 * stride), f32x4.splat(cr3(fy))));
    r = f32x4.mul(r, f32x4(wx0, wx1, wx2, wx3));
    return f32x4.extract_lane(r, 0) + f32x4.extract_lane(r, 1) + f32x4.extract_lane(r, 2) + f32x4.extract_lane(r, 3);
  }
  let acc: f32 = 0;
  for (let j = -1; j <= 2; j++) {
    let yy = y0 + j;
    yy = yy < 0 ? 0 : yy >= sh ? sh - 1 : yy;
    const row = src + (<usize>(yy * sw) << 2);
    const h = wx0 * tap(row, x0 - 1, sw) + wx1 * tap(row, x0, sw) + wx2 * tap(row, x0 + 1, sw) + wx3 * tap(row, x0 + 2, sw);
    const wy = j == -1 ? cr0(fy) : j == 0 ? cr1(fy) : j == 1 ? cr2(fy) : cr3(fy);
    acc += wy * h;
  }
  return acc;
}

/**
 * dst(x, y) = src sampled bilinearly at (m00 x + m01 y + tx, m10 x + m11 y + ty), pixel centres
 * at integer coordinates; 0 outside src. Returns the number of destination pixels inside.
 */
export function affineSample(src: usize, sw: i32, sh: i32, dst: usize, dw: i32, dh: i32,
  m00: f32, m01: f32, m10: f32, m11: f32, tx: f32, ty: f32): i32 {
  let inside = 0;
  const maxx = <f32>(sw - 1), maxy = <f32>(sh - 1);
  for (let y = 0; y < dh; y++) {
    let sx = m01 * <f32>y + tx, sy = m11 * <f32>y + ty;
    const d = dst + (<usize>(y * dw) << 2);
    for (let x = 0; x < dw; x++) {
      let v: f32 = 0;
      if (sx >= 0 && sy >= 0 && sx <= maxx && sy <= maxy) {
        v = bilinearAt(src, sw, sh, sx, sy);
        inside++;
      }
      store<f32>(d + (<usize>x << 2), v);
      sx += m00; sy += m10;
    }
  }
  return inside;
}

/** One output of affineSampleCubic by the scalar path, written at d; 1 when it lies inside. */
// @ts-ignore: decorator
@inline function cubicOne(src: usize, sw: i32, sh: i32, sx: f32, sy: f32, d: usize): i32 {
  if (sx >= 0 && sy >= 0 && sx <= <f32>(sw - 1) && sy <= <f32>(sh - 1)) {
    store<f32>(d, cubicAt(src, sw, sh, sx, sy));
    return 1;
  }
  store<f32>(d, 0);
  return 0;
}

/**
 * As affineSample, with Catmull-Rom (Keys a = -0.5) cubic interpolation, edges clamped: it keeps
 * the mark's upper band (a quarter cycle per pixel) at about 0.9 of its amplitude where the
 * bilinear kernel keeps about 0.7 (half-pixel offsets). Source positions are m00 x + base per
 * row (no running sum, so no drift along a row). Four outputs whose 4 x 4 taps all lie inside
 * go together: positions and weights as f32x4, each output's four tap rows combined with its
 * lane of the vertical weights, one transpose for the horizontal weights and one for the sums.
 */
export function affineSampleCubic(src: usize, sw: i32, sh: i32, dst: usize, dw: i32, dh: i32,
  m00: f32, m01: f32, m10: f32, m11: f32, tx: f32, ty: f32): i32 {
  return sampleCubic(src, 0, sw, sh, dst, 0, dw, dh, m00, m01, m10, m11, tx, ty, false);
}

/**
 * affineSampleCubic of two planes of the same size under the same map (a colour image's luma
 * and Cb frames, read on every grid of the search) in one pass: positions, weights and their
 * transposes made once for both. Each output is the one-plane kernel's, bit for bit.
 */
export function affineSampleCubic2(src: usize, src2: usize, sw: i32, sh: i32, dst: usize, dst2: usize, dw: i32, dh: i32,
  m00: f32, m01: f32, m10: f32, m11: f32, tx: f32, ty: f32): i32 {
  return sampleCubic(src, src2, sw, sh, dst, dst2, dw, dh, m00, m01, m10, m11, tx, ty, true);
}

/** The cubic sampler of one plane or (`two`, a constant at each use) two. */
// @ts-ignore: decorator
@inline function sampleCubic(src: usize, src2: usize, sw: i32, sh: i32, dst: usize, dst2: usize, dw: i32, dh: i32,
  m00: f32, m01: f32, m10: f32, m11: f32, tx: f32, ty: f32, two: bool): i32 {
  let inside = 0;
  const stride = <usize>sw << 2;
  const lanes = f32x4(0, 1, 2, 3);
  const v00 = f32x4.splat(m00), v10 = f32x4.splat(m10);
  // Four outputs whose 4 x 4 taps all lie inside the plane take the vector path.
  const xlo = f32x4.splat(1), xhi = f32x4.splat(<f32>(sw - 2)), ylo = f32x4.splat(1), yhi = f32x4.splat(<f32>(sh - 2));
  const magic = f32x4.splat(ROUND_MAGIC), magicBits = i32x4.splat(ROUND_MAGIC_BITS);
  const swv = i32x4.splat(sw), one = i32x4.splat(1);
  for (let y = 0; y < dh; y++) {
    const bx = m01 * <f32>y + tx, by = m11 * <f32>y + ty;
    const row = <usize>(y * dw) << 2;
    const d = dst + row;
    let x = 0;
    for (; x + 4 <= dw; x += 4) {
      const xv = f32x4.add(f32x4.splat(<f32>x), lanes);
      const sxv = f32x4.add(f32x4.mul(xv, v00), f32x4.splat(bx));
      const syv = f32x4.add(f32x4.mul(xv, v10), f32x4.splat(by));
      const ok = v128.and(v128.and(f32x4.ge(sxv, xlo), f32x4.lt(sxv, xhi)), v128.and(f32x4.ge(syv, ylo), f32x4.lt(syv, yhi)));
      if (!i32x4.all_true(ok)) {
        for (let k = x; k < x + 4; k++) {
          const sx = m00 * <f32>k + bx, sy = m10 * <f32>k + by;
          inside += cubicOne(src, sw, sh, sx, sy, d + (<usize>k << 2));
          if (two) cubicOne(src2, sw, sh, sx, sy, dst2 + row + (<usize>k << 2));
        }
        continue;
      }
      inside += 4;
      const flx = f32x4.floor(sxv), fly = f32x4.floor(syv);
      const fx = f32x4.sub(sxv, flx), fy = f32x4.sub(syv, fly);
      // Integer parts (< 2^22) from the mantissa bits of floor + ROUND_MAGIC.
      const x0 = i32x4.sub(f32x4.add(flx, magic), magicBits), y0 = i32x4.sub(f32x4.add(fly, magic), magicBits);
      const idx = i32x4.shl(i32x4.add(i32x4.mul(i32x4.sub(y0, one), swv), i32x4.sub(x0, one)), 2);
      const wx0 = cr0v(fx), wx1 = cr1v(fx), wx2 = cr2v(fx), wx3 = cr3v(fx);
      const wy0 = cr0v(fy), wy1 = cr1v(fy), wy2 = cr2v(fy), wy3 = cr3v(fy);
      // Per output k: the horizontal weights as one vector (a transpose of wx0..wx3).
      const a01 = unpackLo(wx0, wx1), a23 = unpackLo(wx2, wx3), b01 = unpackHi(wx0, wx1), b23 = unpackHi(wx2, wx3);
      const h0 = lo64(a01, a23), h1 = hi64(a01, a23), h2 = lo64(b01, b23), h3 = hi64(b01, b23);
      const i0 = <usize>i32x4.extract_lane(idx, 0), i1 = <usize>i32x4.extract_lane(idx, 1);
      const i2 = <usize>i32x4.extract_lane(idx, 2), i3 = <usize>i32x4.extract_lane(idx, 3);
      const r0 = f32x4.mul(rowsAt(src + i0, stride, wy0, wy1, wy2, wy3, 0), h0);
      const r1 = f32x4.mul(rowsAt(src + i1, stride, wy0, wy1, wy2, wy3, 1), h1);
      const r2 = f32x4.mul(rowsAt(src + i2, stride, wy0, wy1, wy2, wy3, 2), h2);
      const r3 = f32x4.mul(rowsAt(src + i3, stride, wy0, wy1, wy2, wy3, 3), h3);
      v128.store(d + (<usize>x << 2), laneSums(r0, r1, r2, r3));
      if (two) {
        const q0 = f32x4.mul(rowsAt(src2 + i0, stride, wy0, wy1, wy2, wy3, 0), h0);
        const q1 = f32x4.mul(rowsAt(src2 + i1, stride, wy0, wy1, wy2, wy3, 1), h1);
        const q2 = f32x4.mul(rowsAt(src2 + i2, stride, wy0, wy1, wy2, wy3, 2), h2);
        const q3 = f32x4.mul(rowsAt(src2 + i3, stride, wy0, wy1, wy2, wy3, 3), h3);
        v128.store(dst2 + row + (<usize>x << 2), laneSums(q0, q1, q2, q3));
      }
    }
    for (; x < dw; x++) {
      const sx = m00 * <f32>x + bx, sy = m10 * <f32>x + by;
      inside += cubicOne(src, sw, sh, sx, sy, d + (<usize>x << 2));
      if (two) cubicOne(src2, sw, sh, sx, sy, dst2 + row + (<usize>x << 2));
    }
  }
  return inside;
}

/** fillOutside's inside masks of one block, 16 v128 (static: no allocation in the kernel). */
const FILL_MASKS = memory.data(16 * 16, 16);

/**
 * Fill the outside pixels of the 8 x 8 blocks that straddle the edge of an affine resampling
 * (dst, dw x dh, as affineSampleCubic wrote it from a sw x sh source with this map: 0 outside)
 * with the mean of the block's inside pixels. A block cut by the edge of a crop or of a rotated
 * frame otherwise holds a step from the image to 0: its DCT coefficients, and through the 3 x 3
 * smoothing of the block statistics its neighbours' weights, take the step's energy. Blocks
 * wholly inside (all four corners: the inside region is convex) or wholly beyond one edge of
 * the source are left as they are. The inside test is the sampler's, in the same f32
 * arithmetic. Returns the number of blocks filled.
 */
export function fillOutside(dst: usize, dw: i32, dh: i32, sw: i32, sh: i32,
  m00: f32, m01: f32, m10: f32, m11: f32, tx: f32, ty: f32): i32 {
  const maxx = <f32>(sw - 1), maxy = <f32>(sh - 1);
  const lanes = f32x4(0, 1, 2, 3);
  const v00 = f32x4.splat(m00), v10 = f32x4.splat(m10);
  const zero = f32x4.splat(0), mx = f32x4.splat(maxx), my = f32x4.splat(maxy);
  let filled = 0;
  for (let by = 0; by + 8 <= dh; by += 8) {
    for (let bx = 0; bx + 8 <= dw; bx += 8) {
      // The block's corners in source coordinates: all inside, or all beyond one edge of the
      // source, settle the block without looking at its pixels.
      const x0 = <f32>bx, x1 = <f32>(bx + 7), r0 = <f32>by, r1 = <f32>(by + 7);
      const ax = m01 * r0 + tx, ay = m11 * r0 + ty, bxr = m01 * r1 + tx, byr = m11 * r1 + ty;
      const s0 = x0 * m00 + ax, s1 = x1 * m00 + ax, s2 = x0 * m00 + bxr, s3 = x1 * m00 + bxr;
      const t0 = x0 * m10 + ay, t1 = x1 * m10 + ay, t2 = x0 * m10 + byr, t3 = x1 * m10 + byr;
      const lo = min(min(s0, s1), min(s2, s3)), hi = max(max(s0, s1), max(s2, s3));
      const lt = min(min(t0, t1), min(t2, t3)), ht = max(max(t0, t1), max(t2, t3));
      if (lo >= 0 && hi <= maxx && lt >= 0 && ht <= maxy) continue;
      if (hi < 0 || lo > maxx || ht < 0 || lt > maxy) continue;
      // The inside masks of the block's 16 quarter rows, kept for the fill.
      let sum = f32x4.splat(0), cnt = i32x4.splat(0);
      for (let y = 0; y < 8; y++) {
        const rx = f32x4.splat(m01 * <f32>(by + y) + tx), ry = f32x4.splat(m11 * <f32>(by + y) + ty);
        const row = dst + (<usize>((by + y) * dw + bx) << 2);
        for (let h = 0; h < 8; h += 4) {
          const xv = f32x4.add(f32x4.splat(<f32>(bx + h)), lanes);
          const ok = insideV(f32x4.add(f32x4.mul(xv, v00), rx), f32x4.add(f32x4.mul(xv, v10), ry), zero, mx, my);
          v128.store(FILL_MASKS + (<usize>(2 * y + (h >> 2)) << 4), ok);
          sum = f32x4.add(sum, v128.and(v128.load(row + (<usize>h << 2)), ok));
          cnt = i32x4.sub(cnt, ok);
        }
      }
      const n = i32x4.extract_lane(cnt, 0) + i32x4.extract_lane(cnt, 1) + i32x4.extract_lane(cnt, 2) + i32x4.extract_lane(cnt, 3);
      if (n == 0 || n == 64) continue;
      const total = f32x4.extract_lane(sum, 0) + f32x4.extract_lane(sum, 1) + f32x4.extract_lane(sum, 2) + f32x4.extract_lane(sum, 3);
      const mean = f32x4.splat(total / <f32>n);
      for (let q = 0; q < 16; q++) {
        const p = dst + (<usize>((by + (q >> 1)) * dw + bx + ((q & 1) << 2)) << 2);
        v128.store(p, v128.bitselect(v128.load(p), mean, v128.load(FILL_MASKS + (<usize>q << 4))));
      }
      filled++;
    }
  }
  return filled;
}

/** Lane mask (all ones) of the source positions inside [0, mx] x [0, my]. */
// @ts-ignore: decorator
@inline function insideV(sx: v128, sy: v128, zero: v128, mx: v128, my: v128): v128 {
  return v128.and(v128.and(f32x4.ge(sx, zero), f32x4.le(sx, mx)), v128.and(f32x4.ge(sy, zero), f32x4.le(sy, my)));
}

// The Catmull-Rom weights above, four samples at a time.
// @ts-ignore: decorator
@inline function cr0v(t: v128): v128 {
  return f32x4.mul(f32x4.mul(f32x4.splat(0.5), t), f32x4.sub(f32x4.mul(t, f32x4.sub(f32x4.splat(2), t)), f32x4.splat(1)));
}
// @ts-ignore: decorator
@inline function cr1v(t: v128): v128 {
  return f32x4.mul(f32x4.splat(0.5), f32x4.add(f32x4.mul(f32x4.mul(t, t), f32x4.sub(f32x4.mul(f32x4.splat(3), t), f32x4.splat(5))), f32x4.splat(2)));
}
// @ts-ignore: decorator
@inline function cr2v(t: v128): v128 {
  return f32x4.mul(f32x4.mul(f32x4.splat(0.5), t), f32x4.add(f32x4.mul(t, f32x4.sub(f32x4.splat(4), f32x4.mul(f32x4.splat(3), t))), f32x4.splat(1)));
}
// @ts-ignore: decorator
@inline function cr3v(t: v128): v128 {
  return f32x4.mul(f32x4.mul(f32x4.mul(f32x4.splat(0.5), t), t), f32x4.sub(t, f32x4.splat(1)));
}

/**
 * The four rows of taps at p (stride apart) combined with the vertical weights of output k
 * (lane k of wy0..wy3): the four horizontal taps of that output, one per lane.
 */
// @ts-ignore: decorator
@inline function rowsAt(p: usize, stride: usize, wy0: v128, wy1: v128, wy2: v128, wy3: v128, k: i32): v128 {
  let r = f32x4.mul(v128.load(p), laneSplat(wy0, k));
  r = f32x4.add(r, f32x4.mul(v128.load(p + stride), laneSplat(wy1, k)));
  r = f32x4.add(r, f32x4.mul(v128.load(p + 2 * stride), laneSplat(wy2, k)));
  return f32x4.add(r, f32x4.mul(v128.load(p + 3 * stride), laneSplat(wy3, k)));
}

/** Lane k (a constant once inlined) of v in all four lanes. */
// @ts-ignore: decorator
@inline function laneSplat(v: v128, k: i32): v128 {
  return k == 0 ? v128.shuffle<i32>(v, v, 0, 0, 0, 0) : k == 1 ? v128.shuffle<i32>(v, v, 1, 1, 1, 1)
    : k == 2 ? v128.shuffle<i32>(v, v, 2, 2, 2, 2) : v128.shuffle<i32>(v, v, 3, 3, 3, 3);
}

/**
 * Fold a plane onto a px x py tile: dst[(y % py) * px + x % px] = sum (dst zeroed here). With
 * px = w it folds rows only (a py-row strip), with py = h columns only.
 */
export function foldSpatial(src: usize, w: i32, h: i32, px: i32, py: i32, dst: usize): void {
  memory.fill(dst, 0, <usize>(px * py) << 2);
  for (let y = 0; y < h; y++) {
    const d = dst + (<usize>((y % py) * px) << 2);
    const s = src + (<usize>(y * w) << 2);
    let x = 0;
    while (x < w) {
      const run = (w - x) < px ? w - x : px;
      let i = 0;
      for (; i + 4 <= run; i += 4) {
        const o = <usize>i << 2;
        v128.store(d + o, f32x4.add(v128.load(d + o), v128.load(s + (<usize>(x + i) << 2))));
      }
      for (; i < run; i++) store<f32>(d + (<usize>i << 2), load<f32>(d + (<usize>i << 2)) + load<f32>(s + (<usize>(x + i) << 2)));
      x += run;
    }
  }
}

/**
 * Resample a plane of w-float rows (w a multiple of 4) along its rows with Catmull-Rom weights
 * and fold the result onto p rows: output row u (0 <= u < n) is src sampled at row position
 * u * step (edge taps clamped; rows past the last source row are left out), added into
 * dst row u % p (dst, p x w, zeroed here). Each output row is four whole source rows weighted,
 * all in v128 lanes: the aspect search (src/sync.ts) resamples a folded strip this way once per
 * candidate, 64 floats a row.
 */
export function foldResampledRows(src: usize, w: i32, sh: i32, step: f32, n: i32, p: i32, dst: usize): void {
  const rowBytes = <usize>w << 2;
  memory.fill(dst, 0, <usize>p * rowBytes);
  const last = <f32>(sh - 1);
  for (let u = 0; u < n; u++) {
    const pos = <f32>u * step;
    if (pos > last) break;
    const y0 = <i32>pos, t = pos - <f32>y0;
    const w0 = f32x4.splat(cr0(t)), w1 = f32x4.splat(cr1(t)), w2 = f32x4.splat(cr2(t)), w3 = f32x4.splat(cr3(t));
    const r0 = src + <usize>(y0 < 1 ? 0 : y0 - 1) * rowBytes, r1 = src + <usize>y0 * rowBytes;
    const r2 = src + <usize>(y0 + 1 < sh ? y0 + 1 : sh - 1) * rowBytes, r3 = src + <usize>(y0 + 2 < sh ? y0 + 2 : sh - 1) * rowBytes;
    const d = dst + <usize>(u % p) * rowBytes;
    for (let x: usize = 0; x < rowBytes; x += 16) {
      let v = f32x4.mul(v128.load(r0 + x), w0);
      v = f32x4.add(v, f32x4.mul(v128.load(r1 + x), w1));
      v = f32x4.add(v, f32x4.mul(v128.load(r2 + x), w2));
      v = f32x4.add(v, f32x4.mul(v128.load(r3 + x), w3));
      v128.store(d + x, f32x4.add(v128.load(d + x), v));
    }
  }
}

/**
 * Spectral whitening of a power spectrum held in `re` (n x n, DC at 0): each bin is divided by
 * the mean power of its (2r + 1)^2 neighbourhood, and bins whose radial frequency (cycles per
 * pixel) lies outside [fmin, fmax] are zeroed; `im` is cleared. What survives is the fine line
 * structure a repeated tile leaves in the spectrum, not the image's smooth spectral envelope.
 * tmp: 2 * n * n floats.
 */
export function whitenSpectrum(re: usize, im: usize, n: i32, r: i32, fmin: f32, fmax: f32, tmp: usize): void {
  const s = tmp, t = tmp + (<usize>(n * n) << 2);
  boxBlur(re, n, n, r, s, t);
  const inv: f32 = 1 / <f32>n;
  for (let y = 0; y < n; y++) {
    const fy = <f32>(y < (n >> 1) ? y : y - n) * inv;
    for (let x = 0; x < n; x++) {
      const fx = <f32>(x < (n >> 1) ? x : x - n) * inv;
      const f = Mathf.sqrt(fx * fx + fy * fy);
      const o = <usize>(y * n + x) << 2;
      store<f32>(re + o, f >= fmin && f <= fmax ? load<f32>(re + o) / (load<f32>(s + o) + 1e-20) : 0);
    }
  }
  memory.fill(im, 0, <usize>(n * n) << 2);
}

/** The largest of the 3 x 3 values around lag (x, y) of an n x n wrapping plane (n a power of two). */
// @ts-ignore: decorator
@inline function max3(src: usize, n: i32, x: i32, y: i32): f32 {
  const m = n - 1;
  let best: f32 = -Infinity;
  for (let dy = -1; dy <= 1; dy++) {
    const row = src + (<usize>(((y + dy + n) & m) * n) << 2);
    for (let dx = -1; dx <= 1; dx++) best = Mathf.max(best, load<f32>(row + (<usize>((x + dx + n) & m) << 2)));
  }
  return best;
}

/**
 * The autocorrelation with each lag's second harmonic added: a tile period v is also a period at
 * 2v. src is an n x n autocorrelation (lag 0 at index 0, wrapping) whose rows 0 .. ymax + 1 and
 * n - 1 are computed. Returns `noise`, the mean of the 3 x 3 maximum over the lags
 * (x, y) = (-ymax .. ymax, 0 .. ymax) in steps of 3: what a lag's 3 x 3 maximum is without a
 * period there. Writes dst (n x n, wrapping like src) = src(v) + max3(src(2v)) - noise for every
 * lag v = (x, y) with 0 <= y <= ymax / 2, |x| <= ymax / 2, |v| >= rmin and 2v inside the
 * computed lags (|2x| < n / 2 - 1), and -Infinity everywhere else, ready for {@link lagPeaks}.
 */
export function harmonicMap(src: usize, n: i32, ymax: i32, rmin: f32, dst: usize): f32 {
  let sum: f64 = 0;
  let count = 0;
  for (let y = 0; y <= ymax; y += 3) {
    for (let x = -ymax; x <= ymax; x += 3) {
      sum += <f64>max3(src, n, x, y);
      count++;
    }
  }
  const noise = <f32>(sum / <f64>count);
  const all = <usize>(n * n);
  for (let i: usize = 0; i < all; i++) store<f32>(dst + (i << 2), -Infinity);
  const m = n - 1;
  const xlim = (n >> 1) - 1;
  const reach = ymax >> 1;
  for (let y = 0; y <= reach; y++) {
    for (let x = -reach; x <= reach; x++) {
      if (2 * x >= xlim || -2 * x >= xlim) continue;
      if ((y == 0 && x <= 0) || <f32>Mathf.sqrt(<f32>(x * x + y * y)) < rmin) continue;
      const o = <usize>(y * n + ((x + n) & m)) << 2;
      store<f32>(dst + o, load<f32>(src + o) + max3(src, n, 2 * x, 2 * y) - noise);
    }
  }
  return noise;
}

/**
 * A folded p x p tile put on the mark's grid in one lattice symmetry D = [[a, b], [c, d]] with
 * its origin at fold position (tx, ty): dst[g] = src[(t + D g) mod p] for g = (gx, gy).
 */
export function tileOnGrid(src: usize, p: i32, a: i32, b: i32, c: i32, d: i32, tx: i32, ty: i32, dst: usize): void {
  for (let gy = 0; gy < p; gy++) {
    for (let gx = 0; gx < p; gx++) {
      const x = (tx + a * gx + b * gy + 2 * p) % p, y = (ty + c * gx + d * gy + 2 * p) % p;
      store<f32>(dst + (<usize>(gy * p + gx) << 2), load<f32>(src + (<usize>(y * p + x) << 2)));
    }
  }
}

/**
 * The strongest local maxima (3x3) of an n x n autocorrelation (lag 0 at index 0, wrapping) with
 * lag length in [rmin, rmax] and lag y >= 0 (one of each symmetric pair), by value; n is a
 * power of two. Writes up
 * to `max` triples (value, lag x, lag y) as f32 to `out`; returns how many.
 */
export function lagPeaks(src: usize, n: i32, rmin: f32, rmax: f32, out: usize, max: i32): i32 {
  let count = 0;
  const lim = <i32>Mathf.ceil(rmax);
  for (let ly = 0; ly <= lim && ly < (n >> 1); ly++) {
    for (let lx = -lim; lx <= lim && lx < (n >> 1); lx++) {
      if (ly == 0 && lx <= 0) continue;
      const r = Mathf.sqrt(<f32>(lx * lx + ly * ly));
      if (r < rmin || r > rmax) continue;
      const m = n - 1;
      const v = load<f32>(src + (<usize>(ly * n + ((lx + n) & m)) << 2));
      let isMax = true;
      for (let dy = -1; dy <= 1 && isMax; dy++) {
        const row = src + (<usize>(((ly + dy + n) & m) * n) << 2);
        for (let dx = -1; dx <= 1; dx++) {
          if (dx == 0 && dy == 0) continue;
          if (load<f32>(row + (<usize>((lx + dx + n) & m) << 2)) > v) { isMax = false; break; }
        }
      }
      if (isMax) count = insertPeak(out, count, max, v, lx, ly);
    }
  }
  return count;
}

/**
 * Insert (v, x, y) into the list of `count` triples at out, kept sorted by v (largest first) and
 * at most `max` long; returns the new count.
 */
// @ts-ignore: decorator
@inline function insertPeak(out: usize, count: i32, max: i32, v: f32, x: i32, y: i32): i32 {
  let pos = count < max ? count : max;
  while (pos > 0 && load<f32>(out + (<usize>((pos - 1) * 3) << 2)) < v) {
    if (pos < max) {
      const d = out + (<usize>(pos * 3) << 2), sp = out + (<usize>((pos - 1) * 3) << 2);
      store<f32>(d, load<f32>(sp)); store<f32>(d, load<f32>(sp, 4), 4); store<f32>(d, load<f32>(sp, 8), 8);
    }
    pos--;
  }
  if (pos < max) {
    const d = out + (<usize>(pos * 3) << 2);
    store<f32>(d, v); store<f32>(d, <f32>x, 4); store<f32>(d, <f32>y, 8);
    if (count < max) count++;
  }
  return count;
}

/**
 * Lag (x, y) of a wrapping autocorrelation (n x n, n a power of two; rows 0 .. ceil(|y|) + 1
 * valid), bilinearly; negative y read at the mirror lag, A(-v) = A(v).
 */
// @ts-ignore: decorator
@inline function lagAt(src: usize, n: i32, x: f32, y: f32): f32 {
  if (y < 0) { x = -x; y = -y; }
  const fx0 = Mathf.floor(x), fy0 = Mathf.floor(y);
  const fx = x - fx0, fy = y - fy0;
  const m = n - 1;
  const x0 = <i32>fx0 & m, x1 = (<i32>fx0 + 1) & m, y0 = <i32>fy0;
  const r0 = src + (<usize>(y0 * n) << 2), r1 = r0 + (<usize>n << 2);
  const a = load<f32>(r0 + (<usize>x0 << 2)), b = load<f32>(r0 + (<usize>x1 << 2));
  const c = load<f32>(r1 + (<usize>x0 << 2)), d = load<f32>(r1 + (<usize>x1 << 2));
  return (a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy;
}

/** Lattice points of the comb's half-plane for one rotation: (x, y, |.|^2) at unit period, by radius. */
const combPoints = new StaticArray<f32>(3 * 2048);

/**
 * The lattice comb: for each square lattice of rotation th0 + i dth (radians) and period
 * p0 + j dp (frame pixels along x; the frame's y axis stretched by rho = sx / sy, its pixels' aspect),
 * the autocorrelation summed over every lattice point v != 0 of one half-plane with |v| <= lagMax,
 * divided by the square root of their number: out[i * np + j] (lags read bilinearly). A tile's
 * lattice shows at all its points at once, where the pair search looks at four. Per rotation the
 * points are listed once at unit period, sorted by radius, so each period reads them in order
 * until it passes lagMax; four periods go together in v128 lanes (positions, bilinear weights,
 * the lanes past their own radius masked off), only the sixteen taps are loaded one by one.
 */
export function latticeComb(src: usize, n: i32, lagMax: f32, rho: f32, th0: f32, dth: f32, nth: i32,
  p0: f32, dp: f32, np: i32, out: usize): void {
  const lag2 = lagMax * lagMax;
  const shrink = rho < 1 ? rho : <f32>1;
  let K = <i32>Mathf.ceil(lagMax / (p0 * shrink));
  if (K > 31) K = 31;
  for (let i = 0; i < nth; i++) {
    const th = th0 + <f32>i * dth;
    const c = Mathf.cos(th), s = Mathf.sin(th);
    // The half-plane's points at unit period, insertion-sorted by squared radius.
    let count = 0;
    for (let b = 0; b <= K; b++) {
      for (let a = -K; a <= K; a++) {
        if (b == 0 && a <= 0) continue;
        const x = <f32>a * c - <f32>b * s, y = rho * (<f32>a * s + <f32>b * c);
        const r2 = x * x + y * y;
        if (r2 * p0 * p0 > lag2) continue;
        let pos = count;
        while (pos > 0 && unchecked(combPoints[3 * (pos - 1) + 2]) > r2) {
          unchecked(combPoints[3 * pos] = combPoints[3 * (pos - 1)]);
          unchecked(combPoints[3 * pos + 1] = combPoints[3 * (pos - 1) + 1]);
          unchecked(combPoints[3 * pos + 2] = combPoints[3 * (pos - 1) + 2]);
          pos--;
        }
        unchecked(combPoints[3 * pos] = x);
        unchecked(combPoints[3 * pos + 1] = y);
        unchecked(combPoints[3 * pos + 2] = r2);
        count++;
      }
    }
    // Four periods at a time: positions, fractions and weights in lanes, the gathers scalar.
    let j = 0;
    for (; j + 4 <= np; j += 4) {
      const pv = f32x4.add(f32x4.splat(p0 + <f32>j * dp), f32x4.mul(f32x4(0, 1, 2, 3), f32x4.splat(dp)));
      const limv = f32x4.div(f32x4.splat(lag2), f32x4.mul(pv, pv));
      const lim0 = f32x4.extract_lane(limv, 0);
      let sumv = f32x4.splat(0), cntv = f32x4.splat(0);
      for (let m = 0; m < count; m++) {
        const r2 = unchecked(combPoints[3 * m + 2]);
        if (r2 > lim0) break;
        const inside = f32x4.le(f32x4.splat(r2), limv);
        sumv = f32x4.add(sumv, v128.and(lagAt4(src, n, f32x4.mul(pv, f32x4.splat(unchecked(combPoints[3 * m]))),
          f32x4.mul(pv, f32x4.splat(unchecked(combPoints[3 * m + 1])))), inside));
        cntv = f32x4.add(cntv, v128.and(f32x4.splat(1), inside));
      }
      const res = f32x4.div(sumv, f32x4.sqrt(f32x4.max(cntv, f32x4.splat(1))));
      v128.store(out + (<usize>(i * np + j) << 2), res);
    }
    for (; j < np; j++) {
      const p = p0 + <f32>j * dp;
      const lim = lag2 / (p * p);
      let sum: f32 = 0;
      let m = 0;
      for (; m < count; m++) {
        if (unchecked(combPoints[3 * m + 2]) > lim) break;
        sum += lagAt(src, n, p * unchecked(combPoints[3 * m]), p * unchecked(combPoints[3 * m + 1]));
      }
      store<f32>(out + (<usize>(i * np + j) << 2), m > 0 ? sum / Mathf.sqrt(<f32>m) : 0);
    }
  }
}

/** The floats at src + lane + off for the four byte offsets in the lanes of idx. */
// @ts-ignore: decorator
@inline function gather4(src: usize, idx: v128, off: usize): v128 {
  let r = f32x4.splat(load<f32>(src + <usize>i32x4.extract_lane(idx, 0) + off));
  r = f32x4.replace_lane(r, 1, load<f32>(src + <usize>i32x4.extract_lane(idx, 1) + off));
  r = f32x4.replace_lane(r, 2, load<f32>(src + <usize>i32x4.extract_lane(idx, 2) + off));
  return f32x4.replace_lane(r, 3, load<f32>(src + <usize>i32x4.extract_lane(idx, 3) + off));
}

/** lagAt for four lags at once (lanes of x and y). */
// @ts-ignore: decorator
@inline function lagAt4(src: usize, n: i32, x: v128, y: v128): v128 {
  // Negative y read at the mirror lag.
  const neg = f32x4.lt(y, f32x4.splat(0));
  x = v128.bitselect(f32x4.neg(x), x, neg);
  y = f32x4.abs(y);
  const fx0 = f32x4.floor(x), fy0 = f32x4.floor(y);
  const fx = f32x4.sub(x, fx0), fy = f32x4.sub(y, fy0);
  const mask = i32x4.splat(n - 1);
  const xi = v128.and(i32x4.trunc_sat_f32x4_s(fx0), mask), xi1 = v128.and(i32x4.add(xi, i32x4.splat(1)), mask);
  const row = i32x4.mul(i32x4.trunc_sat_f32x4_s(fy0), i32x4.splat(n));
  const i0 = i32x4.shl(i32x4.add(row, xi), 2), i1 = i32x4.shl(i32x4.add(row, xi1), 2);
  const down = <usize>n << 2;
  const a = gather4(src, i0, 0), b = gather4(src, i1, 0), c = gather4(src, i0, down), d = gather4(src, i1, down);
  const top = f32x4.add(a, f32x4.mul(f32x4.sub(b, a), fx)), bottom = f32x4.add(c, f32x4.mul(f32x4.sub(d, c), fx));
  return f32x4.add(top, f32x4.mul(f32x4.sub(bottom, top), fy));
}

/** Mean and standard deviation of n floats at src, into out[0] and out[1]. */
export function meanStd(src: usize, n: i32, out: usize): void {
  let sum: f64 = 0, sum2: f64 = 0;
  for (let i = 0; i < n; i++) {
    const v = <f64>load<f32>(src + (<usize>i << 2));
    sum += v;
    sum2 += v * v;
  }
  const mean = n > 0 ? sum / <f64>n : 0;
  store<f32>(out, <f32>mean);
  store<f32>(out, <f32>Math.sqrt(Math.max(0, n > 0 ? sum2 / <f64>n - mean * mean : 0)), 4);
}

/**
 * The `max` largest local maxima of a w x h plane whose rows wrap (each value at least its eight
 * neighbours; columns do not wrap), best first, as (value, column, row) triples in out. Returns
 * how many were found.
 */
export function gridPeaks(src: usize, w: i32, h: i32, out: usize, max: i32): i32 {
  let count = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = load<f32>(src + (<usize>(y * w + x) << 2));
      // Not above the list's last entry once it is full: no need to look around.
      if (count == max && (max == 0 || v <= load<f32>(out + (<usize>((max - 1) * 3) << 2)))) continue;
      let isMax = true;
      for (let dy = -1; dy <= 1 && isMax; dy++) {
        const row = src + (<usize>(((y + dy + h) % h) * w) << 2);
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if ((dx == 0 && dy == 0) || xx < 0 || xx >= w) continue;
          if (load<f32>(row + (<usize>xx << 2)) > v) { isMax = false; break; }
        }
      }
      if (isMax) count = insertPeak(out, count, max, v, x, y);
    }
  }
  return count;
}

/**
 * One of the eight right-angle orientations of a w x h plane into dst: 0 identity, 1 rotate 90
 * degrees clockwise, 2 rotate 180, 3 rotate 270, 4 mirror left-right, 5 mirror top-bottom,
 * 6 transpose, 7 anti-transpose. Odd rotations and the transposes give an h x w plane.
 */
export function orient(src: usize, w: i32, h: i32, op: i32, dst: usize): void {
  const swap = op == 1 || op == 3 || op == 6 || op == 7;
  const dw = swap ? h : w, dh = swap ? w : h;
  if ((w & 3) == 0 && (h & 3) == 0) {
    // Four floats a step: rows copied (reversed for the mirrors), or 4 x 4 blocks transposed
    // for the views that swap the axes (a source row is a destination column).
    const rev = v128(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
    if (!swap) {
      const flipY = op == 2 || op == 5, flipX = op == 2 || op == 4;
      for (let y = 0; y < h; y++) {
        const sr = src + (<usize>((flipY ? h - 1 - y : y) * w) << 2), d = dst + (<usize>(y * w) << 2);
        for (let x = 0; x < w; x += 4) {
          const v = v128.load(sr + (<usize>(flipX ? w - 4 - x : x) << 2));
          v128.store(d + (<usize>x << 2), flipX ? i8x16.swizzle(v, rev) : v);
        }
      }
      return;
    }
    // dst(x0 + i, y0 + j) = src(col, row): row h - 1 - x0 - i (ops 1, 7) or x0 + i (3, 6),
    // col y0 + j (1, 6) or w - 1 - y0 - j (3, 7, a reversed load).
    const flipRow = op == 1 || op == 7, flipCol = op == 3 || op == 7;
    const stride = <usize>w << 2;
    for (let x0 = 0; x0 < dw; x0 += 4) {
      const r0 = flipRow ? h - 1 - x0 : x0;
      const step: isize = flipRow ? -(<isize>stride) : <isize>stride;
      for (let y0 = 0; y0 < dh; y0 += 4) {
        const p = src + <usize>r0 * stride + (<usize>(flipCol ? w - 4 - y0 : y0) << 2);
        let a = v128.load(p), b = v128.load(p + step), c = v128.load(p + 2 * step), e = v128.load(p + 3 * step);
        if (flipCol) { a = i8x16.swizzle(a, rev); b = i8x16.swizzle(b, rev); c = i8x16.swizzle(c, rev); e = i8x16.swizzle(e, rev); }
        const ab0 = unpackLo(a, b), ce0 = unpackLo(c, e), ab1 = unpackHi(a, b), ce1 = unpackHi(c, e);
        const d = dst + (<usize>(y0 * dw + x0) << 2), ds = <usize>dw << 2;
        v128.store(d, lo64(ab0, ce0));
        v128.store(d + ds, hi64(ab0, ce0));
        v128.store(d + 2 * ds, lo64(ab1, ce1));
        v128.store(d + 3 * ds, hi64(ab1, ce1));
      }
    }
    return;
  }
  for (let y = 0; y < dh; y++) {
    const d = dst + (<usize>(y * dw) << 2);
    for (let x = 0; x < dw; x++) {
      let sx = x, sy = y;
      if (op == 1) { sx = y; sy = h - 1 - x; }
      else if (op == 2) { sx = w - 1 - x; sy = h - 1 - y; }
      else if (op == 3) { sx = w - 1 - y; sy = x; }
      else if (op == 4) { sx = w - 1 - x; }
      else if (op == 5) { sy = h - 1 - y; }
      else if (op == 6) { sx = y; sy = x; }
      else if (op == 7) { sx = w - 1 - y; sy = h - 1 - x; }
      store<f32>(d + (<usize>x << 2), load<f32>(src + (<usize>(sy * w + sx) << 2)));
    }
  }
}
