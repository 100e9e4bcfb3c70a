// Folder batch throughput: `modelmark embed DIR OUTDIR` over 160 generated 1920x1080 JPEGs on
// one core and on two (each in a fresh OUTDIR, so nothing is skipped), timed around the whole
// command (process start, worker start-up and the manifest included). "One core" is enforced by
// CPU affinity (`taskset -c 0`, so every thread of the command, libuv's pool and sharp's
// included, shares one core) and the command runs with its defaults (jobs = the cores it may
// use). Without taskset the runs fall back to --jobs N. The target: two cores at least
// 1.8x one core.
//
//   node bench/batch.mjs [--images N] [--rounds R] [--cores 1,2]
//
// `--images 2 --rounds 1` runs every step on two files: the smoke test's run
// (test/bench-smoke.test.mjs; too little work for the figures to mean anything).
//
// Each round also measures the machine's own ceiling: a busy loop in 1 thread and in 2 threads at
// once. On an idle 2-core machine 2 threads do 2x the work of one; on a shared machine where other
// processes take CPU they do less, and the batch's speed-up is judged against that ceiling.
//
// Each round also runs the same files through sharp alone (bench/sharp-pool.mjs: decode and
// re-encode, no marking, in the same pool shape: one worker per core, four files in flight each,
// one libvips thread per worker, timed from process start): the speed-up the platform itself
// gives this work, the ceiling for the batch's.
//
// Images come from the shared photos (cropped to 16:9 and resized; a bare checkout without them
// uses synthetic images). Each configuration runs R rounds (default 3) and reports the best.
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { photoPaths, syntheticPhoto } from './photos.mjs';
// BATCH_ARGS='--quality 95' adds options to the command (space-separated), e.g. to compare the
// default (each JPEG at its source's quality, read back) with a fixed quality.

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'modelmark.js');
const { values } = parseArgs({ options: { images: { type: 'string' }, rounds: { type: 'string' }, cores: { type: 'string' } } });
const N = Number(values.images ?? 160);
const ROUNDS = Number(values.rounds ?? 3);
const JOBS = (values.cores ?? '1,2').split(',').map(Number);
// The steady rate is timed from the first file's line to the last's: it needs two files at least.
if (!(Number.isInteger(N) && N >= 2) || !(Number.isInteger(ROUNDS) && ROUNDS >= 1) || !JOBS.every((j) => Number.isInteger(j) && j >= 1)) {
  console.error('usage: node bench/batch.mjs [--images N >= 2] [--rounds R >= 1] [--cores 1,2]');
  process.exit(2);
}
const TASKSET = ['/usr/bin/taskset', '/bin/taskset'].find((p) => fs.existsSync(p));

/** Work done per second by `threads` busy threads at once, relative to one thread alone (measured now). */
async function ceiling() {
  const code = `const { parentPort } = require('node:worker_threads'); let x = 0; const t = performance.now();
    for (let i = 0; i < 1.5e8; i++) x = (x + i * 7) % 1000003; parentPort.postMessage(performance.now() - t + x * 0);`;
  const run = async (n) => {
    const t = performance.now();
    await Promise.all(Array.from({ length: n }, () => new Promise((ok, fail) => new Worker(code, { eval: true }).on('message', ok).on('error', fail))));
    return n / (performance.now() - t);
  };
  const one = await run(1);
  const two = await run(2);
  return two / one;
}

/**
 * Run `modelmark embed input output --json` on `cores` cores (taskset) through sh, whose `times` gives the CPU time
 * the command used (user + system, all its threads); each JSON line is timed as it arrives.
 */
function runEmbed(input, output, cores) {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const command = [process.execPath, BIN, 'embed', input, output, '--key', 'bench key', '--payload', 'c0ffee0000000001', '--json', ...(process.env.BATCH_ARGS ? process.env.BATCH_ARGS.split(' ') : [])];
    const limited = TASKSET ? [TASKSET, '-c', Array.from({ length: cores }, (_, i) => i).join(','), ...command] : [...command, '--jobs', String(cores)];
    const child = spawn('/bin/sh', ['-c', '"$@"; s=$?; times >&2; exit $s', 'sh', ...limited], { cwd: ROOT });
    let buffer = '', stderr = '';
    const records = [];
    let summary;
    child.stdout.setEncoding('utf8').on('data', (d) => {
      const now = (performance.now() - start) / 1000;
      buffer += d;
      let i;
      while ((i = buffer.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffer.slice(0, i));
        buffer = buffer.slice(i + 1);
        if (line.summary) summary = line.summary;
        else records.push({ at: now, ms: line.ms });
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (performance.now() - start) / 1000;
      const t = [...stderr.matchAll(/(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/g)].at(-1);
      const cpu = t ? 60 * (Number(t[1]) + Number(t[3])) + Number(t[2]) + Number(t[4]) : NaN;
      const firstAt = records[0]?.at ?? NaN;
      const span = (records.at(-1)?.at ?? NaN) - firstAt;
      const workerMs = records.reduce((a, r) => a + r.ms, 0) / records.length;
      resolve({ code, stderr, summary, seconds, cpu, firstAt, span, workerMs });
    });
  });
}

/** bench/sharp-pool.mjs on `cores` cores: { seconds, cpuMs }. */
function sharpPool(input, cores) {
  const pool = path.join(ROOT, 'bench', 'sharp-pool.mjs');
  const command = [process.execPath, pool, input, String(cores), 'pass'];
  const limited = TASKSET ? [TASKSET, '-c', Array.from({ length: cores }, (_, i) => i).join(','), ...command] : command;
  return new Promise((resolve, reject) => {
    const child = spawn(limited[0], limited.slice(1), { cwd: ROOT });
    let out = '', err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`sharp-pool exit ${code}: ${err}`))));
  });
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmark-bench-batch-'));
const input = path.join(dir, 'in');
fs.mkdirSync(input);

try {
  const t0 = performance.now();
  const photos = photoPaths();
  await Promise.all(Array.from({ length: N }, async (_, i) => {
    const out = path.join(input, `img-${String(i).padStart(3, '0')}.jpg`);
    let src;
    if (photos.length) {
      // Different photos and, on repeats, a mirrored copy: no two files are the same.
      src = sharp(photos[i % photos.length]);
      if (Math.floor(i / photos.length) % 2 === 1) src = src.flop();
    } else {
      const img = await syntheticPhoto(960, 540, i + 1);
      src = sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } });
    }
    await src.resize(1920, 1080, { fit: 'cover' }).jpeg({ quality: 90 }).toFile(out);
  }));
  const mb = fs.readdirSync(input).reduce((s, f) => s + fs.statSync(path.join(input, f)).size, 0) / 1e6;
  console.log(`${N} images, 1920x1080 JPEG q90 (${mb.toFixed(1)} MB), generated in ${((performance.now() - t0) / 1000).toFixed(1)} s; ` +
    `${os.availableParallelism()} cores (${os.cpus()[0]?.model?.trim() ?? 'unknown CPU'}), Node ${process.version}`);

  const results = new Map();
  const ceilings = [];
  const sharpRatios = [];
  for (let round = 0; round < ROUNDS; round++) {
    const c = await ceiling();
    ceilings.push(c);
    console.log(`round ${round + 1}: 2 busy threads do ${c.toFixed(2)}x the work of 1 on this machine now (2.00 when idle)`);
    if (JOBS.includes(1) && JOBS.includes(2)) {
      const [one, two] = [await sharpPool(input, 1), await sharpPool(input, 2)];
      sharpRatios.push(one.seconds / two.seconds);
      console.log(`round ${round + 1}: sharp alone (decode + encode, no marking, same pool shape): 1 core ${one.seconds.toFixed(2)} s ` +
        `(${one.cpuMs.toFixed(0)} ms CPU per image), 2 cores ${two.seconds.toFixed(2)} s (${two.cpuMs.toFixed(0)} ms): ${(one.seconds / two.seconds).toFixed(2)}x`);
    }
    for (const jobs of JOBS) {
      const output = path.join(dir, `out-${jobs}-${round}`);
      const r = await runEmbed(input, output, jobs);
      if (r.code !== 0 || r.summary?.done !== N) throw new Error(`${jobs} cores: exit ${r.code}, ${JSON.stringify(r.summary)}\n${r.stderr}`);
      const rate = N / r.seconds;
      // From the first file's line to the last's: the rate without the fixed start-up cost (not
      // measurable when every file finished at once, as two files on two cores can: NaN, "n/a").
      const steady = r.span > 0 ? (N - 1) / r.span : NaN;
      console.log(`round ${round + 1}, ${jobs} core${jobs > 1 ? 's' : ''} (${r.summary.jobs} jobs): ${r.seconds.toFixed(2)} s wall, ${rate.toFixed(2)} images/s; ` +
        `start-up ${(r.firstAt * 1000).toFixed(0)} ms to the first file, then ${Number.isFinite(steady) ? steady.toFixed(2) : 'n/a'} images/s; ` +
        `${r.workerMs.toFixed(0)} ms per image in a worker; CPU ${r.cpu.toFixed(2)} s = ${(r.cpu / N * 1000).toFixed(0)} ms per image, ` +
        `${(r.cpu / r.seconds).toFixed(2)} cores busy on average`);
      const best = results.get(jobs);
      // The larger steady rate of the rounds that measured one.
      const better = (a, b) => (Number.isFinite(a) ? (Number.isFinite(b) ? Math.max(a, b) : a) : b);
      if (!best || rate > best.rate) results.set(jobs, { rate, steady: better(steady, best?.steady ?? NaN) });
      else best.steady = better(steady, best.steady);
    }
    // Removed only once every configuration of the round ran: deleting a run's files just
    // before the next run slows that run's own writes (their fsyncs wait on the file system's
    // journal), which skewed whichever configuration came second.
    for (const jobs of JOBS) fs.rmSync(path.join(dir, `out-${jobs}-${round}`), { recursive: true, force: true });
  }
  console.log(`\nmachine ceiling for 2 threads, best of rounds: ${Math.max(...ceilings).toFixed(2)}x (${ceilings.map((x) => x.toFixed(2)).join(', ')})`);
  if (sharpRatios.length) console.log(`sharp alone, 2 cores / 1 core, whole process: ${sharpRatios.map((x) => x.toFixed(2)).join(', ')} (best ${Math.max(...sharpRatios).toFixed(2)}x)`);
  console.log('best of rounds (whole command; from the first file on):');
  for (const [jobs, { rate, steady }] of results) console.log(`  ${jobs} core${jobs > 1 ? 's' : ''}${TASKSET ? '' : ' (--jobs, no taskset)'}: ${rate.toFixed(2)} images/s; ${Number.isFinite(steady) ? steady.toFixed(2) : 'n/a'} images/s`);
  if (results.has(1)) {
    const one = results.get(1);
    for (const [jobs, { rate, steady }] of results) {
      if (jobs !== 1) {
        console.log(`  speed-up ${jobs} cores / 1 core: ${(rate / one.rate).toFixed(2)}x whole command, ${Number.isFinite(steady / one.steady) ? (steady / one.steady).toFixed(2) : 'n/a '}x from the first file on` +
          `${jobs === 2 ? ' (target >= 1.8x)' : ''}`);
      }
    }
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
