// Node entry point (`modelmark/node`): the core API plus image file input and output with sharp.
export * from '../index.js';
export { readImage, writeImage } from './io.js';
export type { ImageFile, ReadImageOptions, WriteImageOptions, WrittenImage, WriteFormat } from './io.js';
export { renderRegionMap } from './map.js';
export { runBatch, listImages, isBatchImage, MANIFEST_NAME, BATCH_EXTENSIONS } from './batch.js';
export type { BatchFileResult, BatchOptions, BatchRecord, BatchSummary, ImageListing } from './batch.js';
