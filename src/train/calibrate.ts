/**
 * Chooses the deep extractor's `found` threshold from measured NC distributions. Node-only.
 *
 * Clean samples: every training photo (held-out photos excluded, they are kept for the figures)
 * and edited copies of it (JPEG q75, 0.5× resize, crops, a flip, a quarter turn, blur, grey,
 * contrast). Marked samples: the same photos marked by the models and given the same edits.
 * The threshold is the largest clean NC plus a margin (so no clean sample of the calibration
 * set is `found`), but at least {@link MIN_THRESHOLD}. Both distributions are recorded in
 * deep.json so that users can see what the threshold rests on.
 */
import sharp, { type Sharp } from 'sharp';
import { createDeepWatermarker, loadDeepModels } from '../node/deep.js';
import { MIN_SIDE, type Image } from '../image.js';
import { listPhotos, undecodable } from './data.js';
import type { PhaseEvent } from './train.js';

/** Seconds between two progress lines of a calibration. */
const PROGRESS_S = 15;

/** Below this the NC of a blank extraction against a structured logo is too easily reached. */
export const MIN_THRESHOLD = 0.5;
/** Added to the largest clean NC. */
export const MARGIN = 0.1;

/** Edits that move pixels: the deep mark is not meant to survive them, so only clean copies get them. */
export const GEOMETRIC = new Set(['crop', 'flip', 'rotate90']);

/** Named edits applied to clean copies (all) and marked copies (all but {@link GEOMETRIC}). */
export const EDITS: Record<string, (s: Sharp, w: number, h: number) => Sharp> = {
  none: (s) => s.png(),
  jpeg75: (s) => s.jpeg({ quality: 75 }),
  half: (s, w, h) => s.resize(Math.max(1, Math.round(w / 2)), Math.max(1, Math.round(h / 2))).png(),
  crop: (s, w, h) => s.extract({ left: Math.floor(w / 8), top: Math.floor(h / 8), width: Math.floor((w * 3) / 4), height: Math.floor((h * 3) / 4) }).png(),
  flip: (s) => s.flop().png(),
  rotate90: (s) => s.rotate(90).png(),
  blur: (s) => s.blur(1.2).png(),
  grey: (s) => s.greyscale().toColourspace('srgb').png(),
  contrast: (s) => s.linear(1.2, -20).png(),
};

/** Decodes to 8-bit RGB pixels. */
export async function rgbOf(input: Buffer | string): Promise<Image> {
  const { data, info } = await sharp(input).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: 3, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** Runs RGB pixels through a sharp pipeline (an edit, an encoder) and decodes the result. */
export async function reencode(img: Image, f: (s: Sharp, w: number, h: number) => Sharp): Promise<Image> {
  const input = sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw: { width: img.width, height: img.height, channels: 3 } });
  return rgbOf(await f(input, img.width, img.height).toBuffer());
}

/** Applies a named edit to RGB pixels and decodes the result. */
export async function edit(img: Image, name: string): Promise<Image> {
  const f = EDITS[name];
  if (!f) throw new Error(`unknown edit ${name}`);
  return reencode(img, f);
}

const q = (a: number[], p: number) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]!; };
const summary = (a: number[]) => ({ n: a.length, min: +Math.min(...a).toFixed(4), p01: +q(a, 0.01).toFixed(4), median: +q(a, 0.5).toFixed(4), p99: +q(a, 0.99).toFixed(4), max: +Math.max(...a).toFixed(4) });

/**
 * Measures clean and marked NC on the training photos and returns the threshold.
 *
 * @example
 * const { threshold } = await calibrate({ models: 'models', photos: '../shared/photos', holdOut: true });
 */
export async function calibrate(o: {
  models: string; photos: string; files?: string[]; holdOut: boolean; onLog?: (l: string, phase?: PhaseEvent) => void;
  /** When aborted, calibration stops after the current photo and returns `interrupted` (no threshold). */
  signal?: AbortSignal;
}): Promise<{ threshold: number; record: Record<string, unknown>; interrupted?: boolean }> {
  const models = await loadDeepModels(o.models);
  const deep = await createDeepWatermarker({ models, threshold: 1 });
  const train = o.files ?? (await listPhotos(o.photos, o.holdOut)).train;
  const clean: number[] = [], marked: number[] = [];
  const markedByEdit: Record<string, number[]> = {};
  // A line every PROGRESS_S seconds: calibrating 200 photos takes minutes after the ETA reached 0.
  let lastLine = performance.now();
  try {
    for (const [i, file] of train.entries()) {
      if (o.signal?.aborted) return { threshold: NaN, record: {}, interrupted: true };
      if (i > 0 && performance.now() - lastLine >= PROGRESS_S * 1000) {
        lastLine = performance.now();
        o.onLog?.(`calibrating: ${i} of ${train.length} photos done`, { phase: 'calibrating', photos: train.length, done: i });
      }
      const img = await rgbOf(file).catch((cause: Error) => { throw undecodable(file, cause); });
      const m = await deep.embed(img);
      for (const name of Object.keys(EDITS)) {
        const c = await edit(img, name);
        if (Math.min(c.width, c.height) < MIN_SIDE) continue; // e.g. a half-size copy of a small photo
        clean.push((await deep.extract(c)).nc);
        if (GEOMETRIC.has(name)) continue;
        const nc = (await deep.extract(await edit(m, name))).nc;
        marked.push(nc);
        (markedByEdit[name] ??= []).push(nc);
      }
    }
  } finally {
    await deep.dispose();
  }
  const maxClean = Math.max(...clean);
  const threshold = +Math.max(MIN_THRESHOLD, Math.min(0.95, maxClean + MARGIN)).toFixed(3);
  const record = {
    method: `max clean NC + ${MARGIN}, at least ${MIN_THRESHOLD}, on ${train.length} training photos x ${Object.keys(EDITS).length} edits (${Object.keys(EDITS).join(', ')}); marked copies skip ${[...GEOMETRIC].join(', ')}`,
    clean: summary(clean),
    marked: summary(marked),
    markedByEdit: Object.fromEntries(Object.entries(markedByEdit).map(([k, v]) => [k, summary(v)])),
    markedBelowThreshold: marked.filter((v) => v < threshold).length,
  };
  o.onLog?.(`calibration: clean NC ${JSON.stringify(record.clean)}; marked NC ${JSON.stringify(record.marked)}; threshold ${threshold}`, { phase: 'calibrated', threshold });
  return { threshold, record };
}
