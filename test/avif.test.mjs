// AVIF (AV1 in a HEIF container; sharp's format 'heif', compression 'av1') through every Node
// path: readImage / writeImage / encodeImage (8-bit, 10-bit, alpha, metadata, size limit), the
// command line (single files, --format, folders). Small images: AVIF encoding is slow.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { createWatermarker, readImage, writeImage, encodeImage, ImageSizeError, InvalidArgumentError } from '../dist/node/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'modelmark.js');
const PHOTOS = fileURLToPath(new URL('../../shared/photos/', import.meta.url));
const KEY = 'avif test key';
const PAYLOAD = 'c0ffee00000000a1';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmark-avif-'));
const file = (name) => path.join(dir, name);
const { MODELMARK_KEY: _drop, ...baseEnv } = process.env;
const wm = await createWatermarker({ key: KEY });

function cli(args) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env: baseEnv, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** sharp's view of an AVIF file: format heif, compression av1. */
async function avifMeta(input) {
  const m = await sharp(input).metadata();
  assert.is(m.format, 'heif');
  assert.is(m.compression, 'av1');
  return m;
}

const found = (r) => r.found && r.payload === PAYLOAD;

const XMP = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">' +
  '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Ada Lovelace</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>';
const COPYRIGHT = 'Ada Lovelace 2026';

test.before(async () => {
  const base = () => sharp(path.join(PHOTOS, 'skimage-astronaut.png')).resize(256, 256);
  await base().avif({ quality: 80, effort: 1 }).toFile(file('in.avif'));
  await base().avif({ quality: 80, effort: 1, bitdepth: 10 }).toFile(file('in10.avif'));
  await base().ensureAlpha(0.5).avif({ quality: 80, effort: 1 }).toFile(file('alpha.avif'));
  await base().jpeg({ quality: 90 }).toFile(file('in.jpg'));
  // A saturated Display P3 photo with EXIF and XMP, as AVIF.
  await sharp(path.join(PHOTOS, 'mate-Garden.jpg')).resize(320, 200).modulate({ saturation: 1.8 }).withIccProfile('p3')
    .withExif({ IFD0: { Copyright: COPYRIGHT } }).withXmp(XMP).avif({ quality: 90, effort: 1 }).toFile(file('p3.avif'));
});
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('readImage names AVIF "avif"; writeImage writes .avif (and an input\'s format when the path has no extension), encodeImage format "avif" or "heif": AVIF files that carry the mark', async () => {
  const img = await readImage(file('in.avif'));
  assert.is(img.format, 'avif');
  assert.is(img.channels, 3);
  const marked = wm.embed(img, PAYLOAD);
  const w = await writeImage(file('out.avif'), marked);
  assert.is(w.format, 'avif');
  await avifMeta(file('out.avif'));
  const back = await readImage(file('out.avif'));
  assert.ok(found(wm.detect(back)), 'the mark survives the default quality 95');
  const noExt = await writeImage(file('out-noext'), marked, { format: img.format });
  assert.is(noExt.format, 'avif');
  await avifMeta(file('out-noext'));
  for (const format of ['avif', 'heif', 'AVIF']) {
    const e = await encodeImage(marked, { format, quality: 80 });
    assert.is(e.format, 'avif');
    await avifMeta(e.data);
    assert.ok(found(wm.detect(await readImage(await writeTemp(e.data)))), `encodeImage ${format}`);
  }
  try {
    await encodeImage(marked, { format: 'bmp' });
    assert.unreachable('bmp');
  } catch (err) {
    assert.instance(err, InvalidArgumentError);
    assert.match(err.message, /"avif"/);
  }
});

let temp = 0;
async function writeTemp(bytes) {
  const p = file(`t${temp++}.avif`);
  await fs.promises.writeFile(p, bytes);
  return p;
}

test('10-bit AVIF: read as 16-bit samples with keepDepth (scaled to 16 bits), written back as 10-bit AVIF; 8 bits without keepDepth', async () => {
  assert.is((await avifMeta(file('in10.avif'))).bitsPerSample, 10);
  const deep = await readImage(file('in10.avif'), { keepDepth: true });
  assert.instance(deep.data, Uint16Array);
  assert.ok(deep.data.reduce((a, b) => Math.max(a, b), 0) > 1023 * 16, 'the samples span 16 bits, not 10');
  const marked = wm.embed(deep, PAYLOAD);
  await writeImage(file('out10.avif'), marked);
  assert.is((await avifMeta(file('out10.avif'))).bitsPerSample, 10);
  assert.ok(found(wm.detect(await readImage(file('out10.avif')))));
  const eight = await readImage(file('in10.avif'));
  assert.instance(eight.data, Uint8Array);
  // 16-bit samples into an 8-bit format still give 8 bits; an 8-bit image gives 8-bit AVIF.
  await writeImage(file('out8.avif'), wm.embed(eight, PAYLOAD));
  assert.is((await avifMeta(file('out8.avif'))).bitsPerSample, 8);
});

test('AVIF with alpha: read as RGBA, written with its alpha, the mark on the colour', async () => {
  const img = await readImage(file('alpha.avif'));
  assert.is(img.channels, 4);
  await writeImage(file('alpha-out.avif'), wm.embed(img, PAYLOAD));
  const m = await avifMeta(file('alpha-out.avif'));
  assert.ok(m.hasAlpha);
  const back = await readImage(file('alpha-out.avif'));
  assert.is(back.channels, 4);
  let maxDiff = 0;
  for (let i = 3; i < back.data.length; i += 4) maxDiff = Math.max(maxDiff, Math.abs(back.data[i] - img.data[i]));
  assert.ok(maxDiff <= 8, `alpha within 8 of the input's (${maxDiff})`);
  assert.ok(found(wm.detect(back)));
});

test('AVIF metadata: EXIF, XMP and the ICC profile are read from AVIF and written into AVIF, the P3 values kept (not converted)', async () => {
  const kept = await readImage(file('p3.avif'), { metadata: true });
  assert.ok(kept.metadata.icc?.length && kept.metadata.exif?.length && kept.metadata.xmp?.length, 'all three read');
  const plain = await readImage(file('p3.avif'));
  await writeImage(file('p3-out.avif'), kept, { metadata: kept.metadata });
  const m = await avifMeta(file('p3-out.avif'));
  assert.ok(Buffer.compare(m.icc, Buffer.from(kept.metadata.icc)) === 0, 'the same profile');
  assert.ok(m.exif.toString('latin1').includes(COPYRIGHT), 'EXIF');
  assert.ok(m.xmp.toString('utf8').includes('Ada Lovelace'), 'XMP');
  const back = await readImage(file('p3-out.avif'), { metadata: true });
  const mad = (a, b) => { let s = 0; for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]); return s / a.length; };
  assert.ok(mad(back.data, kept.data) < 1.5, `the P3 values written as they are (mean difference ${mad(back.data, kept.data).toFixed(2)})`);
  assert.ok(mad(plain.data, kept.data) > 3 * mad(back.data, kept.data), 'sRGB-converted values differ much more');
  // encodeImage too; without metadata, none is written.
  const e = await encodeImage(kept, { format: 'avif', metadata: kept.metadata });
  assert.ok((await avifMeta(e.data)).exif.toString('latin1').includes(COPYRIGHT));
  const bare = await avifMeta((await encodeImage(kept, { format: 'avif' })).data);
  assert.is(bare.exif, undefined);
});

test('AVIF limits: more than 16384 pixels a side is an ImageSizeError before encoding; an animation is refused (WebP or GIF)', async () => {
  const wide = { width: 16385, height: 1, channels: 1, data: new Uint8Array(16385) };
  try {
    await encodeImage(wide, { format: 'avif' });
    assert.unreachable('too wide');
  } catch (err) {
    assert.instance(err, ImageSizeError);
    assert.match(err.message, /too large for AVIF \(at most 16384 pixels a side\)/);
  }
  const two = { width: 16, height: 32, channels: 3, data: new Uint8Array(16 * 32 * 3) };
  try {
    await writeImage(file('anim.avif'), two, { animation: { frames: 2, frameHeight: 16 } });
    assert.unreachable('animation');
  } catch (err) {
    assert.instance(err, InvalidArgumentError);
    assert.match(err.message, /cannot be written as AVIF: write WebP, GIF or TIFF/);
  }
  assert.not.ok(fs.existsSync(file('anim.avif')));
});

test('CLI: embed AVIF -> AVIF / JPEG, JPEG -> AVIF, --format avif, an extensionless OUT keeps AVIF, 10-bit kept; detect reads them', async () => {
  const key = ['--key', KEY, '--payload', PAYLOAD];
  const runs = [
    ['in.avif', 'c1.avif', [], 'avif'], ['in.avif', 'c2.jpg', [], 'jpeg'], ['in.jpg', 'c3.avif', [], 'avif'],
    ['in.jpg', 'c4', ['--format', 'avif'], 'avif'], ['in.avif', 'c5', [], 'avif'], ['in10.avif', 'c6.avif', [], 'avif'],
  ];
  for (const [input, output, extra, format] of runs) {
    const r = cli(['embed', input, output, ...key, ...extra, '--json']);
    assert.is(r.code, 0, `${input} -> ${output}: ${r.stderr}`);
    const j = JSON.parse(r.stdout.trim());
    assert.is(j.format, format, output);
    assert.is(j.bits, input === 'in10.avif' ? 10 : 8, output);
    const d = cli(['detect', output, '--key', KEY, '--json']);
    assert.is(d.code, 0, `detect ${output}: ${d.stdout}${d.stderr}`);
    const dj = JSON.parse(d.stdout.trim());
    assert.is(dj.payload, PAYLOAD);
    assert.is(dj.format, format, `detect names ${output}'s format`);
  }
  assert.is((await avifMeta(file('c6.avif'))).bitsPerSample, 10);
  const text = cli(['embed', 'in10.avif', 'c7.avif', ...key]);
  assert.match(text.stdout, /AVIF 10-bit quality 95/);
  const bad = cli(['embed', 'in.jpg', 'c8', ...key, '--format', 'heic']);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /--format must be jpeg, png, webp, gif, avif or tiff/);
});

test('CLI folders: an .avif among the files is marked into an .avif copy, and detect reads it', () => {
  fs.mkdirSync(file('folder'));
  fs.copyFileSync(file('in.avif'), file('folder/a.avif'));
  fs.copyFileSync(file('in.jpg'), file('folder/b.jpg'));
  const r = cli(['embed', 'folder', 'marked', '--key', KEY, '--payload', PAYLOAD, '--jobs', '1']);
  assert.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const a = lines.find((l) => l.file === path.join('folder', 'a.avif'));
  assert.ok(a, r.stdout);
  assert.is(a.status, 'done');
  assert.is(a.output, path.join('marked', 'a.avif'));
  assert.is(a.format, 'avif');
  assert.ok(fs.existsSync(file('marked/a.avif')));
  const d = cli(['detect', 'marked', '--key', KEY, '--jobs', '1']);
  assert.is(d.code, 0, d.stderr);
  const dl = d.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.file);
  assert.is(dl.length, 2);
  for (const l of dl) assert.ok(l.found && l.payload === PAYLOAD, JSON.stringify(l));
});

test.run();
