// The browser demo (examples/web, built by scripts/build-web.mjs) end to end in headless
// Chromium: a real photo on the file input, Mark in the worker, the PSNR and the difference view,
// the downloaded PNG detected in Node, Detect on the downloaded file (found, region map green)
// and on a dropped unmarked photo (not found). Screenshots are checked by code.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { createWatermarker } from 'modelmark';
import { createDeepWatermarker, loadDeepModels } from 'modelmark/node';
import { launchChromium, serveStatic, watchErrors } from './helpers/browser.mjs';
import { hevcHeif } from './helpers/heic.mjs';
import { deepModelsForTest } from './helpers/deep-models.mjs';
import { buildWeb } from '../scripts/build-web.mjs';
import { crc32 } from './helpers/png.mjs';
import { COLLAGE_KEY, COLLAGE_PAYLOAD, pastedCollage, SECOND_PAYLOAD, twoPieceCollage } from './helpers/collage.mjs';

const PHOTO = fileURLToPath(new URL('../../shared/photos/mate-LadyBird.jpg', import.meta.url));
const OTHER = fileURLToPath(new URL('../../shared/photos/mate-Storm.jpg', import.meta.url));
const KEY = 'web demo key';
const PAYLOAD = 'feedface12345678';

let browser, context, server, dir, page, errors, wm, downloaded, models;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mm-web-'));
  // The page carries the deep models too (its deep section: test/deep-browser.test.mjs).
  models = await deepModelsForTest();
  await buildWeb(join(dir, 'web'), { models: models.dir });
  const other = await readFile(OTHER);
  server = await serveStatic(join(dir, 'web'), {
    '/fixture/other.jpg': (req, res) => res.writeHead(200, { 'content-type': 'image/jpeg' }).end(other),
  });
  browser = await launchChromium();
  context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  errors = watchErrors(page);
  await page.goto(`${server.url}/index.html`);
  await page.waitForSelector('body[data-state="ready"]');
  wm = await createWatermarker({ key: KEY });
});

test.after(async () => {
  await context?.close();
  await browser?.close();
  await server?.close();
  await models?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const state = (s) => page.waitForSelector(`body[data-state="${s}"]`, { timeout: 60_000 });

/** Share of pixels in a PNG screenshot that are clearly green (the region map's "mark" tint). */
async function greenShare(png) {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let green = 0;
  for (let i = 0; i < data.length; i += 3) if (data[i + 1] > data[i] + 40 && data[i + 1] > data[i + 2] + 40) green++;
  return green / (info.width * info.height);
}

test('the controls are labelled; the drop zone opens the file chooser from the keyboard', async () => {
  for (const label of ['Image file', 'Secret key', 'Payload (16 hex digits)', 'Difference view: amplify by', 'Look for a pasted piece (slower)']) {
    assert.is(await page.getByLabel(label).count(), 1, label);
  }
  assert.ok(await page.getByRole('slider', { name: /Strength/ }).isVisible());
  assert.ok(await page.getByRole('button', { name: 'Mark the image' }).isDisabled(), 'nothing to mark yet');
  await page.locator('#drop').focus();
  assert.is(await page.evaluate(() => document.activeElement?.id), 'drop');
  // Playwright turns file-chooser interception on when the first waiter is registered; a press
  // that beats it opens no interceptable chooser, so try again (rare, under load).
  let chooser = null;
  for (let i = 0; i < 3 && !chooser; i++) {
    const waiting = page.waitForEvent('filechooser', { timeout: 5_000 }).catch(() => null);
    await page.locator('#drop').press('Enter');
    chooser = await waiting;
  }
  assert.ok(chooser, 'Enter on the drop zone opens the file chooser');
  await chooser.setFiles(PHOTO);
  await state('loaded');
  assert.match(await page.locator('#image-info').textContent(), /2560 × 1600/);
});

test('Mark: a real photo on the file input, the marked image, the difference view, PSNR and the download', async () => {
  await page.setInputFiles('#file', PHOTO);
  await state('loaded');
  await page.getByLabel('Secret key').fill(KEY);
  await page.getByLabel('Payload (16 hex digits)').fill(PAYLOAD);
  await page.getByRole('button', { name: 'Mark the image' }).click();
  await state('marked');
  const db = Number(await page.locator('#psnr').textContent());
  assert.ok(db > 38 && db < 50, `PSNR ${db}`);
  assert.is(await page.locator('#marked-payload').textContent(), PAYLOAD);

  // The difference view, as rendered on screen: not uniform (the mark follows the image's texture).
  const shot = await page.locator('#diff').screenshot();
  const stats = await sharp(shot).stats();
  assert.ok(stats.channels[1].stdev > 5, `difference view stdev ${stats.channels[1].stdev}`);
  assert.ok(stats.channels[1].mean > 3, `difference view mean ${stats.channels[1].mean}`);

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download the marked PNG' }).click()]);
  assert.is(download.suggestedFilename(), 'mate-LadyBird-marked.png');
  downloaded = join(dir, 'marked.png');
  await download.saveAs(downloaded);
  const { data, info } = await sharp(downloaded).raw().toBuffer({ resolveWithObject: true });
  assert.is(info.width, 2560);
  assert.is(info.height, 1600);
  const r = wm.detect({ width: info.width, height: info.height, channels: info.channels, data });
  assert.ok(r.found, `found (p = ${r.pValue})`);
  assert.is(r.payload, PAYLOAD);
});

test('Detect: the downloaded PNG dropped back in is found, with a p-value and a green region map', async () => {
  await page.setInputFiles('#file', downloaded);
  await state('loaded');
  await page.getByRole('button', { name: 'Detect in the image' }).click();
  await state('found');
  assert.is(await page.locator('#found').textContent(), 'yes');
  assert.is(await page.locator('#found-payload').textContent(), PAYLOAD);
  const p = Number(await page.locator('#pvalue').textContent());
  assert.ok(p < 1e-6, `p-value ${p}`);
  const shot = await page.screenshot({ fullPage: true });
  await sharp(shot).toFile(join(dir, 'page.png'));
  const mapShot = await page.locator('#map').screenshot();
  const share = await greenShare(mapShot);
  assert.ok(share > 0.5, `green share of the region map ${share}`);
  assert.ok(await greenShare(shot) > 0.02, 'the region map shows in a full-page screenshot');
});

test('Detect: a dropped unmarked photo is not found; the map has no green', async () => {
  const dataTransfer = await page.evaluateHandle(async () => {
    const dt = new DataTransfer();
    dt.items.add(new File([await (await fetch('/fixture/other.jpg')).blob()], 'other.jpg', { type: 'image/jpeg' }));
    return dt;
  });
  await page.dispatchEvent('#drop', 'drop', { dataTransfer });
  await state('loaded');
  assert.match(await page.locator('#image-info').textContent(), /other\.jpg/);
  await page.getByRole('button', { name: 'Detect in the image' }).click();
  await state('not-found');
  assert.is(await page.locator('#found').textContent(), 'no');
  assert.ok(Number(await page.locator('#pvalue').textContent()) > 1e-6);
  assert.ok(await greenShare(await page.locator('#map').screenshot()) < 0.01);
});

test('errors show in the page: a bad payload and an image too small', async () => {
  await page.getByLabel('Payload (16 hex digits)').fill('zz');
  await page.getByRole('button', { name: 'Mark the image' }).click();
  await state('error');
  assert.match(await page.getByRole('alert').textContent(), /hexadecimal.*ERR_INVALID_ARGUMENT/);
  // under the 48 pixels a side detect reads (marking needs 128)
  const small = await sharp({ create: { width: 40, height: 40, channels: 3, background: '#888' } }).png().toBuffer();
  await page.setInputFiles('#file', { name: 'small.png', mimeType: 'image/png', buffer: small });
  await state('loaded');
  await page.getByRole('button', { name: 'Detect in the image' }).click();
  await state('error');
  assert.match(await page.getByRole('alert').textContent(), /40x40.*48x48.*ERR_IMAGE_TOO_SMALL/);
  assert.equal(errors, []);
});

test('a dropped PNG whose header declares 900 megapixels is refused from its header (ERR_IMAGE_TOO_LARGE), not decoded', async () => {
  const png = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#888' } }).png().toBuffer();
  png.writeUInt32BE(30000, 16);
  png.writeUInt32BE(30000, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  await page.setInputFiles('#file', { name: 'bomb.png', mimeType: 'image/png', buffer: png });
  await state('error');
  assert.match(await page.getByRole('alert').textContent(), /bomb\.png is 30000x30000 \(900\.0 megapixels\), over the limit of 100\.0 megapixels.*ERR_IMAGE_TOO_LARGE/);
  await page.setInputFiles('#file', { name: 'other.jpg', mimeType: 'image/jpeg', buffer: await readFile(OTHER) });
  await state('loaded');
  assert.equal(errors, []);
});

const ASTRONAUT = fileURLToPath(new URL('../../shared/photos/skimage-astronaut.png', import.meta.url));

/** Text whose contrast with its background is under 4.5:1 (WCAG AA), and field borders under 3:1. */
function lowContrast() {
  const parse = (c) => { const m = c.match(/[\d.]+/g).map(Number); return { r: m[0], g: m[1], b: m[2], a: m[3] ?? 1 }; };
  const lum = ({ r, g, b }) => [r, g, b].map((v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const ratio = (a, b) => (Math.max(lum(a), lum(b)) + 0.05) / (Math.min(lum(a), lum(b)) + 0.05);
  const background = (el) => { for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor); if (c.a > 0.5) return c; } return { r: 255, g: 255, b: 255 }; };
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    if (!el.getClientRects().length || el.closest('[hidden], :disabled')) continue;
    if ([...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) {
      const r = ratio(parse(getComputedStyle(el).color), background(el));
      if (r < 4.5) out.push(`text of ${el.tagName}#${el.id} "${el.textContent.trim().slice(0, 20)}": ${r.toFixed(2)}`);
    }
    if (el.matches('input[type=text], input[type=password], input[type=number], select')) {
      const r = ratio(parse(getComputedStyle(el).borderTopColor), background(el.parentElement));
      if (r < 3) out.push(`border of ${el.tagName}#${el.id}: ${r.toFixed(2)}`);
    }
  }
  return out;
}

/** Whether the page scrolls sideways, or anything sticks out of its panel. */
function overflow() {
  const out = [];
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > width) out.push(`page ${document.documentElement.scrollWidth} > ${width}`);
  for (const panel of document.querySelectorAll('.panel')) {
    const right = panel.getBoundingClientRect().right;
    for (const el of panel.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.width && r.right > right + 0.5) out.push(`${el.tagName}#${el.id} ends at ${Math.round(r.right)} > ${Math.round(right)}`);
    }
  }
  return out;
}

/** Each of the tests below starts from the key, payload, factor and window size of the first ones. */
async function reset() {
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.getByLabel('Secret key').fill(KEY);
  await page.getByLabel('Payload (16 hex digits)').fill(PAYLOAD);
  await page.getByLabel('Difference view: amplify by').fill('20');
  await page.getByLabel('Look for a pasted piece (slower)').setChecked(false);
}

test('accessibility: the drop zone is named once, contrast is AA in light and dark, no sideways scrolling at 360 px or 200 % zoom', async () => {
  await reset();
  // The drop zone's name is its label; the hint is its description (not read twice).
  assert.is(await page.getByRole('button', { name: 'Drop an image here', exact: true }).count(), 1);
  assert.ok(!(await page.locator('#mark-result').isHidden()) && !(await page.locator('#detect-result').isHidden()), 'the results show');
  await page.getByLabel('Payload (16 hex digits)').fill('not hex');
  await page.getByRole('button', { name: 'Mark the image' }).click();
  await state('error');
  for (const colorScheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme });
    assert.equal(await page.evaluate(lowContrast), [], colorScheme);
  }
  await page.emulateMedia({ colorScheme: 'light' });
  // 360 px: a phone; 640 × 450: a 1280 × 900 window at 200 % zoom.
  for (const viewport of [{ width: 360, height: 740 }, { width: 640, height: 450 }]) {
    await page.setViewportSize(viewport);
    assert.equal(await page.evaluate(overflow), [], `${viewport.width} px`);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.getByLabel('Payload (16 hex digits)').fill(PAYLOAD);
  assert.equal(errors, []);
});

test('keyboard: Enter on Mark and Space on Detect keep the focus on the button; a failed load leaves no stale status', async () => {
  await reset();
  await page.setInputFiles('#file', ASTRONAUT);
  await state('loaded');
  await page.locator('#mark').focus();
  await page.keyboard.press('Enter');
  await state('marked');
  assert.is(await page.evaluate(() => document.activeElement?.id), 'mark', 'focus after Mark');
  const order = [];
  for (let i = 0; i < 3; i++) {
    await page.keyboard.press('Tab');
    order.push(await page.evaluate(() => document.activeElement?.id));
  }
  assert.equal(order, ['detect', 'download', 'detect-marked'], 'Tab order after Mark');
  await page.keyboard.press(' ');
  await state('found');
  assert.is(await page.evaluate(() => document.activeElement?.id), 'detect-marked', 'focus after Detect');
  assert.match(await page.locator('#status').textContent(), /Found, p-value/);
  await page.setInputFiles('#file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image') });
  await state('error');
  assert.match(await page.getByRole('alert').first().textContent(), /notes\.txt could not be decoded as an image.*ERR_DECODE/);
  assert.is(await page.locator('#status').textContent(), '', 'no "Reading notes.txt…" left beside the error');
  // A TIFF or an iPhone's HEIC, which browsers do not decode: said so, with what to do.
  const tiff = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#468' } }).tiff().toBuffer();
  await page.setInputFiles('#file', { name: 'scan.tif', mimeType: 'image/tiff', buffer: tiff });
  await state('error');
  assert.match(await page.getByRole('alert').first().textContent(), /scan\.tif could not be decoded as an image: it is a TIFF file, which browsers do not decode\. Convert it to JPEG or PNG first, or mark it with the command line/);
  await page.setInputFiles('#file', { name: 'IMG_0001.HEIC', mimeType: 'image/heic', buffer: hevcHeif(4032, 3024) });
  await state('error');
  assert.match(await page.getByRole('alert').first().textContent(), /IMG_0001\.HEIC could not be decoded as an image: it is a HEIC file, which browsers do not decode\. Convert it to JPEG or PNG first\./);
  // An AVIF (which browsers decode) whose ftyp names 'mif1' first, as any HEIF may, cut short: not
  // called a HEIC; a HEIC that names 'mif1' first (its compatible brands say HEVC) still is.
  const avif = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#468' } }).avif({ effort: 0 }).toBuffer();
  const cutAvif = Buffer.from(avif.subarray(0, 300));
  assert.is(cutAvif.toString('latin1', 4, 12), 'ftypavif');
  cutAvif.write('mif1', 8, 'latin1');
  await page.setInputFiles('#file', { name: 'cut.avif', mimeType: 'image/avif', buffer: cutAvif });
  await state('error');
  assert.match(await page.getByRole('alert').first().textContent(), /cut\.avif could not be decoded as an image: it is not a PNG, JPEG, WebP, GIF or AVIF image, or it is damaged or cut short/);
  const mif1Heic = hevcHeif(4032, 3024);
  mif1Heic.write('mif1', 8, 'latin1');
  await page.setInputFiles('#file', { name: 'IMG_0002.HEIC', mimeType: 'image/heic', buffer: mif1Heic });
  await state('error');
  assert.match(await page.getByRole('alert').first().textContent(), /IMG_0002\.HEIC could not be decoded as an image: it is a HEIC file/);
  assert.equal(errors, []);
});

test('Mark: the difference view is |marked − original| × the factor, the download is the PNG the page describes, a second payload replaces the first', async () => {
  await reset();
  await page.setInputFiles('#file', ASTRONAUT);
  await state('loaded');
  await page.getByLabel('Difference view: amplify by').fill('0');
  await page.getByRole('button', { name: 'Mark the image' }).click();
  await state('marked');
  assert.is(await page.getByLabel('Difference view: amplify by').inputValue(), '1', 'the field shows the factor used');
  assert.is(await page.locator('#diff-caption').textContent(), '|marked − original| × 1');
  await page.getByLabel('Difference view: amplify by').fill('7');
  for (const payload of ['0123456789abcdef', '00000000c0ffee00']) {
    await page.getByLabel('Payload (16 hex digits)').fill(payload);
    await page.getByRole('button', { name: 'Mark the image' }).click();
    await state('marked');
    assert.is(await page.locator('#marked-payload').textContent(), payload);
  }
  assert.is(await page.locator('#diff-caption').textContent(), '|marked − original| × 7');
  // The canvases' pixels, compared in the page; the original's and the marked image's come back as base64.
  const c = await page.evaluate(() => {
    const px = (id) => { const el = document.getElementById(id); return el.getContext('2d').getImageData(0, 0, el.width, el.height); };
    const o = px('original'), m = px('marked'), d = px('diff');
    let wrong = 0, changed = 0;
    for (let i = 0; i < o.data.length; i++) {
      if (i % 4 === 3) continue;
      if (d.data[i] !== Math.min(255, Math.abs(m.data[i] - o.data[i]) * 7)) wrong++;
      if (m.data[i] !== o.data[i]) changed++;
    }
    const base64 = (a) => { let s = ''; for (let i = 0; i < a.length; i += 0x8000) s += String.fromCharCode(...a.subarray(i, i + 0x8000)); return btoa(s); };
    return { sizes: [o.width, m.width, d.width], wrong, changed, original: base64(o.data), marked: base64(m.data) };
  });
  assert.equal(c.sizes, [512, 512, 512]);
  assert.is(c.wrong, 0, 'difference view pixels off');
  assert.ok(c.changed > 100_000, `${c.changed} channel values changed`);
  const { data: source } = await sharp(ASTRONAUT).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  assert.ok(Buffer.from(c.original, 'base64').equals(source), 'the original shown is the file\'s pixels');
  const shown = Buffer.from(c.marked, 'base64');

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download the marked PNG' }).click()]);
  const file = join(dir, 'astronaut-marked.png');
  await download.saveAs(file);
  const bytes = await readFile(file);
  assert.is(bytes.subarray(1, 4).toString(), 'PNG');
  assert.is(await page.locator('#download-info').textContent(), `PNG, 512 × 512 pixels, ${(bytes.length / 1e3).toFixed(1)} kB`);
  const { data, info } = await sharp(bytes).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  assert.is(info.width, 512);
  assert.ok(data.equals(shown), 'the PNG holds the marked pixels shown');
  const r = wm.detect({ width: 512, height: 512, channels: info.channels, data });
  assert.is(r.payload, '00000000c0ffee00');
  await page.getByLabel('Difference view: amplify by').fill('20');
  assert.equal(errors, []);
});

test('Mark: a photo with EXIF orientation 6 is shown and marked upright', async () => {
  await reset();
  const upright = await sharp(OTHER).resize(480, 320).jpeg().toBuffer();
  const sideways = await sharp(upright).rotate(-90).withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toBuffer();
  await page.setInputFiles('#file', { name: 'sideways.jpg', mimeType: 'image/jpeg', buffer: sideways });
  await state('loaded');
  assert.match(await page.locator('#image-info').textContent(), /480 × 320/);
  await page.getByRole('button', { name: 'Mark the image' }).click();
  await state('marked');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download the marked PNG' }).click()]);
  const { data, info } = await sharp(await download.path()).raw().toBuffer({ resolveWithObject: true });
  assert.is(info.width, 480);
  const ref = await sharp(upright).raw().toBuffer();
  let sum = 0;
  for (let i = 0, j = 0; j < ref.length; i += info.channels, j += 3) sum += Math.abs(data[i] - ref[j]);
  assert.ok(sum / (ref.length / 3) < 8, `mean difference from the upright photo ${sum / (ref.length / 3)}`);
  assert.ok(wm.detect({ width: info.width, height: info.height, channels: info.channels, data }).found);
  assert.equal(errors, []);
});

test('a 12-megapixel photo: the previews are scaled (said in the caption), the download is full size and marked', async () => {
  await reset();
  const big = await sharp(OTHER).resize(4000, 3000, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
  await page.setInputFiles('#file', { name: 'big.jpg', mimeType: 'image/jpeg', buffer: big });
  await state('loaded');
  await page.getByRole('button', { name: 'Mark the image' }).click();
  await state('marked');
  for (const id of ['original', 'marked', 'diff']) {
    assert.equal(await page.locator(`#${id}`).evaluate((c) => [c.width, c.height]), [1600, 1200], id);
  }
  assert.is(await page.locator('#diff-caption').textContent(), '|marked − original| × 20 (shown at 40 %)');
  assert.match(await page.locator('#download-info').textContent(), /^PNG, 4000 × 3000 pixels, [\d.]+ MB$/);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download the marked PNG' }).click()]);
  const { data, info } = await sharp(await download.path()).raw().toBuffer({ resolveWithObject: true });
  assert.equal([info.width, info.height], [4000, 3000]);
  assert.ok(wm.detect({ width: info.width, height: info.height, channels: info.channels, data }).found);
  await page.getByRole('button', { name: 'Detect in the marked image' }).click();
  await state('found');
  assert.equal(await page.locator('#map').evaluate((c) => [c.width, c.height]), [1200, 900]);
  assert.equal(errors, []);
});

test('errors: a truncated JPEG, an empty key, 17 hex digits; the page stays usable', async () => {
  await reset();
  const jpeg = await readFile(OTHER);
  await page.setInputFiles('#file', { name: 'cut.jpg', mimeType: 'image/jpeg', buffer: jpeg.subarray(0, jpeg.length >> 1) });
  await state('error');
  assert.match(await page.getByRole('alert').first().textContent(), /cut\.jpg could not be decoded.*damaged or cut short.*ERR_DECODE/);
  assert.is(await page.locator('#status').textContent(), '');
  await page.setInputFiles('#file', ASTRONAUT);
  await state('loaded');
  await page.getByLabel('Secret key').fill('');
  await page.getByRole('button', { name: 'Detect in the image' }).click();
  await state('error');
  assert.match(await page.getByRole('alert').first().textContent(), /Enter a secret key/);
  assert.is(await page.evaluate(() => document.activeElement?.id), 'key');
  await page.getByLabel('Secret key').fill(KEY);
  await page.getByLabel('Payload (16 hex digits)').fill('0123456789abcdef0');
  await page.getByRole('button', { name: 'Mark the image' }).click();
  await state('error');
  assert.match(await page.getByRole('alert').first().textContent(), /1 to 16 hexadecimal digits.*"0123456789abcdef0"/);
  assert.is(await page.evaluate(() => document.activeElement?.id), 'payload');
  await page.getByLabel('Payload (16 hex digits)').fill(PAYLOAD);
  await page.getByRole('button', { name: 'Mark the image' }).click();
  await state('marked');
  assert.is(await page.locator('#error').textContent(), '', 'the error is gone');
  assert.equal(errors, []);
});

test('a file chosen again after another was dropped loads again', async () => {
  await reset();
  await page.setInputFiles('#file', PHOTO);
  await state('loaded');
  const dataTransfer = await page.evaluateHandle(async () => {
    const dt = new DataTransfer();
    dt.items.add(new File([await (await fetch('/fixture/other.jpg')).blob()], 'other.jpg', { type: 'image/jpeg' }));
    return dt;
  });
  await page.dispatchEvent('#drop', 'drop', { dataTransfer });
  await page.waitForFunction(() => /other\.jpg/.test(document.getElementById('image-info').textContent));
  await state('loaded');
  await page.setInputFiles('#file', PHOTO);
  await page.waitForFunction(() => /LadyBird/.test(document.getElementById('image-info').textContent), null, { timeout: 10_000 });
  assert.equal(errors, []);
});

test('Detect: the region map shows where a marked piece was pasted into an unmarked photo', async () => {
  await reset();
  const base = await sharp(OTHER).resize(1600, 1000, { fit: 'fill' }).png().toBuffer();
  const piece = await sharp(downloaded).extract({ left: 0, top: 0, width: 800, height: 1000 }).png().toBuffer();
  const pasted = await sharp(base).composite([{ input: piece, left: 0, top: 0 }]).png().toBuffer();
  await page.setInputFiles('#file', { name: 'pasted.png', mimeType: 'image/png', buffer: pasted });
  await state('loaded');
  await page.getByRole('button', { name: 'Detect in the image' }).click();
  await state('found');
  const shot = await page.locator('#map').screenshot();
  const { width, height } = await sharp(shot).metadata();
  const left = await greenShare(await sharp(shot).extract({ left: 0, top: 0, width: Math.floor(width / 2) - 4, height }).png().toBuffer());
  const right = await greenShare(await sharp(shot).extract({ left: Math.ceil(width / 2) + 4, top: 0, width: Math.floor(width / 2) - 4, height }).png().toBuffer());
  assert.ok(left > 0.8 && right < 0.02, `green: left half ${left}, right half ${right}`);
  assert.equal(errors, []);
});

test('Detect: "Look for a pasted piece" finds a marked photo pasted into a larger one that the whole-image read misses, and the map shows the piece', async () => {
  await reset();
  // test/helpers/collage.mjs: a marked 1280 x 1024 photo pasted at (681, 383) into a 2112 x 1625
  // one, JPEG q85; read whole, its mark is not found.
  const { jpeg, width, height, rect } = await pastedCollage();
  await page.setInputFiles('#file', { name: 'collage.jpg', mimeType: 'image/jpeg', buffer: jpeg });
  await state('loaded');
  await page.getByLabel('Secret key').fill(COLLAGE_KEY);
  const pieces = page.getByRole('checkbox', { name: 'Look for a pasted piece (slower)' });
  assert.is(await pieces.getAttribute('aria-describedby'), 'pieces-hint');
  assert.not.ok(await pieces.isChecked(), 'off by default');
  await page.getByRole('button', { name: 'Detect in the image' }).click();
  await state('not-found');
  assert.is(await page.locator('#found').textContent(), 'no');
  // Checked from the keyboard (Space), as a user without a mouse would.
  await pieces.focus();
  await page.keyboard.press('Space');
  assert.ok(await pieces.isChecked());
  await page.getByRole('button', { name: 'Detect in the image' }).click();
  await state('found');
  assert.is(await page.locator('#found-payload').textContent(), COLLAGE_PAYLOAD);
  assert.ok(Number(await page.locator('#pvalue').textContent()) < 1e-6);
  // The map covers the whole collage: green on the pasted photo (inset by a cell's margin), none
  // elsewhere (outset by one).
  const shot = await page.locator('#map').screenshot();
  const { data, info } = await sharp(shot).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const sx = info.width / width, sy = info.height / height, margin = 64;
  let inside = 0, insideGreen = 0, outside = 0, outsideGreen = 0;
  for (let y = 0; y < info.height; y++) {
    for (let x = 0; x < info.width; x++) {
      const px = x / sx, py = y / sy, i = (y * info.width + x) * 3;
      const green = data[i + 1] > data[i] + 40 && data[i + 1] > data[i + 2] + 40;
      if (px > rect.left + margin && px < rect.left + rect.width - margin && py > rect.top + margin && py < rect.top + rect.height - margin) { inside++; if (green) insideGreen++; }
      else if (px < rect.left - margin || px > rect.left + rect.width + margin || py < rect.top - margin || py > rect.top + rect.height + margin) { outside++; if (green) outsideGreen++; }
    }
  }
  assert.ok(insideGreen / inside > 0.3 && outsideGreen / outside < 0.01, `green: on the piece ${(insideGreen / inside).toFixed(3)}, off it ${(outsideGreen / outside).toFixed(3)}`);
  await pieces.setChecked(false);
  assert.equal(errors, []);
});

test('Detect: "List every marked piece" names both photos of one key in a collage, where a pasted-piece search names one', async () => {
  await reset();
  const collage = await twoPieceCollage();
  const { jpeg } = collage;
  await page.setInputFiles('#file', { name: 'two.jpg', mimeType: 'image/jpeg', buffer: jpeg });
  await state('loaded');
  await page.getByLabel('Secret key').fill(COLLAGE_KEY);
  const pieces = page.getByRole('checkbox', { name: 'Look for a pasted piece (slower)' });
  const every = page.getByRole('checkbox', { name: 'List every marked piece' });
  assert.is(await every.getAttribute('aria-describedby'), 'all-pieces-hint');
  assert.not.ok(await every.isChecked(), 'off by default');
  const payloads = async () => (await page.locator('#verdict').textContent()).match(/[0-9a-f]{16}/g) ?? [];
  await pieces.setChecked(true);
  await page.getByRole('button', { name: 'Detect in the image' }).click();
  await state('found');
  assert.is((await payloads()).length, 1, await page.locator('#verdict').textContent());
  await pieces.setChecked(false);
  await every.setChecked(true);
  await page.getByRole('button', { name: 'Detect in the image' }).click();
  await state('found');
  assert.equal((await payloads()).sort(), [COLLAGE_PAYLOAD, SECOND_PAYLOAD].sort(), await page.locator('#verdict').textContent());
  assert.match(await page.locator('#verdict').textContent(), /in another piece/);
  // The map draws both: the first piece in green, the second's marked cells in cyan (as --map).
  const { data, info } = await sharp(await page.locator('#map').screenshot()).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const first = (await page.locator('#found-payload').textContent()).trim();
  const rectOf = (payload) => collage.pieces.find((p) => p.payload === payload).rect;
  const share = (test, b) => {
    const sx = info.width / collage.image.width, sy = info.height / collage.image.height;
    let n = 0, k = 0;
    for (let y = Math.ceil(b.top * sy); y < (b.top + b.height) * sy; y += 2) {
      for (let x = Math.ceil(b.left * sx); x < (b.left + b.width) * sx; x += 2) { const i = (y * info.width + x) * 3; n++; if (test(data[i], data[i + 1], data[i + 2])) k++; }
    }
    return k / n;
  };
  const cyan = (r, g, b) => b > r + 60 && b > g && g > r + 40;
  const green = (r, g, b) => g > r + 40 && g > b + 40;
  const second = rectOf(first === COLLAGE_PAYLOAD ? SECOND_PAYLOAD : COLLAGE_PAYLOAD);
  assert.ok(share(cyan, second) > 0.2, `cyan on the second piece: ${share(cyan, second)}`);
  assert.ok(share(green, rectOf(first)) > 0.2, `green on the first: ${share(green, rectOf(first))}`);
  assert.is(share(cyan, rectOf(first)), 0, 'no cyan on the first piece');
  await every.setChecked(false);
  assert.equal(errors, []);
});

test('deep section: an error (WebGPU asked for, none here) leaves the focus on the button and no stale status', async () => {
  await reset();
  await page.getByLabel('Execution provider').selectOption('webgpu');
  await page.getByRole('button', { name: 'Extract logo', exact: true }).focus();
  await page.keyboard.press('Enter');
  await page.waitForSelector('#deep[data-state="error"]', { timeout: 60_000 });
  assert.match(await page.locator('#deep-error').textContent(), /WebGPU was asked for.*ERR_NO_WEBGPU/);
  assert.is(await page.locator('#deep-status').textContent(), '');
  assert.is(await page.evaluate(() => document.activeElement?.id), 'deep-extract');
  await page.getByLabel('Execution provider').selectOption('auto');
  assert.equal(errors, []);
});

test('deep section, a 24-megapixel photo: the previews are scaled in the worker (said in the caption), the download is full size and carries the logo', async () => {
  await reset();
  const big = await sharp(OTHER).resize(6000, 4000, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
  await page.setInputFiles('#file', { name: 'big.jpg', mimeType: 'image/jpeg', buffer: big });
  await state('loaded');
  await page.getByLabel('Execution provider').selectOption('auto');
  await page.getByRole('button', { name: 'Mark with the logo' }).click();
  await page.waitForSelector('#deep:not([data-state="working"]):not([data-state="loading"])', { timeout: 300_000 });
  assert.is(await page.locator('#deep').getAttribute('data-state'), 'marked', await page.locator('#deep-error').textContent());
  // The page paints previews at most 1600 pixels a side, not 6000 × 4000 canvases.
  for (const id of ['deep-original', 'deep-marked', 'deep-diff']) {
    assert.equal(await page.locator(`#${id}`).evaluate((c) => [c.width, c.height]), [1600, 1067], id);
  }
  assert.is(await page.locator('#deep-diff-caption').textContent(), '|marked − original| × 20 (shown at 27 %)');
  const diff = await sharp(await page.locator('#deep-diff').screenshot()).stats();
  assert.ok(diff.channels[0].stdev > 2, `difference view stdev ${diff.channels[0].stdev}`);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download the logo-marked PNG' }).click()]);
  assert.is(download.suggestedFilename(), 'big-logo.png');
  const bytes = await readFile(await download.path());
  assert.is(await page.locator('#deep-download-info').textContent(), `PNG, 6000 × 4000 pixels, ${(bytes.length / 1e6).toFixed(1)} MB`);
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  assert.equal([info.width, info.height], [6000, 4000]);
  const deep = await createDeepWatermarker({ models: await loadDeepModels(models.dir) });
  let node;
  try {
    node = await deep.extract({ width: info.width, height: info.height, channels: info.channels, data });
  } finally {
    await deep.dispose();
  }
  if (models.real) assert.ok(node.found, `Node finds the logo in the page's 6000 × 4000 PNG (NC ${node.nc})`);
  // The marked pixels stayed in the worker: extracting from them gives Node's answer on the PNG.
  await page.getByRole('button', { name: 'Extract from the logo-marked image' }).click();
  await page.waitForSelector('#deep:not([data-state="working"]):not([data-state="loading"])', { timeout: 300_000 });
  assert.is(await page.locator('#deep').getAttribute('data-state'), node.found ? 'found' : 'not-found', await page.locator('#deep-error').textContent());
  const nc = Number(await page.locator('#deep-nc').textContent());
  assert.ok(Math.abs(nc - node.nc) <= 0.01, `page NC ${nc}, Node NC ${node.nc}`);
  assert.is(await page.locator('#deep-source').textContent(), 'big-logo.png (6000 × 4000)');
  assert.equal(errors, []);
});


/** The page's JavaScript heap after a full GC, in bytes: V8's heap and the ArrayBuffers' backing stores. */
async function pageHeap() {
  const cdp = await context.newCDPSession(page);
  try {
    await cdp.send('HeapProfiler.collectGarbage');
    const usage = await cdp.send('Runtime.getHeapUsage');
    const memory = await page.evaluate(() => performance.memory.usedJSHeapSize);
    return Math.max(memory, usage.usedSize + (usage.backingStorageSize ?? 0));
  } finally {
    await cdp.detach();
  }
}

test('a 24-megapixel photo: both sections mark and detect on it, and the page holds none of its full-size pixels (they stay in the workers)', async () => {
  await reset();
  const big = await sharp(PHOTO).resize(6000, 4000, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
  await page.setInputFiles('#file', { name: 'huge.jpg', mimeType: 'image/jpeg', buffer: big });
  await state('loaded');
  assert.match(await page.locator('#image-info').textContent(), /huge\.jpg: 6000 × 4000 pixels/);
  await page.getByRole('button', { name: 'Mark the image' }).click();
  await state('marked');
  assert.match(await page.locator('#download-info').textContent(), /^PNG, 6000 × 4000 pixels/);
  await page.getByRole('button', { name: 'Detect in the marked image' }).click();
  await state('found');
  assert.is(await page.locator('#found-payload').textContent(), PAYLOAD);
  assert.match(await page.locator('#verdict').textContent(), /huge-marked\.png/);
  await page.getByRole('button', { name: 'Detect in the image' }).click();
  await state('not-found');
  assert.match(await page.locator('#verdict').textContent(), /No mark of this key in huge\.jpg/);

  const deepDone = () => page.waitForSelector('#deep:not([data-state="working"]):not([data-state="loading"])', { timeout: 300_000 });
  await page.getByLabel('Execution provider').selectOption('auto');
  await page.getByRole('button', { name: 'Mark with the logo' }).click();
  await deepDone();
  assert.is(await page.locator('#deep').getAttribute('data-state'), 'marked', await page.locator('#deep-error').textContent());
  assert.match(await page.locator('#deep-download-info').textContent(), /^PNG, 6000 × 4000 pixels/);
  await page.getByRole('button', { name: 'Extract from the logo-marked image' }).click();
  await deepDone();
  assert.ok(['found', 'not-found'].includes(await page.locator('#deep').getAttribute('data-state')), await page.locator('#deep-error').textContent());
  if (models.real) assert.is(await page.locator('#deep').getAttribute('data-state'), 'found');
  assert.is(await page.locator('#deep-source').textContent(), 'huge-logo.png (6000 × 4000)');
  await page.getByRole('button', { name: 'Extract logo', exact: true }).click();
  await deepDone();
  assert.ok(['found', 'not-found'].includes(await page.locator('#deep').getAttribute('data-state')), await page.locator('#deep-error').textContent());
  if (models.real) assert.is(await page.locator('#deep').getAttribute('data-state'), 'not-found');
  assert.is(await page.locator('#deep-source').textContent(), 'huge.jpg (6000 × 4000)');

  // The photo's pixels are 96 MB, each marked copy as much: the page held 192 MB of them here
  // (the decoded image for both sections and the classical marked image). It paints previews of
  // at most 1600 pixels a side and keeps no pixels: its heap is a few MB.
  const heap = await pageHeap();
  // The measure counts a full-size pixel array when the page holds one.
  await page.evaluate(() => { window.probe = new Uint8ClampedArray(6000 * 4000 * 4).fill(1); });
  const probed = await pageHeap();
  await page.evaluate(() => { delete window.probe; });
  assert.ok(probed - heap > 90e6, `a 96 MB array in the page adds ${(probed - heap) / 1e6} MB to the measure`);
  assert.ok(heap < 40e6, `the page's JS heap after GC is ${(heap / 1e6).toFixed(1)} MB`);

  // A second image replaces the first in both workers.
  await page.setInputFiles('#file', ASTRONAUT);
  await state('loaded');
  await page.getByRole('button', { name: 'Mark with the logo' }).click();
  await deepDone();
  assert.is(await page.locator('#deep').getAttribute('data-state'), 'marked', await page.locator('#deep-error').textContent());
  assert.match(await page.locator('#deep-download-info').textContent(), /^PNG, 512 × 512 pixels/);
  await page.getByRole('button', { name: 'Mark the image' }).click();
  await state('marked');
  assert.match(await page.locator('#download-info').textContent(), /^PNG, 512 × 512 pixels/);
  assert.equal(await page.locator('#marked').evaluate((c) => [c.width, c.height]), [512, 512], 'the marked preview is the new image');
  assert.equal(errors, []);
});

test('a photo whose file is deleted after it was loaded: both sections still mark it (the workers read the copy made at load)', async () => {
  await reset();
  const path = join(dir, 'gone.jpg');
  await sharp(OTHER).resize(640, 400).jpeg().toFile(path);
  await page.setInputFiles('#file', path);
  await state('loaded');
  await rm(path);
  await page.getByRole('button', { name: 'Mark with the logo' }).click();
  await page.waitForSelector('#deep:not([data-state="working"]):not([data-state="loading"])', { timeout: 300_000 });
  assert.is(await page.locator('#deep').getAttribute('data-state'), 'marked', await page.locator('#deep-error').textContent());
  assert.match(await page.locator('#deep-download-info').textContent(), /^PNG, 640 × 400 pixels/);
  await page.getByRole('button', { name: 'Mark the image' }).click();
  await state('marked');
  assert.match(await page.locator('#download-info').textContent(), /^PNG, 640 × 400 pixels/);
  assert.equal(errors, []);
});

test.run();
