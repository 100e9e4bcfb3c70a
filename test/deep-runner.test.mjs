// The deep watermark's runner (modelmark/deep, and modelmark/node's loader): embed and extract
// around the ONNX networks, checked against plain-JS references (test/ref.mjs) that call
// onnxruntime-web directly. Uses the shipped models in models/ when they are there
// (models/deep.json); otherwise development models with random weights, exported into a
// temporary folder by our own exporter (the contract, shapes and plumbing are the same).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-web';
import { createDeepWatermarker as createCore, checkDeepMeta, ModelError } from '../dist/deep/index.js';
import {
  createDeepWatermarker, loadDeepModels, ModelmarkError, InvalidArgumentError, ImageSizeError, FileError,
} from '../dist/node/index.js';
import * as ref from './ref.mjs';
import { onnxRoot } from '../dist/train/onnx-export.js';
import { mulberry32 } from '../bench/attacks.mjs';
import { writeDevModels } from '../bench/deep-dev-models.mjs';

const MODELS = new URL('../models/', import.meta.url);
const REAL = fs.existsSync(new URL('deep.json', MODELS));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmark-deep-'));

async function modelsDir() {
  if (REAL) return fileURLToPath(MODELS);
  const dir = path.join(tmp, 'models');
  await writeDevModels(dir);
  return dir;
}

const dir = await modelsDir();
const models = await loadDeepModels(dir);
const meta = checkDeepMeta(models.meta);
const W = meta.workSize;
const deep = await createCore({ models });
// Reference sessions, created directly with onnxruntime-web.
const hRef = await ort.InferenceSession.create(models.h, { executionProviders: ['wasm'] });
const rRef = await ort.InferenceSession.create(models.r, { executionProviders: ['wasm'] });

/** A natural-looking image: smooth colour gradients, edges and some noise; alpha varies. */
function makeImage(w, h, ch, seed = 1, Array = Uint8Array) {
  const rand = mulberry32(seed);
  const data = new Array(w * h * ch);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = (y * w + x) * ch;
      const base = [
        128 + 90 * Math.sin(x / 17 + seed) * Math.cos(y / 23),
        120 + 80 * Math.cos((x + y) / 31),
        110 + 70 * Math.sin((x - 2 * y) / 13) + (x > w / 2 ? 40 : -20),
      ];
      for (let c = 0; c < Math.min(ch, 3); c++) data[p + c] = Math.max(0, Math.min(255, Math.round(base[c] + 20 * (rand() - 0.5))));
      if (ch === 4) data[p + 3] = (x * 5 + y * 3) & 255;
    }
  }
  return { width: w, height: h, data, channels: ch };
}

/** The logo map H takes, written independently of the runner: logo upsampled and tiled. */
function logoMap(logo, ls, tile, W) {
  const map = new Float32Array(W * W);
  const f = tile / ls;
  for (let y = 0; y < W; y++) for (let x = 0; x < W; x++) map[y * W + x] = logo[Math.floor((y % tile) / f) * ls + Math.floor((x % tile) / f)];
  return map;
}

/** The reference embed: ref.deepInput, H through onnxruntime directly, ref.addResidual. */
async function refEmbed(img, logo = meta.logo) {
  const input = Float32Array.from(ref.deepInput(img.data, img.width, img.height, img.channels, W, W));
  const out = await hRef.run({
    image: new ort.Tensor('float32', input, [1, 3, W, W]),
    logo: new ort.Tensor('float32', logoMap(logo, meta.logoSize, meta.tile, W), [1, 1, W, W]),
  });
  return ref.addResidual(img.data, img.width, img.height, img.channels, out.residual.data, W, W);
}

/** The reference extraction: tiles of ref.deepInput, R directly, the tile mean and its Pearson NC. */
async function refExtract(img) {
  const planes = ref.deepInput(img.data, img.width, img.height, img.channels, W, W);
  const tiles = Float32Array.from(ref.deepTiles(planes, W, W, 3, meta.tile));
  const T = (W / meta.tile) ** 2, n = meta.logoSize ** 2;
  const out = await rRef.run({ image: new ort.Tensor('float32', tiles, [T, 3, meta.tile, meta.tile]) });
  return ref.tileNc(out.logo.data, T, n, meta.logo);
}

/** At most 1 apart, and at most 1 in 1000 values (3 in a small image) off by one. */
function closeBytes(actual, expected, what) {
  assert.is(actual.length, expected.length, `${what}: lengths differ`);
  let differ = 0, max = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (d) differ++;
    if (d > max) max = d;
  }
  assert.ok(max <= 1, `${what}: max |runner - reference| = ${max}`);
  assert.ok(differ <= Math.max(3, expected.length / 1000), `${what}: ${differ} of ${expected.length} values differ by 1`);
}

const CASES = [
  [301, 203, 4, Uint8ClampedArray], [257, 131, 3, Uint8Array], [130, 517, 1, Uint8Array],
  [256, 256, 4, Uint8Array], [640, 360, 3, Uint8Array],
];

/** A grey image as RGB (each sample three times): what the deep mark turns grey into. */
const asRgb = (img) => ({ ...img, channels: 3, data: Uint8Array.from({ length: img.data.length * 3 }, (_, i) => img.data[Math.floor(i / 3)]) });

test(`embed: size, alpha kept, colour channels kept and grey made RGB, input untouched; the residual matches the reference (${REAL ? 'shipped' : 'development'} models)`, async () => {
  for (const [w, h, ch, Array] of CASES) {
    const img = makeImage(w, h, ch, w, Array);
    const copy = img.data.slice();
    const marked = await deep.embed(img);
    const what = `${w}x${h}x${ch}`;
    assert.is(marked.width, w);
    assert.is(marked.height, h);
    assert.is(marked.channels, ch === 1 ? 3 : ch);
    assert.instance(marked.data, Array, `${what}: pixel array type kept`);
    assert.ok(marked.data !== img.data, `${what}: a new pixel array`);
    assert.equal(img.data, copy, `${what}: the input was modified`);
    if (ch === 4) for (let i = 3; i < w * h * 4; i += 4) assert.is(marked.data[i], img.data[i], `${what}: alpha of pixel ${i >> 2}`);
    const base = ch === 1 ? asRgb(img) : img;
    let changed = 0;
    for (let i = 0; i < base.data.length; i++) if (marked.data[i] !== base.data[i]) changed++;
    assert.ok(changed > 0, `${what}: nothing was added`);
    closeBytes(marked.data, await refEmbed(base), `${what} embed`);
  }
});

test('embed with options.logo equal to the models\' logo gives the same pixels', async () => {
  const logoImage = { width: meta.logoSize, height: meta.logoSize, data: Buffer.from(models.meta.logo, 'base64') };
  const withLogo = await createCore({ models, logo: logoImage });
  try {
    const img = makeImage(200, 150, 3, 7);
    assert.equal((await withLogo.embed(img)).data, (await deep.embed(img)).data);
  } finally {
    await withLogo.dispose();
  }
});

test('extract: a logoSize² grey logo and an NC in [-1, 1] matching the reference', async () => {
  for (const [w, h, ch, Array] of CASES.slice(0, 3)) {
    const img = makeImage(w, h, ch, w + 1, Array);
    for (const image of [img, await deep.embed(img)]) {
      const res = await deep.extract(image);
      assert.is(res.logo.width, meta.logoSize);
      assert.is(res.logo.height, meta.logoSize);
      assert.is(res.logo.channels, 1);
      assert.is(res.logo.data.length, meta.logoSize ** 2);
      assert.ok(res.nc >= -1 && res.nc <= 1, `nc ${res.nc}`);
      assert.is(res.threshold, meta.threshold);
      assert.is(res.found, res.nc >= meta.threshold);
      const want = await refExtract(image);
      assert.ok(Math.abs(res.nc - want.nc) < 1e-4, `${w}x${h}x${ch}: nc ${res.nc}, reference ${want.nc}`);
      const logo = Uint8Array.from(want.e, (v) => Math.max(0, Math.min(255, Math.round((v + 1) * 127.5))));
      closeBytes(res.logo.data, logo, `${w}x${h}x${ch} extracted logo`);
    }
  }
});

test('concurrent calls give the same results as one at a time', async () => {
  const imgs = [makeImage(300, 200, 4, 11), makeImage(180, 260, 3, 12), makeImage(200, 200, 1, 13)];
  const one = [];
  for (const img of imgs) one.push([(await deep.embed(img)).data, (await deep.extract(img)).nc]);
  const all = await Promise.all(imgs.flatMap((img) => [deep.embed(img), deep.extract(img)]));
  imgs.forEach((_, i) => {
    assert.equal(all[2 * i].data, one[i][0], `embed ${i}`);
    assert.is(all[2 * i + 1].nc, one[i][1], `extract ${i}`);
  });
});

if (REAL) {
  test('shipped models: a marked image is found, with the models\' threshold', async () => {
    const marked = await deep.embed(makeImage(640, 480, 3, 3));
    const res = await deep.extract(marked);
    assert.ok(res.found, `nc ${res.nc} below the threshold ${res.threshold}`);
  });
}

/** Await fn, expect a ModelmarkError of `Class` with `code` whose message mentions `mentions`. */
async function rejects(fn, Class, code, ...mentions) {
  let error;
  try { await fn(); } catch (err) { error = err; }
  assert.ok(error, `expected ${Class.name} ${code}, but nothing was thrown`);
  assert.instance(error, Class, `expected ${Class.name}, got ${error?.name}: ${error?.message}`);
  assert.instance(error, ModelmarkError);
  assert.is(error.code, code);
  for (const m of mentions) assert.ok(m instanceof RegExp ? m.test(error.message) : error.message.includes(m), `message ${JSON.stringify(error.message)} should mention ${m}`);
  return error;
}

test('bad arguments give typed errors naming the parameter', async () => {
  await rejects(() => createCore(null), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options');
  await rejects(() => createCore({}), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.models');
  await rejects(() => createCore({ models: { ...models, h: 'h.onnx' } }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.models.h');
  await rejects(() => createCore({ models, threshold: 2 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.threshold');
  await rejects(() => createCore({ models, executionProviders: [] }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.executionProviders');
  await rejects(() => createCore({ models, numThreads: 0 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.numThreads');
  await rejects(() => createCore({ models, logo: { width: 4, height: 4, data: new Uint8Array(5) } }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.logo');
  await rejects(() => deep.embed({ width: 100, height: 100, data: new Uint8Array(100 * 100 * 4) }), ImageSizeError, 'ERR_IMAGE_TOO_SMALL', '100x100');
  await rejects(() => deep.embed({ width: 200, height: 200, data: new Uint8Array(7) }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'image.data');
  await rejects(() => deep.extract('photo.jpg'), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'image');
  await rejects(() => createCore({ models, treshold: 0.9 }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', '"treshold"');
  // A logo the models were not trained on could never be extracted: refused.
  const square = { width: 32, height: 32, channels: 1, data: new Uint8Array(32 * 32).map((_, i) => ((i >> 5) > 8 && (i >> 5) < 24 && (i & 31) > 8 && (i & 31) < 24 ? 255 : 0)) };
  await rejects(() => createCore({ models, logo: square }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.logo', 'train-deep');
  // maxPixels, as the classical watermarker's; and the longest side, whatever the pixel count.
  const small = await createCore({ models, maxPixels: 150 * 150 });
  try {
    await rejects(() => small.embed(makeImage(200, 200, 3, 1, Uint8Array)), ImageSizeError, 'ERR_IMAGE_TOO_LARGE', 'limit of 22,500 pixels');
  } finally {
    await small.dispose();
  }
  await rejects(() => deep.extract({ width: 70000, height: 128, data: new Uint8Array(70000 * 128) }), ImageSizeError, 'ERR_IMAGE_TOO_LARGE', '65535');
});

test('corrupt or incompatible models and bad meta give ModelError (ERR_MODEL)', async () => {
  const corrupt = models.h.slice(0, models.h.length >> 1);
  await rejects(() => createCore({ models: { ...models, h: corrupt } }), ModelError, 'ERR_MODEL', 'models.h', 'h.onnx');
  await rejects(() => createCore({ models: { ...models, r: new Uint8Array(1000).fill(7) } }), ModelError, 'ERR_MODEL', 'models.r');
  await rejects(() => createCore({ models: { ...models, h: new Uint8Array(0) } }), ModelError, 'ERR_MODEL', 'empty');
  // The networks swapped: R where H belongs has the wrong inputs.
  await rejects(() => createCore({ models: { ...models, h: models.r } }), ModelError, 'ERR_MODEL', 'inputs', 'logo');
  await rejects(() => createCore({ models: { ...models, r: models.h } }), ModelError, 'ERR_MODEL', 'models.r');
  for (const [field, value, mention] of [['format', 2, 'format'], ['workSize', 200, 'workSize'], ['tile', 62, 'tile'], ['logoSize', 16, 'logoSize'], ['threshold', 'high', 'threshold'], ['logo', 'AAAA', 'logo']]) {
    await rejects(() => createCore({ models: { ...models, meta: { ...models.meta, [field]: value } } }), ModelError, 'ERR_MODEL', 'deep.json', mention);
  }
  await rejects(() => createCore({ models: { ...models, meta: null } }), ModelError, 'ERR_MODEL', 'deep.json');
});

test('a disposed watermarker refuses to run', async () => {
  const d = await createCore({ models });
  await d.dispose();
  await d.dispose();
  await rejects(() => d.embed(makeImage(128, 128, 3)), ModelmarkError, 'ERR_DISPOSED', 'disposed');
});

test('modelmark/node: loadDeepModels errors name the file; createDeepWatermarker reads a folder', async () => {
  const empty = path.join(tmp, 'empty');
  fs.mkdirSync(empty);
  await rejects(() => loadDeepModels(empty), FileError, 'ERR_FILE', 'h.onnx', 'ENOENT');
  const broken = path.join(tmp, 'broken');
  fs.mkdirSync(broken);
  for (const f of ['h.onnx', 'r.onnx']) fs.copyFileSync(path.join(dir, f), path.join(broken, f));
  await rejects(() => loadDeepModels(broken), FileError, 'ERR_FILE', 'deep.json');
  fs.writeFileSync(path.join(broken, 'deep.json'), '{ "format": 1, ');
  await rejects(() => loadDeepModels(broken), ModelError, 'ERR_MODEL', 'deep.json', 'JSON');
  fs.writeFileSync(path.join(broken, 'deep.json'), JSON.stringify({ ...models.meta, tile: 128 }));
  await rejects(() => loadDeepModels(broken), ModelError, 'ERR_MODEL', 'logoSize');
  await rejects(() => loadDeepModels(''), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'dir');
  const d = await createDeepWatermarker({ models: await loadDeepModels(dir), threshold: -1 });
  try {
    const res = await d.extract(makeImage(160, 140, 4, 9));
    assert.is(res.found, true, 'threshold -1: always found');
    assert.is(res.threshold, -1);
  } finally {
    await d.dispose();
  }
});

test.after(async () => {
  await deep.dispose();
  await hRef.release();
  await rRef.release();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('embed: a Buffer in gives a Buffer out (the input\'s array type), grey made RGB too', async () => {
  for (const ch of [3, 1]) {
    const img = makeImage(257, 131, ch, 7);
    const marked = await deep.embed({ ...img, data: Buffer.from(img.data) });
    assert.ok(Buffer.isBuffer(marked.data), `${ch} channels: got a ${marked.data.constructor.name}`);
    assert.equal([...marked.data], [...(await deep.embed(img)).data], `${ch} channels: the same pixels as from a Uint8Array`);
  }
});

test('loadDeepModels refuses model files that are not regular files or are over the size limit, without reading them', async () => {
  const odd = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmark-deep-odd-'));
  try {
    for (const f of ['h.onnx', 'r.onnx', 'deep.json']) fs.copyFileSync(path.join(dir, f), path.join(odd, f));
    // A sparse h.onnx over 256 MiB: was read whole (and /dev/zero, never ending, took all memory).
    fs.rmSync(path.join(odd, 'h.onnx'));
    fs.writeFileSync(path.join(odd, 'h.onnx'), '');
    fs.truncateSync(path.join(odd, 'h.onnx'), 300 * 1024 * 1024);
    await rejects(() => loadDeepModels(odd), FileError, 'ERR_FILE', 'h.onnx', 'over the limit');
    fs.copyFileSync(path.join(dir, 'h.onnx'), path.join(odd, 'h.onnx'));
    fs.rmSync(path.join(odd, 'deep.json'));
    fs.symlinkSync('/dev/zero', path.join(odd, 'deep.json'));
    await rejects(() => loadDeepModels(odd), FileError, 'ERR_FILE', 'deep.json', 'a device');
  } finally {
    fs.rmSync(odd, { recursive: true, force: true });
  }
});

test('a valid ONNX model that does not take the meta\'s sizes gives ModelError (ERR_MODEL), at creation or when it runs', async () => {
  const MP = onnxRoot().lookupType('onnx.ModelProto');
  const edit = (bytes, fn) => { const m = MP.toObject(MP.decode(bytes), { longs: Number }); fn(m); return MP.encode(MP.fromObject(m)).finish(); };
  const dims = (m, i) => m.graph.input[i].type.tensor_type.shape.dim;
  // R declaring a fixed 128x128 input, where the meta's tile is 64: refused when created (it
  // failed on the first extract with onnxruntime's own untyped error).
  const fixedR = edit(models.r, (m) => { const d = dims(m, 0); d[2] = { dim_value: 2 * meta.tile }; d[3] = { dim_value: 2 * meta.tile }; });
  await rejects(() => createCore({ models: { ...models, r: fixedR } }), ModelError, 'ERR_MODEL', 'models.r', `tile ${meta.tile}`);
  const fixedH = edit(models.h, (m) => { for (const i of [0, 1]) { const d = dims(m, i); d[2] = { dim_value: 128 }; d[3] = { dim_value: 128 }; } });
  await rejects(() => createCore({ models: { ...models, h: fixedH } }), ModelError, 'ERR_MODEL', 'models.h', `workSize ${W}`);
  // R with dynamic sizes whose graph adds a fixed 8x8 constant: created, and fails when it runs.
  const addConst = edit(models.r, (m) => {
    m.graph.initializer.push({ name: 'k8', dims: [1, 3, 8, 8], data_type: 1, float_data: new Array(192).fill(0) });
    for (const n of m.graph.node) n.input = n.input.map((x) => (x === 'image' ? 'image8' : x));
    m.graph.node.unshift({ op_type: 'Add', input: ['image', 'k8'], output: ['image8'], name: 'add8' });
  });
  const d = await createCore({ models: { ...models, r: addConst } });
  try {
    await rejects(() => d.extract(makeImage(200, 160, 3)), ModelError, 'ERR_MODEL', 'extractor R', 'failed to run');
    assert.instance(await d.embed(makeImage(200, 160, 3)), Object, 'H still runs');
  } finally {
    await d.dispose();
  }
});

test('models.h and models.r must be genuine byte arrays: a Proxy or a subclass whose length lies is refused (ERR_INVALID_ARGUMENT)', async () => {
  await rejects(() => createCore({ models: { ...models, h: new Proxy(models.h, {}) } }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.models.h');
  await rejects(() => createCore({ models: { ...models, r: new Proxy(new Uint8Array(models.r).buffer, {}) } }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.models.r');
  const Lying = class extends Uint8Array { get length() { return 10; } get byteLength() { return 10; } };
  const d = await createCore({ models: { ...models, h: new Lying(models.h) } }); // measured by its real length
  await d.dispose();
});

test('options.logo must be a genuine 8-bit image: a Proxy, a lying subclass or missing data give ERR_INVALID_ARGUMENT (core and modelmark/node)', async () => {
  const ls = meta.logoSize;
  const Lying = class extends Uint8Array { get length() { return ls * ls; } get byteLength() { return ls * ls; } };
  for (const create of [createCore, createDeepWatermarker]) {
    const bad = [
      { width: ls, height: ls, channels: 1, data: new Proxy(new Uint8Array(ls * ls), {}) },
      { width: ls, height: ls, channels: 1, data: new Lying(16) },
      { width: ls, height: ls },
      { width: 100, height: 100 },
      { width: 100, height: 100, channels: 4, data: new Uint8Array(100) },
    ];
    for (const logo of bad) await rejects(() => create({ models, logo }), InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'options.logo');
  }
});

test('embed: pixels detached or shrunk while H runs are refused (ERR_INVALID_ARGUMENT); the copy\'s array is the checked one, not image.data read again', async () => {
  const img = makeImage(300, 200, 3, 3, Uint8Array);
  const p = deep.embed(img);
  structuredClone(img.data.buffer, { transfer: [img.data.buffer] }); // was: TypeError (detached ArrayBuffer)
  await rejects(() => p, InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'image.data', 'detached or resized');
  const ab = new ArrayBuffer(300 * 200 * 3, { maxByteLength: 300 * 200 * 3 });
  const q = deep.embed({ width: 300, height: 200, channels: 3, data: new Uint8Array(ab) });
  ab.resize(10); // was: resolved with the missing rows marked as black
  await rejects(() => q, InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'image.data');
  // A subclass whose length lies is measured truly, and the copy does not inherit the lie.
  const Lying = class extends Uint8Array { get length() { return 5; } };
  const src = makeImage(200, 150, 3, 4, Uint8Array);
  const marked = await deep.embed({ ...src, data: new Lying(src.data) });
  assert.is(marked.data.length, 200 * 150 * 3);
  // A getter that answers differently on a second read is read once.
  let reads = 0;
  const once = await deep.embed({ width: 200, height: 150, channels: 3, get data() { return reads++ ? null : src.data; } });
  assert.is(once.data.length, 200 * 150 * 3);
});

test('loadDeepModels reads a deep.json saved with a UTF-8 byte-order mark', async () => {
  const bom = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmark-deep-bom-'));
  try {
    for (const f of ['h.onnx', 'r.onnx']) fs.copyFileSync(path.join(dir, f), path.join(bom, f));
    fs.writeFileSync(path.join(bom, 'deep.json'), '\ufeff' + JSON.stringify(models.meta, null, 2));
    assert.equal((await loadDeepModels(bom)).meta, models.meta);
  } finally {
    fs.rmSync(bom, { recursive: true, force: true });
  }
});

test('a deep watermarker dropped without dispose() has its sessions released once collected; one still in use, or disposed, is not released (again)', async () => {
  // A fresh process with --expose-gc. onnxruntime-web holds each session in its WebAssembly
  // memory until release(): a server making a watermarker per request and dropping it grew by
  // the sessions every time. Releases are counted on onnxruntime's own InferenceSession.
  const { spawnSync } = await import('node:child_process');
  const script = `
    import * as ort from 'onnxruntime-web';
    import { createDeepWatermarker, loadDeepModels } from './dist/node/index.js';
    let released = 0;
    const release = ort.InferenceSession.prototype.release;
    ort.InferenceSession.prototype.release = function () { released++; return release.call(this); };
    const models = await loadDeepModels(process.argv[2]);
    const image = { width: 160, height: 128, channels: 3, data: new Uint8Array(160 * 128 * 3).fill(90) };
    // Collect, and let finalisers run, until want releases are seen (at most 100 rounds).
    const collect = async (want = Infinity) => {
      for (let i = 0; i < 100 && released < want; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 5)); }
    };
    for (let i = 0; i < 5; i++) await (await createDeepWatermarker({ models })).embed(image);
    await collect(10);
    const dropped = released;
    released = 0;
    // Only embed kept (the watermarker object let go): its sessions must stay.
    const { embed } = await createDeepWatermarker({ models });
    // Disposed, then dropped: released once, by dispose().
    const d = await createDeepWatermarker({ models });
    await d.embed(image);
    await d.dispose();
    await collect(3);
    const kept = (await embed(image)).width;
    console.log(JSON.stringify({ dropped, afterDispose: released, kept }));
  `;
  // A file, not -e: onnxruntime's worker threads inherit the process's flags, and
  // --input-type=module is refused without -e.
  const file = path.join(tmp, 'dropped.mjs');
  fs.writeFileSync(file, script.replace("'./dist/node/index.js'", JSON.stringify(new URL('../dist/node/index.js', import.meta.url).href))
    .replace("'onnxruntime-web'", JSON.stringify(import.meta.resolve('onnxruntime-web'))));
  const out = spawnSync(process.execPath, ['--expose-gc', file, dir], { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8', timeout: 60_000 });
  assert.is(out.status, 0, out.stderr);
  const r = JSON.parse(out.stdout.trim().split('\n').pop());
  assert.is(r.dropped, 10, 'five watermarkers dropped undisposed: their 10 sessions released');
  assert.is(r.afterDispose, 2, 'only the disposed watermarker\'s 2 sessions released, once; the one whose embed is kept, none');
  assert.is(r.kept, 160, 'embed kept without its watermarker object still runs');
});

test.run();
