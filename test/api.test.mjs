// The public API on real photos: image layouts, payload forms, keys, options, non-mutation.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import sharp from 'sharp';
import { spawnSync } from 'node:child_process';
import { hkdfSync } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { init, createWatermarker, psnr, ssim, parsePayload, payloadHex } from '../dist/index.js';
import { convEncode, crc16, infoBits, viterbi, checkInfo, decodePayload, LIST_SIZE, CODED_BITS } from '../dist/payload.js';
import { deriveKey } from '../dist/key.js';
import { combinedPValue, normalUpperTail, rankWeight } from '../dist/stats.js';
import { Arena } from '../dist/wasm.js';
import * as libm from '../dist/libm.js';
import { fromSharp, gaussian } from '../bench/attacks.mjs';
import { PHOTOS_DIR } from '../bench/photos.mjs';

const photo = (file, width, height, extra = (s) => s) =>
  fromSharp(extra(sharp(PHOTOS_DIR + file).resize(width, height, { fit: 'cover' })));
const wm = await createWatermarker({ key: 'api test key' });
const PAYLOAD = 'fedcba9876543210';
const ROOT = fileURLToPath(new URL('..', import.meta.url));

test('embed with { inPlace: true } writes the same pixels into the input and returns it', async () => {
  for (const channels of [3, 4]) {
    const img = await photo('mate-Dune.jpg', 500, 331, (s) => (channels === 4 ? s.ensureAlpha(0.7) : s.removeAlpha()));
    const input = { width: img.width, height: img.height, channels, data: new Uint8Array(img.data) };
    const copy = wm.embed(input, PAYLOAD);
    const same = wm.embed(input, PAYLOAD, { inPlace: true });
    assert.ok(same === input, 'returns the input object');
    assert.equal(input.data, copy.data, 'same pixels as the copying embed');
    assert.is(wm.detect(input).payload, PAYLOAD);
  }
  assert.throws(() => wm.embed({ width: 200, height: 200, data: new Uint8Array(200 * 200 * 4) }, PAYLOAD, { inPlace: 'yes' }), /options\.inPlace/);
});

test('modelmark/lite has no built-in kernels: a clear ERR_WASM without a module, the same marks with one', () => {
  // A fresh process: this one has loaded the default entry, whose kernels every entry then shares.
  const script = `
    import { readFileSync } from 'node:fs';
    import { createWatermarker } from 'modelmark/lite';
    let code = null;
    try { await createWatermarker({ key: 'k' }); } catch (e) { code = e.code + ': ' + e.message; }
    // Wrong modules: garbage bytes, another valid module, a string; none of them sticks.
    const bad = [];
    for (const module of [new Uint8Array([1, 2, 3]), new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])), 'build/modelmark.wasm']) {
      try { await createWatermarker({ key: 'k', module }); bad.push('accepted'); } catch (e) { bad.push(e.code + ': ' + e.message); }
    }
    const module = new WebAssembly.Module(readFileSync('build/modelmark.wasm'));
    const wm = await createWatermarker({ key: 'k', module });
    const data = new Uint8Array(256 * 256 * 3).map((_, i) => (i * 37 + (i >> 9) * 11) & 255);
    const r = wm.detect(wm.embed({ width: 256, height: 256, channels: 3, data }, '0123456789abcdef'));
    console.log(JSON.stringify({ code, bad, payload: r.payload }));`;
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  assert.is(out.status, 0, out.stderr);
  const { code, bad, payload } = JSON.parse(out.stdout.trim());
  assert.match(code, /^ERR_WASM: modelmark\/lite has no built-in kernels: pass the compiled module/);
  assert.match(bad[0], /^ERR_WASM: .*not a valid WebAssembly module/);
  assert.not.match(bad[0], /SIMD/, 'garbage bytes are not a missing-SIMD problem');
  assert.match(bad[1], /^ERR_WASM: The WebAssembly module given is not modelmark's kernels \(it lacks memory, alloc/);
  assert.match(bad[2], /^ERR_INVALID_ARGUMENT: Expected a WebAssembly.Module or the bytes .* for module/);
  assert.is(payload, '0123456789abcdef');
});

test('psnr and ssim stream the images through the kernels: a 100-megapixel pair is measured, and kernel memory stays small', () => {
  // A fresh process, so that the memory seen is what these calls needed (it never shrinks).
  const script = `
    import { psnr, ssim, init } from 'modelmark';
    import { getKernels } from './dist/wasm.js';
    await init();
    const a = { width: 10000, height: 10000, channels: 1, data: new Uint8Array(1e8).map((_, i) => (i * 7) & 255) };
    const b = { ...a, data: a.data.map((v, i) => (i % 5 === 0 ? v ^ 1 : v)) };
    const s = await ssim(a, b), p = await psnr(a, b);
    console.log(JSON.stringify({ s, p, mb: getKernels().memory.buffer.byteLength / 2 ** 20 }));`;
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  assert.is(out.status, 0, out.stderr);
  const { s, p, mb } = JSON.parse(out.stdout.trim());
  assert.ok(s > 0.9 && s < 1, `ssim ${s}`);
  // One sample in 5 off by one: MSE 0.2, PSNR 10 log10(255^2 / 0.2) = 55.1 dB.
  assert.ok(Math.abs(p - 10 * Math.log10(255 ** 2 / 0.2)) < 0.01, `psnr ${p}`);
  assert.ok(mb < 64, `the kernels' memory grew to ${mb.toFixed(0)} MB (whole images: 4 GB for ssim, past the 32-bit allocator)`);
});

test('RGBA (ImageData-like Uint8ClampedArray) round trip keeps type, size and alpha', async () => {
  const img = await photo('mate-Garden.jpg', 640, 400, (s) => s.ensureAlpha(0.5));
  const input = { width: img.width, height: img.height, data: new Uint8ClampedArray(img.data) };
  const before = input.data.slice();
  const marked = wm.embed(input, PAYLOAD);
  assert.ok(marked.data instanceof Uint8ClampedArray);
  assert.is(marked.channels, 4);
  assert.equal(input.data, before, 'input must not be mutated');
  let alphaSame = true, changed = 0;
  for (let i = 0; i < before.length; i++) {
    if ((i & 3) === 3) alphaSame &&= marked.data[i] === before[i];
    else if (marked.data[i] !== before[i]) changed++;
  }
  assert.ok(alphaSame, 'alpha must be untouched');
  assert.ok(changed > before.length / 8, `only ${changed} colour bytes changed`);
  const r = wm.detect(marked);
  assert.ok(r.found);
  assert.is(r.payload, PAYLOAD);
  assert.ok(r.pValue < 1e-6 && r.crcOk && r.score > 0);
});

test('RGB and grey images, odd sizes, and the 128 x 128 minimum', async () => {
  // 800 x 500: 16 * aspect = 25.6, a frame long side of 26 steps of 16 pixels, far enough from
  // a rounding boundary that detect tries no neighbouring frame.
  for (const [w, h, grey] of [[333, 201, false], [211, 517, true], [128, 128, false], [1001, 667, true], [800, 500, false]]) {
    const img = await photo('mate-Storm.jpg', w, h, (s) => (grey ? s.greyscale() : s));
    assert.is(img.channels, grey ? 1 : 3);
    const marked = wm.embed(img, PAYLOAD);
    assert.is(marked.data.length, img.data.length);
    const r = wm.detect(marked);
    assert.is(r.payload, PAYLOAD, `${w}x${h} ${grey ? 'grey' : 'RGB'}: ${JSON.stringify(r)}`);
    // Left as it is, the mark lies on the detector's first frame: found without any search.
    const inPlace = wm.detect(marked, { search: false });
    assert.is(inPlace.payload, PAYLOAD, `${w}x${h} ${grey ? 'grey' : 'RGB'}, search off: ${JSON.stringify(inPlace)}`);
  }
});

test('a copy whose frame rounds the other way (aspect on a rounding boundary) is read in place: both neighbouring frames are tried', async () => {
  // The frame's long side is 16 * round(16 * aspect) frame pixels; 16 * aspect = 21.5 is a
  // boundary. 1375 x 1024 (21.48: 21) and 1377 x 1024 (21.52: 22) are marked; their half-size
  // copies, 688 x 512 (21.5: 22) and 687 x 512 (21.47: 21), round the other way. Search off: the
  // canonical candidates alone must find them.
  for (const [w, h, cw, ch] of [[1375, 1024, 688, 512], [1377, 1024, 687, 512]]) {
    const marked = wm.embed(await photo('mate-Storm.jpg', w, h), PAYLOAD);
    const copy = await fromSharp(sharp(Buffer.from(marked.data), { raw: { width: w, height: h, channels: marked.channels } }).resize(cw, ch, { fit: 'fill' }));
    const r = wm.detect(copy, { search: false });
    assert.is(r.payload, PAYLOAD, `${w}x${h} marked, ${cw}x${ch} copy: p ${r.pValue}`);
  }
});

test('RGB and RGBA carry the mark on luma and Cb (the chroma share): the change\'s Cb follows its luma, its Cr does not', async () => {
  // Per pixel (away from 0 and 255, where saturation bends the change), the change's Y, Cb and Cr
  // (BT.601). The Cb share has LUMA_SHARE 0.92 of the squared error on Y: Cb / Y energy 0.08 plus
  // rounding (measured 0.107, corr(Y, Cb) 0.77, corr(Y, Cr) -0.005 on this photo).
  for (const alpha of [false, true]) {
    const img = await photo('mate-Garden.jpg', 640, 400, (s) => (alpha ? s.ensureAlpha() : s));
    const marked = wm.embed(img, PAYLOAD);
    const ch = img.channels, a = img.data, b = marked.data;
    let yy = 0, cc = 0, rr = 0, yc = 0, yr = 0;
    for (let o = 0; o < a.length; o += ch) {
      if (a[o] < 8 || a[o] > 247 || a[o + 1] < 8 || a[o + 1] > 247 || a[o + 2] < 8 || a[o + 2] > 247) continue;
      const dR = b[o] - a[o], dG = b[o + 1] - a[o + 1], dB = b[o + 2] - a[o + 2];
      const y = 0.299 * dR + 0.587 * dG + 0.114 * dB, cb = -0.168736 * dR - 0.331264 * dG + 0.5 * dB, cr = 0.5 * dR - 0.418688 * dG - 0.081312 * dB;
      yy += y * y; cc += cb * cb; rr += cr * cr; yc += y * cb; yr += y * cr;
    }
    const what = `${ch} channels: Cb / Y energy ${cc / yy}, corr(Y, Cb) ${yc / Math.sqrt(yy * cc)}, corr(Y, Cr) ${yr / Math.sqrt(yy * rr)}`;
    assert.ok(cc / yy > 0.05 && cc / yy < 0.2, what);
    assert.ok(yc / Math.sqrt(yy * cc) > 0.5, what);
    assert.ok(Math.abs(yr / Math.sqrt(yy * rr)) < 0.1, what);
  }
});

/** A photo as raw 16-bit samples from sharp: { width, height, channels, data: Uint16Array }. */
async function photo16(file, width, height, extra) {
  const { data, info } = await extra(sharp(PHOTOS_DIR + file).resize(width, height, { fit: 'cover' }))
    .raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: info.channels, data: new Uint16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length)) };
}

test('16-bit samples (Uint16Array) and grey + alpha: marked through their 8-bit view, depth and alpha kept', async () => {
  const cases = [
    ['RGB 16-bit', await photo16('mate-Garden.jpg', 501, 333, (s) => s.toColourspace('rgb16'))],
    ['RGBA 16-bit', await photo16('mate-Garden.jpg', 501, 333, (s) => s.toColourspace('rgb16').ensureAlpha(0.6))],
    ['grey 16-bit', await photo16('mate-Storm.jpg', 400, 300, (s) => s.toColourspace('grey16'))],
    ['grey + alpha 16-bit', await photo16('mate-Storm.jpg', 400, 300, (s) => s.toColourspace('grey16').ensureAlpha(0.6))],
  ];
  { // grey + alpha, 8-bit: sharp gives it for grey PNGs with transparency; alpha here varies per pixel
    const g = await photo('mate-Storm.jpg', 400, 300, (s) => s.greyscale());
    const data = new Uint8Array(g.width * g.height * 2);
    for (let i = 0; i < g.width * g.height; i++) { data[2 * i] = g.data[i]; data[2 * i + 1] = (i * 7) & 255; }
    cases.push(['grey + alpha 8-bit', { width: g.width, height: g.height, data }]);
  }
  for (const [name, img] of cases) {
    const ch = img.channels ?? 2, n = img.width * img.height, colour = ch === 2 ? 1 : ch === 4 ? 3 : ch;
    const sixteen = img.data instanceof Uint16Array;
    const view8 = (d) => { // the 8-bit working view: round(s / 257) of the colour samples
      const out = new Uint8Array(n * (ch === 2 ? 1 : ch));
      for (let i = 0; i < out.length; i++) { const v = ch === 2 ? d[2 * i] : d[i]; out[i] = sixteen ? Math.round(v / 257) : v; }
      return out;
    };
    if (sixteen) assert.ok(img.data.some((v) => v % 257 !== 0), `${name}: the input has 16-bit precision`);
    const before = img.data.slice();
    const marked = wm.embed(img, PAYLOAD);
    assert.ok(marked.data.constructor === img.data.constructor, `${name}: same array type`);
    assert.is(marked.channels, ch);
    assert.equal(img.data, before, `${name}: input not mutated`);
    // The 8-bit view of the result is exactly the 8-bit image marked.
    const want = wm.embed({ width: img.width, height: img.height, channels: ch === 2 ? 1 : ch, data: view8(before) }, PAYLOAD).data;
    assert.equal(view8(marked.data), want, `${name}: 8-bit view is the marked 8-bit view`);
    if (sixteen && ch !== 2) { // the same PSNR as the 8-bit view's (16-bit: the change is x 257)
      const db16 = await psnr(img, marked), db8 = await psnr({ ...img, data: view8(before) }, { ...img, data: want });
      assert.ok(Math.abs(db16 - db8) < 0.05 && db16 > 38, `${name}: PSNR ${db16} (16-bit) vs ${db8} (8-bit view)`);
    }
    let changed = 0;
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < ch; c++) {
        const j = i * ch + c, d = marked.data[j] - before[j];
        if (c >= colour) { if (d !== 0) assert.unreachable(`${name}: alpha of pixel ${i} changed`); continue; }
        if (d !== 0) changed++;
        // 16-bit: the change is a whole number of 8-bit steps (x 257) unless it saturated, so
        // the low bits of the input are kept
        if (sixteen && d % 257 !== 0 && marked.data[j] !== 0 && marked.data[j] !== 65535) assert.unreachable(`${name}: sample ${j} moved by ${d}`);
      }
    }
    assert.ok(changed > (n * colour) / 8, `${name}: only ${changed} samples changed`);
    const r = wm.detect(marked);
    assert.ok(r.found, `${name}: ${JSON.stringify(r)}`);
    assert.is(r.payload, PAYLOAD, name);
    assert.not.ok(wm.detect(img).found, `${name}: the unmarked input is not found`);
    // in place: the same samples, into the input
    const input = { ...img, data: img.data.slice() };
    assert.ok(wm.embed(input, PAYLOAD, { inPlace: true }) === input);
    assert.equal(input.data, marked.data, `${name}: in place gives the same samples`);
  }
  assert.throws(() => wm.embed({ width: 200, height: 200, channels: 2, data: new Uint16Array(200 * 200 * 3) }, PAYLOAD), /80000 samples \(200 x 200 x 2 channels\)/);
  // psnr takes 16-bit pairs (peak 65535) and refuses mixed depths; ssim takes 8-bit only, and says so.
  const mixed = await psnr({ width: 200, height: 200, data: new Uint16Array(200 * 200) }, { width: 200, height: 200, data: new Uint8Array(200 * 200) }).catch((e) => e);
  assert.match(String(mixed?.message), /an image of 200x200x1 16-bit like a for b/);
  const ssimErr = await ssim({ width: 200, height: 200, data: new Uint16Array(200 * 200) }, { width: 200, height: 200, data: new Uint16Array(200 * 200) }).catch((e) => e);
  assert.match(String(ssimErr?.message), /8-bit pixels for a\.data/);
  // The metrics take any size and shape (the mark's 128-pixel minimum and aspect limit are not
  // theirs): a small image, and a 100-frame animation's frames stacked into one tall image.
  for (const [w, h] of [[60, 40], [120, 8000]]) {
    const a = { width: w, height: h, channels: 3, data: new Uint8Array(w * h * 3).fill(100) };
    const b = { ...a, data: a.data.map((v, i) => (i % 7 === 0 ? v + 2 : v)) };
    const db = await psnr(a, b);
    assert.ok(Math.abs(db - 10 * Math.log10((255 * 255 * 7) / 4)) < 0.1, `${w}x${h}: PSNR ${db}`);
    assert.ok((await ssim(a, a)) > 0.9999, `${w}x${h}: SSIM of an image with itself`);
  }
});

test('payload as bigint, hex string (any case, 0x prefix, short) or 8 bytes is the same mark', async () => {
  const img = await photo('mate-Dune.jpg', 480, 320);
  const forms = [0xfedcba9876543210n, 'FEDCBA9876543210', '0xfedcba9876543210', Uint8Array.from([0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10])];
  const outs = forms.map((p) => wm.embed(img, p).data);
  for (const o of outs.slice(1)) assert.equal(o, outs[0]);
  assert.is(payloadHex(parsePayload('1f')), '000000000000001f');
  assert.is(wm.detect(wm.embed(img, 0n)).payload, '0000000000000000');
  assert.is(wm.detect(wm.embed(img, 2n ** 64n - 1n)).payload, 'ffffffffffffffff');
});

test('different keys give independent marks; two marks of different keys coexist', async () => {
  const img = await photo('mate-Wood.jpg', 800, 600);
  const other = await createWatermarker({ key: 'another key' });
  const marked = wm.embed(img, PAYLOAD);
  const r = other.detect(marked);
  assert.not.ok(r.found);
  assert.ok(r.pValue > 1e-3, `p ${r.pValue}`);
  const both = other.embed(marked, '1111111111111111');
  assert.is(wm.detect(both).payload, PAYLOAD);
  assert.is(other.detect(both).payload, '1111111111111111');
  // bytes keys work and equal the same string's UTF-8 bytes
  const bytesKey = await createWatermarker({ key: new TextEncoder().encode('api test key') });
  assert.is(bytesKey.detect(marked).payload, PAYLOAD);
});

test('an unmarked photo is not found and its p-value is not small', async () => {
  const r = wm.detect(await photo('mate-Aqua.jpg', 900, 600));
  assert.not.ok(r.found);
  assert.is(r.payload, null);
  assert.ok(r.pValue > 1e-4, `p ${r.pValue}`);
});

test('strength trades quality for margin; threshold is respected', async () => {
  const img = await photo('mate-LadyBird.jpg', 640, 400);
  const weak = await createWatermarker({ key: 'api test key', strength: 0.5 });
  const strong = await createWatermarker({ key: 'api test key', strength: 2 });
  const pw = await psnr(img, weak.embed(img, PAYLOAD)), ps = await psnr(img, strong.embed(img, PAYLOAD));
  assert.ok(pw > ps + 4, `PSNR weak ${pw} strong ${ps}`);
  assert.ok(wm.detect(strong.embed(img, PAYLOAD)).score > wm.detect(weak.embed(img, PAYLOAD)).score);
  const strict = await createWatermarker({ key: 'api test key', threshold: 1e-300 });
  const r = strict.detect(wm.embed(img, PAYLOAD));
  assert.is(r.found, r.pValue < 1e-300);
});

test('found needs a p-value strictly below the threshold: a threshold equal to the p-value is not met', async () => {
  // A grey image marked and left as it is: its first canonical frame is decoded whatever its
  // score, so the p-value is exactly the one a looser threshold reports.
  const img = await photo('mate-Storm.jpg', 400, 300, (s) => s.greyscale());
  const marked = wm.embed(img, PAYLOAD);
  const r = wm.detect(marked);
  assert.ok(r.found && r.pValue > 0, `p ${r.pValue}`);
  const at = await createWatermarker({ key: 'api test key', threshold: r.pValue });
  const same = at.detect(marked);
  assert.is(same.pValue, r.pValue);
  assert.is(same.found, false, `p ${same.pValue} = threshold ${r.pValue}`);
  assert.is(same.payload, null);
  const above = await createWatermarker({ key: 'api test key', threshold: r.pValue * (1 + 1e-9) });
  assert.is(above.detect(marked).found, true);
});

test('convolutional code + soft Viterbi corrects scattered errors and the CRC catches garbage', () => {
  const g = gaussian(7);
  for (let t = 0; t < 50; t++) {
    const bytes = Uint8Array.from({ length: 8 }, () => Math.floor((g() + 4) * 32) & 255);
    const coded = convEncode(infoBits(bytes));
    assert.is(coded.length, CODED_BITS);
    // BPSK at Es/N0 = 1 dB (noise sigma 0.63): raw bit error rate about 6%
    const soft = Array.from(coded, (b) => (b ? 1 : -1) + 0.63 * g());
    const out = checkInfo(viterbi(soft));
    assert.ok(out.crcOk);
    assert.equal(out.bytes, bytes);
  }
  let passes = 0;
  for (let t = 0; t < 2000; t++) if (checkInfo(viterbi(Array.from({ length: CODED_BITS }, () => g()))).crcOk) passes++;
  assert.ok(passes <= 2, `${passes} CRC passes on noise`);
});

test('the payload\'s CRC is CRC-16/CCITT-FALSE, sent MSB first after the 64 payload bits (marks made by earlier versions must stay readable)', () => {
  // The catalogue's check value, and a payload's, both also given by Python's binascii.crc_hqx(data, 0xffff).
  assert.is(crc16(new TextEncoder().encode('123456789')), 0x29b1);
  const bytes = parsePayload('fedcba9876543210');
  assert.is(crc16(bytes), 0x3e8a);
  const bits = infoBits(bytes);
  assert.is(bits.length, 80);
  assert.is(Array.from(bits.subarray(0, 64)).join(''), 0xfedcba9876543210n.toString(2).padStart(64, '0'));
  assert.is(Array.from(bits.subarray(64)).join(''), 0x3e8a.toString(2).padStart(16, '0'));
});

test('keys are derived with HKDF-SHA-256 under the documented salt (marks made by earlier versions must stay readable)', async () => {
  // node:crypto's HKDF as the independent reference: salt 'modelmark/v1 salt', 32 bytes read as
  // eight 32-bit words in the platform's (little-endian) order.
  for (const [key, info] of [['api test key', 'modelmark classical tile v1'], [new Uint8Array([0, 1, 2, 255]), 'some other use']]) {
    const want = new Uint32Array(hkdfSync('sha256', key, 'modelmark/v1 salt', info, 32));
    assert.equal(await deriveKey(key, info), want, `key ${key}, info ${info}`);
  }
});

test('list decoding recovers payloads whose best path fails its CRC; lower ranks cost more in the p-value', async () => {
  const k = await init();
  const g = gaussian(11);
  let single = 0, listed = 0, wrong = 0, deeper = 0;
  for (let t = 0; t < 400; t++) {
    const bytes = Uint8Array.from({ length: 8 }, () => Math.floor((g() + 4) * 32) & 255);
    // Es/N0 = 1.5 dB (noise sigma 0.84): the single best path is right 353 times in 400
    const soft = Float64Array.from(convEncode(infoBits(bytes)), (b) => (b ? 1 : -1) + 0.84 * g());
    const a = new Arena(k);
    try {
      const best = checkInfo(viterbi(soft));
      const d = decodePayload(a, soft, LIST_SIZE);
      if (best.crcOk) {
        // a passing best path is what the list decoder returns, at rank 1
        assert.is(d.rank, 1);
        assert.equal(d.bytes, best.bytes);
      }
      if (d.crcOk && d.bytes.every((b, i) => b === bytes[i])) { if (d.rank === 1) single++; else listed++; }
      else if (d.crcOk) wrong++;
      if (d.rank > 2) deeper++;
    } finally { a.release(); }
  }
  console.log(`  list decoding: ${single} right at rank 1, ${listed} more below it (${deeper} below rank 2), ${wrong} wrong`);
  // measured: 353 right at rank 1, 37 more below it (16 below rank 2), 0 wrong
  assert.ok(single > 300 && single < 390, `${single} at rank 1`);
  assert.ok(listed >= 20, `only ${listed} recovered below rank 1`);
  assert.ok(deeper > 0, 'no pass below rank 2');
  assert.ok(wrong <= 1, `${wrong} wrong payloads with a valid CRC`);
  // the weights spend exactly the false-positive budget: sum over ranks of 1 / w(rank) = 1
  for (const L of [1, 2, 8, 16]) {
    let sum = 0;
    for (let r = 1; r <= L; r++) sum += 1 / rankWeight(r, L);
    assert.ok(Math.abs(sum - 1) < 1e-12, `L ${L}: sum ${sum}`);
  }
  assert.is(combinedPValue(1e-3, true, 5), 5 * 2 ** -16 * 1e-3, 'a single path: q * pPilot');
  assert.ok(combinedPValue(1e-3, true, 5, 1, 8) < combinedPValue(1e-3, true, 5, 2, 8));
  assert.ok(combinedPValue(1e-3, true, 5, 2, 8) < combinedPValue(1e-3, true, 5, 8, 8));
  // a failed CRC: Q + (1 - Q) pPilot with Q = 5 * 8 * 2^-16
  const Q = 40 * 2 ** -16;
  assert.ok(Math.abs(combinedPValue(0.5, false, 5, 1, 8) - (Q + (1 - Q) * 0.5)) < 1e-15);
});

test('src/libm.ts (exp, log, log1p, sin, cos, atan2, hypot: the p-values\' and the search\'s, the same bits in every engine) is within 2 units in the last place of Node\'s Math, edge cases exact', () => {
  const view = new DataView(new ArrayBuffer(8));
  // Doubles in order as integers: the difference of two is their distance in units in the last place.
  const ordinal = (x) => { view.setFloat64(0, x); const v = view.getBigInt64(0); return v < 0n ? -(v & 0x7fffffffffffffffn) : v; };
  const ulps = (a, b) => Number(ordinal(a) > ordinal(b) ? ordinal(a) - ordinal(b) : ordinal(b) - ordinal(a));
  let seed = 1;
  const rand = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32; };
  const cases = [
    ['exp', (x) => libm.exp(x), Math.exp, () => (rand() - 0.5) * 1490],
    ['exp near 0', (x) => libm.exp(x), Math.exp, () => (rand() - 0.5) * 2],
    ['log', (x) => libm.log(x), Math.log, () => 2 ** ((rand() - 0.5) * 2090)],
    ['log near 1', (x) => libm.log(x), Math.log, () => 1 + (rand() - 0.5) * 0.01],
    ['log1p', (x) => libm.log1p(x), Math.log1p, () => -rand()],
    ['log1p tiny', (x) => libm.log1p(x), Math.log1p, () => (rand() - 0.5) * 1e-9],
    ['sin', (x) => libm.sin(x), Math.sin, () => (rand() - 0.5) * 50],
    ['cos', (x) => libm.cos(x), Math.cos, () => (rand() - 0.5) * 50],
    ['atan2', (y) => libm.atan2(y, 0.7 - y / 3), (y) => Math.atan2(y, 0.7 - y / 3), () => (rand() - 0.5) * 20],
    ['hypot', (x) => libm.hypot(x, 1 - x), (x) => Math.hypot(x, 1 - x), () => (rand() - 0.5) * 20],
  ];
  for (const [name, ours, theirs, arg] of cases) {
    let worst = 0, at;
    for (let i = 0; i < 20000; i++) {
      const x = arg();
      const d = ulps(ours(x), theirs(x));
      if (d > worst) { worst = d; at = x; }
    }
    assert.ok(worst <= 2, `${name}: ${worst} ulps from Math at ${at}`);
  }
  assert.equal([libm.exp(0), libm.exp(-Infinity), libm.exp(Infinity), libm.exp(710), libm.exp(-746), libm.exp(NaN)], [1, 0, Infinity, Infinity, 0, NaN]);
  assert.ok(libm.exp(-745) === 5e-324 && libm.exp(709.78) > 1.79e308, 'the subnormal and the largest results');
  assert.equal([libm.log(1), libm.log(0), libm.log(-1), libm.log(Infinity), libm.log(Math.E), libm.log(2)], [0, -Infinity, NaN, Infinity, 1, Math.LN2]);
  assert.ok(ulps(libm.log(5e-324), Math.log(5e-324)) <= 1, 'a subnormal argument');
  assert.equal([libm.log1p(0), libm.log1p(-1), libm.log1p(-2), libm.log1p(1e-300)], [0, -Infinity, NaN, 1e-300]);
  assert.equal([libm.sin(0), libm.cos(0), libm.sin(1e-10), libm.sin(Infinity), libm.cos(NaN)], [0, 1, 1e-10, NaN, NaN]);
  assert.equal([libm.atan2(0, 1), libm.atan2(0, -1), libm.atan2(-0, -1), libm.atan2(1, 0), libm.atan2(-1, 0), libm.atan2(1, 1)], [0, Math.PI, -Math.PI, Math.PI / 2, -Math.PI / 2, Math.PI / 4]);
  assert.ok(Object.is(libm.atan2(-0, 1), -0));
});

test('normalUpperTail, the pilot\'s p-value in every detection, is P(Z >= z) to 1.2e-7 relative, far into the tail', () => {
  // Reference values: 0.5 erfc(z / sqrt(2)) in double precision (Python's math.erfc).
  const want = [
    [0, 0.5], [0.25, 0.4012936743170763], [0.5, 0.3085375387259869], [1, 0.15865525393145707],
    [1.5, 0.06680720126885809], [1.96, 0.024997895148220435], [2.5, 0.006209665325776139],
    [3, 0.0013498980316300957], [4, 3.1671241833119965e-05], [5, 2.866515718791946e-07],
    [6, 9.865876450377012e-10], [8, 6.220960574271819e-16], [10, 7.619853024160593e-24],
    [15, 3.6709661993128594e-51], [20, 2.7536241186063314e-89], [30, 4.906713927148764e-198],
    [-0.5, 0.6914624612740131], [-1, 0.8413447460685429], [-3, 0.9986501019683699],
  ];
  for (const [z, p] of want) {
    const got = normalUpperTail(z);
    assert.ok(Math.abs(got - p) / p <= 1.2e-7, `P(Z >= ${z}): ${got}, want ${p} (relative error ${(Math.abs(got - p) / p).toExponential(2)})`);
  }
});

test('a pre-compiled WebAssembly.Module from modelmark/modelmark.wasm drives the API (the Workers path)', async () => {
  const { spawnSync } = await import('node:child_process');
  const script = `
    import { readFileSync } from 'node:fs';
    import { init, createWatermarker } from 'modelmark';
    const url = new URL(import.meta.resolve('modelmark/modelmark.wasm'));
    const module = await WebAssembly.compile(readFileSync(url));
    const k = await init(module);
    const wm = await createWatermarker({ key: 'k', module });
    const data = new Uint8Array(256 * 256 * 3).map((_, i) => (i * 7919) % 251);
    const r = wm.detect(wm.embed({ width: 256, height: 256, data }, 'abc'));
    console.log(JSON.stringify({ exports: typeof k.alloc, payload: r.payload }));
  `;
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: new URL('..', import.meta.url).pathname });
  assert.is(out.status, 0, out.stderr);
  assert.equal(JSON.parse(out.stdout), { exports: 'function', payload: '0000000000000abc' });
});


test('wasm memory is given back: after a call that grew it past RECLAIM_BYTES the kernels are made afresh, and every watermarker gives the same results as before', async () => {
  const { getKernels, RECLAIM_BYTES } = await import('../dist/wasm.js');
  const img = await photo('mate-Aqua.jpg', 640, 400);
  const marked = wm.embed(img, PAYLOAD);
  const before = wm.detect(marked);
  assert.ok(before.found);
  const ev = wm.evidence(marked);
  const k0 = getKernels();
  // A 129 x 4000 grey strip (31:1, inside the default limits): its frame has a 256-pixel short
  // side, so the geometric search's buffers grow with the ratio (well past RECLAIM_BYTES).
  const strip = { width: 129, height: 4000, channels: 1, data: new Uint8Array(129 * 4000).map((_, i) => (i * 2654435761) >>> 24) };
  const r = wm.detect(strip);
  assert.not.ok(r.found);
  const k1 = getKernels();
  assert.ok(k1 !== k0, 'the kernels were made afresh');
  assert.ok(k1.memory.buffer.byteLength <= RECLAIM_BYTES, `${k1.memory.buffer.byteLength} bytes kept`);
  const after = wm.detect(marked);
  assert.is(after.payload, before.payload);
  assert.is(after.pValue, before.pValue);
  assert.equal(wm.evidence(marked), ev);
  assert.equal(wm.embed(img, PAYLOAD).data, marked.data, 'the same marked bytes');
  // A call that stays under the limit keeps the instance.
  wm.detect(marked);
  assert.ok(getKernels() === k1);
});

test('failing embed and detect calls hold no kernel memory: after 50 and after 500 rounds of them the allocator is back at its bottom and the memory the same', async () => {
  const { getKernels } = await import('../dist/wasm.js');
  const img = await photo('mate-Garden.jpg', 640, 480);
  const marked = wm.embed(img, PAYLOAD);
  assert.is(wm.detect(marked).payload, PAYLOAD); // larger than any call below: memory at its plateau
  const bottom = getKernels().mark();
  const detached = () => { const d = new Uint8Array(img.data); structuredClone(d.buffer, { transfer: [d.buffer] }); return { ...img, data: d }; };
  const grey16 = (w, h) => ({ width: w, height: h, channels: 1, data: new Uint16Array(w * h).fill(30000) });
  const failing = [
    () => wm.embed(img, 'not hex'),
    () => wm.embed(img, PAYLOAD, { inPlace: 'yes' }),
    () => wm.embed({ width: 64, height: 64, channels: 3, data: new Uint8Array(64 * 64 * 3) }, PAYLOAD),
    () => wm.embed(grey16(100, 100), PAYLOAD),
    () => wm.embed(detached(), PAYLOAD),
    () => wm.detect({ width: 640, height: 480, channels: 3, data: new Uint8Array(100) }),
    () => wm.detect(detached()),
    () => wm.detect(marked, { evidence: 'yes' }),
    () => wm.detect({ ...marked, width: 20000, height: 20000 }),
    () => wm.evidence(grey16(16, 16)),
  ];
  const run = (rounds) => {
    const codes = new Set();
    for (let i = 0; i < rounds; i++) {
      for (const f of failing) {
        try { f(); codes.add('no error'); } catch (e) { codes.add(e.code); }
      }
    }
    return [...codes].sort();
  };
  assert.equal(run(50), ['ERR_IMAGE_TOO_LARGE', 'ERR_IMAGE_TOO_SMALL', 'ERR_INVALID_ARGUMENT']);
  const k = getKernels();
  const after50 = { bytes: k.memory.buffer.byteLength, top: k.mark() };
  assert.is(after50.top, bottom, 'the allocator is empty again');
  run(500);
  assert.ok(getKernels() === k, 'the same kernels');
  assert.equal({ bytes: k.memory.buffer.byteLength, top: k.mark() }, after50, 'after 500 rounds as after 50');
  assert.is(wm.detect(marked).payload, PAYLOAD, 'and the watermarker still reads the mark');
});

test('grey + alpha (2 channels): psnr compares the grey samples only; encodeImage writes PNG and WebP with alpha and JPEG flattened, each still carrying the mark', async () => {
  const { encodeImage } = await import('../dist/node/index.js');
  const grey = await photo('skimage-camera.png', 300, 240, (s) => s.greyscale());
  const n = grey.width * grey.height;
  const ga = new Uint8Array(2 * n);
  for (let i = 0; i < n; i++) { ga[2 * i] = grey.data[i * grey.channels]; ga[2 * i + 1] = i % 5 ? 255 : 120; }
  const img = { width: grey.width, height: grey.height, channels: 2, data: ga };
  const marked = wm.embed(img, PAYLOAD);
  const plane = (d) => Uint8Array.from({ length: n }, (_, i) => d[2 * i]);
  const want = await psnr({ width: img.width, height: img.height, channels: 1, data: plane(ga) }, { width: img.width, height: img.height, channels: 1, data: plane(marked.data) });
  assert.ok(Math.abs(await psnr(img, marked) - want) < 1e-9, 'alpha left out of the PSNR');
  // Alpha changed alone: no error at all in the grey samples.
  const alphaOnly = ga.slice();
  for (let i = 1; i < alphaOnly.length; i += 2) alphaOnly[i] ^= 0x55;
  assert.is(await psnr(img, { ...img, data: alphaOnly }), Infinity);
  for (const [format, channels] of [['png', 2], ['webp', 4], ['jpeg', 1]]) {
    const { data } = await encodeImage(marked, { format });
    const meta = await sharp(data).metadata();
    assert.is(meta.channels, channels, format);
    const back = await sharp(data).raw().toBuffer({ resolveWithObject: true });
    const r = wm.detect({ width: back.info.width, height: back.info.height, channels: back.info.channels, data: new Uint8Array(back.data) });
    assert.is(r.payload, PAYLOAD, format);
  }
});

test('a Buffer in gives a Buffer out (embed returns "a new image of the same kind"), 8-bit and grey + alpha', async () => {
  const img = await photo('mate-Garden.jpg', 320, 240, (s) => s.removeAlpha());
  const g = await photo('mate-Garden.jpg', 320, 240, (s) => s.greyscale().toColourspace('b-w'));
  const ga = new Uint8Array(2 * g.data.length).map((_, i) => (i & 1 ? 200 : g.data[i >> 1]));
  const grey = { width: g.width, height: g.height, channels: 2, data: ga }; // grey + alpha: the 16-bit/2-channel path
  for (const src of [img, grey]) {
    const input = { width: src.width, height: src.height, channels: src.channels, data: Buffer.from(src.data) };
    const marked = wm.embed(input, PAYLOAD);
    assert.ok(Buffer.isBuffer(marked.data), `${src.channels} channels: got a ${marked.data.constructor.name}`);
    assert.is(marked.data.length, input.data.length);
    assert.is.not(marked.data.buffer, input.data.buffer, 'a new array, not a view of the input');
    assert.is(marked.data.toString('base64'), Buffer.from(wm.embed({ ...input, data: new Uint8Array(src.data) }, PAYLOAD).data).toString('base64'));
    assert.is(wm.detect(marked).payload, PAYLOAD);
  }
});

test('the built-in kernels decode to build/modelmark.wasm with the native decoder and without it', async () => {
  const { readFileSync } = await import('node:fs');
  const { decodeBase64, decodeTrustedBase64 } = await import('../dist/wasm.js');
  const { WASM_BASE64 } = await import('../dist/generated/wasm-bytes.js');
  const file = new Uint8Array(readFileSync(new URL('../build/modelmark.wasm', import.meta.url)));
  assert.equal(new Uint8Array(decodeTrustedBase64(WASM_BASE64)), file, "Node's Buffer");
  const buffer = globalThis.Buffer;
  globalThis.Buffer = undefined; // a runtime without it (browsers before Uint8Array.fromBase64, workers)
  let fallback;
  try {
    fallback = decodeTrustedBase64(WASM_BASE64);
  } finally {
    globalThis.Buffer = buffer;
  }
  assert.equal(fallback, file, 'decodeBase64 fallback');
  assert.equal(decodeBase64(WASM_BASE64), file);
  // Untrusted base64 (deep.json's logo) keeps the strict decoder: a stray character is an error.
  assert.throws(() => decodeBase64('AAAA*AAA'));
});

test.run();
