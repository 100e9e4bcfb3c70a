import type { Geometry } from './scheme.js';
import type { Affine } from './sync.js';
import { atan2, hypot } from './libm.js';

/**
 * Where the mark's grid lies in an image. Grid coordinates are the frame pixels of the marked
 * original (its short side was 256 of them); `matrix` [a, b, c, d, e, f] maps grid (u, v) to
 * image pixel centres (x, y) = (a u + b v + e, c u + d v + f).
 */
export interface Transform {
  matrix: [number, number, number, number, number, number];
  /** Image pixels per grid pixel (geometric mean of the two axes). */
  scale: number;
  /**
   * Ratio of the horizontal to the vertical scale: within about 3% of 1 when the aspect ratio
   * was kept (the frame's long side is rounded to 16 pixels, so its pixels are not exactly square).
   */
  aspect: number;
  /** Rotation of the grid in the image, degrees counter-clockwise, in (-180, 180]. */
  rotation: number;
  /** Whether the image is mirrored relative to the original (left-right, before `rotation`). */
  flipped: boolean;
  /** Image position (x, y) of a tile origin of the grid. */
  translation: [number, number];
}

/** The Transform of grid -> frame map `f` in the frame geometry `g` of the examined image. */
export function frameTransform(g: Geometry, f: Affine): Transform {
  // frame pixel o covers image [o s, (o + 1) s): its centre is at image (o + 0.5) s - 0.5
  const a = g.sx * f.m00, b = g.sx * f.m01, c = g.sy * f.m10, d = g.sy * f.m11;
  const e = g.sx * (f.tx + 0.5) - 0.5, h = g.sy * (f.ty + 0.5) - 0.5;
  const det = a * d - b * c;
  const sxl = hypot(a, c), syl = hypot(b, d);
  const round = (x: number) => Math.round(x * 1e4) / 1e4;
  // A mirrored grid is read as "mirrored left-right, then rotated": M = R diag(-1, 1), so R's
  // first column is (-a, -c). Image y grows downwards: counter-clockwise is a negative angle.
  const [ra, rc] = det < 0 ? [-a, -c] : [a, c];
  let rotation = round((-atan2(rc, ra) * 180) / Math.PI);
  if (rotation <= -180) rotation += 360;
  return {
    matrix: [a, b, c, d, e, h].map(round) as Transform['matrix'],
    scale: round(Math.sqrt(Math.abs(det))),
    aspect: round(sxl / syl),
    rotation: rotation === 0 ? 0 : rotation,
    flipped: det < 0,
    translation: [round(e), round(h)],
  };
}

/**
 * `t` moved by `offset` image pixels: the transform of a window's read in the whole image.
 * @example
 * shiftTransform(t, [120, 40]).translation; // t.translation + (120, 40)
 */
export function shiftTransform(t: Transform, [dx, dy]: [number, number]): Transform {
  if (dx === 0 && dy === 0) return t;
  const [a, b, c, d, e, f] = t.matrix;
  const round = (x: number) => Math.round(x * 1e4) / 1e4;
  return { ...t, matrix: [a, b, c, d, round(e + dx), round(f + dy)], translation: [round(t.translation[0] + dx), round(t.translation[1] + dy)] };
}
