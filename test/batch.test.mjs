// Folder batches of the command line (`modelmark embed DIR OUTDIR`, `modelmark detect DIR`),
// spawned as `node bin/modelmark.js`: every image marked and detected with its payload, per-file
// errors that do not stop the batch, exit codes, JSON lines, the resume manifest (skip unchanged,
// redo changed, survive Ctrl-C), --jobs 1 and 2 giving the same bytes, and never writing over an
// input.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { getEventListeners } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { main, parseMemoryBudget } from '../dist/cli/main.js';
import { listImages, runBatch, saveIntervalAfter, saveManifestsNow } from '../dist/node/batch.js';
import { defaultMemoryBudget, EARLY_FILE_BYTES, GATE_TRACE, MemoryGate, MEMORY_PER_JOB } from '../dist/node/gate.js';
import { createWatermarker, readImage } from '../dist/node/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'modelmark.js');
const PHOTOS = fileURLToPath(new URL('../../shared/photos/', import.meta.url));
const KEY = 'batch test key';
const PAYLOAD = 'c0ffee0000000042';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmark-batch-'));
const IN = path.join(dir, 'in');
const OUT = path.join(dir, 'out');
const { MODELMARK_KEY: _drop, ...baseEnv } = process.env;

/** The good images (path inside IN), the per-file failures and a file that is not an image. */
const GOOD = ['aqua.jpg', 'chelsea.png', 'coffee.webp', 'moon.png', 'sub/flower.jpg', 'sub/deeper/rocket.jpg'];
const BAD = { 'corrupt.jpg': 'ERR_DECODE', 'tiny.png': 'ERR_IMAGE_TOO_SMALL' };

function cli(args, env = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...baseEnv, ...env }, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Parse JSON-lines output into { records, summary } (summary: the last line). */
function lines(stdout) {
  assert.ok(stdout.endsWith('\n'), 'output ends with a newline');
  const all = stdout.trim().split('\n').map((l) => JSON.parse(l));
  const last = all.pop();
  assert.ok(last.summary, `the last line is the summary: ${JSON.stringify(last)}`);
  for (const r of all) assert.type(r.file, 'string');
  return { records: all, summary: last.summary };
}
const byFile = (records) => Object.fromEntries(records.map((r) => [path.relative(IN, r.file).split(path.sep).join('/'), r]));
const sha = (p) => createHash('sha256').update(fs.readFileSync(p)).digest('hex');
const tree = (root) => fs.readdirSync(root, { recursive: true }).map(String).filter((f) => fs.statSync(path.join(root, f)).isFile()).sort();
const embedArgs = (input, output, ...extra) => ['embed', input, output, '--key', KEY, '--payload', PAYLOAD, '--json', ...extra];

let inputHashes;
test.before(async () => {
  fs.mkdirSync(path.join(IN, 'sub', 'deeper'), { recursive: true });
  const make = [
    ['mate-Aqua.jpg', 'aqua.jpg', (s) => s.resize(480).jpeg({ quality: 92 })],
    ['skimage-chelsea.png', 'chelsea.png', (s) => s.png()],
    ['skimage-coffee.png', 'coffee.webp', (s) => s.resize(400).webp({ quality: 95 })],
    ['skimage-moon.png', 'moon.png', (s) => s.resize(384).toColourspace('grey16').png()], // 16-bit grey
    ['mate-YellowFlower.jpg', 'sub/flower.jpg', (s) => s.resize(448).jpeg({ quality: 92 })],
    ['skimage-rocket.jpg', 'sub/deeper/rocket.jpg', (s) => s.resize(384).jpeg({ quality: 92 })],
    ['skimage-brick.png', 'tiny.png', (s) => s.resize(100, 100).png()],
  ];
  await Promise.all(make.map(([src, dst, f]) => f(sharp(path.join(PHOTOS, src))).toFile(path.join(IN, dst))));
  const jpeg = fs.readFileSync(path.join(IN, 'aqua.jpg'));
  fs.writeFileSync(path.join(IN, 'corrupt.jpg'), Buffer.concat([jpeg.subarray(0, 300), Buffer.alloc(4000, 0xaa)]));
  fs.writeFileSync(path.join(IN, 'notes.txt'), 'not an image, not listed');
  fs.writeFileSync(path.join(IN, '.hidden.jpg'), 'hidden files are skipped');
  inputHashes = Object.fromEntries(tree(IN).map((f) => [f, sha(path.join(IN, f))]));
});
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

const inputsUnchanged = () => {
  for (const [f, h] of Object.entries(inputHashes)) assert.is(sha(path.join(IN, f)), h, `input ${f} must not change`);
};

/** A new folder `name` in the test's folder holding one image, moon.png: its path. */
function moonFolder(name) {
  const input = path.join(dir, name);
  fs.mkdirSync(input);
  fs.copyFileSync(path.join(IN, 'moon.png'), path.join(input, 'moon.png'));
  return input;
}

test('listImages: JPEG, PNG and WebP by extension, recursive, sorted; hidden and other files skipped', async () => {
  const { files, errors, others } = await listImages(IN);
  assert.equal(files, [...GOOD, ...Object.keys(BAD)].sort());
  assert.equal(errors, []);
  assert.equal(others, { '.txt': 1 }, 'the other files, counted by extension (hidden ones not at all)');
  assert.equal((await listImages(IN, { recursive: false })).files, ['aqua.jpg', 'chelsea.png', 'coffee.webp', 'corrupt.jpg', 'moon.png', 'tiny.png']);
});

test('the files a folder run leaves alone are said (an iPhone\'s .heic photos read as "no images" before); .jfif and .jpe JPEGs are taken and written back as JPEG', async () => {
  const input = path.join(dir, 'mixed');
  fs.mkdirSync(input);
  fs.copyFileSync(path.join(IN, 'aqua.jpg'), path.join(input, 'download.JFIF'));
  fs.copyFileSync(path.join(IN, 'aqua.jpg'), path.join(input, 'old.jpe'));
  for (const name of ['IMG_0001.HEIC', 'IMG_0002.heic', 'README']) fs.writeFileSync(path.join(input, name), 'not read');
  const listing = await listImages(input);
  assert.equal(listing.files, ['download.JFIF', 'old.jpe']);
  assert.equal(listing.others, { '.heic': 2, '': 1 });
  const out = path.join(dir, 'mixed-out');
  const r = cli(['embed', input, out, '--key', KEY, '--payload', PAYLOAD]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /"[^"]*mixed": 3 other files left alone \(not JPEG, PNG, WebP, GIF, AVIF or TIFF by their extension\): \.heic 2, \(no extension\) 1; HEIC photos \(HEVC, as iPhones save them\) cannot be decoded here: convert them to JPEG first/);
  for (const name of ['download.JFIF', 'old.jpe']) assert.is((await sharp(path.join(out, name)).metadata()).format, 'jpeg', name);
  const empty = path.join(dir, 'only-heic');
  fs.mkdirSync(empty);
  fs.writeFileSync(path.join(empty, 'IMG_0003.HEIC'), 'not read');
  const d = cli(['detect', empty, '--key', KEY]);
  assert.match(d.stderr, /with no JPEG, PNG, WebP, GIF, AVIF or TIFF files[^\n]*\nmodelmark: "[^"]*only-heic": 1 other file left alone \(not JPEG, PNG, WebP, GIF, AVIF or TIFF by its extension\): \.heic 1;/);
});

test('the line on the files left alone escapes their extensions (a name can hold terminal escapes) and stays on stderr in --json mode', () => {
  const input = path.join(dir, 'odd-names');
  fs.mkdirSync(input);
  fs.copyFileSync(path.join(IN, 'aqua.jpg'), path.join(input, 'a.jpg'));
  fs.writeFileSync(path.join(input, 'trap.\x1b[2J\x1b]0;owned\x07'), 'not read');
  fs.writeFileSync(path.join(input, 'flip.\u202egpj'), 'not read');
  const r = cli(['detect', input, '--key', KEY, '--json']);
  assert.is(r.code, 1, r.stderr); // nothing found
  for (const l of r.stdout.trim().split('\n')) JSON.parse(l); // standard output: JSON lines only
  const line = r.stderr.split('\n').find((l) => l.includes('left alone')) ?? '';
  assert.ok(line.includes('2 other files left alone'), r.stderr);
  assert.not.match(line, /[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/, `no raw control characters: ${JSON.stringify(line)}`);
  assert.ok(line.includes('".\\u001b[2j\\u001b]0;owned\\u0007" 1'), line);
  assert.ok(line.includes('".\\u202egpj" 1'), line);
});

test('embed DIR OUTDIR: every image marked at its mirrored path, 16-bit stays 16-bit; corrupt and tiny files fail alone, exit 2', async () => {
  const r = cli(embedArgs(IN, OUT, '--jobs', '2'));
  assert.is(r.code, 2, r.stderr);
  const { records, summary } = lines(r.stdout);
  const m = byFile(records);
  assert.equal(Object.keys(m).sort(), [...GOOD, ...Object.keys(BAD)].sort(), 'one line per image file');
  for (const f of GOOD) {
    assert.is(m[f].status, 'done', `${f}: ${JSON.stringify(m[f])}`);
    assert.is(m[f].payload, PAYLOAD);
    assert.is(m[f].output, path.join(OUT, f));
    assert.ok(fs.existsSync(path.join(OUT, f)), `${f} written`);
    assert.type(m[f].width, 'number');
  }
  for (const [f, code] of Object.entries(BAD)) {
    assert.is(m[f].status, 'error');
    assert.is(m[f].error.code, code, f);
    assert.ok(m[f].error.message.includes(f), m[f].error.message);
    assert.not.ok(fs.existsSync(path.join(OUT, f)), `${f} must not be written`);
    assert.ok(r.stderr.includes(f), 'the error is on stderr too');
  }
  assert.is(summary.command, 'embed');
  assert.is(summary.total, 8);
  assert.is(summary.done, 6);
  assert.is(summary.errors, 2);
  assert.is(summary.skipped, 0);
  assert.is(summary.interrupted, false);
  assert.type(summary.elapsedSeconds, 'number');
  assert.type(summary.filesPerSecond, 'number');
  // Formats are kept, no temporary file is left, the manifest never holds the key.
  assert.equal(tree(OUT), ['.modelmark-manifest.json', ...GOOD].sort());
  const manifestText = fs.readFileSync(path.join(OUT, '.modelmark-manifest.json'), 'utf8');
  const manifest = JSON.parse(manifestText);
  assert.equal(Object.keys(manifest.files).sort(), [...GOOD].sort());
  assert.is(manifest.files['aqua.jpg'].hash, inputHashes['aqua.jpg']);
  assert.not.ok(manifestText.includes(KEY), 'the key is never written');
  const moon = await sharp(path.join(OUT, 'moon.png')).metadata();
  assert.ok(moon.depth === 'ushort' && moon.channels === 1, `moon.png: ${moon.depth}, ${moon.channels} channels`);
  inputsUnchanged();
});

test('detect OUTDIR --json: one line per file with found true and the payload, then the summary; exit 0', () => {
  const r = cli(['detect', OUT, '--key', KEY, '--json']);
  assert.is(r.code, 0, r.stderr);
  const { records, summary } = lines(r.stdout);
  assert.is(records.length, GOOD.length);
  for (const rec of records) {
    assert.is(rec.status, 'done');
    assert.is(rec.found, true, rec.file);
    assert.is(rec.payload, PAYLOAD);
    assert.ok(rec.pValue < 1e-6, `${rec.file}: ${rec.pValue}`);
  }
  assert.equal(records.map((x) => path.relative(OUT, x.file)).sort(), [...GOOD].sort());
  assert.equal([summary.total, summary.done, summary.found, summary.notFound, summary.errors], [6, 6, 6, 0, 0]);
  assert.is(summary.manifest, null, 'detect keeps no manifest unless asked');
  // The files' evidence pooled: the mark is in the set, with a p-value of its own.
  const ev = summary.evidence;
  assert.equal([ev.count, ev.dof, ev.found], [6, 63, true]);
  assert.ok(ev.pValue < 1e-6 && ev.t > 5, JSON.stringify(ev));
  assert.not.ok('evidence' in records[0], 'the per-file lines do not carry the 64 numbers');
});

test('--jobs 1 and --jobs 2 (and 3: bin/ re-runs itself with a larger thread pool) write byte-identical outputs', () => {
  for (const jobs of [1, 3]) {
    const out = path.join(dir, `out-jobs${jobs}`);
    const r = cli(embedArgs(IN, out, `--jobs=${jobs}`));
    assert.is(r.code, 2);
    assert.is(lines(r.stdout).summary.jobs, jobs);
    for (const f of GOOD) assert.ok(fs.readFileSync(path.join(out, f)).equals(fs.readFileSync(path.join(OUT, f))), `--jobs ${jobs}: ${f} differs`);
  }
});

test('re-run skips every finished file (manifest); a changed input is redone alone; other options redo all', async () => {
  const again = cli(embedArgs(IN, OUT));
  assert.is(again.code, 2, 'the corrupt and tiny files still fail');
  let { records, summary } = lines(again.stdout);
  let m = byFile(records);
  for (const f of GOOD) assert.is(m[f].status, 'skipped', f);
  assert.equal([summary.done, summary.skipped, summary.errors], [0, 6, 2]);

  // Change one input and remove one output: only those two are redone.
  const changed = path.join(IN, 'moon.png');
  await sharp(path.join(PHOTOS, 'skimage-moon.png')).resize(384).flop().png().toFile(changed + '.new');
  fs.renameSync(changed + '.new', changed);
  const before = fs.readFileSync(path.join(OUT, 'moon.png'));
  fs.rmSync(path.join(OUT, 'sub', 'flower.jpg'));
  const redo = cli(embedArgs(IN, OUT));
  ({ records, summary } = lines(redo.stdout));
  m = byFile(records);
  assert.equal(GOOD.filter((f) => m[f].status === 'done').sort(), ['moon.png', 'sub/flower.jpg']);
  assert.equal([summary.done, summary.skipped, summary.errors], [2, 4, 2]);
  assert.not.ok(fs.readFileSync(path.join(OUT, 'moon.png')).equals(before), 'the changed input was re-marked');
  const manifest = JSON.parse(fs.readFileSync(path.join(OUT, '.modelmark-manifest.json'), 'utf8'));
  assert.is(manifest.files['moon.png'].hash, sha(changed));
  inputHashes['moon.png'] = sha(changed);
  // Each manifest salts its fingerprints with its own random salt: the same key and options give
  // another fingerprint in another manifest; a manifest without a salt (written before) keeps working.
  assert.match(manifest.salt, /^[0-9a-f]{32}$/);
  const otherOut = path.join(dir, 'out-salt');
  cli(embedArgs(path.join(IN, 'sub', 'deeper'), otherOut));
  const m2 = JSON.parse(fs.readFileSync(path.join(otherOut, '.modelmark-manifest.json'), 'utf8'));
  assert.ok(m2.salt !== manifest.salt);
  assert.ok(m2.files['rocket.jpg'].options !== manifest.files['sub/deeper/rocket.jpg'].options, 'fingerprints differ between manifests');
  const legacy = { ...m2 };
  delete legacy.salt;
  fs.writeFileSync(path.join(otherOut, '.modelmark-manifest.json'), JSON.stringify(legacy));
  assert.is(lines(cli(embedArgs(path.join(IN, 'sub', 'deeper'), otherOut)).stdout).summary.done, 1, 'a saltless manifest: files redone once');
  assert.is(lines(cli(embedArgs(path.join(IN, 'sub', 'deeper'), otherOut)).stdout).summary.skipped, 1, 'then skipped');
  fs.writeFileSync(path.join(otherOut, '.modelmark-manifest.json'), JSON.stringify({ ...m2, salt: 5 }));
  const damaged = cli(embedArgs(path.join(IN, 'sub', 'deeper'), otherOut));
  assert.is(damaged.code, 2);
  assert.match(damaged.stdout + damaged.stderr, /damaged salt/);

  // Another payload (or key) is another fingerprint: everything is redone.
  const other = cli(['embed', IN, OUT, '--key', KEY, '--payload', '1', '--json']);
  assert.is(lines(other.stdout).summary.done, 6);
  const back = cli(embedArgs(IN, OUT));
  assert.is(lines(back.stdout).summary.done, 6);
  const d = cli(['detect', path.join(OUT, 'moon.png'), '--key', KEY, '--json']);
  assert.is(JSON.parse(d.stdout).payload, PAYLOAD);
  inputsUnchanged();
});

test('detect --manifest: a re-run skips unchanged files and reports their recorded results', () => {
  const manifest = path.join(dir, 'detect-manifest.json');
  const first = cli(['detect', OUT, '--key', KEY, '--json', '--manifest', manifest]);
  assert.is(first.code, 0, first.stderr);
  assert.is(lines(first.stdout).summary.done, 6);
  const second = cli(['detect', OUT, '--key', KEY, '--json', '--manifest', manifest]);
  assert.is(second.code, 0);
  const { records, summary } = lines(second.stdout);
  assert.equal([summary.skipped, summary.found, summary.done], [6, 6, 0]);
  for (const r of records) assert.equal([r.status, r.found, r.payload], ['skipped', true, PAYLOAD]);
  // Skipped files count in the pooled evidence from their manifest records, to the last digit.
  assert.equal(summary.evidence, lines(first.stdout).summary.evidence);
  const recorded = Object.values(JSON.parse(fs.readFileSync(manifest, 'utf8')).files);
  assert.ok(recorded.every((f) => f.evidence.split(' ').length === 64), 'each record keeps its score and 63 references on one line');
  // A record whose evidence was cut (edited by hand) leaves that file out of the pooled count
  // and nothing else: the file is still skipped and reported.
  const m = JSON.parse(fs.readFileSync(manifest, 'utf8'));
  const first_ = Object.keys(m.files)[0];
  m.files[first_].evidence = m.files[first_].evidence.split(' ').slice(0, 10).join(' ');
  fs.writeFileSync(manifest, JSON.stringify(m));
  const cut = lines(cli(['detect', OUT, '--key', KEY, '--json', '--manifest', manifest]).stdout).summary;
  assert.equal([cut.skipped, cut.found, cut.evidence.count, cut.evidence.found], [6, 6, 5, true]);
  // Another key is another fingerprint: checked again, and not found (exit 1).
  const wrong = cli(['detect', OUT, '--key', 'another key', '--json', '--manifest', manifest]);
  assert.is(wrong.code, 1);
  assert.equal([lines(wrong.stdout).summary.done, lines(wrong.stdout).summary.notFound], [6, 6]);
  assert.is(lines(wrong.stdout).summary.evidence.found, false);
  // An embed manifest is not a detect manifest.
  const mixed = cli(['detect', OUT, '--key', KEY, '--manifest', path.join(OUT, '.modelmark-manifest.json')]);
  assert.is(mixed.code, 2);
  assert.match(mixed.stderr, /embed batch/);
});

test('OUTDIR == DIR and OUTDIR containing DIR are refused; an OUTDIR inside DIR is not read as input', () => {
  for (const out of [IN, path.join(IN, 'sub', '..'), dir]) {
    const r = cli(embedArgs(IN, out));
    assert.is(r.code, 2, out);
    assert.is(JSON.parse(r.stdout).error.code, 'ERR_INVALID_ARGUMENT');
    assert.match(r.stderr, /input folder/);
  }
  const inner = path.join(IN, 'marked');
  const r = cli(embedArgs(IN, inner));
  assert.is(r.code, 2);
  assert.is(lines(r.stdout).summary.done, 6);
  const again = cli(embedArgs(IN, inner));
  const { records } = lines(again.stdout);
  assert.is(records.length, 8, 'the files under OUTDIR are not inputs');
  assert.not.ok(records.some((x) => x.file.includes('marked')));
  fs.rmSync(inner, { recursive: true });
  inputsUnchanged();
});

test('saveIntervalAfter: the manifest is saved every half second while saves are quick, else ten times a save apart (at most 30 s), so saving a large manifest takes a tenth of the batch, not all of it', () => {
  assert.is(saveIntervalAfter(0), 500);
  assert.is(saveIntervalAfter(5), 500);
  assert.is(saveIntervalAfter(50), 500);
  assert.is(saveIntervalAfter(80), 800);
  assert.is(saveIntervalAfter(1200), 12000, 'an 80 MB manifest (200,000 files): 0.4 s to serialise, about a second with its write');
  assert.is(saveIntervalAfter(10_000), 30000);
  assert.is(saveIntervalAfter(NaN), 500);
});

// The manifest saver's behaviour when the manifest is too large to serialise (past about 1.5
// million files, where JSON.stringify throws "Invalid string length") or slow to write, made
// cheap here: JSON.stringify throws as V8 would once the manifest holds `from` files, and the
// manifest's rename is held back `ms`. The code under test is unchanged.
const manifestFiles = async (name, n) => {
  const folder = path.join(dir, name);
  fs.mkdirSync(folder, { recursive: true });
  for (let i = 0; i < n; i++) {
    await sharp({ create: { width: 160, height: 160, channels: 3, background: { r: i * 8, g: 90, b: 200 - i * 5 } } }).png().toFile(path.join(folder, `m${String(i).padStart(2, '0')}.png`));
  }
  return folder;
};
const block = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const isManifest = (v) => v !== null && typeof v === 'object' && v.format === 'modelmark-batch-manifest';
async function withStringify(wrap, run) {
  const original = JSON.stringify;
  JSON.stringify = function (value, ...rest) { return wrap(value, () => original.call(this, value, ...rest)); };
  try { return await run(); } finally { JSON.stringify = original; }
}
const TOO_LONG = (from, counter) => (value, go) => {
  if (isManifest(value) && Object.keys(value.files).length >= from) { counter.n++; throw new RangeError('Invalid string length'); }
  return go();
};

test('a manifest grown past what one JSON text holds: tried once (no serialising it again every interval), reported once at the end with the totals, and the CLI exits 2 after its summary', async () => {
  const input = await manifestFiles('too-long-in', 14);
  const tries = { n: 0 };
  let records = 0;
  const err = await withStringify(TOO_LONG(2, tries), () => runBatch({
    command: 'embed', input, output: path.join(dir, 'too-long-out'), key: KEY, payload: PAYLOAD, jobs: 1,
    // The batch spans several save intervals (half a second each).
    onRecord: () => { records++; block(150); },
  }).then(() => null, (e) => e));
  assert.ok(err, 'the batch reports the manifest it could not save');
  assert.is(err.code, 'ERR_FILE');
  assert.match(err.message, /with 14 files it has grown past what one JSON text can hold \(Invalid string length\); run the folder in parts/);
  assert.is(err.summary?.done, 14, 'with the totals');
  assert.is(records, 14);
  assert.is(tries.n, 1, `the manifest serialised in vain ${tries.n} times: once it is too long it stays so`);
  // The command line: the summary line, then the error, exit 2 (a preloaded module makes the manifest too long).
  const preload = path.join(dir, 'too-long.mjs');
  fs.writeFileSync(preload, `const o = JSON.stringify; JSON.stringify = function (v, ...r) { if (v && v.format === 'modelmark-batch-manifest' && Object.keys(v.files).length >= 2) throw new RangeError('Invalid string length'); return o.call(this, v, ...r); };\n`);
  const r = spawnSync(process.execPath, ['--import', preload, BIN, ...embedArgs(input, path.join(dir, 'too-long-cli'), '--jobs', '1')], { cwd: ROOT, env: baseEnv, encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 2, r.stderr);
  const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.is(out.at(-2).summary?.done, 14, 'the summary line, then the error');
  assert.match(out.at(-1).error?.message ?? '', /grown past what one JSON text can hold/);
  for (const [name, text] of [['stdout', r.stdout], ['stderr', r.stderr]]) {
    assert.is(text.split('grown past what one JSON text can hold').length - 1, 1, `said once on ${name}: ${text}`);
  }
});

test('a second Ctrl-C (saveManifestsNow) with a manifest too long to serialise: said as such, not V8\'s bare "Invalid string length"', async () => {
  const input = await manifestFiles('now-long-in', 4);
  const tries = { n: 0 };
  const again = await withStringify(TOO_LONG(0, tries), async () => {
    let found = [];
    await runBatch({
      command: 'embed', input, output: path.join(dir, 'now-long-out2'), key: KEY, payload: PAYLOAD, jobs: 1,
      onRecord: () => { if (found.length === 0) found = saveManifestsNow(); },
    }).catch(() => {});
    return found;
  });
  assert.is(again.length, 1, 'the manifest that could not be written is reported');
  assert.match(again[0].message, /^Cannot write the manifest ".*": with \d+ files? it has grown past what one JSON text can hold \(Invalid string length\); run the folder in parts/);
});

test('manifest saves never queue up behind a slow write: a change during a write waits for it, then the interval (no second copy of the text made meanwhile)', async () => {
  const input = await manifestFiles('slow-save-in', 24);
  const rename = fs.promises.rename;
  let pending = 0, overlapped = 0, made = 0, last = false;
  fs.promises.rename = async function (from, to, ...rest) {
    if (String(to).endsWith('.modelmark-manifest.json')) {
      pending++;
      await new Promise((r) => setTimeout(r, 1200));
      try { return await rename.call(this, from, to, ...rest); } finally { pending--; }
    }
    return rename.call(this, from, to, ...rest);
  };
  let records = 0;
  try {
    const s = await withStringify((value, go) => {
      if (isManifest(value) && !last) { made++; if (pending > 0) overlapped++; }
      return go();
    }, () => runBatch({
      command: 'embed', input, output: path.join(dir, 'slow-save-out'), key: KEY, payload: PAYLOAD, jobs: 1,
      onRecord: () => { if (++records === 24) last = true; else block(100); },
    }));
    assert.is(s.done, 24);
  } finally {
    fs.promises.rename = rename;
  }
  assert.ok(made >= 1, 'a save while the batch ran');
  assert.is(overlapped, 0, `${overlapped} of ${made} saves made their text while an earlier one was still being written`);
  const saved = JSON.parse(fs.readFileSync(path.join(dir, 'slow-save-out', '.modelmark-manifest.json'), 'utf8'));
  assert.is(Object.keys(saved.files).length, 24, 'the final save has every file');
});

test('defaultMemoryBudget: 512 MiB a worker, at most half the machine\'s memory, never under 512 MiB', () => {
  const GiB = 2 ** 30;
  assert.is(MEMORY_PER_JOB, 512 * 2 ** 20);
  assert.is(defaultMemoryBudget(2, 16 * GiB), GiB);
  assert.is(defaultMemoryBudget(64, 16 * GiB), 8 * GiB, '--jobs 64 on 16 GiB: half the memory, not 32 GiB');
  assert.is(defaultMemoryBudget(4, 0.5 * GiB), MEMORY_PER_JOB, 'a small machine still admits files of one worker\'s budget');
});

test('MemoryGate: admits within the budget in order of arrival; a task alone always runs', async () => {
  const gate = new MemoryGate(10);
  const admitted = [];
  const take = (name, px) => gate.take(px).then(() => admitted.push(name));
  await take('a', 4);
  await take('b', 4);
  const c = take('c', 5); // 8 + 5 > 10: waits
  const d = take('d', 1); // would fit, but waits behind c (first come, first served)
  await Promise.resolve();
  assert.equal(admitted, ['a', 'b']);
  assert.is(gate.holding, 8);
  gate.give(4); // 4 + 5 fits, then 9 + 1
  await Promise.all([c, d]);
  assert.equal(admitted, ['a', 'b', 'c', 'd']);
  assert.is(gate.holding, 10);
  const big = take('big', 50); // over the budget: waits until nothing is held, then runs alone
  gate.give(4);
  gate.give(5);
  await Promise.resolve();
  assert.is(admitted.length, 4);
  gate.give(1);
  await big;
  assert.equal(admitted.at(-1), 'big');
  assert.is(gate.holding, 50);
});

test('pixelBudget 1: one file at a time per worker, failures give their pixels back (no stall); bad budgets refused', async () => {
  const out = path.join(dir, 'out-budget');
  const batch = runBatch({ command: 'embed', input: IN, output: out, key: KEY, payload: PAYLOAD, jobs: 1, pixelBudget: 1, manifest: null });
  let timer;
  const stalled = new Promise((_, fail) => { timer = setTimeout(() => fail(new Error('the batch stalled: a task kept its pixels')), 60_000); });
  const summary = await Promise.race([batch, stalled]).finally(() => clearTimeout(timer));
  assert.is(summary.done, GOOD.length);
  // The tiny file fails after its pixels were admitted (too small to mark); the corrupt one at its header.
  assert.is(summary.errors, Object.keys(BAD).length);
  const wm = await createWatermarker({ key: KEY });
  const img = await readImage(path.join(out, 'sub', 'flower.jpg'));
  const r = wm.detect(img);
  assert.ok(r.found);
  assert.is(r.payload, PAYLOAD);
  for (const bad of [0, -1, Number.NaN, '8']) {
    const err = await runBatch({ command: 'embed', input: IN, output: out, key: KEY, payload: PAYLOAD, pixelBudget: bad }).then(() => null, (e) => e);
    assert.ok(err instanceof Error && /options\.pixelBudget/.test(err.message), `pixelBudget ${String(bad)}: ${err?.message}`);
  }
  inputsUnchanged();
});

test('runBatch: option names and the other command\'s options refused; an onRecord that throws stops the batch cleanly; a manifest where an output goes is refused; a 250-byte file name is written', async () => {
  const refused = async (o, ...mentions) => {
    const err = await runBatch(o).then(() => null, (e) => e);
    assert.ok(err && err.code === 'ERR_INVALID_ARGUMENT', `${JSON.stringify(Object.keys(o))}: ${err?.message}`);
    for (const m of mentions) assert.ok(err.message.includes(m), `${err.message} should mention ${m}`);
  };
  const base = { command: 'embed', input: IN, key: KEY, payload: PAYLOAD };
  await refused({ ...base, output: path.join(dir, 'never'), jbos: 1 }, '"jbos"');
  await refused({ command: 'detect', input: IN, key: KEY, strength: 9 }, 'options.strength', 'detect batch');
  await refused({ ...base, output: path.join(dir, 'never'), threshold: 1e-3 }, 'options.threshold');
  await refused({ ...base, output: path.join(dir, 'never'), signal: { aborted: true } }, 'options.signal', 'AbortSignal');
  assert.not.ok(fs.existsSync(path.join(dir, 'never')));
  // The manifest where a marked copy would go: refused before anything is written.
  const clash = path.join(dir, 'out-clash');
  await refused({ ...base, output: clash, manifest: path.join(clash, 'aqua.jpg') }, 'aqua.jpg', 'another path');
  // onRecord throws on its second call: runBatch rejects with that error once the files in
  // progress are done; no further calls, no temporary files, the files done are whole.
  const out = path.join(dir, 'out-throw');
  let calls = 0;
  const boom = new Error('the caller\'s own failure');
  const err = await runBatch({ ...base, output: out, jobs: 2, onRecord: () => { if (++calls === 2) throw boom; } }).then(() => null, (e) => e);
  assert.is(err, boom);
  assert.is(calls, 2, 'not called again after it threw');
  const written = tree(out);
  assert.equal(written.filter((f) => f.endsWith('.tmp')), [], 'no temporary files');
  for (const f of written.filter((f) => !f.startsWith('.modelmark'))) assert.ok((await sharp(path.join(out, f)).metadata()).width > 0, `${f} is whole`);
  // A 250-byte name (legal): the temporary file's name is shortened, the output written.
  const longIn = path.join(dir, 'in-long');
  fs.mkdirSync(longIn);
  const name = 'x'.repeat(246) + '.png';
  fs.copyFileSync(path.join(IN, 'moon.png'), path.join(longIn, name));
  const s = await runBatch({ ...base, input: longIn, output: path.join(dir, 'out-long'), jobs: 1 });
  assert.is(s.done, 1, JSON.stringify(s));
  assert.ok(fs.existsSync(path.join(dir, 'out-long', name)));
  inputsUnchanged();
});

test('runBatch: one batch per manifest (a live holder refuses, a dead one is taken over); dead writers\' temp files swept; a dangling link is an error record', async () => {
  const input = moonFolder('in-lock');
  fs.symlinkSync('/nonexistent/nowhere.jpg', path.join(input, 'broken.jpg'));
  const out = path.join(dir, 'out-lock');
  fs.mkdirSync(out);
  const manifest = path.join(out, '.modelmark-manifest.json');
  const live = spawn('sleep', ['30']);
  const deadPid = spawnSync('true').pid; // a process that has come and gone
  try {
    const base = { command: 'embed', input, output: out, key: KEY, payload: PAYLOAD, jobs: 1 };
    // Held by a running process: refused, nothing written.
    fs.writeFileSync(`${manifest}.lock`, `${live.pid}\n`);
    const err = await runBatch(base).then(() => null, (e) => e);
    assert.ok(err && err.code === 'ERR_FILE' && err.message.includes(`process ${live.pid}`), err?.message);
    assert.not.ok(fs.existsSync(path.join(out, 'moon.png')));
    // Left by a process that is gone: taken over, and released at the end.
    fs.writeFileSync(`${manifest}.lock`, `${deadPid}\n`);
    const staleTmp = path.join(out, `.moon.png.${deadPid}.0123456789ab.tmp`);
    const liveTmp = path.join(out, `.moon.png.${live.pid}.0123456789ab.tmp`);
    fs.writeFileSync(staleTmp, 'half a file');
    fs.writeFileSync(liveTmp, 'still being written');
    const records = [];
    const summary = await runBatch({ ...base, onRecord: (r) => records.push(r) });
    assert.is(summary.done, 1);
    assert.is(summary.errors, 1, 'the dangling link');
    const broken = records.find((r) => r.file.endsWith('broken.jpg'));
    assert.is(broken?.error?.code, 'ERR_FILE');
    assert.match(broken.error.message, /symbolic link to nothing readable/);
    assert.not.ok(fs.existsSync(`${manifest}.lock`), 'the lock is released');
    assert.not.ok(fs.existsSync(staleTmp), 'a dead writer\'s temporary file is swept');
    assert.ok(fs.existsSync(liveTmp), 'a live writer\'s is left alone');
  } finally {
    live.kill();
  }
});

test('runBatch with a manifest outside OUTDIR: a dead writer\'s temporary manifest beside it is swept; a live writer\'s, and other files\' temporaries, are left alone', async () => {
  const input = moonFolder('in-mtmp');
  const out = path.join(dir, 'out-mtmp');
  const side = path.join(dir, 'side-mtmp');
  fs.mkdirSync(side);
  const manifest = path.join(side, 'run.json');
  const live = spawn('sleep', ['30']);
  const deadPid = spawnSync('true').pid;
  try {
    const stale = path.join(side, `.run.json.${deadPid}.0123456789ab.tmp`);
    const liveTmp = path.join(side, `.run.json.${live.pid}.0123456789ab.tmp`);
    const other = path.join(side, `.notes.txt.${deadPid}.0123456789ab.tmp`);
    for (const f of [stale, liveTmp, other]) fs.writeFileSync(f, 'half a file');
    const summary = await runBatch({ command: 'embed', input, output: out, manifest, key: KEY, payload: PAYLOAD, jobs: 1 });
    assert.is(summary.done, 1);
    assert.ok(fs.existsSync(manifest), 'the manifest is written where asked');
    assert.not.ok(fs.existsSync(stale), 'the dead batch\'s temporary manifest is swept');
    assert.ok(fs.existsSync(liveTmp), 'a live writer\'s is left alone');
    assert.ok(fs.existsSync(other), 'another file\'s temporary is not the batch\'s to remove');
  } finally {
    live.kill();
  }
});

test('runBatch stops itself on what every later file would meet: the output folder removed mid-run (not made again) and a full disk (exit 2, summary, then the manifest error)', async () => {
  const input = path.join(dir, 'in-stop');
  fs.mkdirSync(input);
  for (let i = 0; i < 16; i++) fs.copyFileSync(path.join(IN, 'moon.png'), path.join(input, `m${String(i).padStart(2, '0')}.png`));
  const base = { command: 'embed', input, key: KEY, payload: PAYLOAD, jobs: 1 };
  // OUTDIR removed after the first file: no folder is made again; the batch stops with files
  // pending, and the manifest (inside the removed folder) cannot be saved: runBatch rejects with
  // that error, the totals on it.
  const out = path.join(dir, 'out-removed');
  const records = [];
  const err = await runBatch({ ...base, output: out, onRecord: (r) => {
    records.push(r);
    if (records.length === 1) fs.renameSync(out, `${out}.gone`); // gone at once (files in flight land in the moved folder)
  } }).then(() => null, (e) => e);
  assert.ok(err && err.code === 'ERR_FILE', err?.message);
  assert.match(err.message, /manifest.*a re-run does them again/);
  const s = err.summary;
  assert.ok(s, 'the error carries the summary');
  assert.match(s.stopped?.message ?? '', /was removed or replaced during the batch/);
  assert.ok(s.interrupted && s.pending > 0, JSON.stringify(s));
  assert.is(s.done + s.errors + s.pending, 16);
  assert.is(records.filter((r) => r.error?.stopsBatch).length, 1, 'one record says it stopped the batch');
  assert.not.ok(fs.existsSync(out), 'the removed output folder is not made again');
  // The same folder replaced by another one of the same name: also a stop, nothing written in it.
  const out2 = path.join(dir, 'out-replaced');
  let n = 0;
  const s2 = await runBatch({ ...base, output: out2, manifest: null, onRecord: () => {
    if (++n === 1) { fs.renameSync(out2, `${out2}.gone`); fs.mkdirSync(out2); }
  } });
  assert.match(s2.stopped?.message ?? '', /removed or replaced/);
  assert.equal(fs.readdirSync(out2).filter((f) => f.endsWith('.png')), [], 'nothing written into the folder put in its place');
  // A full disk (a 6 MB tmpfs, where this machine lets the test mount one): the CLI stops at the
  // first ENOSPC, prints the summary with "stopped", exits 2, and leaves no temporary files.
  const mnt = path.join(dir, 'small-disk');
  fs.mkdirSync(mnt);
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { stdio: 'ignore' }).status !== 0) {
    console.log('  (no tmpfs mount here: the full-disk case is not run; the folder cases above are)');
    return;
  }
  try {
    const r = cli(embedArgs(input, path.join(mnt, 'out'), '--jobs', '1'));
    assert.is(r.code, 2, r.stderr);
    const out3 = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const summary = out3.find((o) => o.summary)?.summary;
    assert.ok(summary, r.stdout);
    assert.match(summary.stopped?.message ?? '', /no space left on device \(ENOSPC\)/);
    assert.ok(summary.pending > 0 && summary.done >= 1, JSON.stringify(summary));
    assert.match(r.stderr, /stopping the batch/);
    assert.equal(fs.readdirSync(path.join(mnt, 'out')).filter((f) => f.endsWith('.tmp')), [], 'no temporary files');
  } finally {
    spawnSync('umount', [mnt]);
  }
});

test('writes stay inside OUTDIR when another process swaps a sub-folder for a link mid-run: writeImage insideFolder refuses, and a racing swapper never gets a file outside written', async () => {
  const { writeImage, folderId } = await import('../dist/node/index.js');
  const img = await readImage(path.join(IN, 'moon.png'));
  const root = fs.realpathSync(fs.mkdtempSync(path.join(dir, 'inside-')));
  const victims = path.join(dir, 'victims-static');
  fs.mkdirSync(victims);
  fs.writeFileSync(path.join(victims, 'x.png'), 'the victim\'s own file');
  fs.symlinkSync(victims, path.join(root, 'sub'));
  const err = await writeImage(path.join(root, 'sub', 'x.png'), img, { insideFolder: { path: root } }).then(() => null, (e) => e);
  assert.ok(err && err.code === 'ERR_FILE' && /Refusing to write/.test(err.message), err?.message);
  assert.is(fs.readFileSync(path.join(victims, 'x.png'), 'utf8'), 'the victim\'s own file');
  assert.equal(fs.readdirSync(victims), ['x.png'], 'no temporary file left there');
  const id = folderId(fs.statSync(root));
  assert.ok((await writeImage(path.join(root, 'ok.png'), img, { insideFolder: { path: root, id } })).size > 0);
  const err2 = await writeImage(path.join(root, 'ok2.png'), img, { insideFolder: { path: root, id: 'another' } }).then(() => null, (e) => e);
  assert.match(err2?.message ?? '', /removed or replaced/);
  // A real race: a child process flips OUT/sub between the real folder and a link to a folder
  // outside, every few milliseconds, while a batch writes 24 files into OUT/sub.
  const input = path.join(dir, 'in-race');
  fs.mkdirSync(path.join(input, 'sub'), { recursive: true });
  const race = path.join(dir, 'victims-race');
  fs.mkdirSync(race);
  for (let i = 0; i < 24; i++) {
    fs.copyFileSync(path.join(IN, 'moon.png'), path.join(input, 'sub', `m${i}.png`));
    fs.writeFileSync(path.join(race, `m${i}.png`), `victim ${i}`);
  }
  const out = path.join(dir, 'out-race');
  fs.mkdirSync(path.join(out, 'sub'), { recursive: true });
  const flipper = spawn(process.execPath, ['-e', `
    const fs = require('fs'), sub = ${JSON.stringify(path.join(out, 'sub'))}, hidden = sub + '.real';
    const nap = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    for (;;) {
      try { fs.renameSync(sub, hidden); fs.symlinkSync(${JSON.stringify(race)}, sub); } catch { nap(1); continue; }
      nap(4);
      try { fs.unlinkSync(sub); fs.renameSync(hidden, sub); } catch {}
      nap(4);
    }`], { stdio: 'ignore' });
  try {
    await runBatch({ command: 'embed', input, output: out, key: KEY, payload: PAYLOAD, jobs: 1, manifest: null });
  } finally {
    flipper.kill();
  }
  for (let i = 0; i < 24; i++) assert.is(fs.readFileSync(path.join(race, `m${i}.png`), 'utf8'), `victim ${i}`, `m${i}.png outside OUTDIR untouched`);
  assert.equal(fs.readdirSync(race).filter((f) => !/^m\d+\.png$/.test(f)), [], 'nothing left in the folder outside');
});

test('--no-follow-links: an image that is a symbolic link (e.g. to a file outside the folder) is an error record, never read or copied; followed by default', async () => {
  const input = path.join(dir, 'in-links');
  fs.mkdirSync(input);
  fs.copyFileSync(path.join(IN, 'moon.png'), path.join(input, 'real.png'));
  const secret = path.join(dir, 'secret-outside.png');
  fs.copyFileSync(path.join(IN, 'moon.png'), secret);
  fs.symlinkSync(secret, path.join(input, 'innocent.png'));
  const out = path.join(dir, 'out-links');
  const r = cli(embedArgs(input, out, '--no-follow-links'));
  assert.is(r.code, 2, r.stderr);
  const m = byFile(lines(r.stdout).records.map((x) => ({ ...x, file: path.join(IN, path.relative(input, x.file)) })));
  assert.is(m['real.png'].status, 'done');
  assert.is(m['innocent.png'].status, 'error');
  assert.match(m['innocent.png'].error.message, /symbolic link/);
  assert.not.ok(fs.existsSync(path.join(out, 'innocent.png')), 'the linked file is not copied into OUTDIR');
  // By default links to files are followed (documented), and the option is only for folders.
  const followed = await runBatch({ command: 'embed', input, output: path.join(dir, 'out-links-2'), key: KEY, payload: PAYLOAD, jobs: 1, manifest: null });
  assert.is(followed.done, 2);
  const single = cli(['embed', path.join(input, 'real.png'), path.join(dir, 'single.png'), '--key', KEY, '--payload', PAYLOAD, '--no-follow-links']);
  assert.is(single.code, 2);
  assert.match(single.stderr, /--no-follow-links is for folder runs/);
  // --jobs too: refused on a single file as --manifest is, where it was silently ignored.
  for (const args of [['embed', path.join(input, 'real.png'), path.join(dir, 'single.png'), '--key', KEY, '--payload', PAYLOAD, '--jobs', '2'],
    ['detect', path.join(input, 'real.png'), '--key', KEY, '--jobs', '2']]) {
    const r1 = cli(args);
    assert.is(r1.code, 2, `${args[0]}: ${r1.stderr}`);
    assert.match(r1.stderr, /--jobs is for folder runs/);
  }
  assert.not.ok(fs.existsSync(path.join(dir, 'single.png')));
});

test('argument errors: --jobs, --map with a folder, OUTDIR that is a file, a missing folder', () => {
  const bad = [
    [embedArgs(IN, path.join(dir, 'o'), '--jobs', '0'), '--jobs'],
    [embedArgs(IN, path.join(dir, 'o'), '--jobs', 'many'), '--jobs'],
    [['detect', IN, '--key', KEY, '--map', path.join(dir, 'map.png')], '--map'],
    [embedArgs(IN, path.join(IN, 'notes.txt')), 'not a folder'],
    [['detect', path.join(dir, 'nope'), '--key', KEY], 'nope'],
  ];
  for (const [args, mention] of bad) {
    const r = cli(args);
    assert.is(r.code, 2, args.join(' '));
    assert.ok(r.stderr.includes(mention), `${JSON.stringify(r.stderr)} should mention ${mention}`);
  }
  assert.not.ok(fs.existsSync(path.join(dir, 'o')));
});

test('Ctrl-C (SIGINT) mid-batch: files in progress finish, exit 130, the manifest is valid; the re-run does the rest', async () => {
  const many = path.join(dir, 'many');
  fs.mkdirSync(many);
  for (let i = 0; i < 40; i++) fs.copyFileSync(path.join(IN, GOOD[i % 4]), path.join(many, `${String(i).padStart(2, '0')}-${GOOD[i % 4]}`));
  const out = path.join(dir, 'many-out');
  const child = spawn(process.execPath, [BIN, ...embedArgs(many, out, '--jobs', '1')], { cwd: ROOT, env: baseEnv });
  let stdout = '';
  let sent = false;
  child.stdout.setEncoding('utf8').on('data', (d) => {
    stdout += d;
    if (!sent && stdout.includes('\n')) { sent = true; child.kill('SIGINT'); }
  });
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.is(code, 130);
  const { records, summary } = lines(stdout);
  assert.is(summary.interrupted, true);
  assert.ok(summary.pending > 0, `pending ${summary.pending}`);
  assert.is(records.length + summary.pending, 40);
  const manifest = JSON.parse(fs.readFileSync(path.join(out, '.modelmark-manifest.json'), 'utf8'));
  const done = records.filter((x) => x.status === 'done').map((x) => path.basename(x.file)).sort();
  assert.equal(Object.keys(manifest.files).sort(), done, 'the manifest records exactly the finished files');
  assert.equal(fs.readdirSync(out).filter((f) => f.endsWith('.tmp')), []);

  const rest = cli(embedArgs(many, out, '--jobs', '2'));
  assert.is(rest.code, 0, rest.stderr);
  const s = lines(rest.stdout).summary;
  assert.equal([s.skipped, s.done, s.errors], [done.length, 40 - done.length, 0]);
});

test('on a terminal: a progress bar on stderr, each result above it, a summary line on stdout', async () => {
  let out = '', err = '';
  const io = { stdout: { write: (s) => { out += s; } }, stderr: { isTTY: true, write: (s) => { err += s; } }, env: { MODELMARK_KEY: KEY } };
  assert.is(await main(['detect', OUT, '--jobs', '2'], io), 0);
  assert.match(out, /^detect: 6 files in [\d.]+ s \([\d.]+ files\/s, 2 jobs\): 6 checked, 0 unchanged \(skipped\), 0 failed; mark found in 6, missing in 0; pooled over 6 files, the key's mark is in the set \(t [\d.]+, p-value [\d.]+e-\d+\)\n$/);
  assert.match(err, /100% \| 6\/6 files/);
  assert.is(err.split(`found: payload ${PAYLOAD}`).length - 1, 6);
});

test('on a terminal, a file name cannot forge a result line or send escape sequences (control characters are escaped)', async () => {
  const input = path.join(dir, 'in-names');
  fs.mkdirSync(input);
  const evil = 'x.png (p-value 0.5)\nfound: payload c0ffee00deadbeef in stolen.png (p-value 2.7e-38)\n\u001b]0;owned\u0007z\u009b2J\u202egnp.png';
  fs.copyFileSync(path.join(IN, 'moon.png'), path.join(input, evil));
  let out = '', err = '';
  const io = { stdout: { write: (s) => { out += s; } }, stderr: { isTTY: true, write: (s) => { err += s; } }, env: { MODELMARK_KEY: KEY } };
  assert.is(await main(['detect', input, '--jobs', '1'], io), 1);
  assert.not.match(err, /\nfound: payload c0ffee00deadbeef/, 'no forged line');
  assert.not.ok(err.includes('\u001b]0;owned'), 'no raw escape sequence');
  assert.ok(err.includes('\\u001b]0;owned'), 'the name shown escaped');
  assert.not.ok(/[\u009b\u202e]/.test(err), 'no raw C1 control (CSI) or bidi override either');
});

test('runBatch re-run: an output cut short or replaced since the manifest recorded it (another size) is written again, not skipped', async () => {
  const input = path.join(dir, 'in-size');
  const out = path.join(dir, 'out-size');
  fs.mkdirSync(input);
  for (const f of ['aqua.jpg', 'chelsea.png']) fs.copyFileSync(path.join(IN, f), path.join(input, f));
  const base = { command: 'embed', input, output: out, key: KEY, payload: PAYLOAD, jobs: 1 };
  assert.is((await runBatch(base)).done, 2);
  const good = fs.readFileSync(path.join(out, 'aqua.jpg'));
  // A copy half-written by something else (a sync tool, a full disk outside modelmark): still there, but not whole.
  fs.writeFileSync(path.join(out, 'aqua.jpg'), good.subarray(0, good.length >> 1));
  const records = [];
  const s = await runBatch({ ...base, onRecord: (r) => records.push(r) });
  assert.equal([s.done, s.skipped, s.errors], [1, 1, 0]);
  assert.equal(Object.fromEntries(records.map((r) => [path.basename(r.file), r.status])), { 'aqua.jpg': 'done', 'chelsea.png': 'skipped' });
  assert.ok(fs.readFileSync(path.join(out, 'aqua.jpg')).equals(good), 'the whole marked copy is back');
});

test('batch worker, links not followed: an input swapped for a symbolic link after the listing is refused unread (O_NOFOLLOW)', async () => {
  // The race itself cannot be timed from here: the worker is given the path the listing saw, now a link.
  const { Worker } = await import('node:worker_threads');
  const outsider = path.join(dir, 'outsider.png');
  fs.copyFileSync(path.join(IN, 'moon.png'), outsider);
  const swapped = path.join(dir, 'in-swapped.png');
  fs.symlinkSync(outsider, swapped);
  const entry = new URL('../dist/node/batch-worker.js', import.meta.url).href;
  const run = (followLinks) => new Promise((resolve, reject) => {
    const w = new Worker(`const { parentPort } = require('node:worker_threads');
      import(${JSON.stringify(entry)}).then((m) => m.default({ input: ${JSON.stringify(swapped)} })).then((r) => parentPort.postMessage(r));`,
    { eval: true, workerData: { command: 'detect', key: KEY, followLinks } });
    w.once('message', (r) => { void w.terminate(); resolve(r); });
    w.once('error', reject);
  });
  const refused = await run(false);
  assert.is(refused.status, 'error');
  assert.is(refused.error.code, 'ERR_FILE');
  assert.match(refused.error.message, /became a symbolic link/);
  assert.is(refused.hash, undefined, 'never read');
  const followed = await run(true);
  assert.equal([followed.status, followed.hash], ['done', sha(outsider)], 'followed by default');
});

test('batch worker: an input swapped for a FIFO or a device after the listing is refused unread, never waited on or read without end', async () => {
  // As above, the worker is given the path the listing saw, now something other than a file: a
  // FIFO with no writer blocked its read for ever (the batch hung), /dev/zero was read into
  // gigabytes of memory.
  const { Worker } = await import('node:worker_threads');
  const fifo = path.join(dir, 'in-fifo.png');
  if (spawnSync('mkfifo', [fifo]).status !== 0) return; // no mkfifo here
  const device = path.join(dir, 'in-zero.png');
  fs.symlinkSync('/dev/zero', device);
  const entry = new URL('../dist/node/batch-worker.js', import.meta.url).href;
  const run = (input, followLinks) => new Promise((resolve, reject) => {
    const w = new Worker(`const { parentPort } = require('node:worker_threads');
      import(${JSON.stringify(entry)}).then((m) => m.default({ input: ${JSON.stringify(input)} })).then((r) => parentPort.postMessage(r));`,
    { eval: true, workerData: { command: 'detect', key: KEY, followLinks } });
    const timer = setTimeout(() => { void w.terminate(); resolve({ status: 'hung' }); }, 10000);
    w.once('message', (r) => { clearTimeout(timer); void w.terminate(); resolve(r); });
    w.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
  try {
    for (const [input, followLinks, kind] of [[fifo, true, 'FIFO'], [fifo, false, 'FIFO'], [device, true, 'device']]) {
      const r = await run(input, followLinks);
      assert.is(r.status, 'error', `${path.basename(input)} (followLinks ${followLinks}): ${r.status}`);
      assert.is(r.error.code, 'ERR_FILE');
      assert.match(r.error.message, new RegExp(`${kind}.*regular file`));
      assert.is(r.hash, undefined, 'never read');
    }
  } finally {
    // Release a read still blocked on the FIFO (before the fix), so that this process can end.
    fs.closeSync(fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK));
  }
});

test('runBatch: a second batch on the same manifest in this same process is refused while the first holds it (not taken over as a dead process\'s lock)', async () => {
  const input = moonFolder('in-lock-same');
  const out = path.join(dir, 'out-lock-same');
  const manifest = path.join(out, '.modelmark-manifest.json');
  const base = { command: 'embed', input, output: out, key: KEY, payload: PAYLOAD, jobs: 1 };
  let second;
  // onStart runs once the first batch holds the lock: the second starts right then.
  const first = await runBatch({ ...base, onStart: () => { second = runBatch(base).then(() => null, (e) => e); } });
  const err = await second;
  assert.is(first.done, 1);
  assert.ok(err && err.code === 'ERR_FILE' && /Another batch/.test(err.message), `the second batch is refused: ${err?.message ?? 'it ran'}`);
  assert.ok(err.message.includes(manifest), err.message);
  assert.not.ok(fs.existsSync(`${manifest}.lock`), 'the lock is released');
  const m = JSON.parse(fs.readFileSync(manifest, 'utf8'));
  assert.ok(m.files['moon.png'], 'the first batch\'s record is kept');
});

test('runBatch: an empty manifest lock is one being made, not a dead batch\'s: its id is waited for, and a live holder refuses', async () => {
  const input = moonFolder('in-lock-empty');
  const out = path.join(dir, 'out-lock-empty');
  fs.mkdirSync(out);
  const manifest = path.join(out, '.modelmark-manifest.json');
  const live = spawn('sleep', ['30']);
  try {
    // Another batch has just created its lock and not yet written its id: it does so 150 ms on.
    fs.writeFileSync(`${manifest}.lock`, '');
    const filled = new Promise((resolve) => setTimeout(() => { fs.writeFileSync(`${manifest}.lock`, `${live.pid}\n`); resolve(); }, 150));
    const err = await runBatch({ command: 'embed', input, output: out, key: KEY, payload: PAYLOAD, jobs: 1 }).then(() => null, (e) => e);
    await filled;
    assert.ok(err && err.code === 'ERR_FILE' && err.message.includes(`process ${live.pid}`), err?.message ?? 'the batch ran, taking the lock over');
    assert.not.ok(fs.existsSync(path.join(out, 'moon.png')), 'nothing written');
    assert.is(fs.readFileSync(`${manifest}.lock`, 'utf8'), `${live.pid}\n`, 'the holder\'s lock is left');
    // A lock left empty for good (its maker died before writing): taken over after the wait.
    fs.writeFileSync(`${manifest}.lock`, '');
    const summary = await runBatch({ command: 'embed', input, output: out, key: KEY, payload: PAYLOAD, jobs: 1 });
    assert.is(summary.done, 1);
    assert.not.ok(fs.existsSync(`${manifest}.lock`), 'the lock is released');
  } finally {
    live.kill();
  }
});

test('removeStaleLock: a stale manifest lock is removed, but one another batch put in its place meanwhile is left; a live takeover is waited for, a dead one removed', async () => {
  const { removeStaleLock } = await import('../dist/node/batch.js');
  const folder = path.join(dir, 'stale-lock');
  fs.mkdirSync(folder);
  const lock = path.join(folder, '.modelmark-manifest.json.lock');
  const live = spawn('sleep', ['30']);
  const deadPid = spawnSync('true').pid;
  try {
    fs.writeFileSync(lock, `${deadPid}\n`);
    assert.is(await removeStaleLock(lock, deadPid), true);
    assert.not.ok(fs.existsSync(lock), 'the stale lock is gone');
    assert.is(await removeStaleLock(lock, deadPid), true, 'already gone: nothing to do');
    // Judged stale from its dead holder, but replaced by a live batch's before the removal.
    fs.writeFileSync(lock, `${live.pid}\n`);
    assert.is(await removeStaleLock(lock, deadPid), false);
    assert.is(fs.readFileSync(lock, 'utf8'), `${live.pid}\n`, 'the live batch\'s lock is in place');
    assert.equal(fs.readdirSync(folder), ['.modelmark-manifest.json.lock'], 'nothing left aside');
    // Only the holder of LOCK.takeover removes a stale lock: a live one's is waited for, ...
    fs.writeFileSync(lock, `${deadPid}\n`);
    fs.writeFileSync(`${lock}.takeover`, `${live.pid}\n`);
    let released = false;
    const release = new Promise((resolve) => setTimeout(() => { released = true; fs.unlinkSync(`${lock}.takeover`); resolve(); }, 150));
    assert.is(await removeStaleLock(lock, deadPid), true);
    assert.ok(released, 'it waited for the takeover to be released');
    await release;
    assert.not.ok(fs.existsSync(lock), 'the stale lock is gone');
    // ... one left by a process that died holding it is removed.
    fs.writeFileSync(lock, `${deadPid}\n`);
    fs.writeFileSync(`${lock}.takeover`, `${deadPid}\n`);
    assert.is(await removeStaleLock(lock, deadPid), true);
    assert.equal(fs.readdirSync(folder), [], 'the stale lock and the dead takeover are gone, nothing left aside');
  } finally {
    live.kill();
  }
});

test('Ctrl-C twice: the quit at once still records in the manifest every file reported done (written synchronously before exit), and releases the lock', async () => {
  // Images so large (48 megapixels: over a third of the worker's 512 MiB budget each) that one
  // is in progress at a time, and it takes longer than the 250 ms within which a second SIGINT
  // counts as the same press: the file admitted as the one before is reported is still running
  // when the first Ctrl-C comes (files still waiting for memory are not started after it).
  const input = path.join(dir, 'in-quit');
  fs.mkdirSync(input);
  await sharp(path.join(PHOTOS, 'mate-Wood.jpg')).resize(8000, 6000, { fit: 'fill' }).jpeg({ quality: 90 }).toFile(path.join(input, '00.jpg'));
  const FILES = 5;
  for (let i = 1; i < FILES; i++) fs.copyFileSync(path.join(input, '00.jpg'), path.join(input, `${String(i).padStart(2, '0')}.jpg`));
  const out = path.join(dir, 'out-quit');
  const manifestPath = path.join(out, '.modelmark-manifest.json');
  const child = spawn(process.execPath, [BIN, ...embedArgs(input, out, '--jobs', '1')], { cwd: ROOT, env: baseEnv });
  let stdout = '';
  let first, second;
  child.stdout.setEncoding('utf8').on('data', (d) => {
    stdout += d;
    if (!stdout.includes('"status":"done"')) return;
    if (first === undefined) {
      first = performance.now();
      child.kill('SIGINT');
    } else if (second === undefined && performance.now() - first > 300) {
      // Right as a file is reported: its record is newer than the last periodic save (every 0.5 s).
      second = performance.now();
      child.kill('SIGINT');
    }
  });
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.ok(second !== undefined, 'the second Ctrl-C was sent while files were finishing (the batch did not end first)');
  assert.is(code, 130);
  const records = stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.not.ok(records.some((r) => r.summary), 'quit at once: no summary');
  const done = records.filter((r) => r.status === 'done').map((r) => path.basename(r.file)).sort();
  assert.ok(done.length >= 2, `files done: ${done.length}`);
  assert.ok(fs.existsSync(manifestPath), `no manifest written: none of the ${done.length} files reported done is recorded`);
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  assert.is(manifest.format, 'modelmark-batch-manifest');
  for (const f of done) assert.ok(manifest.files[f], `${f} was reported done but is not in the manifest (recorded: ${Object.keys(manifest.files).sort().join(' ')})`);
  for (const [f, e] of Object.entries(manifest.files)) {
    assert.ok(done.includes(f), `${f} is in the manifest but was not reported done`);
    assert.is(fs.statSync(path.join(out, f)).size, e.bytes, `${f}: its output is whole`);
  }
  assert.not.ok(fs.existsSync(`${manifestPath}.lock`), 'the lock is released');
  assert.equal(fs.readdirSync(out).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');
  // The re-run skips exactly the recorded files.
  const rest = cli(embedArgs(input, out, '--jobs', '1'));
  assert.is(rest.code, 0, rest.stderr);
  const s = lines(rest.stdout).summary;
  assert.equal([s.skipped, s.done, s.errors], [done.length, FILES - done.length, 0]);
});

test('manifest lock: three processes taking one stale lock over at once, many rounds: never two holders at once, and the lock names the one', async () => {
  // Each racer (test/helpers/lock-racer.mjs) calls takeLock on round r's manifest at the same
  // moment as the others, and keeps any lock it takes until it ends: two takers of one round would
  // both be running their batches on one manifest.
  const root = path.join(dir, 'lock-race');
  const ROUNDS = 100, RACERS = 3;
  const deadPid = spawnSync('true').pid;
  for (let r = 0; r < ROUNDS; r++) {
    fs.mkdirSync(path.join(root, String(r)), { recursive: true });
    fs.writeFileSync(path.join(root, String(r), 'm.json.lock'), `${deadPid}\n`);
  }
  const start = Date.now() + 1000; // all started by then
  const racers = Array.from({ length: RACERS }, () => spawn(process.execPath, [path.join(ROOT, 'test', 'helpers', 'lock-racer.mjs'), root, String(ROUNDS), String(start), '20'],
    { stdio: ['pipe', 'pipe', 'inherit'] }));
  const ended = racers.map((child) => new Promise((resolve) => child.on('close', resolve)));
  let results;
  try {
    results = await Promise.all(racers.map((child, i) => new Promise((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d) => {
        out += d;
        if (out.endsWith('\n')) resolve(JSON.parse(out));
      });
      ended[i].then((code) => reject(new Error(`racer exited ${code} before reporting`)));
    })));
  } finally {
    for (const child of racers) child.stdin.end(); // all have reported: they may end now
    await Promise.all(ended);
  }
  const twice = [];
  for (let r = 0; r < ROUNDS; r++) {
    const holders = results.filter((x) => x.held.includes(r)).map((x) => x.pid);
    if (holders.length > 1) twice.push(`round ${r}: ${holders.length} holders`);
    else {
      assert.is(holders.length, 1, `round ${r}: a racer takes the stale lock over (refused: ${JSON.stringify(results.map((x) => x.errors))})`);
      const lock = path.join(root, String(r), 'm.json.lock');
      assert.is(fs.readFileSync(lock, 'utf8'), `${holders[0]}\n`, `round ${r}: the lock names its holder`);
    }
  }
  assert.equal(twice, [], `rounds with two batches both holding the lock: ${twice.length} of ${ROUNDS}`);
  const left = fs.readdirSync(root).flatMap((r) => fs.readdirSync(path.join(root, r))).filter((f) => f !== 'm.json.lock');
  assert.equal(left, [], 'nothing left aside');
});

/** Spawn the CLI with the read end of its stdout closed at once (a reader that quit, as `| head` does). */
function spawnClosedStdout(args) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: baseEnv });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })));
}

test('standard output closed by its reader (`| head -1`): the batch stops as on SIGPIPE (files in progress finish), exit 141, quietly; manifest valid, no lock, no temporary file', async () => {
  const many = path.join(dir, 'closed-in');
  fs.mkdirSync(many);
  const N = 30;
  for (let i = 0; i < N; i++) fs.copyFileSync(path.join(IN, GOOD[i % 4]), path.join(many, `${String(i).padStart(2, '0')}-${GOOD[i % 4]}`));
  const out = path.join(dir, 'closed-out');
  const r = await spawnClosedStdout(embedArgs(many, out, '--jobs', '1'));
  assert.is(r.code, 141, `exit 128 + SIGPIPE, as a shell reports a producer its reader left; stderr: ${r.stderr}`);
  assert.not.match(r.stderr, /EPIPE|\n\s+at /, 'no EPIPE message, no stack trace');
  for (const l of r.stderr.split('\n').filter(Boolean)) assert.match(l, /^modelmark: /);
  const written = fs.readdirSync(out).filter((f) => !f.startsWith('.'));
  assert.ok(written.length < N / 2, `the batch stopped early: ${written.length} of ${N} files written`);
  const manifest = JSON.parse(fs.readFileSync(path.join(out, '.modelmark-manifest.json'), 'utf8'));
  assert.equal(Object.keys(manifest.files).sort(), written.sort(), 'the manifest records exactly the files written');
  assert.equal(fs.readdirSync(out).filter((f) => f.endsWith('.tmp') || f.endsWith('.lock')), []);
  // detect as well (no manifest): stops, 141.
  const d = await spawnClosedStdout(['detect', many, '--key', KEY, '--json', '--jobs', '1']);
  assert.is(d.code, 141, d.stderr);
  assert.not.match(d.stderr, /EPIPE/);
});

test('standard output failing (a full disk behind > file): the batch stops cleanly, exit 2, said once; manifest valid, no lock, no temporary file', async () => {
  if (!fs.existsSync('/dev/full')) return;
  const out = path.join(dir, 'full-out');
  const fd = fs.openSync('/dev/full', 'w');
  let r;
  try {
    r = spawnSync(process.execPath, [BIN, ...embedArgs(IN, out, '--jobs', '1')], { cwd: ROOT, env: baseEnv, stdio: ['ignore', fd, 'pipe'], encoding: 'utf8' });
  } finally {
    fs.closeSync(fd);
  }
  assert.is(r.status, 2, r.stderr);
  assert.is(r.stderr.match(/cannot write to standard output/g)?.length, 1, r.stderr);
  for (const l of r.stderr.split('\n').filter(Boolean)) assert.match(l, /^modelmark: /);
  const manifest = JSON.parse(fs.readFileSync(path.join(out, '.modelmark-manifest.json'), 'utf8'));
  assert.ok(Object.keys(manifest.files).length < GOOD.length, 'stopped before the end');
  assert.equal(fs.readdirSync(out, { recursive: true }).map(String).filter((f) => f.endsWith('.tmp') || f.endsWith('.lock')), []);
});

test('a slow reader (backpressure): 300 JSON lines, none lost or cut, then the summary', async () => {
  const many = path.join(dir, 'slow-in');
  fs.mkdirSync(many);
  const N = 300;
  // Files that fail at their header: quick to process, each a long error line (the pipe's buffer fills).
  for (let i = 0; i < N; i++) fs.writeFileSync(path.join(many, `not-really-an-image-with-a-long-name-${String(i).padStart(3, '0')}.jpg`), 'not an image');
  const child = spawn(process.execPath, [BIN, 'detect', many, '--key', KEY, '--json', '--jobs', '2'], { cwd: ROOT, env: baseEnv });
  child.stderr.resume(); // its error lines: read, so that only standard output is slow
  child.stdout.pause();
  let stdout = '';
  child.stdout.setEncoding('utf8');
  // Read nothing until the output has filled the pipe (the child then waits on it), then all of it.
  await new Promise((resolve) => child.stdout.once('readable', resolve));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  child.stdout.on('data', (d) => { stdout += d; });
  child.stdout.resume();
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.is(code, 2);
  const { records, summary } = lines(stdout);
  assert.is(records.length, N);
  assert.is(new Set(records.map((x) => x.file)).size, N);
  assert.ok(records.every((x) => x.status === 'error' && x.error.code === 'ERR_DECODE'));
  assert.equal([summary.total, summary.errors, summary.done], [N, N, 0]);
  assert.ok(stdout.length > 65536, `more than a pipe's buffer: ${stdout.length} bytes`);
});

test('standard error closed by its reader: the batch runs to the end, its JSON lines and summary on stdout, exit 2 for its failed files', async () => {
  const child = spawn(process.execPath, [BIN, 'detect', IN, '--key', KEY, '--json', '--jobs', '1'], { cwd: ROOT, env: baseEnv });
  child.stderr.destroy();
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.is(code, 2, stdout.slice(-400));
  const { records, summary } = lines(stdout);
  assert.ok(summary.errors >= 1 && summary.errors === records.filter((x) => x.status === 'error').length, `${summary.errors} errors`);
  assert.is(records.length, summary.total);
});

test('MemoryGate.request: a waiting request withdrawn holds nothing and lets the ones behind it in; withdrawing after admission does nothing', () => {
  const gate = new MemoryGate(10);
  const admitted = [];
  gate.request(8, () => admitted.push('a'));
  const withdrawB = gate.request(5, () => admitted.push('b')); // waits: 8 + 5 > 10
  gate.request(2, () => admitted.push('c')); // would fit, but waits behind b
  assert.equal(admitted, ['a']);
  assert.is(gate.waiting, 2);
  withdrawB(); // c is at the head now, and fits
  assert.equal(admitted, ['a', 'c']);
  assert.is(gate.holding, 10);
  assert.is(gate.waiting, 0);
  withdrawB(); // a second time: nothing
  gate.give(8);
  gate.give(2);
  assert.is(gate.holding, 0);
});

test('MemoryGate.request with own bytes (a top-up): goes before the queue, and counts as alone when only its own bytes are held', () => {
  const gate = new MemoryGate(10);
  const admitted = [];
  gate.request(6, () => admitted.push('file')); // a large file's bytes
  gate.request(6, () => admitted.push('other')); // waits: 6 + 6 > 10
  gate.request(3, () => admitted.push('top-up'), 6); // 6 + 3 fits: in before 'other', which came first
  assert.equal(admitted, ['file', 'top-up']);
  assert.is(gate.holding, 9);
  gate.request(20, () => admitted.push('big top-up'), 9); // over the budget, but the caller holds all that is held
  assert.equal(admitted, ['file', 'top-up', 'big top-up']);
  gate.give(29);
  assert.equal(admitted, ['file', 'top-up', 'big top-up', 'other']);
  // A top-up that must wait for another holder waits at the head, and is admitted when it ends.
  const late = [];
  gate.request(3, () => late.push('own file'));
  gate.request(2, () => late.push('queued')); // 6 + 3 + 2 > 10: waits
  gate.request(5, () => late.push('top-up'), 3); // 9 + 5 > 10, and 'other' holds 6
  assert.equal(late, ['own file']);
  gate.give(6); // 'other' ends: the top-up (3 + 5), then 8 + 2
  assert.equal(late, ['own file', 'top-up', 'queued']);
  assert.is(gate.holding, 10);
});

/**
 * Replay a GATE_TRACE log: the most files held at once over the batch, and the most held at once
 * by different worker threads; every admission released, nothing held at the end. A large file's
 * 'file' admission is followed by its 'top-up', each adding to what it holds.
 */
function replayGate(events) {
  const holding = new Map(); // file -> thread
  let most = 0, mostThreads = 0;
  for (const e of events) {
    if (e.event === 'admit' && e.phase === 'top-up') {
      assert.is(holding.get(e.file), e.thread, `${e.file}: its top-up follows its bytes' admission, on the same thread`);
    } else if (e.event === 'admit') {
      assert.not.ok(holding.has(e.file), `${e.file} admitted twice`);
      holding.set(e.file, e.thread);
      most = Math.max(most, holding.size);
      mostThreads = Math.max(mostThreads, new Set(holding.values()).size);
    } else {
      assert.is(holding.get(e.file), e.thread, `${e.file} released by the thread it was admitted for`);
      holding.delete(e.file);
    }
    assert.is(e.held, events.slice(0, events.indexOf(e) + 1).reduce((n, x) => n + (x.event === 'admit' ? x.bytes : -x.bytes), 0), 'held: what was admitted and not released');
  }
  assert.is(holding.size, 0, 'every admitted file released');
  return { most, mostThreads, threads: new Set(events.map((e) => e.thread)).size };
}

test('memoryBudget: files over the budget are held one at a time across the whole batch (--jobs 2), not one per worker; ordinary files run at once without waiting', async () => {
  // Several copies of two small images, so both workers get files.
  const src = path.join(dir, 'gate-in');
  fs.mkdirSync(src, { recursive: true });
  for (let i = 0; i < 5; i++) {
    fs.copyFileSync(path.join(IN, 'aqua.jpg'), path.join(src, `a${i}.jpg`));
    fs.copyFileSync(path.join(IN, 'moon.png'), path.join(src, `m${i}.png`));
  }
  const run = async (memoryBudget) => {
    const events = [];
    const summary = await runBatch({ command: 'detect', input: src, key: KEY, jobs: 2, manifest: null, ...(memoryBudget ? { memoryBudget } : {}), [GATE_TRACE]: (e) => events.push(e) });
    assert.is(summary.done, 10);
    assert.is(events.filter((e) => e.event === 'admit').length, 10, 'every file admitted once');
    return { events, ...replayGate(events) };
  };
  // Each file counts for its decoded samples x 3 plus its bytes: aqua.jpg (480 wide) and moon.png
  // (384x384) about 1 MB each.
  const small = await run(100_000); // every file over the budget
  for (const e of small.events.filter((x) => x.event === 'admit')) {
    const file = path.join(src, e.file);
    const m = await sharp(file).metadata();
    const samples = m.width * m.height * (m.channels === 1 ? 1 : m.hasAlpha ? 4 : 3) * (m.depth === 'ushort' ? 2 : 1);
    assert.is(e.bytes, 3 * samples + fs.statSync(file).size, `${e.file}: samples x 3 + the file`);
    assert.ok(e.bytes > 100_000, `${e.file}: ${e.bytes} bytes counted, over the budget`);
  }
  assert.is(small.threads, 2, 'both workers had files (so a per-worker bound would have let two in at once)');
  assert.is(small.most, 1, 'never two files over the budget held at once');
  assert.ok(small.events.filter((e) => e.event === 'admit').slice(1).every((e) => e.waited), 'each file after the first waited for the one before');

  const ordinary = await run(undefined); // the default, 512 MiB a worker
  assert.ok(ordinary.events.every((e) => e.event === 'release' || !e.waited), 'no ordinary file waited for memory');
  assert.ok(ordinary.most > 2, `files held at once: ${ordinary.most}`);
  // (Whether both workers hold files at the same moment is up to piscina's scheduling and the
  // machine's load, so it is not asserted; small.threads above shows both workers had files.)
  inputsUnchanged();
});

test('memoryBudget: a file over EARLY_FILE_BYTES asks for its bytes before it is read, one at a time, then for its pixels; all within the budget, skips included', async () => {
  // Three noise PNGs (incompressible: just over 16 MiB each) and a small photo, two workers, a
  // budget that holds one large file's bytes and pixels but not two large files' bytes.
  const src = path.join(dir, 'early-in');
  fs.mkdirSync(src, { recursive: true });
  const side = Math.ceil(Math.sqrt(EARLY_FILE_BYTES / 3)) + 16;
  for (const name of ['n1.png', 'n2.png', 'n3.png']) {
    const noise = randomBytes(side * side * 3);
    await sharp(noise, { raw: { width: side, height: side, channels: 3 } }).png({ compressionLevel: 1 }).toFile(path.join(src, name));
    assert.ok(fs.statSync(path.join(src, name)).size > EARLY_FILE_BYTES, `${name} is over ${EARLY_FILE_BYTES} bytes`);
  }
  fs.copyFileSync(path.join(IN, 'moon.png'), path.join(src, 'moon.png'));
  const fileBytes = fs.statSync(path.join(src, 'n1.png')).size;
  const memoryBudget = 3 * side * side * 3 + fileBytes + fileBytes / 2;
  const manifest = path.join(dir, 'early-manifest.json');
  const run = async () => {
    const events = [];
    const summary = await runBatch({ command: 'detect', input: src, key: KEY, jobs: 2, memoryBudget, manifest, [GATE_TRACE]: (e) => events.push(e) });
    replayGate(events);
    return { summary, events };
  };
  const { summary, events } = await run();
  assert.is(summary.done, 4);
  for (const name of ['n1.png', 'n2.png', 'n3.png']) {
    const mine = events.filter((e) => e.file === name);
    assert.equal(mine.map((e) => e.phase ?? e.event), ['file', 'top-up', 'release'], `${name}: its bytes, then its pixels, then all back`);
    assert.is(mine[0].bytes, fs.statSync(path.join(src, name)).size, `${name}: the file's bytes asked for before it is read`);
    assert.is(mine[0].bytes + mine[1].bytes, 3 * side * side * 3 + mine[0].bytes, `${name}: in all, its samples x 3 and its bytes`);
  }
  const small = events.filter((e) => e.file === 'moon.png' && e.event === 'admit');
  assert.is(small.length, 1, 'a small file asks once');
  assert.is(small[0].phase, undefined);
  // Never two large files between their asks, and never more held than the budget unless one file holds it all.
  const between = new Set(), holders = new Set();
  for (const e of events) {
    if (e.phase === 'file') between.add(e.file);
    else between.delete(e.file); // its top-up, or it ended without one
    if (e.event === 'admit') holders.add(e.file);
    else holders.delete(e.file);
    assert.ok(between.size <= 1, `one large file at a time between its two asks: ${[...between]}`);
    assert.ok(e.held <= memoryBudget || holders.size <= 1, `${e.held} bytes held by ${[...holders]} after ${e.event} of ${e.file}`);
  }
  // A re-run skips every file by its hash, taken a megabyte at a time: no file asks, however large.
  const again = await run();
  assert.is(again.summary.skipped, 4);
  assert.equal(again.events, [], 'no skipped file asks the gate');
  // A large file changed since is read and marked again, its new hash recorded.
  const n2 = path.join(src, 'n2.png');
  await sharp(randomBytes(side * side * 3), { raw: { width: side, height: side, channels: 3 } }).png({ compressionLevel: 1 }).toFile(n2);
  const third = await run();
  assert.is(third.summary.skipped, 3);
  assert.is(third.summary.done, 1);
  assert.equal(third.events.map((e) => `${e.file} ${e.phase ?? e.event}`), ['n2.png file', 'n2.png top-up', 'n2.png release']);
  const recorded = JSON.parse(fs.readFileSync(manifest, 'utf8')).files['n2.png'].hash;
  assert.is(recorded, createHash('sha256').update(fs.readFileSync(n2)).digest('hex'), 'the manifest holds the changed file\'s hash');
  fs.rmSync(src, { recursive: true, force: true });
  fs.rmSync(manifest, { force: true });
});

test('signal: the batch\'s abort listener is removed when it ends, so a signal shared by many batches keeps none of them', async () => {
  const src = path.join(dir, 'signal-in');
  fs.mkdirSync(src, { recursive: true });
  fs.copyFileSync(path.join(IN, 'moon.png'), path.join(src, 'moon.png'));
  const controller = new AbortController();
  const summary = await runBatch({ command: 'detect', input: src, key: KEY, jobs: 1, manifest: null, signal: controller.signal });
  assert.is(summary.done, 1);
  assert.is(getEventListeners(controller.signal, 'abort').length, 0, 'no abort listener left on the signal');
  fs.rmSync(src, { recursive: true, force: true });
});

test('a stopped batch starts no file still waiting for memory: aborted at the first admission, the others waiting (for the gate or the early slot) end pending, unrecorded', async () => {
  // Two files over EARLY_FILE_BYTES and four small ones, one worker (5 handed out at once), a
  // budget of one byte: one file at a time, every other one waits for the gate or the slot.
  const src = path.join(dir, 'stop-in');
  fs.mkdirSync(src, { recursive: true });
  const side = Math.ceil(Math.sqrt(EARLY_FILE_BYTES / 3)) + 16;
  for (const name of ['b1.png', 'b2.png']) {
    await sharp(randomBytes(side * side * 3), { raw: { width: side, height: side, channels: 3 } }).png({ compressionLevel: 1 }).toFile(path.join(src, name));
  }
  for (let i = 0; i < 4; i++) fs.copyFileSync(path.join(IN, 'moon.png'), path.join(src, `m${i}.png`));
  const manifest = path.join(dir, 'stop-manifest.json');
  const controller = new AbortController();
  const events = [];
  let abortedAt = -1;
  const records = [];
  const summary = await runBatch({
    command: 'detect', input: src, key: KEY, jobs: 1, memoryBudget: 1, manifest, signal: controller.signal, onRecord: (r) => records.push(r),
    [GATE_TRACE]: (e) => {
      events.push(e);
      if (abortedAt < 0 && e.event === 'admit') { abortedAt = events.length; controller.abort(); }
    },
  });
  replayGate(events);
  assert.ok(abortedAt > 0);
  assert.equal(events.slice(abortedAt).filter((e) => e.event === 'admit'), [], 'no file admitted after the abort');
  // The file admitted first finishes (unless it was a large file's bytes: its top-up is refused).
  const first = events[0];
  const finished = first.phase === 'file' ? 0 : 1;
  assert.is(summary.done, finished, JSON.stringify(summary));
  assert.is(records.length, finished);
  assert.is(summary.pending, 6 - finished, 'every other file pending, handed out or not');
  assert.is(summary.interrupted, true);
  assert.is(Object.keys(JSON.parse(fs.readFileSync(manifest, 'utf8')).files).length, finished, 'only the finished file recorded');
  // The re-run does the rest.
  const rest = await runBatch({ command: 'detect', input: src, key: KEY, jobs: 2, manifest });
  assert.equal([rest.done, rest.skipped, rest.pending, rest.errors], [6 - finished, finished, 0, 0]);
  fs.rmSync(src, { recursive: true, force: true });
  fs.rmSync(manifest, { force: true });
});

test('a stopped batch starts no file still waiting for memory, even one that withdrawing another\'s request or handing on the early slot would let in', async () => {
  // Three files over EARLY_FILE_BYTES, one worker: b1 is admitted for its bytes, then its pixels;
  // b2 (larger) then takes the early slot and waits at the gate, b3 waits for the slot. The
  // budget holds b1 and b3's bytes but not b1 and b2's. Aborted then: withdrawing b2 handed the
  // slot to b3, which fitted and was admitted before its own request was answered.
  const src = path.join(dir, 'stop-race-in');
  fs.mkdirSync(src, { recursive: true });
  const noise = async (name, bytes) => {
    const side = Math.ceil(Math.sqrt(bytes / 3)) + 16;
    await sharp(randomBytes(side * side * 3), { raw: { width: side, height: side, channels: 3 } }).png({ compressionLevel: 1 }).toFile(path.join(src, name));
    return { side, size: fs.statSync(path.join(src, name)).size };
  };
  const b1 = await noise('b1.png', EARLY_FILE_BYTES);
  const b2 = await noise('b2.png', 1.5 * EARLY_FILE_BYTES);
  const b3 = await noise('b3.png', EARLY_FILE_BYTES);
  const memoryBudget = 3 * b1.side * b1.side * 3 + b1.size + (b2.size + b3.size) / 2;
  const controller = new AbortController();
  const events = [];
  let abortedAt = -1;
  const summary = await runBatch({
    command: 'detect', input: src, key: KEY, jobs: 1, memoryBudget, manifest: null, signal: controller.signal,
    [GATE_TRACE]: (e) => {
      events.push(e);
      // Once the first file's top-up has handed on the early slot.
      if (abortedAt < 0 && e.phase === 'top-up') setImmediate(() => { abortedAt = events.length; controller.abort(); });
    },
  });
  replayGate(events);
  assert.ok(abortedAt > 0);
  assert.equal(events.slice(abortedAt).filter((e) => e.event === 'admit'), [], 'no file admitted after the abort');
  assert.equal([summary.done, summary.pending, summary.interrupted], [1, 2, true]);
  fs.rmSync(src, { recursive: true, force: true });
});

test('--memory-budget sets the batch\'s memory budget (bytes, K, M or G, binary), reported in the summary with the default otherwise; bad values and single images refused', () => {
  for (const [text, bytes] of [['300M', 300 * 2 ** 20], ['1.5G', 1.5 * 2 ** 30], ['64MiB', 64 * 2 ** 20], ['2048', 2048], ['512kb', 512 * 1024], ['1 g', 2 ** 30]]) {
    assert.is(parseMemoryBudget({ 'memory-budget': text }), bytes, text);
  }
  assert.is(parseMemoryBudget({}), undefined);
  const r = cli(['detect', IN, '--key', KEY, '--jobs', '2', '--memory-budget', '300M', '--json']);
  assert.is(r.code, 2, 'IN holds a corrupt file and a tiny one');
  assert.is(lines(r.stdout).summary.memoryBudget, 300 * 2 ** 20);
  const d = cli(['detect', IN, '--key', KEY, '--jobs', '2', '--json']);
  assert.is(lines(d.stdout).summary.memoryBudget, defaultMemoryBudget(2, os.totalmem()), 'the default, reported');
  for (const bad of ['0', '-1', 'abc', '5x', '', '1e9', '0.1']) {
    const b = cli(['detect', IN, '--key', KEY, '--memory-budget', bad]);
    assert.is(b.code, 2, `${bad}: ${b.stderr}`);
    assert.match(b.stderr, /--memory-budget/, bad);
  }
  const one = cli(['detect', path.join(IN, 'moon.png'), '--key', KEY, '--memory-budget', '1G']);
  assert.is(one.code, 2);
  assert.match(one.stderr, /--memory-budget is for folder runs/);
});

test('memoryBudget and pixelBudget: bad values refused, not both at once; a 16-bit image counts 2 bytes a sample', async () => {
  for (const bad of [0, -1, Number.NaN, '8']) {
    const err = await runBatch({ command: 'detect', input: IN, key: KEY, memoryBudget: bad }).then(() => null, (e) => e);
    assert.ok(err instanceof Error && /options\.memoryBudget/.test(err.message), `memoryBudget ${String(bad)}: ${err?.message}`);
  }
  const both = await runBatch({ command: 'detect', input: IN, key: KEY, memoryBudget: 1e9, pixelBudget: 1e6 }).then(() => null, (e) => e);
  assert.ok(both?.code === 'ERR_INVALID_ARGUMENT' && /pixelBudget/.test(both.message), both?.message);
  const src = path.join(dir, 'gate-deep');
  fs.mkdirSync(src, { recursive: true });
  const deep = path.join(src, 'deep.png');
  await sharp({ create: { width: 300, height: 200, channels: 3, background: '#808080' } }).png().toColourspace('rgb16').toFile(deep);
  const events = [];
  const summary = await runBatch({ command: 'detect', input: src, key: KEY, jobs: 1, manifest: null, [GATE_TRACE]: (e) => events.push(e) });
  assert.is(summary.done, 1);
  assert.is(events[0].bytes, 3 * 300 * 200 * 3 * 2 + fs.statSync(deep).size);
});

test.run();
