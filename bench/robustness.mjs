// `npm run measure`: quality and exact-payload recovery of the classical mark at the default
// strength on every photo in ../shared/photos/, under every attack of bench/attacks.mjs.
// Prints Markdown (the tables in BENCHMARKS.md). PHOTOS=a.png,b.jpg (names in ../shared/photos/)
// restricts the photos (bench/photos.mjs benchPhotos; the smoke test runs one); ATTACKS='none,avif q50'
// (a comma list of names in bench/attacks.mjs ATTACKS) restricts the attacks.
import { ATTACKS } from './attacks.mjs';
import { measure } from './measure.mjs';
import { benchPhotos } from './photos.mjs';

const attacks = process.env.ATTACKS ? process.env.ATTACKS.split(',') : Object.keys(ATTACKS);
for (const a of attacks) if (!(a in ATTACKS)) throw new Error(`ATTACKS: no attack named ${JSON.stringify(a)} in bench/attacks.mjs`);
const photos = await benchPhotos();
const { rows, summary } = await measure(photos, { attacks });
const pValues = (a) => {
  const ps = rows.filter((r) => r.results[a].correct).map((r) => r.results[a].pValue).sort((x, y) => x - y);
  return ps.length ? `${fmtP(ps[(ps.length - 1) >> 1])} / ${fmtP(ps[ps.length - 1])}` : '-';
};
console.log(`Photos: ${summary.photos}. PSNR mean ${summary.psnrMean.toFixed(2)} dB, worst ${summary.psnrMin.toFixed(2)} dB; SSIM mean ${summary.ssimMean.toFixed(4)}.\n`);
const fmtP = (p) => (p < 1e-99 ? '< 1e-99' : p.toExponential(1));
console.log('| attack | exact payload | failed on | p-value when right: median / largest |\n|---|---|---|---|');
for (const a of attacks) {
  const n = rows.filter((r) => r.results[a].correct).length;
  console.log(`| ${a} | ${n}/${rows.length} (${(100 * summary.recovery[a]).toFixed(1)}%) | ${summary.failures[a].map((f) => { const r = rows.find((x) => x.name === f).results[a]; return `${f} (${r.error ?? `p ${fmtP(r.pValue)}`})`; }).join(', ') || '-'} | ${pValues(a)} |`);
}
console.log('\n| photo | size | PSNR dB | SSIM | pilot score (no attack) | lowest score over attacks |\n|---|---|---|---|---|---|');
for (const r of rows) {
  const scores = attacks.map((a) => r.results[a].score).filter(Number.isFinite);
  console.log(`| ${r.name} | ${r.width}x${r.height} | ${r.psnr.toFixed(2)} | ${r.ssim.toFixed(4)} | ${r.results.none.score.toFixed(1)} | ${Math.min(...scores).toFixed(1)} |`);
}
