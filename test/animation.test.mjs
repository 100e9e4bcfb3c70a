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
import { detectFile, MAX_DETECT_FRAMES, readImage } from '../dist/node/index.js';
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

test.run();
