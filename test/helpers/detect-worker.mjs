// Worker thread for test/false-positives.test.mjs: runs a share of the null-hypothesis detections
// (image index, key) so the 11,000 full-search detections use every core. Posts back, per job,
// [pValue, crcOk, found]. `options` (optional) are detect's per-call options.
import { parentPort, workerData } from 'node:worker_threads';
import { createWatermarker } from '../../dist/index.js';

const { images, jobs, options } = workerData;
const out = [];
for (const [index, key] of jobs) {
  const r = (await createWatermarker({ key })).detect(images[index], options);
  out.push([r.pValue, r.crcOk, r.found]);
}
parentPort.postMessage(out);
