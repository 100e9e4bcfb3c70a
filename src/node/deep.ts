// Node-only part of the deep watermark: reading h.onnx, r.onnx and deep.json from a folder (by
// default the package's own models/), and createDeepWatermarker with those as default models.
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalidParameter } from '../args.js';
import { FileError, ModelError } from '../errors.js';
import { readRegularFile } from './files.js';
import { genuineSamples, type Image, type PixelData } from '../image.js';
import type { DeepMeta, DeepModels, DeepWatermarker, DeepWatermarkerOptions } from '../deep/index.js';
// The runner (../deep/index.js) loads onnxruntime-web: imported when a deep watermarker is made,
// so that `import 'modelmark/node'` does not pay for it (bench/cold-start.mjs).
import { checkDeepMeta } from '../deep/meta.js';

/** The package's models folder: dist/node/deep.js → ../../models. */
export const DEFAULT_MODELS_DIR = fileURLToPath(new URL('../../models/', import.meta.url));

/**
 * Largest h.onnx or r.onnx read (the shipped ones are about 210 kB; train-deep's networks have a
 * fixed size): a models folder's files are read whole, so a huge or endless one is refused.
 */
export const MAX_MODEL_FILE_BYTES = 256 * 1024 * 1024;
/** Largest deep.json read (the shipped one is about 3 kB). */
export const MAX_META_FILE_BYTES = 16 * 1024 * 1024;

/** The three files of a models folder. */
export const DEEP_MODEL_FILES = ['h.onnx', 'r.onnx', 'deep.json'] as const;

/**
 * Read the deep watermark's models from a folder holding `h.onnx`, `r.onnx` and `deep.json`
 * (default: the models shipped in the package). Throws a FileError (ERR_FILE) naming the
 * missing file, or a ModelError (ERR_MODEL) when deep.json is not valid.
 * @example
 * import { loadDeepModels, createDeepWatermarker } from 'modelmark/node';
 * const models = await loadDeepModels('./my-models'); // written by modelmark train-deep
 * const deep = await createDeepWatermarker({ models });
 */
export async function loadDeepModels(dir: string = DEFAULT_MODELS_DIR): Promise<DeepModels> {
  if (typeof dir !== 'string' || dir.length === 0) throw invalidParameter('dir', 'the path of a folder with h.onnx, r.onnx and deep.json', dir);
  const folder = resolve(dir);
  const read = async (name: string): Promise<Buffer> => {
    const path = join(folder, name);
    const limit = name === 'deep.json' ? MAX_META_FILE_BYTES : MAX_MODEL_FILE_BYTES;
    try {
      // A device (/dev/zero never ends: read whole, it took all memory), a FIFO or a socket is refused.
      const { bytes } = await readRegularFile(path, {
        maxBytes: limit,
        notRegular: (kind) => new FileError(`Cannot read the deep model file ${JSON.stringify(path)}: it is ${kind}; a models folder holds the regular files ${DEEP_MODEL_FILES.join(', ')} (written by modelmark train-deep).`),
        tooLarge: (size) => new FileError(`Cannot read the deep model file ${JSON.stringify(path)}: it is ${size} bytes, over the limit of ${limit} for ${name} ` +
          `(the package's are about ${name === 'deep.json' ? '3 kB' : '210 kB'}); use the ${DEEP_MODEL_FILES.join(', ')} written by modelmark train-deep.`),
      });
      return bytes;
    } catch (cause) {
      if (cause instanceof FileError) throw cause;
      const code = (cause as NodeJS.ErrnoException).code;
      const hint = code === 'ENOENT'
        ? dir === DEFAULT_MODELS_DIR
          ? `: the package's models are missing (train them with npm run train:deep), or pass the folder of your own models`
          : `: a models folder holds ${DEEP_MODEL_FILES.join(', ')} (written by modelmark train-deep)`
        : '';
      throw new FileError(`Cannot read the deep model file ${JSON.stringify(path)} (${code ?? (cause as Error).message})${hint}.`, { cause });
    }
  };
  const [h, r, json] = await Promise.all(DEEP_MODEL_FILES.map(read));
  let meta: unknown;
  try {
    // A byte-order mark (an editor's) is not part of the JSON.
    meta = JSON.parse(json!.toString('utf8').replace(/^\ufeff/, ''));
  } catch (cause) {
    throw new ModelError(`${JSON.stringify(join(folder, 'deep.json'))} is not valid JSON (${(cause as Error).message}); use the deep.json written with h.onnx and r.onnx by the training.`, { cause });
  }
  checkDeepMeta(meta);
  const bytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return { h: bytes(h!), r: bytes(r!), meta: meta as DeepMeta };
}

/**
 * Create a deep watermarker in Node: as `createDeepWatermarker` from `modelmark/deep`, with
 * `models` read by {@link loadDeepModels} (the package's own) when not given.
 * @example
 * import { createDeepWatermarker, readImage } from 'modelmark/node';
 * const deep = await createDeepWatermarker();
 * const marked = await deep.embed(await readImage('photo.jpg'));
 * console.log((await deep.extract(marked)).found); // true
 */
export async function createDeepWatermarker(options: Partial<DeepWatermarkerOptions> = {}): Promise<DeepWatermarker> {
  if (typeof options !== 'object' || options === null) throw invalidParameter('options', 'an object { models?, logo?, threshold?, ... }', options);
  if (options.models === null) throw invalidParameter('options.models', 'models { h, r, meta } (from loadDeepModels), or left out for the package\'s own', null);
  const models = options.models ?? await loadDeepModels();
  const { createDeepWatermarker: createCore } = await import('../deep/index.js');
  // A logo of another size (e.g. the file the models were trained from) is reduced as train-deep
  // reduced it, so that the trained logo's own file is recognised.
  // Anything that is not a logo image is left to the core, which names what is wrong.
  const logo = options.logo as Partial<Image> | undefined;
  const size = (models as DeepModels)?.meta?.logoSize;
  const data = logo && typeof logo === 'object' ? genuineSamples(logo.data, false) : undefined;
  if (logo && data && typeof size === 'number') {
    const greyAtSize = logo.width === size && logo.height === size && (logo.channels ?? data.length / (size * size)) === 1;
    if (!greyAtSize) return createCore({ ...options, models, logo: { width: size, height: size, channels: 1, data: await reduceLogo({ ...logo, data } as Image, size) } });
  }
  return createCore({ ...options, models });
}

/**
 * A logo image reduced as `modelmark train-deep --logo` reduces it: alpha flattened on black,
 * contained (aspect kept) in a black square of `size` pixels with a Lanczos-3 kernel, grey.
 * @example
 * const logo = await reduceLogo(await readImage('my-logo.png'), 32); // 32 x 32 grey bytes
 */
export async function reduceLogo(img: { width: number; height: number; channels?: number; data: ArrayBufferView }, size: number): Promise<Uint8Array> {
  const expected = 'an 8-bit image { width, height, data, channels? } with 1 to 4 channels, of at most 16 megapixels';
  if (typeof img !== 'object' || img === null) throw invalidParameter('options.logo', expected, img);
  const { width: w, height: h } = img;
  const pixels = w * h;
  const given: PixelData | undefined = genuineSamples(img.data, false) as PixelData | undefined;
  const channels = img.channels ?? (given ? given.length / pixels : NaN);
  // Checked here, or sharp would throw its own untyped errors (or decode a huge raw image).
  if (!Number.isInteger(w) || w <= 0 || !Number.isInteger(h) || h <= 0 || pixels > 16_777_216 || given === undefined ||
    ![1, 2, 3, 4].includes(channels) || given.length !== pixels * channels) {
    throw invalidParameter('options.logo', expected, img);
  }
  const sharp = (await import('./sharp.js')).default();
  const { data, info } = await sharp(new Uint8Array(given.buffer, given.byteOffset, given.byteLength), { raw: { width: w, height: h, channels: channels as 1 | 2 | 3 | 4 } })
    .flatten({ background: '#000000' })
    .resize(size, size, { fit: 'contain', background: '#000000', kernel: 'lanczos3' })
    .grayscale()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const logo = new Uint8Array(size * size);
  for (let i = 0; i < logo.length; i++) logo[i] = data[i * info.channels]!;
  return logo;
}
