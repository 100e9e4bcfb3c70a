import { watermarkCanvas, watermarkImageData, detectImageData, detectCanvas } from 'modelmark/canvas';
export async function main(canvas: HTMLCanvasElement, photo: HTMLImageElement, off: OffscreenCanvas): Promise<void> {
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(photo, 0, 0);
  await watermarkCanvas(canvas, { key: 'my secret', payload: 'c0ffee0000000001' });
  const imageData = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const { found, payload, pValue } = await detectImageData(imageData, { key: 'my secret' });
  const marked: ImageData = await watermarkImageData(imageData, { key: 'my secret', payload: 'c0ffee0000000001', strength: 2 });
  ctx.putImageData(marked, 0, 0);
  await watermarkCanvas(off, { key: 'my secret', payload: 'c0ffee0000000001' });
  console.log(found, payload, pValue, (await detectCanvas(off, { key: 'my secret', search: false })).found);
}
