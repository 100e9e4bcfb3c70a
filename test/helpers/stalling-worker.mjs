// A watermark worker that hangs, then recovers (node:worker_threads, for
// test/plugin-canvas.test.mjs): on the port it is given, it swallows every modelmark request until
// it gets { wake: true }; then it answers the swallowed ones (late, in order), says how many with
// { lateAnswers: n }, and serves every later request as serveWatermarkWorker does.
import { workerData } from 'node:worker_threads';
import { handleWatermarkRequest, serveWatermarkWorker } from 'modelmark/canvas/worker';

const { port } = workerData;
const held = [];
const hold = async (event) => {
  if (!event.data?.wake) return void held.push(event.data);
  port.removeEventListener('message', hold);
  for (const request of held) {
    const answer = await handleWatermarkRequest(request);
    if (answer) port.postMessage(answer.response, answer.transfer);
  }
  port.postMessage({ lateAnswers: held.length });
  serveWatermarkWorker(port);
};
port.addEventListener('message', hold);
port.start();
