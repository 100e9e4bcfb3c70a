// Bundle the example Worker with esbuild the way wrangler does: one ES module (worker.js) plus
// each imported `.wasm` file as a separate wasm module of the Worker, which the runtime hands to
// the code as a pre-compiled WebAssembly.Module (Workers refuse to compile wasm at run time).
//
//   node examples/worker/build.mjs [outdir]      (default: dist/worker, git-ignored)
//
// Prints the files it wrote. `config.capnp` beside this script runs the result with workerd.
import { build } from 'esbuild';
import { copyFile, mkdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(HERE, '../..');
export const DEFAULT_OUTDIR = join(ROOT, 'dist', 'worker');

/**
 * Keep `.wasm` imports as imports of sibling modules (`./name.wasm`) and copy each file next to
 * the bundle: workerd's config (and wrangler) lists them as wasm modules.
 */
function wasmModules(outdir, wasm) {
  return {
    name: 'wasm-modules',
    setup(b) {
      b.onResolve({ filter: /\.wasm$/ }, async (args) => {
        if (args.pluginData?.wasmModules) return undefined;
        const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { wasmModules: true } });
        if (r.errors.length) return { errors: r.errors };
        const name = basename(r.path);
        const seen = wasm.get(name);
        if (seen && seen !== r.path) return { errors: [{ text: `Two wasm modules named ${name}: ${seen} and ${r.path}` }] };
        wasm.set(name, r.path);
        return { path: `./${name}`, external: true };
      });
    },
  };
}

/**
 * Build the Worker into `outdir`. Returns `{ outdir, files: [{ name, path, bytes }] }`
 * (the JS bundle first, then the wasm modules).
 * @example
 * const { files } = await buildWorker();
 */
export async function buildWorker(outdir = DEFAULT_OUTDIR, { minify = true } = {}) {
  const wasm = new Map();
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  const js = join(outdir, 'worker.js');
  await build({
    entryPoints: [join(HERE, 'src', 'index.js')],
    outfile: js,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    // Wrangler's resolve conditions for Workers.
    conditions: ['workerd', 'worker', 'browser', 'import'],
    mainFields: ['module', 'main'],
    minify,
    legalComments: 'none',
    logLevel: 'warning',
    plugins: [wasmModules(outdir, wasm)],
  });
  const files = [{ name: 'worker.js', path: js }];
  for (const [name, path] of wasm) {
    await copyFile(path, join(outdir, name));
    files.push({ name, path: join(outdir, name) });
  }
  for (const f of files) f.bytes = (await stat(f.path)).size;
  return { outdir, files };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { files } = await buildWorker(process.argv[2] ? resolve(process.argv[2]) : DEFAULT_OUTDIR);
  for (const f of files) console.log(`${f.path}  ${f.bytes} bytes`);
}
