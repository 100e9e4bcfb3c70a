import { createWatermarkWorker } from 'modelmark/canvas/worker';
export async function main(ctx: CanvasRenderingContext2D, w: number, h: number): Promise<void> {
  const client = createWatermarkWorker(new Worker(new URL('./watermark.worker.js', import.meta.url), { type: 'module' }));
  const marked = await client.embed(ctx.getImageData(0, 0, w, h), { key: 'my secret', payload: 'c0ffee0000000001' });
  ctx.putImageData(marked, 0, 0);
  const r = await client.detect(ctx.getImageData(0, 0, w, h), { key: 'my secret' }, { transfer: false });
  console.log(r.found);
  client.terminate();
  createWatermarkWorker('/watermark.worker.js').terminate();
}
