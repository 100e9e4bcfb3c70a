// The classical watermark's layout and the analysis both embedder and detector run.
//
// Layout. The luma plane is area-resampled to a "frame" whose short side is FRAME pixels, so
// the frame is tied to the image's content, not its pixel count: a copy resized to 0.5x maps
// onto the same frame. The frame is cut into 8x8 DCT blocks; TILE x TILE blocks form a tile
// (64 x 64 frame pixels) that repeats over the whole frame. In each block the BAND
// coefficients (16 to 64 cycles per short side: above the smooth content, below what a 0.5x
// copy of a small photo or JPEG at q50 destroys) hold one slot each. A keyed permutation gives
// 3/16 of the tile's 1024 slots to the pilot (a known keyed sequence, in two halves: one
// for synchronisation, one for the detection score) and deals the rest round-robin to the 172
// coded bits (4 or 5 slots each, repeated in every tile). The repetition
// over tiles is what the geometric search locks onto (autocorrelation period 64: four periods
// across the short side, two even in a crop that keeps a quarter of the image).
import { Arena } from './wasm.js';
import { bytesOf, type CheckedImage } from './image.js';
import { CODED_BITS, convEncode, infoBits } from './payload.js';
import { log } from './libm.js';

export const FRAME = 256;
export const TILE = 8;
/** In-block coefficient indices (v * 8 + u) with 1 <= sqrt(u^2 + v^2) <= 4: the 16 pairs. */
export const BAND = Int32Array.from([1, 8, 9, 2, 16, 10, 17, 18, 3, 24, 11, 25, 19, 26, 4, 32]);
export const NB = BAND.length;
export const NSLOTS = TILE * TILE * NB;
export const NPILOT = (3 * NSLOTS) / 16;
/**
 * Symbols: the coded bits, then two pilot halves. Pilot A synchronises (the geometric search
 * picks the transform that maximises it); pilot B then scores the chosen transform, so its score
 * stays N(0, 1) under the null however hard the search looked. Unsearched frames of grey images
 * score both; a colour image's luma and Cb reads are combined with weights from pilot A
 * (combineReads), so they are scored by half B alone.
 */
export const PILOT = CODED_BITS;
export const PILOT_B = CODED_BITS + 1;
export const PILOT_B2 = CODED_BITS + 2;
export const NPSYM = 3;
export const NSYM = CODED_BITS + NPSYM;

/** The symbols a payload is embedded as: its coded bits as +-1, then both pilot halves +1. */
export function symbols(payload: Uint8Array): Float32Array {
  const coded = convEncode(infoBits(payload));
  const sym = new Float32Array(NSYM);
  for (let i = 0; i < coded.length; i++) sym[i] = coded[i] ? 1 : -1;
  sym[PILOT] = sym[PILOT_B] = sym[PILOT_B2] = 1;
  return sym;
}

/** Normalised pilot correlation (N(0, 1) without a mark) of both pilot halves or of B alone. */
export function pilotScore(soft: ArrayLike<number>, energy: ArrayLike<number>, onlyB = false): number {
  const s = soft[PILOT_B] + soft[PILOT_B2] + (onlyB ? 0 : soft[PILOT]);
  const e = pilotEnergy(energy, onlyB);
  return e > 0 ? s / Math.sqrt(e) : 0;
}

/** The null energy of the symbols pilotScore sums (0: the pilot's slots hold nothing, no evidence). */
export function pilotEnergy(energy: ArrayLike<number>, onlyB = false): number {
  return energy[PILOT_B] + energy[PILOT_B2] + (onlyB ? 0 : energy[PILOT]);
}

// Perceptual model (see maskWeights in assembly/spread.ts): the mark's amplitude in a block
// grows with the block's AC activity as ((act + A0) / AREF) ^ GAMMA, clamped to [LO, HI].
export const MASK = { a0: 4, aref: 60, gamma: 0.35, lo: 0.55, hi: 1.85, p0: 2 };
/** DCT amplitude of one slot at strength 1 and mask 1, in frame luma levels. */
export const BASE_AMPLITUDE = 3.2;

/**
 * The chroma share of the mark in colour images: the same pattern goes on Y and on Cb, with
 * LUMA_SHARE of its squared error on Y and the rest on Cb, all scaled by CHROMA_AMP, which gives
 * back the PSNR that rounding three different channel deltas costs (measured on the 27 shared
 * photos: 42.77 dB mean, 38.36 dB worst, against 42.78 and 38.42 for luma alone). Grey texture
 * has no Cb at all, so there the Cb share meets no host: it is what lets grey, heavily textured
 * photos survive crops and rotations (bench/chroma-probe.mjs, docs/geometry.md). Grey images
 * (1 or 2 channels) carry the luma mark alone, at full amplitude.
 */
export const LUMA_SHARE = 0.92;
export const CHROMA_AMP = 0.9;
/** Squared error of a Cb change c (R, G, B change by 0, -0.344136 c, 1.772 c) per unit of a luma change's. */
const CB_COST = (0.344136 ** 2 + 1.772 ** 2) / 3;

/**
 * Gains of the residual on R, G and B for an image with `channels` channels: (ky, ky - 0.344136
 * kc, ky + 1.772 kc), ky and kc the luma and Cb amplitudes; undefined for grey (luma alone, gain 1).
 */
export function channelGains(channels: number): { ky: number; rgb: [number, number, number] } | undefined {
  if (channels < 3) return undefined;
  const ky = CHROMA_AMP * Math.sqrt(LUMA_SHARE), kc = CHROMA_AMP * Math.sqrt((1 - LUMA_SHARE) / CB_COST);
  return { ky, rgb: [ky, ky - 0.344136 * kc, ky + 1.772 * kc] };
}

/** A plane of fw x fh floats holding bw x bh full 8x8 blocks. */
export interface Plane {
  fw: number;
  fh: number;
  bw: number;
  bh: number;
}

/** Frame geometry of an image. */
export interface Geometry extends Plane {
  /** Image pixels per frame pixel, horizontally and vertically. */
  sx: number;
  sy: number;
}

/** The long side of the frame moves in steps of STEP frame pixels (two blocks). */
const STEP = 16;

/** The frame's long side in STEPs before rounding: FRAME * aspect / STEP. */
const longSteps = (width: number, height: number) => (FRAME * Math.max(width, height)) / Math.min(width, height) / STEP;

function frameOf(width: number, height: number, steps: number): Geometry {
  const long = Math.max(1, steps) * STEP;
  const fw = width >= height ? long : FRAME;
  const fh = width >= height ? FRAME : long;
  return { sx: width / fw, sy: height / fh, fw, fh, bw: fw >> 3, bh: fh >> 3 };
}

/**
 * The frame of an image: short side FRAME, long side FRAME * aspect rounded to a multiple of
 * STEP, each axis mapped with its own scale so that frame coordinates follow the content
 * exactly (x * fw / width) whatever rounding a resize applied to the pixel counts.
 * @example
 * geometry(1920, 1080) // { fw: 448, fh: 256, sx: 4.2857, sy: 4.21875, ... }
 */
export function geometry(width: number, height: number): Geometry {
  return frameOf(width, height, Math.round(longSteps(width, height)));
}

/**
 * The frames a detector must try: the canonical one, plus its neighbour when the aspect ratio
 * is so close to a rounding boundary that a resized copy (pixel counts rounded by up to half a
 * pixel on each axis) may have rounded the other way.
 */
export function candidateGeometries(width: number, height: number): Geometry[] {
  const t = longSteps(width, height);
  const eps = t * (1 / Math.min(width, height) + 1 / Math.max(width, height));
  const steps = new Set([t, t - eps, t + eps].map((x) => Math.max(1, Math.round(x))));
  return [...steps].map((n) => frameOf(width, height, n));
}

/** The keyed tile layout: per slot its symbol index and chip sign. */
export interface Layout {
  code: Int32Array;
  sign: Float32Array;
}

export function makeLayout(words: Uint32Array): Layout {
  const a = new Arena();
  const k = a.k;
  try {
    const kp = a.put(words.subarray(0, 4));
    const code = a.f32(NSLOTS), sign = a.f32(NSLOTS), tmp = a.f32(NSLOTS);
    k.layout(kp, NSLOTS, NPILOT, NSYM, NPSYM, code, sign, tmp);
    return { code: a.i32view(code, NSLOTS).slice(), sign: a.f32view(sign, NSLOTS).slice() };
  } finally {
    a.release();
  }
}

/** Pointers to one image's analysis inside an arena. */
export interface Analysis {
  g: Plane;
  /** DCT coefficients of the frame (fw x fh floats). */
  coef: number;
  mask: number;
  weight: number;
  band: number;
}

/** The luma frame (fw x fh floats) of pixels already in wasm memory. */
export function lumaFrame(a: Arena, img: CheckedImage, pix: number, g: Geometry): number {
  const k = a.k;
  const { width: w, height: h, channels: ch } = img;
  const frame = a.f32(g.fw * g.fh);
  if (g.sx >= 1 && g.sy >= 1) {
    const tmp = a.f32(8 * (w + 4) + 5 * (g.fw + g.fh) + 8);
    k.lumaArea(pix, w, h, ch, frame, g.fw, g.fh, g.sx, g.sy, tmp);
  } else {
    const y = a.f32(w * h);
    k.rgbToY(pix, w * h, ch, y);
    const tmp = a.f32(g.fh * w + 5 * g.fw);
    k.areaResize(y, w, h, frame, g.fw, g.fh, g.sx, g.sy, tmp);
  }
  return frame;
}

/** Pixel bytes per pass when an image is streamed through a small buffer (lumaFrameStreamed). */
const STREAM_FRAME_BYTES = 1 << 20;
/** At most this many frame rows per pass (16 at 1080p: fewer kernel calls gain nothing more). */
const STREAM_FRAME_ROWS = 16;

/**
 * The luma frame of an image still in JavaScript memory: its pixel rows are streamed through a
 * buffer of about 1 MB (16 frame rows' worth at 1080p; at least one frame row's worth for huge
 * images), which stays in cache, instead of being copied whole into wasm memory. Same frame as
 * lumaFrame, bit for bit. Images smaller than their frame (upsampled) are copied whole as before.
 */
export function lumaFrameStreamed(a: Arena, img: CheckedImage, g: Geometry): number {
  return framesStreamed(a, img, g, false).y;
}

/** A colour image's luma and Cb frames at one geometry (cb undefined for grey images). */
export interface Frames {
  y: number;
  cb?: number;
}

/**
 * The luma frame, as lumaFrameStreamed, and, with `withCb` and 3 or 4 channels, the Cb frame
 * (no offset: grey is 0) from the same pass over the pixels.
 */
export function framesStreamed(a: Arena, img: CheckedImage, g: Geometry, withCb = true): Frames {
  return streamFrames(a, img, g, true, withCb) as Frames;
}

/** The Cb frame alone (as framesStreamed's), for a colour image whose luma frame is made already. */
export function cbFrameStreamed(a: Arena, img: CheckedImage, g: Geometry): number {
  return streamFrames(a, img, g, false, true).cb!;
}

/** framesStreamed, with the luma frame optional (y 0 when not made). */
function streamFrames(a: Arena, img: CheckedImage, g: Geometry, withY: boolean, withCb: boolean): { y: number; cb?: number } {
  const k = a.k;
  const { width: w, height: h, channels: ch } = img;
  const cbWanted = withCb && ch >= 3;
  if (!(g.sx >= 1 && g.sy >= 1)) {
    // Smaller than its frame (upsampled): copied whole.
    const pix = a.put(img.data);
    const y = withY ? lumaFrame(a, img, pix, g) : 0;
    if (!cbWanted) return { y };
    const cb = a.f32(g.fw * g.fh);
    const mark = k.mark();
    try {
      const yy = a.f32(w * h), cbp = a.f32(w * h), cr = a.f32(w * h);
      k.rgbToYcc(pix, w * h, ch, yy, cbp, cr);
      const tmp = a.f32(g.fh * w + 5 * g.fw);
      k.areaResize(cbp, w, h, cb, g.fw, g.fh, g.sx, g.sy, tmp);
    } finally {
      k.release(mark);
    }
    return { y, cb };
  }
  const frame = withY ? a.f32(g.fw * g.fh) : 0;
  const cbFrame = cbWanted ? a.f32(g.fw * g.fh) : 0;
  const mark = k.mark();
  try {
    const tmp = a.f32(8 * (w + 4) + 5 * (g.fw + g.fh) + 8);
    const stride = w * ch;
    const band = Math.max(1, Math.min(STREAM_FRAME_ROWS, Math.floor(STREAM_FRAME_BYTES / (g.sy * stride))));
    const buf = a.bytes(Math.min(h, Math.ceil(band * g.sy) + 2) * stride);
    const src = bytesOf(img.data);
    const view = new Uint8Array(k.memory.buffer); // no allocation below: the view stays attached
    k.lumaAreaTables(w, h, g.fw, g.fh, g.sx, g.sy, tmp);
    for (let o0 = 0; o0 < g.fh; o0 += band) {
      const o1 = Math.min(g.fh, o0 + band);
      // The rows lumaAreaRows reads for frame rows o0..o1 - 1 (areaTable's bounds, in f64 as there).
      const first = Math.min(h, Math.floor(o0 * g.sy)), end = Math.min(h, Math.ceil(Math.min(o1 * g.sy, h)));
      view.set(src.subarray(first * stride, end * stride), buf);
      if (withY) k.lumaAreaRows(buf, first, w, h, ch, frame, g.fw, g.fh, o0, o1, tmp);
      if (cbWanted) k.cbAreaRows(buf, first, w, h, ch, cbFrame, g.fw, g.fh, o0, o1, tmp);
    }
  } finally {
    k.release(mark);
  }
  return cbWanted ? { y: frame, cb: cbFrame } : { y: frame };
}

/** Bytes of image rows per pass when the mark is added by streaming (addLumaStreamed). */
const STREAM_BYTES = 512 * 1024;

/**
 * Add the residual `res` (a frame-sized plane, geometry g) to the image's pixels and write the
 * result to `out` (the image's own array for an in-place embed): on luma alone for grey images
 * (addLumaRows), on luma and Cb for colour ones (addMarkRows with channelGains). Rows are streamed
 * through a buffer of about 512 KB (addLumaPrepare or addMarkPrepare once, then the rows per pass), so the image
 * is never held whole in wasm memory.
 */
export function addLumaStreamed(a: Arena, img: CheckedImage, res: number, g: Geometry, out: CheckedImage['data']): void {
  const k = a.k;
  const { width: w, height: h, channels: ch } = img;
  const gains = channelGains(ch)?.rgb;
  const mark = k.mark();
  try {
    // addMarkPrepare's scratch is addLumaPrepare's and 64 floats more.
    const tmp = a.f32(g.fh * w + 2 * (w + h) + 4 * w + 72);
    if (gains) k.addMarkPrepare(w, h, res, g.fw, g.fh, 1 / g.sx, 1 / g.sy, tmp);
    else k.addLumaPrepare(w, h, res, g.fw, g.fh, 1 / g.sx, 1 / g.sy, tmp);
    a.streamRows(bytesOf(img.data), w * ch, h, STREAM_BYTES, (buf, y0, y1) => {
      if (gains) k.addMarkRows(buf, y0, w, h, ch, g.fh, y0, y1, tmp, gains[0], gains[1], gains[2]);
      else k.addLumaRows(buf, y0, w, h, ch, g.fh, y0, y1, tmp);
    }, bytesOf(out));
  } finally {
    k.release(mark);
  }
}

/** A luma frame of an image at some size, with its geometry. */
export interface Framed {
  frame: number;
  g: Geometry;
}

/**
 * The luma frame remade from the image at r times the size of `base` (never finer than the
 * image's own pixels); `base` itself when that is within 10% of its size.
 */
export function reframe(a: Arena, img: CheckedImage, base: Framed, r: number): Framed {
  const g2 = reframeGeometry(img, base.g, r);
  return g2 ? { frame: lumaFrameStreamed(a, img, g2), g: g2 } : base;
}

/**
 * The geometry of reframe's frame at r times the size of `g` (never finer than the image's own
 * pixels), or undefined when that is within 10% of `g` (reframe keeps `base`).
 */
export function reframeGeometry(img: CheckedImage, g: Geometry, r: number): Geometry | undefined {
  const rr = Math.min(r, Math.max(1, Math.min(img.width / g.fw, img.height / g.fh)));
  if (Math.abs(log(rr)) < 0.1) return undefined;
  const fw = Math.round(g.fw * rr), fh = Math.round(g.fh * rr);
  return { fw, fh, bw: fw >> 3, bh: fh >> 3, sx: img.width / fw, sy: img.height / fh };
}

/** Transform a luma plane in place (8x8 DCT) and model each block: mask and detector weights. */
export function analysePlane(a: Arena, plane: number, g: Plane): Analysis {
  const k = a.k;
  k.dct8x8(plane, plane, g.fw, g.bw, g.bh, 0);
  const nblocks = g.bw * g.bh;
  const band = a.put(BAND);
  const act = a.f32(nblocks), pow = a.f32(nblocks * NB), tmp = a.f32(2 * (1 + NB) * nblocks);
  k.blockStats(plane, g.fw, g.bw, g.bh, band, NB, act, pow, tmp);
  const mask = a.f32(nblocks), weight = a.f32(nblocks * NB);
  k.maskWeights(act, pow, nblocks, NB, MASK.a0, MASK.aref, MASK.gamma, MASK.lo, MASK.hi, MASK.p0, mask, weight);
  return { g, coef: plane, mask, weight, band };
}

/**
 * Two channels' despread symbols (luma and Cb) as one: soft = wY softY + wC softC per symbol,
 * each channel weighted by its estimated amplitude over its spread: pilot half A's soft value
 * (floored at 0) over the mean square of the data symbols' soft values. Both channels are
 * despread with the same chips, so the combined soft value is the correlation of the combined
 * folded tile wY FY + wC FC with them, and its null energy is that tile's: wY^2 energyY +
 * wC^2 energyC + 2 wY wC (FY . FC over the symbol's slots). Luma and Cb detail are correlated
 * wherever an edge changes both (a two-colour pattern, another key's mark, which is the same
 * pattern on both): without the cross term the score's null variance was up to 2 (measured SD
 * 1.11 to 1.18 on blue-on-black patterns and 1.13 on a photo marked with another key).
 * Pilot half B is never looked at, so its score stays N(0, 1) without the mark whatever the
 * weights (a combined read is scored by half B alone, like the search's grids); the data
 * symbols' signs are not looked at either, so a CRC still passes by chance as often.
 * Pilot A was chosen over the data symbols' excess energy, which WebP's artefacts on a grey
 * photo's flat Cb plane inflate (measured: WebP q80 26/27 against 24/27). When neither channel's
 * pilot A is positive, luma alone. `code` is the layout's slot-to-symbol map the reads' folded
 * tiles (`folded`) were despread with.
 */
export function combineReads(y: Read, cb: Read | undefined, code: Int32Array): Read & { wY: number; wC: number } {
  if (!cb) return { ...y, wY: 1, wC: 0 };
  /** A channel's weight: pilot A's soft value (floored at 0) over the data symbols' mean square. */
  const weight = (r: { soft: Float64Array; energy: Float64Array }): number => {
    let s2 = 0;
    for (let i = 0; i < PILOT; i++) s2 += r.soft[i]! * r.soft[i]!;
    s2 /= PILOT;
    return s2 > 0 && Number.isFinite(s2) ? Math.max(0, r.soft[PILOT]!) / s2 : 0;
  };
  let wY = weight(y);
  const wC = weight(cb);
  if (!(wY > 0) && !(wC > 0)) wY = 1;
  // The combined tile's null energy per symbol: its squares summed over the symbol's slots.
  const soft = new Float64Array(NSYM), energy = new Float64Array(NSYM), folded = new Float32Array(NSLOTS);
  for (let s = 0; s < NSLOTS; s++) {
    const f = wY * y.folded[s]! + wC * cb.folded[s]!;
    folded[s] = f;
    energy[code[s]!]! += f * f;
  }
  for (let i = 0; i < NSYM; i++) soft[i] = wY * y.soft[i]! + wC * cb.soft[i]!;
  return { soft, energy, folded, wY, wC };
}

/** The band coefficients of an analysed image folded onto one tile (fold), in the arena: their address. */
function foldTile(a: Arena, an: Analysis): number {
  const { g } = an;
  const F = a.f32(NSLOTS);
  a.k.fold(an.coef, g.fw, g.bw, g.bh, an.band, NB, TILE, an.weight, F);
  return F;
}

/** The band coefficients of an analysed image folded onto one tile: NSLOTS floats, a copy. */
export function foldAnalysis(a: Arena, an: Analysis): Float32Array {
  return a.f32view(foldTile(a, an), NSLOTS).slice();
}

/** Despread symbols: soft values and null energies per symbol, and the folded tile they came from. */
export interface Read { soft: Float64Array; energy: Float64Array; folded: Float32Array }

/** Despread an analysed image under a layout: soft values and null energies per symbol. */
export function despread(a: Arena, an: Analysis, layout: Layout): Read {
  const k = a.k;
  const F = foldTile(a, an);
  const code = a.put(layout.code), sign = a.put(layout.sign);
  const soft = a.bytes(NSYM * 8), energy = a.bytes(NSYM * 8);
  k.correlate(F, code, sign, NSLOTS, NSYM, soft, energy);
  return { soft: a.f64view(soft, NSYM).slice(), energy: a.f64view(energy, NSYM).slice(), folded: a.f32view(F, NSLOTS).slice() };
}
