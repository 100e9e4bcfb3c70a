// The core in a page with a Content Security Policy (real Chromium): without 'wasm-unsafe-eval' a
// browser compiles no WebAssembly at all, so createWatermarker must fail with ERR_WASM saying
// which directive to change (not advise a pre-compiled module, which such a page cannot make);
// with it, marks are made and read.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundle, launchChromium, serveStatic } from './helpers/browser.mjs';

let dir, server, browser;
const page = (csp) => (req, res) => res.writeHead(200, { 'content-type': 'text/html', 'content-security-policy': csp })
  .end('<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module" src="csp.js"></script>');

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mm-csp-'));
  await bundle('test/pages/csp.mjs', join(dir, 'csp.js'));
  server = await serveStatic(dir, {
    '/strict.html': page("default-src 'self'; script-src 'self'"),
    '/wasm.html': page("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'"),
  });
  browser = await launchChromium();
});

test.after(async () => {
  await browser?.close();
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function runIn(name) {
  const p = await browser.newPage();
  try {
    await p.goto(`${server.url}/${name}.html`);
    await p.waitForFunction(() => window.ready === true);
    return await p.evaluate(() => window.run());
  } finally {
    await p.close();
  }
}

test("script-src without 'wasm-unsafe-eval': ERR_WASM naming the directive to add", async () => {
  const r = await runIn('strict');
  assert.ok(r.error, `expected an error, got ${JSON.stringify(r)}`);
  assert.is(r.error.name, 'WasmError');
  assert.is(r.error.code, 'ERR_WASM');
  assert.match(r.error.message, "add 'wasm-unsafe-eval' to its script-src");
  assert.not.match(r.error.message, 'pre-compiled', 'a page under this policy cannot compile a module to pass');
  assert.not.match(r.error.message, '..', 'one full stop between the cause and the advice');
});

test("with 'wasm-unsafe-eval' the page marks and reads", async () => {
  assert.equal(await runIn('wasm'), { found: true, payload: '0123456789abcdef' });
});

test.run();
