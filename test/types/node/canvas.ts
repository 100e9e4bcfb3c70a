import { createCanvas } from '@napi-rs/canvas';
import { watermarkCanvas, detectCanvas, watermarkImageData, detectImageData } from 'modelmark/canvas';
export async function main(): Promise<void> {
  const canvas = createCanvas(256, 256);
  await watermarkCanvas(canvas, { key: 'my secret', payload: 'c0ffee0000000001' });
  const r = await detectCanvas(canvas, { key: 'my secret' });
  const ctx = canvas.getContext('2d');
  const imageData = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const marked = await watermarkImageData(imageData, { key: 'my secret', payload: 'c0ffee0000000001' });
  ctx.putImageData(marked, 0, 0);
  const { found, payload, pValue } = await detectImageData(imageData, { key: 'my secret' });
  console.log(r.found, found, payload, pValue);
}
