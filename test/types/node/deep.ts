import { createDeepWatermarker, type DeepMeta, type Image } from 'modelmark/deep';
export async function main(h: Uint8Array, r: ArrayBuffer, meta: DeepMeta, image: Image, threads: number | undefined): Promise<void> {
  const deep = await createDeepWatermarker({ models: { h, r, meta }, executionProviders: ['wasm'], numThreads: threads });
  const marked = await deep.embed(image);
  const { found, nc, logo } = await deep.extract(marked);
  console.log(found, nc, logo.channels, deep.meta.threshold, deep.executionProviders[0]);
  await deep.dispose();
}
