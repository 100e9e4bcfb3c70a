// modelmark/canvas and modelmark/canvas/worker in real hosts: Node with @napi-rs/canvas, and
// Chromium (ImageData and HTMLCanvasElement on a page, the worker client against a real Web
// Worker, OffscreenCanvas inside that worker).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { createCanvas, loadImage, ImageData as NapiImageData } from '@napi-rs/canvas';
import { createWatermarker } from 'modelmark';
import { watermarkCanvas, watermarkImageData, detectImageData, detectCanvas } from 'modelmark/canvas';
import { openTestPage } from './helpers/browser.mjs';
import { mathSweeps } from './helpers/math-sweeps.mjs';
import { COLLAGE_KEY, COLLAGE_PAYLOAD, pastedCollage } from './helpers/collage.mjs';
import { normalUpperTail, studentUpperTail } from '../dist/stats.js';
import * as libm from '../dist/libm.js';

const PHOTOS = fileURLToPath(new URL('../../shared/photos/', import.meta.url));
const KEY = 'canvas plug-in test key';
const PAYLOAD = 'c0ffee0000000001';

let t, page, errors;

test.before(async () => {
  const photo = (req, res) => import('node:fs/promises').then(async ({ readFile }) => {
    const name = decodeURIComponent(req.url.slice('/photos/'.length).split('?')[0]);
    if (!/^[\w.-]+$/.test(name)) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'image/jpeg' }).end(await readFile(join(PHOTOS, name)));
  });
  t = await openTestPage({
    name: 'canvas',
    entries: {
      'canvas.js': 'test/pages/canvas.mjs',
      'canvas-worker.js': 'test/pages/canvas-worker.mjs',
      // The package's own worker entry, where createWatermarkWorker() looks for it (beside the bundle).
      'entry.js': 'dist/plugins/canvas/worker/entry.js',
    },
    routes: { '/photos/mate-GreenMeadow.jpg': photo, '/photos/skimage-coffee.png': photo, '/photos/mate-Dune.jpg': photo },
  });
  ({ page, errors } = t);
});

test.after(async () => {
  await t?.close();
});

// ---- Node, @napi-rs/canvas ----

async function napiCanvas(file) {
  const img = await loadImage(join(PHOTOS, file));
  const canvas = createCanvas(img.width, img.height);
  canvas.getContext('2d').drawImage(img, 0, 0);
  return canvas;
}

test('node @napi-rs/canvas: watermarkCanvas marks a real photo; the PNG it encodes decodes (sharp) to the right payload', async () => {
  const canvas = await napiCanvas('mate-Storm.jpg');
  assert.is((await detectCanvas(canvas, { key: KEY })).found, false, 'the photo is unmarked before');
  const returned = await watermarkCanvas(canvas, { key: KEY, payload: PAYLOAD });
  assert.is(returned, canvas);
  const png = await canvas.encode('png');
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const wm = await createWatermarker({ key: KEY });
  const r = wm.detect({ width: info.width, height: info.height, channels: info.channels, data });
  assert.ok(r.found, `found (p=${r.pValue})`);
  assert.is(r.payload, PAYLOAD);
  assert.ok(r.pValue < 1e-12);
  assert.is((await createWatermarker({ key: KEY + '!' })).detect({ width: info.width, height: info.height, channels: info.channels, data }).found, false, 'another key finds nothing');
});

test('node @napi-rs/canvas: watermarkImageData marks its ImageData in place and returns it; detectImageData reads it back', async () => {
  const canvas = await napiCanvas('skimage-coffee.png');
  const ctx = canvas.getContext('2d');
  const imageData = ctx.getImageData(0, 0, canvas.width, canvas.height);
  assert.instance(imageData, NapiImageData);
  const before = imageData.data.slice();
  const returned = await watermarkImageData(imageData, { key: KEY, payload: 0xc0ffee0000000002n });
  assert.is(returned, imageData);
  assert.not.equal(Array.from(imageData.data.subarray(0, 4096)), Array.from(before.subarray(0, 4096)), 'pixels changed in place');
  for (let i = 3; i < imageData.data.length; i += 4096) assert.is(imageData.data[i], before[i], 'alpha untouched');
  ctx.putImageData(imageData, 0, 0);
  const r = await detectImageData(ctx.getImageData(0, 0, canvas.width, canvas.height), { key: KEY });
  assert.is(r.payload, 'c0ffee0000000002');
  assert.ok(r.found);
});

test('node: argument errors are typed, and a bad payload fails before any pixel moves', async () => {
  const canvas = await napiCanvas('skimage-coffee.png');
  const imageData = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  const before = imageData.data.slice();
  const codeOf = (p) => p.then(() => 'resolved', (e) => e.code);
  assert.is(await codeOf(watermarkImageData(imageData, { key: KEY, payload: 'xyz' })), 'ERR_INVALID_ARGUMENT');
  assert.equal(imageData.data, before, 'untouched after a bad payload');
  assert.is(await codeOf(watermarkImageData({ width: 10, height: 10, data: new Uint8ClampedArray(7) }, { key: KEY, payload: PAYLOAD })), 'ERR_INVALID_ARGUMENT');
  assert.is(await codeOf(watermarkImageData(new NapiImageData(64, 64), { key: KEY, payload: PAYLOAD })), 'ERR_IMAGE_TOO_SMALL');
  assert.is(await codeOf(watermarkCanvas({}, { key: KEY, payload: PAYLOAD })), 'ERR_INVALID_ARGUMENT');
  assert.is(await codeOf(detectImageData(null, { key: KEY })), 'ERR_INVALID_ARGUMENT');
  const msg = await watermarkImageData(imageData, { key: KEY, payload: 'xyz' }).catch((e) => e.message);
  assert.match(msg, /payload/);
});

// ---- Chromium ----

test('chromium: ImageData marked in place on a page survives putImageData, PNG export and re-decoding', async () => {
  const r = await page.evaluate(([k, p]) => window.runImageData('/photos/mate-GreenMeadow.jpg', k, p), [KEY, PAYLOAD]);
  assert.ok(r.same, 'returns the same ImageData');
  assert.ok(r.changed > 100000, `pixels changed in place (${r.changed})`);
  assert.ok(r.alphaKept);
  assert.ok(r.found, `found in the page (p=${r.pValue})`);
  assert.is(r.payload, PAYLOAD);
  assert.is(r.wrongFound, false);
  assert.is(r.badPayload?.code, 'ERR_INVALID_ARGUMENT');
  assert.ok(r.badPayload.invalidArgument);
  // The PNG the browser encoded, decoded in Node by sharp and checked by the core.
  const { data, info } = await sharp(Buffer.from(r.png)).raw().toBuffer({ resolveWithObject: true });
  assert.is(info.width, r.width);
  const d = (await createWatermarker({ key: KEY })).detect({ width: info.width, height: info.height, channels: info.channels, data });
  assert.is(d.payload, PAYLOAD);
});

test('chromium: the core\'s embed into a copy of an ImageData returns an ImageData (putImageData and createImageBitmap take it)', async () => {
  const r = await page.evaluate(([k, p]) => window.runCoreCopy('/photos/mate-GreenMeadow.jpg', k, p), [KEY, PAYLOAD]);
  assert.equal(r, { isImageData: true, channels: 4, clamped: true, colorSpace: 'srgb', found: true, payload: PAYLOAD, inputKept: true });
});

test('chromium: watermarkCanvas on an HTMLCanvasElement', async () => {
  const r = await page.evaluate(([k, p]) => window.runCanvas('/photos/skimage-coffee.png', k, '00000000deadbeef'), [KEY, PAYLOAD]);
  assert.ok(r.same);
  assert.is(r.before, false);
  assert.ok(r.found);
  assert.is(r.payload, '00000000deadbeef');
});

test('chromium: the worker client marks and detects in a real Web Worker; OffscreenCanvas in a worker; errors keep their codes', async () => {
  const r = await page.evaluate(([k, p]) => window.runWorker('/photos/mate-Dune.jpg', k, p), [KEY, PAYLOAD]);
  assert.ok(r.detached, 'the input buffer was transferred, not copied');
  assert.ok(r.isImageData);
  assert.equal([r.width, r.height], [1680, 1050]);
  assert.ok(r.ticks >= 3, `the UI thread kept running during embed (${r.ticks} ticks in ${r.embedMs.toFixed(0)} ms)`);
  assert.ok(r.found, `found (p=${r.pValue})`);
  assert.is(r.payload, PAYLOAD);
  assert.ok(r.stillThere, 'detect copies by default');
  assert.equal(r.parallel, [true, false], 'parallel requests answered by id');
  const n = 1680 * 1050 * 4;
  assert.equal(r.viewKept, { pool: n + 32, head: 7, tail: 7, view: n, marked: n }, 'a view into a larger buffer is copied for the transfer, the buffer kept');
  assert.is(r.tooSmall?.code, 'ERR_IMAGE_TOO_SMALL');
  assert.is(r.badPayload?.code, 'ERR_INVALID_ARGUMENT');
  assert.ok(r.badPayload.invalidArgument, 'rebuilt as InvalidArgumentError');
  assert.equal(r.keptAfterBadPayload, { code: 'ERR_INVALID_ARGUMENT', length: 1680 * 1050 * 4 }, 'refused before the transfer');
  assert.is(r.keptAfterTooSmall, 64 * 64 * 4);
  assert.equal(r.keptAfterBadStrength, { code: 'ERR_INVALID_ARGUMENT', length: 1680 * 1050 * 4 }, 'a bad strength too');
  assert.equal(r.broken, ['ERR_WORKER', 'ERR_WORKER']);
  assert.is(r.emptyCanvas, 'ERR_IMAGE_TOO_SMALL');
  assert.is(r.terminated?.code, 'ERR_WORKER_TERMINATED');
  assert.equal(r.offscreen, { same: true, found: true, payload: PAYLOAD, inWorker: true });
  assert.equal(r.defaultEntry, { found: true, payload: PAYLOAD });
  assert.equal(errors, []);
});

test('chromium: createWatermarkWorker() without its entry.js beside the bundle (esbuild and Rollup leave it out) rejects with ERR_WORKER naming entry.js and saying to pass a Worker built from your own module', async () => {
  const { rename } = await import('node:fs/promises');
  const entry = join(t.dir, 'entry.js');
  await rename(entry, entry + '.away');
  let r;
  try {
    r = await page.evaluate(() => window.runMissingEntry());
  } finally {
    await rename(entry + '.away', entry);
  }
  assert.is(r.code, 'ERR_WORKER');
  assert.match(r.message, "the package's worker script (entry.js");
  assert.match(r.message, 'serveWatermarkWorker()');
  assert.match(r.message, "createWatermarkWorker(new Worker(its URL, { type: 'module' }))");
});

test('chromium and Node agree: the same RGBA pixels give byte-identical marked pixels (core, watermarkImageData, the worker client) and equal detect results, the geometric search\'s included', async () => {
  // A real photo at an odd width, decoded once here (so both sides start from the same bytes).
  const { data, info } = await sharp(join(PHOTOS, 'skimage-chelsea.png')).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const { width, height } = info;
  // A crop off the top-left: the mark's grid no longer starts at the origin, so detect reads it
  // through the geometric search (the lattice search's trigonometry and logs run in JavaScript).
  const crop = [29, 17, width - 29, height - 17];
  const r = await page.evaluate(([b64, w, h, k, p, c]) => window.runAgreement(b64, w, h, k, p, c), [Buffer.from(data).toString('base64'), width, height, KEY, PAYLOAD, crop]);
  const wm = await createWatermarker({ key: KEY });
  const marked = wm.embed({ width, height, data: new Uint8ClampedArray(data) }, PAYLOAD);
  const fromPage = Buffer.from(r.marked, 'base64');
  let differing = 0;
  for (let i = 0; i < fromPage.length; i++) if (fromPage[i] !== marked.data[i]) differing++;
  assert.is(fromPage.length, marked.data.length);
  assert.is(differing, 0, `${differing} bytes of the page's marked pixels differ from Node's`);
  assert.ok(r.pluginSame, 'watermarkImageData in the page: the same bytes as the core');
  assert.ok(r.workerSame, 'the worker client in the page: the same bytes as the core');
  const [x, y, w, h] = crop;
  const cropped = new Uint8ClampedArray(w * h * 4);
  for (let row = 0; row < h; row++) cropped.set(marked.data.subarray(((y + row) * width + x) * 4, ((y + row) * width + x + w) * 4), row * w * 4);
  const inNode = { marked: wm.detect(marked), cropped: wm.detect({ width: w, height: h, data: cropped }), unmarked: wm.detect({ width, height, data }) };
  assert.ok(inNode.cropped.found && inNode.cropped.transform.translation.some((t) => t !== 0), 'the crop is found through the search');
  assert.is(inNode.unmarked.found, false);
  // Every field: found, payload, pValue and score to the bit, transform, region map.
  assert.equal(r.detect, { ...inNode, inWorker: inNode.marked });
  assert.equal(errors, []);
});

test('chromium and Node agree on the p-value functions to the bit: Math.exp and the like differ between engines in the last place (Node 20 and Chromium 156 on about one exp in ten); detect and combineEvidence use src/libm.ts', async () => {
  const inPage = await page.evaluate(() => window.runMathSweeps());
  const inNode = mathSweeps({ normalUpperTail, studentUpperTail }, libm);
  for (const [name, values] of Object.entries(inNode)) {
    const differing = values.filter((v, i) => !Object.is(v, inPage[name][i])).length;
    assert.is(differing, 0, `${name}: ${differing} of ${values.length} values differ between Chromium and Node`);
  }
  assert.equal(Object.keys(inPage).sort(), Object.keys(inNode).sort());
});

/** A flat grey 256x256 RGBA image. */
const greyImage = () => ({ width: 256, height: 256, data: new Uint8ClampedArray(256 * 256 * 4).fill(128) });

/**
 * Run `fn(port, createWatermarkWorker)` with a worker served in this thread on the other end of a
 * node:worker_threads MessageChannel (the protocol without a browser), and close both ends after.
 */
async function withServedPort(fn) {
  const { MessageChannel } = await import('node:worker_threads');
  const { createWatermarkWorker, serveWatermarkWorker } = await import('modelmark/canvas/worker');
  const { port1, port2 } = new MessageChannel();
  const stop = serveWatermarkWorker(port2);
  try {
    await fn(port1, createWatermarkWorker);
  } finally {
    stop();
    port1.close();
  }
}

test('node worker_threads: two worker clients sharing one port each get their own answers (request ids are unique across clients)', () => withServedPort(async (port, createWatermarkWorker) => {
  const a = createWatermarkWorker(port), b = createWatermarkWorker(port);
  // Each client's first request: with ids counted per client, both are id 1 and the first
  // answer to come back settles both calls (a detect result for the embed, or the reverse).
  const [found, marked] = await Promise.all([a.detect(greyImage(), { key: KEY }), b.embed(greyImage(), { key: KEY, payload: PAYLOAD })]);
  assert.is(found.found, false, 'the detect call gets a detect result');
  assert.ok(marked.data instanceof Uint8ClampedArray && marked.data.length === 256 * 256 * 4, 'the embed call gets marked pixels');
  assert.is((await a.detect(marked, { key: KEY })).payload, PAYLOAD);
}));

test('pieces: detectImageData and the worker client find a marked photo pasted into a larger one only when asked (options.pieces), and refuse a non-boolean', () => withServedPort(async (port, createWatermarkWorker) => {
  const { jpeg } = await pastedCollage();
  const { data, info } = await sharp(jpeg).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const image = () => ({ width: info.width, height: info.height, data: new Uint8ClampedArray(data) });
  assert.is((await detectImageData(image(), { key: COLLAGE_KEY })).found, false);
  assert.is((await detectImageData(image(), { key: COLLAGE_KEY, pieces: true })).payload, COLLAGE_PAYLOAD);
  const client = createWatermarkWorker(port);
  assert.is((await client.detect(image(), { key: COLLAGE_KEY, pieces: true })).payload, COLLAGE_PAYLOAD);
  for (const run of [() => detectImageData(image(), { key: COLLAGE_KEY, pieces: 'yes' }), () => client.detect(image(), { key: COLLAGE_KEY, pieces: 'yes' })]) {
    let err;
    try { await run(); } catch (e) { err = e; }
    assert.ok(err?.code === 'ERR_INVALID_ARGUMENT' && err.message.includes('options.pieces'), String(err));
  }
}));

test('chromium: an ImageData whose buffer was transferred (by the worker client\'s embed) is refused with a message that says it is detached', async () => {
  const r = await page.evaluate(([k, p]) => window.runDetached(k, p), [KEY, PAYLOAD]);
  for (const name of ['clientDetect', 'pageDetect', 'pageEmbed']) {
    assert.is(r[name]?.code, 'ERR_INVALID_ARGUMENT', `${name}: ${JSON.stringify(r[name])}`);
    assert.ok(r[name].invalidArgument);
    assert.match(r[name].message, /detached/, name);
    assert.match(r[name].message, /transfer: false/, name);
  }
  assert.equal(errors, []);
});

test('node worker_threads: terminate() on one of two clients sharing a worker ends the other\'s pending and later calls too (ERR_WORKER_TERMINATED), not left waiting', () => withServedPort(async (port, createWatermarkWorker) => {
  // A worker as the client sees one: a port with terminate().
  let terminated = 0;
  const worker = {
    postMessage: (m, t) => port.postMessage(m, t),
    addEventListener: (type, f) => port.addEventListener(type, f),
    removeEventListener: (type, f) => port.removeEventListener(type, f),
    terminate: () => { terminated++; port.close(); },
  };
  const a = createWatermarkWorker(worker), b = createWatermarkWorker(worker);
  const waiting = b.detect(greyImage(), { key: KEY }).then(() => 'answered', (e) => e.code);
  a.terminate();
  const settled = await Promise.race([waiting, new Promise((r) => setTimeout(() => r('still waiting after 5 s'), 5000))]);
  assert.is(settled, 'ERR_WORKER_TERMINATED');
  assert.is(await b.detect(greyImage(), { key: KEY }).then(() => 'answered', (e) => e.code), 'ERR_WORKER_TERMINATED');
  assert.is(terminated, 1);
}));

test('node worker_threads: a worker that does not answer: the call rejects with ERR_WORKER_TIMEOUT (the client\'s timeoutMs or the call\'s), its late answer is ignored, and the client works again once the worker does', async () => {
  const { Worker, MessageChannel } = await import('node:worker_threads');
  const { createWatermarkWorker } = await import('modelmark/canvas/worker');
  const { port1, port2 } = new MessageChannel();
  const thread = new Worker(new URL('./helpers/stalling-worker.mjs', import.meta.url), { workerData: { port: port2 }, transferList: [port2] });
  try {
    for (const bad of [0, -1, '5000', NaN, 2 ** 31, null]) {
      assert.throws(() => createWatermarkWorker(port1, { timeoutMs: bad }), (e) => e.code === 'ERR_INVALID_ARGUMENT' && /options\.timeoutMs/.test(e.message), String(bad));
    }
    assert.throws(() => createWatermarkWorker(port1, { timeout: 5000 }), (e) => e.code === 'ERR_INVALID_ARGUMENT' && /Unknown option "timeout"/.test(e.message));
    const client = createWatermarkWorker(port1, { timeoutMs: 300 });
    const badCall = await client.detect(greyImage(), { key: KEY }, { timeoutMs: 0 }).catch((e) => e);
    assert.is(badCall.code, 'ERR_INVALID_ARGUMENT');
    assert.match(badCall.message, /callOptions\.timeoutMs/);

    // The worker swallows these: each rejects at its timeout instead of pending for ever.
    const first = await client.detect(greyImage(), { key: KEY }).catch((e) => e);
    assert.is(first.code, 'ERR_WORKER_TIMEOUT');
    assert.match(first.message, /detect call within 300 ms/);
    const kept = greyImage();
    const second = await client.embed(kept, { key: KEY, payload: PAYLOAD }, { timeoutMs: 100, transfer: false }).catch((e) => e);
    assert.is(second.code, 'ERR_WORKER_TIMEOUT', 'the call\'s own timeout');
    assert.is(kept.data.length, 256 * 256 * 4, 'copied, not transferred');

    // A call with no limit waits; the worker recovers and answers the two timed-out calls first
    // (late: a detect result and marked pixels), then this one, which gets its own answer.
    const waiting = client.embed(greyImage(), { key: KEY, payload: PAYLOAD }, { timeoutMs: Infinity });
    const late = new Promise((resolve) => {
      const f = (e) => { if (e.data?.lateAnswers !== undefined) { port1.removeEventListener('message', f); resolve(e.data.lateAnswers); } };
      port1.addEventListener('message', f);
    });
    port1.postMessage({ wake: true });
    assert.is(await late, 3, 'the worker answered the two timed-out calls and the waiting one');
    const marked = await waiting;
    assert.ok(marked.data instanceof Uint8ClampedArray && marked.data.length === 256 * 256 * 4, 'the embed call gets marked pixels');
    // Later calls are answered (a generous timeout of the call's own: this machine may be busy).
    assert.is((await client.detect(marked, { key: KEY }, { timeoutMs: 60_000 })).payload, PAYLOAD);
  } finally {
    port1.close();
    await thread.terminate();
  }
});

test('node worker_threads: clients made and terminated in turn on one long-lived port leave no listeners on it (nor on a terminated worker)', () => withServedPort(async (port, createWatermarkWorker) => {
  const { getEventListeners } = await import('node:events');
  const TYPES = ['message', 'error', 'messageerror'];
  const count = (target) => TYPES.map((t) => `${t} ${getEventListeners(target, t).length}`).join(', ');
  const before = count(port);
  // A page that makes a client per task on a port it keeps: each client's listeners (and the
  // pending-call map they hold) stayed on the port after terminate(), 2 more per client.
  for (let i = 0; i < 40; i++) {
    const c = createWatermarkWorker(port);
    if (i % 10 === 0) assert.is((await c.detect(greyImage(), { key: KEY })).found, false);
    c.terminate();
  }
  assert.is(count(port), before, 'listeners on the port after 40 clients made and terminated');
  // A worker (a port with terminate()) handed to two clients: terminate() on one ends both, and
  // both clients' listeners come off it.
  const worker = {
    postMessage: (m, t) => port.postMessage(m, t),
    addEventListener: (type, f) => port.addEventListener(type, f),
    removeEventListener: (type, f) => port.removeEventListener(type, f),
    terminate: () => {},
  };
  const a = createWatermarkWorker(worker), b = createWatermarkWorker(worker);
  assert.is(await b.detect(greyImage(), { key: KEY }).then((r) => r.found), false);
  a.terminate();
  assert.is(count(port), before, 'listeners after terminate() on one of two clients of a worker');
  assert.is(await b.detect(greyImage(), { key: KEY }).then(() => 'answered', (e) => e.code), 'ERR_WORKER_TERMINATED');
}));

test('chromium: a display-p3 canvas\'s ImageData stays display-p3, in place and through the worker client (putImageData back on the P3 canvas changes no byte); half-float ImageData is refused by name', async () => {
  const r = await page.evaluate(([k, p]) => window.runColourSpace('/photos/mate-GreenMeadow.jpg', k, p), [KEY, PAYLOAD]);
  assert.equal(r.inPlace, { same: true, colorSpace: 'display-p3', size: [1280, 1024] });
  // The client built its copy as an sRGB ImageData: putImageData on the P3 canvas then converted
  // every pixel (about 3.9 million bytes changed, up to 24 levels: a visible colour shift).
  assert.equal(r.worker, { isImageData: true, colorSpace: 'display-p3', size: [1280, 1024], changedByPut: 0, found: true, payload: PAYLOAD });
  if (!r.float16.supported) {
    console.log('  (this Chromium has no rgba-float16 ImageData: half-float case not exercised)');
  } else {
    for (const name of ['embed', 'detect', 'client', 'fromCanvas']) {
      assert.is(r.float16[name]?.code, 'ERR_INVALID_ARGUMENT', `${name}: ${JSON.stringify(r.float16[name])}`);
      assert.ok(r.float16[name].invalidArgument, name);
      assert.match(r.float16[name].message, /8-bit RGBA.* for imageData\.pixelFormat but received "rgba-float16"/, name);
    }
    assert.is(r.float16.keptByClient, 256 * 256 * 4, 'refused before the transfer');
    assert.is(r.float16.canvas, PAYLOAD, 'a float16 canvas, through its 8-bit ImageData');
  }
  assert.equal(errors, []);
});

test('chromium: a photo with transparent and semi-transparent parts: alpha untouched; the mark survives the premultiplied canvas and PNG export', async () => {
  const r = await page.evaluate(([k, p]) => window.runAlpha('/photos/mate-GreenMeadow.jpg', k, p), [KEY, PAYLOAD]);
  assert.is(r.alphaChanged, 0, 'alpha untouched');
  assert.is(r.clear, 1024 * 322, 'the transparent quarter (320 columns), and the fade\'s first two columns (alpha rounds to 0)');
  assert.ok(r.visibleChanged > 500000, `visible pixels marked (${r.visibleChanged})`);
  for (const name of ['readBack', 'afterPng', 'canvas']) {
    assert.ok(r[name].found && r[name].pValue < 1e-12, `${name}: ${JSON.stringify(r[name])}`);
    assert.is(r[name].payload, PAYLOAD, name);
  }
  // The PNG the browser wrote (straight alpha), decoded by sharp in Node, RGBA to the core.
  const { data, info } = await sharp(Buffer.from(r.png)).raw().toBuffer({ resolveWithObject: true });
  assert.is(info.channels, 4);
  const d = (await createWatermarker({ key: KEY })).detect({ width: info.width, height: info.height, channels: 4, data });
  assert.is(d.payload, PAYLOAD);
  assert.ok(d.found && d.pValue < 1e-12, `sharp: p=${d.pValue}`);
  assert.equal(errors, []);
});

test.run();
