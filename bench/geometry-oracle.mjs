// `node bench/geometry-oracle.mjs`: why the geometric search fails where it fails (issue 3).
// Each photo is also marked at strength 4 and given the same attack with the same random crop;
// the transform the search finds on that copy is taken as the truth for the default-strength
// copy, and every failure of the default-strength detect is classed:
//   L  no candidate lattice within 3% of the true linear map
//   O  a right lattice, but orientation or tile origin more than 3 px off
//   C  the right grid, but the payload's CRC fails
//   P  the right grid and a valid CRC, but the p-value is not below the threshold
//   S  the strength-4 copy is not found either
// For L and O it also decodes the default-strength copy on the true grid: what a perfect search
// would give. The summary counts, per attack, the photos found now and those a perfect search
// would find (the true grid decodes with a valid CRC and a p-value under 1e-6), the ceiling of
// any better lattice search.
// Env: ATTACKS (comma list, default six representative attacks; "all" for every attack that
// needs the lattice search), PHOTOS (comma list of names).
import { init, createWatermarker } from '../dist/index.js';
import { Arena } from '../dist/wasm.js';
import { candidateGeometries, combineReads, framesStreamed, lumaFrame, despread, makeLayout, pilotScore, reframe, PILOT } from '../dist/scheme.js';
import { pilotPatterns, searchGrids, analyseOnGrid, orientations, ASPECT_DECODES, COMB_LATTICES, SEARCH_LATTICES, DECODES_PER_LATTICE } from '../dist/sync.js';
import { decodePayload, LIST_SIZE } from '../dist/payload.js';
import { combinedPValue, normalUpperTail } from '../dist/stats.js';
import { deriveKey } from '../dist/key.js';
import { GEOMETRIC_ATTACKS, mulberry32, load } from './attacks.mjs';
import { MEASURE_KEY, MEASURE_PAYLOAD } from './measure.mjs';
import { readdirSync } from 'node:fs';
import { PHOTOS_DIR, requirePhotos } from './photos.mjs';
requirePhotos('bench/geometry-oracle.mjs');
const k = await init();
const layout = makeLayout(await deriveKey(MEASURE_KEY, 'modelmark classical tile v1'));
const wm = await createWatermarker({ key: MEASURE_KEY });
const strong = await createWatermarker({ key: MEASURE_KEY, strength: 4 });
const all = readdirSync(PHOTOS_DIR).filter((f) => /\.(png|jpe?g)$/.test(f)).sort();
let patterns;
function cands(img) {
  const a = new Arena(k);
  try {
    const pix = a.put(img.data);
    const g = candidateGeometries(img.width, img.height)[0];
    const frame = lumaFrame(a, img, pix, g);
    patterns ??= pilotPatterns(a, layout);
    const base = { frame, g };
    return searchGrids(a, base, patterns, (r) => reframe(a, img, base, r)).map((s) => {
      const an = analyseOnGrid(a, s.frame, s.g.fw, s.g.fh, s.affine);
      const { soft, energy } = despread(a, an, layout);
      // affine in image pixels
      const A = [s.affine.m00 * s.g.sx, s.affine.m01 * s.g.sx, s.affine.m10 * s.g.sy, s.affine.m11 * s.g.sy, s.affine.tx * s.g.sx, s.affine.ty * s.g.sy];
      return { A, g: s.g, affine: s.affine, crc: decodePayload(a, soft.subarray(0, PILOT)).crcOk, sB: pilotScore(soft, energy, true), sAll: pilotScore(soft, energy) };
    });
  } finally { a.release(); }
}
/**
 * Decode `img` on the grid `c` found on another copy (same size): found at the default
 * threshold? Luma alone and, for colour images, luma and Cb combined as the detector reads a
 * grid (scored by pilot half B); either counts.
 */
function onGrid(img, c) {
  const a = new Arena(k);
  try {
    const fr = framesStreamed(a, img, c.g);
    const read = (plane) => despread(a, analyseOnGrid(a, plane, c.g.fw, c.g.fh, c.affine), layout);
    const y = read(fr.y);
    const m = candidateGeometries(img.width, img.height).length + orientations(c.g.fw, c.g.fh).length + ASPECT_DECODES + (SEARCH_LATTICES + COMB_LATTICES) * DECODES_PER_LATTICE;
    const found = ({ soft, energy }, onlyB) => {
      const { crcOk, rank } = decodePayload(a, soft.subarray(0, PILOT));
      return crcOk && combinedPValue(normalUpperTail(pilotScore(soft, energy, onlyB)), true, m, rank, LIST_SIZE) < 1e-6;
    };
    return found(y, false) || (fr.cb !== undefined && found(combineReads(y, read(fr.cb), layout.code), true));
  } finally { a.release(); }
}
const SEARCHED = Object.keys(GEOMETRIC_ATTACKS).filter((n) => !/^(rotate (90|180|270)|flip|scale)/.test(n));
const attacks = process.env.ATTACKS === 'all' ? SEARCHED : (process.env.ATTACKS ?? 'crop 50% area,crop 25% area,rotate +5 crop-to-fit,rotate -5 borders,aspect 0.8,social media chain').split(',');
const perAttack = Object.fromEntries(attacks.map((at) => [at, { now: 0, perfect: 0, tried: 0 }]));
const photos = process.env.PHOTOS ? process.env.PHOTOS.split(',') : all;
const tally = {};
for (const p of photos) {
  const img0 = await load(PHOTOS_DIR + p);
  const m = wm.embed(img0, MEASURE_PAYLOAD), ms = strong.embed(img0, MEASURE_PAYLOAD);
  for (const at of attacks) {
    const seed = 1000 + all.indexOf(p) * 31 + at.length;
    const A = await GEOMETRIC_ATTACKS[at](m, mulberry32(seed));
    let r; try { r = wm.detect(A); } catch { continue; }
    perAttack[at].tried++;
    if (r.found && r.payload === MEASURE_PAYLOAD) { perAttack[at].now++; perAttack[at].perfect++; continue; }
    const S = await GEOMETRIC_ATTACKS[at](ms, mulberry32(seed));
    const sc = cands(S).find((c) => c.crc);
    const nc = cands(A);
    let cls = '?', info = '';
    if (!sc) cls = 'S'; // strong itself fails
    else {
      const lin = (c) => Math.max(...[0, 1, 2, 3].map((i) => Math.abs(c.A[i] - sc.A[i]))) / Math.hypot(sc.A[0], sc.A[2]);
      const tr = (c) => Math.hypot(c.A[4] - sc.A[4], c.A[5] - sc.A[5]);
      const ok = nc.filter((c) => lin(c) < 0.03);
      if (!ok.length) cls = 'L';
      else {
        const g = ok.find((c) => tr(c) < 3);
        if (!g) { cls = 'O'; info = ok.map((c) => `tr ${tr(c).toFixed(1)}`).join(' '); }
        else if (!g.crc) { cls = 'C'; info = `sB ${g.sB.toFixed(2)} sAll ${g.sAll.toFixed(2)}`; }
        else { cls = 'P'; info = `sB ${g.sB.toFixed(2)} sAll ${g.sAll.toFixed(2)} p ${r.pValue.toExponential(1)}`; }
      }
    }
    if (cls === 'L' || cls === 'O') {
      const perfect = onGrid(A, sc);
      if (perfect) perAttack[at].perfect++;
      info += `${info ? ' ' : ''}perfect search: ${perfect ? 'found' : 'not found'}`;
    }
    tally[cls] = (tally[cls] ?? 0) + 1;
    console.log(cls, p, at, info);
  }
}
console.log(tally);
console.log('\n| attack | found now | with a perfect search |\n|---|---|---|');
for (const [at, c] of Object.entries(perAttack)) console.log(`| ${at} | ${c.now}/${c.tried} | ${c.perfect}/${c.tried} |`);
