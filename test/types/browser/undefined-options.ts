// The browser plug-ins' optional options take `undefined` too (exactOptionalPropertyTypes).
import { createPostprocessImageData } from 'modelmark/pintura';
import { createModelmarkFilter } from 'modelmark/konva';
import { ModelmarkFilter } from 'modelmark/fabric';
import { createWatermarkWorker } from 'modelmark/canvas/worker';
import { connectPhotopea, decodeImage, startPhotopeaPlugin } from 'modelmark/photopea';

export async function main(u: { n?: number; b?: boolean; s?: string }, root: HTMLElement, imageData: ImageData): Promise<void> {
  createPostprocessImageData({ key: 'k', payload: 'c0ffee', tooSmall: undefined });
  await createModelmarkFilter({ key: 'k', payload: u.s, Konva: undefined });
  await ModelmarkFilter.create({ key: 'k', payload: 'c0ffee', strength: u.n });
  await createWatermarkWorker('/w.js').detect(imageData, { key: 'k' }, { transfer: u.b });
  connectPhotopea({ target: undefined, source: undefined, origin: u.s, timeoutMs: u.n }).close();
  await decodeImage(new ArrayBuffer(8), { maxPixels: u.n });
  startPhotopeaPlugin(root, { key: u.s, payload: u.s, placement: undefined, styles: u.b, strength: u.n, origin: u.s }).destroy();
}
