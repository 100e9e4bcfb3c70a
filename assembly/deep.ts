// Pre- and post-processing of the deep watermark (src/deep): the networks H and R run on planar
// float RGB at a fixed working size, the image has any size and 1, 3 or 4 interleaved u8
// channels.
//   deepInput   pixels -> planar [3][dh][dw] in [0, 1] (area when shrinking an axis, bilinear
//               when enlarging it; grey replicated to the three planes)
//   deepTiles   planar [3][h][w] -> tiles [T][3][tile][tile], row-major tile order
//   addResidual residual planes [3][rh][rw] (in [0, 1] units) upsampled bilinearly, x 255,
//               added to R, G, B (grey: their luma), rounded and saturated; alpha untouched
//   tileNc      the average of T extracted logos and its Pearson correlation with the logo
// Geometry as in resample.ts: along an axis, scale s = input pixels per output pixel.

import { loadRgb4, grey4 } from "./color";
import { areaTable, areaApply, bilinearTable, bilinearRows, bilinearRowsSimd, lerp4, addLuma } from "./resample";

// @ts-ignore: decorator
@inline const KR: f32 = 0.299;
// @ts-ignore: decorator
@inline const KG: f32 = 0.587;
// @ts-ignore: decorator
@inline const KB: f32 = 0.114;

// @ts-ignore: decorator
@inline function align16(p: usize): usize {
  return (p + 15) & ~(<usize>15);
}

/**
 * One weighted pixel row into three f32 rows r, g, b (only r for grey): row = wt * pixels, or
 * row += wt * pixels when `acc`. Reads 16 bytes at the last group of four pixels (see loadRgb4).
 */
// @ts-ignore: decorator
@inline function weightedRow(p: usize, w: i32, ch: i32, r: usize, g: usize, b: usize, wt: f32, acc: bool): void {
  const wv = f32x4.splat(wt);
  const m = i32x4.splat(0xff);
  let x = 0;
  if (ch == 1) {
    for (; x + 4 <= w; x += 4) {
      const q = <usize>x << 2;
      const v = f32x4.mul(grey4(p + <usize>x), wv);
      v128.store(r + q, acc ? f32x4.add(v128.load(r + q), v) : v);
    }
    for (; x < w; x++) {
      const q = <usize>x << 2;
      const v = <f32>load<u8>(p + <usize>x) * wt;
      store<f32>(r + q, acc ? load<f32>(r + q) + v : v);
    }
    return;
  }
  for (; x + 4 <= w; x += 4) {
    const q = <usize>x << 2;
    const v = loadRgb4(p + <usize>(x * ch), ch);
    const vr = f32x4.mul(f32x4.convert_i32x4_s(v128.and(v, m)), wv);
    const vg = f32x4.mul(f32x4.convert_i32x4_s(v128.and(i32x4.shr_u(v, 8), m)), wv);
    const vb = f32x4.mul(f32x4.convert_i32x4_s(v128.and(i32x4.shr_u(v, 16), m)), wv);
    if (acc) {
      v128.store(r + q, f32x4.add(v128.load(r + q), vr));
      v128.store(g + q, f32x4.add(v128.load(g + q), vg));
      v128.store(b + q, f32x4.add(v128.load(b + q), vb));
    } else {
      v128.store(r + q, vr);
      v128.store(g + q, vg);
      v128.store(b + q, vb);
    }
  }
  for (; x < w; x++) {
    const q = <usize>x << 2;
    const s = p + <usize>(x * ch);
    const vr = <f32>load<u8>(s) * wt, vg = <f32>load<u8>(s, 1) * wt, vb = <f32>load<u8>(s, 2) * wt;
    if (acc) {
      store<f32>(r + q, load<f32>(r + q) + vr);
      store<f32>(g + q, load<f32>(g + q) + vg);
      store<f32>(b + q, load<f32>(b + q) + vb);
    } else {
      store<f32>(r + q, vr);
      store<f32>(g + q, vg);
      store<f32>(b + q, vb);
    }
  }
}

/**
 * Pixels (w x h, ch = 1, 3 or 4 interleaved u8) to planar f32 RGB [3][dh][dw] in [0, 1]: each
 * axis area-resampled when it shrinks (dw <= w), bilinear when it grows, with scale w / dw
 * (h / dh); the aspect ratio is not kept. Grey is replicated to the three planes, alpha ignored.
 * Vertical pass straight from the pixels (deinterleaved on the fly), then the horizontal pass
 * of resample.ts per plane. `tmp` holds 3 * dh * w + 6 * dw + 2 * dh + 16 floats.
 */
export function deepInput(src: usize, w: i32, h: i32, ch: i32, dst: usize, dw: i32, dh: i32, tmp: usize): void {
  if (dh <= h) {
    deepInputRows(src, 0, h, w, h, ch, dh, tmp);
  } else {
    const sy = <f64>h / <f64>dh;
    const ytab = tmp;
    const rows = align16(ytab + (<usize>(2 * dh) << 2));
    const plane = <usize>(dh * w) << 2;
    const stride = <usize>(w * ch);
    const inv: f64 = 1.0 / 255.0;
    bilinearTable(dh, h, sy, ytab);
    for (let o = 0; o < dh; o++) {
      const i = load<i32>(ytab + (<usize>o << 2));
      const t = load<f32>(ytab + (<usize>(dh + o) << 2));
      const j = i + 1 < h ? i + 1 : i;
      const r = rows + <usize>o * (<usize>w << 2);
      weightedRow(src + <usize>i * stride, w, ch, r, r + plane, r + 2 * plane, <f32>((1 - <f64>t) * inv), false);
      weightedRow(src + <usize>j * stride, w, ch, r, r + plane, r + 2 * plane, <f32>(<f64>t * inv), true);
    }
  }
  deepInputFinish(w, ch, dst, dw, dh, tmp);
}

/**
 * deepInput's vertical area pass (dh <= h) over the image rows y0 to y1 only, `src` pointing at
 * row y0 (and 16 readable bytes after row y1 - 1): called over consecutive bands from y0 = 0 to
 * h, then deepInputFinish, it gives what deepInput gives, bit for bit, without the whole image
 * in memory at once. `tmp` as deepInput's, kept between the calls.
 */
export function deepInputRows(src: usize, y0: i32, y1: i32, w: i32, h: i32, ch: i32, dh: i32, tmp: usize): void {
  const sy = <f64>h / <f64>dh;
  const rows = align16(tmp + (<usize>(2 * dh) << 2));
  const plane = <usize>(dh * w) << 2;
  const stride = <usize>(w * ch);
  const inv: f64 = 1.0 / 255.0;
  let o = <i32>Math.floor(<f64>y0 / sy) - 1;
  if (o < 0) o = 0;
  for (; o < dh; o++) {
    const a = <f64>o * sy;
    if (a >= <f64>y1) break;
    const b = Math.min(<f64>(o + 1) * sy, <f64>h);
    const i0 = <i32>Math.floor(a);
    const i1 = <i32>Math.ceil(b);
    const r = rows + <usize>o * (<usize>w << 2);
    const norm = inv / (b - a);
    const from = i0 > y0 ? i0 : y0, to = i1 < y1 ? i1 : y1;
    for (let i = from; i < to; i++) {
      const wt = <f32>((Math.min(b, <f64>(i + 1)) - Math.max(a, <f64>i)) * norm);
      weightedRow(src + <usize>(i - y0) * stride, w, ch, r, r + plane, r + 2 * plane, wt, i != i0);
    }
  }
}

/** deepInput's horizontal pass, after its vertical one (deepInputRows over every band). */
export function deepInputFinish(w: i32, ch: i32, dst: usize, dw: i32, dh: i32, tmp: usize): void {
  const sx = <f64>w / <f64>dw;
  const np = ch == 1 ? 1 : 3;
  const rows = align16(tmp + (<usize>(2 * dh) << 2));
  const plane = <usize>(dh * w) << 2;
  const tab = rows + 3 * plane;
  const blk = align16(tab + (<usize>(2 * dw) << 2));
  const out = <usize>(dw * dh) << 2;
  if (dw <= w) {
    areaTable(w, dw, sx, tab);
    for (let c = 0; c < np; c++) areaApply(rows + <usize>c * plane, w, dh, dst + <usize>c * out, dw, tab);
  } else {
    bilinearTable(dw, w, sx, tab);
    for (let c = 0; c < np; c++) {
      if (w >= 4) bilinearRowsSimd(rows + <usize>c * plane, w, dh, dst + <usize>c * out, dw, tab, blk);
      else bilinearRows(rows + <usize>c * plane, w, dh, dst + <usize>c * out, dw, tab);
    }
  }
  if (np == 1) {
    memory.copy(dst + out, dst, out);
    memory.copy(dst + 2 * out, dst, out);
  }
}

/** Copy n floats (v128 body, scalar tail). */
// @ts-ignore: decorator
@inline function copyFloats(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), v128.load(src + (<usize>i << 2)));
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>i << 2)));
}

/**
 * Cut the planar image [c][h][w] into tiles of tile x tile: dst [T][c][tile][tile] with
 * T = (h / tile) * (w / tile) in row-major tile order; a partial last tile row or column is
 * left out.
 */
export function deepTiles(src: usize, w: i32, h: i32, c: i32, tile: i32, dst: usize): void {
  const tx = w / tile, ty = h / tile;
  const row = <usize>tile << 2;
  let d = dst;
  for (let j = 0; j < ty; j++) {
    for (let i = 0; i < tx; i++) {
      for (let k = 0; k < c; k++) {
        const s = src + (<usize>(k * h + j * tile) * <usize>w + <usize>(i * tile)) * 4;
        for (let y = 0; y < tile; y++) {
          copyFloats(d, s + <usize>y * (<usize>w << 2), tile);
          d += row;
        }
      }
    }
  }
}

/** dst[i] = src[i] * s for n floats. */
// @ts-ignore: decorator
@inline function scaled(dst: usize, src: usize, s: f32, n: i32): void {
  const sv = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), f32x4.mul(v128.load(src + (<usize>i << 2)), sv));
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>i << 2)) * s);
}

/** The rounded R and G deltas of four pixels as i16 lanes [r0 r1 r2 r3 g0 g1 g2 g3]. */
// @ts-ignore: decorator
@inline function deltas(r: v128, g: v128): v128 {
  return i16x8.narrow_i32x4_s(i32x4.trunc_sat_f32x4_s(f32x4.nearest(r)), i32x4.trunc_sat_f32x4_s(f32x4.nearest(g)));
}

/**
 * Add the residual `res` (planes [3][rh][rw], in [0, 1] units) to the pixels (w x h, ch = 1, 3
 * or 4 interleaved u8), in place: each plane is upsampled bilinearly to w x h (scale rw / w,
 * rh / h), multiplied by 255, rounded (half to even) and added to R, G, B with saturation to
 * 0..255; grey pixels get the luma (0.299, 0.587, 0.114) of the three planes, through addLuma
 * (a change beyond +-127 counts as +-127). Alpha and `res` are untouched. `tmp` holds
 * 3 * rw * rh + 3 * rh * w + 6 * w + 2 * h + 32 floats.
 */
export function addResidual(pix: usize, w: i32, h: i32, ch: i32, res: usize, rw: i32, rh: i32, tmp: usize): void {
  if (ch == 1) {
    const sx = <f64>rw / <f64>w, sy = <f64>rh / <f64>h;
    const n = rw * rh;
    const rp = <usize>n << 2;
    const sc = tmp;
    // Luma of the residual, x 255, then the grey path of addLuma.
    const kr = f32x4.splat(KR * 255), kg = f32x4.splat(KG * 255), kb = f32x4.splat(KB * 255);
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(sc + o, f32x4.add(f32x4.add(f32x4.mul(v128.load(res + o), kr), f32x4.mul(v128.load(res + rp + o), kg)), f32x4.mul(v128.load(res + 2 * rp + o), kb)));
    }
    for (; i < n; i++) {
      const o = <usize>i << 2;
      store<f32>(sc + o, load<f32>(res + o) * (KR * 255) + load<f32>(res + rp + o) * (KG * 255) + load<f32>(res + 2 * rp + o) * (KB * 255));
    }
    addLuma(pix, w, h, 1, sc, rw, rh, sx, sy, align16(sc + rp));
    return;
  }
  addResidualPrepare(w, h, res, rw, rh, tmp);
  addResidualRows(pix, 0, h, w, h, ch, rw, rh, tmp);
}

/**
 * addResidual's first half for colour images (ch 3 or 4): the residual x 255, upsampled along x
 * to w, into `tmp` (3 * rw * rh + 3 * rh * w + 2 * (w + h) floats and alignment), for
 * addResidualRows.
 */
export function addResidualPrepare(w: i32, h: i32, res: usize, rw: i32, rh: i32, tmp: usize): void {
  const sx = <f64>rw / <f64>w, sy = <f64>rh / <f64>h;
  const n = rw * rh;
  const rp = <usize>n << 2;
  const sc = tmp;
  scaled(sc, res, 255, 3 * n);
  const xt = align16(sc + 3 * rp);
  const yt = xt + (<usize>(2 * w) << 2);
  const rows = align16(yt + (<usize>(2 * h) << 2));
  const plane = <usize>(rh * w) << 2;
  const blk = align16(rows + 3 * plane);
  bilinearTable(w, rw, sx, xt);
  bilinearTable(h, rh, sy, yt);
  for (let c = 0; c < 3; c++) {
    if (rw >= 4) bilinearRowsSimd(sc + <usize>c * rp, rw, rh, rows + <usize>c * plane, w, xt, blk);
    else bilinearRows(sc + <usize>c * rp, rw, rh, rows + <usize>c * plane, w, xt);
  }
}

/**
 * addResidual's second half for colour images: add the prepared residual to the image rows y0
 * to y1, `pix` pointing at row y0 (16 readable bytes after the last row). Over consecutive bands
 * it gives what addResidual gives, without the whole image in memory at once.
 */
export function addResidualRows(pix: usize, y0: i32, y1: i32, w: i32, h: i32, ch: i32, rw: i32, rh: i32, tmp: usize): void {
  const rp = <usize>(rw * rh) << 2;
  const xt = align16(tmp + 3 * rp);
  const yt = xt + (<usize>(2 * w) << 2);
  const rows = align16(yt + (<usize>(2 * h) << 2));
  const plane = <usize>(rh * w) << 2;
  const zero = i32x4.splat(0);
  const stride = <usize>(w * ch);
  for (let y = y0; y < y1; y++) {
    const i = load<i32>(yt + (<usize>y << 2));
    const t = load<f32>(yt + (<usize>(h + y) << 2));
    const j = i + 1 < rh ? i + 1 : i;
    const ri = rows + (<usize>(i * w) << 2), rj = rows + (<usize>(j * w) << 2);
    const tv = f32x4.splat(t);
    const p = pix + <usize>(y - y0) * stride;
    let x = 0;
    if (ch == 4) {
      for (; x + 4 <= w; x += 4) {
        const rg = deltas(lerp4(ri, rj, tv, x), lerp4(ri + plane, rj + plane, tv, x));
        const bd = i32x4.trunc_sat_f32x4_s(f32x4.nearest(lerp4(ri + 2 * plane, rj + 2 * plane, tv, x)));
        const bz = i16x8.narrow_i32x4_s(bd, zero); // [b0 b1 b2 b3 0 0 0 0]
        const q = p + (<usize>x << 2);
        const v = v128.load(q);
        const lo = i16x8.add_sat_s(i16x8.extend_low_i8x16_u(v), i8x16.shuffle(rg, bz, 0, 1, 8, 9, 16, 17, 24, 25, 2, 3, 10, 11, 18, 19, 24, 25));
        const hi = i16x8.add_sat_s(i16x8.extend_high_i8x16_u(v), i8x16.shuffle(rg, bz, 4, 5, 12, 13, 20, 21, 24, 25, 6, 7, 14, 15, 22, 23, 24, 25));
        v128.store(q, i8x16.narrow_i16x8_u(lo, hi));
      }
    } else {
      for (; x + 4 <= w; x += 4) {
        const rg = deltas(lerp4(ri, rj, tv, x), lerp4(ri + plane, rj + plane, tv, x));
        const bd = i32x4.trunc_sat_f32x4_s(f32x4.nearest(lerp4(ri + 2 * plane, rj + 2 * plane, tv, x)));
        const bz = i16x8.narrow_i32x4_s(bd, zero);
        const q = p + <usize>(x * 3);
        const v = v128.load(q);
        const lo = i16x8.add_sat_s(i16x8.extend_low_i8x16_u(v), i8x16.shuffle(rg, bz, 0, 1, 8, 9, 16, 17, 2, 3, 10, 11, 18, 19, 4, 5, 12, 13));
        const hi = i16x8.add_sat_s(i16x8.extend_high_i8x16_u(v), i8x16.shuffle(rg, bz, 20, 21, 6, 7, 14, 15, 22, 23, 24, 25, 24, 25, 24, 25, 24, 25));
        // 12 bytes only (see addLuma: a 16-byte store overlapping the next load stalls).
        const r = i8x16.narrow_i16x8_u(lo, hi);
        v128.store64_lane(q, r, 0);
        v128.store32_lane(q, r, 2, 8);
      }
    }
    for (; x < w; x++) {
      const q = p + <usize>(x * ch);
      for (let c = 0; c < 3; c++) {
        const o = <usize>c * plane + (<usize>x << 2);
        const a = load<f32>(ri + o);
        const d = <i32>nearest<f32>(a + t * (load<f32>(rj + o) - a));
        const v = <i32>load<u8>(q + <usize>c) + d;
        store<u8>(q + <usize>c, <u8>(v < 0 ? 0 : v > 255 ? 255 : v));
      }
    }
  }
}

/**
 * The mean `e` (n floats) of `tiles` extracted logos laid out one after another (src, tiles * n
 * floats), and its Pearson correlation with `logo` (n floats): sum (e - mean e)(L - mean L) /
 * sqrt(sum (e - mean e)^2 * sum (L - mean L)^2), 0 when either is constant.
 */
export function tileNc(src: usize, tiles: i32, n: i32, logo: usize, e: usize): f64 {
  const inv = f32x4.splat(<f32>(1.0 / <f64>tiles));
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    let acc = v128.load(src + o);
    for (let t = 1; t < tiles; t++) acc = f32x4.add(acc, v128.load(src + (<usize>(t * n) << 2) + o));
    v128.store(e + o, f32x4.mul(acc, inv));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    let acc = load<f32>(src + o);
    for (let t = 1; t < tiles; t++) acc += load<f32>(src + (<usize>(t * n) << 2) + o);
    store<f32>(e + o, acc * <f32>(1.0 / <f64>tiles));
  }
  // Two passes in f64 (means, then centred sums): n is small (the logo), and the correlation of
  // a nearly constant extraction must not come from cancellation.
  let se = f64x2.splat(0), sl = f64x2.splat(0);
  i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const ev = v128.load(e + o), lv = v128.load(logo + o);
    se = f64x2.add(se, f64x2.add(f64x2.promote_low_f32x4(ev), f64x2.promote_low_f32x4(i32x4.shuffle(ev, ev, 2, 3, 0, 1))));
    sl = f64x2.add(sl, f64x2.add(f64x2.promote_low_f32x4(lv), f64x2.promote_low_f32x4(i32x4.shuffle(lv, lv, 2, 3, 0, 1))));
  }
  let Se = f64x2.extract_lane(se, 0) + f64x2.extract_lane(se, 1);
  let Sl = f64x2.extract_lane(sl, 0) + f64x2.extract_lane(sl, 1);
  for (; i < n; i++) {
    Se += <f64>load<f32>(e + (<usize>i << 2));
    Sl += <f64>load<f32>(logo + (<usize>i << 2));
  }
  const me = f64x2.splat(Se / <f64>n), ml = f64x2.splat(Sl / <f64>n);
  let see = f64x2.splat(0), sll = f64x2.splat(0), sel = f64x2.splat(0);
  i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const ev = v128.load(e + o), lv = v128.load(logo + o);
    const e0 = f64x2.sub(f64x2.promote_low_f32x4(ev), me), e1 = f64x2.sub(f64x2.promote_low_f32x4(i32x4.shuffle(ev, ev, 2, 3, 0, 1)), me);
    const l0 = f64x2.sub(f64x2.promote_low_f32x4(lv), ml), l1 = f64x2.sub(f64x2.promote_low_f32x4(i32x4.shuffle(lv, lv, 2, 3, 0, 1)), ml);
    see = f64x2.add(see, f64x2.add(f64x2.mul(e0, e0), f64x2.mul(e1, e1)));
    sll = f64x2.add(sll, f64x2.add(f64x2.mul(l0, l0), f64x2.mul(l1, l1)));
    sel = f64x2.add(sel, f64x2.add(f64x2.mul(e0, l0), f64x2.mul(e1, l1)));
  }
  let See = f64x2.extract_lane(see, 0) + f64x2.extract_lane(see, 1);
  let Sll = f64x2.extract_lane(sll, 0) + f64x2.extract_lane(sll, 1);
  let Sel = f64x2.extract_lane(sel, 0) + f64x2.extract_lane(sel, 1);
  const mE = Se / <f64>n, mL = Sl / <f64>n;
  for (; i < n; i++) {
    const ev = <f64>load<f32>(e + (<usize>i << 2)) - mE, lv = <f64>load<f32>(logo + (<usize>i << 2)) - mL;
    See += ev * ev; Sll += lv * lv; Sel += ev * lv;
  }
  if (!(See > 0) || !(Sll > 0)) return 0;
  let r = Sel / Math.sqrt(See * Sll);
  if (r > 1) r = 1;
  if (r < -1) r = -1;
  return r;
}
