// modelmark/canvas/worker: run embedding and detection in a Web Worker so the UI thread stays
// free. Two halves in one module:
//
//  - the client, createWatermarkWorker(), used on the page: promise-based embed/detect that post
//    requests (with ids) to the worker, transferring the pixel buffers rather than copying them;
//  - the worker side, serveWatermarkWorker(), which a worker script calls once to answer those
//    requests (the package ships such a script as ./entry.js next to this module).
//
// Building the worker with a bundler: write a two-line worker module of your own,
//
//     // watermark.worker.ts
//     import { serveWatermarkWorker } from 'modelmark/canvas/worker';
//     serveWatermarkWorker();
//
// and hand the client a Worker built from it with the pattern every modern bundler (Vite,
// webpack 5, Parcel, Rollup with @web/rollup-plugin-import-meta-assets, esbuild with a worker
// plug-in) recognises and emits as a separate chunk:
//
//     const client = createWatermarkWorker(
//       new Worker(new URL('./watermark.worker.ts', import.meta.url), { type: 'module' }));
//
// Without an argument, createWatermarkWorker() starts the bundled entry with that same pattern
// (new URL('./entry.js', import.meta.url)), which works unbundled and with Vite and webpack 5.
export { createWatermarkWorker } from './client.js';
export type {
  SerializedError, TransferOptions, WatermarkWorkerClient, WatermarkWorkerOptions, WatermarkWorkerRequest, WatermarkWorkerResponse, WorkerPort,
} from './client.js';
export { handleWatermarkRequest, serveWatermarkWorker } from './serve.js';
