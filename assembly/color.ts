// Colour conversion, BT.601 full range (JPEG's YCbCr):
//   Y  =  0.299 R + 0.587 G + 0.114 B
//   Cb = -0.168736 R - 0.331264 G + 0.5 B + 128
//   Cr =  0.5 R - 0.418688 G - 0.081312 B + 128
// Pixels are interleaved u8 with 1 (grey), 3 (RGB) or 4 (RGBA) channels; planes are f32.

// @ts-ignore: decorator
@inline const KR: f32 = 0.299;
// @ts-ignore: decorator
@inline const KG: f32 = 0.587;
// @ts-ignore: decorator
@inline const KB: f32 = 0.114;

/** Four pixels as u32 lanes laid out r | g << 8 | b << 16 (ch 3 or 4). Reads 16 bytes. */
// @ts-ignore: decorator
@inline export function loadRgb4(p: usize, ch: i32): v128 {
  const v = v128.load(p);
  if (ch == 4) return v;
  return i8x16.swizzle(v, i8x16(0, 1, 2, -128, 3, 4, 5, -128, 6, 7, 8, -128, 9, 10, 11, -128));
}

/** Luma of four packed pixels (see loadRgb4). */
// @ts-ignore: decorator
@inline export function luma4(v: v128): v128 {
  const m = i32x4.splat(0xff);
  const r = f32x4.convert_i32x4_s(v128.and(v, m));
  const g = f32x4.convert_i32x4_s(v128.and(i32x4.shr_u(v, 8), m));
  const b = f32x4.convert_i32x4_s(v128.and(i32x4.shr_u(v, 16), m));
  return f32x4.add(f32x4.add(f32x4.mul(r, f32x4.splat(KR)), f32x4.mul(g, f32x4.splat(KG))), f32x4.mul(b, f32x4.splat(KB)));
}

/** Four grey pixels widened to f32 lanes. Reads 4 bytes. */
// @ts-ignore: decorator
@inline export function grey4(p: usize): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(p))));
}

/** Scalar luma of one pixel. */
// @ts-ignore: decorator
@inline export function luma1(p: usize, ch: i32): f32 {
  if (ch < 3) return <f32>load<u8>(p);
  return KR * <f32>load<u8>(p) + KG * <f32>load<u8>(p, 1) + KB * <f32>load<u8>(p, 2);
}

/** Luma of `n` pixels at `src` into the f32 plane `dst`. */
export function rgbToY(src: usize, n: i32, ch: i32, dst: usize): void {
  let i = 0;
  if (ch == 1) {
    for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), grey4(src + <usize>i));
  } else if (ch >= 3) {
    for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), luma4(loadRgb4(src + <usize>(i * ch), ch)));
  }
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), luma1(src + <usize>(i * ch), ch));
}

/** Pixels to three f32 planes Y, Cb, Cr. Grey gives Cb = Cr = 128. */
export function rgbToYcc(src: usize, n: i32, ch: i32, y: usize, cb: usize, cr: usize): void {
  let i = 0;
  const c128 = f32x4.splat(128);
  if (ch >= 3) {
    const m = i32x4.splat(0xff);
    for (; i + 4 <= n; i += 4) {
      const v = loadRgb4(src + <usize>(i * ch), ch);
      const r = f32x4.convert_i32x4_s(v128.and(v, m));
      const g = f32x4.convert_i32x4_s(v128.and(i32x4.shr_u(v, 8), m));
      const b = f32x4.convert_i32x4_s(v128.and(i32x4.shr_u(v, 16), m));
      const o = <usize>i << 2;
      v128.store(y + o, f32x4.add(f32x4.add(f32x4.mul(r, f32x4.splat(KR)), f32x4.mul(g, f32x4.splat(KG))), f32x4.mul(b, f32x4.splat(KB))));
      v128.store(cb + o, f32x4.add(f32x4.add(f32x4.add(f32x4.mul(r, f32x4.splat(-0.168736)), f32x4.mul(g, f32x4.splat(-0.331264))), f32x4.mul(b, f32x4.splat(0.5))), c128));
      v128.store(cr + o, f32x4.add(f32x4.add(f32x4.add(f32x4.mul(r, f32x4.splat(0.5)), f32x4.mul(g, f32x4.splat(-0.418688))), f32x4.mul(b, f32x4.splat(-0.081312))), c128));
    }
  } else {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(y + o, grey4(src + <usize>i));
      v128.store(cb + o, c128);
      v128.store(cr + o, c128);
    }
  }
  for (; i < n; i++) {
    const p = src + <usize>(i * ch);
    const o = <usize>i << 2;
    if (ch >= 3) {
      const r = <f32>load<u8>(p), g = <f32>load<u8>(p, 1), b = <f32>load<u8>(p, 2);
      store<f32>(y + o, KR * r + KG * g + KB * b);
      store<f32>(cb + o, -0.168736 * r - 0.331264 * g + 0.5 * b + 128);
      store<f32>(cr + o, 0.5 * r - 0.418688 * g - 0.081312 * b + 128);
    } else {
      store<f32>(y + o, <f32>load<u8>(p));
      store<f32>(cb + o, 128);
      store<f32>(cr + o, 128);
    }
  }
}

// @ts-ignore: decorator
@inline function clampByte(x: f32): u8 {
  const r = nearest<f32>(x);
  return <u8>(r < 0 ? 0 : r > 255 ? 255 : <i32>r);
}

// @ts-ignore: decorator
@inline function toBytes4(x: v128): v128 {
  return i32x4.max_s(i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(x)), i32x4.splat(255)), i32x4.splat(0));
}

/**
 * Three planes back to pixels (rounded, clamped). RGBA keeps the alpha already in `dst`;
 * grey writes Y only.
 */
export function yccToRgb(y: usize, cb: usize, cr: usize, n: i32, ch: i32, dst: usize): void {
  let i = 0;
  if (ch == 4) {
    const c128 = f32x4.splat(128);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const Y = v128.load(y + o);
      const B = f32x4.sub(v128.load(cb + o), c128);
      const R = f32x4.sub(v128.load(cr + o), c128);
      const r = toBytes4(f32x4.add(Y, f32x4.mul(R, f32x4.splat(1.402))));
      const g = toBytes4(f32x4.sub(f32x4.sub(Y, f32x4.mul(B, f32x4.splat(0.344136))), f32x4.mul(R, f32x4.splat(0.714136))));
      const b = toBytes4(f32x4.add(Y, f32x4.mul(B, f32x4.splat(1.772))));
      const p = dst + o;
      const a = v128.and(v128.load(p), i32x4.splat(0xff000000));
      v128.store(p, v128.or(v128.or(r, i32x4.shl(g, 8)), v128.or(i32x4.shl(b, 16), a)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const p = dst + <usize>(i * ch);
    const Y = load<f32>(y + o);
    if (ch >= 3) {
      const B = load<f32>(cb + o) - 128, R = load<f32>(cr + o) - 128;
      store<u8>(p, clampByte(Y + 1.402 * R));
      store<u8>(p, clampByte(Y - 0.344136 * B - 0.714136 * R), 1);
      store<u8>(p, clampByte(Y + 1.772 * B), 2);
    } else {
      store<u8>(p, clampByte(Y));
    }
  }
}
