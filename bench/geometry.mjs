// `node bench/geometry.mjs`: exact-payload recovery of the classical mark on every shared photo
// under the geometric attacks of bench/attacks.mjs (issue 3), with detection times and a margin:
// the sum of -log10 p over the photos found (a change that keeps the counts can still move it).
// Prints Markdown. `--only NAME` (repeatable substring) restricts the attacks.
import { createWatermarker } from '../dist/index.js';
import { GEOMETRIC_ATTACKS, mulberry32 } from './attacks.mjs';
import { MEASURE_KEY, MEASURE_PAYLOAD } from './measure.mjs';
import { samplePhotos } from './photos.mjs';

export async function measureGeometry(photos, names = Object.keys(GEOMETRIC_ATTACKS)) {
  const wm = await createWatermarker({ key: MEASURE_KEY });
  const results = Object.fromEntries(names.map((n) => [n, { ok: 0, failed: [], ms: [], margin: 0 }]));
  for (const [i, { name, image }] of photos.entries()) {
    const marked = wm.embed(image, MEASURE_PAYLOAD);
    for (const attack of names) {
      const rand = mulberry32(1000 + i * 31 + attack.length);
      let r;
      const attacked = await GEOMETRIC_ATTACKS[attack](marked, rand);
      const t = performance.now();
      try { r = wm.detect(attacked); } catch (e) { r = { found: false, error: e.code ?? String(e) }; }
      results[attack].ms.push(performance.now() - t);
      if (r.found && r.payload === MEASURE_PAYLOAD) {
        results[attack].ok++;
        results[attack].margin += -Math.log10(r.pValue);
      } else results[attack].failed.push(name + (r.error ? ` (${r.error})` : ''));
    }
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const only = process.argv.flatMap((a, i) => (process.argv[i - 1] === '--only' ? [a] : []));
  const names = Object.keys(GEOMETRIC_ATTACKS).filter((n) => !only.length || only.some((o) => n.includes(o)));
  const photos = await samplePhotos();
  const results = await measureGeometry(photos, names);
  console.log(`| attack | exact payload (${photos.length} photos) | Σ −log₁₀ p of the finds | median detect ms | failed on |\n|---|---|---|---|---|`);
  for (const n of names) {
    const r = results[n];
    const ms = [...r.ms].sort((a, b) => a - b)[r.ms.length >> 1];
    console.log(`| ${n} | ${r.ok}/${photos.length} (${((100 * r.ok) / photos.length).toFixed(1)}%) | ${r.margin.toFixed(0)} | ${ms.toFixed(1)} | ${r.failed.join(', ') || '-'} |`);
  }
}
