// The deep watermark's models for tests: the package's models/ when it holds h.onnx, r.onnx and
// deep.json, else development models with random weights (bench/deep-dev-models.mjs) written
// into a temporary folder. `real` is true only for trained models (not development ones), so
// tests assert found / not found only then; with development models they check the plumbing.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeDevModels } from '../../bench/deep-dev-models.mjs';

export const MODELS_DIR = fileURLToPath(new URL('../../models/', import.meta.url));

/**
 * A models folder for a test: { dir, real, close() } (close removes a temporary folder).
 * @example
 * const models = await deepModelsForTest(); ... await models.close();
 */
export async function deepModelsForTest() {
  const files = ['h.onnx', 'r.onnx', 'deep.json'].map((n) => path.join(MODELS_DIR, n));
  if (files.every((f) => fs.existsSync(f))) {
    const meta = JSON.parse(fs.readFileSync(files[2], 'utf8'));
    return { dir: MODELS_DIR, real: !/development/i.test(String(meta.note ?? '')), close: async () => {} };
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmark-dev-models-'));
  await writeDevModels(tmp);
  return { dir: tmp, real: false, close: () => fs.promises.rm(tmp, { recursive: true, force: true }) };
}
