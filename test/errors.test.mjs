// Error handling of the API and of modelmark/node's file IO: every failure is a ModelmarkError of
// the right class and code, and its message names the problem (and the file, for files).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import {
  createWatermarker, readImage, decodeImageFile, writeImage, encodeImage, parsePayload, markFile, renderRegionMap, readMetadata, embedMetadata, ssim,
  ModelmarkError, InvalidArgumentError, ImageSizeError, DecodeError, FileError,
} from '../dist/node/index.js';
import { removePendingTempFiles, removeTempFilesUnder, writeFileAtomic } from '../dist/node/files.js';
import { pngClaiming } from './helpers/png.mjs';
import { hevcHeif } from './helpers/heic.mjs';

const PHOTOS = new URL('../../shared/photos/', import.meta.url);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmark-errors-'));
const file = (name) => path.join(dir, name);

/** Await `fn` (sync or async), expect it to throw `Class` with `code`, and return the error. */
async function rejects(fn, Class, code, ...mentions) {
  let error;
  try {
    await fn();
  } catch (err) {
    error = err;
  }
  assert.ok(error, `expected ${Class.name} ${code}, but nothing was thrown`);
  assert.instance(error, Class, `expected ${Class.name}, got ${error?.name}: ${error?.message}`);
  assert.instance(error, ModelmarkError);
  assert.is(error.code, code);
  for (const m of mentions) {
    const ok = m instanceof RegExp ? m.test(error.message) : error.message.includes(m);
    assert.ok(ok, `message ${JSON.stringify(error.message)} should mention ${m}`);
  }
  return error;
}

let wm, photo, photoJpeg;
test.before(async () => {
  wm = await createWatermarker({ key: 'errors test key' });
  photoJpeg = file('storm.jpg');
  await sharp(new URL('mate-Storm.jpg', PHOTOS).pathname).resize(640).jpeg({ quality: 92 }).toFile(photoJpeg);
  photo = await readImage(photoJpeg);
});
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

// ---- files that are not (whole) images ----

test('truncated JPEG: DecodeError naming the file and the truncation', async () => {
  const bytes = fs.readFileSync(photoJpeg);
  const cut = file('truncated.jpg');
  fs.writeFileSync(cut, bytes.subarray(0, bytes.length >> 1));
  await rejects(() => readImage(cut), DecodeError, 'ERR_DECODE', cut, 'truncated');
});

test('truncated PNG: DecodeError', async () => {
  const bytes = await sharp(photoJpeg).png().toBuffer();
  const cut = file('truncated.png');
  fs.writeFileSync(cut, bytes.subarray(0, bytes.length >> 1));
  await rejects(() => readImage(cut), DecodeError, 'ERR_DECODE', cut, /truncated|corrupt/);
});

test('not an image / corrupt bytes / empty file: DecodeError', async () => {
  const text = file('notes.jpg');
  fs.writeFileSync(text, 'this is a text file, not a JPEG\n'.repeat(20));
  await rejects(() => readImage(text), DecodeError, 'ERR_DECODE', text, 'not an image');

  const bytes = fs.readFileSync(photoJpeg);
  const garbled = file('garbled.jpg');
  fs.writeFileSync(garbled, Buffer.concat([bytes.subarray(0, 64), Buffer.alloc(4096, 0x5a)]));
  await rejects(() => readImage(garbled), DecodeError, 'ERR_DECODE', garbled, /corrupt|truncated/);

  const empty = file('empty.png');
  fs.writeFileSync(empty, '');
  await rejects(() => readImage(empty), DecodeError, 'ERR_DECODE', empty, 'empty');
});

test('decodeImageFile: the bytes already read decode as readImage decodes the file; bad bytes and arguments are refused', async () => {
  const bytes = fs.readFileSync(photoJpeg);
  const fromBytes = await decodeImageFile(bytes, 'upload.jpg');
  assert.equal([fromBytes.width, fromBytes.height, fromBytes.channels, fromBytes.format], [photo.width, photo.height, photo.channels, photo.format]);
  assert.ok(Buffer.compare(Buffer.from(fromBytes.data), Buffer.from(photo.data)) === 0, 'the same pixels as readImage');
  // The errors name the label given for the bytes.
  await rejects(() => decodeImageFile(bytes.subarray(0, bytes.length >> 1), 'upload.jpg'), DecodeError, 'ERR_DECODE', 'upload.jpg', 'truncated');
  await rejects(() => decodeImageFile(bytes, 'upload.jpg', { maxPixels: 1000 }), ImageSizeError, 'ERR_IMAGE_TOO_LARGE', 'upload.jpg', 'maxPixels');
  const plain = await decodeImageFile(new Uint8Array(bytes), 'upload.jpg'); // a plain Uint8Array works too
  assert.is(plain.width, photo.width);
  await rejects(() => decodeImageFile('upload.jpg', 'upload.jpg'), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'bytes', 'Uint8Array');
  await rejects(() => decodeImageFile(bytes, ''), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'path');
});

test('animated GIF: DecodeError ERR_ANIMATED unless firstFrame or allFrames; animations are written as WebP, GIF or TIFF pages only', async () => {
  const w = 160, h = 140, n = 4;
  const frames = Buffer.alloc(w * h * n * 3);
  for (let i = 0; i < frames.length; i++) frames[i] = (i * 7 + Math.floor(i / (w * h * 3)) * 50) & 255;
  const gif = file('anim.gif');
  await sharp(frames, { raw: { width: w, height: h * n, channels: 3, pageHeight: h } }).gif({ delay: [50, 60, 70, 80] }).toFile(gif);
  await rejects(() => readImage(gif), DecodeError, 'ERR_ANIMATED', gif, 'animated (4 frames)', 'allFrames');
  const first = await readImage(gif, { firstFrame: true });
  assert.equal([first.width, first.height, first.pages, first.animation], [w, h, 4, undefined]);
  const all = await readImage(gif, { allFrames: true });
  assert.equal([all.width, all.height, all.animation], [w, h * n, { frames: 4, frameHeight: h, delay: [50, 60, 70, 80], loop: 0 }]);
  assert.is((await readImage(photoJpeg, { firstFrame: true })).pages, undefined, 'a still image has no pages');
  await rejects(() => readImage(gif, { firstFrame: 'yes' }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.firstFrame');
  await rejects(() => readImage(gif, { firstFrame: true, allFrames: true }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.allFrames');
  await rejects(() => readImage(gif, { allFrames: true, maxPixels: w * h * 3 }), ImageSizeError, 'ERR_IMAGE_TOO_LARGE', '4 frames');

  await rejects(() => writeImage(file('anim.png'), all, { animation: all.animation }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', '4 frames', 'WebP, GIF or TIFF');
  await rejects(() => writeImage(file('anim.webp'), all, { animation: { frames: 3, frameHeight: h } }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'frameHeight');
  await rejects(() => writeImage(file('anim.webp'), all, { animation: { ...all.animation, delay: [1] } }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'delay');
  assert.not.ok(fs.existsSync(file('anim.png')) || fs.existsSync(file('anim.webp')), 'nothing written');
  const back = await writeImage(file('anim-back.webp'), all, { animation: all.animation });
  const m = await sharp(back.path).metadata();
  assert.equal([m.pages, m.height, m.delay], [4, h, [50, 60, 70, 80]]);
});

test('truncated animated GIF: DecodeError naming the truncation for every read (libvips decodes it silently, frames lost or half filled)', async () => {
  const w = 160, h = 140, n = 4;
  const frames = Buffer.alloc(w * h * n * 3);
  for (let i = 0; i < frames.length; i++) frames[i] = (i * 13 + Math.floor(i / (w * h * 3)) * 60) & 255;
  const whole = await sharp(frames, { raw: { width: w, height: h * n, channels: 3, pageHeight: h } }).gif({ delay: [50, 60, 70, 80] }).toBuffer();
  for (const [cut, frames] of [[0.95, 3], [0.6, 2]]) {
    const path = file(`cut-${cut}.gif`);
    fs.writeFileSync(path, whole.subarray(0, Math.floor(whole.length * cut)));
    for (const options of [{ allFrames: true }, { firstFrame: true }]) {
      await rejects(() => readImage(path, options), DecodeError, 'ERR_DECODE', path, 'truncated', `${frames} whole frames in`);
    }
  }
  // A GIF whose last block is whole but whose trailer is left out (some encoders do) is read.
  const noTrailer = file('no-trailer.gif');
  assert.is(whole[whole.length - 1], 0x3b);
  fs.writeFileSync(noTrailer, whole.subarray(0, whole.length - 1));
  assert.is((await readImage(noTrailer, { allFrames: true })).animation.frames, n);
});

test('multi-page TIFF: pages of one size are frames; pages of different sizes (a pyramid) are ERR_ANIMATED, not a corrupt file', async () => {
  const photo = await sharp(photoJpeg).resize(400, 300).raw().toBuffer({ resolveWithObject: true });
  const pyramid = file('pyramid.tif');
  await sharp(photo.data, { raw: photo.info }).tiff({ pyramid: true, tile: true, tileWidth: 128, tileHeight: 128 }).toFile(pyramid);
  const pages = (await sharp(pyramid).metadata()).pages;
  assert.ok(pages > 1, `a pyramid of ${pages} pages`);
  await rejects(() => readImage(pyramid, { allFrames: true }), DecodeError, 'ERR_ANIMATED', pyramid, `${pages} pages of different sizes`, 'firstFrame');
  const first = await readImage(pyramid, { firstFrame: true });
  assert.equal([first.width, first.height, first.pages], [400, 300, pages]);
  const stack = file('pages.tif');
  await sharp(Buffer.concat([photo.data, photo.data]), { raw: { ...photo.info, height: 600, pageHeight: 300 } }).tiff().toFile(stack);
  assert.equal((await readImage(stack, { allFrames: true })).animation, { frames: 2, frameHeight: 300 });
});

test('an iPhone\'s HEIC photo (HEVC, which sharp\'s prebuilt libvips cannot decode) is said to be one, not "the file is corrupt"', async () => {
  const bytes = hevcHeif(4032, 3024);
  const meta = await sharp(bytes).metadata();
  assert.equal([meta.format, meta.compression, meta.width], ['heif', 'hevc', 4032], 'a sound header');
  const heic = file('IMG_0001.HEIC');
  fs.writeFileSync(heic, bytes);
  for (const read of [() => readImage(heic), () => decodeImageFile(bytes, 'upload.heic')]) {
    await rejects(read, DecodeError, 'ERR_DECODE', 'HEIF image compressed with HEVC', 'iPhones', 'convert it to JPEG or PNG first');
    try { await read(); } catch (err) { assert.not.match(err.message, /corrupt/, err.message); }
  }
  // An AVIF named .heic (AV1 in HEIF) still decodes.
  const avif = await sharp(photoJpeg).resize(200, 150).avif({ effort: 0 }).toBuffer();
  assert.is((await decodeImageFile(avif, 'avif.heic')).format, 'avif');
});

test('a PNG header with zero width or height: DecodeError', async () => {
  for (const [w, h] of [[0, 200], [200, 0]]) {
    const p = file(`zero-${w}x${h}.png`);
    fs.writeFileSync(p, pngClaiming(w, h));
    await rejects(() => readImage(p), DecodeError, 'ERR_DECODE', p);
  }
});

test('missing path and directory: FileError naming the path and the OS reason', async () => {
  const missing = file('no-such-image.jpg');
  await rejects(() => readImage(missing), FileError, 'ERR_FILE', missing, 'no such file', 'ENOENT');
  await rejects(() => readImage(dir), FileError, 'ERR_FILE', dir, 'directory');
  await rejects(() => readImage(''), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'path');
  await rejects(() => readImage(42), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'path', '42');
});

// ---- sizes ----

test('zero or non-integer width / height in an image object: InvalidArgumentError', async () => {
  await rejects(() => wm.embed({ width: 0, height: 200, data: new Uint8Array(0) }, 1n), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'image.width', 'positive integer', '0');
  await rejects(() => wm.detect({ width: 200, height: 0, data: new Uint8Array(0) }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'image.height', '0');
  await rejects(() => wm.detect({ width: 200.5, height: 200, data: new Uint8Array(0) }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'image.width', '200.5');
  await rejects(() => writeImage(file('zero.png'), { width: 0, height: 10, data: new Uint8Array(0) }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'image.width');
});

test('tiny image: ImageSizeError ERR_IMAGE_TOO_SMALL under 128 px to embed and under 48 px to detect, from objects and from files', async () => {
  const tiny = { width: 100, height: 100, data: new Uint8Array(100 * 100 * 3) };
  await rejects(() => wm.embed(tiny, 1n), ImageSizeError, 'ERR_IMAGE_TOO_SMALL', '100x100', '128x128');
  // a 100x100 copy can still be read (thumbnails of marked images are): an honest "not found"
  const r = wm.detect(tiny);
  assert.is(r.found, false);
  assert.ok(r.pValue > 0 && r.pValue <= 1, String(r.pValue));
  const smaller = { width: 60, height: 47, data: new Uint8Array(60 * 47 * 3) };
  await rejects(() => wm.detect(smaller), ImageSizeError, 'ERR_IMAGE_TOO_SMALL', '60x47', '48x48', 'read');
  const p = file('tiny.png');
  await sharp(photoJpeg).resize(100, 40).png().toFile(p);
  const img = await readImage(p); // reading a small image is fine...
  assert.is(img.width, 100);
  await rejects(() => wm.detect(img), ImageSizeError, 'ERR_IMAGE_TOO_SMALL', '100x40'); // ...detecting on it is not
  await rejects(() => wm.embed(img, 1n), ImageSizeError, 'ERR_IMAGE_TOO_SMALL', '100x40'); // nor marking it
});

test('elongated image (over 32:1 by default): ImageSizeError ERR_IMAGE_ASPECT naming the ratio and the option; maxAspect raises it, up to 128', async () => {
  // Before the limit, a 128x200000 image made detect throw a RangeError from a wasm offset past
  // 2 GB: the mark's frame keeps a 256-pixel short side, so it grows with the ratio.
  const strip = { width: 4200, height: 128, data: new Uint8Array(4200 * 128 * 3).fill(90) };
  await rejects(() => wm.embed(strip, 1n), ImageSizeError, 'ERR_IMAGE_ASPECT', '4200x128', '32.8:1', '32:1', 'maxAspect');
  await rejects(() => wm.detect(strip), ImageSizeError, 'ERR_IMAGE_ASPECT', '4200x128', 'maxAspect');
  // The limit itself is allowed ("over 32:1" is refused): 4096 x 128 and 128 x 4096 are 32:1 exactly.
  for (const [width, height] of [[4096, 128], [128, 4096]]) {
    const exact = { width, height, channels: 1, data: new Uint8Array(width * height).fill(90) };
    assert.is(wm.embed(exact, 1n).width, width);
    assert.not.ok(wm.detect(exact, { search: false }).found);
  }
  const huge = { width: 128, height: 200000, data: new Uint8Array(3) }; // refused before the data is looked at
  await rejects(() => wm.detect(huge), ImageSizeError, 'ERR_IMAGE_ASPECT', '1562.5:1');
  const wide = await createWatermarker({ key: 'k', maxAspect: 40 });
  const marked = wide.embed(strip, 'c0ffee0000000042');
  const r = wide.detect(marked);
  assert.ok(r.found, `found at 32.8:1 with maxAspect 40 (p=${r.pValue})`);
  assert.is(r.payload, 'c0ffee0000000042');
  for (const bad of [0, 0.5, 129, 1e9, NaN, '8']) {
    await rejects(() => createWatermarker({ key: 'k', maxAspect: bad }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.maxAspect');
  }
});

test('huge image object (120 MP) without opt-in: ERR_IMAGE_TOO_LARGE before touching the data', async () => {
  const huge = { width: 20000, height: 6000, data: new Uint8Array(3) };
  await rejects(() => wm.embed(huge, 1n), ImageSizeError, 'ERR_IMAGE_TOO_LARGE', '20000x6000', 'maxPixels');
  await rejects(() => wm.detect(huge), ImageSizeError, 'ERR_IMAGE_TOO_LARGE', '20000x6000', 'maxPixels');
});

test('huge image file without opt-in: ERR_IMAGE_TOO_LARGE from the header, naming the option and flag', async () => {
  const big = file('big.png');
  await sharp({ create: { width: 12000, height: 9000, channels: 3, background: '#fff' } }).png().toFile(big);
  await rejects(() => readImage(big), ImageSizeError, 'ERR_IMAGE_TOO_LARGE', big, '12000x9000', 'maxPixels', '--max-pixels');
  // A decompression bomb: the header claims 2.5 gigapixels; refused without decoding.
  const bomb = file('bomb.png');
  fs.writeFileSync(bomb, pngClaiming(50000, 50000));
  const t = performance.now();
  await rejects(() => readImage(bomb), ImageSizeError, 'ERR_IMAGE_TOO_LARGE', bomb, '50000x50000');
  assert.ok(performance.now() - t < 1000, 'a bomb must be refused from its header');
});

test('maxPixels is an opt-in both ways', async () => {
  const n = photo.width * photo.height;
  await rejects(() => readImage(photoJpeg, { maxPixels: n - 1 }), ImageSizeError, 'ERR_IMAGE_TOO_LARGE', 'maxPixels');
  const ok = await readImage(photoJpeg, { maxPixels: n });
  assert.is(ok.width * ok.height, n);
  await rejects(() => readImage(photoJpeg, { maxPixels: 0 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'maxPixels');
  const small = await createWatermarker({ key: 'k', maxPixels: n - 1 });
  await rejects(() => small.detect(photo), ImageSizeError, 'ERR_IMAGE_TOO_LARGE', 'maxPixels');
});

test('data length mismatch: InvalidArgumentError naming image.data and the expected size', async () => {
  const { width, height } = photo;
  await rejects(() => wm.embed({ width, height, data: new Uint8Array(width * height * 3 - 1) }, 1n),
    InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'image.data', `${width * height * 3}`);
  await rejects(() => wm.detect({ width, height, channels: 4, data: photo.data }),
    InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'image.data', `${width * height * 4} bytes`);
  await rejects(() => wm.detect({ width, height, data: [1, 2, 3] }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'image.data', 'Uint8Array');
  await rejects(() => writeImage(file('short.png'), { width, height, channels: 3, data: new Uint8Array(10) }),
    InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'image.data', `${width * height * 3} bytes`);
  assert.not.ok(fs.existsSync(file('short.png')));
});

// ---- keys and payloads ----

test('empty or missing key: InvalidArgumentError naming the key', async () => {
  await rejects(() => createWatermarker({ key: '' }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'key', 'non-empty');
  await rejects(() => createWatermarker({ key: new Uint8Array(0) }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'key', 'non-empty');
  await rejects(() => createWatermarker({}), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'key');
  await rejects(() => createWatermarker(), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options');
});

test('a key of the wrong kind is refused without showing it: the message gives its kind, never its content (a number, a bigint, a key string passed where the options go), in the core, the batch, the plug-ins and Photopea', async () => {
  const { runBatch } = await import('../dist/node/batch.js');
  const { watermarkImageData } = await import('modelmark/canvas');
  const { startPhotopeaPlugin } = await import('modelmark/photopea');
  const root = { appendChild() {} }; // refused before the panel is drawn
  const secret = 'hunter2-correct-horse';
  const cases = [
    ['createWatermarker(number key)', () => createWatermarker({ key: 31415926535 }), '31415926535'],
    ['createWatermarker(bigint key)', () => createWatermarker({ key: 271828182845n }), '271828182845'],
    ['createWatermarker(key string as options)', () => createWatermarker(secret), secret],
    ['runBatch(number key)', () => runBatch({ command: 'detect', input: dir, key: 31415926535 }), '31415926535'],
    ['startPhotopeaPlugin(number key)', () => startPhotopeaPlugin(root, { key: 31415926535 }), '31415926535'],
    ['startPhotopeaPlugin(key string as options)', () => startPhotopeaPlugin(root, secret), secret],
    ['watermarkImageData(key string as options)', () => watermarkImageData({ width: 1, height: 1, data: new Uint8ClampedArray(4) }, secret), secret],
  ];
  for (const [what, fn, shown] of cases) {
    let error;
    try { await fn(); } catch (e) { error = e; }
    assert.ok(error, `${what}: refused`);
    assert.is(error.code, 'ERR_INVALID_ARGUMENT', `${what}: ${error.message}`);
    assert.not.ok(error.message.includes(shown), `${what} shows the secret: ${error.message}`);
    assert.match(error.message, /not shown: it may be secret/, what);
  }
});

test('payload over 64 bits: InvalidArgumentError naming the payload and the 64-bit limit', async () => {
  await rejects(() => wm.embed(photo, '1' + '0'.repeat(16)), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'payload', '64 bits', '10000000000000000');
  await rejects(() => wm.embed(photo, 2n ** 64n), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'payload', '2^64');
  await rejects(() => wm.embed(photo, -1n), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'payload');
  await rejects(() => wm.embed(photo, 'xyz'), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'payload', 'hexadecimal');
  await rejects(() => wm.embed(photo, new Uint8Array(9)), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'payload', '8 bytes');
  assert.is(parsePayload(2n ** 64n - 1n).length, 8); // the largest payload is fine
});

test('strength, threshold and maxPixels out of range: InvalidArgumentError naming the option', async () => {
  await rejects(() => createWatermarker({ key: 'k', strength: 100 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'strength', '100');
  await rejects(() => createWatermarker({ key: 'k', threshold: 2 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'threshold');
  await rejects(() => createWatermarker({ key: 'k', maxPixels: -5 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'maxPixels');
});

// ---- writing ----

const leftovers = () => fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));

test('unknown or missing output extension: InvalidArgumentError naming it; nothing written', async () => {
  await rejects(() => writeImage(file('out.bmp'), photo), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', '.bmp', '.png', '.jpe', '.jfif');
  await rejects(() => writeImage(file('out.JPG2'), photo), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', '.JPG2');
  await rejects(() => writeImage(file('noext'), photo), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'noext', 'extension');
  await rejects(() => writeImage(file('noext'), photo, { format: 'svg' }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'format', 'svg');
  await rejects(() => writeImage(file('q.jpg'), photo, { quality: 0 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'quality');
  await rejects(() => writeImage(file('q.jpg'), photo, { quality: 95.5 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'quality');
  for (const f of ['out.bmp', 'out.JPG2', 'noext', 'q.jpg']) assert.not.ok(fs.existsSync(file(f)), f);
  assert.equal(leftovers(), []);
});

test('writing over the source file is refused, also through a symlink; the source is unchanged', async () => {
  const before = fs.readFileSync(photoJpeg);
  const marked = wm.embed(photo, 7n);
  await rejects(() => writeImage(photoJpeg, marked, { sourcePath: photoJpeg }), FileError, 'ERR_FILE', photoJpeg, 'overwrite');
  const link = file('link.jpg');
  fs.symlinkSync(photoJpeg, link);
  await rejects(() => writeImage(link, marked, { sourcePath: photoJpeg }), FileError, 'ERR_FILE', 'overwrite');
  const hard = file('hard.jpg');
  fs.linkSync(photoJpeg, hard);
  await rejects(() => writeImage(hard, marked, { sourcePath: photoJpeg }), FileError, 'ERR_FILE', 'overwrite');
  // Pixels decoded from bytes (decodeImageFile: no file read to remember), so sourcePath alone
  // must recognise the input under its other name (a hard link; on a case-insensitive disk, IN.JPG).
  const decoded = await decodeImageFile(before, photoJpeg);
  await rejects(() => writeImage(hard, wm.embed(decoded, 7n), { sourcePath: photoJpeg }), FileError, 'ERR_FILE', 'overwrite');
  assert.ok(fs.readFileSync(hard).equals(before));
  assert.ok(fs.readFileSync(photoJpeg).equals(before));
  assert.equal(leftovers(), []);
  fs.rmSync(link);
  fs.rmSync(hard);
});

test('writing a marked copy over the file readImage read is refused without sourcePath, unless overwriteSource', async () => {
  const own = file('own.jpg');
  fs.copyFileSync(photoJpeg, own);
  const before = fs.readFileSync(own);
  const read = await readImage(own);
  const marked = wm.embed(read, 7n); // a copy: keeps readImage's record of its file
  await rejects(() => writeImage(own, marked), FileError, 'ERR_FILE', own, 'read from', 'overwriteSource');
  const hard = file('own-hard.jpg');
  fs.linkSync(own, hard);
  await rejects(() => writeImage(hard, marked), FileError, 'ERR_FILE', 'read from');
  fs.rmSync(hard);
  await rejects(() => writeImage(own, marked, { overwriteSource: 'yes' }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'overwriteSource');
  assert.ok(fs.readFileSync(own).equals(before), 'the original is unchanged');
  assert.equal(leftovers(), []);
  // Other paths are written as before, and the caller may replace the original on purpose.
  await writeImage(file('own-copy.jpg'), marked);
  await writeImage(own, marked, { overwriteSource: true });
  assert.not.ok(fs.readFileSync(own).equals(before));
  assert.is(wm.detect(await readImage(own)).payload, '0000000000000007');
  // An image built by the caller (no record) is written where asked.
  await writeImage(file('own-copy.jpg'), { width: marked.width, height: marked.height, channels: marked.channels, data: marked.data });
});

test('unknown option names are refused (a typo would otherwise fall back to the default silently)', async () => {
  await rejects(() => createWatermarker({ key: 'k', strenght: 2 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', '"strenght"', 'strength');
  await rejects(() => wm.embed(photo, 1n, { inplace: true }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', '"inplace"', 'inPlace');
  await rejects(() => wm.detect(photo, { serach: false }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', '"serach"', 'search');
  await rejects(() => wm.detect(photo, { search: 'no' }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.search');
});

test('FIFOs, devices and read-only files are not written over; FIFOs and devices are not read', async () => {
  const fifo = file('out-fifo.png');
  const made = (await import('node:child_process')).spawnSync('mkfifo', [fifo]).status === 0;
  if (made) {
    await rejects(() => writeImage(fifo, photo), FileError, 'ERR_FILE', fifo, 'named pipe');
    assert.ok(fs.statSync(fifo).isFIFO());
    await rejects(() => readImage(fifo), FileError, 'ERR_FILE', fifo, 'named pipe'); // not a wait for a writer
    fs.rmSync(fifo);
  }
  if (fs.existsSync('/dev/zero')) await rejects(() => readImage('/dev/zero'), FileError, 'ERR_FILE', '/dev/zero', 'device');
  await rejects(() => readImage(dir), FileError, 'ERR_FILE', 'directory');
  if (process.getuid?.() !== 0) { // root may write anything
    const ro = file('read-only.png');
    await writeImage(ro, photo);
    fs.chmodSync(ro, 0o444);
    const before = fs.readFileSync(ro);
    await rejects(() => writeImage(ro, wm.embed(photo, 1n)), FileError, 'ERR_FILE', 'read-only');
    assert.ok(fs.readFileSync(ro).equals(before));
    fs.chmodSync(ro, 0o644);
  }
  assert.equal(leftovers(), []);
});

test('a write cut short by a signal leaves no temporary file: removePendingTempFiles, removeTempFilesUnder', async () => {
  const target = file('cut.bin');
  const writing = writeFileAtomic(target, new Uint8Array(64 << 20));
  let tmp = [];
  for (let i = 0; i < 2000 && tmp.length === 0; i++) {
    tmp = leftovers().filter((f) => f.startsWith('.cut.bin.'));
    if (tmp.length === 0) await new Promise((r) => setTimeout(r, 1));
  }
  assert.is(tmp.length, 1, 'the temporary file exists while the write runs');
  removePendingTempFiles(); // what the command line's signal handler does before it exits
  assert.not.ok(fs.existsSync(file(tmp[0])));
  await writing.then(() => {}, () => {}); // its rename then fails, or it finished first; either way:
  assert.equal(leftovers(), []);
  fs.rmSync(target, { force: true });
  // A batch's workers' leftovers, found by this process's id under the output folder.
  const sub = file('batch-out/sub');
  fs.mkdirSync(sub, { recursive: true });
  const mine = path.join(sub, `.a.jpg.${process.pid}.0123456789ab.tmp`);
  const other = path.join(sub, `.a.jpg.${process.pid + 1}.0123456789ab.tmp`);
  const kept = path.join(sub, `.a.jpg.${process.pid}.tmp`);
  for (const f of [mine, other, kept]) fs.writeFileSync(f, 'x');
  assert.is(removeTempFilesUnder(file('batch-out')), 1);
  assert.equal([fs.existsSync(mine), fs.existsSync(other), fs.existsSync(kept)], [false, true, true]);
  fs.rmSync(file('batch-out'), { recursive: true });
});

test('a wrong module is refused also once the kernels are loaded (they are shared, and stay working)', async () => {
  await rejects(() => createWatermarker({ key: 'k', module: new Uint8Array(10) }), ModelmarkError, 'ERR_WASM', 'not a valid WebAssembly module');
  await rejects(() => createWatermarker({ key: 'k', module: new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])) }), ModelmarkError, 'ERR_WASM', "not modelmark's kernels");
  await rejects(() => createWatermarker({ key: 'k', module: 'build/modelmark.wasm' }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'module');
  const own = await createWatermarker({ key: 'k', module: fs.readFileSync(new URL('../build/modelmark.wasm', import.meta.url)) });
  assert.is(own.detect(own.embed(photo, 5n)).payload, '0000000000000005');
});

test('the Node helpers check their arguments: markFile, renderRegionMap, readMetadata, embedMetadata, ssim', async () => {
  await rejects(() => markFile(null, photo, 1n), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'wm', 'watermarker');
  await rejects(() => markFile(wm, null, 1n), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'file');
  await rejects(() => renderRegionMap(null, null), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'image');
  await rejects(() => renderRegionMap(photo, { columns: 1e9, rows: 1e9, scores: [] }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'regions');
  await rejects(() => renderRegionMap(photo, [null, { columns: 2, rows: 2, scores: [1] }]), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'regions[1]');
  await rejects(() => readMetadata('x'), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'bytes');
  await rejects(() => embedMetadata(new Uint8Array(10), 'jpeg', { exif: new Uint8Array(8) }, { width: 1, height: 1, alpha: false }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'encoded', 'JPEG');
  await rejects(() => embedMetadata(new Uint8Array(10), 'bmp', {}, {}), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'format');
  const grey = (n) => ({ width: n, height: n, channels: 1, data: new Uint8Array(n * n).fill(90) });
  for (const n of [1, 5, 10]) await rejects(() => ssim(grey(n), grey(n)), ImageSizeError, 'ERR_IMAGE_TOO_SMALL', '11x11');
  assert.is(await ssim(grey(11), grey(11)), 1);
  // A pixel limit under 0.1 megapixels is said in pixels, not as "0.0 megapixels".
  const small = await createWatermarker({ key: 'k', maxPixels: 1000 });
  await rejects(() => small.detect(photo), ImageSizeError, 'ERR_IMAGE_TOO_LARGE', 'limit of 1,000 pixels');
});

test('unwritable destinations: FileError naming the path; no temp files left', async () => {
  const nodir = path.join(dir, 'missing-dir', 'out.png');
  await rejects(() => writeImage(nodir, photo), FileError, 'ERR_FILE', nodir, 'does not exist');
  const sub = file('a-directory.png');
  fs.mkdirSync(sub);
  await rejects(() => writeImage(sub, photo), FileError, 'ERR_FILE', sub, 'directory');
  if (process.getuid?.() !== 0) { // root ignores permissions
    const ro = file('read-only');
    fs.mkdirSync(ro, { mode: 0o555 });
    await rejects(() => writeImage(path.join(ro, 'x.png'), photo), FileError, 'ERR_FILE', 'permission denied');
  }
  assert.equal(leftovers(), []);
});

test('writeImage replaces an existing file atomically and keeps its permissions', async () => {
  const out = file('replace.png');
  fs.writeFileSync(out, 'old contents');
  fs.chmodSync(out, 0o640);
  const r = await writeImage(out, photo);
  assert.is(r.format, 'png');
  assert.is(r.size, fs.statSync(out).size);
  assert.is(fs.statSync(out).mode & 0o777, 0o640);
  const back = await readImage(out);
  assert.ok(Buffer.from(back.data).equals(Buffer.from(photo.data)), 'PNG is lossless');
  assert.equal(leftovers(), []);
});

test('a too-large image for WebP is refused before writing', async () => {
  const wide = { width: 17000, height: 1, channels: 1, data: new Uint8Array(17000) };
  await rejects(() => writeImage(file('wide.webp'), wide), ImageSizeError, 'ERR_IMAGE_TOO_LARGE', 'WebP', '16383');
  assert.not.ok(fs.existsSync(file('wide.webp')));
});

test('a side over libjpeg\'s 65500 pixels is refused as too large for JPEG, not as an encoder failure', async () => {
  // JPEG's header holds 65535, but libjpeg-turbo refuses more than 65500: 65501 x 128 grey
  // (8 MB) came back as a FileError "VipsJpeg: Maximum supported image dimension...".
  for (const [width, height] of [[65501, 128], [128, 65501]]) {
    const img = { width, height, channels: 1, data: new Uint8Array(width * height) };
    await rejects(() => writeImage(file('long.jpg'), img), ImageSizeError, 'ERR_IMAGE_TOO_LARGE', 'JPEG', '65500');
    await rejects(() => encodeImage(img, { format: 'jpeg' }), ImageSizeError, 'ERR_IMAGE_TOO_LARGE', 'JPEG', '65500');
    assert.not.ok(fs.existsSync(file('long.jpg')));
  }
  assert.equal(leftovers(), []);
});


test('argument checks found by the API audit: unknown options of the Node I/O, payloadHex, metadata helpers, markFile frames, long bigints, watermarkStream maxPixels', async () => {
  const { encodeImage } = await import('../dist/node/index.js');
  const { payloadHex } = await import('../dist/index.js');
  const { uprightExif, metadataOf, iccColourSpace } = await import('../dist/metadata.js');
  const { watermarkStream } = await import('../dist/plugins/sharp/index.js');
  const src = fileURLToPath(new URL('skimage-camera.png', PHOTOS));
  await rejects(() => readImage(src, { maxPixel: 10 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', '"maxPixel"', 'maxPixels');
  const img = await readImage(src);
  await rejects(() => writeImage(file('q.jpg'), img, { qualty: 5 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', '"qualty"');
  assert.not.ok(fs.existsSync(file('q.jpg')), 'nothing written');
  await rejects(() => encodeImage(img, { format: 'jpeg', qualty: 10 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', '"qualty"');
  await rejects(() => payloadHex('abc'), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'bytes', '8 bytes');
  await rejects(() => payloadHex(new Uint8Array(3)), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'Uint8Array of length 3');
  assert.is(payloadHex(parsePayload('c0ffee')), '0000000000c0ffee');
  assert.is(uprightExif(undefined), undefined);
  await rejects(() => uprightExif('exif'), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'exif');
  await rejects(() => metadataOf(undefined, false), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'meta');
  await rejects(() => iccColourSpace('x'.repeat(200)), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'icc', 'a string of length 200');
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: 'red' } }).png().toBuffer();
  await rejects(() => embedMetadata(new Uint8Array(png), 'png', { exif: 'not bytes' }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'metadata.exif');
  const wm = await createWatermarker({ key: 'audit key' });
  await rejects(() => markFile(wm, { ...img, animation: { frames: 2, frameHeight: 150 } }, 1n), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'frameHeight', `${img.height} rows`);
  const e = await rejects(() => wm.embed(img, 2n ** 1000n), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'a bigint of 1001 bits');
  assert.ok(e.message.length < 300, e.message);
  await rejects(() => watermarkStream({ key: 'k', payload: 1n, maxPixels: 1000.5 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.maxPixels', '1000.5');
});

test('the sharp plug-in\'s detect and evidence refuse a decompression bomb from its header, before decoding', async () => {
  const { detect, evidence } = await import('../dist/plugins/sharp/index.js');
  // 16000 x 16000 (256 megapixels, over the 100-megapixel default), one flat colour: a small file.
  const bomb = await sharp({ create: { width: 16000, height: 16000, channels: 3, background: 'black' }, limitInputPixels: false }).png({ compressionLevel: 9 }).toBuffer();
  for (const fn of [detect, evidence]) {
    const t = performance.now();
    await rejects(() => fn(sharp(bomb, { limitInputPixels: false }), { key: 'k' }), ImageSizeError, 'ERR_IMAGE_TOO_LARGE', '16000x16000', 'maxPixels');
    // Not a timing check of the library's speed: decoding 256 megapixels takes several hundred
    // ms here, the header a few; this only tells the two apart with a wide margin.
    assert.ok(performance.now() - t < 2000, `${fn.name} took ${performance.now() - t} ms: decoded first?`);
  }
});

test('init(): concurrent loads with different sources do not hand one caller another\'s error; a module that is not ours is refused even while ours loads; the allocator refuses a request past 4 GiB', async () => {
  const { spawnSync } = await import('node:child_process');
  const wasm = fileURLToPath(new URL('../build/modelmark.wasm', import.meta.url));
  const script = `
    import { readFileSync } from 'node:fs';
    const out = {};
    const settle = (ps) => Promise.allSettled(ps).then((rs) => rs.map((r) => r.status === 'fulfilled' ? 'ok' : r.reason.code));
    if (process.argv[1] === 'bad') {
      const { init } = await import('modelmark');
      out.bad = await settle([init(new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7])), init()]);
    } else if (process.argv[1] === 'foreign') {
      const { init } = await import('modelmark');
      const foreign = new Uint8Array([0,97,115,109,1,0,0,0,1,4,1,96,0,0,3,2,1,0,7,5,1,1,102,0,0,10,4,1,2,0,11]);
      out.whileLoading = await settle([init(), init(foreign)]);
      out.afterLoad = await settle([init(foreign)]);
    } else if (process.argv[1] === 'lite') {
      const { createWatermarker } = await import('modelmark/lite');
      const mod = new WebAssembly.Module(readFileSync(${JSON.stringify(wasm)}));
      // The first caller's key takes far longer to derive (8 MB): its load must still come first.
      out.lite = await settle([createWatermarker({ key: 'a'.repeat(8e6), module: mod }), createWatermarker({ key: 'b' })]);
    } else {
      const { init } = await import('modelmark');
      const k = await init();
      const m0 = k.mark();
      k.alloc(1 << 20);
      const top = k.mark();
      out.huge = k.alloc(0xffffffff - (1 << 19));
      out.topKept = k.mark() === top;
      k.release(m0);
    }
    console.log(JSON.stringify(out));`;
  const run = (arg) => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, arg], { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  assert.equal(run('bad').bad, ['ERR_WASM', 'ok'], 'init() with no module is not given the bad module\'s error');
  assert.equal(run('foreign'), { whileLoading: ['ok', 'ERR_WASM'], afterLoad: ['ERR_WASM'] });
  assert.equal(run('lite').lite, ['ok', 'ok'], 'modelmark/lite: a call with no module waits for the other\'s load');
  assert.equal(run('alloc'), { huge: 0, topKept: true });
});

test('API audit, smaller argument checks: listImages options, isBatchImage, combineEvidence items, Pintura setup, formatPValue, connectPhotopea, maxPixels', async () => {
  const { listImages, isBatchImage } = await import('../dist/node/batch.js');
  const { combineEvidence, checkWatermarkerOptions } = await import('../dist/index.js');
  const { createPostprocessImageData } = await import('../dist/plugins/pintura/index.js');
  const { formatPValue, connectPhotopea } = await import('../dist/plugins/photopea/index.js');
  await rejects(() => listImages(dir, { exclude: 'a.jpg' }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.exclude');
  await rejects(() => listImages(dir, { recursive: 'no' }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.recursive');
  await rejects(() => listImages(dir, { recursiv: false }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', '"recursiv"');
  await rejects(() => isBatchImage(5), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'name');
  const wm = await createWatermarker({ key: 'k' });
  const img = await readImage(fileURLToPath(new URL('skimage-camera.png', PHOTOS)));
  await rejects(() => combineEvidence([wm.detect(img)]), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'items[0].reference', 'detect() result');
  await rejects(() => combineEvidence([wm.evidence(img)], { threshold: 2 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.threshold');
  await rejects(() => createPostprocessImageData({ key: 'k', payload: 1n, threshold: 5 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.threshold');
  await rejects(() => createPostprocessImageData({ key: 'k', payload: 1n, maxAspect: 0 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.maxAspect');
  await rejects(() => checkWatermarkerOptions({ key: 'k', maxPixels: 1.5 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.maxPixels');
  await rejects(() => createWatermarker({ key: 'k', maxPixels: 1000.5 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.maxPixels');
  await rejects(() => formatPValue(5), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'p');
  assert.is(formatPValue(1e-9), '1.0e-9');
  const port = { postMessage() {}, addEventListener() {}, removeEventListener() {} };
  await rejects(() => connectPhotopea({ target: port, source: port, timout: 5 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', '"timout"');
});

test('writeFileAtomic: a write that fails after its temporary file was written (the rename) removes that file', async () => {
  // A target that is a folder with files in it: the data is written and synced, then rename() fails.
  const target = file('taken');
  fs.mkdirSync(target);
  fs.writeFileSync(path.join(target, 'keep.txt'), 'kept');
  await rejects(() => writeFileAtomic(target, new Uint8Array(1 << 16)), FileError, 'ERR_FILE', 'taken');
  assert.equal(fs.readdirSync(target), ['keep.txt']);
  assert.equal(leftovers(), [], 'no temporary file left beside it');
  fs.rmSync(target, { recursive: true });
});

test('every boolean option refuses a non-boolean (the string "false" is not read as true), naming the option; booleanOption itself', async () => {
  const { booleanOption } = await import('../dist/index.js');
  const { listImages, runBatch } = await import('../dist/node/batch.js');
  const { watermark, watermarkStream } = await import('../dist/plugins/sharp/index.js');
  assert.is(booleanOption('o', undefined, true), true);
  assert.is(booleanOption('o', false, true), false);
  await rejects(() => booleanOption('options.x', 'false', true), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.x', 'a boolean', '"false"');
  const src = fileURLToPath(new URL('skimage-camera.png', PHOTOS));
  const img = await readImage(src);
  const bad = 'false';
  await rejects(() => createWatermarker({ key: 'k', search: bad }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.search');
  const wm = await createWatermarker({ key: 'k' });
  await rejects(() => wm.embed(img, 1n, { inPlace: 1 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.inPlace');
  await rejects(() => wm.detect(img, { evidence: bad }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.evidence');
  await rejects(() => wm.detect(img, { search: 0 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.search');
  await rejects(() => wm.detect(img, { pieces: 'yes' }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.pieces', 'a boolean');
  for (const name of ['keepDepth', 'metadata', 'firstFrame', 'allFrames']) {
    await rejects(() => readImage(src, { [name]: bad }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', `options.${name}`);
  }
  await rejects(() => writeImage(file('b.png'), img, { overwriteSource: bad }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.overwriteSource');
  assert.not.ok(fs.existsSync(file('b.png')), 'nothing written');
  await rejects(() => listImages(dir, { followLinks: bad }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.followLinks');
  const batch = { command: 'embed', input: dir, output: file('batch-out'), key: 'k', payload: 1n, manifest: null };
  await rejects(() => runBatch({ ...batch, recursive: bad }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.recursive');
  await rejects(() => runBatch({ ...batch, keepMetadata: bad }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.keepMetadata');
  assert.not.ok(fs.existsSync(file('batch-out')), 'no output folder made');
  await rejects(() => watermark(sharp(src), { key: 'k', payload: 1n, carryMetadata: bad }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.carryMetadata');
  await rejects(() => watermarkStream({ key: 'k', payload: 1n, keepMetadata: bad }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.keepMetadata');
  await rejects(() => watermarkStream({ key: 'k', payload: 1n, carryMetadata: bad }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.carryMetadata');
});

test('markFile on an animation checks the whole frame stack before marking any frame: a typed error, and inPlace data left as it was', async () => {
  const wm = await createWatermarker({ key: 'fuzz audit' });
  const animation = { frames: 2, frameHeight: 128 };
  const base = { width: 128, height: 256, channels: 3, format: 'png', animation };
  // Not typed arrays: a TypeError (data.subarray is not a function) before the fix.
  await rejects(() => markFile(wm, { ...base, data: 'x'.repeat(100) }, 1n), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'file.data', 'a string of length 100');
  await rejects(() => markFile(wm, { ...base, data: [1, 2, 3] }, 1n), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'file.data');
  await rejects(() => markFile(wm, { ...base, data: undefined }, 1n), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'file.data');
  await rejects(() => markFile(wm, { ...base, animation: 'two frames', data: new Uint8Array(128 * 256 * 3) }, 1n), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'file.animation');
  // A stack 5 bytes short: refused naming the whole stack, and no frame of the caller's data marked.
  const data = new Uint8Array(128 * 256 * 3 - 5).map((_, i) => (i * 7) & 255);
  const before = data.slice();
  await rejects(() => markFile(wm, { ...base, data }, 1n, { inPlace: true }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'file.data', '98304 bytes', '2 frames');
  assert.ok(Buffer.from(data).equals(Buffer.from(before)), 'the first frame is left unmarked');
  await rejects(() => markFile(wm, { ...base, channels: 7, data: new Uint8Array(128 * 256 * 3) }, 1n), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'file.channels');
});

test('pixel arrays that are not what they claim: a Proxy, or a subclass whose length lies, are refused with a typed error; SharedArrayBuffer views work', async () => {
  const { encodeImage } = await import('../dist/node/index.js');
  const w = 256, h = 256, n = w * h * 3;
  // A Proxy passes instanceof Uint8Array, then threw a TypeError (incompatible receiver).
  const proxied = () => ({ width: w, height: h, channels: 3, data: new Proxy(new Uint8Array(n), {}) });
  await rejects(() => wm.embed(proxied(), 1n), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'image.data');
  await rejects(() => wm.detect(proxied()), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'image.data');
  await rejects(() => writeImage(file('proxy.png'), proxied()), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'image.data');
  await rejects(() => encodeImage(proxied(), { format: 'png' }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'image.data');
  // 10 real bytes that say they are n: embed returned n bytes made of whatever the kernels'
  // memory held, inPlace and writeImage threw RangeErrors.
  class Liar extends Uint8Array { get length() { return n; } }
  const lying = () => ({ width: w, height: h, channels: 3, data: new Liar(10) });
  await rejects(() => wm.embed(lying(), 1n), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'image.data', `${n} bytes`, 'length 10');
  await rejects(() => wm.embed(lying(), 1n, { inPlace: true }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'image.data', 'length 10');
  await rejects(() => wm.detect(lying()), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'image.data', 'length 10');
  await rejects(() => writeImage(file('liar.png'), lying()), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'image.data', 'length 10');
  await rejects(() => encodeImage(lying(), { format: 'png' }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'image.data', 'length 10');
  assert.not.ok(fs.existsSync(file('proxy.png')) || fs.existsSync(file('liar.png')), 'nothing written');
  // Honest subclasses, Buffers and views of shared memory are pixels like any other.
  class Plain extends Uint8Array {}
  const src = { width: w, height: h, channels: 3, data: new Uint8Array(n).map((_, i) => (i * 13) & 255) };
  const ref = wm.embed(src, 1n).data;
  for (const data of [new Plain(src.data), Buffer.from(src.data), new Uint8Array(new SharedArrayBuffer(n)).fill(0).map((_, i) => src.data[i])]) {
    const out = wm.embed({ ...src, data }, 1n).data;
    assert.ok(Buffer.from(out).equals(Buffer.from(ref)), data.constructor.name);
    const inPlace = wm.embed({ ...src, data }, 1n, { inPlace: true });
    assert.ok(Buffer.from(data).equals(Buffer.from(ref)), `${data.constructor.name} marked in place`);
    assert.is(inPlace.data.buffer, data.buffer, 'in place: the same memory');
  }
  assert.ok((await encodeImage({ ...src, data: new Uint8Array(new SharedArrayBuffer(n)) }, { format: 'png' })).data.length > 0);
});

test('a damaged TIFF read all the same: its warnings are the decoder\'s, not sharp\'s note about its failOn setting', async () => {
  const tif = Buffer.from(await sharp(photoJpeg).resize(256, 192).tiff({ compression: 'jpeg', quality: 80 }).toBuffer());
  const ifd = tif.readUInt32LE(4); // the JPEG strip lies before the directory: its second half zeroed
  tif.fill(0, ifd >> 1, ifd - 2);
  const img = await decodeImageFile(tif, 'damaged.tiff');
  assert.is(img.width, 256);
  assert.ok(img.warnings?.some((w) => /Corrupt JPEG data/.test(w)), String(img.warnings));
  assert.not.ok(img.warnings.some((w) => /failOn/.test(w)), `no internal setting named to the user: ${img.warnings}`);
});

test('a file whose name is not valid UTF-8: the ENOENT from its replacement-character spelling says why and what to do', async () => {
  // Linux names are bytes; Node spells 0xff 0xfe as U+FFFD U+FFFD (in argv too), a name that
  // then does not exist. The batch already says "not valid UTF-8; rename it": so does readImage.
  const raw = Buffer.concat([Buffer.from(dir + path.sep), Buffer.from([0xff, 0xfe]), Buffer.from('.jpg')]);
  fs.copyFileSync(photoJpeg, raw);
  const spelt = path.join(dir, '\ufffd\ufffd.jpg');
  await rejects(() => readImage(spelt), FileError, 'ERR_FILE', 'ENOENT', 'not valid UTF-8', 'rename');
  await rejects(() => readImage(file('no-such-photo.jpg')), FileError, 'ERR_FILE', 'ENOENT');
  const e = await rejects(() => readImage(file('no-such-photo.jpg')), FileError, 'ERR_FILE');
  assert.not.match(e.message, /UTF-8/, 'a plain missing file is told as before');
  fs.rmSync(raw);
});

test('encoded bytes that are not what they claim: decodeImageFile, readMetadata and embedMetadata give typed errors for a Proxy, a detached buffer or a lying length', async () => {
  const { embedMetadata: embed } = await import('../dist/node/index.js');
  const jpeg = fs.readFileSync(photoJpeg);
  const proxied = () => new Proxy(new Uint8Array(jpeg), {});
  // Each threw a TypeError (incompatible receiver) before.
  await rejects(() => decodeImageFile(proxied(), 'p.jpg'), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'bytes');
  await rejects(() => readMetadata(proxied()), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'bytes');
  await rejects(() => embed(proxied(), 'jpeg', { xmp: new Uint8Array(4) }, { width: 1, height: 1, alpha: false }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'encoded');
  // A detached buffer (transferred to a worker, say) holds nothing: a TypeError before, now "empty".
  const gone = new Uint8Array(jpeg);
  structuredClone(gone.buffer, { transfer: [gone.buffer] });
  await rejects(() => decodeImageFile(gone, 'gone.jpg'), DecodeError, 'ERR_DECODE', '"gone.jpg"', 'empty');
  // A subclass that claims a gigabyte: a RangeError before; now its real bytes are read.
  class Liar extends Uint8Array { get length() { return 1e9; } get byteLength() { return 1e9; } }
  const img = await decodeImageFile(new Liar(jpeg), 'liar.jpg');
  assert.is(img.width, (await sharp(jpeg).metadata()).width);
  assert.is((await readMetadata(new Liar(jpeg))).format, 'jpeg');
});

test('a file larger than any image within the pixel limit is refused before it is read: readImage and the folder batch', async () => {
  const { maxFileBytes } = await import('../dist/node/io.js');
  const { runBatch } = await import('../dist/node/batch.js');
  assert.is(maxFileBytes(100_000_000), 800_000_000 + 64 * 1024 * 1024);
  const folder = file('huge-files');
  fs.mkdirSync(folder);
  const big = path.join(folder, 'big.png');
  // A sparse file: 1 byte over the limit at 1,000 pixels, with a real PNG at its start.
  const png = await sharp({ create: { width: 200, height: 200, channels: 3, background: 'grey' } }).png().toBuffer();
  fs.writeFileSync(big, png);
  fs.truncateSync(big, maxFileBytes(40_000) + 1);
  const e = await rejects(() => readImage(big, { maxPixels: 40_000 }), ImageSizeError, 'ERR_IMAGE_TOO_LARGE', 'big.png', 'MiB', 'maxPixels', '--max-pixels', 'not read');
  assert.ok(e.message.length < 400, e.message);
  // One byte less is read (and decoded: the PNG at its start, trailing zeros ignored or refused as data).
  fs.truncateSync(big, maxFileBytes(40_000));
  const r = await readImage(big, { maxPixels: 40_000 }).then((i) => i.width, (err) => err.code);
  assert.is.not(r, 'ERR_IMAGE_TOO_LARGE');
  fs.truncateSync(big, maxFileBytes(40_000) + 1);
  const records = [];
  await runBatch({ command: 'detect', input: folder, key: 'k', maxPixels: 40_000, manifest: null, jobs: 1, onRecord: (rec) => records.push(rec) });
  assert.is(records.length, 1, JSON.stringify(records));
  assert.is(records[0].error?.code, 'ERR_IMAGE_TOO_LARGE', JSON.stringify(records[0]));
  assert.match(records[0].error.message, /not read/);
});

test('imageHeader / checkImageFileSize: dimensions from PNG, JPEG, WebP (lossy, lossless, extended), GIF and BMP headers; a bomb refused before decoding', async () => {
  const { imageHeader, checkImageFileSize } = await import('../dist/index.js');
  const base = sharp({ create: { width: 300, height: 200, channels: 4, background: '#808080c0' } });
  const files = {
    png: await base.clone().png().toBuffer(),
    jpeg: await base.clone().jpeg().toBuffer(),
    webp: await base.clone().webp({ lossless: true }).toBuffer(),
    gif: await base.clone().gif().toBuffer(),
  };
  files.webpLossy = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#808080' } }).webp().toBuffer();
  files.webpExtended = await base.clone().webp().withIccProfile('p3').toBuffer();
  // EXIF before the frame header: the JPEG walk skips it.
  files.jpegExif = await base.clone().withExif({ IFD0: { Copyright: 'x'.repeat(3000) } }).jpeg().toBuffer();
  const bmp = new Uint8Array(54);
  bmp.set([0x42, 0x4d]);
  new DataView(bmp.buffer).setInt32(18, 300, true);
  new DataView(bmp.buffer).setInt32(22, -200, true); // top-down rows
  for (const [name, bytes] of Object.entries(files)) {
    const h = imageHeader(new Uint8Array(bytes));
    assert.equal([h?.width, h?.height], [300, 200], name);
  }
  assert.equal(imageHeader(bmp), { format: 'bmp', width: 300, height: 200 });
  assert.is(imageHeader(new TextEncoder().encode('not an image')), undefined);
  assert.is(imageHeader(new Uint8Array(0)), undefined);
  assert.is(imageHeader(new Uint8Array(files.jpeg).subarray(0, 20)), undefined);
  assert.throws(() => imageHeader('bytes'), (e) => e instanceof InvalidArgumentError);
  assert.equal(checkImageFileSize(new Uint8Array(files.png)), { format: 'png', width: 300, height: 200, bitDepth: 8 });
  assert.is(imageHeader(new Uint8Array(files.jpeg)).components, 3);
  try {
    checkImageFileSize(pngClaiming(50000, 50000), undefined, 'bomb.png');
    assert.unreachable('a 2.5-gigapixel header');
  } catch (e) {
    assert.instance(e, ImageSizeError);
    assert.is(e.code, 'ERR_IMAGE_TOO_LARGE');
    assert.match(e.message, /bomb\.png is 50000x50000 \(2500\.0 megapixels\), over the limit of 100\.0 megapixels/);
  }
  assert.throws(() => checkImageFileSize(new Uint8Array(files.jpeg), 1000), (e) => e.code === 'ERR_IMAGE_TOO_LARGE' && /over the limit of 1,000 pixels/.test(e.message));
});

test('an image whose decoded samples would not fit in one Node buffer is refused from its header (sharp aborted the process on a 4.31 GB 16-bit PNG)', async () => {
  // A real 23200x23200 16-bit RGBA PNG (4.31 GB of samples, over buffer.constants.MAX_LENGTH on
  // Node 20) killed the process with "free(): double free detected"; a header claiming 40000x40000
  // RGB (4.8 GB) stands in for it here, with the pixel limit raised past it.
  const { constants } = await import('node:buffer');
  const side = Math.ceil(Math.sqrt(constants.MAX_LENGTH / 3)) + 1;
  if (side > 0x7fffffff || side * side > Number.MAX_SAFE_INTEGER) return; // a runtime whose buffers are not so bounded
  const p = file('huge-claim.png');
  fs.writeFileSync(p, pngClaiming(side, side));
  await rejects(() => readImage(p, { maxPixels: side * side }), ImageSizeError, 'ERR_IMAGE_TOO_LARGE', `${side}x${side}`, 'buffer');
  await rejects(() => decodeImageFile(fs.readFileSync(p), 'huge.png', { maxPixels: side * side }), ImageSizeError, 'ERR_IMAGE_TOO_LARGE', 'buffer');
});

test('renderRegionMap draws an image over sharp\'s own pixel limit (268 megapixels), which was read under the caller\'s maxPixels', async () => {
  // detect --max-pixels 300000000 --map on a 300-megapixel image failed after detecting with
  // sharp's "Input image exceeds pixel limit". 16385 x 16385 grey (268.5 megapixels, 268 MB) is
  // just over it; with no region map there is no compositing (about 2 s).
  const side = 16385;
  const map = await renderRegionMap({ width: side, height: side, channels: 1, data: new Uint8Array(side * side) }, null);
  assert.is(map.width, side);
  assert.is(map.height, side);
  assert.is(map.data.length, side * side * map.channels);
});

test('a file larger than one Node buffer, under a raised maxPixels, is refused as ImageSizeError before reading (not Node\'s RangeError text)', async () => {
  const { constants } = await import('node:buffer');
  if (constants.MAX_LENGTH > 2 ** 40) return; // a runtime whose buffers are not so bounded
  const p = file('sparse-huge.png');
  fs.writeFileSync(p, pngClaiming(1000, 1000));
  fs.truncateSync(p, constants.MAX_LENGTH + 1); // sparse: no disk space taken
  try {
    await rejects(() => readImage(p, { maxPixels: 1e9 }), ImageSizeError, 'ERR_IMAGE_TOO_LARGE', 'buffer', 'not read');
  } finally {
    fs.rmSync(p, { force: true });
  }
});

test.run();
