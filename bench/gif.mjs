// `node bench/gif.mjs`: the mark through GIF's 256-colour palette. Every shared photo (reduced to
// at most 1024 pixels a side, a common size for GIFs) is marked, written as GIF by sharp (libvips'
// palette quantiser, with its default dithering and without), decoded and read. PHOTOS=a.png,b.jpg
// (names in ../shared/photos/) restricts the photos.
import sharp from 'sharp';
import { createWatermarker } from '../dist/index.js';
import { benchPhotos } from './photos.mjs';

const wm = await createWatermarker({ key: 'bench gif key' });
const PAYLOAD = 'c0ffee00000000ff';
const photos = await benchPhotos();
const rows = { 'GIF, dithered (default)': [{}, 0], 'GIF, no dithering': [{ dither: 0 }, 0] };
for (const { name, image } of photos) {
  const s = Math.min(1, 1024 / Math.max(image.width, image.height));
  const { data, info } = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: image.channels } })
    .resize(Math.round(image.width * s)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const marked = wm.embed({ width: info.width, height: info.height, channels: 3, data }, PAYLOAD);
  for (const [label, row] of Object.entries(rows)) {
    const gif = await sharp(marked.data, { raw: { width: info.width, height: info.height, channels: 3 } }).gif(row[0]).toBuffer();
    const d = await sharp(gif).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const r = wm.detect({ width: d.info.width, height: d.info.height, channels: 3, data: d.data });
    if (r.found && r.payload === PAYLOAD) row[1]++;
    else console.log(`  missed: ${name} (${label}), p = ${r.pValue.toExponential(2)}`);
  }
}
console.log(`| written as | exact payload (${photos.length} photos) |\n|---|---|`);
for (const [label, [, n]] of Object.entries(rows)) console.log(`| ${label} | ${n}/${photos.length} |`);
