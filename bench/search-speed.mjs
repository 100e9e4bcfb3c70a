// `node bench/search-speed.mjs`: detect time with the geometric search at 1920x1080 RGBA on one
// core, median of 20 runs after 3 warm-up runs: a mark found in place, a mark rotated by 5
// degrees (found by the lattice search), a mirrored mark (found among the right-angle views), and
// an unmarked image (every candidate tried); then with `{ pieces: true }`: the unmarked image
// (every candidate of the whole image and of its nine windows tried) and a marked photo at 0.6x
// pasted into the unmarked one. `--quick`: median of 3 after 1 warm-up run (a check
// that the script works, test/bench-smoke.test.mjs; too few runs to quote).
import sharp from 'sharp';
import { createWatermarker } from '../dist/index.js';
import { fromSharp } from './attacks.mjs';
import { photoInput } from './photos.mjs';

const photo = await photoInput('mate-Storm.jpg');
if (typeof photo.input !== 'string') console.log(`photo: ${photo.label}`);
const base = await fromSharp(sharp(photo.input).resize(1920, 1080, { fit: 'cover' }).ensureAlpha());
const wm = await createWatermarker({ key: 'bench key' });
const marked = wm.embed(base, '0123456789abcdef');
const raw = (img) => sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: img.channels } });
const cases = {
  'in place': marked,
  'mirrored': await fromSharp(raw(marked).flop()),
  'rotated 5 degrees (lattice search)': await fromSharp(raw(marked).rotate(5, { background: '#000' }).resize(1920, 1080, { fit: 'cover' })),
  'unmarked (all candidates)': base,
};
// A piece: the marked photo at 0.6x its size pasted near the middle of the unmarked one, JPEG q85.
const small = await fromSharp(raw(marked).resize(1152, 648).removeAlpha());
const pasted = await fromSharp(sharp(await raw(base).removeAlpha().composite([{ input: Buffer.from(small.data), raw: { width: 1152, height: 648, channels: 3 }, left: 389, top: 211 }]).jpeg({ quality: 85 }).toBuffer()));
const withPieces = {
  'unmarked, pieces (all windows)': base,
  'pasted 0.6x piece, pieces': pasted,
};
const QUICK = process.argv.includes('--quick');
const RUNS = QUICK ? 3 : 20, WARMUP = QUICK ? 1 : 3;
console.log(`detect at 1920x1080 RGBA, node ${process.version}, median of ${RUNS} after ${WARMUP} warm-up runs`);
for (const [name, img, options] of [...Object.entries(cases), ...Object.entries(withPieces).map(([k, v]) => [k, v, { pieces: true }])]) {
  const ms = [];
  let r;
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const t = performance.now();
    r = wm.detect(img, options);
    if (i >= WARMUP) ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  console.log(`  ${name.padEnd(36)} ${ms[RUNS >> 1].toFixed(1)} ms   found ${r.found}`);
}
