// Size of the example Cloudflare Worker (examples/worker): everything it ships, the JS bundle and
// every wasm module (modelmark's kernels, jSquash's PNG codec and MozJPEG decoder/encoder), raw
// and gzip (per file, zlib's default level, as an upload is compressed), against the issue's
// budget for the classical path: 1 MB gzip, all included.
//
//   node bench/worker-size.mjs
//
// Also prints the core's share: a Worker resolves 'modelmark' by the "workerd" export condition
// to `modelmark/lite`, which leaves out the base64 copy of modelmark.wasm that the default entry
// carries (a Worker passes the pre-compiled module instead); both are measured.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { buildWorker, ROOT } from '../examples/worker/build.mjs';

const BUDGET = 1_000_000;
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;

const dir = await mkdtemp(join(tmpdir(), 'modelmark-worker-size-'));
try {
  const { files } = await buildWorker(dir);
  let raw = 0, gz = 0;
  console.log('file                      raw          gzip');
  for (const f of files) {
    const bytes = await readFile(f.path);
    const g = gzipSync(bytes).length;
    raw += bytes.length;
    gz += g;
    console.log(`${f.name.padEnd(24)}  ${String(bytes.length).padStart(8)} B  ${String(g).padStart(8)} B`);
  }
  console.log(`${'total'.padEnd(24)}  ${String(raw).padStart(8)} B  ${String(gz).padStart(8)} B   (${kb(raw)} raw, ${kb(gz)} gzip)`);
  console.log(`budget: ${BUDGET} B gzip -> ${gz <= BUDGET ? 'within' : 'OVER'} (${((gz / BUDGET) * 100).toFixed(1)}% used)`);

  // The core alone, bundled as for a Worker (conditions workerd, ...) and as the default entry.
  const core = async (conditions) => {
    const out = await build({
      stdin: { contents: "export { createWatermarker, init, ModelmarkError } from 'modelmark';", resolveDir: ROOT },
      bundle: true, format: 'esm', platform: 'neutral', minify: true, write: false, legalComments: 'none',
      conditions, mainFields: ['module', 'main'],
    });
    const text = out.outputFiles[0].contents;
    return { raw: text.length, gz: gzipSync(text).length };
  };
  const lite = await core(['workerd', 'worker', 'browser', 'import']);
  const full = await core(['import']);
  console.log(`core JS as a Worker bundles it (modelmark/lite): ${lite.raw} B raw / ${lite.gz} B gzip; ` +
    `the default entry with its built-in kernels: ${full.raw} B raw / ${full.gz} B gzip`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
