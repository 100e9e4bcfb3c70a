// The detector's p-value on unmarked images built to stress its search, where
// test/false-positives.test.mjs uses photos: strongly periodic patterns (checkerboards, stripes,
// gratings, bricks, tiles and halftone screens at periods 4 to 96, whose autocorrelation peaks
// feed the lattice search), JPEG at quality 5 to 30 (an 8-pixel block lattice), flat colour,
// gradients, noise, 1-pixel lines and text, photos marked with other keys (once, twice, a collage
// of four keys) and a marked photo's 2 x 2 tiling and mirror. Every detection has a fresh random
// key and the full search. Checked: no false found, p-values uniform (KS), the pilot score's null
// variance, and that a failed CRC's p-value carries the chance of a CRC pass in every candidate
// the search can decode (the multiple-comparison count).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createWatermarker } from '../dist/index.js';
import { candidateGeometries } from '../dist/scheme.js';
import { normalUpperTail } from '../dist/stats.js';
import { fromSharp, mulberry32 } from '../bench/attacks.mjs';
import { samplePhotos } from '../bench/photos.mjs';
import { createCanvas } from '@napi-rs/canvas';
import sharp from 'sharp';
import { ksBound, ksUniform } from './helpers/ks.mjs';

const rand = mulberry32(31337); // seeded: images and keys are reproducible
const ri = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const randomKey = () => Uint8Array.from({ length: 16 }, () => Math.floor(rand() * 256));
const clamp = (v) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));
const raw = (im) => sharp(Buffer.from(im.data), { raw: { width: im.width, height: im.height, channels: im.channels } });

/** An image from f(x, y) -> [r, g, b], as grey (1), RGB (3) or RGBA (4) samples. */
function make(w, h, channels, f) {
  const data = new Uint8Array(w * h * channels);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const v = f(x, y), i = (y * w + x) * channels;
    if (channels === 1) data[i] = clamp(0.299 * v[0] + 0.587 * v[1] + 0.114 * v[2]);
    else { data[i] = clamp(v[0]); data[i + 1] = clamp(v[1]); data[i + 2] = clamp(v[2]); if (channels === 4) data[i + 3] = 255; }
  }
  return { width: w, height: h, channels, data };
}
const mix = (a, b, t) => [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
const colour = () => [ri(0, 255), ri(0, 255), ri(0, 255)];
const rot = (x, y, th) => [x * Math.cos(th) + y * Math.sin(th), -x * Math.sin(th) + y * Math.cos(th)];
const PERIODS = [4, 6, 8, 12, 16, 24, 32, 45, 48, 60, 63, 64, 65, 72, 96];
const period = () => PERIODS[ri(0, PERIODS.length - 1)];

/** Two-colour and sinusoidal patterns that put strong peaks into the lattice search's autocorrelation. */
const PATTERNS = [
  (p, th) => (x, y) => { const [u, v] = rot(x, y, th); return (Math.floor(u / (p / 2)) + Math.floor(v / (p / 2))) & 1; },
  (p, th) => (x, y) => Math.floor(rot(x, y, th)[0] / (p / 2)) & 1,
  (p, th) => (x, y) => 0.5 + 0.5 * Math.sin((2 * Math.PI * rot(x, y, th)[0]) / (p + 0.37)),
  (p, th) => (x, y) => { const [u, v] = rot(x, y, th); return 0.5 + 0.25 * Math.sin((2 * Math.PI * u) / p) + 0.25 * Math.sin((2 * Math.PI * v) / p); },
  (p) => (x, y) => { const bh = Math.max(3, p >> 1), row = Math.floor(y / bh); return (y % bh) < 2 || ((x + (row & 1) * (p >> 1)) % p) < 2 ? 1 : 0; },
  (p) => (x, y) => ((x % p) < 1 || (y % p) < 1 ? 1 : 0),
  (p, th) => (x, y) => { const [u, v] = rot(x, y, th), q = Math.max(4, p >> 2); const du = u - (Math.floor(u / q) + 0.5) * q, dv = v - (Math.floor(v / q) + 0.5) * q;
    return Math.hypot(du, dv) < q * 0.56 * Math.sqrt(0.5 + 0.45 * Math.sin(x / 57) * Math.cos(y / 41)) ? 1 : 0; },
];
const angle = () => (rand() < 0.5 ? 0 : [15, 30, 45, 60, 75][ri(0, 4)] * Math.PI / 180);
const patternImage = (w, h, channels, a, b) => { const f = PATTERNS[ri(0, PATTERNS.length - 1)](period(), angle()); return make(w, h, channels, (x, y) => mix(a, b, f(x, y))); };

const photos = await samplePhotos();
const small = await Promise.all(photos.map(async ({ name, image }) => {
  const k = Math.min(1, 384 / Math.max(image.width, image.height));
  return { name, image: k < 1 ? await fromSharp(raw(image).resize(Math.round(image.width * k), Math.round(image.height * k))) : image };
}));
const owners = await Promise.all([0, 1, 2, 3].map((i) => createWatermarker({ key: `structured owner ${i}` })));

/** [set, name, image, keys] */
const cases = [];
// 1. Periodic patterns in random colours and layouts.
for (let i = 0; i < 120; i++) {
  const w = ri(128, 400), h = ri(128, 400), c = [1, 3, 4][i % 3];
  cases.push(['periodic', `pattern ${i}`, patternImage(w, h, c, colour(), colour()), 1]);
}
// Colour patterns whose luma and Cb change by the same amount (a step along (0, 0.42, 1) in RGB
// changes Y and Cb alike): the luma and Cb reads are then the same and the combined read's null
// energy needs its cross term (combineReads); without it the score's variance was 1.5 here.
for (let i = 0; i < 100; i++) {
  const t = ri(60, 220), lo = [ri(0, 255), ri(0, 150), ri(0, 30)], hi = [lo[0], lo[1] + 0.42 * t, lo[2] + t];
  cases.push(['yCb together', `pattern along (0, 0.42, 1) ${i}`, patternImage(ri(128, 320), ri(128, 320), 3, lo, hi), 3]);
}
// 2. JPEG at quality 5 to 30, of photos and of flat and gradient images.
for (let i = 0; i < 40; i++) {
  const q = ri(5, 30);
  const base = i % 2 ? small[i % small.length].image
    : (() => { const a = colour(), b = colour(), w = ri(128, 384), h = ri(128, 384); return make(w, h, 3, i % 4 ? (x) => mix(a, b, x / w) : () => a); })();
  const grey = i % 5 === 0;
  cases.push(['jpeg q5-30', `jpeg q${q} ${i}`, await fromSharp(sharp(await (grey ? raw(base).greyscale() : raw(base)).jpeg({ quality: q }).toBuffer())), 1]);
}
// 3. Flat colour, gradients, noise, 1-pixel lines, text.
const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
const words = 'the quick brown fox jumps over the lazy dog 0123456789'.split(' ');
for (let i = 0; i < 54; i++) {
  const w = ri(128, 384), h = ri(128, 384), c = [1, 3, 4][i % 3], a = colour(), b = colour(), s = [2, 20, 60][i % 3];
  const kinds = [() => a, (x, y) => mix(a, b, (x + y) / (w + h)), (x, y) => mix(a, b, Math.min(1, Math.hypot(x - w / 2, y - h / 2) / 200)),
    () => a.map((v) => v + s * gauss()), () => (rand() < 0.02 ? [0, 0, 0] : rand() < 0.02 ? [255, 255, 255] : a),
    (x, y) => (x % (s + 3) === 0 || y % (s + 5) === 0 ? b : a), (x, y) => ((x + y) % (s + 2) === 0 ? b : a)];
  if (i % 8 === 7) {
    const cv = createCanvas(w, h), ctx = cv.getContext('2d'), px = ri(8, 28);
    ctx.fillStyle = `rgb(${a})`; ctx.fillRect(0, 0, w, h); ctx.fillStyle = `rgb(${b})`; ctx.font = `${px}px ${i % 16 === 7 ? 'monospace' : 'sans-serif'}`;
    for (let y = px; y < h; y += Math.round(px * 1.3)) { let line = ''; while (line.length * px * 0.6 < w) line += words[ri(0, words.length - 1)] + ' '; ctx.fillText(line, 2, y); }
    const px4 = ctx.getImageData(0, 0, w, h).data;
    cases.push(['plain', `text ${i}`, make(w, h, c, (x, y) => { const j = (y * w + x) * 4; return [px4[j], px4[j + 1], px4[j + 2]]; }), 1]);
  } else cases.push(['plain', `plain ${i % 8} ${i}`, make(w, h, c, kinds[i % 8]), 1]);
}
// 4. Photos marked with other keys: once, twice, and a collage of four marks.
for (const [i, { name, image }] of small.slice(0, 14).entries()) {
  const once = owners[i % 4].embed(image, '0123456789abcdef');
  cases.push(['marked, other keys', `${name} marked`, once, 2]);
  cases.push(['marked, other keys', `${name} marked twice`, owners[(i + 1) % 4].embed(once, 'fedcba9876543210'), 2]);
}
for (let c = 0; c < 4; c++) {
  const s = ri(128, 192), data = new Uint8Array(4 * s * s * 3);
  for (let j = 0; j < 4; j++) {
    const part = owners[j].embed(await fromSharp(raw(small[(4 * c + j) % small.length].image).resize(s, s, { fit: 'cover' }).removeAlpha().toColourspace('srgb')), '001122334455667' + j);
    for (let y = 0; y < s; y++) data.set(part.data.subarray(y * s * 3, (y + 1) * s * 3), (((j >> 1) * s + y) * 2 * s + (j & 1) * s) * 3);
  }
  cases.push(['marked, other keys', `collage ${c}`, { width: 2 * s, height: 2 * s, channels: 3, data }, 3]);
}
// 5. A marked photo's 2 x 2 tiling (its period doubled) and its mirror image tiled.
for (const { name, image } of small.slice(14, 24)) {
  const m = owners[0].embed(await fromSharp(raw(image).resize({ width: 256, height: 256, fit: 'inside' })), '0123456789abcdef');
  const { width: w, height: h, channels: ch } = m;
  for (const mirror of [false, true]) {
    const data = new Uint8Array(4 * w * h * ch);
    for (let y = 0; y < 2 * h; y++) for (let x = 0; x < 2 * w; x++) {
      const sx = mirror && x >= w ? 2 * w - 1 - x : x % w, sy = mirror && y >= h ? 2 * h - 1 - y : y % h;
      for (let c = 0; c < ch; c++) data[(y * 2 * w + x) * ch + c] = m.data[(sy * w + sx) * ch + c];
    }
    cases.push(['tiled marked', `${name} ${mirror ? 'mirror ' : ''}tiled`, { width: 2 * w, height: 2 * h, channels: ch, data }, 2]);
  }
}

const finite = Number.isFinite;
/** Candidates the full search can decode (docs/geometry.md): each canonical frame (luma, and luma with Cb for colour), 7 right-angle views, the aspect search's frame, 5 lattices located and refined. */
const candidates = (img) => candidateGeometries(img.width, img.height).length * (img.channels >= 3 ? 2 : 1) + 7 + 1 + 5 * 2;

test('structured unmarked images, random keys: no false found, p-values uniform, pilot score N(0, 1), every candidate counted', async () => {
  const rows = [];
  for (const [set, name, image, keys] of cases) {
    for (let k = 0; k < keys; k++) {
      const r = (await createWatermarker({ key: randomKey() })).detect(image);
      rows.push({ set, name, image, r });
    }
  }
  const problems = [];
  for (const { name, image, r } of rows) {
    if (r.found) problems.push(`${name}: found, p=${r.pValue}`);
    if (!(r.pValue > 0 && r.pValue <= 1) || !finite(r.score)) problems.push(`${name}: p=${r.pValue} score=${r.score}`);
    if (r.transform !== null && ![...r.transform.matrix, r.transform.scale, r.transform.rotation, ...r.transform.translation].every(finite)) problems.push(`${name}: transform`);
    if (r.regions !== null && !r.regions.scores.every((s) => s === null || finite(s))) problems.push(`${name}: regions`);
    // A failed CRC reports Q + (1 - Q) p_pilot with Q the chance that one of the m candidates'
    // 8 list paths passes its CRC by chance: Q must count every candidate the search can decode.
    const t = normalUpperTail(r.score);
    if (!r.crcOk && t < 0.9) {
      const q = (r.pValue - t) / (1 - t), want = candidates(image) * 8 * 2 ** -16;
      if (!(q >= want * (1 - 1e-6))) problems.push(`${name}: failed CRC priced at ${q.toExponential(3)} < ${want.toExponential(3)} for ${candidates(image)} candidates`);
    }
  }
  assert.is(problems.length, 0, problems.slice(0, 10).join('; '));
  const lines = [];
  const check = (label, sel) => {
    const ps = sel.map(({ r }) => r.pValue), z2 = sel.reduce((s, { r }) => s + r.score * r.score, 0) / sel.length;
    const d = ksUniform(ps), bound = ksBound(ps.length);
    assert.ok(d < bound, `${label}: KS distance ${d.toFixed(4)} >= ${bound.toFixed(4)}`);
    // Under the null the score is a self-normalised Rademacher sum: E[z^2] = 1 exactly when its
    // energy is the variance of its soft value. 4.5 standard errors of a normal z^2's mean.
    const zBound = 4.5 * Math.sqrt(2 / sel.length);
    assert.ok(Math.abs(z2 - 1) < zBound, `${label}: mean score^2 ${z2.toFixed(3)}, not within 1 +- ${zBound.toFixed(3)}`);
    lines.push(`${label}: ${ps.length}, KS D ${d.toFixed(4)} < ${bound.toFixed(4)}, mean z^2 ${z2.toFixed(3)}, min p ${Math.min(...ps).toExponential(2)}`);
  };
  check('all', rows);
  for (const set of new Set(rows.map((r) => r.set))) check(set, rows.filter((r) => r.set === set));
  // The luma x Cb cross term (combineReads): without it mean z^2 was 1.3 to 1.5 on these.
  check('colour with luma and Cb detail together', rows.filter((r) => r.set === 'yCb together' || (r.set === 'marked, other keys' && r.image.channels >= 3)));
  // One image, keys the only randomness: P(p <= a) <= a must hold for each image too. A flat
  // image and a 64-pixel checkerboard (nothing in the mark's band) carry no pilot energy; their
  // p-value was 0.5012 for every key (P(p <= 0.6) = 1), it is 1.
  for (const [name, image] of [['flat grey', make(300, 300, 1, () => [128, 128, 128])], ['checkerboard period 64', make(512, 512, 1, (x, y) => ((x >> 5) + (y >> 5)) & 1 ? [255, 255, 255] : [0, 0, 0])]]) {
    const ps = [];
    for (let k = 0; k < 20; k++) ps.push((await createWatermarker({ key: randomKey() })).detect(image).pValue);
    for (const a of [0.1, 0.6]) {
      const share = ps.filter((p) => p <= a).length / ps.length;
      assert.ok(share <= a + 3 * Math.sqrt((a * (1 - a)) / ps.length), `${name}: P(p <= ${a}) = ${share} (p-values ${[...new Set(ps)].slice(0, 3).join(', ')})`);
    }
  }
  console.log(`  ${lines.join('\n  ')}`);
});

test.run();
