// `modelmark detect --map OUT.png`: a picture of where the mark was found. The image is shown
// in dimmed grey; each cell of the detector's region map is tinted green where it carries the
// mark (score >= 3), amber where the evidence is weak (1.5 to 3) and red where the cell was
// examined and shows no mark; cells outside the examined area stay untinted.
import loadSharp from './sharp.js';
import { invalidParameter } from '../args.js';
import { checkSamples, type Image, type SampleImage } from '../image.js';
import type { RegionMap } from '../regions.js';

/** Overlay colour (RGBA) of one cell score. */
export function cellColour(score: number | null): [number, number, number, number] {
  if (score === null) return [0, 0, 0, 0];
  if (score >= 3) return [40, 210, 70, 150];
  if (score >= 1.5) return [240, 180, 30, 120];
  return [220, 40, 40, 70];
}

/**
 * Render the region map over the image (RGB, same size). With no map (mark not found), the
 * dimmed grey image alone.
 * @example
 * const picture = await renderRegionMap(image, result.regions);
 */
export async function renderRegionMap(image: SampleImage & { channels: 1 | 3 | 4 }, regions: RegionMap | null): Promise<Image & { channels: 1 | 3 }> {
  const sharp = loadSharp();
  const { width, height, channels } = checkSamples(image, 'image', Number.MAX_SAFE_INTEGER, 1, Number.POSITIVE_INFINITY);
  if (channels === 2) throw invalidParameter('image.channels', '1, 3 or 4 (grey, RGB or RGBA)', channels);
  if (regions !== null) {
    const ok = typeof regions === 'object' && Number.isInteger(regions.columns) && Number.isInteger(regions.rows) &&
      regions.columns > 0 && regions.rows > 0 && regions.columns <= width && regions.rows <= height &&
      Array.isArray(regions.scores) && regions.scores.length === regions.columns * regions.rows;
    if (!ok) throw invalidParameter('regions', 'null or a region map from detect ({ columns, rows, scores } with columns x rows scores, no more cells than pixels)', regions);
  }
  // 16-bit samples (a Uint16Array, read as such by sharp) are shown through their 8-bit view.
  const pixels = image.data instanceof Uint16Array
    ? await sharp(image.data, { raw: { width, height, channels }, limitInputPixels: false }).toColourspace(channels === 1 ? 'b-w' : 'srgb').raw({ depth: 'uchar' }).toBuffer()
    : Buffer.from(image.data.buffer, image.data.byteOffset, image.data.length);
  // No pixel limit of sharp's here (268 megapixels by default): the image was read under the
  // caller's own (maxPixels), and the map is the same size.
  let base = sharp(pixels, { raw: { width, height, channels }, limitInputPixels: false })
    .removeAlpha().greyscale().linear(0.6, 30).toColourspace('srgb');
  if (regions) {
    const overlay = Buffer.alloc(regions.columns * regions.rows * 4);
    regions.scores.forEach((s, i) => overlay.set(cellColour(s), i * 4));
    // Both layers as raw pixels (a PNG round trip of each, as before, took 80% of the time: 145
    // ms at 1920x1080, 17 s at 300 megapixels).
    const tint = await sharp(overlay, { raw: { width: regions.columns, height: regions.rows, channels: 4 } })
      .resize(width, height, { kernel: 'nearest', fit: 'fill' }).raw().toBuffer();
    const grey = await base.raw().toBuffer({ resolveWithObject: true });
    base = sharp(grey.data, { raw: { width, height, channels: grey.info.channels }, limitInputPixels: false })
      .composite([{ input: tint, raw: { width, height, channels: 4 }, blend: 'over', limitInputPixels: false }]);
  }
  const { data, info } = await base.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: info.channels as 1 | 3, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}
