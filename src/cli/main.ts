// The `modelmark` command line: embed and detect marks in image files (the deep watermark's
// embed --deep, extract and train-deep are in ./deep.ts).
import { fstatSync, promises as fsp, readFileSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import { invalidParameter } from '../args.js';
import { DecodeError, FileError, ImageSizeError, inFile, InvalidArgumentError, ModelmarkError } from '../errors.js';
import { DEFAULT_MAX_PIXELS, pixelCount } from '../image.js';
import { createWatermarker, DEFAULT_THRESHOLD, MAX_ASPECT_LIMIT, type Watermarker } from '../index.js'; // the default entry: kernels built in
import { parsePayload, payloadHex } from '../payload.js';
import { litBox } from '../pieces.js';
import { psnr } from '../metrics.js';
import { isClosedPipe, OUTPUT_CLOSED, reportedOutputErrors } from './signals.js';

export { OUTPUT_CLOSED, reportedOutputErrors } from './signals.js';

/** Where the CLI writes and what environment it reads; injectable for tests. */
export interface CliIO {
  /**
   * Text, and the image bytes of `embed IN -` (written with a callback where write takes one).
   * `isTTY` true: `embed IN -` refuses to write an image to it.
   */
  stdout: { write(chunk: string | Uint8Array, callback?: (err?: Error | null) => void): unknown; isTTY?: boolean };
  /** `isTTY` true shows a progress bar for folders (as process.stderr on a terminal). */
  stderr: { write(chunk: string): unknown; isTTY?: boolean };
  env: Record<string, string | undefined>;
  /** Where `-` as IN reads the image from (default process.stdin). */
  stdin?: AsyncIterable<Uint8Array> & { isTTY?: boolean };
}

/** `-` as IN or OUT: standard input or output. */
const STDIO = '-';
const STDIN_LABEL = 'standard input';
/** Largest image file read from standard input. */
const STDIN_MAX_BYTES = 1 << 30;
const FORMATS = ['jpeg', 'png', 'webp', 'gif', 'avif', 'tiff'] as const;
/** Other names --format takes for them. */
const FORMAT_ALIASES: Record<string, string> = { jpg: 'jpeg', jpe: 'jpeg', jfif: 'jpeg', tif: 'tiff' };

/**
 * The whole of standard input, refused when it is a terminal, or over 1 GiB or over what an image
 * within the pixel limit can take (maxFileBytes: the cap readImage puts on files), as it streams in.
 */
async function readStdin(io: CliIO, maxPixels: number): Promise<Buffer> {
  const { maxFileBytes } = await import('../node/io.js');
  const cap = maxFileBytes(maxPixels);
  const stdin = io.stdin ?? process.stdin;
  if (stdin.isTTY) throw usageError('IN is - (standard input), which is a terminal: pipe an image in (modelmark ... - < photo.jpg)');
  if (stdin === process.stdin) {
    const st = (() => { try { return fstatSync(0); } catch { return null; } })();
    if (st?.isDirectory()) throw usageError('IN is - (standard input), which is a directory: redirect an image file in (modelmark ... - < photo.jpg), or pass the folder as IN');
  }
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of stdin) {
    n += chunk.length;
    if (n > STDIN_MAX_BYTES) throw new FileError(`Standard input is over ${STDIN_MAX_BYTES >> 20} MB; write the image to a file and pass its path`);
    if (n > cap) {
      throw new ImageSizeError('ERR_IMAGE_TOO_LARGE', `Standard input is over ${(cap / 1048576).toFixed(0)} MiB, more than any image file within the limit of ` +
        `${pixelCount(maxPixels)} can be (8 bytes a pixel and 64 MiB of metadata); if you trust it, raise the limit with --max-pixels.`);
    }
    parts.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }
  if (n === 0) throw new DecodeError(`Standard input is empty: pipe or redirect an image in (modelmark ... - < photo.jpg)`);
  return Buffer.concat(parts, n);
}

/** Extensions that name an image file (a folder OUTDIR named so is more likely a mistake). */
const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif'];

/**
 * Refuse to write `path` when it is the file standard input is reading (`embed - x.jpg < x.jpg`):
 * the input would be lost, and writeImage's own check only knows paths.
 */
function refuseStdinTarget(path: string): void {
  let a, b;
  try {
    a = fstatSync(0);
    b = statSync(path);
  } catch {
    return; // no such output yet, or standard input is not a file
  }
  if (a.isFile() && a.dev === b.dev && a.ino === b.ino) {
    throw new FileError(`Refusing to overwrite ${JSON.stringify(path)}: it is the file being read from standard input; write the output to a different path`);
  }
}

/**
 * A warning about a file, as printed: the decoder's (a damaged file, read all the same), a
 * metadata block left out ("metadata: ..." from readImage), or a folder run's copy written at 95
 * because the mark did not read back at its input's quality ("quality: ...").
 */
export function warningLine(name: string, w: string): string {
  const kind = /^(metadata|quality): /.exec(w);
  return kind
    ? `modelmark: warning: ${name}: ${w.slice(kind[0].length)}\n`
    : `modelmark: warning: decoding ${name}: ${w} (read as its decoder shows it; the file may be damaged)\n`;
}

/** The warnings about IN, on standard error. */
function warn(io: CliIO, input: string, warnings: string[] | undefined): void {
  for (const w of warnings ?? []) io.stderr.write(warningLine(input === STDIO ? STDIN_LABEL : JSON.stringify(input), w));
}

/** IN as messages name it: the path, or "standard input" for -. */
const inputName = (input: string) => (input === STDIO ? STDIN_LABEL : input);

/** Read and decode IN: the file, or all of standard input for -. */
async function readInput(input: string, options: import('../node/io.js').ReadImageOptions & { keepDepth: true }, io: CliIO) {
  const { decodeImageFile, readImage } = await import('../node/io.js');
  return input === STDIO ? decodeImageFile(await readStdin(io, options.maxPixels ?? DEFAULT_MAX_PIXELS), STDIN_LABEL, options) : readImage(input, options);
}

/**
 * Write image bytes to standard output, resolving once they are handed to the system: 'closed'
 * when the reader has closed the pipe (nothing to report: the command ends with OUTPUT_CLOSED).
 */
function writeStdout(io: CliIO, bytes: Uint8Array): Promise<'written' | 'closed'> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err?: Error | null) => {
      if (settled) return;
      settled = true;
      if (err) reportedOutputErrors.add(err);
      if (err && isClosedPipe(err)) resolve('closed');
      else if (err) reject(new FileError(`Cannot write the image to standard output: ${err.message}`, { cause: err }));
      else resolve('written');
    };
    const r = io.stdout.write(bytes, done);
    // A writer without callbacks (a test double) has taken the bytes when write returns.
    if (io.stdout.write.length < 2 && r !== false) done();
  });
}

const KEY_ENV = 'MODELMARK_KEY';
/** Largest key file read, in bytes: a key, not a document (a mistyped path to an image stops here). */
export const KEY_FILE_MAX_BYTES = 4096;

const USAGE = `modelmark: invisible, keyed image watermarks

Usage:
  modelmark embed IN OUT --payload HEX [--key KEY | --key-file F] [--strength S] [--quality Q]
                 [--format F] [--strip-metadata] [--max-pixels N] [--max-aspect N] [--json]
  modelmark detect IN [--key KEY | --key-file F] [--threshold P] [--max-pixels N]
                 [--max-aspect N] [--pieces | --all-pieces] [--map OUT.png] [--json]
  modelmark embed DIR OUTDIR --payload HEX [--key KEY | --key-file F] [--jobs N]
                 [--memory-budget SIZE] [--manifest FILE] [--no-follow-links] [embed options]
  modelmark detect DIR [--key KEY | --key-file F] [--jobs N] [--memory-budget SIZE]
                 [--manifest FILE] [--no-follow-links] [--json] [detect options]
  modelmark embed IN OUT --deep [--models DIR] [--quality Q] [--strip-metadata] [--max-pixels N]
                 [--json]
  modelmark extract IN [--out LOGO.png] [--scale N] [--models DIR] [--threshold T]
                 [--max-pixels N] [--json]
  modelmark train-deep --logo LOGO.png --photos DIR --minutes M [--out DIR] [--work DIR]
                       [--seed N] [--init DIR|none] [--json]
  modelmark help | --help
  modelmark --version

Commands:
  embed    Write a marked copy of IN to OUT carrying a 64-bit payload (1 to 16 hex digits).
           OUT's extension (.png, .jpg, .jpeg, .webp, .gif, .avif, .tif, .tiff) picks its
           format; without one, IN's format is kept. IN is never overwritten; OUT is written
           atomically. IN's metadata is kept (see --strip-metadata; a warning names what an
           output format cannot carry), and a JPEG is written at IN's quality (see --quality).
           Every frame of an animated GIF or WebP is marked on its own (write it as .gif or
           .webp, or as the pages of a .tiff), as is every page of a multi-page TIFF; an
           animated PNG (APNG) is refused, since only its first image can be read here.
           IN - reads the image from standard input; OUT - writes it to standard output
           (the report then goes to standard error; refused when that is a terminal; exit
           status 141 when its reader quits before the end, as "| head -c 100" does).
  detect   Look for the key's mark in IN (blind: the original is not needed); IN - reads
           standard input. An animation's first 16 frames are read in turn (the p-value
           counts every frame read; --json adds "frames": {count, read, at}).
           Exit status: 0 mark found, 1 not found, 2 error.

Deep watermark (a logo image hidden by trained networks; no key, no payload):
  embed --deep  Write a copy of IN to OUT carrying the logo of the models (default: the
           package's own; --models DIR for models written by train-deep). Single files only;
           OUT's format as for embed; IN is never overwritten; OUT is written atomically.
  extract  Recover the logo from IN and compare it with the models' logo: found when the
           normalised correlation (NC) reaches the threshold (default: the models' own,
           calibrated on clean photos). --json prints one line
             {"found","nc","threshold","file","width","height","format","models","logoSize",
              "out"?,"outWidth"?,"outHeight"?}
           Exit status: 0 logo found, 1 not found, 2 error.
  train-deep  Train models for your own logo and write them to --out (default
           ./modelmark-models): h.onnx, r.onnx, deep.json and logo.png, for --models DIR.
           The logo (any image sharp reads) is reduced to 32x32 grey, contained on black:
           bright is ink, so invert a dark logo on a light background first; transparent
           parts count as background. --photos: a folder of at least 2 photos (at least
           256x256) like the ones you will mark (more is better, up to 200: a larger folder is
           sampled by --seed). --minutes: the training time of both stages (stage 1 trains
           the embedder and extractor together for 3/4 of it, stage 2 the extractor alone on
           photos really marked and re-encoded); preparing stage 2 and calibrating the
           threshold take a few seconds per photo on top, outside --minutes and the ETA. The
           package's own models trained 81 minutes on one core: runs of a few minutes give
           weak marks. By default
           training starts from the package's models (much faster than from scratch for a
           new logo); --init DIR starts from another models folder, --init none from random
           weights (hours, not minutes).
           Progress: a bar on a terminal, otherwise a line every 10 seconds on stderr.
           --json: JSON lines on stdout (no bar), as for folders: {"event":"start",
           "photos","totalS","seed","out","work","init","resumed"}, then at most one a
           second {"event":"progress","stage","step","elapsedS","totalS","etaS","percent",
           "psnr","nc","ncClean"} (steps increase; null figures: none measured yet),
           {"event":"phase","phase":"stage2"|"calibrating"|"calibrated",...,"message"},
           {"event":"stopping","signal",...} at a signal; last, the summary, with no
           "event": {"ok":true,"out","work","logo","photos","init","seconds","steps",
           "trainPsnr","trainNc","threshold",...}, or {"ok":false,"interrupted":true,
           "signal","checkpointed","steps",...} ("quit":true after a second signal), or
           {"error":{...}}. Notes and warnings stay on stderr. Standard output closed
           by its reader stops the run as Ctrl-C does (exit 141; another write error: 2).
           Resuming: checkpoints are written to --work (default OUT/.checkpoints) every 3
           minutes; rerun the same command after an interruption to go on from the last one
           (with the --seed of the first run; another --seed is refused). Ctrl-C (or SIGTERM)
           stops after the current step or calibration photo, a second one at once.
           --minutes counts the whole training, earlier runs included.

Folders:
  When IN is a folder, every JPEG, PNG, WebP, GIF, AVIF and TIFF file in it and its sub-folders is
  processed (by extension; hidden files and folders and symbolic links to folders are skipped),
  in parallel, one worker per core. embed writes each marked copy to the same path under OUTDIR
  (created when missing), in the same format. OUTDIR may not be DIR or contain it; when it lies
  inside DIR its files are not taken as inputs. A file that fails is reported and the others
  go on.
  Resuming: embed keeps a manifest, OUTDIR/.modelmark-manifest.json (detect only with
  --manifest), of each finished file's SHA-256, a keyed fingerprint of the key and options
  (never the key) and its output or result; a re-run skips the files that are unchanged and
  redoes the others. It is rewritten atomically as files finish, so Ctrl-C leaves it valid
  (the first Ctrl-C lets the files in progress finish; a second quits at once).
  Output: on a terminal, a progress bar on stderr and a summary line; with --json or when
  stderr is not a terminal, one JSON line per file on stdout,
    {"file","status":"done"|"skipped"|"error","output"?,"payload"?,"found"?,"pValue"?,
     "score"?,"crcOk"?,"width"?,"height"?,"format"?,"bytes"?,"ms"?,"warnings"?,
     "error"?:{"code","message","stopsBatch"?}}
  then {"summary":{"command","total","done","skipped","errors","found"?,"notFound"?,
    "pending","interrupted","stopped"?,"jobs","memoryBudget","elapsedSeconds","filesPerSecond","manifest",
    "evidence"?}}; "stopped" ({"code","message"}) says what stopped the batch early.
  Pooled evidence (detect): every file read also gives its evidence for the key's mark, and
  the summary tests the whole set at once, "evidence":{"count","score","spread","t","dof",
  "pValue","found"}: found when the set carries the mark even if no single file shows it (a
  dataset recompressed hard, a folder of thumbnails). The p-value
  stays valid for near-duplicate files (it is measured against sign-flipped reference
  patterns of the same files). Files are read as they are: no search for crops or rotations.
  Exit status: embed 0 all marked or unchanged, 2 any error; detect 0 mark found in every
  file, 1 missing from some (or no image in the folder), 2 any error; 130, 143 or 129
  interrupted by SIGINT, SIGTERM or SIGHUP; 141 when standard output's reader quit ("| head -1"),
  2 when standard output cannot be written (a full disk): the batch stops as on the first Ctrl-C.
  One batch at a time per manifest (a lock beside it).

Options:
  --key KEY         secret key; by default the ${KEY_ENV} environment variable, which
                    keeps the key out of shell history and process listings
  --key-file FILE   embed, detect: read the key from FILE (one line ending removed, so
                    "openssl rand -hex 16 > FILE" works; binary keys too; at most ${KEY_FILE_MAX_BYTES} bytes);
                    - reads it from standard input (pass show mm | modelmark detect x.jpg
                    --key-file -)
  --payload HEX     embed: the 64-bit payload, 1 to 16 hex digits (e.g. c0ffee0000000001)
  --strength S      embed: strength, 0.25 to 4 (default 1, about 42 dB PSNR)
  --quality Q       embed: JPEG / WebP / AVIF quality, 1 to 100; PNG, TIFF and GIF outputs
                    ignore it (PNG and TIFF are lossless, GIF a 256-colour palette). Default: a
                    JPEG written from a JPEG keeps IN's quality (read from its tables; at least
                    75), chroma subsampling and progressive mode, so the copy weighs what IN
                    did, and is read back: where the mark does not survive that quality, it is
                    written at 95 (a note says so); a lossless WebP stays lossless; the rest 95
  --format F        embed: jpeg (jpg), png, webp, gif, avif or tiff (tif), for OUT - or an
                    OUT without an extension (default: IN's format)
  --strip-metadata  embed: leave out the input's EXIF, ICC profile, XMP and resolution (dpi),
                    which are kept by default (EXIF with its orientation set upright, since
                    the marked pixels are; the pixels stay in the ICC profile's colours),
                    a JPEG's or TIFF's IPTC records (caption, creator, copyright), which JPEG
                    and TIFF outputs keep, and a PNG's text chunks (title, author, an image
                    generator's parameters and workflow), which PNG outputs keep.
  --threshold P     detect: p-value a mark must beat (default 1e-6)
  --max-pixels N    largest image accepted, in pixels (default 100000000)
  --max-aspect N    embed, detect: largest aspect ratio accepted, long side / short side,
                    1 to 128 (default 32; the memory the mark needs grows with it)
  --map OUT.png     detect: also write a picture of where the mark was found (green: mark,
                    amber: weak, red: examined without a mark); never over IN
  --pieces          detect: also look for a marked piece inside a larger image (a photo
                    pasted into a collage or a page): when the whole image reads no mark,
                    nine windows of 60% of each side are searched too (up to ten times the
                    time on an image without a mark; the p-value counts every window)
  --all-pieces      detect: as --pieces, and every marked piece, not only the first (each
                    further one found with those before painted out; --json lists them
                    all in "pieces"; --map draws the first as above and each further
                    piece's marked cells in cyan, magenta, blue, then orange)
  --json            print one JSON line (errors too: {"error": {"code", "message"}});
                    for folders, one line per file and a summary line; train-deep:
                    progress lines, then its summary line
  --deep            embed: the deep watermark (the models' logo) instead of a keyed payload
  --models DIR      embed --deep, extract: folder with h.onnx, r.onnx and deep.json
                    (default: the models shipped in the package)
  --threshold T     extract: NC the extraction must reach, -1 to 1 (default: the models';
                    a negative one as --threshold=-0.2)
  --out FILE        extract: write the extracted logo as a PNG (never over IN)
                    train-deep: the models folder to write (default ./modelmark-models)
  --scale N         extract: enlarge the --out picture N times, 1 to 64 (default 8: 256x256)
  --logo FILE       train-deep: the logo image (bright ink on dark or transparent)
  --photos DIR      train-deep: folder of at least 2 training photos, 256x256 or larger
                    (smaller ones in it are left out, and named)
  --minutes M       train-deep: training time in minutes (above 0)
  --work DIR        train-deep: checkpoint folder (default OUT/.checkpoints)
  --seed N          train-deep: seed of the data sampling and noise (default 1; runs stop on
                    wall-clock time, so one seed gives alike, not identical, models)
  --init DIR|none   train-deep: models to start from (default: the package's, when present)
  --jobs N          folders: worker threads (default: the number of cores)
  --memory-budget SIZE
                    folders: memory the files in progress may hold at once, all workers
                    together: bytes, or with K, M or G (binary: 512M is 512 MiB; default
                    512M per job, at most half the machine's memory); a file larger than
                    it runs alone
  --manifest FILE   folders: where the resume manifest is kept (embed: by default
                    OUTDIR/.modelmark-manifest.json; detect: none by default)
  --no-follow-links folders: do not read images that are symbolic links (for folders
                    others fill: a link to a file elsewhere is an error, never copied)
  -h, --help        show this help
  -v, --version     show the version (alone: modelmark --version)
`;

const COMMON = {
  key: { type: 'string' },
  'key-file': { type: 'string' },
  jobs: { type: 'string' },
  'memory-budget': { type: 'string' },
  manifest: { type: 'string' },
  'no-follow-links': { type: 'boolean' },
  'max-pixels': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;
const OPTIONS = {
  embed: {
    ...COMMON, 'max-aspect': { type: 'string' }, payload: { type: 'string' }, strength: { type: 'string' }, quality: { type: 'string' }, 'strip-metadata': { type: 'boolean' },
    format: { type: 'string' },
    deep: { type: 'boolean' }, models: { type: 'string' },
  },
  detect: { ...COMMON, 'max-aspect': { type: 'string' }, threshold: { type: 'string' }, map: { type: 'string' }, pieces: { type: 'boolean' }, 'all-pieces': { type: 'boolean' } },
  extract: {
    models: { type: 'string' }, threshold: { type: 'string' }, out: { type: 'string' }, scale: { type: 'string' },
    'max-pixels': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  },
  'train-deep': {
    logo: { type: 'string' }, photos: { type: 'string' }, minutes: { type: 'string' }, out: { type: 'string' }, work: { type: 'string' },
    seed: { type: 'string' }, init: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  },
} as const;
type Command = keyof typeof OPTIONS;

export function usageError(message: string): InvalidArgumentError {
  return new InvalidArgumentError(`${message} (see modelmark --help)`);
}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** A number from a flag's text: decimal or exponent notation only. */
export function parseNumber(flag: string, text: string | undefined, expected: string): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(value)) throw invalidParameter(flag, expected, text);
  return value;
}

export function parseInteger(flag: string, text: string | undefined, min: number, max: number): number | undefined {
  const value = parseNumber(flag, text, `a whole number between ${min} and ${max}`);
  if (value !== undefined && (!Number.isInteger(value) || value < min || value > max)) {
    throw invalidParameter(flag, `a whole number between ${min} and ${max}`, text);
  }
  return value;
}

/** Rewrite the library's option names into flag names in a message. */
function flagNames(err: unknown): unknown {
  if (!(err instanceof InvalidArgumentError)) return err;
  const message = err.message
    .replace(/\boptions\.strength\b/g, '--strength')
    .replace(/\boptions\.threshold\b/g, '--threshold')
    .replace(/\boptions\.maxPixels\b/g, '--max-pixels')
    .replace(/\boptions\.maxAspect\b/g, '--max-aspect')
    .replace(/\boptions\.(jobs|quality|payload|manifest)\b/g, '--$1');
  return message === err.message ? err : new InvalidArgumentError(message, { cause: err });
}

export { inFile } from '../errors.js';

/**
 * The key of --key-file PATH: the file's bytes with one line ending (LF or CRLF) removed, so
 * `openssl rand -hex 16 > FILE` and `--key "$(cat FILE)"` give the same key; binary keys work too
 * (bytes, as the API takes them). `-` reads standard input (not when IN is - too). A pipe or
 * process substitution (`--key-file <(pass show mm)`) is read like a file. The key's bytes are
 * never shown in a message.
 */
async function readKeyFile(path: string, io: CliIO, inputIsStdin: boolean): Promise<string | Uint8Array> {
  let source: AsyncIterable<Uint8Array>;
  const name = path === STDIO ? 'standard input' : JSON.stringify(path);
  if (path === STDIO) {
    if (inputIsStdin) throw usageError('--key-file - and IN - both read standard input: give the key in a file (or MODELMARK_KEY), or the image as a path');
    const stdin = io.stdin ?? process.stdin;
    if (stdin.isTTY) throw usageError('--key-file - reads the key from standard input, which is a terminal: pipe the key in (e.g. pass show modelmark | modelmark ...), or give a file');
    source = stdin;
  } else {
    const { open } = await import('node:fs/promises');
    let handle;
    try {
      handle = await open(path, 'r');
      if ((await handle.stat()).isDirectory()) throw Object.assign(new Error('a folder'), { code: 'EISDIR' });
    } catch (err) {
      await handle?.close();
      const code = (err as NodeJS.ErrnoException).code;
      throw new FileError(`--key-file: cannot read ${name} (${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : code ?? (err as Error).message}); give the path of a file holding the key`, { cause: err });
    }
    source = handle.createReadStream();
  }
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of source) {
    n += chunk.length;
    if (n > KEY_FILE_MAX_BYTES) {
      if ('destroy' in source && typeof source.destroy === 'function') source.destroy();
      throw usageError(`--key-file: ${name} is over ${KEY_FILE_MAX_BYTES} bytes, too long for a key (is it the right file?)`);
    }
    parts.push(chunk);
  }
  let bytes = Buffer.concat(parts, n);
  if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0a) bytes = bytes.subarray(0, bytes.length - (bytes.length > 1 && bytes[bytes.length - 2] === 0x0d ? 2 : 1));
  if (bytes.length === 0) throw usageError(`--key-file: ${name} is empty; put the secret key in it (e.g. openssl rand -hex 16 > FILE)`);
  // Text keys as strings (the same key as --key TEXT, and a batch manifest's fingerprint the same), others as bytes.
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return new Uint8Array(bytes);
  }
}

/** The key: --key, --key-file or MODELMARK_KEY, in that order; --key with --key-file is refused. */
async function resolveKey(values: Record<string, string | boolean | undefined>, io: CliIO, inputIsStdin: boolean): Promise<string | Uint8Array> {
  const file = values['key-file'] as string | undefined;
  if (file !== undefined) {
    if (values.key !== undefined) throw usageError('--key and --key-file both given: give the key one way');
    return readKeyFile(file, io, inputIsStdin);
  }
  return resolveKeyFlag(values.key as string | undefined, io.env);
}

function resolveKeyFlag(flag: string | undefined, env: CliIO['env']): string {
  if (flag !== undefined) {
    if (flag === '') throw usageError(`--key is empty; pass a non-empty key or set ${KEY_ENV}`);
    return flag;
  }
  const fromEnv = env[KEY_ENV];
  if (fromEnv === undefined) {
    throw usageError(`no key given: set the ${KEY_ENV} environment variable (keeps the key out of shell history), pass --key-file FILE or --key KEY`);
  }
  if (fromEnv === '') throw usageError(`${KEY_ENV} is set but empty; set it to your secret key or pass --key KEY`);
  return fromEnv;
}

/** The kinds of metadata an image read carries: e.g. ['exif', 'icc']. */
export function keptMetadata(m: { exif?: Uint8Array; icc?: Uint8Array; xmp?: Uint8Array; iptc?: Uint8Array; pngText?: unknown[] } | undefined): string[] {
  return m ? (['exif', 'icc', 'xmp', 'iptc', 'pngText'] as const).filter((k) => (m[k]?.length ?? 0) > 0) : [];
}

/** A format as people write it: WebP, not WEBP. */
const formatName = (f: string) => (f === 'webp' ? 'WebP' : f.toUpperCase());
const BLOCK_NAMES: Record<string, string> = { exif: 'EXIF block', icc: 'ICC profile', xmp: 'XMP packet', iptc: 'IPTC data', pngText: 'PNG text (tEXt, zTXt, iTXt)' };
/** Blocks only some formats have a place for: the formats that do. */
const ONLY_IN: Record<string, { formats: string[]; names: string }> = {
  iptc: { formats: ['jpeg', 'tiff'], names: 'JPEG or TIFF' },
  pngText: { formats: ['png'], names: 'PNG' },
};
const LEFT_OUT_WHY: Record<string, string> = {
  gif: 'GIF files carry no metadata',
  jpeg: 'EXIF, XMP or IPTC over 64 KB does not fit a JPEG segment',
};

/** A warning on standard error for each block of the input's metadata that the written file does not carry; `shown`: the output as printed (a quoted path, or "the encoded image"). */
export function warnLeftOut(io: CliIO, shown: string, had: string[], written: { format: string; metadata: string[] }): void {
  const left = had.filter((k) => !written.metadata.includes(k));
  if (left.length === 0) return;
  const names = left.map((k) => `the ${BLOCK_NAMES[k] ?? k}`);
  const list = names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
  // Blocks the output's format has no place for (IPTC outside JPEG and TIFF, PNG text outside PNG).
  const only = left.every((k) => ONLY_IN[k] && !ONLY_IN[k].formats.includes(written.format)) && written.format !== 'gif';
  const why = only
    ? `${formatName(written.format)} files have no place for ${left.length === 1 ? 'it' : 'them'}; write ${left.map((k) => ONLY_IN[k].names).join(', or ')} to keep ${left.length === 1 ? 'it' : 'them'}`
    : LEFT_OUT_WHY[written.format] ?? `${formatName(written.format)} output did not keep ${left.length === 1 ? 'it' : 'them'}`;
  io.stderr.write(`modelmark: warning: ${shown}: ${list} of the input ${left.length === 1 ? 'was' : 'were'} left out (${why})\n`);
}

function formatP(p: number): string {
  return p === 0 ? '0' : p < 1e-3 ? p.toExponential(1) : p.toPrecision(2);
}

async function makeWatermarker(options: { key: string | Uint8Array; strength?: number; threshold?: number; maxPixels?: number; maxAspect?: number }): Promise<Watermarker> {
  try {
    return await createWatermarker(options);
  } catch (err) {
    throw flagNames(err);
  }
}

/** --max-aspect: largest aspect ratio, 1 to 128 (checked by createWatermarker, named as the flag). */
function parseMaxAspect(values: Record<string, string | boolean | undefined>): number | undefined {
  return parseNumber('--max-aspect', values['max-aspect'] as string | undefined, `a number between 1 and ${MAX_ASPECT_LIMIT}`);
}

/** --jobs: worker threads for folders (at most MAX_JOBS of node/batch). */
function parseJobs(values: Record<string, string | boolean | undefined>): number | undefined {
  return parseInteger('--jobs', values.jobs as string | undefined, 1, 256);
}

/**
 * --memory-budget: bytes, or a number with K, M or G (binary units: 512M is 512 MiB; KiB, MiB,
 * GiB, KB, MB and GB are read the same, B may follow), a whole number of bytes of at least 1.
 * @example
 * parseMemoryBudget({ 'memory-budget': '1.5G' }); // 1610612736
 */
export function parseMemoryBudget(values: Record<string, string | boolean | undefined>): number | undefined {
  const text = values['memory-budget'] as string | undefined;
  if (text === undefined) return undefined;
  const expected = 'a size in bytes, or with K, M or G (512M, 2G)';
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmg])i?b?|b)?\s*$/i.exec(text);
  if (!m) throw invalidParameter('--memory-budget', expected, text);
  const unit = m[2] ? 1024 ** (' kmg'.indexOf(m[2].toLowerCase())) : 1;
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!(bytes >= 1 && Number.isSafeInteger(bytes))) throw invalidParameter('--memory-budget', expected, text);
  return bytes;
}

export async function isFolder(path: string): Promise<boolean> {
  return (await fsp.stat(path).catch(() => null))?.isDirectory() === true;
}

/** --no-follow-links as runBatch's option. */
const followLinks = (values: Record<string, string | boolean | undefined>) => (values['no-follow-links'] === true ? { followLinks: false } : {});

/** A folder IN: the batch runner (loaded only here: piscina and cli-progress stay out of single-file runs). */
async function folder(options: Parameters<typeof import('./batch.js').runFolder>[0], values: Record<string, string | boolean | undefined>, io: CliIO): Promise<number> {
  const { runFolder } = await import('./batch.js');
  try {
    return await runFolder(options, values.json === true, io);
  } catch (err) {
    throw flagNames(err);
  }
}

async function embed(values: Record<string, string | boolean | undefined>, positionals: string[], io: CliIO): Promise<number> {
  if (positionals.length !== 2 && !values.deep) {
    throw usageError(`embed takes IN and OUT, got ${positionals.length} argument${positionals.length === 1 ? '' : 's'}`);
  }
  if (values.models !== undefined && !values.deep) throw usageError('--models is an option of the deep watermark: add --deep (modelmark embed IN OUT --deep --models DIR)');
  if (values.deep) return (await import('./deep.js')).embedDeep(values, positionals, io);
  const [input, output] = positionals;
  if (values.payload === undefined) throw usageError('embed needs --payload HEX, the 64-bit value to hide (1 to 16 hex digits)');
  const payload = parsePayload(values.payload, '--payload');
  const key = await resolveKey(values, io, input === STDIO);
  const strength = parseNumber('--strength', values.strength as string | undefined, 'a number between 0.25 and 4');
  const quality = parseInteger('--quality', values.quality as string | undefined, 1, 100);
  const maxPixels = parseInteger('--max-pixels', values['max-pixels'] as string | undefined, 1, Number.MAX_SAFE_INTEGER);
  const maxAspect = parseMaxAspect(values);
  const jobs = parseJobs(values);
  const keepMetadata = values['strip-metadata'] !== true;
  // The extensions' spellings are taken too (jpg, tif), in any case: what users type.
  const given = values.format as string | undefined;
  const lower = given?.toLowerCase();
  const formatFlag = lower === undefined ? undefined : Object.hasOwn(FORMAT_ALIASES, lower) ? FORMAT_ALIASES[lower] : lower;
  if (formatFlag !== undefined && !(FORMATS as readonly string[]).includes(formatFlag)) {
    throw usageError(`--format must be jpeg, png, webp, gif, avif or tiff, got ${JSON.stringify(given)}`);
  }
  if (input !== STDIO && await isFolder(input)) {
    if (formatFlag !== undefined) throw usageError('--format takes a single image: a folder keeps each file\'s format');
    if (output === STDIO) throw usageError('a folder IN needs an output folder OUTDIR, not - (standard output takes one image)');
    const ext = extname(output).toLowerCase();
    if (IMAGE_EXTENSIONS.includes(ext) && !(await isFolder(output))) {
      throw usageError(`a folder IN needs an output folder, and ${JSON.stringify(output)} looks like an image file's name (${ext}); give a folder name`);
    }
    return folder({ command: 'embed', input, output, key, payload, strength, quality, keepMetadata, maxPixels, maxAspect, jobs, memoryBudget: parseMemoryBudget(values), manifest: values.manifest as string | undefined, ...followLinks(values) }, values, io);
  }
  if (values.manifest !== undefined) throw usageError('--manifest is for folder runs (IN a folder); a single image has none');
  if (values['no-follow-links'] !== undefined) throw usageError('--no-follow-links is for folder runs (IN a folder)');
  if (values.jobs !== undefined) throw usageError('--jobs is for folder runs (IN a folder); a single image is one job');
  if (values['memory-budget'] !== undefined) throw usageError('--memory-budget is for folder runs (IN a folder)');
  // sharp (via node/io) is loaded only by the commands that need it: help and usage errors stay fast.
  const { checkWritableSize, encodeImage, formatFromPath, isWritableFormat, raisedQualityNote, writeImage } = await import('../node/io.js');
  const { markFile } = await import('../node/frames.js');
  const toStdout = output === STDIO;
  if (toStdout && io.stdout.isTTY) {
    throw usageError('OUT is - (standard output), which is a terminal: redirect or pipe the image (modelmark embed IN - ... > marked.jpg)');
  }
  const outFormat = toStdout ? undefined : formatFromPath(output); // unknown extension: fail before any work
  if (formatFlag !== undefined && outFormat !== undefined && outFormat !== formatFlag) {
    throw usageError(`--format ${formatFlag} contradicts the extension of ${JSON.stringify(output)} (${outFormat}); leave one out`);
  }

  const wm = await makeWatermarker({ key, strength, maxPixels, maxAspect });
  // 16-bit files stay 16-bit when written as PNG or TIFF, 10-bit as AVIF (JPEG, WebP and GIF are 8-bit formats). With the
  // metadata kept, the pixels stay in the colours of the file's ICC profile.
  // Every frame of an animation is read, and marked on its own.
  const image = await readInput(input, { maxPixels, keepDepth: true, metadata: keepMetadata, allFrames: true }, io);
  warn(io, input, image.warnings);
  if (!outFormat && !formatFlag && !isWritableFormat(image.format)) {
    throw new InvalidArgumentError(toStdout
      ? `Cannot write the input's format (${image.format}) to standard output; choose one with --format jpeg, png, webp, gif, avif or tiff`
      : `Cannot write ${JSON.stringify(output)} in the input's format (${image.format}); give it a .png, .jpg, .jpeg, .webp, .gif, .avif, .tif or .tiff extension`);
  }
  const format = formatFlag ?? image.format;
  const { animation } = image;
  const frames = animation?.frames ?? 1;
  const height = animation?.frameHeight ?? image.height;
  // An image the output format cannot hold (WebP: 16383 pixels a side) is refused before marking.
  checkWritableSize(image.width, height, toStdout ? format : outFormat ?? format, toStdout ? 'the encoded image' : output);
  let marked;
  try {
    marked = markFile(wm, image, payload);
  } catch (err) {
    throw inFile(err, input);
  }
  let written: { format: string; size: number; metadata: string[]; quality?: number; raisedFrom?: number };
  // A JPEG written at its input's quality (below 95) is read back before it is kept.
  const verify = { watermarker: wm, payload };
  if (toStdout) {
    const encoded = await encodeImage(marked, { format, quality, encoding: image.encoding, verify, metadata: image.metadata, animation });
    if (await writeStdout(io, encoded.data) === 'closed') return OUTPUT_CLOSED;
    written = { format: encoded.format, size: encoded.data.length, metadata: encoded.metadata, ...(encoded.quality !== undefined ? { quality: encoded.quality } : {}), ...(encoded.raisedFrom !== undefined ? { raisedFrom: encoded.raisedFrom } : {}) };
  } else {
    if (input === STDIO) refuseStdinTarget(output);
    written = await writeImage(output, marked, { format, quality, encoding: image.encoding, verify, sourcePath: input === STDIO ? undefined : input, metadata: image.metadata, animation });
  }
  // With the image on standard output, the report goes to standard error.
  const report = toStdout ? io.stderr : io.stdout;
  const shownOutput = toStdout ? 'the encoded image' : JSON.stringify(output);
  warnLeftOut(io, shownOutput, keptMetadata(image.metadata), written);
  const raised = raisedQualityNote(written);
  if (raised) io.stderr.write(`modelmark: note: ${shownOutput}: ${raised}\n`);
  if (written.format === 'tiff' && frames > 1 && (animation?.delay || animation?.loop !== undefined)) {
    io.stderr.write(`modelmark: warning: ${shownOutput}: the animation's timing (frame delays, loop count) ` +
      'was left out: TIFF pages carry none (write .gif or .webp to keep it)\n');
  }
  // PSNR is informative only: the file is already written, so a failure here is not an error.
  const db = await psnr(image, marked).catch(() => NaN);
  const hex = payloadHex(payload);
  /** Bits per sample written: 16 for a 16-bit input written as PNG or TIFF, 10 as AVIF. */
  const bits = !(image.data instanceof Uint16Array) ? 8 : written.format === 'png' || written.format === 'tiff' ? 16 : written.format === 'avif' ? 10 : 8;
  if (values.json) {
    report.write(JSON.stringify({
      ok: true, input, output, payload: hex, format: written.format, width: image.width, height, frames,
      bits, bytes: written.size, quality: written.quality ?? null, ...(written.raisedFrom !== undefined ? { qualityRaisedFrom: written.raisedFrom } : {}), psnr: Number.isFinite(db) ? Math.round(db * 100) / 100 : null, metadata: written.metadata,
      ...(image.warnings ? { warnings: image.warnings } : {}),
    }) + '\n');
  } else {
    const q = written.quality === undefined ? (written.format === 'webp' ? ' lossless' : '') : ` quality ${written.quality}`;
    const fidelity = Number.isFinite(db) ? `, PSNR ${db.toFixed(1)} dB` : '';
    const kind = `${written.format.toUpperCase()}${bits > 8 ? ` ${bits}-bit` : ''}${frames > 1 ? `, ${frames} frames each marked` : ''}`;
    report.write(`marked ${inputName(input)} -> ${toStdout ? 'standard output' : output}: payload ${hex}, ${image.width}x${height} ${kind}${q}${fidelity}\n`);
  }
  return 0;
}

async function detect(values: Record<string, string | boolean | undefined>, positionals: string[], io: CliIO): Promise<number> {
  if (positionals.length !== 1) throw usageError(`detect takes one image or folder IN, got ${positionals.length} arguments`);
  const [input] = positionals;
  const key = await resolveKey(values, io, input === STDIO);
  const threshold = parseNumber('--threshold', values.threshold as string | undefined, 'a p-value between 0 and 0.5');
  const maxPixels = parseInteger('--max-pixels', values['max-pixels'] as string | undefined, 1, Number.MAX_SAFE_INTEGER);
  const maxAspect = parseMaxAspect(values);
  const mapPath = values.map as string | undefined;
  const pieces = values['all-pieces'] === true ? 'all' : values.pieces === true;
  const jobs = parseJobs(values);
  if (input !== STDIO && await isFolder(input)) {
    if (mapPath !== undefined) throw usageError('--map takes a single image, not a folder');
    return folder({ command: 'detect', input, key, threshold, pieces, maxPixels, maxAspect, jobs, memoryBudget: parseMemoryBudget(values), manifest: values.manifest as string | undefined, ...followLinks(values) }, values, io);
  }
  if (values.manifest !== undefined) throw usageError('--manifest is for folder runs (IN a folder); a single image has none');
  if (values['no-follow-links'] !== undefined) throw usageError('--no-follow-links is for folder runs (IN a folder)');
  if (values.jobs !== undefined) throw usageError('--jobs is for folder runs (IN a folder); a single image is one job');
  if (values['memory-budget'] !== undefined) throw usageError('--memory-budget is for folder runs (IN a folder)');
  const { checkWritableSize, formatFromPath, writeImage } = await import('../node/io.js');
  const { detectFile, MAX_DETECT_FRAMES } = await import('../node/frames.js');
  const mapFormat = mapPath === undefined ? undefined : formatFromPath(mapPath) ?? 'png'; // unknown extension: fail before any work
  const wm = await makeWatermarker({ key, threshold, maxPixels, maxAspect });
  // 16-bit samples are read through their 8-bit view, and ICC-profiled colours as they are
  // stored (no transform to sRGB), exactly as embed marked them; an animation's first frames
  // each in turn (detectFile).
  const image = await readInput(input, { maxPixels, keepDepth: true, metadata: true, allFrames: true, maxFrames: MAX_DETECT_FRAMES }, io);
  warn(io, input, image.warnings);
  // A map its format cannot hold (the image's size, WebP: 16383 pixels a side): refused before detecting.
  if (mapFormat !== undefined) checkWritableSize(image.width, image.animation?.frameHeight ?? image.height, mapFormat, mapPath!);
  let r;
  try {
    r = detectFile(wm, image, { pieces });
  } catch (err) {
    throw inFile(err, input);
  }
  // The frame the result is of (the image itself when it is still).
  const frameHeight = image.animation?.frameHeight ?? image.height;
  const frameLength = image.width * frameHeight * image.channels;
  const at = r.frames?.at ?? 0;
  const frame = { ...image, height: frameHeight, data: image.data.subarray(at * frameLength, (at + 1) * frameLength), animation: undefined };
  if (mapPath !== undefined) {
    const { renderRegionMap } = await import('../node/map.js');
    if (input === STDIO) refuseStdinTarget(mapPath);
    // --all-pieces: every piece's map, the further ones' marked cells in their own colours.
    const maps = r.pieces && r.pieces.length > 1 ? r.pieces.map((p) => p.regions) : r.regions;
    await writeImage(mapPath, await renderRegionMap(frame, maps), { sourcePath: input === STDIO ? undefined : input, format: 'png' });
  }
  const inFrame = r.frames ? ` (frame ${r.frames.at + 1} of ${r.frames.count}, ${r.frames.read} read)` : '';
  if (values.json) {
    io.stdout.write(JSON.stringify({
      found: r.found, payload: r.payload, pValue: r.pValue, score: r.score, crcOk: r.crcOk, transform: r.transform, regions: r.regions,
      threshold: threshold ?? DEFAULT_THRESHOLD, file: input, width: image.width, height: frameHeight, format: image.format,
      ...(r.frames ? { frames: r.frames } : {}), ...(r.pieces ? { pieces: r.pieces } : {}), ...(image.warnings ? { warnings: image.warnings } : {}),
    }) + '\n');
  } else if (r.found) {
    const t = r.transform;
    const geo = t && (Math.abs(t.rotation) > 0.5 || t.flipped || Math.abs(t.aspect - 1) > 0.05)
      ? `; found ${t.flipped ? 'mirrored, ' : ''}rotated ${t.rotation.toFixed(1)} degrees, aspect ${t.aspect.toFixed(3)}` : '';
    io.stdout.write(`found: payload ${r.payload} in ${inputName(input)}${inFrame} (p-value ${formatP(r.pValue)}, score ${r.score.toFixed(2)}${geo})\n`);
    // --all-pieces: the further pieces, each with the box its region map lights (the cells that
    // carry its mark, grown by a cell). Not its transform's translation: that is a tile origin of
    // its grid, which runs on past the piece (often a point of another photo of the collage).
    for (const p of r.pieces?.slice(1) ?? []) {
      const b = litBox(p, image.width, frameHeight);
      io.stdout.write(`found: payload ${p.payload} in another piece of ${inputName(input)}${inFrame} (p-value ${formatP(p.pValue)}, score ${p.score.toFixed(2)}, ` +
        `at ${b.left},${b.top} ${b.width}x${b.height}, scale ${(p.transform?.scale ?? 1).toFixed(2)})\n`);
    }
  } else {
    // "Mark-like" only for a p-value that means something (a --threshold of 0.5 would call
    // every other unmarked image so).
    const why = r.pValue < Math.min(threshold ?? DEFAULT_THRESHOLD, 1e-3) && !r.crcOk
      ? `a mark-like signal (p-value ${formatP(r.pValue)}) but its payload failed the CRC check`
      : `no mark of this key (p-value ${formatP(r.pValue)}, score ${r.score.toFixed(2)})`;
    io.stdout.write(`not found: ${why} in ${inputName(input)}${inFrame}\n`);
  }
  return r.found ? 0 : 1;
}

/**
 * Refuse an option that takes a value given twice with different values (`--key a ... --key b`):
 * the last one would win silently, and a key or payload other than the one meant makes marks
 * no one finds. The same value twice is harmless. The values are not echoed (one may be the key).
 */
function refuseRepeatedValues(tokens: ReturnType<typeof parseArgs>['tokens']): void {
  const seen = new Map<string, string>();
  for (const t of tokens ?? []) {
    if (t.kind !== 'option' || t.value === undefined) continue;
    const before = seen.get(t.name);
    if (before !== undefined && before !== t.value) throw usageError(`--${t.name} given twice, with different values; give it once`);
    seen.set(t.name, t.value);
  }
}

/** Translate node:util parseArgs errors into usage errors that name the flag. */
function parseError(err: unknown, command: Command): unknown {
  const e = err as { code?: string; message?: string };
  if (typeof e?.code !== 'string' || !e.code.startsWith('ERR_PARSE_ARGS')) return err;
  const flag = /'([^' ]+)/.exec(e.message ?? '')?.[1];
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    // A file whose name starts with - reads as an option (-x.jpg as -x): say how to pass one.
    const file = flag && !flag.startsWith('--') ? ' (a file whose name starts with - goes as ./NAME, or after all the options and --)' : '';
    return usageError(`unknown option ${flag ?? ''} for ${command}${file}`);
  }
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    return usageError(/does not take/.test(e.message ?? '') ? `${flag} does not take a value`
      : `${flag} needs a value (one that starts with - goes after an equals sign: ${flag}=-VALUE)`);
  }
  return usageError(String(e.message).split('. ')[0]);
}

/**
 * Run the command line with `argv` (without node and the script) and return the exit status:
 * 0 success / mark found, 1 no mark found, 2 error.
 * @example
 * process.exitCode = await main(process.argv.slice(2));
 */
export async function main(argv: string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  // After --, --json is a file's name, not the flag.
  const json = (argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv).includes('--json');
  /** `embed IN -`: standard output carries the image, so reports (errors too) go to standard error. */
  let imageOnStdout = false;
  try {
    const [first, ...rest] = argv;
    if (first === undefined) {
      io.stderr.write(USAGE);
      return 2;
    }
    if (first === 'help' || first === '--help' || first === '-h') {
      io.stdout.write(USAGE);
      return 0;
    }
    if (first === '--version' || first === '-v' || first === 'version') {
      io.stdout.write(`modelmark ${version()}\n`);
      return 0;
    }
    if (!Object.hasOwn(OPTIONS, first)) {
      throw usageError(first.startsWith('-')
        ? `expected a command (embed, detect, extract or train-deep) before ${first}`
        : `unknown command ${JSON.stringify(first)}; the commands are embed, detect, extract and train-deep`);
    }
    const command = first as Command;
    let parsed;
    try {
      parsed = parseArgs({ args: rest, options: OPTIONS[command], allowPositionals: true, strict: true, tokens: true });
    } catch (err) {
      throw parseError(err, command);
    }
    refuseRepeatedValues(parsed.tokens);
    for (const name of ['map', 'out', 'manifest', 'work'] as const) {
      // `-` means standard input or output for IN and OUT; these write files, and standard output
      // carries the command's result: never a file named "-" in the working folder.
      if ((parsed.values as Record<string, unknown>)[name] === STDIO) {
        throw usageError(`--${name} - : standard output is not supported there (it carries the result); give a path (./- for a file named -)`);
      }
    }
    const values = parsed.values as Record<string, string | boolean | undefined>;
    imageOnStdout = command === 'embed' && parsed.positionals[1] === STDIO;
    if (values.help) {
      io.stdout.write(USAGE);
      return 0;
    }
    switch (command) {
      case 'embed': return await embed(values, parsed.positionals, io);
      case 'detect': return await detect(values, parsed.positionals, io);
      case 'extract': return await (await import('./deep.js')).extract(values, parsed.positionals, io);
      case 'train-deep': return await (await import('./deep.js')).trainDeepCommand(values, parsed.positionals, io);
    }
  } catch (err) {
    const known = err instanceof ModelmarkError;
    const code = known ? err.code : (typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : 'ERR_INTERNAL');
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`modelmark: ${message}\n`);
    if (!known && io.env.MODELMARK_DEBUG && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    if (json) (imageOnStdout ? io.stderr : io.stdout).write(JSON.stringify({ error: { code, message } }) + '\n');
    return 2;
  }
}
