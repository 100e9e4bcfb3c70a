import { serveWatermarkWorker } from 'modelmark/canvas/worker';
const stop: () => void = serveWatermarkWorker();
export { stop };
