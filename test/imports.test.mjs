// What a fresh process loads: importing an entry must not load a heavy package that the entry's
// import alone does not need (serverless functions and per-file CLI runs pay every load on each
// cold start; bench/cold-start.mjs measures it). The packages are listed from a real Node process:
// ES modules through a module loader hook (module.register), CommonJS from require.cache.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PHOTO = fileURLToPath(new URL('../../shared/photos/mate-Storm.jpg', import.meta.url));
/** Heavy packages: sharp (libvips), onnxruntime-web, the batch pool, the CLI's progress bar, training. */
const HEAVY = ['sharp', 'onnxruntime-web', 'piscina', 'cli-progress', '@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', 'protobufjs'];

const dir = mkdtempSync(join(tmpdir(), 'modelmark-imports-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
const hook = join(dir, 'hook.mjs');
writeFileSync(hook, `import { writeSync } from 'node:fs';
export async function load(url, context, next) { if (url.startsWith('file:')) writeSync(2, 'LOADED ' + url + '\\n'); return next(url, context); }`);
const register = join(dir, 'register.mjs');
writeFileSync(register, `import { register, createRequire } from 'node:module';
register(${JSON.stringify(pathToFileURL(hook).href)});
const cache = createRequire(import.meta.url).cache;
process.on('exit', () => { for (const p of Object.keys(cache)) process.stderr.write('LOADED ' + p + '\\n'); });`);

/** The packages (names under node_modules) a Node process running `args` loaded, and its result. */
function loadedBy(args) {
  const r = spawnSync(process.execPath, ['--import', register, ...args], { cwd: ROOT, encoding: 'utf8' });
  const files = [...r.stderr.matchAll(/^LOADED (.*)$/gm)].map((m) => m[1]);
  const packages = new Set(files.map((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f)?.[1]).filter(Boolean));
  return { packages, files, status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let scripts = 0;
/**
 * loadedBy for a script that imports `entry` (resolved here, as a user's import would resolve it:
 * the script itself lies outside the package) as `m`, then runs `then`. A script file, not
 * `--input-type=module -e`: onnxruntime-web's worker threads inherit the flags, and refuse that one.
 */
function importing(entry, then = '') {
  const file = join(dir, `script-${++scripts}.mjs`);
  writeFileSync(file, `const m = await import(${JSON.stringify(import.meta.resolve(entry))});\n${then}\n`);
  return loadedBy([file]);
}

test('the listing sees packages an entry does load (self-check: modelmark/sharp, modelmark/deep)', () => {
  const sharpEntry = importing('modelmark/sharp');
  assert.is(sharpEntry.status, 0, sharpEntry.stderr);
  assert.ok(sharpEntry.packages.has('sharp'), `modelmark/sharp loaded: ${[...sharpEntry.packages]}`);
  const deep = importing('modelmark/deep');
  assert.is(deep.status, 0, deep.stderr);
  assert.ok(deep.packages.has('onnxruntime-web'), `modelmark/deep loaded: ${[...deep.packages]}`);
  assert.ok(deep.files.some((f) => f.endsWith('/dist/deep/index.js')), 'the ES module hook lists the entry\'s own files');
});

test('modelmark, modelmark/lite and modelmark/metadata load no package at all', () => {
  for (const entry of ['modelmark', 'modelmark/lite', 'modelmark/metadata']) {
    const r = importing(entry);
    assert.is(r.status, 0, r.stderr);
    assert.ok(r.files.some((f) => f.includes('/dist/')), `${entry}: nothing of dist/ listed`);
    assert.equal([...r.packages], [], `${entry} loaded packages`);
  }
});

test('modelmark/node loads no heavy package at import: sharp, onnxruntime-web and piscina come when first used', () => {
  const r = importing('modelmark/node', `if (m.DEFAULT_NODE_THREADS !== 2 || typeof m.checkDeepMeta !== 'function' || typeof m.runBatch !== 'function') throw new Error('exports');`);
  assert.is(r.status, 0, r.stderr);
  assert.equal(HEAVY.filter((p) => r.packages.has(p)), [], `modelmark/node loaded ${[...r.packages]}`);
  // A file read loads sharp then (and still nothing else heavy).
  const read = importing('modelmark/node', `const img = await m.readImage(${JSON.stringify(PHOTO)}); console.log(img.width + 'x' + img.height);`);
  assert.is(read.status, 0, read.stderr);
  assert.match(read.stdout, /^\d+x\d+$/m);
  assert.ok(read.packages.has('sharp'), 'readImage loaded sharp');
  assert.equal(HEAVY.filter((p) => p !== 'sharp' && read.packages.has(p)), []);
});

test('modelmark/node: createDeepWatermarker loads the runner and onnxruntime-web when called', () => {
  const r = importing('modelmark/node', `const deep = await m.createDeepWatermarker(); console.log(typeof deep.embed, typeof deep.extract);`);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /function function/);
  assert.ok(r.packages.has('onnxruntime-web'));
  assert.ok(r.files.some((f) => f.endsWith('/dist/deep/index.js')));
});

test('the command: --help loads no package; detecting a file loads sharp and nothing else heavy', () => {
  const help = loadedBy([join(ROOT, 'bin', 'modelmark.js'), '--help']);
  assert.is(help.status, 0, help.stderr);
  assert.equal([...help.packages], []);
  const detect = loadedBy([join(ROOT, 'bin', 'modelmark.js'), 'detect', PHOTO, '--key', 'imports test']);
  assert.is(detect.status, 1, detect.stderr); // an unmarked photo: not found
  assert.ok(detect.packages.has('sharp'));
  assert.equal(HEAVY.filter((p) => p !== 'sharp' && detect.packages.has(p)), []);
});

test.run();
