// Blind geometric synchronisation (issue 3). The mark is a keyed tile of 64 x 64 frame pixels
// repeated over the whole frame, so a marked image, however it was cropped, rescaled, stretched,
// rotated or flipped, carries a periodic pattern whose lattice reveals the transform:
//
// 1. Lattice. The luma frame is whitened (local detail over local contrast), its power spectrum
//    is whitened again (each bin over its neighbourhood's mean, band-limited to the mark's band),
//    and the inverse transform gives an autocorrelation whose sharp peaks sit on the lattice of
//    tile periods. The two peaks that best explain a lattice (v1, v2, v1 + v2, v1 - v2) give the
//    linear part of the transform, up to the eight symmetries of a square lattice.
// 2. Orientation and offset. The whitened frame is resampled once so that tiles become upright
//    64 x 64 squares and folded onto one tile, then cross-correlated (FFT) with the spatial
//    pattern of pilot half A in each of the eight lattice symmetries. The best peak gives the
//    symmetry and the tile origin.
// 3. Decode. The luma frame is resampled onto the mark's own grid and decoded as usual; pilot
//    half B, which took no part in the search, scores the result, so its score stays N(0, 1)
//    under the null hypothesis.
import { analysePlane, BAND, despread, NB, NSYM, PILOT, TILE, type Analysis, type Framed, type Layout } from './scheme.js';
import type { Arena } from './wasm.js';
import { cos, hypot, sin } from './libm.js';

const N = 512; // autocorrelation size (frame planes are at most about 256 x 512)
const P = TILE * 8; // tile period in frame pixels
const LAG_MIN = 36;
const LAG_MAX = 200;
const PEAKS = 32;
/** Extra period candidates from the harmonic-enhanced autocorrelation (see findLattices). */
const HARMONIC_PEAKS = 16;
/**
 * Shortest period taken from the harmonic map: in the canonical frame the tile period is 64 and
 * shrinks only with added borders or a squeeze (to 51 at aspect 0.8).
 */
const HARMONIC_MIN = 45;

/** Affine map from mark-grid coordinates u (frame pixels of the marked original) to frame pixels. */
export interface Affine {
  m00: number;
  m01: number;
  m10: number;
  m11: number;
  tx: number;
  ty: number;
}

// The eight symmetries of the square lattice, as 2x2 matrices [a, b, c, d] = [[a, b], [c, d]].
const DIHEDRAL: [number, number, number, number][] = [
  [1, 0, 0, 1], [0, -1, 1, 0], [-1, 0, 0, -1], [0, 1, -1, 0],
  [-1, 0, 0, 1], [1, 0, 0, -1], [0, 1, 1, 0], [0, -1, -1, 0],
];

/**
 * FFTs of pilot half A's spatial pattern over one tile (P x P), one per lattice symmetry D:
 * pattern D at tile position x is the pattern at D^-1 x (cyclically). Per layout, cached.
 */
export interface PilotPatterns {
  re: Float32Array[];
  im: Float32Array[];
  norm: number;
  /** The layout the patterns were made from. */
  layout: Layout;
}

export function pilotPatterns(a: Arena, layout: Layout): PilotPatterns {
  const k = a.k;
  // One tile of pilot half A's chips (everything else zero, mask 1), back to pixels.
  const base = a.f32(P * P);
  k.zero(base, P * P * 4);
  const sym = new Float32Array(NSYM);
  sym[PILOT] = 1;
  const ones = a.f32(TILE * TILE);
  a.f32view(ones, TILE * TILE).fill(1);
  k.spreadEmbed(base, P, TILE, TILE, a.put(BAND), NB, TILE, a.put(layout.code), a.put(layout.sign), a.put(sym), ones, 1);
  k.dct8x8(base, base, P, TILE, TILE, 1);
  const T = a.f32view(base, P * P).slice();
  let norm = 0;
  for (const v of T) norm += v * v;
  const out: PilotPatterns = { re: [], im: [], norm: Math.sqrt(norm), layout };
  const re = a.f32(P * P), im = a.f32(P * P), tmp = a.f32(3 * P);
  for (const [da, db, dc, dd] of DIHEDRAL) {
    // D^-1 of an orthogonal +-1 matrix is its transpose
    const R = a.f32view(re, P * P);
    for (let y = 0; y < P; y++) {
      for (let x = 0; x < P; x++) {
        const gx = (da * x + dc * y + 2 * P) % P, gy = (db * x + dd * y + 2 * P) % P;
        R[y * P + x] = T[gy * P + gx];
      }
    }
    k.zero(im, P * P * 4);
    k.fft2d(re, im, P, 0, tmp, P);
    out.re.push(a.f32view(re, P * P).slice());
    out.im.push(a.f32view(im, P * P).slice());
  }
  return out;
}

export type Vec = [number, number];

/**
 * The right-angle orientations tried before any search (see `orient` in assembly/sync.ts), with
 * the affine map from the oriented plane (the mark's grid) back to the frame, for a w x h frame.
 */
export function orientations(w: number, h: number): { op: number; fw: number; fh: number; affine: Affine }[] {
  const A = (m00: number, m01: number, m10: number, m11: number, tx: number, ty: number): Affine => ({ m00, m01, m10, m11, tx, ty });
  return [
    { op: 1, fw: h, fh: w, affine: A(0, 1, -1, 0, 0, h - 1) },
    { op: 2, fw: w, fh: h, affine: A(-1, 0, 0, -1, w - 1, h - 1) },
    { op: 3, fw: h, fh: w, affine: A(0, -1, 1, 0, w - 1, 0) },
    { op: 4, fw: w, fh: h, affine: A(-1, 0, 0, 1, w - 1, 0) },
    { op: 5, fw: w, fh: h, affine: A(1, 0, 0, -1, 0, h - 1) },
    { op: 6, fw: h, fh: w, affine: A(0, 1, 1, 0, 0, 0) },
    { op: 7, fw: h, fh: w, affine: A(0, -1, -1, 0, w - 1, h - 1) },
  ];
}

/** Candidate lattices (v1, v2) of tile periods in frame pixels, best first (at most `max`). */
export function findLattices(a: Arena, white: number, fw: number, fh: number, max = 2, rho = 1, combMax = 0): { v1: Vec; v2: Vec; score: number }[] {
  const k = a.k;
  const re = a.f32(N * N), im = a.f32(N * N), H = a.f32(N * N);
  k.affineSample(white, fw, fh, re, N, N, 1, 0, 0, 1, 0, 0);
  k.zero(im, N * N * 4);
  const tmp = a.f32(Math.max(3 * N, 2 * N * N));
  k.fft2d(re, im, N, 0, tmp, Math.min(N, fh));
  k.mulConj(re, im, re, im, re, im, N * N);
  k.whitenSpectrum(re, im, N, 4, 1 / 24, 0.35, tmp);
  k.fft2d(re, im, N, 1, tmp, LAG_MAX + 2);
  const out = a.f32(PEAKS * 3);
  const n = k.lagPeaks(re, N, LAG_MIN, LAG_MAX, out, PEAKS);
  const pk = a.f32view(out, n * 3).slice();
  const A = a.f32view(re, N * N);
  const zero = A[0] || 1;
  // The autocorrelation is symmetric, A(-v) = A(v), and only rows 0 .. LAG_MAX + 1 (and the
  // last) were computed: look negative lags up at their mirror.
  const at = (x0: number, y0: number): number => {
    const xi = Math.round(y0 < 0 ? -x0 : x0), yi = Math.round(y0 < 0 ? -y0 : y0);
    if (Math.abs(xi) >= N / 2 - 1 || yi > LAG_MAX) return 0;
    let m = -Infinity;
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) m = Math.max(m, A[((yi + dy + N) % N) * N + ((xi + dx + N) % N)]);
    return m / zero;
  };
  // A tile period v is also a period at 2v: where 2v lies inside the computed lags, its peak is
  // added as evidence, h(v) = at(2v) - (what a lag's 3 x 3 maximum is without a period there),
  // and 0 where 2v lies outside. Periods whose own peak is lost in the texture but whose harmonic
  // shows become candidates too: the HARMONIC_PEAKS best local maxima of that map (harmonicMap).
  const noise = k.harmonicMap(re, N, LAG_MAX, HARMONIC_MIN, H) / zero;
  const h = (x: number, y: number) => (Math.abs(2 * y) <= LAG_MAX && Math.abs(2 * x) < N / 2 - 1 ? at(2 * x, 2 * y) - noise : 0);
  const vecs: Vec[] = [];
  for (let i = 0; i < n; i++) vecs.push([pk[3 * i + 1]!, pk[3 * i + 2]!]);
  const hn = k.lagPeaks(H, N, HARMONIC_MIN, LAG_MAX, out, HARMONIC_PEAKS);
  const hk = a.f32view(out, hn * 3);
  for (let i = 0; i < hn; i++) {
    const x = hk[3 * i + 1]!, y = hk[3 * i + 2]!;
    if (hk[3 * i]! > -Infinity && !vecs.some((v) => hypot(v[0] - x, v[1] - y) < 1.5)) vecs.push([x, y]);
  }
  const found: { v1: Vec; v2: Vec; score: number }[] = [];
  for (let i = 0; i < vecs.length; i++) {
    for (let j = i + 1; j < vecs.length; j++) {
      const v1 = vecs[i]!, v2 = vecs[j]!;
      const l1 = hypot(...v1), l2 = hypot(...v2);
      const cross = Math.abs(v1[0] * v2[1] - v1[1] * v2[0]) / (l1 * l2);
      // The tile is square: aspect changes up to 1.25 and rotation keep the two periods within
      // 0.7 to 1.43 of each other and more than 60 degrees apart.
      if (cross < 0.86 || l1 > 1.43 * l2 || l2 > 1.43 * l1) continue;
      const score = at(...v1) + at(...v2) + at(v1[0] + v2[0], v1[1] + v2[1]) + at(v1[0] - v2[0], v1[1] - v2[1]) + h(...v1) + h(...v2);
      found.push({ v1, v2, score });
    }
  }
  found.sort((p, q) => q.score - p.score);
  // Subpixel refinement of each period by a parabola through the peak and its neighbours.
  const refine = (v: Vec): Vec => {
    const xi = Math.round(v[0]), yi = Math.round(v[1]);
    const g = (dx: number, dy: number) => A[((yi + dy + N) % N) * N + ((xi + dx + N) % N)];
    const c = g(0, 0);
    const ox = (g(-1, 0) - g(1, 0)) / (2 * (g(-1, 0) - 2 * c + g(1, 0)) || 1);
    const oy = (g(0, -1) - g(0, 1)) / (2 * (g(0, -1) - 2 * c + g(0, 1)) || 1);
    return [xi + Math.max(-0.5, Math.min(0.5, ox)), yi + Math.max(-0.5, Math.min(0.5, oy))];
  };
  const pairs = found.slice(0, max).map((l) => ({ v1: refine(l.v1), v2: refine(l.v2), score: l.score }));
  // The comb's square lattices, where no pair lattice already has them: the same points within
  // 0.3 frame pixels, in any of the lattice's symmetries. A pair lattice a pixel off (a peak
  // refined on its own, about a pixel long on the ihc photo after a 10-degree rotation with borders) is
  // not the comb's, fitted over all its points: the fold over the frame puts the far tiles a few
  // pixels off, and only the comb's decodes.
  const near = (u: Vec, v: Vec) => hypot(u[0] - v[0], u[1] - v[1]) < 0.3 || hypot(u[0] + v[0], u[1] + v[1]) < 0.3;
  const same = (l: { v1: Vec; v2: Vec }, q: { v1: Vec; v2: Vec }) => [q.v1, q.v2].every((v) => near(v, l.v1) || near(v, l.v2));
  const combs = combMax > 0 ? combLattices(a, re, rho, combMax).filter((c) => !pairs.some((l) => same(l, c))) : [];
  return [...pairs, ...combs];
}

/**
 * z a comb lattice needs to be tried (see combLattices): the ihc photo's true lattices after
 * rotations and chains scored 6.8 to 12.7; without the mark, 84 of 297 detections (27 photos as
 * they are and after ten crops, rotations and chains) had a best lattice of 6.5 or more, from
 * textures and straight edges of their own (at most 10.4). Below it the lattice is not located
 * or decoded; the p-value counts it either way.
 */
export const COMB_MIN_Z = 6.5;
/**
 * The comb's scan: rotations over a quarter turn (the lattice's symmetry) and periods in frame
 * pixels, coarse over lags up to `coarseLag`, refined around the best `seeds` over all lags; the
 * null sample spans the same range on a sparse grid.
 */
const COMB = {
  pMin: 40, pMax: 136, coarseLag: 128, coarseTh: (0.3 * Math.PI) / 180, coarseP: 0.4, refineSteps: 5, recentre: 2, seeds: 16,
  nullTh: (3.1 * Math.PI) / 180, nullP: 3.3,
};

/**
 * Square lattices from the lattice comb (`latticeComb` in assembly/sync.ts). A rotated, rescaled
 * or cropped copy keeps the tile lattice square in image pixels (`rho`, the frame's pixel aspect
 * sx / sy, makes it square in frame pixels): one rotation and one period. Every rotation in a
 * quarter turn (0.3 degree steps) and period from 40 to 136 frame pixels (0.4) is scored by the
 * autocorrelation summed over its lattice points within 128 pixels; the 16 best local maxima are
 * refined (a fifth of a step) over all computed lags, the window following a maximum on its
 * edge, and each is scored as a z against the comb over a sparse grid of all rotations and
 * periods. Where texture hides the four strongest peaks of a lattice from the pair search, its
 * 20 to 50 points together still show it: the ihc photo's lattice after rotations of 2 to 10
 * degrees and the two chains scored z 6.8 to 12.7, first among the comb's hypotheses in 9 of its
 * 10 searched attacks. Returns at most `max` distinct lattices with z of at least `minZ`, best
 * first.
 */
export function combLattices(a: Arena, A: number, rho: number, max: number, minZ = COMB_MIN_Z): { v1: Vec; v2: Vec; score: number; z: number }[] {
  const k = a.k;
  const lag = LAG_MAX - 1;
  const span = (step: number) => Math.floor((COMB.pMax - COMB.pMin) / step) + 1;
  const mk = k.mark();
  // The null reference: the comb over a sparse grid of every rotation and period.
  const nth0 = Math.ceil(Math.PI / 2 / COMB.nullTh), np0 = span(COMB.nullP);
  const sample = a.f32(nth0 * np0), stats = a.f32(2);
  k.latticeComb(A, N, lag, rho, -Math.PI / 4, COMB.nullTh, nth0, COMB.pMin, COMB.nullP, np0, sample);
  k.meanStd(sample, nth0 * np0, stats);
  const [mean, sd] = a.f32view(stats, 2);
  // The coarse map and its best local maxima.
  const nth = Math.round(Math.PI / 2 / COMB.coarseTh), np = span(COMB.coarseP);
  const map = a.f32(nth * np);
  k.latticeComb(A, N, COMB.coarseLag, rho, -Math.PI / 4, COMB.coarseTh, nth, COMB.pMin, COMB.coarseP, np, map);
  const peaks = a.f32(COMB.seeds * 3);
  const n = k.gridPeaks(map, np, nth, peaks, COMB.seeds);
  const seeds = a.f32view(peaks, n * 3).slice();
  // Each refined over all lags, a fifth of a coarse step apart.
  const fine = 2 * COMB.refineSteps + 1, dth = COMB.coarseTh / COMB.refineSteps, dp = COMB.coarseP / COMB.refineSteps;
  const local = a.f32(fine * fine);
  const found: { th: number; p: number; score: number; z: number }[] = [];
  for (let i = 0; i < n; i++) {
    let th = -Math.PI / 4 + seeds[3 * i + 2]! * COMB.coarseTh, p = COMB.pMin + seeds[3 * i + 1]! * COMB.coarseP;
    let score = -Infinity;
    // The coarse map sees lags up to 128 only: over all lags the maximum can lie more than a
    // coarse step away (ihc after +10 degrees cropped to fit: 0.64 pixels of period). A
    // maximum on the window's edge moves the window there, up to COMB.recentre times.
    for (let step = 0; step <= COMB.recentre; step++) {
      const th0 = th - COMB.refineSteps * dth, p0 = p - COMB.refineSteps * dp;
      k.latticeComb(A, N, lag, rho, th0, dth, fine, p0, dp, fine, local);
      const L = a.f32view(local, fine * fine);
      let b = 0;
      for (let j = 1; j < L.length; j++) if (L[j]! > L[b]!) b = j;
      if (L[b]! <= score) break;
      const bt = Math.floor(b / fine), bp = b % fine;
      th = th0 + bt * dth;
      p = p0 + bp * dp;
      score = L[b]!;
      if (bt > 0 && bt < fine - 1 && bp > 0 && bp < fine - 1) break;
    }
    found.push({ th, p, score, z: (score - mean!) / (sd! || 1) });
  }
  k.release(mk);
  found.sort((x, y) => y.z - x.z);
  // Distinct lattices (rotations a quarter turn apart are the same lattice).
  const quarter = Math.PI / 2;
  const out: typeof found = [];
  for (const f of found) {
    if (f.z < minZ || out.length >= max) break;
    const dup = out.some((o) => {
      const d = Math.abs(((f.th - o.th) % quarter + 1.5 * quarter) % quarter - quarter / 2);
      return d < 0.01 && Math.abs(f.p - o.p) < 1;
    });
    if (!dup) out.push(f);
  }
  return out.map(({ th, p, score, z }) => {
    const c = cos(th), s = sin(th);
    return { v1: [p * c, rho * p * s] as Vec, v2: [-p * s, rho * p * c] as Vec, score, z };
  });
}

/** Bounding box, in grid coordinates, of the frame under the map u -> M u + t. */
function gridBox(m: Affine, fw: number, fh: number) {
  const det = m.m00 * m.m11 - m.m01 * m.m10;
  const inv = [m.m11 / det, -m.m01 / det, -m.m10 / det, m.m00 / det];
  const us: number[] = [], vs: number[] = [];
  for (const [x, y] of [[0, 0], [fw, 0], [0, fh], [fw, fh]]) {
    us.push(inv[0] * (x - m.tx) + inv[1] * (y - m.ty));
    vs.push(inv[2] * (x - m.tx) + inv[3] * (y - m.ty));
  }
  return { umin: Math.min(...us), umax: Math.max(...us), vmin: Math.min(...vs), vmax: Math.max(...vs) };
}

/**
 * Sub-pixel position of the peak at index i of a P x P periodic correlation along one axis
 * (stride 1: u, stride P: v), from the parabola through it and its two neighbours (wrapping),
 * within half a pixel.
 */
export function peakOffset(C: Float32Array, i: number, stride: number): number {
  const u = i % P, v = Math.floor(i / P);
  const at = (d: number) => (stride === 1 ? C[v * P + ((u + d + P) % P)]! : C[((v + d + P) % P) * P + u]!);
  const l = at(-1), c = at(0), r = at(1);
  const den = l - 2 * c + r;
  return den < 0 ? Math.max(-0.5, Math.min(0.5, (l - r) / (2 * den))) : 0;
}

/**
 * Orientation and tile origin: the affine map from the mark's grid to the frame. The whitened
 * frame is resampled once, with tiles made upright squares by the lattice (v1, v2), and folded
 * onto one tile; its cross-correlation with pilot half A's pattern in each of the eight lattice
 * symmetries gives each symmetry's tile origin. The folded tile is then read on each symmetry's
 * grid (DCT, despread) and the symmetry that reads best by pilot A plus the data symbols' energy
 * wins: pilot A's 64 slots alone sometimes picked a wrong symmetry, the data symbols add the
 * alignment of the other 832 whatever the payload bits are (pilot B is never looked at).
 * Returns the map with pilot A's normalised correlation.
 */
export function locateGrid(a: Arena, white: number, fw: number, fh: number, v1: Vec, v2: Vec, patterns: PilotPatterns): { affine: Affine; corr: number } | undefined {
  const k = a.k;
  const m: Affine = { m00: v1[0] / P, m01: v2[0] / P, m10: v1[1] / P, m11: v2[1] / P, tx: 0, ty: 0 };
  const box = gridBox(m, fw, fh);
  const wa = Math.min(1024, Math.ceil(box.umax - box.umin)), ha = Math.min(1024, Math.ceil(box.vmax - box.vmin));
  if (wa < 16 || ha < 16) return undefined;
  const tmp = a.f32(3 * P);
  const fr = a.f32(P * P), fi = a.f32(P * P), cr = a.f32(P * P), ci = a.f32(P * P);
  const mark = k.mark();
  const plane = a.f32(wa * ha);
  k.affineSampleCubic(white, fw, fh, plane, wa, ha, m.m00, m.m01, m.m10, m.m11,
    m.m00 * box.umin + m.m01 * box.vmin, m.m10 * box.umin + m.m11 * box.vmin);
  k.foldSpatial(plane, wa, ha, P, P, fr);
  k.release(mark);
  const folded = a.f32(P * P);
  a.f32view(folded, P * P).set(a.f32view(fr, P * P));
  let energy = 0;
  for (const v of a.f32view(fr, P * P)) energy += v * v;
  k.zero(fi, P * P * 4);
  k.fft2d(fr, fi, P, 0, tmp, P);
  let best: { d: number; at: number; corr: number; score: number; du: number; dv: number } | undefined;
  const pr = a.f32(P * P), pi = a.f32(P * P), tile = a.f32(P * P);
  for (let d = 0; d < DIHEDRAL.length; d++) {
    a.f32view(pr, P * P).set(patterns.re[d]);
    a.f32view(pi, P * P).set(patterns.im[d]);
    k.mulConj(fr, fi, pr, pi, cr, ci, P * P);
    k.fft2d(cr, ci, P, 1, tmp, P);
    const C = a.f32view(cr, P * P);
    let bi = 0;
    for (let i = 1; i < C.length; i++) if (C[i] > C[bi]) bi = i;
    const corr = C[bi] / (Math.sqrt(energy) * patterns.norm || 1);
    // How the folded tile reads in this symmetry at this origin: pilot A and the data symbols'
    // energy (never pilot B), from the tile put on the mark's grid, g -> fold position tau + D g.
    const [da, db, dc, dd] = DIHEDRAL[d]!;
    k.tileOnGrid(folded, P, da, db, dc, dd, bi % P, Math.floor(bi / P), tile);
    const mk = k.mark();
    const { soft, energy: en } = despread(a, analysePlane(a, tile, { fw: P, fh: P, bw: TILE, bh: TILE }), patterns.layout);
    k.release(mk);
    const score = alignmentScore(soft, en);
    if (!best || score > best.score) best = { d, at: bi, corr, score, du: peakOffset(C, bi, 1), dv: peakOffset(C, bi, P) };
  }
  // Pattern d's origin sits at fold position tau, i.e. grid origin c = (umin, vmin) + tau in
  // the upright coordinates u; the grid is g = D^-1 (u - c), so frame = M (D g + c).
  const [da, db, dc, dd] = DIHEDRAL[best!.d];
  const cu = box.umin + (best!.at % P) + best!.du, cv = box.vmin + Math.floor(best!.at / P) + best!.dv;
  return {
    affine: {
      m00: m.m00 * da + m.m01 * dc, m01: m.m00 * db + m.m01 * dd,
      m10: m.m10 * da + m.m11 * dc, m11: m.m10 * db + m.m11 * dd,
      tx: m.m00 * cu + m.m01 * cv, ty: m.m10 * cu + m.m11 * cv,
    },
    corr: best!.corr,
  };
}

/**
 * Resample the luma frame onto the mark's grid (affine from locateGrid) and analyse it. The grid
 * origin is first moved by whole tiles to the top-left of the frame's content, so the plane
 * starts on a tile boundary and covers everything (or, with `window`, at most window x window
 * tiles from the middle). The blocks the frame's edge cuts get the mean of their inside pixels
 * outside it (fillOutside), not the sampler's 0.
 */
export function analyseOnGrid(a: Arena, frame: number, fw: number, fh: number, affine: Affine, window = Infinity): Analysis & { origin: Vec } {
  return analyseOnGridBoth(a, frame, undefined, fw, fh, affine, window)[0];
}

/**
 * analyseOnGrid of a frame and, when `frame2` is given (a colour image's Cb frame, same size),
 * of that frame on the same grid: both resampled in one pass (affineSampleCubic2), each
 * analysis the one analyseOnGrid gives.
 */
export function analyseOnGridBoth(a: Arena, frame: number, frame2: number | undefined, fw: number, fh: number, affine: Affine, window = Infinity): (Analysis & { origin: Vec })[] {
  const box = gridBox(affine, fw, fh);
  let su = P * Math.floor(box.umin / P), sv = P * Math.floor(box.vmin / P);
  let wd = Math.min(2048, Math.ceil((box.umax - su) / 8) * 8), hd = Math.min(2048, Math.ceil((box.vmax - sv) / 8) * 8);
  // At most `window` x `window` tiles, from the middle of the grid (tile-aligned).
  if (wd > window * P) { su += P * Math.floor((Math.ceil(wd / P) - window) / 2); wd = window * P; }
  if (hd > window * P) { sv += P * Math.floor((Math.ceil(hd / P) - window) / 2); hd = window * P; }
  const tx = affine.tx + affine.m00 * su + affine.m01 * sv, ty = affine.ty + affine.m10 * su + affine.m11 * sv;
  const { m00, m01, m10, m11 } = affine;
  const plane = a.f32(wd * hd);
  const plane2 = frame2 === undefined ? 0 : a.f32(wd * hd);
  if (frame2 === undefined) a.k.affineSampleCubic(frame, fw, fh, plane, wd, hd, m00, m01, m10, m11, tx, ty);
  else a.k.affineSampleCubic2(frame, frame2, fw, fh, plane, plane2, wd, hd, m00, m01, m10, m11, tx, ty);
  const planes = frame2 === undefined ? [plane] : [plane, plane2];
  const g = { fw: wd, fh: hd, bw: wd >> 3, bh: hd >> 3 };
  return planes.map((p) => {
    a.k.fillOutside(p, wd, hd, fw, fh, m00, m01, m10, m11, tx, ty);
    return { ...analysePlane(a, p, g), origin: [su, sv] as Vec };
  });
}

/**
 * The normalised energy of the data symbols, (sum of soft^2 / energy - n) / sqrt(2n): large on a
 * well-aligned grid whatever the payload bits are, about N(0, 1) without the mark. The search
 * never looks at the data symbols, so unlike pilot half A's score it is not biased upwards on the
 * grids the search picks.
 */
export function dataEnergyScore(soft: ArrayLike<number>, energy: ArrayLike<number>): number {
  let chi = 0;
  for (let i = 0; i < PILOT; i++) if (energy[i]! > 0) chi += (soft[i]! * soft[i]!) / energy[i]!;
  return (chi - PILOT) / Math.sqrt(2 * PILOT);
}

/** How well a grid reads, from everything but pilot half B: the data energy plus pilot A's score. */
function alignmentScore(soft: ArrayLike<number>, energy: ArrayLike<number>): number {
  return dataEnergyScore(soft, energy) + (energy[PILOT]! > 0 ? soft[PILOT]! / Math.sqrt(energy[PILOT]!) : 0);
}

/**
 * Data energy score ({@link dataEnergyScore}) from which a candidate grid whose payload fails is
 * refined (a null candidate reaches it about 1% of the time).
 */
export const REFINE_MIN = 2.5;
/** Steps of one grid pixel the refinement may take from the located origin. */
const REFINE_STEPS = 2;
/** The refinement reads at most this many tiles across (the middle of the grid), for speed. */
const REFINE_WINDOW = 4;

/**
 * A candidate grid with its origin refined by up to REFINE_STEPS grid pixels, or undefined when
 * the located origin reads best. locateGrid's origin comes from a spatial correlation with pilot
 * half A on the whitened frame, which at low signal can sit a pixel or two off the grid that the
 * DCT-domain despread reads best; one or two pixels off, the payload is lost while the pilot
 * still shows. The eight neighbouring origins are scored by the data energy plus pilot A's score
 * and the best taken, hill-climbing. Pilot half B is never looked at, so it stays N(0, 1) under the null
 * hypothesis; the caller counts the refined grid's decode as one more candidate.
 * Measured on the 27 photos: the Hubble photo's 2-degree crop-to-fit rotations, whose lattice was
 * right and origin one pixel off, now decode.
 */
export function refineGrid(a: Arena, c: GridCandidate, layout: Layout): Affine | undefined {
  const shifted = (du: number, dv: number): Affine => {
    const f = c.affine;
    return { ...f, tx: f.tx + f.m00 * du + f.m01 * dv, ty: f.ty + f.m10 * du + f.m11 * dv };
  };
  const scoreAt = (du: number, dv: number): number => {
    const mk = a.k.mark();
    try {
      const { soft, energy } = despread(a, analyseOnGrid(a, c.frame, c.g.fw, c.g.fh, shifted(du, dv), REFINE_WINDOW), layout);
      return alignmentScore(soft, energy);
    } finally {
      a.k.release(mk);
    }
  };
  let best = { du: 0, dv: 0, score: scoreAt(0, 0) };
  const seen = new Set(['0,0']);
  for (let step = 0; step < REFINE_STEPS; step++) {
    const from = best;
    for (let dv = -1; dv <= 1; dv++) {
      for (let du = -1; du <= 1; du++) {
        const u = from.du + du, v = from.dv + dv;
        if (seen.has(`${u},${v}`)) continue;
        seen.add(`${u},${v}`);
        const score = scoreAt(u, v);
        if (score > best.score) best = { du: u, dv: v, score };
      }
    }
    if (best === from) break;
  }
  return best.du === 0 && best.dv === 0 ? undefined : shifted(best.du, best.dv);
}

/**
 * The search's plane for a colour image: its whitened luma frame plus its whitened Cb frame
 * (both carry the mark's pattern on the same grid, docs/classical.md); the whitened luma alone
 * without a Cb frame. `white`, when given, is the luma's, already whitened (it is added to in
 * place). Returns the plane's pointer.
 */
export function whitenFrames(a: Arena, f: Framed, cb?: number, white = whitenFrame(a, f)): number {
  if (cb === undefined) return white;
  const wc = whitenFrame(a, { frame: cb, g: f.g });
  const n = f.g.fw * f.g.fh, vy = a.f32view(white, n), vc = a.f32view(wc, n);
  for (let i = 0; i < n; i++) vy[i]! += vc[i]!;
  return white;
}

/**
 * A luma frame whitened for the search: detail over a 5 x 5 mean, divided by the local contrast
 * over 9 x 9, clipped (see `whiten` in assembly/sync.ts). Returns the plane's pointer.
 */
export function whitenFrame(a: Arena, f: Framed): number {
  const white = a.f32(f.g.fw * f.g.fh);
  const mk = a.k.mark();
  a.k.whiten(f.frame, f.g.fw, f.g.fh, 2, 4, 1, white, a.f32(3 * f.g.fw * f.g.fh));
  a.k.release(mk);
  return white;
}

/** Ratios new / original of the frame's long side that the aspect search considers. */
const ASPECT_MIN = 0.5, ASPECT_MAX = 2;
/**
 * Score the aspect search's best candidate needs to be decoded. Without a mark of the key the
 * best of its candidates (21 to 49 on the shared photos) scored 2.5 (median) and 4 or more in 10 of 648 detections (27
 * photos as they are, stretched 0.8 and 1.25 and cropped to half, 6 keys each; at most 5.0);
 * the true size of a stretched marked photo scored 5.5 to 39. Below it the decode is skipped,
 * which saves an unmarked 1080p image about 3 ms; the p-value counts the decode either way.
 */
export const ASPECT_MIN_SCORE = 4;
/** The frame's long side moves in steps of this many frame pixels (see scheme.ts). */
const LONG_STEP = 16;

/**
 * The aspect search: an image stretched or squeezed along one or both axes, as a whole (nothing
 * cropped), keeps its mark's grid axis-aligned with a tile origin at the frame's corner, and
 * the frame's short side (FRAME pixels, in the original as here) keeps the tile period exactly.
 * Only the original frame's long side L0 is unknown, a multiple of 16: a one-parameter family.
 * For each L0 with new / original long side in [ASPECT_MIN, ASPECT_MAX], the whitened frame,
 * already folded along its short side onto one tile row (exact: period and origin known), is
 * resampled along its long side onto the candidate grid and folded onto one tile, which is read
 * (DCT, despread) and scored by pilot half A plus the data symbols' energy, never pilot B. Where
 * the frame is square either axis may be the long one, and both are tried.
 *
 * Returns the best original frame size when it is not the canonical frame itself (that one was
 * decoded first), with its score; where the score reaches ASPECT_MIN_SCORE the caller remakes
 * the frame from the image at that size and decodes it as one more candidate. On the 27 shared
 * photos the true L0 ranked first after every aspect change of 0.8 to 1.25 whose long side stayed
 * the long side, scores 5.5 to 39 against at most 4.2 for the best wrong L0; the lattice search
 * had missed grass, gravel and ihc.
 */
export function aspectGrid(a: Arena, base: Framed, white: number, layout: Layout): { fw: number; fh: number; score: number } | undefined {
  const k = a.k;
  const { fw, fh } = base.g;
  let best: { fw: number; fh: number; score: number } | undefined;
  for (const alongX of fw === fh ? [true, false] : [fw > fh]) {
    const L1 = alongX ? fw : fh, short = alongX ? fh : fw;
    const mk = k.mark();
    // The strip, L1 rows of P floats: row l holds long-axis position l, the short axis folded
    // modulo the tile period (a frame stretched along x is transposed first).
    const strip = a.f32(L1 * P);
    if (alongX) {
      const t = a.f32(fw * fh);
      k.orient(white, fw, fh, 6, t);
      k.foldSpatial(t, fh, fw, P, fw, strip);
    } else {
      k.foldSpatial(white, fw, fh, P, fh, strip);
    }
    const lo = Math.max(short, LONG_STEP * Math.ceil(L1 / ASPECT_MAX / LONG_STEP));
    const hi = Math.min(4096, LONG_STEP * Math.floor(L1 / ASPECT_MIN / LONG_STEP));
    const folded = a.f32(P * P), tile = a.f32(P * P);
    for (let L0 = lo; L0 <= hi; L0 += LONG_STEP) {
      const mk2 = k.mark();
      // Candidate grid position u along the long axis is frame position u * L1 / L0.
      k.foldResampledRows(strip, P, L1, L1 / L0, L0, P, folded);
      // The folded tile is (long, short): along x that is (x, y), transposed back.
      if (alongX) k.orient(folded, P, P, 6, tile);
      const { soft, energy } = despread(a, analysePlane(a, alongX ? tile : folded, { fw: P, fh: P, bw: TILE, bh: TILE }), layout);
      const score = alignmentScore(soft, energy);
      k.release(mk2);
      if (!best || score > best.score) best = { fw: alongX ? L0 : short, fh: alongX ? short : L0, score };
    }
    k.release(mk);
  }
  return best && (best.fw !== fw || best.fh !== fh) ? best : undefined;
}

/** Decodes the aspect search adds (its best original frame size), a multiple comparison. */
export const ASPECT_DECODES = 1;

/** Lattice candidates tried by the search, each a multiple comparison (see watermarker.ts). */
export const SEARCH_LATTICES = 4;
/** Lattice candidates the comb adds (where the pair search has not found the same lattice). */
export const COMB_LATTICES = 1;
/** Decodes a lattice candidate may take: its located grid, then possibly its refined grid. */
export const DECODES_PER_LATTICE = 2;

/** Lattice scales (frame pixels per grid pixel) above which the search remakes the frame. */
const REFRAME_MIN = 1.5;

/** One candidate grid: the affine map from the mark's grid to `g`'s frame pixels. */
export interface GridCandidate extends Framed {
  affine: Affine;
  /** Pilot half A's normalised correlation at this grid (the order candidates are tried in). */
  corr: number;
}

/**
 * The search on a luma frame: lattice candidates, each with its orientation and offset from
 * pilot half A, ordered by that correlation (best first). The caller decodes them in this order.
 *
 * A lattice also gives the scale s of the mark's grid in frame pixels. Where s is far from 1
 * (crops are enlarged to the frame size; added borders and stretches shrink the content), the
 * orientation search and the decode run on a frame remade at 1/s times the size by `reframe`, from
 * the image itself: the grid then maps about one to one onto frame pixels, so the resampling
 * neither aliases the image's fine texture into the mark's band (a grid coarser than the frame)
 * nor throws away detail the image had (a grid finer than the frame).
 */
export function searchGrids(a: Arena, base: Framed, patterns: PilotPatterns, reframe: (r: number) => Framed, max = SEARCH_LATTICES,
  white = whitenFrame(a, base), whiten: (f: Framed) => number = (f) => whitenFrame(a, f)): GridCandidate[] {
  const k = a.k;
  const { fw, fh } = base.g;
  const mk = k.mark();
  const lattices = findLattices(a, white, fw, fh, max, base.g.sx / base.g.sy, COMB_LATTICES);
  k.release(mk);
  const grids: GridCandidate[] = [];
  for (const l of lattices) {
    const s = Math.sqrt(Math.abs(l.v1[0] * l.v2[1] - l.v1[1] * l.v2[0])) / P;
    let f = base, w = white, v1 = l.v1, v2 = l.v2;
    if (s > REFRAME_MIN && s > 32 / Math.min(fw, fh)) {
      f = reframe(1 / s);
      if (f !== base) {
        w = whiten(f);
        const rx = f.g.fw / fw, ry = f.g.fh / fh;
        v1 = [l.v1[0] * rx, l.v1[1] * ry];
        v2 = [l.v2[0] * rx, l.v2[1] * ry];
      }
    }
    const mk2 = k.mark();
    const g = locateGrid(a, w, f.g.fw, f.g.fh, v1, v2, patterns);
    k.release(mk2);
    if (g) grids.push({ ...g, ...f });
  }
  return grids.sort((p, q) => q.corr - p.corr);
}
