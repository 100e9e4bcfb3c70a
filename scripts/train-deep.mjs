// `npm run train:deep [-- --minutes M --seed S --out DIR --work DIR]`: trains the shipped deep
// watermark models (H, R) on ../shared/photos (the held-out photos of src/train/data.ts are kept
// out), resumably (checkpoints in --work, default .train/default), then writes --out (default
// models/): h.onnx, r.onnx, logo.png and deep.json with the threshold calibrated on clean images.
import { parseArgs } from 'node:util';
import { resolve, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trainAndExport } from '../dist/train/pipeline.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: {
  minutes: { type: 'string', default: '80' },
  seed: { type: 'string', default: '1' },
  'target-psnr': { type: 'string', default: '42.5' },
  out: { type: 'string', default: join(ROOT, 'models') },
  work: { type: 'string', default: join(ROOT, '.train', 'default') },
  photos: { type: 'string', default: resolve(ROOT, '..', 'shared', 'photos') },
} });
const started = Date.now();
let lastLine = 0;
const result = await trainAndExport({
  photos: values.photos, out: values.out, work: values.work,
  minutes: Number(values.minutes), seed: Number(values.seed), targetPsnr: Number(values['target-psnr']), holdOut: true,
  onProgress: (p) => {
    if (Date.now() - lastLine < 15000) return;
    lastLine = Date.now();
    const f = (s) => `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
    console.log(`stage ${p.stage} step ${p.step} ${f(p.elapsedS)} / ${f(p.totalS)} (ETA ${f(p.etaS)}) PSNR ${p.psnr.toFixed(2)} dB NC ${p.nc.toFixed(3)} clean NC ${p.ncClean.toFixed(3)} w ${p.weight.toFixed(0)}`);
  },
  onLog: (line) => console.log(line),
});
console.log(`train:deep done in ${((Date.now() - started) / 60000).toFixed(1)} min: ${JSON.stringify(result.summary)}`);
