// `npm run demo`: marks every photo in ../shared/photos/ (three synthetic samples when that
// folder is absent), attacks each marked copy (JPEG q50, resize 0.5x, Gaussian noise sigma 5),
// detects, and prints a table: PSNR, SSIM, whether the exact payload came back after each attack,
// and the embed / detect times; then, when models/ holds the deep models, marks six photos with
// the deep (logo) watermark and extracts the logo from the marked and the clean copies.
import { measure, MEASURE_PAYLOAD } from '../bench/measure.mjs';
import { samplePhotos, photoPaths, PHOTOS_DIR } from '../bench/photos.mjs';

const ATTACKS = ['none', 'jpeg q50', 'resize 0.5x', 'noise sigma 5'];
const photos = await samplePhotos();
console.log(photoPaths().length
  ? `modelmark demo: ${photos.length} photos from ${PHOTOS_DIR}`
  : `modelmark demo: ${PHOTOS_DIR} not found, using ${photos.length} synthetic samples`);
console.log(`key "modelmark robustness key", payload ${MEASURE_PAYLOAD}, default strength\n`);
const { rows, summary } = await measure(photos, { attacks: ATTACKS });
const cell = (r) => (r.correct ? 'yes' : r.error ? 'error' : 'no');
const head = ['photo', 'size', 'PSNR dB', 'SSIM', ...ATTACKS.map((a) => (a === 'none' ? 'no attack' : a)), 'embed ms', 'detect ms'];
const table = rows.map((r) => [r.name, `${r.width}x${r.height}`, r.psnr.toFixed(2), r.ssim.toFixed(4), ...ATTACKS.map((a) => cell(r.results[a])), r.embedMs.toFixed(1), r.detectMs.toFixed(1)]);
const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
const line = (cells) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
console.log(line(head));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const row of table) console.log(line(row));
console.log(`\nPSNR mean ${summary.psnrMean.toFixed(2)} dB (worst ${summary.psnrMin.toFixed(2)}), SSIM mean ${summary.ssimMean.toFixed(4)}`);
for (const a of ATTACKS) console.log(`exact payload after ${a.padEnd(14)} ${(100 * summary.recovery[a]).toFixed(1)}%`);

// The deep (logo) watermark on a few photos, when the shipped models are present.
const { existsSync } = await import('node:fs');
if (existsSync(new URL('../models/deep.json', import.meta.url))) {
  const { createDeepWatermarker } = await import('../dist/node/index.js');
  const { psnr } = await import('../dist/index.js');
  const deep = await createDeepWatermarker();
  console.log(`\nDeep logo watermark (models/, threshold NC >= ${deep.meta.threshold}):`);
  console.log('photo'.padEnd(30), 'PSNR dB', '  NC marked', ' NC clean', ' embed ms', ' extract ms');
  for (const { name, image } of photos.slice(0, 6)) {
    let t = performance.now();
    const marked = await deep.embed(image);
    const embedMs = performance.now() - t;
    t = performance.now();
    const m = await deep.extract(marked);
    const extractMs = performance.now() - t;
    const c = await deep.extract(image);
    const flag = (r) => `${r.nc.toFixed(3)} ${r.found ? 'found' : 'not found'}`.padStart(11);
    console.log(name.padEnd(30), (await psnr(image, marked)).toFixed(2).padStart(7), flag(m), flag(c), embedMs.toFixed(0).padStart(9), extractMs.toFixed(0).padStart(11));
  }
  await deep.dispose();
}
