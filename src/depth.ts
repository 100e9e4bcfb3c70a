// 16-bit samples and grey + alpha go through an 8-bit working copy (kernels in assembly/depth.ts):
// narrowSamples makes it (16-bit: round(s / 257); grey + alpha: the grey plane), the 8-bit path
// marks or reads it, and applySamples writes the mark back into the original samples (16-bit:
// s + 257 * (marked - round(s / 257)), saturated; alpha never changes). The 8-bit view of a
// marked 16-bit image is therefore exactly the working copy as marked. Both stream the pixels
// through wasm memory in bands of rows, like the 8-bit path: never copied whole into it.
import { bytesOf, type CheckedImage, type CheckedSamples, type SampleData } from './image.js';
import type { Arena } from './wasm.js';

/** Bytes of source samples per band. */
const BAND_BYTES = 512 * 1024;

/** Channels of the working copy: grey + alpha is marked through its grey plane. */
function workChannels(img: CheckedSamples): 1 | 3 | 4 {
  return img.channels === 2 ? 1 : img.channels;
}

/** Rows per band and the byte sizes of one row of the source and of the working copy. */
function bands(img: CheckedSamples): { rows: number; srcRow: number; workRow: number } {
  const srcRow = img.data.BYTES_PER_ELEMENT * img.width * img.channels;
  return { rows: Math.max(1, Math.floor(BAND_BYTES / srcRow)), srcRow, workRow: img.width * workChannels(img) };
}

/**
 * The 8-bit working copy of a 16-bit or grey + alpha image (a new array, outside wasm memory).
 * @example
 * const work = narrowSamples(arena, checkSamples(image16)); // { width, height, channels, data: Uint8Array }
 */
export function narrowSamples(a: Arena, img: CheckedSamples): CheckedImage {
  const k = a.k;
  const { rows, srcRow, workRow } = bands(img);
  const out = new Uint8Array(workRow * img.height);
  const mark = k.mark();
  try {
    const src = a.bytes(rows * srcRow), dst = a.bytes(rows * workRow);
    const from = bytesOf(img.data);
    const view = new Uint8Array(k.memory.buffer); // no allocation below: the view stays attached
    const sixteen = img.data instanceof Uint16Array;
    for (let y0 = 0; y0 < img.height; y0 += rows) {
      const n = Math.min(rows, img.height - y0);
      view.set(from.subarray(y0 * srcRow, (y0 + n) * srcRow), src);
      if (img.channels === 2) (sixteen ? k.narrow16ga : k.narrowGa8)(src, n * img.width, dst);
      else k.narrow16(src, n * workRow, dst);
      out.set(view.subarray(dst, dst + n * workRow), y0 * workRow);
    }
  } finally {
    k.release(mark);
  }
  return { width: img.width, height: img.height, channels: workChannels(img), data: out };
}

/**
 * Write the mark of `marked` (the working copy of `img`, marked) into `out`: `img`'s samples
 * with the change applied (`out` may be `img.data` itself).
 * @example
 * applySamples(arena, img, work.data, img.data); // in place
 */
export function applySamples(a: Arena, img: CheckedSamples, marked: Uint8Array, out: SampleData): void {
  const k = a.k;
  const { rows, srcRow, workRow } = bands(img);
  const mark = k.mark();
  try {
    const src = a.bytes(rows * srcRow), work = a.bytes(rows * workRow);
    const from = bytesOf(img.data), to = bytesOf(out);
    const view = new Uint8Array(k.memory.buffer); // no allocation below: the view stays attached
    const sixteen = img.data instanceof Uint16Array;
    for (let y0 = 0; y0 < img.height; y0 += rows) {
      const n = Math.min(rows, img.height - y0);
      view.set(from.subarray(y0 * srcRow, (y0 + n) * srcRow), src);
      view.set(marked.subarray(y0 * workRow, (y0 + n) * workRow), work);
      if (img.channels === 2) (sixteen ? k.apply16ga : k.applyGa8)(src, work, n * img.width);
      else k.apply16(src, work, n * workRow);
      to.set(view.subarray(src, src + n * srcRow), y0 * srcRow);
    }
  } finally {
    k.release(mark);
  }
}
