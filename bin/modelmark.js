#!/usr/bin/env node
// The modelmark command line; the implementation is src/cli/main.ts (built into dist/).
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

process.stdout.on('error', (err) => {
  // A closed pipe (e.g. `modelmark detect x.jpg | head -c1`) is not an error worth reporting.
  if (err.code !== 'EPIPE') throw err;
});

const args = process.argv.slice(2);

/**
 * Threads a folder batch wants in libuv's thread pool, or 0 when the default 4 will do. Each
 * worker thread of a batch hands its decoding and encoding (sharp) and its file writes to that
 * pool, which the whole process shares: 4 threads keep up with 2 workers, not with more.
 */
function threadPoolWanted() {
  if (process.env.UV_THREADPOOL_SIZE || (args[0] !== 'embed' && args[0] !== 'detect') || args[1] === undefined) return 0;
  try {
    if (!statSync(args[1]).isDirectory()) return 0;
  } catch {
    return 0;
  }
  const i = args.findIndex((a) => a === '--jobs' || a.startsWith('--jobs='));
  const jobs = i < 0 ? availableParallelism() : Number(args[i].startsWith('--jobs=') ? args[i].slice(7) : args[i + 1]);
  return Number.isInteger(jobs) && jobs > 2 ? Math.min(1024, 2 * jobs) : 0;
}

const poolSize = threadPoolWanted();
if (poolSize > 0) {
  // The pool's size is read once, when it first starts, and for an ES module entry point that is
  // before this line runs: so run the command again in a child process with the size set.
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args], {
    stdio: 'inherit', env: { ...process.env, UV_THREADPOOL_SIZE: String(poolSize) },
  });
  // Ctrl-C on a terminal reaches the child directly (same process group): not passed on twice.
  const ignore = () => {};
  process.on('SIGINT', ignore);
  const forward = (signal) => child.kill(signal);
  process.on('SIGTERM', forward);
  process.on('SIGHUP', forward);
  child.on('error', (err) => {
    process.stderr.write(`modelmark: cannot start ${process.execPath}: ${err.message}\n`);
    process.exitCode = 2;
  });
  child.on('exit', (code, signal) => {
    process.removeListener('SIGINT', ignore);
    process.removeListener('SIGTERM', forward);
    process.removeListener('SIGHUP', forward);
    if (signal) process.kill(process.pid, signal);
    else process.exitCode = code ?? 2;
  });
} else {
  let main;
  try {
    ({ main } = await import('../dist/cli/main.js'));
  } catch (err) {
    process.stderr.write(`modelmark: cannot load dist/cli/main.js (${err.message}); run "npm run build" first\n`);
    process.exit(2);
  }
  try {
    process.exitCode = await main(args);
  } catch (err) {
    process.stderr.write(`modelmark: ${err?.message ?? err}\n`);
    process.exitCode = 2;
  }
}
