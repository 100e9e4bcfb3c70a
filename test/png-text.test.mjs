// A PNG's text chunks (tEXt, zTXt, iTXt: title, author, copyright, an image generator's prompt
// and workflow) kept in marked PNG copies: read by readMetadata / readImage, written by
// embedMetadata / writeImage / the command line, and read back by libvips (sharp's `comments`),
// an independent reader; other formats get a warning; limits hold against crafted files.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { createWatermarker, readImage, writeImage, readMetadata, embedMetadata, PNG_TEXT_LIMITS, InvalidArgumentError } from '../dist/node/index.js';
import { pngChunk, pngWith } from './helpers/png.mjs';
import { PHOTOS, workspace } from './helpers/workspace.mjs';

const KEY = 'png text test key';
const PAYLOAD = 'c0ffee00000000c4';
const { dir, file, cli, remove } = workspace('png-text', KEY);
const wm = await createWatermarker({ key: KEY });

const WORKFLOW = JSON.stringify({ nodes: [{ id: 3, type: 'KSampler', seed: 1234 }], links: [] });
/** The text chunks as an image generator and an editor leave them, and their texts as libvips reads them. */
const TEXT = [
  ['tEXt', Buffer.from('parameters\0a photo of a garden, Steps: 30, Sampler: Euler a, CFG scale: 7, Seed: 1234', 'latin1')],
  ['tEXt', Buffer.from('Copyright\0(c) 2026 Ada Lovelace', 'latin1')],
  ['zTXt', Buffer.concat([Buffer.from('workflow\0\0', 'latin1'), deflateSync(Buffer.from(WORKFLOW))])],
  ['iTXt', Buffer.concat([Buffer.from('Description\0\0\0en\0Beschreibung\0', 'latin1'), Buffer.from('A garden in the sun ☀', 'utf8')])],
];
const COMMENTS = [
  { keyword: 'parameters', text: 'a photo of a garden, Steps: 30, Sampler: Euler a, CFG scale: 7, Seed: 1234' },
  { keyword: 'Copyright', text: '(c) 2026 Ada Lovelace' },
  { keyword: 'workflow', text: WORKFLOW },
  { keyword: 'Description', text: 'A garden in the sun ☀' },
];
/** Chunks that are not text to carry: XMP (read as xmp) and ImageMagick's copy of the EXIF. */
const NOT_TEXT = [
  ['iTXt', Buffer.concat([Buffer.from('XML:com.adobe.xmp\0\0\0\0\0', 'latin1'), Buffer.from('<x:xmpmeta xmlns:x="adobe:ns:meta/"/>')])],
  ['zTXt', Buffer.concat([Buffer.from('Raw profile type exif\0\0', 'latin1'), deflateSync(Buffer.from('\nexif\n  8\n4d4d002a00000008'))])],
];
const comments = async (bytes) => (await sharp(bytes).metadata()).comments ?? [];

let png;
test.before(async () => {
  png = await sharp(path.join(PHOTOS, 'mate-Garden.jpg')).resize(480, 300).png().toBuffer();
  fs.writeFileSync(file('generated.png'), pngWith(png, [...TEXT, ...NOT_TEXT]));
});

test('readMetadata gives a PNG\'s text chunks as stored, not its XMP or ImageMagick\'s raw profiles', async () => {
  const m = await readMetadata(fs.readFileSync(file('generated.png')));
  assert.equal(m.pngText.map((t) => [t.type, Buffer.from(t.data)]), TEXT);
  assert.ok(m.xmp, 'the XMP is read as xmp');
  assert.is((await readMetadata(png)).pngText, undefined);
});

test('embedMetadata writes them into a PNG where libvips reads them; JPEG, TIFF and WebP carry none', async () => {
  const pngText = TEXT.map(([type, data]) => ({ type, data }));
  const out = await embedMetadata(png, 'png', { pngText }, { width: 480, height: 300, alpha: false });
  assert.equal(await comments(out), COMMENTS);
  assert.equal((await readMetadata(out)).pngText.map((t) => [t.type, Buffer.from(t.data)]), TEXT);
  const jpeg = await sharp(png).jpeg().toBuffer();
  assert.is((await readMetadata(await embedMetadata(jpeg, 'jpeg', { pngText }, { width: 480, height: 300, alpha: false }))).pngText, undefined);
  const webp = await sharp(png).webp().toBuffer();
  assert.ok(Buffer.from(await embedMetadata(webp, 'webp', { pngText }, { width: 480, height: 300, alpha: false })).equals(webp), 'a WebP is not rewritten for text it cannot hold');
  for (const bad of ['text', [{ type: 'tIME', data: new Uint8Array(7) }], [{ type: 'tEXt', data: 'a\0b' }], [null]]) {
    const err = await embedMetadata(png, 'png', { pngText: bad }, { width: 480, height: 300, alpha: false }).then(() => null, (e) => e);
    assert.ok(err instanceof InvalidArgumentError, JSON.stringify(bad));
    assert.match(err.message, /metadata\.pngText/);
  }
});

test('readImage({ metadata: true }) keeps them and writeImage writes them into a PNG copy (not a JPEG one)', async () => {
  const img = await readImage(file('generated.png'), { metadata: true });
  assert.is(img.metadata.pngText.length, 4);
  const marked = wm.embed(img, PAYLOAD);
  const w = await writeImage(file('api.png'), marked, { metadata: img.metadata });
  assert.ok(w.metadata.includes('pngText'));
  assert.equal(await comments(fs.readFileSync(file('api.png'))), COMMENTS);
  assert.is(wm.detect(await readImage(file('api.png'))).payload, PAYLOAD);
  const j = await writeImage(file('api.jpg'), marked, { metadata: img.metadata });
  assert.not.ok(j.metadata.includes('pngText'));
  const err = await writeImage(file('bad.png'), marked, { metadata: { pngText: [{ type: 'tEXt' }] } }).then(() => null, (e) => e);
  assert.ok(err instanceof InvalidArgumentError);
  assert.match(err.message, /options\.metadata\.pngText/);
});

test('past PNG_TEXT_LIMITS (chunks or bytes), a crafted file\'s text is left out whole, with a warning', async () => {
  const many = pngWith(png, Array.from({ length: PNG_TEXT_LIMITS.chunks + 1 }, (_, i) => ['tEXt', Buffer.from(`k${i}\0v`, 'latin1')]));
  const m = await readMetadata(many);
  assert.is(m.pngText, undefined);
  assert.match(m.warnings.join('\n'), /the PNG text comes to over 1024 chunks/);
  const big = pngWith(png, Array.from({ length: 5 }, (_, i) => ['tEXt', Buffer.concat([Buffer.from(`k${i}\0`, 'latin1'), Buffer.alloc(1 << 20, 0x61)])]));
  fs.writeFileSync(file('big.png'), big);
  const img = await readImage(file('big.png'), { metadata: true });
  assert.is(img.metadata.pngText, undefined);
  assert.match(img.warnings.join('\n'), /the PNG text comes to over 4 MiB/);
});

test('a text chunk whose CRC fails (damaged) is left out with a warning, not copied under a new, sound CRC', async () => {
  const bytes = pngWith(png, TEXT.slice(0, 2));
  const first = 8 + 25; // the first text chunk, after IHDR
  bytes[first + 12 + bytes.readUInt32BE(first) - 1] ^= 0xff; // its CRC's last byte
  const m = await readMetadata(bytes);
  assert.equal(m.pngText.map((t) => [t.type, Buffer.from(t.data)]), TEXT.slice(1, 2));
  assert.equal(m.warnings, ['metadata: the PNG text holds 1 chunk that fails its CRC check (damaged): left out']);
  fs.writeFileSync(file('damaged.png'), bytes);
  const img = await readImage(file('damaged.png'), { metadata: true });
  assert.is(img.metadata.pngText.length, 1);
  assert.match(img.warnings.join('\n'), /1 chunk that fails its CRC check/);
  // Cut off inside its CRC: left out too.
  const cut = pngWith(png, [TEXT[0]]).subarray(0, first + 12 + TEXT[0][1].length - 2);
  assert.is((await readMetadata(cut)).pngText, undefined);
});

test('a 50 MB PNG of millions of tiny chunks (text past the limits or not): the XMP after them is still read, the text left out with its warning (speed: no timing asserted here)', async () => {
  const flood = (type, data) => {
    const one = pngChunk(type, data), many = Buffer.alloc(one.length * Math.floor(50e6 / one.length));
    for (let at = 0; at < many.length; at += one.length) one.copy(many, at);
    return many;
  };
  const ihdrEnd = 8 + 25;
  const xmp = Buffer.from('<x:xmpmeta xmlns:x="adobe:ns:meta/"/>');
  for (const [type, data] of [['prVt', Buffer.alloc(0)], ['tEXt', Buffer.from('k\0', 'latin1')]]) {
    // The XMP after the flood is still read.
    const bytes = Buffer.concat([png.subarray(0, ihdrEnd), flood(type, data), pngChunk('iTXt', Buffer.concat([Buffer.from('XML:com.adobe.xmp\0\0\0\0\0', 'latin1'), xmp])), png.subarray(ihdrEnd)]);
    const m = await readMetadata(bytes);
    assert.ok(Buffer.from(m.xmp).equals(xmp), type);
    assert.is(m.pngText, undefined);
    if (type === 'tEXt') assert.match(m.warnings.join('\n'), /the PNG text comes to over 1024 chunks/);
  }
});

test('the command line keeps a PNG\'s text in PNG copies, warns for JPEG, and --strip-metadata drops it', async () => {
  const r = cli(['embed', 'generated.png', 'cli.png', '--payload', PAYLOAD, '--json']);
  assert.is(r.code, 0, r.stderr);
  assert.ok(JSON.parse(r.stdout).metadata.includes('pngText'));
  assert.equal(await comments(fs.readFileSync(file('cli.png'))), COMMENTS);
  const j = cli(['embed', 'generated.png', 'cli.jpg', '--payload', PAYLOAD]);
  assert.is(j.code, 0, j.stderr);
  assert.match(j.stderr, /"cli\.jpg": the PNG text \(tEXt, zTXt, iTXt\) of the input was left out \(JPEG files have no place for it; write PNG to keep it\)/);
  assert.is(cli(['embed', 'generated.png', 'stripped.png', '--payload', PAYLOAD, '--strip-metadata']).code, 0);
  assert.equal(await comments(fs.readFileSync(file('stripped.png'))), []);
  // A folder run too.
  fs.mkdirSync(file('in'));
  fs.copyFileSync(file('generated.png'), file('in/a.png'));
  const f = cli(['embed', file('in'), file('out'), '--payload', PAYLOAD, '--jobs', '1', '--json']);
  assert.is(f.code, 0, f.stderr);
  assert.equal(await comments(fs.readFileSync(file('out/a.png'))), COMMENTS);
});

test.after(remove);

test.run();
