// Marking a decoded file: a still image as it is, an animation (readImage's `allFrames`) one frame
// at a time, each frame a view of `frameHeight` rows of the stacked pixels, so that every frame
// carries the whole mark on its own (a detector reads the first frame, and any frame taken out of
// the animation still holds the payload).
import { invalidParameter } from '../args.js';
import { genuineSamples } from '../image.js';
import type { Payload } from '../payload.js';
import type { Watermarker } from '../watermarker.js';
import type { SampleFile } from './io.js';

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
  const a = file.animation;
  if (a !== undefined && a !== null && typeof a !== 'object') throw invalidParameter('file.animation', 'an object { frames, frameHeight } or undefined', a);
  if (!a || a.frames <= 1) return { ...file, data: wm.embed(file, payload, options).data };
  if (!Number.isInteger(a.frameHeight) || a.frameHeight * a.frames !== file.height) {
    throw invalidParameter('file.animation.frameHeight', `the height of one frame (the image's ${file.height} rows / ${a.frames} frames)`, a.frameHeight);
  }
  // The whole stack is checked before any frame is marked: a bad one found half way would leave
  // inPlace data partly marked (and a non-array `data` has no subarray to take frames from).
  const { width } = file;
  const channels = file.channels as number;
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
  const data = options.inPlace ? stack : stack.slice();
  const frameLength = file.width * a.frameHeight * file.channels;
  for (let i = 0; i < a.frames; i++) {
    const frame = data.subarray(i * frameLength, (i + 1) * frameLength);
    wm.embed({ width: file.width, height: a.frameHeight, channels: file.channels, data: frame }, payload, { inPlace: true });
  }
  return { ...file, data };
}
