// Page for test/bundlers.test.mjs: modelmark/deep bundled by esbuild as an app would be (no
// plug-in: onnxruntime-web's .wasm is not emitted), the models fetched from ./models/.
import { createDeepWatermarker } from 'modelmark/deep';

window.runDeep = async () => {
  try {
    const get = (name) => fetch(`./models/${name}`).then((r) => (r.ok ? r : Promise.reject(new Error(`${name}: ${r.status}`))));
    const [h, r, meta] = await Promise.all([get('h.onnx').then((x) => x.arrayBuffer()), get('r.onnx').then((x) => x.arrayBuffer()), get('deep.json').then((x) => x.json())]);
    const deep = await createDeepWatermarker({ models: { h, r, meta }, executionProviders: ['wasm'] });
    const image = new ImageData(256, 256);
    for (let i = 0; i < image.data.length; i++) image.data[i] = (i * 37 + (i >> 10) * 11) & 255;
    const x = await deep.extract(await deep.embed(image));
    await deep.dispose();
    return { ok: true, nc: x.nc };
  } catch (e) {
    return { ok: false, code: e.code, message: String(e.message) };
  }
};
window.ready = true;
