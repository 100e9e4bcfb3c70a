// What the kernels share: a rounding constant, the pieces of a 4 x 4 transpose of f32x4 rows
// (unpack the low or high pairs of two rows, then take the low or high halves of two such
// results; V8 compiles each to one x86 unpack instruction), and two uses of the transpose.

/**
 * 1.5 * 2^23: adding it to a float |x| < 2^22 leaves round-half-even(x) in the low mantissa
 * bits, i.e. the float's bits are ROUND_MAGIC_BITS + round(x) (one add instead of nearest +
 * saturating truncation, which on x86 take about ten instructions).
 */
// @ts-ignore: decorator
@inline export const ROUND_MAGIC: f32 = 12582912.0;
// @ts-ignore: decorator
@inline export const ROUND_MAGIC_BITS: i32 = 0x4b400000;

// @ts-ignore: decorator
@inline export function unpackLo(a: v128, b: v128): v128 { return v128.shuffle<i32>(a, b, 0, 4, 1, 5); }
// @ts-ignore: decorator
@inline export function unpackHi(a: v128, b: v128): v128 { return v128.shuffle<i32>(a, b, 2, 6, 3, 7); }
// @ts-ignore: decorator
@inline export function lo64(a: v128, b: v128): v128 { return v128.shuffle<i64>(a, b, 0, 2); }
// @ts-ignore: decorator
@inline export function hi64(a: v128, b: v128): v128 { return v128.shuffle<i64>(a, b, 1, 3); }

/** Store the transpose of the 4 x 4 block with rows r0..r3 at o, o + os, o + 2 os, o + 3 os. */
// @ts-ignore: decorator
@inline export function storeTransposed(r0: v128, r1: v128, r2: v128, r3: v128, o: usize, os: usize): void {
  const t0 = unpackLo(r0, r1), t1 = unpackLo(r2, r3), t2 = unpackHi(r0, r1), t3 = unpackHi(r2, r3);
  v128.store(o, lo64(t0, t1));
  v128.store(o + os, hi64(t0, t1));
  v128.store(o + 2 * os, lo64(t2, t3));
  v128.store(o + 3 * os, hi64(t2, t3));
}

/** The sums of the four lanes of r0, r1, r2 and r3, in that order: a transpose, then three adds. */
// @ts-ignore: decorator
@inline export function laneSums(r0: v128, r1: v128, r2: v128, r3: v128): v128 {
  const t0 = unpackLo(r0, r1), t1 = unpackLo(r2, r3), t2 = unpackHi(r0, r1), t3 = unpackHi(r2, r3);
  return f32x4.add(f32x4.add(lo64(t0, t1), hi64(t0, t1)), f32x4.add(lo64(t2, t3), hi64(t2, t3)));
}
