import { invalidParameter } from './args.js';
import { ImageSizeError } from './errors.js';

/** Pixel data: RGBA like `ImageData`, or RGB / grey like sharp's raw output. 8 bits per channel. */
export type PixelData = Uint8Array | Uint8ClampedArray;

/**
 * An image as plain data, compatible with `ImageData` and with sharp's
 * `.raw().toBuffer({ resolveWithObject: true })` (pass `info.channels`).
 */
export interface Image {
  width: number;
  height: number;
  data: PixelData;
  /** 1 (grey), 3 (RGB) or 4 (RGBA). Inferred from data.length when omitted. */
  channels?: 1 | 3 | 4;
}

/** A validated image with known channel count. */
export interface CheckedImage {
  width: number;
  height: number;
  channels: 1 | 3 | 4;
  data: PixelData;
}

/** Smallest side the watermark is defined for. */
export const MIN_SIDE = 128;
/** Default decompression-bomb limit: images above it need an explicit `maxPixels`. */
export const DEFAULT_MAX_PIXELS = 100_000_000;

/**
 * Validate an image argument; `name` is the parameter name used in errors.
 * @example
 * const img = checkImage({ width: 640, height: 480, data }, 'image');
 */
export function checkImage(image: unknown, name = 'image', maxPixels = DEFAULT_MAX_PIXELS): CheckedImage {
  if (typeof image !== 'object' || image === null) {
    throw invalidParameter(name, 'an object { width, height, data, channels? }', image);
  }
  const { width, height, data, channels } = image as Partial<Image>;
  if (!Number.isInteger(width) || (width as number) <= 0) throw invalidParameter(`${name}.width`, 'a positive integer', width);
  if (!Number.isInteger(height) || (height as number) <= 0) throw invalidParameter(`${name}.height`, 'a positive integer', height);
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    throw invalidParameter(`${name}.data`, 'a Uint8Array, Uint8ClampedArray or Buffer of 8-bit pixels', data);
  }
  const w = width as number, h = height as number;
  const pixels = w * h;
  if (pixels > maxPixels) {
    throw new ImageSizeError('ERR_IMAGE_TOO_LARGE',
      `${name} is ${w}x${h} (${(pixels / 1e6).toFixed(1)} megapixels), over the limit of ${(maxPixels / 1e6).toFixed(1)} megapixels; ` +
      'pass a larger maxPixels option if you trust this input (the limit protects against decompression bombs).');
  }
  let ch: number;
  if (channels !== undefined) {
    if (channels !== 1 && channels !== 3 && channels !== 4) throw invalidParameter(`${name}.channels`, '1, 3 or 4', channels);
    ch = channels;
    if (data.length !== pixels * ch) {
      throw invalidParameter(`${name}.data`, `${pixels * ch} bytes (${w} x ${h} x ${ch} channels)`, data);
    }
  } else {
    ch = data.length / pixels;
    if (ch !== 1 && ch !== 3 && ch !== 4) {
      throw invalidParameter(`${name}.data`, `${pixels}, ${pixels * 3} or ${pixels * 4} bytes (${w} x ${h} grey, RGB or RGBA)`, data);
    }
  }
  if (w < MIN_SIDE || h < MIN_SIDE) {
    throw new ImageSizeError('ERR_IMAGE_TOO_SMALL', `${name} is ${w}x${h}; the watermark needs at least ${MIN_SIDE}x${MIN_SIDE} pixels.`);
  }
  return { width: w, height: h, channels: ch as 1 | 3 | 4, data };
}
