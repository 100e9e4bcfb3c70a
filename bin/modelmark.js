#!/usr/bin/env node
// The modelmark command line; the implementation is src/cli/main.ts (built into dist/).
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

/** Errors the command reported itself (set once dist/cli/main.js is loaded). */
let reported = null;
/** A write error on standard output other than a closed pipe: the status is then 2. */
let outputFailed = false;
process.stdout.on('error', (err) => {
  // A closed pipe (e.g. `modelmark detect x.jpg | head -c1`) is not an error worth reporting: a
  // folder batch stops on it (status 141, as SIGPIPE), embed IN - ends with 141; a result line
  // keeps its status.
  if (err.code === 'EPIPE') return;
  // Anything else (a full disk behind `> file`, /dev/full): an error (status 2), said plainly,
  // once (a batch stops cleanly on it, and says so itself). Not process.exit(): a batch's
  // workers finish their files and it saves its manifest and removes its lock first.
  if (!outputFailed && !reported?.has(err)) process.stderr.write(`modelmark: cannot write to standard output: ${err.message}\n`);
  outputFailed = true;
  process.exitCode = 2;
});

// Standard error closed by its reader (`2>&1 | head -1` once head has its line) or failing:
// there is nowhere left to say anything. Without a listener the write error would be an uncaught
// exception, exit status 1 ("not found"); the command goes on and its own status says how it ended.
process.stderr.on('error', () => {});

const args = process.argv.slice(2);

/** Whether this command is a folder batch (`embed DIR OUTDIR` or `detect DIR`). */
function isFolderBatch() {
  if ((args[0] !== 'embed' && args[0] !== 'detect') || args[1] === undefined) return false;
  try {
    return statSync(args[1]).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The environment a folder batch wants set before the process starts, or null when it needs no
 * second process.
 * - UV_THREADPOOL_SIZE: each worker thread hands its decoding and encoding (sharp) and its file
 *   writes to libuv's pool, which the whole process shares: the default 4 threads keep up with 2
 *   workers, not with more. Only this one is worth starting a second process for.
 * - glibc's malloc (Linux), when a second process starts anyway: every image's multi-megabyte
 *   pixel buffers are otherwise fresh mmap allocations, zeroed and page-faulted anew for each
 *   image. Keeping blocks under 64 MB in the heap reuses those pages: 37 instead of 41 ms of CPU
 *   per 1080p JPEG (bench/batch.mjs with the variables set). A second process only for this
 *   costs about 80 ms of start-up, so it is not started for it (the README gives the variables).
 *   Ignored by other allocators; a caller's own settings win.
 */
function batchEnv() {
  if (process.env.UV_THREADPOOL_SIZE || !isFolderBatch()) return null;
  const i = args.findIndex((a) => a === '--jobs' || a.startsWith('--jobs='));
  const jobs = i < 0 ? availableParallelism() : Number(args[i].startsWith('--jobs=') ? args[i].slice(7) : args[i + 1]);
  if (!(Number.isInteger(jobs) && jobs > 2)) return null;
  const env = { UV_THREADPOOL_SIZE: String(Math.min(1024, 2 * jobs)) };
  if (process.platform === 'linux' && process.env.MALLOC_MMAP_THRESHOLD_ === undefined && process.env.MALLOC_TRIM_THRESHOLD_ === undefined) {
    env.MALLOC_MMAP_THRESHOLD_ = String(64 << 20);
    env.MALLOC_TRIM_THRESHOLD_ = String(256 << 20);
  }
  return env;
}

const extraEnv = batchEnv();
if (extraEnv) {
  // libuv reads the pool's size once, when the pool first starts (for an ES module entry point,
  // before this line runs), and glibc reads its settings when the process starts: so run the
  // command again in a child process with them set.
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args], {
    stdio: 'inherit', env: { ...process.env, ...extraEnv },
  });
  // Every signal is passed on, SIGINT included: `kill -INT` or `timeout -s INT` reach only this
  // process. Ctrl-C on a terminal reaches the child as well (same process group); the batch
  // takes a second SIGINT within a quarter of a second as the same one.
  const forward = (signal) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  process.on('SIGHUP', forward);
  child.on('error', (err) => {
    process.stderr.write(`modelmark: cannot start ${process.execPath}: ${err.message}\n`);
    process.exitCode = 2;
  });
  child.on('exit', (code, signal) => {
    process.removeListener('SIGINT', forward);
    process.removeListener('SIGTERM', forward);
    process.removeListener('SIGHUP', forward);
    if (signal) process.kill(process.pid, signal);
    else process.exitCode = code ?? 2;
  });
} else {
  let main;
  try {
    ({ main, reportedOutputErrors: reported } = await import('../dist/cli/main.js'));
    if (!isFolderBatch()) {
      // Interrupted while writing a file: remove the temporary file of the atomic write before
      // quitting, with the status a shell reports for the signal. (A folder batch has its own
      // handlers: the first Ctrl-C finishes the files in progress.)
      const { removePendingTempFiles } = await import('../dist/node/files.js');
      for (const [signal, status] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
        process.on(signal, () => {
          removePendingTempFiles();
          process.exit(status);
        });
      }
    }
  } catch (err) {
    process.stderr.write(`modelmark: cannot load dist/cli/main.js (${err.message}); run "npm run build" first\n`);
    process.exit(2);
  }
  try {
    const code = await main(args);
    process.exitCode = outputFailed ? 2 : code;
  } catch (err) {
    process.stderr.write(`modelmark: ${err?.message ?? err}\n`);
    process.exitCode = 2;
  }
}
