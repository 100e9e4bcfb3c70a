// Scalar reference implementations of the WebAssembly kernels (assembly/*.ts), written as plain
// loops in Float64 arithmetic so that they are easy to check by eye against the formulas in the
// kernel comments. The tests compare the SIMD kernels with these functions.
//
// Conventions: images are interleaved u8 (Uint8Array) with `ch` = 1, 3 or 4 channels; planes are
// row-major arrays of numbers (any array-like; results are Float64Array). Functions return new
// arrays and never modify their inputs.

// ---------------------------------------------------------------------------------------------
// Colour (assembly/color.ts): BT.601 full range, as in JPEG.

export const KR = 0.299, KG = 0.587, KB = 0.114;

/** Round half to even, as WebAssembly's `nearest` does. */
export function roundEven(x) {
  const r = Math.round(x);
  // Math.round rounds halves up; move exact halves with an odd result down to the even one.
  if (r - x === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

/** Round to the nearest integer and clamp to 0..255. */
export function toByte(x) {
  const r = roundEven(x);
  return r < 0 ? 0 : r > 255 ? 255 : r;
}

/** Luma of n pixels. */
export function rgbToY(src, n, ch) {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const p = i * ch;
    y[i] = ch >= 3 ? KR * src[p] + KG * src[p + 1] + KB * src[p + 2] : src[p];
  }
  return y;
}

/**
 * Luma in lumaArea's 15-bit fixed point: the BT.601 weights times 32768 rounded to integers that
 * sum to 32768 (9798, 19235, 3735), the sum divided by 32768. Grey is the sample itself.
 */
export const YFIX = [9798, 19235, 3735];
export function lumaFixed(src, n, ch) {
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const p = i * ch;
    y[i] = ch >= 3 ? (YFIX[0] * src[p] + YFIX[1] * src[p + 1] + YFIX[2] * src[p + 2]) / 32768 : src[p];
  }
  return y;
}

/**
 * Cb without its offset of 128, in the same fixed point: -0.168736, -0.331264 and 0.5 times
 * 32768, rounded to integers that sum to 0 (grey has no Cb), the sum divided by 32768.
 */
export const CBFIX = [-5529, -10855, 16384];
export function cbFixed(src, n, ch) {
  const c = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const p = i * ch;
    c[i] = ch >= 3 ? (CBFIX[0] * src[p] + CBFIX[1] * src[p + 1] + CBFIX[2] * src[p + 2]) / 32768 : 0;
  }
  return c;
}

/** Pixels to Y, Cb, Cr planes; grey gives Cb = Cr = 128. */
export function rgbToYcc(src, n, ch) {
  const y = new Float64Array(n), cb = new Float64Array(n), cr = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const p = i * ch;
    if (ch >= 3) {
      const r = src[p], g = src[p + 1], b = src[p + 2];
      y[i] = KR * r + KG * g + KB * b;
      cb[i] = -0.168736 * r - 0.331264 * g + 0.5 * b + 128;
      cr[i] = 0.5 * r - 0.418688 * g - 0.081312 * b + 128;
    } else {
      y[i] = src[p];
      cb[i] = 128;
      cr[i] = 128;
    }
  }
  return { y, cb, cr };
}

/**
 * Y, Cb, Cr planes back to pixels (rounded, clamped). `dst` supplies the bytes that are kept:
 * alpha for ch = 4. Returns a new Uint8Array of n * ch bytes.
 */
export function yccToRgb(y, cb, cr, n, ch, dst) {
  const out = Uint8Array.from(dst.subarray(0, n * ch));
  for (let i = 0; i < n; i++) {
    const p = i * ch;
    if (ch >= 3) {
      const B = cb[i] - 128, R = cr[i] - 128;
      out[p] = toByte(y[i] + 1.402 * R);
      out[p + 1] = toByte(y[i] - 0.344136 * B - 0.714136 * R);
      out[p + 2] = toByte(y[i] + 1.772 * B);
    } else {
      out[p] = toByte(y[i]);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Resampling (assembly/resample.ts). Along an axis of n input pixels with scale s (input pixels
// per output pixel), output pixel o covers [o*s, (o+1)*s) clipped to [0, n) for the area filter,
// and is centred on input coordinate (o + 0.5)*s - 0.5, clamped to [0, n-1], for the bilinear one.

/** Area taps of output o: [[input index, weight], ...], weights summing to 1 (none if uncovered). */
export function areaTaps(o, s, n) {
  const a = o * s;
  const b = Math.min((o + 1) * s, n);
  const taps = [];
  if (!(b > a)) return taps;
  for (let i = Math.floor(a); i < Math.ceil(b); i++) {
    const covered = Math.min(b, i + 1) - Math.max(a, i);
    if (covered > 0) taps.push([i, covered / (b - a)]);
  }
  return taps;
}

/** Area (box) resampling of a plane sw x sh to dw x dh: vertical pass, then horizontal. */
export function areaResize(src, sw, sh, dw, dh, sx, sy) {
  const tmp = new Float64Array(dh * sw);
  for (let o = 0; o < dh; o++) {
    for (const [i, wt] of areaTaps(o, sy, sh)) {
      for (let x = 0; x < sw; x++) tmp[o * sw + x] += wt * src[i * sw + x];
    }
  }
  const dst = new Float64Array(dw * dh);
  for (let r = 0; r < dh; r++) {
    for (let o = 0; o < dw; o++) {
      let acc = 0;
      for (const [i, wt] of areaTaps(o, sx, sw)) acc += wt * tmp[r * sw + i];
      dst[r * dw + o] = acc;
    }
  }
  return dst;
}

/** Luma of the pixels, area-resampled: lumaFixed followed by areaResize. */
export function lumaArea(src, w, h, ch, dw, dh, sx, sy) {
  return areaResize(lumaFixed(src, w * h, ch), w, h, dw, dh, sx, sy);
}

/** Cb of the pixels (no offset), area-resampled: cbFixed followed by areaResize. */
export function cbArea(src, w, h, ch, dw, dh, sx, sy) {
  return areaResize(cbFixed(src, w * h, ch), w, h, dw, dh, sx, sy);
}

/** Bilinear taps of output o: [i, j, t] with value = v[i] + t * (v[j] - v[i]). */
export function bilinearTap(o, s, n) {
  let f = (o + 0.5) * s - 0.5;
  if (f < 0) f = 0;
  if (f > n - 1) f = n - 1;
  const i = Math.floor(f);
  const j = Math.min(i + 1, n - 1);
  return [i, j, f - i];
}

/** Bilinear resampling of a plane sw x sh to dw x dh: horizontal pass, then vertical. */
export function bilinearResize(src, sw, sh, dw, dh, sx, sy) {
  const rows = new Float64Array(sh * dw);
  for (let r = 0; r < sh; r++) {
    for (let o = 0; o < dw; o++) {
      const [i, j, t] = bilinearTap(o, sx, sw);
      const a = src[r * sw + i], b = src[r * sw + j];
      rows[r * dw + o] = a + t * (b - a);
    }
  }
  const dst = new Float64Array(dw * dh);
  for (let o = 0; o < dh; o++) {
    const [i, j, t] = bilinearTap(o, sy, sh);
    for (let x = 0; x < dw; x++) {
      const a = rows[i * dw + x], b = rows[j * dw + x];
      dst[o * dw + x] = a + t * (b - a);
    }
  }
  return dst;
}

/**
 * Upsample the residual (rw x rh, scale sx, sy) bilinearly to w x h, round it, and add it to
 * the colour channels (all of them for grey/RGB, R, G, B for RGBA) with saturation to 0..255.
 * Deltas are clamped to +-127 first, as the kernel's. Returns the new pixels.
 */
export function addLuma(pix, w, h, ch, res, rw, rh, sx, sy) {
  const up = bilinearResize(res, rw, rh, w, h, sx, sy);
  const out = Uint8Array.from(pix.subarray(0, w * h * ch));
  const colours = ch === 4 ? 3 : ch;
  for (let i = 0; i < w * h; i++) {
    // The kernel's deltas are signed bytes: residuals beyond +-127 count as +-127.
    const d = Math.max(-127, Math.min(127, roundEven(up[i])));
    for (let c = 0; c < colours; c++) {
      const v = out[i * ch + c] + d;
      out[i * ch + c] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return out;
}

const sat16 = (x) => Math.max(-32768, Math.min(32767, x));
/** WebAssembly's i16x8.q15mulr_sat_s on one lane: (a b + 2^14) >> 15, saturated. */
export const q15mulr = (a, b) => sat16(Math.floor((a * b + 0x4000) / 32768));

/** An interpolation weight in 15 fraction bits, from the kernels' f32 weight: round(32768 t), at most 32767. */
const t15Of = (t) => Math.min(32767, roundEven(Math.fround(t) * 32768));
/** a + q15mulr(b - a, t15), the difference and the sum saturated (16-bit lanes). */
const q7Lerp = (a, b, t15) => sat16(a + q15mulr(sat16(b - a), t15));

/**
 * addMarkPrepare + addMarkRows (3 or 4 channels), in 16-bit fixed point: the residual as
 * round(128 v) (ties to even, saturated), upsampled along x and then along y by q7Lerp with
 * weights t15Of; the delta of channel c is q15mulr(v, round(256 gains[c])) clamped to +-127,
 * added with saturation to 0..255. Alpha is kept. Returns the new pixels.
 */
export function addMark(pix, w, h, ch, res, rw, rh, sx, sy, gains) {
  const q7 = Int32Array.from(res, (v) => sat16(roundEven(Math.fround(v) * 128)));
  const rows = new Int32Array(rh * w);
  for (let r = 0; r < rh; r++) {
    for (let o = 0; o < w; o++) {
      const [i, j, t] = bilinearTap(o, sx, rw);
      rows[r * w + o] = q7Lerp(q7[r * rw + i], q7[r * rw + j], t15Of(t));
    }
  }
  const g = gains.map((k) => roundEven(Math.max(-127, Math.min(127, Math.fround(k))) * 256));
  const out = Uint8Array.from(pix.subarray(0, w * h * ch));
  for (let y = 0; y < h; y++) {
    const [i, j, t] = bilinearTap(y, sy, rh);
    const t15 = t15Of(t);
    for (let x = 0; x < w; x++) {
      const v = q7Lerp(rows[i * w + x], rows[j * w + x], t15);
      for (let c = 0; c < 3; c++) {
        const d = Math.max(-127, Math.min(127, q15mulr(v, g[c])));
        const s = out[(y * w + x) * ch + c] + d;
        out[(y * w + x) * ch + c] = s < 0 ? 0 : s > 255 ? 255 : s;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// 8x8 DCT (assembly/dct.ts): C[u][k] = a(u) cos((2k + 1) u pi / 16), a(0) = sqrt(1/8),
// a(u > 0) = sqrt(2/8). Forward (DCT-II): Y = C X C^T. Inverse (DCT-III): X = C^T Y C.

export const DCT = (() => {
  const c = [];
  for (let u = 0; u < 8; u++) {
    const row = [];
    const a = u === 0 ? Math.sqrt(1 / 8) : Math.sqrt(2 / 8);
    for (let k = 0; k < 8; k++) row.push(a * Math.cos(((2 * k + 1) * u * Math.PI) / 16));
    c.push(row);
  }
  return c;
})();

/**
 * Transform the bw x bh full 8x8 blocks of a plane with row stride w. Returns a copy of the
 * plane with the blocks replaced (samples outside the blocks are copied unchanged).
 */
export function dct8x8(src, w, bw, bh, inverse) {
  const out = Float64Array.from(src);
  for (let by = 0; by < bh; by++) {
    for (let bx = 0; bx < bw; bx++) {
      const at = (r, c) => (by * 8 + r) * w + bx * 8 + c;
      for (let u = 0; u < 8; u++) {
        for (let v = 0; v < 8; v++) {
          let acc = 0;
          for (let r = 0; r < 8; r++) {
            for (let c = 0; c < 8; c++) {
              // forward: sum C[u][r] X[r][c] C[v][c]; inverse: sum C[r][u] Y[r][c] C[c][v]
              const k = inverse ? DCT[r][u] * DCT[c][v] : DCT[u][r] * DCT[v][c];
              acc += k * src[at(r, c)];
            }
          }
          out[at(u, v)] = acc;
        }
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Keyed pseudo-random numbers (assembly/chips.ts), exact u32 arithmetic via Math.imul and >>> 0.

/** MurmurHash3's 32-bit finaliser. */
export function fmix(h) {
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return h;
}

/** Value i of stream `stream` under the key k (four u32 words). */
export function hash(k, stream, i) {
  let h = (Math.imul(i, 0x9e3779b1) ^ Math.imul(stream, 0x632be5ab)) >>> 0;
  h = fmix((h + k[0]) >>> 0);
  h = fmix((h ^ k[1]) >>> 0);
  h = fmix((h + k[2]) >>> 0);
  return fmix((h ^ k[3]) >>> 0);
}

/** Values 0 .. n-1 of a stream. */
export function random(k, stream, n) {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = hash(k, stream, i);
  return out;
}

/** Chips +1 / -1: -1 where the top bit of the value is set. */
export function chips(k, stream, n) {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = hash(k, stream, i) >>> 31 ? -1 : 1;
  return out;
}

/**
 * Keyed tile layout: Fisher-Yates permutation of the slots driven by stream 1 (j = floor(r *
 * (i + 1) / 2^32)); the first npilot permuted slots carry the pilot symbol nsym - 1, the rest
 * are dealt round-robin to symbols 0 .. nsym - 2. Chip signs are stream 2.
 */
export function layout(k, nslots, npilot, nsym, npsym = 1) {
  const perm = new Uint32Array(nslots);
  for (let i = 0; i < nslots; i++) perm[i] = i;
  for (let i = nslots - 1; i > 0; i--) {
    const r = hash(k, 1, i);
    const j = Number((BigInt(r) * BigInt(i + 1)) >> 32n);
    const a = perm[i];
    perm[i] = perm[j];
    perm[j] = a;
  }
  const ndata = nsym - npsym;
  const code = new Int32Array(nslots);
  for (let t = 0; t < nslots; t++) code[perm[t]] = t < npilot ? ndata + (t % npsym) : (t - npilot) % ndata;
  return { code, sign: chips(k, 2, nslots) };
}

// ---------------------------------------------------------------------------------------------
// Spread spectrum (assembly/spread.ts). Coefficient planes have row stride w; block b = by*bw+bx
// holds its 8x8 coefficients at rows by*8.., columns bx*8..; band index ix means row ix >> 3,
// column ix & 7 within the block. Slot of (block, k) = ((by % tb) * tb + bx % tb) * nb + k.

const coefAt = (w, bx, by, ix) => (by * 8 + (ix >> 3)) * w + bx * 8 + (ix & 7);

/**
 * act[b]: mean square of the 63 AC coefficients; pow[b*nb+k]: square of band coefficient k;
 * both then averaged over the 3x3 block neighbourhood clipped to the frame.
 */
export function blockStats(coef, w, bw, bh, band, nb) {
  const n = bw * bh;
  const rawAct = new Float64Array(n), rawPow = new Float64Array(n * nb);
  for (let by = 0; by < bh; by++) {
    for (let bx = 0; bx < bw; bx++) {
      const b = by * bw + bx;
      let e = 0;
      for (let ix = 1; ix < 64; ix++) e += coef[coefAt(w, bx, by, ix)] ** 2;
      rawAct[b] = e / 63;
      for (let k = 0; k < nb; k++) rawPow[b * nb + k] = coef[coefAt(w, bx, by, band[k])] ** 2;
    }
  }
  const act = new Float64Array(n), pow = new Float64Array(n * nb);
  for (let by = 0; by < bh; by++) {
    for (let bx = 0; bx < bw; bx++) {
      const b = by * bw + bx;
      let count = 0, sa = 0;
      const sp = new Float64Array(nb);
      for (let y = by - 1; y <= by + 1; y++) {
        for (let x = bx - 1; x <= bx + 1; x++) {
          if (y < 0 || y >= bh || x < 0 || x >= bw) continue;
          count++;
          sa += rawAct[y * bw + x];
          for (let k = 0; k < nb; k++) sp[k] += rawPow[(y * bw + x) * nb + k];
        }
      }
      act[b] = sa / count;
      for (let k = 0; k < nb; k++) pow[b * nb + k] = sp[k] / count;
    }
  }
  return { act, pow };
}

/** mask[b] = clamp(((act[b] + a0) / aref) ^ gamma, lo, hi); weight[b*nb+k] = mask[b] / (pow + p0). */
export function maskWeights(act, pow, n, nb, a0, aref, gamma, lo, hi, p0) {
  const mask = new Float64Array(n), weight = new Float64Array(n * nb);
  for (let i = 0; i < n; i++) {
    const m = Math.min(Math.max(((act[i] + a0) / aref) ** gamma, lo), hi);
    mask[i] = m;
    for (let k = 0; k < nb; k++) weight[i * nb + k] = m / (pow[i * nb + k] + p0);
  }
  return { mask, weight };
}

/**
 * The plane `wm` with each band coefficient set to amp * mask[block] * sign[slot] *
 * sym[code[slot]] (every other sample unchanged).
 */
export function spreadEmbed(wm, w, bw, bh, band, nb, tb, code, sign, sym, mask, amp) {
  const out = Float64Array.from(wm);
  for (let by = 0; by < bh; by++) {
    for (let bx = 0; bx < bw; bx++) {
      for (let k = 0; k < nb; k++) {
        const slot = ((by % tb) * tb + (bx % tb)) * nb + k;
        out[coefAt(w, bx, by, band[k])] = amp * mask[by * bw + bx] * sign[slot] * sym[code[slot]];
      }
    }
  }
  return out;
}

/**
 * F[slot] = sum over the blocks at that tile position of weight[b*nb+k] * band coefficient k.
 * Also returns `scale[slot]` = sum of |weight * coefficient|, the size of the terms summed
 * (for error bounds).
 */
export function fold(coef, w, bw, bh, band, nb, tb, weight) {
  const F = new Float64Array(tb * tb * nb), scale = new Float64Array(tb * tb * nb);
  for (let by = 0; by < bh; by++) {
    for (let bx = 0; bx < bw; bx++) {
      for (let k = 0; k < nb; k++) {
        const slot = ((by % tb) * tb + (bx % tb)) * nb + k;
        const term = weight[(by * bw + bx) * nb + k] * coef[coefAt(w, bx, by, band[k])];
        F[slot] += term;
        scale[slot] += Math.abs(term);
      }
    }
  }
  return { F, scale };
}

/** soft[c] = sum of F[s] * sign[s] and energy[c] = sum of F[s]^2 over the slots s of symbol c. */
export function correlate(F, code, sign, nslots, nsym) {
  const soft = new Float64Array(nsym), energy = new Float64Array(nsym);
  for (let s = 0; s < nslots; s++) {
    soft[code[s]] += F[s] * sign[s];
    energy[code[s]] += F[s] * F[s];
  }
  return { soft, energy };
}

/**
 * Per-block evidence over one plane or two of the same geometry, in f32 step by step as the
 * kernel computes it (so the results are bit-identical): v = k1 w1 c1 (+ k2 w2 c2) per band
 * coefficient, num[b] = sum of v sign sym, den[b] = sum of v^2. `coef2` null: one plane.
 */
export function blockEvidence(coef, coef2, w, bw, bh, band, nb, tb, weight, weight2, k1, k2, code, sign, sym) {
  const f = Math.fround;
  k1 = f(k1); k2 = f(k2);
  const num = new Float32Array(bw * bh), den = new Float32Array(bw * bh);
  for (let by = 0; by < bh; by++) {
    for (let bx = 0; bx < bw; bx++) {
      const b = by * bw + bx;
      let n = 0, d = 0;
      for (let k = 0; k < nb; k++) {
        const s = ((by % tb) * tb + (bx % tb)) * nb + k;
        const at = coefAt(w, bx, by, band[k]);
        let v = f(f(k1 * weight[b * nb + k]) * coef[at]);
        if (coef2) v = f(v + f(f(k2 * weight2[b * nb + k]) * coef2[at]));
        n = f(n + f(f(v * sign[s]) * sym[code[s]]));
        d = f(d + f(v * v));
      }
      num[b] = n;
      den[b] = d;
    }
  }
  return { num, den };
}

// ---------------------------------------------------------------------------------------------
// Metrics (assembly/metrics.ts).

/** Sum of squared differences over the colour channels (alpha skipped for ch = 4). */
export function sse(a, b, n, ch) {
  let total = 0;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < ch; c++) {
      if (ch === 4 && c === 3) continue;
      const d = a[i * ch + c] - b[i * ch + c];
      total += d * d;
    }
  }
  return total;
}

/** Normalised 11-tap Gaussian, sigma 1.5. */
export const GAUSS = (() => {
  const g = [];
  for (let i = -5; i <= 5; i++) g.push(Math.exp(-(i * i) / (2 * 1.5 * 1.5)));
  const sum = g.reduce((s, v) => s + v, 0);
  return g.map((v) => v / sum);
})();

/**
 * Mean SSIM (Wang et al. 2004) of two w x h planes: 11x11 Gaussian window (sigma 1.5) at every
 * position where it fits inside the image, C1 = (0.01*255)^2, C2 = (0.03*255)^2.
 */
export function ssim(a, b, w, h) {
  const C1 = (0.01 * 255) ** 2, C2 = (0.03 * 255) ** 2;
  let total = 0, count = 0;
  for (let y = 0; y + 11 <= h; y++) {
    for (let x = 0; x + 11 <= w; x++) {
      let ma = 0, mb = 0, eaa = 0, ebb = 0, eab = 0;
      for (let j = 0; j < 11; j++) {
        for (let i = 0; i < 11; i++) {
          const g = GAUSS[j] * GAUSS[i];
          const va = a[(y + j) * w + x + i], vb = b[(y + j) * w + x + i];
          ma += g * va;
          mb += g * vb;
          eaa += g * va * va;
          ebb += g * vb * vb;
          eab += g * va * vb;
        }
      }
      const saa = eaa - ma * ma, sbb = ebb - mb * mb, sab = eab - ma * mb;
      total += ((2 * ma * mb + C1) * (2 * sab + C2)) / ((ma * ma + mb * mb + C1) * (saa + sbb + C2));
      count++;
    }
  }
  return total / count;
}

// ---------------------------------------------------------------------------------------------
// Deep watermark pre- and post-processing (assembly/deep.ts). Planar images are [c][h][w].

/** Taps along one axis from n inputs to m outputs: area when shrinking (m <= n), else bilinear. */
function axisTaps(o, n, m) {
  const s = n / m;
  if (m <= n) return areaTaps(o, s, n);
  const [i, j, t] = bilinearTap(o, s, n);
  return i === j ? [[i, 1]] : [[i, 1 - t], [j, t]];
}

/**
 * Pixels (w x h, ch channels) to planar RGB [3][dh][dw] in [0, 1]: per axis area resampling when
 * shrinking and bilinear when enlarging (scale w / dw, h / dh), grey replicated, alpha ignored.
 */
export function deepInput(src, w, h, ch, dw, dh) {
  const dst = new Float64Array(3 * dw * dh);
  for (let c = 0; c < 3; c++) {
    const off = ch === 1 ? 0 : c;
    const tmp = new Float64Array(dh * w);
    for (let o = 0; o < dh; o++) {
      for (const [i, wt] of axisTaps(o, h, dh)) {
        for (let x = 0; x < w; x++) tmp[o * w + x] += wt * src[(i * w + x) * ch + off] / 255;
      }
    }
    for (let r = 0; r < dh; r++) {
      for (let o = 0; o < dw; o++) {
        let acc = 0;
        for (const [i, wt] of axisTaps(o, w, dw)) acc += wt * tmp[r * w + i];
        dst[(c * dh + r) * dw + o] = acc;
      }
    }
  }
  return dst;
}

/** Planar [c][h][w] to tiles [T][c][tile][tile], T = floor(h / tile) * floor(w / tile), row-major. */
export function deepTiles(src, w, h, c, tile) {
  const tx = Math.floor(w / tile), ty = Math.floor(h / tile);
  const dst = new Float64Array(tx * ty * c * tile * tile);
  let d = 0;
  for (let j = 0; j < ty; j++) {
    for (let i = 0; i < tx; i++) {
      for (let k = 0; k < c; k++) {
        for (let y = 0; y < tile; y++) {
          for (let x = 0; x < tile; x++) dst[d++] = src[(k * h + j * tile + y) * w + i * tile + x];
        }
      }
    }
  }
  return dst;
}

/**
 * Residual planes [3][rh][rw] in [0, 1] units: each upsampled bilinearly to w x h (scale rw / w,
 * rh / h), x 255, rounded half to even and added to R, G, B with saturation (grey: the luma of
 * the three planes, taken at the residual's size); alpha untouched. Returns new pixels.
 */
export function addResidual(pix, w, h, ch, res, rw, rh) {
  const n = rw * rh;
  const planes = ch === 1
    ? [Float64Array.from({ length: n }, (_, i) => KR * res[i] + KG * res[n + i] + KB * res[2 * n + i])]
    : [0, 1, 2].map((c) => Float64Array.from(res.subarray(c * n, (c + 1) * n)));
  const up = planes.map((p) => bilinearResize(p.map((v) => v * 255), rw, rh, w, h, rw / w, rh / h));
  const out = Uint8Array.from(pix.subarray(0, w * h * ch));
  for (let i = 0; i < w * h; i++) {
    for (let c = 0; c < (ch === 1 ? 1 : 3); c++) {
      // The grey path is addLuma's, whose deltas are clamped to +-127.
      const d = roundEven(up[c][i]);
      const v = out[i * ch + c] + (ch === 1 ? Math.max(-127, Math.min(127, d)) : d);
      out[i * ch + c] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return out;
}

/** Pearson correlation of two equal-length arrays (0 when either is constant). */
export function pearson(a, b) {
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]; mb += b[i]; }
  ma /= n; mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i] - ma, db = b[i] - mb;
    sab += da * db; saa += da * da; sbb += db * db;
  }
  if (!(saa > 0) || !(sbb > 0)) return 0;
  return Math.max(-1, Math.min(1, sab / Math.sqrt(saa * sbb)));
}

/** The mean e of `tiles` logos of n values laid out one after another, and pearson(e, logo). */
export function tileNc(src, tiles, n, logo) {
  const e = new Float64Array(n);
  for (let t = 0; t < tiles; t++) for (let i = 0; i < n; i++) e[i] += src[t * n + i];
  for (let i = 0; i < n; i++) e[i] /= tiles;
  return { e, nc: pearson(e, logo) };
}

// ---------------------------------------------------------------------------------------------
// Payload code (assembly/viterbi.ts): K = 7, rate 1/2, generators 133 and 171 (octal), 6 tail bits.

const parity = (x) => { let p = 0; for (; x; x &= x - 1) p ^= 1; return p; };

/**
 * List Viterbi decoding, written the plain way: every state keeps its L best paths, and each step
 * inserts every extension of every predecessor path into the successor's sorted list (states in
 * ascending order, so ties go to the lower predecessor). Returns the surviving paths into state 0
 * after the tail, best first: { bits, metric }[], with metric = sum of soft * (2 * coded - 1).
 */
export function listViterbi(soft, L, infoLength) {
  const S = 64, steps = infoLength + 6;
  let paths = Array.from({ length: S }, (_, s) => (s === 0 ? [{ metric: 0, bits: [] }] : []));
  for (let i = 0; i < steps; i++) {
    const next = Array.from({ length: S }, () => []);
    for (let s = 0; s < S; s++) {
      for (const b of i < infoLength ? [0, 1] : [0]) {
        const reg = (s << 1) | b, ns = reg & 63;
        const d = (parity(reg & 0o133) ? 1 : -1) * soft[2 * i] + (parity(reg & 0o171) ? 1 : -1) * soft[2 * i + 1];
        for (const p of paths[s]) {
          const list = next[ns], v = p.metric + d;
          let j = list.length;
          while (j > 0 && list[j - 1].metric < v) j--;
          if (j < L) { list.splice(j, 0, { metric: v, bits: i < infoLength ? [...p.bits, b] : p.bits }); list.length = Math.min(list.length, L); }
        }
      }
    }
    paths = next;
  }
  return paths[0].map((p) => ({ bits: Uint8Array.from(p.bits), metric: p.metric }));
}

// ---------------------------------------------------------------------------------------------
// 16-bit samples and grey + alpha through an 8-bit working copy (assembly/depth.ts).

/** round(s / 257) of a 16-bit sample: its 8-bit value. */
export const narrowSample = (s) => Math.round(s / 257);

/** The 8-bit working copy: every sample (16-bit, any layout), or the grey of grey + alpha. */
export function narrowSamples(src, n, layout) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (layout === 'ga16') out[i] = narrowSample(src[2 * i]);
    else if (layout === 'ga8') out[i] = src[2 * i];
    else out[i] = narrowSample(src[i]);
  }
  return out;
}

/** The samples with the marked working copy's change applied (a new array; alpha unchanged). */
export function applySamples(src, marked, n, layout) {
  const out = src.slice();
  for (let i = 0; i < n; i++) {
    if (layout === 'ga8') { out[2 * i] = marked[i]; continue; }
    const j = layout === 'ga16' ? 2 * i : i;
    out[j] = Math.min(65535, Math.max(0, src[j] + 257 * (marked[i] - narrowSample(src[j]))));
  }
  return out;
}
