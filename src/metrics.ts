import { invalidParameter } from './args.js';
import { checkImage, checkSamples, type Image, type SampleImage } from './image.js';
import { Arena, init } from './wasm.js';

function pair(a: Image, b: Image) {
  const x = checkImage(a, 'a', Number.MAX_SAFE_INTEGER), y = checkImage(b, 'b', Number.MAX_SAFE_INTEGER);
  if (x.width !== y.width || x.height !== y.height || x.channels !== y.channels) {
    throw invalidParameter('b', `an image of ${x.width}x${x.height}x${x.channels} like a`, `${y.width}x${y.height}x${y.channels}`);
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
  const x = checkSamples(a, 'a', Number.MAX_SAFE_INTEGER), y = checkSamples(b, 'b', Number.MAX_SAFE_INTEGER);
  const sixteen = x.data instanceof Uint16Array;
  const kind = (i: typeof x) => `${i.width}x${i.height}x${i.channels}${i.data instanceof Uint16Array ? ' 16-bit' : ''}`;
  if (x.width !== y.width || x.height !== y.height || x.channels !== y.channels || sixteen !== y.data instanceof Uint16Array) {
    throw invalidParameter('b', `an image of ${kind(x)} like a`, kind(y));
  }
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
 * Mean SSIM of the luma planes (11x11 Gaussian window, sigma 1.5, as Wang et al. 2004).
 * @example
 * const s = await ssim(original, marked); // 0.99...
 */
export async function ssim(a: Image, b: Image): Promise<number> {
  const [x, y] = pair(a, b);
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
