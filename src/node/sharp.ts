// sharp for the Node-only code (files, CLI, batch workers), loaded through require. sharp ships
// a CommonJS and an ES module build of the same library; on Node 20 the CommonJS one loads in
// about 47 ms where `import 'sharp'` takes 95-120 ms (measured, one core), and every process
// and every batch worker pays that once before its first image. Both builds drive the same
// native binding (one per process), so settings such as sharp.concurrency() are shared with a
// caller's own `import sharp`. The plug-in (modelmark/sharp) keeps `import`: it receives the
// caller's sharp instances.
//
// Loaded on first use, not when this module is imported: `import 'modelmark/node'` for the core
// API, the batch runner or metadata alone (a serverless function handed raw pixels) does not pay
// sharp's 30-50 ms of start-up (bench/cold-start.mjs). Call it outside any try that turns errors
// into DecodeError: a sharp that cannot load is not an undecodable file.
import { createRequire } from 'node:module';
import type SharpModule from 'sharp';

let sharp: typeof SharpModule | undefined;

/** sharp, required on the first call. */
export default function loadSharp(): typeof SharpModule {
  return sharp ??= createRequire(import.meta.url)('sharp') as typeof SharpModule;
}
