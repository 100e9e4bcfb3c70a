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

/**
 * For a bench whose figures mean something only on the real photos (null distributions, oracle
 * and training measurements): when ../shared/photos holds none, say so and exit with status 2.
 * @example
 * requirePhotos('bench/geometry-oracle.mjs');
 */
export function requirePhotos(script) {
  if (photoPaths().length) return;
  process.stderr.write(`${script} measures on the real photos in ../shared/photos/ (see its SOURCES.md), and ${PHOTOS_DIR} ` +
    `${existsSync(PHOTOS_DIR) ? 'holds no PNG, JPEG or WebP photo' : 'does not exist'}: put the shared folder beside the repository and run again.\n`);
  process.exit(2);
}

/**
 * One named shared photo as a sharp input: { input, label }, `input` its path, or, in a bare
 * checkout without ../shared/photos, a synthetic photo of `size` ([width, height]) encoded as a
 * lossless PNG (the label says so), so a speed bench still runs there.
 * @example
 * const { input, label } = await photoInput('mate-Storm.jpg');
 * const img = await fromSharp(sharp(input).resize(1920, 1080, { fit: 'cover' }));
 */
export async function photoInput(name, [width, height] = [2560, 1600]) {
  if (existsSync(PHOTOS_DIR + name)) return { input: PHOTOS_DIR + name, label: name };
  const img = await syntheticPhoto(width, height, 7);
  const input = await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: img.channels } }).png({ compressionLevel: 1 }).toBuffer();
  return { input, label: `synthetic ${width}x${height} (${PHOTOS_DIR} absent)` };
}

/**
 * The photos a bench script runs on: every shared photo, or only those named in the PHOTOS
 * environment variable (a comma list of file names in ../shared/photos/, e.g.
 * `PHOTOS=skimage-astronaut.png node bench/gif.mjs`; test/bench-smoke.test.mjs runs the benches
 * on one photo this way). A name that is not there is an error, not a silently smaller set. The
 * tests call photoPaths() and samplePhotos(), which ignore PHOTOS.
 */
export function benchPhotoPaths() {
  const names = (process.env.PHOTOS ?? '').split(',').map((n) => n.trim()).filter(Boolean);
  const all = photoPaths();
  if (!names.length) return all;
  const missing = names.filter((n) => !all.includes(PHOTOS_DIR + n));
  if (missing.length) throw new Error(`PHOTOS names ${missing.join(', ')}: not in ${PHOTOS_DIR}`);
  return names.map((n) => PHOTOS_DIR + n);
}

/** samplePhotos() of the photos benchPhotoPaths() selects (PHOTOS, or all of them). */
export const benchPhotos = () => samplePhotos(benchPhotoPaths());

/**
 * [{ name, image }] for every shared photo (or the given paths), or three synthetic samples when
 * there are none.
 */
export async function samplePhotos(paths = photoPaths()) {
  if (paths.length) return Promise.all(paths.map(async (p) => ({ name: p.slice(PHOTOS_DIR.length), image: await load(p) })));
  return Promise.all([[1280, 720, 1], [800, 600, 2], [512, 512, 3]].map(async ([w, h, s]) => ({ name: `synthetic-${w}x${h}`, image: await syntheticPhoto(w, h, s) })));
}
