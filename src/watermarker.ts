import { booleanOption, checkOptionNames, invalidParameter, invalidSecretParameter, numberIn, piecesOption } from './args.js';
import { checkSamples, copyLike, DEFAULT_MAX_ASPECT, DEFAULT_MAX_PIXELS, isWide, MAX_ASPECT_LIMIT, MIN_DETECT_SIDE, MIN_SIDE, samplesLike, type CheckedImage, type PixelData, type SampleData, type SampleImage } from './image.js';
import { applySamples, narrowSamples } from './depth.js';
import { deriveKey } from './key.js';
import { decodeList, LIST_SIZE, parsePayload, payloadHex, type Decoded, type Payload } from './payload.js';
import { addLumaStreamed, analysePlane, BASE_AMPLITUDE, candidateGeometries, cbFrameStreamed, combineReads, despread, foldAnalysis, framesStreamed, geometry, lumaFrameStreamed, makeLayout, NB, PILOT, pilotEnergy, pilotScore, reframeGeometry, symbols, TILE, type Analysis, type Frames, type Geometry, type Layout, type Plane } from './scheme.js';
import { analyseOnGridBoth, ASPECT_DECODES, ASPECT_MIN_SCORE, aspectGrid, COMB_LATTICES, dataEnergyScore, DECODES_PER_LATTICE, orientations, pilotPatterns, REFINE_MIN, refineGrid, SEARCH_LATTICES, searchGrids, whitenFrames, type Affine, type PilotPatterns, type Vec } from './sync.js';
import { regionMap, type RegionMap } from './regions.js';
import { frameTransform, shiftTransform, type Transform } from './transform.js';
import { cropSamples, litAreas, MAX_BOXES, MAX_PIECES, paintOut, pieceWindows, texturedBoxes, type Window } from './pieces.js';
import { combinedPValue, DEFAULT_THRESHOLD, normalUpperTail } from './stats.js';
import { Arena, init, type WasmBytes, type WasmModule } from './wasm.js';
import { informedGains } from './informed.js';
import { evidenceOf, referencePatterns, type Evidence, type References } from './evidence.js';

// The p-value a mark must beat to be `found` (src/stats.ts, shared with combineEvidence).
export { DEFAULT_THRESHOLD };

/** Options of {@link createWatermarker}. */
export interface WatermarkerOptions {
  /** Secret key: any non-empty string or bytes. Different keys give independent marks. */
  key: string | Uint8Array;
  /** Embedding strength, 1 by default (about 42-43 dB PSNR on photos). 0.25 to 4. */
  strength?: number | undefined;
  /** `found` needs a p-value below this (default 1e-6). */
  threshold?: number | undefined;
  /** Largest image accepted, in pixels (default 100 megapixels). */
  maxPixels?: number | undefined;
  /**
   * Largest aspect ratio accepted, long side / short side (default 32, at most 128). The
   * detector's memory grows with it: 9 MB of WebAssembly memory at 16:9, about 30–85 MB at 8:1 (depending on the image), 269 MB
   * at 32:1, about 900 MB at 128:1.
   */
  maxAspect?: number | undefined;
  /** A pre-compiled kernels module or its bytes, for runtimes that cannot compile (see init). */
  module?: WasmModule | WasmBytes | undefined;
  /**
   * Search for crops, rescaling, aspect changes, rotations and flips when the mark is not found
   * in place (default true). The p-value accounts for the extra candidate either way.
   */
  search?: boolean | undefined;
}

/** Per-call options of {@link Watermarker.embed}. */
export interface EmbedCallOptions {
  /** Write the marked pixels into `image.data` and return `image` (default false: a copy). */
  inPlace?: boolean | undefined;
}

/** Options of one {@link Watermarker.detect} call. */
export interface DetectCallOptions {
  /**
   * Also return the image's {@link Evidence} (as {@link Watermarker.evidence} gives it), from
   * the canonical frame that detect reads first anyway: one pass over the pixels instead of two.
   */
  evidence?: boolean | undefined;
  /**
   * This call's choice of the geometric search, over the watermarker's `search` option: false
   * reads the mark in place only (a couple of milliseconds at 1080p when it is absent, instead
   * of tens); true searches even when the watermarker was made with `search: false`. It is the
   * whole image's choice only: `pieces`' windows are always searched.
   */
  search?: boolean | undefined;
  /**
   * Also look for a marked piece inside a larger image: a marked photo pasted into a collage, a
   * page or another photo, at any offset (default false). When the whole image reads no mark,
   * the two largest textured boxes on a flat page (a photo shown small in a screenshot of a web
   * page) and nine windows of 60% of each side (a 3 x 3 grid of positions) are each read by the
   * lattice search, as images of their own (whatever `search` says). The p-value counts every
   * window's and box's candidates, so it stays valid; a whole-image mark's p-value is 6.5 times
   * larger with this on, and an image without a mark takes about nine times as long to read.
   * Measured on pasted photos (`node bench/collage.mjs --pieces`, BENCHMARKS.md): 9 to 14 of 27
   * found without it, 15 to 23 with it.
   *
   * `'all'` looks for every marked piece, not only the first: once one is found (by the whole
   * image or a window), every box and window is read again with the pieces found so far painted
   * out (flat grey over the cells their region maps light, with the unlit gaps of one or two
   * cells they enclose), and each further
   * find is added to the result's `pieces`. The p-value of each find counts the same windows
   * and boxes as with `true`, so no further piece is found by chance in an unmarked part with
   * probability over the threshold. An image with no mark takes as long as with `true`.
   */
  pieces?: boolean | 'all' | undefined;
}

/** Result of {@link Watermarker.detect}. */
export interface DetectResult {
  /** p-value below the threshold and the payload's CRC holds. */
  found: boolean;
  /** The 64-bit payload as 16 lowercase hex digits when found, else null. */
  payload: string | null;
  /**
   * p-value of the null hypothesis "this image carries no mark of this key": at most the
   * probability, in an unmarked image, of a result at least this strong (a CRC pass, weighted
   * by the rank of the decoded path in the list decoder, with a pilot score at least this high,
   * or no CRC pass with a score at least this high). Valid under the null: P(p <= a) <= a.
   */
  pValue: number;
  /** Normalised pilot correlation: N(0, 1) under the null hypothesis. */
  score: number;
  /**
   * Whether a decoded path passed the CRC: the best one or, failing that, one of the next 7
   * of the list decoder (true by chance with probability about 2^-16 per path checked).
   */
  crcOk: boolean;
  /** Where the mark's grid lies in this image (when found), see {@link Transform}. */
  transform: Transform | null;
  /** Per-region scores over the image (when found): which parts carry the mark. */
  regions: RegionMap | null;
  /** The image's evidence for pooling (only when asked for with `{ evidence: true }`). */
  evidence?: Evidence;
  /**
   * With `{ pieces: 'all' }`: every marked piece found, this result's own find first (empty when
   * nothing was found), each with its own payload, p-value, transform and region map.
   */
  pieces?: PieceResult[];
}

/** One marked piece of {@link DetectResult.pieces}: found, with where it lies. */
export type PieceResult = Omit<DetectResult, 'evidence' | 'pieces'>;

/** A keyed watermarker. */
export interface Watermarker {
  /**
   * Return a marked copy of `image` carrying `payload` (64 bits). Alpha is left untouched.
   * The image needs at least 128 pixels a side (`ERR_IMAGE_TOO_SMALL` below).
   * With `{ inPlace: true }` the pixels of `image.data` are overwritten instead and `image`
   * itself is returned, unchanged otherwise: no new pixel buffer, one copy less.
   * 16-bit samples (a Uint16Array) stay 16-bit: the mark is that of their 8-bit view
   * (round(s / 257)), added back times 257, so the low bits keep their precision; grey + alpha
   * (2 channels) is marked through its grey plane. The copy has the input's array type; it is a
   * plain object with the input's own properties, or an `ImageData` when the input is one (in
   * browsers and workers), so that `putImageData` takes it.
   * @example
   * const marked = wm.embed({ width, height, data }, 'c0ffee0000000001');
   * wm.embed(imageData, 'c0ffee0000000001', { inPlace: true }); // imageData now carries the mark
   * wm.embed({ width, height, channels: 3, data: rgb16 }, 'c0ffee0000000001'); // Uint16Array in and out
   */
  embed<T extends SampleImage>(image: T, payload: Payload, options?: EmbedCallOptions): T & { channels: 1 | 2 | 3 | 4 };
  /**
   * Look for this key's mark in `image`, blind (no original needed). Takes what `embed` takes
   * (16-bit samples are read through their 8-bit view), and smaller images too: a marked image's
   * downscaled copies (thumbnails) are read down to 48 pixels a side (`ERR_IMAGE_TOO_SMALL`
   * below; the p-value stays honest at every size).
   * With `{ evidence: true }` the result also holds the image's {@link Evidence}, exactly what
   * {@link Watermarker.evidence} returns, for less than the two calls cost. With
   * `{ pieces: true }` it also looks for a marked piece inside a larger image (a photo pasted
   * into a collage), in nine windows, when the whole image reads no mark (slower).
   * @example
   * const { found, payload, pValue } = wm.detect(image);
   * const r = wm.detect(image, { evidence: true }); // r.found now; r.evidence for combineEvidence later
   * const { transform, regions } = wm.detect(collage, { pieces: true }); // placed in the whole collage
   */
  detect(image: SampleImage, options?: DetectCallOptions): DetectResult;
  /**
   * This image's evidence for the key's mark, to be pooled over a set of images with
   * {@link combineEvidence}: the key's pilot correlation in the image as it is (no geometric
   * search) and the same with sign-flipped reference patterns. One image rarely decides
   * anything; a set of them can where `detect` finds the mark in none (a dataset recompressed
   * hard, the outputs of a model trained on marked images). Takes what `detect` takes.
   * @example
   * const result = combineEvidence(images.map((image) => wm.evidence(image)));
   */
  evidence(image: SampleImage): Evidence;
  /**
   * The p-value under which `detect` calls a mark found (options.threshold, default 1e-6): for
   * callers that read several images as one question (detectFile's frames) and must share it.
   * @example
   * const wm = await createWatermarker({ key, threshold: 1e-9 });
   * wm.threshold; // 1e-9
   */
  readonly threshold: number;
}

/** The option names {@link createWatermarker} knows (plug-ins add theirs to these). */
export const WATERMARKER_OPTION_NAMES = ['key', 'strength', 'threshold', 'maxPixels', 'maxAspect', 'module', 'search'] as const;
/** The names of detect's per-call options ({@link DetectCallOptions}). */
export const DETECT_OPTION_NAMES = ['evidence', 'search', 'pieces'] as const;

/**
 * Check {@link createWatermarker}'s option values (not their names), at once: for plug-ins that
 * create their watermarker later, at the first image, and should fail when they are set up.
 * @example
 * const { strength } = checkWatermarkerOptions({ key: 'k', strength: 2 }); // 2
 */
export function checkWatermarkerOptions(options: WatermarkerOptions): { strength: number; threshold: number; maxPixels: number; maxAspect: number } {
  const strength = numberIn('options.strength', options.strength, 0.25, 4, 1);
  const threshold = numberIn('options.threshold', options.threshold, Number.MIN_VALUE, 0.5, DEFAULT_THRESHOLD);
  const maxPixels = numberIn('options.maxPixels', options.maxPixels, 1, Number.MAX_SAFE_INTEGER, DEFAULT_MAX_PIXELS);
  if (!Number.isInteger(maxPixels)) throw invalidParameter('options.maxPixels', 'a whole number of pixels', maxPixels);
  const maxAspect = numberIn('options.maxAspect', options.maxAspect, 1, MAX_ASPECT_LIMIT, DEFAULT_MAX_ASPECT);
  booleanOption('options.search', options.search, true);
  const key = options.key;
  if (!((typeof key === 'string' || key instanceof Uint8Array) && key.length > 0)) throw invalidSecretParameter('options.key', 'a non-empty string or byte array', key);
  return { strength, threshold, maxPixels, maxAspect };
}

/**
 * How many candidates a read of a `width` x `height` image can try (the m of combinedPValue):
 * its canonical frames (twice for a colour image: luma alone, then luma and Cb), and with the
 * search the seven right angles, the aspect search's decode and the lattice search's decodes.
 * @example
 * candidateCount(1920, 1080, true, true); // 2 * frames + 7 + 1 + 10
 */
export function candidateCount(width: number, height: number, colour: boolean, search: boolean): number {
  const frames = candidateGeometries(width, height);
  const turns = search ? orientations(frames[0]!.fw, frames[0]!.fh).length : 0;
  const lattices = (SEARCH_LATTICES + COMB_LATTICES) * DECODES_PER_LATTICE;
  return frames.length * (colour ? 2 : 1) + turns + (search ? ASPECT_DECODES + lattices : 0);
}

/** A window not read yet (`pieces: 'all'`'s reads start from it). */
const NOT_READ: DetectResult = { found: false, payload: null, pValue: 1, score: 0, crcOk: false, transform: null, regions: null };

/**
 * Whether two finds lie on one grid: the same mirroring and scale (within 5%), and tile origins
 * a whole number of tiles (TILE blocks of 8 grid pixels) apart, within 8% of a tile each way.
 */
function sameGrid(p: PieceResult, q: PieceResult): boolean {
  const s = p.transform, t = q.transform;
  if (!s || !t || s.flipped !== t.flipped) return false;
  const ratio = s.scale / t.scale;
  if (!(ratio > 0.95 && ratio < 1 / 0.95)) return false;
  const [a, b, c, d] = s.matrix, det = a * d - b * c;
  if (det === 0) return false;
  const dx = t.translation[0] - s.translation[0], dy = t.translation[1] - s.translation[1];
  const period = TILE * 8;
  const u = (d * dx - b * dy) / det / period, v = (a * dy - c * dx) / det / period;
  return Math.abs(u - Math.round(u)) < 0.08 && Math.abs(v - Math.round(v)) < 0.08;
}

/** A find as an entry of `pieces`: without the whole image's evidence and pieces. */
function withoutExtras(r: DetectResult): PieceResult {
  const { evidence: _e, pieces: _p, ...piece } = r;
  return piece;
}

/** Candidates of one window of detect's `pieces`: the lattice search's decodes alone. */
export const WINDOW_CANDIDATES = (SEARCH_LATTICES + COMB_LATTICES) * DECODES_PER_LATTICE;

/**
 * Create a keyed watermarker. Loads the WebAssembly kernels on first use.
 * @example
 * import { createWatermarker } from 'modelmark';
 * const wm = await createWatermarker({ key: 'my secret' });
 * const marked = wm.embed(image, 'deadbeefcafef00d');
 * wm.detect(marked); // { found: true, payload: 'deadbeefcafef00d', pValue: 1e-40, ... }
 */
export async function createWatermarker(options: WatermarkerOptions): Promise<Watermarker> {
  if (typeof options !== 'object' || options === null) throw invalidSecretParameter('options', 'an object with a key', options);
  checkOptionNames('options', options, WATERMARKER_OPTION_NAMES);
  const { strength, threshold, maxPixels, maxAspect } = checkWatermarkerOptions(options);
  // The kernels' load starts now, beside the key's derivation, not after it: concurrent calls
  // reach init() in the order they were made (a call without a module, on modelmark/lite, then
  // waits for another's load in progress instead of racing it on how long each key took).
  // Each operation takes the kernels loaded at its start (new Arena()), never a copy kept here:
  // they may be made afresh between operations (wasm.ts, RECLAIM_BYTES).
  const [words] = await Promise.all([deriveKey(options.key, 'modelmark classical tile v1'), init(options.module)]);
  const layout: Layout = makeLayout(words);
  const amp = BASE_AMPLITUDE * strength;
  const searchDefault = options.search ?? true;

  /** Mark an 8-bit image, in place or into a new array of the same type. */
  function embed8(img: CheckedImage, sym: Float32Array, inPlace: boolean): PixelData {
    const a = new Arena();
    const k = a.k;
    try {
      // The pixels are streamed from the caller's array twice (frame, then add), through small
      // buffers: never copied whole into wasm memory.
      const g = geometry(img.width, img.height);
      const an = analysePlane(a, lumaFrameStreamed(a, img, g), g);
      const wm = a.f32(g.fw * g.fh);
      const code = a.put(layout.code), sign = a.put(layout.sign), symp = a.put(sym);
      informedGains(a, an, layout, code, symp, wm, amp);
      k.zero(wm, g.fw * g.fh * 4);
      k.spreadEmbed(wm, g.fw, g.bw, g.bh, an.band, NB, TILE, code, sign, symp, an.mask, amp);
      k.dct8x8(wm, wm, g.fw, g.bw, g.bh, 1);
      if (inPlace) {
        addLumaStreamed(a, img, wm, g, img.data);
        return img.data;
      }
      const n = img.data.length;
      const data: PixelData = samplesLike(img.data, n);
      addLumaStreamed(a, img, wm, g, data);
      return data;
    } finally {
      a.release();
    }
  }

  function embed<T extends SampleImage>(image: T, payload: Payload, callOptions?: EmbedCallOptions): T & { channels: 1 | 2 | 3 | 4 } {
    const img = checkSamples(image, 'image', maxPixels, MIN_SIDE, maxAspect);
    const sym = symbols(parsePayload(payload));
    if (callOptions !== undefined && (typeof callOptions !== 'object' || callOptions === null)) throw invalidParameter('options', 'an object { inPlace? }', callOptions);
    if (callOptions) checkOptionNames('options', callOptions, ['inPlace']);
    const inPlace = booleanOption('options.inPlace', callOptions?.inPlace, false);
    let data: SampleData;
    if (isWide(img)) {
      // 16-bit or grey + alpha: mark the 8-bit working copy, then carry the change back.
      const a = new Arena();
      try {
        const work = narrowSamples(a, img);
        embed8(work, sym, true);
        data = inPlace ? img.data : samplesLike(img.data, img.data.length);
        applySamples(a, img, work.data as Uint8Array, data);
      } finally {
        a.release();
      }
    } else {
      data = embed8(img as CheckedImage, sym, inPlace);
    }
    if (inPlace) return image as T & { channels: 1 | 2 | 3 | 4 };
    return copyLike(image, { width: img.width, height: img.height, channels: img.channels, data });
  }

  let patterns: PilotPatterns | undefined;
  let references: References | undefined;

  function detect(image: SampleImage, callOptions?: DetectCallOptions): DetectResult {
    if (callOptions !== undefined && (typeof callOptions !== 'object' || callOptions === null)) throw invalidParameter('options', 'an object { evidence?, search?, pieces? }', callOptions);
    if (callOptions) checkOptionNames('options', callOptions, DETECT_OPTION_NAMES);
    const wantEvidence = booleanOption('options.evidence', callOptions?.evidence, false);
    const search = booleanOption('options.search', callOptions?.search, searchDefault);
    const piecesAsked = piecesOption('options.pieces', callOptions?.pieces);
    const allPieces = piecesAsked === 'all';
    const pieces = piecesAsked !== false;
    const checked = checkSamples(image, 'image', maxPixels, MIN_DETECT_SIDE, maxAspect);
    const a = new Arena();
    // 16-bit samples and grey + alpha are read through their 8-bit working copy (the view embed
    // marked); narrowSamples releases its own wasm buffers. It can throw (out of memory): the
    // arena is released then too, or its memory stays allocated and the allocator never empties
    // again (so wasm.ts's reclaim never runs).
    let img: CheckedImage;
    try {
      img = isWide(checked) ? narrowSamples(a, checked) : checked as CheckedImage;
    } catch (err) {
      a.release();
      throw err;
    }
    // Candidates, in a fixed order: the canonical frame (two when the aspect ratio sits on a
    // rounding boundary), then, when searching, the transform found by the geometric search.
    // The first whose payload passes its CRC is chosen, without looking at any pilot score that
    // decides, so under the null the chosen score stays N(0, 1) and a CRC passes somewhere with
    // probability at most m * LIST_SIZE * 2^-16 (m = candidates that could be tried), which
    // combinedPValue accounts for: the p-value stays valid (measured in the tests). With
    // `pieces`, the windows' candidates come after the whole image's and are counted in m too.
    // A colour image is read in luma and in Cb (the mark's chroma share), combined (combineReads),
    // and its lattice searched on both at once.
    const colour = img.channels >= 3;
    const windows = pieces ? pieceWindows(img.width, img.height) : [];
    // The textured boxes are counted at their most (MAX_BOXES), found or not.
    const m = candidateCount(img.width, img.height, colour, search) + (pieces ? (windows.length + MAX_BOXES) * WINDOW_CANDIDATES : 0);
    const W = img.width, H = img.height;
    let result: DetectResult | undefined;
    let evidenceFound: Evidence | undefined;
    try {
      /** Image position of the pixels read now: a window's top-left corner with `pieces`. */
      let offset: Vec = [0, 0];
      /** Despread symbols of an analysis. */
      type Read = ReturnType<typeof despread>;
      /** The analysed planes a read came from, with their weights in it (for the region map). */
      type Parts = { an: Analysis; w: number }[];
      /**
       * One read from a luma analysis and, for colour images, a Cb analysis; `yRead` is the luma
       * analysis's despread symbols when they are at hand already.
       */
      const readBoth = (anY: Analysis, anC?: Analysis, yRead = despread(a, anY, layout)): { parts: Parts; read: Read } => {
        if (!anC) return { parts: [{ an: anY, w: 1 }], read: yRead };
        const read = combineReads(yRead, despread(a, anC, layout), layout.code);
        return { parts: [{ an: anY, w: read.wY }, { an: anC, w: read.wC }], read };
      };
      // A candidate whose best path fails its CRC is list-decoded (LIST_SIZE paths); the first
      // pass at a lower rank is kept aside and chosen only if no candidate's best path passes.
      // Every pass is priced by its rank in the p-value (combinedPValue).
      let second: DetectResult | undefined;
      /**
       * Decode one candidate from its analysis and despread symbols; returns the result when its
       * best path passes its CRC (or it is the fallback), and keeps a lower-ranked pass aside.
       */
      const attempt = (parts: Parts, { soft, energy }: Read, origin: Vec, g: Geometry, affine: Affine, onlyB: boolean, fallback: boolean): DetectResult | undefined => {
        const data = soft.subarray(0, PILOT);
        const score = pilotScore(soft, energy, onlyB);
        // No energy in the pilot's slots (a flat image, a pattern with nothing in the mark's band):
        // no evidence at all, p_pilot 1. Its score 0 (p_pilot 0.5) for every key made P(p <= 0.5)
        // = 1 on such an image, not <= 0.5.
        const pPilot = pilotEnergy(energy, onlyB) > 0 ? normalUpperTail(score) : 1;
        // A candidate whose pilot score could not be found even with its CRC passing at the
        // best rank is not decoded (as if its CRC failed): on an unmarked image that is nearly
        // every candidate, whose list decoding took 5 of the search's 56 ms at 1080p. It can
        // only let the search go on past a chance CRC pass that could not have been found;
        // found still needs some candidate's CRC and score to pass, so the p-value's bound
        // (every candidate counted in m) is unchanged.
        if (!fallback && !(combinedPValue(pPilot, true, m, 1, LIST_SIZE) < threshold)) return undefined;
        const result = ({ bytes, crcOk, rank }: Decoded): DetectResult => {
          const pValue = combinedPValue(pPilot, crcOk, m, rank, LIST_SIZE);
          const found = pValue < threshold && crcOk;
          if (!found) return { found, payload: null, pValue, score, crcOk, transform: null, regions: null };
          const transform = shiftTransform(frameTransform(g, affine), offset);
          const regions = regionMap(a, parts, origin, layout, bytes, transform, W, H);
          return { found, payload: payloadHex(bytes), pValue, score, crcOk, transform, regions };
        };
        const best = decodeList(a, data, 1)[0];
        if (best.crcOk) return result(best);
        if (!second) {
          const lower = decodeList(a, data, LIST_SIZE).find((d) => d.crcOk);
          if (lower) second = result(lower);
        }
        return fallback ? result(best) : undefined;
      };
      /** Analyse a luma plane and, for colour images, its Cb plane (both in place); one combined read. */
      const readPlanes = (py: number, pc: number | undefined, pg: Plane) =>
        readBoth(analysePlane(a, py, pg), pc === undefined ? undefined : analysePlane(a, pc, pg));
      /** A copy of a frame-sized plane (analysePlane transforms in place; the frames are reused). */
      const copy = (src: number, n: number): number => {
        const dst = a.f32(n);
        a.f32view(dst, n).set(a.f32view(src, n));
        return dst;
      };
      const identity: Affine = { m00: 1, m01: 0, m10: 0, m11: 1, tx: 0, ty: 0 };
      /**
       * Read `img`: the whole image (`main`) through its canonical frames, then, with
       * `searchHere`, right angles, the aspect search and the lattice search; a window or box of
       * it (`pieces`) through the lattice search alone. Sets `result` when a candidate's CRC holds (the whole image's canonical read is
       * also kept as the answer when nothing passes) and `second` for a lower-ranked pass.
       */
      const scan = (img: CheckedImage, searchHere: boolean, main: boolean): void => {
        // A window is read by the lattice search alone: a piece pasted at some offset and scale
        // is on no canonical grid of the window, nor a right-angle view or a stretch of one.
        const frames = main ? candidateGeometries(img.width, img.height) : candidateGeometries(img.width, img.height).slice(0, 1);
        const turns = searchHere && main ? orientations(frames[0]!.fw, frames[0]!.fh) : [];
        let base: Frames | undefined = main ? undefined : framesStreamed(a, img, frames[0]!, colour);
        // Only the whole image's canonical frames are read (and the first kept as the answer).
        for (const [i, g] of main ? frames.entries() : []) {
          // Streamed from the caller's array: the image is never copied whole into wasm memory.
          // The luma read alone first, scored by both pilot halves as for a grey image: a colour
          // image marked and left in place decodes there, without its Cb frame (1.7 instead of 2.9
          // ms at 1080p). Then, for a colour image, luma and Cb combined: a combined read's weights
          // looked at pilot A, so it is scored by pilot B alone.
          const fr: Frames = framesStreamed(a, img, g, false);
          if (!base) base = fr;
          const n = g.fw * g.fh;
          // (No mark and release here: the Cb frame made after the luma analysis is read again by
          // the turns and the search; a frame's analysis is well under 1 MB.)
          const anY = analysePlane(a, copy(fr.y, n), g);
          // The evidence reads this frame too (frames[0] is evidence()'s geometry): its folds are
          // taken here, before any read, and a Cb analysis made for it when the reads need none.
          const folds = wantEvidence && i === 0 ? [foldAnalysis(a, anY)] : undefined;
          const luma = readBoth(anY);
          let r = attempt(luma.parts, luma.read, [0, 0], g, identity, false, i === 0 && !colour);
          let anC: Analysis | undefined;
          const cbAnalysis = () => {
            fr.cb ??= cbFrameStreamed(a, img, g);
            return anC ??= analysePlane(a, copy(fr.cb, n), g);
          };
          if (!r?.crcOk && colour) {
            const both = readBoth(anY, cbAnalysis(), luma.read);
            r = attempt(both.parts, both.read, [0, 0], g, identity, true, i === 0);
          }
          if (folds) {
            if (colour) folds.push(foldAnalysis(a, cbAnalysis()));
            references ??= referencePatterns(layout);
            evidenceFound = evidenceOf(folds, references);
          }
          if (r && (i === 0 || r.crcOk)) result = r;
          if (r?.crcOk) break;
        }
        const base0 = base!;
        // Right-angle rotations and mirrors of the canonical frame: exact grids, both pilot halves
        // for grey images.
        for (const t of turns) {
          if (result!.crcOk) break;
          const mk = a.k.mark();
          const turned = (src: number) => { const plane = a.f32(t.fw * t.fh); a.k.orient(src, frames[0].fw, frames[0].fh, t.op, plane); return plane; };
          const { parts, read } = readPlanes(turned(base0.y), base0.cb === undefined ? undefined : turned(base0.cb), { fw: t.fw, fh: t.fh, bw: t.fw >> 3, bh: t.fh >> 3 });
          const r = attempt(parts, read, [0, 0], frames[0], t.affine, colour, false);
          a.k.release(mk);
          if (r) result = r;
        }
        // The aspect search, then the lattice search: pilot half A steered them, so only half B
        // scores their candidates. The aspect search's best original frame size (an image
        // stretched or squeezed as a whole) is remade from the image and decoded. Then each lattice
        // candidate is decoded in turn and the first whose CRC holds wins. A candidate whose
        // payload fails but whose data symbols carry energy (never looking at pilot B) has its
        // origin refined by a pixel or two and is decoded once more. A colour image's grids are
        // read in both channels.
        if (searchHere && !result!.crcOk) {
          const g0 = frames[0]!;
          // A colour image's search runs on its whitened luma plus its whitened Cb: both carry the
          // same pattern on the same grid (one search on the sum found as many marks as a search
          // in each, measured, in 54 instead of 86 ms on an unmarked 1080p photo).
          const white = whitenFrames(a, { frame: base0.y, g: g0 }, base0.cb);
          const stretched = main ? aspectGrid(a, { frame: base0.y, g: g0 }, white, layout) : undefined;
          if (stretched && stretched.score >= ASPECT_MIN_SCORE) {
            const mk = a.k.mark();
            const { fw, fh } = stretched;
            const gs: Geometry = { fw, fh, bw: fw >> 3, bh: fh >> 3, sx: img.width / fw, sy: img.height / fh };
            const fr = framesStreamed(a, img, gs, colour);
            const { parts, read } = readPlanes(fr.y, fr.cb, gs);
            const r = attempt(parts, read, [0, 0], gs, identity, true, false);
            a.k.release(mk);
            if (r) result = r;
          }
          patterns ??= pilotPatterns(a, layout);
          // Frames remade at other scales (see searchGrids), both channels, made once per size.
          const sizeKey = (g: Plane) => `${g.fw}x${g.fh}`;
          const remade = new Map<string, { g: Geometry; frames: Frames }>([[sizeKey(g0), { g: g0, frames: base0 }]]);
          const framesAt = (r: number) => {
            const g2 = reframeGeometry(img, g0, r) ?? g0;
            let f = remade.get(sizeKey(g2));
            if (!f) remade.set(sizeKey(g2), f = { g: g2, frames: framesStreamed(a, img, g2, colour) });
            return f;
          };
          const grids = result!.crcOk ? [] : searchGrids(a, { frame: base0.y, g: g0 }, patterns, (r) => { const f = framesAt(r); return { frame: f.frames.y, g: f.g }; },
            SEARCH_LATTICES, white, (f) => whitenFrames(a, f, remade.get(sizeKey(f.g))?.frames.cb));
          for (const s of grids) {
            const mk = a.k.mark();
            const fr = remade.get(sizeKey(s.g))!.frames;
            const readGrid = (affine: Affine) => {
              const [anY, anC] = analyseOnGridBoth(a, fr.y, fr.cb, s.g.fw, s.g.fh, affine);
              return { ...readBoth(anY!, anC), origin: anY!.origin };
            };
            const { parts, read, origin } = readGrid(s.affine);
            let r = attempt(parts, read, origin, s.g, s.affine, true, false);
            if (!r) {
              const refined = dataEnergyScore(read.soft, read.energy) >= REFINE_MIN ? refineGrid(a, s, layout) : undefined;
              if (refined) {
                const again = readGrid(refined);
                r = attempt(again.parts, again.read, again.origin, s.g, refined, true, false);
              }
            }
            a.k.release(mk);
            if (r) { result = r; break; }
          }
        }
      };
      scan(img, search, true);
      // With `pieces`: the windows, each read as an image of its own by its lattice search (its
      // own frame and remade frames), a find's transform and region map placed in the whole image.
      // The textured boxes first (a picture on a flat page, located), then the nine windows.
      const boxes = pieces && (allPieces || !result!.crcOk) ? texturedBoxes(a, img) : [];
      for (const w of pieces && !result!.crcOk ? [...boxes, ...windows] : []) {
        if (result!.crcOk) break;
        const mk = a.k.mark();
        offset = [w.left, w.top];
        scan(cropSamples(img, w), true, false);
        a.k.release(mk);
      }
      if (!result!.crcOk && second) result = second;
      // `pieces: 'all'`: the boxes and windows again, the pieces found so far painted out, each
      // further find added. A window that finds nothing new costs a full read: only images with a
      // find come here.
      if (allPieces) {
        const first = result!;
        // Each find with its cells painted out for the next reads: the cells its map lights and the
        // small gaps they enclose (litAreas), and more of them when it is found again.
        const marks: { piece: PieceResult; areas: Window[] }[] = first.found ? [{ piece: withoutExtras(first), areas: litAreas(first, W, H) }] : [];
        for (const w of first.found ? [...boxes, ...windows] : []) {
          if (marks.length >= MAX_PIECES) break;
          const crop = paintOut(img, w, marks.flatMap((f) => f.areas));
          if (!crop) continue;
          const mk = a.k.mark();
          offset = [w.left, w.top];
          result = NOT_READ;
          second = undefined;
          scan(crop, true, false);
          a.k.release(mk);
          const r = result.crcOk ? result : second;
          if (!r?.found) continue;
          // The part of a piece found before that its painted cells left out (its map lit only
          // some of its cells) is not a new piece: the same payload on the same grid (one tile
          // origin of each lies a whole number of tiles from the other's). Its cells are added instead.
          // Another copy of the same photo pasted elsewhere is on another grid (unless its offset
          // happens to be a whole number of tiles, within 8% of one each way: 2.6% of copies).
          const areas = litAreas(r, W, H);
          const same = marks.find((f) => f.piece.payload === r.payload && sameGrid(f.piece, r));
          if (same) same.areas.push(...areas);
          else marks.push({ piece: withoutExtras(r), areas });
        }
        result = { ...first, pieces: marks.map((f) => f.piece) };
      }
    } finally {
      a.release();
    }
    return evidenceFound ? { ...result!, evidence: evidenceFound } : result!;
  }

  function evidence(image: SampleImage): Evidence {
    const checked = checkSamples(image, 'image', maxPixels, MIN_DETECT_SIDE, maxAspect);
    const a = new Arena();
    try {
      const img = isWide(checked) ? narrowSamples(a, checked) : checked as CheckedImage;
      const g = candidateGeometries(img.width, img.height)[0];
      const fr = framesStreamed(a, img, g, img.channels >= 3);
      const folds = [fr.y, fr.cb].filter((p) => p !== undefined).map((p) => foldAnalysis(a, analysePlane(a, p, g)));
      references ??= referencePatterns(layout);
      return evidenceOf(folds, references);
    } finally {
      a.release();
    }
  }

  return { embed, detect, evidence, threshold };
}
