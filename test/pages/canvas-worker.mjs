// Worker for test/plugin-canvas.test.mjs: serves modelmark/canvas/worker requests, and answers
// { offscreen } messages itself by marking an OffscreenCanvas with modelmark/canvas.
import { serveWatermarkWorker } from 'modelmark/canvas/worker';
import { watermarkCanvas, detectCanvas } from 'modelmark/canvas';

serveWatermarkWorker();

self.addEventListener('message', async (event) => {
  const job = event.data?.offscreen;
  if (!job) return;
  const bitmap = await createImageBitmap(await (await fetch(job.url)).blob());
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  canvas.getContext('2d').drawImage(bitmap, 0, 0);
  const returned = await watermarkCanvas(canvas, { key: job.key, payload: job.payload });
  const blob = await canvas.convertToBlob({ type: 'image/png' });
  const back = await createImageBitmap(blob);
  const canvas2 = new OffscreenCanvas(back.width, back.height);
  canvas2.getContext('2d').drawImage(back, 0, 0);
  const r = await detectCanvas(canvas2, { key: job.key });
  self.postMessage({ offscreen: { same: returned === canvas, found: r.found, payload: r.payload, inWorker: typeof document === 'undefined' } });
});
