import sharp from 'sharp';
import { pipeline } from 'node:stream/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import { combineEvidence } from 'modelmark';
import { watermark, detect, evidence, watermarkStream } from 'modelmark/sharp';

export async function main(): Promise<void> {
  const opts = { key: process.env['MODELMARK_KEY'] ?? 'k', payload: 'c0ffee0000000001' };
  const marked = await watermark(sharp('photo.jpg'), opts);
  await marked.resize(1600).keepMetadata().jpeg({ quality: 90 }).toFile('marked.jpg');
  const { found, payload } = await detect(sharp('marked.jpg'), { key: opts.key });
  await pipeline(createReadStream('in.png'), watermarkStream(opts), createWriteStream('out.png'));
  const pooled = combineEvidence(await Promise.all(['a.jpg', 'b.jpg', 'c.jpg'].map((f) => evidence(sharp(f), { key: opts.key }))));
  await pipeline(createReadStream('in.png'), watermarkStream({ ...opts, format: 'webp', quality: 80, keepMetadata: true }), createWriteStream('out.webp'));
  console.log(found, payload, pooled.pValue);
}
