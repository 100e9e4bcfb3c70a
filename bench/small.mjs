// `node bench/small.mjs`: how small a marked photo's copy can be and still be read. Every shared
// photo is marked at the default strength, downscaled by sharp (Lanczos, decoded at the small
// size) to 0.3x ... 0.08x, as is and then also through JPEG q80 (what thumbnails are stored
// as), and read with the full search. Prints the exact-payload rate per band of the copy's short
// side: this is what MIN_DETECT_SIDE (src/image.ts) rests on. Copies under it are refused
// (ERR_IMAGE_TOO_SMALL) and counted as misses. PHOTOS=a.png,b.jpg (names in ../shared/photos/)
// restricts the photos.
import sharp from 'sharp';
import { createWatermarker, MIN_DETECT_SIDE } from '../dist/index.js';
import { fromSharp } from './attacks.mjs';
import { MEASURE_KEY, MEASURE_PAYLOAD } from './measure.mjs';
import { benchPhotos } from './photos.mjs';

const SCALES = [0.3, 0.25, 0.2, 0.15, 0.12, 0.1, 0.08];
const BANDS = [32, 48, 64, 80, 96, 112, 128];
const raw = (img) => sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), {
  raw: { width: img.width, height: img.height, channels: img.channels },
});

const wm = await createWatermarker({ key: MEASURE_KEY });
const photos = await benchPhotos();
const seen = { 'as is': [], 'JPEG q80': [] }; // [short side, read]
let smallestRead = Infinity;
for (const { name, image } of photos) {
  const marked = wm.embed(image, MEASURE_PAYLOAD);
  for (const s of SCALES) {
    const w = Math.max(1, Math.round(image.width * s)), h = Math.max(1, Math.round(image.height * s));
    const small = await fromSharp(raw(marked).resize(w, h, { fit: 'fill' }));
    const jpeg = await fromSharp(sharp(await raw(small).jpeg({ quality: 80 }).toBuffer()));
    for (const [label, copy] of [['as is', small], ['JPEG q80', jpeg]]) {
      let read = false;
      try {
        const r = wm.detect(copy);
        read = r.found && r.payload === MEASURE_PAYLOAD;
      } catch (e) {
        if (e.code !== 'ERR_IMAGE_TOO_SMALL') throw e;
      }
      const side = Math.min(w, h);
      seen[label].push([side, read]);
      if (read) smallestRead = Math.min(smallestRead, side);
    }
  }
  process.stderr.write('.');
}
process.stderr.write('\n');
console.log(`| copy's short side (px) | ${Object.keys(seen).map((l) => `read, ${l}`).join(' | ')} |`);
console.log(`|---|${Object.keys(seen).map(() => '---').join('|')}|`);
const count = (xs, lo, hi) => { const sel = xs.filter(([s]) => s >= lo && s < hi); return `${sel.filter(([, ok]) => ok).length}/${sel.length}`; };
console.log(`| under ${BANDS[0]} | ${Object.values(seen).map((xs) => count(xs, 0, BANDS[0])).join(' | ')} |`);
for (const [i, lo] of BANDS.entries()) {
  const hi = BANDS[i + 1] ?? Infinity;
  console.log(`| ${hi === Infinity ? `${lo} and over` : `${lo}–${hi - 1}`} | ${Object.values(seen).map((xs) => count(xs, lo, hi)).join(' | ')} |`);
}
console.log(`\nsmallest copy read: ${smallestRead} px a side; copies under MIN_DETECT_SIDE (${MIN_DETECT_SIDE}) are refused as too small.`);
