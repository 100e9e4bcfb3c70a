// Orthonormal 8x8 DCT-II (forward) and DCT-III (inverse) over the full blocks of an f32 plane,
// in place or out of place. Y = C X C^T with C[u][k] = a(u) cos((2k + 1) u pi / 16),
// a(0) = sqrt(1/8), a(u) = sqrt(2/8). A block lives in 16 v128 values (rows as two halves of
// four columns). The 1-D transform runs down the columns, four at a time, by the even / odd
// split: s = x[k] + x[7-k] and d = x[k] - x[7-k]; the even outputs are a 4-point DCT of s (6
// multiplies), the odd ones a symmetric 4 x 4 matrix times d (16). The rows are done the same
// way between two 8 x 8 transposes. 24 multiplies per 8 points where the matrix form takes 64.

import { storeTransposed } from "./simd";

// @ts-ignore: decorator
@inline const H4: f32 = 0.35355339059327373; // cos(pi/4) / 2 = sqrt(1/8)
// @ts-ignore: decorator
@inline const H1: f32 = 0.4903926402016152; // cos(k pi / 16) / 2
// @ts-ignore: decorator
@inline const H2: f32 = 0.46193976625564337;
// @ts-ignore: decorator
@inline const H3: f32 = 0.4157348061512726;
// @ts-ignore: decorator
@inline const H5: f32 = 0.27778511650980114;
// @ts-ignore: decorator
@inline const H6: f32 = 0.19134171618254492;
// @ts-ignore: decorator
@inline const H7: f32 = 0.09754516100806417;

// @ts-ignore: decorator
@inline function mul(a: v128, c: f32): v128 { return f32x4.mul(a, f32x4.splat(c)); }
// @ts-ignore: decorator
@inline function add(a: v128, b: v128): v128 { return f32x4.add(a, b); }
// @ts-ignore: decorator
@inline function sub(a: v128, b: v128): v128 { return f32x4.sub(a, b); }

/**
 * The odd part, symmetric: returns row `r` of M d, M = [C1 C3 C5 C7; C3 -C7 -C1 -C5;
 * C5 -C1 C7 C3; C7 -C5 C3 -C1] / 2 (the same matrix forward and inverse).
 */
// @ts-ignore: decorator
@inline function odd(d0: v128, d1: v128, d2: v128, d3: v128, r: i32): v128 {
  if (r == 0) return add(add(mul(d0, H1), mul(d1, H3)), add(mul(d2, H5), mul(d3, H7)));
  if (r == 1) return sub(sub(mul(d0, H3), mul(d1, H7)), add(mul(d2, H1), mul(d3, H5)));
  if (r == 2) return add(sub(mul(d0, H5), mul(d1, H1)), add(mul(d2, H7), mul(d3, H3)));
  return add(sub(mul(d0, H7), mul(d1, H5)), sub(mul(d2, H3), mul(d3, H1)));
}

// One block's 16 vectors, rows r = 0..7 as (r, low four columns) at 2 r and (r, high) at 2 r + 1.
// Kept in a small static buffer between passes: locals would need 16 live v128 values plus
// temporaries, more than the 16 x86 vector registers, and spill anyway.
const BUF: usize = memory.data(256, 16);

/**
 * The 1-D transform down eight rows of four columns: rows read at q + r * qs, written to BUF
 * at p (row stride 32 bytes). inverse: DCT-III.
 */
// @ts-ignore: decorator
@inline function columns(q: usize, qs: usize, p: usize, inverse: bool): void {
  const x0 = v128.load(q), x1 = v128.load(q + qs), x2 = v128.load(q + 2 * qs), x3 = v128.load(q + 3 * qs);
  const x4 = v128.load(q + 4 * qs), x5 = v128.load(q + 5 * qs), x6 = v128.load(q + 6 * qs), x7 = v128.load(q + 7 * qs);
  if (!inverse) {
    const s0 = add(x0, x7), s1 = add(x1, x6), s2 = add(x2, x5), s3 = add(x3, x4);
    const d0 = sub(x0, x7), d1 = sub(x1, x6), d2 = sub(x2, x5), d3 = sub(x3, x4);
    const a0 = add(s0, s3), a1 = add(s1, s2), b0 = sub(s0, s3), b1 = sub(s1, s2);
    v128.store(p, mul(add(a0, a1), H4));
    v128.store(p, odd(d0, d1, d2, d3, 0), 32);
    v128.store(p, add(mul(b0, H2), mul(b1, H6)), 64);
    v128.store(p, odd(d0, d1, d2, d3, 1), 96);
    v128.store(p, mul(sub(a0, a1), H4), 128);
    v128.store(p, odd(d0, d1, d2, d3, 2), 160);
    v128.store(p, sub(mul(b0, H6), mul(b1, H2)), 192);
    v128.store(p, odd(d0, d1, d2, d3, 3), 224);
  } else {
    // x0..x7 hold X0..X7: even part from X0, X2, X4, X6, odd part from X1, X3, X5, X7.
    const p0 = mul(add(x0, x4), H4), p1 = mul(sub(x0, x4), H4);
    const q0 = add(mul(x2, H2), mul(x6, H6)), q1 = sub(mul(x2, H6), mul(x6, H2));
    const e0 = add(p0, q0), e3 = sub(p0, q0), e1 = add(p1, q1), e2 = sub(p1, q1);
    const o0 = odd(x1, x3, x5, x7, 0), o1 = odd(x1, x3, x5, x7, 1), o2 = odd(x1, x3, x5, x7, 2), o3 = odd(x1, x3, x5, x7, 3);
    v128.store(p, add(e0, o0));
    v128.store(p, add(e1, o1), 32);
    v128.store(p, add(e2, o2), 64);
    v128.store(p, add(e3, o3), 96);
    v128.store(p, sub(e3, o3), 128);
    v128.store(p, sub(e2, o2), 160);
    v128.store(p, sub(e1, o1), 192);
    v128.store(p, sub(e0, o0), 224);
  }
}

/** Transpose the 8 x 8 block in BUF into rows at o (byte stride os; may be BUF itself, 32). */
// @ts-ignore: decorator
@inline function transposeBuf(o: usize, os: usize): void {
  const a0 = v128.load(BUF), a1 = v128.load(BUF, 32), a2 = v128.load(BUF, 64), a3 = v128.load(BUF, 96);
  const b0 = v128.load(BUF, 16), b1 = v128.load(BUF, 48), b2 = v128.load(BUF, 80), b3 = v128.load(BUF, 112);
  const c0 = v128.load(BUF, 128), c1 = v128.load(BUF, 160), c2 = v128.load(BUF, 192), c3 = v128.load(BUF, 224);
  const d0 = v128.load(BUF, 144), d1 = v128.load(BUF, 176), d2 = v128.load(BUF, 208), d3 = v128.load(BUF, 240);
  // [A B; C D]^T = [A^T C^T; B^T D^T]
  storeTransposed(a0, a1, a2, a3, o, os);
  storeTransposed(c0, c1, c2, c3, o + 16, os);
  storeTransposed(b0, b1, b2, b3, o + 4 * os, os);
  storeTransposed(d0, d1, d2, d3, o + 4 * os + 16, os);
}

/**
 * The 2-D transform of the block at s (row stride ss bytes) into d (stride ds): columns into
 * BUF, transpose in BUF, columns again (the rows), transpose into d.
 */
// @ts-ignore: decorator
@inline function block(s: usize, ss: usize, d: usize, ds: usize, inverse: bool): void {
  columns(s, ss, BUF, inverse);
  columns(s + 16, ss, BUF + 16, inverse);
  transposeBuf(BUF, 32);
  columns(BUF, 32, BUF, inverse);
  columns(BUF + 16, 32, BUF + 16, inverse);
  transposeBuf(d, ds);
}

/**
 * Transform the bw x bh full 8x8 blocks of the plane `src` (row stride `w` floats) into `dst`
 * (same geometry; may equal src). inverse = 0: DCT-II; inverse = 1: DCT-III.
 */
export function dct8x8(src: usize, dst: usize, w: i32, bw: i32, bh: i32, inverse: i32): void {
  const stride = <usize>w << 2;
  for (let by = 0; by < bh; by++) {
    for (let bx = 0; bx < bw; bx++) {
      const s = src + <usize>(by * 8) * stride + (<usize>(bx * 8) << 2);
      const d = dst + <usize>(by * 8) * stride + (<usize>(bx * 8) << 2);
      if (inverse) block(s, stride, d, stride, true);
      else block(s, stride, d, stride, false);
    }
  }
}
