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
import { launchChromium, serveStatic, watchErrors } from './helpers/browser.mjs';
import { deepModelsForTest } from './helpers/deep-models.mjs';
import { buildWeb } from '../scripts/build-web.mjs';
import { crc32 } from './helpers/png.mjs';

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
  for (const label of ['Image file', 'Secret key', 'Payload (16 hex digits)', 'Difference view: amplify by']) {
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

test.run();
