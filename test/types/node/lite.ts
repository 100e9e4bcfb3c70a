import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import wasm from 'modelmark/modelmark.wasm';
import { init, createWatermarker } from 'modelmark/lite';

export async function main(env: { MODELMARK_KEY: string }): Promise<void> {
  const file = createRequire(import.meta.url).resolve('modelmark/modelmark.wasm');
  await init(await readFile(file));
  await init(new Uint8Array(await readFile(file)));
  const wm = await createWatermarker({ key: env.MODELMARK_KEY, module: wasm });
  console.log(wm.detect({ width: 128, height: 128, data: new Uint8Array(128 * 128) }).found);
}
