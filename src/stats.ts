// exp, log, log1p and sin of src/libm.ts, not Math's: the same p-values in every JavaScript engine.
import { exp, log, log1p, sin } from './libm.js';

/**
 * Complementary error function with relative error below 1.2e-7 everywhere
 * (Chebyshev fit, Numerical Recipes `erfcc`), so tail probabilities stay accurate far out.
 */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
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
 * Share of the false-positive budget that a list decoder (`listSize` > 1) spends on paths
 * ranked 2 and lower; the best path keeps the rest.
 */
export const LIST_SHARE = 0.2;

/**
 * Combine the pilot's one-sided p-value with the CRC check into one valid p-value. Under the
 * null hypothesis the decoded bits are noise, so the CRC holds with probability q = 2^-16,
 * independently of the pilot (pilot and data use disjoint keyed chips). Ranking outcomes by
 * (CRC holds, then pilot score) gives
 *   p = q * pPilot                 when the CRC holds,
 *   p = q + (1 - q) * pPilot       when it does not,
 * which is exactly uniform on [0, 1] under the null: P(p <= a) = a. A marked image therefore
 * needs a much weaker pilot (p about 0.07 for found at 1e-6) once its payload decodes.
 * With `frames` candidate frames tried (the first CRC pass wins), the chance of a CRC pass is
 * at most frames * 2^-16 and q takes that value.
 *
 * A list decoder checks up to `listSize` paths per frame in rank order, each one more chance
 * for the CRC to pass on noise. A pass at rank r is weighted by w(r) with sum over r of 1/w(r)
 * = 1 (a weighted Bonferroni bound): w(1) = 1 / (1 - s) and w(r) = r * H / s for r >= 2, where
 * s = LIST_SHARE and H = 1/2 + ... + 1/listSize. Then P(p <= a) <= a for the CRC-pass
 * outcomes, whichever frame and rank the CRC picked, and a failed CRC (probability at most
 * frames * listSize * 2^-16 =: Q of a pass anywhere) reports Q + (1 - Q) * pPilot: the p-value
 * stays valid (P(p <= a) <= a under the null). With listSize 1 this is the formula above.
 * @example
 * combinedPValue(1e-3, true, 17);        // best path passes its CRC, 17 candidates tried
 * combinedPValue(1e-5, true, 17, 2, 8);  // second-best path of a list of 8 passes
 */
export function combinedPValue(pPilot: number, crcOk: boolean, frames = 1, rank = 1, listSize = 1): number {
  const q = frames * CRC_CHANCE;
  if (!crcOk) {
    const Q = Math.min(1, q * listSize);
    return Q + (1 - Q) * pPilot;
  }
  return Math.min(1, q * rankWeight(rank, listSize) * pPilot);
}

/** w(rank) of combinedPValue: how much a CRC pass at this rank of a list of `listSize` costs. */
export function rankWeight(rank: number, listSize: number): number {
  if (listSize <= 1) return 1;
  if (rank === 1) return 1 / (1 - LIST_SHARE);
  let h = 0;
  for (let r = 2; r <= listSize; r++) h += 1 / r;
  return (rank * h) / LIST_SHARE;
}

/** The p-value a mark must beat to be `found` unless `threshold` says otherwise (detect and combineEvidence). */
export const DEFAULT_THRESHOLD = 1e-6;

/** ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: relative error about 1e-15). */
export function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
    -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return log(Math.PI / Math.abs(sin(Math.PI * x))) - logGamma(1 - x);
  x -= 1;
  let s = c[0];
  for (let i = 1; i < 9; i++) s += c[i] / (x + i);
  const t = x + 7.5;
  return 0.5 * log(2 * Math.PI) + (x + 0.5) * log(t) - t + log(s);
}

/**
 * Regularised incomplete beta function I_x(a, b), by its continued fraction (modified Lentz),
 * evaluated on the side where it converges fast (to 1e-15 per step); the prefactor is computed
 * in logs, so tails stay accurate down to about 1e-300 (checked in test/evidence.test.mjs
 * against numerical integration of Student's t density to 1e-9 relative).
 */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = exp(a * log(x) + b * log1p(-x) + logGamma(a + b) - logGamma(a) - logGamma(b));
  if (x > (a + 1) / (a + b + 2)) return 1 - (front * betaFraction(1 - x, b, a)) / b;
  return (front * betaFraction(x, a, b)) / a;
}

function betaFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1, d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d; if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c; if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d; h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d; if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c; if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
}

/**
 * P(T >= t) for Student's t distribution with `dof` degrees of freedom.
 * @example
 * studentUpperTail(2, 10); // 0.0367
 */
export function studentUpperTail(t: number, dof: number): number {
  const tail = 0.5 * incompleteBeta(dof / (dof + t * t), dof / 2, 0.5);
  return t >= 0 ? tail : 1 - tail;
}
