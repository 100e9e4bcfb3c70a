// Where in an image the mark is: a coarse map of per-region scores, so a user can see which
// part of a collage or a composite came from a protected image.
import { NB, symbols, TILE, type Analysis, type Layout } from './scheme.js';
import type { Transform } from './transform.js';
import type { Arena } from './wasm.js';

/** Grid pixels per map cell edge (four 8 x 8 blocks). */
const CELL = 32;

/**
 * A grid of cells over the image, row-major. Each score is the mark's correlation over that
 * cell's blocks, normalised so that it is N(0, 1) where the cell carries no mark; null where the
 * cell holds no analysed block (outside the part of the image the detector examined).
 */
export interface RegionMap {
  columns: number;
  rows: number;
  /** Cell size in image pixels. */
  cellWidth: number;
  cellHeight: number;
  scores: (number | null)[];
}

/**
 * Region map of a decoded mark. `parts` are the analysed planes the payload came from (luma, and
 * Cb for a colour image) with combineReads' weights; their pixel (0, 0) is grid point `origin`;
 * `transform` maps grid coordinates to image pixels.
 */
export function regionMap(a: Arena, parts: { an: Analysis; w: number }[], origin: [number, number], layout: Layout, payload: Uint8Array, transform: Transform, width: number, height: number): RegionMap {
  const k = a.k;
  const { g } = parts[0]!.an;
  const sym = symbols(payload);
  const n = g.bw * g.bh;
  // The reads' block evidence, combined as combineReads combines their symbols (luma and Cb):
  // one pass over both planes, so that each block's null variance holds the cross term of
  // luma and Cb detail that move together (without it a colour image's cell scores were not
  // N(0, 1) where the cell carries no mark). Both reads are on the same grid.
  const used = parts.filter((p) => p.w > 0);
  const [one, two] = used.length > 0 ? used : [{ an: parts[0]!.an, w: 1 }];
  const num = a.f32(n), den = a.f32(n);
  k.blockEvidence(one!.an.coef, two ? two.an.coef : 0, g.fw, g.bw, g.bh, one!.an.band, NB, TILE, one!.an.weight, two ? two.an.weight : 0,
    one!.w, two ? two.w : 0, a.put(layout.code), a.put(layout.sign), a.put(sym), num, den);
  const N = a.f32view(num, n).slice(), D = a.f32view(den, n).slice();
  const [m00, m01, m10, m11, e, f] = transform.matrix;
  const cell = Math.max(8, CELL * transform.scale);
  const columns = Math.max(1, Math.round(width / cell)), rows = Math.max(1, Math.round(height / cell));
  const cw = width / columns, ch = height / rows;
  const sn = new Float64Array(columns * rows), sd = new Float64Array(columns * rows);
  for (let by = 0; by < g.bh; by++) {
    for (let bx = 0; bx < g.bw; bx++) {
      const b = by * g.bw + bx;
      if (D[b] === 0) continue;
      const u = origin[0] + bx * 8 + 3.5, v = origin[1] + by * 8 + 3.5;
      const x = m00 * u + m01 * v + e, y = m10 * u + m11 * v + f;
      const cx = Math.floor((x + 0.5) / cw), cy = Math.floor((y + 0.5) / ch);
      if (cx < 0 || cy < 0 || cx >= columns || cy >= rows) continue;
      sn[cy * columns + cx] += N[b];
      sd[cy * columns + cx] += D[b];
    }
  }
  const scores = Array.from(sn, (s, i) => (sd[i] > 0 ? Math.round((s / Math.sqrt(sd[i])) * 100) / 100 : null));
  return { columns, rows, cellWidth: cw, cellHeight: ch, scores };
}
