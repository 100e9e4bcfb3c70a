// Build the browser demo (examples/web) into dist/web: index.html, style.css, main.js,
// worker.js (the core and its inlined WebAssembly bundled in) and deep-worker.js (the deep
// watermark on onnxruntime-web), with onnxruntime-web's WebAssembly runtime
// (ort-wasm-simd-threaded.jsep.wasm: WebAssembly and WebGPU) and the deep models in
// models/ (h.onnx, r.onnx, deep.json copied from the package's models/). Needs `npm run build:ts`.
//
//   node scripts/build-web.mjs [--out DIR] [--models DIR] [--serve [PORT]]
//
// --serve then serves the folder on http://127.0.0.1:PORT (8080 by default); module workers
// need http(s), not file://.
import { copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { ROOT, selfReference } from './build-photopea.mjs';

const SRC = join(ROOT, 'examples', 'web');
/** The deep watermark's models the page loads (fetched from models/ next to index.html). */
export const MODEL_FILES = ['h.onnx', 'r.onnx', 'deep.json'];
/**
 * onnxruntime-web's runtime for the bundled default entry (ort.bundle.min.mjs): the JSEP build's
 * WebAssembly, which runs both the 'wasm' and the 'webgpu' execution providers (its JavaScript
 * glue is inside the bundle). Served next to deep-worker.js, which points
 * ort.env.wasm.wasmPaths at it: nothing comes from a CDN.
 */
export const ORT_FILES = ['ort-wasm-simd-threaded.jsep.wasm'];
const ORT_DIST = join(ROOT, 'node_modules', 'onnxruntime-web', 'dist');

/**
 * Build the demo into `outDir` (default dist/web), with the deep models from `models` (default
 * the package's models/). Throws when a model file or onnxruntime-web's runtime is missing.
 * Returns the folder.
 * @example
 * await buildWeb('/tmp/web', { models: '/tmp/my-models' });
 */
export async function buildWeb(outDir = join(ROOT, 'dist', 'web'), { models = join(ROOT, 'models') } = {}) {
  const missing = [];
  for (const name of MODEL_FILES) if (!(await isFile(join(models, name)))) missing.push(name);
  if (missing.length > 0) {
    throw new Error(`build-web: the deep watermark's models are missing: ${missing.join(', ')} not found in ${models}. ` +
      'The demo page needs h.onnx, r.onnx and deep.json: train them with `npm run train:deep` (writes models/), ' +
      'or pass a folder written by `modelmark train-deep` with --models DIR.');
  }
  for (const name of ORT_FILES) {
    if (!(await isFile(join(ORT_DIST, name)))) throw new Error(`build-web: onnxruntime-web's runtime file ${join(ORT_DIST, name)} is missing: run npm ci.`);
  }
  await mkdir(join(outDir, 'models'), { recursive: true });
  await build({
    entryPoints: { main: join(SRC, 'main.js'), worker: join(SRC, 'worker.js'), 'deep-worker': join(SRC, 'deep-worker.js') },
    outdir: outDir, bundle: true, format: 'esm', platform: 'browser', target: 'chrome110',
    minify: true, sourcemap: 'linked', logLevel: 'warning', absWorkingDir: ROOT, plugins: [selfReference],
  });
  await copyFile(join(SRC, 'index.html'), join(outDir, 'index.html'));
  await copyFile(join(SRC, 'style.css'), join(outDir, 'style.css'));
  for (const name of ORT_FILES) await copyFile(join(ORT_DIST, name), join(outDir, name));
  for (const name of MODEL_FILES) await copyFile(join(models, name), join(outDir, 'models', name));
  return outDir;
}

async function isFile(path) {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.map': 'application/json', '.json': 'application/json', '.wasm': 'application/wasm',
};

function serve(dir, port) {
  const base = resolve(dir);
  createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      const file = normalize(join(base, path.endsWith('/') ? path + 'index.html' : path));
      if (!file.startsWith(base + sep) || !(await stat(file)).isFile()) throw new Error('not found');
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(await readFile(file));
    } catch {
      res.writeHead(404).end('not found');
    }
  }).listen(port, '127.0.0.1', () => console.log(`Demo: http://127.0.0.1:${port}/  (Ctrl+C to stop)`));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name) => process.argv.indexOf(name);
  let out;
  try {
    out = await buildWeb(arg('--out') > 0 ? resolve(process.argv[arg('--out') + 1]) : undefined,
      arg('--models') > 0 ? { models: resolve(process.argv[arg('--models') + 1]) } : {});
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
  console.log(`Demo page built: ${out}/index.html`);
  if (arg('--serve') > 0) {
    const p = Number(process.argv[arg('--serve') + 1]);
    serve(out, Number.isInteger(p) && p > 0 ? p : 8080);
  }
}
