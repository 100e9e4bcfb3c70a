// Marking a decoded file: a still image as it is, an animation (readImage's `allFrames`) one frame
// at a time, each frame a view of `frameHeight` rows of the stacked pixels, so that every frame
// carries the whole mark on its own (a detector reads the first frame, and any frame taken out of
// the animation still holds the payload).
import { invalidParameter } from '../args.js';
import { genuineSamples, type SampleData } from '../image.js';
import type { Payload } from '../payload.js';
import { DEFAULT_THRESHOLD, type DetectCallOptions, type DetectResult, type Watermarker } from '../watermarker.js';
import type { SampleFile } from './io.js';

/**
 * An animation's stack of frames, checked whole (frame height, sample array, width, channels,
 * length), or undefined for a still image (no animation, or one frame).
 */
function framesOf(file: SampleFile): { stack: SampleData; a: NonNullable<SampleFile['animation']> } | undefined {
  const a = file.animation;
  if (a !== undefined && a !== null && typeof a !== 'object') throw invalidParameter('file.animation', 'an object { frames, frameHeight } or undefined', a);
  if (!a || a.frames <= 1) return undefined;
  if (!Number.isInteger(a.frameHeight) || a.frameHeight * a.frames !== file.height) {
    throw invalidParameter('file.animation.frameHeight', `the height of one frame (the image's ${file.height} rows / ${a.frames} frames)`, a.frameHeight);
  }
  const { width } = file;
  const channels = file.channels as number;
  // A non-array `data` has no subarray to take frames from.
  const stack = genuineSamples(file.data, true);
  if (stack === undefined) {
    throw invalidParameter('file.data', 'a Uint8Array, Uint8ClampedArray or Buffer of 8-bit samples, or a Uint16Array of 16-bit samples', file.data);
  }
  if (!Number.isInteger(width) || width <= 0) throw invalidParameter('file.width', 'a positive integer', width);
  if (channels !== 1 && channels !== 2 && channels !== 3 && channels !== 4) throw invalidParameter('file.channels', '1, 2, 3 or 4', channels);
  if (stack.length !== width * file.height * channels) {
    throw invalidParameter('file.data', `${width * file.height * channels} ${stack instanceof Uint16Array ? 'samples' : 'bytes'} ` +
      `(${a.frames} frames of ${width} x ${a.frameHeight} x ${channels} channels)`, stack);
  }
  return { stack, a };
}

/**
 * Mark a file read by readImage / decodeImageFile: every frame of an animation on its own, a
 * still image as `wm.embed` marks it. Returns the file with marked pixels (a new array unless
 * `inPlace`), its animation and metadata kept, ready for writeImage.
 * @throws ImageSizeError when the frames are under 128 pixels a side, as for a still image.
 * @example
 * const file = await readImage('loop.webp', { allFrames: true });
 * const marked = markFile(wm, file, 'c0ffee0000000001');
 * await writeImage('marked.webp', marked, { animation: marked.animation });
 */
export function markFile<T extends SampleFile>(wm: Watermarker, file: T, payload: Payload, options: { inPlace?: boolean | undefined } = {}): T {
  if (typeof wm !== 'object' || wm === null || typeof wm.embed !== 'function') throw invalidParameter('wm', 'a watermarker (from createWatermarker)', wm);
  if (typeof file !== 'object' || file === null) throw invalidParameter('file', 'an image file (from readImage or decodeImageFile)', file);
  if (typeof options !== 'object' || options === null) throw invalidParameter('options', 'an object { inPlace? }', options);
  const frames = framesOf(file);
  if (!frames) return { ...file, data: wm.embed(file, payload, options).data };
  // The whole stack is checked (framesOf) before any frame is marked: a bad one found half way
  // would leave inPlace data partly marked.
  const { stack, a } = frames;
  const data = options.inPlace ? stack : stack.slice();
  const frameLength = file.width * a.frameHeight * file.channels;
  for (let i = 0; i < a.frames; i++) {
    const frame = data.subarray(i * frameLength, (i + 1) * frameLength);
    wm.embed({ width: file.width, height: a.frameHeight, channels: file.channels, data: frame }, payload, { inPlace: true });
  }
  return { ...file, data };
}

/** The most frames of an animation detectFile reads (evenly spread over a longer one). */
export const MAX_DETECT_FRAMES = 16;

/** Which frames of an animation detectFile reads, and what its result says of them. */
export interface FramesRead {
  /** The animation's frames (the file's `pages` where fewer were decoded: readImage's `maxFrames`). */
  count: number;
  /** How many were read: those decoded, up to MAX_DETECT_FRAMES (evenly spread over more). */
  read: number;
  /** The frame the result is of (0 = the first). */
  at: number;
}

/**
 * Look for the mark in a file read by readImage / decodeImageFile: a still image as `wm.detect`
 * reads it; an animation (readImage's `allFrames`) frame by frame, since every marked frame
 * carries the whole mark and a lossy encoder can blur one frame more than the others. Reading
 * n frames is n tries, so a frame counts only when its p-value times n is under the
 * watermarker's threshold (Bonferroni: the chance that an unmarked animation is found stays
 * under the threshold), and the reported `pValue` is that product (at most 1). The first frame
 * found so is reported; when none is, the frame with the lowest p-value. `evidence` (with
 * `{ evidence: true }`) is always the first frame's: pooled over files, a choice made from the
 * data would bias it. `pieces` is detect's option of that name, for every frame read; with
 * `'all'` the reported frame's `pieces` have their p-values times n too, those at the threshold
 * or over left out. An animation's result carries `frames` ({@link FramesRead}).
 * @example
 * const file = await readImage('loop.gif', { allFrames: true, maxFrames: MAX_DETECT_FRAMES });
 * const { found, payload, frames } = detectFile(wm, file);
 */
export function detectFile(wm: Watermarker, file: SampleFile, options: { evidence?: boolean | undefined; pieces?: DetectCallOptions['pieces'] } = {}): DetectResult & { frames?: FramesRead } {
  if (typeof wm !== 'object' || wm === null || typeof wm.detect !== 'function') throw invalidParameter('wm', 'a watermarker (from createWatermarker)', wm);
  if (typeof file !== 'object' || file === null) throw invalidParameter('file', 'an image file (from readImage or decodeImageFile)', file);
  if (typeof options !== 'object' || options === null) throw invalidParameter('options', 'an object { evidence?, pieces? }', options);
  const call = options.evidence === undefined ? undefined : { evidence: options.evidence };
  const pieces = options.pieces === undefined ? undefined : { pieces: options.pieces };
  const frames = framesOf(file);
  if (!frames) return wm.detect(file, { ...call, ...pieces });
  const { stack, a } = frames;
  const channels = file.channels as number;
  const n = Math.min(a.frames, MAX_DETECT_FRAMES);
  const threshold = typeof wm.threshold === 'number' ? wm.threshold : DEFAULT_THRESHOLD;
  const frameLength = file.width * a.frameHeight * channels;
  let best: { r: DetectResult; at: number } | undefined;
  let evidence: DetectResult['evidence'];
  for (let k = 0; k < n; k++) {
    const at = n === a.frames ? k : Math.round(k * (a.frames - 1) / (n - 1));
    const frame = { width: file.width, height: a.frameHeight, channels: file.channels, data: stack.subarray(at * frameLength, (at + 1) * frameLength) };
    const r = wm.detect(frame, k === 0 ? { ...call, ...pieces } : pieces);
    if (k === 0) evidence = r.evidence;
    const pValue = Math.min(1, r.pValue * n);
    const found = r.crcOk && pValue < threshold;
    // As the core reports a mark not found: no payload, transform or region map. With
    // `pieces: 'all'` each piece's p-value counts the frames read too, and only pieces under the
    // threshold so are listed (the first is the result's own; none when it is not found).
    const listed = r.pieces && (found ? r.pieces.map((p) => ({ ...p, pValue: Math.min(1, p.pValue * n) })).filter((p) => p.crcOk && p.pValue < threshold) : []);
    const counted = found ? { ...r, pValue, ...(listed ? { pieces: listed } : {}) }
      : { ...r, found, pValue, payload: null, transform: null, regions: null, ...(listed ? { pieces: listed } : {}) };
    if (found || !best || r.pValue * n < best.r.pValue) best = { r: counted, at };
    if (found) break;
  }
  const { r, at } = best!;
  const { evidence: _firstOnly, ...rest } = r;
  const count = Math.max(a.frames, Number.isInteger(file.pages) ? file.pages! : 0);
  return { ...rest, ...(evidence ? { evidence } : {}), frames: { count, read: n, at } };
}
