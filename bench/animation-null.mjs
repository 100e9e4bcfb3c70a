// `node bench/animation-null.mjs [--files N] [--keys K] [--evidence-keys E] [--threads T]`:
// false positives and p-value honesty of the two detection paths that read several images at once.
// 1. detectFile (modelmark/node) on unmarked animations built from the shared photos: N
//    animations x K keys (default 100 x 25 = 2,500 detections), 2-20 frames each, encoded as lossless
//    WebP, lossy WebP (q75) or GIF and read back with decodeImageFile({ allFrames, maxFrames: 16 }),
//    each read with K fresh seeded-random keys. Kinds: one frame repeated (given to detectFile as
//    a decoded stack: encoders merge identical frames into one); near-duplicates (one photo,
//    crops shifted by up to 2 px, brightness 0.97-1.03); a pan (crops moving 3-8 px a frame); a
//    fade (brightness 0.7 -> 1.1); a slideshow (frames from different photos). Reported: false
//    `found`, P(p <= t) against t (the count, its expectation and a one-sided binomial bound at
//    z = 3.29, i.e. 0.0005), the KS distance split into its anti-conservative side (D+ = max
//    F(t) - t) and its conservative side (D- = max t - F(t)), per kind and in all.
// 2. detectFile on marked animations whose frames were damaged (blur sigma 2 + JPEG q30 on all
//    but one or two frames): found with the key (which frame), never with 10 wrong keys each.
// 3. combineEvidence on sets of near-duplicate images (E random keys, default 500): the first
//    2, 5, 20 and 100 frames of four 100-frame unmarked sequences (near-duplicates, pan, fade, one
//    frame with 100 noise draws through JPEG q85) and of the near-duplicates marked with another
//    key, one image 50 times and mixtures; KS (D+, D-) and tail counts per set.
// `--skip-null` leaves part 1 out (each part has its own seeds, so parts 2 and 3 are unchanged).
// `--quick` (with small --files, --keys, --evidence-keys) runs every step on less: 3 marked
// animations in part 2, sequences of 20 frames in part 3 (test/bench-smoke.test.mjs; its figures
// are not to be quoted).
// Everything is seeded.
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { availableParallelism } from 'node:os';

const arg = (name, d) => { const i = process.argv.indexOf(name); return i > 0 ? Number(process.argv[i + 1]) : d; };

if (!isMainThread) {
  // Worker: detectFile for a share of [file index, key bytes] jobs; posts [pValue, found, at].
  const { createWatermarker } = await import('../dist/index.js');
  const { detectFile } = await import('../dist/node/index.js');
  const { files, jobs } = workerData;
  const out = [];
  for (const [index, key] of jobs) {
    const r = detectFile(await createWatermarker({ key }), files[index]);
    out.push([r.pValue, r.found, r.frames ? r.frames.at : 0]);
  }
  parentPort.postMessage(out);
} else {
  await main();
}

/** Binomial upper bound on the count of p <= t among n super-uniform p-values (one-sided, z = 3.29). */
function tailBound(n, t) { return n * t + 3.29 * Math.sqrt(n * t * (1 - t)) + 1; }

/** The KS distance split by side: D+ (F above the diagonal: anti-conservative) and D- (below). */
function ksSides(ps) {
  const s = [...ps].sort((a, b) => a - b);
  let plus = 0, minus = 0;
  for (let i = 0; i < s.length; i++) { plus = Math.max(plus, (i + 1) / s.length - s[i]); minus = Math.max(minus, s[i] - i / s.length); }
  return { plus, minus };
}

async function main() {
  const sharp = (await import('sharp')).default;
  const { createWatermarker, combineEvidence } = await import('../dist/index.js');
  const { decodeImageFile, detectFile, markFile, MAX_DETECT_FRAMES } = await import('../dist/node/index.js');
  const { fromSharp, mulberry32, gaussian } = await import('./attacks.mjs');
  const { samplePhotos, requirePhotos } = await import('./photos.mjs');
  requirePhotos('bench/animation-null.mjs');
  const { ksBound } = await import('../test/helpers/ks.mjs');

  const FILES = arg('--files', 100), KEYS = arg('--keys', 25), EKEYS = arg('--evidence-keys', 500);
  const THREADS = arg('--threads', Math.max(1, Math.min(4, availableParallelism())));
  const TAILS = [0.5, 0.1, 0.01, 0.001];
  const SKIP_NULL = process.argv.includes('--skip-null');
  const QUICK = process.argv.includes('--quick');
  const LONG = QUICK ? 20 : 100;
  // Each part draws from its own seed, so --skip-null leaves parts 2 and 3 as in a full run.
  let rand = mulberry32(4242);
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const int = (a, b) => a + Math.floor(rand() * (b - a + 1));

  // The photos, long side 480: frames are crops of them.
  const photos = await Promise.all((await samplePhotos()).map(async ({ name, image }) => {
    const raw = sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: image.channels } });
    const k = 480 / Math.max(image.width, image.height);
    const small = await raw.resize(Math.round(image.width * k), Math.round(image.height * k)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return { name, data: small.data, info: small.info };
  }));
  /** A W x H RGB crop of photo p at (left, top) (clamped), brightness times b: a Buffer. */
  const crop = (p, W, H, left, top, b = 1) => {
    const { data, info } = photos[p];
    left = Math.max(0, Math.min(info.width - W, left)); top = Math.max(0, Math.min(info.height - H, top));
    let s = sharp(data, { raw: info }).extract({ left, top, width: W, height: H });
    if (b !== 1) s = s.linear(b, 0);
    return s.raw().toBuffer();
  };
  /** Frames (RGB Buffers, W x H) of one kind. */
  async function framesOf(kind, n, W, H) {
    const p = int(0, photos.length - 1), { info } = photos[p];
    const x0 = int(0, info.width - W), y0 = int(0, info.height - H);
    const out = [];
    for (let i = 0; i < n; i++) {
      if (kind === 'repeated') out.push(i === 0 ? await crop(p, W, H, x0, y0) : out[0]);
      else if (kind === 'near-duplicates') out.push(await crop(p, W, H, x0 + int(-2, 2), y0 + int(-2, 2), 0.97 + 0.06 * rand()));
      else if (kind === 'pan') { const step = int(3, 8); out.push(await crop(p, W, H, x0 + ((i * step) % Math.max(1, info.width - W)), y0 + Math.round(i * step / 3) % Math.max(1, info.height - H))); }
      else if (kind === 'fade') out.push(await crop(p, W, H, x0, y0, 0.7 + 0.4 * i / Math.max(1, n - 1)));
      else { const q = int(0, photos.length - 1); out.push(await crop(q, W, H, int(0, photos[q].info.width - W), int(0, photos[q].info.height - H))); }
    }
    return out;
  }
  const encode = (frames, W, H, format) => {
    const s = sharp(Buffer.concat(frames), { raw: { width: W, height: H * frames.length, channels: 3, pageHeight: H } });
    const opts = { delay: frames.map(() => 100), loop: 0 };
    return (format === 'gif' ? s.gif(opts) : format === 'webp lossless' ? s.webp({ ...opts, lossless: true }) : s.webp({ ...opts, quality: 75 })).toBuffer();
  };
  const read = (bytes, name) => decodeImageFile(bytes, name, { allFrames: true, maxFrames: MAX_DETECT_FRAMES });
  const KINDS = ['repeated', 'near-duplicates', 'pan', 'fade', 'slideshow'];
  const FORMATS = ['webp lossless', 'webp q75', 'gif'];

  const keyRand = mulberry32(99);
  const randomKey = () => Uint8Array.from({ length: 16 }, () => Math.floor(keyRand() * 256));
  // ---- 1. detectFile on unmarked animations ----
  if (!SKIP_NULL) {
  const t0 = performance.now();
  const pool = [];
  for (let f = 0; f < FILES; f++) {
    const kind = KINDS[f % KINDS.length], format = FORMATS[Math.floor(f / KINDS.length) % FORMATS.length];
    const n = f % 11 === 10 ? 20 : pick([2, 3, 4, 5, 8, 12, 16]);
    const W = int(128, 320), H = int(128, 240);
    const frames = await framesOf(kind, n, W, H);
    // Encoders merge identical frames into one: a frame repeated is read as it was decoded.
    const file = kind === 'repeated' ? { width: W, height: H * n, channels: 3, data: new Uint8Array(Buffer.concat(frames)), animation: { frames: Math.min(n, MAX_DETECT_FRAMES), frameHeight: H } }
      : await read(await encode(frames, W, H, format), format === 'gif' ? 'a.gif' : 'a.webp');
    if (kind === 'repeated') file.data = file.data.subarray(0, W * H * 3 * file.animation.frames), file.height = H * file.animation.frames;
    // (A lossy encoder may merge near-identical frames too: the frames read are what counts.)
    if (!file.animation || file.animation.frames < 2) throw new Error(`${kind} ${format}: ${n} frames read as ${file.animation?.frames ?? 1}`);
    pool.push({ kind, format: kind === 'repeated' ? 'decoded stack' : format, n, W, H, file });
  }
  const jobs = [];
  for (let f = 0; f < pool.length; f++) for (let k = 0; k < KEYS; k++) jobs.push([f, randomKey()]);
  const files = pool.map((p) => ({ ...p.file, data: new Uint8Array(p.file.data) }));
  const shares = Array.from({ length: THREADS }, (_, w) => jobs.filter((_, i) => i % THREADS === w));
  const parts = await Promise.all(shares.map((share) => new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { files, jobs: share }, argv: [] });
    worker.once('message', resolve); worker.once('error', reject);
  })));
  const results = jobs.map((_, i) => parts[i % THREADS][Math.floor(i / THREADS)]);
  const frameReads = jobs.reduce((a, [f]) => a + pool[f].file.animation.frames, 0);
  console.log(`## 1. detectFile on unmarked animations: ${pool.length} animations x ${KEYS} random keys = ${jobs.length} detections (${frameReads} frames read), ${((performance.now() - t0) / 1000).toFixed(0)} s on ${THREADS} threads\n`);
  const row = (label, ps, found) => {
    const { plus, minus } = ksSides(ps);
    const tails = TAILS.map((t) => { const c = ps.filter((p) => p <= t).length; return `${c} / ${(ps.length * t).toFixed(1)}${c > tailBound(ps.length, t) ? ' **over**' : ''}`; });
    console.log(`| ${label} | ${ps.length} | ${found} | ${Math.min(...ps).toExponential(1)} | ${tails.join(' | ')} | ${plus.toFixed(4)} | ${minus.toFixed(4)} (${ksBound(ps.length).toFixed(4)}) |`);
  };
  console.log(`| null set | detections | false found | smallest p | ${TAILS.map((t) => `p <= ${t}: count / expected`).join(' | ')} | KS D+ (anti-conservative) | KS D- (conservative; bound) |`);
  console.log(`|---|---|---|---|${TAILS.map(() => '---|').join('')}---|---|`);
  const by = (fn) => { const ps = [], fs = []; results.forEach((r, i) => { if (fn(pool[jobs[i][0]])) { ps.push(r[0]); fs.push(r[1]); } }); return [ps, fs.filter(Boolean).length]; };
  for (const kind of KINDS) row(kind, ...by((p) => p.kind === kind));
  for (const format of [...FORMATS, 'decoded stack']) row(format, ...by((p) => p.format === format));
  row('2-5 frames', ...by((p) => p.file.animation.frames <= 5));
  row('8-16 frames', ...by((p) => p.file.animation.frames > 5));
  row('**all**', ...by(() => true));
  }

  // ---- 2. marked animations with damaged frames ----
  console.log('\n## 2. detectFile on marked animations, all but one or two frames damaged (blur sigma 2 + JPEG q30)\n');
  rand = mulberry32(4343);
  const owner = await createWatermarker({ key: 'animation null bench owner' });
  const wrongs = await Promise.all(Array.from({ length: 10 }, () => createWatermarker({ key: randomKey() })));
  let marked = 0, foundCount = 0, wrongFound = 0, wrongMin = 1, frameFound = 0, frameFoundOf = 0;
  const ats = [];
  for (let f = 0; f < (QUICK ? 3 : 20); f++) {
    const kind = KINDS[f % KINDS.length], n = pick([3, 4, 8, 16]), W = int(160, 320), H = int(128, 240);
    const frames = await framesOf(kind, n, W, H);
    const stack = { width: W, height: H * n, channels: 3, data: new Uint8Array(Buffer.concat(frames)), animation: { frames: n, frameHeight: H } };
    const m = markFile(owner, stack, 'c0ffee0000000001');
    const keep = new Set([int(0, n - 1), ...(f % 2 ? [int(0, n - 1)] : [])]);
    const out = [];
    for (let i = 0; i < n; i++) {
      const one = Buffer.from(m.data.subarray(i * W * H * 3, (i + 1) * W * H * 3));
      out.push(keep.has(i) ? one : await sharp(await sharp(one, { raw: { width: W, height: H, channels: 3 } }).blur(2).jpeg({ quality: 30 }).toBuffer()).raw().toBuffer());
    }
    // A decoded stack (lossless WebP would give the same pixels, but merges identical frames).
    const file = { width: W, height: H * n, channels: 3, data: new Uint8Array(Buffer.concat(out)), animation: { frames: n, frameHeight: H } };
    // How many damaged frames detect() still finds on their own (the damage should cost most of them).
    for (let i = 0; i < n; i++) if (!keep.has(i)) { frameFoundOf++; if (owner.detect({ width: W, height: H, channels: file.channels, data: file.data.subarray(i * W * H * file.channels, (i + 1) * W * H * file.channels) }).found) frameFound++; }
    marked++;
    const r = detectFile(owner, file);
    if (r.found && r.payload === 'c0ffee0000000001') { foundCount++; ats.push(`${r.frames.at}${keep.has(r.frames.at) ? '' : '*'}`); }
    for (const w of wrongs) { const x = detectFile(w, file); if (x.found) wrongFound++; wrongMin = Math.min(wrongMin, x.pValue); }
  }
  console.log(`found with the key: ${foundCount}/${marked} (damaged frames found on their own: ${frameFound}/${frameFoundOf}; the frame reported, * a damaged one: ${ats.join(' ')})`);
  console.log(`wrong keys: ${marked * wrongs.length} detections, ${wrongFound} found, smallest p ${wrongMin.toExponential(1)}`);

  // ---- 3. combineEvidence on sets of near-duplicates ----
  console.log(`\n## 3. combineEvidence on sets of near-duplicate unmarked images: ${EKEYS} random keys per set\n`);
  rand = mulberry32(4444);
  const long = {};
  for (const kind of ['near-duplicates', 'pan', 'fade']) {
    const W = 256, H = 192;
    const frames = await framesOf(kind, LONG, W, H);
    long[kind] = frames.map((d) => ({ width: W, height: H, channels: 3, data: new Uint8Array(d) }));
  }
  // A burst from a video: one frame with 100 independent noise draws (sigma 1.5), each then JPEG q85.
  {
    const base = await crop(3, 256, 192, 40, 30), g = gaussian(5);
    long['noise burst, JPEG q85'] = await Promise.all(Array.from({ length: LONG }, async () => {
      const d = Buffer.from(base.map((v) => Math.max(0, Math.min(255, Math.round(v + 1.5 * g())))));
      return fromSharp(sharp(await sharp(d, { raw: { width: 256, height: 192, channels: 3 } }).jpeg({ quality: 85 }).toBuffer()));
    }));
  }
  // 50 near-duplicate frames marked with another key (a set marked by someone else).
  const elsewhere = await createWatermarker({ key: 'animation null bench, another key' });
  long['near-duplicates marked with another key'] = long['near-duplicates'].map((im) => elsewhere.embed(im, 'c0ffee0000000002'));
  const singles = await Promise.all(photos.map(async (_, p) => ({ width: 256, height: 192, channels: 3, data: new Uint8Array(await crop(p, 256, 192, 0, 0)) })));
  const SIZES = QUICK ? [2, 5, 20] : [2, 5, 20, 100];
  const sets = {};
  const KINDS3 = Object.keys(long);
  for (const kind of KINDS3) for (const n of SIZES) sets[`${kind}: first ${n} frames`] = [];
  sets['one image 50 times (a different photo per key)'] = [];
  sets['50 copies of one photo + 10 other photos'] = [];
  sets['20 near-duplicate frames + 20 pan frames + 20 fade frames'] = [];
  sets['100 frames: 4 animations x 25'] = [];
  sets['all 27 photos + 27 near-duplicate frames'] = [];
  const eRand = mulberry32(31337);
  const te = performance.now();
  for (let k = 0; k < EKEYS; k++) {
    const wm = await createWatermarker({ key: Uint8Array.from({ length: 16 }, () => Math.floor(eRand() * 256)) });
    const ev = Object.fromEntries(Object.entries(long).map(([kind, fr]) => [kind, fr.map((im) => wm.evidence(im))]));
    for (const kind of KINDS3) for (const n of SIZES) sets[`${kind}: first ${n} frames`].push(combineEvidence(ev[kind].slice(0, n)).pValue);
    const one = wm.evidence(singles[k % singles.length]);
    sets['one image 50 times (a different photo per key)'].push(combineEvidence(Array(50).fill(one)).pValue);
    const others = Array.from({ length: 10 }, (_, j) => wm.evidence(singles[(k + 1 + j) % singles.length]));
    sets['50 copies of one photo + 10 other photos'].push(combineEvidence([...Array(50).fill(one), ...others]).pValue);
    sets['20 near-duplicate frames + 20 pan frames + 20 fade frames'].push(combineEvidence([...ev['near-duplicates'].slice(0, 20), ...ev.pan.slice(0, 20), ...ev.fade.slice(0, 20)]).pValue);
    sets['100 frames: 4 animations x 25'].push(combineEvidence(['near-duplicates', 'pan', 'fade', 'noise burst, JPEG q85'].flatMap((kind) => ev[kind].slice(0, 25))).pValue);
    const all = singles.map((im) => wm.evidence(im));
    sets['all 27 photos + 27 near-duplicate frames'].push(combineEvidence([...all, ...ev['near-duplicates'].slice(0, 27)]).pValue);
  }
  console.log(`(${((performance.now() - te) / 1000).toFixed(0)} s)\n`);
  console.log(`| mark-free set | pooled tests | found | smallest p | ${TAILS.map((t) => `p <= ${t}`).join(' | ')} | KS D+ | KS D- | KS bound |`);
  console.log(`|---|---|---|---|${TAILS.map(() => '---|').join('')}---|---|---|`);
  for (const [name, ps] of Object.entries(sets)) {
    const { plus, minus } = ksSides(ps);
    const tails = TAILS.map((t) => { const c = ps.filter((p) => p <= t).length; return `${c}${c > tailBound(ps.length, t) ? ' **over**' : ''}`; });
    console.log(`| ${name} | ${ps.length} | ${ps.filter((p) => p < 1e-6).length} | ${Math.min(...ps).toExponential(1)} | ${tails.join(' | ')} | ${plus.toFixed(4)} | ${minus.toFixed(4)} | ${ksBound(ps.length).toFixed(4)} |`);
  }
  console.log(`\n(expected per tail at ${EKEYS} tests: ${TAILS.map((t) => (EKEYS * t).toFixed(1)).join(', ')}; **over**: above the one-sided binomial bound at z = 3.29)`);
}
