// Orthonormal 8x8 DCT-II (forward) and DCT-III (inverse) over the full blocks of an f32 plane,
// in place or out of place. Y = C X C^T with C[u][k] = a(u) cos((2k + 1) u pi / 16),
// a(0) = sqrt(1/8), a(u) = sqrt(2/8). Each block lives in 16 v128 registers (rows as two
// halves); both passes are row-vector multiply-adds, with 4x4 transposes in between.

// C (row-major) followed by C^T (row-major).
const MAT: usize = memory.data<f32>([
  0.35355339, 0.35355339, 0.35355339, 0.35355339, 0.35355339, 0.35355339, 0.35355339, 0.35355339,
  0.49039264, 0.41573481, 0.27778512, 0.09754516, -0.09754516, -0.27778512, -0.41573481, -0.49039264,
  0.46193977, 0.19134172, -0.19134172, -0.46193977, -0.46193977, -0.19134172, 0.19134172, 0.46193977,
  0.41573481, -0.09754516, -0.49039264, -0.27778512, 0.27778512, 0.49039264, 0.09754516, -0.41573481,
  0.35355339, -0.35355339, -0.35355339, 0.35355339, 0.35355339, -0.35355339, -0.35355339, 0.35355339,
  0.27778512, -0.49039264, 0.09754516, 0.41573481, -0.41573481, -0.09754516, 0.49039264, -0.27778512,
  0.19134172, -0.46193977, 0.46193977, -0.19134172, -0.19134172, 0.46193977, -0.46193977, 0.19134172,
  0.09754516, -0.27778512, 0.41573481, -0.49039264, 0.49039264, -0.41573481, 0.27778512, -0.09754516,

  0.35355339, 0.49039264, 0.46193977, 0.41573481, 0.35355339, 0.27778512, 0.19134172, 0.09754516,
  0.35355339, 0.41573481, 0.19134172, -0.09754516, -0.35355339, -0.49039264, -0.46193977, -0.27778512,
  0.35355339, 0.27778512, -0.19134172, -0.49039264, -0.35355339, 0.09754516, 0.46193977, 0.41573481,
  0.35355339, 0.09754516, -0.46193977, -0.27778512, 0.35355339, 0.41573481, -0.19134172, -0.49039264,
  0.35355339, -0.09754516, -0.46193977, 0.27778512, 0.35355339, -0.41573481, -0.19134172, 0.49039264,
  0.35355339, -0.27778512, -0.19134172, 0.49039264, -0.35355339, -0.09754516, 0.46193977, -0.41573481,
  0.35355339, -0.41573481, 0.19134172, 0.09754516, -0.35355339, 0.49039264, -0.46193977, 0.27778512,
  0.35355339, -0.49039264, 0.46193977, -0.41573481, 0.35355339, -0.27778512, 0.19134172, -0.09754516,
]);

// Scratch for one block (64 floats) between the passes.
const BUF: usize = memory.data(256, 16);

/** Z = M X for the 8x8 block in BUF (rows of 8 floats), result back into BUF. */
// @ts-ignore: decorator
@inline function mulLeft(m: usize): void {
  const x0l = v128.load(BUF), x0h = v128.load(BUF, 16);
  const x1l = v128.load(BUF, 32), x1h = v128.load(BUF, 48);
  const x2l = v128.load(BUF, 64), x2h = v128.load(BUF, 80);
  const x3l = v128.load(BUF, 96), x3h = v128.load(BUF, 112);
  const x4l = v128.load(BUF, 128), x4h = v128.load(BUF, 144);
  const x5l = v128.load(BUF, 160), x5h = v128.load(BUF, 176);
  const x6l = v128.load(BUF, 192), x6h = v128.load(BUF, 208);
  const x7l = v128.load(BUF, 224), x7h = v128.load(BUF, 240);
  for (let u = 0; u < 8; u++) {
    const r = m + (<usize>u << 5);
    let c = f32x4.splat(load<f32>(r));
    let lo = f32x4.mul(c, x0l), hi = f32x4.mul(c, x0h);
    c = f32x4.splat(load<f32>(r, 4)); lo = f32x4.add(lo, f32x4.mul(c, x1l)); hi = f32x4.add(hi, f32x4.mul(c, x1h));
    c = f32x4.splat(load<f32>(r, 8)); lo = f32x4.add(lo, f32x4.mul(c, x2l)); hi = f32x4.add(hi, f32x4.mul(c, x2h));
    c = f32x4.splat(load<f32>(r, 12)); lo = f32x4.add(lo, f32x4.mul(c, x3l)); hi = f32x4.add(hi, f32x4.mul(c, x3h));
    c = f32x4.splat(load<f32>(r, 16)); lo = f32x4.add(lo, f32x4.mul(c, x4l)); hi = f32x4.add(hi, f32x4.mul(c, x4h));
    c = f32x4.splat(load<f32>(r, 20)); lo = f32x4.add(lo, f32x4.mul(c, x5l)); hi = f32x4.add(hi, f32x4.mul(c, x5h));
    c = f32x4.splat(load<f32>(r, 24)); lo = f32x4.add(lo, f32x4.mul(c, x6l)); hi = f32x4.add(hi, f32x4.mul(c, x6h));
    c = f32x4.splat(load<f32>(r, 28)); lo = f32x4.add(lo, f32x4.mul(c, x7l)); hi = f32x4.add(hi, f32x4.mul(c, x7h));
    // Row u is written after all rows were loaded into registers above.
    v128.store(BUF + (<usize>u << 5), lo);
    v128.store(BUF + (<usize>u << 5), hi, 16);
  }
}

/** Transpose the 4x4 f32 sub-block at (a) into (b) (may be the same address with stride 32). */
// @ts-ignore: decorator
@inline function transposeBuf(): void {
  // Load all rows, transpose quadrants, store.
  const a0 = v128.load(BUF), a1 = v128.load(BUF, 32), a2 = v128.load(BUF, 64), a3 = v128.load(BUF, 96);
  const b0 = v128.load(BUF, 16), b1 = v128.load(BUF, 48), b2 = v128.load(BUF, 80), b3 = v128.load(BUF, 112);
  const c0 = v128.load(BUF, 128), c1 = v128.load(BUF, 160), c2 = v128.load(BUF, 192), c3 = v128.load(BUF, 224);
  const d0 = v128.load(BUF, 144), d1 = v128.load(BUF, 176), d2 = v128.load(BUF, 208), d3 = v128.load(BUF, 240);
  // [A B; C D]^T = [A^T C^T; B^T D^T]
  let t0 = i32x4.shuffle(a0, a1, 0, 4, 1, 5), t1 = i32x4.shuffle(a2, a3, 0, 4, 1, 5);
  let t2 = i32x4.shuffle(a0, a1, 2, 6, 3, 7), t3 = i32x4.shuffle(a2, a3, 2, 6, 3, 7);
  v128.store(BUF, i64x2.shuffle(t0, t1, 0, 2));
  v128.store(BUF, i64x2.shuffle(t0, t1, 1, 3), 32);
  v128.store(BUF, i64x2.shuffle(t2, t3, 0, 2), 64);
  v128.store(BUF, i64x2.shuffle(t2, t3, 1, 3), 96);
  t0 = i32x4.shuffle(c0, c1, 0, 4, 1, 5); t1 = i32x4.shuffle(c2, c3, 0, 4, 1, 5);
  t2 = i32x4.shuffle(c0, c1, 2, 6, 3, 7); t3 = i32x4.shuffle(c2, c3, 2, 6, 3, 7);
  v128.store(BUF, i64x2.shuffle(t0, t1, 0, 2), 16);
  v128.store(BUF, i64x2.shuffle(t0, t1, 1, 3), 48);
  v128.store(BUF, i64x2.shuffle(t2, t3, 0, 2), 80);
  v128.store(BUF, i64x2.shuffle(t2, t3, 1, 3), 112);
  t0 = i32x4.shuffle(b0, b1, 0, 4, 1, 5); t1 = i32x4.shuffle(b2, b3, 0, 4, 1, 5);
  t2 = i32x4.shuffle(b0, b1, 2, 6, 3, 7); t3 = i32x4.shuffle(b2, b3, 2, 6, 3, 7);
  v128.store(BUF, i64x2.shuffle(t0, t1, 0, 2), 128);
  v128.store(BUF, i64x2.shuffle(t0, t1, 1, 3), 160);
  v128.store(BUF, i64x2.shuffle(t2, t3, 0, 2), 192);
  v128.store(BUF, i64x2.shuffle(t2, t3, 1, 3), 224);
  t0 = i32x4.shuffle(d0, d1, 0, 4, 1, 5); t1 = i32x4.shuffle(d2, d3, 0, 4, 1, 5);
  t2 = i32x4.shuffle(d0, d1, 2, 6, 3, 7); t3 = i32x4.shuffle(d2, d3, 2, 6, 3, 7);
  v128.store(BUF, i64x2.shuffle(t0, t1, 0, 2), 144);
  v128.store(BUF, i64x2.shuffle(t0, t1, 1, 3), 176);
  v128.store(BUF, i64x2.shuffle(t2, t3, 0, 2), 208);
  v128.store(BUF, i64x2.shuffle(t2, t3, 1, 3), 240);
}

/**
 * Transform the bw x bh full 8x8 blocks of the plane `src` (row stride `w` floats) into `dst`
 * (same geometry; may equal src). inverse = 0: DCT-II; inverse = 1: DCT-III.
 */
export function dct8x8(src: usize, dst: usize, w: i32, bw: i32, bh: i32, inverse: i32): void {
  const m = inverse ? MAT + 256 : MAT;
  const stride = <usize>w << 2;
  for (let by = 0; by < bh; by++) {
    for (let bx = 0; bx < bw; bx++) {
      const s = src + <usize>(by * 8) * stride + (<usize>(bx * 8) << 2);
      const d = dst + <usize>(by * 8) * stride + (<usize>(bx * 8) << 2);
      for (let r = 0; r < 8; r++) {
        const p = s + <usize>r * stride;
        v128.store(BUF + (<usize>r << 5), v128.load(p));
        v128.store(BUF + (<usize>r << 5), v128.load(p, 16), 16);
      }
      // Y = M X M^T = (M (M X)^T)^T
      mulLeft(m);
      transposeBuf();
      mulLeft(m);
      transposeBuf();
      for (let r = 0; r < 8; r++) {
        const p = d + <usize>r * stride;
        v128.store(p, v128.load(BUF + (<usize>r << 5)));
        v128.store(p, v128.load(BUF + (<usize>r << 5), 16), 16);
      }
    }
  }
}
