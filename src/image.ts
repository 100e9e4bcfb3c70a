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

/** 16-bit samples, as sharp's `.raw({ depth: 'ushort' })` gives them (as a Uint16Array). */
export type SampleData = PixelData | Uint16Array;

/**
 * A new zeroed array of `n` samples of the same kind as `like`, for the copy an operation returns
 * ("a new image of the same kind"): a Uint16Array, a Uint8ClampedArray, a Uint8Array, or a
 * Buffer for a Buffer. A Buffer is a Uint8Array with Buffer's prototype, which the copy is given
 * (no Node built-in needed, and no deprecated `new Buffer(n)`); so is any other Uint8Array subclass.
 * @example
 * samplesLike(Buffer.from([1, 2, 3]), 6); // <Buffer 00 00 00 00 00 00>
 */
export function samplesLike<T extends SampleData>(like: T, n: number): T {
  if (like instanceof Uint16Array) return new Uint16Array(n) as T;
  if (like instanceof Uint8ClampedArray) return new Uint8ClampedArray(n) as T;
  const out = new Uint8Array(n);
  const proto = Object.getPrototypeOf(like) as object;
  if (proto !== Uint8Array.prototype) Object.setPrototypeOf(out, proto);
  return out as T;
}

/**
 * An image as `embed` and `detect` take it: {@link Image}, or 16-bit samples (a Uint16Array),
 * or grey + alpha (2 channels), as sharp's raw output can be. For sharp's 16-bit Buffer, wrap it:
 * `new Uint16Array(data.buffer, data.byteOffset, data.length / 2)` (copy it first when its
 * byteOffset is odd).
 */
export interface SampleImage {
  width: number;
  height: number;
  data: SampleData;
  /** 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA). Inferred from data.length when omitted. */
  channels?: 1 | 2 | 3 | 4;
}

/** The bytes of a sample array (a view, no copy). */
export const bytesOf = (data: SampleData): Uint8Array => new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

// The typed arrays' own accessors, which read an array's internal slots: a subclass that
// overrides `length` (or `buffer`, `byteOffset`) cannot lie to them, and a Proxy, which passes
// `instanceof`, has no slots (the tag reads undefined).
const TYPED_ARRAY = Object.getPrototypeOf(Uint8Array.prototype) as object;
const slot = (name: PropertyKey) => Object.getOwnPropertyDescriptor(TYPED_ARRAY, name)!.get!;
const TAG = slot(Symbol.toStringTag), LENGTH = slot('length'), BUFFER = slot('buffer'), OFFSET = slot('byteOffset');
const SAMPLE_TYPES = { Uint8Array, Uint8ClampedArray, Uint16Array } as const;
const MEASURES = ['length', 'byteLength', 'buffer', 'byteOffset'];

/** Whether an object or a prototype between it and the typed arrays' own redefines a measure (a Buffer does not). */
function redefinesMeasures(data: object): boolean {
  for (let o: object | null = data; o !== null && o !== TYPED_ARRAY; o = Object.getPrototypeOf(o) as object | null) {
    if (MEASURES.some((k) => Object.hasOwn(o!, k))) return true;
  }
  return false;
}

/**
 * `data` as a genuine Uint8Array, Uint8ClampedArray or Uint16Array (Uint16Array only when
 * `sixteen`): the array itself unless it redefines its measures, else a plain view of the same
 * memory of the length its internal slots hold (so a subclass whose `length` lies is measured
 * truly, and writes in place still reach the caller's memory); undefined for anything else (a
 * Proxy around a typed array included).
 * @example
 * const data = genuineSamples(image.data, true); // undefined: not pixels
 */
export function genuineSamples(data: unknown, sixteen: boolean): SampleData | undefined {
  return genuine(data, sixteen ? ['Uint8Array', 'Uint8ClampedArray', 'Uint16Array'] : ['Uint8Array', 'Uint8ClampedArray']);
}

/**
 * `bytes` as a genuine Uint8Array (or Buffer), as {@link genuineSamples} makes pixels: for the
 * bytes of an encoded image. A detached buffer's array comes back empty (no longer its buffer).
 * @example
 * const data = genuineBytes(bytes); // undefined: not a Uint8Array
 */
export function genuineBytes(bytes: unknown): Uint8Array | undefined {
  return genuine(bytes, ['Uint8Array']) as Uint8Array | undefined;
}

function genuine(data: unknown, tags: readonly (keyof typeof SAMPLE_TYPES)[]): SampleData | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const tag = TAG.call(data) as keyof typeof SAMPLE_TYPES | undefined;
  if (tag === undefined || !tags.includes(tag)) return undefined;
  const length = LENGTH.call(data) as number;
  // Empty, or detached (transferred elsewhere): a view of its buffer could not even be made.
  if (length === 0) return new SAMPLE_TYPES[tag](0);
  if (!redefinesMeasures(data)) return data as SampleData;
  return new SAMPLE_TYPES[tag](BUFFER.call(data) as ArrayBuffer, OFFSET.call(data) as number, length);
}

/** A validated {@link SampleImage}: 8 or 16 bits, 1 to 4 channels. */
export interface CheckedSamples {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  data: SampleData;
}

/** A validated image with known channel count. */
export interface CheckedImage {
  width: number;
  height: number;
  channels: 1 | 3 | 4;
  data: PixelData;
}

/** Smallest side an image must have to be marked: the mark's frame needs that much picture. */
export const MIN_SIDE = 128;
/**
 * Smallest side an image must have to be read: a marked image's downscaled copies are read down
 * to about 60 pixels a side (a 0.12x copy of a 512-pixel photo; `node bench/small.mjs`), and no
 * copy under 48 was ever read, so smaller images get an error rather than a "not found" that
 * would read as "not marked".
 */
export const MIN_DETECT_SIDE = 48;
/**
 * Default limit on the aspect ratio (long side / short side). The mark's frame keeps a
 * 256-pixel short side, so its size, and the search's memory, grow with the ratio: a colour
 * image's full search took 9 MB of WebAssembly memory at 16:9, 18 MB at 4:1, about 30–85 MB at 8:1 (depending on the image),
 * 269 MB at 32:1 and 475 MB at 64:1 (beyond about 400:1 it ran out of 32-bit addresses).
 */
export const DEFAULT_MAX_ASPECT = 32;
/** Largest `maxAspect` accepted: at 128:1 a colour image's search took about 900 MB. */
export const MAX_ASPECT_LIMIT = 128;
/** Default decompression-bomb limit: images above it need an explicit `maxPixels`. */
export const DEFAULT_MAX_PIXELS = 100_000_000;

/**
 * A grey image's samples three times over: the same picture as RGB (the deep mark, a colour
 * pattern, marks grey images this way).
 * @example
 * greyToRgb({ width: 2, height: 1, data: new Uint8Array([10, 20]) }); // data [10, 10, 10, 20, 20, 20]
 */
export function greyToRgb(img: { width: number; height: number; data: ArrayLike<number> }): Image & { channels: 3 } {
  const n = img.width * img.height, rgb = new Uint8Array(3 * n), g = img.data;
  for (let i = 0, j = 0; i < n; i++, j += 3) rgb[j] = rgb[j + 1] = rgb[j + 2] = g[i]!;
  return { width: img.width, height: img.height, channels: 3, data: rgb };
}

/**
 * The copy an operation returns for `image`: a real `ImageData` when it was one (where the
 * runtime has the class: browsers and their workers), so that `putImageData` and
 * `createImageBitmap` take it, with a non-enumerable `channels` of 4; otherwise a plain object with
 * the input's own properties and the new pixels.
 * @example
 * ctx.putImageData(copyLike(imageData, { width, height, channels: 4, data }), 0, 0);
 */
export function copyLike<T extends object>(image: T, out: { width: number; height: number; channels: 1 | 2 | 3 | 4; data: SampleData }): T & { channels: 1 | 2 | 3 | 4 } {
  const ID = (globalThis as { ImageData?: new (data: Uint8ClampedArray, w: number, h: number, settings?: object) => object }).ImageData;
  if (ID && image instanceof ID && out.channels === 4 && out.data instanceof Uint8ClampedArray) {
    const colorSpace = (image as { colorSpace?: string }).colorSpace;
    const copy = new ID(out.data, out.width, out.height, colorSpace ? { colorSpace } : undefined);
    return Object.defineProperty(copy, 'channels', { value: 4, enumerable: false }) as T & { channels: 4 };
  }
  return { ...image, ...out };
}

/**
 * A pixel count for messages: megapixels to one decimal from 0.1 megapixels up, the exact count
 * below (a limit of 1000 pixels is not "0.0 megapixels").
 * @example
 * pixelCount(2_073_600); // '2.1 megapixels'
 * pixelCount(1000);      // '1,000 pixels'
 */
export function pixelCount(n: number): string {
  if (n >= 1e5) return `${(n / 1e6).toFixed(1)} megapixels`;
  return `${String(Math.round(n)).replace(/\B(?=(\d{3})+$)/g, ',')} pixel${n === 1 ? '' : 's'}`;
}

/**
 * Validate an image argument; `name` is the parameter name used in errors, `minSide` the
 * smallest side accepted (MIN_SIDE to embed, MIN_DETECT_SIDE to read), `maxAspect` the largest
 * aspect ratio; `reading` words a too-small error for reading a mark rather than embedding one
 * (by default: when `minSide` is not MIN_SIDE).
 * @example
 * const img = checkImage({ width: 640, height: 480, data }, 'image');
 */
export function checkImage(image: unknown, name = 'image', maxPixels = DEFAULT_MAX_PIXELS, minSide = MIN_SIDE, maxAspect = DEFAULT_MAX_ASPECT,
  reading = minSide !== MIN_SIDE): CheckedImage {
  return check(image, name, maxPixels, false, minSide, maxAspect, reading) as CheckedImage;
}

/**
 * Validate an image argument that may also hold 16-bit samples (a Uint16Array) or grey + alpha
 * (2 channels); `name` is the parameter name used in errors, `minSide` the smallest side
 * accepted (MIN_SIDE to embed, MIN_DETECT_SIDE to read), `maxAspect` the largest aspect ratio.
 * @example
 * const img = checkSamples({ width: 640, height: 480, data: new Uint16Array(640 * 480 * 3) }, 'image');
 */
export function checkSamples(image: unknown, name = 'image', maxPixels = DEFAULT_MAX_PIXELS, minSide = MIN_SIDE, maxAspect = DEFAULT_MAX_ASPECT): CheckedSamples {
  return check(image, name, maxPixels, true, minSide, maxAspect, minSide !== MIN_SIDE);
}

/**
 * Whether a checked image needs the 8-bit working copy (16-bit samples or grey + alpha).
 * @example
 * if (isWide(img)) work = narrowSamples(arena, img);
 */
export function isWide(img: CheckedSamples): boolean {
  return img.data instanceof Uint16Array || img.channels === 2;
}

function check(image: unknown, name: string, maxPixels: number, wide: boolean, minSide: number, maxAspect: number, reading: boolean): CheckedSamples {
  if (typeof image !== 'object' || image === null) {
    throw invalidParameter(name, 'an object { width, height, data, channels? }', image);
  }
  const { width, height, data: given, channels } = image as Partial<SampleImage>;
  if (!Number.isInteger(width) || (width as number) <= 0) throw invalidParameter(`${name}.width`, 'a positive integer', width);
  if (!Number.isInteger(height) || (height as number) <= 0) throw invalidParameter(`${name}.height`, 'a positive integer', height);
  const data = genuineSamples(given, wide);
  const sixteen = data instanceof Uint16Array;
  if (data === undefined) {
    throw invalidParameter(`${name}.data`, wide
      ? 'a Uint8Array, Uint8ClampedArray or Buffer of 8-bit samples, or a Uint16Array of 16-bit samples'
      : 'a Uint8Array, Uint8ClampedArray or Buffer of 8-bit pixels', given);
  }
  const w = width as number, h = height as number;
  const pixels = w * h;
  if (pixels > maxPixels) {
    throw new ImageSizeError('ERR_IMAGE_TOO_LARGE',
      `${name} is ${w}x${h} (${pixelCount(pixels)}), over the limit of ${pixelCount(maxPixels)}; ` +
      'pass a larger maxPixels option if you trust this input (the limit protects against decompression bombs).');
  }
  if (w < minSide || h < minSide) {
    throw new ImageSizeError('ERR_IMAGE_TOO_SMALL', !reading
      ? `${name} is ${w}x${h}; the watermark needs at least ${MIN_SIDE}x${MIN_SIDE} pixels.`
      : `${name} is ${w}x${h}; a watermark can only be read from images of at least ${minSide}x${minSide} pixels.`);
  }
  const aspect = Math.max(w, h) / Math.min(w, h);
  if (aspect > maxAspect) {
    throw new ImageSizeError('ERR_IMAGE_ASPECT',
      `${name} is ${w}x${h}, an aspect ratio of ${aspect.toFixed(1)}:1, over the limit of ${maxAspect}:1; ` +
      `crop or split it, or raise the maxAspect option (--max-aspect on the command line; up to ${MAX_ASPECT_LIMIT}, the memory the mark needs grows with the ratio).`);
  }
  const unit = sixteen ? 'samples' : 'bytes';
  const ok = (c: number) => c === 1 || c === 3 || c === 4 || (wide && c === 2);
  let ch: number;
  if (channels !== undefined) {
    if (!ok(channels)) throw invalidParameter(`${name}.channels`, wide ? '1, 2, 3 or 4' : '1, 3 or 4', channels);
    ch = channels;
    if (data.length !== pixels * ch) {
      throw invalidParameter(`${name}.data`, `${pixels * ch} ${unit} (${w} x ${h} x ${ch} channels)`, data);
    }
  } else {
    ch = data.length / pixels;
    if (!ok(ch)) {
      throw invalidParameter(`${name}.data`, wide
        ? `${pixels}, ${pixels * 2}, ${pixels * 3} or ${pixels * 4} ${unit} (${w} x ${h} grey, grey + alpha, RGB or RGBA)`
        : `${pixels}, ${pixels * 3} or ${pixels * 4} bytes (${w} x ${h} grey, RGB or RGBA)`, data);
    }
  }
  return { width: w, height: h, channels: ch as 1 | 2 | 3 | 4, data };
}
