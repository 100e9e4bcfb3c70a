// `node bench/evidence.mjs [--keys N]`: evidence pooled over a set of images (combineEvidence).
// 1. Calibration: N random keys (default 500) on three mark-free sets built from the shared
//    photos: the 27 photos, one photo 27 times, and a "burst" (one photo with 27 independent
//    noise draws, sigma 2). The pooled p-value should be uniform (KS distance from uniform, its
//    bound at significance 0.001) with no `found`; beside it, how often a plain Stouffer sum of
//    the scores (no references) would have passed 4.75 (p < 1e-6).
// 2. Power: the 27 photos marked (at the default strength and at 0.25), then attacked; per
//    attack, how many files detect() finds one by one, and the pooled test over all 27 and over
//    the files detect() missed (count: t, the references' spread, p-value).
// 3. Speed: wm.evidence on a 1920x1080 RGBA image (median of 30 after warm-up), and what
//    detect(image, { evidence: true }) saves over detect() and evidence() called apart (on an
//    unmarked and a marked copy; interleaved, medians). `--speed` runs this part alone.
// The sets have as many images as there are photos (27 when all are there; PHOTOS=a.png,b.jpg,
// names in ../shared/photos/, restricts them). `--quick` times part 3 with 3 runs after 1 warm-up:
// `--quick --keys 1` with one photo is the smoke test's run (test/bench-smoke.test.mjs).
import sharp from 'sharp';
import { createWatermarker, combineEvidence } from 'modelmark';
import { fromSharp, gaussian } from './attacks.mjs';
import { benchPhotos } from './photos.mjs';
import { ksBound, ksUniform } from '../test/helpers/ks.mjs';

const arg = (name, d) => { const i = process.argv.indexOf(name); return i > 0 ? Number(process.argv[i + 1]) : d; };
const KEYS = arg('--keys', 500);
const SPEED_ONLY = process.argv.includes('--speed');
const QUICK = process.argv.includes('--quick');
const SPEED_RUNS = QUICK ? 3 : 30, SPEED_WARMUP = QUICK ? 1 : 5;
const photos = (await benchPhotos()).map((p) => p.image);
const N = photos.length;
const raw = (img) => sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: img.channels } });
const jpeg = async (pipeline, q) => fromSharp(sharp(await pipeline.jpeg({ quality: q }).toBuffer()));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };

if (!SPEED_ONLY) {
console.log(`## 1. Calibration: ${KEYS} random keys per set, mark-free images\n`);
const base = photos[0];
const noise = gaussian(7);
const burst = photos.map((_, i) => {
  const data = new Uint8Array(base.data.length);
  for (let j = 0; j < data.length; j++) data[j] = Math.max(0, Math.min(255, Math.round(base.data[j] + 2 * noise())));
  return { ...base, data };
});
const sets = { [`the ${N} photos`]: photos, [`one photo ${N} times`]: null, [`a burst: one photo, ${N} noise draws (sigma 2)`]: burst };
const stats = Object.fromEntries(Object.keys(sets).map((k) => [k, { p: [], found: 0, naive: 0 }]));
for (let i = 0; i < KEYS; i++) {
  const wm = await createWatermarker({ key: `evidence bench null ${i}` });
  const evPhotos = photos.map((img) => wm.evidence(img));
  for (const [name, set] of Object.entries(sets)) {
    const ev = set === photos ? evPhotos : set === null ? Array(N).fill(evPhotos[i % evPhotos.length]) : set.map((img) => wm.evidence(img));
    const r = combineEvidence(ev);
    const s = stats[name];
    s.p.push(r.pValue);
    if (r.found) s.found++;
    if (r.score > 4.753) s.naive++; // Stouffer's sum alone: Z > 4.753 is p < 1e-6
  }
}
console.log('| mark-free set | pooled tests | found | KS D (bound) | smallest p | a plain Stouffer sum would have found |');
console.log('|---|---|---|---|---|---|');
for (const [name, s] of Object.entries(stats)) {
  console.log(`| ${name} | ${s.p.length} | ${s.found} | ${ksUniform(s.p).toFixed(4)} (${ksBound(s.p.length).toFixed(4)}) | ${Math.min(...s.p).toExponential(1)} | ${s.naive} |`);
}

console.log(`\n## 2. Power: ${N} marked photos, attacked\n`);
const attacks = {
  'JPEG q50': (m) => jpeg(raw(m), 50),
  'JPEG q20, resize 0.4x': (m) => jpeg(raw(m).resize(Math.round(m.width * 0.4)), 20),
  'JPEG q10': (m) => jpeg(raw(m), 10),
  'blur sigma 3, JPEG q50': (m) => jpeg(raw(m).blur(3), 50),
  'resize 0.25x, JPEG q30': (m) => jpeg(raw(m).resize(Math.max(64, Math.round(m.width * 0.25))), 30),
};
const fmt = (r) => (r ? `${r.count}: t ${r.t.toFixed(1)} (spread ${r.spread.toFixed(2)}), p ${r.pValue.toExponential(1)}${r.found ? ' (found)' : ''}` : '-');
console.log(`| strength | attack | detect() finds | pooled over all ${N} | pooled over the files detect() missed |`);
console.log('|---|---|---|---|---|');
for (const strength of [1, 0.25]) {
  const wm = await createWatermarker({ key: 'evidence bench key', strength });
  const marked = photos.map((img) => wm.embed(img, 'c0ffee0000000001'));
  for (const [name, fn] of Object.entries(attacks)) {
    const copies = await Promise.all(marked.map(fn));
    const found = copies.map((c) => { try { return wm.detect(c).found; } catch { return false; } });
    const ev = copies.map((c) => { try { return wm.evidence(c); } catch { return null; } });
    const all = combineEvidence(ev.filter(Boolean));
    const missed = ev.filter((e, i) => e && !found[i]);
    console.log(`| ${strength} | ${name} | ${found.filter(Boolean).length}/${N} | ${fmt(all)} | ${fmt(missed.length ? combineEvidence(missed) : null)} |`);
  }
}

}

console.log('\n## 3. Speed\n');
const wm = await createWatermarker({ key: 'evidence bench key' });
const hd = await fromSharp(raw(photos[0]).resize(1920, 1080, { fit: 'cover' }).ensureAlpha());
for (let i = 0; i < SPEED_WARMUP; i++) wm.evidence(hd);
const ts = [];
for (let i = 0; i < SPEED_RUNS; i++) { const t = performance.now(); wm.evidence(hd); ts.push(performance.now() - t); }
console.log(`wm.evidence at 1920x1080 RGBA: ${median(ts).toFixed(2)} ms median of ${SPEED_RUNS}`);

// Both answers for a folder batch (modelmark detect DIR): apart, or from detect's one read.
const markedHd = wm.embed(hd, 'c0ffee0000000001');
for (const [name, img] of [['unmarked (full search)', hd], ['marked', markedHd]]) {
  const apart = [], together = [], alone = [];
  for (let i = 0; i < Math.min(3, SPEED_WARMUP); i++) { wm.detect(img); wm.evidence(img); wm.detect(img, { evidence: true }); }
  for (let i = 0; i < SPEED_RUNS; i++) {
    let t = performance.now(); wm.detect(img); alone.push(performance.now() - t);
    t = performance.now(); wm.detect(img); wm.evidence(img); apart.push(performance.now() - t);
    t = performance.now(); wm.detect(img, { evidence: true }); together.push(performance.now() - t);
  }
  const [d, a, b] = [alone, apart, together].map(median);
  console.log(`${name}: detect ${d.toFixed(2)} ms; detect + evidence apart ${a.toFixed(2)} ms; detect(image, { evidence: true }) ${b.toFixed(2)} ms (saves ${(a - b).toFixed(2)} ms)`);
}
