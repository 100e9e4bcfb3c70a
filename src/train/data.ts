/**
 * Training data for the deep watermark: photos decoded with sharp and resized, whole, to the
 * work size the runner uses (the whole image squeezed to workSize², aspect not kept), then
 * cut into random tiles with flips, quarter turns and mild tone changes. Node-only.
 */
import sharp from 'sharp';
import { readdir } from 'node:fs/promises';
import { extname, join, basename } from 'node:path';
import { rng } from './forward.js';
import { DecodeError } from '../errors.js';

/** Photos kept out of training: the deep watermark's figures are measured on these. */
export const HELD_OUT = [
  'mate-Blinds', 'mate-Dune', 'mate-LadyBird', 'mate-Storm',
  'skimage-astronaut', 'skimage-camera', 'skimage-coffee', 'skimage-coins',
];

const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff']);

/** Image files in a folder (sorted), split into training and held-out by {@link HELD_OUT}. */
export async function listPhotos(dir: string, holdOut = true): Promise<{ train: string[]; held: string[] }> {
  const names = (await readdir(dir)).filter((n) => IMAGE_EXT.has(extname(n).toLowerCase())).sort();
  const train: string[] = [], held: string[] = [];
  for (const n of names) (holdOut && HELD_OUT.includes(basename(n, extname(n))) ? held : train).push(join(dir, n));
  return { train, held };
}

/**
 * A training photo that does not decode (its header did, when the command line checked it: e.g.
 * a truncated JPEG), named: sharp's own message ("VipsJpeg: premature end of JPEG image") does
 * not say which of 200 photos it is.
 */
export function undecodable(file: string, cause: Error): DecodeError {
  return new DecodeError(`Cannot decode the training photo ${JSON.stringify(file)} (${cause.message}); remove it from the --photos folder or replace it`, { cause });
}

/** One photo squeezed to size×size, RGB float in [0, 1], HWC. */
export interface Plane { size: number; data: Float32Array }

/** A plane from size×size 8-bit RGB pixels. */
export function planeOf(rgb: Uint8Array, size: number): Plane {
  return { size, data: Float32Array.from(rgb.subarray(0, size * size * 3), (v) => v / 255) };
}

/** Decodes a photo and resizes it (whole, aspect not kept) to each of `sizes`. */
export async function loadPlanes(file: string, sizes: number[]): Promise<Plane[]> {
  const out: Plane[] = [];
  for (const size of sizes) {
    const data = await sharp(file).removeAlpha().toColourspace('srgb').resize(size, size, { fit: 'fill' }).raw().toBuffer();
    out.push(planeOf(data, size));
  }
  return out;
}

/** Draws batches of random tiles from a set of planes, reproducibly from a seed. */
export class TileSampler {
  private readonly rand: () => number;
  constructor(private readonly planes: Plane[], private readonly tile: number, seed: number) {
    if (planes.length === 0) throw new Error('no training photos');
    this.rand = rng(seed);
  }

  /** Tiles on the tile grid of each plane (as the runner cuts them), no augmentation. */
  aligned(n: number): Float32Array {
    const t = this.tile, out = new Float32Array(n * t * t * 3);
    for (let b = 0; b < n; b++) {
      const p = this.planes[Math.floor(this.rand() * this.planes.length)]!;
      const k = Math.floor(p.size / t);
      const x0 = Math.floor(this.rand() * k) * t, y0 = Math.floor(this.rand() * k) * t;
      for (let y = 0; y < t; y++) out.set(p.data.subarray(((y0 + y) * p.size + x0) * 3, ((y0 + y) * p.size + x0 + t) * 3), (b * t + y) * t * 3);
    }
    return out;
  }

  /** A batch [n, tile, tile, 3] as a flat Float32Array (NHWC). */
  batch(n: number): Float32Array {
    const t = this.tile, out = new Float32Array(n * t * t * 3);
    for (let b = 0; b < n; b++) {
      const p = this.planes[Math.floor(this.rand() * this.planes.length)]!;
      const x0 = Math.floor(this.rand() * (p.size - t + 1)), y0 = Math.floor(this.rand() * (p.size - t + 1));
      const op = Math.floor(this.rand() * 8); // dihedral: bit 0 flip x, bit 1 flip y, bit 2 transpose
      const gain = 0.85 + 0.3 * this.rand(), bias = (this.rand() - 0.5) * 0.1;
      const base = b * t * t * 3;
      for (let y = 0; y < t; y++) {
        for (let x = 0; x < t; x++) {
          let u = x, v = y;
          if (op & 4) { const s = u; u = v; v = s; }
          if (op & 1) u = t - 1 - u;
          if (op & 2) v = t - 1 - v;
          const si = ((y0 + v) * p.size + (x0 + u)) * 3, di = base + (y * t + x) * 3;
          for (let c = 0; c < 3; c++) out[di + c] = Math.min(1, Math.max(0, p.data[si + c]! * gain + bias));
        }
      }
    }
    return out;
  }
}
