// Metadata of marked copies: modelmark/metadata (core: any runtime) reads and writes EXIF, ICC
// profiles and XMP in encoded JPEG, PNG and WebP bytes (checked against sharp, i.e. libvips' own
// parsers and writers); readImage /
// writeImage carry them from a file to its copy; the command line keeps them by default (single
// files and folders), with the pixels left in the ICC profile's colours and EXIF's orientation
// set upright, and leaves them out with --strip-metadata.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { embedMetadata, metadataOf, metadataWarnings, METADATA_LIMITS, iccColourSpace, readMetadata, uprightExif } from '../dist/metadata.js';
import { readImage, writeImage, InvalidArgumentError } from '../dist/node/index.js';
import { pngChunk, pngWith, xmpITXt, xmpOf } from './helpers/png.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'modelmark.js');
const PHOTOS = fileURLToPath(new URL('../../shared/photos/', import.meta.url));
const KEY = 'metadata test key';
const PAYLOAD = 'c0ffee00000000aa';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmark-metadata-'));
const file = (name) => path.join(dir, name);
const { MODELMARK_KEY: _drop, ...baseEnv } = process.env;

function cli(args) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, env: baseEnv, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const XMP = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">' +
  '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Ada Lovelace</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>';
const COPYRIGHT = 'Ada Lovelace 2026';

/** PSNR of two equal-length 8-bit buffers. */
function psnr(a, b) {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return 10 * Math.log10((255 * 255) / (s / a.length));
}

let p3Jpeg, sideways, p3Icc;
test.before(async () => {
  // A saturated Display P3 photo with EXIF and XMP, and one stored sideways (EXIF orientation 6).
  const base = sharp(path.join(PHOTOS, 'mate-Garden.jpg')).resize(640, 400).modulate({ saturation: 1.8 });
  p3Jpeg = file('p3.jpg');
  await base.clone().withIccProfile('p3').withExif({ IFD0: { Copyright: COPYRIGHT } }).withXmp(XMP).jpeg({ quality: 92 }).toFile(p3Jpeg);
  p3Icc = (await sharp(p3Jpeg).metadata()).icc;
  sideways = file('sideways.jpg');
  await base.clone().withExif({ IFD0: { Copyright: COPYRIGHT } }).jpeg({ quality: 92 }).toBuffer()
    .then((b) => sharp(b).keepExif().withMetadata({ orientation: 6 }).jpeg({ quality: 92 }).toFile(sideways));
});
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('embedMetadata: JPEG, PNG and WebP carry EXIF, ICC and XMP that sharp reads back; the pixels are untouched', async () => {
  const meta = await sharp(p3Jpeg).metadata();
  const kept = metadataOf(meta, true, { upright: true });
  assert.equal(Object.keys(kept).sort(), ['density', 'exif', 'icc', 'xmp']);
  assert.is(kept.density, meta.density, 'the resolution, as sharp reads it');
  assert.is(iccColourSpace(kept.icc), 'RGB');
  const pixels = await sharp(p3Jpeg).keepIccProfile().raw().toBuffer({ resolveWithObject: true });
  const { width, height, channels } = pixels.info;
  for (const [format, encoder] of [['jpeg', (s) => s.jpeg()], ['png', (s) => s.png()], ['webp', (s) => s.webp()]]) {
    const plain = await encoder(sharp(pixels.data, { raw: { width, height, channels } })).toBuffer();
    const out = await embedMetadata(plain, format, kept, { width, height, alpha: false });
    const m = await sharp(out).metadata();
    assert.is(m.format, format);
    assert.ok(m.icc && Buffer.compare(m.icc, kept.icc) === 0, `${format}: the ICC profile, byte for byte`);
    assert.ok(m.exif?.toString('latin1').includes(COPYRIGHT), `${format}: EXIF Copyright`);
    assert.ok(m.xmp?.toString('utf8').includes('Ada Lovelace'), `${format}: XMP`);
    // The encoded image is the same: decoding ignores the metadata.
    const a = await sharp(plain).raw().toBuffer(), b = await sharp(out).keepIccProfile().raw().toBuffer();
    assert.ok(Buffer.compare(a, b) === 0, `${format}: same pixels`);
  }
  // Nothing to add: the very same buffer.
  const png = await sharp(pixels.data, { raw: { width, height, channels } }).png().toBuffer();
  assert.is(await embedMetadata(png, 'png', {}, { width, height, alpha: false }), png);
  try {
    await embedMetadata(png, 'jpeg', kept, { width, height, alpha: false });
    assert.unreachable('PNG bytes given as JPEG');
  } catch (err) {
    assert.instance(err, InvalidArgumentError);
    assert.match(err.message, /the bytes of a JPEG stream .* for encoded/);
  }
});

/** The JPEG's APP0 segments before its scan: [units, x density, y density] of each JFIF one. */
function jfifSegments(jpeg) {
  const out = [];
  for (let at = 2; at + 4 <= jpeg.length && jpeg[at] === 0xff && jpeg[at + 1] !== 0xda;) {
    const length = jpeg.readUInt16BE(at + 2);
    if (jpeg[at + 1] === 0xe0 && jpeg.toString('latin1', at + 4, at + 9) === 'JFIF\0') {
      out.push([jpeg[at + 11], jpeg.readUInt16BE(at + 12), jpeg.readUInt16BE(at + 14)]);
    }
    at += 2 + length;
  }
  return out;
}

/** The PNG's chunk types, in order. */
function pngTypes(png) {
  const out = [];
  for (let at = 8; at + 12 <= png.length; at += 12 + png.readUInt32BE(at)) out.push(png.toString('latin1', at + 4, at + 8));
  return out;
}

test('resolution: readMetadata reads a JPEG\'s JFIF density (per inch or per cm) and a PNG\'s pHYs; embedMetadata writes it in place of the encoder\'s own, once; the pixels are untouched', async () => {
  const pixels = await sharp(path.join(PHOTOS, 'skimage-page.png')).raw().toBuffer({ resolveWithObject: true });
  const { width, height, channels } = pixels.info;
  const raw = () => sharp(pixels.data, { raw: { width, height, channels } });
  const size = { width, height, alpha: false };

  // JPEG: this sharp's encoder writes no JFIF header; one is written first, with the resolution.
  const plainJpeg = await raw().jpeg().toBuffer();
  assert.equal(jfifSegments(plainJpeg), []);
  const jpeg = Buffer.from(await embedMetadata(plainJpeg, 'jpeg', { density: 300, xmp: new TextEncoder().encode(XMP) }, size));
  assert.equal(jfifSegments(jpeg), [[1, 300, 300]]);
  assert.is(jpeg[3], 0xe0, 'JFIF comes first');
  assert.is((await sharp(jpeg).metadata()).density, 300);
  assert.is((await readMetadata(jpeg)).density, 300);
  assert.ok((await readMetadata(jpeg)).xmp?.length > 0);
  assert.ok(Buffer.compare(await sharp(jpeg).raw().toBuffer(), await sharp(plainJpeg).raw().toBuffer()) === 0, 'JPEG pixels untouched');
  // A JFIF header already there is replaced, not doubled.
  const again = Buffer.from(await embedMetadata(jpeg, 'jpeg', { density: 150 }, size));
  assert.equal(jfifSegments(again), [[1, 150, 150]]);
  assert.is((await sharp(again).metadata()).density, 150);
  // Dots per centimetre: 118 per cm is 299.72 per inch.
  const perCm = Buffer.from(jpeg);
  perCm[13] = 2; perCm.writeUInt16BE(118, 14); perCm.writeUInt16BE(118, 16);
  assert.is((await readMetadata(perCm)).density, 118 * 2.54);
  // Units 0 (an aspect ratio only): no resolution.
  perCm[13] = 0;
  assert.is((await readMetadata(perCm)).density, undefined);

  // PNG: a made image's pHYs (libvips's 1 pixel per mm) replaced by one pHYs at 300 dpi.
  const madePng = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#123' } }).png().toBuffer();
  assert.is(pngTypes(madePng).filter((t) => t === 'pHYs').length, 1);
  const png = Buffer.from(await embedMetadata(madePng, 'png', { density: 300 }, { width: 8, height: 8, alpha: false }));
  assert.is(pngTypes(png).filter((t) => t === 'pHYs').length, 1, 'one pHYs');
  assert.ok(pngTypes(png).indexOf('pHYs') < pngTypes(png).indexOf('IDAT'));
  assert.is((await sharp(png).metadata()).density, 300);
  assert.ok(Math.abs((await readMetadata(png)).density - 300) < 0.01);
  assert.ok(Buffer.compare(await sharp(png).raw().toBuffer(), await sharp(madePng).raw().toBuffer()) === 0, 'PNG pixels untouched');

  // WebP has no field for it: a WebP with nothing else to carry comes back as it was (it had
  // been rewritten in the extended format with nothing in it).
  const webp = await raw().webp().toBuffer();
  assert.is(await embedMetadata(webp, 'webp', { density: 300 }, size), webp);

  // Out of range: refused, naming the field.
  for (const bad of [0, -1, NaN, 1e6, '300']) {
    try {
      await embedMetadata(plainJpeg, 'jpeg', { density: bad }, size);
      assert.unreachable(String(bad));
    } catch (err) {
      assert.instance(err, InvalidArgumentError);
      assert.match(err.message, /metadata\.density/);
    }
  }
});

test('embedMetadata: a resolution alone leaves a WebP as it is (WebP has no field for it; before, a simple WebP was rewritten in the extended format)', async () => {
  const webp = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#345' } }).webp().toBuffer();
  assert.is(webp.toString('latin1', 12, 16), 'VP8 ');
  const out = await embedMetadata(webp, 'webp', { density: 300 }, { width: 16, height: 16, alpha: false });
  assert.ok(Buffer.compare(Buffer.from(out), webp) === 0, 'the same bytes');
  const img = { width: 16, height: 16, channels: 3, data: new Uint8Array(16 * 16 * 3).fill(90) };
  await writeImage(file('density.webp'), img, { metadata: { density: 300 } });
  assert.is(fs.readFileSync(file('density.webp')).toString('latin1', 12, 16), 'VP8 ', 'writeImage too');
  // With a block, the extended format as before.
  const withXmp = Buffer.from(await embedMetadata(webp, 'webp', { density: 300, xmp: new TextEncoder().encode(XMP) }, { width: 16, height: 16, alpha: false }));
  assert.is(withXmp.toString('latin1', 12, 16), 'VP8X');
});

test('PNG resolution: every density from 1 to 65535 reads back as written (before, 1 dpi was 39 per metre and read as none), and a pHYs after IDAT is replaced too (before, the copy had two)', async () => {
  const madePng = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#123' } }).png().toBuffer();
  const size = { width: 8, height: 8, alpha: false };
  for (const density of [1, 1.01, 2, 72, 300, 65535]) {
    const png = Buffer.from(await embedMetadata(madePng, 'png', { density }, size));
    const back = (await readMetadata(png)).density;
    assert.ok(back !== undefined && Math.abs(back - density) < 0.02, `${density} dpi read back as ${back}`);
    // And written again from what was read: the same chunk.
    const again = Buffer.from(await embedMetadata(madePng, 'png', { density: back }, size));
    assert.ok(Buffer.compare(again, png) === 0, `${density} dpi: the same pHYs written again`);
  }
  // A pHYs out of place (after IDAT): the copy has one pHYs, before IDAT.
  const types = pngTypes(madePng);
  const chunks = [];
  for (let at = 8; at + 12 <= madePng.length; at += 12 + madePng.readUInt32BE(at)) chunks.push(madePng.subarray(at, at + 12 + madePng.readUInt32BE(at)));
  const phys = chunks[types.indexOf('pHYs')];
  const late = Buffer.concat([madePng.subarray(0, 8), ...chunks.filter((c, i) => types[i] !== 'pHYs' && types[i] !== 'IEND'), phys, chunks[types.indexOf('IEND')]]);
  assert.ok(pngTypes(late).indexOf('pHYs') > pngTypes(late).indexOf('IDAT'));
  const fixed = Buffer.from(await embedMetadata(late, 'png', { density: 300 }, size));
  assert.is(pngTypes(fixed).filter((t) => t === 'pHYs').length, 1, 'one pHYs');
  assert.ok(pngTypes(fixed).indexOf('pHYs') < pngTypes(fixed).indexOf('IDAT'));
  assert.is((await sharp(fixed).metadata()).density, 300);
});

test('JPEG resolution with a JFXX extension (a JFIF thumbnail) after the JFIF header, or first: the new JFIF header comes first and the JFXX segment straight after it, before EXIF / XMP (before, XMP came between them, or before the JFXX segment with no JFIF)', async () => {
  const plain = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#456' } }).jpeg().toBuffer();
  const size = { width: 16, height: 16, alpha: false };
  const jfif = Buffer.from([0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 1, 0, 96, 0, 96, 0, 0]);
  const jfxx = Buffer.from([0xff, 0xe0, 0, 8, 0x4a, 0x46, 0x58, 0x58, 0, 0x10]);
  /** The APP segments before the frame: [marker, tag]. */
  const apps = (b) => {
    const out = [];
    for (let at = 2; b[at] === 0xff && b[at + 1] >= 0xe0 && b[at + 1] <= 0xef; at += 2 + b.readUInt16BE(at + 2)) out.push([b[at + 1], b.toString('latin1', at + 4, at + 8)]);
    return out;
  };
  const xmp = new TextEncoder().encode(XMP);
  for (const head of [[jfif, jfxx], [jfxx]]) {
    const src = Buffer.concat([plain.subarray(0, 2), ...head, plain.subarray(2)]);
    const out = Buffer.from(await embedMetadata(src, 'jpeg', { density: 300, xmp }, size));
    assert.equal(apps(out), [[0xe0, 'JFIF'], [0xe0, 'JFXX'], [0xe1, 'http']], `from ${head.length === 2 ? 'JFIF + JFXX' : 'JFXX alone'}`);
    assert.is((await sharp(out).metadata()).density, 300);
    assert.is((await readMetadata(out)).density, 300);
    assert.ok(Buffer.compare(await sharp(out).raw().toBuffer(), await sharp(plain).raw().toBuffer()) === 0, 'pixels untouched');
    // Without a resolution, the encoder's APP0 segments stay first, in their order.
    const kept = Buffer.from(await embedMetadata(src, 'jpeg', { xmp }, size));
    assert.equal(apps(kept), [...head.map((h) => [0xe0, h.toString('latin1', 4, 8)]), [0xe1, 'http']]);
  }
});

test('a 300 dpi scan keeps its 300 dpi when marked (PNG pHYs and JPEG JFIF with no EXIF: before, the copy came out with no resolution or 72 dpi)', async () => {
  const tiff = await sharp(path.join(PHOTOS, 'skimage-page.png')).withMetadata({ density: 300 }).tiff().toBuffer();
  const png = file('scan300.png');
  await sharp(tiff).png().toFile(png);
  const jpg = file('scan300.jpg');
  const plain = await sharp(tiff).jpeg().toBuffer();
  // A JFIF header at 300 dpi (version 1.01, units 1: per inch), after SOI.
  const app0 = Buffer.from([0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 1, 1, 0x2c, 1, 0x2c, 0, 0]);
  fs.writeFileSync(jpg, Buffer.concat([plain.subarray(0, 2), app0, plain.subarray(2)]));
  for (const input of [png, jpg]) {
    const m = await sharp(input).metadata();
    assert.is(m.density, 300, `${input}: the input`);
    assert.is(m.exif, undefined, 'no EXIF to carry it');
    for (const ext of ['.png', '.jpg', '.tiff']) {
      const out = file(`scan300-out-${path.basename(input)}${ext}`);
      const r = cli(['embed', input, out, '--key', KEY, '--payload', PAYLOAD]);
      assert.is(r.code, 0, r.stderr);
      assert.is((await sharp(out).metadata()).density, 300, `${path.basename(input)} -> ${ext}`);
    }
  }
  // writeImage refuses a resolution it cannot write.
  const img = await readImage(png);
  try {
    await writeImage(file('bad-density.png'), img, { metadata: { density: 0 } });
    assert.unreachable('density 0');
  } catch (err) {
    assert.instance(err, InvalidArgumentError);
    assert.match(err.message, /options\.metadata\.density/);
  }
});

test('uprightExif: Orientation becomes 1 in either byte order; a turned thumbnail (IFD1) is unlinked, an upright one kept', () => {
  /** A TIFF block: IFD0 with Orientation = `o`, linked to an IFD1 with one entry. */
  const tiff = (le, o) => {
    const b = Buffer.alloc(8 + 2 + 12 + 4 + 2 + 12 + 4);
    const u16 = (v, at) => (le ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at));
    const u32 = (v, at) => (le ? b.writeUInt32LE(v, at) : b.writeUInt32BE(v, at));
    b.write(le ? 'II' : 'MM', 0, 'latin1'); u16(42, 2); u32(8, 4);
    u16(1, 8); u16(0x0112, 10); u16(3, 12); u32(1, 14); u16(o, 18); u32(26, 22); // IFD0 -> IFD1 at 26
    u16(1, 26); u16(0x0103, 28); u16(3, 30); u32(1, 32); u16(6, 36); u32(0, 38); // IFD1: Compression
    return b;
  };
  for (const le of [true, false]) {
    const read16 = (b, at) => (le ? b.readUInt16LE(at) : b.readUInt16BE(at));
    const read32 = (b, at) => (le ? b.readUInt32LE(at) : b.readUInt32BE(at));
    const src = tiff(le, 6);
    const up = uprightExif(Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), src]));
    assert.is(read16(up, 18), 1, 'orientation 1');
    assert.is(read32(up, 22), 0, 'thumbnail unlinked');
    assert.is(read16(src, 18), 6, 'the input is not changed');
    const kept = uprightExif(tiff(le, 1));
    assert.is(read32(kept, 22), 26, 'an upright thumbnail stays');
  }
  assert.is(uprightExif(Buffer.from('not exif at all')), undefined);
});

test('readMetadata: the EXIF, ICC, XMP and orientation that sharp wrote, from JPEG, PNG (compressed iCCP) and WebP', async () => {
  for (const format of ['jpeg', 'png', 'webp']) {
    const bytes = await sharp(p3Jpeg).keepMetadata().withMetadata({ orientation: 8 }).toFormat(format).toBuffer();
    const m = await readMetadata(bytes);
    const s = await sharp(bytes).metadata();
    assert.is(m.format, format);
    assert.is(m.orientation, 8, `${format}: orientation`);
    assert.ok(s.icc.length > 128 && Buffer.compare(Buffer.from(m.icc), s.icc) === 0, `${format}: ICC as sharp reads it`);
    assert.ok(Buffer.from(m.exif).toString('latin1').includes(COPYRIGHT), `${format}: EXIF`);
    assert.is(Buffer.from(m.exif).toString('latin1', 0, 2).match(/II|MM/)?.[0].length, 2, `${format}: EXIF as a TIFF structure`);
    assert.ok(Buffer.from(m.xmp).toString('utf8').includes('Ada Lovelace'), `${format}: XMP`);
  }
  assert.equal(await readMetadata(new Uint8Array([1, 2, 3, 4])), {}, 'not an image: nothing');
  const bare = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } }).png().toBuffer();
  // libvips gives a made image 1 pixel per mm, written as pHYs: a resolution, and no block.
  assert.equal(await readMetadata(bare), { format: 'png', density: 25.4 });
});

test('readMetadata on truncated and corrupted containers: always resolves, never throws or hangs', async () => {
  let seed = 7;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (const format of ['jpeg', 'png', 'webp']) {
    const b = new Uint8Array(await sharp(p3Jpeg).keepMetadata().toFormat(format).toBuffer());
    for (let cut = 0; cut < Math.min(b.length, 3000); cut += 11) assert.type(await readMetadata(b.subarray(0, cut)), 'object');
    for (let k = 0; k < 300; k++) {
      const c = b.slice(0, 2500);
      for (let j = 0; j < 4; j++) c[Math.floor(rnd() * c.length)] = Math.floor(rnd() * 256);
      const m = await readMetadata(c);
      for (const key of ['exif', 'icc', 'xmp']) if (m[key] !== undefined) assert.instance(m[key], Uint8Array);
    }
  }
  try {
    await readMetadata('not bytes');
    assert.unreachable('a string');
  } catch (err) {
    assert.instance(err, InvalidArgumentError);
    assert.match(err.message, /for bytes/);
  }
});

test('embedMetadata: a large ICC profile spans several JPEG APP2 segments; WebP with alpha keeps its alpha', async () => {
  // A profile over 64 KB (an RGB header followed by padding): split into numbered segments and
  // joined again by the reader.
  const big = Buffer.alloc(150_000, 7);
  p3Icc.copy(big, 0, 0, 128);
  big.writeUInt32BE(big.length, 0);
  const jpeg = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } }).jpeg().toBuffer();
  const out = Buffer.from(await embedMetadata(jpeg, 'jpeg', { icc: big }, { width: 64, height: 64, alpha: false }));
  let app2 = 0;
  for (let i = 2; i + 4 < out.length && out[i] === 0xff && out[i + 1] !== 0xda; i += 2 + out.readUInt16BE(i + 2)) if (out[i + 1] === 0xe2) app2++;
  assert.is(app2, 3, 'three APP2 segments');
  const m = await sharp(out).metadata();
  assert.ok(m.icc && Buffer.compare(m.icc, big) === 0, 'joined back byte for byte');
  assert.ok(Buffer.compare((await readMetadata(out)).icc, big) === 0, 'readMetadata joins them too');

  const rgba = await sharp({ create: { width: 64, height: 48, channels: 4, background: { r: 200, g: 30, b: 30, alpha: 0.5 } } }).webp({ lossless: true }).toBuffer();
  const withMeta = await embedMetadata(rgba, 'webp', { exif: uprightExif(Buffer.from((await sharp(p3Jpeg).metadata()).exif)) }, { width: 64, height: 48, alpha: true });
  const wm = await sharp(withMeta).metadata();
  assert.is(wm.hasAlpha, true);
  assert.equal([wm.width, wm.height], [64, 48]);
  assert.ok(wm.exif?.toString('latin1').includes(COPYRIGHT));
  const px = await sharp(withMeta).raw().toBuffer();
  assert.equal([...px.subarray(0, 4)], [200, 30, 30, 128]);
});

test('readImage({ metadata: true }): P3 pixels stay P3 (not converted), EXIF upright, and writeImage puts them back', async () => {
  const kept = await readImage(p3Jpeg, { metadata: true });
  const plain = await readImage(p3Jpeg);
  const native = await sharp(p3Jpeg).keepIccProfile().raw().toBuffer();
  assert.ok(Buffer.compare(Buffer.from(kept.data), native) === 0, 'the stored values');
  assert.ok(Buffer.compare(Buffer.from(plain.data), native) !== 0, 'without metadata: converted to sRGB');
  assert.is(plain.metadata, undefined);
  const out = file('copy.png');
  await writeImage(out, kept, { metadata: kept.metadata });
  const m = await sharp(out).metadata();
  assert.ok(Buffer.compare(m.icc, p3Icc) === 0);
  assert.ok(Buffer.compare(await sharp(out).keepIccProfile().raw().toBuffer(), native) === 0, 'PNG: the same P3 values');

  // Orientation 6: the pixels come upright (portrait) and the EXIF that goes with them says 1.
  const up = await readImage(sideways, { metadata: true });
  const src = await sharp(sideways).metadata();
  assert.is(src.orientation, 6);
  assert.equal([up.width, up.height], [src.height, src.width]);
  const upOut = file('upright.jpg');
  await writeImage(upOut, up, { metadata: up.metadata });
  const um = await sharp(upOut).metadata();
  assert.is(um.orientation, 1);
  assert.equal([um.width, um.height], [up.width, up.height]);
  assert.ok(um.exif.toString('latin1').includes(COPYRIGHT));

  // A profile that does not fit the pixels is refused, and so are metadata blocks of the wrong type.
  const grey = { width: 128, height: 128, channels: 1, data: new Uint8Array(128 * 128).fill(90) };
  try {
    await writeImage(file('grey.png'), grey, { metadata: { icc: p3Icc } });
    assert.unreachable('an RGB profile on grey pixels');
  } catch (err) {
    assert.instance(err, InvalidArgumentError);
    assert.match(err.message, /ICC profile does not fit/);
  }
  try {
    await writeImage(file('grey.png'), grey, { metadata: { exif: 'Copyright' } });
    assert.unreachable('a string as EXIF');
  } catch (err) {
    assert.instance(err, InvalidArgumentError);
    assert.match(err.message, /options\.metadata\.exif/);
  }
  assert.not.ok(fs.existsSync(file('grey.png')), 'nothing written');
});

test('CLI embed keeps EXIF, ICC and XMP by default, marks the P3 values, and detect finds the payload; --strip-metadata leaves them out', async () => {
  const kept = file('kept.jpg'), stripped = file('stripped.jpg');
  const a = cli(['embed', p3Jpeg, kept, '--key', KEY, '--payload', PAYLOAD, '--json']);
  assert.is(a.code, 0, a.stderr);
  assert.equal(JSON.parse(a.stdout).metadata, ['exif', 'icc', 'xmp']);
  const m = await sharp(kept).metadata();
  assert.ok(Buffer.compare(m.icc, p3Icc) === 0, 'the P3 profile');
  assert.ok(m.exif.toString('latin1').includes(COPYRIGHT), 'EXIF Copyright');
  assert.ok(m.xmp.toString('utf8').includes('Ada Lovelace'), 'XMP');
  // The marked values are the P3 ones plus the mark: close to the input's stored values, far
  // from their sRGB conversion (which the saturated colours of this photo move a lot).
  const stored = await sharp(p3Jpeg).keepIccProfile().raw().toBuffer();
  const srgb = await sharp(p3Jpeg).raw().toBuffer();
  const marked = await sharp(kept).keepIccProfile().raw().toBuffer();
  const near = psnr(marked, stored), far = psnr(marked, srgb);
  assert.ok(near > 36 && far < near - 6, `PSNR to the P3 values ${near.toFixed(1)} dB, to their sRGB conversion ${far.toFixed(1)} dB`);
  const d = cli(['detect', kept, '--key', KEY, '--json']);
  assert.is(d.code, 0, d.stdout + d.stderr);
  assert.is(JSON.parse(d.stdout).payload, PAYLOAD);

  const b = cli(['embed', p3Jpeg, stripped, '--key', KEY, '--payload', PAYLOAD, '--strip-metadata', '--json']);
  assert.is(b.code, 0, b.stderr);
  assert.equal(JSON.parse(b.stdout).metadata, []);
  const sm = await sharp(stripped).metadata();
  assert.is(sm.icc, undefined);
  assert.is(sm.exif, undefined);
  assert.is(sm.xmp, undefined);
  assert.is(cli(['detect', stripped, '--key', KEY]).code, 0);
});

test('folder batch keeps metadata per file (upright EXIF too); --strip-metadata is an option change that redoes the files', async () => {
  const input = file('in'), output = file('out');
  fs.mkdirSync(input);
  fs.copyFileSync(p3Jpeg, path.join(input, 'p3.jpg'));
  fs.copyFileSync(sideways, path.join(input, 'sideways.jpg'));
  const first = cli(['embed', input, output, '--key', KEY, '--payload', PAYLOAD, '--json']);
  assert.is(first.code, 0, first.stderr);
  const p3 = await sharp(path.join(output, 'p3.jpg')).metadata();
  assert.ok(Buffer.compare(p3.icc, p3Icc) === 0);
  assert.ok(p3.xmp.toString('utf8').includes('Ada Lovelace'));
  const side = await sharp(path.join(output, 'sideways.jpg')).metadata();
  assert.is(side.orientation, 1);
  assert.ok(side.exif.toString('latin1').includes(COPYRIGHT));
  assert.ok(side.height > side.width, 'stored upright (portrait)');

  const again = cli(['embed', input, output, '--key', KEY, '--payload', PAYLOAD, '--strip-metadata', '--json']);
  assert.is(again.code, 0, again.stderr);
  const summary = JSON.parse(again.stdout.trim().split('\n').at(-1)).summary;
  assert.is(summary.done, 2, 'both redone, none skipped');
  assert.is((await sharp(path.join(output, 'p3.jpg')).metadata()).icc, undefined);
  const det = cli(['detect', output, '--key', KEY, '--json']);
  assert.is(det.code, 0, det.stdout + det.stderr);
});

test('readMetadata reads only the first iCCP and XMP chunk of a PNG: a thousand deflate bombs cost one inflation each, not a thousand', async () => {
  const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } }).png().toBuffer();
  // 16 KB of deflate that inflates past the reader's limits (METADATA_LIMITS), as an XMP zTXt and an iCCP chunk.
  const bomb = zlib.deflateSync(Buffer.alloc((16 << 20) + 1024), { level: 9 });
  const xmpBomb = pngChunk('zTXt', Buffer.concat([Buffer.from('XML:com.adobe.xmp\0\0', 'latin1'), bomb]));
  const iccBomb = pngChunk('iCCP', Buffer.concat([Buffer.from('icc\0\0', 'latin1'), bomb]));
  // Valid blocks after the bombs: a reader that tries every chunk finds them.
  const xmp = pngChunk('zTXt', Buffer.concat([Buffer.from('XML:com.adobe.xmp\0\0', 'latin1'), zlib.deflateSync(Buffer.from(XMP))]));
  const icc = pngChunk('iCCP', Buffer.concat([Buffer.from('icc\0\0', 'latin1'), zlib.deflateSync(p3Icc)]));
  const hostile = Buffer.concat([png.subarray(0, 33), xmpBomb, xmpBomb, iccBomb, iccBomb, xmp, icc, png.subarray(33)]);
  const m = await readMetadata(new Uint8Array(hostile));
  assert.is(m.format, 'png');
  assert.is(m.xmp, undefined, 'only the first XMP chunk is read');
  assert.is(m.icc, undefined, 'only the first iCCP chunk is read');
  // The same blocks first are read as before.
  const fine = await readMetadata(new Uint8Array(Buffer.concat([png.subarray(0, 33), xmp, icc, xmpBomb, png.subarray(33)])));
  assert.is(new TextDecoder().decode(fine.xmp), XMP);
  assert.equal(Buffer.from(fine.icc), Buffer.from(p3Icc));
});

test('metadata over METADATA_LIMITS is left out with a warning, a PNG\'s deflated XMP inflated no further than the limit: a 16 KB file no longer makes a 16 MB copy (readMetadata, readImage + writeImage, CLI embed)', async () => {
  assert.equal({ ...METADATA_LIMITS }, { exif: 1 << 20, icc: 4 << 20, xmp: 1 << 20, iptc: 1 << 20 });
  const png = await sharp(path.join(PHOTOS, 'mate-Storm.jpg')).resize(256).png().toBuffer();
  const hostile = pngWith(png, [xmpITXt(xmpOf(16_000_000))]);
  assert.ok(hostile.length < png.length + 20_000);
  const m = await readMetadata(new Uint8Array(hostile));
  assert.is(m.xmp, undefined);
  assert.equal(m.warnings, ['metadata: the XMP packet inflates to over 1 MiB (the most a copy carries): left out']);
  // Under the limit, the same packet is read whole, without a warning.
  const fine = await readMetadata(new Uint8Array(pngWith(png, [xmpITXt(xmpOf(1_000_000))])));
  assert.is(fine.xmp.length, xmpOf(1_000_000).length);
  assert.is(fine.warnings, undefined);
  // A stored (uncompressed) block over its limit: left out by readMetadata and metadataOf alike.
  const bigExif = Buffer.concat([Buffer.from('II*\0\x08\0\0\0\0\0', 'latin1'), Buffer.alloc(METADATA_LIMITS.exif)]);
  const stored = await readMetadata(new Uint8Array(pngWith(png, [['eXIf', bigExif]])));
  assert.is(stored.exif, undefined);
  assert.match(stored.warnings[0], /^metadata: the EXIF block is \d+ bytes, over 1 MiB/);
  assert.equal(metadataOf({ exif: bigExif, xmp: xmpOf(2_000_000) }, false), {});
  assert.is(metadataWarnings({ exif: bigExif, xmp: xmpOf(2_000_000) }).length, 2);

  // Node: sharp inflates the whole packet, readImage leaves it out and warns; the copy stays small.
  const src = file('xmp-bomb.png'), out = file('xmp-bomb-copy.png');
  fs.writeFileSync(src, hostile);
  const image = await readImage(src, { metadata: true });
  assert.is(image.metadata.xmp, undefined);
  assert.equal(image.warnings, ['metadata: the XMP packet is 16000055 bytes, over 1 MiB (the most a copy carries): left out']);
  await writeImage(out, image, { metadata: image.metadata });
  assert.ok(fs.statSync(out).size < 2 * hostile.length, `the copy is ${fs.statSync(out).size} bytes`);
  const c = cli(['embed', src, file('xmp-bomb-marked.png'), '--key', KEY, '--payload', PAYLOAD, '--json']);
  assert.is(c.code, 0, c.stderr);
  assert.equal(JSON.parse(c.stdout).metadata, []);
  assert.match(c.stderr, /^modelmark: warning: ".*xmp-bomb\.png": the XMP packet is 16000055 bytes, over 1 MiB \(the most a copy carries\): left out$/m);
  assert.not.match(c.stderr, /may be damaged/);
  assert.ok(fs.statSync(file('xmp-bomb-marked.png')).size < 4 * hostile.length);
});

test('readImage without metadata: a 16-bit Display P3 PNG becomes sRGB, as its 8-bit twin does (not P3 values read as sRGB)', async () => {
  const src = sharp(path.join(PHOTOS, 'mate-LadyBird.jpg')).resize(320, 220, { fit: 'cover' });
  const p3 = await src.clone().withIccProfile('p3').png().toBuffer(); // 8-bit P3
  const { data: rgb, info } = await sharp(p3).keepIccProfile().raw().toBuffer({ resolveWithObject: true });
  const wide = Uint16Array.from(rgb, (v) => v * 257); // the same P3 values in 16 bits
  const icc = (await sharp(p3).metadata()).icc;
  const png16 = await sharp(wide, { raw: { width: info.width, height: info.height, channels: 3 } }).toColourspace('rgb16').png().toBuffer();
  fs.writeFileSync(file('p3-16.png'), await embedMetadata(png16, 'png', { icc }, { width: info.width, height: info.height, alpha: false }));
  const want = await sharp(p3).toColourspace('srgb').raw().toBuffer(); // libvips converts the 8-bit twin
  const db = (got) => { let s = 0; for (let i = 0; i < want.length; i++) s += (got[i] - want[i]) ** 2; return 10 * Math.log10(255 * 255 / (s / want.length)); };
  const plain = await readImage(file('p3-16.png'));
  assert.ok(db(plain.data) > 45, `8-bit read: ${db(plain.data).toFixed(1)} dB from the sRGB conversion`);
  const deep = await readImage(file('p3-16.png'), { keepDepth: true });
  assert.ok(deep.data instanceof Uint16Array);
  const deep8 = Uint8Array.from(deep.data, (v) => Math.round(v / 257));
  assert.ok(db(deep8) > 45, `16-bit read: ${db(deep8).toFixed(1)} dB from the sRGB conversion`);
});

test('GIF output of P3 pixels (kept in their profile\'s colours): converted to sRGB, as GIF carries no profile; still and animated, CLI and writeImage', async () => {
  /** Mean absolute difference of two files' first frames as a viewer shows them (in sRGB). */
  const shown = async (f) => sharp(f).toColourspace('srgb').removeAlpha().raw().toBuffer();
  const apart = async (a, b) => { const [x, y] = [await shown(a), await shown(b)]; let s = 0; for (let i = 0; i < x.length; i++) s += Math.abs(x[i] - y[i]); return s / x.length; };
  const kept = await readImage(p3Jpeg, { metadata: true });
  const gif = file('p3-written.gif');
  await writeImage(gif, kept, { metadata: kept.metadata });
  const d = await apart(p3Jpeg, gif);
  assert.ok(d < 4, `writeImage GIF looks like the P3 original (mean difference ${d.toFixed(2)})`);
  // An animated P3 WebP marked into a GIF by the command line.
  const { data, info } = await sharp(p3Jpeg).resize(300, 200, { fit: 'cover' }).raw().toBuffer({ resolveWithObject: true });
  const anim = file('p3-anim.webp'), out = file('p3-anim.gif');
  await sharp(Buffer.concat([data, data.map((v) => 255 - v)]), { raw: { ...info, height: 400, pageHeight: 200 } })
    .withIccProfile('p3').webp({ quality: 95, delay: [100, 200] }).toFile(anim);
  const r = cli(['embed', anim, out, '--key', KEY, '--payload', PAYLOAD]);
  assert.is(r.code, 0, r.stderr);
  assert.is((await sharp(out).metadata()).pages, 2);
  const da = await apart(anim, out);
  assert.ok(da < 4, `CLI animated GIF looks like the P3 original (mean difference ${da.toFixed(2)})`);
});

test('a JPEG with further images in Multi-Picture Format (an HDR gain map, a depth map) is marked with a warning that the copy holds the main image only', async () => {
  const main = await sharp(path.join(PHOTOS, 'mate-Garden.jpg')).resize(480, 300).jpeg({ quality: 90 }).toBuffer();
  const gainMap = await sharp(path.join(PHOTOS, 'mate-Garden.jpg')).resize(120, 75).greyscale().jpeg({ quality: 85 }).toBuffer();
  // APP2 "MPF\0" with a big-endian MP Index IFD: version, NumberOfImages 2, the MP entries (offsets unchecked here).
  const ifd = Buffer.alloc(8 + 2 + 3 * 12 + 4 + 32);
  ifd.write('MM', 0, 'latin1'); ifd.writeUInt16BE(42, 2); ifd.writeUInt32BE(8, 4);
  ifd.writeUInt16BE(3, 8);
  const entry = (i, tag, type, count, value) => { const e = 10 + 12 * i; ifd.writeUInt16BE(tag, e); ifd.writeUInt16BE(type, e + 2); ifd.writeUInt32BE(count, e + 4); ifd.writeUInt32BE(value, e + 8); };
  entry(0, 0xb000, 7, 4, 0x30313030);
  entry(1, 0xb001, 4, 1, 2);
  entry(2, 0xb002, 7, 32, 8 + 2 + 36 + 4);
  const body = Buffer.concat([Buffer.from('MPF\0', 'latin1'), ifd]);
  const app2 = Buffer.concat([Buffer.from([0xff, 0xe2, (body.length + 2) >> 8, (body.length + 2) & 255]), body]);
  const mpf = Buffer.concat([main.subarray(0, 2), app2, main.subarray(2), gainMap]);
  const note = 'metadata: the file holds 2 images (Multi-Picture Format: an HDR gain map, a depth map or a preview after the main one); a copy carries the main image only';
  assert.equal((await readMetadata(mpf)).warnings, [note]);
  assert.is((await readMetadata(main)).warnings, undefined);
  fs.writeFileSync(file('ultrahdr.jpg'), mpf);
  assert.equal((await readImage(file('ultrahdr.jpg'), { metadata: true })).warnings, [note]);
  const r = cli(['embed', file('ultrahdr.jpg'), file('ultrahdr-marked.jpg'), '--key', KEY, '--payload', PAYLOAD]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /modelmark: warning: "[^"]*ultrahdr\.jpg": the file holds 2 images \(Multi-Picture Format/);
  assert.not.match(r.stderr, /damaged/);
  // --strip-metadata asks for the main image alone: nothing to say.
  assert.is(cli(['embed', file('ultrahdr.jpg'), file('ultrahdr-stripped.jpg'), '--key', KEY, '--payload', PAYLOAD, '--strip-metadata']).stderr, '');
});

test('MPF: NumberOfImages read from a little- or big-endian MP Index IFD, LONG or SHORT, and believed only as far as its MP entries list images', async () => {
  const main = await sharp({ create: { width: 160, height: 160, channels: 3, background: '#888' } }).jpeg().toBuffer();
  /** `main` with an APP2 "MPF\0" segment: NumberOfImages `n` (of `type`), and MP entries for `entries` images (none: no tag 0xB002; 'outside': past the segment's end). */
  const withMpf = ({ le = false, type = 4, n, entries = n }) => {
    const tags = entries === undefined ? 2 : 3, listed = typeof entries === 'number' ? entries : 0;
    const ifd = Buffer.alloc(8 + 2 + 12 * tags + 4 + 16 * listed);
    const w16 = (v, at) => (le ? ifd.writeUInt16LE(v, at) : ifd.writeUInt16BE(v, at));
    const w32 = (v, at) => (le ? ifd.writeUInt32LE(v, at) : ifd.writeUInt32BE(v, at));
    ifd.write(le ? 'II' : 'MM', 0, 'latin1'); w16(42, 2); w32(8, 4); w16(tags, 8);
    const entry = (i, tag, t, count, value) => { const e = 10 + 12 * i; w16(tag, e); w16(t, e + 2); w32(count, e + 4); if (t === 3) w16(value, e + 8); else w32(value, e + 8); };
    entry(0, 0xb000, 7, 4, 0x30313030);
    entry(1, 0xb001, type, 1, n);
    if (entries === 'outside') entry(2, 0xb002, 7, 16 * n, 8 + 2 + 36 + 4);
    else if (entries !== undefined) entry(2, 0xb002, 7, 16 * entries, 8 + 2 + 36 + 4);
    const body = Buffer.concat([Buffer.from('MPF\0', 'latin1'), ifd]);
    return Buffer.concat([main.subarray(0, 2), Buffer.from([0xff, 0xe2, (body.length + 2) >> 8, (body.length + 2) & 255]), body, main.subarray(2)]);
  };
  const said = async (o) => (await readMetadata(withMpf(o))).warnings?.[0]?.match(/^metadata: the file holds (\S+) images \(Multi-Picture Format/)?.[1];
  assert.is(await said({ le: true, n: 2 }), '2', 'little-endian');
  assert.is(await said({ n: 3 }), '3', 'big-endian');
  assert.is(await said({ le: true, type: 3, n: 2 }), '2', 'a SHORT count');
  assert.is(await said({ n: 1 }), undefined, 'one image: nothing left out');
  // A count the MP entries do not bear out is no count: "further images", not 4294967295 of them.
  assert.is(await said({ n: 0xffffffff, entries: 2 }), '2');
  assert.is(await said({ n: 3, entries: 'outside' }), 'further', 'MP entries past the segment');
  assert.is(await said({ le: true, n: 1000000, entries: undefined }), 'further');
});

test.run();
