// `node bench/chroma-probe.mjs`: a probe, not a feature. Would a chroma share of the mark lift
// the photos that cap issue 3's rows (grey, heavily textured: grass, gravel)? Each photo is
// marked as today (luma), and a second copy gets the very same per-pixel deltas on Cb instead
// of Y, scaled to the same mean squared error (R unchanged, G - 0.344 c, B + 1.772 c; PSNR equal
// within 0.1 dB). Both copies get the same attack, and each is read on the exact grid (the
// transform the search finds on a strength-4 copy, as bench/geometry-oracle.mjs does): the luma
// copy through its luma, the chroma copy through its Cb plane, with today's analysis and
// despreading. Prints the symbols' SNR against the payload in dB (* where the CRC holds).
//
//   PHOTOS=a.png,b.jpg ATTACKS='none,jpeg q75' node bench/chroma-probe.mjs
import { init, createWatermarker } from '../dist/index.js';
import { Arena } from '../dist/wasm.js';
import { candidateGeometries, lumaFrame, despread, makeLayout, reframe, PILOT } from '../dist/scheme.js';
import { pilotPatterns, searchGrids, analyseOnGrid } from '../dist/sync.js';
import { decodePayload, convEncode, infoBits, parsePayload } from '../dist/payload.js';
import { deriveKey } from '../dist/key.js';
import { GEOMETRIC_ATTACKS, ATTACKS, mulberry32, load } from './attacks.mjs';
import { MEASURE_KEY, MEASURE_PAYLOAD } from './measure.mjs';
import { PHOTOS_DIR } from './photos.mjs';

const k = await init();
const layout = makeLayout(k, await deriveKey(MEASURE_KEY, 'modelmark classical tile v1'));
const wm = await createWatermarker({ key: MEASURE_KEY });
const strong = await createWatermarker({ key: MEASURE_KEY, strength: 4 });
const coded = convEncode(infoBits(parsePayload(MEASURE_PAYLOAD)));
const patterns = (() => { const a = new Arena(k); return pilotPatterns(a, layout); })();
const identity = { m00: 1, m01: 0, m10: 0, m11: 1, tx: 0, ty: 0 };

/** Symbol SNR (dB) of the coded bits' soft values against the payload's signs. */
function snr(soft) {
  let s = 0, s2 = 0;
  for (let i = 0; i < coded.length; i++) { const v = soft[i] * (coded[i] ? 1 : -1); s += v; s2 += v * v; }
  const m = s / coded.length;
  return 10 * Math.log10((m * m) / (s2 / coded.length - m * m));
}

/** The grid of the strength-4 copy: the search's first candidate whose payload decodes. */
function truth(img, geometric) {
  const a = new Arena(k);
  try {
    const g = candidateGeometries(img.width, img.height)[0];
    if (!geometric) return { g, affine: identity };
    const base = { frame: lumaFrame(a, img, a.put(img.data), g), g };
    return searchGrids(a, base, patterns, (r) => reframe(a, img, base, r)).find((s) => {
      const { soft } = despread(a, analyseOnGrid(a, s.frame, s.g.fw, s.g.fh, s.affine), layout);
      return decodePayload(a, soft.subarray(0, PILOT)).crcOk;
    });
  } finally {
    a.release();
  }
}

/** Read an image's luma on a grid: SNR in dB, '*' when the payload's CRC holds. */
function read(img, grid) {
  const a = new Arena(k);
  try {
    const frame = lumaFrame(a, img, a.put(img.data), grid.g);
    const { soft } = despread(a, analyseOnGrid(a, frame, grid.g.fw, grid.g.fh, grid.affine), layout);
    return snr(soft).toFixed(1) + (decodePayload(a, soft.subarray(0, PILOT)).crcOk ? '*' : '');
  } finally {
    a.release();
  }
}

/** The Cb plane (BT.601 full range) as a grey RGB image, for the luma reader. */
function cbAsGrey(img) {
  const n = img.width * img.height, ch = img.channels, out = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    const [r, g, b] = [img.data[p * ch], img.data[p * ch + 1], img.data[p * ch + 2]];
    out[p * 3] = out[p * 3 + 1] = out[p * 3 + 2] = Math.max(0, Math.min(255, Math.round(128 - 0.168736 * r - 0.331264 * g + 0.5 * b)));
  }
  return { width: img.width, height: img.height, channels: 3, data: out };
}

/** The luma copy's per-pixel deltas put on Cb at the same mean squared error. */
function chromaCopy(original, marked) {
  const ch = original.channels, data = new Uint8Array(original.data.length);
  // Per pixel, Cb by c changes (R, G, B) by (0, -0.344 c, 1.772 c): 3.258 c^2 of squared error
  // against 3 d^2 for a luma delta d, so c = d / sqrt(1.086) keeps the error equal.
  const scale = 1 / Math.sqrt((0.344136 ** 2 + 1.772 ** 2) / 3);
  for (let i = 0; i < data.length; i += ch) {
    const d = (marked.data[i] + marked.data[i + 1] + marked.data[i + 2] - original.data[i] - original.data[i + 1] - original.data[i + 2]) / 3;
    const c = d * scale;
    const v = [original.data[i], original.data[i + 1] - 0.344136 * c, original.data[i + 2] + 1.772 * c];
    for (let j = 0; j < 3; j++) data[i + j] = Math.max(0, Math.min(255, Math.round(v[j])));
    for (let j = 3; j < ch; j++) data[i + j] = original.data[i + j];
  }
  return { ...original, data };
}

const psnr = (a, b) => {
  let e = 0;
  for (let i = 0; i < a.data.length; i++) e += (a.data[i] - b.data[i]) ** 2;
  return 10 * Math.log10((255 * 255 * a.data.length) / e);
};

const photos = (process.env.PHOTOS ?? 'skimage-grass.png,skimage-gravel.png,skimage-camera.png,skimage-astronaut.png,mate-Garden.jpg,mate-GreenMeadow.jpg').split(',');
const attacks = (process.env.ATTACKS ?? 'none,rotate +2 borders,rotate -5 crop-to-fit,crop 50% area,crop 25% area,jpeg q75,jpeg q50,screenshot chain,social media chain').split(',');
console.log(`| photo | PSNR luma / Cb copy | ${attacks.join(' | ')} |`);
console.log(`|---|---|${attacks.map(() => '---').join('|')}|`);
for (const name of photos) {
  const original = await load(PHOTOS_DIR + name);
  const marked = wm.embed(original, MEASURE_PAYLOAD), marked4 = strong.embed(original, MEASURE_PAYLOAD);
  const chroma = chromaCopy(original, marked);
  const cells = [];
  for (const at of attacks) {
    const attack = GEOMETRIC_ATTACKS[at] ?? ATTACKS[at];
    const grid = truth(await attack(marked4, mulberry32(5)), at in GEOMETRIC_ATTACKS);
    if (!grid) { cells.push('(no truth)'); continue; }
    cells.push(`${read(await attack(marked, mulberry32(5)), grid)} / ${read(cbAsGrey(await attack(chroma, mulberry32(5))), grid)}`);
  }
  console.log(`| ${name} | ${psnr(original, marked).toFixed(2)} / ${psnr(original, chroma).toFixed(2)} | ${cells.join(' | ')} |`);
}
