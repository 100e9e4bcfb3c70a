// A temporary folder for a test file and the command line run in it with a key from the
// environment (MODELMARK_KEY set to the test's key, nothing else of the caller's key).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/modelmark.js', import.meta.url));
/** The shared test photos (../shared/photos beside the repository). */
export const PHOTOS = fileURLToPath(new URL('../../../shared/photos/', import.meta.url));

/**
 * `{ dir, file(name), cli(args), remove() }`: `cli` runs `modelmark ...args` in `dir` with
 * MODELMARK_KEY = `key` and returns `{ code, stdout (a Buffer), stderr (a string) }`.
 */
export function workspace(name, key) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `modelmark-${name}-`));
  const { MODELMARK_KEY: _drop, ...env } = process.env;
  return {
    dir,
    file: (f) => path.join(dir, f),
    cli(args) {
      const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env: { ...env, MODELMARK_KEY: key }, timeout: 120_000 });
      if (r.error) throw r.error;
      return { code: r.status, stdout: r.stdout, stderr: String(r.stderr) };
    },
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
