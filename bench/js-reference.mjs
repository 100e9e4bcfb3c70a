// A plain-JavaScript implementation of the classical watermark, end to end: the same embed and
// detect as src/watermarker.ts (same frame geometry, luma/area and Cb/area frames, 8x8 DCT, block
// statistics, perceptual mask and detector weights, informed gains, spread-spectrum embedding,
// inverse DCT, bilinear upsample and add on luma and Cb, fold, correlate, the two channels
// combined, Viterbi), with every WebAssembly kernel replaced
// by its scalar reference in test/ref.mjs (plain loops in Float64 arithmetic on ordinary typed
// arrays). It serves two purposes:
//
//   - a cross-check that the SIMD library computes the algorithm it claims to: a mark embedded
//     by one implementation must be found by the other, and both marked images must agree to
//     well above 50 dB PSNR (they differ only by f32 vs f64 rounding);
//   - the "plain JS" baseline of bench/classical.mjs (JS / WASM speed-up).
//
// The JavaScript parts of the library that are not kernels (key derivation, frame geometry,
// payload coding, Viterbi, p-values) are imported from dist/ (the list decoder, a kernel in the
// library, is test/ref.mjs's): they are JS in the library too.
//
// One deliberate departure from test/ref.mjs: the 8x8 DCT. ref.dct8x8 evaluates the definition
// directly (64 products per coefficient, 4096 per block), which is right for checking by eye but
// four times the arithmetic of the kernel's separable transform (C X C^T as two 8x8 matrix
// products, 1024 per block). A speed-up against it would partly measure a worse algorithm, so
// the reference uses the separable form below (same matrix, same result to rounding) unless
// created with { dct: 'direct' }.
//
// Run directly (`node bench/js-reference.mjs`) it cross-checks the two implementations on a few
// image shapes (RGBA, RGB, grey, portrait, an image smaller than the frame, an aspect ratio on
// a frame rounding boundary so that detect tries two frames) and exits non-zero
// on a mismatch.

import * as ref from '../test/ref.mjs';
import { deriveKey } from '../dist/key.js';
import { checkImage, DEFAULT_MAX_PIXELS } from '../dist/image.js';
import { checkInfo, convEncode, infoBits, INFO_BITS, LIST_SIZE, parsePayload, payloadHex, viterbi } from '../dist/payload.js';
import { BAND, BASE_AMPLITUDE, candidateGeometries, channelGains, combineReads, geometry, MASK, NB, NPILOT, NPSYM, NSLOTS, NSYM, PILOT, PILOT_B, PILOT_B2, pilotScore, TILE } from '../dist/scheme.js';
import { combinedPValue, normalUpperTail } from '../dist/stats.js';
import { LAMBDA, G_MIN, G_MAX } from '../dist/informed.js';

/** The orthonormal 8x8 DCT matrix C[u][k], row-major, as Float64Array(64). */
const C = (() => {
  const c = new Float64Array(64);
  for (let u = 0; u < 8; u++) {
    const a = u === 0 ? Math.sqrt(1 / 8) : Math.sqrt(2 / 8);
    for (let k = 0; k < 8; k++) c[u * 8 + k] = a * Math.cos(((2 * k + 1) * u * Math.PI) / 16);
  }
  return c;
})();

/**
 * Separable 8x8 DCT of the bw x bh full blocks of a plane with row stride w: forward Y = C X C^T,
 * inverse X = C^T Y C. Same contract as ref.dct8x8 (returns a new Float64Array; samples outside
 * the blocks are copied unchanged).
 */
export function dct8x8Separable(src, w, bw, bh, inverse) {
  const out = Float64Array.from(src);
  // M = C (forward) or C^T (inverse); Y = M X M^T.
  const M = new Float64Array(64);
  for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) M[i * 8 + j] = inverse ? C[j * 8 + i] : C[i * 8 + j];
  const x = new Float64Array(64), t = new Float64Array(64);
  for (let by = 0; by < bh; by++) {
    for (let bx = 0; bx < bw; bx++) {
      const base = by * 8 * w + bx * 8;
      for (let r = 0; r < 8; r++) for (let c = 0; c < 8; c++) x[r * 8 + c] = src[base + r * w + c];
      // t = M x
      for (let u = 0; u < 8; u++) {
        for (let c = 0; c < 8; c++) {
          let acc = 0;
          for (let r = 0; r < 8; r++) acc += M[u * 8 + r] * x[r * 8 + c];
          t[u * 8 + c] = acc;
        }
      }
      // out = t M^T
      for (let u = 0; u < 8; u++) {
        for (let v = 0; v < 8; v++) {
          let acc = 0;
          for (let c = 0; c < 8; c++) acc += t[u * 8 + c] * M[v * 8 + c];
          out[base + u * w + v] = acc;
        }
      }
    }
  }
  return out;
}

/**
 * A keyed watermarker in plain JavaScript with the interface of the library's
 * createWatermarker: { embed(image, payload), detect(image) }.
 * @param {{ key: string | Uint8Array, strength?: number, threshold?: number, maxPixels?: number, dct?: 'separable' | 'direct' }} options
 */
export async function createJsWatermarker(options) {
  const strength = options.strength ?? 1;
  const threshold = options.threshold ?? 1e-6;
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const dct = options.dct === 'direct' ? ref.dct8x8 : dct8x8Separable;
  const words = await deriveKey(options.key, 'modelmark classical tile v1');
  const layout = ref.layout(words.subarray(0, 4), NSLOTS, NPILOT, NSYM, NPSYM);
  const amp = BASE_AMPLITUDE * strength;

  /** Luma frame, DCT, block statistics, mask and weights (scheme.ts analyse). */
  function analyse(img, g) {
    const { width: w, height: h, channels: ch } = img;
    // ref.lumaArea is rgbToY followed by areaResize: what both branches of analyse compute.
    return analysePlane(ref.lumaArea(img.data, w, h, ch, g.fw, g.fh, g.sx, g.sy), g);
  }

  /** The Cb frame of a colour image (no offset), analysed as analyse's luma frame. */
  function analyseCb(img, g) {
    const { width: w, height: h, channels: ch } = img;
    return analysePlane(ref.cbArea(img.data, w, h, ch, g.fw, g.fh, g.sx, g.sy), g);
  }

  /** DCT and block model of a frame-sized plane (scheme.ts analysePlane). */
  function analysePlane(frame, g) {
    const coef = dct(frame, g.fw, g.bw, g.bh, 0);
    const nblocks = g.bw * g.bh;
    const { act, pow } = ref.blockStats(coef, g.fw, g.bw, g.bh, BAND, NB);
    const { mask, weight } = ref.maskWeights(act, pow, nblocks, NB, MASK.a0, MASK.aref, MASK.gamma, MASK.lo, MASK.hi, MASK.p0);
    return { g, coef, mask, weight };
  }

  /** Soft values and null energies per symbol (scheme.ts despread). */
  function despread(an) {
    const { g } = an;
    const { F } = ref.fold(an.coef, g.fw, g.bw, g.bh, BAND, NB, TILE, an.weight);
    // The folded tile too: combineReads takes a combined read's null energy from it.
    return { ...ref.correlate(F, layout.code, layout.sign, NSLOTS, NSYM), folded: F };
  }

  /** Scale the +-1 symbols by their informed gains (informed.ts informedGains). */
  function informedGains(an, sym) {
    const { g } = an;
    const host = despread(an).soft;
    const ones = new Float64Array(Math.max(NSLOTS, NSYM)).fill(1);
    const wm = ref.spreadEmbed(new Float64Array(g.fw * g.fh), g.fw, g.bw, g.bh, BAND, NB, TILE, layout.code, ones, ones, an.mask, amp);
    const { F } = ref.fold(wm, g.fw, g.bw, g.bh, BAND, NB, TILE, an.weight);
    const R = ref.correlate(F, layout.code, ones, NSLOTS, NSYM).soft;
    for (let c = 0; c < NSYM; c++) {
      if (!(R[c] > 0)) continue;
      sym[c] *= Math.min(G_MAX, Math.max(G_MIN, 1 - (LAMBDA * sym[c] * host[c]) / R[c]));
    }
  }

  function embed(image, payload) {
    const img = checkImage(image, 'image', maxPixels);
    const coded = convEncode(infoBits(parsePayload(payload)));
    const sym = new Float64Array(NSYM);
    for (let i = 0; i < coded.length; i++) sym[i] = coded[i] ? 1 : -1;
    sym[PILOT] = sym[PILOT_B] = sym[PILOT_B2] = 1;
    const g = geometry(img.width, img.height);
    const an = analyse(img, g);
    informedGains(an, sym);
    let wm = ref.spreadEmbed(new Float64Array(g.fw * g.fh), g.fw, g.bw, g.bh, BAND, NB, TILE, layout.code, layout.sign, sym, an.mask, amp);
    wm = dct(wm, g.fw, g.bw, g.bh, 1);
    const { width: w, height: h, channels: ch } = img;
    // Colour images: the same pattern on luma and Cb (scheme.ts channelGains).
    const out = (channelGains(ch) ? ref.addMark(img.data, w, h, ch, wm, g.fw, g.fh, 1 / g.sx, 1 / g.sy, channelGains(ch).rgb) : ref.addLuma(img.data, w, h, ch, wm, g.fw, g.fh, 1 / g.sx, 1 / g.sy));
    const data = img.data instanceof Uint8ClampedArray ? new Uint8ClampedArray(out.buffer, out.byteOffset, out.length) : out;
    return { ...image, width: w, height: h, channels: ch, data };
  }

  function detect(image) {
    const img = checkImage(image, 'image', maxPixels);
    // As the library: the first frame candidate whose best path passes its CRC, else the
    // first pass lower in a candidate's list (test/ref.mjs's list decoder), else the canonical
    // frame; the p-value accounts for the frames tried and the rank.
    const candidates = candidateGeometries(img.width, img.height);
    let chosen, second;
    const colour = img.channels >= 3;
    /** Decode one read; true when its best path passes (it is then chosen). */
    const tryRead = ({ soft, energy }, onlyB, fallback) => {
      const score = pilotScore(soft, energy, onlyB);
      const data = soft.subarray(0, PILOT);
      const decoded = { ...checkInfo(viterbi(data)), rank: 1 };
      if (fallback || decoded.crcOk) chosen = { score, ...decoded };
      if (decoded.crcOk) return true;
      if (!second) {
        const list = ref.listViterbi(data, LIST_SIZE, INFO_BITS);
        const r = list.findIndex((p) => checkInfo(p.bits).crcOk);
        if (r > 0) second = { score, ...checkInfo(list[r].bits), rank: r + 1 };
      }
      return false;
    };
    for (const [i, g] of candidates.entries()) {
      // The luma read alone (both pilot halves), then for a colour image luma and Cb combined
      // (scheme.ts combineReads), scored by pilot B alone.
      const y = despread(analyse(img, g));
      if (tryRead(y, false, i === 0 && !colour)) break;
      if (colour && tryRead(combineReads(y, despread(analyseCb(img, g)), layout.code), true, i === 0)) break;
    }
    if (!chosen.crcOk && second) chosen = second;
    const { score, bytes, crcOk, rank } = chosen;
    const pValue = combinedPValue(normalUpperTail(score), crcOk, candidates.length * (colour ? 2 : 1), rank, LIST_SIZE);
    const found = pValue < threshold && crcOk;
    return { found, payload: found ? payloadHex(bytes) : null, pValue, score, crcOk };
  }

  return { embed, detect };
}

/** PSNR in dB over the colour channels (alpha ignored) of two images of the same shape. */
export function psnrOf(a, b) {
  const n = a.width * a.height, ch = a.channels ?? a.data.length / n;
  const err = ref.sse(a.data, b.data, n, ch);
  return err === 0 ? Infinity : 10 * Math.log10((255 * 255 * n * Math.min(ch, 3)) / err);
}

/**
 * Cross-check the JS reference against the library on one image: the JS detector on the
 * library's marked image, the library's detector on the JS-marked image, and the PSNR between
 * the two marked images. `lib` and `js` are watermarkers made with the same key.
 */
export function crossCheck(lib, js, image, payload) {
  const want = payloadHex(parsePayload(payload));
  const libMarked = lib.embed(image, payload);
  const jsMarked = js.embed(image, payload);
  const jsOnLib = js.detect(libMarked);
  const libOnJs = lib.detect(jsMarked);
  // Both detectors on the same images: the pilot scores must agree (f32 vs f64 rounding only).
  const scoreDiff = Math.max(Math.abs(jsOnLib.score - lib.detect(libMarked).score), Math.abs(js.detect(image).score - lib.detect(image).score));
  let differing = 0, maxDiff = 0;
  for (let i = 0; i < libMarked.data.length; i++) {
    const d = Math.abs(libMarked.data[i] - jsMarked.data[i]);
    if (d) { differing++; if (d > maxDiff) maxDiff = d; }
  }
  return {
    jsDetectsLib: jsOnLib.found && jsOnLib.payload === want,
    libDetectsJs: libOnJs.found && libOnJs.payload === want,
    jsOnLib, libOnJs,
    psnrLibVsJs: psnrOf(libMarked, jsMarked),
    psnrLib: psnrOf(image, libMarked),
    psnrJs: psnrOf(image, jsMarked),
    differingBytes: differing,
    maxByteDiff: maxDiff,
    scoreDiff,
    ok: jsOnLib.found && jsOnLib.payload === want && libOnJs.found && libOnJs.payload === want && psnrOf(libMarked, jsMarked) > 50 && scoreDiff < 1e-2,
  };
}

/** One line describing a crossCheck result. */
export function crossCheckLine(r) {
  const p = (x) => x.pValue.toExponential(1);
  return `JS detects library mark: ${r.jsDetectsLib ? 'yes' : 'NO'} (p ${p(r.jsOnLib)}); ` +
    `library detects JS mark: ${r.libDetectsJs ? 'yes' : 'NO'} (p ${p(r.libOnJs)}); ` +
    `PSNR library vs JS marked: ${r.psnrLibVsJs.toFixed(1)} dB (${r.differingBytes} bytes differ, max ${r.maxByteDiff}); ` +
    `pilot scores differ by ${r.scoreDiff.toExponential(1)}; ` +
    `PSNR vs original: library ${r.psnrLib.toFixed(2)} dB, JS ${r.psnrJs.toFixed(2)} dB`;
}

// ---------------------------------------------------------------------------------------------
// Standalone cross-check.

async function main() {
  const { existsSync } = await import('node:fs');
  const { fileURLToPath } = await import('node:url');
  const { default: sharp } = await import('sharp');
  const { createWatermarker } = await import('../dist/index.js');
  const key = 'js-reference cross-check';
  const lib = await createWatermarker({ key });
  const js = await createJsWatermarker({ key });
  const photo = fileURLToPath(new URL('../../shared/photos/mate-Storm.jpg', import.meta.url));
  const source = existsSync(photo) ? sharp(photo) : null;
  const shapes = [[1920, 1080, 4], [1000, 750, 3], [640, 480, 1], [720, 1280, 4], [300, 200, 4], [688, 512, 3]];
  let failed = 0;
  for (const [w, h, ch] of shapes) {
    let data;
    if (source) {
      let s = source.clone().resize(w, h, { fit: 'cover' });
      s = ch === 1 ? s.greyscale().toColourspace('b-w') : ch === 4 ? s.ensureAlpha() : s.removeAlpha();
      ({ data } = await s.raw().toBuffer({ resolveWithObject: true }));
    } else {
      data = syntheticImage(w, h, ch);
    }
    const image = { width: w, height: h, channels: ch, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
    const r = crossCheck(lib, js, image, 'c0ffee0000000001');
    if (!r.ok) failed++;
    console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${w}x${h}x${ch}${source ? '' : ' (synthetic)'}: ${crossCheckLine(r)}`);
  }
  if (failed) {
    console.error(`${failed} cross-check(s) failed`);
    process.exitCode = 1;
  }
}

/** A deterministic photo-like image (gradients, waves, noise) for when no photo is available. */
export function syntheticImage(w, h, ch) {
  const data = new Uint8Array(w * h * ch);
  let s = 12345;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) - 0.5;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const t = Math.sin(x / 37) * Math.cos(y / 23) + 0.5 * Math.sin((x + 2 * y) / 9);
      const base = 128 + 60 * t + 40 * (x / w - 0.5) + 24 * rnd();
      const p = (y * w + x) * ch;
      for (let c = 0; c < Math.min(ch, 3); c++) data[p + c] = Math.max(0, Math.min(255, Math.round(base + 20 * (c - 1) * (y / h - 0.5))));
      if (ch === 4) data[p + 3] = 255;
    }
  }
  return data;
}

if (import.meta.url === (await import('node:url')).pathToFileURL(process.argv[1] ?? '').href) await main();
