// The piscina worker of modelmark's folder batches (src/node/batch.ts): each worker thread
// creates its watermarker once, from the options in piscina's workerData, then embeds or detects
// one file per task. Failures come back as values ({ status: 'error', error: { code, message } }),
// never as exceptions, so that one bad file cannot stop a batch and its code survives the thread
// boundary.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname, relative, join, sep } from 'node:path';
// piscina hands its workerData option to each worker as node's own: no need to load piscina here.
import { threadId, workerData, type MessagePort } from 'node:worker_threads';
import loadSharp from './sharp.js';
import { FileError, inFile, ModelmarkError } from '../errors.js';
import { createWatermarker, DEFAULT_MAX_PIXELS, type Evidence, type Watermarker } from '../index.js'; // the default entry: kernels built in
import { decodeAdmitted, fileTooLarge, maxFileBytes, raisedQualityNote, writeImage } from './io.js';
import { detectFile, markFile, MAX_DETECT_FRAMES, type FramesRead } from './frames.js';
import { folderId, hashRegularFile, outside, readRegularFile, type RegularFileOptions } from './files.js';
import { EARLY_FILE_BYTES, taskBytes, type GateRequest } from './gate.js';
import type { BatchPiece } from './batch.js';

/** What every worker of a batch is created with (piscina's workerData). */
export interface BatchWorkerData {
  command: 'embed' | 'detect';
  key: string | Uint8Array;
  /** embed: 16 hex digits. */
  payload?: string;
  strength?: number;
  quality?: number;
  /** embed: keep the inputs' EXIF, ICC profile and XMP. */
  keepMetadata?: boolean;
  threshold?: number;
  /** detect: also look for a marked piece inside each image. */
  pieces?: boolean | 'all';
  maxPixels?: number;
  maxAspect?: number;
  /** embed: the real path of the output folder; outputs must resolve inside it. */
  outputRoot?: string;
  /** embed: the output folder's identity when the batch began (`dev:ino`), to notice it removed or replaced. */
  outputRootId?: string;
  /** false: inputs are opened without following a symbolic link (see BatchOptions.followLinks). */
  followLinks?: boolean;
}

/** One file to process. */
export interface BatchTask {
  /** Absolute path of the input. */
  input: string;
  /** embed: absolute path of the output. */
  output?: string;
  /** Skip the file when its SHA-256 is this (and, for embed, the output still has this size). */
  skipIfHash?: string;
  skipIfOutputSize?: number;
  /**
   * The batch's memory gate (src/node/gate.ts), in the main thread: the task posts it a
   * GateRequest once the header is read, and decodes when the answer comes (a file over
   * EARLY_FILE_BYTES also posts one with its size before it is read, and reads when the answer
   * comes). Transferred with
   * the task; closed when the task ends. The memory is given back when the task settles.
   */
  gate?: MessagePort;
}

/** A task's outcome. */
export type BatchTaskResult =
  | { status: 'skipped'; hash: string }
  | { status: 'done'; hash: string; ms: number; width: number; height: number; format: string; warnings?: string[];
      /** embed */ bytes?: number;
      /** detect */ found?: boolean; payload?: string | null; pValue?: number; score?: number; crcOk?: boolean; frames?: FramesRead; pieces?: BatchPiece[];
      /** detect: the file's evidence for pooling (rounded to 4 decimals), see combineEvidence. */ evidence?: Evidence }
  | { status: 'error'; hash?: string; error: { code: string; message: string };
      /** Every later file would fail the same way (the output disk full, read-only, the output folder gone): stop the batch. */
      stop?: boolean }
  /** The batch stopped before the gate admitted this file: not started, left pending. */
  | { status: 'cancelled' };

/** The gate's answer to a file the stopped batch will not start (see BatchTaskResult's 'cancelled'). */
class NotStarted extends Error {}

/** OS errors of a write that every later write of the batch would meet too. */
const STOP_CODES = new Set(['ENOSPC', 'EDQUOT', 'EROFS']);
/** Marks an error that stops the batch (see BatchTaskResult's `stop`). */
const STOPS = Symbol('modelmark.batchStop');

/** Whether `err`, or an error it wraps, is one every later file of the batch would meet. */
function stopsBatch(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown; [STOPS]?: boolean } | undefined, depth = 0; e && depth < 8; e = e.cause as typeof e, depth++) {
    if (e[STOPS] || (typeof e.code === 'string' && STOP_CODES.has(e.code))) return true;
  }
  return false;
}

const data = workerData as BatchWorkerData;
const sharp = loadSharp(); // every worker decodes: loaded now, before its first file
// One libvips thread per worker: the pool already runs one worker per core, and more threads
// per image only contend with the other workers (see bench/batch.mjs).
sharp.concurrency(1);

let watermarker: Promise<Watermarker> | undefined;
function getWatermarker(): Promise<Watermarker> {
  watermarker ??= createWatermarker({ key: data.key, strength: data.strength, threshold: data.threshold, maxPixels: data.maxPixels, maxAspect: data.maxAspect });
  return watermarker;
}
// Start now, while the pool's other workers start and the main thread lists the files.
getWatermarker().catch(() => {});

function toError(err: unknown): { code: string; message: string } {
  const code = err instanceof ModelmarkError ? err.code
    : typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : 'ERR_INTERNAL';
  return { code, message: err instanceof Error ? err.message : String(err) };
}

async function sizeOrNull(path: string): Promise<number | null> {
  try {
    const s = await fsp.lstat(path);
    return s.isFile() ? s.size : null;
  } catch {
    return null;
  }
}

/** The batch's output folder is gone or is another folder now: nothing more is written. */
function outputFolderGone(root: string, err?: unknown): FileError {
  const e = new FileError(`The output folder ${JSON.stringify(root)} was removed or replaced during the batch; stopping it (no file is written outside the folder it began with)`, err === undefined ? undefined : { cause: err });
  return Object.assign(e, { [STOPS]: true });
}

/**
 * Make the output's folder inside the output folder, which must still be the one the batch began
 * with (a folder removed mid-run is not silently made again, nor one put in its place used), and
 * refuse outputs that a symbolic link would send outside it (e.g. onto an input).
 */
async function checkOutput(output: string): Promise<void> {
  const root = data.outputRoot!;
  const rootStat = await fsp.stat(root).catch(() => null);
  if (!rootStat?.isDirectory() || (data.outputRootId !== undefined && folderId(rootStat) !== data.outputRootId)) throw outputFolderGone(root);
  // One level at a time below the root: a recursive mkdir would make the root again if it went
  // away since the check above.
  let dir = root;
  for (const part of relative(root, dirname(output)).split(sep).filter((p) => p !== '')) {
    dir = join(dir, part);
    try {
      await fsp.mkdir(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      if (code === 'ENOENT') throw outputFolderGone(root, err);
      throw new FileError(`Cannot create the folder of ${JSON.stringify(output)}: ${(err as Error).message}`, { cause: err });
    }
  }
  const real = await fsp.realpath(dirname(output)).catch((err) => {
    throw new FileError(`Cannot create the folder of ${JSON.stringify(output)}: ${(err as Error).message}`, { cause: err });
  });
  if (outside(root, real)) {
    throw new FileError(`Refusing to write ${JSON.stringify(output)}: its folder resolves to ${JSON.stringify(real)}, outside the output folder (a symbolic link?)`);
  }
  const st = await fsp.lstat(output).catch(() => null);
  if (st?.isSymbolicLink()) throw new FileError(`Refusing to write ${JSON.stringify(output)}: it is a symbolic link`);
}

/**
 * Process one file of a batch (the piscina task function).
 * @example
 * // In the pool: await pool.run({ input: '/in/a.jpg', output: '/out/a.jpg' });
 */
export default async function run(task: BatchTask): Promise<BatchTaskResult> {
  const start = performance.now();
  let hash: string | undefined;
  let fileBytes = 0;
  const port = task.gate;
  // Waits for the batch's gate to admit `bytes` (src/node/gate.ts).
  const ask = (port: MessagePort, bytes: number, early: boolean) => new Promise<void>((go, fail) => {
    const closed = () => fail(new Error('the batch\'s memory gate closed before admitting the file'));
    port.once('close', closed);
    port.once('message', (admitted: boolean) => {
      port.off('close', closed);
      if (admitted) go();
      else fail(new NotStarted('the batch stopped before this file was started'));
    });
    port.postMessage({ bytes, thread: threadId, ...(early ? { early } : {}) } satisfies GateRequest);
  });
  // A large file's bytes, before they are read; then (every file) its decoded pixels, once its
  // header is read.
  const beforeRead = port === undefined ? undefined : (size: number) => (size > EARLY_FILE_BYTES ? ask(port, size, true) : Promise.resolve());
  const admit = port === undefined ? undefined : (_pixels: number, sampleBytes: number) => ask(port, taskBytes(sampleBytes, fileBytes), false);
  try {
    // O_NOFOLLOW where links are not followed: a file swapped for a link after the listing is
    // refused. O_NONBLOCK and the check of what was opened: a file swapped for a FIFO would
    // otherwise block the read for ever, and one swapped for a device (/dev/zero) never end.
    const limit = data.maxPixels ?? DEFAULT_MAX_PIXELS;
    const fileOptions: RegularFileOptions = {
      noFollow: data.followLinks === false,
      maxBytes: maxFileBytes(limit),
      notRegular: (kind) => new FileError(`Not reading ${JSON.stringify(task.input)}: it is ${kind} now, no longer the regular file the folder listing found`),
      tooLarge: (size) => fileTooLarge(task.input, size, limit),
    };
    const readFailed = (err: unknown) => {
      if (err instanceof ModelmarkError || err instanceof NotStarted) return err;
      if ((err as NodeJS.ErrnoException).code === 'ELOOP' && data.followLinks === false) {
        return new FileError(`Not reading ${JSON.stringify(task.input)}: it became a symbolic link after the folder was listed, and links are not followed here`, { cause: err });
      }
      return new FileError(`Cannot read image file ${JSON.stringify(task.input)}: ${(err as Error).message}`, { cause: err });
    };
    if (task.skipIfHash !== undefined) {
      // A file the manifest may skip is hashed a megabyte at a time, holding nothing: an unchanged
      // file, however large, is skipped without asking the memory gate. A changed one is read
      // below and hashed again (what is marked is what is recorded).
      const seen = await hashRegularFile(task.input, fileOptions).catch((err) => { throw readFailed(err); });
      if (task.skipIfHash === seen) {
        if (data.command === 'detect') return { status: 'skipped', hash: seen };
        if (task.output && (await sizeOrNull(task.output)) === task.skipIfOutputSize) return { status: 'skipped', hash: seen };
      }
    }
    let bytes: Buffer;
    try {
      ({ bytes } = await readRegularFile(task.input, { ...fileOptions, ...(beforeRead ? { beforeRead } : {}) }));
    } catch (err) {
      throw readFailed(err);
    }
    fileBytes = bytes.length;
    const wm = await getWatermarker();
    // The bytes read, not a second read: the manifest's hash is of what was marked. With the
    // metadata kept (and always for detect), ICC-profiled colours are read as stored.
    const image = await decodeAdmitted(bytes, task.input, {
      maxPixels: data.maxPixels, keepDepth: true, metadata: data.keepMetadata !== false,
      // embed marks every frame of an animation; detect reads up to its first MAX_DETECT_FRAMES.
      allFrames: true, ...(data.command === 'detect' ? { maxFrames: MAX_DETECT_FRAMES } : {}),
    }, admit);
    // Hashed once the header is admitted: a file over EARLY_FILE_BYTES holds the batch's one early
    // slot until then (src/node/gate.ts), and hashing a large file (SHA-256, about 0.4 s for
    // 200 MB) before would keep the next large file waiting.
    hash = createHash('sha256').update(bytes).digest('hex');
    if (data.command === 'embed') {
      const output = task.output!;
      await checkOutput(output);
      let marked;
      try {
        // The decoded pixels are this task's own: mark them in place (no second pixel array).
        marked = markFile(wm, image, data.payload!, { inPlace: true });
      } catch (err) {
        throw inFile(err, task.input);
      }
      const written = await writeImage(output, marked, {
        format: image.format, quality: data.quality, encoding: image.encoding, verify: { watermarker: wm, payload: data.payload! }, sourcePath: task.input, metadata: image.metadata, animation: image.animation,
        // Checked again as the file is written: a folder swapped since checkOutput is refused.
        insideFolder: { path: data.outputRoot!, ...(data.outputRootId !== undefined ? { id: data.outputRootId } : {}) },
      });
      const note = raisedQualityNote(written);
      const raised = note ? [`quality: ${note}`] : [];
      const warnings = [...(image.warnings ?? []), ...raised];
      return { status: 'done', hash, ms: performance.now() - start, width: image.width, height: image.animation?.frameHeight ?? image.height, format: written.format, bytes: written.size, ...(warnings.length ? { warnings } : {}) };
    }
    let r;
    try {
      // One read serves both (detect's evidence option); an animation's frames in turn.
      r = detectFile(wm, image, { evidence: true, pieces: data.pieces });
    } catch (err) {
      throw inFile(err, task.input);
    }
    const round = (v: number) => Math.round(v * 1e4) / 1e4;
    const ev = r.evidence!;
    return {
      status: 'done', hash, ms: performance.now() - start, width: image.width, height: image.animation?.frameHeight ?? image.height, format: image.format,
      found: r.found, payload: r.payload, pValue: r.pValue, score: r.score, crcOk: r.crcOk, ...(r.frames ? { frames: r.frames } : {}),
      ...(r.pieces ? { pieces: r.pieces.map((p) => ({ payload: p.payload, pValue: p.pValue, score: p.score, transform: p.transform })) } : {}),
      evidence: { score: round(ev.score), reference: ev.reference.map(round) },
      ...(image.warnings ? { warnings: image.warnings } : {}),
    };
  } catch (err) {
    if (err instanceof NotStarted) return { status: 'cancelled' };
    return { status: 'error', hash, error: toError(err), ...(stopsBatch(err) ? { stop: true } : {}) };
  } finally {
    port?.close();
  }
}
