// `npm test`: build when stale, run every test/**/*.test.mjs with uvu in one process (its output
// streamed to the console), then print one summary line, last:
//
//   tests: P passed, F failed
//
// and exit non-zero when anything failed, uvu crashed or exited non-zero, or no test ran.
// Extra arguments are passed to uvu (e.g. `npm test -- --bail`).

import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildIfStale, ROOT } from './build-if-stale.mjs';
import { ensureChromium } from './ensure-chromium.mjs';

const PATTERN = '\\.test\\.mjs$';

/** Print the summary line and exit. */
function finish(passed, failed) {
  process.stdout.write(`tests: ${passed} passed, ${failed} failed\n`);
  process.exit(failed > 0 ? 1 : 0);
}

const stripAnsi = (text) => text.replace(/\u001b\[[0-9;?]*[ -/]*[@-~]/g, '');

/** Sum of the numbers on uvu's `Label: N` summary lines, or null when there is none. */
function count(text, label) {
  const re = new RegExp(`^\\s*${label}:\\s+(\\d+)\\s*$`, 'gm');
  let total = null;
  for (const m of text.matchAll(re)) total = (total ?? 0) + Number(m[1]);
  return total;
}

// The tests measure on the real photos in ../shared/photos/ beside the repository (DEVELOPERS.md,
// "Honest tests"); without them nearly every test file would stop at its first read with sharp's
// "Input file is missing". Say so once, plainly, instead.
const PHOTOS = join(ROOT, '..', 'shared', 'photos');
const photoCount = existsSync(PHOTOS) ? readdirSync(PHOTOS).filter((f) => /\.(png|jpe?g|webp)$/i.test(f)).length : 0;
if (photoCount === 0) {
  console.error(`npm test: the tests run on the real photos in ../shared/photos/ beside the repository, and ${PHOTOS} ` +
    `${existsSync(PHOTOS) ? 'holds no PNG, JPEG or WebP photo' : 'does not exist'}. Put the shared folder (photos/ with its SOURCES.md) ` +
    'beside the repository and run again; `npm run demo` and the benches run without it, on synthetic images.');
  finish(0, 1);
}

const build = buildIfStale();
if (!build.ok) {
  console.error('npm test: the build failed, so no tests ran');
  finish(0, 1);
}

ensureChromium();

const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
const uvu = join(ROOT, 'node_modules', 'uvu', 'bin.js');
const child = spawn(process.execPath, [uvu, 'test', PATTERN, '--no-color', ...process.argv.slice(2)], {
  cwd: ROOT,
  env,
  stdio: ['inherit', 'pipe', 'pipe'],
});

let output = '';
child.stdout.on('data', (chunk) => { output += chunk; process.stdout.write(chunk); });
child.stderr.on('data', (chunk) => { output += chunk; process.stderr.write(chunk); });

child.on('error', (err) => {
  console.error(`npm test: could not run uvu: ${err.message}`);
  finish(0, 1);
});

child.on('close', (code, signal) => {
  const text = stripAnsi(output);
  const total = count(text, 'Total');
  const passed = count(text, 'Passed');
  // Make sure the summary starts on a line of its own.
  if (output && !output.endsWith('\n')) process.stdout.write('\n');
  if (total === null || passed === null) {
    console.error(`npm test: uvu ${signal ? `was killed by ${signal}` : `exited with ${code}`} before its summary`);
    finish(passed ?? 0, 1);
  }
  if (total === 0) {
    console.error('npm test: no tests ran');
    finish(0, 1);
  }
  let failed = Math.max(0, total - passed);
  if ((code !== 0 || signal) && failed === 0) {
    console.error(`npm test: uvu ${signal ? `was killed by ${signal}` : `exited with ${code}`} although every test passed`);
    failed = 1;
  }
  finish(passed, failed);
});
