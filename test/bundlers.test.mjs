// The package in a user's bundler. package.json "sideEffects" lets webpack and esbuild leave out
// modules whose exports an app does not use; the list must name every packed module that does
// something when it is imported (a wrong list breaks apps silently: the kernels or a Fabric
// filter would go missing). With it, a page that only starts a worker does not carry the
// kernels: measured with the packed tarball, the page's bundle of createWatermarkWorker went from
// 40.9 KB gzip to 5.1 KB with webpack 5 and from 40.5 to 4.9 KB with esbuild (Vite and Rollup
// found it out by themselves). esbuild resolves `modelmark/...` here as in an app: through the
// package's own "exports" (a self-reference), with no plug-in.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import ts from 'typescript';
import { openTestPage } from './helpers/browser.mjs';
import { deepModelsForTest } from './helpers/deep-models.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

/** Statements a module may run when imported without doing anything outside itself. */
const DECLARATIONS = new Set([
  ts.SyntaxKind.FunctionDeclaration, ts.SyntaxKind.ClassDeclaration, ts.SyntaxKind.VariableStatement,
  ts.SyntaxKind.ExportDeclaration, ts.SyntaxKind.ExportAssignment, ts.SyntaxKind.EmptyStatement,
]);
/** Modules whose top-level statements fill their own tables (checked by eye): nothing outside. */
const LOCAL_ONLY = new Set(['dist/libm.js']);

/** What a module does at import, beyond declarations: bare imports and statements. */
function importEffects(file) {
  const src = ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, false, ts.ScriptKind.JS);
  const effects = [];
  for (const s of src.statements) {
    if (ts.isImportDeclaration(s)) { if (!s.importClause) effects.push(`import ${s.moduleSpecifier.getText(src)}`); continue; }
    if (DECLARATIONS.has(s.kind)) continue;
    effects.push(s.getText(src).replace(/\s+/g, ' ').slice(0, 80));
  }
  return effects;
}

/** The "sideEffects" globs as regular expressions over package paths (no ./). */
assert.ok(Array.isArray(pkg.sideEffects), "package.json has no \"sideEffects\" list");
const listed = pkg.sideEffects.map((g) => new RegExp('^' + g.replace(/^\.\//, '').replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*/g, '\0').replace(/\*/g, '[^/]*').replace(/\0/g, '.*') + '$'));
const isListed = (file) => listed.some((re) => re.test(file));

test('package.json "sideEffects" names every packed module that does something when imported, and nothing else', () => {
  const [info] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
  const modules = info.files.map((f) => f.path).filter((p) => /^dist\/.*\.js$/.test(p));
  assert.ok(modules.length > 50, `only ${modules.length} modules packed`);
  const unlisted = [];
  const needless = [];
  for (const file of modules) {
    const effects = LOCAL_ONLY.has(file) ? [] : importEffects(file);
    if (effects.length > 0 && !isListed(file)) unlisted.push(`${file}: ${effects.join('; ')}`);
    if (effects.length === 0 && isListed(file)) needless.push(file);
  }
  assert.equal(unlisted, [], 'modules with import-time effects missing from "sideEffects"');
  assert.equal(needless, [], 'listed in "sideEffects" but doing nothing at import');
  for (const file of ['dist/index.js', 'dist/inline.js', 'dist/plugins/fabric/index.js']) assert.ok(isListed(file), file);
});

// The list covers the repository's own bundled code too: the nearest package.json of
// examples/worker/src/polyfill.js is this one, and with "sideEffects" naming dist/ only, esbuild
// dropped the polyfill from the Cloudflare Worker's bundle (index.js imports it bare).
test('"sideEffects" keeps every module the repository\'s examples and test pages import for its effects (import \'./x.js\')', () => {
  const walk = (dir) => readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? (e.name === 'node_modules' ? [] : walk(`${dir}/${e.name}`)) : /\.m?js$/.test(e.name) ? [`${dir}/${e.name}`] : []);
  const dropped = [];
  let bare = 0;
  for (const file of [...walk('examples'), ...walk('test/pages')]) {
    for (const m of readFileSync(join(ROOT, file), 'utf8').matchAll(/^import\s+['"](\.{1,2}\/[^'"]+)['"]/gm)) {
      const target = relative(ROOT, join(ROOT, dirname(file), m[1])).split(sep).join('/');
      bare++;
      if (!isListed(target)) dropped.push(`${file} -> ${target}`);
    }
  }
  assert.equal(dropped, [], 'imported for their effects but not in "sideEffects"');
  assert.ok(bare >= 1, 'no bare import seen: the scan is not reading the files');
});

/** esbuild as an app uses it: production, minified, `modelmark/...` resolved through "exports". */
async function bundleApp(contents) {
  const r = await build({
    stdin: { contents, resolveDir: ROOT, loader: 'js' }, bundle: true, format: 'esm', platform: 'browser',
    minify: true, write: false, logLevel: 'silent',
  });
  return r.outputFiles[0].contents;
}
// The start of the kernels' base64 (the wasm magic number and version), as src/generated holds it.
const KERNELS = 'AGFzbQEAAAAB';

test('esbuild: a page that only starts the worker (createWatermarkWorker) carries no kernels; the worker module and the core do', async () => {
  const page = await bundleApp("import { createWatermarkWorker } from 'modelmark/canvas/worker'; window.client = createWatermarkWorker();");
  const worker = await bundleApp("import { serveWatermarkWorker } from 'modelmark/canvas/worker'; serveWatermarkWorker();");
  const core = await bundleApp("import { createWatermarker } from 'modelmark'; window.wm = createWatermarker;");
  const canvas = await bundleApp("import { watermarkImageData } from 'modelmark/canvas'; window.mark = watermarkImageData;");
  const has = (bytes) => Buffer.from(bytes).toString('latin1').includes(KERNELS);
  assert.not.ok(has(page), 'the page bundle holds the kernels');
  assert.ok(has(worker), 'the worker bundle lacks the kernels');
  assert.ok(has(core), 'the core bundle lacks the kernels');
  assert.ok(has(canvas), 'the canvas bundle lacks the kernels');
  const gz = (bytes) => gzipSync(bytes).length;
  assert.ok(gz(page) < 10_000, `page bundle ${gz(page)} bytes gzip`);
  assert.ok(gz(worker) > 30_000, `worker bundle ${gz(worker)} bytes gzip`);
});

test('chromium: modelmark/deep bundled by esbuild: without onnxruntime-web\'s .wasm beside the bundle ERR_MODEL says which file and where; copied there (README: Bundlers), it runs', async () => {
  const models = await deepModelsForTest();
  const file = (name) => (req, res) => res.writeHead(200).end(readFileSync(join(models.dir, name)));
  const t = await openTestPage({
    name: 'deep-bundled', entries: { 'app.js': 'test/pages/deep-bundled.mjs' },
    routes: Object.fromEntries(['h.onnx', 'r.onnx', 'deep.json'].map((n) => [`/models/${n}`, file(n)])),
  });
  try {
    const missing = await t.page.evaluate(() => window.runDeep());
    assert.is(missing.ok, false);
    assert.is(missing.code, 'ERR_MODEL');
    assert.match(missing.message, 'could not fetch its WebAssembly runtime (ort-wasm-simd-threaded.jsep.wasm)');
    assert.match(missing.message, 'README: Bundlers');
    // The README's recipe: copy the file beside the bundle.
    copyFileSync(join(ROOT, 'node_modules', 'onnxruntime-web', 'dist', 'ort-wasm-simd-threaded.jsep.wasm'), join(t.dir, 'ort-wasm-simd-threaded.jsep.wasm'));
    await t.page.reload();
    await t.page.waitForFunction(() => window.ready === true);
    const ran = await t.page.evaluate(() => window.runDeep());
    assert.equal([ran.ok, ran.message], [true, undefined]);
    assert.ok(ran.nc > -1 && ran.nc <= 1, `nc ${ran.nc}`);
  } finally {
    await t.close();
    await models.close();
  }
});

test.run();
