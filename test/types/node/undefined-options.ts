// Under exactOptionalPropertyTypes an optional option must also take `undefined` where the runtime
// treats undefined as absent (a value forwarded from the caller's own optional setting).
import { createWatermarker, combineEvidence } from 'modelmark';
import { readImage, decodeImageFile, encodeImage, writeImage, markFile, listImages, runBatch, createDeepWatermarker, type ImageFile } from 'modelmark/node';
import { metadataOf, type ImageMetadata } from 'modelmark/metadata';
import { watermarkStream } from 'modelmark/sharp';

export async function main(u: { n?: number; b?: boolean; s?: string }, bytes: Uint8Array, meta: ImageMetadata): Promise<void> {
  const wm = await createWatermarker({ key: 'k', strength: u.n, threshold: u.n, maxPixels: u.n, maxAspect: u.n, module: undefined, search: u.b });
  const img: ImageFile = await readImage('a.jpg', { maxPixels: u.n, keepDepth: undefined, metadata: u.b, firstFrame: u.b, allFrames: u.b });
  const up: ImageFile = await decodeImageFile(bytes, 'a.jpg', { keepDepth: undefined });
  wm.embed(img, 'c0ffee', { inPlace: u.b });
  wm.detect(up, { evidence: u.b, search: u.b });
  combineEvidence([wm.evidence(img)], { threshold: u.n });
  markFile(wm, img, 'c0ffee', { inPlace: u.b });
  await encodeImage(img, { format: 'png', quality: u.n, metadata: undefined, animation: img.animation });
  await writeImage('b.png', img, { format: u.s, quality: u.n, sourcePath: u.s, overwriteSource: u.b, metadata: img.metadata, animation: img.animation, insideFolder: undefined });
  await listImages('dir', { recursive: u.b, exclude: undefined, followLinks: u.b });
  await runBatch({
    command: 'detect', input: 'in', key: 'k', output: u.s, payload: u.s, strength: u.n, quality: u.n, keepMetadata: u.b, threshold: u.n, maxPixels: u.n,
    maxAspect: u.n, jobs: u.n, memoryBudget: u.n, pixelBudget: u.n, manifest: u.s, recursive: u.b, followLinks: u.b, onStart: undefined, onRecord: undefined, signal: undefined,
  });
  await createDeepWatermarker({ logo: undefined, maxPixels: u.n, threshold: u.n, module: undefined, executionProviders: undefined, numThreads: u.n });
  const kept: ImageMetadata = { exif: meta.exif, icc: meta.icc, xmp: meta.xmp };
  metadataOf(kept, true, { upright: u.b });
  watermarkStream({ key: 'k', payload: 'c0ffee', carryMetadata: u.b, format: undefined, quality: u.n, keepMetadata: u.b, maxInputBytes: u.n });
}
