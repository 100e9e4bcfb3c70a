// Elementary functions that give the same bits in every JavaScript engine. The language leaves
// Math.exp, log, log1p, sin, cos, atan2, hypot (and pow, log10, ...) "implementation-approximated":
// engines, and versions of one engine, differ in the last bit (Node 20's V8 and Chromium 156's
// disagree on Math.exp for about one argument in ten), so a p-value computed with them differed
// between Node and a browser for the same pixels. These use only +, -, *, / and Math.sqrt (all
// correctly rounded, IEEE 754 double), Math.round and Math.abs: the same results everywhere,
// within a few units in the last place of the true value.

const LN2_HI = 6.93147180369123816490e-1; // ln 2, its upper 32 bits: k * LN2_HI is exact for |k| < 2^11
const LN2_LO = 1.90821492927058770002e-10; // ln 2 - LN2_HI
const PIO2_1 = 1.57079632673412561417; // pi / 2 in three parts of 33 bits: k * PIO2_i is exact for |k| < 2^20
const PIO2_2 = 6.07710050630396597660e-11;
const PIO2_3 = 2.02226624871116645580e-21;
const SQRT3 = 1.7320508075688772;
const TAN_PI_12 = 0.2679491924311227; // tan(pi / 12)
const PI_6 = 0.5235987755982989;

const bits = new DataView(new ArrayBuffer(8));

/** 2^k for an integer k in [-1022, 1023], from its bits. */
function pow2(k: number): number {
  bits.setUint32(0, (k + 1023) << 20);
  bits.setUint32(4, 0);
  return bits.getFloat64(0);
}

/** Σ c[i] x^i by Horner's rule, highest degree first. */
function horner(c: readonly number[], x: number): number {
  let s = c[c.length - 1]!;
  for (let i = c.length - 2; i >= 0; i--) s = c[i]! + x * s;
  return s;
}

/** 1/n!, n = 2..14: exp(r) - 1 - r on |r| <= ln(2)/2, to below 1e-18. */
const EXP_C: number[] = [];
for (let n = 2, f = 2; n <= 14; n++, f *= n) EXP_C.push(1 / f);

/**
 * e^x.
 * @example
 * exp(1); // 2.718281828459045
 */
export function exp(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x > 709.782712893384) return Infinity;
  if (x < -745.1332191019412) return 0;
  if (Math.abs(x) < 5.551115123125783e-17) return 1 + x; // 2^-54
  // x = k ln 2 + r, |r| <= ln(2)/2; r in two parts (hi - lo) for its last bits.
  const k = Math.round(x * Math.LOG2E);
  const hi = x - k * LN2_HI, lo = k * LN2_LO;
  const r = hi - lo;
  const e = 1 + (r + r * r * horner(EXP_C, r));
  // Scale by 2^k in two steps where 2^k alone is out of range (subnormal results, k = 1024).
  if (k > 1023) return e * 2 * pow2(k - 1);
  if (k < -1022) return e * pow2(k + 1000) * pow2(-1000);
  return e * pow2(k);
}

/** 2 / (2i + 1), i = 1..12: the series of log(1 + f) = 2 atanh(s) past its first term, in z = s^2 <= 0.0295. */
const LOG_C: number[] = [];
for (let i = 1; i <= 12; i++) LOG_C.push(2 / (2 * i + 1));

/**
 * The natural logarithm.
 * @example
 * log(Math.E); // 1
 */
export function log(x: number): number {
  if (!(x > 0)) return x === 0 ? -Infinity : NaN;
  if (x === Infinity) return Infinity;
  let e = 0;
  if (x < 2.2250738585072014e-308) { x *= 18014398509481984; e = -54; } // subnormal: times 2^54 first (exact)
  // x = m 2^e with m in [sqrt(1/2), sqrt(2)).
  bits.setFloat64(0, x);
  const high = bits.getUint32(0);
  e += (high >>> 20) - 1023;
  bits.setUint32(0, (high & 0xfffff) | 0x3ff00000);
  let m = bits.getFloat64(0);
  if (m > Math.SQRT2) { m /= 2; e++; }
  // log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f / (2 + f): 2 atanh(s) rearranged so
  // that the largest terms are exact (f = m - 1 is, by Sterbenz's lemma).
  const f = m - 1;
  const s = f / (2 + f), z = s * s;
  const hfsq = 0.5 * f * f;
  const logm = f - (hfsq - s * (hfsq + z * horner(LOG_C, z)));
  return e * LN2_HI + (e * LN2_LO + logm);
}

/**
 * log(1 + x), accurate for small x.
 * @example
 * log1p(-0.5); // -0.6931471805599453
 */
export function log1p(x: number): number {
  const u = 1 + x;
  if (u === 1) return x; // |x| below half an ulp of 1: log(1 + x) = x to the last bit
  if (!(u > 0) || u === Infinity) return log(u);
  // log(u) (x / (u - 1)) corrects for the rounding of 1 + x (Goldberg).
  return log(u) * (x / (u - 1));
}

/** (-1)^i / (2i + 1)!, i = 1..10: sin(r) / r - 1 in r^2 on |r| <= pi/4. */
const SIN_C: number[] = [];
/** (-1)^i / (2i)!, i = 2..10: cos(r) - 1 + r^2/2 in r^2, over r^4. */
const COS_C: number[] = [];
for (let i = 1, f = 1; i <= 10; i++) {
  f *= 2 * i; // (2i)!
  if (i >= 2) COS_C.push((i % 2 ? -1 : 1) / f);
  f *= 2 * i + 1; // (2i + 1)!
  SIN_C.push((i % 2 ? -1 : 1) / f);
}

/** x = k pi/2 + r with |r| <= pi/4 (about); [k mod 4, r]. Exact reduction for |x| < 2^19 pi. */
function reduce(x: number): [number, number] {
  if (Math.abs(x) <= 0.7853981633974483) return [0, x];
  const k = Math.round(x / PIO2_1);
  const r = ((x - k * PIO2_1) - k * PIO2_2) - k * PIO2_3;
  return [((k % 4) + 4) % 4, r];
}

const sinR = (r: number) => { const z = r * r; return r + r * z * horner(SIN_C, z); };
const cosR = (r: number) => { const z = r * r; const hz = 0.5 * z, w = 1 - hz; return w + (((1 - w) - hz) + z * z * horner(COS_C, z)); };

/** Arguments beyond this are out of the reduction's exact range (never reached here: angles of a few turns). */
const TRIG_LIMIT = 524288 * Math.PI; // 2^19 pi

/**
 * sin(x), for |x| up to 2^19 pi (NaN beyond).
 * @example
 * sin(Math.PI / 6); // 0.49999999999999994
 */
export function sin(x: number): number {
  if (!(Math.abs(x) <= TRIG_LIMIT)) return NaN;
  if (Math.abs(x) < 7.450580596923828e-9) return x; // 2^-27: sin(x) = x to the last bit
  const [q, r] = reduce(x);
  return q === 0 ? sinR(r) : q === 1 ? cosR(r) : q === 2 ? -sinR(r) : -cosR(r);
}

/**
 * cos(x), for |x| up to 2^19 pi (NaN beyond).
 * @example
 * cos(0); // 1
 */
export function cos(x: number): number {
  if (!(Math.abs(x) <= TRIG_LIMIT)) return NaN;
  const [q, r] = reduce(x);
  return q === 0 ? cosR(r) : q === 1 ? -sinR(r) : q === 2 ? -cosR(r) : sinR(r);
}

/** (-1)^i / (2i + 1), i = 1..14: atan(t) / t - 1 in t^2 on |t| <= tan(pi/12). */
const ATAN_C: number[] = [];
for (let i = 1; i <= 14; i++) ATAN_C.push((i % 2 ? -1 : 1) / (2 * i + 1));

/** atan(t) for t >= 0. */
function atanPositive(t: number): number {
  if (t === Infinity) return Math.PI / 2;
  const inverted = t > 1;
  let a = inverted ? 1 / t : t;
  let offset = 0;
  if (a > TAN_PI_12) { a = (a * SQRT3 - 1) / (SQRT3 + a); offset = PI_6; } // atan(a) = pi/6 + atan(that)
  const z = a * a;
  const r = offset + (a + a * z * horner(ATAN_C, z));
  return inverted ? Math.PI / 2 - r : r;
}

/**
 * The angle of the point (x, y) from the positive x axis, in (-pi, pi].
 * @example
 * atan2(1, 1); // 0.7853981633974483
 */
export function atan2(y: number, x: number): number {
  if (Number.isNaN(x) || Number.isNaN(y)) return NaN;
  if (x === 0 && y === 0) return (Object.is(x, -0) || x < 0 ? Math.PI : 0) * (Object.is(y, -0) ? -1 : 1);
  if (x === 0) return y > 0 ? Math.PI / 2 : -Math.PI / 2;
  if (!Number.isFinite(x) && !Number.isFinite(y)) {
    const a = x > 0 ? Math.PI / 4 : 3 * Math.PI / 4;
    return y > 0 ? a : -a;
  }
  const t = atanPositive(Math.abs(y / x));
  if (x > 0) return y < 0 || Object.is(y, -0) ? -t : t;
  return y < 0 || Object.is(y, -0) ? -(Math.PI - t) : Math.PI - t;
}

/**
 * sqrt(x^2 + y^2), for the magnitudes here (no scaling against overflow).
 * @example
 * hypot(3, 4); // 5
 */
export function hypot(x: number, y: number): number {
  return Math.sqrt(x * x + y * y);
}
