// Rebuild (npm run build) when the build outputs are missing or older than their sources.
// Shared by scripts/test.mjs (npm test) and scripts/ensure-built.mjs (npm run demo, bench, ...).
//
// Outputs: build/modelmark.wasm, dist/index.js and dist/plugins/shared/options.js, the last written
// by each step that can fail after another wrote its own (asc, tsc for src/, tsc for plugins/: with
// noEmitOnError a failed tsc writes nothing, so the oldest output stays older than the edit that
// broke it). Sources: every file under assembly/, src/ and plugins/ (except src/generated/, which
// the build itself writes), plus the compiler configurations.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

const OUTPUTS = ['build/modelmark.wasm', 'dist/index.js', 'dist/plugins/shared/options.js'];
const SOURCE_DIRS = ['assembly', 'src', 'plugins'];
const SOURCE_FILES = ['asconfig.json', 'tsconfig.json', 'tsconfig.plugins.json', 'package.json'];
const IGNORED = [join('src', 'generated')];

/** Newest modification time under `dir` (recursive), with the file it belongs to. */
function newest(dir, root, found = { time: 0, file: '' }) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (IGNORED.includes(relative(root, path))) continue;
    if (entry.isDirectory()) newest(path, root, found);
    else if (entry.isFile()) {
      const time = statSync(path).mtimeMs;
      if (time > found.time) { found.time = time; found.file = path; }
    }
  }
  return found;
}

/**
 * Why the build is stale, or null when it is up to date.
 * @param {string} [root] repository root
 * @returns {string | null}
 */
export function staleReason(root = ROOT) {
  let oldest = Infinity, oldestFile = '';
  for (const out of OUTPUTS) {
    const path = join(root, out);
    if (!existsSync(path)) return `${out} is missing`;
    const time = statSync(path).mtimeMs;
    if (time < oldest) { oldest = time; oldestFile = out; }
  }
  let src = { time: 0, file: '' };
  for (const dir of SOURCE_DIRS) {
    const path = join(root, dir);
    if (existsSync(path)) src = newest(path, root, src);
  }
  for (const file of SOURCE_FILES) {
    const path = join(root, file);
    if (existsSync(path)) {
      const time = statSync(path).mtimeMs;
      if (time > src.time) src = { time, file: path };
    }
  }
  if (src.time > oldest) return `${relative(root, src.file)} is newer than ${oldestFile}`;
  return null;
}

/** The command line that runs an npm script with the npm that runs us (or the one on PATH). */
function npmCommand(args) {
  const cli = process.env.npm_execpath;
  if (cli && /\.[cm]?js$/.test(cli)) return [process.execPath, [cli, ...args]];
  return [process.platform === 'win32' ? 'npm.cmd' : 'npm', args];
}

/**
 * Run `npm run build` when the outputs are missing or stale.
 * @param {{ root?: string, log?: (line: string) => void, force?: boolean }} [options]
 * @returns {{ built: boolean, ok: boolean, reason: string | null }} ok is false when the build
 *   failed (its output has already gone to the console).
 */
export function buildIfStale({ root = ROOT, log = (line) => console.error(line), force = false } = {}) {
  const reason = force ? 'forced' : staleReason(root);
  if (!reason) return { built: false, ok: true, reason };
  log(`build: ${reason}; running npm run build`);
  const [cmd, args] = npmCommand(['run', 'build']);
  // The build's own output goes to standard error: standard output stays the caller's (the
  // JSON of `npm run bench -- --json`, which a stale build once broke in test/bench-smoke).
  const result = spawnSync(cmd, args, { cwd: root, stdio: [0, 2, 2], shell: process.platform === 'win32' });
  const ok = result.status === 0;
  if (!ok) log(`build: npm run build failed (${result.error ? result.error.message : `exit ${result.status ?? result.signal}`})`);
  return { built: true, ok, reason };
}
