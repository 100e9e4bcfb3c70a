// `npm test`'s runner, scripts/test.mjs, on throwaway test files: every way a test file can fail
// (a failed assertion, a throw at import, process.exit, a kill, no test at all) is counted, makes
// the exit status non-zero, and the output ends with the one summary line. The runner runs in a
// temporary checkout: a copy of scripts/ and package.json, build/, dist/ and node_modules/ linked
// from this repository, a ../shared/photos/ holding one (empty) photo, and a test/ folder of the
// throwaway files each case writes. CHROMIUM_PATH names node itself, so that nothing is installed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { staleReason } from '../scripts/build-if-stale.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
let outer, main;

test.before(() => {
  outer = mkdtempSync(join(tmpdir(), 'mm-runner-'));
  main = join(outer, 'main');
  cpSync(join(ROOT, 'scripts'), join(main, 'scripts'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(main, 'package.json'));
  utimesSync(join(main, 'package.json'), 0, 0); // older than the linked build: no rebuild
  for (const dir of ['build', 'dist', 'node_modules']) symlinkSync(join(ROOT, dir), join(main, dir), 'dir');
  mkdirSync(join(outer, 'shared', 'photos'), { recursive: true });
  writeFileSync(join(outer, 'shared', 'photos', 'one.png'), '');
});

test.after(() => { if (outer) rmSync(outer, { recursive: true, force: true }); });

const HEAD = "import { test } from 'uvu'; import * as assert from 'uvu/assert';\n";

/** Write these test files (name: body after HEAD) into a fresh test/ and run the runner on them. */
function runner(files, env = {}, args = []) {
  const dir = join(main, 'test');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, `${name}.test.mjs`), HEAD + body);
  const base = { ...process.env, NO_COLOR: '1', CHROMIUM_PATH: process.execPath, MODELMARK_TEST_SHARDS: '1' };
  delete base.MODELMARK_TEST_ONLY; // the outer run's, naming this file
  const r = spawnSync(process.execPath, ['scripts/test.mjs', ...args], { cwd: main, encoding: 'utf8', timeout: 60_000, env: { ...base, ...env } });
  return { ...r, last: r.stdout.trimEnd().split('\n').at(-1), all: r.stdout + r.stderr };
}

const PASS = "test('a', () => {}); test('b', () => {}); test.run();";
const FAIL = "test('a', () => {}); test('b', () => { assert.is(1, 2); }); test.run();";

test('passing and failing files: the counts, the exit status, the summary line last', () => {
  const ok = runner({ pass: PASS });
  assert.is(ok.status, 0, ok.all);
  assert.is(ok.last, 'tests: 2 passed, 0 failed');
  const bad = runner({ pass: PASS, fail: FAIL });
  assert.is(bad.status, 1, bad.all);
  assert.is(bad.last, 'tests: 3 passed, 1 failed');
});

test('a file that throws at import, exits, is killed or runs no test is a failure', () => {
  for (const [body, why] of [
    ["throw new Error('at import'); " + PASS, /exited with 1 before its summary/],
    ["test('a', () => { process.exit(1); }); test.run();", /exited with 1 before its summary/],
    ["test('a', () => { process.exit(0); }); test.run();", /exited with 1 before its summary/],
    ["test('a', () => { process.kill(process.pid, 'SIGKILL'); }); test.run();", /killed by SIGKILL/],
    ['test.run();', /no tests ran/],
  ]) {
    const r = runner({ bad: body });
    assert.is(r.status, 1, `${body}\n${r.all}`);
    assert.is(r.last, 'tests: 0 passed, 1 failed', body);
    assert.match(r.stderr, why, body);
  }
});

test('two processes: a failure in either is counted, each one says when it ended', () => {
  const r = runner({ pass: PASS, fail: FAIL, kill: "test('a', () => { process.kill(process.pid, 'SIGKILL'); }); test.run();" },
    { MODELMARK_TEST_SHARDS: '2' });
  assert.is(r.status, 1, r.all);
  if (!r.stdout.includes('in 2 processes at once')) return; // one core here: one process
  assert.match(r.stdout, /process 1 ended after \d+ s/);
  assert.match(r.stdout, /process 2 ended after \d+ s/);
  assert.match(r.stderr, /killed by SIGKILL/);
  assert.match(r.last, /^tests: \d+ passed, [2-9] failed$/);
});

test('MODELMARK_TEST_ONLY that is no regular expression, or matches no file: said so, a failure, the summary last', () => {
  const bad = runner({ pass: PASS }, { MODELMARK_TEST_ONLY: '(' });
  assert.is(bad.status, 1, bad.all);
  assert.match(bad.stderr, 'MODELMARK_TEST_ONLY=( is not a regular expression');
  assert.is(bad.last, 'tests: 0 passed, 1 failed');
  const none = runner({ pass: PASS }, { MODELMARK_TEST_ONLY: '^nothing$' });
  assert.is(none.status, 1, none.all);
  assert.match(none.stderr, 'MODELMARK_TEST_ONLY=^nothing$ matches no test file');
  assert.is(none.last, 'tests: 0 passed, 1 failed');
});

test('a file that never calls test.run() is a failure, named, alone or beside others, in either process', () => {
  const NORUN = "test('never run', () => { assert.is(1, 2); });";
  for (const [files, env] of [
    [{ 'a-pass': PASS, 'z-norun': NORUN }, {}],
    [{ 'a-norun': NORUN, 'b-pass': PASS }, {}], // its test runs in b-pass's run(), but only by chance
    [{ 'a-pass': PASS, 'b-pass': PASS, 'z-norun': NORUN }, { MODELMARK_TEST_SHARDS: '2' }],
  ]) {
    const r = runner(files, env);
    const name = Object.keys(files).find((x) => x.endsWith('norun'));
    assert.is(r.status, 1, r.all);
    assert.match(r.stderr, `${name}.test.mjs ran no test: is test.run() missing?`);
    assert.match(r.last, /^tests: \d+ passed, [1-9] failed$/);
  }
});

test("a test's own output that looks like uvu's summary is not counted (a child's output in a message)", () => {
  const r = runner({ echo: "test('prints', () => { console.log('\\n  Total:     0\\n  Passed:    9\\n'); console.error('  Total:     7'); }); " + FAIL });
  assert.is(r.status, 1, r.all);
  assert.is(r.last, 'tests: 2 passed, 1 failed');
});

test("a long output is written whole before the runner exits, the summary line last (through a pipe)", () => {
  const r = runner({ 'a-pass': PASS, 'b-long': "test('long', () => { console.log('x'.repeat(400000)); }); test.run();" },
    { MODELMARK_TEST_SHARDS: '2' });
  assert.is(r.status, 0, r.stderr);
  assert.ok(r.stdout.includes('x'.repeat(400000)), 'the long line printed whole');
  assert.is(r.last, 'tests: 3 passed, 0 failed');
});

test("the second process's output, printed when it ends, keeps characters split between reads whole", () => {
  const r = runner({ 'a-pass': PASS, 'b-bullets': "test('bullets', () => { console.log('•'.repeat(300000)); }); test.run();" },
    { MODELMARK_TEST_SHARDS: '2' });
  assert.is(r.status, 0, r.stderr);
  if (!r.stdout.includes('in 2 processes at once')) return; // one core here: one process
  assert.not.match(r.stdout, '\uFFFD', 'a replacement character: a character cut in two');
  assert.ok(r.stdout.includes('•'.repeat(300000)), 'the line printed whole');
});

test('a child a test left running with its output: the runner ends anyway, and names it as a failure', () => {
  const pidFile = join(outer, 'orphan.pid');
  const body = `import { spawn } from 'node:child_process'; import { writeFileSync } from 'node:fs';
test('leaves sleep running', () => {
  const child = spawn('sleep', ['40'], { stdio: 'inherit', detached: true });
  writeFileSync(${JSON.stringify(pidFile)}, String(child.pid));
  child.unref();
});
test.run();`;
  const start = Date.now();
  const r = runner({ orphan: body });
  const seconds = (Date.now() - start) / 1000;
  try { process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL'); } catch {}
  assert.ok(seconds < 25, `took ${seconds} s: it waited for the child to end`);
  assert.is(r.status, 1, r.all);
  assert.match(r.stderr, 'still holds its output open');
  assert.is(r.last, 'tests: 1 passed, 1 failed');
});

test('the build is stale while the plug-ins failed to build: tsc wrote dist/ but not dist/plugins/', () => {
  // npm run build compiles src/ into dist/, then plugins/ into dist/plugins/; with noEmitOnError a
  // type error in plugins/ leaves dist/plugins/ as it was, with dist/index.js newer than the edit.
  const root = join(outer, 'stale');
  const at = { 'assembly/index.ts': 100, 'src/index.ts': 100, 'plugins/shared/options.ts': 200,
    'build/modelmark.wasm': 300, 'dist/index.js': 300, 'dist/plugins/shared/options.js': 100 };
  for (const [file, time] of Object.entries(at)) {
    mkdirSync(join(root, file, '..'), { recursive: true });
    writeFileSync(join(root, file), '');
    utimesSync(join(root, file), time, time);
  }
  assert.match(String(staleReason(root)), 'plugins/shared/options.ts is newer than dist/plugins/shared/options.js');
  utimesSync(join(root, 'dist/plugins/shared/options.js'), 300, 300);
  assert.is(staleReason(root), null);
});

test.run();
