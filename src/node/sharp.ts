// sharp for the Node-only code (files, CLI, batch workers), loaded through require. sharp ships
// a CommonJS and an ES module build of the same library; on Node 20 the CommonJS one loads in
// about 47 ms where `import 'sharp'` takes 95-120 ms (measured, one core), and every process
// and every batch worker pays that once before its first image. Both builds drive the same
// native binding (one per process), so settings such as sharp.concurrency() are shared with a
// caller's own `import sharp`. The plug-in (modelmark/sharp) keeps `import`: it receives the
// caller's sharp instances.
import { createRequire } from 'node:module';
import type SharpModule from 'sharp';

const sharp: typeof SharpModule = createRequire(import.meta.url)('sharp');
export default sharp;
