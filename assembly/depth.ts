// Samples the fast kernels do not take directly (16-bit samples, grey + alpha) go through an
// 8-bit working copy: `narrow*` makes it, the core marks it, and `apply*` writes the change back
// into the original samples. 16-bit: the working sample is round(s / 257) and the change comes
// back as s + 257 * (marked - round(s / 257)), saturated to 0..65535, so the 8-bit view of the
// result is exactly the marked working copy and the other 8 bits of precision are kept. Alpha
// is never changed. Every kernel is one streaming pass in v128 lanes, with a scalar tail.

// round(s / 257) (ties cannot occur: 257 is odd) = floor((s + 128) / 257)
//                = (s * 65281 + 128 * 65281) >> 24 for every s in 0..65535 (checked exhaustively
// in the tests; the sum stays under 2^32, so unsigned 32-bit lanes hold it).
// @ts-ignore: decorator
@inline const DIV_M: i32 = 65281;
// @ts-ignore: decorator
@inline const DIV_C: i32 = 128 * 65281;

// @ts-ignore: decorator
@inline function narrowScalar(s: u32): u32 {
  return (s * <u32>DIV_M + <u32>DIV_C) >>> 24;
}

/** round(s / 257) of eight u16 lanes, as eight u16 lanes (0..255). */
// @ts-ignore: decorator
@inline function narrowLanes(v: v128, m: v128, c: v128): v128 {
  const lo = i32x4.shr_u(i32x4.add(i32x4.extmul_low_i16x8_u(v, m), c), 24);
  const hi = i32x4.shr_u(i32x4.add(i32x4.extmul_high_i16x8_u(v, m), c), 24);
  return i16x8.narrow_i32x4_u(lo, hi);
}

/**
 * s + 257 * (m - b), saturated to 0..65535, for eight u16 lanes: s the samples, b their narrowed
 * values, m the marked working values (u16 lanes, 0..255).
 */
// @ts-ignore: decorator
@inline function applyLanes(s: v128, b: v128, m: v128, k: v128): v128 {
  const up = i16x8.mul(i16x8.sub_sat_u(m, b), k), down = i16x8.mul(i16x8.sub_sat_u(b, m), k);
  return i16x8.sub_sat_u(i16x8.add_sat_u(s, up), down);
}

// @ts-ignore: decorator
@inline function applyScalar(s: i32, m: i32): i32 {
  const v = s + 257 * (m - <i32>narrowScalar(<u32>s));
  return v < 0 ? 0 : v > 65535 ? 65535 : v;
}

/** dst[i] = round(src[i] / 257) for n u16 samples (any layout: sample for sample). */
export function narrow16(src: usize, n: i32, dst: usize): void {
  const m = i16x8.splat(<i16>DIV_M), c = i32x4.splat(DIV_C);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = src + (<usize>i << 1);
    v128.store(dst + <usize>i, i8x16.narrow_i16x8_u(narrowLanes(v128.load(p), m, c), narrowLanes(v128.load(p, 16), m, c)));
  }
  for (; i < n; i++) store<u8>(dst + <usize>i, narrowScalar(<u32>load<u16>(src + (<usize>i << 1))));
}

/**
 * In place on n u16 samples: src[i] = src[i] + 257 * (marked[i] - round(src[i] / 257)),
 * saturated; `marked` holds n bytes (the marked working copy that narrow16 made).
 */
export function apply16(src: usize, marked: usize, n: i32): void {
  const m = i16x8.splat(<i16>DIV_M), c = i32x4.splat(DIV_C), k = i16x8.splat(257);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const p = src + (<usize>i << 1);
    const s = v128.load(p);
    v128.store(p, applyLanes(s, narrowLanes(s, m, c), v128.load8x8_u(marked + <usize>i), k));
  }
  for (; i < n; i++) {
    const p = src + (<usize>i << 1);
    store<u16>(p, <u16>applyScalar(<i32>load<u16>(p), <i32>load<u8>(marked + <usize>i)));
  }
}

/** Grey + alpha, 16-bit: dst[i] = round(grey[i] / 257) for n pixels (alpha is not read). */
export function narrow16ga(src: usize, n: i32, dst: usize): void {
  const m = i16x8.splat(<i16>DIV_M), c = i32x4.splat(DIV_C);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const p = src + (<usize>i << 2);
    const g = i8x16.shuffle(v128.load(p), v128.load(p, 16), 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29);
    const b = narrowLanes(g, m, c);
    v128.store64_lane(dst + <usize>i, i8x16.narrow_i16x8_u(b, b), 0);
  }
  for (; i < n; i++) store<u8>(dst + <usize>i, narrowScalar(<u32>load<u16>(src + (<usize>i << 2))));
}

/** Grey + alpha, 16-bit, in place: apply16 on the grey samples of n pixels; alpha untouched. */
export function apply16ga(src: usize, marked: usize, n: i32): void {
  const m = i16x8.splat(<i16>DIV_M), c = i32x4.splat(DIV_C), k = i16x8.splat(257);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const p = src + (<usize>i << 2);
    const p0 = v128.load(p), p1 = v128.load(p, 16);
    const s = i8x16.shuffle(p0, p1, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29);
    const g = applyLanes(s, narrowLanes(s, m, c), v128.load8x8_u(marked + <usize>i), k);
    v128.store(p, i8x16.shuffle(g, p0, 0, 1, 18, 19, 2, 3, 22, 23, 4, 5, 26, 27, 6, 7, 30, 31));
    v128.store(p, i8x16.shuffle(g, p1, 8, 9, 18, 19, 10, 11, 22, 23, 12, 13, 26, 27, 14, 15, 30, 31), 16);
  }
  for (; i < n; i++) {
    const p = src + (<usize>i << 2);
    store<u16>(p, <u16>applyScalar(<i32>load<u16>(p), <i32>load<u8>(marked + <usize>i)));
  }
}

/** Grey + alpha, 8-bit: dst[i] = grey[i] for n pixels. */
export function narrowGa8(src: usize, n: i32, dst: usize): void {
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = src + (<usize>i << 1);
    v128.store(dst + <usize>i, i8x16.shuffle(v128.load(p), v128.load(p, 16), 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30));
  }
  for (; i < n; i++) store<u8>(dst + <usize>i, load<u8>(src + (<usize>i << 1)));
}

/** Grey + alpha, 8-bit, in place: grey[i] = marked[i] for n pixels; alpha untouched. */
export function applyGa8(src: usize, marked: usize, n: i32): void {
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = src + (<usize>i << 1);
    const g = v128.load(marked + <usize>i);
    v128.store(p, i8x16.shuffle(g, v128.load(p), 0, 17, 1, 19, 2, 21, 3, 23, 4, 25, 5, 27, 6, 29, 7, 31));
    v128.store(p, i8x16.shuffle(g, v128.load(p, 16), 8, 17, 9, 19, 10, 21, 11, 23, 12, 25, 13, 27, 14, 29, 15, 31), 16);
  }
  for (; i < n; i++) store<u8>(src + (<usize>i << 1), load<u8>(marked + <usize>i));
}
