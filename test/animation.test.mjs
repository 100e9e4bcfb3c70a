// Detection in animations: every frame read (up to MAX_DETECT_FRAMES), the p-value counting the
// frames read (Bonferroni), in detectFile, the command line, the folder batch and the sharp plug-in.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { createWatermarker } from '../dist/index.js';
import { decodeImageFile, detectFile, MAX_DETECT_FRAMES, readImage } from '../dist/node/index.js';
import { ksBound } from './helpers/ks.mjs';
import { COLLAGE_KEY, twoPieceCollage } from './helpers/collage.mjs';
import { detect as sharpDetect } from '../dist/plugins/sharp/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'modelmark.js');
const PHOTOS = fileURLToPath(new URL('../../shared/photos/', import.meta.url));
const KEY = 'animation test key';
const PAYLOAD = 'a11fa11fa11fa11f';
const W = 320, H = 240;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmark-animation-'));
const { MODELMARK_KEY: _drop, ...env } = process.env;
const cli = (args) => spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, env, encoding: 'utf8' });

let wm, crops;
/** A lossless animated WebP of `frames` (RGB, W x H each), written to `name`: its path. */
async function animation(name, frames) {
  const out = path.join(dir, name);
  await sharp(Buffer.concat(frames), { raw: { width: W, height: H * frames.length, channels: 3, pageHeight: H } })
    .webp({ lossless: true, delay: frames.map(() => 100), loop: 0 }).toFile(out);
  return out;
}
const frameOf = (data) => ({ width: W, height: H, channels: 3, data });
const marked = (data) => Buffer.from(wm.embed(frameOf(new Uint8Array(data)), PAYLOAD).data);

test.before(async () => {
  wm = await createWatermarker({ key: KEY });
  const { data, info } = await sharp(path.join(PHOTOS, 'mate-Storm.jpg')).resize(420, 320).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  crops = await Promise.all(Array.from({ length: 5 }, (_, i) => sharp(data, { raw: info }).extract({ left: 20 * i, top: 15 * i, width: W, height: H }).raw().toBuffer()));
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('detectFile: an animation whose first frame lost the mark is found in the next, its p-value times the frames read; an unmarked one is not, its best frame reported; evidence is the first frame\'s', async () => {
  // Frame 0 unmarked (as if a lossy encoder had blurred it away), frames 1-3 marked.
  const input = await animation('partly.webp', [crops[0], marked(crops[1]), marked(crops[2]), marked(crops[3])]);
  const file = await readImage(input, { allFrames: true, maxFrames: MAX_DETECT_FRAMES });
  assert.equal([file.animation.frames, file.animation.frameHeight], [4, H]);
  const r = detectFile(wm, file, { evidence: true });
  assert.ok(r.found, `found: p = ${r.pValue}`);
  assert.is(r.payload, PAYLOAD);
  assert.equal(r.frames, { count: 4, read: 4, at: 1 });
  // Decoded as RGBA (WebP animations carry alpha).
  const frameLength = W * H * file.channels;
  const alone = (i) => ({ width: W, height: H, channels: file.channels, data: file.data.subarray(i * frameLength, (i + 1) * frameLength) });
  assert.is(wm.detect(alone(0)).found, false, 'the first frame alone: not found (what detect read before)');
  assert.is(r.pValue, Math.min(1, 4 * wm.detect(alone(1)).pValue), 'Bonferroni over the 4 frames read');
  assert.equal(r.evidence, wm.evidence(alone(0)), 'evidence from the first frame, whichever frame was found');

  const none = await readImage(await animation('none.webp', crops.slice(0, 4)), { allFrames: true, maxFrames: MAX_DETECT_FRAMES });
  const n = detectFile(wm, none);
  assert.is(n.found, false);
  assert.equal([n.payload, n.transform, n.regions], [null, null, null]);
  assert.is(n.frames.read, 4);
  const ps = [0, 1, 2, 3].map((i) => wm.detect({ width: W, height: H, channels: none.channels, data: none.data.subarray(i * frameLength, (i + 1) * frameLength) }).pValue);
  assert.is(n.pValue, Math.min(1, 4 * Math.min(...ps)), 'the lowest p-value, times the frames read');
  assert.is(n.frames.at, ps.indexOf(Math.min(...ps)));
  assert.is(n.evidence, undefined, 'no evidence unless asked');

  // A still image: wm.detect's own result, no frames.
  const still = await readImage(path.join(PHOTOS, 'skimage-chelsea.png'));
  assert.equal(detectFile(wm, still), wm.detect(still));
});

test("detectFile with pieces: 'all': each piece's p-value counts the frames read as the result's does; a frame found alone but not over the frames read lists no piece", async () => {
  // Two frames of the two-piece collage (one key, two payloads).
  const { image } = await twoPieceCollage();
  const file = { width: image.width, height: 2 * image.height, channels: 3, data: Buffer.concat([image.data, image.data]), animation: { frames: 2, frameHeight: image.height } };
  const wmc = await createWatermarker({ key: COLLAGE_KEY });
  const still = wmc.detect(image, { pieces: 'all' });
  assert.is(still.pieces.length, 2);
  const r = detectFile(wmc, file, { pieces: 'all' });
  assert.equal([r.found, r.payload, r.pValue, r.frames.read], [true, still.payload, Math.min(1, 2 * still.pValue), 2]);
  // The first piece is the result's own find, p-value included; every piece's counts both frames.
  assert.equal(r.pieces[0], { found: r.found, payload: r.payload, pValue: r.pValue, score: r.score, crcOk: r.crcOk, transform: r.transform, regions: r.regions });
  assert.equal(r.pieces.map((p) => [p.payload, p.pValue]), still.pieces.map((p) => [p.payload, Math.min(1, 2 * p.pValue)]));
  // A threshold the frame's find meets alone and not times two: the animation has no find, and
  // so no piece (they were listed with a payload beside found: false).
  const strict = await createWatermarker({ key: COLLAGE_KEY, threshold: 1.5 * still.pValue });
  const alone = strict.detect(image, { pieces: 'all' });
  assert.ok(alone.found && alone.pieces.length > 0, 'the frame alone is found with this threshold');
  const s = detectFile(strict, file, { pieces: 'all' });
  assert.equal([s.found, s.payload, s.pieces], [false, null, []]);
});

test('readImage maxFrames: the first frames only, the file\'s count in pages; the pixel limit counts those decoded; checked', async () => {
  const long = await animation('long.webp', Array.from({ length: 20 }, (_, i) => (i % 5 === 0 ? marked(crops[i % 5]) : crops[i % 5])));
  const file = await readImage(long, { allFrames: true, maxFrames: MAX_DETECT_FRAMES });
  assert.equal([file.animation.frames, file.pages, file.height, file.animation.delay.length], [16, 20, 16 * H, 16]);
  // 16 frames fit a limit that all 20 do not.
  const limit = W * H * 17;
  assert.is((await readImage(long, { allFrames: true, maxFrames: 16, maxPixels: limit })).animation.frames, 16);
  const over = await readImage(long, { allFrames: true, maxPixels: limit }).then(() => null, (e) => e);
  assert.is(over?.code, 'ERR_IMAGE_TOO_LARGE');
  for (const bad of [0, 1.5, -1, '3']) {
    const e = await readImage(long, { allFrames: true, maxFrames: bad }).then(() => null, (x) => x);
    assert.is(e?.code, 'ERR_INVALID_ARGUMENT', String(bad));
  }
  const alone = await readImage(long, { maxFrames: 4 }).then(() => null, (e) => e);
  assert.match(alone?.message, /maxFrames/);
  const r = detectFile(wm, file);
  assert.equal([r.found, r.payload, r.frames], [true, PAYLOAD, { count: 20, read: 16, at: 0 }]);
});

test('modelmark detect on an animation: found in a later frame (--json frames, the frame\'s height; text names the frame); a batch record and the sharp plug-in say the same', async () => {
  const input = path.join(dir, 'partly.webp');
  const json = cli(['detect', input, '--key', KEY, '--json']);
  assert.is(json.status, 0, json.stderr);
  const r = JSON.parse(json.stdout);
  assert.equal([r.found, r.payload, r.frames, r.width, r.height], [true, PAYLOAD, { count: 4, read: 4, at: 1 }, W, H]);
  const text = cli(['detect', input, '--key', KEY]);
  assert.match(text.stdout, /^found: payload a11fa11fa11fa11f in .*partly\.webp \(frame 2 of 4, 4 read\)/);
  const unmarked = JSON.parse(cli(['detect', path.join(dir, 'none.webp'), '--key', KEY, '--json']).stdout);
  assert.equal([unmarked.found, unmarked.frames.read], [false, 4]);

  const folder = path.join(dir, 'folder');
  fs.mkdirSync(folder);
  fs.copyFileSync(input, path.join(folder, 'partly.webp'));
  const batch = cli(['detect', folder, '--key', KEY, '--jobs', '1', '--json']);
  assert.is(batch.status, 0, batch.stderr);
  const record = JSON.parse(batch.stdout.split('\n')[0]);
  assert.equal([record.found, record.payload, record.frames, record.height], [true, PAYLOAD, { count: 4, read: 4, at: 1 }, H]);

  const viaSharp = await sharpDetect(sharp(input, { animated: true }), { key: KEY });
  assert.equal([viaSharp.found, viaSharp.payload, viaSharp.frames], [true, PAYLOAD, { count: 4, read: 4, at: 1 }]);
  // Without animated: true sharp reads the first frame alone, as sharp does: not found there.
  assert.is((await sharpDetect(sharp(input), { key: KEY })).found, false);
});

test('detectFile on unmarked animations with random keys: never found, and its p-value (the lowest frame\'s times the frames read) is super-uniform, for independent frames and for near-duplicates', async () => {
  // The null distribution of the Bonferroni p-value, measured on a small scale (the full
  // measurement: bench/animation-null.mjs, BENCHMARKS.md). Two kinds of 4-frame animation built
  // from the shared photos, 192 x 144, lossless WebP or GIF: a slideshow (each frame a crop of a
  // different photo: frames about independent, where the Bonferroni bound is nearly tight) and
  // near-duplicates (one photo, crops shifted by up to 2 px and brightness 0.97-1.03: about the
  // same p-value four times, very conservative). P(p <= t) must not exceed t beyond a one-sided
  // binomial bound at z = 3.29. Without the factor of 4 (the lowest frame's p-value alone) about
  // 34% of the slideshows' p-values would be under 0.1 and 94% under 0.5, far over.
  const FW = 192, FH = 144, FRAMES = 4, FILES = 24, KEYS = 10;
  const names = fs.readdirSync(PHOTOS).filter((f) => /\.(png|jpe?g)$/.test(f)).sort();
  const sources = await Promise.all(names.map((f) => sharp(path.join(PHOTOS, f)).resize(360, 270, { fit: 'cover' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true })));
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const int = (a, b) => a + Math.floor(rand() * (b - a + 1));
  const cropOf = (p, left, top, b = 1) => {
    let s = sharp(sources[p].data, { raw: sources[p].info }).extract({ left: Math.max(0, Math.min(360 - FW, left)), top: Math.max(0, Math.min(270 - FH, top)), width: FW, height: FH });
    if (b !== 1) s = s.linear(b, 0);
    return s.raw().toBuffer();
  };
  const files = [];
  for (let f = 0; f < FILES; f++) {
    const slideshow = f % 2 === 0, p = int(0, sources.length - 1), x0 = int(2, 360 - FW - 2), y0 = int(2, 270 - FH - 2);
    const frames = await Promise.all(Array.from({ length: FRAMES }, (_, i) => (slideshow
      ? cropOf((p + 7 * i) % sources.length, int(0, 360 - FW), int(0, 270 - FH))
      : cropOf(p, x0 + int(-2, 2), y0 + int(-2, 2), 0.97 + 0.06 * rand()))));
    const s = sharp(Buffer.concat(frames), { raw: { width: FW, height: FH * FRAMES, channels: 3, pageHeight: FH } });
    const opts = { delay: frames.map(() => 100), loop: 0 };
    const gif = f % 4 >= 2;
    const file = await decodeImageFile(await (gif ? s.gif(opts) : s.webp({ ...opts, lossless: true })).toBuffer(), gif ? 'a.gif' : 'a.webp', { allFrames: true, maxFrames: MAX_DETECT_FRAMES });
    assert.is(file.animation?.frames, FRAMES, `file ${f}: frames read`);
    files.push({ slideshow, file });
  }
  const ps = { slideshow: [], 'near-duplicates': [] };
  for (const { slideshow, file } of files) {
    for (let i = 0; i < KEYS; i++) {
      const key = Uint8Array.from({ length: 16 }, () => Math.floor(rand() * 256));
      const r = detectFile(await createWatermarker({ key }), file);
      assert.is(r.found, false, `unmarked file found: p ${r.pValue}`);
      assert.equal(r.frames, { count: FRAMES, read: FRAMES, at: r.frames.at });
      ps[slideshow ? 'slideshow' : 'near-duplicates'].push(r.pValue);
    }
  }
  const all = [...ps.slideshow, ...ps['near-duplicates']];
  for (const [name, sample] of [...Object.entries(ps), ['all', all]]) {
    const n = sample.length;
    for (const t of [0.5, 0.1, 0.01]) {
      const c = sample.filter((p) => p <= t).length, bound = n * t + 3.29 * Math.sqrt(n * t * (1 - t)) + 1;
      assert.ok(c <= bound, `${name}: ${c} of ${n} p-values <= ${t}, over the bound ${bound.toFixed(1)}`);
    }
    // The anti-conservative side of the KS distance: the empirical distribution above the diagonal.
    const s = [...sample].sort((a, b) => a - b);
    const over = Math.max(...s.map((p, i) => (i + 1) / n - p));
    assert.ok(over < ksBound(n), `${name}: KS D+ ${over.toFixed(3)} >= ${ksBound(n).toFixed(3)}`);
  }
  // Not a dead detector (nor a factor larger than the frames read): 4 independent uniform
  // frames put 1 - (7/8)^4 = 41% of the Bonferroni p-values under 0.5.
  const half = ps.slideshow.filter((p) => p <= 0.5).length / ps.slideshow.length;
  assert.ok(half > 0.25, `slideshows: only ${(100 * half).toFixed(0)}% of p-values <= 0.5`);
  console.log(`  unmarked animations: ${all.length} detections, 0 found; P(p <= 0.5 / 0.1 / 0.01): slideshow ${[0.5, 0.1, 0.01].map((t) => ps.slideshow.filter((p) => p <= t).length).join(' / ')}, near-duplicates ${[0.5, 0.1, 0.01].map((t) => ps['near-duplicates'].filter((p) => p <= t).length).join(' / ')} of ${ps.slideshow.length} each`);
});

test.run();
