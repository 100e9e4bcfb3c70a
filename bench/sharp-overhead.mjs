// `node bench/sharp-overhead.mjs [runs]`: what marking adds to a sharp pipeline. A 1920x1080
// JPEG in, JPEG (quality 90) out, the same pipeline with and without watermark(), interleaved,
// medians. Issue 4's target: ratio <= 1.3x. Three inputs: a plain JPEG (no metadata: the marked
// pixels go back to sharp as raw memory), the same with EXIF (raw memory too: the carrier PNG
// for EXIF is only made when a pipeline keeps it) and with EXIF + a Display P3 ICC profile (the
// marked pixels, in the profile's colours, travel in a lossless in-memory PNG with the profile,
// so that sharp converts them, or keeps the profile, as for the input). Then where the time goes:
// header read, raw export, the core's embed, the re-import + encode, the carrier PNG.
// Each figure is given in wall time and in CPU time (every thread of the process): the unmarked
// pipeline keeps more than one core busy (libvips decodes in a worker thread while its
// write-behind thread encodes), which a pipeline that leaves libvips for raw pixels cannot.
import sharp from 'sharp';
import { createWatermarker } from 'modelmark';
import { watermark } from 'modelmark/sharp';
import { photoInput } from './photos.mjs';

const RUNS = Number(process.argv[2] ?? 25);
const PHOTO = await photoInput('mate-Aqua.jpg');
const opts = { key: 'bench key', payload: 'c0ffee0000000001' };

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const ms = (x) => `${x.toFixed(1)} ms`;

/**
 * Wall time and CPU time (ms) of one call. The CPU time is the process's (user + system), so it
 * counts every thread: the main thread's marking and libvips' worker and write-behind threads.
 */
async function time(fn) {
  const c = process.cpuUsage(), t = performance.now();
  await fn();
  const wall = performance.now() - t, cpu = process.cpuUsage(c);
  return { wall, cpu: (cpu.user + cpu.system) / 1000 };
}

/**
 * Interleave the named pipelines RUNS times (after a warm-up each) and return their median wall
 * times; `cpu` gets their median CPU times.
 */
async function compare(cases, cpu = {}) {
  const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  const cpus = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (const fn of Object.values(cases)) await fn();
  for (let i = 0; i < RUNS; i++) {
    for (const [k, fn] of Object.entries(cases)) {
      const r = await time(fn);
      times[k].push(r.wall);
      cpus[k].push(r.cpu);
    }
  }
  for (const [k, v] of Object.entries(cpus)) cpu[k] = median(v);
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
}

const plain = await sharp(PHOTO.input).resize(1920, 1080, { fit: 'cover' }).jpeg({ quality: 92 }).toBuffer();
const withExif = await sharp(plain).withExif({ IFD0: { Make: 'BenchCam', Model: 'One' } }).jpeg({ quality: 92 }).toBuffer();
const withIcc = await sharp(plain).withExif({ IFD0: { Make: 'BenchCam', Model: 'One' } }).withIccProfile('p3').jpeg({ quality: 92 }).toBuffer();

console.log(`sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}, sharp.concurrency() = ${sharp.concurrency()}, Node ${process.version}, ${RUNS} interleaved runs, medians`);
console.log(`1920x1080 JPEG in (${PHOTO.label}) -> JPEG quality 90 out\n`);

const rows = [];
const inputs = [['plain JPEG (no metadata)', plain], ['JPEG with EXIF, no ICC', withExif], ['JPEG with EXIF + P3 ICC', withIcc]];
for (const [name, input] of inputs) {
  const cpu = {};
  const r = await compare({
    base: () => sharp(input).jpeg({ quality: 90 }).toBuffer(),
    marked: async () => (await watermark(sharp(input), opts)).jpeg({ quality: 90 }).toBuffer(),
  }, cpu);
  rows.push([name, r.base, r.marked, cpu.base]);
  console.log(`${name.padEnd(26)} without ${ms(r.base).padStart(9)}   with watermark() ${ms(r.marked).padStart(9)}   ratio ${(r.marked / r.base).toFixed(2)}x   (+${ms(r.marked - r.base)})`);
  console.log(`${''.padEnd(26)} CPU time, all threads: without ${ms(cpu.base).padStart(9)}   with ${ms(cpu.marked).padStart(9)}   ratio ${(cpu.marked / cpu.base).toFixed(2)}x   (CPU / wall: without ${(cpu.base / r.base).toFixed(2)} cores busy, with ${(cpu.marked / r.marked).toFixed(2)})`);
}

// Where the extra time goes, step by step, on the plain input.
const wm = await createWatermarker({ key: opts.key });
const { data, info } = await sharp(plain).raw().toBuffer({ resolveWithObject: true });
const img = { width: info.width, height: info.height, channels: info.channels, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
const marked = wm.embed(img, opts.payload).data;
const raw = { width: info.width, height: info.height, channels: info.channels };
const stepCpu = {};
const steps = await compare({
  'header (metadata())': () => sharp(plain).metadata(),
  'decode to raw pixels': () => sharp(plain).autoOrient().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true }),
  'embed (core, wasm)': async () => wm.embed(img, opts.payload),
  'raw pixels -> JPEG q90': () => sharp(marked, { raw }).jpeg({ quality: 90 }).toBuffer(),
  'carrier PNG write': () => sharp(marked, { raw }).png({ compressionLevel: 0, adaptiveFiltering: false }).toBuffer(),
}, stepCpu);
const carrier = await sharp(marked, { raw }).png({ compressionLevel: 0, adaptiveFiltering: false }).toBuffer();
Object.assign(steps, await compare({ 'carrier PNG -> JPEG q90': () => sharp(carrier).jpeg({ quality: 90 }).toBuffer() }, stepCpu));
console.log('\nsteps (plain input):');
for (const [k, v] of Object.entries(steps)) console.log(`  ${k.padEnd(26)} ${ms(v).padStart(9)}   CPU ${ms(stepCpu[k]).padStart(9)}`);
const sum = steps['header (metadata())'] + steps['decode to raw pixels'] + steps['embed (core, wasm)'] + steps['raw pixels -> JPEG q90'];
console.log(`  sum of the marked path     ${ms(sum).padStart(9)}  (baseline ${ms(rows[0][1])}; embed alone is ${(steps['embed (core, wasm)'] / rows[0][1] * 100).toFixed(0)}% of it)`);
const trip = steps['decode to raw pixels'] + steps['raw pixels -> JPEG q90'];
const tripCpu = stepCpu['decode to raw pixels'] + stepCpu['raw pixels -> JPEG q90'];
console.log(`  raw round trip, no mark    ${ms(trip).padStart(9)}   CPU ${ms(tripCpu).padStart(9)}   (${(trip / rows[0][1]).toFixed(2)}x the unmarked pipeline's wall time, ${(tripCpu / rows[0][3]).toFixed(2)}x its CPU time)`);
