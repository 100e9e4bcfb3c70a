// The deep watermark on the command line (loaded by main.ts only for these commands, so that
// onnxruntime-web and tfjs stay out of the classical ones):
//   modelmark embed IN OUT --deep [--models DIR]      hide the models' logo in an image file
//   modelmark extract IN [--out LOGO.png] [--json]    recover it; exit 0 found, 1 not found, 2 error
//   modelmark train-deep --logo L --photos DIR --minutes M   train models for one's own logo
import { promises as fsp, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join, resolve } from 'node:path';
import { invalidParameter } from '../args.js';
import { greyToRgb } from '../image.js';
import { processGone, removePendingTempFiles, removeStaleTempFilesUnder } from '../node/files.js';
import { isClosedPipe, onStopSignals, OUTPUT_CLOSED, reportedOutputErrors } from './signals.js';
import { DecodeError, FileError, ImageSizeError, InvalidArgumentError, ModelError } from '../errors.js';
import type { DeepModels } from '../deep/index.js';
import type { PhaseEvent } from '../train/train.js';
import { inFile, isFolder, keptMetadata, parseInteger, parseNumber, usageError, warnLeftOut, type CliIO } from './main.js';

type Values = Record<string, string | boolean | undefined>;

/** Seconds between two plain progress lines of train-deep when stderr is not a terminal. */
const PLAIN_PROGRESS_S = 10;
/** Seconds between two "progress" JSON lines of train-deep --json (a new stage and the last step are always printed). */
const JSON_PROGRESS_S = 1;
/** Smallest side of a training photo: calibration halves them, and the runner needs 128. */
const MIN_PHOTO_SIDE = 256;
/** How long the package's own models trained (BENCHMARKS.md, "Shipped models"): the scale of a useful run. */
const SHIPPED_TRAINING_MINUTES = 81;
/** Below this --minutes, train-deep says that the marks will be weak. */
const SHORT_RUN_MINUTES = 30;
/** The fine-tuning record train-deep keeps beside its checkpoints (which logo they were made for). */
const RUN_FILE = 'train-deep.json';

const q = (s: string) => JSON.stringify(s);

/** Flags of the classical embed that have no meaning with --deep. */
const CLASSICAL_ONLY = ['key', 'key-file', 'payload', 'strength', 'jobs', 'memory-budget', 'manifest'] as const;

/** The models folder to use: --models DIR (checked to be a folder) or the package's own. */
async function modelsFolder(values: Values): Promise<{ dir: string; models: DeepModels }> {
  const { loadDeepModels, DEFAULT_MODELS_DIR } = await import('../node/deep.js');
  const given = values.models as string | undefined;
  if (given !== undefined) {
    if (given === '') throw usageError('--models is empty; pass the folder holding h.onnx, r.onnx and deep.json');
    const st = await fsp.stat(given).catch(() => null);
    if (!st) throw new FileError(`--models: expected a folder holding h.onnx, r.onnx and deep.json (written by modelmark train-deep), but ${q(given)} does not exist`);
    if (!st.isDirectory()) throw new FileError(`--models: expected a folder holding h.onnx, r.onnx and deep.json, but ${q(given)} is a file`);
  }
  const dir = given ?? DEFAULT_MODELS_DIR;
  return { dir, models: await loadDeepModels(dir) };
}

async function sameFile(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([fsp.stat(a).catch(() => null), fsp.stat(b).catch(() => null)]);
  return sa !== null && sb !== null && sa.dev === sb.dev && sa.ino === sb.ino;
}

/**
 * `modelmark embed IN OUT --deep [--models DIR] [--quality Q] [--strip-metadata] [--max-pixels N] [--json]`.
 * @example
 * process.exitCode = await embedDeep({ deep: true }, ['in.jpg', 'out.jpg'], io);
 */
export async function embedDeep(values: Values, positionals: string[], io: CliIO): Promise<number> {
  if (positionals.length !== 2) {
    throw usageError(`embed --deep takes IN and OUT, got ${positionals.length} argument${positionals.length === 1 ? '' : 's'}`);
  }
  for (const flag of CLASSICAL_ONLY) {
    if (values[flag] !== undefined) {
      throw usageError(`--${flag} is an option of the classical (keyed) mark; --deep embeds the logo of its models and takes no --key, --payload, --strength, --jobs, --memory-budget or --manifest`);
    }
  }
  // The parser takes every embed flag: these two mean nothing here, and were silently ignored.
  if (values['max-aspect'] !== undefined) {
    throw usageError('--max-aspect is an option of the classical mark; --deep has no aspect limit (its networks see the whole image resized to a square)');
  }
  if (values['no-follow-links'] !== undefined) throw usageError('--no-follow-links is for folder runs (IN a folder); --deep takes a single image file');
  const [input, output] = positionals as [string, string];
  if (input === '-' || output === '-' || values.format !== undefined) {
    throw usageError('embed --deep reads and writes files: - (standard input or output) and --format are options of the classical mark');
  }
  const quality = parseInteger('--quality', values.quality as string | undefined, 1, 100);
  const maxPixels = parseInteger('--max-pixels', values['max-pixels'] as string | undefined, 1, Number.MAX_SAFE_INTEGER);
  if (await isFolder(input)) throw usageError(`--deep takes a single image file, and ${q(input)} is a folder`);
  const { checkWritableSize, formatFromPath, isWritableFormat, readImage, writeImage } = await import('../node/io.js');
  const outFormat = formatFromPath(output); // unknown extension: fail before any work
  // Checked again (atomically) when writing; checked here too so that nothing is loaded for nothing.
  if (await sameFile(input, output)) throw new FileError(`Refusing to overwrite the input file ${q(input)} with ${q(output)}: write the output to a different path`);

  const image = await readImage(input, { maxPixels, metadata: values['strip-metadata'] !== true, firstFrame: true });
  if ((image.pages ?? 1) > 1) {
    throw new DecodeError(`${q(input)} is animated (${image.pages} frames): embed --deep marks still images only ` +
      '(the classical mark, without --deep, marks every frame)', { code: 'ERR_ANIMATED' });
  }
  if (!outFormat && !isWritableFormat(image.format)) {
    throw new InvalidArgumentError(`Cannot write ${q(output)} in the input's format (${image.format}); give it a .png, .jpg, .jpeg, .webp, .avif, .tif or .tiff extension`);
  }
  // An image the output format cannot hold (WebP: 16383 pixels a side) is refused before the networks run.
  checkWritableSize(image.width, image.height, outFormat ?? image.format, output);
  const { dir, models } = await modelsFolder(values);
  const { createDeepWatermarker } = await import('../node/deep.js');
  const deep = await createDeepWatermarker({ models, maxPixels });
  let marked, written, raisedFrom: number | undefined;
  try {
    try {
      marked = await deep.embed(image);
    } catch (err) {
      throw inFile(err, input);
    }
    const options = { format: image.format, quality, encoding: image.encoding, sourcePath: input, metadata: image.metadata };
    written = await writeImage(output, marked, options);
    // A JPEG written at its input's own quality (below 95) is read back, as the classical mark's
    // copy is (writeImage's verify): where the logo is not found in it (a small scan or a
    // thumbnail at 75), it is written at 95 instead.
    if (quality === undefined && written.format === 'jpeg' && written.quality !== undefined && written.quality < 95 &&
      !(await deep.extract(await readImage(output, { maxPixels, firstFrame: true }))).found) {
      raisedFrom = written.quality;
      written = await writeImage(output, marked, { ...options, quality: 95 });
    }
  } finally {
    await deep.dispose();
  }
  warnLeftOut(io, q(output), keptMetadata(image.metadata), written);
  if (raisedFrom !== undefined) {
    io.stderr.write(`modelmark: note: ${q(output)}: at the input's JPEG quality ${raisedFrom} the logo was not found in the copy; written at quality ${written.quality} instead\n`);
  }
  const { psnr } = await import('../metrics.js');
  // A grey input comes back RGB (the deep mark is a colour pattern): measured against its RGB form.
  const madeRgb = image.channels === 1 && marked.channels === 3;
  const before = madeRgb ? greyToRgb(image) : image;
  const db = await psnr(before, marked).catch(() => NaN);
  if (values.json) {
    io.stdout.write(JSON.stringify({
      ok: true, mode: 'deep', input, output, models: resolve(dir), format: written.format, width: image.width, height: image.height,
      bytes: written.size, quality: written.quality ?? null, ...(raisedFrom !== undefined ? { qualityRaisedFrom: raisedFrom } : {}), psnr: Number.isFinite(db) ? Math.round(db * 100) / 100 : null, metadata: written.metadata,
      channels: marked.channels,
    }) + '\n');
  } else {
    const qual = written.quality === undefined ? (written.format === 'webp' ? ' lossless' : '') : ` quality ${written.quality}`;
    const fidelity = Number.isFinite(db) ? `, PSNR ${db.toFixed(1)} dB (the marked pixels, before encoding)` : '';
    io.stdout.write(`deep-marked ${input} -> ${output}: the logo of ${dir}, ${image.width}x${image.height} ${written.format.toUpperCase()}${madeRgb ? ' (grey made RGB: the deep mark is a colour pattern)' : ''}${qual}${fidelity}\n`);
  }
  return 0;
}

/** NC to 3 decimals, or more where 3 would read as the threshold itself (0.990 "below" 0.99). */
function ncText(nc: number, threshold: number): string {
  for (let d = 3; d < 8; d++) if (Number(nc.toFixed(d)) !== threshold) return nc.toFixed(d);
  return String(nc);
}

/** A grey image enlarged `scale` times by pixel repetition (nearest). */
function enlarge(img: { width: number; height: number; data: ArrayLike<number> }, scale: number) {
  const w = img.width * scale, h = img.height * scale, data = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    const row = Math.floor(y / scale) * img.width;
    for (let x = 0; x < w; x++) data[y * w + x] = img.data[row + Math.floor(x / scale)]!;
  }
  return { width: w, height: h, channels: 1 as const, data };
}

/**
 * `modelmark extract IN [--out LOGO.png] [--scale N] [--json] [--models DIR] [--threshold T] [--max-pixels N]`:
 * exit 0 when the logo is found (NC at or above the threshold), 1 when not.
 * @example
 * process.exitCode = await extract({ json: true }, ['photo.jpg'], io);
 */
export async function extract(values: Values, positionals: string[], io: CliIO): Promise<number> {
  if (positionals.length !== 1) throw usageError(`extract takes one image IN, got ${positionals.length} arguments`);
  const [input] = positionals as [string];
  const threshold = parseNumber('--threshold', values.threshold as string | undefined, 'a normalised correlation between -1 and 1');
  if (threshold !== undefined && (threshold < -1 || threshold > 1)) throw invalidParameter('--threshold', 'a normalised correlation between -1 and 1', values.threshold);
  const maxPixels = parseInteger('--max-pixels', values['max-pixels'] as string | undefined, 1, Number.MAX_SAFE_INTEGER);
  const outPath = values.out as string | undefined;
  if (outPath === '') throw usageError('--out is empty; pass the path of the PNG to write the extracted logo to');
  if (values.scale !== undefined && outPath === undefined) throw usageError('--scale enlarges the picture written by --out; give --out LOGO.png too');
  const scale = parseInteger('--scale', values.scale as string | undefined, 1, 64) ?? 8;
  if (await isFolder(input)) throw usageError(`extract takes a single image file, and ${q(input)} is a folder`);
  const { formatFromPath, readImage, writeImage } = await import('../node/io.js');
  if (outPath !== undefined) {
    formatFromPath(outPath); // unknown extension: fail before any work
    if (await sameFile(input, outPath)) throw new FileError(`Refusing to overwrite the input file ${q(input)} with ${q(outPath)}: write the logo to a different path`);
  }

  // ICC-profiled colours as they are stored (no transform to sRGB), as embed --deep marked them.
  const image = await readImage(input, { maxPixels, metadata: true, firstFrame: true });
  const { dir, models } = await modelsFolder(values);
  const { createDeepWatermarker } = await import('../node/deep.js');
  const deep = await createDeepWatermarker({ models, threshold, maxPixels });
  let r;
  try {
    r = await deep.extract(image);
  } catch (err) {
    throw inFile(err, input);
  } finally {
    await deep.dispose();
  }
  let written: { path: string; width: number; height: number } | undefined;
  if (outPath !== undefined) {
    const big = enlarge(r.logo, scale);
    await writeImage(outPath, big, { format: 'png', sourcePath: input });
    written = { path: outPath, width: big.width, height: big.height };
  }
  const nc = Math.round(r.nc * 1e4) / 1e4;
  if (values.json) {
    io.stdout.write(JSON.stringify({
      found: r.found, nc, threshold: r.threshold, file: input, width: image.width, height: image.height, format: image.format,
      models: resolve(dir), logoSize: r.logo.width, ...(written ? { out: written.path, outWidth: written.width, outHeight: written.height } : {}),
    }) + '\n');
  } else {
    const saved = written ? `; logo written to ${written.path} (${written.width}x${written.height})` : '';
    io.stdout.write(r.found
      ? `found: the deep mark's logo in ${input} (NC ${ncText(r.nc, r.threshold)}, threshold ${r.threshold})${saved}\n`
      : `not found: no deep mark of these models in ${input} (NC ${ncText(r.nc, r.threshold)}, below the threshold ${r.threshold})${saved}\n`);
  }
  return r.found ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// train-deep

/** The part of cli-progress train-deep uses (it ships no type declarations). */
interface Bar { update(value: number, payload?: Record<string, unknown>): void }
interface MultiBar { create(total: number, start: number, payload?: Record<string, unknown>): Bar; log(text: string): void; update(): void; stop(): void }
interface CliProgress { MultiBar: new (options: Record<string, unknown>, preset?: unknown) => MultiBar; Presets: Record<string, unknown> }

/** "1h02m", "4m05s", "9s". */
function duration(s: number): string {
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), sec = t % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

/**
 * The logo for training: decoded (any format sharp reads), transparent parts on black, contained
 * in LOGO × LOGO on black and converted to grey. Bright is ink.
 */
/** Most photos a training run holds (about 15 MB each): larger folders are sampled. */
const MAX_TRAIN_PHOTOS = 200;

/** Largest logo train-deep decodes (16 megapixels). */
const LOGO_MAX_PIXELS = 16_777_216;

async function readLogo(path: string, size: number, io: CliIO): Promise<Uint8Array> {
  const { readImage } = await import('../node/io.js');
  const img = await readImage(path, { maxPixels: LOGO_MAX_PIXELS, firstFrame: true }).catch((err: Error & { code?: string }) => {
    // readImage's message offers --max-pixels, which train-deep does not take: a logo is reduced
    // to 32x32 anyway, so a smaller copy loses nothing.
    if (err.code === 'ERR_IMAGE_TOO_LARGE') {
      throw new ImageSizeError('ERR_IMAGE_TOO_LARGE', `--logo: ${err.message.replace(/;.*$/s, '')}; a logo is reduced to ${size}x${size}, so give a smaller copy of it (e.g. 512x512)`);
    }
    throw err;
  });
  // The same reduction createDeepWatermarker's logo option applies in Node.
  const { reduceLogo } = await import('../node/deep.js');
  const logo = await reduceLogo(img, size);
  let min = 255, max = 0, sum = 0;
  for (const v of logo) { min = Math.min(min, v); max = Math.max(max, v); sum += v; }
  if (max - min < 32) {
    throw new InvalidArgumentError(`Expected a logo with bright ink on a dark (or transparent) background for --logo but ${q(path)} reduced to ${size}x${size} grey is nearly uniform (grey levels ${min} to ${max})`);
  }
  if (sum / logo.length > 160) {
    io.stderr.write(`modelmark: note: the logo ${q(path)} is mostly bright once reduced to ${size}x${size}, and bright is ink: for a dark logo on a light background, invert it first\n`);
  }
  return logo;
}

/** The lock file of a checkpoint folder in use: the process id of the train-deep holding it. */
const LOCK_FILE = 'train-deep.lock';

/**
 * Takes the checkpoint folder for this process, or refuses when another live train-deep holds it
 * (a lock left by one that was killed is taken over). Returns the function that releases it.
 */
async function lockWork(work: string): Promise<() => void> {
  const path = join(work, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      await fsp.writeFile(path, `${process.pid}\n`, { flag: 'wx' });
      let released = false;
      return () => {
        if (released) return;
        released = true;
        try { unlinkSync(path); } catch { /* removed already */ }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) {
        throw new FileError(`Cannot lock the checkpoint folder ${q(work)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
      }
      const pid = Number((await fsp.readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !processGone(pid)) {
        throw usageError(`another train-deep (process ${pid}) is training in ${q(work)}; wait for it to finish (or stop it), or pass another --work (or --out) folder (if process ${pid} is not a train-deep, remove ${q(path)})`);
      }
      await fsp.rm(path, { force: true }); // left by a run that was killed: taken over
    }
  }
}

/** The weights of an existing models folder, for fine-tuning (--init). */
async function initWeights(dir: string) {
  const [{ buildH, buildR }, { readOnnxWeights }] = await Promise.all([import('../deep/spec.js'), import('../train/onnx-import.js')]);
  const read = async (name: 'h.onnx' | 'r.onnx') => {
    const path = join(dir, name);
    let bytes: Buffer;
    try {
      bytes = await fsp.readFile(path);
    } catch (cause) {
      throw new FileError(`--init: cannot read ${q(path)} (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}); pass a models folder written by modelmark train-deep, or --init none to train from scratch`, { cause });
    }
    try {
      return readOnnxWeights(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), name === 'h.onnx' ? buildH() : buildR());
    } catch (cause) {
      throw new ModelError(`--init: ${q(path)} cannot be used to start from: ${(cause as Error).message}; pass a models folder written by modelmark train-deep, or --init none`, { cause });
    }
  };
  return { h: await read('h.onnx'), r: await read('r.onnx') };
}

/**
 * The training packages, optional peers of modelmark (only train-deep uses them; most users never
 * install their 300 MB): refused with the command to install them when they are missing.
 */
async function requireTrainingPackages(): Promise<void> {
  const missing: string[] = [];
  for (const name of TRAINING_PACKAGES) {
    try {
      import.meta.resolve(name);
    } catch {
      missing.push(name);
    }
  }
  if (missing.length > 0) {
    throw usageError(`train-deep needs the training packages, which modelmark does not install by default (${missing.join(', ')} missing): ` +
      `npm install ${TRAINING_PACKAGES.map((n) => `${n}@${TRAINING_VERSIONS[n]}`).join(' ')}`);
  }
}

const TRAINING_PACKAGES = ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', 'protobufjs'] as const;
const TRAINING_VERSIONS: Record<(typeof TRAINING_PACKAGES)[number], string> = { '@tensorflow/tfjs': '4', '@tensorflow/tfjs-backend-wasm': '4', protobufjs: '8' };

/**
 * `modelmark train-deep --logo LOGO --photos DIR --minutes M [--out DIR] [--work DIR] [--seed N]
 * [--init DIR|none] [--json]`: train (or resume training) H and R for a logo and write a models
 * folder for `--models`.
 * @example
 * process.exitCode = await trainDeepCommand({ logo: 'logo.png', photos: 'photos', minutes: '30' }, [], io);
 */
export async function trainDeepCommand(values: Values, positionals: string[], io: CliIO): Promise<number> {
  if (positionals.length !== 0) throw usageError(`train-deep takes no positional arguments (got ${positionals.map(q).join(' ')}); use --logo, --photos and --minutes`);
  await requireTrainingPackages();
  const logoPath = values.logo as string | undefined;
  const photos = values.photos as string | undefined;
  if (!logoPath) throw usageError('train-deep needs --logo LOGO.png, the logo to hide (bright ink on a dark or transparent background)');
  if (!photos) throw usageError('train-deep needs --photos DIR, a folder of at least 2 photos (JPEG, PNG, WebP, TIFF; at least 256x256) to train on');
  if (values.minutes === undefined) throw usageError('train-deep needs --minutes M, the training time in minutes (e.g. 60)');
  const minutes = parseNumber('--minutes', values.minutes as string, 'a number of minutes above 0 (at most 10080, a week)')!;
  if (!(minutes > 0 && minutes <= 10080)) throw invalidParameter('--minutes', 'a number of minutes above 0 (at most 10080, a week)', values.minutes);
  const givenSeed = parseInteger('--seed', values.seed as string | undefined, 0, 2 ** 31 - 1);
  const out = resolve((values.out as string | undefined) || 'modelmark-models');
  const work = resolve((values.work as string | undefined) || join(out, '.checkpoints'));
  // What --work holds: the record of the run its checkpoints belong to, and the last checkpoint.
  const run = await fsp.readFile(join(work, RUN_FILE), 'utf8').then((t) => JSON.parse(t) as { logo?: string; photos?: string; seed?: number }).catch(() => null);
  // Read whole (and checked) before any work: a damaged one is an error naming the folder, not
  // a fresh start announced and then a raw parse error once the photos are loaded.
  const ck = await import('../train/train.js').then(({ loadCheckpoint }) => loadCheckpoint(work))
    .then((c) => (c ? { step: c.step, elapsedS: c.elapsedS, seed: c.seed } : null));
  // Resuming goes on with the seed the checkpoints were made with (the photo sample and the data
  // stream follow it): a rerun without --seed takes it, one with another --seed is refused rather
  // than mixing two seeds' streams in one model.
  const recorded = ck ? (typeof run?.seed === 'number' ? run.seed : typeof ck.seed === 'number' ? ck.seed : undefined) : undefined;
  if (givenSeed !== undefined && recorded !== undefined && givenSeed !== recorded) {
    throw usageError(`the checkpoints in ${q(work)} were made with --seed ${recorded}; rerun with --seed ${recorded} (or without --seed) to resume them, or pass another --work (or --out) folder to start a run with --seed ${givenSeed}`);
  }
  const seed = givenSeed ?? recorded ?? 1;

  // The photos: a folder with at least 2 images whose headers decode.
  const photosDir = resolve(photos);
  const st = await fsp.stat(photosDir).catch(() => null);
  if (!st?.isDirectory()) throw new FileError(`--photos: expected a folder of photos, but ${q(photos)} ${st ? 'is a file' : 'does not exist'}`);
  // Compared by real path: a link to the photos folder (or the folder through a link) is that folder.
  const real = (p: string) => fsp.realpath(p).catch(() => p);
  const [realPhotos, realOut, realWork] = await Promise.all([real(photosDir), real(out), real(work)]);
  if (realOut === realPhotos || realWork === realPhotos) throw usageError(`--${realOut === realPhotos ? 'out' : 'work'} may not be the --photos folder ${q(photos)}: the models' logo.png would become a training photo`);
  const [{ listPhotos }, sharp] = await Promise.all([import('../train/data.js'), import('sharp').then((m) => m.default)]);
  // A user's folder: every photo trains (the project's held-out list is for its own measurements).
  const { train: listed } = await listPhotos(photosDir, false);
  const { DecodeError } = await import('../errors.js');
  // Photos under MIN_PHOTO_SIDE are left out (and named); a file that does not decode stops the
  // command, since it is more likely a damaged photo the user meant to train on.
  const files: string[] = [], small: string[] = [];
  for (const f of listed) {
    const meta = await sharp(f).metadata().catch((cause: Error) => { throw new DecodeError(`--photos: cannot decode ${q(f)} (${cause.message}); remove it from the folder or replace it`, { cause }); });
    if (!meta.width || !meta.height) throw new DecodeError(`--photos: cannot read the size of ${q(f)}; remove it from the folder or replace it`);
    if (Math.min(meta.width, meta.height) < MIN_PHOTO_SIDE) small.push(`${basename(f)} (${meta.width}x${meta.height})`);
    else files.push(f);
  }
  if (small.length > 0) {
    io.stderr.write(`modelmark: leaving out ${small.length} photo${small.length === 1 ? '' : 's'} under ${MIN_PHOTO_SIDE}x${MIN_PHOTO_SIDE} ` +
      `(the threshold is calibrated on half-size copies too): ${small.join(', ')}\n`);
  }
  // Training holds every photo in memory (about 15 MB each over both stages): a large folder is
  // sampled (by --seed), so that 5,000 photos do not need 75 GB.
  if (files.length > MAX_TRAIN_PHOTOS) {
    const { rng } = await import('../random.js');
    const rand = rng(seed);
    for (let i = files.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [files[i], files[j]] = [files[j]!, files[i]!];
    }
    const n = files.length;
    files.length = MAX_TRAIN_PHOTOS;
    files.sort();
    io.stderr.write(`modelmark: training on ${MAX_TRAIN_PHOTOS} of the ${n} photos, sampled by --seed (each takes about 15 MB of memory while training)\n`);
  }
  if (files.length < 2) {
    throw new InvalidArgumentError(`Expected a folder with at least 2 photos (.jpg, .jpeg, .png, .webp, .tif, .tiff) of at least ${MIN_PHOTO_SIDE}x${MIN_PHOTO_SIDE} pixels for --photos but ${q(photos)} has ${files.length}` +
      (small.length > 0 ? ` (and ${small.length} smaller, left out)` : ''));
  }

  const { LOGO } = await import('../train/train.js');
  const logo = await readLogo(logoPath, LOGO, io);
  const logoB64 = Buffer.from(logo).toString('base64');

  // The models folder: never the package's own (nor the folder training starts from), and never
  // an existing models folder made for another logo unless its checkpoints are resumed here.
  {
    const { DEFAULT_MODELS_DIR } = await import('../node/deep.js');
    const same = async (a: string, b: string) => (await sameFile(a, b)) || resolve(a) === resolve(b);
    if (await same(out, DEFAULT_MODELS_DIR)) throw usageError(`--out ${q(out)} is the package's own models folder; write your models to another folder`);
    if (typeof values.init === 'string' && values.init !== 'none' && await same(out, values.init)) throw usageError(`--out may not be the --init folder ${q(values.init)}`);
  }
  const existing = await fsp.readFile(join(out, 'deep.json'), 'utf8').then((t) => JSON.parse(t) as { logo?: string }).catch(() => null);

  // Resuming: the checkpoints in --work must have been made for this logo.
  const note = (line: string) => io.stderr.write(`modelmark: ${line}\n`);
  if (existing && existing.logo !== logoB64 && !(ck && run?.logo === logoB64)) {
    throw usageError(`${q(out)} already holds models for another logo; pass another --out folder (or remove that one) rather than overwrite them`);
  }
  if (ck && !run) throw usageError(`${q(work)} holds checkpoints without a train-deep record (not made by train-deep); pass another --work folder`);
  if (ck && run && run.logo !== logoB64) {
    throw usageError(`the checkpoints in ${q(work)} were made for another logo; pass another --work (or --out) folder, or delete that one to start over`);
  }

  // Where to start from when there is no checkpoint: --init DIR, none, or the package's models.
  let initFrom: Awaited<ReturnType<typeof initWeights>> | undefined;
  let initFromDir: string | undefined;
  const init = values.init as string | undefined;
  if (init === '') throw usageError('--init is empty; pass a models folder to start from, or none');
  if (ck) {
    note(`resuming from the checkpoint in ${work} (step ${ck.step ?? '?'}, ${duration(ck.elapsedS ?? 0)} of ${duration(minutes * 60)} trained, --seed ${seed})` +
      (init !== undefined ? '; --init is not used when resuming' : ''));
    if (run?.photos && resolve(run.photos) !== resolve(photosDir)) {
      note(`these checkpoints were trained on ${q(run.photos)}; training goes on with ${q(photosDir)} (and the threshold is calibrated on it)`);
    }
    if ((ck.elapsedS ?? 0) >= minutes * 60) note(`that checkpoint has already trained for --minutes ${minutes}: exporting it (raise --minutes to train longer)`);
  } else if (init !== undefined && init.toLowerCase() === 'none') {
    note('training from scratch (--init none): expect hours rather than minutes for a usable model');
  } else {
    const { DEFAULT_MODELS_DIR } = await import('../node/deep.js');
    if (init !== undefined) {
      const s = await fsp.stat(init).catch(() => null);
      if (!s?.isDirectory()) throw new FileError(`--init: expected a models folder (h.onnx, r.onnx) or none, but ${q(init)} ${s ? 'is a file' : 'does not exist'}`);
      initFromDir = resolve(init);
    } else if (await fsp.stat(join(DEFAULT_MODELS_DIR, 'h.onnx')).then(() => true, () => false)) {
      initFromDir = DEFAULT_MODELS_DIR;
    } else {
      note(`the package's models (${DEFAULT_MODELS_DIR}) are not there to start from: training from scratch`);
    }
    if (initFromDir) {
      initFrom = await initWeights(initFromDir);
      note(`fine-tuning the models in ${initFromDir} for this logo`);
    }
  }
  await fsp.mkdir(work, { recursive: true }).catch((cause: NodeJS.ErrnoException) => {
    throw new FileError(`Cannot create the checkpoint folder ${q(work)} (${cause.code ?? cause.message}): --out and --work must be folders (or paths that can become folders)`, { cause });
  });
  // One run at a time in a checkpoint folder: two would overwrite each other's checkpoints
  // (and delete each other's blobs), mixing two trainings in one model.
  const releaseLock = await lockWork(work);
  // A run killed (SIGKILL, power loss) while writing a checkpoint leaves its temporary file
  // (up to 2 MB each time): removed here, now that no live run uses the folder.
  const swept = removeStaleTempFilesUnder(work);
  if (swept > 0) note(`removed ${swept} temporary file${swept === 1 ? '' : 's'} left in ${work} by a run that was killed while writing`);
  const unlocked = (err: unknown) => { releaseLock(); throw err; };
  if (!run || run.logo !== logoB64) {
    const { writeFileAtomic } = await import('../node/files.js');
    await writeFileAtomic(join(work, RUN_FILE), JSON.stringify({ logo: logoB64, logoFile: resolve(logoPath), photos: photosDir, seed, init: initFromDir ?? null }) + '\n').catch(unlocked);
  }
  note(`training on ${files.length} photos from ${photosDir} for ${duration(minutes * 60)} (checkpoints in ${work}, every 3 minutes; rerun the same command to resume)`);
  // --json: as a folder batch's records, one JSON object per line on standard output while the
  // run goes on ("start", "progress", "phase", "stopping", each with an "event" field), and the
  // summary (no "event" field) always last. The human lines stay on standard error.
  const json = values.json === true;
  let ended = false; // the summary is written (or being written by a quit), or stdout failed: nothing after it
  // Ctrl-C (SIGINT), SIGTERM, SIGHUP, or standard output that cannot be written (below): finish
  // the step, write a checkpoint, exit 130/143/129 (141/2); a second signal quits at once.
  const abort = new AbortController();
  let exitStatus = 0;
  let stopSignal: string | undefined;
  // As a folder batch: standard output closed by its reader (`| head -1`, a UI that went away)
  // stops the run quietly with 141 (128 + SIGPIPE), any other write error (a full disk) says so
  // and stops it with 2; either way after the current step, with a checkpoint (rerun to resume).
  let outputError: Error | undefined;
  const outputFailed = (err?: Error | null) => {
    if (!err || outputError) return;
    outputError = err;
    reportedOutputErrors.add(err);
    ended = true;
    if (abort.signal.aborted) return; // stopping already (a signal): its status stands
    exitStatus = isClosedPipe(err) ? OUTPUT_CLOSED : 2;
    if (exitStatus === 2) note(`cannot write to standard output: ${err.message}; stopping after the current step, with a checkpoint`);
    abort.abort();
  };
  const event = (e: Record<string, unknown>) => { if (json && !ended) io.stdout.write(JSON.stringify(e) + '\n', outputFailed); };
  const summaryLine = (e: Record<string, unknown>) => {
    if (ended) return;
    ended = true;
    io.stdout.write(JSON.stringify(e) + '\n');
  };
  if (minutes < SHORT_RUN_MINUTES && !ck) {
    note(`--minutes ${minutes} is a short run: expect weak marks (the package's own models trained ${SHIPPED_TRAINING_MINUTES} minutes on one core)`);
  }

  // Progress: with --json, JSON lines on standard output (no bar, as a folder batch); otherwise a
  // bar on a terminal, or a plain line every PLAIN_PROGRESS_S seconds on standard error.
  const tty = !json && io.stderr.isTTY === true;
  let multibar: MultiBar | undefined;
  let bar: Bar | undefined;
  let lastLine = -Infinity;
  let lastEvent = -Infinity, lastStage = 0, lastStep = -1;
  /** Where the run is, for a "stopping" line and a quit's summary. */
  let calibrating = false;
  const payload = (p: { stage: number; step: number; psnr: number; nc: number; ncClean: number; etaS: number }) => {
    // A resumed run that had nothing left to train reports no measurement (all zeros).
    const measured = p.psnr !== 0 || p.nc !== 0 || p.ncClean !== 0;
    return {
      stage: p.stage, step: p.step, psnr: measured ? p.psnr.toFixed(1) : '-', nc: measured ? p.nc.toFixed(3) : '-',
      clean: measured ? p.ncClean.toFixed(3) : '-', left: duration(p.etaS),
    };
  };
  if (tty) {
    const { MultiBar: Bars, Presets } = createRequire(import.meta.url)('cli-progress') as CliProgress;
    multibar = new Bars({
      stream: io.stderr, hideCursor: true, gracefulExit: false, clearOnComplete: false, fps: 4,
      format: 'train-deep {bar} {percentage}% | stage {stage} step {step} | PSNR {psnr} dB | NC {nc} (clean {clean}) | ETA {left}',
    }, Presets.shades_classic);
    bar = multibar.create(Math.round(minutes * 60), 0, { stage: 1, step: 0, psnr: '-', nc: '-', clean: '-', left: duration(minutes * 60) });
  }
  const log = (line: string, phase?: PhaseEvent) => {
    if (multibar) multibar.log(`modelmark: ${line}\n`);
    else note(line);
    if (phase?.phase === 'calibrating') calibrating = true;
    if (phase) event({ event: 'phase', ...phase, message: line });
  };
  const { trainAndExport } = await import('../train/pipeline.js').catch(unlocked);
  const started = performance.now();
  // The command line's own handlers (bin/: remove temporary files and exit) are set aside for
  // the run and put back after it, so that a caller of main() keeps its handlers.
  const removeSignals = onStopSignals((signal, code) => {
    exitStatus = code;
    stopSignal = signal;
    const line = `${signal}: stopping after the current step (or calibration photo), with a checkpoint (again to quit at once)`;
    log(line);
    event({ event: 'stopping', signal, calibrating, message: line });
    abort.abort();
  }, () => {
    // The second one: quit now, leaving no temporary file of a write in progress.
    if (multibar) multibar.stop();
    removePendingTempFiles();
    releaseLock();
    if (!json || ended) process.exit(exitStatus);
    // --json ends with the summary line here too (nothing was written by this stop); nothing
    // the run would still print comes after it.
    ended = true;
    io.stdout.write(JSON.stringify({
      ok: false, interrupted: true, signal: stopSignal ?? null, out, work, calibrating, checkpointed: false, steps: null, elapsedS: null, quit: true,
    }) + '\n', () => process.exit(exitStatus));
    setTimeout(() => process.exit(exitStatus), 1000); // a reader that takes nothing more
  }, { setAside: true });
  // Printed once the signals are handled as above: from this line on, a signal stops the run with a summary line.
  event({
    event: 'start', photos: files.length, totalS: Math.round(minutes * 60), seed, out, work, init: initFromDir ?? null,
    resumed: ck ? { step: ck.step ?? null, elapsedS: ck.elapsedS === undefined ? null : Math.round(ck.elapsedS) } : null,
  });
  let result;
  try {
    result = await trainAndExport({
      photos: photosDir, files, out, work, minutes, seed, logo, holdOut: false, initFrom,
      onProgress: (p) => {
        if (bar) {
          bar.update(Math.min(Math.round(p.elapsedS), Math.round(p.totalS)), payload(p));
          return;
        }
        if (json) {
          const now = performance.now() / 1000;
          // Steps only increase: the end's report of a step already printed is not printed again.
          if (p.step === lastStep || (now - lastEvent < JSON_PROGRESS_S && p.stage === lastStage && p.elapsedS < p.totalS)) return;
          lastEvent = now;
          lastStage = p.stage;
          lastStep = p.step;
          // A resumed run that had nothing left to train reports no measurement (all zeros): null.
          const measured = p.psnr !== 0 || p.nc !== 0 || p.ncClean !== 0;
          const r = (v: number, d: number) => (measured ? Number(v.toFixed(d)) : null);
          event({
            event: 'progress', stage: p.stage, step: p.step, elapsedS: Number(p.elapsedS.toFixed(1)), totalS: Number(p.totalS.toFixed(1)),
            etaS: Number(p.etaS.toFixed(1)), percent: Math.min(100, Math.floor(100 * p.elapsedS / p.totalS)),
            psnr: r(p.psnr, 2), nc: r(p.nc, 4), ncClean: r(p.ncClean, 4),
          });
          return;
        }
        const now = performance.now() / 1000;
        if (now - lastLine < PLAIN_PROGRESS_S && p.elapsedS < p.totalS) return;
        lastLine = now;
        const v = payload(p);
        note(`train-deep: stage ${v.stage} step ${v.step}, ${duration(p.elapsedS)} of ${duration(p.totalS)} (${Math.min(100, Math.floor(100 * p.elapsedS / p.totalS))}%), ` +
          `PSNR ${v.psnr} dB, NC ${v.nc} (clean ${v.clean}), ETA ${v.left}`);
      },
      onLog: log,
      signal: abort.signal,
    });
  } finally {
    if (multibar) { multibar.update(); multibar.stop(); }
    removeSignals();
    releaseLock();
  }
  const stopped = result.summary as { interrupted?: boolean; checkpointed?: boolean; calibrating?: boolean; steps?: number };
  if (stopped.interrupted) {
    if (stopped.calibrating) {
      note(`interrupted during calibration, after training: the trained checkpoint is in ${work} and ${q(out)} is left as it was; rerun the same command to calibrate and write the models`);
    } else if (stopped.checkpointed === false) {
      // Stopped while the photos were loading: no step was taken, so nothing new was written.
      note(ck
        ? `interrupted before training went on: the checkpoint in ${work} (step ${ck.step ?? '?'}) is unchanged; rerun the same command to resume`
        : 'interrupted before the first training step: no checkpoint was written; rerun the same command to start again');
    } else {
      note(`interrupted; checkpoint written to ${work} (step ${stopped.steps ?? '?'}): rerun the same command to resume`);
    }
    // --json ends with the summary line, an interruption included (as a folder batch's summary).
    if (json) {
      summaryLine({
        ok: false, interrupted: true, signal: stopSignal ?? null, out, work, calibrating: stopped.calibrating === true,
        checkpointed: stopped.checkpointed !== false, steps: stopped.steps ?? null, elapsedS: (stopped as { elapsedS?: number }).elapsedS ?? null,
      });
    }
    return exitStatus;
  }
  // A signal after the last calibration photo: the models are written all the same.
  if (abort.signal.aborted) note('the signal came as the models were being written: finished, and the models written');
  const s = result.summary as { steps?: number; trainPsnr?: number; trainNc?: number; threshold?: number; markedSamples?: number | null; markedBelowThreshold?: number | null };
  const seconds = (performance.now() - started) / 1000;
  // Models whose own marked calibration images mostly fall under the threshold are not usable yet.
  const total = s.markedSamples ?? 0, below = s.markedBelowThreshold ?? 0;
  if (total > 0 && below > total / 2) {
    note(`warning: ${below} of ${total} marked calibration images fall below the threshold ${s.threshold}: these models' marks would mostly not be found; train longer (a larger --minutes resumes this run, stage 2 only; ` +
      `for a model as good as the package's, which trained ${SHIPPED_TRAINING_MINUTES} minutes on one core, give a new run an hour or more)`);
  }
  if (json) {
    summaryLine({ ok: true, out, work, logo: resolve(logoPath), photos: files.length, init: initFromDir ?? null, seconds: Math.round(seconds), ...result.summary });
  } else {
    io.stdout.write(`models written to ${out} (h.onnx, r.onnx, deep.json, logo.png) after ${s.steps ?? '?'} steps: ` +
      `training PSNR ${s.trainPsnr ? s.trainPsnr : '-'} dB, NC ${s.trainNc ? s.trainNc : '-'}, threshold ${s.threshold ?? '?'}; ` +
      `use them with modelmark embed IN OUT --deep --models ${q(out)} and modelmark extract IN --models ${q(out)}\n`);
  }
  return 0;
}
