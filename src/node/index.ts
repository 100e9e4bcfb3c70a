// Node entry point (`modelmark/node`): the core API plus image file input and output with sharp.
export * from '../index.js';
export { readImage, decodeImageFile, encodeImage, writeImage, markReadsBack, ENCODER_MAX_SIDE, heifCodec, tiffWriteOptions } from './io.js';
export { detectFile, markFile, MAX_DETECT_FRAMES, type FramesRead } from './frames.js';
export { folderId } from './files.js';
export type { InsideFolder } from './files.js';
export type { Animation, EncodedImage, ImageFile, MetadataKind, SampleFile, ReadImageOptions, WriteImageOptions, WrittenImage, WriteFormat } from './io.js';
export { readMetadata, embedMetadata, iptcRecords, checkPngText, PNG_TEXT_LIMITS, metadataOf, metadataWarnings, METADATA_LIMITS, uprightExif, iccColourSpace, profileFits } from '../metadata.js';
export type { ImageMetadata, MetadataFormat, PngTextChunk, ReadMetadata } from '../metadata.js';
export { renderRegionMap } from './map.js';
export { runBatch, listImages, isBatchImage, MANIFEST_NAME, BATCH_EXTENSIONS } from './batch.js';
export type { BatchFileResult, BatchOptions, BatchPiece, BatchRecord, BatchStartInfo, BatchSummary, ImageListing } from './batch.js';
export { loadDeepModels, createDeepWatermarker, DEFAULT_MODELS_DIR, DEEP_MODEL_FILES } from './deep.js';
export { checkDeepMeta, DEFAULT_NODE_THREADS } from '../deep/meta.js';
export type { DeepMeta, DeepModels, DeepWatermarker, DeepWatermarkerOptions, DeepExtractResult, CheckedDeepMeta } from '../deep/index.js';
