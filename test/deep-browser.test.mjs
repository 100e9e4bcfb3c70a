// The demo page's deep (logo) watermark section end to end in headless Chromium, checked against
// modelmark/node's createDeepWatermarker on the same bytes:
// - Chromium as the other browser tests launch it (--disable-gpu): navigator.gpu is there but
//   gives no adapter, so 'Auto' must fall back to WebAssembly (and say so), and asking for
//   WebGPU explicitly is an error in the page. A held-out photo (mate-Storm.jpg, not used in
//   training) is marked in the page; the downloaded PNG is extracted in Node and in the page
//   (same NC within 0.01, same found); the clean photo likewise; the enlarged logo on screen
//   matches Node's extraction.
// - Chromium with WebGPU enabled (--enable-unsafe-webgpu; SwiftShader's software adapter on a
//   machine without a GPU): 'Auto' runs on WebGPU when the page gets an adapter (else WebAssembly,
//   reported); marked pixels and NC agree with Node's WebAssembly run.
// With the trained models (models/, not development ones) it also asserts found on the marked
// photo, not found on the clean one, and a visible logo; with development models (random
// weights, before models/ exists) only the plumbing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { createDeepWatermarker, loadDeepModels } from 'modelmark/node';
import { launchChromium, serveStatic, watchErrors } from './helpers/browser.mjs';
import { deepModelsForTest } from './helpers/deep-models.mjs';
import { buildWeb } from '../scripts/build-web.mjs';

const PHOTO = fileURLToPath(new URL('../../shared/photos/mate-Storm.jpg', import.meta.url));
const SMALL = fileURLToPath(new URL('../../shared/photos/skimage-astronaut.png', import.meta.url));

let dir, models, server, deep, threshold;
const browsers = [];

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mm-deep-web-'));
  models = await deepModelsForTest();
  await buildWeb(join(dir, 'web'), { models: models.dir });
  server = await serveStatic(join(dir, 'web'));
  deep = await createDeepWatermarker({ models: await loadDeepModels(models.dir) });
  threshold = deep.meta.threshold;
  console.log(`deep-browser: ${models.real ? 'trained models' : 'development models (random weights): plumbing only'} from ${models.dir}`);
});

test.after(async () => {
  for (const b of browsers) await b.close().catch(() => {});
  await server?.close();
  await deep?.dispose();
  await models?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The demo page in a fresh browser: { page, errors }. */
async function openDemo(options) {
  const browser = await launchChromium(options);
  browsers.push(browser);
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${server.url}/index.html`);
  await page.waitForSelector('body[data-state="ready"]');
  return { page, errors };
}

async function loadImage(page, file) {
  await page.setInputFiles('#file', file);
  await page.waitForSelector('body[data-state="loaded"]');
}

/** Click a deep button and wait for the section to settle; returns what the page shows. */
async function deepRun(page, button, { timeout = 120_000, expectError = false } = {}) {
  await page.getByRole('button', { name: button, exact: true }).click();
  await page.waitForSelector('#deep:not([data-state="working"]):not([data-state="loading"])', { timeout });
  const r = await page.evaluate(() => {
    const text = (id) => document.getElementById(id).textContent;
    return {
      state: document.getElementById('deep').dataset.state, error: text('deep-error'), status: text('deep-status'),
      found: text('deep-found'), nc: Number(text('deep-nc')), threshold: Number(text('deep-threshold')),
      provider: text('deep-provider-used'), note: text('deep-provider-note'), psnr: Number(text('deep-psnr')),
      markProvider: text('deep-mark-provider'),
    };
  });
  if (!expectError && r.state === 'error') throw new Error(`the page reports an error: ${r.error}`);
  return r;
}

async function download(page, name) {
  const [d] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download the logo-marked PNG' }).click()]);
  const path = join(dir, name);
  await d.saveAs(path);
  return { path, suggested: d.suggestedFilename() };
}

/** An image file decoded in Node as the runner takes it. */
async function decode(path) {
  const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: info.channels, data };
}

/**
 * The grey levels of the enlarged logo canvas as shown on screen: the centre of each of the
 * logoSize² blocks in an element screenshot (1 px border, 256 px canvas).
 */
async function screenLogo(page, id = '#deep-extracted') {
  const shot = await page.locator(id).screenshot();
  const { data, info } = await sharp(shot).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const n = deep.meta.logoSize, cell = 256 / n, grey = new Uint8Array(n * n);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) grey[y * n + x] = data[((1 + y * cell + cell / 2) * info.width + 1 + x * cell + cell / 2) * 3];
  }
  return grey;
}

const meanAbs = (a, b) => a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;
const stdev = (a) => { const m = a.reduce((s, v) => s + v, 0) / a.length; return Math.sqrt(a.reduce((s, v) => s + (v - m) ** 2, 0) / a.length); };

// ---- Chromium without a GPU: WebAssembly, by fallback.
let page, errors, markedPng, nodeMarked, markedLogo;

test('deep section: labelled controls, disabled until an image is loaded; nothing fetched before use', async () => {
  ({ page, errors } = await openDemo());
  assert.is(await page.getByRole('heading', { name: 'Logo watermark (deep)' }).count(), 1);
  assert.is(await page.getByLabel('Execution provider').inputValue(), 'auto');
  assert.ok(await page.getByRole('button', { name: 'Mark with the logo' }).isDisabled());
  assert.ok(await page.getByRole('button', { name: 'Extract logo', exact: true }).isDisabled());
  assert.is(await page.locator('#deep').getAttribute('data-state'), 'idle');
  // navigator.gpu exists in this Chromium, but --disable-gpu leaves it without an adapter.
  const gpu = await page.evaluate(async () => (navigator.gpu ? String(!!(await navigator.gpu.requestAdapter())) : 'no navigator.gpu'));
  console.log(`deep-browser: default Chromium: WebGPU adapter: ${gpu}`);
  await loadImage(page, PHOTO);
  assert.not.ok(await page.getByRole('button', { name: 'Mark with the logo' }).isDisabled());
});

test('WebGPU asked for without an adapter: a clear error in the page', async () => {
  await page.getByLabel('Execution provider').selectOption('webgpu');
  const r = await deepRun(page, 'Extract logo', { expectError: true });
  assert.is(r.state, 'error');
  assert.match(r.error, /WebGPU was asked for, but (WebGPU gave no adapter|this browser has no WebGPU).*ERR_NO_WEBGPU/);
  await page.getByLabel('Execution provider').selectOption('auto');
});

test('Mark (auto → wasm): the logo-marked photo, difference view, PSNR; the download decodes in Node', async () => {
  const r = await deepRun(page, 'Mark with the logo', { timeout: 180_000 });
  assert.is(r.state, 'marked');
  assert.is(r.markProvider, 'wasm');
  assert.match(r.note, /WebGPU gave no adapter|this browser has no WebGPU/);
  assert.match(r.note, /using WebAssembly/);
  assert.ok(r.psnr > (models.real ? 30 : 20) && r.psnr < 80, `PSNR ${r.psnr}`);
  console.log(`deep-browser: marked ${PHOTO.split('/').pop()} on ${r.markProvider} (${r.status}) [${r.note}]`);
  const diff = await sharp(await page.locator('#deep-diff').screenshot()).stats();
  assert.ok(diff.channels[0].stdev > 2, `difference view stdev ${diff.channels[0].stdev}`);

  const d = await download(page, 'storm-logo.png');
  assert.is(d.suggested, 'mate-Storm-logo.png');
  markedPng = d.path;
  const img = await decode(markedPng);
  assert.is(img.width, 1920);
  assert.is(img.height, 1280);
  nodeMarked = await deep.extract(img);
  if (models.real) assert.ok(nodeMarked.found, `Node finds the logo in the page's marked PNG (NC ${nodeMarked.nc})`);
});

test('Extract in the page on the downloaded PNG: same NC and found as Node; the logo on screen is Node\'s', async () => {
  await loadImage(page, markedPng);
  const r = await deepRun(page, 'Extract logo');
  assert.is(r.provider, 'wasm');
  assert.ok(Math.abs(r.nc - nodeMarked.nc) <= 0.01, `page NC ${r.nc}, Node NC ${nodeMarked.nc}`);
  assert.is(r.found, nodeMarked.found ? 'yes' : 'no');
  assert.is(r.state, nodeMarked.found ? 'found' : 'not-found');
  assert.ok(Math.abs(r.threshold - threshold) < 1e-4);
  if (models.real) assert.is(r.found, 'yes');
  markedLogo = await screenLogo(page);
  const err = meanAbs(markedLogo, nodeMarked.logo.data);
  assert.ok(err <= 2, `screen logo vs Node's extraction: mean abs difference ${err}`);
  if (models.real) assert.ok(stdev(markedLogo) > 20, `the extracted logo shows (grey stdev ${stdev(markedLogo)})`);
  // The models' logo next to it, from deep.json.
  const expected = await screenLogo(page, '#deep-expected');
  assert.ok(stdev(expected) > 20, 'the models\' logo is drawn');
  console.log(`deep-browser: marked photo: page NC ${r.nc} (${r.found}), Node NC ${nodeMarked.nc.toFixed(4)}, threshold ${threshold}`);

  // The in-memory marked image gives the same (the PNG is lossless).
  const again = await deepRun(page, 'Extract from the logo-marked image');
  assert.ok(Math.abs(again.nc - r.nc) <= 1e-3, `${again.nc} vs ${r.nc}`);
});

test('Extract in the page on the clean photo: same NC as Node, not found with the trained models', async () => {
  await loadImage(page, PHOTO);
  const r = await deepRun(page, 'Extract logo');
  const node = await deep.extract(await decode(PHOTO));
  assert.is(r.provider, 'wasm');
  assert.ok(Math.abs(r.nc - node.nc) <= 0.01, `page NC ${r.nc}, Node NC ${node.nc}`);
  assert.is(r.found, node.found ? 'yes' : 'no');
  console.log(`deep-browser: clean photo: page NC ${r.nc} (${r.found}), Node NC ${node.nc.toFixed(4)}`);
  const clean = await screenLogo(page);
  assert.ok(meanAbs(clean, node.logo.data) <= 2, 'screen logo vs Node\'s extraction');
  if (models.real) {
    assert.is(r.found, 'no');
    assert.is(r.state, 'not-found');
    assert.ok(meanAbs(clean, markedLogo) > 10, `the clean extraction differs from the marked one (${meanAbs(clean, markedLogo)})`);
  }
  assert.equal(errors, []);
});

// ---- Chromium with WebGPU enabled.
test('WebGPU (when Chromium gives an adapter, else the WebAssembly fallback): mark and extract agree with Node', async () => {
  const { page: gpuPage, errors: gpuErrors } = await openDemo({ webgpu: true });
  const adapter = await gpuPage.evaluate(async () => {
    const a = await navigator.gpu?.requestAdapter();
    return a ? `${a.info?.vendor ?? ''} ${a.info?.architecture ?? ''}${a.info?.isFallbackAdapter ? ' (fallback adapter)' : ''}`.trim() : null;
  });
  await loadImage(gpuPage, SMALL);
  const m = await deepRun(gpuPage, 'Mark with the logo', { timeout: 300_000 });
  const want = adapter ? 'webgpu' : 'wasm';
  console.log(`deep-browser: WebGPU-enabled Chromium: adapter ${adapter ?? 'none'}; mark ran on ${m.markProvider} (${m.status}) [${m.note}]`);
  assert.is(m.markProvider, want, m.note);
  const d = await download(gpuPage, 'astronaut-logo.png');
  const pageMarked = await decode(d.path);
  const nodeMarkedSmall = await deep.embed(await decode(SMALL));
  let max = 0, sum = 0;
  for (let i = 0, j = 0; i < nodeMarkedSmall.data.length; i += 3, j += 4) {
    for (let c = 0; c < 3; c++) {
      const e = Math.abs(pageMarked.data[j + c] - nodeMarkedSmall.data[i + c]);
      max = Math.max(max, e); sum += e;
    }
  }
  const mean = sum / (nodeMarkedSmall.data.length);
  console.log(`deep-browser: marked pixels, page (${want}) vs Node (wasm): max abs difference ${max}, mean ${mean.toFixed(4)}`);
  assert.ok(max <= 2 && mean < 0.05, `marked pixels: max ${max}, mean ${mean}`);

  const x = await deepRun(gpuPage, 'Extract from the logo-marked image', { timeout: 300_000 });
  assert.is(x.provider, want);
  const node = await deep.extract(pageMarked);
  console.log(`deep-browser: extract on ${x.provider}: page NC ${x.nc}, Node NC ${node.nc.toFixed(4)} (${x.status})`);
  assert.ok(Math.abs(x.nc - node.nc) <= 0.01, `page NC ${x.nc}, Node NC ${node.nc}`);
  assert.is(x.found, node.found ? 'yes' : 'no');
  if (models.real) assert.is(x.found, 'yes');
  assert.equal(gpuErrors, []);
});

test.run();
