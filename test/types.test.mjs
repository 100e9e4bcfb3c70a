// The published declarations as a TypeScript user meets them: a consumer project outside the
// repository (node_modules/modelmark a link to this checkout, so package.json "exports" and its
// "types" conditions decide what resolves) compiles the usage files in test/types/ (the README's
// and the JSDoc examples, one or more per entry point) with tsc, strict, exactOptionalPropertyTypes,
// noUncheckedIndexedAccess and skipLibCheck false, under module/moduleResolution nodenext and
// again under esnext/bundler. The Node entries (modelmark, lite, node, metadata, deep, sharp,
// canvas with @napi-rs/canvas) compile with lib ES2022 alone, no DOM; the browser plug-ins with
// the DOM library. test/types/node/misuse.ts holds misuses under @ts-expect-error (a misuse no
// longer reported is TS2578), and one more compile checks that `strength: 'high'` is reported.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const FIXTURES = path.join(ROOT, 'test', 'types');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmark-types-'));
// The packages the usage files import beside modelmark (the hosts, and Node's types).
const LINKED = ['@types', 'sharp', '@napi-rs', 'konva', 'fabric', '@pqina'];
const STRICT = {
  target: 'ES2022', strict: true, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true,
  skipLibCheck: false, noEmit: true, types: ['node'],
};
const MODES = {
  nodenext: { module: 'NodeNext', moduleResolution: 'NodeNext' },
  bundler: { module: 'ESNext', moduleResolution: 'Bundler' },
};

fs.mkdirSync(path.join(work, 'node_modules'));
fs.symlinkSync(ROOT, path.join(work, 'node_modules', 'modelmark'), 'dir');
for (const name of LINKED) fs.symlinkSync(path.join(ROOT, 'node_modules', name), path.join(work, 'node_modules', name), 'dir');
fs.writeFileSync(path.join(work, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
fs.cpSync(FIXTURES, work, { recursive: true });

/**
 * Compile `include` with these options; returns the error lines (`file(line,col): error TSn: ...`,
 * each with its continuation lines). Fabric 7's own declarations fail under
 * exactOptionalPropertyTypes and import jsdom's missing types: errors located in them are Fabric's
 * and left out; every other error counts, in modelmark's declarations or in the usage files.
 */
function compile(name, include, compilerOptions) {
  const config = path.join(work, `tsconfig.${name}.json`);
  fs.writeFileSync(config, JSON.stringify({ compilerOptions: { ...STRICT, ...compilerOptions }, include }));
  const r = spawnSync(process.execPath, [TSC, '-p', config, '--pretty', 'false'], { cwd: work, encoding: 'utf8', timeout: 120_000 });
  assert.ok(r.status !== null, `tsc did not finish: ${r.error ?? r.signal}`);
  const errors = [];
  for (const line of r.stdout.split('\n')) {
    if (/^\S.*error TS\d+:/.test(line)) errors.push(line);
    else if (/^\s/.test(line) && errors.length) errors[errors.length - 1] += `\n${line}`;
  }
  const ours = errors.filter((e) => !/node_modules[\\/]fabric[\\/]/.test(e.split('(')[0]));
  assert.ok(r.status === 0 || errors.length > 0, `tsc exited ${r.status} without a diagnostic: ${r.stderr}`);
  return ours;
}

test('TypeScript 5 is there to compile with', () => {
  const r = spawnSync(process.execPath, [TSC, '--version'], { encoding: 'utf8' });
  assert.match(r.stdout, /^Version 5\./);
});

for (const [mode, options] of Object.entries(MODES)) {
  test(`the Node entries compile in a strict consumer without DOM types (${mode})`, () => {
    assert.equal(compile(`node-${mode}`, ['node/*.ts'], { ...options, lib: ['ES2022'] }), []);
  });

  test(`the browser plug-ins compile in a strict consumer with DOM types (${mode})`, () => {
    assert.equal(compile(`dom-${mode}`, ['browser/*.ts'], { ...options, lib: ['ES2022', 'DOM', 'DOM.Iterable'] }), []);
  });
}

test('a misuse is reported: strength: \'high\'', () => {
  fs.mkdirSync(path.join(work, 'wrong'));
  fs.writeFileSync(path.join(work, 'wrong', 'strength.ts'),
    "import { createWatermarker } from 'modelmark';\nexport const wm = createWatermarker({ key: 'k', strength: 'high' });\n");
  const errors = compile('wrong', ['wrong/*.ts'], { ...MODES.nodenext, lib: ['ES2022'] });
  assert.is(errors.length, 1, errors.join('\n'));
  assert.match(errors[0], /strength\.ts\(2,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/);
});

test.after(() => fs.rmSync(work, { recursive: true, force: true }));

test.run();
