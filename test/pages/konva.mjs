// Page for test/plugin-konva.test.mjs: a real Konva stage with a Konva.Image of a photo, cached
// and filtered with the Modelmark filter; exports at pixel ratio 1 and detects.
import Konva from 'konva';
import { createModelmarkFilter, registerModelmarkAttributes } from 'modelmark/konva';
import { detectImageData } from 'modelmark/canvas';

const errorInfo = (e) => ({ code: e?.code, message: String(e?.message ?? e) });

async function loadImage(url) {
  const img = new Image();
  img.src = url;
  await img.decode();
  return img;
}

function pixels(canvas) {
  return canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
}

/** A Konva stage in a new container, the size of the photo at `url`, with one layer. */
async function photoStage(url) {
  const photo = await loadImage(url);
  const container = document.createElement('div');
  document.body.append(container);
  const stage = new Konva.Stage({ container, width: photo.width, height: photo.height });
  const layer = new Konva.Layer();
  stage.add(layer);
  return { photo, stage, layer };
}

window.runKonva = async (url, key, payload, fallbackPayload) => {
  const { photo, stage, layer } = await photoStage(url);
  const out = { pixelRatio: Konva.pixelRatio };
  const Modelmark = await createModelmarkFilter({ key, Konva, payload: fallbackPayload });
  out.isFunction = typeof Modelmark === 'function';
  const image = new Konva.Image({ image: photo, x: 0, y: 0, modelmarkPayload: payload });
  layer.add(image);
  image.cache({ pixelRatio: 1 });
  image.filters([Modelmark]);
  layer.draw();
  out.attr = image.modelmarkPayload();
  out.json = JSON.parse(image.toJSON()).attrs.modelmarkPayload;
  const exported = stage.toCanvas({ pixelRatio: 1 });
  out.size = [exported.width, exported.height];
  const r = await detectImageData(pixels(exported), { key });
  Object.assign(out, { found: r.found, payload: r.payload, pValue: r.pValue });
  out.png = stage.toDataURL({ pixelRatio: 1, mimeType: 'image/png' });
  // The unfiltered photo carries nothing.
  const plain = document.createElement('canvas');
  plain.width = photo.width; plain.height = photo.height;
  plain.getContext('2d').drawImage(photo, 0, 0);
  out.plainFound = (await detectImageData(pixels(plain), { key })).found;
  // Setting the attribute (any payload form) re-runs the filter on the next draw.
  image.modelmarkPayload(0x1234n);
  out.attrAfterBigint = image.modelmarkPayload();
  layer.draw();
  const r2 = await detectImageData(pixels(image.toCanvas({ pixelRatio: 1 })), { key });
  out.afterSet = r2.payload;
  try { image.modelmarkPayload('not a payload'); } catch (e) { out.badSet = errorInfo(e); }
  out.attrAfterBad = image.modelmarkPayload();
  // Without the attribute, the filter falls back on options.payload.
  image.modelmarkPayload(null);
  layer.draw();
  const r3 = await detectImageData(pixels(image.toCanvas({ pixelRatio: 1 })), { key });
  out.fallback = r3.payload;
  // Registering twice is harmless; a non-Konva argument is refused.
  registerModelmarkAttributes(Konva);
  try { registerModelmarkAttributes({}); } catch (e) { out.badKonva = errorInfo(e); }
  try { await createModelmarkFilter({ key, payload: 'xyz' }); } catch (e) { out.badPayload = errorInfo(e); }
  stage.destroy();
  return out;
};

// On a HiDPI screen (devicePixelRatio 2): Konva.pixelRatio is 2 and cache() without a pixelRatio
// makes a 2x cache, so the filter marks the pixels at twice the image's size; the stage is then
// exported at pixel ratio 1 (downscaled by 2) and 2.
window.runKonvaHiDpi = async (url, key, payload) => {
  const { photo, stage, layer } = await photoStage(url);
  const Modelmark = await createModelmarkFilter({ key, Konva });
  const image = new Konva.Image({ image: photo, modelmarkPayload: payload });
  layer.add(image);
  image.cache();
  let filtered;
  image.filters([function (imageData, pixelRatio) { filtered = [imageData.width, imageData.height, pixelRatio]; return Modelmark.call(this, imageData, pixelRatio); }]);
  layer.draw();
  const out = { devicePixelRatio, konvaPixelRatio: Konva.pixelRatio, filtered };
  for (const pixelRatio of [1, 2]) {
    const canvas = stage.toCanvas({ pixelRatio });
    const r = await detectImageData(pixels(canvas), { key });
    out[`export${pixelRatio}`] = { size: [canvas.width, canvas.height], found: r.found, payload: r.payload, pValue: r.pValue };
  }
  stage.destroy();
  return out;
};

window.ready = true;
