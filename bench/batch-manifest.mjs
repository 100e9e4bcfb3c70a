// A folder batch of many small files whose manifest is already large (a dataset marked in
// parts: the manifest keeps every file done before): `runBatch` embed, `--jobs 2`, over FILES
// thumbnails of 256x256 (the shared photos, cropped, JPEG q90), once with a fresh manifest and
// once with one that already holds ENTRIES records of other files. The manifest is saved while
// the batch runs (src/node/batch.ts ManifestSaver: every half second, or ten times a save apart
// when saves take longer, saveIntervalAfter); the difference between the two runs is the price
// of saving a large manifest. Prints files per second and the manifest's size.
//
//   node bench/batch-manifest.mjs [--files 3000] [--entries 150000]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { runBatch } from '../dist/node/batch.js';

const PHOTOS = fileURLToPath(new URL('../../shared/photos/', import.meta.url));
const { values: args } = parseArgs({ options: { files: { type: 'string', default: '3000' }, entries: { type: 'string', default: '150000' } } });
const files = Number(args.files), entries = Number(args.entries);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmark-batch-manifest-'));
try {
  const photos = fs.readdirSync(PHOTOS).filter((f) => /\.(jpe?g|png)$/i.test(f));
  const input = path.join(dir, 'in');
  fs.mkdirSync(input);
  // A few distinct thumbnails, copied: the batch's work per file is the same either way.
  const made = [];
  for (const p of photos) {
    const t = path.join(input, `t-${made.length}.jpg`);
    await sharp(path.join(PHOTOS, p)).resize(256, 256, { fit: 'cover' }).jpeg({ quality: 90 }).toFile(t);
    made.push(t);
  }
  for (let i = made.length; i < files; i++) fs.copyFileSync(made[i % made.length], path.join(input, `t-${i}.jpg`));

  const run = async (name, manifestPath) => {
    const t = performance.now();
    const s = await runBatch({ command: 'embed', input, output: path.join(dir, `out-${name}`), key: 'bench key', payload: '1', jobs: 2, manifest: manifestPath });
    return { done: s.done, seconds: (performance.now() - t) / 1000, mb: fs.statSync(manifestPath).size / 1e6 };
  };
  const fresh = await run('fresh', path.join(dir, 'fresh.json'));
  // The same manifest with `entries` records of other files (a dataset's earlier parts).
  const m = JSON.parse(fs.readFileSync(path.join(dir, 'fresh.json'), 'utf8'));
  const one = Object.values(m.files)[0];
  m.files = {};
  for (let i = 0; i < entries; i++) m.files[`earlier/class${i % 1000}/img${i}.jpg`] = { ...one, output: `earlier/class${i % 1000}/img${i}.jpg` };
  fs.writeFileSync(path.join(dir, 'large.json'), JSON.stringify(m, null, 1) + '\n');
  const large = await run('large', path.join(dir, 'large.json'));
  console.log(`${files} thumbnails of 256x256, --jobs 2`);
  console.log('| manifest | files marked | seconds | files / s | manifest at the end (MB) |');
  console.log('|---|---|---|---|---|');
  console.log(`| fresh | ${fresh.done} | ${fresh.seconds.toFixed(1)} | ${(fresh.done / fresh.seconds).toFixed(0)} | ${fresh.mb.toFixed(1)} |`);
  console.log(`| with ${entries} earlier records | ${large.done} | ${large.seconds.toFixed(1)} | ${(large.done / large.seconds).toFixed(0)} | ${large.mb.toFixed(1)} |`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
