// Shared by the browser tests: real Chromium (Debian's /usr/bin/chromium, installed by .ci/run)
// driven by playwright-core, a static file server on loopback, and esbuild bundles of test pages.
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { build } from 'esbuild';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// Without the background-networking flags Chromium keeps trying to reach Google's hosts, which
// this machine's closed network refuses.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

/**
 * Launch headless Chromium. Close it when done (`await browser.close()`). With `webgpu: true`
 * the GPU process stays on and WebGPU is enabled (--enable-unsafe-webgpu: Linux builds keep it
 * behind the flag); without a GPU, Chromium's adapter is then SwiftShader (a software fallback
 * adapter). By default (--disable-gpu) navigator.gpu exists but gives no adapter.
 * @example
 * const browser = await launchChromium();
 * const gpuBrowser = await launchChromium({ webgpu: true });
 */
export async function launchChromium({ webgpu = false } = {}) {
  const args = webgpu ? [...ARGS.filter((a) => a !== '--disable-gpu'), '--enable-unsafe-webgpu'] : ARGS;
  return chromium.launch({ executablePath: CHROMIUM, args, headless: true });
}

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.wasm': 'application/wasm', '.png': 'image/png',
  '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp', '.map': 'application/json', '.svg': 'image/svg+xml',
};

/**
 * Serve `root` on 127.0.0.1 (a random free port). `routes` maps a path to a handler
 * `(req, res) => void` for anything dynamic. Returns `{ url, close }`.
 * @example
 * const server = await serveStatic(dir); await page.goto(server.url + '/index.html'); await server.close();
 */
export async function serveStatic(root, routes = {}) {
  const base = resolve(root);
  const server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      if (routes[path]) return void (await routes[path](req, res));
      const file = normalize(join(base, path.endsWith('/') ? path + 'index.html' : path));
      if (file !== base && !file.startsWith(base + sep)) { res.writeHead(403).end(); return; }
      if (!(await stat(file)).isFile()) throw new Error('not a file');
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(await readFile(file));
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((ok) => server.close(ok)) };
}

/**
 * Bundle an ES module entry for the browser with esbuild (ESM, source maps inline). `modelmark`
 * and `modelmark/<plugin>` resolve to this package's own build (npm run build first).
 * @example
 * await bundle('test/pages/konva.mjs', '/tmp/out/konva.js');
 */
export async function bundle(entry, outfile, options = {}) {
  await build({
    entryPoints: [entry], outfile, bundle: true, format: 'esm', platform: 'browser', target: 'chrome120',
    sourcemap: 'inline', logLevel: 'silent', absWorkingDir: ROOT, ...options,
    plugins: [selfReference, ...(options.plugins ?? [])],
  });
  return outfile;
}

/** esbuild plug-in: `modelmark` and `modelmark/<entry>` resolve through package.json's exports. */
export const selfReference = {
  name: 'modelmark-self-reference',
  setup(b) {
    b.onResolve({ filter: /^modelmark(\/.*)?$/ }, async (args) => {
      const { exports } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
      const sub = '.' + args.path.slice('modelmark'.length);
      const target = exports[sub];
      if (!target) return { errors: [{ text: `modelmark has no export ${sub}` }] };
      return { path: join(ROOT, typeof target === 'string' ? target : target.import) };
    });
  },
};

/**
 * Collect console errors and page errors of a page, to assert none happened.
 * @example
 * const errors = watchErrors(page); ... assert.equal(errors, []);
 */
export function watchErrors(page) {
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  return errors;
}

/**
 * One test page in one fresh Chromium: bundles `entries` ({ 'name.js': 'path/to/entry.mjs' })
 * into a temporary folder, serves it with an index.html that loads `main` as a module plus the
 * given extra `routes`, opens the page and waits until it sets `window.ready = true`.
 * Returns { page, errors, url, dir, browser, close } (close the browser, the server and the
 * folder); `browser` opens more pages, e.g. a HiDPI one: `browser.newContext({ deviceScaleFactor: 2 })`.
 * @example
 * const t = await openTestPage({ name: 'konva', entries: { 'konva.js': 'test/pages/konva.mjs' } });
 */
export async function openTestPage({ name, entries, main = Object.keys(entries)[0], routes = {} }) {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), `modelmark-${name}-`));
  let browser, server;
  const close = async () => {
    await browser?.close();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(Object.entries(entries).map(([out, entry]) => bundle(entry, join(dir, out))));
    server = await serveStatic(dir, {
      '/index.html': (req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><body><script type="module" src="${main}"></script>`),
      '/favicon.ico': (req, res) => res.writeHead(204).end(),
      ...routes,
    });
    browser = await launchChromium();
    const page = await browser.newPage();
    const errors = watchErrors(page);
    await page.goto(server.url + '/index.html');
    await page.waitForFunction(() => window.ready === true);
    return { page, errors, url: server.url, dir, browser, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * Run `fn(page)` in a page of `t` (openTestPage's) opened at another device scale factor (a
 * HiDPI screen: 2), once it is ready; the context is closed after. Returns { result, errors }.
 * @example
 * const { result, errors } = await withScaledPage(t, 2, (page) => page.evaluate(() => window.runIt()));
 */
export async function withScaledPage(t, deviceScaleFactor, fn) {
  const context = await t.browser.newContext({ deviceScaleFactor });
  try {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(t.url + '/index.html');
    await page.waitForFunction(() => window.ready === true);
    return { result: await fn(page), errors };
  } finally {
    await context.close();
  }
}

/**
 * A route handler that serves one file's bytes with a content type.
 * @example
 * routes: { '/photo.jpg': fileRoute(bytes, 'image/jpeg') }
 */
export const fileRoute = (bytes, type) => (req, res) => res.writeHead(200, { 'content-type': type }).end(bytes);
