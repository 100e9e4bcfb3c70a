import { createWatermarker, readImage, writeImage, decodeImageFile, encodeImage, markFile, runBatch, listImages, createDeepWatermarker, loadDeepModels, renderRegionMap, type BatchPiece, type BatchSummary } from 'modelmark/node';

export async function main(bytes: Buffer, outDir: string | undefined, payload: string | undefined): Promise<void> {
  const wm = await createWatermarker({ key: process.env['MODELMARK_KEY'] ?? 'k' });
  const img = await readImage('in.jpg');
  await writeImage('out.jpg', wm.embed(img, 'c0ffee'), { format: img.format, sourcePath: 'in.jpg' });
  const withMeta = await readImage('in.jpg', { metadata: true, maxPixels: undefined });
  await writeImage('out.jpg', wm.embed(withMeta, 'c0ffee'), { metadata: withMeta.metadata, overwriteSource: false });
  const d16 = await readImage('in.png', { keepDepth: true });
  await writeImage('out16.png', wm.embed(d16, 'c0ffee'));
  const upload = await decodeImageFile(bytes, 'upload.jpg', { maxPixels: 1e7 });
  const jpeg = await encodeImage(wm.embed(upload, 'c0ffee'), { format: 'jpeg', quality: 90 });
  const b: Buffer = jpeg.data;
  const file = await readImage('anim.webp', { allFrames: true });
  const marked = await markFile(wm, file, 'c0ffee');
  await writeImage('out.webp', marked, { animation: file.animation });
  const { files } = await listImages('photos', { recursive: true });
  const summary: BatchSummary = await runBatch({
    command: 'embed', input: 'photos', output: outDir, key: process.env['MODELMARK_KEY']!, payload,
    onRecord: (r) => { if (r.status === 'error') console.error(r.file, r.error!.message); },
  });
  await runBatch({
    command: 'detect', input: 'photos', key: 'k', pieces: 'all',
    onRecord: (r) => { const pieces: BatchPiece[] = r.pieces ?? []; for (const p of pieces) console.log(p.payload, p.pValue, p.transform?.scale); },
  });
  console.log(`${summary.done} marked, ${summary.skipped} unchanged, ${summary.errors} failed`, files, b.length);
  const deep = await createDeepWatermarker();
  const dm = await deep.embed(img);
  const { found, nc, logo } = await deep.extract(dm);
  console.log(found, nc, logo.width);
  const models = await loadDeepModels();
  console.log(models.meta.threshold, renderRegionMap);
  await deep.dispose();
}
