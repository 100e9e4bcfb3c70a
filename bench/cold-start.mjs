// `node bench/cold-start.mjs [runs] [--compare DIR]` (default 9 runs): what a fresh process pays
// before and during its first call, as serverless functions (a cold start per scale-up) and
// per-file CLI runs meet it. Every sample is a new Node process; each round runs every item once,
// in the same order, so that the items share the machine's state; the table gives the median and
// the range over the rounds. `--compare DIR` runs every item also on another built checkout of
// the repository (e.g. a `git worktree` of the previous commit with its own dist/), interleaved
// with this one in every round (which goes first alternates).
//
// - import: `await import(entry)` timed inside the process, and the whole process's wall time
//   (`node -e 0` is the floor); `modelmark/lite + init(bytes)` reads build/modelmark.wasm and
//   compiles it, as a runtime without the base64 kernels does.
// - first calls, 1920x1080 RGB: createWatermarker, then embed and detect three times each; the
//   first embed and detect against the later ones (the difference is V8 compiling the kernels'
//   hot functions: Liftoff first, then TurboFan in the background).
// - CLI: `modelmark --help`, `detect FILE` and `embed FILE OUT` on a 1920x1080 JPEG, wall time.
// Which packages each entry loads at import is printed once per entry (a module loader hook).
// The Cloudflare Worker's first request against later ones: bench/worker-latency.mjs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { photoInput } from './photos.mjs';

const args = process.argv.slice(2);
const at = args.indexOf('--compare');
const OTHER = at >= 0 ? resolve(args.splice(at, 2)[1]) : undefined;
const RUNS = Number(args[0] ?? 9);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ENTRIES = ['modelmark', 'modelmark/lite', 'modelmark/node', 'modelmark/sharp', 'modelmark/deep'];
/** Packages that are heavy to load and that no import-only caller needs. */
const HEAVY = ['sharp', 'onnxruntime-web', 'piscina', 'cli-progress', '@tensorflow/tfjs', 'protobufjs'];

const dir = mkdtempSync(join(tmpdir(), 'modelmark-cold-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
const src = sharp((await photoInput('mate-Storm.jpg', [960, 540])).input);
const photo = join(dir, 'photo.jpg');
const rgb = join(dir, 'photo.rgb');
const resized = src.resize(1920, 1080, { fit: 'cover' }).removeAlpha();
writeFileSync(photo, await resized.clone().jpeg({ quality: 90 }).toBuffer());
writeFileSync(rgb, await resized.clone().raw().toBuffer());
// The file `CLI detect` reads: marked with its key, so the detector finds the mark in place (the
// geometric search that an unmarked file gets is work, not start-up).
const marked = join(dir, 'marked.jpg');
spawnSync(process.execPath, [join(ROOT, 'bin', 'modelmark.js'), 'embed', photo, marked, '--key', 'cold start', '--payload', 'c0ffee00d15ea5e1']);

/** Run node with `args` in the repository root; returns wall ms and the JSON the child printed last. */
function node(root, args) {
  const t = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  const wall = performance.now() - t;
  if (r.status !== 0 && r.status !== 1) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  const last = r.stdout.trim().split('\n').pop();
  let json = {};
  try { json = JSON.parse(last); } catch { /* CLI text output */ }
  return { wall, json };
}

// Run with --input-type=module in the repository root: `modelmark` resolves to that checkout.
const importCode = (entry, extra = '') => `const t = performance.now(); const m = await import(${JSON.stringify(entry)}); ${extra}
console.log(JSON.stringify({ ms: performance.now() - t }));`;
const liteInit = `const { readFileSync } = await import('node:fs'); await m.init(readFileSync('build/modelmark.wasm'));`;

const firstCalls = `const { readFileSync } = await import('node:fs');
const img = { width: 1920, height: 1080, channels: 3, data: new Uint8Array(readFileSync(${JSON.stringify(rgb)})) };
const T = () => performance.now(); const r = {}; let t = T();
const m = await import('modelmark'); r.import = T() - t;
t = T(); const wm = await m.createWatermarker({ key: 'cold start' }); r.create = T() - t;
let marked;
for (const i of [1, 2, 3]) { t = T(); marked = wm.embed(img, 'c0ffee00d15ea5e1'); r['embed ' + i] = T() - t; }
for (const i of [1, 2, 3]) { t = T(); if (!wm.detect(marked).found) throw new Error('not found'); r['detect ' + i] = T() - t; }
t = T(); await m.createWatermarker({ key: 'another key' }); r['create, 2nd key'] = T() - t;
console.log(JSON.stringify(r));`;

/** [label, (root) => { measure: ms } per sample] */
const items = [
  ['node -e 0 (process floor)', (root) => ({ wall: node(root, ['-e', '0']).wall })],
  ...ENTRIES.map((e) => [`import ${e}`, (root) => { const r = node(root, ['--input-type=module', '-e', importCode(e)]); return { import: r.json.ms, wall: r.wall }; }]),
  ['import modelmark/lite + init(bytes)', (root) => { const r = node(root, ['--input-type=module', '-e', importCode('modelmark/lite', liteInit)]); return { import: r.json.ms, wall: r.wall }; }],
  ['first calls (1920x1080 RGB)', (root) => { const r = node(root, ['--input-type=module', '-e', firstCalls]); return { ...r.json, wall: r.wall }; }],
  ['CLI --help', (root) => ({ wall: node(root, [join(root, 'bin', 'modelmark.js'), '--help']).wall })],
  ['CLI detect marked.jpg', (root) => ({ wall: node(root, [join(root, 'bin', 'modelmark.js'), 'detect', marked, '--key', 'cold start']).wall })],
  ['CLI embed photo.jpg out.jpg', (root) => ({ wall: node(root, [join(root, 'bin', 'modelmark.js'), 'embed', photo, join(dir, 'out.jpg'), '--key', 'cold start', '--payload', 'c0ffee00d15ea5e1']).wall })],
];
const roots = OTHER ? [['this', ROOT], ['compared', OTHER]] : [['', ROOT]];

// Which heavy packages each entry loads (ES modules through a loader hook, CommonJS from require.cache).
const hook = join(dir, 'hook.mjs');
writeFileSync(hook, `import { writeSync } from 'node:fs';
export async function load(url, context, next) { if (url.startsWith('file:')) writeSync(2, 'LOAD ' + url + '\\n'); return next(url, context); }`);
const register = join(dir, 'register.mjs');
writeFileSync(register, `import { register } from 'node:module'; register(${JSON.stringify('file://' + hook)});`);
console.log('Packages loaded by `import(entry)` alone:');
for (const [name, root] of roots) for (const e of ENTRIES) {
  const r = spawnSync(process.execPath, ['--import', register, '--input-type=module', '-e',
    `await import(${JSON.stringify(e)}); const { createRequire } = await import('node:module');
     for (const p of Object.keys(createRequire(import.meta.url).cache)) process.stderr.write('LOAD ' + p + '\\n');`], { cwd: root, encoding: 'utf8' });
  const loaded = new Set([...r.stderr.matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)\//g)].map((x) => x[1]));
  const heavy = HEAVY.filter((h) => loaded.has(h));
  console.log(`  ${name ? name + ': ' : ''}${e}: ${heavy.length ? heavy.join(', ') : 'none of ' + HEAVY.join(', ')}${loaded.size ? ` (all: ${[...loaded].join(', ')})` : ''}`);
}

const samples = new Map();
for (let run = 0; run < RUNS; run++) {
  for (const [label, fn] of items) {
    // Alternate which checkout goes first, round by round: neither always meets the other's wake.
    for (const [name, root] of run % 2 ? [...roots].reverse() : roots) {
      const key = name ? `${label} [${name}]` : label;
      if (!samples.has(key)) samples.set(key, []);
      samples.get(key).push(fn(root));
    }
  }
  process.stderr.write(`round ${run + 1}/${RUNS}\r`);
}
process.stderr.write('\n');

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const fmt = (xs) => `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`;
console.log(`\n${RUNS} rounds; median (min–max), ms\n`);
console.log('| item | measure | ms |');
console.log('|---|---|---|');
for (const [label, list] of samples) {
  for (const key of Object.keys(list[0])) console.log(`| ${label} | ${key === 'wall' ? 'process wall time' : key} | ${fmt(list.map((s) => s[key]))} |`);
}
