export { createWatermarker } from './watermarker.js';
export type { Watermarker, WatermarkerOptions, DetectResult } from './watermarker.js';
export { psnr, ssim } from './metrics.js';
export { init } from './wasm.js';
export { checkImage, MIN_SIDE, DEFAULT_MAX_PIXELS } from './image.js';
export type { Image, PixelData } from './image.js';
export { parsePayload, payloadHex } from './payload.js';
export type { Payload } from './payload.js';
export { ModelmarkError, InvalidArgumentError, ImageSizeError, DecodeError, FileError, WasmError } from './errors.js';
