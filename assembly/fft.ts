// Complex FFT of square power-of-two planes, in place, split real / imaginary planes (f32).
// Rows are transformed with an iterative radix-2 Cooley-Tukey FFT (the first two stages fused
// into one pass over groups of four, then v128 butterflies, where four butterflies share
// contiguous twiddles); columns with butterflies
// between whole rows, four columns per v128 lane group.

/** Per-stage twiddles for length n: for stage len (2, 4, ..., n) the len/2 values
 * exp(-2 pi i j / len) at offset len/2 - 1; tw holds 2 * n floats (re then im). */
function twiddles(n: i32, tw: usize): void {
  for (let len = 2; len <= n; len <<= 1) {
    const half = len >> 1;
    for (let j = 0; j < half; j++) {
      const a = -2.0 * Math.PI * <f64>j / <f64>len;
      store<f32>(tw + (<usize>(half - 1 + j) << 2), <f32>Math.cos(a));
      store<f32>(tw + (<usize>(n + half - 1 + j) << 2), <f32>Math.sin(a));
    }
  }
}

/** Radix-2 butterfly on four lanes: (a, b) <- (a + w b, a - w b), complex, split planes. */
// @ts-ignore: decorator
@inline function butterfly4(ar: usize, ai: usize, br: usize, bi: usize, wr: v128, wi: v128): void {
  const xr = v128.load(br), xi = v128.load(bi);
  const vr = f32x4.sub(f32x4.mul(xr, wr), f32x4.mul(xi, wi));
  const vi = f32x4.add(f32x4.mul(xr, wi), f32x4.mul(xi, wr));
  const ur = v128.load(ar), ui = v128.load(ai);
  v128.store(ar, f32x4.add(ur, vr)); v128.store(ai, f32x4.add(ui, vi));
  v128.store(br, f32x4.sub(ur, vr)); v128.store(bi, f32x4.sub(ui, vi));
}

/**
 * The bit-reversal permutation of length n as the list of swaps it takes: pairs (i, j), i < j,
 * at rev (2 words each); returns the number of pairs (at most n / 2).
 */
function reversalPairs(n: i32, rev: usize): i32 {
  let bits = 0;
  while ((1 << bits) < n) bits++;
  let m = 0;
  for (let i = 0; i < n; i++) {
    let j = 0, x = i;
    for (let b = 0; b < bits; b++) { j = (j << 1) | (x & 1); x >>= 1; }
    if (j > i) {
      store<i32>(rev + (<usize>m << 3), i);
      store<i32>(rev + (<usize>m << 3), j, 4);
      m++;
    }
  }
  return m;
}

function fftRows(re: usize, im: usize, n: i32, rows: i32, tw: usize, inverse: bool, rev: usize, pairs: i32): void {
  const sgn: f32 = inverse ? -1 : 1;
  const sgnv = f32x4.splat(sgn);
  const s2 = f32x4(1, -1, 1, -1);
  const sr4 = f32x4(1, sgn, -1, -sgn), si4 = f32x4(1, -sgn, -1, sgn);
  for (let r = 0; r < rows; r++) {
    const pr = re + (<usize>(r * n) << 2), pi = im + (<usize>(r * n) << 2);
    // bit reversal: the swaps, listed once per transform
    for (let m = 0; m < pairs; m++) {
      const oi = <usize>load<i32>(rev + (<usize>m << 3)) << 2, oj = <usize>load<i32>(rev + (<usize>m << 3), 4) << 2;
      const tr = load<f32>(pr + oi); store<f32>(pr + oi, load<f32>(pr + oj)); store<f32>(pr + oj, tr);
      const ti = load<f32>(pi + oi); store<f32>(pi + oi, load<f32>(pi + oj)); store<f32>(pi + oj, ti);
    }
    // The first two stages (lengths 2 and 4) together, one group of four per step: their
    // twiddles are 1 and -i (forward) or +i (inverse), so they are sums, swaps and signs.
    for (let k = 0; k < n; k += 4) {
      const o = <usize>k << 2;
      const r = v128.load(pr + o), i = v128.load(pi + o);
      // length 2: (x0 + x1, x0 - x1, x2 + x3, x2 - x3)
      const ar = f32x4.add(v128.shuffle<f32>(r, r, 0, 0, 2, 2), f32x4.mul(v128.shuffle<f32>(r, r, 1, 1, 3, 3), s2));
      const ai = f32x4.add(v128.shuffle<f32>(i, i, 0, 0, 2, 2), f32x4.mul(v128.shuffle<f32>(i, i, 1, 1, 3, 3), s2));
      // length 4: (a0 + a2, a1 + w a3, a0 - a2, a1 - w a3), w a3 = (s ai3, -s ar3)
      v128.store(pr + o, f32x4.add(v128.shuffle<f32>(ar, ar, 0, 1, 0, 1), f32x4.mul(v128.shuffle<f32>(ar, ai, 2, 7, 2, 7), sr4)));
      v128.store(pi + o, f32x4.add(v128.shuffle<f32>(ai, ai, 0, 1, 0, 1), f32x4.mul(v128.shuffle<f32>(ai, ar, 2, 7, 2, 7), si4)));
    }
    for (let len = 8; len <= n; len <<= 1) {
      const half = len >> 1;
      const twr = tw + (<usize>(half - 1) << 2), twi = tw + (<usize>(n + half - 1) << 2);
      for (let k = 0; k < n; k += len) {
        const ar = pr + (<usize>k << 2), ai = pi + (<usize>k << 2);
        const br = ar + (<usize>half << 2), bi = ai + (<usize>half << 2);
        let j = 0;
        if (half >= 4) {
          for (; j < half; j += 4) {
            const o = <usize>j << 2;
            butterfly4(ar + o, ai + o, br + o, bi + o, v128.load(twr + o), f32x4.mul(v128.load(twi + o), sgnv));
          }
        }
        for (; j < half; j++) {
          const o = <usize>j << 2;
          const wr = load<f32>(twr + o), wi = sgn * load<f32>(twi + o);
          const xr = load<f32>(br + o), xi = load<f32>(bi + o);
          const vr = xr * wr - xi * wi, vi = xr * wi + xi * wr;
          const ur = load<f32>(ar + o), ui = load<f32>(ai + o);
          store<f32>(ar + o, ur + vr); store<f32>(ai + o, ui + vi);
          store<f32>(br + o, ur - vr); store<f32>(bi + o, ui - vi);
        }
      }
    }
  }
}

/**
 * FFT along columns of the n x n plane, as butterflies between whole rows: every butterfly
 * updates two rows with one scalar twiddle, four columns per v128 lane group (no transposes).
 */
function fftCols(re: usize, im: usize, n: i32, tw: usize, inverse: bool, rev: usize, pairs: i32): void {
  const rowBytes = <usize>n << 2;
  for (let m = 0; m < pairs; m++) {
    const i = load<i32>(rev + (<usize>m << 3)), j = load<i32>(rev + (<usize>m << 3), 4);
    for (let c: usize = 0; c < rowBytes; c += 16) {
      const pa = re + <usize>i * rowBytes + c, pb = re + <usize>j * rowBytes + c;
      const t = v128.load(pa); v128.store(pa, v128.load(pb)); v128.store(pb, t);
      const qa = im + <usize>i * rowBytes + c, qb = im + <usize>j * rowBytes + c;
      const u = v128.load(qa); v128.store(qa, v128.load(qb)); v128.store(qb, u);
    }
  }
  const sgn: f32 = inverse ? -1 : 1;
  for (let len = 2; len <= n; len <<= 1) {
    const half = len >> 1;
    for (let j = 0; j < half; j++) {
      const wr = f32x4.splat(load<f32>(tw + (<usize>(half - 1 + j) << 2)));
      const wi = f32x4.splat(sgn * load<f32>(tw + (<usize>(n + half - 1 + j) << 2)));
      for (let k = 0; k < n; k += len) {
        const ar = re + <usize>(k + j) * rowBytes, ai = im + <usize>(k + j) * rowBytes;
        const br = re + <usize>(k + j + half) * rowBytes, bi = im + <usize>(k + j + half) * rowBytes;
        for (let c: usize = 0; c < rowBytes; c += 16) butterfly4(ar + c, ai + c, br + c, bi + c, wr, wi);
      }
    }
  }
}

/**
 * 2-D FFT of the n x n complex plane (re, im), n a power of two (at least 4), in place.
 * inverse = 1 computes the inverse transform including the 1 / n^2 scale. Forward transforms
 * assume rows at and after `rows` are zero (they are skipped); inverse transforms compute only
 * the output rows before `rows` and the last row (the others are left partly transformed).
 * Pass n for a complete transform.
 * tmp holds 3 * n floats.
 */
export function fft2d(re: usize, im: usize, n: i32, inverse: i32, tmp: usize, rows: i32): void {
  twiddles(n, tmp);
  const rev = tmp + (<usize>(2 * n) << 2);
  const pairs = reversalPairs(n, rev);
  if (inverse) {
    fftCols(re, im, n, tmp, true, rev, pairs);
    const need = rows < n ? rows : n;
    fftRows(re, im, n, need, tmp, true, rev, pairs);
    const last = <usize>((n - 1) * n) << 2;
    if (need < n) fftRows(re + last, im + last, n, 1, tmp, true, rev, pairs);
    const s = f32x4.splat(<f32>(1.0 / (<f64>n * <f64>n)));
    for (let r = 0; r < n; r++) {
      if (r >= need && r != n - 1) continue;
      for (let i = r * n; i < (r + 1) * n; i += 4) {
        const o = <usize>i << 2;
        v128.store(re + o, f32x4.mul(v128.load(re + o), s));
        v128.store(im + o, f32x4.mul(v128.load(im + o), s));
      }
    }
  } else {
    fftRows(re, im, n, rows < n ? rows : n, tmp, false, rev, pairs);
    fftCols(re, im, n, tmp, false, rev, pairs);
  }
}

/** out = a * conj(b) element-wise for n complex values (split planes); out may alias a. */
export function mulConj(ar: usize, ai: usize, br: usize, bi: usize, or: usize, oi: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const xr = v128.load(ar + o), xi = v128.load(ai + o), yr = v128.load(br + o), yi = v128.load(bi + o);
    v128.store(or + o, f32x4.add(f32x4.mul(xr, yr), f32x4.mul(xi, yi)));
    v128.store(oi + o, f32x4.sub(f32x4.mul(xi, yr), f32x4.mul(xr, yi)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const xr = load<f32>(ar + o), xi = load<f32>(ai + o), yr = load<f32>(br + o), yi = load<f32>(bi + o);
    store<f32>(or + o, xr * yr + xi * yi);
    store<f32>(oi + o, xi * yr - xr * yi);
  }
}
