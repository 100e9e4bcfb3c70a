// `modelmark detect --map OUT.png`: a picture of where the mark was found. The image is shown
// in dimmed grey; each cell of the detector's region map is tinted green where it carries the
// mark (score >= 3), amber where the evidence is weak (1.5 to 3) and red where the cell was
// examined and shows no mark; cells outside the examined area stay untinted. With every piece of
// `pieces: 'all'`, each further piece's marked cells in a colour of its own.
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
 * Overlay colours (RGBA) of the marked cells (score >= 3) of the further pieces of a `pieces:
 * 'all'` detection, in the order of `pieces` (the first piece is drawn in the colours of
 * cellColour): cyan, magenta, blue, orange, then again.
 */
export const PIECE_COLOURS: readonly (readonly [number, number, number, number])[] = [
  [30, 190, 230, 170], [220, 60, 210, 170], [60, 90, 240, 170], [250, 120, 20, 170],
];

/** Whether `regions` is null or a region map whose cells fit an image of width x height. */
function checkRegions(regions: unknown, width: number, height: number, name: string): asserts regions is RegionMap | null {
  if (regions === null) return;
  const r = regions as RegionMap;
  const ok = typeof r === 'object' && Number.isInteger(r.columns) && Number.isInteger(r.rows) &&
    r.columns > 0 && r.rows > 0 && r.columns <= width && r.rows <= height &&
    Array.isArray(r.scores) && r.scores.length === r.columns * r.rows;
  if (!ok) throw invalidParameter(name, 'null or a region map from detect ({ columns, rows, scores } with columns x rows scores, no more cells than pixels)', regions);
}

/**
 * Render the region map over the image (RGB, same size). With no map (mark not found), the
 * dimmed grey image alone. Given the maps of every piece (`result.pieces.map((p) => p.regions)`,
 * detect's `pieces: 'all'`), the first is drawn as a single map is, and each further piece's
 * marked cells (score >= 3) over it in its own colour (PIECE_COLOURS: cyan, magenta, ...).
 * @example
 * const picture = await renderRegionMap(image, result.regions);
 * const every = await renderRegionMap(image, result.pieces.map((p) => p.regions));
 */
export async function renderRegionMap(image: SampleImage & { channels: 1 | 3 | 4 }, regions: RegionMap | null | readonly (RegionMap | null)[]): Promise<Image & { channels: 1 | 3 }> {
  const sharp = loadSharp();
  const { width, height, channels } = checkSamples(image, 'image', Number.MAX_SAFE_INTEGER, 1, Number.POSITIVE_INFINITY);
  if (channels === 2) throw invalidParameter('image.channels', '1, 3 or 4 (grey, RGB or RGBA)', channels);
  const maps: readonly (RegionMap | null)[] = Array.isArray(regions) ? regions : [regions as RegionMap | null];
  if (Array.isArray(regions)) maps.forEach((m, i) => checkRegions(m, width, height, `regions[${i}]`));
  else checkRegions(regions, width, height, 'regions');
  // 16-bit samples (a Uint16Array, read as such by sharp) are shown through their 8-bit view.
  const pixels = image.data instanceof Uint16Array
    ? await sharp(image.data, { raw: { width, height, channels }, limitInputPixels: false }).toColourspace(channels === 1 ? 'b-w' : 'srgb').raw({ depth: 'uchar' }).toBuffer()
    : Buffer.from(image.data.buffer, image.data.byteOffset, image.data.length);
  // No pixel limit of sharp's here (268 megapixels by default): the image was read under the
  // caller's own (maxPixels), and the map is the same size.
  let base = sharp(pixels, { raw: { width, height, channels }, limitInputPixels: false })
    .removeAlpha().greyscale().linear(0.6, 30).toColourspace('srgb');
  const layers: Buffer[] = [];
  for (const [i, m] of maps.entries()) {
    if (!m) continue;
    const overlay = Buffer.alloc(m.columns * m.rows * 4);
    const colour = i === 0 ? cellColour : (s: number | null) => (s !== null && s >= 3 ? PIECE_COLOURS[(i - 1) % PIECE_COLOURS.length]! : [0, 0, 0, 0] as const);
    m.scores.forEach((s: number | null, k: number) => overlay.set(colour(s), k * 4));
    // Raw pixels throughout (a PNG round trip of each layer, as before, took 80% of the time: 145
    // ms at 1920x1080, 17 s at 300 megapixels).
    layers.push(await sharp(overlay, { raw: { width: m.columns, height: m.rows, channels: 4 } })
      .resize(width, height, { kernel: 'nearest', fit: 'fill' }).raw().toBuffer());
  }
  if (layers.length > 0) {
    const grey = await base.raw().toBuffer({ resolveWithObject: true });
    base = sharp(grey.data, { raw: { width, height, channels: grey.info.channels }, limitInputPixels: false })
      .composite(layers.map((tint) => ({ input: tint, raw: { width, height, channels: 4 }, blend: 'over' as const, limitInputPixels: false })));
  }
  const { data, info } = await base.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: info.channels as 1 | 3, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}
