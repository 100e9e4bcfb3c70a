// Quality and robustness of the classical watermark over a set of photos: embed at the given
// strength, measure PSNR / SSIM, apply every named attack and detect. Shared by the robustness
// test (which asserts the thresholds), `npm run measure` (BENCHMARKS.md) and the demo.
import { createWatermarker, psnr, ssim } from '../dist/index.js';
import { ATTACKS } from './attacks.mjs';

export const MEASURE_KEY = 'modelmark robustness key';
export const MEASURE_PAYLOAD = 'c0ffee00deadbeef';

/**
 * @param photos [{ name, image }]
 * @param attacks names from ATTACKS
 * @returns { rows: [{ name, width, height, psnr, ssim, embedMs, detectMs, results: { attack: { found, correct, score } } }], summary }
 */
export async function measure(photos, { attacks = Object.keys(ATTACKS), key = MEASURE_KEY, payload = MEASURE_PAYLOAD, strength } = {}) {
  const wm = await createWatermarker({ key, strength });
  const rows = [];
  for (const { name, image } of photos) {
    let t = performance.now();
    const marked = wm.embed(image, payload);
    const embedMs = performance.now() - t;
    const row = { name, width: image.width, height: image.height, psnr: await psnr(image, marked), ssim: await ssim(image, marked), embedMs, detectMs: 0, results: {} };
    for (const attack of attacks) {
      const attacked = await ATTACKS[attack](marked);
      let r;
      t = performance.now();
      try {
        r = wm.detect(attacked);
      } catch (e) {
        r = { found: false, payload: null, score: NaN, error: e.code ?? String(e) };
      }
      if (attack === 'none') row.detectMs = performance.now() - t;
      row.results[attack] = { found: r.found, correct: r.found && r.payload === payload, score: r.score, error: r.error };
    }
    rows.push(row);
  }
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const summary = {
    photos: rows.length,
    psnrMean: mean(rows.map((r) => r.psnr)),
    psnrMin: Math.min(...rows.map((r) => r.psnr)),
    ssimMean: mean(rows.map((r) => r.ssim)),
    recovery: Object.fromEntries(attacks.map((a) => [a, rows.filter((r) => r.results[a].correct).length / rows.length])),
    failures: Object.fromEntries(attacks.map((a) => [a, rows.filter((r) => !r.results[a].correct).map((r) => r.name)])),
  };
  return { rows, summary };
}
