// List Viterbi decoding (the parallel list Viterbi algorithm) of the payload's convolutional
// code: K = 7, rate 1/2, generators 133 and 171 (octal), terminated with 6 zero tail bits.
// Every state keeps its L best paths, sorted by metric; each step merges the two sorted lists
// that lead into a state. The detector checks the paths in rank order against the CRC, which
// recovers payloads whose best path is wrong but whose second or fourth is right (0.75 dB on
// an AWGN channel with L = 8, bench/ecc.mjs).
//
// Scalar on purpose: a merge takes from one list or the other depending on the values, so it
// has no fixed lanes to vectorise, and the whole decode is about 86 steps × 64 states × L
// comparisons (0.18 ms at L = 8; the two merges of a state pair run interleaved).

const STATES: i32 = 64;
const G0: i32 = 0o133;
const G1: i32 = 0o171;
const NEG_INF: f64 = -Infinity;

/** Branch metric of shift register `reg` (7 bits) for the coded pair (s0, s1). */
// @ts-ignore: decorator
@inline function branch(reg: i32, s0: f64, s1: f64): f64 {
  return (popcnt<i32>(reg & G0) & 1 ? s0 : -s0) + (popcnt<i32>(reg & G1) & 1 ? s1 : -s1);
}

/**
 * Merge the sorted lists at `la` (+ dA) and `lb` (+ dB) into the best L at `dst`, with back
 * pointers (which list << 8 | rank in it) at `bp`. Branch-free: which list gives the next entry
 * is data-dependent, so a branch would be mispredicted about half the time. Both indices stay
 * below L (they sum to j). Ties go to the lower predecessor (list A), as in the single-path
 * decoder.
 */
// @ts-ignore: decorator
@inline function merge(la: usize, dA: f64, lb: usize, dB: f64, dst: usize, bp: usize, L: i32): void {
  let ia = 0, ib = 0;
  for (let j = 0; j < L; j++) {
    const va = load<f64>(la + (<usize>ia << 3)) + dA;
    const vb = load<f64>(lb + (<usize>ib << 3)) + dB;
    const takeA = va >= vb;
    store<f64>(dst + (<usize>j << 3), select<f64>(va, vb, takeA));
    store<u16>(bp + (<usize>j << 1), <u16>select<i32>(ia, 256 | ib, takeA));
    ia += <i32>takeA;
    ib += <i32>!takeA;
  }
}

/**
 * Decode `(infoLength + 6) * 2` soft values (f64 at `soft`, > 0 favours a coded 1) into the
 * `L` best information sequences. Writes `L * infoLength` bits (one byte each, best path
 * first) at `out` and their path metrics (f64) at `metricOut`; returns how many paths exist
 * (fewer than L only for very short codes). `tmp` holds `2 * 64 * L` f64 and
 * `(infoLength + 6) * 64 * L` u16.
 */
export function listViterbi(soft: usize, infoLength: i32, L: i32, out: usize, metricOut: usize, tmp: usize): i32 {
  const steps = infoLength + 6;
  let cur = tmp;
  let next = tmp + (<usize>(STATES * L) << 3);
  const back = tmp + (<usize>(2 * STATES * L) << 3);
  for (let j = 0; j < STATES * L; j++) store<f64>(cur + (<usize>j << 3), NEG_INF);
  store<f64>(cur, 0);
  for (let i = 0; i < steps; i++) {
    const s0 = load<f64>(soft + (<usize>(2 * i) << 3));
    const s1 = load<f64>(soft + (<usize>(2 * i + 1) << 3));
    const tail = i >= infoLength;
    // States 2p and 2p + 1 both come from predecessors p and p | 32 (shifting in 0 and 1), so
    // they are merged together: two independent dependency chains in one loop keep the CPU
    // busy while each waits on its loads and compares.
    for (let p = 0; p < STATES / 2; p++) {
      const la = cur + (<usize>(p * L) << 3);
      const lb = cur + (<usize>((p | 32) * L) << 3);
      const d0 = next + (<usize>(2 * p * L) << 3);
      const d1 = d0 + (<usize>L << 3);
      const b0 = back + (<usize>((i * STATES + 2 * p) * L) << 1);
      const b1 = b0 + (<usize>L << 1);
      const reg = p << 1;
      const dA0 = branch(reg, s0, s1), dB0 = branch(reg | 64, s0, s1);
      if (tail) {
        // A tail step shifts in a zero: odd states are unreachable.
        merge(la, dA0, lb, dB0, d0, b0, L);
        for (let j = 0; j < L; j++) store<f64>(d1 + (<usize>j << 3), NEG_INF);
        continue;
      }
      const dA1 = branch(reg | 1, s0, s1), dB1 = branch(reg | 65, s0, s1);
      let ia0 = 0, ib0 = 0, ia1 = 0, ib1 = 0;
      for (let j = 0; j < L; j++) {
        const va0 = load<f64>(la + (<usize>ia0 << 3)) + dA0;
        const vb0 = load<f64>(lb + (<usize>ib0 << 3)) + dB0;
        const va1 = load<f64>(la + (<usize>ia1 << 3)) + dA1;
        const vb1 = load<f64>(lb + (<usize>ib1 << 3)) + dB1;
        const t0 = va0 >= vb0, t1 = va1 >= vb1;
        store<f64>(d0 + (<usize>j << 3), select<f64>(va0, vb0, t0));
        store<f64>(d1 + (<usize>j << 3), select<f64>(va1, vb1, t1));
        store<u16>(b0 + (<usize>j << 1), <u16>select<i32>(ia0, 256 | ib0, t0));
        store<u16>(b1 + (<usize>j << 1), <u16>select<i32>(ia1, 256 | ib1, t1));
        ia0 += <i32>t0; ib0 += <i32>!t0;
        ia1 += <i32>t1; ib1 += <i32>!t1;
      }
    }
    const t = cur; cur = next; next = t;
  }
  // The code is terminated: every path ends in state 0.
  let count = 0;
  for (let r = 0; r < L; r++) {
    const m = load<f64>(cur + (<usize>r << 3));
    if (m == NEG_INF) break;
    store<f64>(metricOut + (<usize>r << 3), m);
    const bits = out + <usize>(r * infoLength);
    let st = 0, rk = r;
    for (let i = steps - 1; i >= 0; i--) {
      if (i < infoLength) store<u8>(bits + <usize>i, <u8>(st & 1));
      const b = <i32>load<u16>(back + (<usize>((i * STATES + st) * L + rk) << 1));
      rk = b & 255;
      st = (st >> 1) | ((b >> 8) << 5);
    }
    count++;
  }
  return count;
}
