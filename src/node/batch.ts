// Folder batches for Node: embed or detect every image of a folder (recursively) on a piscina
// worker pool, one worker per core, with a resumable manifest. The command line's
// `modelmark embed DIR OUTDIR` and `modelmark detect DIR` are built on runBatch.
import { createHmac, randomBytes, scrypt } from 'node:crypto';
import { promises as fsp, unlinkSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { basename, dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
// piscina is imported by runBatch, not here: `import 'modelmark/node'` does not load it.
import type { Piscina as PiscinaPool } from 'piscina';
import { booleanOption, checkOptionNames, invalidParameter, invalidSecretParameter, numberIn, piecesOption } from '../args.js';
import { FileError, InvalidArgumentError, ModelmarkError } from '../errors.js';
import { deriveKey } from '../key.js';
import { parsePayload, payloadHex, type Payload } from '../payload.js';
import { DEFAULT_THRESHOLD, type DetectResult } from '../watermarker.js';
import { EvidenceSum, type CombinedEvidence, type Evidence } from '../evidence.js';
import { MAX_ASPECT_LIMIT } from '../image.js';
import type { BatchTask, BatchTaskResult, BatchWorkerData } from './batch-worker.js';
import type { FramesRead } from './frames.js';
import { folderId, osReason, processGone, removeStaleTempFilesOf, removeStaleTempFilesUnder, writeFileAtomic, writeFileAtomicSync } from './files.js';
import { defaultMemoryBudget, GATE_TRACE, MemoryGate, type GateEvent, type GateRequest } from './gate.js';

/** Name of the embed manifest inside the output folder (hidden, so never taken for an image). */
export const MANIFEST_NAME = '.modelmark-manifest.json';
/** File extensions a batch processes (case-insensitive); other files are left alone. */
export const BATCH_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.webp', '.gif', '.avif', '.tif', '.tiff'];
/**
 * Files each worker thread works on at once (fewer when they are large: see memoryBudget). One file
 * alternates between the worker's thread (marking) and libuv's pool (sharp's decode and encode,
 * and about a dozen file operations: read, header, output checks, the atomic write and its
 * syncs), so with one file per worker a core idles half the time. Measured on 160 images of
 * 1920x1080, CPU affinity 2 cores against 1 (bench/batch.mjs): 1.51x with one file per worker,
 * 1.62-1.73x with two (whole command, three runs the same day), 1.75-1.85x with four (five
 * runs); six gave no more (1.68x beside four's 1.75x in one run).
 */
const TASKS_PER_WORKER = 4;

/** Most worker threads a batch accepts. */
export const MAX_JOBS = 256;
const MANIFEST_FORMAT = 'modelmark-batch-manifest';
const MANIFEST_VERSION = 1;
/** How often, at most, the manifest is rewritten while a batch runs (and always at its end). */
const SAVE_INTERVAL_MS = 500;
/** The longest wait between two saves, however long a save takes (a crash loses at most this much of the record). */
const MAX_SAVE_INTERVAL_MS = 30_000;

/**
 * The wait before the next save of the manifest, after one that took `saveMs` (serialising and
 * writing): SAVE_INTERVAL_MS, or ten times the save when that is longer, so that saving takes at
 * most about a tenth of the batch's time however large the manifest grows (200,000 files make an
 * 80 MB manifest, 0.4 s to serialise alone: saved every half second, the batch did little else),
 * and never more than MAX_SAVE_INTERVAL_MS.
 * @example
 * saveIntervalAfter(5); // 500
 * saveIntervalAfter(1200); // 12000
 */
export function saveIntervalAfter(saveMs: number): number {
  return Math.min(MAX_SAVE_INTERVAL_MS, Math.max(SAVE_INTERVAL_MS, Number.isFinite(saveMs) ? 10 * saveMs : SAVE_INTERVAL_MS));
}

/** Options of {@link runBatch}. */
export interface BatchOptions {
  /** 'embed': write a marked copy of every image to `output`; 'detect': look for the mark in each. */
  command: 'embed' | 'detect';
  /** The folder to read. Sub-folders are processed too (see `recursive`); hidden files and folders are not. */
  input: string;
  /** embed: the output folder (created when missing); outputs mirror the input tree, same names. */
  output?: string | undefined;
  /** Secret key (never written anywhere: the manifest holds a keyed fingerprint of it only). */
  key: string | Uint8Array;
  /** embed: the 64-bit payload. */
  payload?: Payload | undefined;
  /** embed: strength, 0.25 to 4 (default 1). */
  strength?: number | undefined;
  /**
   * embed: JPEG / WebP / AVIF quality, 1 to 100. By default a JPEG is written at its source's
   * quality (at least 75), with its subsampling and progressive mode, a lossless WebP stays
   * lossless, and the rest are written at 95 (writeImage's `encoding` option).
   */
  quality?: number | undefined;
  /**
   * embed: keep each input's EXIF (orientation set upright), ICC profile (the pixels stay in its
   * colours) and XMP in its marked copy (default true); false writes copies without metadata.
   */
  keepMetadata?: boolean | undefined;
  /** detect: p-value a mark must beat (default 1e-6). */
  threshold?: number | undefined;
  /** detect: also look for a marked piece inside each image (detect's `pieces` option: true, or 'all' for every piece; default false). */
  pieces?: boolean | 'all' | undefined;
  /** Largest image accepted, in pixels (default 100 megapixels). */
  maxPixels?: number | undefined;
  /** Largest aspect ratio accepted, long side / short side (default 32, at most 128). */
  maxAspect?: number | undefined;
  /** Worker threads (default `os.availableParallelism()`). */
  jobs?: number | undefined;
  /**
   * Memory, in bytes, the files in progress may hold at once over the whole batch, all workers
   * together (default 512 MiB times `jobs`, at most half the machine's memory but never under
   * 512 MiB). A file is counted, once its header is read, for its
   * decoded samples (all frames of an animation, 16-bit samples at 2 bytes) times 3 (the
   * decoder's and encoder's working copies; see WORKING_FACTOR in src/node/gate.ts) plus the
   * file's size. A file over 16 MiB (EARLY_FILE_BYTES) is first counted for its size before it
   * is read, one such file at a time, and for the rest once its header is read; smaller files are
   * read first. A file that would take the batch over it waits, and the files after it wait
   * behind it, until others finish; a file alone always runs, so one larger than the budget runs
   * by itself. 1080p to 24-megapixel photos keep every worker busy at the default; scans of
   * hundreds of megapixels run a few at a time, or one. Lower it to bound memory further.
   */
  memoryBudget?: number | undefined;
  /**
   * The former budget: decoded pixels per worker. Still taken, as a memoryBudget of
   * `pixelBudget` x 4 bytes x `jobs`; not with memoryBudget.
   * @deprecated use memoryBudget.
   */
  pixelBudget?: number | undefined;
  /**
   * The manifest's path: embed defaults to `<output>/.modelmark-manifest.json`; detect keeps
   * none unless given. `null` disables it.
   */
  manifest?: string | null | undefined;
  /** Process sub-folders, mirroring them in `output` (default true). */
  recursive?: boolean | undefined;
  /**
   * Read images that are symbolic links (default true; links to folders are never followed).
   * false, for folders other people fill (uploads): a link is an error record and is never read,
   * so a link to a file outside the folder cannot have it copied, marked, into OUTDIR; files are
   * then opened without following a link put in their place after the listing.
   */
  followLinks?: boolean | undefined;
  /** Called once the files are listed, before any is processed. */
  onStart?: ((info: BatchStartInfo) => void) | undefined;
  /** Called as each file finishes (in completion order). */
  onRecord?: ((record: BatchRecord) => void) | undefined;
  /**
   * Aborting stops handing out files; those in progress finish and are recorded. A file handed to
   * a worker but still waiting for the memory budget is not started: it is counted pending.
   */
  signal?: AbortSignal | undefined;
}

/** What {@link BatchOptions.onStart} is told once the files are listed. */
export interface BatchStartInfo {
  /** Image files listed (plus folders that could not be listed). */
  total: number;
  /** Worker threads. */
  jobs: number;
  /** The memory budget, in bytes (memoryBudget, or its default). */
  memoryBudget: number;
  /** The manifest's path, or null without one. */
  manifest: string | null;
  /** The folder's other files, not taken, counted by extension ({@link ImageListing.others}). */
  notTaken: Record<string, number>;
}

/** One marked piece of a file read with `pieces: 'all'` (its region map is left out). */
export type BatchPiece = Pick<DetectResult, 'payload' | 'pValue' | 'score' | 'transform'>;

/** The outcome of one file, as a record reports it and the manifest keeps it. */
export interface BatchFileResult {
  /** embed: the payload written; detect: the payload found, or null. */
  payload?: string | null;
  /** detect: whether the mark was found (for 'skipped', as recorded in the manifest). */
  found?: boolean;
  pValue?: number;
  score?: number;
  crcOk?: boolean;
  /** detect, an animation: the frames read and the one reported (see detectFile). */
  frames?: FramesRead;
  /** detect with `pieces: 'all'`: every marked piece found (payload, p-value, score, transform). */
  pieces?: BatchPiece[];
  width?: number;
  height?: number;
  /** The format written (embed) or read (detect). */
  format?: string;
  /** embed: size of the output in bytes. */
  bytes?: number;
}

/** What happened to one file of a batch (also its JSON line on the command line). */
export interface BatchRecord extends BatchFileResult {
  /** The input, as `input` joined with its path inside it. */
  file: string;
  /** 'done': processed now; 'skipped': unchanged since the manifest recorded it; 'error': see `error`. */
  status: 'done' | 'skipped' | 'error';
  /** embed: where the marked copy is. */
  output?: string;
  /** Milliseconds the worker spent on the file. */
  ms?: number;
  /**
   * 'done': what the decoder warned of (a damaged file, processed as its decoder shows it); a
   * metadata block left out ('metadata: ...'); embed: a JPEG written at 95 because the mark did
   * not read back at its input's quality ('quality: ...').
   */
  warnings?: string[];
  /** 'error': what went wrong; `stopsBatch` when it stopped the batch (see BatchSummary's `stopped`). */
  error?: { code: string; message: string; stopsBatch?: boolean };
}

/** Totals of a batch (the last JSON line on the command line, under "summary"). */
export interface BatchSummary {
  command: 'embed' | 'detect';
  /** Image files listed (plus folders that could not be listed). */
  total: number;
  done: number;
  skipped: number;
  errors: number;
  /** detect: files where the mark was found / not found (done and skipped). */
  found?: number;
  notFound?: number;
  /** Files not reached because the batch was interrupted (aborted, or stopped: see `stopped`). */
  pending: number;
  interrupted: boolean;
  /**
   * Set when the batch stopped itself because every later file would have failed the same way:
   * the output disk full (ENOSPC) or over quota (EDQUOT), the output folder read-only (EROFS), or
   * the output folder removed or replaced during the run (it is not made again). The error of the
   * file that met it; the files in progress finished and were recorded, `pending` were not started.
   */
  stopped?: { code: string; message: string };
  jobs: number;
  /** The memory budget the batch ran under, in bytes (memoryBudget, or its default). */
  memoryBudget: number;
  elapsedSeconds: number;
  /** Files finished (done, skipped or failed) per second of wall time. */
  filesPerSecond: number;
  manifest: string | null;
  /**
   * detect: the key's mark tested over all the files at once (combineEvidence over each file's
   * evidence, skipped files included from the manifest): found where the set carries the mark
   * even when no single file shows it; null when no file was read.
   */
  evidence?: CombinedEvidence | null;
}

interface ManifestEntry extends BatchFileResult {
  /**
   * detect: the file's evidence for pooling, its score then its references, as one line of
   * numbers separated by spaces (64 numbers: one array element per line would swell the file).
   */
  evidence?: string;
  /** SHA-256 of the input's bytes. */
  hash: string;
  /** Keyed fingerprint of the key and options (see fingerprint()). */
  options: string;
  /** embed: the output, relative to the output folder. */
  output?: string;
  time: string;
}

interface Manifest {
  format: typeof MANIFEST_FORMAT;
  version: number;
  /**
   * The fingerprints' salt, random per manifest (hex), so that no table computed ahead of time
   * serves against every manifest and equal keys do not show as equal fingerprints. Absent in
   * manifests written before it: those keep the old fixed salt.
   */
  salt?: string;
  command: 'embed' | 'detect';
  updated: string;
  /** Keyed by the input's path inside the input folder, with '/' separators. */
  files: Record<string, ManifestEntry>;
}

const q = (path: string) => JSON.stringify(path);

/**
 * Whether a batch takes a file, by its name: one of {@link BATCH_EXTENSIONS}, not hidden.
 * @example
 * isBatchImage('IMG_0001.JPG'); // true
 * isBatchImage('.IMG_0001.jpg.123.tmp'); // false
 */
export function isBatchImage(name: string): boolean {
  if (typeof name !== 'string') throw invalidParameter('name', 'a file name', name);
  return !name.startsWith('.') && BATCH_EXTENSIONS.includes(extname(name).toLowerCase());
}

/** Result of {@link listImages}. */
export interface ImageListing {
  /** Paths of the images inside the folder, '/'-separated, sorted. */
  files: string[];
  /** Sub-folders that could not be read, with why. */
  errors: { path: string; error: { code: string; message: string } }[];
  /**
   * The other files, not taken (not hidden, not an image by their extension), counted by
   * extension in lower case ('' for none): e.g. `{ '.heic': 12, '.txt': 1 }`, so that a caller
   * can say what was left alone (an iPhone's HEIC photos, which this sharp cannot decode).
   */
  others: Record<string, number>;
}

/**
 * List the JPEG, PNG, WebP, GIF, AVIF and TIFF files of a folder by extension: sub-folders too unless
 * `recursive` is false; hidden entries (names starting with a dot) and symbolic links to
 * folders are skipped, symbolic links to files are followed. `exclude` names real paths of
 * folders to leave out (e.g. an output folder inside the input).
 * @example
 * const { files } = await listImages('photos'); // ['a.jpg', 'trip/b.png', ...]
 */
export async function listImages(dir: string, options: { recursive?: boolean | undefined; exclude?: string[] | undefined; followLinks?: boolean | undefined } = {}): Promise<ImageListing> {
  if (typeof dir !== 'string' || dir === '') throw invalidParameter('dir', 'a folder path', dir);
  if (typeof options !== 'object' || options === null) throw invalidParameter('options', 'an object { recursive?, exclude?, followLinks? }', options);
  checkOptionNames('options', options, ['recursive', 'exclude', 'followLinks']);
  for (const name of ['recursive', 'followLinks'] as const) booleanOption(`options.${name}`, options[name], false);
  if (options.exclude !== undefined && !(Array.isArray(options.exclude) && options.exclude.every((e) => typeof e === 'string'))) {
    throw invalidParameter('options.exclude', 'an array of folder paths', options.exclude);
  }
  const exclude = new Set(options.exclude ?? []);
  const files: string[] = [];
  const errors: ImageListing['errors'] = [];
  const others: Record<string, number> = Object.create(null);
  const root = await fsp.realpath(dir).catch((err) => {
    throw new FileError(`Cannot read the folder ${q(dir)}: ${(err as Error).message}`, { cause: err });
  });
  async function walk(abs: string, rel: string): Promise<void> {
    let entries;
    try {
      entries = await fsp.readdir(abs, { withFileTypes: true });
    } catch (err) {
      if (rel === '') throw new FileError(`Cannot read the folder ${q(dir)}: ${(err as Error).message}`, { cause: err });
      errors.push({ path: rel, error: { code: 'ERR_FILE', message: `Cannot read the folder ${q(join(dir, rel))}: ${(err as Error).message}` } });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const childAbs = join(abs, e.name);
      const childRel = rel === '' ? e.name : `${rel}/${e.name}`;
      let isFile = e.isFile(), isDir = e.isDirectory();
      if (e.isSymbolicLink() && options.followLinks === false) {
        if (isBatchImage(e.name)) {
          errors.push({ path: childRel, error: { code: 'ERR_FILE', message: `Not reading ${q(join(dir, childRel))}: it is a symbolic link, and links are not followed here` } });
        }
        continue;
      }
      if (e.isSymbolicLink()) {
        const st = await fsp.stat(childAbs).catch((err: NodeJS.ErrnoException) => err);
        if (st instanceof Error) {
          // A link with an image's name that leads nowhere (or around in a loop): said, not dropped.
          if (isBatchImage(e.name)) {
            errors.push({ path: childRel, error: { code: 'ERR_FILE', message: `Cannot read ${q(join(dir, childRel))}: it is a symbolic link to nothing readable (${osReason(st)})` } });
          }
          continue;
        }
        isFile = st.isFile();
        isDir = false; // never follow links to folders: no loops, no escaping the tree
      }
      if (isDir && options.recursive !== false && !exclude.has(childAbs)) await walk(childAbs, childRel);
      else if (isFile && isBatchImage(e.name)) {
        // A name that is not valid UTF-8 comes back with U+FFFD in it, and cannot be opened again.
        if (e.name.includes('\uFFFD')) {
          errors.push({ path: childRel, error: { code: 'ERR_FILE', message: `Cannot read ${q(join(dir, childRel))}: its name is not valid UTF-8; rename it` } });
        } else files.push(childRel);
      } else if (isFile) {
        const ext = extname(e.name).toLowerCase();
        others[ext] = (others[ext] ?? 0) + 1;
      }
    }
  }
  await walk(root, '');
  return { files, errors, others: { ...others } };
}

/** The real path of `p`, or, when it does not exist, that of its nearest existing parent joined with the rest. */
async function realOrResolved(p: string): Promise<string> {
  const abs = resolve(p);
  try {
    return await fsp.realpath(abs);
  } catch {
    const parent = dirname(abs);
    return parent === abs ? abs : join(await realOrResolved(parent), basename(abs));
  }
}

const inside = (child: string, parent: string) => {
  const rel = relative(parent, child);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
};

/**
 * A fingerprint of the key and the options that decide a file's result: HMAC-SHA-256 of the
 * options under a key stretched from the user's key (HKDF with its own label, then scrypt with
 * N = 4096 and the manifest's own random salt, about 10 ms), so a manifest tells whether a file
 * was processed with the same key and options without revealing the key, and guessing a weak key
 * from it costs a scrypt per guess and per manifest. (The marked images themselves allow cheaper
 * guesses, about 1 ms each: keys must be random, not words.)
 */
async function fingerprint(key: string | Uint8Array, params: Record<string, unknown>, salt: string): Promise<string> {
  const material = await deriveKey(key, 'modelmark batch manifest fingerprint v1');
  const stretched = await new Promise<Buffer>((ok, fail) => {
    scrypt(Buffer.from(material.buffer, material.byteOffset, material.byteLength), salt, 32, { N: 1 << 12, r: 8, p: 1 },
      (err, out) => (err ? fail(err) : ok(out)));
  });
  return 'hmac-sha256:' + createHmac('sha256', stretched).update(JSON.stringify(params)).digest('hex');
}

async function loadManifest(path: string, command: 'embed' | 'detect'): Promise<Manifest> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { format: MANIFEST_FORMAT, version: MANIFEST_VERSION, command, updated: new Date().toISOString(), salt: randomBytes(16).toString('hex'), files: {} };
    }
    throw new FileError(`Cannot read the manifest ${q(path)}: ${(err as Error).message}`, { cause: err });
  }
  let m: Manifest;
  try {
    m = JSON.parse(text) as Manifest;
  } catch (err) {
    // Only what looks like one of ours (a JSON object) is worth deleting; anything else, such as
    // an image given by mistake, calls for another path.
    const advice = text.trimStart().startsWith('{') ? 'delete it to start over' : 'give another manifest path (this file is left as it is)';
    throw new FileError(`The manifest ${q(path)} is not valid JSON (${(err as Error).message.slice(0, 80)}); ${advice}`, { cause: err });
  }
  if (m?.format !== MANIFEST_FORMAT || typeof m.files !== 'object' || m.files === null || Array.isArray(m.files)) {
    throw new FileError(`${q(path)} is not a modelmark batch manifest; give another manifest path or delete it`);
  }
  if (m.version !== MANIFEST_VERSION) {
    throw new FileError(`The manifest ${q(path)} has version ${m.version}; this modelmark writes version ${MANIFEST_VERSION}; delete it to start over`);
  }
  if (m.salt !== undefined && !(typeof m.salt === 'string' && /^[0-9a-f]{32}$/.test(m.salt))) {
    throw new FileError(`The manifest ${q(path)} has a damaged salt (not 32 hex digits); delete it to start over`);
  }
  if (m.command !== command) {
    throw new FileError(`The manifest ${q(path)} records ${m.command === 'embed' ? 'an' : 'a'} ${m.command} batch, not ${command}; give another manifest path`);
  }
  return m;
}

/**
 * The manifests (their real paths) whose locks batches of this process hold now. A lock that
 * names this process's id is another batch's of this same process when it is here (refused, as a
 * live process's is); otherwise it was left by a process gone before this one got its id (a
 * container restarted: the same pid again) and is taken over.
 */
const heldLocks = new Set<string>();

/**
 * Take the manifest's lock, `MANIFEST.lock` holding this process's id (created exclusively).
 * A lock whose process is gone (a batch killed with SIGKILL) is taken over. Returns its path.
 * `real`: the manifest's real path (see heldLocks).
 */
async function lockManifest(manifest: string, real: string): Promise<string> {
  // Reserved at once, before any await: two batches of this process started together cannot
  // both pass this check.
  if (heldLocks.has(real)) {
    throw new FileError(`Another batch of this process is using the manifest ${q(manifest)}; wait for it to end, or give this run another output folder or --manifest`);
  }
  heldLocks.add(real);
  try {
    return await takeLock(manifest);
  } catch (err) {
    heldLocks.delete(real);
    throw err;
  }
}

/**
 * The process id in a lock file: null when there is no such file, NaN when it holds none. An
 * empty lock is one being made (the exclusive create comes a moment before its id is written): it
 * is read again for up to a second before it counts as left by a process that died in between,
 * so that a batch starting at that moment does not take a live batch's lock over.
 */
async function lockHolder(path: string): Promise<number | null> {
  for (let i = 0; i < 20; i++) {
    const text = await fsp.readFile(path, 'utf8').catch(() => null);
    if (text === null) return null; // gone meanwhile: the create is tried again
    if (text !== '') return Number.parseInt(text, 10);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Number.NaN;
}

/** Whether a lock that names `holder` (see lockHolder) is no live batch's: none, a process gone, or `stale` (judged gone before). */
const deadHolder = (holder: number, stale: number) => holder === stale || !Number.isInteger(holder) || holder <= 0 || processGone(holder);

/** How long, at most, removeStaleLock waits while another batch holds the takeover (it holds it for a few file operations). */
const TAKEOVER_WAIT_MS = 5000;

/**
 * Remove the file at `path` that names the process `stale`, judged gone, unless another process
 * replaced it meanwhile: moved aside atomically, read there, and put back when it names a live
 * process (unless the place is taken again by then). Safe for two processes at once, not for
 * three (one can move a fresh file aside while a third creates its own in the gap): it is only
 * used for a takeover file whose maker died holding it (see removeStaleLock).
 */
async function removeDeadFile(path: string, stale: number): Promise<void> {
  const aside = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await fsp.rename(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // taken away by another already
    throw err;
  }
  const moved = await lockHolder(aside);
  if (moved === null || deadHolder(moved, stale)) {
    await fsp.unlink(aside).catch(() => {});
    return;
  }
  await fsp.link(aside, path).catch(() => {});
  await fsp.unlink(aside).catch(() => {});
}

/**
 * Remove the lock at `path` that names the process `stale`, judged gone, unless another batch
 * replaced it meanwhile. Only the holder of the takeover, `LOCK.takeover` (created exclusively,
 * its process's id in it), removes a lock that is not its own, and it reads the lock again first:
 * of several batches taking one stale lock over at once, one removes it, and the others then find
 * it gone or the new lock of whichever batch created it first (by an exclusive create), never
 * remove that. (Before, the lock was moved aside to be checked and put back: with three batches,
 * a third could create its lock in the gap, the one put back was lost, and two batches ran on
 * one manifest.) Waits while a live batch holds the takeover; one left by a process that died
 * holding it is removed. True when the stale lock is gone (or already was), false when the lock
 * is another batch's now (left in place).
 * @example
 * if (!(await removeStaleLock('out/.modelmark-manifest.json.lock', deadPid))) refuse();
 */
export async function removeStaleLock(path: string, stale: number): Promise<boolean> {
  const takeover = `${path}.takeover`;
  const deadline = performance.now() + TAKEOVER_WAIT_MS;
  for (;;) {
    try {
      await fsp.writeFile(takeover, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new FileError(`Cannot take over the lock ${q(path)}: ${osReason(err)}`, { cause: err });
      }
    }
    const taker = await lockHolder(takeover);
    if (taker === null) continue; // released meanwhile
    // This process's id: another process's that had it before (batches of this process never
    // race for one lock, see lockManifest).
    if (taker === process.pid || deadHolder(taker, Number.NaN)) await removeDeadFile(takeover, taker);
    else if (performance.now() > deadline) return false; // another batch is taking it over
    else await new Promise((r) => setTimeout(r, 10));
  }
  try {
    // No other batch removes the lock while this one holds the takeover, nor creates one while
    // it is there: the lock read here is the one removed.
    const holder = await lockHolder(path);
    if (holder === null) return true; // gone: removed by a batch that held the takeover before
    if (!deadHolder(holder, stale)) return false;
    await fsp.unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw new FileError(`Cannot remove the stale lock ${q(path)}: ${osReason(err)}`, { cause: err });
    });
    return true;
  } finally {
    await fsp.unlink(takeover).catch(() => {});
  }
}

/**
 * The lock file of lockManifest, `MANIFEST.lock` with this process's id in it (without
 * lockManifest's check for this process's own batches); one left by a process that is gone is
 * taken over. Returns its path; throws a FileError when another batch holds it.
 * @example
 * const lock = await takeLock('out/.modelmark-manifest.json'); // ... then fs.unlinkSync(lock)
 */
export async function takeLock(manifest: string): Promise<string> {
  const path = `${manifest}.lock`;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await fsp.writeFile(path, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return path;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') {
        throw new FileError(`Cannot write the manifest ${q(manifest)} (nor its lock beside it): ${code === 'ENOENT' ? 'its folder does not exist' : osReason(err)}`, { cause: err });
      }
      const holder = await lockHolder(path);
      if (holder === null) continue; // released meanwhile
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && !processGone(holder)) {
        throw new FileError(`Another batch (process ${holder}) is using the manifest ${q(manifest)}; wait for it to end, or give this run another output folder or --manifest ` +
          `(if no such process is running, delete ${q(path)})`);
      }
      // Left by a batch that is gone: taken over, unless another batch took it first.
      if (!(await removeStaleLock(path, holder))) {
        throw new FileError(`Another batch is using the manifest ${q(manifest)} (it took over a lock left by a batch that is gone, just before this one); wait for it to end, or give this run another output folder or --manifest`);
      }
    }
  }
  throw new FileError(`Cannot take the lock ${q(`${manifest}.lock`)} of the manifest ${q(manifest)}: another batch keeps taking it`);
}

/**
 * Saves the manifest while files finish, one write at a time: saveIntervalAfter the last save
 * apart, counted from the end of its write (a change while a write is in flight waits for it,
 * then the interval: saves never queue up behind a slow write, each holding its own copy of the
 * text).
 */
class ManifestSaver {
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown;
  /** Set by saveNow: the batch's process is exiting; no later write (the lock is released). */
  private final = false;
  /** The wait before the next save (saveIntervalAfter the last one). */
  private interval = SAVE_INTERVAL_MS;
  /** Saves whose write is in flight (queued or running). */
  private writing = 0;
  /** Files recorded since the text of the last save was made. */
  private dirty = false;
  /**
   * JSON.stringify's error once the manifest grew past what one string holds: it only grows, so
   * it is not serialised again (seconds of this thread each time, for nothing); close() and
   * saveNow() report it.
   */
  private tooLarge: unknown;
  constructor(private readonly path: string, private readonly manifest: Manifest) {}
  changed(): void {
    if (this.final || this.tooLarge !== undefined) return;
    this.dirty = true;
    if (this.writing === 0) this.arm();
  }
  private arm(): void {
    this.timer ??= setTimeout(() => { this.timer = undefined; void this.save(); }, this.interval);
  }
  private text(): string {
    if (this.tooLarge !== undefined) throw this.tooLargeError();
    this.manifest.updated = new Date().toISOString();
    this.dirty = false;
    try {
      return JSON.stringify(this.manifest, null, 1) + '\n';
    } catch (err) {
      // Past what one string holds (about 1.5 million files).
      this.tooLarge = err;
      throw this.tooLargeError();
    }
  }
  private tooLargeError(): FileError {
    const err = this.tooLarge;
    return new FileError(`Cannot write ${this.label}: with ${Object.keys(this.manifest.files).length} files it has grown past what one JSON text can hold ` +
      `(${err instanceof Error ? err.message : String(err)}); run the folder in parts, each with its own --manifest`, { cause: err });
  }
  private get label(): string {
    return `the manifest ${q(this.path)}`;
  }
  save(): Promise<void> {
    if (this.final) return this.chain;
    const start = performance.now();
    let text: string;
    try {
      text = this.text();
    } catch (err) {
      // Said at the end (close), not thrown from a timer (which would end the process); the
      // manifest keeps its last save.
      this.failure = err;
      return this.chain;
    }
    const serialised = performance.now() - start;
    let writing = 0;
    this.writing++;
    this.chain = this.chain.then(() => { writing = performance.now(); return writeFileAtomic(this.path, text, { mode: 0o600, label: this.label }); })
      .then(() => { this.failure = undefined; this.interval = saveIntervalAfter(serialised + performance.now() - writing); }, (err) => { this.failure = err; })
      .finally(() => {
        // Files finished while it was written: the next save, the interval after this one.
        if (--this.writing === 0 && this.dirty && !this.final && this.tooLarge === undefined) this.arm();
      });
    return this.chain;
  }
  /**
   * Write the manifest now, synchronously, with every file recorded so far, and never again: for
   * a process that exits right after (see saveManifestsNow). A save still in flight must have had
   * its temporary file removed first (removePendingTempFiles), so that its rename, if still to
   * come, fails instead of putting an older manifest over this one.
   */
  saveNow(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.final) return;
    this.final = true;
    writeFileAtomicSync(this.path, this.text(), { mode: 0o600, label: this.label });
  }
  /** The last save, after any pending one; throws when it failed. */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.save();
    if (this.failure) throw this.failure;
  }
}

/** A batch of this process that holds its manifest's lock (see saveManifestsNow). */
interface LockedBatch {
  saver: ManifestSaver | null;
  /** The lock file; null once saveManifestsNow released it. */
  lock: string | null;
}

/** The batches of this process running now with a manifest. */
const lockedBatches = new Set<LockedBatch>();

/**
 * For a process about to exit at once (a second Ctrl-C, while runBatch calls are still running):
 * write each running batch's manifest now, synchronously and atomically, with every file recorded
 * so far (a file is recorded once its output is written whole, so none whose output is cut short),
 * then remove its lock. Call removePendingTempFiles() first (an in-flight periodic save's
 * temporary file: its rename, if still queued, must not put an older manifest back), and exit
 * right after: those batches write nothing more to the manifest. Returns the errors of the
 * manifests that could not be written (each keeps its last save, which is whole; its lock is
 * removed all the same).
 * @example
 * removePendingTempFiles();
 * for (const err of saveManifestsNow()) console.error(err.message);
 * process.exit(130);
 */
export function saveManifestsNow(): Error[] {
  const errors: Error[] = [];
  for (const batch of lockedBatches) {
    try {
      batch.saver?.saveNow();
    } catch (err) {
      errors.push(err as Error);
    }
    if (batch.lock !== null) {
      try {
        unlinkSync(batch.lock);
      } catch {
        // Removed by hand meanwhile.
      }
      batch.lock = null;
    }
  }
  lockedBatches.clear();
  return errors;
}

/** An option's name in messages (the command line turns `options.jobs` into `--jobs`). */
const flag = (name: string) => `options.${name}`;

/** The fingerprints' salt in manifests written before each manifest had its own. */
const LEGACY_SALT = 'modelmark manifest';

/** The option names runBatch knows. */
const BATCH_OPTION_NAMES = ['command', 'input', 'output', 'key', 'payload', 'strength', 'quality', 'keepMetadata', 'threshold', 'pieces', 'maxPixels', 'maxAspect',
  'jobs', 'memoryBudget', 'pixelBudget', 'manifest', 'recursive', 'followLinks', 'onStart', 'onRecord', 'signal'];

/**
 * Embed a mark in, or detect it in, every image of a folder, in parallel on a piscina worker
 * pool (each worker creates its watermarker once). Per-file failures are reported through
 * `onRecord` and counted; they never stop the batch. With a manifest, files whose content
 * (SHA-256) and options are unchanged since it recorded them are skipped (embed: and whose
 * output is still there, at the size recorded); it is rewritten atomically, at most every half
 * second as files finish and at the end, so an interrupted batch leaves a valid record of what
 * finished. Workers set `sharp.concurrency(1)`, which is process-wide: with one worker per core,
 * more libvips threads per image only contend.
 * Never writes over an input: an output folder equal to the input folder or containing it is
 * refused, and one inside it is left out of the listing.
 * A condition every later file would meet (the output disk full or read-only, the output folder
 * removed mid-run) stops the batch early: see the summary's `stopped`.
 * @throws FileError when the manifest cannot be saved at the end (e.g. the disk is full); the
 * error's `summary` property holds the batch's totals all the same.
 * @example
 * import { runBatch } from 'modelmark/node';
 * const summary = await runBatch({
 *   command: 'embed', input: 'photos', output: 'marked', key: process.env.MODELMARK_KEY!, payload: 'c0ffee',
 *   onRecord: (r) => { if (r.status === 'error') console.error(r.file, r.error!.message); },
 * });
 * console.log(`${summary.done} marked, ${summary.skipped} unchanged, ${summary.errors} failed`);
 */
export async function runBatch(options: BatchOptions): Promise<BatchSummary> {
  const { Piscina }: { Piscina: typeof PiscinaPool } = await import('piscina');
  const started = performance.now();
  let threshold = DEFAULT_THRESHOLD;
  if (typeof options !== 'object' || options === null) throw invalidParameter('options', 'an object', options);
  checkOptionNames('options', options, BATCH_OPTION_NAMES);
  const { command } = options;
  if (command !== 'embed' && command !== 'detect') throw invalidParameter('options.command', '"embed" or "detect"', command);
  // The other command's options would be ignored: refused, so that a mix-up shows.
  for (const name of command === 'embed' ? ['threshold', 'pieces'] as const : ['output', 'payload', 'strength', 'quality', 'keepMetadata'] as const) {
    if (options[name] !== undefined) throw invalidParameter(`options.${name}`, `nothing for a ${command} batch (an option of ${command === 'embed' ? 'detect' : 'embed'})`, options[name]);
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw invalidParameter('options.signal', 'an AbortSignal', options.signal);
  if (typeof options.input !== 'string' || options.input === '') throw invalidParameter('options.input', 'a folder path', options.input);
  const key = options.key;
  if (!((typeof key === 'string' || key instanceof Uint8Array) && key.length > 0)) {
    throw invalidSecretParameter('options.key', 'a non-empty string or byte array', key);
  }
  const jobs = numberIn(flag('jobs'), options.jobs, 1, MAX_JOBS, Math.min(MAX_JOBS, availableParallelism()));
  if (!Number.isInteger(jobs)) throw invalidParameter(flag('jobs'), `a whole number between 1 and ${MAX_JOBS}`, jobs);
  const maxPixels = options.maxPixels === undefined ? undefined : numberIn(flag('maxPixels'), options.maxPixels, 1, Number.MAX_SAFE_INTEGER, 0);
  if (options.memoryBudget !== undefined && options.pixelBudget !== undefined) {
    throw invalidParameter(flag('pixelBudget'), 'nothing beside options.memoryBudget (it is the same budget, counted in pixels per worker)', options.pixelBudget);
  }
  const pixelBudget = options.pixelBudget === undefined ? undefined : numberIn(flag('pixelBudget'), options.pixelBudget, 1, Number.MAX_SAFE_INTEGER, 0);
  const memoryBudget = numberIn(flag('memoryBudget'), options.memoryBudget, 1, Number.MAX_SAFE_INTEGER,
    pixelBudget !== undefined ? pixelBudget * 4 * jobs : defaultMemoryBudget(jobs, totalmem()));
  // INTERNAL (tests): see GATE_TRACE.
  const trace = (options as { [GATE_TRACE]?: unknown })[GATE_TRACE];
  if (trace !== undefined && typeof trace !== 'function') throw invalidParameter('options[GATE_TRACE]', 'a function', trace);
  const traced = trace as ((e: GateEvent) => void) | undefined;
  const maxAspect = options.maxAspect === undefined ? undefined : numberIn(flag('maxAspect'), options.maxAspect, 1, MAX_ASPECT_LIMIT, 0);
  for (const name of ['recursive', 'followLinks'] as const) booleanOption(`options.${name}`, options[name], false);
  if (options.manifest !== undefined && options.manifest !== null && (typeof options.manifest !== 'string' || options.manifest === '')) {
    throw invalidParameter('options.manifest', 'a file path or null', options.manifest);
  }
  for (const name of ['onStart', 'onRecord'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') throw invalidParameter(`options.${name}`, 'a function', options[name]);
  }

  let params: Record<string, unknown>;
  const workerData: BatchWorkerData = { command, key, maxPixels, maxAspect, followLinks: options.followLinks !== false };
  if (command === 'embed') {
    if (options.payload === undefined) throw invalidParameter('options.payload', 'a 64-bit payload (1 to 16 hex digits, a bigint or 8 bytes)', undefined);
    const payload = payloadHex(parsePayload(options.payload, 'options.payload'));
    const strength = numberIn(flag('strength'), options.strength, 0.25, 4, 1);
    // Unset: each file's own JPEG quality (at least MIN_MATCHED_QUALITY), else 95 (writeImage's encoding option).
    const quality = options.quality === undefined ? undefined : numberIn(flag('quality'), options.quality, 1, 100, 95);
    if (quality !== undefined && !Number.isInteger(quality)) throw invalidParameter(flag('quality'), 'a whole number between 1 and 100', quality);
    if (typeof options.output !== 'string' || options.output === '') throw invalidParameter('options.output', 'an output folder path', options.output);
    const keepMetadata = booleanOption('options.keepMetadata', options.keepMetadata, true);
    Object.assign(workerData, { payload, strength, quality, keepMetadata });
    // The copies differ with and without metadata: a change of it redoes the files.
    params = { command, payload, strength, quality: quality ?? 'source', keepMetadata };
  } else {
    threshold = numberIn(flag('threshold'), options.threshold, Number.MIN_VALUE, 0.5, DEFAULT_THRESHOLD);
    workerData.threshold = threshold;
    const pieces = piecesOption('options.pieces', options.pieces);
    workerData.pieces = pieces;
    // A file read without pieces and not found may be found with it: a change redoes the files
    // (a manifest from before this option, read without it, stays valid).
    params = pieces ? { command, threshold, pieces } : { command, threshold };
  }


  // Folders: the input must be one; the output must neither be it nor contain it.
  const inStat = await fsp.stat(options.input).catch((err) => {
    throw new FileError(`Cannot read the folder ${q(options.input)}: ${(err as Error).message}`, { cause: err });
  });
  if (!inStat.isDirectory()) throw new InvalidArgumentError(`${q(options.input)} is not a folder`);
  const realIn = await fsp.realpath(options.input);
  const exclude: string[] = [];
  let realOut: string | undefined;
  let rootHandle: import('node:fs').Dir | undefined;
  if (command === 'embed') {
    const out = options.output!;
    const candidate = await realOrResolved(out);
    if (candidate === realIn) {
      throw new InvalidArgumentError(`The output folder ${q(out)} is the input folder: that would overwrite the inputs; give another OUTDIR`);
    }
    if (inside(realIn, candidate)) {
      throw new InvalidArgumentError(`The output folder ${q(out)} contains the input folder ${q(options.input)}: outputs could overwrite inputs; give another OUTDIR`);
    }
    const outStat = await fsp.stat(out).catch(() => null);
    if (outStat && !outStat.isDirectory()) throw new InvalidArgumentError(`The output ${q(out)} exists and is not a folder; a folder IN needs an output folder`);
    await fsp.mkdir(out, { recursive: true }).catch((err) => {
      throw new FileError(`Cannot create the output folder ${q(out)}: ${osReason(err)}`, { cause: err });
    });
    realOut = await fsp.realpath(out);
    workerData.outputRoot = realOut;
    // Held open for the batch: while it is, no folder made in its place can get its inode number.
    rootHandle = await fsp.opendir(realOut);
    // Removed between opendir and stat: the handle is closed here (the finally below that
    // closes it is not reached yet), not left open for the life of the process.
    const rootStat = await fsp.stat(realOut).catch(async (err) => {
      await rootHandle!.close().catch(() => {});
      throw new FileError(`Cannot read the output folder ${q(out)}: ${osReason(err)}`, { cause: err });
    });
    workerData.outputRootId = folderId(rootStat);
    // What batches killed mid-write (SIGKILL, a power cut) left here: their writers are gone.
    removeStaleTempFilesUnder(realOut);
    exclude.push(realOut); // an output folder inside the input: its own files are not inputs
  }
  const manifestPath = options.manifest === null ? null
    : options.manifest ?? (command === 'embed' ? join(options.output!, MANIFEST_NAME) : null);

  const summary: BatchSummary = {
    command, total: 0, done: 0, skipped: 0, errors: 0, pending: 0,
    interrupted: false, jobs, memoryBudget, elapsedSeconds: 0, filesPerSecond: 0, manifest: manifestPath,
    ...(command === 'detect' ? { found: 0, notFound: 0, evidence: null } : {}),
  };
  // detect: every file's evidence, pooled (skipped files' from the manifest).
  const pooled = new EvidenceSum();
  const addEvidence = (e: Evidence | string | undefined) => {
    try {
      if (typeof e === 'string') {
        const [score, ...reference] = e.split(' ').map(Number);
        e = { score, reference };
      }
      if (e) pooled.add(e);
    } catch {
      // A manifest record whose evidence was edited or cut: that file is left out of the count.
    }
  };
  // A callback that throws stops the batch as an abort does (the files in progress finish and
  // are recorded, none is started, no callback is called again), then runBatch rejects with it.
  let callbackError: { error: unknown } | undefined;
  // A file's error that every later file would meet (disk full, output folder gone): no more are started.
  let stopError: { code: string; message: string } | undefined;
  /** Set once the gate exists: answers every file still waiting for memory "not now" (see admission). */
  let stopWaiting = () => {};
  // Calls stopWaiting on abort; removed when the batch ends, so that a signal shared by many
  // batches (a server's shutdown signal) does not keep each one's gate alive, nor pile up listeners.
  const onAbort = () => stopWaiting();
  const emit = (r: BatchRecord) => {
    if (r.status === 'done') summary.done++;
    else if (r.status === 'skipped') summary.skipped++;
    else summary.errors++;
    if (command === 'detect' && r.status !== 'error') {
      if (r.found) summary.found!++;
      else summary.notFound!++;
    }
    if (callbackError) return;
    try {
      options.onRecord?.(r);
    } catch (error) {
      callbackError = { error };
      stopWaiting();
    }
  };
  // Start the workers first: loading sharp and the kernels in each overlaps the listing, the
  // manifest and the fingerprint here (worker start-up is most of a small batch's fixed cost).
  const pool = new Piscina<BatchTask, BatchTaskResult>({
    filename: fileURLToPath(new URL('./batch-worker.js', import.meta.url)),
    workerData, minThreads: jobs, maxThreads: jobs, idleTimeout: 1000, concurrentTasksPerWorker: TASKS_PER_WORKER,
  });
  let saver: ManifestSaver | null = null;
  let manifestError: { error: unknown } | undefined;
  let locked: LockedBatch | undefined;
  let realManifest = '';
  let lockedManifest: string | undefined;
  try {
    const listing = await listImages(options.input, { recursive: options.recursive, exclude, followLinks: options.followLinks });
    let files = listing.files;
    if (manifestPath !== null) {
      realManifest = await realOrResolved(manifestPath);
      files = files.filter((f) => join(realIn, ...f.split('/')) !== realManifest);
      const clash = realOut === undefined ? undefined : files.find((f) => join(realOut!, ...f.split('/')) === realManifest);
      if (clash !== undefined) {
        throw new InvalidArgumentError(`The manifest ${q(manifestPath)} is where the marked copy of ${q(clash)} goes: one would overwrite the other; give the manifest another path`);
      }
    }
    if (manifestPath !== null) {
      // One batch per manifest at a time (a cron job that overlaps itself would otherwise drop
      // the other's records); taking the lock also fails now, not after the files, when the
      // manifest's folder cannot be written.
      locked = { saver: null, lock: await lockManifest(manifestPath, realManifest) };
      lockedManifest = realManifest;
      lockedBatches.add(locked);
      // A batch quit at once (a second Ctrl-C) or killed may leave the manifest's temporary
      // file beside it; inside OUTDIR the sweep above takes it, elsewhere (--manifest) this does.
      removeStaleTempFilesOf(manifestPath);
    }
    const manifest = manifestPath === null ? null : await loadManifest(manifestPath, command);
    if (manifest && manifestPath !== null) saver = new ManifestSaver(manifestPath, manifest);
    if (locked) locked.saver = saver;
    // On libuv's thread pool, while the workers start.
    // The manifest holds the fingerprints' salt: made once it is read.
    const optionsPrint = await fingerprint(key, params, manifest?.salt ?? (manifest ? LEGACY_SALT : randomBytes(16).toString('hex')));

    summary.total = files.length + listing.errors.length;
    options.onStart?.({ total: summary.total, jobs, memoryBudget, manifest: manifestPath, notTaken: listing.others });
    for (const e of listing.errors) emit({ file: join(options.input, e.path), status: 'error', error: e.error });

    // The memory bound of the whole batch (see src/node/gate.ts for why it is kept here, in the
    // main thread): each task gets a port on which its worker asks for its file's memory once the
    // header is read (a file over EARLY_FILE_BYTES for its bytes before it is read, too); the
    // memory is given back when the task settles, however it ends.
    const gate = new MemoryGate(memoryBudget);
    // One task at a time between a large file's two asks (its bytes, then its top-up): the others
    // wait here, holding nothing, in order (see src/node/gate.ts for why).
    let earlyBusy = false;
    const earlyWaiting: (() => void)[] = [];
    // Once the batch stops (aborted, a callback threw, or a file's error stops it), a file not yet
    // admitted is not started: its request, waiting or new, is answered false, and its task ends
    // as 'cancelled' (counted pending, not recorded). Files admitted finish, as before; without
    // this, every file handed to a worker ran, one after another under a tight budget.
    const stopping = () => options.signal?.aborted === true || callbackError !== undefined || stopError !== undefined;
    const cancels = new Set<() => void>();
    stopWaiting = () => {
      for (const cancel of cancels) cancel();
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const admission = (rel: string) => {
      const { port1, port2 } = new MessageChannel();
      let held: GateRequest | undefined;
      let withdraw = () => {};
      let inEarly = false;
      let waitingEarly: (() => void) | undefined;
      let outstanding = false;
      const leaveEarly = () => {
        if (!inEarly) return;
        inEarly = false;
        const next = earlyWaiting.shift();
        if (next) next();
        else earlyBusy = false;
      };
      /** Answer a request not yet admitted with false: withdrawn from the gate and the early slot's line. */
      const cancel = () => {
        if (!outstanding) return;
        outstanding = false;
        withdraw();
        withdraw = () => {};
        if (waitingEarly) {
          earlyWaiting.splice(earlyWaiting.indexOf(waitingEarly), 1);
          waitingEarly = undefined;
        }
        leaveEarly();
        port1.postMessage(false);
      };
      cancels.add(cancel);
      port1.on('message', (request: GateRequest) => {
        const bytes = Number(request?.bytes);
        const ask = { bytes: Number.isFinite(bytes) && bytes > 0 ? bytes : 0, thread: Number(request?.thread) };
        outstanding = true;
        if (stopping()) {
          cancel();
          return;
        }
        if (held !== undefined) {
          // The header of a file admitted for its bytes: the rest of what it will hold, at the
          // head of the queue (it holds the early slot, which the next large file waits for).
          const have = held;
          const extra = Math.max(0, ask.bytes - have.bytes);
          const topUp = () => {
            if (stopping()) {
              // Admitted as the batch stopped (see ask1): given back, answered false.
              gate.give(extra);
              cancel();
              return;
            }
            have.bytes += extra;
            traced?.({ event: 'admit', file: rel, bytes: extra, thread: ask.thread, held: gate.holding, waited: !asking, phase: 'top-up' });
            leaveEarly();
            outstanding = false;
            port1.postMessage(true);
          };
          let asking = true;
          if (extra === 0) topUp();
          else withdraw = gate.request(extra, topUp, have.bytes);
          asking = false;
          return;
        }
        const early = request?.early === true;
        let asking = true;
        // `held` is set as the gate admits (synchronously), so end() always knows what to give back.
        const ask1 = () => {
          withdraw = gate.request(ask.bytes, () => {
            if (stopping()) {
              // Admitted while the batch stops: stopWaiting withdrawing a request ahead of this
              // one (or handing on the early slot) lets it in before its own cancel runs. Given
              // back at once and answered false, as a request still waiting is.
              gate.give(ask.bytes);
              cancel();
              return;
            }
            held = { ...ask };
            traced?.({ event: 'admit', file: rel, bytes: ask.bytes, thread: ask.thread, held: gate.holding, waited: !asking, ...(early ? { phase: 'file' as const } : {}) });
            outstanding = false;
            port1.postMessage(true);
          });
        };
        if (!early) ask1();
        else if (!earlyBusy) {
          earlyBusy = true;
          inEarly = true;
          ask1();
        } else {
          waitingEarly = () => {
            waitingEarly = undefined;
            inEarly = true;
            if (stopping()) cancel(); // handed the slot as the batch stops: passes it on, answered false
            else ask1();
          };
          earlyWaiting.push(waitingEarly);
        }
        asking = false;
      });
      return {
        port: port2,
        /** The task settled: its memory back to the gate, or its request withdrawn if it still waits. */
        end() {
          cancels.delete(cancel);
          port1.close();
          withdraw();
          if (waitingEarly) earlyWaiting.splice(earlyWaiting.indexOf(waitingEarly), 1);
          if (held) {
            const { bytes, thread } = held;
            held = undefined;
            // Told before give(), which may admit the next files at once.
            traced?.({ event: 'release', file: rel, bytes, thread, held: gate.holding - bytes });
            gate.give(bytes);
          }
          leaveEarly();
        },
      };
    };

    let next = 0;
    /** Files handed to a worker but not started, the batch having stopped (pending). */
    let cancelled = 0;
    const processOne = async (rel: string) => {
      const parts = rel.split('/');
      const input = join(realIn, ...parts);
      const output = realOut === undefined ? undefined : join(realOut, ...parts);
      const prior = manifest?.files[rel];
      const usable = prior && prior.options === optionsPrint ? prior : undefined;
      const file = join(options.input, ...parts);
      const shownOutput = command === 'embed' ? join(options.output!, ...parts) : undefined;
      let result: BatchTaskResult;
      const admitted = admission(rel);
      try {
        result = await pool.run({ input, output, skipIfHash: usable?.hash, skipIfOutputSize: usable?.bytes, gate: admitted.port }, { transferList: [admitted.port] });
      } catch (err) {
        result = { status: 'error', error: { code: err instanceof ModelmarkError ? err.code : 'ERR_INTERNAL', message: `worker failed: ${(err as Error)?.message ?? err}` } };
      } finally {
        admitted.end();
      }
      if (result.status === 'cancelled') {
        cancelled++;
      } else if (result.status === 'error') {
        const stops = result.stop === true && stopError === undefined;
        if (stops) {
          stopError = result.error;
          stopWaiting();
        }
        emit({ file, status: 'error', ...(shownOutput ? { output: shownOutput } : {}), error: stops ? { ...result.error, stopsBatch: true } : result.error });
      } else if (result.status === 'skipped') {
        const p = usable!;
        addEvidence(p.evidence);
        emit(command === 'embed'
          ? { file, status: 'skipped', output: shownOutput, payload: workerData.payload, width: p.width, height: p.height, format: p.format, bytes: p.bytes }
          : { file, status: 'skipped', found: p.found, payload: p.payload, pValue: p.pValue, score: p.score, crcOk: p.crcOk, ...(p.frames ? { frames: p.frames } : {}), ...(p.pieces ? { pieces: p.pieces } : {}), width: p.width, height: p.height, format: p.format });
      } else {
        const base = { width: result.width, height: result.height, format: result.format };
        const ms = Math.round(result.ms);
        const warned = result.warnings ? { warnings: result.warnings } : {};
        if (command === 'embed') {
          if (manifest) manifest.files[rel] = { hash: result.hash, options: optionsPrint, output: parts.join('/'), bytes: result.bytes, ...base, time: new Date().toISOString() };
          emit({ file, status: 'done', output: shownOutput, payload: workerData.payload, ...base, bytes: result.bytes, ms, ...warned });
        } else {
          const found = { found: result.found!, payload: result.payload ?? null, pValue: result.pValue, score: result.score, crcOk: result.crcOk, ...(result.frames ? { frames: result.frames } : {}), ...(result.pieces ? { pieces: result.pieces } : {}) };
          addEvidence(result.evidence);
          if (manifest) manifest.files[rel] = { hash: result.hash, options: optionsPrint, ...found, ...base, evidence: result.evidence && [result.evidence.score, ...result.evidence.reference].join(' '), time: new Date().toISOString() };
          emit({ file, status: 'done', ...found, ...base, ms, ...warned });
        }
        saver?.changed();
      }
    };
    // Keep one file more per worker in flight than it works on, so no worker waits on this
    // thread, and stop handing out files as soon as the signal aborts (those in progress finish
    // and are recorded).
    const lane = async () => {
      while (next < files.length && !options.signal?.aborted && !callbackError && !stopError) await processOne(files[next++]);
    };
    await Promise.all(Array.from({ length: Math.min(files.length, jobs * (TASKS_PER_WORKER + 1)) }, lane));
    summary.pending = files.length - next + cancelled;
    summary.interrupted = summary.pending > 0;
    if (stopError) summary.stopped = stopError;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await pool.destroy().catch(() => {});
    try {
      await saver?.close();
    } catch (err) {
      // Reported below with the totals, unless the batch failed already (that error goes on).
      manifestError = { error: err };
    } finally {
      // Not when saveManifestsNow released it already: the file there may be another batch's lock now.
      if (locked) lockedBatches.delete(locked);
      if (locked?.lock) await fsp.unlink(locked.lock).catch(() => {});
      if (lockedManifest !== undefined) heldLocks.delete(lockedManifest);
      await rootHandle?.close().catch(() => {});
    }
  }
  if (callbackError) throw callbackError.error;
  if (command === 'detect') summary.evidence = pooled.count > 0 ? pooled.result(threshold) : null;
  summary.elapsedSeconds = Math.round((performance.now() - started)) / 1000;
  const finished = summary.done + summary.skipped + summary.errors;
  summary.filesPerSecond = summary.elapsedSeconds > 0 ? Math.round((finished / summary.elapsedSeconds) * 100) / 100 : 0;
  if (manifestError) {
    const cause = manifestError.error;
    const what = command === 'embed' ? 'their marked copies are written, ' : '';
    throw Object.assign(new FileError(`${cause instanceof Error ? cause.message : String(cause)}: the files finished since its last save are not recorded in it (${what}a re-run does them again)`, { cause }), { summary });
  }
  return summary;
}
