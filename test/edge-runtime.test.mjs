// modelmark in Vercel's Edge Runtime: the `edge-runtime` package's EdgeRuntime, the V8 sandbox
// (a Node vm context with web APIs only) that runs Vercel Edge Functions and Next.js middleware
// locally. The code is bundled as those hosts bundle it (esbuild, the "edge-light" export
// condition first) and run with WebAssembly compilation from bytes forbidden, as in production;
// the kernels come in as a module the host compiled, which belongs to the host's realm (Vercel
// and Next.js compile `.wasm` imports outside the sandbox and hand them in as globals).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import sharp from 'sharp';
import { build } from 'esbuild';
import { EdgeRuntime } from 'edge-runtime';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createWatermarker } from '../dist/index.js';
import { PHOTOS_DIR } from '../bench/photos.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const KEY = 'edge runtime key';
const PAYLOAD = 'c0ffee0000000001';

/** Bundle `source` (an ES module) into one script, as Vercel / Next.js bundle Edge code. */
async function bundle(source) {
  const out = await build({
    stdin: { contents: source, resolveDir: ROOT, sourcefile: 'edge-entry.mjs' },
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'neutral',
    target: 'es2022',
    conditions: ['edge-light', 'worker', 'browser', 'import'],
    mainFields: ['module', 'main'],
    logLevel: 'silent',
  });
  return out.outputFiles[0].text;
}

/** A fresh sandbox that may not compile WebAssembly (nor strings), with `code` evaluated in it. */
function sandbox(code) {
  const runtime = new EdgeRuntime({ codeGeneration: { strings: false, wasm: false } });
  runtime.evaluate(code);
  return runtime;
}

// The entry under test: marks and detects what it is given, and reports errors as plain strings
// (an error object's class belongs to the sandbox's realm).
const ENTRY = (specifier) => `
  import { createWatermarker, init } from '${specifier}';
  const failure = (e) => (e && e.code ? e.code + ': ' : '') + String(e && e.message);
  globalThis.withoutModule = () => createWatermarker({ key: 'k' }).then(() => 'loaded', failure);
  globalThis.initWith = (module) => init(module).then(() => 'loaded', failure);
  globalThis.markAndDetect = async (module, width, height, bytes) => {
    const wm = await createWatermarker({ key: ${JSON.stringify(KEY)}, module });
    const marked = wm.embed({ width, height, data: new Uint8ClampedArray(bytes) }, ${JSON.stringify(PAYLOAD)});
    const r = wm.detect(marked);
    return { found: r.found, payload: r.payload, pValue: r.pValue, marked: marked.data };
  };`;

const wasmBytes = await readFile(new URL('../build/modelmark.wasm', import.meta.url));
/** Compiled here, in Node's realm: `instanceof WebAssembly.Module` is false inside the sandbox. */
const hostModule = await WebAssembly.compile(wasmBytes);
const { data: rgba, info } = await sharp(PHOTOS_DIR + 'mate-Garden.jpg').resize(960, 600).ensureAlpha().raw().toBuffer({ resolveWithObject: true });

test("'modelmark' resolves to modelmark/lite under \"edge-light\": marks a real photo with the host's module, byte-identical to Node, and detects it", async () => {
  const code = await bundle(ENTRY('modelmark'));
  assert.not.ok(code.includes('AGFzbQ'), 'no inlined base64 kernels in the Edge bundle (they could not be compiled there)');
  const edge = sandbox(code);
  const missing = await edge.evaluate('withoutModule')();
  assert.match(missing, /^ERR_WASM: modelmark\/lite has no built-in kernels: pass the compiled module/);
  assert.match(missing, /edge-light/, 'says why importing modelmark gave the lite entry');

  const r = await edge.evaluate('markAndDetect')(hostModule, info.width, info.height, new Uint8Array(rgba).buffer);
  assert.ok(r.found, 'found in the sandbox');
  assert.is(r.payload, PAYLOAD);
  assert.ok(r.pValue < 1e-20, `p-value ${r.pValue}`);
  const wm = await createWatermarker({ key: KEY });
  const node = wm.embed({ width: info.width, height: info.height, data: new Uint8ClampedArray(rgba) }, PAYLOAD);
  assert.ok(Buffer.from(r.marked.buffer, r.marked.byteOffset, r.marked.length).equals(Buffer.from(node.data.buffer, node.data.byteOffset, node.data.length)),
    'the same marked pixels as Node');
});

test('modelmark/lite in the sandbox takes modules from the host realm on every path: loading, reloading, and a module that is not ours', async () => {
  const edge = sandbox(await bundle(ENTRY('modelmark/lite')));
  const other = await WebAssembly.compile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
  // Before anything is loaded, a foreign-realm module that is not the kernels: named as such.
  assert.match(await edge.evaluate('initWith')(other), /^ERR_WASM: The WebAssembly module given is not modelmark's kernels/);
  assert.is(await edge.evaluate('initWith')(hostModule), 'loaded');
  assert.is(await edge.evaluate('initWith')(hostModule), 'loaded', 'again, once loaded');
  assert.match(await edge.evaluate('initWith')(other), /^ERR_WASM: The WebAssembly module given is not modelmark's kernels/, 'once loaded');
  assert.match(await edge.evaluate('initWith')({}), /^ERR_INVALID_ARGUMENT: Expected a WebAssembly.Module/, 'a plain object is still refused');
});

test("the full entry, forced into the sandbox, says the runtime forbids compiling WebAssembly and names Vercel's Edge, not only Cloudflare Workers", async () => {
  const edge = sandbox(await bundle(ENTRY('./dist/index.js')));
  const message = await edge.evaluate('withoutModule')();
  assert.match(message, /^ERR_WASM: Could not load the modelmark WebAssembly kernels: .*disallowed.*This runtime forbids compiling WebAssembly at run time/);
  assert.match(message, /Vercel Edge Functions/);
});

test('init() takes the kernels\' bytes as an ArrayBuffer from another realm (a host reading the file outside a vm sandbox), as it takes views and modules from there', async () => {
  const { runInNewContext } = await import('node:vm');
  const { init } = await import('../dist/index.js');
  const foreign = runInNewContext(`new ArrayBuffer(${wasmBytes.length})`);
  assert.not.ok(foreign instanceof ArrayBuffer, 'the buffer belongs to the other realm');
  new Uint8Array(foreign).set(wasmBytes);
  await init(foreign); // rejected as "Expected a WebAssembly.Module or the bytes ..." before
  const junk = runInNewContext('new ArrayBuffer(8)');
  let err;
  try { await init(junk); } catch (e) { err = e; }
  assert.is(err?.code, 'ERR_WASM', 'bytes that are not WebAssembly are still refused, as not WebAssembly');
});

test.run();
