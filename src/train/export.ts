/**
 * Writes a models folder (h.onnx, r.onnx, deep.json, logo.png) from trained weights. Node-only.
 */
import sharp from 'sharp';
import { mkdir, rm } from 'node:fs/promises';
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
  // deep.json is written last; remove the old one first so that a folder cut short between the
  // files is refused by loadDeepModels (ERR_FILE) instead of pairing new networks with old meta.
  await rm(join(dir, 'deep.json'), { force: true });
  const metadata = { workSize: String(WORK), tile: String(TILE), logoSize: String(LOGO) };
  await writeFileAtomic(join(dir, 'h.onnx'), exportOnnx(buildH(), w.h, { docString: 'modelmark deep watermark embedder H: image [N,3,H,W] in [0,1] + logo map [N,1,H,W] -> residual [N,3,H,W]', metadata }));
  await writeFileAtomic(join(dir, 'r.onnx'), exportOnnx(buildR(), w.r, { docString: 'modelmark deep watermark extractor R: image [N,3,H,W] in [0,1] -> logo [N,1,H/2,W/2] (2L-1 on marked images, 0 on clean ones)', metadata }));
  const png = await sharp(Buffer.from(logo), { raw: { width: LOGO, height: LOGO, channels: 1 } }).png().toBuffer();
  await writeFileAtomic(join(dir, 'logo.png'), png);
  const meta = { format: 1, workSize: WORK, tile: TILE, logoSize: LOGO, threshold, logo: Buffer.from(logo).toString('base64'), ...extras };
  await writeFileAtomic(join(dir, 'deep.json'), JSON.stringify(meta, null, 2) + '\n');
}
