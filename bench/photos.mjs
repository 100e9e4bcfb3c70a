// The real test photos in ../shared/photos/ (see its SOURCES.md), read-only, never copied into
// the project. When the folder is absent (a bare checkout), `samplePhotos` falls back to a few
// synthetic images generated here, so the demo still runs.
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { fromSharp, gaussian, load } from './attacks.mjs';

export const PHOTOS_DIR = fileURLToPath(new URL('../../shared/photos/', import.meta.url));

/** Paths of all shared photos, sorted; [] when the folder is absent. */
export function photoPaths() {
  if (!existsSync(PHOTOS_DIR)) return [];
  return readdirSync(PHOTOS_DIR).filter((f) => /\.(png|jpe?g|webp)$/i.test(f)).sort().map((f) => PHOTOS_DIR + f);
}

/** A synthetic photo-like image: smooth gradients, shapes and fine seeded texture. */
export async function syntheticPhoto(width, height, seed) {
  const g = gaussian(seed);
  const data = new Uint8Array(width * height * 3);
  const cx = width * (0.3 + 0.4 * ((seed * 7919) % 100) / 100), cy = height / 2;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const r = Math.hypot(x - cx, y - cy) / Math.min(width, height);
      const i = (y * width + x) * 3;
      const t = 0.5 + 0.5 * Math.sin(x / 23 + seed) * Math.cos(y / 31);
      data[i] = Math.max(0, Math.min(255, 60 + 150 * (1 - r) + 20 * t + 6 * g()));
      data[i + 1] = Math.max(0, Math.min(255, 90 + 100 * t + 6 * g()));
      data[i + 2] = Math.max(0, Math.min(255, 40 + 160 * r + 6 * g()));
    }
  }
  return fromSharp(sharp(data, { raw: { width, height, channels: 3 } }).blur(0.6));
}

/** [{ name, image }] for every shared photo, or three synthetic samples when there are none. */
export async function samplePhotos() {
  const paths = photoPaths();
  if (paths.length) return Promise.all(paths.map(async (p) => ({ name: p.slice(PHOTOS_DIR.length), image: await load(p) })));
  return Promise.all([[1280, 720, 1], [800, 600, 2], [512, 512, 3]].map(async ([w, h, s]) => ({ name: `synthetic-${w}x${h}`, image: await syntheticPhoto(w, h, s) })));
}
