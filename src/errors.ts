/**
 * Every code a {@link ModelmarkError} carries: the core's, the deep mark's (`ERR_MODEL`,
 * `ERR_DISPOSED`) and the plug-ins' (the Web Worker client, Fabric, Photopea). Each subclass
 * narrows it (an `ImageSizeError`'s is an {@link ImageSizeCode}), so a misspelt code in a
 * comparison is a compile error.
 */
export type ModelmarkErrorCode =
  | 'ERR_INVALID_ARGUMENT' | ImageSizeCode | 'ERR_DECODE' | 'ERR_ANIMATED' | 'ERR_FILE' | 'ERR_WASM' | 'ERR_NO_WEBCRYPTO'
  | 'ERR_MODEL' | 'ERR_DISPOSED'
  | 'ERR_WORKER' | 'ERR_WORKER_TERMINATED' | 'ERR_WORKER_TIMEOUT' | 'ERR_NOT_READY' | 'ERR_BUSY'
  | 'ERR_PHOTOPEA_NOT_EMBEDDED' | 'ERR_PHOTOPEA_NO_DOCUMENT' | 'ERR_PHOTOPEA_TIMEOUT';

/**
 * Every error modelmark throws on purpose is a ModelmarkError with a stable `code`, so callers
 * can branch on `err.code` instead of parsing messages.
 * @example
 * try {
 *   wm.detect(image);
 * } catch (err) {
 *   if (err instanceof ModelmarkError) console.error(err.code, err.message); // e.g. ERR_IMAGE_TOO_SMALL
 *   else throw err;
 * }
 */
export class ModelmarkError extends Error {
  /** Stable machine-readable code, e.g. `ERR_INVALID_ARGUMENT`. */
  readonly code: ModelmarkErrorCode;
  constructor(code: ModelmarkErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * An argument has the wrong type, range or shape (`ERR_INVALID_ARGUMENT`); the message names the
 * parameter, what it expects and what it got.
 * @example
 * try {
 *   wm.embed(image, 'not hex');
 * } catch (err) {
 *   if (err instanceof InvalidArgumentError) showFormError(err.message);
 *   else throw err;
 * }
 */
export class InvalidArgumentError extends ModelmarkError {
  declare readonly code: 'ERR_INVALID_ARGUMENT';
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_INVALID_ARGUMENT', message, options);
  }
}

/** The codes of {@link ImageSizeError}. */
export type ImageSizeCode = 'ERR_IMAGE_TOO_SMALL' | 'ERR_IMAGE_TOO_LARGE' | 'ERR_IMAGE_ASPECT';

/**
 * The image is too small to carry the mark (`ERR_IMAGE_TOO_SMALL`: under 128 pixels a side to
 * embed, under 48 to detect), too elongated (`ERR_IMAGE_ASPECT`: an aspect ratio over
 * `maxAspect`, 32:1 by default), or
 * larger than the configured pixel limit (`ERR_IMAGE_TOO_LARGE`, see `maxPixels`).
 * @example
 * try {
 *   marked = wm.embed(image, payload);
 * } catch (err) {
 *   if (err instanceof ImageSizeError && err.code === 'ERR_IMAGE_TOO_SMALL') marked = image; // thumbnails stay unmarked
 *   else throw err;
 * }
 */
export class ImageSizeError extends ModelmarkError {
  declare readonly code: ImageSizeCode;
  constructor(code: ImageSizeCode, message: string) {
    super(code, message);
  }
}

/**
 * Name the file in a size error raised on its decoded pixels ("image is 100x100; ..." becomes
 * "\"a.png\": the image is 100x100; ..."); any other error comes back as it is.
 * @example
 * try { wm.embed(await readImage(path), payload); } catch (err) { throw inFile(err, path); }
 */
export function inFile(err: unknown, path: string): unknown {
  if (err instanceof ImageSizeError && !err.message.includes(JSON.stringify(path))) {
    return new ImageSizeError(err.code as ImageSizeCode, `${JSON.stringify(path)}: ${err.message.replace(/^image\b/, 'the image')}`);
  }
  return err;
}

/**
 * An image file could not be decoded (`ERR_DECODE`: truncated, corrupt or not an image), or it is
 * animated where a still image is needed (`ERR_ANIMATED`: a marked copy would keep one frame; also
 * a multi-page file, such as a pyramid TIFF, whose pages differ in size and so are no animation).
 * @example
 * import { readImage } from 'modelmark/node';
 * try {
 *   await readImage('upload.jpg');
 * } catch (err) {
 *   if (err instanceof DecodeError) reply(400, 'That file is not a readable image');
 *   else throw err;
 * }
 */
export class DecodeError extends ModelmarkError {
  declare readonly code: 'ERR_DECODE' | 'ERR_ANIMATED';
  constructor(message: string, options?: { cause?: unknown; code?: 'ERR_DECODE' | 'ERR_ANIMATED' }) {
    super(options?.code ?? 'ERR_DECODE', message, options);
  }
}

/**
 * A file could not be read or written (`ERR_FILE`); nothing was overwritten.
 * @example
 * import { writeImage } from 'modelmark/node';
 * try {
 *   await writeImage('out/marked.png', marked);
 * } catch (err) {
 *   if (err instanceof FileError) console.error(`could not save: ${err.message}`);
 *   else throw err;
 * }
 */
export class FileError extends ModelmarkError {
  declare readonly code: 'ERR_FILE';
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_FILE', message, options);
  }
}

/**
 * The WebAssembly kernels could not be loaded or ran out of memory (`ERR_WASM`).
 * @example
 * import { createWatermarker, WasmError } from 'modelmark/lite';
 * try {
 *   wm = await createWatermarker({ key, module: wasmModule });
 * } catch (err) {
 *   if (err instanceof WasmError) console.error('pass the compiled modelmark.wasm as `module`');
 *   else throw err;
 * }
 */
export class WasmError extends ModelmarkError {
  declare readonly code: 'ERR_WASM';
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_WASM', message, options);
  }
}

/**
 * A deep-watermark model could not be used (`ERR_MODEL`): unreadable or corrupt ONNX bytes,
 * inputs or outputs other than the contract's (names, channels), or a bad `deep.json` (meta).
 * @example
 * import { loadDeepModels } from 'modelmark/node';
 * try {
 *   models = await loadDeepModels('my-models/');
 * } catch (err) {
 *   if (err instanceof ModelError) console.error(`retrain or re-export: ${err.message}`);
 *   else throw err;
 * }
 */
export class ModelError extends ModelmarkError {
  declare readonly code: 'ERR_MODEL';
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_MODEL', message, options);
  }
}
