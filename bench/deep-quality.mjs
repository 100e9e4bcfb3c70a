// The deep watermark's figures on the held-out photos (never used in training; HELD_OUT in
// src/train/data.ts): quality of the marked photos at full resolution (PSNR, SSIM), NC of the
// extraction on marked photos, after JPEG q75 and after a 0.5x resize (decoded at the new size),
// and the clean-image false-positive rate on the held-out photos plus many edited and cropped
// copies of them.
//
//   node bench/deep-quality.mjs [--models DIR] [--json OUT.json]
//
// Prints one table row per photo and a summary; --json writes everything measured.
// PHOTOS=a.png,b.jpg (held-out photos' names) restricts the photos and DEEP_CROPS=N (default 40)
// sets the clean crops per photo: `PHOTOS=skimage-coins.png DEEP_CROPS=1` is the smoke test's run.
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { psnr, ssim, MIN_SIDE } from '../dist/index.js';
import { createDeepWatermarker, loadDeepModels } from '../dist/node/index.js';
import { listPhotos } from '../dist/train/data.js';
import { rgbOf, edit, reencode as enc, EDITS } from '../dist/train/calibrate.js';
import { PHOTOS_DIR, requirePhotos } from './photos.mjs';

const { values } = parseArgs({ options: { models: { type: 'string' }, json: { type: 'string' } } });
const models = await loadDeepModels(values.models);
const deep = await createDeepWatermarker({ models });
requirePhotos('bench/deep-quality.mjs');
const { held: allHeld } = await listPhotos(PHOTOS_DIR, true);
const only = (process.env.PHOTOS ?? '').split(',').map((n) => n.trim()).filter(Boolean);
const notHeld = only.filter((n) => !allHeld.some((f) => f.endsWith('/' + n)));
if (notHeld.length) throw new Error(`PHOTOS names ${notHeld.join(', ')}: not held-out photos (src/train/data.ts HELD_OUT)`);
const held = only.length ? allHeld.filter((f) => only.some((n) => f.endsWith('/' + n))) : allHeld;


/** Crops of a clean photo at several sizes and places: more clean samples for the FP rate. */
async function crops(img, n, seed) {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const out = [];
  for (let i = 0; i < n; i++) {
    const f = 0.3 + 0.6 * rand();
    const w = Math.max(128, Math.round(img.width * f)), h = Math.max(128, Math.round(img.height * f));
    const left = Math.floor(rand() * (img.width - w + 1)), top = Math.floor(rand() * (img.height - h + 1));
    out.push(await enc(img, (s2) => s2.extract({ left, top, width: Math.min(w, img.width), height: Math.min(h, img.height) }).png()));
  }
  return out;
}

// 40 crops per photo: with 8 photos and the edits, about 390 clean samples, so that zero false
// positives bounds the rate below 1% at 95% confidence (rule of three: 3/n).
const CROPS = Number(process.env.DEEP_CROPS ?? 40);
const rows = [], clean = [];
const threshold = deep.meta.threshold;
for (const file of held) {
  const name = file.slice(file.lastIndexOf('/') + 1);
  const img = await rgbOf(file);
  const marked = await deep.embed(img);
  const r = { name, size: `${img.width}x${img.height}`, psnr: await psnr(img, marked), ssim: await ssim(img, marked) };
  r.nc = (await deep.extract(marked)).nc;
  r.ncPng = (await deep.extract(await enc(marked, (s) => s.png()))).nc;
  r.ncJpeg75 = (await deep.extract(await enc(marked, (s) => s.jpeg({ quality: 75 })))).nc;
  const small = Math.min(img.width, img.height) / 2 < MIN_SIDE; // too small to read at half size: counted as not found
  r.ncHalf = small ? -1 : (await deep.extract(await enc(marked, (s) => s.resize(Math.round(img.width / 2), Math.round(img.height / 2)).png()))).nc;
  r.ncHalfJpeg75 = small ? -1 : (await deep.extract(await enc(marked, (s) => s.resize(Math.round(img.width / 2), Math.round(img.height / 2)).jpeg({ quality: 75 })))).nc;
  rows.push(r);
  for (const e of Object.keys(EDITS)) {
    const c = await edit(img, e);
    if (Math.min(c.width, c.height) >= MIN_SIDE) clean.push({ name, edit: e, nc: (await deep.extract(c)).nc });
  }
  for (const [i, c] of (await crops(img, CROPS, name.length * 7919)).entries()) clean.push({ name, edit: `crop${i}`, nc: (await deep.extract(c)).nc });
}
await deep.dispose();

const f = (v, d = 2) => v.toFixed(d).padStart(6);
console.log(`threshold ${threshold}`);
console.log('photo                          size        PSNR    SSIM      NC  NC png  NC q75  NC 0.5x  NC 0.5x+q75');
for (const r of rows) console.log(`${r.name.padEnd(30)} ${r.size.padEnd(10)} ${f(r.psnr)} ${f(r.ssim, 4)} ${f(r.nc, 3)} ${f(r.ncPng, 3)} ${f(r.ncJpeg75, 3)} ${f(r.ncHalf, 3)}  ${f(r.ncHalfJpeg75, 3)}`);
const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;
const rate = (k, t) => rows.filter((r) => r[k] >= t).length / rows.length;
const cleanNc = clean.map((c) => c.nc).sort((a, b) => a - b);
const summary = {
  photos: rows.length,
  psnrMean: mean(rows.map((r) => r.psnr)), psnrMin: Math.min(...rows.map((r) => r.psnr)),
  ssimMean: mean(rows.map((r) => r.ssim)), ssimMin: Math.min(...rows.map((r) => r.ssim)),
  ncAtLeast095: rate('ncPng', 0.95),
  foundPng: rate('ncPng', threshold), foundJpeg75: rate('ncJpeg75', threshold), foundHalf: rate('ncHalf', threshold), foundHalfJpeg75: rate('ncHalfJpeg75', threshold),
  cleanSamples: clean.length, cleanFound: clean.filter((c) => c.nc >= threshold).length,
  cleanFpUpper95: (clean.filter((c) => c.nc >= threshold).length === 0 ? 3 : NaN) / clean.length,
  cleanNcMax: cleanNc[cleanNc.length - 1], cleanNcP99: cleanNc[Math.floor(0.99 * (cleanNc.length - 1))], cleanNcMedian: cleanNc[Math.floor(cleanNc.length / 2)],
  markedNcMin: Math.min(...rows.map((r) => r.ncPng)),
};
console.log(JSON.stringify(summary, null, 1));
if (values.json) writeFileSync(values.json, JSON.stringify({ threshold, summary, rows, clean }, null, 1));
