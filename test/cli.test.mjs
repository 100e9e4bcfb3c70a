// The `modelmark` command line (spawned as `node bin/modelmark.js`) and the modelmark/node file
// IO it is built on: round trips, exit codes, JSON output, key handling, never overwriting the
// input, atomic output, format choice and error reporting.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { readImage } from '../dist/node/index.js';
import { main } from '../dist/cli/main.js';
import { COLLAGE_KEY, COLLAGE_PAYLOAD, pastedCollage, SECOND_PAYLOAD, twoPieceCollage } from './helpers/collage.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'modelmark.js');
const PHOTOS = new URL('../../shared/photos/', import.meta.url);
const KEY = 'cli test key';
const PAYLOAD = 'c0ffee0000000001';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmark-cli-'));
const file = (name) => path.join(dir, name);
const { MODELMARK_KEY: _drop, ...baseEnv } = process.env;

/** Run the CLI; returns { code, stdout, stderr }. */
function cli(args, env = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...baseEnv, ...env }, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Run several CLI invocations concurrently (the spawns dominate this file's run time). */
function cliAll(argsList, env = {}) {
  return Promise.all(argsList.map((args) => new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...baseEnv, ...env } });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  })));
}

/** The single JSON line a --json run prints. */
function jsonLine(stdout) {
  const lines = stdout.split('\n').filter((l) => l !== '');
  assert.is(lines.length, 1, `expected exactly one line, got ${JSON.stringify(stdout)}`);
  assert.ok(stdout.endsWith('\n'));
  return JSON.parse(lines[0]);
}

/** An error run: exit 2, `modelmark: ...` on stderr without a stack trace, mentioning each string. */
function failed(r, ...mentions) {
  assert.is(r.code, 2, `expected exit 2, got ${r.code}; stderr: ${r.stderr}`);
  assert.match(r.stderr, /^modelmark: \S/);
  assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
  for (const m of mentions) assert.ok(r.stderr.includes(m), `stderr ${JSON.stringify(r.stderr)} should mention ${m}`);
}

const tmpFiles = () => fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));
const bytes = (p) => fs.readFileSync(p);
const format = async (p) => (await sharp(p).metadata()).format;

const storm = file('storm.jpg');
const flower = file('flower.png');
test.before(async () => {
  await sharp(fileURLToPath(new URL('mate-Storm.jpg', PHOTOS))).resize(640).jpeg({ quality: 92 }).toFile(storm);
  await sharp(fileURLToPath(new URL('mate-YellowFlower.jpg', PHOTOS))).resize(512).png().toFile(flower);
});
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

// ---- help and usage ----

test('--help, help and --version exit 0; no arguments prints usage and exits 2', () => {
  for (const args of [['--help'], ['-h'], ['help'], ['help', 'embed'], ['detect', '--help']]) {
    const r = cli(args);
    assert.is(r.code, 0, args.join(' '));
    assert.match(r.stdout, /Usage:/);
    assert.match(r.stdout, /modelmark embed IN OUT/);
    assert.match(r.stdout, /MODELMARK_KEY/);
  }
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const v = cli(['--version']);
  assert.is(v.code, 0);
  assert.is(v.stdout.trim(), `modelmark ${pkg.version}`);
  const none = cli([]);
  assert.is(none.code, 2);
  assert.match(none.stderr, /Usage:/);
});

test('--help matches the parser: every flag of a usage line is known to its command, every flag a command knows is on one of its usage lines and under Options', async () => {
  // In process (main with a captured io), each probe a lone `--flag=x`: the parser rejects an
  // unknown flag before anything runs, and a known one fails later on the missing arguments.
  const run = async (args) => {
    let out = '', err = '';
    const io = { stdout: { write: (s) => { out += s; return true; } }, stderr: { write: (s) => { err += s; return true; } }, env: {} };
    const code = await main(args, io);
    return { code, out, err };
  };
  const help = (await run(['--help'])).out;
  const flagsOf = (text) => new Set(text.match(/--[a-z][a-z-]*/g) ?? []);
  const usage = help.slice(help.indexOf('Usage:'), help.indexOf('\nCommands:'));
  const byCommand = {};
  for (const entry of usage.split(/\n(?= {2}modelmark )/).slice(1)) {
    const command = entry.trim().split(/\s+/)[1];
    if (['embed', 'detect', 'extract', 'train-deep'].includes(command)) for (const f of flagsOf(entry)) (byCommand[command] ??= new Set()).add(f);
  }
  assert.equal(Object.keys(byCommand).sort(), ['detect', 'embed', 'extract', 'train-deep']);
  const described = [...flagsOf(help.slice(help.indexOf('\nOptions:')))].filter((f) => f !== '--help' && f !== '--version');
  const known = async (command, flag) => {
    const r = await run([command, `${flag}=x`]);
    assert.is(r.code, 2, `${command} ${flag}=x ran: ${r.out}`);
    return !r.err.includes('unknown option');
  };
  for (const [command, listed] of Object.entries(byCommand)) {
    for (const f of listed) {
      assert.ok(await known(command, f), `--help lists ${f} for ${command}, which its parser refuses`);
      assert.ok(described.includes(f), `${f} (usage of ${command}) is not described under Options`);
    }
    for (const f of described) {
      if (await known(command, f)) assert.ok(listed.has(f), `${command} takes ${f}, which none of its usage lines in --help lists`);
    }
  }
});

test('unknown command, unknown flag, missing value, extra arguments: exit 2 naming the problem', () => {
  failed(cli(['mark', storm]), 'unknown command "mark"');
  failed(cli(['detect', storm, '--key', KEY, '--fast']), '--fast');
  failed(cli(['detect', storm, '--key', KEY, '--payload', PAYLOAD]), '--payload'); // embed-only flag
  failed(cli(['detect', storm, '--key']), '--key', 'value');
  failed(cli(['detect', storm, '--key', KEY, '--threshold', '-1']), '--threshold needs a value', '--threshold=-VALUE');
  failed(cli(['detect', storm, storm, '--key', KEY]), 'one image');
  failed(cli(['embed', storm, '--key', KEY, '--payload', PAYLOAD]), 'IN and OUT');
  const j = cli(['detect', storm, '--key', KEY, '--fast', '--json']);
  failed(j, '--fast');
  const e = jsonLine(j.stdout);
  assert.is(e.error.code, 'ERR_INVALID_ARGUMENT');
  assert.match(e.error.message, /--fast/);
});

// ---- round trip ----

test('embed then detect: exit 0, one-line summary, --json gives found and the payload', async () => {
  const out = file('marked.jpg');
  const e = cli(['embed', storm, out, '--key', KEY, '--payload', PAYLOAD]);
  assert.is(e.code, 0, e.stderr);
  assert.is(e.stderr, '');
  assert.is(e.stdout.split('\n').filter(Boolean).length, 1);
  assert.ok(e.stdout.includes(PAYLOAD) && e.stdout.includes(out), e.stdout);
  assert.match(e.stdout, /PSNR \d+\.\d dB/);
  assert.is(await format(out), 'jpeg');

  const d = cli(['detect', out, '--key', KEY, '--json']);
  assert.is(d.code, 0, d.stderr);
  const r = jsonLine(d.stdout);
  assert.is(r.found, true);
  assert.is(r.payload, PAYLOAD);
  assert.type(r.pValue, 'number');
  assert.ok(r.pValue < 1e-6, `pValue ${r.pValue}`);
  assert.type(r.score, 'number');
  assert.is(r.width, 640);
  assert.is(r.height, (await sharp(storm).metadata()).height);
  // The other fields the README documents for detect --json: the check, the settings, the
  // geometry found and the region map (one score per cell).
  assert.is(r.crcOk, true);
  assert.equal([r.file, r.format, r.threshold], [out, 'jpeg', 1e-6]);
  assert.type(r.transform?.rotation, 'number');
  assert.ok(Number.isInteger(r.regions?.columns) && Number.isInteger(r.regions.rows) && r.regions.scores.length === r.regions.columns * r.regions.rows,
    `regions: ${JSON.stringify(r.regions)}`);

  const human = cli(['detect', out, '--key', KEY]);
  assert.is(human.code, 0);
  assert.match(human.stdout, new RegExp(`^found: payload ${PAYLOAD}`));

  // --threshold is honoured: demanding an impossible p-value turns the result into "not found".
  const strict = cli(['detect', out, '--key', KEY, '--threshold', '1e-300', '--json']);
  assert.is(strict.code, 1);
  assert.is(jsonLine(strict.stdout).found, false);
  failed(cli(['detect', out, '--key', KEY, '--threshold', 'tiny']), '--threshold', 'tiny');
  failed(cli(['detect', out, '--key', KEY, '--threshold', '0.9']), '--threshold');
});

test('detect on an unmarked image, or with the wrong key: exit 1, found false, payload null', () => {
  const r = cli(['detect', storm, '--key', KEY, '--json']);
  assert.is(r.code, 1, r.stderr);
  const j = jsonLine(r.stdout);
  assert.is(j.found, false);
  assert.is(j.payload, null);
  assert.type(j.pValue, 'number');
  assert.ok(j.pValue > 1e-6);
  const human = cli(['detect', storm, '--key', KEY]);
  assert.is(human.code, 1);
  assert.match(human.stdout, /^not found/);

  const out = file('wrong-key.png');
  assert.is(cli(['embed', storm, out, '--key', KEY, '--payload', '1']).code, 0);
  const other = cli(['detect', out, '--key', 'another key', '--json']);
  assert.is(other.code, 1);
  assert.is(jsonLine(other.stdout).found, false);
});

test('MODELMARK_KEY supplies the key; --key overrides it; no key at all is exit 2 with advice', () => {
  const out = file('env.png');
  const e = cli(['embed', storm, out, '--payload', 'abc'], { MODELMARK_KEY: KEY });
  assert.is(e.code, 0, e.stderr);
  const d = cli(['detect', out, '--json'], { MODELMARK_KEY: KEY });
  assert.is(d.code, 0, d.stderr);
  assert.is(jsonLine(d.stdout).payload, '0000000000000abc');
  assert.is(cli(['detect', out], { MODELMARK_KEY: 'wrong' }).code, 1);
  assert.is(cli(['detect', out, '--key', KEY], { MODELMARK_KEY: 'wrong' }).code, 0);

  const none = cli(['detect', out]);
  failed(none, 'MODELMARK_KEY', '--key');
  const noneJson = cli(['detect', out, '--json']);
  failed(noneJson, 'MODELMARK_KEY');
  assert.is(jsonLine(noneJson.stdout).error.code, 'ERR_INVALID_ARGUMENT');
  failed(cli(['detect', out], { MODELMARK_KEY: '' }), 'MODELMARK_KEY', 'empty');
  failed(cli(['detect', out, '--key', '']), '--key', 'empty');
});

test('--key-file: a text file (LF or CRLF) is the same key as --key; a binary key file; - reads standard input; a folder batch takes it', async () => {
  const text = file('key.txt'), crlf = file('key-crlf.txt'), bin = file('key.bin');
  fs.writeFileSync(text, `${KEY}\n`);
  fs.writeFileSync(crlf, `${KEY}\r\n`);
  fs.writeFileSync(bin, Buffer.from([0xff, 0x00, 0xfe, 0x80, 0x0a, 0x41, 0xc3]));
  const out = file('keyfile.png');
  const e = cli(['embed', storm, out, '--payload', PAYLOAD, '--key-file', text]);
  assert.is(e.code, 0, e.stderr);
  const [byKey, byCrlf, byText] = await cliAll([['detect', out, '--key', KEY, '--json'], ['detect', out, '--key-file', crlf, '--json'], ['detect', out, '--key-file', text, '--json']]);
  for (const r of [byKey, byCrlf, byText]) assert.is(jsonLine(r.stdout).payload, PAYLOAD, r.stderr);
  // The file's exact bytes (less one line ending) are the key: a key with a trailing space is another key.
  fs.writeFileSync(file('key-space.txt'), `${KEY} \n`);
  assert.is(cli(['detect', out, '--key-file', file('key-space.txt')]).code, 1);

  const binOut = file('keyfile-bin.png');
  assert.is(cli(['embed', storm, binOut, '--payload', PAYLOAD, '--key-file', bin]).code, 0);
  const piped = spawnSync(process.execPath, [BIN, 'detect', binOut, '--key-file', '-', '--json'], { cwd: ROOT, env: baseEnv, input: fs.readFileSync(bin), encoding: 'utf8' });
  assert.is(piped.status, 0, piped.stderr);
  assert.is(jsonLine(piped.stdout).payload, PAYLOAD);
  assert.is(cli(['detect', binOut, '--key', KEY]).code, 1, 'another key');

  // A folder batch: the binary key goes to the worker pool as bytes.
  const inDir = file('keyfile-in'), outDir = file('keyfile-out');
  fs.mkdirSync(inDir);
  fs.copyFileSync(storm, path.join(inDir, 'a.jpg'));
  fs.copyFileSync(flower, path.join(inDir, 'b.png'));
  const be = cli(['embed', inDir, outDir, '--payload', PAYLOAD, '--key-file', bin, '--jobs', '1', '--json']);
  assert.is(be.code, 0, be.stderr);
  const bd = cli(['detect', outDir, '--key-file', bin, '--jobs', '1', '--json']);
  assert.is(bd.code, 0, bd.stderr);
  const records = bd.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.file);
  assert.equal(records.map((r) => [r.payload, r.found]), [[PAYLOAD, true], [PAYLOAD, true]]);
});

test('--key-file refusals: missing, a folder, empty, over 4096 bytes, with --key, - with IN -, with --deep; the key never shown', () => {
  const secret = 'TOPSECRET-' + 'k'.repeat(5000);
  fs.writeFileSync(file('big.key'), secret);
  fs.writeFileSync(file('empty.key'), '\n');
  failed(cli(['detect', storm, '--key-file', file('nope.key')]), '--key-file', 'nope.key', 'no such file');
  failed(cli(['detect', storm, '--key-file', dir]), '--key-file', 'folder');
  failed(cli(['detect', storm, '--key-file', file('empty.key')]), '--key-file', 'empty');
  const big = cli(['detect', storm, '--key-file', file('big.key'), '--json']);
  failed(big, '--key-file', '4096 bytes');
  assert.is(jsonLine(big.stdout).error.code, 'ERR_INVALID_ARGUMENT');
  assert.not.match(big.stdout + big.stderr, /TOPSECRET/);
  failed(cli(['detect', storm, '--key', KEY, '--key-file', file('big.key')]), '--key and --key-file');
  const both = spawnSync(process.execPath, [BIN, 'detect', '-', '--key-file', '-'], { cwd: ROOT, env: baseEnv, input: fs.readFileSync(storm), encoding: 'utf8' });
  assert.is(both.status, 2);
  assert.match(both.stderr, 'both read standard input');
  failed(cli(['embed', storm, file('deep-keyfile.png'), '--deep', '--key-file', file('big.key')]), '--key-file', '--deep');
});

// ---- files: never overwrite IN, atomic OUT ----

test('embed IN IN is refused: exit 2 and IN is byte-for-byte unchanged (also via a symlink)', () => {
  const copy = file('precious.jpg');
  fs.copyFileSync(storm, copy);
  const before = bytes(copy);
  failed(cli(['embed', copy, copy, '--key', KEY, '--payload', PAYLOAD]), 'overwrite', copy);
  const link = file('precious-link.jpg');
  fs.symlinkSync(copy, link);
  failed(cli(['embed', copy, link, '--key', KEY, '--payload', PAYLOAD]), 'overwrite');
  failed(cli(['embed', link, copy, '--key', KEY, '--payload', PAYLOAD]), 'overwrite');
  assert.ok(bytes(copy).equals(before), 'IN must not change');
  assert.equal(tmpFiles(), []);
});

test('a failing embed creates no OUT and leaves no temporary files', async () => {
  const corrupt = file('corrupt.jpg');
  fs.writeFileSync(corrupt, Buffer.concat([bytes(storm).subarray(0, 300), Buffer.alloc(2000, 0xaa)]));
  const cases = [
    [['embed', corrupt, file('o1.jpg'), '--key', KEY, '--payload', PAYLOAD], 'o1.jpg'],
    [['embed', storm, file('o2.bmp'), '--key', KEY, '--payload', PAYLOAD], 'o2.bmp'],
    [['embed', storm, file('o3.png'), '--key', KEY, '--payload', '1'.repeat(17)], 'o3.png'],
    [['embed', storm, file('o4.png'), '--key', KEY, '--payload', PAYLOAD, '--strength', '50'], 'o4.png'],
    [['embed', storm, file('o5.png'), '--payload', PAYLOAD], 'o5.png'],
    [['embed', file('missing.jpg'), file('o6.png'), '--key', KEY, '--payload', PAYLOAD], 'o6.png'],
    [['embed', storm, path.join(dir, 'no-such-dir', 'o7.png'), '--key', KEY, '--payload', PAYLOAD], 'no-such-dir'],
  ];
  const results = await cliAll(cases.map(([args]) => args));
  results.forEach((r, i) => {
    failed(r);
    assert.not.ok(fs.existsSync(file(cases[i][1])), `${cases[i][1]} must not be created`);
  });
  assert.equal(tmpFiles(), []);
});

test('embed over an existing OUT replaces it completely', async () => {
  const out = file('existing.png');
  fs.writeFileSync(out, 'stale');
  assert.is(cli(['embed', flower, out, '--key', KEY, '--payload', PAYLOAD]).code, 0);
  assert.is(await format(out), 'png');
  assert.is(cli(['detect', out, '--key', KEY]).code, 0);
  assert.equal(tmpFiles(), []);
});

// ---- formats ----

test("OUT keeps IN's format unless its extension names another; the mark survives each save", async () => {
  const webp = file('in.webp');
  await sharp(flower).webp({ quality: 95 }).toFile(webp);
  const cases = [
    [flower, file('a.png'), 'png'],
    [flower, file('a.jpg'), 'jpeg'],
    [storm, file('b.jpeg'), 'jpeg'],
    [storm, file('b.webp'), 'webp'],
    [storm, file('b.png'), 'png'],
    [storm, file('noext-from-jpeg'), 'jpeg'],
    [flower, file('noext-from-png'), 'png'],
    [webp, file('noext-from-webp'), 'webp'],
  ];
  const embeds = await cliAll(cases.map(([input, out]) => ['embed', input, out, '--key', KEY, '--payload', PAYLOAD]));
  const detects = await cliAll(cases.map(([, out]) => ['detect', out, '--key', KEY, '--json']));
  for (const [i, [, out, fmt]] of cases.entries()) {
    assert.is(embeds[i].code, 0, embeds[i].stderr);
    assert.is(await format(out), fmt, out);
    assert.is(detects[i].code, 0, `${out}: ${detects[i].stdout}`);
    assert.is(jsonLine(detects[i].stdout).payload, PAYLOAD);
  }
  // An input format modelmark cannot write (SVG, which sharp renders) needs an explicit extension.
  const svg = file('in.svg');
  fs.writeFileSync(svg, '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240"><rect width="320" height="240" fill="#4a7"/>' +
    '<circle cx="160" cy="120" r="90" fill="#e83"/><text x="40" y="130" font-size="40">modelmark</text></svg>');
  failed(cli(['embed', svg, file('noext-from-svg'), '--key', KEY, '--payload', PAYLOAD]), 'svg', 'extension');
  assert.is(cli(['embed', svg, file('from-svg.png'), '--key', KEY, '--payload', PAYLOAD]).code, 0);
});

test('--quality sets JPEG quality (default 95); out of range is exit 2', () => {
  const hi = file('q95.jpg'), lo = file('q50.jpg');
  assert.is(cli(['embed', storm, hi, '--key', KEY, '--payload', PAYLOAD]).code, 0);
  assert.is(cli(['embed', storm, lo, '--key', KEY, '--payload', PAYLOAD, '--quality', '50']).code, 0);
  assert.ok(fs.statSync(lo).size < fs.statSync(hi).size * 0.8);
  failed(cli(['embed', storm, file('q0.jpg'), '--key', KEY, '--payload', PAYLOAD, '--quality', '0']), '--quality');
  failed(cli(['embed', storm, file('qx.jpg'), '--key', KEY, '--payload', PAYLOAD, '--quality', 'high']), '--quality', 'high');
});

test('grey stays grey, alpha is kept, 16-bit input is read as 8-bit', async () => {
  const { data, info } = await sharp(flower).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
  const grey = file('grey.png');
  await sharp(data, { raw: { width: info.width, height: info.height, channels: 1 } }).toColourspace('b-w').png().toFile(grey);
  const g = await readImage(grey);
  assert.is(g.channels, 1);
  const greyOut = file('grey-marked.png');
  assert.is(cli(['embed', grey, greyOut, '--key', KEY, '--payload', PAYLOAD]).code, 0);
  assert.is((await sharp(greyOut).metadata()).channels, 1);
  assert.is(cli(['detect', greyOut, '--key', KEY]).code, 0);

  // Grey + alpha becomes RGBA; the alpha plane comes out exactly as it went in.
  const ga = Buffer.alloc(data.length * 2);
  for (let i = 0; i < data.length; i++) { ga[2 * i] = data[i]; ga[2 * i + 1] = (i % info.width) & 0xff; }
  const greyAlpha = file('grey-alpha.png');
  await sharp(ga, { raw: { width: info.width, height: info.height, channels: 2 } }).toColourspace('b-w').png().toFile(greyAlpha);
  const a = await readImage(greyAlpha);
  assert.is(a.channels, 4);
  assert.is(a.data[3], 0);
  assert.is(a.data[4 * 7 + 3], 7);
  const alphaOut = file('alpha-marked.png');
  assert.is(cli(['embed', greyAlpha, alphaOut, '--key', KEY, '--payload', PAYLOAD]).code, 0);
  const back = await readImage(alphaOut);
  assert.is(back.channels, 4);
  for (let i = 0; i < back.width * back.height; i++) {
    if (back.data[4 * i + 3] !== a.data[4 * i + 3]) assert.unreachable(`alpha changed at pixel ${i}`);
  }

  const deep = file('deep.png');
  await sharp(storm).toColourspace('rgb16').png().toFile(deep);
  assert.is((await sharp(deep).metadata()).depth, 'ushort');
  const d = await readImage(deep);
  const s = await readImage(storm);
  assert.is(d.channels, 3);
  assert.is(d.data.length, s.data.length);
  let diff = 0;
  for (let i = 0; i < d.data.length; i++) diff = Math.max(diff, Math.abs(d.data[i] - s.data[i]));
  assert.ok(diff <= 1, `16-bit to 8-bit differs by ${diff}`);
});

test('16-bit PNG in: 16-bit PNG out with its low bits kept (JPEG out: 8-bit); detect reads both', async () => {
  const deep = file('deep16.png');
  await sharp(storm).toColourspace('rgb16').png().toFile(deep);
  const d = await readImage(deep, { keepDepth: true });
  assert.ok(d.data instanceof Uint16Array && d.channels === 3);
  assert.ok(d.data.some((v) => v % 257 !== 0), 'the input uses all 16 bits');
  const out = file('deep16-marked.png'), jpg = file('deep16-marked.jpg');
  const [png, toJpeg] = await cliAll([
    ['embed', deep, out, '--key', KEY, '--payload', PAYLOAD, '--json'],
    ['embed', deep, jpg, '--key', KEY, '--payload', PAYLOAD],
  ]);
  assert.is(png.code, 0, png.stderr);
  const j = jsonLine(png.stdout);
  assert.is(j.bits, 16);
  assert.ok(j.psnr > 38, `PSNR ${j.psnr}`);
  assert.is(toJpeg.code, 0, toJpeg.stderr);
  assert.match(toJpeg.stdout, /JPEG quality 95/);
  const meta = await sharp(out).metadata();
  assert.is(meta.depth, 'ushort');
  const m = await readImage(out, { keepDepth: true });
  assert.ok(m.data instanceof Uint16Array && m.data.length === d.data.length);
  let changed = 0;
  for (let i = 0; i < m.data.length; i++) {
    const diff = m.data[i] - d.data[i];
    if (diff !== 0) changed++;
    if (diff % 257 !== 0 && m.data[i] !== 0 && m.data[i] !== 65535) assert.unreachable(`sample ${i} moved by ${diff}: not a whole 8-bit step`);
  }
  assert.ok(changed > m.data.length / 8, `only ${changed} samples changed`);
  assert.is((await sharp(jpg).metadata()).depth, 'uchar');
  for (const f of [out, jpg]) {
    const r = jsonLine(cli(['detect', f, '--key', KEY, '--json']).stdout);
    assert.ok(r.found && r.payload === PAYLOAD, `${f}: ${JSON.stringify(r)}`);
  }
  // readImage keeps 8-bit files 8-bit with keepDepth
  assert.ok((await readImage(storm, { keepDepth: true })).data instanceof Uint8Array);
});

// ---- bad input ----

test('corrupt, truncated, missing and non-image inputs: exit 2 with a message naming the file', () => {
  const corrupt = file('bad.jpg');
  fs.writeFileSync(corrupt, Buffer.concat([bytes(storm).subarray(0, 300), Buffer.alloc(2000, 0xaa)]));
  failed(cli(['detect', corrupt, '--key', KEY]), corrupt, 'decode');
  const j = cli(['detect', corrupt, '--key', KEY, '--json']);
  failed(j, corrupt);
  const err = jsonLine(j.stdout).error;
  assert.is(err.code, 'ERR_DECODE');
  assert.ok(err.message.includes(corrupt));

  const half = file('half.jpg');
  fs.writeFileSync(half, bytes(storm).subarray(0, bytes(storm).length >> 1));
  failed(cli(['detect', half, '--key', KEY]), half, 'truncated');

  const text = file('readme.png');
  fs.writeFileSync(text, 'not an image at all');
  failed(cli(['detect', text, '--key', KEY]), text, 'not an image');

  const missing = file('nope.jpg');
  const m = cli(['detect', missing, '--key', KEY, '--json']);
  failed(m, missing, 'no such file');
  assert.is(jsonLine(m.stdout).error.code, 'ERR_FILE');
  failed(cli(['detect', dir, '--key', KEY]), dir, 'directory');
});

test('- as IN and OUT: the image through standard input and output, the report on standard error', async () => {
  const run = (args, input) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, env: baseEnv, input, timeout: 60_000 });
    if (r.error) throw r.error;
    return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
  };
  const e = run(['embed', '-', '-', '--key', KEY, '--payload', PAYLOAD], bytes(storm));
  assert.is(e.code, 0, e.stderr);
  const m = await sharp(e.stdout).metadata();
  assert.equal([m.format, m.width], ['jpeg', 640], 'a JPEG, as IN');
  assert.match(e.stderr, /^marked standard input -> standard output: payload c0ffee0000000001/);
  const d = run(['detect', '-', '--key', KEY, '--json'], e.stdout);
  assert.is(d.code, 0, d.stderr);
  assert.is(JSON.parse(d.stdout.toString('utf8')).payload, PAYLOAD);

  // --format picks the format on standard output; --json then goes to standard error.
  const p = run(['embed', storm, '-', '--key', KEY, '--payload', PAYLOAD, '--format', 'png', '--json'], Buffer.alloc(0));
  assert.is(p.code, 0, p.stderr);
  assert.is((await sharp(p.stdout).metadata()).format, 'png');
  assert.is(JSON.parse(p.stderr).format, 'png');
  // and names the format of an OUT without an extension.
  const noExt = file('no-extension');
  assert.is(run(['embed', '-', noExt, '--key', KEY, '--payload', PAYLOAD, '--format', 'webp'], bytes(storm)).code, 0);
  assert.is(await format(noExt), 'webp');

  // Not an image: exit 2 naming standard input, nothing on standard output, the JSON error on standard error.
  const bad = run(['embed', '-', '-', '--key', KEY, '--payload', PAYLOAD, '--json'], Buffer.from('not an image'));
  assert.is(bad.code, 2);
  assert.is(bad.stdout.length, 0);
  assert.ok(bad.stderr.includes('"standard input"'));
  assert.is(JSON.parse(bad.stderr.split('\n').filter(Boolean).at(-1)).error.code, 'ERR_DECODE');

  // --format errors: an unknown one, one that contradicts OUT's extension, one for a folder.
  failed(cli(['embed', storm, file('x.png'), '--key', KEY, '--payload', PAYLOAD, '--format', 'bmp']), '--format', 'jpeg, png, webp, gif, avif or tiff');
  failed(cli(['embed', storm, file('x.png'), '--key', KEY, '--payload', PAYLOAD, '--format', 'jpeg']), '--format jpeg', 'png');
  failed(cli(['embed', dir, file('outdir'), '--key', KEY, '--payload', PAYLOAD, '--format', 'png']), '--format', 'folder');
  // The extensions' spellings are formats too (jpg was refused before), in any case.
  for (const [flag, format] of [['jpg', 'jpeg'], ['JPG', 'jpeg'], ['tif', 'tiff'], ['PNG', 'png']]) {
    const r = cli(['embed', storm, file(`alias-${flag}`), '--key', KEY, '--payload', PAYLOAD, '--format', flag, '--json']);
    assert.is(r.code, 0, r.stderr);
    assert.is(jsonLine(r.stdout).format, format, flag);
  }
  failed(cli(['embed', storm, file('x.png'), '--key', KEY, '--payload', PAYLOAD, '--format', 'jpg']), '--format jpeg', 'png');

  // main() in-process: a terminal as standard input is refused with advice.
  let err = '';
  const code = await main(['detect', '-', '--key', KEY], {
    stdout: { write: () => true }, stderr: { write: (t) => { err += t; } }, env: {}, stdin: { isTTY: true, async *[Symbol.asyncIterator]() {} },
  });
  assert.is(code, 2);
  assert.match(err, /standard input.*terminal/);
});

test('animated WebP and GIF: every frame marked on its own (timing kept); detect reads the first; not to PNG or JPEG', async () => {
  const still = await readImage(storm);
  const h = still.height, frameBytes = still.width * h * 3;
  const frames = Buffer.alloc(frameBytes * 3);
  for (let i = 0; i < 3; i++) frames.set(still.data.map((v) => Math.min(255, v + 25 * i)), i * frameBytes);
  const raw = { width: still.width, height: 3 * h, channels: 3, pageHeight: h };
  const anim = file('anim.webp'), gif = file('anim.gif');
  await sharp(frames, { raw }).webp({ quality: 95, delay: [100, 200, 300], loop: 2 }).toFile(anim);
  await sharp(frames, { raw }).gif({ delay: [120, 120, 240] }).toFile(gif);

  const { createWatermarker } = await import('../dist/index.js');
  const wm = await createWatermarker({ key: KEY });
  /** Each frame of `path`, decoded alone, must carry the payload. */
  const everyFrame = async (path, n) => {
    for (let page = 0; page < n; page++) {
      const { data, info } = await sharp(path, { page }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const r = wm.detect({ width: info.width, height: info.height, channels: 3, data });
      assert.is(r.payload, PAYLOAD, `${path} frame ${page}: p = ${r.pValue}`);
    }
  };
  const outWebp = file('anim-out.webp');
  const e = cli(['embed', anim, outWebp, '--key', KEY, '--payload', PAYLOAD, '--json']);
  assert.is(e.code, 0, e.stderr);
  const j = jsonLine(e.stdout);
  assert.equal([j.frames, j.width, j.height, j.format], [3, still.width, h, 'webp']);
  const m = await sharp(outWebp).metadata();
  assert.equal([m.pages, m.height, m.delay, m.loop], [3, h, [100, 200, 300], 2]);
  await everyFrame(outWebp, 3);
  const d = cli(['detect', outWebp, '--key', KEY, '--json']);
  assert.is(d.code, 0, d.stdout + d.stderr);
  assert.is(jsonLine(d.stdout).payload, PAYLOAD);

  const outGif = file('anim-out.gif');
  const g = cli(['embed', gif, outGif, '--key', KEY, '--payload', PAYLOAD]);
  assert.is(g.code, 0, g.stderr);
  assert.match(g.stdout, /GIF, 3 frames each marked/);
  const gm = await sharp(outGif).metadata();
  assert.equal([gm.format, gm.pages, gm.delay], ['gif', 3, [120, 120, 240]]);
  await everyFrame(outGif, 3);

  // A folder batch marks every frame too.
  const folderIn = file('anim-folder'), folderOut = file('anim-folder-out');
  fs.mkdirSync(folderIn);
  fs.copyFileSync(anim, path.join(folderIn, 'loop.webp'));
  fs.copyFileSync(gif, path.join(folderIn, 'loop.gif'));
  const b = cli(['embed', folderIn, folderOut, '--key', KEY, '--payload', PAYLOAD, '--json']);
  assert.is(b.code, 0, b.stdout + b.stderr);
  for (const name of ['loop.webp', 'loop.gif']) {
    assert.is((await sharp(path.join(folderOut, name)).metadata()).pages, 3, name);
    await everyFrame(path.join(folderOut, name), 3);
  }

  // An animation cannot become a PNG or a JPEG; the pixel limit counts every frame.
  const png = file('anim-out.png');
  failed(cli(['embed', anim, png, '--key', KEY, '--payload', PAYLOAD]), '3 frames', 'WebP, GIF or TIFF');
  assert.not.ok(fs.existsSync(png), 'no output written');
  const limit = String(still.width * h * 2);
  const big = cli(['embed', anim, file('anim-big.webp'), '--key', KEY, '--payload', PAYLOAD, '--max-pixels', limit, '--json']);
  failed(big, '3 frames');
  assert.is(jsonLine(big.stdout).error.code, 'ERR_IMAGE_TOO_LARGE');
});

test('special files: FIFOs and devices are neither read nor replaced; IN on standard input is not overwritten; stdout errors are exit 2', () => {
  const special = file('special');
  fs.mkdirSync(special);
  const fifo = path.join(special, 'pipe.png');
  spawnSync('mkfifo', [fifo]);
  if (fs.existsSync(fifo)) {
    // Opening a FIFO for reading would wait for a writer forever: refused without waiting.
    failed(cli(['detect', fifo, '--key', KEY]), 'pipe.png', 'named pipe');
    // And a FIFO (or a device) as OUT is not replaced by a regular file.
    failed(cli(['embed', storm, fifo, '--key', KEY, '--payload', PAYLOAD]), 'pipe.png', 'named pipe');
    assert.ok(fs.statSync(fifo).isFIFO(), 'the FIFO is still a FIFO');
  }
  if (fs.existsSync('/dev/zero')) failed(cli(['detect', '/dev/zero', '--key', KEY]), '/dev/zero', 'device');
  // embed - x.jpg < x.jpg: the file standard input reads is not written over.
  const own = path.join(special, 'own.jpg');
  fs.copyFileSync(storm, own);
  const before = bytes(own);
  const r = spawnSync(process.execPath, [BIN, 'embed', '-', own, '--key', KEY, '--payload', PAYLOAD], { input: before, stdio: ['pipe', 'pipe', 'pipe'], encoding: 'utf8' });
  assert.is(r.status, 0, 'from a pipe: an ordinary output'); // a pipe is not the file, even with its bytes
  fs.writeFileSync(own, before);
  const fd = fs.openSync(own, 'r');
  try {
    const same = spawnSync(process.execPath, [BIN, 'embed', '-', own, '--key', KEY, '--payload', PAYLOAD], { stdio: [fd, 'pipe', 'pipe'], encoding: 'utf8' });
    failed({ code: same.status, stdout: same.stdout, stderr: same.stderr }, 'standard input', 'own.jpg');
  } finally {
    fs.closeSync(fd);
  }
  assert.ok(bytes(own).equals(before), 'IN is byte-for-byte unchanged');
  // A full disk behind standard output: a plain message and exit 2 (not 1, "not found").
  if (fs.existsSync('/dev/full')) {
    const out = fs.openSync('/dev/full', 'w');
    try {
      const full = spawnSync(process.execPath, [BIN, 'detect', storm, '--key', KEY], { stdio: ['ignore', out, 'pipe'], encoding: 'utf8', env: baseEnv });
      failed({ code: full.status, stdout: '', stderr: full.stderr }, 'standard output', 'no space');
    } finally {
      fs.closeSync(out);
    }
  }
  assert.equal(fs.readdirSync(special).filter((f) => f.endsWith('.tmp')), []);
});

test('folder arguments: an empty folder finds nothing (exit 1); OUTDIR may not be - or an image name; --manifest is for folders', () => {
  const empty = file('empty-folder');
  fs.mkdirSync(empty);
  const r = cli(['detect', empty, '--key', KEY]);
  assert.is(r.code, 1, 'no image: not "found in every file"');
  assert.match(r.stderr, /no JPEG, PNG, WebP, GIF, AVIF or TIFF files/);
  failed(cli(['embed', empty, '-', '--key', KEY, '--payload', PAYLOAD]), 'output folder');
  failed(cli(['embed', empty, file('out.jpg'), '--key', KEY, '--payload', PAYLOAD]), 'out.jpg', 'folder name');
  assert.not.ok(fs.existsSync(file('out.jpg')) || fs.existsSync(path.join(ROOT, '-')), 'no folder made');
  failed(cli(['detect', storm, '--key', KEY, '--manifest', file('m.json')]), '--manifest', 'folder');
});

test('a damaged JPEG that still decodes is marked as its decoder shows it, with a warning on stderr and in --json', async () => {
  const damaged = file('damaged.jpg');
  const b = bytes(storm);
  for (let i = 20000; i < 20200; i++) b[i] ^= 0x5a; // a scan segment garbled, the file still decodes
  fs.writeFileSync(damaged, b);
  const out = file('damaged-marked.jpg');
  const e = cli(['embed', damaged, out, '--key', KEY, '--payload', PAYLOAD, '--json']);
  assert.is(e.code, 0, e.stderr);
  assert.match(e.stderr, /^modelmark: warning: decoding ".*damaged\.jpg": .*Corrupt JPEG data.*the file may be damaged/m);
  assert.match(jsonLine(e.stdout).warnings[0], /Corrupt JPEG data/);
  const d = cli(['detect', out, '--key', KEY, '--json']);
  assert.is(jsonLine(d.stdout).payload, PAYLOAD);
  assert.is(d.stderr, '', 'the marked copy is a sound file');
  assert.is(jsonLine(d.stdout).warnings, undefined);
});

test('tiny image: exit 2 ERR_IMAGE_TOO_SMALL naming the file and the minimum (128 to embed, 48 to detect)', async () => {
  const tiny = file('tiny.png');
  await sharp(storm).resize(100, 40).png().toFile(tiny);
  const r = cli(['detect', tiny, '--key', KEY, '--json']);
  failed(r, tiny, '100x40', '48x48');
  assert.is(jsonLine(r.stdout).error.code, 'ERR_IMAGE_TOO_SMALL');
  const thumb = file('thumb.png');
  await sharp(storm).resize(100, 100).png().toFile(thumb);
  const e = cli(['embed', thumb, file('tiny-out.png'), '--key', KEY, '--payload', PAYLOAD, '--json']);
  failed(e, '100x100', '128x128');
  assert.is(jsonLine(e.stdout).error.code, 'ERR_IMAGE_TOO_SMALL');
  assert.not.ok(fs.existsSync(file('tiny-out.png')));
  // a 100x100 image is read (a marked image's thumbnail would be): not found, exit 1
  const d = cli(['detect', thumb, '--key', KEY, '--json']);
  assert.is(d.code, 1, d.stderr);
  assert.is(jsonLine(d.stdout).found, false);
});

test('--max-aspect: an image over 32:1 is refused naming the flag; the flag raises the limit for single files and folders', async () => {
  const strip = file('strip.png');
  await sharp(storm).resize(4200, 128, { fit: 'fill' }).png().toFile(strip);
  const out = file('strip-marked.png');
  const refused = cli(['embed', strip, out, '--key', KEY, '--payload', PAYLOAD, '--json']);
  failed(refused, '4200x128', '32.8:1', '--max-aspect');
  assert.is(jsonLine(refused.stdout).error.code, 'ERR_IMAGE_ASPECT');
  assert.not.ok(fs.existsSync(out));
  const marked = cli(['embed', strip, out, '--key', KEY, '--payload', PAYLOAD, '--max-aspect', '40']);
  assert.is(marked.code, 0, marked.stderr);
  failed(cli(['detect', out, '--key', KEY]), '--max-aspect');
  const found = cli(['detect', out, '--key', KEY, '--max-aspect', '40', '--json']);
  assert.is(found.code, 0, found.stderr);
  assert.is(jsonLine(found.stdout).payload, PAYLOAD);
  failed(cli(['detect', out, '--key', KEY, '--max-aspect', '200']), '--max-aspect', '128', '200');
  const folder = file('strips');
  fs.mkdirSync(folder);
  fs.copyFileSync(out, path.join(folder, 'strip.png'));
  const batch = cli(['detect', folder, '--key', KEY, '--max-aspect', '40', '--json']);
  assert.is(batch.code, 0, batch.stderr);
  assert.is(JSON.parse(batch.stdout.trim().split('\n')[0]).payload, PAYLOAD);
});

test('--max-pixels: large images need the opt-in; the limit is applied both ways', async () => {
  const big = file('big.png');
  await sharp({ create: { width: 12000, height: 9000, channels: 3, background: '#fff' } }).png().toFile(big);
  const r = cli(['detect', big, '--key', KEY, '--json']);
  failed(r, big, '12000x9000', '--max-pixels');
  assert.is(jsonLine(r.stdout).error.code, 'ERR_IMAGE_TOO_LARGE');
  failed(cli(['detect', storm, '--key', KEY, '--max-pixels', '1000']), '--max-pixels');
  assert.is(cli(['detect', storm, '--key', KEY, '--max-pixels', '1e6']).code, 1);
  failed(cli(['detect', storm, '--key', KEY, '--max-pixels', 'lots']), '--max-pixels', 'lots');
  failed(cli(['detect', storm, '--key', KEY, '--max-pixels', '-5']), '--max-pixels');
});

test('payload errors name --payload and the 64-bit limit', () => {
  failed(cli(['embed', storm, file('p.png'), '--key', KEY, '--payload', '1'.repeat(17)]), '--payload', '64 bits');
  failed(cli(['embed', storm, file('p.png'), '--key', KEY, '--payload', 'nothex']), '--payload', 'nothex');
  failed(cli(['embed', storm, file('p.png'), '--key', KEY]), '--payload');
});

// ---- in-process ----

test('main() is testable in-process with injected streams and environment', async () => {
  let out = '', err = '';
  const io = { stdout: { write: (s) => { out += s; } }, stderr: { write: (s) => { err += s; } }, env: { MODELMARK_KEY: KEY } };
  const marked = file('inproc.png');
  assert.is(await main(['embed', storm, marked, '--payload', PAYLOAD, '--json'], io), 0);
  const e = jsonLine(out);
  assert.is(e.payload, PAYLOAD);
  assert.is(e.format, 'png');
  out = '';
  assert.is(await main(['detect', marked, '--json'], io), 0);
  assert.is(jsonLine(out).payload, PAYLOAD);
  out = '';
  assert.is(await main(['detect', file('nothing-here.png')], io), 2);
  assert.is(out, '');
  assert.match(err, /^modelmark: .*nothing-here\.png/);
});

test('standard input past what an image within --max-pixels can take is refused as it streams in (ERR_IMAGE_TOO_LARGE), not read whole', async () => {
  const chunk = new Uint8Array(1 << 20);
  let sent = 0;
  const stdin = { async *[Symbol.asyncIterator]() { for (let i = 0; i < 200; i++) { sent++; yield chunk; } } };
  let out = '', err = '';
  const code = await main(['detect', '-', '--key', KEY, '--max-pixels', '1000', '--json'], {
    stdout: { write: (t) => { out += t; return true; } }, stderr: { write: (t) => { err += t; } }, env: {}, stdin,
  });
  assert.is(code, 2, err);
  const e = JSON.parse(out.trim().split('\n').at(-1)).error;
  assert.is(e.code, 'ERR_IMAGE_TOO_LARGE', JSON.stringify(e));
  assert.match(e.message, /--max-pixels/);
  assert.ok(sent <= 66, `read ${sent} MiB of standard input, past the 64 MiB cap at 1,000 pixels`);
});

test('embed IN -: a reader that quits early (`| head -c 100`) ends it quietly with exit 141; a terminal as standard output is refused before any work', async () => {
  const child = spawn(process.execPath, [BIN, 'embed', storm, '-', '--key', KEY, '--payload', PAYLOAD, '--format', 'png'], { cwd: ROOT, env: baseEnv });
  child.stdout.destroy(); // the read end closed before the image is written
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.is(code, 141, `128 + SIGPIPE; stderr: ${stderr}`);
  assert.is(stderr, '', 'no EPIPE message');

  // A terminal as standard output: no image bytes written to it.
  let out = 0, err = '';
  const r = await main(['embed', storm, '-', '--key', KEY, '--payload', PAYLOAD, '--format', 'png'], {
    stdout: { isTTY: true, write: (b) => { out += b.length; return true; } }, stderr: { write: (t) => { err += t; } }, env: {},
  });
  assert.is(r, 2);
  assert.is(out, 0, 'nothing written to the terminal');
  assert.match(err, /^modelmark: .*terminal/);
});

test('a value option given twice with different values is refused (a mistyped alias would mark with the wrong key); the same value twice is fine', () => {
  failed(cli(['detect', storm, '--key', 'other', '--key', KEY]), '--key', 'twice');
  failed(cli(['embed', storm, file('twice.png'), '--key', KEY, '--payload', '1', '--payload', '2']), '--payload', 'twice');
  assert.not.ok(fs.existsSync(file('twice.png')));
  assert.is(cli(['detect', storm, '--key', KEY, '--key', KEY]).code, 1);
});

test('--json after -- is a file name, not the flag: an error is plain text, stdout stays empty', () => {
  const r = cli(['detect', '--key', KEY, '--', storm, '--json']);
  failed(r, '2 arguments');
  assert.is(r.stdout, '');
  const j = cli(['detect', '--key', KEY, '--json', '--', storm, 'x.jpg']);
  assert.is(j.code, 2);
  assert.is(jsonLine(j.stdout).error.code, 'ERR_INVALID_ARGUMENT');
});

test('- for --map, extract --out, --manifest: refused (standard output carries the result), never a file named "-"', () => {
  const dash = path.join(ROOT, '-');
  try {
    failed(cli(['detect', storm, '--key', KEY, '--map', '-']), '--map', 'standard output');
    failed(cli(['extract', storm, '--out', '-']), '--out', 'standard output');
    failed(cli(['detect', dir, '--key', KEY, '--manifest', '-']), '--manifest', 'standard output');
    assert.not.ok(fs.existsSync(dash), 'no file named - written');
  } finally {
    fs.rmSync(dash, { force: true, recursive: true });
  }
});

test('IN - with nothing on standard input (an empty pipe, /dev/null) says so, with --json the ERR_DECODE object alone on stdout', () => {
  for (const stdin of ['', 'devnull']) {
    const r = stdin === 'devnull'
      ? spawnSync(process.execPath, [BIN, 'detect', '-', '--key', KEY, '--json'], { cwd: ROOT, env: baseEnv, stdio: [fs.openSync('/dev/null', 'r'), 'pipe', 'pipe'], encoding: 'utf8' })
      : spawnSync(process.execPath, [BIN, 'detect', '-', '--key', KEY, '--json'], { cwd: ROOT, env: baseEnv, input: '', encoding: 'utf8' });
    failed({ code: r.status, stdout: r.stdout, stderr: r.stderr }, 'Standard input is empty');
    assert.is(jsonLine(r.stdout).error.code, 'ERR_DECODE');
  }
});

test('standard error closed by its reader (2>&1 | head -1): the command goes on quietly with its own exit status (2 for an error, not a crash\'s 1, "not found")', async () => {
  const child = spawn(process.execPath, [BIN, 'detect', file('no-such.jpg'), '--key', KEY, '--json'], { cwd: ROOT, env: baseEnv });
  child.stderr.destroy();
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.is(code, 2);
  assert.is(jsonLine(stdout).error.code, 'ERR_FILE');
});

test('an image the output format cannot hold is refused before marking or detecting: a 16384x128 panorama to .webp (or --map .webp) names WebP\'s limit, not --max-aspect', async () => {
  // Before, the panorama was marked first: refused for its aspect (128:1), and with --max-aspect 128
  // decoded, marked, then refused for WebP; the output's limit now comes before the marking.
  const pano = file('pano-16384.png');
  await sharp(Buffer.alloc(16384 * 128, 90), { raw: { width: 16384, height: 128, channels: 1 } }).png().toFile(pano);
  const [plain, aspect, stdout] = await cliAll([
    ['embed', pano, file('pano.webp'), '--key', KEY, '--payload', PAYLOAD],
    ['embed', pano, file('pano.webp'), '--key', KEY, '--payload', PAYLOAD, '--max-aspect', '128'],
    ['embed', pano, '-', '--format', 'webp', '--key', KEY, '--payload', PAYLOAD],
  ]);
  // detect --map likewise: the map (the image's size) is refused before detecting.
  const [map] = await cliAll([['detect', pano, '--key', KEY, '--map', file('pano-map.webp')]]);
  for (const r of [plain, aspect, stdout, map]) failed(r, '16384x128', 'too large for WebP', '16383');
  assert.is(stdout.stdout, '');
  assert.is(map.stdout, '');
  assert.not.ok(fs.existsSync(file('pano.webp')));
  assert.not.ok(fs.existsSync(file('pano-map.webp')));
  assert.equal(tmpFiles(), []);
});

test('detect --pieces finds a marked photo pasted into a larger one (file and folder; a folder manifest redoes files read without it); embed refuses the flag', async () => {
  const { jpeg, width: W } = await pastedCollage();
  const K = COLLAGE_KEY, PAY = COLLAGE_PAYLOAD;
  const folder = file('pieces-in');
  fs.mkdirSync(folder);
  const collage = path.join(folder, 'collage.jpg');
  fs.writeFileSync(collage, jpeg);
  const [plain, pieces, embedded] = await cliAll([
    ['detect', collage, '--key', K, '--json'],
    ['detect', collage, '--key', K, '--pieces', '--json'],
    ['embed', collage, file('pieces-out.jpg'), '--key', K, '--payload', PAYLOAD, '--pieces'],
  ]);
  assert.is(plain.code, 1, plain.stderr);
  assert.is(jsonLine(plain.stdout).found, false);
  assert.is(pieces.code, 0, pieces.stderr);
  const r = jsonLine(pieces.stdout);
  assert.is(r.payload, PAY);
  assert.ok(r.pValue < 1e-6 && r.regions.columns * r.regions.cellWidth > W - 1e-6, JSON.stringify(r.regions));
  failed(embedded, '--pieces');
  assert.not.ok(fs.existsSync(file('pieces-out.jpg')));
  // A folder: read without --pieces (not found, recorded in the manifest), then with it: the
  // file is read again, not skipped as unchanged, and found.
  const manifest = file('pieces-manifest.json');
  const before = cli(['detect', folder, '--key', K, '--manifest', manifest, '--json']);
  assert.is(JSON.parse(before.stdout.trim().split('\n').at(-1)).summary.found, 0, before.stdout);
  const after = cli(['detect', folder, '--key', K, '--manifest', manifest, '--pieces', '--json']);
  const summary = JSON.parse(after.stdout.trim().split('\n').at(-1)).summary;
  assert.is(after.code, 0, after.stderr);
  assert.equal([summary.found, summary.skipped], [1, 0], after.stdout);
});

test('detect --all-pieces lists every marked piece (JSON "pieces", a line each, folder records and a manifest that replays them); embed refuses the flag', async () => {
  const { jpeg, pieces } = await twoPieceCollage();
  const K = COLLAGE_KEY;
  const folder = file('all-pieces-in');
  fs.mkdirSync(folder);
  const collage = path.join(folder, 'two.jpg');
  fs.writeFileSync(collage, jpeg);
  const [json, text, embedded] = await cliAll([
    ['detect', collage, '--key', K, '--all-pieces', '--json'],
    ['detect', collage, '--key', K, '--all-pieces', '--map', file('all-pieces-map.png')],
    ['embed', collage, file('all-pieces-out.jpg'), '--key', K, '--payload', PAYLOAD, '--all-pieces'],
  ]);
  assert.is(json.code, 0, json.stderr);
  const r = jsonLine(json.stdout);
  const both = [COLLAGE_PAYLOAD, SECOND_PAYLOAD].sort();
  assert.equal(r.pieces.map((p) => p.payload).sort(), both, json.stdout);
  assert.is(r.pieces[0].payload, r.payload);
  assert.ok(r.pieces.every((p) => p.found && p.pValue < 1e-6 && p.transform && p.regions), json.stdout);
  assert.is(text.code, 0, text.stderr);
  const lines = text.stdout.trim().split('\n');
  assert.is(lines.length, 2, text.stdout);
  assert.equal(lines.map((l) => /payload ([0-9a-f]{16})/.exec(l)?.[1]).sort(), both, text.stdout);
  assert.match(lines[1], /another piece/);
  // The further piece's line says where it lies: a box on its own photo (not its grid's tile
  // origin, which lay on the host photo, 867,36 with mate-Storm at 1100,500).
  const at = /at (\d+),(\d+) (\d+)x(\d+)/.exec(lines[1]);
  assert.ok(at, lines[1]);
  const [left, top, width, height] = at.slice(1).map(Number);
  const { rect } = pieces.find((p) => lines[1].includes(p.payload));
  const inside = (x, y, b) => x >= b.left && y >= b.top && x < b.left + b.width && y < b.top + b.height;
  assert.ok(inside(left + width / 2, top + height / 2, rect) && inside(rect.left + rect.width / 2, rect.top + rect.height / 2, { left, top, width, height }), lines[1]);
  // --map: the first piece in green, the further one's marked cells in cyan, on its own photo.
  const map = await sharp(file('all-pieces-map.png')).raw().toBuffer({ resolveWithObject: true });
  const cyan = (x, y) => { const i = (y * map.info.width + x) * map.info.channels; const [R, G, B] = map.data.subarray(i, i + 3); return B > R + 60 && B > G && G > R + 40; };
  const green = (x, y) => { const i = (y * map.info.width + x) * map.info.channels; const [R, G, B] = map.data.subarray(i, i + 3); return G > R + 60 && G > B + 60; };
  const first = pieces.find((p) => p.payload === r.payload).rect, second = pieces.find((p) => p.payload !== r.payload).rect;
  const share = (test, b) => { let n = 0, k = 0; for (let y = b.top; y < b.top + b.height; y += 4) for (let x = b.left; x < b.left + b.width; x += 4) { n++; if (test(x, y)) k++; } return k / n; };
  assert.ok(share(cyan, second) > 0.2, `cyan on the second piece: ${share(cyan, second)}`);
  assert.ok(share(green, first) > 0.2, `green on the first piece: ${share(green, first)}`);
  assert.is(share(cyan, first), 0, 'no cyan on the first piece');
  assert.is(share(cyan, { left: 0, top: 0, width: map.info.width, height: 60 }), 0, 'no cyan on the host photo\'s top rows');
  failed(embedded, '--all-pieces');
  // A folder: each file's record lists its pieces; the manifest keeps them, and a re-run that
  // skips the file replays them.
  const manifest = file('all-pieces-manifest.json');
  const runs = [0, 1].map(() => cli(['detect', folder, '--key', K, '--manifest', manifest, '--all-pieces', '--json']));
  for (const [i, run] of runs.entries()) {
    assert.is(run.code, 0, run.stderr);
    const rec = JSON.parse(run.stdout.trim().split('\n')[0]);
    assert.is(rec.status, i === 0 ? 'done' : 'skipped', run.stdout);
    assert.equal(rec.pieces.map((p) => p.payload).sort(), both, run.stdout);
  }
  // --pieces alone lists none (one piece is found, the first).
  const one = cli(['detect', collage, '--key', K, '--pieces', '--json']);
  assert.is(jsonLine(one.stdout).pieces, undefined);
});

test.run();
