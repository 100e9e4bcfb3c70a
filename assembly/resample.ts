// Resampling of f32 planes, and the two fused passes the watermark uses on full-size pixels.
// Geometry: along an axis with scale s (input pixels per output pixel), output pixel o covers
// the input interval [o*s, (o+1)*s) (area) and its centre sits at input coordinate
// (o + 0.5) * s - 0.5 (bilinear, clamped to the edge).

import { unpackLo, unpackHi, lo64, hi64, storeTransposed, ROUND_MAGIC } from "./simd";

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

// Luma in 15-bit fixed point for lumaArea: the BT.601 weights times 32768, rounded so that they
// sum to 32768 (white stays 255 exactly), as libjpeg does. The frame differs from float luma by
// at most 0.02 levels; in exchange each pixel costs two i16 dot products and no conversion.
// @ts-ignore: decorator
@inline const YR: i32 = 9798;
// @ts-ignore: decorator
@inline const YG: i32 = 19235;
// @ts-ignore: decorator
@inline const YB: i32 = 3735;
// @ts-ignore: decorator
@inline const YSCALE: f64 = 1.0 / 32768.0;

// Cb (BT.601 full range, without its 128 offset) in the same fixed point: -0.168736, -0.331264
// and 0.5 times 32768, summing to 0 (grey has no Cb).
// @ts-ignore: decorator
@inline const CBR: i32 = -5529;
// @ts-ignore: decorator
@inline const CBG: i32 = -10855;
// @ts-ignore: decorator
@inline const CBB: i32 = 16384;

// Constants the loops load from memory (V8 rebuilds v128 constants in every iteration).
const Y_RB = memory.data<i16>([9798, 3735, 9798, 3735, 9798, 3735, 9798, 3735]); // YR, YB
const Y_G0 = memory.data<i16>([19235, 0, 19235, 0, 19235, 0, 19235, 0]); // YG, 0
const CB_RB = memory.data<i16>([-5529, 16384, -5529, 16384, -5529, 16384, -5529, 16384]); // CBR, CBB
const CB_G0 = memory.data<i16>([-10855, 0, -10855, 0, -10855, 0, -10855, 0]); // CBG, 0
const MASK_RB = memory.data<u32>([0x00ff00ff, 0x00ff00ff, 0x00ff00ff, 0x00ff00ff]);
const RGB_TO_RGBX = memory.data<u8>([0, 1, 2, 0x80, 3, 4, 5, 0x80, 6, 7, 8, 0x80, 9, 10, 11, 0x80]);

/** Fixed-point luma (x 32768) of the packed pixels v (u32 lanes r | g << 8 | b << 16 | a << 24). */
// @ts-ignore: decorator
@inline function yfix4(v: v128, mrb: v128, krb: v128, kg0: v128): v128 {
  const rb = v128.and(v, mrb);
  const ga = v128.and(i32x4.shr_u(v, 8), mrb);
  return i32x4.add(i32x4.dot_i16x8_s(rb, krb), i32x4.dot_i16x8_s(ga, kg0));
}

/** Fixed-point luma (x 32768) of the pixel at p (ch 1, 3 or 4), or its Cb (`cb`; ch 3 or 4). */
// @ts-ignore: decorator
@inline function yfix1(p: usize, ch: i32, cb: bool = false): i32 {
  if (cb) return CBR * <i32>load<u8>(p) + CBG * <i32>load<u8>(p, 1) + CBB * <i32>load<u8>(p, 2);
  if (ch < 3) return <i32>load<u8>(p) << 15;
  return YR * <i32>load<u8>(p) + YG * <i32>load<u8>(p, 1) + YB * <i32>load<u8>(p, 2);
}

/** Rows summed per pass of the packed-lane accumulators (128 * 255 fits the signed i16 dot). */
// @ts-ignore: decorator
@inline const CHUNK: i32 = 128;

/** Four packed pixels at q (ch 4, or ch 3 spread to 4 bytes each). */
// @ts-ignore: decorator
@inline function px4(q: usize, ch: i32, rgbx: v128): v128 {
  return ch == 4 ? v128.load(q) : i8x16.swizzle(v128.load(q), rgbx);
}

/**
 * Fixed-point luma (x 32768) of `count` pixel rows summed, four pixels from p on, row by row
 * down `stride`: packed 16-bit R|B and G|A sums in registers, then two i16 dot products. At
 * most CHUNK rows, so no 16-bit lane overflows.
 */
// @ts-ignore: decorator
@inline function rowSum4(p: usize, stride: usize, count: i32, ch: i32, mrb: v128, krb: v128, kg0: v128, rgbx: v128): v128 {
  let rb = i32x4.splat(0), ga = i32x4.splat(0);
  for (let r = 0; r < count; r++) {
    const v = px4(p, ch, rgbx);
    rb = i16x8.add(rb, v128.and(v, mrb));
    ga = i16x8.add(ga, v128.and(i32x4.shr_u(v, 8), mrb));
    p += stride;
  }
  return i32x4.add(i32x4.dot_i16x8_s(rb, krb), i32x4.dot_i16x8_s(ga, kg0));
}

/**
 * One frame row of lumaArea for 3 or 4 channels: out[x] = area-weighted fixed-point luma of
 * the n pixel rows from p0 (first weight wf, last wl, the rows between 1) times `norm`.
 * Four pixels per step, the rows between summed as packed 16-bit R|B and G|A lanes in
 * registers and turned into luma with two i16 dot products per step.
 */
// @ts-ignore: decorator
@inline function frameRowRgb(p0: usize, stride: usize, n: i32, wf: f32, wl: f32, w: i32, ch: i32, norm: f32, out: usize,
  mrb: v128, krb: v128, kg0: v128, rgbx: v128, cb: bool): void {
  const vf = f32x4.splat(wf * norm), vl = f32x4.splat(wl * norm), vn = f32x4.splat(norm);
  const pl = p0 + <usize>(n - 1) * stride;
  let x = 0;
  if (n == 1) {
    for (; x + 4 <= w; x += 4) {
      const q = <usize>(x * ch);
      v128.store(out + (<usize>x << 2), f32x4.mul(f32x4.convert_i32x4_s(yfix4(px4(p0 + q, ch, rgbx), mrb, krb, kg0)), vf));
    }
  } else if (n - 2 <= CHUNK) {
    // The usual case: the rows between the first and the last fit one pass of the accumulators.
    const pm = p0 + stride;
    for (; x + 4 <= w; x += 4) {
      const q = <usize>(x * ch);
      const mid = rowSum4(pm + q, stride, n - 2, ch, mrb, krb, kg0, rgbx);
      const yf = f32x4.convert_i32x4_s(yfix4(px4(p0 + q, ch, rgbx), mrb, krb, kg0));
      const yl = f32x4.convert_i32x4_s(yfix4(px4(pl + q, ch, rgbx), mrb, krb, kg0));
      v128.store(out + (<usize>x << 2), f32x4.add(f32x4.add(f32x4.mul(yf, vf), f32x4.mul(yl, vl)), f32x4.mul(f32x4.convert_i32x4_s(mid), vn)));
    }
  } else {
    for (; x + 4 <= w; x += 4) {
      const q = <usize>(x * ch);
      let f = f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(yfix4(px4(p0 + q, ch, rgbx), mrb, krb, kg0)), vf),
        f32x4.mul(f32x4.convert_i32x4_s(yfix4(px4(pl + q, ch, rgbx), mrb, krb, kg0)), vl));
      // Each pass's sum is at most 128 * 255 * 32768 < 2^31; the passes add up as floats.
      for (let r0 = 1; r0 < n - 1; r0 += CHUNK) {
        const mid = rowSum4(p0 + <usize>r0 * stride + q, stride, min(CHUNK, n - 1 - r0), ch, mrb, krb, kg0, rgbx);
        f = f32x4.add(f, f32x4.mul(f32x4.convert_i32x4_s(mid), vn));
      }
      v128.store(out + (<usize>x << 2), f);
    }
  }
  for (; x < w; x++) {
    const q = <usize>(x * ch);
    let f = <f32>yfix1(p0 + q, ch, cb) * wf;
    if (n > 1) {
      f += <f32>yfix1(pl + q, ch, cb) * wl;
      let mid: f64 = 0; // an i32 sum would overflow past 257 white rows
      for (let r = 1; r < n - 1; r++) mid += <f64>yfix1(p0 + <usize>r * stride + q, ch, cb);
      f += <f32>mid;
    }
    store<f32>(out + (<usize>x << 2), f * norm);
  }
}

/** Sixteen grey samples (u16 lanes of lo, hi) as f32, times `k`, stored at or added to out[0..15]. */
// @ts-ignore: decorator
@inline function grey16(lo: v128, hi: v128, k: v128, out: usize, add: bool): void {
  const a = f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(lo)), k);
  const b = f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(lo)), k);
  const c = f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(hi)), k);
  const d = f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(hi)), k);
  if (add) {
    v128.store(out, f32x4.add(v128.load(out), a));
    v128.store(out, f32x4.add(v128.load(out, 16), b), 16);
    v128.store(out, f32x4.add(v128.load(out, 32), c), 32);
    v128.store(out, f32x4.add(v128.load(out, 48), d), 48);
  } else {
    v128.store(out, a);
    v128.store(out, b, 16);
    v128.store(out, c, 32);
    v128.store(out, d, 48);
  }
}

/** One frame row of lumaArea for grey pixels (see frameRowRgb), sixteen pixels per step. */
// @ts-ignore: decorator
@inline function frameRowGrey(p0: usize, stride: usize, n: i32, wf: f32, wl: f32, w: i32, norm: f32, out: usize): void {
  // Grey luma is the byte itself: the fixed-point scale is left out of `norm` here.
  const vf = f32x4.splat(wf * norm), vl = f32x4.splat(wl * norm), vn = f32x4.splat(norm);
  const pl = p0 + <usize>(n - 1) * stride;
  let x = 0;
  for (; x + 16 <= w; x += 16) {
    const q = <usize>x;
    const o = out + (<usize>x << 2);
    const v = v128.load(p0 + q);
    grey16(i16x8.extend_low_i8x16_u(v), i16x8.extend_high_i8x16_u(v), vf, o, false);
    if (n > 1) {
      const u = v128.load(pl + q);
      grey16(i16x8.extend_low_i8x16_u(u), i16x8.extend_high_i8x16_u(u), vl, o, true);
      for (let r0 = 1; r0 < n - 1; r0 += CHUNK) {
        const r1 = min(r0 + CHUNK, n - 1);
        let lo = i32x4.splat(0), hi = i32x4.splat(0);
        let p = p0 + <usize>r0 * stride + q;
        for (let r = r0; r < r1; r++) {
          const m = v128.load(p);
          lo = i16x8.add(lo, i16x8.extend_low_i8x16_u(m));
          hi = i16x8.add(hi, i16x8.extend_high_i8x16_u(m));
          p += stride;
        }
        grey16(lo, hi, vn, o, true);
      }
    }
  }
  for (; x < w; x++) {
    const q = <usize>x;
    let f = <f32>load<u8>(p0 + q) * wf;
    if (n > 1) {
      f += <f32>load<u8>(pl + q) * wl;
      let mid = 0;
      for (let r = 1; r < n - 1; r++) mid += <i32>load<u8>(p0 + <usize>r * stride + q);
      f += <f32>mid;
    }
    store<f32>(out + (<usize>x << 2), f * norm);
  }
}

/**
 * Interleave four f32 rows of n floats (r, r + rs, r + 2 rs, r + 3 rs) into blk: column x's
 * four values at blk + 16 x, row k in lane k. 4x4 transposes of unpack shuffles.
 */
// @ts-ignore: decorator
@noinline function interleave4(r: usize, rs: usize, n: i32, blk: usize): void {
  let x = 0;
  for (; x + 4 <= n; x += 4) {
    const q = <usize>x << 2;
    storeTransposed(v128.load(r + q), v128.load(r + rs + q), v128.load(r + 2 * rs + q), v128.load(r + 3 * rs + q), blk + (<usize>x << 4), 16);
  }
  for (; x < n; x++) {
    const q = <usize>x << 2;
    const o = blk + (<usize>x << 4);
    store<f32>(o, load<f32>(r + q));
    store<f32>(o, load<f32>(r + rs + q), 4);
    store<f32>(o, load<f32>(r + 2 * rs + q), 8);
    store<f32>(o, load<f32>(r + 3 * rs + q), 12);
  }
}

/** Output o of the horizontal area pass over an interleaved block: four rows in four lanes. */
// @ts-ignore: decorator
@inline function areaOut4(blk: usize, tab: usize, o: i32): v128 {
  const t = tab + (<usize>(o * 5) << 2);
  const p = blk + (<usize>load<i32>(t) << 4);
  const n = load<i32>(t, 4);
  if (n <= 0) return f32x4.splat(0);
  let acc = f32x4.mul(v128.load(p), f32x4.splat(load<f32>(t, 8)));
  if (n > 1) {
    acc = f32x4.add(acc, f32x4.mul(v128.load(p + (<usize>(n - 1) << 4)), f32x4.splat(load<f32>(t, 12))));
    for (let i = 1; i < n - 1; i++) acc = f32x4.add(acc, v128.load(p + (<usize>i << 4)));
  }
  return f32x4.mul(acc, f32x4.splat(load<f32>(t, 16)));
}

/**
 * Horizontal area pass (an areaTable) of an interleaved block of four rows into rows
 * r0 .. r0 + nr - 1 of dst (width dw): four outputs at a time, transposed back to rows.
 */
// @ts-ignore: decorator
@noinline function areaBlock4(blk: usize, dst: usize, dw: i32, r0: i32, nr: i32, tab: usize): void {
  const st = <usize>dw << 2;
  const d0 = dst + <usize>r0 * st;
  let o = 0;
  for (; o + 4 <= dw; o += 4) {
    const a = areaOut4(blk, tab, o), b = areaOut4(blk, tab, o + 1), c = areaOut4(blk, tab, o + 2), d = areaOut4(blk, tab, o + 3);
    const ab0 = unpackLo(a, b), cd0 = unpackLo(c, d), ab1 = unpackHi(a, b), cd1 = unpackHi(c, d);
    const q = d0 + (<usize>o << 2);
    v128.store(q, lo64(ab0, cd0));
    if (nr > 1) v128.store(q + st, hi64(ab0, cd0));
    if (nr > 2) v128.store(q + 2 * st, lo64(ab1, cd1));
    if (nr > 3) v128.store(q + 3 * st, hi64(ab1, cd1));
  }
  for (; o < dw; o++) {
    const v = areaOut4(blk, tab, o);
    const q = d0 + (<usize>o << 2);
    v128.store32_lane(q, v, 0);
    if (nr > 1) v128.store32_lane(q + st, v, 1);
    if (nr > 2) v128.store32_lane(q + 2 * st, v, 2);
    if (nr > 3) v128.store32_lane(q + 3 * st, v, 3);
  }
}

/**
 * Fused luma + area downscale (s >= 1 on both axes): pixels (w x h, ch channels) to the f32
 * plane dst (dw x dh) in one read of the pixels. Luma is 15-bit fixed point (BT.601 weights x
 * 32768, summing to 32768). For each frame row, column strips of four pixels (sixteen for grey)
 * walk down the pixel rows it covers: the first and last (partly covered) rows are weighted, the
 * rows between are summed as integers in registers. Four finished rows at a time are
 * interleaved and get the horizontal area pass together, one row per lane.
 * `tmp` holds 8 * (w + 4) + 5 * (dw + dh) + 8 floats.
 * Equivalent (within float rounding) to fixed-point luma followed by areaResize.
 */
export function lumaArea(src: usize, w: i32, h: i32, ch: i32, dst: usize, dw: i32, dh: i32, sx: f64, sy: f64, tmp: usize): void {
  lumaAreaTables(w, h, dw, dh, sx, sy, tmp);
  lumaAreaRows(src, 0, w, h, ch, dst, dw, dh, 0, dh, tmp);
}

/** Where lumaArea keeps its parts of `tmp`: four rows, their interleaved block, two tables. */
// @ts-ignore: decorator
@inline function blockRowsAt(tmp: usize): usize { return (tmp + 15) & ~(<usize>15); }
// @ts-ignore: decorator
@inline function htabAt(tmp: usize, w: i32): usize { return blockRowsAt(tmp) + 8 * (<usize>(w + 4) << 2); }
// @ts-ignore: decorator
@inline function vtabAt(tmp: usize, w: i32, dw: i32): usize { return htabAt(tmp, w) + (<usize>(5 * dw) << 2); }

/** The horizontal and vertical area tables of lumaArea (w x h to dw x dh), into `tmp`. */
export function lumaAreaTables(w: i32, h: i32, dw: i32, dh: i32, sx: f64, sy: f64, tmp: usize): void {
  areaTable(w, dw, sx, htabAt(tmp, w));
  areaTable(h, dh, sy, vtabAt(tmp, w, dw));
}

/**
 * lumaArea for the frame rows o0 .. o1 - 1 only, with the tables that
 * lumaAreaTables left in `tmp`, from a buffer `src` that holds the image's pixel rows from
 * `first` on: all the rows those frame rows cover, i.e. from floor(o0 * sy) to
 * ceil(min(o1 * sy, h)) - 1. Lets a caller stream an image through a small buffer instead of
 * copying it whole; the rows are those lumaArea gives.
 */
export function lumaAreaRows(src: usize, first: i32, w: i32, h: i32, ch: i32, dst: usize, dw: i32, dh: i32,
  o0: i32, o1: i32, tmp: usize): void {
  frameRows(src, first, w, h, ch, dst, dw, dh, o0, o1, tmp, false);
}

/**
 * As lumaArea, for the Cb plane (BT.601 full range, without its offset of 128: grey is 0) of 3-
 * or 4-channel pixels, in the same fixed point (weights -5529, -10855 and 16384 / 32768).
 */
export function cbArea(src: usize, w: i32, h: i32, ch: i32, dst: usize, dw: i32, dh: i32, sx: f64, sy: f64, tmp: usize): void {
  lumaAreaTables(w, h, dw, dh, sx, sy, tmp);
  frameRows(src, 0, w, h, ch, dst, dw, dh, 0, dh, tmp, true);
}

/** As lumaAreaRows, for cbArea (the tables from lumaAreaTables). */
export function cbAreaRows(src: usize, first: i32, w: i32, h: i32, ch: i32, dst: usize, dw: i32, dh: i32,
  o0: i32, o1: i32, tmp: usize): void {
  frameRows(src, first, w, h, ch, dst, dw, dh, o0, o1, tmp, true);
}

/** lumaAreaRows (cb false) or cbAreaRows (cb true). */
// @ts-ignore: decorator
@inline function frameRows(src: usize, first: i32, w: i32, h: i32, ch: i32, dst: usize, dw: i32, dh: i32,
  o0: i32, o1: i32, tmp: usize, cb: bool): void {
  const rs = <usize>(w + 4) << 2;
  const rows = blockRowsAt(tmp); // four rows of w + 4 floats
  const blk = rows + 4 * rs; // the same four rows interleaved
  const htab = htabAt(tmp, w), vtab = vtabAt(tmp, w, dw);
  const mrb = v128.load(MASK_RB), krb = v128.load(cb ? CB_RB : Y_RB), kg0 = v128.load(cb ? CB_G0 : Y_G0), rgbx = v128.load(RGB_TO_RGBX);
  const stride = <usize>(w * ch);
  const end = min(o1, dh);
  for (let b = o0; b < end; b += 4) {
    const nr = min(4, end - b);
    for (let k = 0; k < 4; k++) {
      const row = rows + <usize>k * rs;
      const t = vtab + (<usize>((b + k) * 5) << 2);
      const n = k < nr ? load<i32>(t, 4) : 0;
      if (n <= 0 || (cb && ch < 3)) {
        memory.fill(row, 0, <usize>w << 2); // beyond the image, or beyond the last row asked for; grey has no Cb
        continue;
      }
      const wf = load<f32>(t, 8), wl = load<f32>(t, 12), inv = load<f32>(t, 16);
      const p0 = src + <usize>(load<i32>(t) - first) * stride;
      if (ch == 4) frameRowRgb(p0, stride, n, wf, wl, w, 4, inv * <f32>YSCALE, row, mrb, krb, kg0, rgbx, cb);
      else if (ch == 3) frameRowRgb(p0, stride, n, wf, wl, w, 3, inv * <f32>YSCALE, row, mrb, krb, kg0, rgbx, cb);
      else frameRowGrey(p0, stride, n, wf, wl, w, inv, row);
    }
    interleave4(rows, rs, w, blk);
    areaBlock4(blk, dst, dw, b, nr, htab);
  }
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
  windowBlocks(tab, sw, dw, blk, 4, false);
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

/**
 * The block table of a horizontal bilinear pass that makes `lanes` outputs a step (4: f32
 * lanes, bilinearRowsSimd; 8: i16 lanes, addMarkPrepare) from one window of `lanes` source
 * samples: per block of outputs, 64 bytes at blk: the window's start (-1 where the window does
 * not hold every output's two sources), the byte masks picking each lane's first and second
 * source out of the window, and the weights (f32, or `q15`: i16 in 15 fraction bits). `tab` is
 * a bilinearTable for dw; needs sw >= lanes. Constant `lanes` and `q15` at each use.
 */
// @ts-ignore: decorator
@inline function windowBlocks(tab: usize, sw: i32, dw: i32, blk: usize, lanes: i32, q15: bool): void {
  const size = 16 / lanes;
  const nb = dw / lanes;
  for (let b = 0; b < nb; b++) {
    const o = b * lanes;
    let i0 = load<i32>(tab + (<usize>o << 2));
    if (i0 + lanes > sw) i0 = sw - lanes;
    const e = blk + (<usize>b << 6);
    let ok = true;
    for (let k = 0; k < lanes; k++) {
      const i = load<i32>(tab + (<usize>(o + k) << 2));
      const j = i + 1 < sw ? i + 1 : i;
      const ia = i - i0, ib = j - i0;
      if (ia < 0 || ib > lanes - 1) ok = false;
      for (let c = 0; c < size; c++) {
        store<u8>(e + <usize>(16 + k * size + c), <u8>((ia & (lanes - 1)) * size + c));
        store<u8>(e + <usize>(32 + k * size + c), <u8>((ib & (lanes - 1)) * size + c));
      }
      const t = load<f32>(tab + (<usize>(dw + o + k) << 2));
      if (q15) store<i16>(e + <usize>(48 + k * 2), <i16>t15Of(t));
      else store<f32>(e + <usize>(48 + k * 4), t);
    }
    store<i32>(e, ok ? i0 : -1);
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

/**
 * The rounded deltas of four pixels at x: residual rows ri and rj interpolated by tv, clamped
 * to +-MAX_DELTA (lo, hi), rounded and spread over the colour samples by the `spread` swizzle.
 */
// @ts-ignore: decorator
@inline function delta4(ri: usize, rj: usize, tv: v128, x: i32, lo: v128, hi: v128, spread: v128): v128 {
  return i8x16.swizzle(rounded4(f32x4.pmax(f32x4.pmin(lerp4(ri, rj, tv, x), hi), lo)), spread);
}

// Swizzle masks that spread the low byte of each rounded lane over a pixel's colour samples
// (0x80: zero, for alpha and for the bytes past a 3-channel group). Loaded from memory before
// the loops: a constant shuffle mask is rebuilt from immediates in every iteration by V8.
const SPREAD4 = memory.data<u8>([0, 0, 0, 0x80, 4, 4, 4, 0x80, 8, 8, 8, 0x80, 12, 12, 12, 0x80]);
const SPREAD3 = memory.data<u8>([0, 0, 0, 4, 4, 4, 8, 8, 8, 12, 12, 12, 0x80, 0x80, 0x80, 0x80]);
const SPREAD1 = memory.data<u8>([0, 4, 8, 12, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80]);

/**
 * Add signed byte deltas `d` (i8 lanes, |d| <= 127) to the u8 samples `v` with saturation to
 * 0..255, with no widening to 16 bits: `v` xor 0x80 (`bias`) is v - 128 as a signed byte, the
 * signed saturating add clamps v - 128 + d to -128..127, and xor 0x80 again adds the 128 back.
 * Three operations (a positive part added and a negative part subtracted took four).
 */
// @ts-ignore: decorator
@inline function addSat(v: v128, d: v128, bias: v128): v128 {
  return v128.xor(i8x16.add_sat_s(v128.xor(v, bias), d), bias);
}

/**
 * Where addLumaPrepare leaves the residual's largest magnitude for addLumaRows and addMarkRows:
 * when it (times the largest channel gain) is within +-MAX_DELTA, no interpolated delta can
 * leave that range and the clamp can be skipped. The last float of addLuma's `tmp`
 * (rh * w + 2 * (w + h) + 4 * w + 8 floats), past what the tables, rows and blocks use.
 */
// @ts-ignore: decorator
@inline function inRangeAt(tmp: usize, w: i32, h: i32, rh: i32): usize {
  return tmp + (<usize>(rh * w + 2 * (w + h) + 4 * w + 7) << 2);
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
  addLumaPrepare(w, h, res, rw, rh, sx, sy, tmp);
  addLumaRows(pix, 0, w, h, ch, rh, 0, h, tmp);
}

/**
 * The first half of addLuma: the position tables and the residual upsampled along x (rh rows of
 * w floats), into `tmp` (as addLuma's).
 */
export function addLumaPrepare(w: i32, h: i32, res: usize, rw: i32, rh: i32, sx: f64, sy: f64, tmp: usize): void {
  const xt = tmp;
  const yt = xt + (<usize>(2 * w) << 2);
  const rows = yt + (<usize>(2 * h) << 2);
  const blk = (rows + (<usize>(rh * w) << 2) + 15) & ~(<usize>15);
  bilinearTable(w, rw, sx, xt);
  bilinearTable(h, rh, sy, yt);
  if (rw >= 4) bilinearRowsSimd(res, rw, rh, rows, w, xt, blk);
  else bilinearRows(res, rw, rh, rows, w, xt);
  // Interpolation stays within the residual's range: when that is within +-MAX_DELTA, the
  // rows need no clamp.
  const n = rw * rh;
  let m = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) m = f32x4.pmax(m, f32x4.abs(v128.load(res + (<usize>i << 2))));
  let top = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
  for (; i < n; i++) top = max(top, abs(load<f32>(res + (<usize>i << 2))));
  store<f32>(inRangeAt(tmp, w, h, rh), top == top ? top : Infinity); // NaN: the clamped path
}

/**
 * The second half of addLuma, for image rows y0 .. y1 - 1 only, after addLumaPrepare: `pix`
 * holds the image's rows from `first` on (first <= y0). Lets a caller stream an image through a
 * small buffer; the bytes are those addLuma gives.
 */
export function addLumaRows(pix: usize, first: i32, w: i32, h: i32, ch: i32, rh: i32, y0: i32, y1: i32, tmp: usize): void {
  const yt = tmp + (<usize>(2 * w) << 2);
  const rows = yt + (<usize>(2 * h) << 2);
  const bias = i8x16.splat(-128);
  const hi = f32x4.splat(MAX_DELTA), lo = f32x4.splat(-MAX_DELTA);
  const spread = v128.load(ch == 4 ? SPREAD4 : ch == 3 ? SPREAD3 : SPREAD1);
  const stride = <usize>(w * ch);
  const inRange = load<f32>(inRangeAt(tmp, w, h, rh)) <= MAX_DELTA;
  for (let y = y0; y < y1; y++) {
    const i = load<i32>(yt + (<usize>y << 2));
    const t = load<f32>(yt + (<usize>(h + y) << 2));
    const j = i + 1 < rh ? i + 1 : i;
    // The vertical interpolation between residual rows i and j, fused into the add.
    const ri = rows + (<usize>(i * w) << 2), rj = rows + (<usize>(j * w) << 2);
    const tv = f32x4.splat(t);
    const p = pix + <usize>(y - first) * stride;
    let x = 0;
    if (ch == 4 && inRange) {
      // The usual case (RGBA, the deltas within range): no clamp.
      for (; x + 4 <= w; x += 4) {
        const d = i8x16.swizzle(rounded4(lerp4(ri, rj, tv, x)), spread);
        const q = p + (<usize>x << 2);
        v128.store(q, addSat(v128.load(q), d, bias));
      }
    } else if (ch == 4) {
      for (; x + 4 <= w; x += 4) {
        const d = delta4(ri, rj, tv, x, lo, hi, spread);
        const q = p + (<usize>x << 2);
        v128.store(q, addSat(v128.load(q), d, bias));
      }
    } else if (ch == 3 && inRange) {
      for (; x + 4 <= w; x += 4) {
        const d = i8x16.swizzle(rounded4(lerp4(ri, rj, tv, x)), spread);
        const q = p + <usize>(x * 3);
        const r = addSat(v128.load(q), d, bias);
        v128.store64_lane(q, r, 0);
        v128.store32_lane(q, r, 2, 8);
      }
    } else if (ch == 3) {
      for (; x + 4 <= w; x += 4) {
        const d = delta4(ri, rj, tv, x, lo, hi, spread);
        const q = p + <usize>(x * 3);
        // Store the 12 bytes of these 4 pixels only: a 16-byte store would overlap the next
        // load, and a load that overlaps a pending store stalls (measured 4x slower).
        const r = addSat(v128.load(q), d, bias);
        v128.store64_lane(q, r, 0);
        v128.store32_lane(q, r, 2, 8);
      }
    } else {
      for (; x + 4 <= w; x += 4) {
        const d = delta4(ri, rj, tv, x, lo, hi, spread);
        const q = p + <usize>x;
        v128.store32_lane(q, addSat(v128.load32_zero(q), d, bias), 0);
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

/**
 * The first half of addMark: the position tables (as addLumaPrepare's), the residual in 16-bit
 * fixed point with 7 fraction bits (round(128 v), ties to even, saturated: residuals beyond +-255
 * count as +-255) and the horizontal pass's blocks, into `tmp` (rh * w + 2 * (w + h) + 4 * w + 72
 * floats: addLumaPrepare's and 64 more). addMarkRows upsamples each residual row along x when it first
 * needs it, into a ring of two rows that stays in cache (the rows of a whole 1080p residual would
 * be a megabyte written and read back). After this, `tmp` serves addMarkRows only.
 */
export function addMarkPrepare(w: i32, h: i32, res: usize, rw: i32, rh: i32, sx: f64, sy: f64, tmp: usize): void {
  const xt = tmp;
  const yt = xt + (<usize>(2 * w) << 2);
  const head = yt + (<usize>(2 * h) << 2);
  bilinearTable(w, rw, sx, xt);
  bilinearTable(h, rh, sy, yt);
  store<i32>(head, -1);
  store<i32>(head, -1, 4);
  store<u32>(head, <u32>res, 8);
  const simd = rw <= w && rw >= 8;
  store<i32>(head, simd ? 1 : 0, 12);
  store<i32>(head, rw, 16);
  if (!simd) return; // downsampling along x, or narrower than a window: one output at a time
  const q = markQ7(head, w), blk = markBlocks(q, rw, rh);
  const n = rw * rh;
  const q7 = f32x4.splat(128);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const a = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(res + (<usize>i << 2)), q7)));
    const b = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(res + (<usize>i << 2), 16), q7)));
    v128.store(q + (<usize>i << 1), i16x8.narrow_i32x4_s(a, b));
  }
  for (; i < n; i++) store<i16>(q + (<usize>i << 1), q7Of(load<f32>(res + (<usize>i << 2))));
  windowBlocks(xt, rw, w, blk, 8, true);
}

// addMark's tmp after the two tables: a 128-byte head (the residual rows in the ring's two
// slots, the residual's address, whether the fixed-point copy exists, the residual's width;
// from byte 32, addMarkRows' constants), the ring (two rows of w
// i16), the fixed-point residual (rw * rh i16), the blocks (64 bytes per eight outputs).
// @ts-ignore: decorator
@inline function markRing(head: usize): usize { return head + 128; }
// @ts-ignore: decorator
@inline function markQ7(head: usize, w: i32): usize { return (head + 128 + (<usize>(4 * w)) + 15) & ~(<usize>15); }
// @ts-ignore: decorator
@inline function markBlocks(q: usize, rw: i32, rh: i32): usize { return (q + (<usize>(rw * rh) << 1) + 15) & ~(<usize>15); }

/** Residual row r upsampled along x into the ring (slot r & 1), unless it is there already; its address. */
function markRow(head: usize, xt: usize, w: i32, rw: i32, rh: i32, r: i32): usize {
  const slot = <usize>(r & 1);
  const d = markRing(head) + slot * (<usize>w << 1);
  if (load<i32>(head + (slot << 2)) == r) return d;
  store<i32>(head + (slot << 2), r);
  if (load<i32>(head, 12) == 0) {
    const s = <usize>load<u32>(head, 8) + (<usize>(r * rw) << 2);
    for (let o = 0; o < w; o++) {
      const i = load<i32>(xt + (<usize>o << 2));
      const j = i + 1 < rw ? i + 1 : i;
      store<i16>(d + (<usize>o << 1), <i16>q7Lerp(q7Of(load<f32>(s + (<usize>i << 2))), q7Of(load<f32>(s + (<usize>j << 2))), t15Of(load<f32>(xt + (<usize>(w + o) << 2)))));
    }
    return d;
  }
  const q = markQ7(head, w), blk = markBlocks(q, rw, rh);
  const s = q + (<usize>(r * rw) << 1);
  const nb = w >> 3;
  for (let b = 0; b < nb; b++) {
    const e = blk + (<usize>b << 6);
    const i0 = load<i32>(e);
    if (i0 >= 0) {
      const v = v128.load(s + (<usize>i0 << 1));
      const a = i8x16.swizzle(v, v128.load(e, 16));
      v128.store(d + (<usize>b << 4), i16x8.add_sat_s(a, i16x8.q15mulr_sat_s(i16x8.sub_sat_s(i8x16.swizzle(v, v128.load(e, 32)), a), v128.load(e, 48))));
    } else {
      for (let o = b << 3; o < (b << 3) + 8; o++) markRowOne(s, rw, d, w, xt, o);
    }
  }
  for (let o = nb << 3; o < w; o++) markRowOne(s, rw, d, w, xt, o);
  return d;
}

/** One output of addMarkPrepare's horizontal pass, from the fixed-point residual row `s`. */
// @ts-ignore: decorator
@inline function markRowOne(s: usize, sw: i32, d: usize, dw: i32, tab: usize, o: i32): void {
  const i = load<i32>(tab + (<usize>o << 2));
  const j = i + 1 < sw ? i + 1 : i;
  store<i16>(d + (<usize>o << 1), <i16>q7Lerp(load<i16>(s + (<usize>i << 1)), load<i16>(s + (<usize>j << 1)), t15Of(load<f32>(tab + (<usize>(dw + o) << 2)))));
}

/** An interpolation weight in [0, 1] in 15 fraction bits: round(32768 t) (ties to even), at most 32767. */
// @ts-ignore: decorator
@inline function t15Of(t: f32): i32 {
  return min(<i32>nearest<f32>(t * 32768), 32767);
}

/** a + q15mulr(b - a, t) on 16-bit lanes, the difference and the sum saturated (one lane of the SIMD steps). */
// @ts-ignore: decorator
@inline function q7Lerp(a: i32, b: i32, t: i32): i32 {
  let diff = b - a;
  diff = diff > 32767 ? 32767 : diff < -32768 ? -32768 : diff;
  const v = a + q15mulr(diff, t);
  return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
}

/** round(128 v), ties to even, saturated to i16 (as addMarkPrepare's SIMD steps). */
// @ts-ignore: decorator
@inline function q7Of(v: f32): i16 {
  const x = nearest<f32>(v * 128);
  return <i16>(x != x ? 0 : x >= 32767 ? 32767 : x <= -32768 ? -32768 : <i32>x);
}

/** i16x8.q15mulr_sat_s for one lane: (a b + 2^14) >> 15, saturated. */
// @ts-ignore: decorator
@inline function q15mulr(a: i32, b: i32): i32 {
  const r = (a * b + 0x4000) >> 15;
  return r > 32767 ? 32767 : r;
}

/** One lane's channel delta: q15mulr(v, gain), clamped to +-MAX_DELTA. */
// @ts-ignore: decorator
@inline function markDelta(v: i32, g: i32): i32 {
  const d = q15mulr(v, g);
  return d > 127 ? 127 : d < -127 ? -127 : d;
}

/** A gain in addMarkRows' fixed point: round(256 k), within i16. */
// @ts-ignore: decorator
@inline function gainQ8(k: f32): i32 {
  return <i32>nearest<f32>(max(min(k, 127), -127) * 256);
}

// Byte masks that lay the packed deltas [R0..R7 B0..B7] (first operand) and [G0..G7 0..0]
// (second) out as 3-channel pixels: 16 bytes of pixels 0..5, then 8 bytes of pixels 5..7
// (0x80: zero). Loaded before the loops: V8 rebuilds constant shuffle masks in every iteration.
const RGB_LO_RB = memory.data<u8>([0, 0x80, 8, 1, 0x80, 9, 2, 0x80, 10, 3, 0x80, 11, 4, 0x80, 12, 5]);
const RGB_LO_G = memory.data<u8>([0x80, 0, 0x80, 0x80, 1, 0x80, 0x80, 2, 0x80, 0x80, 3, 0x80, 0x80, 4, 0x80, 0x80]);
const RGB_HI_RB = memory.data<u8>([0x80, 13, 6, 0x80, 14, 7, 0x80, 15, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80]);
const RGB_HI_G = memory.data<u8>([5, 0x80, 0x80, 6, 0x80, 0x80, 7, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80]);

/**
 * Add the residual to R, G and B with a gain per colour channel, for image rows y0 .. y1 - 1
 * of 3- or 4-channel pixels (`pix` holds the image's rows from `first` on), after
 * addMarkPrepare. All in 16-bit fixed point, eight pixels a step: the residual rows (7 fraction
 * bits) interpolated vertically as a + q15mulr(b - a, t) (t in 15 fraction bits, rounded; the
 * difference saturated), each channel's delta q15mulr(v, round(256 k)) = round(v k) (ties
 * up), clamped to +-MAX_DELTA, and added with saturation. Alpha is untouched. A luma change d
 * with a Cb change c is (kr, kg, kb) = (d, d - 0.344136 c, d + 1.772 c). Gains beyond +-127
 * count as +-127. test/ref.mjs addMark is the same arithmetic in plain JS.
 */
export function addMarkRows(pix: usize, first: i32, w: i32, h: i32, ch: i32, rh: i32, y0: i32, y1: i32, tmp: usize,
  kr: f32, kg: f32, kb: f32): void {
  const yt = tmp + (<usize>(2 * w) << 2);
  const head = yt + (<usize>(2 * h) << 2);
  const rw = load<i32>(head, 16);
  const gr = gainQ8(kr), gg = gainQ8(kg), gb = gainQ8(kb);
  // The loop's constants, in memory: V8 rebuilds splats and constants at every use inside the
  // loop (two or three instructions each), where a load folds into the instruction using it.
  const cst = head + 32;
  v128.store(cst, i8x16.splat(-128));
  v128.store(cst, i8x16.splat(-127), 16);
  v128.store(cst, i16x8.splat(<i16>gr), 32);
  v128.store(cst, i16x8.splat(<i16>gg), 48);
  v128.store(cst, i16x8.splat(<i16>gb), 64);
  v128.store(cst, i16x8.splat(0), 80);
  const loRB = v128.load(RGB_LO_RB), loG = v128.load(RGB_LO_G), hiRB = v128.load(RGB_HI_RB), hiG = v128.load(RGB_HI_G);
  const stride = <usize>(w * ch);
  for (let y = y0; y < y1; y++) {
    const i = load<i32>(yt + (<usize>y << 2));
    const t = load<f32>(yt + (<usize>(h + y) << 2));
    const j = i + 1 < rh ? i + 1 : i;
    const t15 = t15Of(t);
    const ri = markRow(head, tmp, w, rw, rh, i), rj = markRow(head, tmp, w, rw, rh, j);
    const tv = i16x8.splat(<i16>t15);
    const p = pix + <usize>(y - first) * stride;
    let x = 0;
    for (; x + 8 <= w; x += 8) {
      const o = <usize>x << 1;
      const a = v128.load(ri + o);
      const v = i16x8.add_sat_s(a, i16x8.q15mulr_sat_s(i16x8.sub_sat_s(v128.load(rj + o), a), tv));
      // [R0..R7 B0..B7] and [G0..G7 0..0], each delta clamped to -127..127.
      const floor = v128.load(cst, 16), bias = v128.load(cst);
      const rb = i8x16.max_s(i8x16.narrow_i16x8_s(i16x8.q15mulr_sat_s(v, v128.load(cst, 32)), i16x8.q15mulr_sat_s(v, v128.load(cst, 64))), floor);
      const g0 = i8x16.max_s(i8x16.narrow_i16x8_s(i16x8.q15mulr_sat_s(v, v128.load(cst, 48)), v128.load(cst, 80)), floor);
      if (ch == 4) {
        // Interleaved by unpacks: R G pairs and B 0 pairs, then the pairs into pixels.
        const rg = i8x16.shuffle(rb, g0, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        const b0 = i8x16.shuffle(rb, g0, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        const q = p + (<usize>x << 2);
        v128.store(q, addSat(v128.load(q), v128.shuffle<i16>(rg, b0, 0, 8, 1, 9, 2, 10, 3, 11), bias));
        v128.store(q, addSat(v128.load(q, 16), v128.shuffle<i16>(rg, b0, 4, 12, 5, 13, 6, 14, 7, 15), bias), 16);
      } else {
        // 24 bytes exactly: a wider store would overlap the next step's load (see addLumaRows).
        const q = p + <usize>(x * 3);
        const lo = v128.or(i8x16.swizzle(rb, loRB), i8x16.swizzle(g0, loG));
        const hi = v128.or(i8x16.swizzle(rb, hiRB), i8x16.swizzle(g0, hiG));
        v128.store(q, addSat(v128.load(q), lo, bias));
        v128.store64_lane(q, addSat(v128.load64_zero(q, 16), hi, bias), 0, 16);
      }
    }
    for (; x < w; x++) {
      const v = q7Lerp(load<i16>(ri + (<usize>x << 1)), load<i16>(rj + (<usize>x << 1)), t15);
      const q = p + <usize>(x * ch);
      for (let c = 0; c < 3; c++) {
        const s = <i32>load<u8>(q + <usize>c) + markDelta(v, c == 0 ? gr : c == 1 ? gg : gb);
        store<u8>(q + <usize>c, <u8>(s < 0 ? 0 : s > 255 ? 255 : s));
      }
    }
  }
}
