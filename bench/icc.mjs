// `node bench/icc.mjs`: the mark in wide-gamut (Display P3) files. The command line keeps an input's
// ICC profile and marks its pixels in the profile's colours (readImage({ metadata: true })), so a
// P3 photo keeps its gamut. Here every shared photo is converted into P3 (profile attached, JPEG
// q95), marked and written as the command line does, then:
//   - read as stored (what `modelmark detect` does),
//   - converted to sRGB by a colour-managed reader (the profile applied, then dropped),
//   - converted to sRGB and recompressed as JPEG q85 (what a platform that normalises uploads does).
// Prints the exact-payload rate for each, and the PSNR of the marked P3 values against the P3 input.
// PHOTOS=a.png,b.jpg (names in ../shared/photos/) restricts the photos.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { createWatermarker, readImage, writeImage } from '../dist/node/index.js';
import { benchPhotoPaths } from './photos.mjs';

const KEY = 'bench icc key';
const PAYLOAD = 'c0ffee00000000cc';
const photos = benchPhotoPaths();
if (!photos.length) {
  console.log('bench/icc.mjs needs ../shared/photos/');
  process.exit(0);
}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelmark-icc-'));
const wm = await createWatermarker({ key: KEY });

/** Detect on sharp's raw output of `input` (a path or bytes) after `op`. */
async function detectAfter(input, op) {
  const { data, info } = await op(sharp(input)).raw().toBuffer({ resolveWithObject: true });
  return wm.detect({ width: info.width, height: info.height, channels: info.channels, data });
}

const rows = { stored: 0, srgb: 0, 'srgb + JPEG q85': 0 };
const psnrs = [];
try {
  for (const file of photos) {
    const p3 = path.join(dir, 'p3.jpg');
    await sharp(file).withIccProfile('p3').jpeg({ quality: 95 }).toFile(p3);
    const img = await readImage(p3, { metadata: true });
    const marked = wm.embed(img, PAYLOAD);
    let s = 0;
    for (let i = 0; i < img.data.length; i++) s += (img.data[i] - marked.data[i]) ** 2;
    psnrs.push(10 * Math.log10((255 * 255 * img.data.length) / s));
    const out = path.join(dir, 'marked.jpg');
    await writeImage(out, marked, { metadata: img.metadata, quality: 95 });
    const checks = {
      stored: await detectAfter(out, (p) => p.keepIccProfile()),
      srgb: await detectAfter(out, (p) => p.toColourspace('srgb')),
      'srgb + JPEG q85': await detectAfter(await sharp(out).toColourspace('srgb').jpeg({ quality: 85 }).toBuffer(), (p) => p),
    };
    for (const [k, r] of Object.entries(checks)) {
      if (r.found && r.payload === PAYLOAD) rows[k]++;
      else console.log(`  missed: ${path.basename(file)} (${k}), p = ${r.pValue.toExponential(2)}`);
    }
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
const mean = psnrs.reduce((a, b) => a + b, 0) / psnrs.length;
console.log(`${photos.length} photos converted into Display P3 and marked in P3 values: PSNR ${mean.toFixed(2)} dB mean, ${Math.min(...psnrs).toFixed(2)} worst`);
console.log('| read as | exact payload |\n|---|---|');
for (const [k, n] of Object.entries(rows)) console.log(`| ${k} | ${n}/${photos.length} |`);
