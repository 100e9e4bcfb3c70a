// modelmark/konva in real Konva, in Chromium: stage + Konva.Image of a real photo, cache(), the
// Modelmark filter, export at pixel ratio 1, detect (in the page and, from the PNG, in Node).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { createWatermarker } from 'modelmark';
import { fileRoute, openTestPage, ROOT, withScaledPage } from './helpers/browser.mjs';

const PHOTOS = fileURLToPath(new URL('../../shared/photos/', import.meta.url));
const KEY = 'konva plug-in test key';
const PAYLOAD = 'c0ffee000000000a';

let t, page, errors;

test.before(async () => {
  const photo = await readFile(join(PHOTOS, 'mate-FreshFlower.jpg'));
  t = await openTestPage({ name: 'konva', entries: { 'konva.js': 'test/pages/konva.mjs' }, routes: { '/photo.jpg': fileRoute(photo, 'image/jpeg') } });
  ({ page, errors } = t);
});

test.after(async () => {
  await t?.close();
});

test('the plug-in does not import Konva (it takes yours, so Konva is never bundled twice)', async () => {
  const js = await readFile(join(ROOT, 'dist/plugins/konva/index.js'), 'utf8');
  const code = js.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  assert.match(code, /^import .* from 'modelmark';$/m, 'the import statements are where this test looks');
  assert.not.match(code, /^\s*(import|export)\b[^;\n]*['"]konva/m);
  assert.not.match(code, /\bimport\s*\(\s*['"]konva/);
  assert.not.match(code, /require\(\s*['"]konva/);
});

let result;

test('konva: Konva.Image of a real photo, cache(), the filter, stage export at pixel ratio 1 -> right payload', async () => {
  result = await page.evaluate(([k, p]) => window.runKonva('/photo.jpg', k, p, '00000000000000ff'), [KEY, PAYLOAD]);
  assert.ok(result.isFunction);
  assert.equal(result.size, [1600, 1203]);
  assert.ok(result.found, `found (p=${result.pValue})`);
  assert.is(result.payload, PAYLOAD);
  assert.ok(result.pValue < 1e-12);
  assert.is(result.plainFound, false, 'the unfiltered photo is unmarked');
});

test('konva: the PNG from stage.toDataURL decodes (sharp) to the right payload in Node', async () => {
  const png = Buffer.from(result.png.replace(/^data:image\/png;base64,/, ''), 'base64');
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const r = (await createWatermarker({ key: KEY })).detect({ width: info.width, height: info.height, channels: info.channels, data });
  assert.ok(r.found);
  assert.is(r.payload, PAYLOAD);
});

test('konva: modelmarkPayload getter/setter, serialisation, re-filtering on change, fallback payload, typed errors', () => {
  assert.is(result.attr, PAYLOAD, 'set from the constructor config, read by the getter');
  assert.is(result.json, PAYLOAD, 'in node.toJSON()');
  assert.is(result.attrAfterBigint, '0000000000001234', 'a bigint is stored as 16 hex digits');
  assert.is(result.afterSet, '0000000000001234', 'setting the attribute re-ran the filter');
  assert.is(result.badSet?.code, 'ERR_INVALID_ARGUMENT');
  assert.is(result.attrAfterBad, '0000000000001234', 'a refused value leaves the attribute');
  assert.is(result.fallback, '00000000000000ff', 'options.payload when the node has none');
  assert.is(result.badKonva?.code, 'ERR_INVALID_ARGUMENT');
  assert.is(result.badPayload?.code, 'ERR_INVALID_ARGUMENT');
  assert.equal(errors, []);
});

test('konva on a HiDPI page (deviceScaleFactor 2): the default 2x cache is marked, and the mark is found in stage exports at pixel ratio 1 and 2', async () => {
  const { result: r, errors: pageErrors } = await withScaledPage(t, 2,
    (hidpi) => hidpi.evaluate(([k, p]) => window.runKonvaHiDpi('/photo.jpg', k, p), [KEY, PAYLOAD]));
  assert.equal([r.devicePixelRatio, r.konvaPixelRatio], [2, 2]);
  assert.equal(r.filtered, [3200, 2406, 2], 'the filter ran on the 2x cache');
  assert.equal(r.export1.size, [1600, 1203]);
  assert.equal(r.export2.size, [3200, 2406]);
  for (const name of ['export1', 'export2']) {
    assert.ok(r[name].found && r[name].pValue < 1e-12, `${name}: ${JSON.stringify(r[name])}`);
    assert.is(r[name].payload, PAYLOAD, name);
  }
  assert.equal(pageErrors, []);
});

test.run();
