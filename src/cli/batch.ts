// Folder runs of the command line (`modelmark embed DIR OUTDIR`, `modelmark detect DIR`): progress
// and results around runBatch (src/node/batch.ts).
//
// Output: with --json, or when stderr is not a terminal, one JSON object per line on stdout for
// each file (a BatchRecord: {"file", "status": "done"|"skipped"|"error", ...}) and, last,
// {"summary": {...}} (a BatchSummary). On a terminal without --json: a cli-progress bar on
// stderr, per-file errors (and, for detect, each file's result) above it, and a one-line summary
// on stdout. Per-file errors also go to stderr as "modelmark: ..." lines in JSON mode.
//
// Exit status: embed 0 when every file was marked or skipped, 2 when any failed; detect 0 when
// the mark was found in every file, 1 when it was missing from some (no errors) or the folder
// holds no image at all, 2 when any failed; 128 + the signal when interrupted (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP: files in progress finish and the manifest records them;
// a second Ctrl-C quits at once, the manifest written first with every file finished so far).
// Standard output that cannot be written stops the batch the same way (files in progress finish,
// the manifest records them): closed by its reader (`| head -1`), quietly and with 141 (128 +
// SIGPIPE, as a shell reports a producer its reader left); any other error (a full disk behind
// `> file`) said once, with 2.
import { createRequire } from 'node:module';
import type { BatchOptions, BatchRecord, BatchSummary } from '../node/batch.js';
import { warningLine, type CliIO } from './main.js';
import { removePendingTempFiles, removeTempFilesUnder } from '../node/files.js';
import { isClosedPipe, onStopSignals, OUTPUT_CLOSED, reportedOutputErrors } from './signals.js';

/** The part of cli-progress this file uses (it ships no type declarations). */
interface ProgressBar {
  increment(step: number, payload?: Record<string, unknown>): void;
  setTotal(total: number): void;
}
interface MultiBar {
  create(total: number, start: number, payload?: Record<string, unknown>): ProgressBar;
  log(text: string): void;
  update(): void;
  stop(): void;
}
interface CliProgress {
  MultiBar: new (options: Record<string, unknown>, preset?: unknown) => MultiBar;
  Presets: Record<string, unknown>;
}

/** Exit status 128 + SIGINT, as shells report an interrupted command. */
export const INTERRUPTED = 130;

/** A file name for the terminal: control characters (newlines, ESC) escaped, so a name cannot forge lines or send escape sequences. */
const shown = (name: string) => (/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/.test(name)
  // JSON.stringify escapes C0 controls only: DEL, the C1 controls (U+009B is CSI on some
  // terminals), line separators and bidi overrides are escaped here.
  ? JSON.stringify(name).replace(/[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  : name);

function formatP(p: number | undefined): string {
  if (p === undefined) return '?';
  return p === 0 ? '0' : p < 1e-3 ? p.toExponential(1) : p.toPrecision(2);
}

/**
 * The exit status of a finished batch (see the file comment).
 * @example
 * process.exitCode = batchExitCode(await runBatch(options));
 */
export function batchExitCode(s: BatchSummary): number {
  if (s.stopped) return 2;
  if (s.interrupted) return INTERRUPTED;
  if (s.errors > 0) return 2;
  // detect: 0 says "found in every file", which an empty folder does not show.
  return s.command === 'detect' && ((s.notFound ?? 0) > 0 || s.total === 0) ? 1 : 0;
}

function humanSummary(s: BatchSummary): string {
  const parts = [`${s.done} ${s.command === 'embed' ? 'marked' : 'checked'}`, `${s.skipped} unchanged (skipped)`, `${s.errors} failed`];
  const ev = s.evidence;
  const pooled = !ev ? '' : ev.found
    ? `; pooled over ${ev.count} files, the key's mark is in the set (t ${ev.t.toFixed(1)}, p-value ${ev.pValue.toExponential(1)})`
    : `; pooled over ${ev.count} files, no evidence of the key's mark in the set (t ${ev.t.toFixed(1)}, p-value ${ev.pValue < 0.001 ? ev.pValue.toExponential(1) : ev.pValue.toFixed(3)})`;
  const marks = s.command === 'detect' ? `; mark found in ${s.found}, missing in ${s.notFound}${pooled}` : '';
  const tail = s.stopped ? `; stopped (${s.stopped.message}), ${s.pending} not started`
    : s.interrupted ? `; interrupted, ${s.pending} not started` : '';
  const manifest = s.manifest ? `; manifest ${s.manifest}` : '';
  return `${s.command}: ${s.total} files in ${s.elapsedSeconds.toFixed(1)} s (${s.filesPerSecond.toFixed(1)} files/s, ${s.jobs} jobs): ` +
    `${parts.join(', ')}${marks}${tail}${manifest}\n`;
}

/**
 * Run a folder batch for the command line and report it on `io`; returns the exit status.
 * Installs SIGINT / SIGTERM handlers for the batch's duration (first: finish the files in
 * progress and stop; second: quit at once).
 * @example
 * const code = await runFolder({ command: 'embed', input: 'in', output: 'out', key, payload: 'c0ffee' }, false, io);
 */
export async function runFolder(options: Omit<BatchOptions, 'onStart' | 'onRecord' | 'signal'>, json: boolean, io: CliIO): Promise<number> {
  const { runBatch, saveManifestsNow } = await import('../node/batch.js');
  const tty = !json && io.stderr.isTTY === true;
  let multibar: MultiBar | undefined;
  let bar: ProgressBar | undefined;
  let finished = 0;
  const t0 = performance.now();
  const above = (text: string) => (multibar ? multibar.log(text) : io.stderr.write(text));

  const controller = new AbortController();
  let status = INTERRUPTED;
  /** The first error writing standard output: the batch stops, and nothing more is written there. */
  let outputError: Error | undefined;
  const out = (text: string) => {
    if (outputError) return;
    io.stdout.write(text, (err?: Error | null) => {
      if (!err || outputError) return;
      outputError = err;
      reportedOutputErrors.add(err);
      if (isClosedPipe(err)) {
        status = OUTPUT_CLOSED;
      } else {
        status = 2;
        above(`modelmark: cannot write to standard output: ${err.message}; stopping the batch (the files in progress finish)\n`);
      }
      controller.abort();
    });
  };
  const removeSignals = onStopSignals((signal, code) => {
    status = code;
    controller.abort();
    above(`modelmark: interrupted (${signal}): finishing the files in progress (${signal === 'SIGINT' ? 'Ctrl-C' : signal} again to quit now)\n`);
  }, (_signal, code) => {
    multibar?.stop();
    io.stderr.write('modelmark: interrupted again: quitting now; the manifest keeps the files finished so far\n');
    // The atomic writes cut short: no temporary files left behind (the workers' in OUTDIR,
    // this thread's, the manifest's, wherever it is). This thread's first: a periodic save of
    // the manifest still in flight then cannot rename an older manifest over the one below.
    removePendingTempFiles();
    // The files finished since the last periodic save: recorded now, before the exit (their
    // outputs are written whole), and the manifest's lock released.
    for (const err of saveManifestsNow()) io.stderr.write(`modelmark: ${err.message}: the files finished since its last save are not recorded in it (a re-run does them again)\n`);
    if (options.output !== undefined) removeTempFilesUnder(options.output);
    process.exit(code);
  });

  const printSummary = (summary: BatchSummary) => {
    if (multibar) {
      const done = multibar;
      multibar = undefined;
      done.update(); // flush the lines logged since the last redraw
      done.stop();
    }
    out(tty ? humanSummary(summary) : JSON.stringify({ summary }) + '\n');
  };
  try {
    const summary = await runBatch({
      ...options,
      signal: controller.signal,
      onStart: ({ total, jobs, notTaken }) => {
        const where = `${JSON.stringify(options.input)} is a directory`;
        // Files the batch leaves alone, said once: a folder of iPhone photos (.heic) would
        // otherwise read as "no images" or as fewer than the user put there. Their extensions
        // come from file names: escaped as the names are (terminal escapes, bidi overrides).
        const others = Object.entries(notTaken ?? {}).sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1));
        const count = others.reduce((n, [, c]) => n + c, 0);
        const notTakenLine = count === 0 ? '' : `modelmark: ${JSON.stringify(options.input)}: ${count} other file${count === 1 ? '' : 's'} left alone ` +
          `(not JPEG, PNG, WebP, GIF, AVIF or TIFF by ${count === 1 ? 'its' : 'their'} extension): ` +
          others.slice(0, 8).map(([ext, c]) => `${ext ? shown(ext) : '(no extension)'} ${c}`).join(', ') + (others.length > 8 ? ', ...' : '') +
          (notTaken['.heic'] || notTaken['.heif'] ? '; HEIC photos (HEVC, as iPhones save them) cannot be decoded here: convert them to JPEG first' : '') + '\n';
        if (total === 0) {
          io.stderr.write(`modelmark: ${where} with no JPEG, PNG, WebP, GIF, AVIF or TIFF files${options.recursive === false ? '' : ' (sub-folders included)'}\n` + notTakenLine);
          return;
        }
        io.stderr.write(`modelmark: ${where}: ${options.command} in its ${total} JPEG, PNG, WebP, GIF, AVIF and TIFF file${total === 1 ? '' : 's'} ` +
          `(sub-folders included) with ${jobs} job${jobs === 1 ? '' : 's'}${options.command === 'embed' ? `, into ${JSON.stringify(options.output)}` : ''}\n` + notTakenLine);
        if (!tty) return;
        const { MultiBar: Bars, Presets } = createRequire(import.meta.url)('cli-progress') as CliProgress;
        multibar = new Bars({
          stream: io.stderr, hideCursor: true, gracefulExit: false, clearOnComplete: false, fps: 8,
          format: `${options.command} {bar} {percentage}% | {value}/{total} files | {rate} files/s | ETA {eta_formatted} | {last}`,
        }, Presets.shades_classic);
        bar = multibar.create(total, 0, { rate: '0.0', last: '' });
      },
      onRecord: (r: BatchRecord) => {
        finished++;
        if (r.status === 'error') above(`modelmark: ${r.error!.message}\n`);
        if (r.error?.stopsBatch) {
          above('modelmark: stopping the batch: every later file would fail the same way; the files in progress finish\n');
        }
        for (const w of r.warnings ?? []) above(warningLine(JSON.stringify(r.file), w));
        if (!tty) {
          out(JSON.stringify(r) + '\n');
          return;
        }
        if (options.command === 'detect' && r.status !== 'error') {
          above(r.found
            ? `found: payload ${r.payload} in ${shown(r.file)} (p-value ${formatP(r.pValue)})${r.status === 'skipped' ? ' [unchanged]' : ''}\n`
            : `not found: ${shown(r.file)} (p-value ${formatP(r.pValue)})${r.status === 'skipped' ? ' [unchanged]' : ''}\n`);
        }
        const seconds = (performance.now() - t0) / 1000;
        const safe = shown(r.file);
        const name = safe.length > 40 ? '...' + safe.slice(-37) : safe;
        bar?.increment(1, { rate: (finished / Math.max(seconds, 1e-3)).toFixed(1), last: name });
      },
    }).catch((err: unknown) => {
      // The manifest could not be saved at the end: the totals first, then the error (exit 2).
      const s = (err as { summary?: BatchSummary } | null)?.summary;
      if (s) printSummary(s);
      throw err;
    });
    printSummary(summary);
    const code = batchExitCode(summary);
    if (outputError) return status; // the output's error stopped it (even if it came after the last file)
    return code === INTERRUPTED ? status : code; // 128 + the signal that stopped it
  } finally {
    multibar?.stop();
    removeSignals();
  }
}
