// modelmark/sharp: the mark goes in through a sharp pipeline and comes out with the payload that
// went in, across pipeline steps, formats, metadata, bit depths, channel layouts and streams.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, rm, writeFile, stat } from 'node:fs/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { Readable, Writable } from 'node:stream';
import sharp from 'sharp';
import { DecodeError, ImageSizeError, InvalidArgumentError, MIN_MATCHED_QUALITY, combineEvidence, createWatermarker, psnr, sourceEncoding } from 'modelmark';
import { watermark, detect, evidence, watermarkStream } from 'modelmark/sharp';
import { COLLAGE_KEY, COLLAGE_PAYLOAD, pastedCollage, SECOND_PAYLOAD, twoPieceCollage } from './helpers/collage.mjs';
import { hevcHeif } from './helpers/heic.mjs';

const PHOTOS = fileURLToPath(new URL('../../shared/photos/', import.meta.url));
const photo = (name) => join(PHOTOS, name);
const KEY = 'plugin-sharp test key';
const PAYLOAD = 'c0ffee0000000001';
const opts = { key: KEY, payload: PAYLOAD };

let dir;
test.before(async () => { dir = await mkdtemp(join(tmpdir(), 'modelmark-sharp-')); });
test.after(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

/** Detect in encoded bytes (or a path) and assert the payload came back. */
async function assertMarked(input, what) {
  const r = await detect(sharp(input), { key: KEY });
  assert.ok(r.found, `${what}: not found (p = ${r.pValue})`);
  assert.is(r.payload, PAYLOAD, what);
  return r;
}

async function rawOf(input, colourspace) {
  let p = sharp(input);
  if (colourspace) p = p.toColourspace(colourspace);
  const { data, info } = await p.raw({ depth: colourspace?.endsWith('16') ? 'ushort' : 'uchar' }).toBuffer({ resolveWithObject: true });
  return { data, info };
}

test('plain JPEG in, JPEG out (format defaults to the input\'s)', async () => {
  const input = await readFile(photo('mate-Storm.jpg'));
  const out = await (await watermark(sharp(input), opts)).toBuffer();
  const meta = await sharp(out).metadata();
  const inMeta = await sharp(input).metadata();
  assert.is(meta.format, 'jpeg');
  assert.is(meta.width, inMeta.width);
  assert.is(meta.height, inMeta.height);
  await assertMarked(out, 'JPEG round trip');
});

test('the pipeline continues: resize to 0.75x after watermark, then detect', async () => {
  const { width } = await sharp(photo('mate-Garden.jpg')).metadata();
  const marked = await watermark(sharp(photo('mate-Garden.jpg')), opts);
  const out = await marked.resize(Math.round(width * 0.75)).jpeg({ quality: 90 }).toBuffer();
  assert.is((await sharp(out).metadata()).width, Math.round(width * 0.75));
  await assertMarked(out, 'resized 0.75x');
  // Operations before watermark() are applied to the pixels that get marked.
  const pre = await (await watermark(sharp(photo('skimage-rocket.jpg')).extract({ left: 10, top: 10, width: 400, height: 300 }), opts)).toBuffer();
  const m = await sharp(pre).metadata();
  assert.equal([m.width, m.height], [400, 300]);
  await assertMarked(pre, 'extract before watermark');
});

test('evidence(): what the core gives for the same pixels; pooled over weakly marked JPEGs that detect() misses', async () => {
  const names = ['mate-Storm.jpg', 'mate-Dune.jpg', 'skimage-astronaut.png', 'skimage-coffee.png', 'skimage-rocket.jpg', 'skimage-brick.png'];
  const weak = { ...opts, strength: 0.25 };
  const files = [];
  for (const n of names) files.push(await (await watermark(sharp(photo(n)), weak)).jpeg({ quality: 20 }).toBuffer());
  const found = await Promise.all(files.map(async (f) => (await detect(sharp(f), { key: KEY })).found));
  assert.ok(found.filter(Boolean).length <= 1, `detect found ${found.filter(Boolean).length} of ${files.length}`);
  const ev = await Promise.all(files.map((f) => evidence(sharp(f), { key: KEY })));
  // detect's evidence option gives the same from its own read.
  const both = await Promise.all(files.map((f) => detect(sharp(f), { key: KEY, evidence: true })));
  assert.equal(both.map((r) => r.evidence), ev);
  assert.equal(both.map((r) => r.found), found);
  // The plug-in reads the pixels as the core's own caller would.
  const { data, info } = await sharp(files[0]).raw().toBuffer({ resolveWithObject: true });
  const core = (await createWatermarker({ key: KEY })).evidence({ width: info.width, height: info.height, channels: info.channels, data });
  assert.equal(ev[0], core);
  const pooled = combineEvidence(ev);
  assert.ok(pooled.found, `pooled over ${ev.length}: t ${pooled.t}, p ${pooled.pValue}`);
  assert.not.ok(combineEvidence(await Promise.all(files.map((f) => evidence(sharp(f), { key: 'another key' })))).found);
  const err = await evidence(sharp(Buffer.from('not an image')), { key: KEY }).then(() => null, (e) => e);
  assert.instance(err, DecodeError);
});

test('format change: JPEG in, WebP and PNG out; toFile picks the extension\'s format', async () => {
  const webp = await (await watermark(sharp(photo('skimage-rocket.jpg')), opts)).webp({ quality: 90 }).toBuffer();
  assert.is((await sharp(webp).metadata()).format, 'webp');
  await assertMarked(webp, 'JPEG -> WebP');
  const file = join(dir, 'format.png');
  await (await watermark(sharp(photo('skimage-rocket.jpg')), opts)).toFile(file);
  assert.is((await sharp(file).metadata()).format, 'png');
  await assertMarked(file, 'JPEG -> PNG by extension');
  // clone() keeps the default format.
  const clone = (await watermark(sharp(photo('skimage-rocket.jpg')), opts)).clone();
  assert.is((await sharp(await clone.toBuffer()).metadata()).format, 'jpeg');
});

test('metadata: EXIF and ICC kept with keepMetadata(), orientation applied before marking', async () => {
  // A portrait photo stored sideways: EXIF orientation 6, a camera make, and an ICC profile.
  const input = await sharp(photo('skimage-rocket.jpg')).keepIccProfile()
    .withExif({ IFD0: { Make: 'ModelmarkCam', Model: 'Test 1' } }).withMetadata({ orientation: 6 })
    .jpeg({ quality: 95 }).toBuffer();
  const inMeta = await sharp(input).metadata();
  assert.is(inMeta.orientation, 6);
  assert.ok(inMeta.icc && inMeta.exif, 'the test input has ICC and EXIF');

  const out = await (await watermark(sharp(input), opts)).keepMetadata().toBuffer();
  const meta = await sharp(out).metadata();
  assert.is(meta.format, 'jpeg');
  assert.ok(meta.exif && meta.exif.includes('ModelmarkCam'), 'EXIF kept');
  assert.ok(meta.icc && meta.icc.length === inMeta.icc.length, 'ICC profile kept');
  assert.equal(Buffer.compare(meta.icc, inMeta.icc), 0);
  // Marked upright: the pixels are turned and the orientation tag says so.
  assert.equal([meta.width, meta.height], [inMeta.height, inMeta.width]);
  assert.ok(meta.orientation === undefined || meta.orientation === 1, `orientation ${meta.orientation}`);
  const r = await assertMarked(out, 'keepMetadata');
  assert.is(r.transform.rotation, 0, 'found upright, not by the rotation search');

  // Without keepMetadata, as in sharp, metadata is stripped.
  const plain = await (await watermark(sharp(input), opts)).toBuffer();
  const pm = await sharp(plain).metadata();
  assert.is(pm.exif, undefined);
  assert.is(pm.icc, undefined);
  await assertMarked(plain, 'metadata stripped');
});

test('metadata: EXIF without ICC (carried only when kept), XMP, and the stream\'s keepMetadata', async () => {
  const xmp = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>ModelmarkXmp</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>';
  const withOrientation = await sharp(photo('skimage-rocket.jpg')).withExif({ IFD0: { Make: 'ExifOnlyCam' } })
    .withMetadata({ orientation: 8 }).jpeg({ quality: 95 }).toBuffer();
  const input = await sharp(withOrientation).keepExif().withXmp(xmp).jpeg({ quality: 95 }).toBuffer(); // no ICC
  const inMeta = await sharp(input).metadata();
  assert.is(inMeta.icc, undefined);
  assert.is(inMeta.orientation, 8);
  const marked = await watermark(sharp(input), opts);
  const kept = await marked.clone().keepExif().keepXmp().toBuffer();
  const km = await sharp(kept).metadata();
  assert.ok(km.exif && km.exif.includes('ExifOnlyCam'), 'EXIF kept');
  assert.ok(km.xmp && km.xmp.toString().includes('ModelmarkXmp'), 'XMP kept');
  assert.ok(km.orientation === undefined || km.orientation === 1);
  assert.equal([km.width, km.height], [inMeta.height, inMeta.width]);
  await assertMarked(kept, 'EXIF kept');
  const stripped = await marked.toBuffer();
  assert.is((await sharp(stripped).metadata()).exif, undefined);
  await assertMarked(stripped, 'EXIF not kept');
  // The same pixels either way.
  const [a, b] = await Promise.all([rawOf(kept), rawOf(stripped)]);
  assert.equal(Buffer.compare(a.data, b.data), 0);

  const dst = join(dir, 'stream-meta.jpg');
  await pipeline(createReadStream(photo('skimage-rocket.jpg')), watermarkStream({ ...opts, keepMetadata: true, quality: 92 }), createWriteStream(dst));
  const sm = await sharp(dst).metadata();
  assert.ok(sm.icc && sm.icc.length === (await sharp(photo('skimage-rocket.jpg')).metadata()).icc.length, 'stream kept the ICC profile');
  await assertMarked(dst, 'stream keepMetadata');
});

test('ICC profile (Display P3): colours as sharp gives them, profile kept or converted', async () => {
  const input = await sharp(photo('skimage-rocket.jpg')).withIccProfile('p3').png().toBuffer();
  const image = async (p) => { const { data, info } = await p.raw().toBuffer({ resolveWithObject: true }); return { width: info.width, height: info.height, channels: info.channels, data }; };
  const srgb = await image(sharp(input)), native = await image(sharp(input).keepIccProfile());
  assert.ok(await psnr(srgb, native) < 38, 'the profile matters for this input');
  // Default (profile not kept): converted to sRGB as sharp does, plus the mark.
  const plain = await (await watermark(sharp(input), opts)).toBuffer();
  assert.ok(await psnr(srgb, await image(sharp(plain))) > 40);
  // Profile kept: the input's own colours, plus the mark.
  const kept = await (await watermark(sharp(input), opts)).keepIccProfile().toBuffer();
  assert.ok((await sharp(kept).metadata()).icc, 'profile kept');
  assert.ok(await psnr(native, await image(sharp(kept).keepIccProfile())) > 40);
  await assertMarked(plain, 'P3 converted');
  const found = await assertMarked(kept, 'P3 kept');
  // detect() reads a profiled file in its own colours (those the mark went into), as the core
  // reads them: the same score, not that of the colours converted to sRGB.
  const core = (await createWatermarker({ key: KEY })).detect(await image(sharp(kept).keepIccProfile()));
  assert.equal([found.score, found.pValue], [core.score, core.pValue]);
});

test('16-bit PNG stays 16-bit and keeps the mark, also once converted to 8 bits', async () => {
  const input = await sharp(photo('mate-Wood.jpg')).resize(900).toColourspace('rgb16').png().toBuffer();
  assert.is((await sharp(input).metadata()).depth, 'ushort');
  const out = await (await watermark(sharp(input), opts)).toBuffer();
  const meta = await sharp(out).metadata();
  assert.is(meta.format, 'png');
  assert.is(meta.depth, 'ushort');
  await assertMarked(out, '16-bit PNG');
  // The 16-bit change is small and smooth: each sample moves by a multiple of 257.
  const a = await rawOf(input, 'rgb16'), b = await rawOf(out, 'rgb16');
  const x = new Uint16Array(a.data.buffer, a.data.byteOffset, a.data.length / 2);
  const y = new Uint16Array(b.data.buffer, b.data.byteOffset, b.data.length / 2);
  let changed = 0, odd = 0;
  for (let i = 0; i < x.length; i++) {
    const d = y[i] - x[i];
    if (d !== 0) changed++;
    if (d % 257 !== 0 && y[i] !== 0 && y[i] !== 65535) odd++;
  }
  assert.ok(changed > x.length / 10, `${changed} samples changed`);
  assert.is(odd, 0);
  const eight = await sharp(out).jpeg({ quality: 90 }).toBuffer();
  assert.is((await sharp(eight).metadata()).depth, 'uchar');
  await assertMarked(eight, '16-bit PNG -> 8-bit JPEG');
  const eightPng = await sharp(out).toColourspace('srgb').png().toBuffer();
  assert.is((await sharp(eightPng).metadata()).depth, 'uchar');
  await assertMarked(eightPng, '16-bit PNG -> 8-bit PNG');
});

test('RGBA: alpha unchanged byte for byte', async () => {
  // An RGB photo with an alpha ramp in every value 0..255 (transparent pixels included).
  const rgb = await rawOf(photo('skimage-chelsea.png'), 'srgb');
  const { width, height } = rgb.info;
  const rgba = Buffer.alloc(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    rgba.set(rgb.data.subarray(i * 3, i * 3 + 3), i * 4);
    rgba[i * 4 + 3] = ((i % width) * 7 + Math.floor(i / width) * 3) % 256;
  }
  const input = await sharp(rgba, { raw: { width, height, channels: 4 } }).png().toBuffer();
  assert.is((await sharp(input).metadata()).channels, 4);
  const out = await (await watermark(sharp(input), opts)).toBuffer();
  const a = await rawOf(input), b = await rawOf(out);
  assert.is(b.info.channels, 4);
  let same = true, colourChanged = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    if (a.data[i + 3] !== b.data[i + 3]) { same = false; break; }
    if (a.data[i] !== b.data[i]) colourChanged++;
  }
  assert.ok(same, 'alpha unchanged');
  assert.ok(colourChanged > 0);
  await assertMarked(out, 'RGBA');
});

test('grey stays grey; grey + alpha keeps its alpha', async () => {
  const out = await (await watermark(sharp(photo('skimage-camera.png')), opts)).toBuffer();
  const meta = await sharp(out).metadata();
  assert.is(meta.channels, 1);
  assert.is(meta.format, 'png');
  await assertMarked(out, 'grey');

  const { width, height } = await sharp(photo('skimage-moon.png')).metadata();
  const alpha = Buffer.alloc(width * height);
  for (let i = 0; i < alpha.length; i++) alpha[i] = (i * 13) % 251;
  const ga = await sharp(photo('skimage-moon.png')).toColourspace('b-w').joinChannel(alpha, { raw: { width, height, channels: 1 } }).png().toBuffer();
  assert.is((await sharp(ga).metadata()).channels, 2);
  const gaOut = await (await watermark(sharp(ga), opts)).toBuffer();
  const gm = await sharp(gaOut).metadata();
  assert.is(gm.channels, 2);
  const { data } = await sharp(gaOut).toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  for (let i = 0, j = 3; i < alpha.length; i++, j += 4) if (data[j] !== alpha[i]) assert.unreachable(`alpha differs at ${i}`);
  await assertMarked(gaOut, 'grey + alpha');
  // Continued to raw pixels: RGBA, as sharp gives a grey + alpha image raw (its b-w raw output
  // keeps the first band only: the alpha was lost), the alpha byte for byte, the grey in R = G = B.
  const raw = await (await watermark(sharp(ga), opts)).raw().toBuffer({ resolveWithObject: true });
  assert.equal([raw.info.width, raw.info.height, raw.info.channels], [width, height, 4]);
  for (let i = 0, j = 0; i < alpha.length; i++, j += 4) {
    if (raw.data[j + 3] !== alpha[i] || raw.data[j] !== raw.data[j + 1] || raw.data[j] !== raw.data[j + 2]) assert.unreachable(`raw pixel ${i}`);
  }
  const grey = await sharp(gaOut).extractChannel(0).raw().toBuffer();
  for (let i = 0, j = 0; i < alpha.length; i++, j += 4) if (raw.data[j] !== grey[i]) assert.unreachable(`raw grey differs from the PNG's at ${i}`);
});

test('CMYK JPEG is converted to sRGB and marked', async () => {
  const input = await sharp(photo('skimage-rocket.jpg')).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
  assert.is((await sharp(input).metadata()).space, 'cmyk');
  const out = await (await watermark(sharp(input), opts)).toBuffer();
  const meta = await sharp(out).metadata();
  assert.is(meta.space, 'srgb');
  await assertMarked(out, 'CMYK');
});

test('stream: pipeline() from file to file, same format; format option', async () => {
  const src = photo('skimage-rocket.jpg');
  const dst = join(dir, 'stream.jpg');
  await pipeline(createReadStream(src), watermarkStream(opts), createWriteStream(dst));
  assert.is((await sharp(dst).metadata()).format, 'jpeg');
  await assertMarked(dst, 'stream JPEG');
  // A sharp instance fed by a stream works as well.
  const fed = await (await watermark(createReadStream(src).pipe(sharp()), opts)).toBuffer();
  assert.is((await sharp(fed).metadata()).format, 'jpeg');
  await assertMarked(fed, 'sharp() fed by a stream');
  const dstWebp = join(dir, 'stream.webp');
  await pipeline(createReadStream(photo('skimage-coffee.png')), watermarkStream({ ...opts, format: 'webp', quality: 90 }), createWriteStream(dstWebp));
  assert.is((await sharp(dstWebp).metadata()).format, 'webp');
  await assertMarked(dstWebp, 'stream PNG -> WebP');
});

test('the stream writes a JPEG as the input JPEG was (quality, subsampling, progressive) and a lossless WebP lossless; options.quality wins', async () => {
  const streamed = async (input, options) => {
    const chunks = [];
    await pipeline(Readable.from([input]), watermarkStream({ ...opts, ...options }), new Writable({ write(c, _e, cb) { chunks.push(c); cb(); } }));
    return Buffer.concat(chunks);
  };
  const base = () => sharp(photo('mate-Garden.jpg')).resize(480, 300);
  const jpeg = await base().jpeg({ quality: 82, chromaSubsampling: '4:4:4', progressive: true }).toBuffer();
  const out = await streamed(jpeg);
  assert.equal(sourceEncoding(out), { format: 'jpeg', quality: 82, standardTables: true, chromaSubsampling: '4:4:4', progressive: true });
  await assertMarked(out, 'stream JPEG q82 4:4:4 progressive');
  assert.is(sourceEncoding(await streamed(jpeg, { quality: 90 })).quality, 90);
  // A low-quality input is written at the floor, where the mark keeps its margin.
  assert.is(sourceEncoding(await streamed(await base().jpeg({ quality: 50 }).toBuffer())).quality, MIN_MATCHED_QUALITY);
  const lossless = await base().webp({ lossless: true }).toBuffer();
  const ll = await streamed(lossless);
  assert.equal(sourceEncoding(ll), { format: 'webp', lossless: true });
  await assertMarked(ll, 'stream lossless WebP');
  assert.equal(sourceEncoding(await streamed(lossless, { quality: 80 })), { format: 'webp', lossless: false });
  // A text scan at 75 loses the mark in place at 75: read back, it is written at 95 instead.
  const page = await sharp(photo('skimage-page.png')).jpeg({ quality: 75 }).toBuffer();
  const pageOut = await streamed(page);
  assert.is(sourceEncoding(pageOut).quality, 95);
  await assertMarked(pageOut, 'stream page scan');
  // Another output format takes sharp's defaults (no quality of the input carried into a WebP).
  const asWebp = await streamed(jpeg, { format: 'webp' });
  assert.equal(sourceEncoding(asWebp), { format: 'webp', lossless: false });
});

test('TIFF in: written back losslessly at its resolution (sharp\'s own TIFF defaults are JPEG at quality 80 and 1 pixel per mm); the stream too, JPEG-compressed only when given a quality', async () => {
  const src = join(dir, 'scan.tiff');
  await sharp(photo('mate-Garden.jpg')).resize(480, 300).withMetadata({ density: 300 }).tiff({ compression: 'lzw' }).toFile(src);
  const marked = await watermark(sharp(src), opts);
  const pixels = await marked.clone().raw().toBuffer();
  const out = await marked.toBuffer();
  const m = await sharp(out).metadata();
  assert.is(m.format, 'tiff');
  assert.is(m.density, 300, 'the scan\'s resolution');
  assert.ok(Buffer.compare(await sharp(out).raw().toBuffer(), pixels) === 0, 'lossless: the marked pixels exactly');
  await assertMarked(out, 'TIFF');

  const dst = join(dir, 'scan-stream.tiff');
  await pipeline(createReadStream(src), watermarkStream(opts), createWriteStream(dst));
  assert.is((await sharp(dst).metadata()).density, 300);
  assert.ok(Buffer.compare(await sharp(dst).raw().toBuffer(), pixels) === 0, 'the stream: lossless too');
  const lossy = join(dir, 'scan-stream-q90.tiff');
  await pipeline(createReadStream(src), watermarkStream({ ...opts, quality: 90 }), createWriteStream(lossy));
  assert.is((await sharp(lossy).metadata()).format, 'tiff');
  assert.is((await sharp(lossy).metadata()).density, 300);
  assert.ok(Buffer.compare(await sharp(lossy).raw().toBuffer(), pixels) !== 0, 'with quality: JPEG-compressed');
  await assertMarked(lossy, 'TIFF, quality 90');

  // A JPEG streamed out as TIFF: lossless, at the JPEG's own resolution (72 dpi here).
  const jpeg = photo('skimage-rocket.jpg');
  const fromJpeg = join(dir, 'rocket.tiff');
  await pipeline(createReadStream(jpeg), watermarkStream({ ...opts, format: 'tiff' }), createWriteStream(fromJpeg));
  const jm = await sharp(fromJpeg).metadata();
  assert.is(jm.format, 'tiff');
  assert.is(jm.density, (await sharp(jpeg).metadata()).density);
  const jpegPixels = await (await watermark(sharp(jpeg), opts)).raw().toBuffer();
  assert.ok(Buffer.compare(await sharp(fromJpeg).raw().toBuffer(), jpegPixels) === 0, 'JPEG -> TIFF: lossless');
});

test('the stream with keepMetadata writes a TIFF\'s EXIF (libvips writes none, and reads none from a TIFF): from a JPEG, and from a TIFF', async () => {
  const { readMetadata } = await import('modelmark/metadata');
  const src = join(dir, 'exif-src.jpg');
  await sharp(photo('mate-Garden.jpg')).resize(480, 300).withExif({ IFD0: { Copyright: 'Ada Lovelace 2026' } }).jpeg({ quality: 92 }).toFile(src);
  const tiff = join(dir, 'exif-stream.tiff');
  await pipeline(createReadStream(src), watermarkStream({ ...opts, format: 'tiff', keepMetadata: true }), createWriteStream(tiff));
  const first = await readMetadata(await readFile(tiff));
  assert.ok(first.exif && Buffer.from(first.exif).toString('latin1').includes('Ada Lovelace 2026'), 'JPEG -> TIFF: the EXIF');
  assert.is((await sharp(tiff, { failOn: 'warning' }).raw().toBuffer()).length, 480 * 300 * 3);
  await assertMarked(tiff, 'JPEG -> TIFF with EXIF');
  // That TIFF streamed again (TIFF in, TIFF out): its EXIF, read by modelmark, goes on.
  const again = join(dir, 'exif-stream-again.tiff');
  await pipeline(createReadStream(tiff), watermarkStream({ ...opts, keepMetadata: true }), createWriteStream(again));
  const second = await readMetadata(await readFile(again));
  assert.ok(second.exif && Buffer.from(second.exif).toString('latin1').includes('Ada Lovelace 2026'), 'TIFF -> TIFF: the EXIF');
  // carryMetadata: false carries nothing, though keepMetadata asks: a TIFF input's EXIF neither.
  const uncarried = join(dir, 'exif-stream-uncarried.tiff');
  await pipeline(createReadStream(tiff), watermarkStream({ ...opts, keepMetadata: true, carryMetadata: false }), createWriteStream(uncarried));
  assert.is((await readMetadata(await readFile(uncarried))).exif, undefined, 'TIFF -> TIFF, carryMetadata: false: no EXIF');
  // Without keepMetadata: none, as sharp does.
  const bare = join(dir, 'exif-stream-bare.tiff');
  await pipeline(createReadStream(src), watermarkStream({ ...opts, format: 'tiff' }), createWriteStream(bare));
  assert.is((await readMetadata(await readFile(bare))).exif, undefined);
});

test('an iPhone\'s HEIC photo (HEVC): watermark(), detect() and the stream say what it is (DecodeError), not "the input is corrupt"', async () => {
  const heic = hevcHeif(4032, 3024);
  const expectHeic = async (run, what) => {
    try {
      await run();
      assert.unreachable(what);
    } catch (err) {
      assert.instance(err, DecodeError, what);
      assert.match(err.message, /HEIF image compressed with HEVC \(a HEIC photo, as iPhones save them\).*convert it to JPEG or PNG first/, what);
    }
  };
  await expectHeic(() => watermark(sharp(heic), opts), 'watermark');
  await expectHeic(() => detect(sharp(heic), { key: KEY }), 'detect');
  await expectHeic(() => pipeline(Readable.from([heic]), watermarkStream(opts), new Writable({ write(_c, _e, cb) { cb(); } })), 'stream');
});

test('argument checks: a bad payload before anything is decoded, not a sharp instance', async () => {
  // The input file does not exist: decoding first would give a FileError.
  const missing = sharp(join(dir, 'does-not-exist.jpg'));
  try {
    await watermark(missing, { key: KEY, payload: 'not hex' });
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.instance(err, InvalidArgumentError);
    assert.match(err.message, /payload/);
  }
  assert.throws(() => watermarkStream({ key: KEY, payload: 12 }), (err) => err instanceof InvalidArgumentError);
  assert.throws(() => watermarkStream({ ...opts, format: 'bmp' }), (err) => err instanceof InvalidArgumentError && /options\.format/.test(err.message));
  await watermark({}, opts).then(() => assert.unreachable(), (err) => {
    assert.instance(err, InvalidArgumentError);
    assert.match(err.message, /sharp instance/);
  });
});

test('animations: an animated instance has every frame marked, its delays and loop count kept; detect reads its first frame; the stream keeps the frames', async () => {
  // Four different crops of a photo, with their own delays, looping 3 times.
  const { data, info } = await sharp(photo('mate-Storm.jpg')).resize(380, 270).raw().toBuffer({ resolveWithObject: true });
  const crops = await Promise.all([0, 1, 2, 3].map((i) => sharp(data, { raw: info }).extract({ left: 20 * i, top: 10 * i, width: 320, height: 240 }).raw().toBuffer()));
  const raw = { width: 320, height: 4 * 240, channels: 3, pageHeight: 240 };
  const timing = { delay: [80, 120, 200, 500], loop: 3 };
  const gif = await sharp(Buffer.concat(crops), { raw }).gif(timing).toBuffer();
  const webp = await sharp(Buffer.concat(crops), { raw }).webp({ quality: 95, ...timing }).toBuffer();
  const wm = await createWatermarker({ key: KEY });
  /** Every frame of an encoded animation, decoded alone, carries the payload; its timing is the input's. */
  const assertAnimation = async (bytes, format, what) => {
    const m = await sharp(bytes).metadata();
    assert.equal([m.format, m.width, m.height, m.pages, m.delay, m.loop], [format, 320, 240, 4, timing.delay, timing.loop], what);
    for (let page = 0; page < 4; page++) {
      const f = await sharp(bytes, { page }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const r = wm.detect({ width: f.info.width, height: f.info.height, channels: 3, data: f.data });
      assert.is(r.payload, PAYLOAD, `${what}, frame ${page}: p = ${r.pValue}`);
    }
  };
  for (const [input, format] of [[gif, 'gif'], [webp, 'webp']]) {
    const marked = await (await watermark(sharp(input, { animated: true }), opts)).toFormat(format, { quality: 95 }).toBuffer();
    await assertAnimation(marked, format, `watermark, ${format}`);
    // detect and evidence read the first frame, not the stack as one tall image.
    const r = await detect(sharp(marked, { animated: true }), { key: KEY });
    assert.is(r.payload, PAYLOAD, `detect on an animated ${format} instance: p = ${r.pValue}`);
    assert.ok((await evidence(sharp(marked, { animated: true }), { key: KEY })).score > 5);
    const chunks = [];
    await pipeline(Readable.from([input]), watermarkStream({ ...opts, quality: 95 }), new Writable({ write(c, _e, cb) { chunks.push(c); cb(); } }));
    await assertAnimation(Buffer.concat(chunks), format, `watermarkStream, ${format}`);
  }
  // A GIF cut off in its last frame (libvips reads it without a word) ends the stream with a DecodeError.
  const cut = pipeline(Readable.from([gif.subarray(0, Math.floor(gif.length * 0.95))]), watermarkStream(opts), new Writable({ write(_c, _e, cb) { cb(); } }));
  await cut.then(() => assert.unreachable('a truncated GIF was marked'), (err) => {
    assert.instance(err, DecodeError);
    assert.match(err.message, /truncated .*3 whole frames in/);
  });
  // Without animated: true sharp reads the first frame, and that one frame is what is marked.
  const one = await (await watermark(sharp(gif), opts)).toBuffer();
  assert.is((await sharp(one).metadata()).pages ?? 1, 1);
  // The pixel limit counts every frame read.
  await watermark(sharp(gif, { animated: true }), { ...opts, maxPixels: 320 * 240 * 3 }).then(() => assert.unreachable(), (err) => {
    assert.instance(err, ImageSizeError);
    assert.is(err.code, 'ERR_IMAGE_TOO_LARGE');
  });
});

test('option names are checked, and an option\'s type is checked whatever was cached for the same key', async () => {
  const src = () => sharp(photo('skimage-rocket.jpg'));
  const refused = (name) => (err) => {
    assert.instance(err, InvalidArgumentError);
    assert.ok(err.message.includes(`"${name}"`), err.message);
  };
  await watermark(src(), { ...opts, strenght: 3 }).then(() => assert.unreachable('strenght'), refused('strenght'));
  await watermark(src(), { ...opts, carryMetdata: false }).then(() => assert.unreachable('carryMetdata'), refused('carryMetdata'));
  await detect(src(), { key: KEY, serach: false }).then(() => assert.unreachable('serach'), refused('serach'));
  assert.throws(() => watermarkStream({ ...opts, formt: 'webp' }), (err) => err instanceof InvalidArgumentError && /"formt"/.test(err.message));
  // The stream's own names pass through to the marking step.
  const out = [];
  await pipeline(createReadStream(photo('skimage-rocket.jpg')), watermarkStream({ ...opts, format: 'png', maxInputBytes: 1 << 24 }), async function* (chunks) {
    for await (const c of chunks) out.push(c);
  });
  assert.is((await sharp(Buffer.concat(out)).metadata()).format, 'png');
  // strength 2 first, then '2' (a string) for the same key: refused, not served from the cache.
  assert.ok((await detect(src(), { key: 'cache key', strength: 2 })).pValue > 0);
  await detect(src(), { key: 'cache key', strength: '2' }).then(() => assert.unreachable('a string strength'), (err) => {
    assert.instance(err, InvalidArgumentError);
    assert.match(err.message, /options\.strength/);
  });
});

test('AVIF in: written as AVIF by default (sharp\'s heif output needs a compression); a format this sharp cannot write is a typed error', async () => {
  const avif = await sharp(photo('skimage-astronaut.png')).avif().toBuffer();
  const out = await (await watermark(sharp(avif), opts)).toBuffer();
  assert.is((await sharp(out).metadata()).format, 'heif');
  assert.is((await detect(sharp(out), { key: KEY })).payload, PAYLOAD);
  const viaStream = [];
  await pipeline(createReadStream(photo('skimage-rocket.jpg')), watermarkStream({ ...opts, format: 'heif' }), async function* (chunks) {
    for await (const c of chunks) viaStream.push(c);
  });
  assert.is((await detect(sharp(Buffer.concat(viaStream)), { key: KEY })).payload, PAYLOAD);
  const err = await pipeline(createReadStream(photo('skimage-rocket.jpg')), watermarkStream({ ...opts, format: 'jp2' }), async function* (chunks) {
    for await (const _ of chunks); // eslint-disable-line no-unused-vars
  }).then(() => null, (e) => e);
  // Written where this sharp has OpenJPEG; refused with a typed error where it has not.
  if (err) assert.is(err.code, 'ERR_FILE', err.message);
});

test('corrupt input: DecodeError from watermark(), detect() and the stream', async () => {
  const good = await readFile(photo('skimage-rocket.jpg'));
  const truncated = good.subarray(0, Math.floor(good.length / 3));
  const garbage = Buffer.from('this is not an image, just some bytes '.repeat(20));
  for (const bad of [truncated, garbage]) {
    await watermark(sharp(bad), opts).then(() => assert.unreachable('watermark'), (err) => assert.instance(err, DecodeError));
    await detect(sharp(bad), { key: KEY }).then(() => assert.unreachable('detect'), (err) => assert.instance(err, DecodeError));
  }
  const badFile = join(dir, 'corrupt.jpg');
  await writeFile(badFile, truncated);
  const dst = join(dir, 'corrupt-out.jpg');
  await pipeline(createReadStream(badFile), watermarkStream(opts), createWriteStream(dst))
    .then(() => assert.unreachable('stream'), (err) => assert.instance(err, DecodeError));
  // An empty input is a DecodeError too, and an input over the limit an ImageSizeError.
  const emptyFile = join(dir, 'empty.jpg');
  await writeFile(emptyFile, Buffer.alloc(0));
  await pipeline(createReadStream(emptyFile), watermarkStream(opts), createWriteStream(join(dir, 'empty-out.jpg')))
    .then(() => assert.unreachable('empty'), (err) => assert.instance(err, DecodeError));
  await pipeline(createReadStream(photo('skimage-rocket.jpg')), watermarkStream({ ...opts, maxInputBytes: 1000 }), createWriteStream(join(dir, 'big-out.jpg')))
    .then(() => assert.unreachable('limit'), (err) => assert.instance(err, ImageSizeError));
  // The limit is exact, also when the input comes in one chunk: its size passes, one byte less refuses it.
  const whole = await readFile(photo('skimage-rocket.jpg'));
  const oneChunk = (maxInputBytes) => pipeline(Readable.from([whole]), watermarkStream({ ...opts, maxInputBytes }), new Writable({ write: (_c, _e, cb) => cb() }));
  await oneChunk(whole.length);
  await oneChunk(whole.length - 1).then(() => assert.unreachable('one byte over'), (err) => assert.instance(err, ImageSizeError));
  // Too small for the mark: the core's ImageSizeError comes through.
  const tiny = sharp({ create: { width: 100, height: 100, channels: 3, background: '#808080' } }).png();
  await watermark(tiny, opts).then(() => assert.unreachable('tiny'), (err) => assert.instance(err, ImageSizeError));
  assert.ok((await stat(dir)).isDirectory());
});

test('options.maxPixels: an image of exactly the limit is marked and read; one pixel more is refused (watermark and detect)', async () => {
  const png = await sharp(photo('skimage-rocket.jpg')).resize(256, 200, { fit: 'fill' }).png().toBuffer();
  const limit = 256 * 200;
  const out = await (await watermark(sharp(png), { ...opts, maxPixels: limit })).png().toBuffer();
  const r = await detect(sharp(out), { key: KEY, maxPixels: limit });
  assert.equal([r.found, r.payload], [true, PAYLOAD]);
  for (const run of [() => watermark(sharp(png), { ...opts, maxPixels: limit - 1 }), () => detect(sharp(out), { key: KEY, maxPixels: limit - 1 })]) {
    const err = await run().then(() => null, (e) => e);
    assert.instance(err, ImageSizeError);
    assert.is(err.code, 'ERR_IMAGE_TOO_LARGE');
    assert.match(err.message, /256x200, over the limit of 51199 pixels/);
  }
});

test('carryMetadata: false on a 16-bit Display P3 PNG: the marked copy is in sRGB, as its 8-bit twin converts (no P3 values read as sRGB)', async () => {
  const p3 = await sharp(photo('mate-LadyBird.jpg')).resize(320, 220, { fit: 'cover' }).withIccProfile('p3').png().toBuffer();
  const { data: rgb, info } = await sharp(p3).keepIccProfile().raw().toBuffer({ resolveWithObject: true });
  const wide = Uint16Array.from(rgb, (v) => v * 257);
  const png16 = await sharp(wide, { raw: { width: info.width, height: info.height, channels: 3 } }).toColourspace('rgb16')
    .withIccProfile('p3').png().toBuffer(); // the P3 profile over the same P3 values
  const want = await sharp(p3).toColourspace('srgb').raw().toBuffer();
  const out = await (await watermark(sharp(png16), { ...opts, carryMetadata: false })).png().toBuffer();
  assert.not.ok((await sharp(out).metadata()).icc, 'no profile kept');
  const got = await sharp(out).toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer();
  let sq = 0;
  for (let i = 0; i < want.length; i++) sq += (got[i] - want[i]) ** 2;
  const db = 10 * Math.log10(255 * 255 / (sq / want.length));
  assert.ok(db > 38, `${db.toFixed(1)} dB from the sRGB conversion`);
  await assertMarked(out, '16-bit P3, carryMetadata false');
});

test('carryMetadata leaves a block over METADATA_LIMITS out: a small PNG whose XMP is 16 MB (sharp inflates it) gives a copy without it; an XMP under the limit is carried', async () => {
  const small = await sharp(photo('mate-Storm.jpg')).resize(256).png().toBuffer();
  const xmpOf = (n) => `<x:xmpmeta xmlns:x="adobe:ns:meta/"><!--${' '.repeat(n)}--></x:xmpmeta>`;
  // libvips writes XMP into a PNG deflated (zTXt): about 16 KB of file for 16 MB of packet.
  const hostile = await sharp(small).withXmp(xmpOf(16_000_000)).png().toBuffer();
  assert.ok(hostile.length < small.length + 100_000, `${hostile.length} bytes`);
  assert.is((await sharp(hostile).metadata()).xmp.length, xmpOf(16_000_000).length, 'sharp reads the whole packet');
  const marked = await (await watermark(sharp(hostile), { key: KEY, payload: PAYLOAD })).keepMetadata().png().toBuffer();
  assert.is((await sharp(marked).metadata()).xmp, undefined);
  const fine = await sharp(small).withXmp(xmpOf(500_000)).png().toBuffer();
  const kept = await (await watermark(sharp(fine), { key: KEY, payload: PAYLOAD })).keepMetadata().png().toBuffer();
  assert.is((await sharp(kept).metadata()).xmp?.length, xmpOf(500_000).length);
});

test('watermarkStream: an input its output format cannot hold is refused from the header, as ImageSizeError (not a FileError from the encoder after marking)', async () => {
  // 16384x128 grey to WebP (at most 16383 a side), 65501x128 to JPEG (libjpeg-turbo: 65500) and
  // 16385x128 to AVIF (16384; it was marked, then failed in the encoder as a FileError).
  for (const [width, format] of [[16384, 'webp'], [65501, 'jpeg'], [16385, 'avif']]) {
    const png = await sharp(Buffer.alloc(width * 128, 90), { raw: { width, height: 128, channels: 1 } }).png().toBuffer();
    let error;
    try {
      await pipeline(Readable.from([png]), watermarkStream({ ...opts, format, maxAspect: 128, maxPixels: 1e7 }), new Writable({ write(_c, _e, cb) { cb(); } }));
    } catch (err) {
      error = err;
    }
    assert.instance(error, ImageSizeError, `${format}: ${error}`);
    assert.is(error.code, 'ERR_IMAGE_TOO_LARGE');
    assert.match(error.message, `${width}x128`);
    assert.match(error.message, format);
  }
});

test('an input whose raw pixels would not fit in one Node buffer is refused from its header (sharp aborted the process on a 4.31 GB 16-bit PNG); a pipeline that shrinks it is not', async () => {
  // A real 23200x23200 16-bit RGBA PNG killed the process ("free(): double free detected") in
  // watermark() and detect() with limitInputPixels: false; a header claiming just over
  // buffer.constants.MAX_LENGTH of RGB stands in for it (its data is cut short: decoding fails).
  const { constants } = await import('node:buffer');
  const side = Math.ceil(Math.sqrt(constants.MAX_LENGTH / 3)) + 1;
  if (side > 0x7fffffff || side * side > Number.MAX_SAFE_INTEGER) return; // buffers not so bounded here
  const { pngClaiming } = await import('./helpers/png.mjs');
  const png = pngClaiming(side, side);
  const big = { maxPixels: side * side };
  const failure = async (fn) => { try { await fn(); } catch (err) { return err; } return undefined; };
  for (const run of [() => watermark(sharp(png, { limitInputPixels: false }), { ...opts, ...big }), () => detect(sharp(png, { limitInputPixels: false }), { key: KEY, ...big })]) {
    const err = await failure(run);
    assert.instance(err, ImageSizeError, String(err));
    assert.is(err.code, 'ERR_IMAGE_TOO_LARGE');
    assert.match(err.message, `${side}x${side}`);
    assert.match(err.message, 'buffer');
  }
  // Resized in the pipeline, the raw pixels would be small: left to sharp (here: the cut data).
  const shrunk = await failure(() => watermark(sharp(png, { limitInputPixels: false }).resize(512), { ...opts, ...big }));
  assert.instance(shrunk, DecodeError, String(shrunk));
});

test('detect(sharp(collage), { pieces: true }) finds a marked photo pasted into a larger one, which the plain read misses', async () => {
  const { jpeg } = await pastedCollage();
  assert.is((await detect(sharp(jpeg), { key: COLLAGE_KEY })).found, false);
  const r = await detect(sharp(jpeg), { key: COLLAGE_KEY, pieces: true });
  assert.is(r.payload, COLLAGE_PAYLOAD);
  let err;
  try { await detect(sharp(jpeg), { key: COLLAGE_KEY, pieces: 1 }); } catch (e) { err = e; }
  assert.ok(err instanceof InvalidArgumentError && err.message.includes('options.pieces'), String(err));
});

test('detect: a bad pieces or evidence value is refused before anything is read (not a decode error of a bad input first)', async () => {
  for (const [name, call] of [['pieces', { pieces: 'ALL' }], ['evidence', { evidence: 'yes' }]]) {
    let err;
    try { await detect(sharp(Buffer.from('not an image at all')), { key: COLLAGE_KEY, ...call }); } catch (e) { err = e; }
    assert.ok(err instanceof InvalidArgumentError && err.message.includes(`options.${name}`), `${name}: ${err}`);
  }
});

test("detect(sharp(collage), { pieces: 'all' }) lists both photos of one key in a collage", async () => {
  const { jpeg } = await twoPieceCollage();
  const r = await detect(sharp(jpeg), { key: COLLAGE_KEY, pieces: 'all' });
  assert.equal(r.pieces.map((p) => p.payload).sort(), [COLLAGE_PAYLOAD, SECOND_PAYLOAD].sort());
});

test.run();
