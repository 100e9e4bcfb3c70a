// Informed embedding (improved spread spectrum, Malvar & Florencio 2003, per symbol): the
// embedder runs the blind detector on the original image, so it knows how much the image itself
// will push each coded bit's soft value (the host interference h_c) and how much one unit of
// gain will add (the response R_c). Symbols the host works against get more gain, symbols the
// host already supports get less: gain_c = clamp(1 - LAMBDA * b_c * h_c / R_c, G_MIN, G_MAX).
import { despread, NB, NSLOTS, NSYM, TILE, type Analysis, type Layout } from './scheme.js';
import type { Arena } from './wasm.js';

/** Informed-gain constants, shared with the plain-JS reference (bench/js-reference.mjs). */
export const LAMBDA = 1;
export const G_MIN = 0.5;
export const G_MAX = 3;

/**
 * Scale the symbols at `symp` (f32[NSYM], +-1) in place by their informed gains. `wm` is a
 * frame-sized scratch plane.
 */
export function informedGains(a: Arena, an: Analysis, layout: Layout, code: number, symp: number, wm: number, amp: number): void {
  const k = a.k;
  const { g } = an;
  const host = despread(a, an, layout).soft;
  // Response per unit gain: the watermark the detector would see with all chips and symbols +1.
  const ones = a.f32(Math.max(NSLOTS, NSYM));
  a.f32view(ones, Math.max(NSLOTS, NSYM)).fill(1);
  k.zero(wm, g.fw * g.fh * 4);
  k.spreadEmbed(wm, g.fw, g.bw, g.bh, an.band, NB, TILE, code, ones, ones, an.mask, amp);
  const F = a.f32(NSLOTS);
  k.fold(wm, g.fw, g.bw, g.bh, an.band, NB, TILE, an.weight, F);
  const resp = a.bytes(NSYM * 8), energy = a.bytes(NSYM * 8);
  k.correlate(F, code, ones, NSLOTS, NSYM, resp, energy);
  const R = a.f64view(resp, NSYM);
  const sym = a.f32view(symp, NSYM);
  for (let c = 0; c < NSYM; c++) {
    if (!(R[c] > 0)) continue;
    const gain = Math.min(G_MAX, Math.max(G_MIN, 1 - (LAMBDA * sym[c] * host[c]) / R[c]));
    sym[c] *= gain;
  }
}
