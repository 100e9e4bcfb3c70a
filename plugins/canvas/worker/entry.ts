// The package's own worker script: createWatermarkWorker() with no argument starts this file as
// an ES module worker (new URL('./entry.js', import.meta.url)).
import { serveWatermarkWorker } from './serve.js';

serveWatermarkWorker();
