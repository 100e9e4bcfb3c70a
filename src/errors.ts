/**
 * Every error modelmark throws on purpose is a ModelmarkError with a stable `code`, so callers
 * can branch on `err.code` instead of parsing messages.
 */
export class ModelmarkError extends Error {
  /** Stable machine-readable code, e.g. `ERR_INVALID_ARGUMENT`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An argument has the wrong type, range or shape. */
export class InvalidArgumentError extends ModelmarkError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_INVALID_ARGUMENT', message, options);
  }
}

/** The image is too small to carry the mark, or larger than the configured pixel limit. */
export class ImageSizeError extends ModelmarkError {
  constructor(code: 'ERR_IMAGE_TOO_SMALL' | 'ERR_IMAGE_TOO_LARGE', message: string) {
    super(code, message);
  }
}

/** An image file could not be decoded (truncated, corrupt or not an image). */
export class DecodeError extends ModelmarkError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_DECODE', message, options);
  }
}

/** A file could not be read or written. */
export class FileError extends ModelmarkError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_FILE', message, options);
  }
}

/** The WebAssembly kernels could not be loaded or ran out of memory. */
export class WasmError extends ModelmarkError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_WASM', message, options);
  }
}

/**
 * A deep-watermark model could not be used: unreadable or corrupt ONNX bytes, inputs or outputs
 * other than the contract's (names, channels), or a bad `deep.json` (meta).
 */
export class ModelError extends ModelmarkError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_MODEL', message, options);
  }
}
