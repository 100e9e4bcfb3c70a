// Animated PNG (APNG): libvips reads its default (first) image only, so a marked copy would lose
// the animation. readImage, the command line (single files and folders) and the sharp stream
// refuse to make one (ERR_ANIMATED) and say what to do; detection reads the first image.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import sharp from 'sharp';
import { apngFrames, createWatermarker, DecodeError, readImage } from '../dist/node/index.js';
import { watermarkStream } from 'modelmark/sharp';
import { apngOf } from './helpers/png.mjs';
import { PHOTOS, workspace } from './helpers/workspace.mjs';

const KEY = 'apng test key';
const PAYLOAD = 'c0ffee00000000a1';
const { file, cli, remove } = workspace('apng', KEY);
const wm = await createWatermarker({ key: KEY });
const frame = (name) => sharp(path.join(PHOTOS, name)).resize(320, 200, { fit: 'fill' }).png().toBuffer();

let apng, still;
test.before(async () => {
  still = await frame('mate-Garden.jpg');
  apng = apngOf([still, await frame('mate-Storm.jpg'), await frame('mate-Aqua.jpg')]);
  fs.writeFileSync(file('anim.png'), apng);
});

test('apngFrames reads the frame count of an APNG\'s acTL; 0 for a still PNG, other formats and garbage', async () => {
  assert.is(apngFrames(apng), 3);
  assert.is(apngFrames(still), 0);
  assert.is(apngFrames(await sharp(still).jpeg().toBuffer()), 0);
  assert.is(apngFrames(apng.subarray(0, 40)), 0, 'cut before acTL\'s value');
  assert.is(apngFrames(new Uint8Array(0)), 0);
  assert.is(apngFrames('png'), 0);
  // libvips itself sees one still image.
  assert.is((await sharp(apng).metadata()).pages, undefined);
});

test('an APNG whose default image is not a frame (IDAT before the first fcTL) counts that image too: one frame and a fallback are refused, one frame that is the default image is a still', async () => {
  const storm = await frame('mate-Storm.jpg');
  const hidden = apngOf([storm], { defaultImage: still });
  assert.is(apngFrames(hidden), 2);
  assert.is(apngFrames(apngOf([still, storm], { defaultImage: still })), 3);
  assert.is(apngFrames(apngOf([still])), 1, 'a one-frame APNG whose frame is its default image');
  // libvips reads the fallback, which APNG viewers never show: a copy of it would be another picture.
  fs.writeFileSync(file('hidden.png'), hidden);
  const err = await readImage(file('hidden.png')).then(() => null, (e) => e);
  assert.ok(err instanceof DecodeError);
  assert.is(err.code, 'ERR_ANIMATED');
  fs.writeFileSync(file('one.png'), apngOf([still]));
  const one = await readImage(file('one.png'));
  assert.equal([one.width, one.height], [320, 200]);
});

test('readImage refuses an APNG (ERR_ANIMATED, saying what to do) unless asked for its first image', async () => {
  for (const options of [{}, { allFrames: true }]) {
    const err = await readImage(file('anim.png'), options).then(() => null, (e) => e);
    assert.ok(err instanceof DecodeError, JSON.stringify(options));
    assert.is(err.code, 'ERR_ANIMATED');
    assert.match(err.message, /"[^"]*anim\.png" is an animated PNG \(APNG, 3 frames\).*convert it to an animated WebP or GIF first/);
  }
  const first = await readImage(file('anim.png'), { firstFrame: true });
  assert.is(first.pages, 3);
  assert.equal([first.width, first.height], [320, 200]);
  // Detection reads it frame by frame (maxFrames): its first image, as a still.
  const read = await readImage(file('anim.png'), { allFrames: true, maxFrames: 16 });
  assert.is(read.animation, undefined);
  assert.is(wm.detect(wm.embed(read, PAYLOAD)).payload, PAYLOAD);
});

test('the command line refuses to mark an APNG (exit 2, no output written), a folder run reports it and marks the rest, and detect reads it', async () => {
  const r = cli(['embed', 'anim.png', 'out.png', '--payload', PAYLOAD]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /is an animated PNG \(APNG, 3 frames\)/);
  assert.not.ok(fs.existsSync(file('out.png')));
  fs.mkdirSync(file('in'));
  fs.copyFileSync(file('anim.png'), file('in/anim.png'));
  fs.writeFileSync(file('in/still.png'), still);
  const f = cli(['embed', file('in'), file('out'), '--payload', PAYLOAD, '--jobs', '1', '--json']);
  assert.is(f.code, 2);
  const lines = String(f.stdout).trim().split('\n').map((l) => JSON.parse(l));
  assert.is(lines.find((l) => l.file?.endsWith('anim.png')).error.code, 'ERR_ANIMATED');
  assert.is(lines.find((l) => l.file?.endsWith('still.png')).status, 'done');
  const d = cli(['detect', 'anim.png', '--json']);
  assert.is(d.code, 1, d.stderr);
  assert.is(JSON.parse(String(d.stdout)).found, false);
});

test('the sharp stream refuses an APNG with ERR_ANIMATED', async () => {
  const err = await pipeline(Readable.from([apng]), watermarkStream({ key: KEY, payload: PAYLOAD }), new Writable({ write(_c, _e, cb) { cb(); } })).then(() => null, (e) => e);
  assert.ok(err instanceof DecodeError);
  assert.is(err.code, 'ERR_ANIMATED');
});

test.after(remove);

test.run();
