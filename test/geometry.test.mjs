// Issue 3 (geometric robustness), measured on every shared photo: the targets per
// attack, a regression floor where the target is not met (the screenshot chain), and the
// transform the detector reports. The full table is `node bench/geometry.mjs` (BENCHMARKS.md).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import sharp from 'sharp';
import { checkImage, createWatermarker, init } from '../dist/index.js';
import { analysePlane, candidateGeometries, despread, framesStreamed, lumaFrame, makeLayout, PILOT, reframe, TILE } from '../dist/scheme.js';
import { analyseOnGrid, ASPECT_DECODES, COMB_LATTICES, COMB_MIN_Z, dataEnergyScore, DECODES_PER_LATTICE, findLattices, orientations, peakOffset, pilotPatterns, refineGrid, SEARCH_LATTICES, searchGrids, whitenFrame, whitenFrames } from '../dist/sync.js';
import { checkInfo, parsePayload, viterbi, LIST_SIZE } from '../dist/payload.js';
import { regionMap } from '../dist/regions.js';
import { frameTransform } from '../dist/transform.js';
import { cropSamples, litAreas, MAX_BOXES, paintOut, pieceWindows, texturedBoxes } from '../dist/pieces.js';
import { COLLAGE_KEY, COLLAGE_PAYLOAD, pastedCollage, photoOnPage, SECOND_PAYLOAD, twoPieceCollage } from './helpers/collage.mjs';
import { normalUpperTail, rankWeight } from '../dist/stats.js';
import { deriveKey } from '../dist/key.js';
import { Arena } from '../dist/wasm.js';
import { ATTACKS, fromSharp, GEOMETRIC_ATTACKS, mulberry32 } from '../bench/attacks.mjs';
import { MEASURE_KEY, MEASURE_PAYLOAD } from '../bench/measure.mjs';
import { measureGeometry } from '../bench/geometry.mjs';
import { PHOTOS_DIR, samplePhotos } from '../bench/photos.mjs';

const photos = await samplePhotos();
const exact = ['rotate 90', 'rotate 180', 'rotate 270', 'flip left-right', 'flip top-bottom'];
const scales = ['scale 0.3x', 'scale 0.5x', 'scale 0.75x', 'scale 1.5x', 'scale 2x', 'aspect 0.8', 'aspect 0.9', 'aspect 1.1', 'aspect 1.25'];
// Attacks whose issue target is 95%, met since the mark's chroma share (docs/geometry.md).
const ninetyFive = ['crop 50% area', 'social media chain', ...[2, -2, 5, -5].flatMap((d) => [`rotate ${d > 0 ? '+' : ''}${d} crop-to-fit`, `rotate ${d > 0 ? '+' : ''}${d} borders`])];
// Attacks whose issue target (90%) is met.
const ninety = ['rotate +10 crop-to-fit', 'rotate -10 crop-to-fit', 'rotate +10 borders', 'rotate -10 borders'];
// Regression floors where the target is not met: a little under what bench/geometry.mjs
// measures (BENCHMARKS.md), so a change that loses ground fails.
const floors = { 'screenshot chain': 22 };
const results = await measureGeometry(photos, [...exact, ...scales, ...ninetyFive, ...ninety, 'crop 25% area', ...Object.keys(floors)]);

for (const name of exact) {
  test(`exact payload on 100% of photos after ${name}`, () => {
    assert.equal(results[name].failed, [], `failed: ${results[name].failed.join(', ')}`);
  });
}
for (const name of scales) {
  test(`exact payload on >= 95% of photos after ${name}`, () => {
    assert.ok(results[name].ok / photos.length >= 0.95, `${results[name].ok}/${photos.length}; failed: ${results[name].failed.join(', ')}`);
  });
}

for (const name of ninetyFive) {
  test(`exact payload on >= 95% of photos after ${name}`, () => {
    assert.ok(results[name].ok / photos.length >= 0.95, `${results[name].ok}/${photos.length}; failed: ${results[name].failed.join(', ')}`);
  });
}

test('exact payload on >= 80% of photos after crop 25% area', () => {
  const r = results['crop 25% area'];
  assert.ok(r.ok / photos.length >= 0.8, `${r.ok}/${photos.length}; failed: ${r.failed.join(', ')}`);
});

for (const name of ninety) {
  test(`exact payload on >= 90% of photos after ${name}`, () => {
    assert.ok(results[name].ok / photos.length >= 0.9, `${results[name].ok}/${photos.length}; failed: ${results[name].failed.join(', ')}`);
  });
}

for (const [name, floor] of Object.entries(floors)) {
  test(`regression floor: exact payload on >= ${floor} of ${photos.length} photos after ${name}`, () => {
    assert.ok(results[name].ok >= floor, `${results[name].ok}; failed: ${results[name].failed.join(', ')}`);
  });
}

test('the detector reports the transform: mirror, right-angle and small rotations, crop offset', async () => {
  const wm = await createWatermarker({ key: 'geometry test key' });
  const { data, info } = await sharp(PHOTOS_DIR + 'mate-Storm.jpg').raw().toBuffer({ resolveWithObject: true });
  const marked = wm.embed({ width: info.width, height: info.height, channels: info.channels, data }, '0123456789abcdef');
  const raw = () => sharp(Buffer.from(marked.data), { raw: { width: marked.width, height: marked.height, channels: marked.channels } });
  const plain = wm.detect(marked).transform;
  assert.equal([plain.rotation, plain.flipped, plain.aspect], [0, false, 1]);
  const flopped = wm.detect(await fromSharp(raw().flop()));
  assert.is(flopped.payload, '0123456789abcdef');
  assert.ok(flopped.transform.flipped && Math.abs(flopped.transform.rotation) < 0.5, JSON.stringify(flopped.transform));
  const turned = wm.detect(await fromSharp(raw().rotate(90)));
  assert.ok(!turned.transform.flipped && Math.abs(turned.transform.rotation + 90) < 0.5, JSON.stringify(turned.transform));
  // Half a turn is 180 degrees, never -180: the rotation lies in (-180, 180].
  const half = wm.detect(await fromSharp(raw().rotate(180)));
  assert.is(half.payload, '0123456789abcdef');
  assert.ok(!half.transform.flipped && half.transform.rotation === 180, JSON.stringify(half.transform));
  // sharp rotates clockwise for positive angles; the transform counts counter-clockwise
  const tilted = wm.detect(await fromSharp(raw().rotate(-5, { background: '#000' })));
  assert.is(tilted.payload, '0123456789abcdef');
  assert.ok(Math.abs(tilted.transform.rotation - 5) < 0.3, JSON.stringify(tilted.transform));
  // Stretched as a whole (the aspect search): the grid's aspect follows the stretch.
  const squeezed = wm.detect(await fromSharp(raw().resize(Math.round(info.width * 0.8), info.height, { fit: 'fill' })));
  assert.is(squeezed.payload, '0123456789abcdef');
  assert.ok(Math.abs(squeezed.transform.aspect - 0.8) < 0.02 && Math.abs(squeezed.transform.rotation) < 0.5, JSON.stringify(squeezed.transform));
  const cropped = wm.detect(await fromSharp(raw().extract({ left: 200, top: 120, width: 1500, height: 1000 })));
  assert.is(cropped.payload, '0123456789abcdef');
  assert.ok(Math.abs(cropped.transform.scale - plain.scale) / plain.scale < 0.01, JSON.stringify(cropped.transform));
  // a tile origin of the grid, TILE * 8 grid pixels apart: the crop offset modulo the tile period
  const period = TILE * 8 * plain.scale;
  for (const [i, off] of [[0, 200], [1, 120]]) {
    const d = ((cropped.transform.translation[i] + off - plain.translation[i]) % period + period) % period;
    assert.ok(Math.min(d, period - d) < 2, `axis ${i}: ${JSON.stringify(cropped.transform)}`);
  }
});

test('a lattice candidate whose origin is a pixel or two off is refined back onto the mark', async () => {
  const key = 'geometry refine key';
  const wm = await createWatermarker({ key });
  const k = await init();
  const layout = makeLayout(await deriveKey(key, 'modelmark classical tile v1'));
  const { data, info } = await sharp(PHOTOS_DIR + 'mate-Garden.jpg').resize(900).raw().toBuffer({ resolveWithObject: true });
  const marked = wm.embed({ width: info.width, height: info.height, channels: info.channels, data }, '0123456789abcdef');
  const img = await fromSharp(sharp(Buffer.from(marked.data), { raw: { width: marked.width, height: marked.height, channels: 3 } })
    .rotate(-4, { background: '#000' }).extract({ left: 60, top: 60, width: 760, height: 500 }));
  const a = new Arena(k);
  try {
    const pix = a.put(img.data);
    const g = candidateGeometries(img.width, img.height)[0];
    const base = { frame: lumaFrame(a, img, pix, g), g };
    const read = (c, affine) => {
      const mk = k.mark();
      try {
        const { soft, energy } = despread(a, analyseOnGrid(a, c.frame, c.g.fw, c.g.fh, affine), layout);
        return { crc: checkInfo(viterbi(soft.subarray(0, PILOT))).crcOk, energy: dataEnergyScore(soft, energy) };
      } finally { k.release(mk); }
    };
    const found = searchGrids(a, base, pilotPatterns(a, layout), (r) => reframe(a, img, base, r)).find((c) => read(c, c.affine).crc);
    assert.ok(found, 'the search finds the rotated crop');
    for (const [du, dv] of [[2, 0], [0, -2], [2, 2], [-1, 2]]) {
      const f = found.affine;
      const off = { ...found, affine: { ...f, tx: f.tx + f.m00 * du + f.m01 * dv, ty: f.ty + f.m10 * du + f.m11 * dv } };
      const before = read(off, off.affine);
      assert.not.ok(before.crc, `${du},${dv}: the payload is lost ${Math.hypot(du, dv).toFixed(1)} grid pixels off`);
      const refined = refineGrid(a, off, layout);
      assert.ok(refined, `${du},${dv}: refined`);
      const after = read(off, refined);
      assert.ok(after.crc && after.energy > before.energy, `${du},${dv}: refined grid decodes (energy ${before.energy.toFixed(1)} -> ${after.energy.toFixed(1)})`);
      // back within a pixel of the grid the search located
      assert.ok(Math.hypot(refined.tx - f.tx, refined.ty - f.ty) < 1.5 * Math.hypot(f.m00, f.m10), `${du},${dv}: ${JSON.stringify(refined)}`);
    }
  } finally {
    a.release();
  }
});

test('a payload whose best path fails its CRC on the found grid is list-decoded, and its rank is priced in the p-value', async () => {
  // coins.png as a one-channel grey image (the luma mark alone), resized to half and back, then
  // cropped to half its area: the best path fails its CRC on the grid the search finds, a
  // lower-ranked path passes. (The suite's own 25% crop of coins was such a case until the
  // detector read the blocks cut by the crop's edge better; the RGB copy of this one until the
  // mark's chroma share.)
  const i = photos.findIndex((p) => p.name === 'skimage-coins.png');
  if (i < 0) { console.log('  (skimage-coins.png not in the photos: skipped)'); return; }
  const wm = await createWatermarker({ key: MEASURE_KEY });
  const rgb = photos[i].image, grey = new Uint8Array(rgb.width * rgb.height);
  for (let p = 0; p < grey.length; p++) grey[p] = rgb.data[p * rgb.channels]; // coins is grey: R = G = B
  const soft = await ATTACKS['resize 0.5x and back'](wm.embed({ width: rgb.width, height: rgb.height, channels: 1, data: grey }, MEASURE_PAYLOAD));
  const attacked = await GEOMETRIC_ATTACKS['crop 50% area'](soft, mulberry32(7 + i));
  const r = wm.detect(attacked);
  assert.ok(r.found, `not found: p ${r.pValue}`);
  assert.is(r.payload, MEASURE_PAYLOAD);
  // p = m * 2^-16 * w(rank) * P(Z >= score): recover m * w(rank) and find the rank it prices
  const mw = r.pValue / (2 ** -16 * normalUpperTail(r.score));
  const ranks = [];
  for (let m = 1; m <= 32; m++) for (let rank = 1; rank <= LIST_SIZE; rank++) {
    if (Math.abs(mw / (m * rankWeight(rank, LIST_SIZE)) - 1) < 1e-9) ranks.push(rank);
  }
  assert.ok(ranks.length > 0, `p-value not of the form m * 2^-16 * w(rank) * pPilot (m * w = ${mw})`);
  assert.ok(ranks.every((rank) => rank >= 2), `decoded at rank ${ranks}`);
});

test('an image stretched into a square is found whichever axis was stretched (the aspect search tries both)', async () => {
  const wm = await createWatermarker({ key: 'geometry test key' });
  // skimage-ihc.png, whose lattice the lattice search cannot see under its texture (docs/geometry.md):
  // a w x h crop (frame 320 x 256 or 256 x 320), marked, then squeezed to 410 x 410. The frame is
  // square and only one of its axes kept the tile period.
  for (const [w, h] of [[512, 410], [410, 512]]) {
    const { data, info } = await sharp(PHOTOS_DIR + 'skimage-ihc.png').removeAlpha().extract({ left: 0, top: 0, width: w, height: h }).raw().toBuffer({ resolveWithObject: true });
    const marked = wm.embed({ width: info.width, height: info.height, channels: info.channels, data }, '0123456789abcdef');
    const square = await fromSharp(sharp(Buffer.from(marked.data), { raw: { width: w, height: h, channels: 3 } }).resize(410, 410, { fit: 'fill' }));
    const r = wm.detect(square);
    assert.is(r.payload, '0123456789abcdef', `${w} x ${h}: ${JSON.stringify({ found: r.found, pValue: r.pValue })}`);
    // The aspect search's grid: the original frame (long side 320) mapped exactly onto the image,
    // axis-aligned from its corner (a lattice estimate would be off in the last digits).
    const [sx, sy] = w > h ? [410 / 320, 410 / 256] : [410 / 256, 410 / 320];
    const round = (x) => Math.round(x * 1e4) / 1e4;
    assert.equal(r.transform.matrix, [sx, 0, 0, sy, sx / 2 - 0.5, sy / 2 - 0.5].map(round), JSON.stringify(r.transform));
  }
});

// The comb's lattice must be the true one to a fraction of a pixel: the far tiles of the fold
// are a few pixels off otherwise, and the payload is not read. After +10 degrees the comb's
// coarse map (lags up to 128) peaks 0.64 pixels of period from the maximum over all lags: its
// refinement window has to move there.
for (const [attack, degrees] of [['rotate +2 crop-to-fit', 2], ['rotate +10 crop-to-fit', 10]]) {
  test(`the lattice comb finds a square lattice that the pair search misses under texture (skimage-ihc.png in grey, ${attack})`, async () => {
    const i = photos.findIndex((p) => p.name === 'skimage-ihc.png');
    if (i < 0) { console.log('  (skimage-ihc.png not in the photos: skipped)'); return; }
    const k = await init();
    const wm = await createWatermarker({ key: MEASURE_KEY });
    // The photo's luma as a one-channel image: the luma mark alone. (In colour, the mark's chroma
    // share makes ihc's lattice plain enough for the pair search.)
    const rgb = photos[i].image, grey = new Uint8Array(rgb.width * rgb.height);
    for (let p = 0; p < grey.length; p++) grey[p] = Math.round(0.299 * rgb.data[p * rgb.channels] + 0.587 * rgb.data[p * rgb.channels + 1] + 0.114 * rgb.data[p * rgb.channels + 2]);
    const image = { width: rgb.width, height: rgb.height, channels: 1, data: grey };
    const attacked = await GEOMETRIC_ATTACKS[attack](wm.embed(image, MEASURE_PAYLOAD), mulberry32(1000 + i * 31 + attack.length));
    const a = new Arena(k);
    try {
      const g = candidateGeometries(attacked.width, attacked.height)[0];
      // As the detector (a grey image has no Cb frame: the whitened luma alone).
      const fr = framesStreamed(a, checkImage(attacked), g);
      const white = whitenFrames(a, { frame: fr.y, g }, fr.cb);
      // The tile period after a rotation cropped to fit: 64 frame pixels, enlarged by the crop.
      const rad = (degrees * Math.PI) / 180;
      const period = 64 * (Math.cos(rad) + Math.sin(rad));
      const isTrue = (l, tol) => [l.v1, l.v2].some((v) => Math.abs(Math.hypot(...v) - period) < tol && Math.abs(Math.atan2(v[1], v[0]) * 180 / Math.PI - degrees) < 0.3);
      const pairs = findLattices(a, white, g.fw, g.fh, SEARCH_LATTICES, g.sx / g.sy, 0);
      assert.not.ok(pairs.some((l) => isTrue(l, 1.5)), 'the pair search alone finds it: the test no longer shows the comb');
      const withComb = findLattices(a, white, g.fw, g.fh, SEARCH_LATTICES, g.sx / g.sy, COMB_LATTICES);
      const comb = withComb.slice(pairs.length);
      assert.ok(comb.length === 1 && isTrue(comb[0], 0.3) && comb[0].z >= COMB_MIN_Z, `period ${period.toFixed(2)}: ${JSON.stringify(comb)}`);
    } finally {
      a.release();
    }
    const r = wm.detect(attacked);
    assert.is(r.payload, MEASURE_PAYLOAD);
    assert.ok(Math.abs(Math.abs(r.transform.rotation) - degrees) < 0.2, JSON.stringify(r.transform));
  });
}

test('peakOffset puts a correlation peak between pixels, wrapping at the tile edge', () => {
  // A smooth peak (Gaussian, 1.2 px wide) sampled on the 64 x 64 periodic grid of locateGrid's
  // correlation, centred off the pixels; the integer maximum alone is up to half a pixel off.
  const P = 64;
  for (const [cu, cv] of [[10.3, 20.7], [0.4, 63.8], [63.6, 31.5], [5, 5]]) {
    const C = new Float32Array(P * P);
    const d = (a, b) => { const x = Math.abs(a - b) % P; return Math.min(x, P - x); };
    for (let v = 0; v < P; v++) for (let u = 0; u < P; u++) C[v * P + u] = Math.exp(-(d(u, cu) ** 2 + d(v, cv) ** 2) / (2 * 1.2 ** 2));
    let bi = 0;
    for (let i = 1; i < C.length; i++) if (C[i] > C[bi]) bi = i;
    const u = (bi % P) + peakOffset(C, bi, 1), v = Math.floor(bi / P) + peakOffset(C, bi, P);
    assert.ok(d(u, cu) < 0.1 && d(v, cv) < 0.1, `peak at ${cu}, ${cv}: found ${u.toFixed(3)}, ${v.toFixed(3)}`);
  }
});

test('search off: right-angle turns are not found, and the p-value counts fewer candidates', async () => {
  const wm = await createWatermarker({ key: 'geometry test key', search: false });
  const { data, info } = await sharp(PHOTOS_DIR + 'mate-Dune.jpg').resize(800).raw().toBuffer({ resolveWithObject: true });
  const marked = wm.embed({ width: info.width, height: info.height, channels: info.channels, data }, '0123456789abcdef');
  const turned = await fromSharp(sharp(Buffer.from(marked.data), { raw: { width: marked.width, height: marked.height, channels: 3 } }).rotate(90));
  assert.not.ok(wm.detect(turned).found);
  const searching = await createWatermarker({ key: 'geometry test key' });
  assert.ok(searching.detect(turned).found);
  // Per call, either way round: the same answers, and the p-value counts the same candidates.
  const off = searching.detect(turned, { search: false });
  assert.not.ok(off.found);
  assert.is(off.pValue, wm.detect(turned).pValue);
  const on = wm.detect(turned, { search: true });
  assert.ok(on.found);
  assert.is(on.pValue, searching.detect(turned).pValue);
});

test('the p-value counts every candidate the detector may decode: the canonical frames (twice for colour: luma, then luma + Cb), the turns, the aspect and lattice candidates', async () => {
  // p = m * 2^-16 * w(rank) * P(Z >= score): recover m * w(rank) and compare with the count.
  const wm = await createWatermarker({ key: 'geometry test key' });
  for (const grey of [false, true]) {
    const img = await fromSharp(sharp(PHOTOS_DIR + 'mate-Dune.jpg').resize(480, 320, { fit: 'cover' }).greyscale(grey));
    const marked = wm.embed(img, '0123456789abcdef');
    const frames = candidateGeometries(img.width, img.height).length;
    for (const search of [true, false]) {
      const m = frames * (grey ? 1 : 2) + (search ? orientations(256, 256).length + ASPECT_DECODES + (SEARCH_LATTICES + COMB_LATTICES) * DECODES_PER_LATTICE : 0);
      const r = wm.detect(marked, { search });
      assert.is(r.payload, '0123456789abcdef');
      const mw = r.pValue / (2 ** -16 * normalUpperTail(r.score));
      const ranks = [];
      for (let rank = 1; rank <= LIST_SIZE; rank++) if (Math.abs(mw / (m * rankWeight(rank, LIST_SIZE)) - 1) < 1e-9) ranks.push(rank);
      assert.ok(ranks.length > 0, `${grey ? 'grey' : 'colour'}, search ${search}: p-value counts m * w = ${mw}, not ${m} candidates times a rank's weight`);
    }
  }
});

test('the region map shows which part of a collage carries the mark', async () => {
  const wm = await createWatermarker({ key: 'geometry test key' });
  const img = await fromSharp(sharp(PHOTOS_DIR + 'mate-Storm.jpg'));
  const marked = wm.embed(img, '0123456789abcdef');
  const data = new Uint8Array(img.data);
  const cut = Math.round(img.width * 0.6);
  for (let y = 0; y < img.height; y++) data.set(marked.data.subarray(y * img.width * 3, (y * img.width + cut) * 3), y * img.width * 3);
  const r = wm.detect({ ...img, data });
  assert.is(r.payload, '0123456789abcdef');
  const { columns, rows, cellWidth, scores } = r.regions;
  assert.ok(Math.abs(columns * cellWidth - img.width) < 1e-6 && rows > 1);
  const left = [], right = [];
  for (let y = 0; y < rows; y++) for (let x = 0; x < columns; x++) {
    const s = scores[y * columns + x];
    if (s === null) continue;
    if ((x + 1) * cellWidth <= cut) left.push(s);
    else if (x * cellWidth >= cut) right.push(s);
  }
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(left.filter((s) => s >= 3).length >= 0.9 * left.length, `left: ${left.join(' ')}`);
  assert.ok(right.filter((s) => s >= 3).length <= 0.1 * right.length, `right: ${right.join(' ')}`);
  assert.ok(Math.abs(mean(right)) < 1.5, `right mean ${mean(right)}`);
});

test('pieces: a marked photo pasted into a larger unmarked one is found only with { pieces: true }, placed in the whole image, and its p-value counts every window\'s candidates', async () => {
  const wm = await createWatermarker({ key: COLLAGE_KEY });
  // 1280 x 1024 pasted at (681, 383), off the 8-pixel grid, into another photo of 2112 x 1625,
  // saved as JPEG q85: the whole image's frame shows the piece at 0.6x its own and mixed with the
  // host; a window about its size reads it.
  const { jpeg, width: W, height: H, rect, marked } = await pastedCollage();
  const plain = wm.detect(marked).transform;
  const collage = await fromSharp(sharp(jpeg));
  assert.not.ok(wm.detect(collage).found, 'read whole, the piece is missed (else this test shows nothing)');
  const r = wm.detect(collage, { pieces: true });
  assert.is(r.payload, COLLAGE_PAYLOAD);
  // The transform is the whole image's: the piece's scale, a tile origin at the paste offset.
  assert.ok(Math.abs(r.transform.scale - plain.scale) / plain.scale < 0.01 && Math.abs(r.transform.rotation) < 0.3, JSON.stringify(r.transform));
  const period = TILE * 8 * plain.scale;
  for (const [i, off] of [[0, rect.left], [1, rect.top]]) {
    const d = ((r.transform.translation[i] - off - plain.translation[i]) % period + period) % period;
    assert.ok(Math.min(d, period - d) < 2 * plain.scale, `axis ${i}: ${JSON.stringify(r.transform)}`);
  }
  // The region map covers the whole collage: the cells that carry the mark lie on the piece.
  const { columns, rows, cellWidth, cellHeight, scores } = r.regions;
  assert.ok(Math.abs(columns * cellWidth - W) < 1e-6 && Math.abs(rows * cellHeight - H) < 1e-6);
  let marks = 0, off = 0, inside = 0, insideMarked = 0;
  for (let y = 0; y < rows; y++) for (let x = 0; x < columns; x++) {
    const s = scores[y * columns + x];
    if (s === null) continue;
    const x0 = x * cellWidth, y0 = y * cellHeight, x1 = x0 + cellWidth, y1 = y0 + cellHeight;
    const touches = x1 > rect.left && x0 < rect.left + rect.width && y1 > rect.top && y0 < rect.top + rect.height;
    const within = x0 >= rect.left && x1 <= rect.left + rect.width && y0 >= rect.top && y1 <= rect.top + rect.height;
    if (s >= 3) { marks++; if (!touches) off++; }
    if (within) { inside++; if (s >= 3) insideMarked++; }
  }
  assert.ok(marks > 0 && off <= 0.02 * marks, `${off} of ${marks} marked cells off the piece`);
  assert.ok(inside > 0 && insideMarked >= 0.5 * inside, `${insideMarked} of ${inside} cells on the piece marked`);
  // p = m * 2^-16 * w(rank) * P(Z >= score), m now the whole image's candidates (colour,
  // searched) and the lattice decodes of each of the nine windows and of the MAX_BOXES textured
  // boxes, counted whether found or not (each is read by the lattice search alone).
  const lattices = (SEARCH_LATTICES + COMB_LATTICES) * DECODES_PER_LATTICE;
  const windows = pieceWindows(W, H);
  assert.is(windows.length, 9);
  const m = candidateGeometries(W, H).length * 2 + orientations(256, 256).length + ASPECT_DECODES + lattices + (windows.length + MAX_BOXES) * lattices;
  const mw = r.pValue / (2 ** -16 * normalUpperTail(r.score));
  assert.ok([...Array(LIST_SIZE).keys()].some((k) => Math.abs(mw / (m * rankWeight(k + 1, LIST_SIZE)) - 1) < 1e-9), `p-value counts m * w = ${mw}, not ${m} candidates times a rank's weight`);
  // Where the whole image carries the mark, pieces changes nothing but the price of its p-value.
  const whole = wm.detect(marked), both = wm.detect(marked, { pieces: true });
  assert.is(both.payload, whole.payload);
  assert.equal(both.transform, whole.transform);
  assert.ok(both.pValue > whole.pValue);
});

test('pieces: a mirrored piece and a rotated one, found in windows away from (0, 0), are placed exactly in the whole image (transform and region map)', async () => {
  const wm = await createWatermarker({ key: COLLAGE_KEY });
  const { data: d0, info } = await sharp(PHOTOS_DIR + 'mate-GreenMeadow.jpg').removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const marked = wm.embed({ width: info.width, height: info.height, channels: 3, data: d0 }, COLLAGE_PAYLOAD);
  const [a, b, c, d, e, f] = wm.detect(marked).transform.matrix; // grid -> marked photo
  const W = 2112, H = 1625, k = 0.8;
  const host = await sharp(PHOTOS_DIR + 'mate-Dune.jpg').removeAlpha().resize(W, H, { fit: 'fill' }).raw().toBuffer();
  const w0 = Math.round(info.width * k), h0 = Math.round(info.height * k);
  // The marked photo scaled 0.8x, then mirrored left-right or turned 90 degrees clockwise, pasted
  // off the 8-pixel grid, JPEG q85. `place` maps a pixel of the scaled photo into the collage.
  for (const { op, left, top, place } of [
    { op: 'flop', left: 829, top: 597, place: ([x, y]) => [w0 - 1 - x, y] },
    { op: 'rotate', left: 1100, top: 500, place: ([x, y]) => [h0 - 1 - y, x] },
  ]) {
    const scaled = await sharp(Buffer.from(marked.data), { raw: { width: info.width, height: info.height, channels: 3 } }).resize(w0, h0).png().toBuffer();
    const { data: pd, info: pi } = await (op === 'flop' ? sharp(scaled).flop() : sharp(scaled).rotate(90)).raw().toBuffer({ resolveWithObject: true });
    const jpeg = await sharp(host, { raw: { width: W, height: H, channels: 3 } })
      .composite([{ input: pd, raw: { width: pi.width, height: pi.height, channels: 3 }, left, top }]).jpeg({ quality: 85 }).toBuffer();
    const collage = await fromSharp(sharp(jpeg));
    assert.not.ok(wm.detect(collage).found, `${op}: read whole, the piece is missed (else the windows are not what finds it)`);
    const r = wm.detect(collage, { pieces: true });
    assert.is(r.payload, COLLAGE_PAYLOAD, op);
    // The window that found it: the first whose own read finds the mark. Not the one at (0, 0).
    const windows = pieceWindows(W, H);
    const w = windows.find((w) => wm.detect(cropSamples(collage, w)).found);
    assert.ok(w.left > 0, `${op}: found in the window at (${w.left}, ${w.top})`);
    if (op === 'flop') assert.ok(w.top > 0, 'the mirrored piece is found in a window away from the top edge too');
    assert.is(r.transform.flipped, op === 'flop', op);
    // Expected: grid -> marked photo -> scaled (pixel centres) -> mirrored or turned -> pasted.
    const expected = (u, v) => {
      const [x, y] = place([(a * u + b * v + e + 0.5) * k - 0.5, (c * u + d * v + f + 0.5) * k - 0.5]);
      return [x + left, y + top];
    };
    const o = expected(0, 0), du = expected(1, 0), dv = expected(0, 1);
    const M = [du[0] - o[0], dv[0] - o[0], du[1] - o[1], dv[1] - o[1]];
    const [A, B, C, D, E, F] = r.transform.matrix;
    [A, B, C, D].forEach((v, i) => assert.ok(Math.abs(v - M[i]) < 0.02, `${op}: matrix ${JSON.stringify(r.transform.matrix)} against ${M.map((x) => x.toFixed(3))}`));
    assert.equal(r.transform.translation, [E, F]);
    // The found tile origin, in the expected grid's coordinates, is on a tile corner (a period of
    // TILE * 8 grid pixels), to 3 grid pixels (a read estimates its origin to a pixel or two; a
    // wrong shift into the whole image would be a window's or box's offset, tens of grid pixels).
    const det = M[0] * M[3] - M[1] * M[2], dx = E - o[0], dy = F - o[1];
    const gu = (M[3] * dx - M[1] * dy) / det, gv = (-M[2] * dx + M[0] * dy) / det, period = TILE * 8;
    for (const g of [gu, gv]) {
      const m = ((g % period) + period) % period;
      assert.ok(Math.min(m, period - m) < 3, `${op}: tile origin ${g.toFixed(2)} grid pixels off a tile corner (translation ${r.transform.translation})`);
    }
    // The region map: the cells that carry the mark lie on the piece, and fill much of it.
    const { columns, rows, cellWidth, cellHeight, scores } = r.regions;
    const rect = { left, top, right: left + pi.width, bottom: top + pi.height };
    let marks = 0, off = 0, inside = 0, insideMarked = 0;
    for (let y = 0; y < rows; y++) for (let x = 0; x < columns; x++) {
      const s = scores[y * columns + x];
      if (s === null) continue;
      const x0 = x * cellWidth, y0 = y * cellHeight, x1 = x0 + cellWidth, y1 = y0 + cellHeight;
      const touches = x1 > rect.left && x0 < rect.right && y1 > rect.top && y0 < rect.bottom;
      if (s >= 3) { marks++; if (!touches) off++; }
      if (x0 >= Math.max(rect.left, w.left) && x1 <= Math.min(rect.right, w.left + w.width) && y0 >= Math.max(rect.top, w.top) && y1 <= Math.min(rect.bottom, w.top + w.height)) { inside++; if (s >= 3) insideMarked++; }
    }
    assert.ok(marks > 0 && off <= 0.02 * marks, `${op}: ${off} of ${marks} marked cells off the piece`);
    assert.ok(inside > 0 && insideMarked >= 0.3 * inside, `${op}: ${insideMarked} of ${inside} cells on the piece (within the window) marked`);
  }
});

/** Cells of a region map that carry the mark (score >= 3), and how many of them lie off `rect`. */
function litCells(regions, rect) {
  const { columns, rows, cellWidth, cellHeight, scores } = regions;
  let lit = 0, off = 0;
  for (let y = 0; y < rows; y++) for (let x = 0; x < columns; x++) {
    const s = scores[y * columns + x];
    if (s === null || s < 3) continue;
    lit++;
    const x0 = x * cellWidth, y0 = y * cellHeight;
    if (x0 + cellWidth <= rect.left || x0 >= rect.left + rect.width || y0 + cellHeight <= rect.top || y0 >= rect.top + rect.height) off++;
  }
  return { lit, off };
}

test('pieces: a small marked photo on a flat page (a screenshot of a web page) is located as a textured box and found, where the whole image and the nine windows miss it', async () => {
  const wm = await createWatermarker({ key: COLLAGE_KEY });
  const { image, rect } = await photoOnPage();
  // The box: the photo's rectangle to within a block (8 pixels) on each side; the text rows,
  // header and margins are not boxes.
  const a = new Arena();
  let boxes;
  try { boxes = texturedBoxes(a, image); } finally { a.release(); }
  assert.is(boxes.length, 1, JSON.stringify(boxes));
  const [b] = boxes;
  for (const [got, want] of [[b.left, rect.left], [b.top, rect.top], [b.left + b.width, rect.left + rect.width], [b.top + b.height, rect.top + rect.height]]) {
    assert.ok(Math.abs(got - want) <= 8, `box ${JSON.stringify(b)} against the photo ${JSON.stringify(rect)}`);
  }
  assert.not.ok(wm.detect(image).found, 'read whole, the photo is missed (else this test shows nothing)');
  for (const w of pieceWindows(image.width, image.height)) {
    assert.not.ok(wm.detect(cropSamples(image, w)).found, `window ${JSON.stringify(w)} alone finds it (then the box shows nothing)`);
  }
  const r = wm.detect(image, { pieces: true });
  assert.is(r.payload, COLLAGE_PAYLOAD);
  // Placed in the page: the cells that carry the mark lie on the photo.
  const { lit, off } = litCells(r.regions, rect);
  assert.ok(lit > 0 && off === 0, `${off} of ${lit} marked cells off the photo`);
  // A flat image has no box; a photo that is textured all over is one box of the whole image,
  // which is left out (the whole image is read already).
  const a2 = new Arena();
  try {
    assert.equal(texturedBoxes(a2, { width: 640, height: 480, channels: 3, data: new Uint8Array(640 * 480 * 3).fill(200) }), []);
    assert.equal(texturedBoxes(a2, await fromSharp(sharp(PHOTOS_DIR + 'skimage-gravel.png'))), []);
  } finally { a2.release(); }
});

test("pieces: 'all': two photos marked with the same key and different payloads in one collage are both found, each placed on its own photo; true finds one", async () => {
  const wm = await createWatermarker({ key: COLLAGE_KEY });
  const { image, pieces } = await twoPieceCollage();
  const one = wm.detect(image, { pieces: true });
  assert.ok(one.found);
  assert.is(one.pieces, undefined, 'pieces is listed only with pieces: \'all\'');
  const r = wm.detect(image, { pieces: 'all' });
  // The first find is the same as with true, and the result's own.
  assert.is(r.payload, one.payload);
  assert.is(r.pValue, one.pValue);
  assert.is(r.pieces.length, 2, JSON.stringify(r.pieces.map((p) => p.payload)));
  assert.equal(r.pieces[0], { found: r.found, payload: r.payload, pValue: r.pValue, score: r.score, crcOk: r.crcOk, transform: r.transform, regions: r.regions });
  assert.equal(r.pieces.map((p) => p.payload).sort(), [COLLAGE_PAYLOAD, SECOND_PAYLOAD].sort());
  for (const p of r.pieces) {
    assert.ok(p.found && p.crcOk && p.pValue < 1e-6, `${p.payload}: p ${p.pValue}`);
    // Placed on its own photo: its marked cells lie there, not on the other one.
    const { rect } = pieces.find((q) => q.payload === p.payload);
    const { lit, off } = litCells(p.regions, rect);
    // (Its map need not light all of it: mate-Storm's lower half lights no cell here, and is found
    // again from the lower windows, which is why a find beside a box of the same payload and scale
    // grows that box instead of adding a piece: without it this photo was listed twice.)
    assert.ok(lit > 0 && off === 0, `${p.payload}: ${off} of ${lit} marked cells off its photo`);
  }
});

test("pieces: 'all' helpers: paintOut paints a window's copy grey under the boxes (alpha kept, the image untouched), null at 90% or more (overlaps counted once); litAreas paints lit cells and small enclosed gaps", () => {
  const width = 40, height = 20;
  for (const channels of [1, 3, 4]) {
    const data = new Uint8Array(width * height * channels).map((_, i) => (i * 7) % 251);
    const img = { width, height, channels, data };
    const before = data.slice();
    const w = { left: 10, top: 5, width: 20, height: 10 };
    const out = paintOut(img, w, [{ left: 0, top: 0, width: 15, height: 8 }, { left: 12, top: 6, width: 3, height: 2 }]);
    assert.equal(data, before, 'the image itself is not changed');
    assert.is(out.width, 20);
    for (let y = 0; y < 10; y++) {
      for (let x = 0; x < 20; x++) {
        const src = ((y + 5) * width + x + 10) * channels, dst = (y * 20 + x) * channels;
        const grey = x + 10 < 15 && y + 5 < 8;
        for (let k = 0; k < channels; k++) {
          const want = grey && (channels !== 4 || k < 3) ? 128 : before[src + k];
          if (out.data[dst + k] !== want) assert.unreachable(`channels ${channels}: (${x}, ${y})[${k}] is ${out.data[dst + k]}, not ${want}`);
        }
      }
    }
    // 18 of 20 columns under two overlapping boxes: 90%, null; 17 columns (85%): a copy.
    assert.is(paintOut(img, w, [{ left: 10, top: 0, width: 12, height: 20 }, { left: 16, top: 0, width: 12, height: 20 }]), null);
    assert.ok(paintOut(img, w, [{ left: 10, top: 0, width: 12, height: 20 }, { left: 16, top: 0, width: 11, height: 20 }]) !== null, 'overlaps are counted once');
  }
  // A 4 x 3 map: two lit cells around an unlit one (a gap of one cell, enclosed: painted), a lit
  // corner; the others unlit (the edge: left). Each run of a row is one rectangle.
  const regions = { columns: 4, rows: 3, cellWidth: 10, cellHeight: 10, scores: [0, 3, 0, 5, 4, 1, 3.5, null, 0, 3, 0, 0] };
  assert.equal(litAreas({ regions }, 40, 30), [
    { left: 10, top: 0, width: 10, height: 10 }, { left: 30, top: 0, width: 10, height: 10 },
    { left: 0, top: 10, width: 30, height: 10 },
    { left: 10, top: 20, width: 10, height: 10 },
  ]);
  assert.equal(litAreas({ regions: { ...regions, scores: regions.scores.map(() => 1) } }, 40, 30), [{ left: 0, top: 0, width: 40, height: 30 }], 'no lit cell: the whole image');
  assert.equal(litAreas({ regions: null }, 40, 30), [{ left: 0, top: 0, width: 40, height: 30 }]);
});

test("pieces: 'all': a photo pasted on a photo marked with another payload (a marked background) is listed too, placed on itself", async () => {
  const wm = await createWatermarker({ key: COLLAGE_KEY });
  const load = async (name, width, height) => fromSharp(sharp(PHOTOS_DIR + name).removeAlpha().resize(width, height, { fit: 'fill' }));
  const background = wm.embed(await load('mate-Dune.jpg', 1920, 1080), SECOND_PAYLOAD);
  const piece = wm.embed(await load('mate-Storm.jpg', 700, 467), COLLAGE_PAYLOAD);
  const rect = { left: 1100, top: 500, width: 700, height: 467 };
  const jpeg = await sharp(Buffer.from(background.data), { raw: { width: 1920, height: 1080, channels: 3 } })
    .composite([{ input: Buffer.from(piece.data), raw: { width: 700, height: 467, channels: 3 }, left: rect.left, top: rect.top }]).jpeg({ quality: 90 }).toBuffer();
  const r = wm.detect(await fromSharp(sharp(jpeg)), { pieces: 'all' });
  assert.is(r.payload, SECOND_PAYLOAD, 'the background is the first find');
  // (Before, a find was painted out as the bounding box of its lit cells: here the whole image,
  // so the pasted photo was never read.)
  assert.equal(r.pieces.map((p) => p.payload), [SECOND_PAYLOAD, COLLAGE_PAYLOAD]);
  const { lit, off } = litCells(r.pieces[1].regions, rect);
  assert.ok(lit > 0 && off === 0, `${off} of ${lit} marked cells of the pasted photo off it`);
});

test("pieces: 'all': one piece is listed once (not again from another window), a wholly marked photo once, an unmarked one not at all; other values refused", async () => {
  const wm = await createWatermarker({ key: COLLAGE_KEY });
  const { jpeg, width, height } = await pastedCollage();
  const collage = await fromSharp(sharp(jpeg));
  const r = wm.detect(collage, { pieces: 'all' });
  assert.is(r.pieces.length, 1, JSON.stringify(r.pieces.map((p) => p.payload)));
  assert.is(r.pieces[0].payload, COLLAGE_PAYLOAD);
  assert.is(collage.width, width);
  const photo = await fromSharp(sharp(PHOTOS_DIR + 'mate-Blinds.jpg').resize(960));
  const marked = wm.embed(photo, COLLAGE_PAYLOAD);
  const whole = wm.detect(marked, { pieces: 'all' });
  assert.is(whole.pieces.length, 1);
  assert.is(whole.pValue, wm.detect(marked, { pieces: true }).pValue, 'the same find and price as with true');
  const none = wm.detect(photo, { pieces: 'all' });
  assert.not.ok(none.found);
  assert.equal(none.pieces, []);
  assert.is(none.pValue, wm.detect(photo, { pieces: true }).pValue, 'an unmarked image is read as with true');
  for (const bad of ['every', 1, null]) {
    assert.throws(() => wm.detect(photo, { pieces: bad }), (e) => e.code === 'ERR_INVALID_ARGUMENT' && /options\.pieces/.test(e.message) && /'all'/.test(e.message), String(bad));
  }
});

test('region scores depend on the ratio of the luma and Cb weights, not on their scale (as the combined read\'s score does not)', async () => {
  // combineReads' weights have an arbitrary scale (pilot A over the data symbols' mean square):
  // a cell's score, sum of w * evidence over sqrt(sum of w^2 * variance), must not change with it,
  // or unmarked cells of a colour image read in luma and Cb stop being N(0, 1).
  const key = 'geometry test key';
  const wm = await createWatermarker({ key });
  const layout = makeLayout(await deriveKey(key, 'modelmark classical tile v1'));
  const img = await fromSharp(sharp(PHOTOS_DIR + 'mate-Dune.jpg').resize(800));
  const marked = wm.embed(img, '0123456789abcdef');
  const a = new Arena(await init());
  try {
    const g = candidateGeometries(img.width, img.height)[0];
    const fr = framesStreamed(a, marked, g, true);
    const anY = analysePlane(a, fr.y, g), anC = analysePlane(a, fr.cb, g);
    const transform = frameTransform(g, { m00: 1, m01: 0, m10: 0, m11: 1, tx: 0, ty: 0 });
    const scores = (wY, wC) => regionMap(a, [{ an: anY, w: wY }, { an: anC, w: wC }], [0, 0], layout, parsePayload('0123456789abcdef'), transform, img.width, img.height).scores;
    for (const [wY, wC] of [[1, 0.4], [1, 0], [0.3, 1]]) {
      const base = scores(wY, wC);
      assert.ok(base.filter((s) => s >= 3).length > base.length / 2, `weights ${wY}, ${wC}: the mark shows (${base.join(' ')})`);
      for (const c of [1e-3, 7, 250]) {
        const got = scores(c * wY, c * wC);
        // scores are rounded to 0.01: equal, or a rounding boundary apart
        assert.ok(got.every((s, i) => Math.abs(s - base[i]) <= 0.0101), `weights ${wY}, ${wC} times ${c}: ${got.join(' ')} vs ${base.join(' ')}`);
      }
    }
  } finally {
    a.release();
  }
});

test('region map: unmarked cells of a combined (luma + Cb) read score N(0, 1), luma and Cb detail moving together', async () => {
  // The left half of a mirrored image is unmarked stripes whose luma and Cb change together;
  // the mirror makes the detector read luma and Cb combined. Over 60 keys the unmarked cells'
  // mean z^2 must be 1 within 4.5 standard errors: without the luma x Cb cross term in each
  // block's null variance it was 1.54.
  const { data: d0, info } = await sharp(PHOTOS_DIR + 'mate-Aqua.jpg').resize(768).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const W = info.width, H = info.height, cut = Math.round(W * 0.5);
  const cells = [];
  for (let i = 0; i < 60; i++) {
    const wm = await createWatermarker({ key: 'cells ' + i });
    const marked = wm.embed({ width: W, height: H, channels: 3, data: new Uint8Array(d0) }, '0123456789abcdef');
    const data = new Uint8Array(W * H * 3);
    let seed = 1 + i;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const xs = W - 1 - x, o = (y * W + x) * 3, s = (y * W + xs) * 3;
      if (xs < cut) data.set(marked.data.subarray(s, s + 3), o);
      else {
        const on = (Math.floor(x / 5) + Math.floor(y / 7)) & 1, n = (rnd() - 0.5) * 40;
        data[o] = 10; data[o + 1] = 20 + 50 * on + n; data[o + 2] = 40 + 200 * on + n;
      }
    }
    const r = wm.detect({ width: W, height: H, channels: 3, data });
    assert.is(r.payload, '0123456789abcdef', `key ${i}`);
    assert.is(r.transform.flipped, true);
    const { columns, rows, cellWidth, scores } = r.regions;
    for (let y = 0; y < rows; y++) for (let x = 0; x < columns; x++) {
      const z = scores[y * columns + x];
      if (z !== null && (x + 1) * cellWidth <= W - cut) cells.push(z);
    }
  }
  assert.ok(cells.length > 1000, `${cells.length} unmarked cells`);
  const m2 = cells.reduce((a, z) => a + z * z, 0) / cells.length;
  const bound = 4.5 * Math.sqrt(2 / cells.length);
  assert.ok(Math.abs(m2 - 1) < bound, `unmarked cells' mean z^2 ${m2.toFixed(3)}, 1 +- ${bound.toFixed(3)}`);
});

test('modelmark detect --json carries transform and regions; --map writes a picture, never over IN', async () => {
  const { spawnSync } = await import('node:child_process');
  const { mkdtempSync, readFileSync, existsSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(tmpdir() + '/modelmark-map-');
  const cli = (...args) => spawnSync(process.execPath, [new URL('../bin/modelmark.js', import.meta.url).pathname, ...args], { encoding: 'utf8', env: { ...process.env, MODELMARK_KEY: 'map key' } });
  await sharp(PHOTOS_DIR + 'mate-Dune.jpg').resize(960).toFile(dir + '/in.png');
  assert.is(cli('embed', dir + '/in.png', dir + '/marked.png', '--payload', 'abc').status, 0);
  await sharp(dir + '/marked.png').flop().rotate(-4, { background: '#000' }).toFile(dir + '/turned.png');
  const before = readFileSync(dir + '/turned.png');
  const r = cli('detect', dir + '/turned.png', '--json', '--map', dir + '/map.png');
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.is(out.payload, '0000000000000abc');
  assert.ok(out.transform.flipped && Math.abs(out.transform.rotation) > 3 && Math.abs(out.transform.rotation) < 5, JSON.stringify(out.transform));
  assert.ok(out.regions.scores.filter((s) => s !== null && s >= 3).length > out.regions.scores.length / 2);
  const meta = await sharp(dir + '/map.png').metadata();
  const turned = await sharp(dir + '/turned.png').metadata();
  assert.equal([meta.format, meta.width, meta.height], ['png', turned.width, turned.height]);
  assert.equal(readFileSync(dir + '/turned.png'), before);
  const same = cli('detect', dir + '/turned.png', '--map', dir + '/turned.png');
  assert.is(same.status, 2);
  assert.equal(readFileSync(dir + '/turned.png'), before);
  assert.ok(existsSync(dir + '/map.png'));
});

test('--map colours: green from score 3, amber from 1.5, red below, transparent outside the examined area (as documented)', async () => {
  const { cellColour } = await import('../dist/node/map.js');
  const green = cellColour(3), amber = cellColour(1.5), red = cellColour(1.49);
  assert.equal(cellColour(12), green);
  assert.equal(cellColour(2.99), amber);
  assert.equal(cellColour(-4), red);
  assert.ok(green[1] > green[0] && amber[0] > amber[2] && red[0] > red[1], `${green} ${amber} ${red}`);
  assert.ok(green[3] > 0 && amber[3] > 0 && red[3] > 0);
  assert.equal(cellColour(null), [0, 0, 0, 0]);
});

test.run();
