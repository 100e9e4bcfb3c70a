// Quality and robustness of the classical watermark over a set of photos: embed at the given
// strength, measure PSNR / SSIM, apply every named attack and detect. Shared by the robustness
// test (which asserts the thresholds), `npm run measure` (BENCHMARKS.md) and the demo.
import { createWatermarker, psnr, ssim } from '../dist/index.js';
import { ATTACKS, mulberry32 } from './attacks.mjs';
import { benchPhotos } from './photos.mjs';

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
      row.results[attack] = { found: r.found, correct: r.found && r.payload === payload, score: r.score, pValue: r.pValue, error: r.error };
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

/**
 * Exact-payload recovery under a table of attacks that take (image, rand) (bench/attacks.mjs:
 * GEOMETRIC_ATTACKS, EDIT_ATTACKS), each photo marked once at the default strength and every
 * attack seeded per photo and attack, with detection times and a margin: the sum of -log10 p
 * over the photos found (a change that keeps the counts can still move it).
 * @returns { attack: { ok, failed: [names], ms: [detect ms], margin } }
 */
export async function measureAttacks(photos, table, names = Object.keys(table), { strength } = {}) {
  const wm = await createWatermarker({ key: MEASURE_KEY, strength });
  const results = Object.fromEntries(names.map((n) => [n, { ok: 0, failed: [], ms: [], margin: 0 }]));
  for (const [i, { name, image }] of photos.entries()) {
    const marked = wm.embed(image, MEASURE_PAYLOAD);
    for (const attack of names) {
      const rand = mulberry32(1000 + i * 31 + attack.length);
      let r;
      const attacked = await table[attack](marked, rand);
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

/**
 * The command line of bench/geometry.mjs and bench/edits.mjs: measure `table` on the shared
 * photos (`--only NAME`, repeatable, keeps the attacks whose names contain one of them; PHOTOS, a
 * comma list of names in ../shared/photos/, keeps those photos; `--strength S` marks at S
 * instead of the default, with the PSNR of each marked photo printed first) and print the
 * Markdown table.
 */
export async function attackTableMain(table) {
  const only = process.argv.flatMap((a, i) => (process.argv[i - 1] === '--only' ? [a] : []));
  const at = process.argv.indexOf('--strength');
  const strength = at < 0 ? undefined : Number(process.argv[at + 1]);
  const names = Object.keys(table).filter((n) => !only.length || only.some((o) => n.includes(o)));
  const photos = await benchPhotos();
  if (strength !== undefined) {
    const wm = await createWatermarker({ key: MEASURE_KEY, strength });
    for (const { name, image } of photos) console.log(`strength ${strength}: ${name} PSNR ${(await psnr(image, wm.embed(image, MEASURE_PAYLOAD))).toFixed(2)} dB`);
  }
  console.log(attackTable(await measureAttacks(photos, table, names, { strength }), photos.length));
}

/** measureAttacks' results as the Markdown table of BENCHMARKS.md. */
export function attackTable(results, photoCount) {
  const lines = [`| attack | exact payload (${photoCount} photos) | Σ −log₁₀ p of the finds | median detect ms | failed on |`, '|---|---|---|---|---|'];
  for (const [n, r] of Object.entries(results)) {
    const ms = [...r.ms].sort((a, b) => a - b)[r.ms.length >> 1];
    lines.push(`| ${n} | ${r.ok}/${photoCount} (${((100 * r.ok) / photoCount).toFixed(1)}%) | ${r.margin.toFixed(0)} | ${ms.toFixed(1)} | ${r.failed.join(', ') || '-'} |`);
  }
  return lines.join('\n');
}
