// Comparing kernel outputs with their references: maximum absolute differences asserted against
// a tolerance and recorded per kernel (printed by the kernel tests when KERNEL_DIFFS is set).
import * as assert from 'uvu/assert';

/** u8 results: the kernels round f32 values, the references round Float64 ones, so a value
 * within the f32 error of a .5 boundary may round the other way: at most 1 apart. */
export const TOL_BYTE = 1;

/** A set of comparison helpers sharing one table of measured maxima. */
export function comparer() {
  /** Measured maxima: name -> { diff, tol }. */
  const measured = new Map();
  function record(name, diff, tol) {
    const m = measured.get(name);
    if (!m || diff > m.diff) measured.set(name, { diff, tol });
  }

  /** Maximum absolute difference of two array-likes (NaN counts as infinite). */
  function maxDiff(actual, expected) {
    assert.is(actual.length, expected.length, 'lengths differ');
    let max = 0, at = -1;
    for (let i = 0; i < expected.length; i++) {
      const d = Math.abs(actual[i] - expected[i]);
      if (!(d <= max)) { max = Number.isNaN(d) ? Infinity : d; at = i; }
    }
    return { max, at };
  }

  /** Assert max |actual - expected| <= tol and record it under `name`. */
  function close(name, actual, expected, tol, what = '') {
    const { max, at } = maxDiff(actual, expected);
    record(name, max, tol);
    assert.ok(max <= tol, `${name}${what ? ` (${what})` : ''}: max |wasm - ref| = ${max} at index ${at} ` +
      `(wasm ${actual[at]}, ref ${expected[at]}) exceeds ${tol}`);
  }

  /** Assert exact equality of two array-likes. */
  function exact(name, actual, expected, what = '') {
    const { max, at } = maxDiff(actual, expected);
    record(name, max, 0);
    assert.ok(max === 0, `${name}${what ? ` (${what})` : ''}: index ${at}: wasm ${actual[at]}, ref ${expected[at]}`);
  }

  /**
   * u8 results: at most TOL_BYTE apart, and only rarely (an f32 value lands within its rounding
   * error of a .5 boundary with probability ~1e-4 at most), so a systematic off-by-one (a wrong
   * rounding mode, a truncation) fails even though each byte is within 1: at most 1 in 1000
   * rounded values, and never more than 3 in a small image, may differ. `group` bytes come from
   * one rounded value (addLuma adds one rounded delta to R, G and B).
   */
  function closeBytes(name, actual, expected, what = '', group = 1) {
    close(name, actual, expected, TOL_BYTE, what);
    let differ = 0;
    for (let i = 0; i < expected.length; i += group) {
      for (let j = i; j < i + group; j++) if (actual[j] !== expected[j]) { differ++; break; }
    }
    const values = expected.length / group, allowed = Math.max(3, values / 1000);
    record(`${name} (values off by 1, fraction of allowed)`, differ / allowed, 1);
    assert.ok(differ <= allowed, `${name}${what ? ` (${what})` : ''}: ${differ} of ${values} values differ by 1`);
  }

  return { measured, record, maxDiff, close, exact, closeBytes };
}
