// modelmark/fabric in real Fabric 7, in Chromium: FabricImage + ModelmarkFilter, applyFilters()
// on the Canvas 2D backend (and WebGL where the browser has it), exports, serialisation without
// the key, fromObject round trips.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { createWatermarker } from 'modelmark';
import { fileRoute, openTestPage, withScaledPage } from './helpers/browser.mjs';

const PHOTOS = fileURLToPath(new URL('../../shared/photos/', import.meta.url));
const KEY = 'fabric plug-in test key';
const PAYLOAD = 'c0ffee00000000fb';

let t, page, errors, result;

test.before(async () => {
  const photo = await readFile(join(PHOTOS, 'skimage-motorcycle_left.png'));
  t = await openTestPage({ name: 'fabric', entries: { 'fabric.js': 'test/pages/fabric.mjs' }, routes: { '/photo.png': fileRoute(photo, 'image/png') } });
  ({ page, errors } = t);
  result = await page.evaluate(([k, p]) => window.runFabric('/photo.png', k, p), [KEY, PAYLOAD]);
});

test.after(async () => {
  await t?.close();
});

async function detectPng(dataUrl) {
  const png = Buffer.from(dataUrl.replace(/^data:image\/png;base64,/, ''), 'base64');
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return (await createWatermarker({ key: KEY })).detect({ width: info.width, height: info.height, channels: info.channels, data });
}

test('fabric: registered in classRegistry as Modelmark', () => {
  assert.ok(result.registered);
});

test('fabric (Canvas 2D backend): FabricImage + filter, applyFilters, export -> right payload', async () => {
  const r = result.twoD;
  assert.is(r.backend, '2d');
  assert.equal(r.chain, ['Brightness', 'Modelmark']);
  assert.equal(r.size, [741, 500]);
  assert.is(r.onElement, PAYLOAD, 'on the filtered element');
  assert.equal(r.placement, { rotation: 0, flipped: false, scale: r.placement.scale });
  assert.is(r.exported, PAYLOAD, 'on a StaticCanvas rendering it');
  const d = await detectPng(r.png);
  assert.ok(d.found);
  assert.is(d.payload, PAYLOAD, 'in the PNG from toDataURL, decoded by sharp');
});

test('fabric (WebGL backend, when the browser has WebGL): readback path marks too', async () => {
  if (!result.webgl) {
    console.log(`  (no WebGL in this Chromium; default backend ${result.defaultBackend}: WebGL path not exercised)`);
    assert.is(result.defaultBackend, '2d');
    return;
  }
  assert.is(result.defaultBackend, 'webgl', "Fabric's default where WebGL works");
  const r = result.gl;
  assert.is(r.backend, 'webgl');
  assert.equal(r.chain, ['Modelmark']);
  assert.is(r.onElement, '1111222233334444', 'last pass, drawn to the GL canvas');
  assert.equal(r.placement, result.twoD.placement, 'upright, not mirrored, same grid as the 2D backend');
  assert.is(r.exported, '1111222233334444');
  assert.is((await detectPng(r.png)).payload, '1111222233334444');
  const c = result.glChain;
  assert.equal(c.chain, ['Brightness', 'Modelmark', 'Brightness']);
  assert.equal(c.size, [741, 500]);
  assert.is(c.onElement, '5555666677778888', 'mid-chain, through textures');
  assert.equal(c.placement, result.twoD.placement);
  assert.is((await detectPng(c.png)).payload, '5555666677778888');
});

test('fabric: toObject keeps payload and strength, never the key', () => {
  assert.equal(result.filterJson, { type: 'Modelmark', payload: PAYLOAD, strength: 1 });
  assert.is(result.jsonHasKey, false);
  assert.is(result.instanceHasKey, false);
  assert.not.ok(result.ownKeys.includes('key'));
});

test('fabric: fromObject round trips (key provider, or key option); missing key and unprepared filters give typed errors', () => {
  assert.is(result.noKey?.code, 'ERR_INVALID_ARGUMENT', 'no provider and no key');
  assert.equal(result.withoutKeyFilters, ['Brightness'], 'Fabric drops the filter it could not revive...');
  assert.is(result.reviverError?.code, 'ERR_INVALID_ARGUMENT', '...and tells the reviver why');
  assert.equal(result.asked, { payload: PAYLOAD, strength: 1 }, 'the provider was asked');
  assert.ok(result.revivedIsFilter);
  assert.equal(result.revivedJson, { type: 'Modelmark', payload: PAYLOAD, strength: 1 });
  assert.is(result.revived, PAYLOAD, 'the revived filter marks');
  assert.equal(result.direct, { payload: 'abcdef0123456789', strength: 1.5 });
  assert.is(result.notReady?.code, 'ERR_NOT_READY');
  assert.is(result.strengthChanged?.code, 'ERR_NOT_READY');
  assert.match(result.strengthChanged.message, /strength/);
  assert.is(result.badPayload?.code, 'ERR_INVALID_ARGUMENT');
  assert.is(result.keyInConstructor?.code, 'ERR_INVALID_ARGUMENT');
  assert.not.match(result.keyInConstructor.message, new RegExp(KEY), 'the key is not echoed in the error');
  assert.equal(errors, []);
});

test('fabric on a HiDPI page (deviceScaleFactor 2), Fabric\'s default backend: the retina canvas and exports at multiplier 1 and 2 carry the mark', async () => {
  const { result: r, errors: pageErrors } = await withScaledPage(t, 2,
    (hidpi) => hidpi.evaluate(([k, p]) => window.runFabricHiDpi('/photo.png', k, p), [KEY, '0123456789abcdef']));
  assert.is(r.devicePixelRatio, 2);
  assert.is(r.enableGLFiltering, true);
  assert.is(r.backend, r.webgl ? 'webgl' : '2d', 'WebGL where the browser has it');
  assert.equal([r.screen.size, r.export1.size, r.export2.size], [[1482, 1000], [741, 500], [1482, 1000]]);
  for (const name of ['screen', 'export1', 'export2']) {
    assert.ok(r[name].found && r[name].pValue < 1e-12, `${name}: ${JSON.stringify(r[name])}`);
    assert.is(r[name].payload, '0123456789abcdef', name);
  }
  assert.equal(pageErrors, []);
});

test.run();
