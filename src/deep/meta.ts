// The deep watermark's model metadata (deep.json) and Node default, without onnxruntime-web:
// `modelmark/node` re-exports these and reads deep.json with them, and imports the runner
// (./index.js, which loads onnxruntime-web) only when a deep watermarker is made. Core code.
import { ModelError } from '../errors.js';
import { decodeBase64 } from '../wasm.js';

/**
 * onnxruntime-web threads in Node by default. Measured with bench/deep.mjs on the idle 2-core
 * development machine with the shipped models (1920×1080): two threads embed in 79 ms and
 * extract in 50 ms, against 135 ms and 92 ms on one. With another process keeping one core
 * busy, one thread was faster (the second thread's spinning slowed the kernels around it):
 * pass `numThreads: 1` there.
 */
export const DEFAULT_NODE_THREADS = 2;

/** The validated numbers of a `DeepMeta` (deep.json), its logo as floats in [0, 1]. */
export interface CheckedDeepMeta {
  workSize: number;
  tile: number;
  logoSize: number;
  threshold: number;
  logo: Float32Array;
}

export const MODELS_HINT = 'Use the h.onnx, r.onnx and deep.json written together by the training (npm run train:deep or modelmark train-deep).';

/**
 * Validate a deep.json object: format 1, work size a multiple of the tile, tile a multiple of 4,
 * logo size tile / 2, a threshold in [-1, 1] and a logo of logoSize² bytes. Throws a
 * ModelError (code ERR_MODEL) naming the field otherwise.
 * @example
 * const meta = checkDeepMeta(JSON.parse(text)); // { workSize: 256, tile: 64, logoSize: 32, ... }
 */
export function checkDeepMeta(meta: unknown): CheckedDeepMeta {
  const bad = (field: string, expected: string, actual: unknown): ModelError =>
    new ModelError(`deep.json: expected ${expected} for ${field} but found ${JSON.stringify(actual) ?? String(actual)}. ${MODELS_HINT}`);
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw bad('the meta', 'an object', Array.isArray(meta) ? 'an array' : meta === null ? 'null' : typeof meta);
  const m = meta as Record<string, unknown>;
  if (m.format !== 1) throw bad('format', '1 (this version of modelmark reads format 1)', m.format);
  const int = (field: string, lo: number, hi: number): number => {
    const v = m[field];
    if (!Number.isInteger(v) || (v as number) < lo || (v as number) > hi) throw bad(field, `an integer from ${lo} to ${hi}`, v);
    return v as number;
  };
  const tile = int('tile', 4, 4096);
  if (tile % 4 !== 0) throw bad('tile', 'a multiple of 4', tile);
  const workSize = int('workSize', tile, 8192);
  if (workSize % tile !== 0) throw bad('workSize', `a multiple of tile (${tile})`, workSize);
  const logoSize = int('logoSize', 1, 4096);
  if (logoSize * 2 !== tile) throw bad('logoSize', `tile / 2 = ${tile / 2} (R returns half the tile size)`, logoSize);
  const threshold = m.threshold;
  if (typeof threshold !== 'number' || !(threshold >= -1 && threshold <= 1)) throw bad('threshold', 'a number from -1 to 1', threshold);
  if (typeof m.logo !== 'string') throw bad('logo', `base64 of ${logoSize}x${logoSize} grey bytes`, typeof m.logo);
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64(m.logo);
  } catch (cause) {
    throw new ModelError(`deep.json: logo is not valid base64 (${(cause as Error).message}). ${MODELS_HINT}`, { cause });
  }
  if (bytes.length !== logoSize * logoSize) throw bad('logo', `base64 of ${logoSize * logoSize} bytes (${logoSize}x${logoSize} grey)`, `${bytes.length} bytes`);
  return { workSize, tile, logoSize, threshold, logo: Float32Array.from(bytes, (v) => v / 255) };
}

