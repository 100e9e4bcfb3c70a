// A marked copy written as its source was: sourceEncoding (a JPEG's quality from its tables, its
// chroma subsampling and progressive mode; a WebP's lossless mode) checked against the encoder
// that wrote the files (libjpeg-turbo and libwebp in sharp), and writeImage / encodeImage / the
// command line (single files, standard output, folders) writing with it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import {
  createWatermarker, readImage, writeImage, encodeImage, sourceEncoding, jpegQualityOf, matchedSettings, MIN_MATCHED_QUALITY, InvalidArgumentError,
} from '../dist/node/index.js';
import { PHOTOS, workspace } from './helpers/workspace.mjs';

const KEY = 'encoding test key';
const PAYLOAD = 'c0ffee00000000e7';
const { dir, file, cli, remove } = workspace('encoding', KEY);
const wm = await createWatermarker({ key: KEY });
const photo = () => sharp(path.join(PHOTOS, 'mate-Garden.jpg')).resize(640, 400);
const encodingOf = (p) => sourceEncoding(fs.readFileSync(p));
const found = async (p) => { const img = await readImage(p); const r = wm.detect(img); return r.found && r.payload === PAYLOAD; };

test.before(async () => {
  await photo().jpeg({ quality: 75 }).toFile(file('web75.jpg'));
  await photo().jpeg({ quality: 90, chromaSubsampling: '4:4:4', progressive: true }).toFile(file('fine.jpg'));
  await photo().jpeg({ quality: 55 }).toFile(file('low55.jpg'));
  await photo().webp({ lossless: true }).toFile(file('art.webp'));
  await photo().webp({ quality: 70 }).toFile(file('lossy.webp'));
  await photo().png().toFile(file('plain.png'));
  await sharp(path.join(PHOTOS, 'skimage-page.png')).jpeg({ quality: 75 }).toFile(file('page75.jpg'));
});

test('sourceEncoding reads back the quality, subsampling and mode libjpeg-turbo wrote, at every quality', async () => {
  const small = sharp(path.join(PHOTOS, 'mate-Garden.jpg')).resize(48, 32);
  const wrong = [];
  for (let q = 1; q <= 100; q++) {
    for (const [chromaSubsampling, progressive] of [['4:2:0', false], ['4:4:4', true]]) {
      const e = sourceEncoding(await small.clone().jpeg({ quality: q, chromaSubsampling, progressive }).toBuffer());
      if (!(e?.format === 'jpeg' && e.quality === q && e.standardTables && e.chromaSubsampling === chromaSubsampling && e.progressive === progressive)) wrong.push([q, chromaSubsampling, e]);
    }
  }
  assert.equal(wrong, []);
  // Another encoder's tables (MozJPEG's, which sharp writes with mozjpeg: true): an equivalent.
  const moz = sourceEncoding(await small.clone().jpeg({ quality: 80, mozjpeg: true }).toBuffer());
  assert.is(moz.standardTables, false);
  assert.ok(Math.abs(moz.quality - 80) <= 5, `MozJPEG q80 read as ${moz.quality}`);
  // A one-component JPEG has no chroma to subsample.
  const grey = sourceEncoding(await small.clone().toColourspace('b-w').jpeg({ quality: 60 }).toBuffer());
  assert.equal(grey, { format: 'jpeg', quality: 60, standardTables: true, progressive: false });
});

test('jpegQualityOf matches the standard tables scaled by libjpeg\'s rule', () => {
  // Annex K's luma table at quality 50 is the table itself; at 100 all ones.
  const annexK = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99];
  assert.equal(jpegQualityOf(annexK), { quality: 50, standardTables: true });
  assert.equal(jpegQualityOf(new Array(64).fill(1)), { quality: 100, standardTables: true });
  const off = annexK.slice(); off[0] += 1;
  assert.equal(jpegQualityOf(off), { quality: 50, standardTables: false });
});

test('jpegQualityOf and matchedSettings refuse what is not a table, an encoding or a quality', () => {
  const refused = (f, name) => {
    const err = (() => { try { f(); return null; } catch (e) { return e; } })();
    assert.ok(err instanceof InvalidArgumentError, `${f} gave no InvalidArgumentError: ${err}`);
    assert.match(err.message, new RegExp(` for ${name} but received `));
  };
  // Before: { quality: 1, standardTables: false } for a table of 10 or 0 entries, a TypeError for none.
  refused(() => jpegQualityOf(new Uint8Array(10)), 'luma');
  refused(() => jpegQualityOf([]), 'luma');
  refused(() => jpegQualityOf(undefined), 'luma');
  refused(() => jpegQualityOf(new Array(64).fill(1), [1, 2]), 'chroma');
  refused(() => jpegQualityOf(new Array(64).fill(0.5)), 'luma');
  assert.equal(jpegQualityOf(new Uint16Array(64).fill(1), new Uint8Array(64).fill(1)), { quality: 100, standardTables: true });
  // Before: { quality: NaN, ... } (sharp's own error later, when encoding).
  refused(() => matchedSettings('jpeg', { format: 'jpeg' }), 'encoding');
  refused(() => matchedSettings('jpeg', { format: 'jpeg', quality: 80, progressive: false }, 150), 'quality');
  refused(() => matchedSettings(undefined, undefined), 'format');
  assert.equal(matchedSettings('jpeg', { format: 'jpeg', quality: 60, progressive: true }), { quality: 75, chromaSubsampling: '4:2:0', progressive: true });
});

test('sourceEncoding: WebP lossless or lossy (animations frame by frame), other formats and broken headers', async () => {
  assert.equal(encodingOf(file('art.webp')), { format: 'webp', lossless: true });
  assert.equal(encodingOf(file('lossy.webp')), { format: 'webp', lossless: false });
  // Lossy with an alpha channel (VP8X + ALPH + VP8): lossy.
  assert.equal(sourceEncoding(await photo().ensureAlpha(0.5).webp({ quality: 80 }).toBuffer()), { format: 'webp', lossless: false });
  const frames = sharp(path.join(PHOTOS, 'mate-Garden.jpg')).resize(64, 96).raw();
  const { data, info } = await frames.toBuffer({ resolveWithObject: true });
  const anim = (opts) => sharp(data, { raw: { width: 64, height: 96, channels: info.channels, pageHeight: 32 } }).webp({ ...opts, delay: [100, 100, 100] }).toBuffer();
  assert.equal(sourceEncoding(await anim({ lossless: true })), { format: 'webp', lossless: true });
  assert.equal(sourceEncoding(await anim({ quality: 60 })), { format: 'webp', lossless: false });
  assert.is(encodingOf(file('plain.png')), undefined);
  const jpeg = fs.readFileSync(file('web75.jpg'));
  assert.is(sourceEncoding(jpeg.subarray(0, 20)), undefined, 'cut before its tables');
  assert.is(sourceEncoding(new Uint8Array(0)), undefined);
  assert.is(sourceEncoding('not bytes'), undefined);
});

test('writeImage with readImage\'s encoding: a JPEG keeps its quality, subsampling and mode; the size stays near the original\'s', async () => {
  const web = await readImage(file('web75.jpg'));
  assert.equal(web.encoding, { format: 'jpeg', quality: 75, standardTables: true, chromaSubsampling: '4:2:0', progressive: false });
  const w1 = await writeImage(file('web75-marked.jpg'), wm.embed(web, PAYLOAD), { encoding: web.encoding });
  assert.is(w1.quality, 75);
  assert.is(encodingOf(file('web75-marked.jpg')).quality, 75);
  const ratio = w1.size / fs.statSync(file('web75.jpg')).size;
  assert.ok(ratio < 1.25, `the marked copy is ${ratio.toFixed(2)}x the original`);
  assert.ok(await found(file('web75-marked.jpg')));
  // Without it, the default: quality 95, 4:2:0, baseline, and a much larger file.
  const w2 = await writeImage(file('web75-default.jpg'), wm.embed(web, PAYLOAD));
  assert.is(w2.quality, 95);
  assert.ok(w2.size > 1.5 * w1.size, `${w2.size} against ${w1.size}`);

  const fine = await readImage(file('fine.jpg'));
  await writeImage(file('fine-marked.jpg'), wm.embed(fine, PAYLOAD), { encoding: fine.encoding });
  assert.equal(encodingOf(file('fine-marked.jpg')), { format: 'jpeg', quality: 90, standardTables: true, chromaSubsampling: '4:4:4', progressive: true });
  // An explicit quality wins; subsampling and mode are still the source's.
  const w3 = await writeImage(file('fine-q80.jpg'), wm.embed(fine, PAYLOAD), { encoding: fine.encoding, quality: 80 });
  assert.is(w3.quality, 80);
  assert.equal(encodingOf(file('fine-q80.jpg')), { format: 'jpeg', quality: 80, standardTables: true, chromaSubsampling: '4:4:4', progressive: true });
  // Below the floor, the floor.
  const low = await readImage(file('low55.jpg'));
  assert.is(low.encoding.quality, 55);
  const w4 = await writeImage(file('low-marked.jpg'), wm.embed(low, PAYLOAD), { encoding: low.encoding });
  assert.is(w4.quality, MIN_MATCHED_QUALITY);
  assert.is(encodingOf(file('low-marked.jpg')).quality, MIN_MATCHED_QUALITY);
  // A JPEG's encoding says nothing about another format: a PNG stays lossless, a WebP at 95.
  const png = await writeImage(file('web75-marked.png'), wm.embed(web, PAYLOAD), { encoding: web.encoding });
  assert.is(png.quality, undefined);
  const webp = await encodeImage(wm.embed(web, PAYLOAD), { format: 'webp', encoding: web.encoding });
  assert.is(webp.quality, 95);
});

test('writeImage with a lossless WebP\'s encoding writes it lossless: the marked pixels come back exactly', async () => {
  const art = await readImage(file('art.webp'));
  assert.equal(art.encoding, { format: 'webp', lossless: true });
  const marked = wm.embed(art, PAYLOAD);
  const w = await writeImage(file('art-marked.webp'), marked, { encoding: art.encoding });
  assert.is(w.quality, undefined);
  assert.equal(encodingOf(file('art-marked.webp')), { format: 'webp', lossless: true });
  const back = await readImage(file('art-marked.webp'));
  assert.ok(Buffer.from(back.data).equals(Buffer.from(marked.data)), 'the pixels written are the marked pixels');
  // With a quality: lossy at that quality.
  const lossy = await encodeImage(marked, { format: 'webp', encoding: art.encoding, quality: 80 });
  assert.is(lossy.quality, 80);
  assert.equal(sourceEncoding(lossy.data), { format: 'webp', lossless: false });
  // A lossy WebP's quality is not read back (libwebp's quantisers depend on the content): 95.
  const lossySource = await readImage(file('lossy.webp'));
  assert.is((await encodeImage(wm.embed(lossySource, PAYLOAD), { format: 'webp', encoding: lossySource.encoding })).quality, 95);
});

test('verify: a JPEG whose mark does not read back at its source\'s quality is written at 95 instead (the page scan at 75)', async () => {
  const page = await readImage(file('page75.jpg'));
  assert.is(page.encoding.quality, 75);
  const m = wm.embed(page, PAYLOAD);
  const readsInPlace = async (bytes) => {
    const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
    const r = wm.detect({ width: info.width, height: info.height, channels: info.channels, data }, { search: false });
    return r.found && r.payload === PAYLOAD;
  };
  // Unverified, at 75: the mark does not come back (the case verify is for).
  const plain = await encodeImage(m, { format: 'jpeg', encoding: page.encoding });
  assert.is(plain.quality, 75);
  assert.is(plain.raisedFrom, undefined);
  assert.is(await readsInPlace(plain.data), false);
  const checked = await encodeImage(m, { format: 'jpeg', encoding: page.encoding, verify: { watermarker: wm, payload: PAYLOAD } });
  assert.is(checked.quality, 95);
  assert.is(checked.raisedFrom, 75);
  assert.is(sourceEncoding(checked.data).quality, 95);
  assert.ok(await readsInPlace(checked.data));
  // A photo that keeps its mark at 75 stays at 75 when verified; the wrong payload would not.
  const web = await readImage(file('web75.jpg'));
  const w = await writeImage(file('web75-verified.jpg'), wm.embed(web, PAYLOAD), { encoding: web.encoding, verify: { watermarker: wm, payload: PAYLOAD } });
  assert.is(w.quality, 75);
  assert.is(w.raisedFrom, undefined);
  const wrong = await encodeImage(wm.embed(web, PAYLOAD), { format: 'jpeg', encoding: web.encoding, verify: { watermarker: wm, payload: 'c0ffee00000000e8' } });
  assert.is(wrong.raisedFrom, 75);
  // Nothing to verify at a quality the caller chose, or at 95 and over.
  assert.is((await encodeImage(m, { format: 'jpeg', encoding: page.encoding, quality: 75, verify: { watermarker: wm, payload: PAYLOAD } })).raisedFrom, undefined);
  for (const bad of [{}, { watermarker: {}, payload: PAYLOAD }, { watermarker: wm, payload: 'xyz' }]) {
    const err = await encodeImage(m, { format: 'jpeg', verify: bad }).then(() => null, (e) => e);
    assert.ok(err instanceof InvalidArgumentError, JSON.stringify(bad));
  }
  // The command line: the note, the JSON, and the mark read from the file.
  const r = cli(['embed', 'page75.jpg', 'cli-page.jpg', '--payload', PAYLOAD, '--json']);
  assert.is(r.code, 0, r.stderr);
  const out = JSON.parse(String(r.stdout));
  assert.is(out.quality, 95);
  assert.is(out.qualityRaisedFrom, 75);
  assert.match(r.stderr, /at the input's JPEG quality 75 the mark did not read back from the copy; written at quality 95 instead/);
  assert.ok(await found(file('cli-page.jpg')));
});

test('embed --deep: a JPEG at its source\'s quality is read back, and written at 95 where the logo is not found in it', async () => {
  // A photo keeps the logo at its quality 75; a small scan of coins does not (NC about 0.50 at 75, 0.89 at 95).
  const web = cli(['embed', '--deep', 'web75.jpg', 'deep-web75.jpg', '--json']);
  assert.is(web.code, 0, web.stderr);
  const w = JSON.parse(String(web.stdout));
  assert.is(w.quality, 75);
  assert.is(w.qualityRaisedFrom, undefined);
  await sharp(path.join(PHOTOS, 'skimage-coins.png')).resize(260).jpeg({ quality: 75 }).toFile(file('coins75.jpg'));
  const r = cli(['embed', '--deep', 'coins75.jpg', 'deep-coins.jpg', '--json']);
  assert.is(r.code, 0, r.stderr);
  const out = JSON.parse(String(r.stdout));
  assert.is(out.quality, 95);
  assert.is(out.qualityRaisedFrom, 75);
  assert.is(encodingOf(file('deep-coins.jpg')).quality, 95);
  assert.match(r.stderr, /at the input's JPEG quality 75 the logo was not found in the copy; written at quality 95 instead/);
  const x = cli(['extract', 'deep-coins.jpg', '--json']);
  assert.ok(JSON.parse(String(x.stdout)).found, String(x.stdout));
});

test('writeImage and encodeImage refuse an encoding that is not one readImage gives', async () => {
  const img = await readImage(file('web75.jpg'));
  for (const bad of [{ format: 'jpeg', quality: 0, progressive: false }, { format: 'jpeg', quality: 75 }, { format: 'gif' }, 'jpeg', null]) {
    const err = await encodeImage(img, { format: 'jpeg', encoding: bad }).then(() => null, (e) => e);
    assert.ok(err instanceof InvalidArgumentError, `${JSON.stringify(bad)} was taken`);
    assert.match(err.message, /options\.encoding/);
  }
});

test('the command line writes a JPEG at its source\'s quality, says so, and the mark is read', async () => {
  const r = cli(['embed', 'web75.jpg', 'cli75.jpg', '--payload', PAYLOAD, '--json']);
  assert.is(r.code, 0, r.stderr);
  const out = JSON.parse(String(r.stdout));
  assert.is(out.quality, 75);
  assert.is(encodingOf(file('cli75.jpg')).quality, 75);
  assert.ok(await found(file('cli75.jpg')));
  const text = cli(['embed', 'fine.jpg', 'cli-fine.jpg', '--payload', PAYLOAD]);
  assert.is(text.code, 0, text.stderr);
  assert.match(String(text.stdout), /JPEG quality 90,/);
  assert.equal(encodingOf(file('cli-fine.jpg')), { format: 'jpeg', quality: 90, standardTables: true, chromaSubsampling: '4:4:4', progressive: true });
  // --quality wins; a lossless WebP stays lossless and is reported so; standard output matches too.
  assert.is(JSON.parse(String(cli(['embed', 'web75.jpg', 'cli85.jpg', '--payload', PAYLOAD, '--quality', '85', '--json']).stdout)).quality, 85);
  const ll = cli(['embed', 'art.webp', 'cli-art.webp', '--payload', PAYLOAD]);
  assert.match(String(ll.stdout), /WEBP lossless,/);
  assert.equal(encodingOf(file('cli-art.webp')), { format: 'webp', lossless: true });
  const piped = cli(['embed', 'web75.jpg', '-', '--payload', PAYLOAD]);
  assert.is(piped.code, 0, piped.stderr);
  assert.is(sourceEncoding(piped.stdout).quality, 75);
});

test('a folder run writes each JPEG at its own quality (no --quality; verified), or all at --quality', async () => {
  const src = file('folder');
  fs.mkdirSync(src);
  fs.copyFileSync(file('web75.jpg'), path.join(src, 'a.jpg'));
  fs.copyFileSync(file('fine.jpg'), path.join(src, 'b.jpg'));
  fs.copyFileSync(file('page75.jpg'), path.join(src, 'c.jpg'));
  const r = cli(['embed', src, file('folder-out'), '--payload', PAYLOAD, '--jobs', '1', '--json']);
  assert.is(r.code, 0, r.stderr);
  const lines = String(r.stdout).trim().split('\n').map((l) => JSON.parse(l));
  const c = lines.find((l) => l.file?.endsWith('c.jpg'));
  assert.equal(c.warnings, ["quality: at the input's JPEG quality 75 the mark did not read back from the copy; written at quality 95 instead"]);
  // Said as a note on the copy, not as damage the decoder found in the input.
  const line = r.stderr.split('\n').find((l) => l.includes('did not read back'));
  assert.is(line, `modelmark: warning: ${JSON.stringify(path.join(src, 'c.jpg'))}: at the input's JPEG quality 75 the mark did not read back from the copy; written at quality 95 instead`);
  assert.is(encodingOf(file('folder-out/c.jpg')).quality, 95);
  assert.ok(await found(file('folder-out/c.jpg')));
  assert.is(encodingOf(file('folder-out/a.jpg')).quality, 75);
  assert.equal(encodingOf(file('folder-out/b.jpg')), { format: 'jpeg', quality: 90, standardTables: true, chromaSubsampling: '4:4:4', progressive: true });
  // A different quality is another fingerprint: the re-run redoes both files.
  const again = cli(['embed', src, file('folder-out'), '--payload', PAYLOAD, '--jobs', '1', '--quality', '88', '--json']);
  assert.is(again.code, 0, again.stderr);
  assert.is(encodingOf(file('folder-out/a.jpg')).quality, 88);
  assert.is(encodingOf(file('folder-out/b.jpg')).quality, 88);
});

test.after(remove);

test.run();
