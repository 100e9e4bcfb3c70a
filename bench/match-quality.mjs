// `node bench/match-quality.mjs`: what a marked copy costs in bytes and what it keeps of the mark
// when it is written as its source JPEG was (writeImage's `encoding`, the command line's default)
// or at the old fixed quality 95. Every shared photo is first saved as a user's JPEG at each
// source quality (QUALITIES=60,75,85,92 by default), then read with readImage, marked and written:
//   - "quality 95": the fixed default (a copy several times the original's size at low qualities);
//   - "source's": readImage's encoding (the source's quality, at least MIN_MATCHED_QUALITY);
//   - "source's, verified": the same, read back in place and written at 95 where the mark is lost
//     (what the command line, folder runs and the sharp stream do);
//   - "source's, no floor": written at the source's own quality even below the floor (why it exists).
// For each: the copy's size against the source's (mean), the exact-payload rate as written, and
// after someone re-saves it as JPEG q75.
// PHOTOS=a.png,b.jpg (names in ../shared/photos/) restricts the photos.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { createWatermarker, readImage, writeImage, MIN_MATCHED_QUALITY } from '../dist/node/index.js';
import { benchPhotoPaths } from './photos.mjs';

const KEY = 'bench match-quality key';
const PAYLOAD = 'c0ffee00000000a5';
const photos = benchPhotoPaths();
if (!photos.length) {
  console.log('bench/match-quality.mjs needs ../shared/photos/');
  process.exit(2);
}
const QUALITIES = (process.env.QUALITIES ?? '60,75,85,92').split(',').map(Number);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmark-match-quality-'));
const wm = await createWatermarker({ key: KEY });

async function exact(input, op = (p) => p) {
  const { data, info } = await op(sharp(input)).raw().toBuffer({ resolveWithObject: true });
  const r = wm.detect({ width: info.width, height: info.height, channels: info.channels, data });
  return r.found && r.payload === PAYLOAD;
}

const rows = [];
try {
  for (const q of QUALITIES) {
    const ways = [['quality 95', () => ({})], ["source's", (img) => ({ encoding: img.encoding })],
      ["source's, verified", (img) => ({ encoding: img.encoding, verify: { watermarker: wm, payload: PAYLOAD } })]];
    if (q < MIN_MATCHED_QUALITY) ways.push(["source's, no floor", () => ({ quality: q })]);
    const acc = new Map(ways.map(([name]) => [name, { ratio: 0, quality: new Map(), asWritten: 0, resaved: 0 }]));
    for (const file of photos) {
      const src = path.join(dir, 'source.jpg');
      await sharp(file).jpeg({ quality: q }).toFile(src);
      const srcSize = fs.statSync(src).size;
      const img = await readImage(src);
      const marked = wm.embed(img, PAYLOAD);
      for (const [name, options] of ways) {
        const out = path.join(dir, 'copy.jpg');
        const w = await writeImage(out, marked, options(img));
        const a = acc.get(name);
        a.ratio += w.size / srcSize;
        a.quality.set(w.quality, (a.quality.get(w.quality) ?? 0) + 1);
        if (await exact(out)) a.asWritten++;
        if (await exact(out, (p) => p.jpeg({ quality: 75 }))) a.resaved++;
      }
    }
    for (const [name] of ways) {
      const a = acc.get(name);
      rows.push(`| ${q} | ${name} | ${[...a.quality].map(([k, n]) => (a.quality.size > 1 ? `${k} (${n})` : k)).join(', ')} | ${(a.ratio / photos.length).toFixed(2)}x | ${a.asWritten}/${photos.length} | ${a.resaved}/${photos.length} |`);
    }
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
console.log(`${photos.length} photos, each saved as a JPEG at the source quality, marked and written (floor: quality ${MIN_MATCHED_QUALITY}).`);
console.log(`| source JPEG quality | copy written at | its quality (photos) | copy size / source size (mean) | exact payload, as written (${photos.length} photos) | after a re-save as JPEG q75 |`);
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
