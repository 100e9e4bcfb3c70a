// test/browser-csp.test.mjs: the core under a page's Content Security Policy.
import { createWatermarker } from 'modelmark';

window.run = async () => {
  try {
    const wm = await createWatermarker({ key: 'csp test key' });
    const image = { width: 256, height: 256, data: new Uint8Array(256 * 256 * 4).map((_, i) => (i % 4 === 3 ? 255 : (i * 37) % 251)) };
    const r = wm.detect(wm.embed(image, '0123456789abcdef'));
    return { found: r.found, payload: r.payload };
  } catch (e) {
    return { error: { name: e.name, code: e.code, message: e.message } };
  }
};
window.ready = true;
