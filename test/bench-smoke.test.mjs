// Every script in bench/ still runs. `npm run bench` once stayed broken for a day (a cross-check
// threw after an internal change) because no test ran it. Here each bench script runs as a child
// process in its smoke configuration: the same code path as the real run, on one photo, one or two
// attacks, one round (the knobs are documented at the top of each script: PHOTOS, ATTACKS,
// --quick, --runs, --images, ...). A run passes when it exits 0, prints the lines and fields it
// prints in a real run, and prints no NaN or undefined. Figures are not checked (tests never
// assert timings, and one photo says nothing about recovery rates). The package.json scripts that
// point into bench/ run through their own command line, as npm runs them.
//
// Every file in bench/ must be accounted for below: run (RUNS), a module the benches and tests
// import (MODULES, imported here: they must do no work at import), or left out (LEFT_OUT, with
// the reason; each must at least parse). A new bench script fails the coverage test until it is.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BENCH = path.join(ROOT, 'bench');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const ONE = { PHOTOS: 'skimage-astronaut.png' }; // 512x512 RGB: the quickest photo that exercises everything
const TIMEOUT_MS = 180_000; // a hang fails the run instead of the suite

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmark-bench-smoke-'));

/** A folder of two small JPEGs for sharp-pool.mjs (made by the setup test). */
const pool = path.join(dir, 'jpegs');
const jpegDir = () => pool;
/** sharp-pool.mjs prints one JSON line: { workers, files, seconds, cpuMs }. */
const poolLine = (workers) => (out) => {
  const r = JSON.parse(out.trim().split('\n').pop());
  assert.is(r.workers, workers);
  assert.is(r.files, 2);
  assert.ok(Number.isFinite(r.seconds) && r.seconds > 0 && Number.isFinite(r.cpuMs) && r.cpuMs > 0, JSON.stringify(r));
};

/** Lines and fields the run must print, as strings (contained) or regular expressions. */
const has = (...xs) => xs;

/**
 * The runs. `script` runs `node bench/<script> ...args`; `npm` runs that package.json script's
 * command line with args appended (what `npm run <name> -- args` runs). `check(out)` may assert
 * more on the output.
 */
const RUNS = [
  { npm: 'bench', args: ['--quick', '--json'], check: (out) => {
    const r = JSON.parse(out);
    assert.ok(r.sanity.ok, 'the JS reference and the library agree');
    for (const [k, v] of Object.entries(r.ratios)) assert.ok(Number.isFinite(v) && v > 0, `ratio ${k} = ${v}`);
    for (const [k, v] of Object.entries({ ...r.ms, ...r.coldMs, ...r.steps })) assert.ok(Number.isFinite(v.median), `${k}: median ${v.median}`);
    assert.ok(Number.isFinite(r.inPlaceWear.wornOverFresh));
    assert.ok(r.wasm.bytes > 0 && r.wasm.gzip9Bytes > 0);
  } },
  { npm: 'measure', env: ONE, expect: has('Photos: 1. PSNR mean', '| attack | exact payload | failed on |', /^\| none \| [01]\/1 /m, /^\| webp q80 \| [01]\/1 /m, /^\| avif q50 4:2:0 \| [01]\/1 /m, /^\| resize 0\.5x \+ avif q60 \| [01]\/1 /m,
    '| photo | size | PSNR dB | SSIM | pilot score (no attack) | lowest score over attacks |', /^\| skimage-astronaut\.png \| 512x512 \| \d/m) },
  { script: 'classical.mjs', args: ['--quick'], expect: has('sanity: JS detects library mark: yes', 'library detects JS mark: yes',
    '(a) library embed (WASM SIMD)', '(b) plain-JS detect', '(d) API floor', 'JS / WASM speed-up (cold)', 'library / memory floor, warm',
    'Library steps (each timed alone; ms)', 'list decoding + CRC', 'In-place embed on the copy marked over and over', /build\/modelmark\.wasm: \d+ bytes/) },
  { script: 'js-reference.mjs', expect: has(/^ok {3}1920x1080x4: JS detects library mark: yes/m, /^ok {3}640x480x1:/m, /^ok {3}300x200x4:/m),
    check: (out) => assert.not.match(out, /^FAIL/m) },
  { script: 'geometry.mjs', env: ONE, expect: has('| attack | exact payload (1 photos) |', /^\| crop 25% area \| [01]\/1 /m, /^\| rotate -10 borders \| [01]\/1 /m,
    /^\| social media chain \| [01]\/1 /m) },
  { script: 'edits.mjs', env: ONE, expect: has('| attack | exact payload (1 photos) |', /^\| blur sigma 1 \| [01]\/1 /m, /^\| captions then jpeg q75 \| [01]\/1 /m) },
  { script: 'geometry-oracle.mjs', env: { PHOTOS: 'skimage-astronaut.png,mate-RainDrops.jpg', ATTACKS: 'crop 25% area' },
    // Two misses of today's detector, so the classification and the true-grid decode both run.
    expect: has('| attack | found now | with a perfect search |', /^\| crop 25% area \| [0-2]\/2 \| [0-2]\/2 \|/m) },
  { script: 'collage.mjs', env: ONE, expect: has('| scenario | found, right payload (1 photos) | region precision | region recall |', /^\| 1\. pasted: whole, scale 1 \| [01]\/1 \|/m,
    /^\| 2\. two pieces, same key \| [01]\/1 \|/m, /^\| 2\. beside another key's piece \(key B\) \| [01]\/1 \|/m, /^\| 3\. screenshot \(PNG\) \| [01]\/1 \|/m, 'Per case') },
  { script: 'collage.mjs', args: ['--pieces', '--only', 'pasted: whole, scale 1'], env: ONE, expect: has('| scenario | found, right payload (1 photos) |', /^\| 1\. pasted: whole, scale 1 \| [01]\/1 \|/m) },
  // Real Chromium: one photo, one condition (PNG page at 0.75x, DPR 1.5), read whole and with pieces.
  { script: 'browser-screenshots.mjs', args: ['--quick'], env: ONE, expect: has("| condition | photo's scale in the screenshot | screenshot, megapixels | found, right payload, read whole (1 photos) | with pieces |",
    /^\| PNG, 0\.75x, DPR 1\.5 \| 1\.13x \| [\d.]+ \| [01]\/1 \| [01]\/1 \|/m, /^\| JPEG q90 file itself, no browser \| 1\.00x \| [\d.]+ \| [01]\/1 \| [01]\/1 \|/m,
    /^All screenshots: [01]\/1 read whole, [01]\/1 with pieces/m) },
  { script: 'small.mjs', env: ONE, expect: has("| copy's short side (px) | read, as is | read, JPEG q80 |", /^\| 128 and over \| \d+\/\d+ \| \d+\/\d+ \|/m, 'smallest copy read:') },
  { script: 'gif.mjs', env: ONE, expect: has('| written as | exact payload (1 photos) |', /^\| GIF, dithered \(default\) \| [01]\/1 \|/m, /^\| GIF, no dithering \| [01]\/1 \|/m) },
  { script: 'match-quality.mjs', env: { ...ONE, QUALITIES: '60,85' }, expect: has('1 photos, each saved as a JPEG at the source quality, marked and written (floor: quality 75).',
    /^\| 60 \| source's, verified \| (75|95) \| [\d.]+x \| 1\/1 \| [01]\/1 \|/m, /^\| 85 \| source's \| 85 \| [\d.]+x \| [01]\/1 \| [01]\/1 \|/m, /^\| 60 \| source's, no floor \| 60 \|/m) },
  { script: 'icc.mjs', env: ONE, expect: has(/^1 photos converted into Display P3 and marked in P3 values: PSNR \d/m, /^\| stored \| [01]\/1 \|/m, /^\| srgb \+ JPEG q85 \| [01]\/1 \|/m) },
  { script: 'evidence.mjs', args: ['--quick', '--keys', '1'], env: ONE, expect: has('## 1. Calibration: 1 random keys per set', '| the 1 photos | 1 |',
    '## 2. Power: 1 marked photos, attacked', /^\| 0\.25 \| resize 0\.25x, JPEG q30 \| [01]\/1 \|/m, '## 3. Speed', 'wm.evidence at 1920x1080 RGBA:',
    /^unmarked \(full search\): detect [\d.]+ ms; detect \+ evidence apart [\d.]+ ms; detect\(image, \{ evidence: true \}\) [\d.]+ ms/m, /^marked: detect [\d.]+ ms/m) },
  { script: 'chroma-probe.mjs', args: ['--snr'], env: { ...ONE, ATTACKS: 'none,crop 50% area' }, expect: has('| photo | PSNR luma / Cb copy | none | crop 50% area |', /^\| skimage-astronaut\.png \| [\d.]+ \/ [\d.]+ \| /m) },
  { script: 'chroma-probe.mjs', args: ['--oracle'], env: { ...ONE, ATTACKS: 'jpeg q75,crop 50% area' }, expect: has('Exact payloads on the exact grid, 1 photos', '| attack | F = 1 | F = 0.92 |', /^\| PSNR mean \/ worst \| [\d.]+ \/ [\d.]+ dB/m) },
  { script: 'chroma-probe.mjs', args: ['--blind'], env: { ...ONE, ATTACKS: 'crop 50% area' }, expect: has('The search itself, hybrid F = 0.92', /^\| crop 50% area \| [01] \| [01] \| [01]\/1 \|/m) },
  { script: 'animation-null.mjs', args: ['--quick', '--files', '15', '--keys', '1', '--evidence-keys', '10', '--threads', '1'],
    expect: has(/^## 1\. detectFile on unmarked animations: 15 animations x 1 random keys = 15 detections/m, /^\| \*\*all\*\* \| 15 \| 0 \|/m,
      /^found with the key: 3\/3/m, /^wrong keys: 30 detections, 0 found/m, '## 3. combineEvidence on sets of near-duplicate unmarked images: 10 random keys per set',
      /^\| near-duplicates: first 20 frames \| 10 \| 0 \|/m) },
  { script: 'ecc.mjs', args: ['--trials', '20'], expect: has('20 frames of 80 bits per point', /uncoded \(same energy\): -?[\d.]+ dB/, /Viterbi \(best path\): -?[\d.]+ dB, gain/, /list of 16 \+ CRC: -?[\d.]+ dB/) },
  { script: 'search-speed.mjs', args: ['--quick'], expect: has('median of 3 after 1 warm-up runs', /in place +[\d.]+ ms {3}found true/, /mirrored +[\d.]+ ms/, /rotated 5 degrees \(lattice search\) +[\d.]+ ms/, /unmarked \(all candidates\) +[\d.]+ ms {3}found false/, /unmarked, pieces \(all windows\) +[\d.]+ ms {3}found false/, /pasted 0\.6x piece, pieces +[\d.]+ ms/) },
  { script: 'depth.mjs', args: ['--quick'], expect: has('layout                 embed (copy)  embed (in place)  detect', /^grey \+ alpha 16-bit +[\d.]+ +[\d.]+ +[\d.]+$/m, /^RGB 16-bit PNG +watermark\(\) [\d.]+ ms, decode to raw alone [\d.]+ ms/m) },
  { script: 'sharp-overhead.mjs', args: ['1'], expect: has('1 interleaved runs, medians', /^plain JPEG \(no metadata\) +without +[\d.]+ ms +with watermark\(\) +[\d.]+ ms +ratio [\d.]+x/m,
    /^JPEG with EXIF \+ P3 ICC .*ratio [\d.]+x/m, 'steps (plain input):', /carrier PNG -> JPEG q90 +[\d.]+ ms/, /raw round trip, no mark +[\d.]+ ms/) },
  { script: 'sharp-pool.mjs', args: () => [jpegDir(), '1', 'raw'], check: poolLine(1) },
  { script: 'sharp-pool.mjs', args: () => [jpegDir(), '2', 'mark'], check: poolLine(2) },
  { script: 'batch.mjs', args: ['--images', '3', '--rounds', '1'], expect: has('3 images, 1920x1080 JPEG q90', /round 1: 2 busy threads do [\d.]+x/, /round 1: sharp alone .*: [\d.]+x$/m,
    // "From the first file on" is n/a when every file's line arrived at once (three files on two cores can).
    /round 1, 2 cores \(\d+ jobs\): [\d.]+ s wall/, /speed-up 2 cores \/ 1 core: [\d.]+x whole command, ([\d.]+|n\/a ?)x from the first file on/) },
  // Two files just over 16 MiB, so both take the early ask; one budget.
  { script: 'batch-memory.mjs', args: ['--files', '2', '--side', '2400', '--budgets', '1'], expect: has(/^2 noise PNGs of 2400x2400 \(1[78]\.\d MB each\), --jobs 2$/m,
    '| budget (bytes) | files | seconds | peak RSS (MB) |', /^\| 1 \| 2 \| [\d.]+ \| \d+ \|$/m) },
  { script: 'batch-manifest.mjs', args: ['--files', '30', '--entries', '2000'], expect: has('30 thumbnails of 256x256, --jobs 2',
    /^\| fresh \| 30 \| [\d.]+ \| \d+ \| [\d.]+ \|$/m, /^\| with 2000 earlier records \| 30 \| [\d.]+ \| \d+ \| [\d.]+ \|$/m) },
  { script: 'cold-start.mjs', args: ['1'], expect: has('Packages loaded by `import(entry)` alone:', '  modelmark/sharp: sharp', '| item | measure | ms |',
    /^\| import modelmark\/lite \+ init\(bytes\) \| import \| [\d.]+ /m, /^\| first calls \(1920x1080 RGB\) \| detect 3 \| [\d.]+ /m, /^\| CLI embed photo\.jpg out\.jpg \| process wall time \| [\d.]+ /m) },
  { script: 'worker-size.mjs', expect: has(/^modelmark\.wasm +\d+ B +\d+ B$/m, /^total +\d+ B +\d+ B/m, /^budget: 1000000 B gzip -> (within|OVER)/m, /core JS as a Worker bundles it \(modelmark\/lite\): \d+ B raw/) },
  { script: 'worker-latency.mjs', expect: has('| workerd process | detect | detect | detect | embed sequential', /^\| 1 \|( \d+ ms \|){7}$/m, /^\| 2 \|( \d+ ms \|){7}$/m) },
  { script: 'deep.mjs', args: ['--quick'], expect: has('medians of 1 runs after 0 warm-up', /^1920x1080 RGBA synthetic +1 \|/m, /^mate-Storm\.jpg 1920x1280x3 +2 \|/m, 'targets (2 cores)') },
  { script: 'deep-quality.mjs', env: { PHOTOS: 'skimage-coins.png', DEEP_CROPS: '1' }, expect: has(/^threshold [\d.]+$/m, /^skimage-coins\.png +384x303 +[\d.]+/m, '"photos": 1', '"cleanSamples":') },
  { script: 'train-kernels.mjs', args: ['--quick'], expect: has('batch 1 of 16x16', /^cpu backend: +\d+ ms$/m, /^wasm \+ our filter and input gradient: +\d+ ms +\(\d+x cpu/m) },
  // The surrogate experiment: one training step for a marked and a clean twin, then eval of both.
  { script: 'surrogate.mjs', args: () => ['train', '--target', 'marked', '--out', path.join(dir, 'sur-M'), '--steps', '1', '--batch', '1', '--quick'], expect: has('training pairs from', 'done: 1 steps') },
  { script: 'surrogate.mjs', args: () => ['train', '--target', 'clean', '--out', path.join(dir, 'sur-C'), '--steps', '1', '--batch', '1', '--quick'], expect: has('done: 1 steps') },
  { script: 'surrogate.mjs', args: () => ['eval', '--quick', path.join(dir, 'sur-M'), path.join(dir, 'sur-C')],
    expect: has('test crops (256x256) from the 8 held-out photos', /^\| A, marked \(the barrier's own outputs\) \| [\d.]+ dB \| \d+\/8 \| t /m, /^\| S from sur-M, step-000001 \|/m, /^\| twin difference sur-M - sur-C, step-000001/m) },
];

/**
 * Modules that the benches, the demo and the tests import: importing one must do no work (they
 * are imported here, and their exports checked).
 */
const MODULES = {
  'attacks.mjs': ['ATTACKS', 'GEOMETRIC_ATTACKS', 'EDIT_ATTACKS', 'fromSharp', 'mulberry32'],
  'measure.mjs': ['measure', 'measureAttacks', 'attackTableMain', 'attackTable'],
  'photos.mjs': ['photoPaths', 'samplePhotos', 'benchPhotos', 'benchPhotoPaths', 'PHOTOS_DIR'],
  'deep-dev-models.mjs': ['writeDevModels', 'randomWeights', 'devLogo'],
};

/**
 * What is not run, and why; each file here must parse (node --check). Paths of a script that the
 * runs above skip are named too (not checked: documentation for whoever extends the runs).
 */
const LEFT_OUT = {};
const PATHS_NOT_RUN = {
  'surrogate.mjs train --target deep': 'the deep embedder H on every training pair: seconds more for no path the marked target lacks',
  'surrogate.mjs eval --deep': 'the deep extractor R on every output of every row: about 35 s more on 2 busy cores',
};

const nodeDir = path.dirname(process.execPath);
const env = (extra = {}) => {
  // The smoke knobs of one run must not leak into another (nor the caller's into any).
  const { PHOTOS: _p, ATTACKS: _a, F: _f, AMP: _m, DEEP_CROPS: _d, ...base } = process.env;
  return { ...base, PATH: `${nodeDir}${path.delimiter}${path.join(ROOT, 'node_modules', '.bin')}${path.delimiter}${base.PATH ?? ''}`, NO_COLOR: '1', ...extra };
};
const label = (run) => {
  const args = typeof run.args === 'function' ? run.args().map((a) => a.replace(dir, '$TMP')) : run.args ?? [];
  const vars = Object.entries(run.env ?? {}).map(([k, v]) => `${k}=${JSON.stringify(v)} `).join('');
  return `${vars}${run.npm ? `npm run ${run.npm} --` : `node bench/${run.script}`} ${args.join(' ')}`.trim();
};

/** Run one entry of RUNS; returns { status, signal, out, err }. */
function execute(run) {
  const args = typeof run.args === 'function' ? run.args() : run.args ?? [];
  const opts = { cwd: ROOT, env: env(run.env), encoding: 'utf8', timeout: TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 26 };
  const r = run.npm
    ? spawnSync('/bin/sh', ['-c', `${pkg.scripts[run.npm]} "$@"`, 'sh', ...args], opts)
    : spawnSync(process.execPath, [path.join(BENCH, run.script), ...args], opts);
  if (r.error && r.error.code !== 'ETIMEDOUT') throw r.error;
  return { status: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

test('setup: a folder of JPEGs for sharp-pool', async () => {
  fs.mkdirSync(pool);
  for (const [i, colour] of ['#8a6', '#369'].entries()) {
    await sharp({ create: { width: 640, height: 360, channels: 3, background: colour } }).jpeg({ quality: 90 }).toFile(path.join(pool, `img-${i}.jpg`));
  }
});

for (const run of RUNS) {
  test(`bench runs: ${label(run)}`, () => {
    const r = execute(run);
    const both = `${r.out}\n${r.err}`;
    const tail = (s) => s.split('\n').slice(-25).join('\n');
    assert.ok(r.status === 0, `exit ${r.status}${r.signal ? ` (${r.signal}${r.signal === 'SIGKILL' ? `, over ${TIMEOUT_MS / 1000} s` : ''})` : ''}\nstdout:\n${tail(r.out)}\nstderr:\n${tail(r.err)}`);
    assert.not.match(both, /\bNaN\b/, `prints NaN:\n${tail(r.out)}`);
    assert.not.match(both, /\bundefined\b/, `prints undefined:\n${tail(r.out)}`);
    for (const e of run.expect ?? []) {
      if (typeof e === 'string') assert.ok(r.out.includes(e), `the output lacks ${JSON.stringify(e)}:\n${tail(r.out)}`);
      else assert.match(r.out, e, `the output lacks ${e}:\n${tail(r.out)}`);
    }
    run.check?.(r.out);
  });
}

test('bench modules import without doing work, with their exports', async () => {
  for (const [file, names] of Object.entries(MODULES)) {
    const m = await import(pathToFileURL(path.join(BENCH, file)).href);
    for (const n of names) assert.ok(n in m, `${file} exports ${n}`);
  }
});

test('every bench/ script is run, imported as a module or left out with a reason (and then parses)', () => {
  const files = fs.readdirSync(BENCH).filter((f) => f.endsWith('.mjs')).sort();
  const run = new Set(RUNS.flatMap((r) => (r.npm ? [...pkg.scripts[r.npm].matchAll(/bench\/([\w.-]+\.mjs)/g)].map((m) => m[1]) : [r.script])));
  const unaccounted = files.filter((f) => !run.has(f) && !(f in MODULES) && !(f in LEFT_OUT));
  assert.equal(unaccounted, [], 'bench scripts neither run, imported nor left out with a reason in test/bench-smoke.test.mjs');
  for (const f of Object.keys(LEFT_OUT)) {
    assert.ok(LEFT_OUT[f].length > 10, `${f}: give the reason`);
    const r = spawnSync(process.execPath, ['--check', path.join(BENCH, f)], { encoding: 'utf8' });
    assert.is(r.status, 0, `${f} does not parse: ${r.stderr}`);
  }
  for (const k of Object.keys(PATHS_NOT_RUN)) assert.ok(run.has(k.split(' ')[0]), `${k}: the script itself runs`);
  for (const name of [...run, ...Object.keys(MODULES), ...Object.keys(LEFT_OUT)]) assert.ok(files.includes(name), `bench/${name} exists`);
});

test('every package.json script that points into bench/ runs here', () => {
  const pointing = Object.entries(pkg.scripts).filter(([, cmd]) => /\bbench\//.test(cmd)).map(([name]) => name).sort();
  assert.ok(pointing.includes('bench') && pointing.includes('measure'), `found ${pointing}`);
  const covered = new Set(RUNS.filter((r) => r.npm).map((r) => r.npm));
  assert.equal(pointing.filter((n) => !covered.has(n)), [], 'package.json scripts into bench/ without a smoke run');
});

test('cleanup', () => {
  fs.rmSync(dir, { recursive: true, force: true });
});

test.run();
