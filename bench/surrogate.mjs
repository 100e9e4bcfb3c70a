// The model-watermarking experiment: does a surrogate model, trained on the marked outputs of a
// protected algorithm, carry the mark in its own outputs? For the classical mark (KEY) and for
// the deep mark (the shipped models' logo, models/).
//
//   node bench/surrogate.mjs train --target marked|deep|clean --out DIR [--minutes M] [--seed S]
//        [--steps N] [--save-steps N,N,...] [--drop-step N]
//   node bench/surrogate.mjs eval [--deep] [--max-step N] DIR [DIR ...]
//
// `--target deep` trains on A's outputs marked by the deep embedder H instead. `--steps` stops
// after N steps, `--save-steps` saves checkpoints at exactly those steps (so that a run can be
// paired step for step with a twin whose checkpoints were taken by time), and `--drop-step`
// divides the rate by 3 from that step on instead of after 70% of the time. `eval --deep` also
// runs the deep extractor R on every set of outputs: mean NC with the logo, how many R finds, and
// with twin DIRs (the last one trained on clean outputs) R's NC on the same test crops through
// each marked twin minus the clean twin (a twin trained with the other mark is the control).
// `--quick` (train and eval) cuts one crop per photo instead of 40 (train) and 8 (eval): with
// `train --steps 1 --batch 1` it checks that every step runs, nothing more.
//
// The protected algorithm A is a classical one (sharpen, sigma 1, then contrast x1.15 about
// mid-grey, through sharp); the barrier marks every output of A at the default strength with
// KEY. The attacker trains a surrogate S, a five-level U-Net (image + residual, average pooling
// down, nearest upsampling, skip connections; tfjs on the wasm backend with the project's
// gradient kernels), on 256x256 input/output pairs cut from the photos that are not held out
// (src/train/data.ts HELD_OUT), with L2 loss and Adam. `--target clean` trains the control: the
// same surrogate on A's unmarked outputs. Adam, its rate cut to a third for the last 30% of the
// time. Checkpoints (weights as JSON) every `--every` minutes (default 5).
//
// `eval` runs each checkpoint of each DIR on 256x256 crops of the 8 held-out photos (never seen
// in training), rounds the outputs to 8 bits, and reports: how close S is to A (PSNR against
// A's unmarked output), how many outputs detect() finds one by one, and the evidence pooled
// over all of them (combineEvidence: Student's t, p-value) for KEY and for a key never used.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import sharp from 'sharp';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createWatermarker, combineEvidence, psnr } from 'modelmark';
import { createDeepWatermarker, loadDeepModels } from 'modelmark/node';
import { forward, initParams, paramsFromWeights, weightsOf } from '../dist/train/forward.js';
import { useWasmBackend } from '../dist/train/train.js';
import { listPhotos } from '../dist/train/data.js';
import { rng } from '../dist/random.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PHOTOS = path.join(ROOT, '..', 'shared', 'photos');
const KEY = 'surrogate bench key';
const PAYLOAD = 'c0ffee0000000001';
const SIZE = 256;

/** The surrogate: a five-level U-Net that returns image + residual. */
function surrogateSpec(w = [16, 24, 32, 48, 64]) {
  const nodes = [];
  let n = 0;
  const conv = (x, cin, cout, act = 'lrelu') => { const id = `c${n++}`; nodes.push({ op: 'conv', x, out: id, k: 3, cin, cout, act, w: `${id}.w`, b: `${id}.b` }); return id; };
  const pool = (x) => { const id = `p${n++}`; nodes.push({ op: 'avgpool2', x, out: id }); return id; };
  const up = (x) => { const id = `u${n++}`; nodes.push({ op: 'up2', x, out: id }); return id; };
  const cat = (...xs) => { const id = `k${n++}`; nodes.push({ op: 'concat', xs, out: id }); return id; };
  const enc = [];
  let x = 'image', cin = 3;
  for (let l = 0; l < w.length; l++) {
    if (l > 0) x = pool(x);
    x = conv(conv(x, cin, w[l]), w[l], w[l]);
    cin = w[l];
    enc.push(x);
  }
  for (let l = w.length - 2; l >= 0; l--) x = conv(cat(up(x), enc[l]), cin + w[l], w[l]), cin = w[l];
  const r = conv(x, cin, 3, 'linear');
  nodes.push({ op: 'add', xs: ['image', r], out: 'output' });
  return { name: 'S', inputs: [{ name: 'image', channels: 3 }], nodes, outputs: ['output'], multiple: 1 << (w.length - 1) };
}

/** The protected classical algorithm A, on 8-bit RGB. */
async function algorithm(rgb, width, height) {
  return new Uint8Array(await sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.length), { raw: { width, height, channels: 3 } })
    .sharpen({ sigma: 1 }).linear(1.15, -0.15 * 128).raw().toBuffer());
}

/** `count` random SIZE x SIZE RGB crops of a photo shown at a random scale (short side 256..640). */
async function crops(file, count, rand) {
  const out = [];
  const meta = await sharp(file).metadata();
  for (let i = 0; i < count; i++) {
    const short = Math.round(SIZE + rand() * 384);
    const s = short / Math.min(meta.width, meta.height);
    const w = Math.max(SIZE, Math.round(meta.width * s)), h = Math.max(SIZE, Math.round(meta.height * s));
    const left = Math.floor(rand() * (w - SIZE + 1)), top = Math.floor(rand() * (h - SIZE + 1));
    out.push(new Uint8Array(await sharp(file).removeAlpha().toColourspace('srgb').resize(w, h, { fit: 'fill' }).extract({ left, top, width: SIZE, height: SIZE }).raw().toBuffer()));
  }
  return out;
}

/**
 * Pairs (input, A's output, A's output with the classical mark, and with `deep`, A's output
 * with the deep mark) from `files`, `per` crops each.
 */
async function pairs(files, per, seed, deep = null) {
  const rand = rng(seed);
  const wm = await createWatermarker({ key: KEY });
  const out = [];
  for (const f of files) {
    for (const x of await crops(f, per, rand)) {
      const clean = await algorithm(x, SIZE, SIZE);
      const img = { width: SIZE, height: SIZE, channels: 3, data: clean };
      const marked = wm.embed(img, PAYLOAD).data;
      out.push({ x, clean, marked, ...(deep ? { deep: (await deep.embed(img)).data } : {}) });
    }
  }
  return out;
}

const toFloat = (list) => { const f = new Float32Array(list.length * SIZE * SIZE * 3); list.forEach((a, i) => { for (let j = 0; j < a.length; j++) f[i * a.length + j] = a[j] / 255; }); return f; };

async function train(o) {
  await useWasmBackend();
  fs.mkdirSync(o.out, { recursive: true });
  const spec = surrogateSpec();
  const { train: files } = await listPhotos(PHOTOS);
  const deep = o.target === 'deep' ? await createDeepWatermarker({ models: await loadDeepModels() }) : null;
  const data = await pairs(files, o.quick ? 1 : 40, 1234, deep); // the same pairs for every target
  console.log(`${data.length} training pairs from ${files.length} photos; target ${o.target}`);
  const params = initParams(spec, o.seed);
  const vars = Object.values(params);
  const opt = tf.train.adam(o.lr);
  const rand = rng(o.seed * 31 + 7);
  const B = o.batch;
  const start = performance.now();
  let step = 0, lastSave = 0, lossSum = 0, lossN = 0;
  const save = () => {
    const w = weightsOf(params);
    const file = path.join(o.out, `step-${String(step).padStart(6, '0')}.json`);
    fs.writeFileSync(file + '.tmp', JSON.stringify(Object.fromEntries(Object.entries(w).map(([k, v]) => [k, Array.from(v)]))));
    fs.renameSync(file + '.tmp', file);
  };
  while ((performance.now() - start) / 60000 < o.minutes && step < o.steps) {
    // Adam at lr for the first 70% of the time (or up to --drop-step), then at lr / 3.
    const early = o.dropStep ? step < o.dropStep : (performance.now() - start) / 60000 < 0.7 * o.minutes;
    opt.learningRate = early ? o.lr : o.lr / 3;
    const idx = Array.from({ length: B }, () => Math.floor(rand() * data.length));
    const xs = tf.tensor4d(toFloat(idx.map((i) => data[i].x)), [B, SIZE, SIZE, 3]);
    const ys = tf.tensor4d(toFloat(idx.map((i) => data[i][o.target])), [B, SIZE, SIZE, 3]);
    const cost = opt.minimize(() => tf.mean(tf.squaredDifference(forward(spec, params, { image: xs }).output, ys)), true, vars);
    lossSum += (await cost.data())[0]; lossN++;
    tf.dispose([xs, ys, cost]);
    step++;
    const min = (performance.now() - start) / 60000;
    if (o.saveSteps ? o.saveSteps.includes(step) : min - lastSave >= o.every) {
      lastSave = min;
      save();
      console.log(`step ${step}  ${min.toFixed(1)} min  loss ${(lossSum / lossN).toExponential(3)} (PSNR ${(10 * Math.log10(1 / (lossSum / lossN))).toFixed(2)} dB)`);
      lossSum = lossN = 0;
    }
  }
  save();
  console.log(`done: ${step} steps`);
}

async function evaluate(dirs, { withDeep = false, maxStep = Infinity, quick = false } = {}) {
  await useWasmBackend();
  const spec = surrogateSpec();
  const { held } = await listPhotos(PHOTOS);
  const deep = withDeep ? await createDeepWatermarker({ models: await loadDeepModels() }) : null;
  const test = await pairs(held, quick ? 1 : 8, 99, deep); // held-out photos only
  const wm = await createWatermarker({ key: KEY });
  const other = await createWatermarker({ key: 'surrogate bench, a key never used' });
  const rgb = (data) => ({ width: SIZE, height: SIZE, channels: 3, data });
  const ncs = new Map(); // outputs -> R's NC for each
  const deepCols = async (outs) => {
    if (!deep) return '';
    const nc = [];
    let found = 0;
    for (const o of outs) {
      const r = await deep.extract(rgb(o));
      nc.push(r.nc);
      if (r.found) found++;
    }
    ncs.set(outs, nc);
    return ` ${(nc.reduce((a, b) => a + b, 0) / nc.length).toFixed(3)} | ${found}/${outs.length} |`;
  };
  /** One table row for a set of outputs (`fidelity` false: no PSNR against A, for the diagnostic). */
  const row = async (name, outs, fidelity = true) => {
    const found = outs.filter((o) => wm.detect(rgb(o)).found).length;
    const ev = combineEvidence(outs.map((o) => wm.evidence(rgb(o))));
    const evo = combineEvidence(outs.map((o) => other.evidence(rgb(o))));
    let fid = 0;
    if (fidelity) for (const [i, o] of outs.entries()) fid += (await psnr(rgb(o), rgb(test[i].clean))) / outs.length;
    console.log(`| ${name} | ${fidelity ? `${fid.toFixed(2)} dB` : '-'} | ${found}/${outs.length} | t ${ev.t.toFixed(2)}, p ${ev.pValue.toExponential(1)}${ev.found ? ' (found)' : ''} | t ${evo.t.toFixed(2)}, p ${evo.pValue.toExponential(1)}${evo.found ? ' (found)' : ''} |${await deepCols(outs)}`);
  };
  console.log(`${test.length} test crops (256x256) from the ${held.length} held-out photos\n`);
  console.log(`| outputs | PSNR against A (clean) | detect() finds | pooled evidence, the key | pooled, a key never used |${deep ? ' deep: mean NC | R finds |' : ''}`);
  console.log(`|---|---|---|---|---|${deep ? '---|---|' : ''}`);
  await row('A, marked (the barrier\'s own outputs)', test.map((t) => t.marked));
  if (deep) await row('A, deep-marked (the deep barrier\'s own outputs)', test.map((t) => t.deep));
  await row('A, unmarked', test.map((t) => t.clean));
  // What the twin-difference diagnostic below shows when a network reproduces a mark exactly.
  const amplified = (a, b) => Uint8Array.from(a, (v, j) => Math.max(0, Math.min(255, Math.round(128 + 8 * (v - b[j])))));
  await row('the classical mark itself (A marked - A), 8x on grey', test.map((t) => amplified(t.marked, t.clean)), false);
  if (deep) await row('the deep mark itself (A deep-marked - A), 8x on grey', test.map((t) => amplified(t.deep, t.clean)), false);
  const outputs = new Map(); // `${dir}/${file}` -> the outputs
  for (const dir of dirs) {
    const files = fs.readdirSync(dir).filter((f) => /^step-\d+\.json$/.test(f) && Number(f.slice(5, -5)) <= maxStep).sort();
    for (const f of files) {
      const raw = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
      const params = paramsFromWeights(spec, Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Float32Array.from(v)])));
      const outs = [];
      for (let i = 0; i < test.length; i += 4) {
        const part = test.slice(i, i + 4);
        const y = tf.tidy(() => tf.clipByValue(tf.mul(forward(spec, params, { image: tf.tensor4d(toFloat(part.map((t) => t.x)), [part.length, SIZE, SIZE, 3]) }).output, 255), 0, 255));
        const v = await y.data();
        y.dispose();
        for (let j = 0; j < part.length; j++) outs.push(Uint8Array.from(v.subarray(j * SIZE * SIZE * 3, (j + 1) * SIZE * SIZE * 3), (q) => Math.round(q)));
      }
      tf.dispose(Object.values(params));
      await row(`S from ${path.basename(dir)}, ${f.replace('.json', '')}`, outs);
      outputs.set(`${path.basename(dir)}/${f}`, outs);
    }
  }
  // A diagnostic, not an attacker's output: the twin surrogates (same seed, same batches, one
  // trained on marked and one on unmarked outputs) differ only through the mark. Their
  // difference, 8x and on mid-grey (no host image in it), shows whether S has begun to learn the
  // mark's pattern long before its outputs carry enough of it.
  if (dirs.length >= 2) {
    // The last DIR is the clean twin; each other DIR (same seed and batches, trained on marked
    // outputs) is compared with it, checkpoint by checkpoint: the n-th checkpoints are paired
    // (taken by time they are a few steps apart; with --save-steps, at the same step).
    const names = dirs.map((d) => path.basename(d));
    const c = names.at(-1);
    const of = (name) => [...outputs].filter(([k]) => k.startsWith(`${name}/`));
    const twins = of(c);
    for (const m of names.slice(0, -1)) {
      for (const [n, [k, outs]] of of(m).entries()) {
        const twin = twins[n]?.[1];
        if (!twin) continue;
        const diff = outs.map((o, i) => amplified(o, twin[i]));
        await row(`twin difference ${m} - ${c}, ${k.split('/')[1].replace('.json', '')}, 8x on grey (diagnostic)`, diff, false);
        if (deep) {
          // R's NC on the same test crops through the two twins. The paired t treats the crops
          // as the samples, so it tests "these two networks give R different NC", which any two
          // different networks may: it is not a p-value for the mark. A twin trained on
          // outputs with another mark (the classical one, for R) shows the size of that
          // difference with no deep mark in the targets.
          const a = ncs.get(outs), b = ncs.get(twin);
          const d = a.map((v, i) => v - b[i]);
          const mean = d.reduce((x, y) => x + y, 0) / d.length;
          const sd = Math.sqrt(d.reduce((x, y) => x + (y - mean) ** 2, 0) / (d.length - 1));
          const t = mean / (sd / Math.sqrt(d.length));
          console.log(`|   R's NC, ${m} twin minus ${c} twin, same crops: mean ${mean.toFixed(4)}, paired t ${t.toFixed(2)} (${d.length - 1} dof; networks, not a mark's p-value) | | | | | | |`);
        }
      }
    }
  }
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'train' || mode === 'eval') (await import('./photos.mjs')).requirePhotos('bench/surrogate.mjs');
if (mode === 'train') {
  const { values } = parseArgs({ args: rest, options: { target: { type: 'string' }, out: { type: 'string' }, minutes: { type: 'string' }, seed: { type: 'string' }, batch: { type: 'string' }, lr: { type: 'string' }, every: { type: 'string' }, steps: { type: 'string' }, 'save-steps': { type: 'string' }, 'drop-step': { type: 'string' }, quick: { type: 'boolean' } } });
  if (!['marked', 'deep', 'clean'].includes(values.target) || !values.out) throw new Error('usage: train --target marked|deep|clean --out DIR [--minutes M]');
  await train({
    target: values.target, out: values.out, minutes: Number(values.minutes ?? 60), seed: Number(values.seed ?? 1), batch: Number(values.batch ?? 4), lr: Number(values.lr ?? 1e-3), every: Number(values.every ?? 5),
    steps: Number(values.steps ?? Infinity), saveSteps: values['save-steps']?.split(',').map(Number), dropStep: values['drop-step'] ? Number(values['drop-step']) : undefined, quick: !!values.quick,
  });
} else if (mode === 'eval') {
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { deep: { type: 'boolean' }, 'max-step': { type: 'string' }, quick: { type: 'boolean' } } });
  await evaluate(positionals, { withDeep: !!values.deep, maxStep: Number(values['max-step'] ?? Infinity), quick: !!values.quick });
} else {
  console.error('usage: node bench/surrogate.mjs train --target marked|clean --out DIR [--minutes M] | eval DIR [DIR ...]');
  process.exit(2);
}
