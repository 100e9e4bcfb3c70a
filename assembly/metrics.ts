// Image quality metrics: sum of squared errors (for PSNR) over the colour channels of two
// pixel buffers, and SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 = 0.01,
// K2 = 0.03, L = 255) between two f32 planes, averaged over the valid window positions.

/** Sum of squared differences of two u8 buffers of n pixels; alpha (ch = 2 or 4) is skipped. */
export function sse(a: usize, b: usize, n: i32, ch: i32): f64 {
  const bytes = n * ch;
  const keep = ch == 4 ? i16x8(-1, -1, -1, 0, -1, -1, -1, 0) : ch == 2 ? i16x8(-1, 0, -1, 0, -1, 0, -1, 0) : i16x8.splat(-1);
  let total: f64 = 0;
  let i = 0;
  let acc = i32x4.splat(0);
  let run = 0;
  for (; i + 16 <= bytes; i += 16) {
    const va = v128.load(a + <usize>i), vb = v128.load(b + <usize>i);
    const dl = v128.and(i16x8.sub(i16x8.extend_low_i8x16_u(va), i16x8.extend_low_i8x16_u(vb)), keep);
    const dh = v128.and(i16x8.sub(i16x8.extend_high_i8x16_u(va), i16x8.extend_high_i8x16_u(vb)), keep);
    acc = i32x4.add(acc, i32x4.add(i32x4.dot_i16x8_s(dl, dl), i32x4.dot_i16x8_s(dh, dh)));
    if (++run == 4096) {
      total += <f64>i32x4.extract_lane(acc, 0) + <f64>i32x4.extract_lane(acc, 1) + <f64>i32x4.extract_lane(acc, 2) + <f64>i32x4.extract_lane(acc, 3);
      acc = i32x4.splat(0);
      run = 0;
    }
  }
  total += <f64>i32x4.extract_lane(acc, 0) + <f64>i32x4.extract_lane(acc, 1) + <f64>i32x4.extract_lane(acc, 2) + <f64>i32x4.extract_lane(acc, 3);
  for (; i < bytes; i++) {
    if ((ch == 4 && (i & 3) == 3) || (ch == 2 && (i & 1) == 1)) continue;
    const d = <f64>load<u8>(a + <usize>i) - <f64>load<u8>(b + <usize>i);
    total += d * d;
  }
  return total;
}

/**
 * Sum of squared differences of two u16 buffers of n pixels (16-bit samples); alpha (ch = 2 or
 * 4) is skipped. Exact: the squares (up to 2^32) are summed in i64 lanes.
 */
export function sse16(a: usize, b: usize, n: i32, ch: i32): f64 {
  const count = n * ch;
  const keep = ch == 4 ? i32x4(-1, -1, -1, 0) : ch == 2 ? i32x4(-1, 0, -1, 0) : i32x4.splat(-1);
  let acc = i64x2.splat(0);
  let i = 0;
  for (; i + 8 <= count; i += 8) {
    const o = <usize>i << 1;
    const va = v128.load(a + o), vb = v128.load(b + o);
    const dl = v128.and(i32x4.sub(i32x4.extend_low_i16x8_u(va), i32x4.extend_low_i16x8_u(vb)), keep);
    const dh = v128.and(i32x4.sub(i32x4.extend_high_i16x8_u(va), i32x4.extend_high_i16x8_u(vb)), keep);
    acc = i64x2.add(acc, i64x2.add(i64x2.extmul_low_i32x4_s(dl, dl), i64x2.extmul_high_i32x4_s(dl, dl)));
    acc = i64x2.add(acc, i64x2.add(i64x2.extmul_low_i32x4_s(dh, dh), i64x2.extmul_high_i32x4_s(dh, dh)));
  }
  let total = i64x2.extract_lane(acc, 0) + i64x2.extract_lane(acc, 1);
  for (; i < count; i++) {
    if ((ch == 4 && (i & 3) == 3) || (ch == 2 && (i & 1) == 1)) continue;
    const d = <i64>load<u16>(a + (<usize>i << 1)) - <i64>load<u16>(b + (<usize>i << 1));
    total += d * d;
  }
  return <f64>total;
}

// Normalised 11-tap Gaussian, sigma 1.5.
const GAUSS: usize = memory.data<f32>([
  0.00102838, 0.00759876, 0.03600077, 0.10936069, 0.21300554, 0.26601172,
  0.21300554, 0.10936069, 0.03600077, 0.00759876, 0.00102838,
]);

/** Horizontal 11-tap Gaussian over `rows` rows: src w wide -> dst (w - 10) wide. */
function gaussRows(src: usize, w: i32, rows: i32, dst: usize): void {
  const ow = w - 10;
  for (let r = 0; r < rows; r++) {
    const s = src + (<usize>(r * w) << 2);
    const d = dst + (<usize>(r * ow) << 2);
    let x = 0;
    for (; x + 4 <= ow; x += 4) {
      let acc = f32x4.splat(0);
      for (let k = 0; k < 11; k++) {
        acc = f32x4.add(acc, f32x4.mul(f32x4.splat(load<f32>(GAUSS + (<usize>k << 2))), v128.load(s + (<usize>(x + k) << 2))));
      }
      v128.store(d + (<usize>x << 2), acc);
    }
    for (; x < ow; x++) {
      let acc: f32 = 0;
      for (let k = 0; k < 11; k++) acc += load<f32>(GAUSS + (<usize>k << 2)) * load<f32>(s + (<usize>(x + k) << 2));
      store<f32>(d + (<usize>x << 2), acc);
    }
  }
}

/** Vertical 11-tap Gaussian of one output row (ow wide) starting at input row r. */
// @ts-ignore: decorator
@inline function gaussCol4(p: usize, ow: i32, x: i32, r: i32): v128 {
  let acc = f32x4.splat(0);
  for (let k = 0; k < 11; k++) {
    acc = f32x4.add(acc, f32x4.mul(f32x4.splat(load<f32>(GAUSS + (<usize>k << 2))), v128.load(p + (<usize>((r + k) * ow + x) << 2))));
  }
  return acc;
}

/**
 * Mean SSIM of two f32 planes (w x h, both at least 11 x 11). tmp holds 10 * w * h floats.
 */
export function ssim(a: usize, b: usize, w: i32, h: i32, tmp: usize): f64 {
  const n = w * h;
  const ow = w - 10, oh = h - 10;
  const plane = <usize>n << 2;
  // products: a, b, a^2, b^2, ab
  const pa = tmp, pb = tmp + plane, paa = tmp + 2 * plane, pbb = tmp + 3 * plane, pab = tmp + 4 * plane;
  memory.copy(pa, a, plane);
  memory.copy(pb, b, plane);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const va = v128.load(a + o), vb = v128.load(b + o);
    v128.store(paa + o, f32x4.mul(va, va));
    v128.store(pbb + o, f32x4.mul(vb, vb));
    v128.store(pab + o, f32x4.mul(va, vb));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const va = load<f32>(a + o), vb = load<f32>(b + o);
    store<f32>(paa + o, va * va);
    store<f32>(pbb + o, vb * vb);
    store<f32>(pab + o, va * vb);
  }
  // horizontal pass into the second half of tmp
  const hp = <usize>(ow * h) << 2;
  const h0 = tmp + 5 * plane;
  for (let p = 0; p < 5; p++) gaussRows(tmp + <usize>p * plane, w, h, h0 + <usize>p * hp);
  const ha = h0, hb = h0 + hp, haa = h0 + 2 * hp, hbb = h0 + 3 * hp, hab = h0 + 4 * hp;
  const C1: f32 = 6.5025, C2: f32 = 58.5225; // (0.01*255)^2, (0.03*255)^2
  let total: f64 = 0;
  for (let r = 0; r < oh; r++) {
    let x = 0;
    let rowAcc = f32x4.splat(0);
    for (; x + 4 <= ow; x += 4) {
      const ma = gaussCol4(ha, ow, x, r), mb = gaussCol4(hb, ow, x, r);
      const saa = f32x4.sub(gaussCol4(haa, ow, x, r), f32x4.mul(ma, ma));
      const sbb = f32x4.sub(gaussCol4(hbb, ow, x, r), f32x4.mul(mb, mb));
      const sab = f32x4.sub(gaussCol4(hab, ow, x, r), f32x4.mul(ma, mb));
      const num = f32x4.mul(
        f32x4.add(f32x4.mul(f32x4.splat(2), f32x4.mul(ma, mb)), f32x4.splat(C1)),
        f32x4.add(f32x4.mul(f32x4.splat(2), sab), f32x4.splat(C2)));
      const den = f32x4.mul(
        f32x4.add(f32x4.add(f32x4.mul(ma, ma), f32x4.mul(mb, mb)), f32x4.splat(C1)),
        f32x4.add(f32x4.add(saa, sbb), f32x4.splat(C2)));
      rowAcc = f32x4.add(rowAcc, f32x4.div(num, den));
    }
    let row = <f64>f32x4.extract_lane(rowAcc, 0) + <f64>f32x4.extract_lane(rowAcc, 1) + <f64>f32x4.extract_lane(rowAcc, 2) + <f64>f32x4.extract_lane(rowAcc, 3);
    for (; x < ow; x++) {
      let ma: f32 = 0, mb: f32 = 0, eaa: f32 = 0, ebb: f32 = 0, eab: f32 = 0;
      for (let k = 0; k < 11; k++) {
        const g = load<f32>(GAUSS + (<usize>k << 2));
        const o = <usize>((r + k) * ow + x) << 2;
        ma += g * load<f32>(ha + o); mb += g * load<f32>(hb + o);
        eaa += g * load<f32>(haa + o); ebb += g * load<f32>(hbb + o); eab += g * load<f32>(hab + o);
      }
      const saa = eaa - ma * ma, sbb = ebb - mb * mb, sab = eab - ma * mb;
      const two: f32 = 2;
      row += <f64>(((two * ma * mb + C1) * (two * sab + C2)) / ((ma * ma + mb * mb + C1) * (saa + sbb + C2)));
    }
    total += row;
  }
  return total / <f64>(ow * oh);
}
