import { invalidParameter } from './args.js';
import { bytesOf, checkImage, checkSamples, type CheckedSamples, type Image, type SampleImage } from './image.js';
import { Arena, init } from './wasm.js';
import { ImageSizeError } from './errors.js';
import { log } from './libm.js';

/** SSIM's Gaussian window, in pixels a side: the smallest image it is defined on. */
const SSIM_WINDOW = 11;
/** Pixels per SSIM band (input rows included): about 13 MB of kernel memory with its scratch. */
const SSIM_BAND_PIXELS = 1 << 18;
/** Bytes of each image per PSNR step. */
const STREAM_BYTES = 1 << 20;


/** A short description of a checked image for mismatch messages: 640x480x3, 640x480x3 16-bit. */
const kind = (i: CheckedSamples) => `${i.width}x${i.height}x${i.channels}${i.data instanceof Uint16Array ? ' 16-bit' : ''}`;

/**
 * Check two images of the same size, channels and depth (`check`: 8-bit only, or 16-bit too).
 * Any size and shape: the mark's limits (128 pixels a side, the aspect ratio) are not the
 * metrics' (an animation's frames, stacked, are one tall image).
 */
function pair<C extends CheckedSamples>(a: unknown, b: unknown, check: (image: unknown, name: string, maxPixels: number, minSide: number, maxAspect: number) => C) {
  const x = check(a, 'a', Number.MAX_SAFE_INTEGER, 1, Infinity), y = check(b, 'b', Number.MAX_SAFE_INTEGER, 1, Infinity);
  if (x.width !== y.width || x.height !== y.height || x.channels !== y.channels || (x.data instanceof Uint16Array) !== (y.data instanceof Uint16Array)) {
    throw invalidParameter('b', `an image of ${kind(x)} like a`, kind(y));
  }
  return [x, y] as const;
}

/**
 * Peak signal-to-noise ratio in dB over the colour channels (alpha ignored); Infinity when equal.
 * Grey, grey + alpha, RGB or RGBA, 8-bit or 16-bit samples (a Uint16Array: peak 65535), both alike.
 * @example
 * const db = await psnr(original, marked);
 */
export async function psnr(a: SampleImage, b: SampleImage): Promise<number> {
  const [x, y] = pair(a, b, checkSamples);
  const sixteen = x.data instanceof Uint16Array;
  const ar = new Arena(await init());
  try {
    const n = x.width * x.height, ch = x.channels;
    // Streamed through buffers of about 1 MB each: the kernels' memory never holds the images
    // whole (it grows to the largest request and keeps that size for the process's life).
    const bytesPer = sixteen ? 2 : 1;
    const step = Math.max(1, Math.floor(STREAM_BYTES / (ch * bytesPer)));
    const pa = ar.bytes(Math.min(n, step) * ch * bytesPer), pb = ar.bytes(Math.min(n, step) * ch * bytesPer);
    const xs = bytesOf(x.data), ys = bytesOf(y.data);
    let err = 0;
    for (let i = 0; i < n; i += step) {
      const m = Math.min(step, n - i), from = i * ch * bytesPer, to = from + m * ch * bytesPer;
      const mem = new Uint8Array(ar.k.memory.buffer);
      mem.set(xs.subarray(from, to), pa);
      mem.set(ys.subarray(from, to), pb);
      err += (sixteen ? ar.k.sse16 : ar.k.sse)(pa, pb, m, ch);
    }
    const peak = sixteen ? 65535 : 255;
    const colour = ch === 2 ? 1 : Math.min(ch, 3); // the samples compared: alpha left out
    // src/libm.ts's log, not Math.log10: the same figure in every JavaScript engine.
    return err === 0 ? Infinity : (10 * log((peak * peak * n * colour) / err)) / Math.LN10;
  } finally {
    ar.release();
  }
}

/**
 * Mean SSIM of the luma planes (11x11 Gaussian window, sigma 1.5, as Wang et al. 2004). The
 * images need at least 11x11 pixels, the window's size (`ERR_IMAGE_TOO_SMALL` below).
 * @example
 * const s = await ssim(original, marked); // 0.99...
 */
export async function ssim(a: Image, b: Image): Promise<number> {
  const [x, y] = pair(a, b, checkImage);
  if (x.width < SSIM_WINDOW || x.height < SSIM_WINDOW) {
    throw new ImageSizeError('ERR_IMAGE_TOO_SMALL', `a is ${x.width}x${x.height}; SSIM needs at least ${SSIM_WINDOW}x${SSIM_WINDOW} pixels, the size of its window`);
  }
  const ar = new Arena(await init());
  try {
    // In bands of output rows (each with the 10 rows below it that its windows reach), about
    // 256k pixels each: the kernels' memory stays a few MB whatever the size (whole, a pair of
    // 100-megapixel images needed 4 GB, past the 32-bit allocator).
    const { width: w, height: h, channels: ch } = x;
    const ow = w - (SSIM_WINDOW - 1), oh = h - (SSIM_WINDOW - 1);
    const rows = Math.max(1, Math.floor(SSIM_BAND_PIXELS / w) - (SSIM_WINDOW - 1));
    const inRows = Math.min(h, rows + SSIM_WINDOW - 1), n = w * inRows;
    const pa = ar.bytes(n * ch), pb = ar.bytes(n * ch), ya = ar.f32(n), yb = ar.f32(n), tmp = ar.f32(10 * n);
    const xs = bytesOf(x.data), ys = bytesOf(y.data);
    let total = 0;
    for (let r0 = 0; r0 < oh; r0 += rows) {
      const r1 = Math.min(oh, r0 + rows), bandIn = r1 - r0 + SSIM_WINDOW - 1;
      const from = r0 * w * ch, to = from + bandIn * w * ch;
      const mem = new Uint8Array(ar.k.memory.buffer);
      mem.set(xs.subarray(from, to), pa);
      mem.set(ys.subarray(from, to), pb);
      ar.k.rgbToY(pa, w * bandIn, ch, ya);
      ar.k.rgbToY(pb, w * bandIn, ch, yb);
      // The kernel's mean over the band's ow x (r1 - r0) windows, back to their sum.
      total += ar.k.ssim(ya, yb, w, bandIn, tmp) * ow * (r1 - r0);
    }
    return total / (ow * oh);
  } finally {
    ar.release();
  }
}
