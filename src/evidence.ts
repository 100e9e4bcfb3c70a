// Evidence across many images: is this key's mark present in a set of images, even where no
// single image carries enough of it for `detect` to find it (a dataset recompressed hard, the
// outputs of a model trained on marked images)?
//
// Each image gives one number: the correlation of its canonical frame (the frame of the image as
// it is: no geometric search) with the key's pilot chips, normalised by the folded energy it
// was measured on, so N(0, 1) without the mark. Summing such scores over n images (Stouffer:
// sum / sqrt(n)) would be N(0, 1) under the null only if the images were independent, and sets
// of images seldom are: near-duplicates, bursts, video frames or the same picture twice give
// the same score again and again, and a naive sum over 100 copies of one unmarked image with a
// score of 1 reads 10 standard deviations. So every image also gives the same correlation with
// REFERENCE_PATTERNS sign-flipped copies of the pilot (each pilot slot's chip times +-1, half
// of each in every band frequency: a mark-free statistic of the same image, on the same slots,
// with the same normaliser). Under the null "no mark of this key in any image" the key's chips
// are one more random sign pattern, so the key's sum and every reference's sum have the same
// distribution, correlated across images in the same way. The combined test divides the key's
// sum by the root mean square of the references' sums, which is Student's t with
// REFERENCE_PATTERNS degrees of freedom whatever the dependence between the images; the
// p-value is its upper tail (measured in test/evidence.test.mjs and bench/evidence.mjs).
// The references are balanced within each band frequency, so that a mark's frequency-dependent
// strength, which is the same in every marked image, does not correlate with them: in a marked
// set they stay near their null spread instead of growing with the set.
import { checkOptionNames, invalidParameter, numberIn } from './args.js';
import { NB, PILOT, type Layout } from './scheme.js';
import { DEFAULT_THRESHOLD, studentUpperTail } from './stats.js';
import { rng } from './random.js';

/** How many sign-flipped reference patterns each image is scored with (the t test's degrees of freedom). */
export const REFERENCE_PATTERNS = 63;

/** One image's evidence, from {@link Watermarker.evidence}. */
export interface Evidence {
  /** The key's pilot correlation in the image as it is: N(0, 1) without the mark. */
  score: number;
  /** The same correlation with each of the REFERENCE_PATTERNS sign-flipped pilots (mark-free). */
  reference: number[];
}

/** The test over a set of images, from {@link combineEvidence}. */
export interface CombinedEvidence {
  /** Images counted. */
  count: number;
  /** The key's scores summed over the images / sqrt(count) (Stouffer's Z, before the references). */
  score: number;
  /** Root mean square of the references' sums / sqrt(count): 1 for independent mark-free images. */
  spread: number;
  /** score / spread: Student's t with `dof` degrees of freedom under the null. */
  t: number;
  dof: number;
  /** P(T >= t) under the null "no image of the set carries this key's mark". */
  pValue: number;
  /** pValue below the threshold (default 1e-6). */
  found: boolean;
}

/** The pilot slots of a layout and REFERENCE_PATTERNS balanced sign patterns over them. */
export interface References {
  slots: Int32Array;
  /** The key's chip on each pilot slot. */
  chips: Float32Array;
  /** REFERENCE_PATTERNS rows of +-1 over the pilot slots. */
  signs: Int8Array;
}

/**
 * The pilot slots of `layout` and the reference sign patterns: in each band frequency (slot %
 * NB) a shuffled half of the pilot slots gets +1 and the other half -1 (an odd one out a random
 * sign), from a fixed seed.
 */
export function referencePatterns(layout: Layout): References {
  const slots: number[] = [];
  for (let s = 0; s < layout.code.length; s++) if (layout.code[s] >= PILOT) slots.push(s);
  const n = slots.length;
  const signs = new Int8Array(REFERENCE_PATTERNS * n);
  const byBand: number[][] = Array.from({ length: NB }, () => []);
  slots.forEach((s, i) => byBand[s % NB].push(i));
  for (let j = 0; j < REFERENCE_PATTERNS; j++) {
    const rand = rng(0x6d6d0000 + j); // fixed: the references need not be secret
    const row = signs.subarray(j * n, (j + 1) * n);
    for (const group of byBand) {
      const g = [...group];
      for (let i = g.length - 1; i > 0; i--) {
        const r = Math.floor(rand() * (i + 1));
        [g[i], g[r]] = [g[r], g[i]];
      }
      const half = g.length >> 1;
      g.forEach((idx, i) => { row[idx] = i < half ? 1 : i < 2 * half ? -1 : rand() < 0.5 ? 1 : -1; });
    }
  }
  return { slots: Int32Array.from(slots), chips: Float32Array.from(slots, (s) => layout.sign[s]), signs };
}

/**
 * An image's evidence from the folded band coefficients of its planes (luma, and Cb for colour
 * images; an all-zero plane, like the Cb of a grey picture stored as RGB, is left out): each
 * plane scaled to unit energy over the pilot slots, the planes summed, and that sum correlated
 * with the chips and divided by its own energy's root. For one plane that is the plane's z; for
 * two it is N(0, 1) without the mark whether or not their detail moves together (the planes'
 * z summed / sqrt(2) had variance 1 + their correlation: measured mean z^2 1.60 on
 * blue-on-black patterns, where luma and Cb change together).
 */
export function evidenceOf(folds: Float32Array[], refs: References): Evidence {
  const n = refs.slots.length;
  const used = folds.filter((F) => F.some((v) => v !== 0));
  const reference = new Array<number>(REFERENCE_PATTERNS).fill(0);
  const g = new Float64Array(n);
  for (const F of used) {
    let energy = 0;
    for (let i = 0; i < n; i++) energy += F[refs.slots[i]] ** 2;
    if (!(energy > 0)) continue;
    const unit = 1 / Math.sqrt(energy);
    for (let i = 0; i < n; i++) g[i] += F[refs.slots[i]] * unit;
  }
  let energy = 0;
  for (let i = 0; i < n; i++) energy += g[i] * g[i];
  const norm = energy > 0 ? 1 / Math.sqrt(energy) : 0;
  const x = new Float64Array(n);
  let score = 0;
  for (let i = 0; i < n; i++) {
    x[i] = g[i] * refs.chips[i] * norm;
    score += x[i];
  }
  for (let j = 0; j < REFERENCE_PATTERNS; j++) {
    const row = refs.signs.subarray(j * n, (j + 1) * n);
    let r = 0;
    for (let i = 0; i < n; i++) r += row[i] * x[i];
    reference[j] = r;
  }
  return { score, reference };
}

/** Evidence is summed in whole units of 1e-6, exactly, so no order of adding changes a digit. */
const UNIT = 1e6;
/** Largest |score| (and reference value) accepted from one image: sums of 10^5 images stay exact in UNITs. */
const MAX_SCORE = 1e4;

/**
 * Running sums of evidence, for sets too large to hold (a folder batch adds each file as it
 * finishes, in whatever order its workers finish: the sums are exact integers of 1e-6, so the
 * result does not depend on that order).
 * @example
 * const sum = new EvidenceSum();
 * for (const image of images) sum.add(wm.evidence(image));
 * sum.result(); // { count, score, spread, t, dof, pValue, found }
 */
export class EvidenceSum {
  #count = 0;
  private score = 0;
  private readonly reference = new Float64Array(REFERENCE_PATTERNS);

  /**
   * Add one image's evidence (as {@link Watermarker.evidence} returns it).
   * @example
   * sum.add(wm.evidence(image));
   */
  add(evidence: Evidence, name = 'evidence'): void {
    // Scores are normalised correlations (N(0, 1) without a mark; tens for a strong one): a value
    // beyond MAX_SCORE is not evidence() output, and would overflow the fixed-point sums.
    if (typeof evidence !== 'object' || evidence === null) {
      throw invalidParameter(name, 'an object { score, reference } from evidence()', evidence);
    }
    // detect()'s result has a score too, but no references: say what to pass instead.
    const hint = 'pValue' in evidence && !('reference' in evidence) ? ' (this looks like a detect() result: pass evidence(image), or detect(image, { evidence: true }).evidence)' : '';
    if (typeof evidence.score !== 'number' || !(Math.abs(evidence.score) <= MAX_SCORE)) {
      throw invalidParameter(`${name}.score`, `a number within ±${MAX_SCORE}, as evidence() returns${hint}`, (evidence as { score?: unknown }).score);
    }
    const ref = evidence.reference;
    if (!Array.isArray(ref) || ref.length !== REFERENCE_PATTERNS || !ref.every((v) => typeof v === 'number' && Math.abs(v) <= MAX_SCORE)) {
      throw invalidParameter(`${name}.reference`, `an array of ${REFERENCE_PATTERNS} finite numbers within ±${MAX_SCORE}${hint}`, ref);
    }
    this.#count++;
    this.score += Math.round(evidence.score * UNIT);
    for (let j = 0; j < REFERENCE_PATTERNS; j++) this.reference[j] += Math.round(ref[j] * UNIT);
  }

  /** How many images' evidence was added. */
  get count(): number {
    return this.#count;
  }

  /**
   * The test over the images added so far (threshold: found below it, default 1e-6).
   * @example
   * const { found, pValue, count } = sum.result();
   */
  result(threshold = DEFAULT_THRESHOLD, name = 'threshold'): CombinedEvidence {
    threshold = numberIn(name, threshold, Number.MIN_VALUE, 0.5, DEFAULT_THRESHOLD);
    const root = Math.sqrt(Math.max(1, this.#count));
    let ms = 0;
    for (const r of this.reference) ms += (r / UNIT) ** 2;
    const spread = Math.sqrt(ms / REFERENCE_PATTERNS) / root;
    const score = this.score / UNIT / root;
    const t = spread > 0 ? score / spread : 0;
    const pValue = spread > 0 ? studentUpperTail(t, REFERENCE_PATTERNS) : 1;
    return { count: this.#count, score, spread, t, dof: REFERENCE_PATTERNS, pValue, found: pValue < threshold };
  }
}

/**
 * Test a set of images for this key's mark at once, from each image's {@link Watermarker.evidence}:
 * a p-value that stays valid however alike the images are (near-duplicates, video frames, the
 * same picture twice), and that finds the mark in sets where `detect` finds it in none of the
 * images. The images are read as they are (no geometric search): use it on copies that were
 * recompressed, resized as a whole or re-coloured, not cropped or rotated.
 * @example
 * const wm = await createWatermarker({ key: 'my secret' });
 * const result = combineEvidence(images.map((image) => wm.evidence(image)));
 * if (result.found) console.log(`the set carries the mark: p = ${result.pValue}`);
 */
export function combineEvidence(items: Iterable<Evidence>, options: { threshold?: number | undefined } = {}): CombinedEvidence {
  if (items === null || typeof (items as Iterable<Evidence>)?.[Symbol.iterator] !== 'function') throw invalidParameter('items', 'an array of evidence() results', items);
  if (typeof options !== 'object' || options === null) throw invalidParameter('options', 'an object { threshold? }', options);
  checkOptionNames('options', options, ['threshold']);
  const sum = new EvidenceSum();
  let i = 0;
  for (const e of items) sum.add(e, `items[${i++}]`);
  if (sum.count === 0) throw invalidParameter('items', 'at least one evidence() result', items);
  return sum.result(options.threshold ?? DEFAULT_THRESHOLD, 'options.threshold');
}
