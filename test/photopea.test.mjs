// Photopea plug-in: the built static page runs inside a stand-in Photopea (test/pages/
// photopea-parent.html) in Chromium, which speaks Photopea's Live Messaging protocol. Mark sends
// back a PNG that decodes in Node and carries the payload; Detect shows found and a p-value.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { createWatermarker, psnr } from 'modelmark';
import { launchChromium, serveStatic, watchErrors } from './helpers/browser.mjs';
import { buildPhotopea } from '../scripts/build-photopea.mjs';

const PHOTOS = new URL('../../shared/photos/', import.meta.url);
const KEY = 'photopea test key';
const PAYLOAD = 'c0ffee00dead0042';

let browser, server, dir, page, errors, photo, wm;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mm-photopea-'));
  await buildPhotopea(join(dir, 'photopea'));
  const png = await sharp(new URL('mate-Dune.jpg', PHOTOS).pathname).png().toBuffer();
  photo = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const parent = await readFile(new URL('./pages/photopea-parent.html', import.meta.url));
  server = await serveStatic(dir, {
    '/parent.html': (req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(parent),
    '/photo.png': (req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(png),
  });
  browser = await launchChromium();
  page = await browser.newPage();
  errors = watchErrors(page);
  await page.goto(`${server.url}/parent.html`);
  await page.evaluate(() => window.loadDoc('/photo.png'));
  wm = await createWatermarker({ key: KEY });
});

test.after(async () => {
  await browser?.close();
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const plugin = () => page.frameLocator('#plugin');
const state = (s) => page.frame({ url: /photopea\/index\.html/ }).waitForSelector(`form[data-state="${s}"]`, { timeout: 60_000 });
async function decodeReceived(index) {
  const b64 = await page.evaluate(async (i) => {
    const r = window.received.filter((m) => m.kind !== 'script')[i];
    if (r.kind === 'file') return window.base64Of(r.data);
    return /base64,([^"]+)"/.exec(r.data)[1];
  }, index);
  const { data, info } = await sharp(Buffer.from(b64, 'base64')).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: 4, data };
}

test('the panel is labelled and usable from the keyboard', async () => {
  const f = plugin();
  await f.getByLabel('Secret key').waitFor();
  await f.getByLabel('Secret key').focus();
  await page.keyboard.press('Tab');
  const focused = await page.frame({ url: /photopea\/index\.html/ }).evaluate(() => document.activeElement?.getAttribute('name'));
  assert.is(focused, 'payload');
  assert.ok(await f.getByRole('button', { name: 'Mark' }).isVisible());
  assert.ok(await f.getByRole('button', { name: 'Detect' }).isVisible());
  assert.is(await f.getByRole('status').count(), 1);
});

test('Mark: exports the document with saveToOE("png"), sends a marked PNG back that detects in Node', async () => {
  const f = plugin();
  await f.getByLabel('Secret key').fill(KEY);
  await f.getByLabel('Payload (16 hex digits)').fill(PAYLOAD);
  await f.getByLabel('Payload (16 hex digits)').press('Enter'); // submitting the form marks
  await state('mark-found');
  const received = await page.evaluate(() => window.received.map((m) => ({ kind: m.kind, script: typeof m.data === 'string' ? m.data.slice(0, 60) : null })));
  assert.equal(received[0], { kind: 'script', script: 'app.activeDocument.saveToOE("png");' });
  assert.is(received[1].kind, 'file');
  const marked = await decodeReceived(0);
  assert.is(marked.width, photo.info.width);
  assert.is(marked.height, photo.info.height);
  const r = wm.detect(marked);
  assert.ok(r.found, `found (p = ${r.pValue})`);
  assert.is(r.payload, PAYLOAD);
  const db = await psnr({ width: photo.info.width, height: photo.info.height, channels: 4, data: photo.data }, marked);
  assert.ok(db > 38, `PSNR ${db}`);
  assert.match(await f.getByRole('status').textContent(), PAYLOAD);
});

test('Detect: the marked document (now open in Photopea) reports found, the payload and a p-value', async () => {
  const f = plugin();
  await f.getByRole('button', { name: 'Detect' }).click();
  await state('detect-found');
  assert.is(await f.locator('[data-field=found]').textContent(), 'yes');
  assert.is(await f.locator('[data-field=payload]').textContent(), PAYLOAD);
  const p = Number(await f.locator('[data-field=pvalue]').textContent());
  assert.ok(p < 1e-6, `p-value ${p}`);
  assert.match(await f.getByRole('status').textContent(), /Mark found/);
  // The region map is drawn: mostly green cells.
  const green = await f.locator('canvas[data-field=map]').evaluate((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let g = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 1] > d[i] + 40 && d[i + 1] > d[i + 2] + 40) g++;
    return g / (d.length / 4);
  });
  assert.ok(green > 0.5, `green share ${green}`);
});

test('Detect: an unmarked photo, or a wrong key, reports not found', async () => {
  const f = plugin();
  await f.getByLabel('Secret key').fill('another key');
  await f.getByRole('button', { name: 'Detect' }).click();
  await state('detect-not-found');
  assert.is(await f.locator('[data-field=found]').textContent(), 'no');
  await page.evaluate(() => window.loadDoc('/photo.png'));
  await f.getByLabel('Secret key').fill(KEY);
  await f.getByRole('button', { name: 'Detect' }).click();
  await state('detect-not-found');
  assert.ok(Number(await f.locator('[data-field=pvalue]').textContent()) > 1e-6);
});

test('Mark as a new layer: app.open(dataURL, null, true) with a marked PNG', async () => {
  const f = plugin();
  await f.getByLabel('a new layer').check();
  await f.getByRole('button', { name: 'Mark' }).click();
  await state('mark-found');
  const kinds = await page.evaluate(() => window.received.map((m) => m.kind));
  assert.is(kinds.at(-1), 'layer');
  const r = wm.detect(await decodeReceived(1));
  assert.is(r.payload, PAYLOAD);
  await f.getByLabel('a new document').check();
});

test('errors are shown in the panel: no document, bad payload, empty key', async () => {
  const f = plugin();
  await page.evaluate(() => window.loadDoc(null));
  await f.getByRole('button', { name: 'Detect' }).click();
  await state('error');
  assert.match(await f.getByRole('status').textContent(), /open or create a document/);
  await page.evaluate(() => window.loadDoc('/photo.png'));
  await f.getByLabel('Payload (16 hex digits)').fill('not hex');
  await f.getByRole('button', { name: 'Mark' }).click();
  await state('error');
  assert.match(await f.getByRole('status').textContent(), /hexadecimal/);
  await f.getByLabel('Payload (16 hex digits)').fill(PAYLOAD);
  await f.getByLabel('Secret key').fill('');
  await f.getByRole('button', { name: 'Mark' }).click();
  await state('error');
  assert.match(await f.getByRole('status').textContent(), /key/);
  assert.equal(errors, []);
});

test('opened outside Photopea, the page says how to install it and does not post to itself', async () => {
  const alone = await browser.newPage();
  const aloneErrors = watchErrors(alone);
  await alone.goto(`${server.url}/photopea/index.html`);
  const status = alone.getByRole('status');
  await status.waitFor();
  assert.match(await status.textContent(), /inside Photopea.*More > Plugins/);
  await alone.getByLabel('Secret key').fill(KEY);
  await alone.getByRole('button', { name: 'Detect' }).click();
  await alone.waitForSelector('form[data-state="error"]');
  assert.match(await status.textContent(), /not inside Photopea/);
  assert.equal(aloneErrors, []);
  await alone.close();
});

test('argument checks are typed errors', async () => {
  const { connectPhotopea, encodePng, openInPhotopea } = await import('modelmark/photopea');
  assert.throws(() => connectPhotopea({ target: 5 }), (e) => e.code === 'ERR_INVALID_ARGUMENT' && /endpoints\.target/.test(e.message));
  const fake = { postMessage() {} }, source = { addEventListener() {}, removeEventListener() {} };
  assert.throws(() => connectPhotopea({ target: fake, source, timeoutMs: -1 }), (e) => e.code === 'ERR_INVALID_ARGUMENT');
  const pp = connectPhotopea({ target: fake, source, timeoutMs: 50 });
  await pp.run(42).then(() => assert.unreachable(), (e) => assert.is(e.code, 'ERR_INVALID_ARGUMENT'));
  await pp.run('app.echoToOE(1)').then(() => assert.unreachable(), (e) => assert.is(e.code, 'ERR_PHOTOPEA_TIMEOUT'));
  await openInPhotopea(pp, new ArrayBuffer(4), 'elsewhere').then(() => assert.unreachable(), (e) => assert.is(e.code, 'ERR_INVALID_ARGUMENT'));
  await encodePng({ width: 2, height: 2, data: new Uint8Array(3) }).then(() => assert.unreachable(), (e) => assert.is(e.code, 'ERR_INVALID_ARGUMENT'));
  const { formatPValue, cellColour } = await import('modelmark/photopea');
  assert.is(formatPValue(0), '< 1e-300');
  assert.is(formatPValue(2.5e-41), '2.5e-41');
  assert.is(formatPValue(0.4213), '0.42');
  assert.throws(() => formatPValue('small'), (e) => e.code === 'ERR_INVALID_ARGUMENT');
  assert.is(cellColour(null), null);
  assert.match(cellColour(3.5), /^rgba\(40, 210, 70/);
  assert.match(cellColour(2), /^rgba\(240, 180, 30/);
  assert.match(cellColour(-1), /^rgba\(220, 40, 40/);
  pp.close();
});

test('connectPhotopea answers only Photopea\'s window at Photopea\'s origin: a reply with no source (a removed frame\'s) or from another origin is ignored', async () => {
  const { connectPhotopea } = await import('modelmark/photopea');
  const posted = [];
  const target = { postMessage: (m, origin) => posted.push(origin) };
  let listener;
  const source = { addEventListener: (_t, l) => { listener = l; }, removeEventListener() {} };
  const pp = connectPhotopea({ target, source, timeoutMs: 300 });
  const run = pp.run('app.echoToOE("x")');
  const tick = () => new Promise((r) => setTimeout(r, 10));
  await tick(); // scripts are posted in turn
  assert.equal(posted, ['https://www.photopea.com'], 'posted to Photopea\'s origin, not \'*\'');
  listener({ source: null, origin: 'https://www.photopea.com', data: 'spoofed' });
  listener({ source: null, origin: 'https://www.photopea.com', data: 'done' });
  listener({ source: target, origin: 'https://evil.example', data: 'done' });
  listener({ source: target, origin: 'https://www.photopea.com', data: 'x' });
  listener({ source: target, origin: 'https://www.photopea.com', data: 'done' });
  assert.equal(await run, ['x'], 'only the real reply');
  // Unanswered by the real window: a spoofed "done" does not end the script, it times out.
  const lone = pp.run('app.echoToOE("y")');
  await tick();
  listener({ source: null, origin: 'https://www.photopea.com', data: 'done' });
  await lone.then(() => assert.unreachable('a spoofed reply was taken'), (e) => assert.is(e.code, 'ERR_PHOTOPEA_TIMEOUT'));
  pp.close();
});

test('a document PNG whose header declares 900 megapixels is refused from its header (ERR_IMAGE_TOO_LARGE), not decoded; the panel works afterwards', async () => {
  const f = plugin();
  // The photo's PNG with its IHDR rewritten to 30000 x 30000 (checksum fixed): a decompression
  // bomb's header. Chromium's decoder refuses it only as "not an image"; at 16384 x 16384 it
  // would decode a gigabyte of pixels before the watermarker's limit was checked.
  await page.evaluate(async () => {
    const b = new Uint8Array(await (await fetch('/photo.png')).arrayBuffer());
    const v = new DataView(b.buffer);
    v.setUint32(16, 30000);
    v.setUint32(20, 30000);
    let c = -1;
    for (let i = 12; i < 29; i++) { c ^= b[i]; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; }
    v.setUint32(29, (c ^ -1) >>> 0);
    window.doc = b.buffer;
  });
  await f.getByLabel('Secret key').fill(KEY);
  await f.getByRole('button', { name: 'Detect' }).click();
  await state('error');
  assert.match(await f.getByRole('status').textContent(), /30000x30000 \(900\.0 megapixels\), over the limit of 100\.0 megapixels/);
  await page.evaluate(() => window.loadDoc('/photo.png'));
  await f.getByRole('button', { name: 'Detect' }).click();
  await state('detect-not-found');
  assert.equal(errors, []);
});

test('after a script times out, its late answer is not taken as the next script\'s: the connection resyncs with an echoed token first', async () => {
  const { connectPhotopea } = await import('modelmark/photopea');
  let listener;
  const source = { addEventListener: (_t, l) => { listener = l; }, removeEventListener() {} };
  const say = (data) => listener({ source: target, origin: 'https://www.photopea.com', data });
  const posted = [];
  let late; // what the slow first script answers, once the next one has been posted
  // A stand-in Photopea that answers app.echoToOE("x") with "x" then "done", except the first script.
  const target = {
    postMessage(m) {
      posted.push(m);
      if (late) { const answer = late; late = undefined; setTimeout(answer, 1); }
      const echo = /echoToOE\("([^"]*)"\)/.exec(m);
      if (echo && posted.length > 1) setTimeout(() => { say(echo[1]); say('done'); }, 5);
    },
  };
  const pp = connectPhotopea({ target, source, timeoutMs: 100 });
  await pp.run('app.echoToOE("A")').then(() => assert.unreachable(), (e) => assert.is(e.code, 'ERR_PHOTOPEA_TIMEOUT'));
  late = () => { say('A'); say('done'); }; // A's answer arrives just after the next script is posted
  assert.equal(await pp.run('app.echoToOE("B")'), ['B'], 'B gets its own answer, not A\'s');
  assert.equal(await pp.run('app.echoToOE("C")'), ['C']);
  assert.match(posted[1], /^app\.echoToOE\("modelmark-sync-/, 'a sync echo went first');
  assert.is(posted.length, 4, 'one sync only');
  pp.close();
});

test.run();
