/**
 * A small counter-based PRNG (mulberry32): uniform numbers in [0, 1) from a 32-bit seed, the
 * same sequence on every runtime. For reproducible choices (training runs, the evidence's
 * reference patterns), never for secrets (keys go through HKDF).
 * @example
 * const rand = rng(42);
 * rand(); // 0.6011037519201636
 */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
