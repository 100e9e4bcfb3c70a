// TIFF through every Node path: readImage / writeImage / encodeImage (8-bit, 16-bit, grey, alpha,
// lossless, metadata, resolution, no pages), the command line (single files, --format, standard
// output, folders, --deep is not run here), and what a written file is reported to carry.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { createWatermarker, readImage, writeImage, encodeImage, readMetadata, embedMetadata, InvalidArgumentError } from '../dist/node/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'modelmark.js');
const PHOTOS = fileURLToPath(new URL('../../shared/photos/', import.meta.url));
const KEY = 'tiff test key';
const PAYLOAD = 'c0ffee00000000f1';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmark-tiff-'));
const file = (name) => path.join(dir, name);
const { MODELMARK_KEY: _drop, ...baseEnv } = process.env;
const wm = await createWatermarker({ key: KEY });

function cli(args, options = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env: baseEnv, timeout: 120_000, ...options });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: String(r.stderr) };
}

const found = (r) => r.found && r.payload === PAYLOAD;

const XMP = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">' +
  '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Ada Lovelace</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>';

test.before(async () => {
  const base = () => sharp(path.join(PHOTOS, 'mate-Garden.jpg')).resize(480, 300);
  // A scan-like TIFF: JPEG-compressed, 300 dpi, Display P3 with XMP.
  await base().withIccProfile('p3').withXmp(XMP).withMetadata({ density: 300 }).tiff({ compression: 'jpeg', quality: 90 }).toFile(file('scan.tiff'));
  await base().toColourspace('rgb16').tiff({ compression: 'lzw' }).toFile(file('deep16.tif'));
  // One-channel grey (sharp's grayscale() alone writes a grey-looking RGB TIFF).
  const grey = await base().grayscale().raw().toBuffer({ resolveWithObject: true });
  await sharp(grey.data, { raw: { width: grey.info.width, height: grey.info.height, channels: 1 } }).toColourspace('b-w').tiff().toFile(file('grey.tif'));
  await base().ensureAlpha(0.5).png().toFile(file('alpha.png'));
  // A JPEG with EXIF and an ICC profile (libvips writes no EXIF into a TIFF).
  await base().withIccProfile('p3').withExif({ IFD0: { Copyright: 'Ada Lovelace 2026', Make: 'Analytical Engines' }, IFD2: { DateTimeOriginal: '2026:11:28 10:00:00' } })
    .jpeg({ quality: 92 }).toFile(file('exif.jpg'));
});
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('writeImage writes .tif / .tiff (and a TIFF input\'s format without an extension): lossless deflate, the marked pixels exactly, the mark found', async () => {
  const img = await readImage(file('scan.tiff'));
  assert.is(img.format, 'tiff');
  const marked = wm.embed(img, PAYLOAD);
  for (const name of ['out.tiff', 'out.TIF', 'out-noext']) {
    const w = await writeImage(file(name), marked, { format: img.format });
    assert.is(w.format, 'tiff', name);
    const m = await sharp(file(name)).metadata();
    assert.is(m.format, 'tiff', name);
    const back = await readImage(file(name));
    assert.equal(back.data, marked.data, `${name}: lossless (the marked samples read back exactly)`);
    assert.ok(found(wm.detect(back)), name);
  }
  for (const format of ['tiff', 'tif', 'TIFF']) {
    const e = await encodeImage(marked, { format });
    assert.is(e.format, 'tiff');
    assert.is((await sharp(e.data).metadata()).format, 'tiff', `encodeImage ${format}`);
  }
  // --quality has no say: the same bytes whatever it is.
  const q10 = await encodeImage(marked, { format: 'tiff', quality: 10 });
  const q95 = await encodeImage(marked, { format: 'tiff', quality: 95 });
  assert.ok(Buffer.compare(q10.data, q95.data) === 0, 'TIFF is lossless: quality is ignored');
});

test('TIFF keeps 16-bit samples, grey stays one channel, alpha is kept exactly', async () => {
  const deep = await readImage(file('deep16.tif'), { keepDepth: true });
  assert.instance(deep.data, Uint16Array);
  const marked = wm.embed(deep, PAYLOAD);
  await writeImage(file('deep-out.tif'), marked);
  const m = await sharp(file('deep-out.tif')).metadata();
  assert.is(m.depth, 'ushort');
  const back = await readImage(file('deep-out.tif'), { keepDepth: true });
  assert.instance(back.data, Uint16Array);
  assert.equal(back.data, marked.data, '16-bit samples read back exactly');
  assert.ok(found(wm.detect(back)));

  const grey = await readImage(file('grey.tif'));
  assert.is(grey.channels, 1);
  await writeImage(file('grey-out.tif'), wm.embed(grey, PAYLOAD));
  const g = await sharp(file('grey-out.tif')).metadata();
  assert.is(g.channels, 1);
  assert.ok(found(wm.detect(await readImage(file('grey-out.tif')))));

  const rgba = await readImage(file('alpha.png'));
  assert.is(rgba.channels, 4);
  const markedA = wm.embed(rgba, PAYLOAD);
  await writeImage(file('alpha-out.tiff'), markedA);
  const backA = await readImage(file('alpha-out.tiff'));
  assert.is(backA.channels, 4);
  assert.equal(backA.data, markedA.data, 'RGBA read back exactly, alpha included');
});

/**
 * An EXIF block's fields, by a parser of its own (not the library's): IFD0 and the EXIF sub-IFD,
 * ASCII as strings, SHORT / LONG as numbers, RATIONAL as [numerator, denominator].
 */
function exifFields(b) {
  const le = b[0] === 0x49, d = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out = {};
  const ifd = (at) => {
    const n = d.getUint16(at, le);
    for (let i = 0; i < n; i++) {
      const e = at + 2 + 12 * i, tag = d.getUint16(e, le), type = d.getUint16(e + 2, le), count = d.getUint32(e + 4, le);
      const size = [0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8][type] * count;
      const v = size <= 4 ? e + 8 : d.getUint32(e + 8, le);
      if (tag === 34665) ifd(d.getUint32(e + 8, le));
      else if (type === 2) out[tag] = Buffer.from(b.subarray(v, v + count)).toString('latin1').replace(/\0+$/, '');
      else if (type === 3) out[tag] = d.getUint16(v, le);
      else if (type === 4) out[tag] = d.getUint32(v, le);
      else if (type === 5) out[tag] = [d.getUint32(v, le), d.getUint32(v + 4, le)];
    }
  };
  ifd(d.getUint32(4, le));
  return out;
}

test('TIFF metadata: the EXIF (as sub-IFDs: libvips writes none), ICC profile, XMP and resolution are kept, read back by readImage, and writeImage says so', async () => {
  const scan = await readImage(file('scan.tiff'), { metadata: true });
  assert.is(scan.metadata.density, 300);
  assert.ok(scan.metadata.icc?.length > 0 && scan.metadata.xmp?.length > 0);
  const w = await writeImage(file('meta-out.tiff'), wm.embed(scan, PAYLOAD), { metadata: scan.metadata });
  assert.equal(w.metadata, ['icc', 'xmp']);
  const m = await sharp(file('meta-out.tiff')).metadata();
  assert.is(m.density, 300, 'printed at the scan\'s 300 dpi');
  assert.is(m.resolutionUnit, 'inch');
  assert.ok(Buffer.compare(m.icc, Buffer.from(scan.metadata.icc)) === 0, 'the same ICC profile');
  assert.ok(Buffer.from(m.xmp).toString('utf8').includes('Ada Lovelace'));

  const photo = await readImage(file('exif.jpg'), { metadata: true });
  assert.ok(photo.metadata.exif?.length > 0);
  const w2 = await writeImage(file('exif-out.tiff'), wm.embed(photo, PAYLOAD), { metadata: photo.metadata });
  assert.equal(w2.metadata, ['exif', 'icc']);
  // A sound TIFF for libtiff (decoded with warnings as errors), and its fields as written.
  assert.is((await sharp(file('exif-out.tiff'), { failOn: 'warning' }).raw().toBuffer()).length, 480 * 300 * 3);
  const back = await readImage(file('exif-out.tiff'), { metadata: true });
  const fields = exifFields(back.metadata.exif);
  assert.is(fields[33432], 'Ada Lovelace 2026', 'Copyright');
  assert.is(fields[271], 'Analytical Engines', 'Make');
  assert.is(fields[36867], '2026:11:28 10:00:00', 'DateTimeOriginal, in the EXIF sub-IFD');
  assert.ok(Buffer.compare(Buffer.from(back.metadata.icc), Buffer.from(photo.metadata.icc)) === 0);
  // And on into a JPEG: the EXIF a TIFF carried goes on.
  await writeImage(file('exif-again.jpg'), back, { metadata: back.metadata });
  assert.is(exifFields((await readMetadata(fs.readFileSync(file('exif-again.jpg')))).exif)[36867], '2026:11:28 10:00:00');
  // No resolution known: 72 dpi, not sharp's default of 1 pixel per mm (25.4 dpi).
  const bare = await encodeImage(wm.embed(photo, PAYLOAD), { format: 'tiff' });
  assert.is((await sharp(bare.data).metadata()).density, 72);
  assert.equal(bare.metadata, []);
});

test('TIFF with metadata keeps the kind of the samples: 16-bit stays 16-bit, grey stays grey (through the carrier PNG they had been 8-bit and RGB)', async () => {
  const xmp = new TextEncoder().encode(XMP);
  // 16-bit RGB with its ICC profile and XMP: the samples read back exactly, at 16 bits.
  const deep = await readImage(file('deep16.tif'), { keepDepth: true });
  const marked = wm.embed(deep, PAYLOAD);
  const w = await writeImage(file('deep-meta.tif'), marked, { metadata: { xmp, density: 300 } });
  assert.equal(w.metadata, ['xmp']);
  const m = await sharp(file('deep-meta.tif')).metadata();
  assert.is(m.depth, 'ushort', '16 bits kept with metadata');
  assert.is(m.density, 300);
  const back = await readImage(file('deep-meta.tif'), { keepDepth: true });
  assert.instance(back.data, Uint16Array);
  assert.equal(back.data, marked.data, '16-bit samples read back exactly');
  // One-channel grey, grey + alpha (8 and 16 bits): as many channels as given.
  const grey = await readImage(file('grey.tif'));
  const gm = await writeImage(file('grey-meta.tif'), wm.embed(grey, PAYLOAD), { metadata: { xmp } });
  assert.equal(gm.metadata, ['xmp']);
  const g = await sharp(file('grey-meta.tif')).metadata();
  assert.is(g.channels, 1, 'grey stays one channel');
  assert.equal((await readImage(file('grey-meta.tif'))).data, wm.embed(grey, PAYLOAD).data);
  for (const Samples of [Uint8Array, Uint16Array]) {
    const data = new Samples(grey.width * grey.height * 2).map((_, i) => (i % 2 ? (Samples === Uint8Array ? 200 : 51400) : grey.data[i >> 1] * (Samples === Uint8Array ? 1 : 257)));
    await writeImage(file('grey-alpha-meta.tif'), { width: grey.width, height: grey.height, channels: 2, data }, { metadata: { xmp } });
    const ga = await sharp(file('grey-alpha-meta.tif')).metadata();
    assert.is(ga.channels, 2, `${Samples.name}: grey + alpha stays two channels`);
    assert.is(ga.depth, Samples === Uint8Array ? 'uchar' : 'ushort');
  }
});

test('an EXIF block in the other byte order (big-endian into libvips\'s little-endian TIFF) is converted value by value', async () => {
  // IFD0: Make (ASCII), the EXIF pointer; EXIF IFD: ExposureTime 1/250 (RATIONAL), ISO 400 (SHORT),
  // DateTimeOriginal (ASCII), all big-endian.
  const be = Buffer.alloc(200);
  be.write('MM', 0, 'latin1'); be.writeUInt16BE(42, 2); be.writeUInt32BE(8, 4);
  be.writeUInt16BE(2, 8);
  be.writeUInt16BE(271, 10); be.writeUInt16BE(2, 12); be.writeUInt32BE(8, 14); be.writeUInt32BE(100, 18);
  be.writeUInt16BE(34665, 22); be.writeUInt16BE(4, 24); be.writeUInt32BE(1, 26); be.writeUInt32BE(40, 30);
  be.writeUInt32BE(0, 34);
  be.writeUInt16BE(3, 40);
  be.writeUInt16BE(33434, 42); be.writeUInt16BE(5, 44); be.writeUInt32BE(1, 46); be.writeUInt32BE(120, 50);
  be.writeUInt16BE(34855, 54); be.writeUInt16BE(3, 56); be.writeUInt32BE(1, 58); be.writeUInt16BE(400, 62);
  be.writeUInt16BE(36867, 66); be.writeUInt16BE(2, 68); be.writeUInt32BE(20, 70); be.writeUInt32BE(130, 74);
  be.writeUInt32BE(0, 78);
  be.write('Babbage\0', 100, 'latin1');
  be.writeUInt32BE(1, 120); be.writeUInt32BE(250, 124);
  be.write('2026:11:28 10:00:00\0', 130, 'latin1');
  const want = { 271: 'Babbage', 33434: [1, 250], 34855: 400, 36867: '2026:11:28 10:00:00' };
  assert.equal(exifFields(be), want, 'the block as built');
  const grey = await readImage(file('grey.tif'));
  const tiff = (await encodeImage(grey, { format: 'tiff' })).data;
  assert.is(tiff.toString('latin1', 0, 2), 'II');
  const tagged = Buffer.from(await embedMetadata(tiff, 'tiff', { exif: be }, { width: grey.width, height: grey.height, alpha: false }));
  assert.equal(exifFields((await readMetadata(tagged)).exif), want, 'read back, in little-endian');
  assert.ok(Buffer.compare(await sharp(tagged, { failOn: 'warning' }).raw().toBuffer(), await sharp(tiff).raw().toBuffer()) === 0, 'the image untouched');
});

/**
 * A TIFF structure built by hand, in either byte order: `ifds` are [offset, entries, next], an
 * entry [tag, type, count, value]: a number (the 4 value bytes as a LONG, or a SHORT when the type
 * is SHORT and count 1), or bytes (inline when at most 4, else placed from `dataAt` on).
 */
function handTiff({ le = true, size = 4096, ifd0 = 8, ifds, dataAt = 2048, magic = 42 }) {
  const b = Buffer.alloc(size);
  const u16 = (v, at) => (le ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at));
  const u32 = (v, at) => (le ? b.writeUInt32LE(v, at) : b.writeUInt32BE(v, at));
  b.write(le ? 'II' : 'MM', 0, 'latin1'); u16(magic, 2); u32(ifd0, 4);
  for (const [at, entries, next = 0] of ifds) {
    u16(entries.length, at);
    entries.forEach(([tag, type, count, value], i) => {
      const e = at + 2 + 12 * i;
      u16(tag, e); u16(type, e + 2); u32(count, e + 4);
      if (typeof value === 'number') (type === 3 && count === 1 ? u16(value, e + 8) : u32(value, e + 8));
      else if (value.length <= 4) Buffer.from(value).copy(b, e + 8);
      else { Buffer.from(value).copy(b, dataAt); u32(dataAt, e + 8); dataAt += value.length + (value.length % 2); }
    });
    u32(next, at + 2 + 12 * entries.length);
  }
  return b;
}
const latin = (s) => Buffer.from(s, 'latin1');

test('hostile TIFFs: entries naming one value, overlapping sub-IFDs and pages are not copied over and over (a 64 KB file had made a 20 MB EXIF block, 45 KB of pages 40 MB)', async () => {
  // IFD0 -> an EXIF IFD of 1000 tags that all name the same 20000 bytes.
  const shared = handTiff({ size: 1 << 16, ifds: [[8, [[34665, 4, 1, 100]]], [100, Array.from({ length: 1000 }, (_, i) => [40000 + i, 7, 20000, 20000])]] });
  const m = await readMetadata(shared);
  assert.is(m.format, 'tiff');
  assert.is(m.exif, undefined, 'no EXIF block of 1000 copies');
  assert.equal(m.warnings, ['metadata: the EXIF block comes to over 1 MiB (the most a copy carries): left out']);
  const base = await sharp({ create: { width: 16, height: 8, channels: 3, background: '#f80' } }).tiff().toBuffer();
  const tagged = await embedMetadata(base, 'tiff', { exif: shared, xmp: new TextEncoder().encode(XMP) }, {});
  assert.ok(tagged.length < base.length + 2 * XMP.length, `${tagged.length} bytes: the crafted EXIF left out, the XMP kept`);
  assert.ok(Buffer.from(tagged).includes(Buffer.from('Ada Lovelace')));
  // 4096 pages of 1024 entries, each IFD 8 bytes after the one before (they overlap): the ICC
  // profile goes into as many as fit side by side, the rest of the chain is left as it was.
  const K = 4096, N = 1024, pages = Buffer.alloc(8 + 8 * K + 12 * N + 16);
  pages.write('II*\0', 0, 'latin1'); pages.writeUInt32LE(8, 4);
  for (let k = 0; k < K; k++) pages.writeUInt16LE(N, 8 + 8 * k);
  for (let k = 0; k < K; k++) pages.writeUInt32LE(k + 1 < K ? 16 + 8 * k : 0, 8 + 8 * k + 2 + 12 * N);
  const paged = await embedMetadata(pages, 'tiff', { icc: new Uint8Array(200) }, {});
  assert.ok(paged.length < 3 * pages.length, `${pages.length} bytes became ${paged.length}`);
});

test('an EXIF block\'s first-IFD tags go into a TIFF as libtiff takes them: ASCII ending in a NUL, sub-IFD pointers as offsets (a strict decoder had refused the file)', async () => {
  const base = await sharp({ create: { width: 16, height: 8, channels: 3, background: '#f80' } }).tiff().toBuffer();
  const date = '2026:11:28 10:00:00';
  const cases = {
    'Make without its NUL (as some cameras write it)': [[271, 2, 5, latin('Canon')]],
    'DateTime of 19 characters, no NUL': [[306, 2, 19, latin(date)]],
    'Model of 4 characters, no NUL (inline)': [[272, 2, 4, latin('EOS5')]],
    'an empty Copyright': [[33432, 2, 0, 0]],
    'Make as a SHORT': [[271, 3, 1, 5]],
    'an Artist of 1 MB without a NUL': [[315, 2, 1 << 20, Buffer.alloc(1 << 20, 0x61)]],
    'the EXIF pointer with a count of 2': [[34665, 4, 2, latin('\x00\x02\x00\x00\x00\x02\x00\x00')]],
    'the EXIF pointer as 4 UNDEFINED bytes': [[34665, 7, 4, latin('\x00\x02\x00\x00')]],
  };
  for (const [name, entries] of Object.entries(cases)) {
    for (const le of [true, false]) {
      const exif = handTiff({ le, size: (1 << 20) + 8192, ifds: [[8, entries], [512, [[36867, 2, 20, latin(`${date}\0`)]]]] });
      const out = await embedMetadata(base, 'tiff', { exif }, {});
      try {
        await sharp(out, { failOn: 'warning' }).raw().toBuffer();
      } catch (err) {
        assert.unreachable(`${name} (${le ? 'II' : 'MM'}): ${err.message}`);
      }
    }
  }
  // The text as the camera gave it, now with its NUL.
  const out = await embedMetadata(base, 'tiff', { exif: handTiff({ ifds: [[8, [[271, 2, 5, latin('Canon')], [306, 2, 19, latin(date)], [34665, 4, 1, 512]]], [512, [[36867, 2, 20, latin(`${date}\0`)]]]] }) }, {});
  const back = exifFields((await readMetadata(out)).exif);
  assert.is(back[271], 'Canon');
  assert.is(back[306], date);
  assert.is(back[36867], date);
});

test('readMetadata: a TIFF\'s resolution that a copy cannot carry (under 1 or over 65535 dpi) is left out, so embedMetadata takes what it read (it had thrown)', async () => {
  const jpeg = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f80' } }).jpeg().toBuffer();
  const res = (num, den, unit) => handTiff({ ifds: [[8, [[282, 5, 1, Buffer.concat([u32le(num), u32le(den)])], [296, 3, 1, unit]]]] });
  for (const [num, den, unit, want] of [[1, 4, 2, undefined], [1, 4, 3, undefined], [100000, 1, 2, undefined], [300, 1, 2, 300], [100, 1, 3, 254]]) {
    const m = await readMetadata(res(num, den, unit));
    assert.is(m.density, want, `${num}/${den} per ${unit === 2 ? 'inch' : 'cm'}`);
    await embedMetadata(jpeg, 'jpeg', m, { width: 8, height: 8, alpha: false });
  }
});
function u32le(v) { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; }

test('the EXIF sub-IFDs written are sorted by tag, a tag once (as TIFF requires), whatever order the block gave', async () => {
  const base = await sharp({ create: { width: 16, height: 8, channels: 3, background: '#f80' } }).tiff().toBuffer();
  const exif = handTiff({ le: false, ifds: [[8, [[34665, 4, 1, 512]]], [512, [[36867, 2, 20, latin('2026:11:28 10:00:00\0')], [33434, 5, 1, latin('\0\0\0\x01\0\0\0\xfa')], [34855, 3, 1, 400], [33434, 5, 1, latin('\0\0\0\x01\0\0\0\x02')]]]] });
  const out = Buffer.from(await embedMetadata(base, 'tiff', { exif }, {}));
  // The file's own EXIF IFD, read straight from it.
  const tagsAt = (at) => Array.from({ length: out.readUInt16LE(at) }, (_, i) => out.readUInt16LE(at + 2 + 12 * i));
  const ifd0 = out.readUInt32LE(4), t0 = tagsAt(ifd0);
  const ptr = t0.indexOf(34665);
  const sub = tagsAt(out.readUInt32LE(ifd0 + 2 + 12 * ptr + 8));
  assert.equal(sub, [33434, 34855, 36867]);
  assert.equal(exifFields((await readMetadata(out)).exif)[33434], [1, 250], 'the first of the two');
});

test('readMetadata and embedMetadata on broken and crafted TIFFs: never a throw, a hang or a runaway size', async () => {
  const photo = sharp(path.join(PHOTOS, 'mate-Garden.jpg')).resize(64, 40);
  const raw = await photo.clone().raw().toBuffer();
  const jpg = await photo.clone().withIccProfile('p3').withExif({ IFD0: { Copyright: 'Ada', Make: 'AE' }, IFD2: { DateTimeOriginal: '2026:11:28 10:00:00' }, IFD3: { GPSLatitudeRef: 'N' } }).jpeg().toBuffer();
  const meta = await readMetadata(jpg);
  const two = await sharp(Buffer.concat([raw, raw]), { raw: { width: 64, height: 80, channels: 3, pageHeight: 40 } }).tiff().toBuffer();
  const tagged = await embedMetadata(two, 'tiff', { ...meta, density: 300 }, {});
  const crafted = [
    handTiff({ ifds: [[8, [[34665, 4, 1, 8]], 8]] }), // IFD0 its own EXIF IFD and next page
    handTiff({ ifds: [[8, [[34665, 4, 1, 100], [34853, 4, 1, 100]]], [100, [[34665, 4, 1, 200], [40965, 4, 1, 100]]], [200, [[34665, 4, 1, 100]]]] }), // sub-IFD cycles
    handTiff({ ifds: [[8, [[256, 3, 1, 1]], 100], [100, [[256, 3, 1, 1]], 200], [200, [[256, 3, 1, 1]], 100]] }), // a cycle of pages
    handTiff({ ifds: [[8, [[34665, 4, 1, 100]]], [100, [[1, 0, 5, 0], [2, 99, 5, 0], [3, 4, 0xffffffff, 16], [4, 12, 0x20000001, 16], [5, 5, 0x40000000, 0xfffffff0], [6, 2, 3, 0x7fffffff]]]] }),
    handTiff({ ifds: [[8, [[34665, 4, 1, 4095]]]] }), // a sub-IFD past the end
    handTiff({ ifds: [[9, [[34665, 4, 1, 101], [34675, 7, 0xffffffff, 9]]], [101, [[271, 2, 3, 'abc']]]], ifd0: 9 }), // odd offsets
    handTiff({ le: false, ifds: [[8, [[34665, 4, 1, 100], [282, 5, 1, latin('\0\0\0\0\0\0\0\0')]]], [100, [[33434, 5, 3, 4000]]]] }),
    handTiff({ magic: 43, ifds: [] }), // BigTIFF
    handTiff({ size: 16384, ifds: [[8, Array.from({ length: 1025 }, () => [271, 2, 1, 0])]] }), // more entries than any real IFD
    handTiff({ ifd0: 4095, ifds: [] }), // IFD0 past the end
  ];
  let seed = 1;
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x80000000; };
  const mutated = Array.from({ length: 3000 }, () => {
    const b = Uint8Array.from(tagged);
    for (let j = 1 + Math.floor(rnd() * 8); j > 0; j--) {
      // Mostly in the metadata after the pixels (the new IFD, the EXIF IFDs, the pages' IFDs).
      const at = rnd() < 0.7 ? b.length - 1 - Math.floor(rnd() * 3000) : Math.floor(rnd() * b.length);
      b[at] = rnd() < 0.5 ? b[at] ^ (1 << Math.floor(rnd() * 8)) : [0, 0xff, 1, 0x80, Math.floor(rnd() * 256)][Math.floor(rnd() * 5)];
    }
    return rnd() < 0.1 ? b.subarray(0, Math.floor(rnd() * b.length)) : b;
  });
  for (const [i, bytes] of [...crafted, ...mutated].entries()) {
    const what = i < crafted.length ? `crafted ${i}` : `mutation ${i - crafted.length}`;
    const m = await readMetadata(bytes);
    if (m.format !== 'tiff') continue;
    const outs = [await embedMetadata(bytes, 'tiff', { ...meta, density: 72 }, {}), await embedMetadata(two, 'tiff', { exif: bytes, xmp: new TextEncoder().encode(XMP) }, {})];
    if (m.exif) outs.push(await embedMetadata(two, 'tiff', { exif: m.exif }, {}));
    for (const out of outs) assert.ok(out.length < 2 * (two.length + bytes.length + meta.icc.length + meta.exif.length) + 4096, `${what}: ${out.length} bytes written`);
  }
});

test('frames (an animation, a multi-page TIFF) are written as TIFF pages, each marked; the first page carries the metadata', async () => {
  const photo = await sharp(path.join(PHOTOS, 'mate-Garden.jpg')).resize(320, 200).raw().toBuffer({ resolveWithObject: true });
  const stack = file('pages.tif');
  await sharp(Buffer.concat([photo.data, photo.data, photo.data]), { raw: { ...photo.info, height: 600, pageHeight: 200 } }).tiff().toFile(stack);
  const img = await readImage(stack, { allFrames: true, metadata: true });
  assert.equal(img.animation, { frames: 3, frameHeight: 200 });
  const { markFile } = await import('../dist/node/index.js');
  const marked = markFile(wm, img, PAYLOAD);
  const icc = (await sharp(file('scan.tiff')).metadata()).icc;
  const w = await writeImage(file('pages-out.tiff'), marked, { animation: img.animation, metadata: { xmp: new TextEncoder().encode(XMP), icc } });
  assert.equal(w.metadata, ['icc', 'xmp'], 'in the first page\'s IFD');
  assert.is((await sharp(file('pages-out.tiff')).metadata()).pages, 3);
  // Every page carries the profile (the pixels of every page are in its colours).
  for (let page = 0; page < 3; page++) {
    const m = await sharp(file('pages-out.tiff'), { page }).metadata();
    assert.ok(m.icc && Buffer.compare(m.icc, icc) === 0, `page ${page + 1}: the ICC profile`);
  }
  const back = await readImage(file('pages-out.tiff'), { allFrames: true });
  assert.equal(back.animation, { frames: 3, frameHeight: 200 });
  assert.equal(back.data, marked.data, 'every page, losslessly');
  for (let i = 0; i < 3; i++) {
    const page = { width: 320, height: 200, channels: 3, data: back.data.subarray(i * 320 * 200 * 3, (i + 1) * 320 * 200 * 3) };
    assert.ok(found(wm.detect(page)), `page ${i + 1}`);
  }
  // AVIF still holds none: the message names what can.
  try {
    await writeImage(file('pages.avif'), marked, { animation: img.animation });
    assert.unreachable('refused');
  } catch (err) {
    assert.instance(err, InvalidArgumentError);
    assert.match(err.message, /cannot be written as AVIF: write WebP, GIF or TIFF/);
  }
  assert.not.ok(fs.existsSync(file('pages.avif')));
});

test('CLI: embed TIFF -> TIFF (an extensionless OUT keeps TIFF), JPEG -> --format tiff on standard output with its EXIF, 16-bit kept; --json lists what the file carries', async () => {
  let r = cli(['embed', 'scan.tiff', 'cli-out.tif', '--key', KEY, '--payload', PAYLOAD, '--json']);
  assert.is(r.code, 0, r.stderr);
  let rep = JSON.parse(String(r.stdout));
  assert.is(rep.format, 'tiff');
  assert.equal(rep.metadata, ['icc', 'xmp']);
  assert.is(r.stderr, '', 'nothing was left out');
  r = cli(['detect', 'cli-out.tif', '--key', KEY, '--json']);
  assert.is(r.code, 0);
  assert.is(JSON.parse(String(r.stdout)).payload, PAYLOAD);

  r = cli(['embed', 'deep16.tif', 'cli-noext', '--key', KEY, '--payload', PAYLOAD, '--json']);
  assert.is(r.code, 0, r.stderr);
  rep = JSON.parse(String(r.stdout));
  assert.is(rep.format, 'tiff');
  assert.is(rep.bits, 16);

  r = cli(['embed', 'exif.jpg', '-', '--format', 'tiff', '--key', KEY, '--payload', PAYLOAD], { maxBuffer: 64 << 20 });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout.subarray(0, 4).toString('latin1'), 'II*\0', 'a little-endian TIFF on standard output');
  assert.not.match(r.stderr, /warning/, 'nothing left out');
  assert.is(exifFields((await readMetadata(r.stdout)).exif)[33432], 'Ada Lovelace 2026');

  // The text report names no quality for a lossless TIFF.
  r = cli(['embed', 'grey.tif', 'cli-grey.tiff', '--key', KEY, '--payload', PAYLOAD]);
  assert.is(r.code, 0, r.stderr);
  assert.match(String(r.stdout), /TIFF, PSNR/);
  assert.not.match(String(r.stdout), /quality/);
});

test('CLI: an animated GIF written as TIFF pages says its timing was left out (TIFF pages carry none)', async () => {
  const frames = [];
  for (const n of ['mate-Garden.jpg', 'mate-Dune.jpg', 'mate-Aqua.jpg']) frames.push(await sharp(path.join(PHOTOS, n)).resize(320, 200, { fit: 'fill' }).raw().toBuffer());
  await sharp(Buffer.concat(frames), { raw: { width: 320, height: 600, channels: 3, pageHeight: 200 } }).gif({ delay: [100, 200, 300], loop: 0 }).toFile(file('anim.gif'));
  const r = cli(['embed', 'anim.gif', 'anim.tiff', '--key', KEY, '--payload', PAYLOAD]);
  assert.is(r.code, 0, r.stderr);
  assert.match(String(r.stdout), /3 frames each marked/);
  assert.match(r.stderr, /warning: "anim\.tiff": the animation's timing \(frame delays, loop count\) was left out: TIFF pages carry none/);
  assert.is((await sharp(file('anim.tiff')).metadata()).pages, 3);
  const g = cli(['embed', 'anim.gif', 'anim-out.gif', '--key', KEY, '--payload', PAYLOAD]);
  assert.is(g.stderr, '', 'GIF keeps it: nothing to say');
});

test('CLI: a GIF copy reports no metadata kept, and says what was left out (it had claimed the input\'s EXIF and ICC)', () => {
  const r = cli(['embed', 'exif.jpg', 'cli.gif', '--key', KEY, '--payload', PAYLOAD, '--json']);
  assert.is(r.code, 0, r.stderr);
  assert.equal(JSON.parse(String(r.stdout)).metadata, []);
  assert.match(r.stderr, /"cli\.gif": the EXIF block and the ICC profile of the input were left out \(GIF files carry no metadata\)/);
  const j = cli(['embed', 'exif.jpg', 'cli.jpg', '--key', KEY, '--payload', PAYLOAD, '--json']);
  assert.equal(JSON.parse(String(j.stdout)).metadata, ['exif', 'icc']);
  assert.is(j.stderr, '');
});

test('CLI folders: .tif and .tiff files are marked (as TIFF) and read; before, they were skipped without a word', () => {
  const input = file('folder');
  fs.mkdirSync(path.join(input, 'sub'), { recursive: true });
  fs.copyFileSync(file('scan.tiff'), path.join(input, 'a.tiff'));
  fs.copyFileSync(file('grey.tif'), path.join(input, 'sub', 'b.TIF'));
  fs.copyFileSync(file('exif.jpg'), path.join(input, 'c.jpg'));
  const out = file('folder-out');
  let r = cli(['embed', input, out, '--key', KEY, '--payload', PAYLOAD, '--json']);
  assert.is(r.code, 0, r.stderr);
  const lines = String(r.stdout).trim().split('\n').map((l) => JSON.parse(l));
  const summary = lines.pop().summary;
  assert.is(summary.done, 3);
  const byFile = Object.fromEntries(lines.map((l) => [path.basename(l.file), l]));
  assert.is(byFile['a.tiff'].format, 'tiff');
  assert.is(byFile['b.TIF'].format, 'tiff');
  assert.ok(fs.existsSync(path.join(out, 'a.tiff')) && fs.existsSync(path.join(out, 'sub', 'b.TIF')));
  r = cli(['detect', out, '--key', KEY, '--json']);
  assert.is(r.code, 0, r.stderr);
  const reads = String(r.stdout).trim().split('\n').map((l) => JSON.parse(l));
  const detected = reads.pop().summary;
  assert.is(detected.found, 3);
  assert.ok(reads.every((l) => l.payload === PAYLOAD));
});

test.run();
