// `node bench/chroma-probe.mjs [--snr | --oracle | --blind]`: the probe that chose the mark's
// chroma share (src/scheme.ts LUMA_SHARE, CHROMA_AMP). Would a chroma share lift the photos that
// capped issue 3's rows (grey, heavily textured: grass, gravel)? Grey texture is all luma: a mark
// on Cb meets no host there. The copies here are made from the luma-only mark's float deltas
// (the embed before the chroma share), so F = 1 is the mark as it was.
//
//   --snr (default): each photo marked on luma alone, and a copy with the very same per-pixel deltas
//     on Cb instead of Y at the same mean squared error (R unchanged, G - 0.344 c, B + 1.772 c);
//     both read on the exact grid (the transform the search finds on a strength-4 copy, as
//     bench/geometry-oracle.mjs does), the luma copy through its luma, the chroma copy through
//     its Cb plane. Prints the symbols' SNR against the payload in dB (* where the CRC holds).
//   --oracle: a hybrid mark, a share F of the squared error on Y and 1 - F on Cb (the same
//     pattern), everything scaled by AMP (to give back the PSNR that rounding three different
//     channel deltas costs), read on the exact grid in Y and in Cb and combined with weights from
//     pilot half A alone (w = max(0, pilot A) / mean square of the data symbols, per channel):
//     exact payloads per attack over every photo. F = 1 is the luma-only mark.
//   --blind: the hybrid copy (one F) found by the search itself: the lattice search run on the
//     luma frame and on the Cb plane, each candidate grid read in both channels and combined as
//     above. (The detector now searches the sum of the two whitened planes instead, once.)
//
//   PHOTOS=a.png,b.jpg ATTACKS='none,jpeg q75' node bench/chroma-probe.mjs --snr
//   F=1,0.92 AMP=0.9 node bench/chroma-probe.mjs --oracle
//   F=0.92 AMP=0.9 node bench/chroma-probe.mjs --blind
//
// PHOTOS and ATTACKS (comma lists) restrict every mode (--oracle and --blind default to every
// shared photo; the smoke test runs each mode on one photo and one or two attacks).
import { init, createWatermarker } from '../dist/index.js';
import { Arena } from '../dist/wasm.js';
import { analysePlane, BASE_AMPLITUDE, candidateGeometries, despread, geometry, lumaFrame, makeLayout, NB, PILOT, reframe, symbols, TILE } from '../dist/scheme.js';
import { informedGains } from '../dist/informed.js';
import { analyseOnGrid, pilotPatterns, searchGrids } from '../dist/sync.js';
import { convEncode, decodeList, decodePayload, infoBits, LIST_SIZE, parsePayload } from '../dist/payload.js';
import { deriveKey } from '../dist/key.js';
import { ATTACKS, GEOMETRIC_ATTACKS, load, mulberry32 } from './attacks.mjs';
import { MEASURE_KEY, MEASURE_PAYLOAD } from './measure.mjs';
import { benchPhotos, PHOTOS_DIR, requirePhotos } from './photos.mjs';

requirePhotos('bench/chroma-probe.mjs');

const k = await init();
const layout = makeLayout(await deriveKey(MEASURE_KEY, 'modelmark classical tile v1'));
const strong = await createWatermarker({ key: MEASURE_KEY, strength: 4 });
const coded = convEncode(infoBits(parsePayload(MEASURE_PAYLOAD)));
const patterns = (() => { const a = new Arena(k); return pilotPatterns(a, layout); })();
const identity = { m00: 1, m01: 0, m10: 0, m11: 1, tx: 0, ty: 0 };
/** Squared error of a Cb change c per pixel against a luma change of the same size: (0.344^2 + 1.772^2) / 3. */
const CB_COST = (0.344136 ** 2 + 1.772 ** 2) / 3;

/** Symbol SNR (dB) of the coded bits' soft values against the payload's signs. */
function snr(soft) {
  let s = 0, s2 = 0;
  for (let i = 0; i < coded.length; i++) { const v = soft[i] * (coded[i] ? 1 : -1); s += v; s2 += v * v; }
  const m = s / coded.length;
  return 10 * Math.log10((m * m) / (s2 / coded.length - m * m));
}

/** Candidate grids of the lattice search on an image's luma (the search as the detector runs it). */
function searchCands(img) {
  const a = new Arena(k);
  try {
    const g = candidateGeometries(img.width, img.height)[0];
    const base = { frame: lumaFrame(a, img, a.put(img.data), g), g };
    return searchGrids(a, base, patterns, (r) => reframe(a, img, base, r)).map((s) => ({ g: s.g, affine: s.affine }));
  } finally {
    a.release();
  }
}

/** The exact grid: the canonical frame, or the search's first grid on the strength-4 copy whose payload decodes. */
function truth(img, geometric) {
  if (!geometric) return { g: candidateGeometries(img.width, img.height)[0], affine: identity };
  return searchCands(img).find((s) => decodePayload(new Arena(k), readOn(img, s).soft.subarray(0, PILOT)).crcOk);
}

/** Despread symbols of an image's luma read on a grid. */
function readOn(img, grid) {
  const a = new Arena(k);
  try {
    const frame = lumaFrame(a, img, a.put(img.data), grid.g);
    return despread(a, analyseOnGrid(a, frame, grid.g.fw, grid.g.fh, grid.affine), layout);
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

/** The luma-only embed's delta per pixel before rounding (embed8 up to the add, then addLuma's bilinear upsampling in JS). */
function floatDelta(img) {
  const a = new Arena(k);
  try {
    const { width: w, height: h } = img;
    const g = geometry(w, h);
    const an = analysePlane(a, lumaFrame(a, img, a.put(img.data), g), g);
    const wmp = a.f32(g.fw * g.fh);
    const code = a.put(layout.code), sign = a.put(layout.sign), symp = a.put(symbols(parsePayload(MEASURE_PAYLOAD)));
    informedGains(a, an, layout, code, symp, wmp, BASE_AMPLITUDE);
    k.zero(wmp, g.fw * g.fh * 4);
    k.spreadEmbed(wmp, g.fw, g.bw, g.bh, an.band, NB, TILE, code, sign, symp, an.mask, BASE_AMPLITUDE);
    k.dct8x8(wmp, wmp, g.fw, g.bw, g.bh, 1);
    const res = a.f32view(wmp, g.fw * g.fh).slice();
    const tab = (n, sn, s) => Array.from({ length: n }, (_, o) => { let f = (o + 0.5) * s - 0.5; f = Math.min(Math.max(f, 0), sn - 1); const i = Math.floor(f); return [i, Math.min(i + 1, sn - 1), f - i]; });
    const xt = tab(w, g.fw, 1 / g.sx), yt = tab(h, g.fh, 1 / g.sy);
    const rows = new Float32Array(g.fh * w);
    for (let r = 0; r < g.fh; r++) for (let x = 0; x < w; x++) { const [i, j, t] = xt[x]; const a0 = res[r * g.fw + i]; rows[r * w + x] = a0 + t * (res[r * g.fw + j] - a0); }
    const d = new Float32Array(w * h);
    for (let y = 0; y < h; y++) { const [i, j, t] = yt[y]; for (let x = 0; x < w; x++) { const a0 = rows[i * w + x]; d[y * w + x] = a0 + t * (rows[j * w + x] - a0); } }
    return d;
  } finally { a.release(); }
}
/**
 * A copy carrying the mark's float deltas `delta` with a share f of the squared error on Y and
 * 1 - f on Cb, all scaled by amp, rounded once per sample (f = 1, amp = 1: today's bytes).
 */
function hybrid(original, delta, f, amp = 1) {
  const ch = original.channels, data = new Uint8Array(original.data.length);
  const ky = amp * Math.sqrt(f), kc = amp * Math.sqrt((1 - f) / CB_COST);
  for (let i = 0; i < data.length; i += ch) {
    const d = delta[i / ch];
    const v = [original.data[i] + ky * d, original.data[i + 1] + (ky - 0.344136 * kc) * d, original.data[i + 2] + (ky + 1.772 * kc) * d];
    for (let j = 0; j < 3; j++) data[i + j] = Math.max(0, Math.min(255, Math.round(v[j])));
    for (let j = 3; j < ch; j++) data[i + j] = original.data[i + j];
  }
  return { ...original, data };
}

/** Mean square of the data symbols' soft values: their spread, signal included. */
function spread(r) {
  let s2 = 0;
  for (let i = 0; i < PILOT; i++) s2 += r.soft[i] ** 2;
  return s2 / PILOT;
}

/** Decode Y and Cb reads combined, weighted by pilot A over the spread; true when a path passes its CRC. */
function decodeCombined(rY, rC) {
  const w = (r) => { const v = spread(r); return v > 0 && Number.isFinite(v) ? Math.max(0, r.soft[PILOT]) / v : 0; };
  let wY = w(rY), wC = rC ? w(rC) : 0;
  if (!wY && !wC) wY = 1;
  const soft = new Float64Array(PILOT);
  for (let i = 0; i < PILOT; i++) soft[i] = wY * rY.soft[i] + (rC ? wC * rC.soft[i] : 0);
  const a = new Arena(k);
  try {
    return decodeList(a, soft, LIST_SIZE).some((d) => d.crcOk);
  } finally {
    a.release();
  }
}

const psnr = (a, b) => {
  let e = 0;
  for (let i = 0; i < a.data.length; i++) e += (a.data[i] - b.data[i]) ** 2;
  return 10 * Math.log10((255 * 255 * a.data.length) / e);
};
const attackOf = (name) => GEOMETRIC_ATTACKS[name] ?? ATTACKS[name];
const short = (name) => name.replace(/\.(png|jpe?g)$/, '');
const mode = process.argv.includes('--oracle') ? 'oracle' : process.argv.includes('--blind') ? 'blind' : 'snr';
const AMP = Number(process.env.AMP ?? 1);

if (mode === 'snr') {
  const photos = (process.env.PHOTOS ?? 'skimage-grass.png,skimage-gravel.png,skimage-camera.png,skimage-astronaut.png,mate-Garden.jpg,mate-GreenMeadow.jpg').split(',');
  const attacks = (process.env.ATTACKS ?? 'none,rotate +2 borders,rotate -5 crop-to-fit,crop 50% area,crop 25% area,jpeg q75,jpeg q50,screenshot chain,social media chain').split(',');
  console.log(`| photo | PSNR luma / Cb copy | ${attacks.join(' | ')} |`);
  console.log(`|---|---|${attacks.map(() => '---').join('|')}|`);
  for (const name of photos) {
    const original = await load(PHOTOS_DIR + name);
    const marked4 = strong.embed(original, MEASURE_PAYLOAD);
    const delta = floatDelta(original);
    const marked = hybrid(original, delta, 1), chroma = hybrid(original, delta, 0);
    const cells = [];
    for (const at of attacks) {
      const grid = truth(await attackOf(at)(marked4, mulberry32(5)), at in GEOMETRIC_ATTACKS);
      if (!grid) { cells.push('(no truth)'); continue; }
      const cell = (img) => { const r = readOn(img, grid); return snr(r.soft).toFixed(1) + (decodePayload(new Arena(k), r.soft.subarray(0, PILOT)).crcOk ? '*' : ''); };
      cells.push(`${cell(await attackOf(at)(marked, mulberry32(5)))} / ${cell(cbAsGrey(await attackOf(at)(chroma, mulberry32(5))))}`);
    }
    console.log(`| ${name} | ${psnr(original, marked).toFixed(2)} / ${psnr(original, chroma).toFixed(2)} | ${cells.join(' | ')} |`);
  }
} else if (mode === 'oracle') {
  const FS = (process.env.F ?? '1,0.92').split(',').map(Number);
  const attacks = (process.env.ATTACKS ?? [...Object.keys(GEOMETRIC_ATTACKS).filter((n) => !/^(rotate (90|180|270)|flip)/.test(n)), ...Object.keys(ATTACKS).filter((n) => n !== 'none')].join(',')).split(',');
  const photos = await benchPhotos();
  const count = Object.fromEntries(FS.map((f) => [f, Object.fromEntries(attacks.map((at) => [at, []]))]));
  const psnrs = Object.fromEntries(FS.map((f) => [f, []]));
  for (const [pi, { name, image }] of photos.entries()) {
    const marked4 = strong.embed(image, MEASURE_PAYLOAD);
    const delta = floatDelta(image);
    const copies = FS.map((f) => [f, hybrid(image, delta, f, f < 1 ? AMP : 1)]);
    for (const [f, c] of copies) psnrs[f].push(psnr(image, c));
    for (const at of attacks) {
      const seed = 1000 + pi * 31 + at.length;
      let grid;
      try { grid = truth(await attackOf(at)(marked4, mulberry32(seed)), at in GEOMETRIC_ATTACKS); } catch { grid = undefined; }
      for (const [f, c] of copies) {
        let ok = false;
        if (grid) {
          try {
            const A = await attackOf(at)(c, mulberry32(seed));
            ok = decodeCombined(readOn(A, grid), f < 1 ? readOn(cbAsGrey(A), grid) : null);
          } catch { ok = false; }
        }
        if (!ok) count[f][at].push(short(name));
      }
    }
  }
  const mean = (xs) => xs.reduce((x, y) => x + y, 0) / xs.length;
  console.log(`Exact payloads on the exact grid, ${photos.length} photos (AMP ${AMP} for F < 1)\n`);
  console.log(`| attack | ${FS.map((f) => `F = ${f}`).join(' | ')} |\n|---|${FS.map(() => '---').join('|')}|`);
  console.log(`| PSNR mean / worst | ${FS.map((f) => `${mean(psnrs[f]).toFixed(2)} / ${Math.min(...psnrs[f]).toFixed(2)} dB`).join(' | ')} |`);
  for (const at of attacks) console.log(`| ${at} | ${FS.map((f) => `${photos.length - count[f][at].length}/${photos.length}${count[f][at].length ? ' (' + count[f][at].join(', ') + ')' : ''}`).join(' | ')} |`);
} else {
  const f = Number(process.env.F ?? 0.92);
  const attacks = (process.env.ATTACKS ?? 'crop 50% area,crop 25% area,rotate +2 borders,rotate -5 crop-to-fit,screenshot chain,social media chain').split(',');
  const photos = await benchPhotos();
  const res = Object.fromEntries(attacks.map((at) => [at, { y: 0, cb: 0, fail: [] }]));
  for (const [pi, { name, image }] of photos.entries()) {
    const c = hybrid(image, floatDelta(image), f, AMP);
    for (const at of attacks) {
      const A = await attackOf(at)(c, mulberry32(1000 + pi * 31 + at.length));
      const C = cbAsGrey(A);
      const decodes = (cands) => cands.some((s) => decodeCombined(readOn(A, s), readOn(C, s)));
      if (decodes(searchCands(A))) res[at].y++;
      else if (decodes(searchCands(C))) res[at].cb++;
      else res[at].fail.push(short(name));
    }
  }
  console.log(`The search itself, hybrid F = ${f}, AMP ${AMP}, ${photos.length} photos\n`);
  console.log('| attack | found on a luma-search grid | found only on a Cb-search grid | in all | not found |\n|---|---|---|---|---|');
  for (const [at, r] of Object.entries(res)) console.log(`| ${at} | ${r.y} | ${r.cb} | ${r.y + r.cb}/${photos.length} | ${r.fail.join(', ') || '-'} |`);
}
