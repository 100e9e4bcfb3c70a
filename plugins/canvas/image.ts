// modelmark/canvas's check of an ImageData-like argument, apart from the marking code so that
// the worker client (./worker/client.js) can use it without the kernels: it imports the core
// through modelmark/lite.
import { InvalidArgumentError, invalidParameter } from 'modelmark/lite';

/**
 * Anything shaped like ImageData: the DOM's ImageData, @napi-rs/canvas's ImageData, or a plain
 * `{ width, height, data }` of RGBA bytes (4 bytes a pixel, rows top to bottom).
 */
export interface ImageDataLike {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8ClampedArray | Uint8Array;
}

/**
 * Check an ImageData-like argument and view it as a core RGBA image (no copy), with argument
 * errors naming `name`.
 * @example
 * const image = rgbaImage(ctx.getImageData(0, 0, 640, 480)); // { width, height, channels: 4, data }
 */
export function rgbaImage(imageData: unknown, name = 'imageData'): { width: number; height: number; channels: 4; data: Uint8ClampedArray | Uint8Array } {
  if (typeof imageData !== 'object' || imageData === null) {
    throw invalidParameter(name, 'an ImageData or { width, height, data } of RGBA bytes', imageData);
  }
  const { width, height, data } = imageData as ImageDataLike;
  if (!Number.isInteger(width) || width <= 0) throw invalidParameter(`${name}.width`, 'a positive integer', width);
  if (!Number.isInteger(height) || height <= 0) throw invalidParameter(`${name}.height`, 'a positive integer', height);
  const { pixelFormat } = imageData as { pixelFormat?: unknown };
  if (pixelFormat !== undefined && pixelFormat !== 'rgba-unorm8') {
    // Chromium's ImageData can hold half floats (getImageData(x, y, w, h, { pixelFormat:
    // 'rgba-float16' }), a Float16Array): refused by name rather than read as bytes.
    throw invalidParameter(`${name}.pixelFormat`, "'rgba-unorm8' (modelmark marks 8-bit RGBA: call getImageData without pixelFormat, its default is 8-bit)", pixelFormat);
  }
  if (!(data instanceof Uint8ClampedArray || data instanceof Uint8Array)) {
    // Another realm's typed array (an iframe, a vm context) still has the right shape.
    const tag = Object.prototype.toString.call(data);
    if (tag !== '[object Uint8ClampedArray]' && tag !== '[object Uint8Array]') {
      throw invalidParameter(`${name}.data`, 'a Uint8ClampedArray of RGBA bytes', data);
    }
  }
  if (data.length === 0 && (data.buffer as { detached?: boolean }).detached === true) {
    // The usual cause: the worker client's embed transfers the pixels by default.
    throw new InvalidArgumentError(`Expected ${width * height * 4} bytes (${width} x ${height} RGBA) for ${name}.data but received a detached buffer: ` +
      'its pixels were transferred (the worker client\'s embed transfers them by default): use the ImageData embed returns, or pass { transfer: false }');
  }
  if (data.length !== width * height * 4) {
    throw invalidParameter(`${name}.data`, `${width * height * 4} bytes (${width} x ${height} RGBA)`, data);
  }
  return { width, height, channels: 4, data };
}
