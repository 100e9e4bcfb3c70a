import { readMetadata, embedMetadata, type ImageMetadata } from 'modelmark/metadata';
export async function main(original: Uint8Array, encoded: Uint8Array): Promise<Uint8Array> {
  const meta = await readMetadata(original);
  const keep: ImageMetadata = { exif: meta.exif, icc: meta.icc, xmp: meta.xmp };
  return embedMetadata(encoded, 'jpeg', keep, { width: 640, height: 480, alpha: false });
}
