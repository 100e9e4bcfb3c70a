// Page for test/plugin-fabric.test.mjs: real Fabric 7, a FabricImage of a photo with the
// Modelmark filter, applyFilters() on the Canvas 2D and (where the browser has WebGL) the WebGL
// filter backend, exports, toObject()/fromObject().
import { FabricImage, StaticCanvas, Canvas2dFilterBackend, WebGLFilterBackend, getFilterBackend, setFilterBackend, filters, classRegistry, config } from 'fabric';
import { ModelmarkFilter, setModelmarkKeyProvider } from 'modelmark/fabric';
import { detectImageData } from 'modelmark/canvas';

const errorInfo = (e) => ({ code: e?.code, message: String(e?.message ?? e) });

function pixels(canvas) {
  return canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
}

function webglAvailable() {
  try { return !!document.createElement('canvas').getContext('webgl'); } catch { return false; }
}

/** Mark with the given backend; detect on the filtered element and on a StaticCanvas export. */
const backendName = (b) => (b instanceof WebGLFilterBackend ? 'webgl' : b instanceof Canvas2dFilterBackend ? '2d' : 'other');
// A filter that runs (not neutral) yet leaves 8-bit pixels as they are, to put the mark mid-chain.
const nearlyNeutral = () => new filters.Brightness({ brightness: 1e-4 });

async function markWith(backend, url, key, payload, chain) {
  setFilterBackend(backend);
  const image = await FabricImage.fromURL(url);
  const filter = await ModelmarkFilter.create({ key, payload });
  image.filters.push(...chain(filter));
  image.applyFilters();
  const el = image.getElement();
  const onElement = await detectImageData(pixels(el), { key });
  const canvas = new StaticCanvas(undefined, { width: image.width, height: image.height, enableRetinaScaling: false });
  canvas.add(image);
  image.set({ left: 0, top: 0, originX: 'left', originY: 'top' });
  canvas.renderAll();
  const png = canvas.toDataURL({ format: 'png', multiplier: 1 });
  const exported = await detectImageData(pixels(canvas.lowerCanvasEl), { key });
  const t = onElement.transform;
  const out = { backend: backendName(backend), chain: image.filters.map((f) => f.type), size: [el.width, el.height], onElement: onElement.payload,
    // Upright and in place: a readback that flipped rows would still decode, through the search.
    placement: t && { rotation: t.rotation, flipped: t.flipped, scale: Math.round(t.scale * 100) / 100 }, exported: exported.payload, png };
  canvas.remove(image); // dispose() would dispose the image too
  canvas.dispose();
  return { out, image };
}

window.runFabric = async (url, key, payload) => {
  const out = { defaultBackend: backendName(getFilterBackend()), webgl: webglAvailable(), registered: classRegistry.getClass('Modelmark') === ModelmarkFilter };
  const { out: twoD, image } = await markWith(new Canvas2dFilterBackend(), url, key, payload, (f) => [nearlyNeutral(), f]);
  out.twoD = twoD;
  if (out.webgl) {
    // The mark as the last pass (drawn to the GL canvas), then mid-chain (into a texture).
    out.gl = (await markWith(new WebGLFilterBackend({ tileSize: 4096 }), url, key, '1111222233334444', (f) => [f])).out;
    out.glChain = (await markWith(new WebGLFilterBackend({ tileSize: 4096 }), url, key, '5555666677778888', (f) => [nearlyNeutral(), f, nearlyNeutral()])).out;
  }
  setFilterBackend(new Canvas2dFilterBackend());
  // Serialisation: payload and strength, never the key.
  const object = image.toObject();
  const json = JSON.stringify(object);
  out.filterJson = object.filters.find((f) => f.type === 'Modelmark');
  out.jsonHasKey = json.includes(key);
  out.ownKeys = Object.keys(image.filters[1]);
  out.instanceHasKey = JSON.stringify(image.filters[1]).includes(key) || Object.values(image.filters[1]).includes(key);
  // Revived without a key anywhere: refused with a typed error.
  setModelmarkKeyProvider(null);
  try { await ModelmarkFilter.fromObject(out.filterJson); } catch (e) { out.noKey = errorInfo(e); }
  // Fabric 7 drops a filter whose fromObject rejects and reports it only to a reviver.
  let reviverError;
  const withoutKey = await FabricImage.fromObject(object, { reviver: (o, instance, error) => { if (error) reviverError = errorInfo(error); } });
  out.withoutKeyFilters = withoutKey.filters.map((f) => f.type);
  out.reviverError = reviverError;
  // With a key provider: FabricImage.fromObject revives a working filter.
  let asked = null;
  setModelmarkKeyProvider((f) => { asked = f; return key; });
  const revived = await FabricImage.fromObject(object);
  out.asked = asked;
  const rf = revived.filters.find((f) => f.type === 'Modelmark');
  out.revivedIsFilter = rf instanceof ModelmarkFilter;
  out.revivedJson = rf.toObject();
  revived.applyFilters();
  out.revived = (await detectImageData(pixels(revived.getElement()), { key })).payload;
  setModelmarkKeyProvider(null);
  // fromObject with the key as an option, other payload and strength.
  const direct = await ModelmarkFilter.fromObject({ type: 'Modelmark', payload: 'abcdef0123456789', strength: 1.5 }, { key });
  const img2 = await FabricImage.fromURL(url);
  img2.filters = [direct];
  img2.applyFilters();
  out.direct = { payload: (await detectImageData(pixels(img2.getElement()), { key })).payload, strength: direct.strength };
  // Not prepared, or strength changed after prepare: typed error from applyFilters.
  img2.filters = [new ModelmarkFilter({ payload: 'abcdef0123456789' })];
  try { img2.applyFilters(); } catch (e) { out.notReady = errorInfo(e); }
  direct.strength = 2;
  img2.filters = [direct];
  try { img2.applyFilters(); } catch (e) { out.strengthChanged = errorInfo(e); }
  try { new ModelmarkFilter({ payload: 'xyz' }); } catch (e) { out.badPayload = errorInfo(e); }
  try { new ModelmarkFilter({ payload: '01', key }); } catch (e) { out.keyInConstructor = errorInfo(e); }
  return out;
};

// On a HiDPI page (devicePixelRatio 2), with Fabric's own backend choice (config.enableGLFiltering:
// WebGL where it works): a StaticCanvas with retina scaling draws at 2x; exports at multiplier 1 and 2.
window.runFabricHiDpi = async (url, key, payload) => {
  const out = { devicePixelRatio, enableGLFiltering: config.enableGLFiltering, backend: backendName(getFilterBackend()), webgl: webglAvailable() };
  const image = await FabricImage.fromURL(url);
  image.filters.push(await ModelmarkFilter.create({ key, payload }));
  image.applyFilters();
  const canvas = new StaticCanvas(undefined, { width: image.width, height: image.height });
  canvas.add(image);
  image.set({ left: 0, top: 0, originX: 'left', originY: 'top' });
  canvas.renderAll();
  const summary = (el, r) => ({ size: [el.width, el.height], found: r.found, payload: r.payload, pValue: r.pValue });
  out.screen = summary(canvas.lowerCanvasEl, await detectImageData(pixels(canvas.lowerCanvasEl), { key }));
  for (const multiplier of [1, 2]) {
    const el = canvas.toCanvasElement(multiplier);
    out[`export${multiplier}`] = summary(el, await detectImageData(pixels(el), { key }));
  }
  canvas.remove(image);
  canvas.dispose();
  return out;
};

window.ready = true;
