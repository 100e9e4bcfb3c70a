// modelmark/pintura: createPostprocessImageData runs inside the real Pintura (the @pqina/pintura
// test package from npm) in Chromium: processImage with createDefaultImageWriter({
// postprocessImageData }) writes a PNG that decodes in Node and carries the payload.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { createWatermarker } from 'modelmark';
import { bundle, launchChromium, serveStatic, watchErrors } from './helpers/browser.mjs';

const PHOTO = new URL('../../shared/photos/mate-Garden.jpg', import.meta.url).pathname;
const KEY = 'pintura test key';
const PAYLOAD = '0123456789abcdef';

let browser, server, dir, page, errors, wm, width, height;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mm-pintura-'));
  await bundle('test/pages/pintura.mjs', join(dir, 'pintura.js'));
  await writeFile(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>Pintura test</title><script type="module" src="./pintura.js"></script>');
  // A real photo at a size Pintura handles quickly.
  const jpeg = await sharp(PHOTO).resize(1280).jpeg({ quality: 92 }).toBuffer();
  ({ width, height } = await sharp(jpeg).metadata());
  await writeFile(join(dir, 'photo.jpg'), jpeg);
  server = await serveStatic(dir);
  browser = await launchChromium();
  page = await browser.newPage();
  errors = watchErrors(page);
  await page.goto(`${server.url}/index.html`);
  await page.waitForFunction(() => window.ready === true);
  wm = await createWatermarker({ key: KEY });
});

test.after(async () => {
  await browser?.close();
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function decode(b64) {
  const { data, info } = await sharp(Buffer.from(b64, 'base64')).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: info.channels, data };
}

test('Pintura processImage with createDefaultImageWriter({ postprocessImageData }) writes a marked PNG', async () => {
  const out = await page.evaluate(([key, payload]) => window.processWithPintura('/photo.jpg', { key, payload }), [KEY, PAYLOAD]);
  assert.is(out.calls, 1);
  assert.is(out.type, 'image/png');
  const image = await decode(out.png);
  assert.is(image.width, width);
  assert.is(image.height, height);
  const r = wm.detect(image);
  assert.ok(r.found, `found (p = ${r.pValue})`);
  assert.is(r.payload, PAYLOAD);
  assert.ok(r.pValue < 1e-12, `p = ${r.pValue}`);
});

test('the mark goes on the edited output: a Pintura crop is marked at its own size', async () => {
  const crop = { x: 200, y: 100, width: 700, height: 500 };
  const out = await page.evaluate(([key, payload, crop]) => window.processWithPintura('/photo.jpg', { key, payload, crop }), [KEY, PAYLOAD, crop]);
  const image = await decode(out.png);
  assert.is(image.width, 700);
  assert.is(image.height, 500);
  const r = wm.detect(image);
  assert.is(r.payload, PAYLOAD);
  assert.ok(r.pValue < 1e-12, `p = ${r.pValue}`);
});

test('the hook on real ImageData: a new ImageData, same size and colour space, input untouched', async () => {
  const out = await page.evaluate(([key, payload]) => window.markImageData('/photo.jpg', { key, payload, strength: 1.5 }), [KEY, PAYLOAD]);
  assert.ok(out.isImageData);
  assert.is(out.width, width);
  assert.is(out.height, height);
  assert.is(out.colorSpace, 'srgb');
  assert.ok(out.inputUntouched);
  assert.ok(out.changed > width * height, `${out.changed} bytes changed`);
  const r = (await createWatermarker({ key: KEY, strength: 1.5 })).detect(await decode(out.png));
  assert.is(r.payload, PAYLOAD);
  // Display P3 pixels stay tagged Display P3: read as sRGB, their colours would shift.
  const p3 = await page.evaluate(([key, payload]) => window.markImageData('/photo.jpg', { key, payload }, 'display-p3'), [KEY, PAYLOAD]);
  assert.is(p3.colorSpace, 'display-p3');
  assert.ok(p3.inputUntouched && p3.changed > width * height, `${p3.changed} bytes changed`);
});

test('typed errors: bad options fail at setup, small images fail or pass through', async () => {
  const { createPostprocessImageData } = await import('modelmark/pintura');
  assert.throws(() => createPostprocessImageData(null), (e) => e.code === 'ERR_INVALID_ARGUMENT' && /options/.test(e.message));
  assert.throws(() => createPostprocessImageData({ key: '', payload: PAYLOAD }), (e) => e.code === 'ERR_INVALID_ARGUMENT' && /options\.key/.test(e.message));
  assert.throws(() => createPostprocessImageData({ key: KEY, payload: 'xyz' }), (e) => e.code === 'ERR_INVALID_ARGUMENT' && /options\.payload/.test(e.message));
  assert.throws(() => createPostprocessImageData({ key: KEY, payload: PAYLOAD, tooSmall: 'ignore' }), (e) => e.code === 'ERR_INVALID_ARGUMENT' && /tooSmall/.test(e.message));
  const hook = createPostprocessImageData({ key: KEY, payload: PAYLOAD });
  await hook({ width: 10 }).then(() => assert.unreachable(), (e) => assert.is(e.code, 'ERR_INVALID_ARGUMENT'));
  const small = await page.evaluate(([key, payload]) => window.tryHook({ key, payload }, 100), [KEY, PAYLOAD]);
  assert.is(small.code, 'ERR_IMAGE_TOO_SMALL');
  assert.is(await page.evaluate(([key, payload]) => window.tryHook({ key, payload, tooSmall: 'skip' }, 100), [KEY, PAYLOAD]), 'same');
  assert.is(await page.evaluate(([key, payload]) => window.tryHook({ key, payload }, 256), [KEY, PAYLOAD]), 'new');
  assert.equal(errors, []);
});

test.run();
