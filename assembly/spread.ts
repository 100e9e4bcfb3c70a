// Spread-spectrum embedding and detection in the 8x8 DCT domain of the luma frame.
// Blocks are laid out in tiles of tb x tb blocks repeated over the frame; the band holds nb
// in-block coefficient indices (v * 8 + u). Slot (tile position, band index) carries
// chip sign[slot] times symbol sym[code[slot]].

/** dst[i] = (a[i] + b[i] + c[i]) * k for n floats; b and c may be 0 (absent). */
// @ts-ignore: decorator
@inline function sum3(dst: usize, a: usize, b: usize, c: usize, n: i32, k: f32): void {
  const kv = f32x4.splat(k);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    let v = v128.load(a + o);
    if (b) v = f32x4.add(v, v128.load(b + o));
    if (c) v = f32x4.add(v, v128.load(c + o));
    v128.store(dst + o, f32x4.mul(v, kv));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    let v = load<f32>(a + o);
    if (b) v += load<f32>(b + o);
    if (c) v += load<f32>(c + o);
    store<f32>(dst + o, v * k);
  }
}

/**
 * Mean over the 3x3 neighbourhood (the blocks that exist) of a bw x bh grid of records of m
 * floats each: src -> dst, separable (horizontal sums into tmp, then vertical sums scaled by
 * 1 / count), m floats at a time in v128 lanes. tmp holds bw * bh * m floats.
 */
function smooth3x3(src: usize, dst: usize, tmp: usize, bw: i32, bh: i32, m: i32): void {
  const rec = <usize>m << 2;
  const row = <usize>bw * rec;
  for (let by = 0; by < bh; by++) {
    for (let bx = 0; bx < bw; bx++) {
      const o = <usize>(by * bw + bx) * rec;
      sum3(tmp + o, src + o, bx > 0 ? src + o - rec : 0, bx + 1 < bw ? src + o + rec : 0, m, 1);
    }
  }
  for (let by = 0; by < bh; by++) {
    const cy = 1 + (by > 0 ? 1 : 0) + (by + 1 < bh ? 1 : 0);
    for (let bx = 0; bx < bw; bx++) {
      const cx = 1 + (bx > 0 ? 1 : 0) + (bx + 1 < bw ? 1 : 0);
      const o = <usize>(by * bw + bx) * rec;
      sum3(dst + o, tmp + o, by > 0 ? tmp + o - row : 0, by + 1 < bh ? tmp + o + row : 0, m, 1 / <f32>(cx * cy));
    }
  }
}

/**
 * Per-block statistics of a transformed plane, smoothed over the 3x3 block neighbourhood:
 * act[b] = mean square of the 63 AC coefficients (activity, for the perceptual mask) and
 * pow[b * nb + k] = square of band coefficient k (local host power at that frequency, for the
 * detector's weights). act: f32[bw * bh]; pow: f32[bw * bh * nb]; tmp: 2 * (1 + nb) * bw * bh
 * floats. On return tmp[0 .. bw * bh) holds each block's own activity, before the 3x3 mean:
 * src/pieces.ts (texturedBoxes) reads it there, and test/kernels.test.mjs holds this to it.
 */
export function blockStats(coef: usize, w: i32, bw: i32, bh: i32, band: usize, nb: i32, act: usize, pow: usize, tmp: usize): void {
  const n = bw * bh;
  const ta = tmp, tp = tmp + (<usize>n << 2);
  const th = tp + (<usize>(n * nb) << 2);
  const stride = <usize>w << 2;
  for (let by = 0; by < bh; by++) {
    for (let bx = 0; bx < bw; bx++) {
      const base = coef + <usize>(by * 8) * stride + (<usize>(bx * 8) << 2);
      let e = f32x4.splat(0);
      for (let r = 0; r < 8; r++) {
        const a = v128.load(base + <usize>r * stride), b = v128.load(base + <usize>r * stride, 16);
        e = f32x4.add(e, f32x4.add(f32x4.mul(a, a), f32x4.mul(b, b)));
      }
      const dc = load<f32>(base);
      const all = f32x4.extract_lane(e, 0) + f32x4.extract_lane(e, 1) + f32x4.extract_lane(e, 2) + f32x4.extract_lane(e, 3);
      const b = by * bw + bx;
      store<f32>(ta + (<usize>b << 2), (all - dc * dc) / 63);
      for (let k = 0; k < nb; k++) {
        const ix = load<i32>(band + (<usize>k << 2));
        const c = load<f32>(base + <usize>(ix >> 3) * stride + (<usize>(ix & 7) << 2));
        store<f32>(tp + (<usize>(b * nb + k) << 2), c * c);
      }
    }
  }
  smooth3x3(ta, act, th, bw, bh, 1);
  smooth3x3(tp, pow, th, bw, bh, nb);
}

/**
 * Perceptual mask per block and detector weight per (block, band coefficient):
 *   mask[b] = clamp(((act[b] + a0) / aref) ^ gamma, lo, hi)   (variance-based contrast masking)
 *   weight[b * nb + k] = mask[b] / (pow[b * nb + k] + p0)     (matched filter, local host power)
 */
export function maskWeights(act: usize, pow: usize, n: i32, nb: i32, a0: f32, aref: f32, gamma: f32, lo: f32, hi: f32, p0: f32, mask: usize, weight: usize): void {
  const pv = f32x4.splat(p0);
  for (let i = 0; i < n; i++) {
    let m = Mathf.pow((load<f32>(act + (<usize>i << 2)) + a0) / aref, gamma);
    m = m < lo ? lo : m > hi ? hi : m;
    store<f32>(mask + (<usize>i << 2), m);
    const mv = f32x4.splat(m);
    let k = 0;
    for (; k + 4 <= nb; k += 4) {
      const o = <usize>(i * nb + k) << 2;
      v128.store(weight + o, f32x4.div(mv, f32x4.add(v128.load(pow + o), pv)));
    }
    for (; k < nb; k++) {
      const o = <usize>(i * nb + k) << 2;
      store<f32>(weight + o, m / (load<f32>(pow + o) + p0));
    }
  }
}

/**
 * Write the watermark into the (zeroed) coefficient plane `wm`:
 * coefficient = amp * mask[block] * sign[slot] * sym[code[slot]].
 */
export function spreadEmbed(wm: usize, w: i32, bw: i32, bh: i32, band: usize, nb: i32, tb: i32, code: usize, sign: usize, sym: usize, mask: usize, amp: f32): void {
  const stride = <usize>w << 2;
  for (let by = 0; by < bh; by++) {
    const ty = by % tb;
    for (let bx = 0; bx < bw; bx++) {
      const m = amp * load<f32>(mask + (<usize>(by * bw + bx) << 2));
      const t = (ty * tb + bx % tb) * nb;
      const base = wm + <usize>(by * 8) * stride + (<usize>(bx * 8) << 2);
      for (let k = 0; k < nb; k++) {
        const s = <usize>(t + k) << 2;
        const ix = load<i32>(band + (<usize>k << 2));
        const v = m * load<f32>(sign + s) * load<f32>(sym + (<usize>load<i32>(code + s) << 2));
        store<f32>(base + <usize>(ix >> 3) * stride + (<usize>(ix & 7) << 2), v);
      }
    }
  }
}

/**
 * Fold the band coefficients of all blocks onto one tile, weighted:
 * F[slot] = sum over blocks at that tile position of weight[block * nb + k] * coefficient.
 * F: f32[tb * tb * nb] (overwritten).
 */
export function fold(coef: usize, w: i32, bw: i32, bh: i32, band: usize, nb: i32, tb: i32, weight: usize, F: usize): void {
  memory.fill(F, 0, <usize>(tb * tb * nb) << 2);
  const stride = <usize>w << 2;
  for (let by = 0; by < bh; by++) {
    const ty = by % tb;
    for (let bx = 0; bx < bw; bx++) {
      const wb = weight + (<usize>((by * bw + bx) * nb) << 2);
      const t = (ty * tb + bx % tb) * nb;
      const base = coef + <usize>(by * 8) * stride + (<usize>(bx * 8) << 2);
      for (let k = 0; k < nb; k++) {
        const ix = load<i32>(band + (<usize>k << 2));
        const f = F + (<usize>(t + k) << 2);
        store<f32>(f, load<f32>(f) + load<f32>(wb + (<usize>k << 2)) * load<f32>(base + <usize>(ix >> 3) * stride + (<usize>(ix & 7) << 2)));
      }
    }
  }
}

/**
 * Despread a folded tile: soft[c] = sum of F * sign over the slots of symbol c, and
 * energy[c] = sum of F^2 over them (the null variance of soft[c]). soft, energy: f64[nsym].
 */
export function correlate(F: usize, code: usize, sign: usize, nslots: i32, nsym: i32, soft: usize, energy: usize): void {
  memory.fill(soft, 0, <usize>nsym << 3);
  memory.fill(energy, 0, <usize>nsym << 3);
  for (let s = 0; s < nslots; s++) {
    const o = <usize>s << 2;
    const f = <f64>load<f32>(F + o);
    const c = <usize>load<i32>(code + o) << 3;
    store<f64>(soft + c, load<f64>(soft + c) + f * <f64>load<f32>(sign + o));
    store<f64>(energy + c, load<f64>(energy + c) + f * f);
  }
}

/**
 * Per-block evidence of a decoded mark read from one or two planes of the same geometry (luma
 * and Cb): with v = k1 * weight * coefficient + k2 * weight2 * coefficient2 for each of the
 * block's band coefficients (coef2 = 0: the first plane alone, k2 unused), num[b] = sum of
 * v * sign[slot] * sym[code[slot]] (the block's share of the correlation with the expected
 * watermark) and den[b] = sum of v^2 (its null variance; with two planes it holds their cross
 * term, which is not 0 where luma and Cb detail move together). Summing num and den over a
 * region gives that region's score num / sqrt(den), N(0, 1) where the region carries no mark.
 */
export function blockEvidence(coef: usize, coef2: usize, w: i32, bw: i32, bh: i32, band: usize, nb: i32, tb: i32, weight: usize, weight2: usize,
  k1: f32, k2: f32, code: usize, sign: usize, sym: usize, num: usize, den: usize): void {
  const stride = <usize>w << 2;
  for (let by = 0; by < bh; by++) {
    const ty = by % tb;
    for (let bx = 0; bx < bw; bx++) {
      const b = by * bw + bx;
      const wo = <usize>(b * nb) << 2;
      const t = (ty * tb + bx % tb) * nb;
      const off = <usize>(by * 8) * stride + (<usize>(bx * 8) << 2);
      let n: f32 = 0, d: f32 = 0;
      for (let k = 0; k < nb; k++) {
        const ix = load<i32>(band + (<usize>k << 2));
        const s = <usize>(t + k) << 2;
        const at = off + <usize>(ix >> 3) * stride + (<usize>(ix & 7) << 2);
        let v = k1 * load<f32>(weight + wo + (<usize>k << 2)) * load<f32>(coef + at);
        if (coef2 != 0) v += k2 * load<f32>(weight2 + wo + (<usize>k << 2)) * load<f32>(coef2 + at);
        n += v * load<f32>(sign + s) * load<f32>(sym + (<usize>load<i32>(code + s) << 2));
        d += v * v;
      }
      store<f32>(num + (<usize>b << 2), n);
      store<f32>(den + (<usize>b << 2), d);
    }
  }
}
