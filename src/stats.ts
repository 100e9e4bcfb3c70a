/**
 * Complementary error function with relative error below 1.2e-7 everywhere
 * (Chebyshev fit, Numerical Recipes `erfcc`), so tail probabilities stay accurate far out.
 */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
    t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? r : 2 - r;
}

/** P(Z >= z) for a standard normal Z. */
export function normalUpperTail(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

/** Probability that the CRC-16 of the decoded payload holds by chance. */
export const CRC_CHANCE = 2 ** -16;

/**
 * Combine the pilot's one-sided p-value with the CRC check into one exact p-value. Under the
 * null hypothesis the decoded bits are noise, so the CRC holds with probability q = 2^-16,
 * independently of the pilot (pilot and data use disjoint keyed chips). Ranking outcomes by
 * (CRC holds, then pilot score) gives
 *   p = q * pPilot                 when the CRC holds,
 *   p = q + (1 - q) * pPilot       when it does not,
 * which is exactly uniform on [0, 1] under the null: P(p <= a) = a. A marked image therefore
 * needs a much weaker pilot (p about 0.07 for found at 1e-6) once its payload decodes.
 * With `frames` candidate frames tried (the first CRC pass wins), the chance of a CRC pass is
 * at most frames * 2^-16 and q takes that value.
 */
export function combinedPValue(pPilot: number, crcOk: boolean, frames = 1): number {
  const q = Math.min(1, frames * CRC_CHANCE);
  return crcOk ? q * pPilot : q + (1 - q) * pPilot;
}
