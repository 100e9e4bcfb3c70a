// The package as a user gets it: `npm pack`'s tarball, unpacked into a fresh project's
// node_modules (its dependencies linked from ours, since CI must not need the registry here), then
// every entry of package.json "exports" imported from outside the repository, a mark made and read
// through the packed API, and the packed `modelmark` command run on files and on a folder (the
// batch pool loads its worker by file name, which an import of the entries never touches). A
// file left out of "files" in package.json, or an entry that points at one, fails here and
// nowhere else: every other test runs the repository's own tree.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PHOTOS = path.join(ROOT, '..', 'shared', 'photos');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmark-pack-'));
const app = path.join(work, 'app');
const installed = path.join(app, 'node_modules', 'modelmark');

/** Every file path an "exports" or "bin" entry names, relative to the package root. */
function namedFiles() {
  const out = new Set();
  const walk = (v) => {
    if (typeof v === 'string') out.add(v.replace(/^\.\//, ''));
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(pkg.exports);
  walk(pkg.bin);
  return [...out];
}

let packed; // the file list npm reports for the tarball

test('npm pack makes a tarball that holds every file "exports" and "bin" name', () => {
  const json = execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [info] = JSON.parse(json);
  packed = new Set(info.files.map((f) => f.path));
  const missing = namedFiles().filter((f) => !packed.has(f));
  assert.equal(missing, [], `named by package.json but not packed: ${missing.join(', ')}`);
  assert.ok(packed.has('README.md') && packed.has('package.json'));
  assert.not.ok([...packed].some((f) => f.startsWith('test/') || f.startsWith('src/') || f.startsWith('.scratch/')), 'sources or tests packed');
  fs.mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', path.join(work, info.filename), '-C', installed, '--strip-components=1']);
  // The dependencies (and the optional peers the plug-ins import) come from this checkout.
  for (const name of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
    if (name === '.bin' || name.startsWith('.')) continue;
    fs.symlinkSync(path.join(ROOT, 'node_modules', name), path.join(app, 'node_modules', name));
  }
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
});

test('every relative import in the packed JavaScript resolves to a packed file', () => {
  const broken = [];
  let checked = 0;
  for (const file of packed) {
    if (!/\.(m?js)$/.test(file)) continue;
    // Code lines only: doc comments show user-side paths (a worker file the user writes).
    const code = fs.readFileSync(path.join(installed, file), 'utf8').split('\n').filter((l) => !/^\s*(\/\/|\*|\/\*)/.test(l)).join('\n');
    for (const m of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|new URL\(\s*)['"](\.{1,2}\/[^'"]*)['"]/g)) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1]));
      // A folder (a trailing slash, e.g. the bundled models') must hold packed files.
      const found = m[1].endsWith('/') ? [...packed].some((f) => f.startsWith(target)) : packed.has(target);
      if (!found) broken.push(`${file} -> ${m[1]}`);
      checked++;
    }
  }
  assert.equal(broken, []);
  assert.ok(checked > 100, `only ${checked} imports seen: the scan is not reading the packed code`);
});

// A bundler's dev server reads the map a `//# sourceMappingURL=` comment names: Vite printed an
// ENOENT stack for each modelmark module it served when the comments named unshipped maps, and
// maps whose sources are not in the package give a debugger nothing to show.
test('every source map the packed JavaScript names is packed and carries its sources', () => {
  const bad = [];
  let maps = 0;
  for (const file of packed) {
    if (!/\.(m?js)$/.test(file)) continue;
    const m = fs.readFileSync(path.join(installed, file), 'utf8').match(/^\/\/# sourceMappingURL=(\S+)\s*$/m);
    if (!m) continue;
    const mapFile = path.posix.join(path.posix.dirname(file), m[1]);
    if (!packed.has(mapFile)) { bad.push(`${file} -> ${m[1]} (not packed)`); continue; }
    const map = JSON.parse(fs.readFileSync(path.join(installed, mapFile), 'utf8'));
    const withText = (map.sourcesContent ?? []).filter((s) => typeof s === 'string' && s.length > 0).length;
    if (withText !== map.sources.length) bad.push(`${mapFile}: ${withText} of ${map.sources.length} sources inline`);
    maps++;
  }
  assert.equal(bad, []);
  assert.ok(maps > 20, `only ${maps} maps seen`);
});

/** Run a script in the unpacked app; returns its parsed JSON output. */
function inApp(script, args = [], ext = 'mjs') {
  const file = path.join(app, `s${Math.random().toString(36).slice(2)}.${ext}`);
  fs.writeFileSync(file, script);
  const r = spawnSync(process.execPath, [file, ...args], { cwd: app, encoding: 'utf8', timeout: 120_000 });
  assert.is(r.status, 0, r.stderr || r.stdout);
  return JSON.parse(r.stdout);
}

test('every entry imports from the unpacked package, and its API marks and reads a photo', () => {
  const entries = Object.keys(pkg.exports).filter((k) => k !== './package.json' && !k.endsWith('.wasm')).map((k) => 'modelmark' + k.slice(1));
  const out = inApp(`
    const entries = ${JSON.stringify(entries)};
    const result = { exports: {} };
    for (const name of entries) result.exports[name] = Object.keys(await import(name)).length;
    const { createWatermarker } = await import('modelmark');
    const { readImage } = await import('modelmark/node');
    const img = await readImage(${JSON.stringify(path.join(PHOTOS, 'mate-Storm.jpg'))});
    const wm = await createWatermarker({ key: 'packed' });
    const r = wm.detect(wm.embed(img, '0123456789abcdef'));
    const wasm = (await import('node:fs')).statSync(new URL(import.meta.resolve('modelmark/modelmark.wasm'))).size;
    // The README's way to load modelmark/lite in Node, from the packed file.
    const { readFile } = await import('node:fs/promises');
    const { createRequire } = await import('node:module');
    const lite = await import('modelmark/lite');
    const file = createRequire(import.meta.url).resolve('modelmark/modelmark.wasm');
    await lite.init(await WebAssembly.compile(await readFile(file)));
    const lr = (await lite.createWatermarker({ key: 'packed' })).detect(wm.embed(img, 'fedcba9876543210'));
    Object.assign(result, { found: r.found, payload: r.payload, wasm, resolved: import.meta.resolve('modelmark'), lite: lr.payload });
    console.log(JSON.stringify(result));
  `);
  for (const name of entries) assert.ok(out.exports[name] > 0, `${name} exports nothing`);
  assert.ok(out.resolved.startsWith('file://' + installed), `resolved to ${out.resolved}, not the unpacked copy`);
  assert.is(out.found, true);
  assert.is(out.payload, '0123456789abcdef');
  assert.ok(out.wasm > 10_000, `modelmark.wasm is ${out.wasm} bytes`);
  assert.is(out.lite, 'fedcba9876543210', 'modelmark/lite with the packed .wasm');
});

test('CommonJS: every entry loads with require() (Node 20.19 and later load ES modules that way), and marks and reads a photo', () => {
  const entries = Object.keys(pkg.exports).filter((k) => k !== './package.json' && !k.endsWith('.wasm')).map((k) => 'modelmark' + k.slice(1));
  const out = inApp(`
    const entries = ${JSON.stringify(entries)};
    const result = { exports: {} };
    for (const name of entries) result.exports[name] = Object.keys(require(name)).length;
    const { createWatermarker } = require('modelmark');
    const { readImage } = require('modelmark/node');
    (async () => {
      const img = await readImage(${JSON.stringify(path.join(PHOTOS, 'mate-Storm.jpg'))});
      const wm = await createWatermarker({ key: 'packed' });
      const r = wm.detect(wm.embed(img, '0123456789abcdef'));
      Object.assign(result, { found: r.found, payload: r.payload, resolved: require.resolve('modelmark') });
      console.log(JSON.stringify(result));
    })();
  `, [], 'cjs');
  for (const name of entries) assert.ok(out.exports[name] > 0, `${name} exports nothing through require()`);
  assert.ok(out.resolved.startsWith(installed), `resolved to ${out.resolved}, not the unpacked copy`);
  assert.is(out.found, true);
  assert.is(out.payload, '0123456789abcdef');
});

test('the packed command marks a file, reads it, and reads a folder with its worker pool', () => {
  const bin = path.join(installed, pkg.bin.modelmark.replace(/^\.\//, ''));
  const env = { ...process.env, MODELMARK_KEY: 'packed', NO_COLOR: '1' };
  const run = (args) => spawnSync(process.execPath, [bin, ...args], { cwd: app, env, encoding: 'utf8', timeout: 120_000 });
  const v = run(['--version']);
  assert.is(v.stdout.trim(), `modelmark ${pkg.version}`);
  const dir = path.join(work, 'marked');
  fs.mkdirSync(dir);
  for (const name of ['skimage-camera.png', 'skimage-coins.png']) {
    const e = run(['embed', path.join(PHOTOS, name), path.join(dir, name), '--payload', 'c0ffee00deadbeef']);
    assert.is(e.status, 0, e.stderr);
  }
  const one = run(['detect', path.join(dir, 'skimage-camera.png'), '--json']);
  assert.is(one.status, 0, one.stderr);
  assert.is(JSON.parse(one.stdout).payload, 'c0ffee00deadbeef');
  const all = run(['detect', dir, '--jobs', '2']);
  assert.is(all.status, 0, all.stderr);
  const lines = all.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const files = lines.filter((l) => l.file);
  assert.is(files.length, 2, all.stdout);
  assert.ok(files.every((l) => l.found && l.payload === 'c0ffee00deadbeef'), all.stdout);
  assert.is(lines.at(-1).summary.found, 2);
});

test.after(() => fs.rmSync(work, { recursive: true, force: true }));

test.run();
