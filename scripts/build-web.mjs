// Build the browser demo (examples/web) into dist/web: index.html, style.css, main.js and
// worker.js (the core and its inlined WebAssembly bundled in). Needs `npm run build:ts` first.
//
//   node scripts/build-web.mjs [--out DIR] [--serve [PORT]]
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

/**
 * Build the demo into `outDir` (default dist/web). Returns the folder.
 * @example
 * await buildWeb('/tmp/web');
 */
export async function buildWeb(outDir = join(ROOT, 'dist', 'web')) {
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: { main: join(SRC, 'main.js'), worker: join(SRC, 'worker.js') },
    outdir: outDir, bundle: true, format: 'esm', platform: 'browser', target: 'chrome110',
    minify: true, sourcemap: 'linked', logLevel: 'warning', absWorkingDir: ROOT, plugins: [selfReference],
  });
  await copyFile(join(SRC, 'index.html'), join(outDir, 'index.html'));
  await copyFile(join(SRC, 'style.css'), join(outDir, 'style.css'));
  return outDir;
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json' };

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
  const out = await buildWeb(arg('--out') > 0 ? resolve(process.argv[arg('--out') + 1]) : undefined);
  console.log(`Demo page built: ${out}/index.html`);
  if (arg('--serve') > 0) {
    const p = Number(process.argv[arg('--serve') + 1]);
    serve(out, Number.isInteger(p) && p > 0 ? p : 8080);
  }
}
