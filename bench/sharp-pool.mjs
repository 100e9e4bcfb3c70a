// The batch's platform ceiling (used by bench/batch.mjs): the same JPEG files decoded and
// re-encoded by sharp with no marking at all, by W worker threads with four files in flight
// each and one libvips thread per worker (the shape of `modelmark embed DIR OUTDIR`'s pool),
// timed from process start to the last file. Run under taskset to pin cores.
//   node bench/sharp-pool.mjs DIR WORKERS [pass|raw|mark]
// pass: JPEG -> JPEG q90 in one sharp pipeline; raw: decode to raw pixels, then raw -> JPEG
// q90; mark: as raw, with the classical mark embedded in place in between. Prints one JSON
// line: { workers, files, seconds, cpuMs } (cpuMs: CPU per file, all threads).
import { Worker, isMainThread, workerData, parentPort } from 'node:worker_threads';
import fs from 'node:fs';
import path from 'node:path';

if (isMainThread) {
  const [dir, w, mode = 'pass'] = process.argv.slice(2);
  const workers = Number(w);
  if (!dir || !(Number.isInteger(workers) && workers > 0) || !['pass', 'raw', 'mark'].includes(mode)) {
    console.error('usage: node bench/sharp-pool.mjs DIR WORKERS [pass|raw|mark]  (bench/batch.mjs runs it)');
    process.exit(2);
  }
  const files = fs.readdirSync(dir).filter((f) => /\.jpe?g$/i.test(f)).sort().map((f) => path.join(dir, f));
  await Promise.all(Array.from({ length: workers }, (_, i) => new Promise((resolve, reject) => {
    new Worker(new URL(import.meta.url), { workerData: { mode, files: files.filter((_, j) => j % workers === i) } })
      .on('message', resolve).on('error', reject);
  })));
  const seconds = performance.now() / 1000; // since process start
  const cpu = process.cpuUsage();
  console.log(JSON.stringify({ workers, files: files.length, seconds, cpuMs: (cpu.user + cpu.system) / 1000 / files.length }));
} else {
  const { default: sharp } = await import('sharp');
  sharp.concurrency(1);
  const wm = workerData.mode === 'mark' ? await (await import('../dist/index.js')).createWatermarker({ key: 'bench key' }) : null;
  const one = async (file) => {
    const input = await fs.promises.readFile(file);
    if (workerData.mode === 'pass') return sharp(input).jpeg({ quality: 90 }).toBuffer();
    const { data, info } = await sharp(input).raw().toBuffer({ resolveWithObject: true });
    wm?.embed({ width: info.width, height: info.height, channels: info.channels, data }, 'c0ffee0000000001', { inPlace: true });
    return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } }).jpeg({ quality: 90 }).toBuffer();
  };
  let next = 0;
  const lane = async () => { while (next < workerData.files.length) await one(workerData.files[next++]); };
  await Promise.all([lane(), lane(), lane(), lane()]); // the batch's TASKS_PER_WORKER
  parentPort.postMessage('done');
}
