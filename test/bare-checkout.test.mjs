// A checkout without ../shared/photos beside it (a clone on another machine): `npm test` says
// plainly that the tests need the shared photos (instead of every test file stopping at sharp's
// "Input file is missing"), the speed benches run on a synthetic photo, and the benches whose
// figures mean something only on the real photos exit 2 saying why. The checkout is a temporary
// folder holding copies of scripts/ and bench/ (their paths to the photos are relative to
// themselves), with dist/ and node_modules/ linked from this repository.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
let outer, main;

test.before(() => {
  outer = mkdtempSync(join(tmpdir(), 'mm-bare-'));
  main = join(outer, 'main');
  for (const dir of ['scripts', 'bench']) cpSync(join(ROOT, dir), join(main, dir), { recursive: true });
  for (const dir of ['dist', 'node_modules']) symlinkSync(join(ROOT, dir), join(main, dir), 'dir');
  writeFileSync(join(main, 'package.json'), readFileSync(join(ROOT, 'package.json')));
});

test.after(() => { if (outer) rmSync(outer, { recursive: true, force: true }); });

const run = (args, env = {}) => spawnSync(process.execPath, args, { cwd: main, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1', ...env } });

test('npm test without ../shared/photos: one message naming the folder, the summary line, exit 1, no test run', () => {
  const r = run(['scripts/test.mjs']);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, '../shared/photos/');
  assert.match(r.stderr, join(outer, 'shared', 'photos'), 'the path it looked for');
  assert.match(r.stderr, 'does not exist');
  assert.is(r.stdout.trim().split('\n').at(-1), 'tests: 0 passed, 1 failed');
  assert.not.match(r.stdout + r.stderr, /Input file is missing|Total:/);
});

test('an empty ../shared/photos is refused the same way', () => {
  const photos = join(outer, 'shared', 'photos');
  cpSync(join(ROOT, 'package.json'), join(photos, 'README.txt'));
  try {
    const r = run(['scripts/test.mjs']);
    assert.is(r.status, 1);
    assert.match(r.stderr, 'holds no PNG, JPEG or WebP photo');
  } finally {
    rmSync(join(outer, 'shared'), { recursive: true, force: true });
  }
});

test('benches that measure the real photos exit 2 with the reason; a speed bench runs on a synthetic photo', () => {
  for (const [script, ...args] of [['geometry-oracle.mjs'], ['chroma-probe.mjs', '--snr'], ['deep-quality.mjs'], ['animation-null.mjs', '--quick']]) {
    const r = run([join('bench', script), ...args]);
    assert.is(r.status, 2, `${script}: ${r.stderr}`);
    assert.match(r.stderr, `bench/${script} measures on the real photos in ../shared/photos/`);
    assert.not.match(r.stderr, /ENOENT|Input file is missing|at .*\.mjs:\d+/);
  }
  const s = run(['bench/surrogate.mjs', 'eval', '--quick', join(outer, 'a'), join(outer, 'b')]);
  assert.is(s.status, 2, s.stderr);
  assert.match(s.stderr, 'bench/surrogate.mjs measures on the real photos');
  const speed = run(['bench/search-speed.mjs', '--quick']);
  assert.is(speed.status, 0, speed.stderr);
  assert.match(speed.stdout, /photo: synthetic 2560x1600/);
  assert.match(speed.stdout, /in place\s+[\d.]+ ms\s+found true/);
  assert.match(speed.stdout, /unmarked \(all candidates\)\s+[\d.]+ ms\s+found false/);
});

test.run();
