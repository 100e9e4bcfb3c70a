// IPTC-IIM records (caption, creator, copyright notice) kept in marked copies: found in a JPEG's
// Photoshop APP13 resources and a TIFF's tag 33723 (iptcRecords, readMetadata), written back into
// JPEG and TIFF (embedMetadata, writeImage, the command line) and read there by libvips (sharp),
// an independent reader; PNG and WebP, which have no place for them, get a warning.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { createWatermarker, readImage, writeImage, readMetadata, embedMetadata, iptcRecords, InvalidArgumentError } from '../dist/node/index.js';
import { PHOTOS, workspace } from './helpers/workspace.mjs';

const KEY = 'iptc test key';
const PAYLOAD = 'c0ffee00000000d9';
const { dir, file, cli, remove } = workspace('iptc', KEY);
const wm = await createWatermarker({ key: KEY });

/** One IPTC-IIM dataset of record 2 (the application record). */
const dataset = (tag, text) => { const b = Buffer.from(text, 'utf8'); return Buffer.concat([Buffer.from([0x1c, 2, tag, b.length >> 8, b.length & 255]), b]); };
const RECORDS = Buffer.concat([dataset(0x50, 'Ada Lovelace'), dataset(0x74, '© 2026 Ada Lovelace'), dataset(0x78, 'Analytical engine, plate 3')]);
/** A Photoshop image resource: "8BIM", id, a Pascal name padded to even, size, data padded to even. */
function resource(id, data, name = '') {
  const n = Buffer.concat([Buffer.from([name.length]), Buffer.from(name, 'latin1')]);
  const size = Buffer.alloc(4);
  size.writeUInt32BE(data.length);
  return Buffer.concat([Buffer.from('8BIM'), Buffer.from([id >> 8, id & 255]), n, Buffer.alloc(n.length & 1), size, data, Buffer.alloc(data.length & 1)]);
}
const PHOTOSHOP = Buffer.from('Photoshop 3.0\0', 'latin1');
/** `jpeg` with APP13 segments holding `payloads` (each after the Photoshop signature) right after SOI. */
function withApp13(jpeg, ...payloads) {
  const segs = payloads.map((p) => { const body = Buffer.concat([PHOTOSHOP, p]); return Buffer.concat([Buffer.from([0xff, 0xed, (body.length + 2) >> 8, (body.length + 2) & 255]), body]); });
  return Buffer.concat([jpeg.subarray(0, 2), ...segs, jpeg.subarray(2)]);
}
/** The IPTC records libvips reads from a file (sharp's iptc: a JPEG's whole APP13 payload, a TIFF's records). */
const libvipsRecords = async (bytes) => iptcRecords((await sharp(bytes).metadata()).iptc);

let photoJpeg;
test.before(async () => {
  photoJpeg = await sharp(path.join(PHOTOS, 'mate-Garden.jpg')).resize(480, 300).jpeg({ quality: 90 }).toBuffer();
  // As Photoshop writes it: another resource first (an odd-length name and data), then IPTC-NAA.
  fs.writeFileSync(file('captioned.jpg'), withApp13(photoJpeg, Buffer.concat([resource(0x03ed, Buffer.alloc(15, 7), 'res'), resource(0x0404, RECORDS)])));
});

test('iptcRecords finds the records as records, in a resource list and in an APP13 payload; malformed lists give undefined', () => {
  assert.ok(Buffer.from(iptcRecords(RECORDS)).equals(RECORDS));
  const list = Buffer.concat([resource(0x040c, Buffer.alloc(33, 1), 'thumb'), resource(0x0404, RECORDS)]);
  assert.ok(Buffer.from(iptcRecords(list)).equals(RECORDS));
  assert.ok(Buffer.from(iptcRecords(Buffer.concat([PHOTOSHOP, list]))).equals(RECORDS));
  assert.is(iptcRecords(resource(0x03ed, Buffer.alloc(8))), undefined, 'no IPTC resource');
  assert.is(iptcRecords(list.subarray(0, list.length - 10)), undefined, 'cut short');
  const lying = Buffer.from(list);
  lying.writeUInt32BE(0xffffff00, 4 + 2 + 6);
  assert.is(iptcRecords(lying), undefined, 'a size past the end');
  assert.is(iptcRecords(Buffer.from('8BIX0000000000000000')), undefined);
  assert.is(iptcRecords(resource(0x0404, Buffer.from('not records'))), undefined, 'IPTC resource without records');
  assert.is(iptcRecords(undefined), undefined);
  assert.is(iptcRecords('records'), undefined);
});

test('readMetadata reads a JPEG\'s IPTC records, also from resources split over two APP13 segments', async () => {
  const m = await readMetadata(fs.readFileSync(file('captioned.jpg')));
  assert.ok(Buffer.from(m.iptc).equals(RECORDS));
  const list = resource(0x0404, RECORDS);
  const split = withApp13(photoJpeg, list.subarray(0, 20), list.subarray(20));
  assert.ok(Buffer.from((await readMetadata(split)).iptc).equals(RECORDS));
  assert.is((await readMetadata(photoJpeg)).iptc, undefined);
});

test('readMetadata joins no more than 2 MiB of APP13 segments: a 50 MB JPEG of tiny ones is read in bounded memory, with a warning', async () => {
  const list = resource(0x0404, RECORDS);
  // Split over three segments, then 2.8 million segments of two bytes each (50 MB).
  const tiny = Buffer.concat([Buffer.from([0xff, 0xed, 0, 18]), PHOTOSHOP, Buffer.from('8B')]);
  const many = Buffer.alloc(tiny.length * 2_800_000);
  for (let at = 0; at < many.length; at += tiny.length) tiny.copy(many, at);
  const withMany = (jpeg) => Buffer.concat([jpeg.subarray(0, 2), many, jpeg.subarray(2)]);
  const input = withApp13(withMany(photoJpeg), list.subarray(0, 10), list.subarray(10, 50), list.subarray(50));
  const used = () => { const u = process.memoryUsage(); return u.heapUsed + u.arrayBuffers; };
  const before = used();
  const m = await readMetadata(input);
  const grew = used() - before;
  assert.ok(grew < 64 << 20, `${grew >> 20} MB held reading 50 MB (a view of each segment was kept)`);
  assert.ok(Buffer.from(m.iptc).equals(RECORDS), 'the records in the first segments');
  const none = await readMetadata(withMany(photoJpeg));
  assert.is(none.iptc, undefined);
  assert.equal(none.warnings, ['metadata: the Photoshop resources (APP13 segments) come to over 2 MiB: read no further, and no IPTC data found in them']);
  fs.writeFileSync(file('many.jpg'), withMany(photoJpeg));
  const img = await readImage(file('many.jpg'), { metadata: true });
  assert.is(img.metadata.iptc, undefined);
  assert.equal(img.warnings, none.warnings);
});

test('embedMetadata writes IPTC records into JPEG (APP13) and TIFF (tag 33723) where libvips reads them; PNG and WebP carry none', async () => {
  const jpeg = await embedMetadata(photoJpeg, 'jpeg', { iptc: RECORDS }, { width: 480, height: 300, alpha: false });
  assert.ok(Buffer.from(await libvipsRecords(jpeg)).equals(RECORDS), 'JPEG');
  assert.ok(Buffer.from((await readMetadata(jpeg)).iptc).equals(RECORDS));
  const tiff = await embedMetadata(await sharp(photoJpeg).tiff().toBuffer(), 'tiff', { iptc: RECORDS }, { width: 480, height: 300, alpha: false });
  assert.ok(Buffer.from(await libvipsRecords(tiff)).equals(RECORDS), 'TIFF');
  assert.ok(Buffer.from((await readMetadata(tiff)).iptc).equals(RECORDS));
  const png = await sharp(photoJpeg).png().toBuffer();
  assert.is((await readMetadata(await embedMetadata(png, 'png', { iptc: RECORDS }, { width: 480, height: 300, alpha: false }))).iptc, undefined);
  // Over one JPEG segment: left out, as EXIF or XMP over 64 KB.
  const big = Buffer.concat(Array.from({ length: 700 }, () => dataset(0x78, 'x'.repeat(100))));
  assert.is((await readMetadata(await embedMetadata(photoJpeg, 'jpeg', { iptc: big }, { width: 480, height: 300, alpha: false }))).iptc, undefined);
  const err = await embedMetadata(photoJpeg, 'jpeg', { iptc: 'caption' }, { width: 480, height: 300, alpha: false }).then(() => null, (e) => e);
  assert.ok(err instanceof InvalidArgumentError);
  assert.match(err.message, /metadata\.iptc/);
});

test('readImage({ metadata: true }) keeps the IPTC records and writeImage writes them into JPEG and TIFF copies', async () => {
  const img = await readImage(file('captioned.jpg'), { metadata: true });
  assert.ok(Buffer.from(img.metadata.iptc).equals(RECORDS));
  const marked = wm.embed(img, PAYLOAD);
  const j = await writeImage(file('api.jpg'), marked, { metadata: img.metadata });
  assert.equal(j.metadata, ['iptc']);
  assert.ok(Buffer.from(await libvipsRecords(fs.readFileSync(file('api.jpg')))).equals(RECORDS));
  const t = await writeImage(file('api.tif'), marked, { metadata: img.metadata });
  assert.equal(t.metadata, ['iptc']);
  // And from the TIFF back: a TIFF input's records.
  const back = await readImage(file('api.tif'), { metadata: true });
  assert.ok(Buffer.from(back.metadata.iptc).equals(RECORDS));
  const p = await writeImage(file('api.png'), marked, { metadata: img.metadata });
  assert.equal(p.metadata, []);
  const err = await writeImage(file('bad.jpg'), marked, { metadata: { iptc: [0x1c] } }).then(() => null, (e) => e);
  assert.ok(err instanceof InvalidArgumentError);
  assert.match(err.message, /options\.metadata\.iptc/);
});

test('the command line keeps a JPEG\'s caption, creator and copyright in JPEG and TIFF copies, warns for PNG, and --strip-metadata drops them', async () => {
  const r = cli(['embed', 'captioned.jpg', 'cli.jpg', '--payload', PAYLOAD, '--json']);
  assert.is(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).metadata, ['iptc']);
  assert.is(r.stderr, '');
  assert.ok(Buffer.from(await libvipsRecords(fs.readFileSync(file('cli.jpg')))).equals(RECORDS));
  const found = wm.detect(await readImage(file('cli.jpg')));
  assert.is(found.payload, PAYLOAD);
  assert.is(cli(['embed', 'captioned.jpg', 'cli.tiff', '--payload', PAYLOAD]).code, 0);
  assert.ok(Buffer.from(await libvipsRecords(fs.readFileSync(file('cli.tiff')))).equals(RECORDS));
  const png = cli(['embed', 'captioned.jpg', 'cli.png', '--payload', PAYLOAD]);
  assert.is(png.code, 0, png.stderr);
  assert.match(png.stderr, /"cli\.png": the IPTC data of the input was left out \(PNG files have no place for it; write JPEG or TIFF to keep it\)/);
  assert.is(cli(['embed', 'captioned.jpg', 'stripped.jpg', '--payload', PAYLOAD, '--strip-metadata']).code, 0);
  assert.is((await sharp(file('stripped.jpg')).metadata()).iptc, undefined);
});

/** An 8x8 grey TIFF (uncompressed), `le` or big-endian, with `extra` first-IFD entries [tag, type, count, bytes]. */
function greyTiff(le, extra) {
  const pix = Buffer.alloc(64, 128);
  const entries = [[256, 3, 1, 8], [257, 3, 1, 8], [258, 3, 1, 8], [259, 3, 1, 1], [262, 3, 1, 1], [273, 4, 1, 'pixels'], [277, 3, 1, 1], [278, 3, 1, 8], [279, 4, 1, 64], ...extra].sort((a, b) => a[0] - b[0]);
  const u16 = (b, o, v) => (le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
  const u32 = (b, o, v) => (le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
  const ifd = Buffer.alloc(2 + 12 * entries.length + 4);
  u16(ifd, 0, entries.length);
  let at = 8 + ifd.length;
  const values = [];
  entries.forEach(([tag, type, count, v], i) => {
    const o = 2 + 12 * i;
    u16(ifd, o, tag); u16(ifd, o + 2, type); u32(ifd, o + 4, count);
    if (v === 'pixels') u32(ifd, o + 8, 8 + ifd.length + extra.reduce((n, e) => n + e[3].length, 0));
    else if (Buffer.isBuffer(v)) { u32(ifd, o + 8, at); values.push(v); at += v.length; }
    else if (type === 3) u16(ifd, o + 8, v); else u32(ifd, o + 8, v);
  });
  const head = Buffer.alloc(8);
  head.write(le ? 'II' : 'MM', 0, 'latin1'); u16(head, 2, 42); u32(head, 4, 8);
  return Buffer.concat([head, ifd, ...values, pix]);
}

test('readImage keeps the IPTC records libvips misses: split over APP13 segments, a big-endian TIFF\'s LONG tag 33723, a TIFF\'s Photoshop tag 34377', async () => {
  const list = resource(0x0404, RECORDS);
  fs.writeFileSync(file('split.jpg'), withApp13(photoJpeg, list.subarray(0, 20), list.subarray(20)));
  // Photoshop writes tag 33723 as LONGs (the records padded to four bytes): bytes all the same, in either byte order.
  const longs = Buffer.concat([RECORDS, Buffer.alloc((4 - RECORDS.length % 4) % 4)]);
  fs.writeFileSync(file('be-long.tif'), greyTiff(false, [[33723, 4, longs.length / 4, longs]]));
  fs.writeFileSync(file('photoshop.tif'), greyTiff(true, [[34377, 1, list.length, list]]));
  for (const name of ['split.jpg', 'be-long.tif', 'photoshop.tif']) {
    const iptc = (await readImage(file(name), { metadata: true })).metadata.iptc;
    assert.ok(iptc && Buffer.from(iptc).subarray(0, RECORDS.length).equals(RECORDS), name);
  }
  const r = cli(['embed', 'split.jpg', 'split-out.jpg', '--payload', PAYLOAD, '--json']);
  assert.is(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).metadata, ['iptc']);
  // Over METADATA_LIMITS (17 segments of records): left out, with readMetadata's warning.
  const big = resource(0x0404, Buffer.concat(Array.from({ length: 11000 }, () => dataset(0x19, 'x'.repeat(100)))));
  const parts = Array.from({ length: Math.ceil(big.length / 60000) }, (_, i) => big.subarray(i * 60000, (i + 1) * 60000));
  fs.writeFileSync(file('over.jpg'), withApp13(photoJpeg, ...parts));
  const over = await readImage(file('over.jpg'), { metadata: true });
  assert.is(over.metadata.iptc, undefined);
  assert.ok(over.warnings?.some((w) => /^metadata: the IPTC data is \d+ bytes, over 1 MiB/.test(w)), String(over.warnings));
});

test.after(remove);

test.run();
