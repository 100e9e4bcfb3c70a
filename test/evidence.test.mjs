// Evidence pooled over a set of images (src/evidence.ts): the t test's tail function, its
// calibration on sets of unmarked photos with random keys (independent photos, and the same
// photo 27 times, where a plain sum of scores would be far off), its power on a marked set whose
// images detect() misses one by one, and its argument checks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createWatermarker, combineEvidence, EvidenceSum, REFERENCE_PATTERNS, InvalidArgumentError, ImageSizeError } from '../dist/index.js';
import { studentUpperTail } from '../dist/stats.js';
import { referencePatterns } from '../dist/evidence.js';
import { makeLayout, NB } from '../dist/scheme.js';
import { deriveKey } from '../dist/key.js';
import { fromSharp } from '../bench/attacks.mjs';
import { samplePhotos } from '../bench/photos.mjs';
import sharp from 'sharp';
import { ksBound, ksUniform } from './helpers/ks.mjs';

const photos = (await samplePhotos()).map((p) => p.image);


test("Student's t upper tail: reference values, symmetry, and the normal limit", () => {
  // Reference values (numerical integration of the density).
  assert.ok(Math.abs(studentUpperTail(2, 10) - 0.036694017385370) < 1e-12);
  assert.ok(Math.abs(studentUpperTail(1, 1) - 0.25) < 1e-12); // Cauchy
  assert.ok(Math.abs(studentUpperTail(3, 63) - 0.00193191923805) / 0.00193191923805 < 1e-9);
  assert.ok(Math.abs(studentUpperTail(6, 63) - 5.30746402764927e-8) / 5.30746402764927e-8 < 1e-9);
  assert.is(studentUpperTail(0, 63), 0.5);
  assert.ok(Math.abs(studentUpperTail(-2, 10) - (1 - 0.036694017385370)) < 1e-12);
  // With many degrees of freedom it is the normal tail: P(Z >= 1.96) = 0.0249979.
  assert.ok(Math.abs(studentUpperTail(1.96, 1e7) - 0.0249979) < 1e-6);
  // Far tails stay accurate and monotone (no cancellation to 0 or 1).
  const far = [6, 10, 20, 40].map((t) => studentUpperTail(t, 63));
  for (let i = 1; i < far.length; i++) assert.ok(far[i] < far[i - 1] && far[i] > 0, `tail at ${i}`);
});

test('null sets: unmarked photos with random keys give uniform p-values, also for 27 copies of one photo', async () => {
  const KEYS = 120;
  const independent = [], copies = [], naive = [];
  for (let i = 0; i < KEYS; i++) {
    const wm = await createWatermarker({ key: `evidence null key ${i}` });
    const ev = photos.map((image) => wm.evidence(image));
    for (const e of ev) {
      assert.is(e.reference.length, REFERENCE_PATTERNS);
      assert.ok(Number.isFinite(e.score) && e.reference.every(Number.isFinite));
    }
    const r = combineEvidence(ev);
    assert.is(r.count, photos.length);
    assert.not.ok(r.found, `key ${i}: p ${r.pValue}`);
    independent.push(r.pValue);
    // The same photo 27 times: the key's sum is 27 times one score, and so is each reference's.
    const same = combineEvidence(Array(27).fill(ev[i % ev.length]));
    assert.not.ok(same.found);
    copies.push(same.pValue);
    naive.push(same.score);
  }
  const d1 = ksUniform(independent), d2 = ksUniform(copies);
  assert.ok(d1 < ksBound(KEYS), `independent photos: KS D ${d1.toFixed(3)} >= ${ksBound(KEYS).toFixed(3)}`);
  assert.ok(d2 < ksBound(KEYS), `copies of one photo: KS D ${d2.toFixed(3)} >= ${ksBound(KEYS).toFixed(3)}`);
  // What the references are for: a plain Stouffer sum over the 27 copies would have claimed
  // the mark (Z above 4.75, p < 1e-6) for many of these keys.
  assert.ok(naive.filter((z) => z > 4.75).length >= 5, `naive sums over 4.75: ${naive.filter((z) => z > 4.75).length}`);
});

test('without the mark the references have about unit variance in colour images too (the planes\' unit-energy sum is normalised by its own energy), so spread is near 1', async () => {
  // Over random sign patterns a reference's variance is 1 for any image: each plane is scaled to
  // unit energy over the pilot slots and their sum divided by its own energy's root (the planes
  // summed with neither scaling measured 1.56, spread 1.26). The bounds allow for 4 keys x 27 photos.
  let ss = 0, n = 0, spread = 0;
  for (let i = 0; i < 4; i++) {
    const wm = await createWatermarker({ key: `evidence unit key ${i}` });
    const ev = photos.map((image) => wm.evidence(image));
    for (const e of ev) for (const r of e.reference) { ss += r * r; n++; }
    spread += combineEvidence(ev).spread / 4;
  }
  assert.ok(ss / n > 0.6 && ss / n < 1.3, `mean square of the references ${(ss / n).toFixed(3)}`);
  assert.ok(spread > 0.7 && spread < 1.2, `mean spread ${spread.toFixed(3)}`);
});

test('the reference patterns are balanced in every band frequency: +1 on half its pilot slots, -1 on the other half, an odd one out of either sign', async () => {
  // Balanced, a mark's band-dependent strength (the same in every marked image) adds nothing to a
  // reference's sum; an odd one out of a fixed sign would add the same bias to all of them.
  const layout = makeLayout(await deriveKey('evidence balance key', 'modelmark classical tile v1'));
  const { slots, signs } = referencePatterns(layout);
  const n = slots.length;
  const odd = { plus: 0, minus: 0 };
  for (let j = 0; j < REFERENCE_PATTERNS; j++) {
    for (let b = 0; b < NB; b++) {
      let sum = 0, count = 0;
      for (let i = 0; i < n; i++) if (slots[i] % NB === b) { sum += signs[j * n + i]; count++; }
      assert.is(Math.abs(sum), count % 2, `pattern ${j}, band ${b}: ${count} slots sum to ${sum}`);
      if (count % 2) odd[sum > 0 ? 'plus' : 'minus']++;
    }
  }
  const total = odd.plus + odd.minus;
  assert.ok(total >= 100 && odd.plus > 0.3 * total && odd.minus > 0.3 * total, `odd ones out: ${odd.plus} +1, ${odd.minus} -1`);
});

test('a weakly marked set: found pooled over the images that detect() misses one by one', async () => {
  const wm = await createWatermarker({ key: 'evidence power key', strength: 0.25 });
  const missed = [];
  for (const image of photos) {
    const marked = wm.embed(image, 'c0ffee0000000001');
    const copy = await fromSharp(sharp(await sharp(Buffer.from(marked.data), { raw: { width: marked.width, height: marked.height, channels: marked.channels } }).jpeg({ quality: 50 }).toBuffer()));
    if (!wm.detect(copy).found) missed.push(copy);
  }
  assert.ok(missed.length >= 10, `detect missed only ${missed.length} of ${photos.length}`);
  const r = combineEvidence(missed.map((image) => wm.evidence(image)));
  assert.ok(r.found, `pooled over ${missed.length} missed images: t ${r.t.toFixed(2)}, p ${r.pValue}`);
  assert.ok(r.pValue < 1e-8, `p ${r.pValue}`);
  // The wrong key sees nothing in the same set.
  const other = await createWatermarker({ key: 'evidence other key' });
  const w = combineEvidence(missed.map((image) => other.evidence(image)));
  assert.not.ok(w.found);
  assert.ok(w.pValue > 1e-3, `wrong key: p ${w.pValue}`);
});

test('EvidenceSum adds as combineEvidence does, and its argument checks name the parameter', async () => {
  const wm = await createWatermarker({ key: 'evidence sum key' });
  const ev = photos.slice(0, 5).map((image) => wm.evidence(image));
  const sum = new EvidenceSum();
  for (const e of ev) sum.add(e);
  assert.equal(sum.result(), combineEvidence(ev));
  // Any order of adding gives the same result to the last digit (a parallel batch adds files as
  // its workers finish them).
  assert.equal(combineEvidence([...ev].reverse()), combineEvidence(ev));
  assert.equal(combineEvidence([ev[2], ev[0], ev[4], ev[1], ev[3]]), combineEvidence(ev));
  // Evidence survives JSON (the batch manifest stores it).
  assert.equal(combineEvidence(JSON.parse(JSON.stringify(ev))), combineEvidence(ev));
  assert.throws(() => combineEvidence([]), (e) => e instanceof InvalidArgumentError && /at least one/.test(e.message));
  assert.throws(() => combineEvidence(null), (e) => e instanceof InvalidArgumentError && /items/.test(e.message));
  assert.throws(() => combineEvidence([ev[0], { score: 1, reference: [1, 2] }]), (e) => e instanceof InvalidArgumentError && /items\[1\]\.reference/.test(e.message) && /63/.test(e.message));
  assert.throws(() => combineEvidence([{ score: NaN, reference: ev[0].reference }]), (e) => e instanceof InvalidArgumentError && /items\[0\]/.test(e.message));
  assert.throws(() => combineEvidence(ev, { threshold: 2 }), (e) => e instanceof InvalidArgumentError && /threshold/.test(e.message));
  assert.throws(() => combineEvidence(ev, { treshold: 0.4 }), (e) => e instanceof InvalidArgumentError && /"treshold"/.test(e.message));
  // A score no evidence() gives (it would overflow the exact sums into found: true): refused.
  assert.throws(() => combineEvidence([{ score: 1e303, reference: ev[0].reference }]), (e) => e instanceof InvalidArgumentError && /items\[0\]/.test(e.message));
  const ro = new EvidenceSum();
  ro.add(ev[0]);
  assert.throws(() => { 'use strict'; ro.count = -5; }, TypeError, 'count is read-only');
  assert.is(ro.count, 1);
  assert.throws(() => wm.evidence({ width: 40, height: 40, data: new Uint8Array(40 * 40 * 4) }), (e) => e instanceof ImageSizeError && e.code === 'ERR_IMAGE_TOO_SMALL');
  assert.throws(() => wm.evidence({ width: 200, height: 200, data: new Uint8Array(10) }), (e) => e instanceof InvalidArgumentError);
  // A flat image carries no evidence either way: all zeros, and adding it changes no sum.
  const flat = wm.evidence({ width: 300, height: 200, data: new Uint8Array(300 * 200 * 4).fill(128) });
  assert.is(flat.score, 0);
  assert.ok(flat.reference.every((v) => v === 0));
});

test('detect(image, { evidence: true }) gives evidence() exactly, beside the same detection', async () => {
  const wm = await createWatermarker({ key: 'evidence detect key' });
  const marked = wm.embed(photos[3], 'c0ffee0000000001');
  const grey = { width: 301, height: 217, channels: 1, data: Uint8Array.from({ length: 301 * 217 }, (_, i) => (i * 7919) % 251) };
  const cases = {
    'unmarked colour photo': photos[0],
    'marked colour photo (found in luma alone)': marked,
    // A weak JPEG copy: luma alone fails, so detect reads luma and Cb.
    'marked at strength 0.25, JPEG q40': await (async () => {
      const weak = (await createWatermarker({ key: 'evidence detect key', strength: 0.25 })).embed(photos[5], 'c0ffee0000000002');
      return fromSharp(sharp(await sharp(Buffer.from(weak.data), { raw: { width: weak.width, height: weak.height, channels: weak.channels } }).jpeg({ quality: 40 }).toBuffer()));
    })(),
    'marked and cropped (found by the search)': (() => {
      const { width, height, data, channels: c } = marked, x0 = Math.floor(width * 0.2), y0 = Math.floor(height * 0.15), w = Math.floor(width * 0.7), h = Math.floor(height * 0.7);
      const out = new Uint8Array(w * h * c);
      for (let y = 0; y < h; y++) out.set(data.subarray(((y0 + y) * width + x0) * c, ((y0 + y) * width + x0 + w) * c), y * w * c);
      return { width: w, height: h, channels: c, data: out };
    })(),
    'grey, odd size': grey,
    'marked grey': wm.embed(grey, 'c0ffee0000000003'),
    '16-bit RGB': { width: 160, height: 140, channels: 3, data: Uint16Array.from({ length: 160 * 140 * 3 }, (_, i) => (i * 40503) % 65536) },
  };
  let foundCount = 0;
  for (const [name, image] of Object.entries(cases)) {
    const plain = wm.detect(image);
    const both = wm.detect(image, { evidence: true });
    assert.equal(both.evidence, wm.evidence(image), `${name}: evidence`);
    const { evidence, ...rest } = both;
    assert.equal(rest, plain, `${name}: the detection itself`);
    assert.is(plain.evidence, undefined, name);
    if (plain.found) foundCount++;
  }
  // The cases cover both outcomes (and the search: the crop is found only through it).
  assert.ok(foundCount >= 3 && foundCount < Object.keys(cases).length, `found ${foundCount}`);
  assert.is(wm.detect(cases['marked and cropped (found by the search)']).found, true);
  assert.equal(wm.detect(photos[0], {}), wm.detect(photos[0]));
  assert.throws(() => wm.detect(photos[0], { evidence: 'yes' }), (e) => e instanceof InvalidArgumentError && /options\.evidence/.test(e.message));
  assert.throws(() => wm.detect(photos[0], 5), (e) => e instanceof InvalidArgumentError && /options/.test(e.message));
});

test('an image\'s evidence score is N(0, 1) without the mark where luma and Cb detail move together', async () => {
  // Blue stripes on dark with noise: luma and Cb change together, so the two planes' scores are
  // correlated. The image's score must still have unit variance over keys (the planes' z summed
  // / sqrt(2) had mean z^2 1.60 here); a grey copy of the same pattern is the control.
  const W = 384, H = 256;
  for (const colour of [true, false]) {
    const zs = [];
    for (let v = 0; v < 4; v++) {
      const data = new Uint8Array(W * H * 3);
      let seed = 7 + v;
      const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
        const on = (Math.floor(x / (3 + v)) + Math.floor(y / (5 + v))) & 1, n = (rnd() - 0.5) * 40, o = (y * W + x) * 3;
        if (colour) { data[o] = 10; data[o + 1] = 20 + 50 * on + n; data[o + 2] = 40 + 200 * on + n; }
        else data[o] = data[o + 1] = data[o + 2] = 40 + 120 * on + n;
      }
      for (let i = 0; i < 100; i++) {
        const wm = await createWatermarker({ key: `evidence stripes ${v} ${i}` });
        zs.push(wm.evidence({ width: W, height: H, channels: 3, data }).score);
      }
    }
    const m2 = zs.reduce((a, z) => a + z * z, 0) / zs.length;
    const bound = 4.5 * Math.sqrt(2 / zs.length);
    assert.ok(Math.abs(m2 - 1) < bound, `${colour ? 'colour' : 'grey'} stripes: mean z^2 ${m2.toFixed(3)}, 1 +- ${bound.toFixed(3)}`);
  }
});

test.run();
