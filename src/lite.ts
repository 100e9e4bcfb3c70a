// `modelmark/lite`: the core API without the built-in kernels. Pass the compiled module
// (`createWatermarker({ key, module })` or `init(module)`); `modelmark` is the same with them.
export { checkWatermarkerOptions, createWatermarker, DEFAULT_THRESHOLD, WATERMARKER_OPTION_NAMES } from './watermarker.js';
export type { Watermarker, WatermarkerOptions, DetectResult, DetectCallOptions, PieceResult, EmbedCallOptions } from './watermarker.js';
export type { Transform } from './transform.js';
export { combineEvidence, EvidenceSum, REFERENCE_PATTERNS } from './evidence.js';
export type { Evidence, CombinedEvidence } from './evidence.js';
export type { RegionMap } from './regions.js';
export { psnr, ssim } from './metrics.js';
export { init } from './wasm.js';
export { checkImage, checkSamples, MIN_SIDE, MIN_DETECT_SIDE, DEFAULT_MAX_PIXELS, DEFAULT_MAX_ASPECT, MAX_ASPECT_LIMIT } from './image.js';
export type { Image, PixelData, SampleImage, SampleData } from './image.js';
export { apngFrames, checkImageFileSize, gifTruncatedAt, imageHeader } from './header.js';
export { sourceEncoding, jpegQualityOf, matchedSettings, MIN_MATCHED_QUALITY } from './encoding.js';
export type { SourceEncoding, JpegEncoding, WebpEncoding, MatchedSettings } from './encoding.js';
export type { ImageHeader } from './header.js';
export { parsePayload, payloadHex } from './payload.js';
export type { Payload } from './payload.js';
export { ModelmarkError, InvalidArgumentError, ImageSizeError, DecodeError, FileError, WasmError, ModelError } from './errors.js';
export type { ImageSizeCode, ModelmarkErrorCode } from './errors.js';
export { booleanOption, checkOptionNames, piecesOption, invalidParameter, invalidSecretParameter } from './args.js';
