// Resampling of f32 planes, and the two fused passes the watermark uses on full-size pixels.
// Geometry: along an axis with scale s (input pixels per output pixel), output pixel o covers
// the input interval [o*s, (o+1)*s) (area) and its centre sits at input coordinate
// (o + 0.5) * s - 0.5 (bilinear, clamped to the edge).

import { loadRgb4, luma4, grey4, luma1 } from "./color";

/** dst[i] += w * src[i] for i < n (f32). */
// @ts-ignore: decorator
@inline function axpy(dst: usize, src: usize, w: f32, n: i32): void {
  const wv = f32x4.splat(w);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dst + o, f32x4.add(v128.load(dst + o), f32x4.mul(v128.load(src + o), wv)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dst + o, load<f32>(dst + o) + w * load<f32>(src + o));
  }
}

/** dst[i] *= w for i < n (f32). */
// @ts-ignore: decorator
@inline function scale(dst: usize, w: f32, n: i32): void {
  const wv = f32x4.splat(w);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dst + o, f32x4.mul(v128.load(dst + o), wv));
  }
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), load<f32>(dst + (<usize>i << 2)) * w);
}

/**
 * The table of a horizontal area pass from width sw to width dw: 5 * dw words, per output the
 * first input index, the input count, the weights of the first and last inputs (partial
 * coverage) and 1 / covered length.
 */
export function areaTable(sw: i32, dw: i32, sx: f64, tab: usize): void {
  for (let o = 0; o < dw; o++) {
    const a = <f64>o * sx;
    const b = Math.min(<f64>(o + 1) * sx, <f64>sw);
    const i0 = <i32>Math.floor(a);
    const i1 = <i32>Math.ceil(b);
    const t = tab + (<usize>(o * 5) << 2);
    store<i32>(t, i0);
    store<i32>(t, i1 - i0, 4);
    store<f32>(t, <f32>(Math.min(b, <f64>(i0 + 1)) - a), 8);
    store<f32>(t, <f32>(b - Math.max(a, <f64>(i1 - 1))), 12);
    store<f32>(t, b > a ? <f32>(1 / (b - a)) : 0, 16);
  }
}

/** Area-resample each of `rows` rows from width sw to width dw with an {@link areaTable}. */
export function areaApply(src: usize, sw: i32, rows: i32, dst: usize, dw: i32, tab: usize): void {
  for (let r = 0; r < rows; r++) {
    const s = src + (<usize>(r * sw) << 2);
    const d = dst + (<usize>(r * dw) << 2);
    for (let o = 0; o < dw; o++) {
      const t = tab + (<usize>(o * 5) << 2);
      const p = s + (<usize>load<i32>(t) << 2);
      const n = load<i32>(t, 4);
      let acc: f32;
      if (n <= 0) {
        acc = 0; // output entirely beyond the input
      } else if (n == 1) {
        acc = load<f32>(p) * load<f32>(t, 8); // one input: first == last == b - a
      } else {
        acc = load<f32>(p) * load<f32>(t, 8) + load<f32>(p + (<usize>(n - 1) << 2)) * load<f32>(t, 12);
        for (let i = 1; i < n - 1; i++) acc += load<f32>(p + (<usize>i << 2));
      }
      store<f32>(d + (<usize>o << 2), acc * load<f32>(t, 16));
    }
  }
}

/**
 * Area-resample each of `rows` rows from width sw to width dw (horizontal pass). `tab` holds
 * the 5 * dw words of an {@link areaTable}.
 */
function areaRows(src: usize, sw: i32, rows: i32, dst: usize, dw: i32, sx: f64, tab: usize): void {
  areaTable(sw, dw, sx, tab);
  areaApply(src, sw, rows, dst, dw, tab);
}

/**
 * Area (box) resampling of a plane, up or down. `tmp` holds dh * sw floats.
 * sx, sy: input pixels per output pixel. `tmp` holds dh * sw + 5 * dw floats.
 */
export function areaResize(src: usize, sw: i32, sh: i32, dst: usize, dw: i32, dh: i32, sx: f64, sy: f64, tmp: usize): void {
  for (let o = 0; o < dh; o++) {
    const d = tmp + (<usize>(o * sw) << 2);
    memory.fill(d, 0, <usize>sw << 2);
    const a = <f64>o * sy;
    const b = Math.min(<f64>(o + 1) * sy, <f64>sh);
    const i0 = <i32>Math.floor(a);
    const i1 = <i32>Math.ceil(b);
    for (let i = i0; i < i1; i++) {
      const w = <f32>((Math.min(b, <f64>(i + 1)) - Math.max(a, <f64>i)) / (b - a));
      axpy(d, src + (<usize>(i * sw) << 2), w, sw);
    }
  }
  areaRows(tmp, sw, dh, dst, dw, sx, tmp + (<usize>(dh * sw) << 2));
}

/** Luma of four pixels at x of a row (ch 1, 3 or 4). */
// @ts-ignore: decorator
@inline function luma4At(p: usize, x: i32, ch: i32): v128 {
  return ch == 1 ? grey4(p + <usize>x) : luma4(loadRgb4(p + <usize>(x * ch), ch));
}

/**
 * Fused luma + area downscale (s >= 1 on both axes): pixels (w x h, ch channels) to the f32
 * plane dst (dw x dh) in one read of the pixels: each pixel row's luma is accumulated straight
 * into the one or two frame rows it overlaps. `tmp` holds (dh + 1) * w + dh + 1 + 5 * dw floats.
 * Equivalent to rgbToY followed by areaResize.
 */
export function lumaArea(src: usize, w: i32, h: i32, ch: i32, dst: usize, dw: i32, dh: i32, sx: f64, sy: f64, tmp: usize): void {
  const rows = tmp;
  const cov = rows + (<usize>((dh + 1) * w) << 2);
  const tab = cov + (<usize>(dh + 1) << 2);
  memory.fill(rows, 0, <usize>((dh + 1) * w) << 2);
  memory.fill(cov, 0, <usize>(dh + 1) << 2);
  const inv = 1.0 / sy;
  const stride = <usize>(w * ch);
  const w4 = w & ~3;
  for (let i = 0; i < h; i++) {
    const a = <f64>i * inv;
    const o = <i32>Math.floor(a);
    if (o >= dh) break;
    const b = <f64>(i + 1) * inv;
    const p = src + <usize>i * stride;
    const r0 = rows + (<usize>(o * w) << 2);
    const w0 = <f32>(Math.min(b, <f64>(o + 1)) - a);
    store<f32>(cov + (<usize>o << 2), load<f32>(cov + (<usize>o << 2)) + w0);
    const v0 = f32x4.splat(w0);
    if (b > <f64>(o + 1) && o + 1 < dh) {
      const w1 = <f32>(b - <f64>(o + 1));
      store<f32>(cov + (<usize>(o + 1) << 2), load<f32>(cov + (<usize>(o + 1) << 2)) + w1);
      const v1 = f32x4.splat(w1);
      const r1 = r0 + (<usize>w << 2);
      for (let x = 0; x < w4; x += 4) {
        const y = luma4At(p, x, ch);
        const q = <usize>x << 2;
        v128.store(r0 + q, f32x4.add(v128.load(r0 + q), f32x4.mul(y, v0)));
        v128.store(r1 + q, f32x4.add(v128.load(r1 + q), f32x4.mul(y, v1)));
      }
      for (let x = w4; x < w; x++) {
        const y = luma1(p + <usize>(x * ch), ch);
        const q = <usize>x << 2;
        store<f32>(r0 + q, load<f32>(r0 + q) + w0 * y);
        store<f32>(r1 + q, load<f32>(r1 + q) + w1 * y);
      }
    } else {
      for (let x = 0; x < w4; x += 4) {
        const q = <usize>x << 2;
        v128.store(r0 + q, f32x4.add(v128.load(r0 + q), f32x4.mul(luma4At(p, x, ch), v0)));
      }
      for (let x = w4; x < w; x++) {
        const q = <usize>x << 2;
        store<f32>(r0 + q, load<f32>(r0 + q) + w0 * luma1(p + <usize>(x * ch), ch));
      }
    }
  }
  for (let o = 0; o < dh; o++) {
    const c = load<f32>(cov + (<usize>o << 2));
    if (c > 0) scale(rows + (<usize>(o * w) << 2), 1 / c, w);
  }
  areaRows(rows, w, dh, dst, dw, sx, tab);
}

/** Bilinear source position table for n outputs: index i32 at tab[o], weight f32 at tab[n + o]. */
export function bilinearTable(n: i32, sn: i32, s: f64, tab: usize): void {
  for (let o = 0; o < n; o++) {
    let f = (<f64>o + 0.5) * s - 0.5;
    if (f < 0) f = 0;
    const top = <f64>(sn - 1);
    if (f > top) f = top;
    const i = <i32>Math.floor(f);
    store<i32>(tab + (<usize>o << 2), i);
    store<f32>(tab + (<usize>(n + o) << 2), <f32>(f - <f64>i));
  }
}

/** Horizontal bilinear pass: rows x sw -> rows x dw, using a bilinearTable for dw. */
export function bilinearRows(src: usize, sw: i32, rows: i32, dst: usize, dw: i32, tab: usize): void {
  for (let r = 0; r < rows; r++) {
    const s = src + (<usize>(r * sw) << 2);
    const d = dst + (<usize>(r * dw) << 2);
    for (let o = 0; o < dw; o++) {
      const i = load<i32>(tab + (<usize>o << 2));
      const t = load<f32>(tab + (<usize>(dw + o) << 2));
      const j = i + 1 < sw ? i + 1 : i;
      const v0 = load<f32>(s + (<usize>i << 2));
      store<f32>(d + (<usize>o << 2), v0 + t * (load<f32>(s + (<usize>j << 2)) - v0));
    }
  }
}

/**
 * Horizontal bilinear pass for upsampling, four outputs per step: the four outputs' two source
 * samples all lie in one 4-float window of the row, picked out with byte swizzles. `tab` is a
 * bilinearTable for dw; `blk` receives 16 words per block of four outputs (window start, or -1
 * where the window does not cover them, then the two swizzle masks and the weights). Needs
 * sw >= 4; blocks that do not fit (downsampling) take the scalar path.
 */
export function bilinearRowsSimd(src: usize, sw: i32, rows: i32, dst: usize, dw: i32, tab: usize, blk: usize): void {
  const nb = dw >> 2;
  for (let b = 0; b < nb; b++) {
    const o = b << 2;
    let i0 = load<i32>(tab + (<usize>o << 2));
    if (i0 + 4 > sw) i0 = sw - 4;
    const e = blk + (<usize>b << 6);
    let ok = true;
    for (let k = 0; k < 4; k++) {
      const i = load<i32>(tab + (<usize>(o + k) << 2));
      const j = i + 1 < sw ? i + 1 : i;
      const ia = i - i0, ib = j - i0;
      if (ia < 0 || ib > 3) ok = false;
      for (let c = 0; c < 4; c++) {
        store<u8>(e + <usize>(16 + k * 4 + c), <u8>((ia & 3) * 4 + c));
        store<u8>(e + <usize>(32 + k * 4 + c), <u8>((ib & 3) * 4 + c));
      }
      store<f32>(e + <usize>(48 + k * 4), load<f32>(tab + (<usize>(dw + o + k) << 2)));
    }
    store<i32>(e, ok ? i0 : -1);
  }
  for (let r = 0; r < rows; r++) {
    const s = src + (<usize>(r * sw) << 2);
    const d = dst + (<usize>(r * dw) << 2);
    for (let b = 0; b < nb; b++) {
      const e = blk + (<usize>b << 6);
      const i0 = load<i32>(e);
      if (i0 >= 0) {
        const v = v128.load(s + (<usize>i0 << 2));
        const a = i8x16.swizzle(v, v128.load(e, 16));
        const c = i8x16.swizzle(v, v128.load(e, 32));
        v128.store(d + (<usize>b << 4), f32x4.add(a, f32x4.mul(v128.load(e, 48), f32x4.sub(c, a))));
      } else {
        for (let o = b << 2; o < (b << 2) + 4; o++) bilinearOne(s, sw, d, dw, tab, o);
      }
    }
    for (let o = nb << 2; o < dw; o++) bilinearOne(s, sw, d, dw, tab, o);
  }
}

/** One output of the horizontal bilinear pass (see bilinearRows). */
// @ts-ignore: decorator
@inline function bilinearOne(s: usize, sw: i32, d: usize, dw: i32, tab: usize, o: i32): void {
  const i = load<i32>(tab + (<usize>o << 2));
  const t = load<f32>(tab + (<usize>(dw + o) << 2));
  const j = i + 1 < sw ? i + 1 : i;
  const v0 = load<f32>(s + (<usize>i << 2));
  store<f32>(d + (<usize>o << 2), v0 + t * (load<f32>(s + (<usize>j << 2)) - v0));
}

/** out[i] = a[i] + t * (b[i] - a[i]) for n floats. */
// @ts-ignore: decorator
@inline function lerpRow(a: usize, b: usize, t: f32, out: usize, n: i32): void {
  const tv = f32x4.splat(t);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const va = v128.load(a + o);
    v128.store(out + o, f32x4.add(va, f32x4.mul(tv, f32x4.sub(v128.load(b + o), va))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const va = load<f32>(a + o);
    store<f32>(out + o, va + t * (load<f32>(b + o) - va));
  }
}

/**
 * Bilinear resampling of a plane (pixel centres aligned, edges clamped).
 * `tmp` holds sh * dw + 2 * (dw + dh) floats.
 */
export function bilinearResize(src: usize, sw: i32, sh: i32, dst: usize, dw: i32, dh: i32, sx: f64, sy: f64, tmp: usize): void {
  const xt = tmp;
  const yt = xt + (<usize>(2 * dw) << 2);
  const rows = yt + (<usize>(2 * dh) << 2);
  bilinearTable(dw, sw, sx, xt);
  bilinearTable(dh, sh, sy, yt);
  bilinearRows(src, sw, sh, rows, dw, xt);
  for (let o = 0; o < dh; o++) {
    const i = load<i32>(yt + (<usize>o << 2));
    const t = load<f32>(yt + (<usize>(dh + o) << 2));
    const j = i + 1 < sh ? i + 1 : i;
    lerpRow(rows + (<usize>(i * dw) << 2), rows + (<usize>(j * dw) << 2), t, dst + (<usize>(o * dw) << 2), dw);
  }
}

/** Four floats at x of the rows a and b, interpolated: a + t (b - a). */
// @ts-ignore: decorator
@inline export function lerp4(a: usize, b: usize, t: v128, x: i32): v128 {
  const o = <usize>x << 2;
  const va = v128.load(a + o);
  return f32x4.add(va, f32x4.mul(t, f32x4.sub(v128.load(b + o), va)));
}

/** 1.5 * 2^23: adding it to |x| < 2^22 leaves round-half-even(x) in the low mantissa bits. */
// @ts-ignore: decorator
@inline const ROUND_MAGIC: f32 = 12582912.0;

/** The largest change addLuma makes to a sample: its deltas are signed bytes. */
// @ts-ignore: decorator
@inline const MAX_DELTA: f32 = 127.0;

/**
 * Four floats rounded to the nearest integer (ties to even, as f32x4.nearest), each lane's low
 * byte holding the result as an i8 (valid for |x| <= 127). One add instead of nearest +
 * saturating truncation + narrowing, which on x86 take about ten instructions.
 */
// @ts-ignore: decorator
@inline function rounded4(x: v128): v128 {
  return f32x4.add(x, f32x4.splat(ROUND_MAGIC));
}

// Swizzle masks that spread the low byte of each rounded lane over a pixel's colour samples
// (0x80: zero, for alpha and for the bytes past a 3-channel group). Loaded from memory before
// the loops: a constant shuffle mask is rebuilt from immediates in every iteration by V8.
const SPREAD4 = memory.data<u8>([0, 0, 0, 0x80, 4, 4, 4, 0x80, 8, 8, 8, 0x80, 12, 12, 12, 0x80]);
const SPREAD3 = memory.data<u8>([0, 0, 0, 4, 4, 4, 8, 8, 8, 12, 12, 12, 0x80, 0x80, 0x80, 0x80]);
const SPREAD1 = memory.data<u8>([0, 4, 8, 12, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80]);

/**
 * Add signed byte deltas `d` (i8 lanes, |d| <= 127) to the u8 samples `v` with saturation to
 * 0..255: the positive part is added and the negative part subtracted, both saturating, so no
 * widening to 16 bits is needed.
 */
// @ts-ignore: decorator
@inline function addSat(v: v128, d: v128, zero: v128): v128 {
  const pos = i8x16.max_s(d, zero);
  return i8x16.sub_sat_u(i8x16.add_sat_u(v, pos), i8x16.sub(pos, d));
}

/**
 * Upsample the luma residual `res` (rw x rh) bilinearly to the pixel grid (w x h; the residual
 * has scale sx, sy = residual pixels per image pixel) and add it to R, G and B (a change of Y
 * with Cb and Cr kept), rounded and saturated to 0..255. Alpha is untouched. Deltas beyond
 * +-127 count as +-127 (pmin/pmax: one x86 instruction each, where min/max with their NaN rules
 * take several); the classical mark at the largest strength stays far below that.
 * `tmp` holds rh * w + 2 * (w + h) + 4 * w + 8 floats.
 */
export function addLuma(pix: usize, w: i32, h: i32, ch: i32, res: usize, rw: i32, rh: i32, sx: f64, sy: f64, tmp: usize): void {
  const xt = tmp;
  const yt = xt + (<usize>(2 * w) << 2);
  const rows = yt + (<usize>(2 * h) << 2);
  const blk = (rows + (<usize>(rh * w) << 2) + 15) & ~(<usize>15);
  bilinearTable(w, rw, sx, xt);
  bilinearTable(h, rh, sy, yt);
  if (rw >= 4) bilinearRowsSimd(res, rw, rh, rows, w, xt, blk);
  else bilinearRows(res, rw, rh, rows, w, xt);
  const zero = i32x4.splat(0);
  const hi = f32x4.splat(MAX_DELTA), lo = f32x4.splat(-MAX_DELTA);
  const spread = v128.load(ch == 4 ? SPREAD4 : ch == 3 ? SPREAD3 : SPREAD1);
  const stride = <usize>(w * ch);
  for (let y = 0; y < h; y++) {
    const i = load<i32>(yt + (<usize>y << 2));
    const t = load<f32>(yt + (<usize>(h + y) << 2));
    const j = i + 1 < rh ? i + 1 : i;
    // The vertical interpolation between residual rows i and j, fused into the add.
    const ri = rows + (<usize>(i * w) << 2), rj = rows + (<usize>(j * w) << 2);
    const tv = f32x4.splat(t);
    const p = pix + <usize>y * stride;
    let x = 0;
    if (ch == 4) {
      for (; x + 4 <= w; x += 4) {
        const d = i8x16.swizzle(rounded4(f32x4.pmax(f32x4.pmin(lerp4(ri, rj, tv, x), hi), lo)), spread);
        const q = p + (<usize>x << 2);
        v128.store(q, addSat(v128.load(q), d, zero));
      }
    } else if (ch == 3) {
      for (; x + 4 <= w; x += 4) {
        const d = i8x16.swizzle(rounded4(f32x4.pmax(f32x4.pmin(lerp4(ri, rj, tv, x), hi), lo)), spread);
        const q = p + <usize>(x * 3);
        // Store the 12 bytes of these 4 pixels only: a 16-byte store would overlap the next
        // load, and a load that overlaps a pending store stalls (measured 4x slower).
        const r = addSat(v128.load(q), d, zero);
        v128.store64_lane(q, r, 0);
        v128.store32_lane(q, r, 2, 8);
      }
    } else {
      for (; x + 4 <= w; x += 4) {
        const d = i8x16.swizzle(rounded4(f32x4.pmax(f32x4.pmin(lerp4(ri, rj, tv, x), hi), lo)), spread);
        const q = p + <usize>x;
        v128.store32_lane(q, addSat(v128.load32_zero(q), d, zero), 0);
      }
    }
    for (; x < w; x++) {
      const a = load<f32>(ri + (<usize>x << 2));
      const d = <i32>nearest<f32>(max(min(a + t * (load<f32>(rj + (<usize>x << 2)) - a), MAX_DELTA), -MAX_DELTA));
      const q = p + <usize>(x * ch);
      const nc = ch == 4 ? 3 : ch;
      for (let c = 0; c < nc; c++) {
        const v = <i32>load<u8>(q + <usize>c) + d;
        store<u8>(q + <usize>c, <u8>(v < 0 ? 0 : v > 255 ? 255 : v));
      }
    }
  }
}
