/**
 * Writes a models folder (h.onnx, r.onnx, deep.json, logo.png) from trained weights. Node-only.
 */
import sharp from 'sharp';
import { mkdir, rename, rm } from 'node:fs/promises';
import { FileError } from '../errors.js';
import { join } from 'node:path';
import { buildH, buildR, type Weights } from '../deep/spec.js';
import { exportOnnx } from './onnx-export.js';
import { writeFileAtomic } from '../node/files.js';
import { LOGO, TILE, WORK } from './train.js';


/** Extra fields recorded in deep.json next to the ones the runner reads. */
export type MetaExtras = Record<string, unknown>;

/**
 * Exports H and R to ONNX and writes deep.json with the work size, tile, logo and threshold.
 *
 * @example
 * await writeModels('models', { h, r }, logoBytes, 0.5, { training: { minutes: 90 } });
 */
export async function writeModels(dir: string, w: { h: Weights; r: Weights }, logo: Uint8Array, threshold: number, extras: MetaExtras = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  // Every file is written in full to a folder of its own inside `dir` first: a disk that fills
  // up (or an error) there leaves the models already in `dir` as they were (they used to lose
  // deep.json first, then fail on h.onnx). Then deep.json is removed, the networks and logo
  // renamed in (renames take no space), and deep.json renamed last, so that a folder cut short
  // between the renames is refused by loadDeepModels (ERR_FILE) instead of pairing new networks
  // with old meta.
  const staging = join(dir, WRITING);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging);
  const metadata = { workSize: String(WORK), tile: String(TILE), logoSize: String(LOGO) };
  const meta = { format: 1, workSize: WORK, tile: TILE, logoSize: LOGO, threshold, logo: Buffer.from(logo).toString('base64'), ...extras };
  try {
    await writeFileAtomic(join(staging, 'h.onnx'), exportOnnx(buildH(), w.h, { docString: 'modelmark deep watermark embedder H: image [N,3,H,W] in [0,1] + logo map [N,1,H,W] -> residual [N,3,H,W]', metadata }));
    await writeFileAtomic(join(staging, 'r.onnx'), exportOnnx(buildR(), w.r, { docString: 'modelmark deep watermark extractor R: image [N,3,H,W] in [0,1] -> logo [N,1,H/2,W/2] (2L-1 on marked images, 0 on clean ones)', metadata }));
    const png = await sharp(Buffer.from(logo), { raw: { width: LOGO, height: LOGO, channels: 1 } }).png().toBuffer();
    await writeFileAtomic(join(staging, 'logo.png'), png);
    await writeFileAtomic(join(staging, 'deep.json'), JSON.stringify(meta, null, 2) + '\n');
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    if (err instanceof FileError) {
      throw new FileError(`${err.message}; the models in ${JSON.stringify(dir)} are left as they were`, { cause: err });
    }
    throw err;
  }
  await rm(join(dir, 'deep.json'), { force: true });
  for (const name of ['h.onnx', 'r.onnx', 'logo.png', 'deep.json']) await rename(join(staging, name), join(dir, name));
  await rm(staging, { recursive: true, force: true });
}

/** The folder, inside a models folder, where writeModels writes the new files before moving them in. */
const WRITING = '.modelmark-writing';
