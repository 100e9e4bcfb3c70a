// Misuses the declarations must reject: each @ts-expect-error fails the compile when the error
// it expects is not there (TS2578, "Unused '@ts-expect-error' directive").
import { createWatermarker } from 'modelmark';
import { encodeImage, readImage } from 'modelmark/node';
import { watermark } from 'modelmark/sharp';
import sharp from 'sharp';

export async function main(): Promise<void> {
  // @ts-expect-error strength is a number
  await createWatermarker({ key: 'k', strength: 'high' });
  // @ts-expect-error a misspelt option name (the runtime refuses it too)
  await createWatermarker({ key: 'k', strenght: 2 });
  // @ts-expect-error encodeImage refuses insideFolder (writeImage's option)
  await encodeImage(await readImage('a.png'), { format: 'png', insideFolder: { path: '/tmp' } });
  // @ts-expect-error an embedding plug-in needs a payload
  await watermark(sharp('a.jpg'), { key: 'k' });
  const wm = await createWatermarker({ key: 'k' });
  // @ts-expect-error payload is null when nothing was found
  const hex: string = wm.detect(await readImage('a.png')).payload;
  console.log(hex);
  // @ts-expect-error pieces is a boolean or 'all'
  wm.detect(await readImage('a.png'), { pieces: 'every' });
}
