// The core (dist/index.js and everything it imports: the top-level dist/*.js, dist/generated/ and
// the deep watermark's runner dist/deep/, which alone may import onnxruntime-web)
// must run unchanged in browsers, Web Workers, Deno and Cloudflare Workers: no Node built-in
// modules (`node:fs`, bare 'fs', 'path', 'crypto', ...), no package imports, nothing from the
// Node-only folders (dist/node, dist/cli, dist/plugins), and no eval / new Function (refused by
// Workers and by strict Content-Security-Policies). test/worker.test.mjs running the core on
// workerd is the real proof; this test names the file and the import when the rule is broken.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, transform } from 'esbuild';
import ts from 'typescript';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
/** Folders of dist/ that are Node-only or not core; the core must not import from them. */
const NOT_CORE = ['node', 'cli', 'plugins', 'worker', 'train'];
/** Packages the core may import (it has no runtime dependencies today). */
const ALLOWED_PACKAGES = [];
/** Packages a core folder may import: the deep runner runs its networks with onnxruntime-web. */
const ALLOWED_IN = { deep: ['onnxruntime-web'] };

/**
 * The dynamic code a JavaScript file runs, from its syntax tree (TypeScript's parser): a
 * reference to `eval` (direct, `(0, eval)(...)`, `globalThis.eval`) and `Function(...)` or
 * `new Function(...)`. Comments and strings do not count (a message advising 'wasm-unsafe-eval'
 * is not eval).
 */
function dynamicCode(code, file) {
  const found = new Set();
  const visit = (n) => {
    if (ts.isIdentifier(n) && n.text === 'eval') {
      const p = n.parent;
      const nameOnly = (ts.isPropertyAssignment(p) || ts.isMethodDeclaration(p) || ts.isPropertyDeclaration(p)) && p.name === n;
      if (!nameOnly) found.add('eval');
    }
    if ((ts.isCallExpression(n) || ts.isNewExpression(n)) && ts.isIdentifier(n.expression) && n.expression.text === 'Function') found.add('new Function / Function(...)');
    ts.forEachChild(n, visit);
  };
  visit(ts.createSourceFile(file, code, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS));
  return [...found];
}

/** Core files: top-level dist/*.js, dist/generated/**.js and dist/deep/**.js. */
async function coreFiles(dist) {
  const top = (await readdir(dist, { withFileTypes: true }))
    .filter((e) => e.isFile() && e.name.endsWith('.js')).map((e) => join(dist, e.name));
  const sub = async (name) => (await readdir(join(dist, name), { recursive: true }).catch(() => []))
    .filter((f) => f.endsWith('.js')).map((f) => join(dist, name, f));
  return [...top, ...(await sub('generated')), ...(await sub('deep'))];
}

/**
 * Every problem in the core under `dist`, as readable lines. Follows the import graph from each
 * core file with esbuild (static imports, re-exports and literal dynamic imports).
 */
export async function scanCore(dist) {
  const files = await coreFiles(dist);
  const problems = [];
  const rel = (p) => relative(dist, p).split(sep).join('/');
  const reached = new Set();
  await build({
    entryPoints: files,
    bundle: true,
    write: false,
    outdir: join(dist, '.purity-out'),
    format: 'esm',
    platform: 'neutral',
    logLevel: 'silent',
    plugins: [{
      name: 'purity',
      setup(b) {
        b.onResolve({ filter: /.*/ }, (args) => {
          if (args.kind === 'entry-point') return undefined;
          const from = args.importer ? rel(args.importer) : '?';
          if (args.path.startsWith('node:') || isBuiltin(args.path)) {
            problems.push(`${from} imports the Node built-in '${args.path}'`);
            return { path: args.path, external: true };
          }
          if (!args.path.startsWith('.') && !args.path.startsWith('/')) {
            const pkg = args.path.startsWith('@') ? args.path.split('/').slice(0, 2).join('/') : args.path.split('/')[0];
            const allowedHere = ALLOWED_IN[from.split('/')[0]] ?? [];
            if (!ALLOWED_PACKAGES.includes(pkg) && !(from.includes('/') && allowedHere.includes(pkg))) problems.push(`${from} imports the package '${args.path}' (the core has no dependencies; add it to ALLOWED_PACKAGES if it is runtime-neutral)`);
            return { path: args.path, external: true };
          }
          return undefined;
        });
        b.onLoad({ filter: /\.[cm]?js$/ }, async (args) => {
          reached.add(args.path);
          return undefined;
        });
      },
    }],
  }).catch((err) => {
    for (const e of err.errors ?? [err]) problems.push(`esbuild: ${e.text ?? e.message}${e.location ? ` (${e.location.file}:${e.location.line})` : ''}`);
  });
  for (const path of reached) {
    const r = rel(path);
    const top = r.split('/')[0];
    if (NOT_CORE.includes(top)) problems.push(`the core reaches ${r}, in the Node-only/non-core folder dist/${top}/`);
    if (r.startsWith('..')) continue;
    for (const use of dynamicCode(await readFile(path, 'utf8'), path)) problems.push(`${r} uses ${use}`);
  }
  return { files: files.map(rel), reached: [...reached].map(rel), problems };
}

test('the scanner catches Node built-ins, packages, Node-only folders and eval (self-check)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'modelmark-purity-'));
  try {
    await mkdir(join(dir, 'node'));
    await mkdir(join(dir, 'generated'));
    await writeFile(join(dir, 'index.js'), "import './a.js'; export * from './generated/g.js';\n");
    await writeFile(join(dir, 'a.js'), "import { readFileSync } from 'node:fs';\nimport path from 'path';\nimport x from 'left-pad';\nexport const f = () => import('./node/io.js');\nexport const ok = \"add 'wasm-unsafe-eval' to script-src\", o = { eval: 1 };\n");
    await writeFile(join(dir, 'node', 'io.js'), 'export const io = 1;\n');
    await writeFile(join(dir, 'generated', 'g.js'), "// eval( in a comment is fine\nexport const g = new Function('return 1');\nexport const h = (0, eval)('2');\n");
    const { problems } = await scanCore(dir);
    const text = problems.join('\n');
    for (const want of ["Node built-in 'node:fs'", "Node built-in 'path'", "package 'left-pad'", 'dist/node/', 'g.js uses eval', 'g.js uses new Function']) {
      assert.ok(text.includes(want), `missing "${want}" in:\n${text}`);
    }
    assert.not.ok(/index\.js uses eval/.test(text));
    assert.not.ok(/a\.js uses eval/.test(text), 'a string and a property name that say eval are not eval');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the built core imports no Node built-in, no package, nothing Node-only, and has no eval', async () => {
  const { files, reached, problems } = await scanCore(DIST);
  assert.ok(files.includes('index.js') && files.includes('wasm.js') && files.includes('deep/index.js'), `core files: ${files.join(', ')} (run npm run build:ts)`);
  assert.ok(reached.length >= files.length, `scanned ${reached.length} of ${files.length} files`);
  assert.equal(problems, [], `the core is not runtime-neutral:\n  ${problems.join('\n  ')}`);
});

test('the core calls none of Math\'s implementation-approximated functions (exp, log, sin, ...): their last bit differs between engines, and so would p-values; src/libm.ts gives the same bits everywhere', async () => {
  // The classical watermark: the top-level dist/*.js (the deep watermark's runner computes in
  // float32 with onnxruntime, and is compared with tolerances).
  const APPROXIMATED = /\bMath\.(exp|expm1|log|log1p|log2|log10|sin|cos|tan|asin|acos|atan|atan2|sinh|cosh|tanh|asinh|acosh|atanh|cbrt|hypot|pow)\b/;
  const files = (await readdir(DIST)).filter((f) => f.endsWith('.js') && f !== 'libm.js');
  assert.ok(files.includes('stats.js') && files.includes('sync.js'), `files: ${files.join(', ')} (run npm run build:ts)`);
  const found = [];
  for (const f of files) {
    // Comments may name them; code may not.
    const { code } = await transform(await readFile(join(DIST, f), 'utf8'), { loader: 'js', legalComments: 'none' });
    const m = APPROXIMATED.exec(code);
    if (m) found.push(`${f}: ${m[0]}`);
  }
  assert.equal(found, []);
});

test.run();
