// modelmark/canvas: watermark and detect ImageData and 2D canvases. Works wherever a 2D canvas
// does: browser pages (HTMLCanvasElement), Web Workers (OffscreenCanvas) and Node with
// @napi-rs/canvas (its ImageData has the same { width, height, data } shape). No Node built-ins.
import { ImageSizeError, InvalidArgumentError, invalidParameter, type DetectResult, type WatermarkerOptions } from 'modelmark';
import { embedSetup, watermarkerFor, type EmbedOptions } from '../shared/options.js';
import { rgbaImage, type ImageDataLike } from './image.js';

export type { EmbedOptions } from '../shared/options.js';
export { rgbaImage, type ImageDataLike } from './image.js';

/** The part of a 2D context this plug-in uses (DOM, OffscreenCanvas and @napi-rs/canvas alike). */
export interface Context2DLike {
  getImageData(sx: number, sy: number, sw: number, sh: number): ImageDataLike;
  putImageData(imageData: ImageDataLike, dx: number, dy: number): void;
}

/** A canvas with a 2D context: HTMLCanvasElement, OffscreenCanvas or an @napi-rs/canvas Canvas. */
export interface CanvasLike {
  readonly width: number;
  readonly height: number;
  getContext(contextId: '2d', options?: unknown): unknown;
}


/**
 * Watermark an ImageData IN PLACE: its `data` is overwritten with the marked pixels, and the
 * same ImageData is returned (handy for chaining into `putImageData`). Its `colorSpace` and size
 * stay as they are. Alpha is untouched; the mark lives in the colour channels (of every
 * pixel: those of fully transparent ones are invisible, and a canvas drops them).
 * Validates the payload before touching any pixel.
 *
 * Note: a canvas stores premultiplied alpha, so on semi-transparent pixels a
 * `putImageData`/`getImageData` round trip rounds the colour and loses a little of the mark
 * (a photo with alpha fading from 0 to 255 across it is still found, in Chromium); opaque
 * images are exact. Only 8-bit ImageData (`pixelFormat` 'rgba-unorm8', the default) is taken.
 * @example
 * import { watermarkImageData } from 'modelmark/canvas';
 * const ctx = canvas.getContext('2d')!;
 * const imageData = ctx.getImageData(0, 0, canvas.width, canvas.height);
 * await watermarkImageData(imageData, { key: 'my secret', payload: 'c0ffee0000000001' });
 * ctx.putImageData(imageData, 0, 0);
 */
export async function watermarkImageData<T extends ImageDataLike>(imageData: T, options: EmbedOptions): Promise<T> {
  const image = rgbaImage(imageData);
  const { wm, payload } = await embedSetup(options);
  wm.embed(image, payload, { inPlace: true });
  return imageData;
}

/**
 * Options of detectImageData and detectCanvas: the watermarker's, and detect's `pieces` (also
 * look for a marked piece inside a larger picture, such as a photo pasted into a collage).
 */
export interface CanvasDetectOptions extends WatermarkerOptions {
  pieces?: boolean | 'all' | undefined;
}

/**
 * Look for the key's mark in an ImageData (blind: no original needed). Returns the core's
 * DetectResult: `{ found, payload, pValue, score, crcOk, transform, regions }`. With
 * `pieces: true`, also a marked piece inside a larger picture (the core's detect option); with
 * `pieces: 'all'`, every marked piece, listed in the result's `pieces`.
 * @example
 * import { detectImageData } from 'modelmark/canvas';
 * const imageData = ctx.getImageData(0, 0, canvas.width, canvas.height);
 * const { found, payload, pValue } = await detectImageData(imageData, { key: 'my secret' });
 */
export async function detectImageData(imageData: ImageDataLike, options: CanvasDetectOptions): Promise<DetectResult> {
  const image = rgbaImage(imageData);
  const wm = await watermarkerFor(options, ['pieces']);
  return wm.detect(image, { pieces: options.pieces });
}

/**
 * The canvas's pixels, with the browser's refusals as typed errors: a 0-pixel canvas
 * (IndexSizeError) and a canvas tainted by a cross-origin image (SecurityError).
 */
function readPixels(ctx: Context2DLike, canvas: CanvasLike): ImageDataLike {
  if (!(canvas.width > 0 && canvas.height > 0)) {
    throw new ImageSizeError('ERR_IMAGE_TOO_SMALL', `canvas is ${canvas.width}x${canvas.height}: it has no pixels to mark or read`);
  }
  try {
    return ctx.getImageData(0, 0, canvas.width, canvas.height);
  } catch (err) {
    if ((err as { name?: string })?.name === 'SecurityError') {
      throw new InvalidArgumentError('The canvas is tainted by cross-origin data (an image drawn from another origin without CORS), so its pixels cannot be read: ' +
        "load the image with crossOrigin = 'anonymous' from a server that sends Access-Control-Allow-Origin, or from your own origin");
    }
    throw err;
  }
}

function context2d(canvas: unknown, name: string): Context2DLike {
  if (typeof canvas !== 'object' || canvas === null || typeof (canvas as CanvasLike).getContext !== 'function') {
    throw invalidParameter(name, 'an HTMLCanvasElement, OffscreenCanvas or @napi-rs/canvas Canvas', canvas);
  }
  const ctx = (canvas as CanvasLike).getContext('2d') as Context2DLike | null;
  if (!ctx || typeof ctx.getImageData !== 'function' || typeof ctx.putImageData !== 'function') {
    throw invalidParameter(name, 'a canvas with a 2D context (this one has another context or none)', canvas);
  }
  return ctx;
}

/**
 * Watermark a canvas in place: reads its pixels through the 2D context, marks them and writes
 * them back. Works with HTMLCanvasElement, OffscreenCanvas (also inside a Web Worker) and
 * @napi-rs/canvas in Node. Returns the canvas.
 * @example
 * import { watermarkCanvas } from 'modelmark/canvas';
 * ctx.drawImage(photo, 0, 0);
 * await watermarkCanvas(canvas, { key: 'my secret', payload: 0xc0ffee0000000001n });
 * const blob = await canvas.convertToBlob({ type: 'image/png' }); // OffscreenCanvas
 */
export async function watermarkCanvas<C extends CanvasLike>(canvas: C, options: EmbedOptions): Promise<C> {
  const ctx = context2d(canvas, 'canvas');
  const { wm, payload } = await embedSetup(options); // a bad payload fails before any readback
  const imageData = readPixels(ctx, canvas);
  const image = rgbaImage(imageData, 'canvas');
  wm.embed(image, payload, { inPlace: true });
  ctx.putImageData(imageData, 0, 0);
  return canvas;
}

/**
 * Look for the key's mark in what a canvas shows (its whole 2D surface).
 * @example
 * import { detectCanvas } from 'modelmark/canvas';
 * const { found, payload } = await detectCanvas(canvas, { key: 'my secret' });
 */
export async function detectCanvas(canvas: CanvasLike, options: CanvasDetectOptions): Promise<DetectResult> {
  const ctx = context2d(canvas, 'canvas');
  const wm = await watermarkerFor(options, ['pieces']);
  return wm.detect(rgbaImage(readPixels(ctx, canvas), 'canvas'), { pieces: options.pieces });
}
