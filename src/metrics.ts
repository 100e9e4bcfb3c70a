import { invalidParameter } from './args.js';
import { checkImage, checkSamples, type CheckedSamples, type Image, type SampleImage } from './image.js';
import { Arena, init } from './wasm.js';
import { ImageSizeError } from './errors.js';

/** SSIM's Gaussian window, in pixels a side: the smallest image it is defined on. */
const SSIM_WINDOW = 11;

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
 * Grey, RGB or RGBA, 8-bit or 16-bit samples (a Uint16Array: peak 65535), both alike.
 * @example
 * const db = await psnr(original, marked);
 */
export async function psnr(a: SampleImage, b: SampleImage): Promise<number> {
  const [x, y] = pair(a, b, checkSamples);
  const sixteen = x.data instanceof Uint16Array;
  if (x.channels === 2) throw invalidParameter('a.channels', '1, 3 or 4', 2);
  const ar = new Arena(await init());
  try {
    const n = x.width * x.height;
    const err = (sixteen ? ar.k.sse16 : ar.k.sse)(ar.put(x.data), ar.put(y.data), n, x.channels);
    const peak = sixteen ? 65535 : 255;
    return err === 0 ? Infinity : 10 * Math.log10((peak * peak * n * Math.min(x.channels, 3)) / err);
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
    const n = x.width * x.height;
    const ya = ar.f32(n), yb = ar.f32(n);
    ar.k.rgbToY(ar.put(x.data), n, x.channels, ya);
    ar.k.rgbToY(ar.put(y.data), n, y.channels, yb);
    return ar.k.ssim(ya, yb, x.width, x.height, ar.f32(10 * n));
  } finally {
    ar.release();
  }
}
