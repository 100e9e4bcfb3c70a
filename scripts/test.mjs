// `npm test`: build when stale, run every test/*.test.mjs with uvu (in two processes at once on a
// machine with two cores or more, each running a share of the files; the first one's output
// streamed to the console, the other's printed when it ends), then print one summary line, last:
//
//   tests: P passed, F failed
//
// and exit non-zero when anything failed, uvu crashed or exited non-zero, no test ran, a test file
// never called test.run(), or a test left a child running that holds uvu's output open.
// Extra arguments are passed to uvu (e.g. `npm test -- --bail`).

import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { buildIfStale, ROOT } from './build-if-stale.mjs';
import { ensureChromium } from './ensure-chromium.mjs';

const PATTERN = '\\.test\\.mjs$';

/**
 * Print the summary line and exit, once standard output and error have taken everything written
 * to them: process.exit() right away dropped what a pipe had not taken yet (the second process's
 * output, printed at once, and the summary line after it). Await it: it never settles.
 */
function finish(passed, failed) {
  const code = failed > 0 ? 1 : 0;
  let pending = 2;
  const exit = () => { if (--pending === 0) process.exit(code); };
  process.stdout.write(`tests: ${passed} passed, ${failed} failed\n`, exit);
  process.stderr.write('', exit);
  return new Promise(() => {});
}

const stripAnsi = (text) => text.replace(/\u001b\[[0-9;?]*[ -/]*[@-~]/g, '');

/**
 * The number on uvu's last `Label: N` summary line, or null when there is none. One uvu process
 * prints one summary, last; a test's own output (a child's summary quoted in a failure message)
 * may hold such lines too, and is not counted.
 */
function count(text, label) {
  const re = new RegExp(`^\\s*${label}:\\s+(\\d+)\\s*$`, 'gm');
  let last = null;
  for (const m of text.matchAll(re)) last = Number(m[1]);
  return last;
}

/**
 * The test files whose heading uvu printed with no suite's `(passed / total)` line after it (before
 * the next heading or the end): they never called test.run(), so their tests ran nowhere (or, by
 * chance, in the next file's run()).
 */
function withoutRun(stdout, files) {
  const heads = new Set(files.map((x) => `${x}.test.mjs`));
  const missing = [];
  let open = null;
  for (const line of stdout.split('\n')) {
    if (heads.has(line.trim())) {
      if (open) missing.push(open);
      open = line.trim();
    } else if (/\(\d+ \/ \d+\)\s*$/.test(line)) open = null;
  }
  if (open) missing.push(open);
  return missing;
}

// The tests measure on the real photos in ../shared/photos/ beside the repository (DEVELOPERS.md,
// "Honest tests"); without them nearly every test file would stop at its first read with sharp's
// "Input file is missing". Say so once, plainly, instead.
const PHOTOS = join(ROOT, '..', 'shared', 'photos');
const photoCount = existsSync(PHOTOS) ? readdirSync(PHOTOS).filter((f) => /\.(png|jpe?g|webp)$/i.test(f)).length : 0;
if (photoCount === 0) {
  console.error(`npm test: the tests run on the real photos in ../shared/photos/ beside the repository, and ${PHOTOS} ` +
    `${existsSync(PHOTOS) ? 'holds no PNG, JPEG or WebP photo' : 'does not exist'}. Put the shared folder (photos/ with its SOURCES.md) ` +
    'beside the repository and run again; `npm run demo` and the benches run without it, on synthetic images.');
  await finish(0, 1);
}

// MODELMARK_TEST_ONLY=REGEX runs the files whose names (without .test.mjs) match it; checked before
// anything is built, and one that is no regular expression or matches no file is a failure.
const ONLY = process.env.MODELMARK_TEST_ONLY;
let only;
try {
  only = ONLY ? new RegExp(ONLY) : undefined;
} catch (err) {
  console.error(`npm test: MODELMARK_TEST_ONLY=${ONLY} is not a regular expression (${err.message})`);
  await finish(0, 1);
}
const names = readdirSync(join(ROOT, 'test')).filter((f) => /\.test\.mjs$/.test(f)).map((f) => f.replace(/\.test\.mjs$/, ''))
  .filter((x) => !only || only.test(x)).sort();
if (only && names.length === 0) {
  console.error(`npm test: MODELMARK_TEST_ONLY=${ONLY} matches no test file's name (test/NAME.test.mjs)`);
  await finish(0, 1);
}

const build = buildIfStale();
if (!build.ok) {
  console.error('npm test: the build failed, so no tests ran');
  await finish(0, 1);
}

ensureChromium();

const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
const uvu = join(ROOT, 'node_modules', 'uvu', 'bin.js');
const extra = process.argv.slice(2);

// Two uvu processes, each running a share of the test files, when the machine has two cores or
// more: most test files keep one core busy (a CLI child, sharp's decode, a browser page), so one
// process left the second core idle for most of the run. MODELMARK_TEST_SHARDS=1 runs the files in
// one process, in order. The files are dealt out by their measured time alone (seconds on a
// 2-core AMD EPYC, 2026-11-28; a file not listed counts 10), longest first, each to the share
// with less work so far. (false-positives keeps both cores busy on its own, with worker threads,
// but counting it at more than its time alone left the other process ending 211 s later in a
// fresh-clone run: 631 against 842 s at 1.6 times. Each process's seconds are printed, to
// rebalance by.) Files that pack, scan or link the built package run in one share, one after
// another, so that none of them sees another's work in progress.
const SECONDS = {
  'false-positives': 347, 'deep-cli': 120, 'bench-smoke': 82, geometry: 46, animation: 44, edits: 41,
  robustness: 37, 'deep-browser': 35, cli: 32, 'web-demo': 32, 'false-positives-structured': 28, batch: 29,
  'plugin-canvas': 22, types: 19, 'readme-examples': 12, evidence: 11, avif: 10, api: 9, errors: 8,
  'deep-runner': 8, bundlers: 8, 'plugin-sharp': 7, 'bare-checkout': 7, photopea: 6, kernels: 5,
};
const TOGETHER = ['package', 'bundlers', 'core-purity', 'bare-checkout', 'imports', 'types', 'readme-examples'];
const requested = Number(process.env.MODELMARK_TEST_SHARDS ?? 2);
const shardCount = Number.isInteger(requested) && requested >= 1 ? Math.min(requested, availableParallelism(), Math.max(1, names.length)) : 1;
/** The test files of each share: [[name, ...], ...]. */
function deal(all, n) {
  if (n === 1) return [all];
  const weight = (name) => SECONDS[name] ?? 10;
  const items = [{ names: all.filter((x) => TOGETHER.includes(x)) }, ...all.filter((x) => !TOGETHER.includes(x)).map((x) => ({ names: [x] }))]
    .filter((it) => it.names.length > 0)
    .map((it) => ({ ...it, w: it.names.reduce((s, x) => s + weight(x), 0) }))
    .sort((a, b) => b.w - a.w);
  const shares = Array.from({ length: n }, () => ({ names: [], w: 0 }));
  for (const it of items) {
    const least = shares.reduce((a, b) => (b.w < a.w ? b : a));
    least.names.push(...it.names);
    least.w += it.w;
  }
  return shares.map((s) => s.names.sort()).filter((s) => s.length > 0);
}
const shares = deal(names, shardCount);
const escape = (x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Run uvu on one share of the files. Resolves with its whole output (stdout and stderr) and how
 * it ended; `live` streams that output to the console as it comes, otherwise it is kept for later.
 */
function runShare(files, live) {
  const pattern = shares.length === 1 && !only ? PATTERN : `^(${files.map(escape).join('|')})\\.test\\.mjs$`;
  const start = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [uvu, 'test', pattern, '--no-color', ...extra], {
      cwd: ROOT,
      env,
      stdio: ['inherit', 'pipe', 'pipe'],
    });
    let output = '', stdout = '';
    const take = (stream) => (chunk) => {
      output += chunk;
      if (stream === process.stdout) stdout += chunk;
      if (live) stream.write(chunk);
    };
    // Decoded as a stream: a character whose bytes two reads split stays whole (uvu's own '•' is
    // three bytes), where adding each read to a string on its own made two replacement characters.
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', take(process.stdout));
    child.stderr.on('data', take(process.stderr));
    child.on('error', (err) => resolve({ output, stdout, error: err }));
    let grace;
    child.on('close', (code, signal) => {
      clearTimeout(grace);
      resolve({ output, stdout, code, signal, seconds: (performance.now() - start) / 1000 });
    });
    // 'close' waits for every process holding uvu's output open: a child a test left running (or
    // one uvu's crash left behind) kept npm test waiting until it ended, if ever. Once uvu has
    // ended, what is left to read comes at once; after a few seconds, stop reading and say so.
    child.on('exit', (code, signal) => {
      grace = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        const seconds = (performance.now() - start) / 1000;
        resolve({ output, stdout, code, signal, seconds, leftOpen: true });
      }, 5000);
    });
  });
}

if (shares.length > 1) {
  console.log(`npm test: ${names.length} test files in ${shares.length} processes at once (MODELMARK_TEST_SHARDS=1 for one):`);
  shares.forEach((s, i) => console.log(`  ${i + 1}: ${s.join(', ')}`));
  console.log(`npm test: process 1's output as it comes; the others' when they end`);
}
const results = await Promise.all(shares.map((files, i) => runShare(files, i === 0).then((r) => {
  if (i > 0) {
    process.stdout.write(`\nnpm test: process ${i + 1} of ${shares.length} (${files.join(', ')}):\n`);
    process.stdout.write(r.output.endsWith('\n') ? r.output : `${r.output}\n`);
  }
  if (shares.length > 1 && r.seconds !== undefined) console.log(`npm test: process ${i + 1} ended after ${r.seconds.toFixed(0)} s`);
  return r;
})));

let passed = 0, failed = 0;
for (const [i, r] of results.entries()) {
  const which = shares.length > 1 ? ` (process ${i + 1})` : '';
  if (r.error) {
    console.error(`npm test: could not run uvu${which}: ${r.error.message}`);
    failed++;
    continue;
  }
  if (r.leftOpen) {
    console.error(`npm test: uvu${which} ended, but a process it started still holds its output open: ` +
      'a test left a child running (DEVELOPERS.md: a test file closes every child process it starts)');
    failed++;
  }
  const text = stripAnsi(r.stdout); // uvu writes its summary there
  const total = count(text, 'Total');
  const ok = count(text, 'Passed');
  // Make sure the summary starts on a line of its own.
  if (i === results.length - 1 && r.output && !r.output.endsWith('\n') && shares.length === 1) process.stdout.write('\n');
  if (total === null || ok === null) {
    console.error(`npm test: uvu${which} ${r.signal ? `was killed by ${r.signal}` : `exited with ${r.code}`} before its summary`);
    passed += ok ?? 0;
    failed++;
    continue;
  }
  if (total === 0) {
    console.error(`npm test: no tests ran${which}`);
    failed++;
    continue;
  }
  const f = Math.max(0, total - ok);
  passed += ok;
  failed += f;
  const missing = withoutRun(stripAnsi(r.stdout), shares[i]);
  if (missing.length > 0) {
    console.error(`npm test: ${missing.join(', ')} ran no test: is test.run() missing?${which}`);
    failed += missing.length;
  }
  if ((r.code !== 0 || r.signal) && f === 0) {
    console.error(`npm test: uvu${which} ${r.signal ? `was killed by ${r.signal}` : `exited with ${r.code}`} although every test passed`);
    failed++;
  }
}
await finish(passed, failed);
