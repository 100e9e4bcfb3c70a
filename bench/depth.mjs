// `node bench/depth.mjs`: the cost of marking each sample layout at 1920x1080, in the core (8-bit
// and 16-bit grey, grey + alpha, RGB, RGBA; a new array and in place; detect) and through the
// sharp plug-in (an 8-bit and a 16-bit RGB PNG: watermark() beside sharp's own decode to raw).
// 16-bit samples and grey + alpha go through an 8-bit working copy (assembly/depth.ts).
// Medians of 21 timed runs after 5 warm-up runs (plug-in: 9 after 1), one thread. `--quick`: one
// timed run of each, no warm-up (a check that the script works, test/bench-smoke.test.mjs).
import sharp from 'sharp';
import { createWatermarker } from 'modelmark';
import { watermark } from 'modelmark/sharp';
import { photoPaths, syntheticPhoto } from './photos.mjs';

const W = 1920, H = 1080;
const wm = await createWatermarker({ key: 'bench key' });
const PAYLOAD = 'c0ffee0000000001';

/** Median ms of `runs` timed calls of f (awaited, so it may be async) after `warmup` untimed ones. */
const QUICK = process.argv.includes('--quick');
async function median(f, runs = 21, warmup = 5) {
  if (QUICK) [runs, warmup] = [1, 0];
  for (let i = 0; i < warmup; i++) await f();
  const xs = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await f();
    xs.push(performance.now() - t);
  }
  return xs.sort((a, b) => a - b)[runs >> 1];
}

// A real photo at 1920x1080 (a synthetic one in a bare checkout), as 16-bit RGB samples; the other
// layouts are made from it.
const paths = photoPaths();
const synthetic = paths.length ? null : await syntheticPhoto(W, H, 1);
const source = synthetic ? sharp(synthetic.data, { raw: { width: W, height: H, channels: synthetic.channels } })
  : sharp(paths.find((p) => p.endsWith('mate-Storm.jpg')) ?? paths[0]);
const base = source.resize(W, H, { fit: 'cover' });
const rgb16 = await base.clone().toColourspace('rgb16').raw({ depth: 'ushort' }).toBuffer();
const d16 = new Uint16Array(rgb16.buffer.slice(rgb16.byteOffset, rgb16.byteOffset + rgb16.length));
const n = W * H;
const layout = (ch, sixteen) => {
  const data = sixteen ? new Uint16Array(n * ch) : new Uint8Array(n * ch);
  for (let i = 0; i < n; i++) {
    const r = d16[3 * i], g = d16[3 * i + 1], b = d16[3 * i + 2];
    const px = ch <= 2 ? [Math.round(0.299 * r + 0.587 * g + 0.114 * b)] : [r, g, b];
    if (ch === 2 || ch === 4) px.push(40000 + (i % 20000));
    for (let c = 0; c < ch; c++) data[i * ch + c] = sixteen ? px[c] : Math.round(px[c] / 257);
  }
  return { width: W, height: H, channels: ch, data };
};

console.log(`modelmark sample layouts, ${W}x${H}, Node ${process.version}; medians (ms)`);
console.log('layout                 embed (copy)  embed (in place)  detect');
for (const [name, ch, sixteen] of [['grey 8-bit', 1, false], ['grey + alpha 8-bit', 2, false], ['RGB 8-bit', 3, false], ['RGBA 8-bit', 4, false],
  ['grey 16-bit', 1, true], ['grey + alpha 16-bit', 2, true], ['RGB 16-bit', 3, true], ['RGBA 16-bit', 4, true]]) {
  const img = layout(ch, sixteen);
  const copy = await median(() => wm.embed(img, PAYLOAD));
  const inPlace = await median(() => wm.embed(img, PAYLOAD, { inPlace: true }));
  const detect = await median(() => wm.detect(img));
  console.log(`${name.padEnd(22)} ${copy.toFixed(2).padStart(12)}  ${inPlace.toFixed(2).padStart(16)}  ${detect.toFixed(2).padStart(6)}`);
}

console.log('\nsharp plug-in: watermark(sharp(png)) until the marked instance is ready, beside sharp decoding the same PNG to raw');
for (const [name, png, depth] of [
  ['RGB 8-bit PNG', await base.clone().png({ compressionLevel: 1 }).toBuffer(), 'uchar'],
  ['RGB 16-bit PNG', await base.clone().toColourspace('rgb16').png({ compressionLevel: 1 }).toBuffer(), 'ushort'],
]) {
  const mark = await median(() => watermark(sharp(png), { key: 'bench key', payload: PAYLOAD }), 9, 1);
  const decode = await median(() => sharp(png).raw({ depth }).toBuffer(), 9, 1);
  console.log(`${name.padEnd(22)} watermark() ${mark.toFixed(1)} ms, decode to raw alone ${decode.toFixed(1)} ms`);
}
