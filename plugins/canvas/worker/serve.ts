// modelmark/canvas/worker, the worker side: serveWatermarkWorker() and handleWatermarkRequest(),
// which mark and detect with the canvas plug-in (and so the built-in kernels).
import { invalidParameter } from 'modelmark';
import { detectImageData, watermarkImageData } from '../index.js';
import type { EmbedOptions } from '../../shared/options.js';
import { isPort, serializeError, transferable, type WatermarkWorkerRequest, type WatermarkWorkerResponse, type WorkerPort } from './client.js';

/**
 * Answer one request (the worker-side logic without the messaging): useful to host the
 * protocol on another transport. Resolves to the response and the buffers to transfer.
 * @example
 * const answer = await handleWatermarkRequest(event.data); // undefined: not a modelmark request
 * if (answer) port.postMessage(answer.response, answer.transfer);
 */
export async function handleWatermarkRequest(request: unknown): Promise<{ response: WatermarkWorkerResponse; transfer: Transferable[] } | undefined> {
  const q = request as WatermarkWorkerRequest;
  if (!q || q.__modelmark !== 1) return undefined;
  try {
    const image = { width: q.width, height: q.height, data: q.data };
    if (q.op === 'embed') {
      await watermarkImageData(image, q.options as EmbedOptions);
      const { data, list } = transferable(image.data, true);
      return { response: { __modelmark: 1, id: q.id, ok: true, data }, transfer: list };
    }
    if (q.op === 'detect') {
      return { response: { __modelmark: 1, id: q.id, ok: true, result: await detectImageData(image, q.options) }, transfer: [] };
    }
    throw invalidParameter('op', '"embed" or "detect"', q.op);
  } catch (e) {
    return { response: { __modelmark: 1, id: q.id, ok: false, error: serializeError(e) }, transfer: [] };
  }
}

/**
 * Worker side: answer the client's requests on `scope` (the worker's global scope by default).
 * Call once at the top of your worker module. Messages that are not modelmark requests are
 * ignored, so the worker can host other code. Returns a function that stops answering.
 * @example
 * // watermark.worker.js
 * import { serveWatermarkWorker } from 'modelmark/canvas/worker';
 * serveWatermarkWorker();
 */
export function serveWatermarkWorker(scope: WorkerPort = globalThis as unknown as WorkerPort): () => void {
  if (!isPort(scope)) throw invalidParameter('scope', "a worker's global scope or a MessagePort", scope);
  const listener = (event: MessageEvent) => {
    void handleWatermarkRequest(event.data).then((r) => { if (r) scope.postMessage(r.response, r.transfer); });
  };
  scope.addEventListener('message', listener);
  (scope as unknown as { start?: () => void }).start?.();
  return () => scope.removeEventListener('message', listener);
}
