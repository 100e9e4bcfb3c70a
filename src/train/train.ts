/**
 * Trains the deep watermark (embedder H, extractor R, discriminator D) with @tensorflow/tfjs on
 * the wasm backend. Node-only.
 *
 * Stage 1 trains H and R together on random tiles of the photos at the runner's work size:
 *   image loss   w · (MSE(m, x) + 0.01 · (1 − SSIM(m, x)))   (w steered to a PSNR target)
 *   adversarial  0.01 · softplus(−D(m))                       (D: a small PatchGAN)
 *   logo loss    MSE(R(a(m)), 2L − 1)                          (a: a random differentiable attack)
 *   clean loss   MSE(R(x'), 0), x' half x and half a'(x)         (clean inputs and processed clean outputs)
 *   consistency  0.5 · mean over the batch of (R(a(m))ᵢ − mean R(a(m)))²
 * where x is a clean tile, m = x + H(x, logo) and L the logo.
 * Stage 2 fine-tunes R alone on whole photos marked by H exactly as the runner does (residual
 * upsampled to full resolution, rounded to 8 bits) and then attacked for real with sharp (JPEG,
 * WebP, downscaling, blur), with their clean counterparts as blanks: no gradient has to pass
 * through JPEG.
 *
 * Training is resumable (weights, optimiser moments, step, elapsed time and the image-loss
 * weight are checkpointed atomically every few minutes). Data sampling and noise are seeded, and
 * wasm arithmetic is deterministic on one thread, but a run is not bit-for-bit reproducible: it
 * stops, and its learning rate and stage change follow, on wall-clock time, so two runs of the
 * same seed take different numbers of steps. A checkpoint also keeps the last PSNR and NC shown,
 * so a resumed run reports them (it used to show zeros until its next measurement).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import sharp, { type Sharp } from 'sharp';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildD, buildH, buildR, logoMap, type NetSpec, type Weights } from '../deep/spec.js';
import { forward, initParams, paramsFromWeights, rng, weightsOf, type Params } from './forward.js';
import { registerWasmGradientKernels } from './wasm-kernels.js';
import { listPhotos, loadPlanes, planeOf, TileSampler, undecodable, type Plane } from './data.js';
import { writeFileAtomic } from '../node/files.js';
import { FileError } from '../errors.js';

export const TILE = 64;
export const LOGO = 32;
export const WORK = 256;

export interface TrainOptions {
  /** Folder of training photos. */
  photos: string;
  /**
   * The training photos themselves, when not every photo in `photos` (the command line leaves
   * out those too small to train on); `holdOut` is then not applied.
   */
  files?: string[];
  /** Output folder: checkpoint and exported models. */
  out: string;
  /** The logo, LOGO×LOGO grey bytes (default: {@link defaultLogo}). */
  logo?: Uint8Array;
  /** Total training time in minutes, both stages (stage 2 takes `stage2Fraction` of it). */
  minutes: number;
  stage2Fraction?: number;
  seed?: number;
  batch?: number;
  /** Target PSNR (dB) of marked tiles at the work size; steers the image-loss weight. */
  targetPsnr?: number;
  checkpointMinutes?: number;
  /** Keep the held-out photos out of training (default true). */
  holdOut?: boolean;
  /** Start from these weights instead of random ones (fine-tuning), when no checkpoint exists. */
  initFrom?: { h: Weights; r: Weights };
  onProgress?: (p: Progress) => void;
  /** Lines about the work between the steps (stage 2's preparation), for the user; `phase` says which, for programs. */
  onLog?: (line: string, phase?: PhaseEvent) => void;
  /** When aborted, training writes a checkpoint at the end of the current step and stops (TrainResult.interrupted). */
  signal?: AbortSignal;
}

/**
 * What a log line of training (trainDeep, trainAndExport, calibrate) announces, for programs
 * (`modelmark train-deep --json` prints each as a "phase" line): stage 2's preparation (marking
 * and re-encoding its photos), calibration beginning (`done` 0; `photos` null when the caller
 * gave no file list) and going on, its threshold.
 */
export type PhaseEvent =
  | { phase: 'stage2'; photos: number }
  | { phase: 'calibrating'; photos: number | null; done: number }
  | { phase: 'calibrated'; threshold: number };

export interface Progress {
  stage: 1 | 2;
  step: number;
  elapsedS: number;
  totalS: number;
  etaS: number;
  psnr: number;
  nc: number;
  ncClean: number;
  loss: number;
  weight: number;
}

export interface TrainResult {
  h: Weights; r: Weights; steps: number; elapsedS: number; psnr: number; nc: number; interrupted?: boolean;
  /**
   * Whether this call wrote a checkpoint of the state it returns. False only when it was
   * interrupted while loading the photos, before any step: the checkpoint on disk, if any, is
   * the one it started from, and there is none on a first run.
   */
  checkpointed: boolean;
}

/** The project's default logo: a ring around the letter M, 32×32 grey (255 = ink). */
export function defaultLogo(): Uint8Array {
  const n = LOGO, out = new Uint8Array(n * n);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const dx = x + 0.5 - n / 2, dy = y + 0.5 - n / 2, r = Math.hypot(dx, dy);
      let ink = r >= 12.5 && r <= 15 ? 1 : 0;
      // The M: two verticals and a V between them.
      if (y >= 9 && y <= 22) {
        if ((x >= 9 && x <= 10) || (x >= 21 && x <= 22)) ink = 1;
        const t = (y - 9) / 8; // the V reaches the centre at y = 17
        if (t <= 1 && (Math.abs(x - (10 + 5.5 * t)) <= 1 || Math.abs(x - (21 - 5.5 * t)) <= 1)) ink = 1;
      }
      out[y * n + x] = ink * 255;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Checkpoints: one JSON index plus one binary blob of float32 arrays, written atomically.

interface Checkpoint {
  stage: 1 | 2; step: number; elapsedS: number; weight: number; seed: number;
  h: Weights; r: Weights; d: Weights; opt: Record<string, Float32Array[]>;
  /** The last training measurements shown (restored so that a resumed run reports them). */
  last?: { psnr: number; nc: number; ncClean: number; loss: number };
}


async function saveCheckpoint(dir: string, c: Checkpoint): Promise<void> {
  const parts: Float32Array[] = [];
  const index: Record<string, [number, number]> = {};
  let off = 0;
  const put = (key: string, a: Float32Array) => { index[key] = [off, a.length]; parts.push(a); off += a.length; };
  for (const net of ['h', 'r', 'd'] as const) for (const [k, v] of Object.entries(c[net])) put(`${net}/${k}`, v);
  for (const [k, list] of Object.entries(c.opt)) list.forEach((a, i) => put(`opt/${k}/${i}`, a));
  const blob = new Float32Array(off);
  let p = 0;
  for (const a of parts) { blob.set(a, p); p += a.length; }
  // The blob under a name of its own, named by the index written after it: a run killed between
  // the two files leaves the previous index with the previous blob, never a mismatched pair.
  const bin = `checkpoint-${c.step}-${Date.now().toString(36)}.bin`;
  await writeFileAtomic(join(dir, bin), new Uint8Array(blob.buffer));
  const meta = { stage: c.stage, step: c.step, elapsedS: c.elapsedS, weight: c.weight, seed: c.seed, last: c.last, bin, index };
  await writeFileAtomic(join(dir, 'checkpoint.json'), JSON.stringify(meta));
  for (const f of await readdir(dir)) {
    if (f !== bin && /^checkpoint(-[\w-]+)?\.bin$/.test(f)) await rm(join(dir, f), { force: true });
  }
}

/**
 * The last checkpoint in `dir`, or undefined when there is none. A checkpoint that cannot be
 * used (its index unreadable, its blob missing or shorter than the index says: files removed or
 * damaged outside train-deep, which writes both atomically) is a FileError naming the folder,
 * never a raw parse error, and never a partial set of weights.
 */
export async function loadCheckpoint(dir: string): Promise<Checkpoint | undefined> {
  const jp = join(dir, 'checkpoint.json');
  if (!existsSync(jp)) return undefined;
  const damaged = (what: string, cause?: unknown) => new FileError(`The checkpoint in ${JSON.stringify(dir)} cannot be resumed: ${what}; ` +
    'delete that folder to start over, or pass another --work (or --out) folder', { cause });
  let meta: { stage: 1 | 2; step: number; elapsedS: number; weight: number; seed: number; last?: Checkpoint['last']; bin?: unknown; index: Record<string, [number, number]> };
  try {
    meta = JSON.parse(await readFile(jp, 'utf8'));
  } catch (cause) {
    throw damaged(`checkpoint.json does not parse (${(cause as Error).message})`, cause);
  }
  if (!meta || typeof meta !== 'object' || !meta.index || typeof meta.index !== 'object' || !Number.isInteger(meta.step) || (meta.stage !== 1 && meta.stage !== 2)) {
    throw damaged('checkpoint.json is not a train-deep checkpoint index');
  }
  const binName = typeof meta.bin === 'string' && /^checkpoint-[\w-]+\.bin$/.test(meta.bin) ? meta.bin : 'checkpoint.bin';
  const bin = await readFile(join(dir, binName)).catch((cause: NodeJS.ErrnoException) => {
    throw damaged(`its weights file ${binName} cannot be read (${cause.code ?? cause.message})`, cause);
  });
  const all = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength - (bin.byteLength % 4)));
  for (const [key, [o, n]] of Object.entries(meta.index)) {
    if (!(Number.isInteger(o) && Number.isInteger(n) && o >= 0 && n >= 0 && o + n <= all.length)) {
      throw damaged(`its weights file ${binName} holds ${all.length} values, too few for ${key} (${o} + ${n})`);
    }
  }
  const c: Checkpoint = { stage: meta.stage, step: meta.step, elapsedS: meta.elapsedS, weight: meta.weight, seed: meta.seed, last: meta.last, h: {}, r: {}, d: {}, opt: {} };
  for (const [key, [o, n]] of Object.entries(meta.index as Record<string, [number, number]>)) {
    const a = all.slice(o, o + n);
    const [net, ...rest] = key.split('/');
    if (net === 'opt') {
      const i = Number(rest.pop());
      const k = rest.join('/');
      (c.opt[k] ??= [])[i] = a;
    } else (c[net as 'h' | 'r' | 'd'] as Weights)[rest.join('/')] = a;
  }
  return c;
}

// ---------------------------------------------------------------------------------------------

/** Mean SSIM of two NHWC batches in [0, 1] on their grey means, 8×8 box windows. */
export function ssimLoss(a: tf.Tensor4D, b: tf.Tensor4D): tf.Scalar {
  const C1 = 0.01 ** 2, C2 = 0.03 ** 2;
  const ga = tf.mean(a, 3, true) as tf.Tensor4D, gb = tf.mean(b, 3, true) as tf.Tensor4D;
  const box = (t: tf.Tensor4D) => tf.avgPool(t, 8, 1, 'valid');
  const ma = box(ga), mb = box(gb);
  const va = tf.sub(box(tf.mul(ga, ga) as tf.Tensor4D), tf.mul(ma, ma));
  const vb = tf.sub(box(tf.mul(gb, gb) as tf.Tensor4D), tf.mul(mb, mb));
  const cov = tf.sub(box(tf.mul(ga, gb) as tf.Tensor4D), tf.mul(ma, mb));
  const num = tf.mul(tf.add(tf.mul(tf.mul(ma, mb), 2), C1), tf.add(tf.mul(cov, 2), C2));
  const den = tf.mul(tf.add(tf.add(tf.mul(ma, ma), tf.mul(mb, mb)), C1), tf.add(tf.add(va, vb), C2));
  return tf.mean(tf.div(num, den)) as tf.Scalar;
}

/** A random differentiable attack on a batch, chosen by `kind` (0 none, 1 blur, 2 down-up, 3 noise, 4 tone, 5 grey). */
function attack(x: tf.Tensor4D, kind: number, r: () => number, seed: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  switch (kind) {
    case 1: return tf.avgPool(x, 3, 1, 'same');
    case 2: return tf.image.resizeBilinear(tf.avgPool(x, 2, 2, 'valid'), [h, w], false, true);
    case 3: return tf.add(x, tf.randomNormal(x.shape, 0, (1 + 3 * r()) / 255, 'float32', seed)) as tf.Tensor4D;
    case 4: return tf.add(tf.mul(x, 0.8 + 0.4 * r()), (r() - 0.5) * 0.1) as tf.Tensor4D;
    case 5: return tf.tile(tf.sum(tf.mul(x, tf.tensor1d([0.299, 0.587, 0.114])), 3, true), [1, 1, 1, 3]) as tf.Tensor4D;
    default: return x;
  }
}

/** Pearson correlation of each extracted logo (rows of e, [n, LOGO²]) with the logo. */
function ncRows(e: Float32Array, n: number, L: Float32Array): number[] {
  const m = L.length, out: number[] = [];
  let lm = 0;
  for (let i = 0; i < m; i++) lm += L[i]!;
  lm /= m;
  for (let b = 0; b < n; b++) {
    let em = 0;
    for (let i = 0; i < m; i++) em += e[b * m + i]!;
    em /= m;
    let sxy = 0, sxx = 0, syy = 0;
    for (let i = 0; i < m; i++) {
      const a = e[b * m + i]! - em, c = L[i]! - lm;
      sxy += a * c; sxx += a * a; syy += c * c;
    }
    out.push(sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0);
  }
  return out;
}

/** Picks and prepares tfjs's wasm backend with our gradient kernels. */
export async function useWasmBackend(): Promise<void> {
  registerWasmGradientKernels();
  if (tf.getBackend() !== 'wasm') await tf.setBackend('wasm');
  await tf.ready();
}

/**
 * Trains (or resumes training) and returns the final weights of H and R.
 *
 * @example
 * const { h, r } = await trainDeep({ photos: '../shared/photos', out: 'train-out', minutes: 90 });
 */
export async function trainDeep(o: TrainOptions): Promise<TrainResult> {
  await useWasmBackend();
  await mkdir(o.out, { recursive: true });
  // Tiles are marked to 42.5 dB: whole photos marked by the runner come out about 2.5 dB lower at
  // full size (measured on the held-out photos early in a run at a 40 dB target: 37.5 dB mean).
  const seed = o.seed ?? 1, B = o.batch ?? 8, target = o.targetPsnr ?? 42.5;
  const totalS = o.minutes * 60, stage1S = totalS * (1 - (o.stage2Fraction ?? 0.25));
  const ckptEvery = (o.checkpointMinutes ?? 3) * 60;
  const logo = o.logo ?? defaultLogo();
  const H = buildH(), R = buildR(), D = buildD();

  const ck = await loadCheckpoint(o.out);
  const hp: Params = ck ? paramsFromWeights(H, ck.h) : o.initFrom ? paramsFromWeights(H, o.initFrom.h) : initParams(H, seed);
  const rp: Params = ck ? paramsFromWeights(R, ck.r) : o.initFrom ? paramsFromWeights(R, o.initFrom.r) : initParams(R, seed + 1);
  const dp: Params = ck ? paramsFromWeights(D, ck.d) : initParams(D, seed + 2);
  let step = ck?.step ?? 0, elapsed = ck?.elapsedS ?? 0, weight = ck?.weight ?? 300;
  let stage: 1 | 2 = ck?.stage ?? 1;

  const optG = tf.train.adam(1e-3), optD = tf.train.adam(5e-4), optR2 = tf.train.adam(3e-4);
  const optimisers: Record<string, tf.Optimizer> = { g: optG, d: optD, r2: optR2 };
  const restore = async () => {
    if (!ck) return;
    for (const [k, opt] of Object.entries(optimisers)) {
      const saved = ck.opt[k];
      if (!saved) continue;
      const current = await opt.getWeights();
      if (current.length === 0) continue; // moments are created lazily; restored after the first step
      // An optimiser saved before its first step holds only its iteration count (e.g. stage 2's
      // at the stage-1 -> 2 checkpoint): restore only what was saved, shape by shape.
      const n = Math.min(current.length, saved.length);
      if (n < current.length && n > 1) throw new Error(`checkpoint: optimiser ${k} has ${saved.length} saved tensors, ${current.length} expected`);
      await opt.setWeights(current.slice(0, n).map((nt, i) => ({ name: nt.name, tensor: tf.tensor(saved[i]!, nt.tensor.shape) })));
    }
  };
  let restored = !ck;

  const photos = o.files ? { train: o.files, held: [] } : await listPhotos(o.photos, o.holdOut ?? true);
  const planes: Plane[] = [];
  for (const f of photos.train) {
    // Loading 200 photos takes a while: a signal stops here, before any step (the checkpoint on
    // disk, if any, is left as it is).
    if (o.signal?.aborted) {
      const result = { h: weightsOf(hp), r: weightsOf(rp), steps: step, elapsedS: elapsed, psnr: 0, nc: 0, interrupted: true, checkpointed: false };
      tf.dispose([...Object.values(hp), ...Object.values(rp), ...Object.values(dp)]);
      optG.dispose(); optD.dispose(); optR2.dispose();
      return result;
    }
    planes.push(...(await loadPlanes(f, [WORK, Math.round(WORK * 1.25), Math.round(WORK * 1.5)]).catch((cause: Error) => { throw undecodable(f, cause); })));
  }
  const sampler = new TileSampler(planes, TILE, seed * 7919 + step);
  const rand = rng(seed * 104729 + step);

  const L = Float32Array.from(logo, (v) => v / 255);
  /** The first B logos of a batch of R outputs as rows [B, LOGO²], kept out of the tidy (for NC). */
  const logoRows = (t: tf.Tensor4D): tf.Tensor => tf.keep(tf.reshape(tf.slice(t, [0, 0, 0, 0], [B, LOGO, LOGO, 1]), [B, LOGO * LOGO]));
  const logoIn = tf.keep(tf.tile(tf.tensor4d(logoMap(L, LOGO, TILE, TILE), [1, TILE, TILE, 1]), [B, 1, 1, 1]) as tf.Tensor4D);
  const target2 = tf.keep(tf.tile(tf.tensor4d(L.map((v) => 2 * v - 1), [1, LOGO, LOGO, 1]), [B, 1, 1, 1]) as tf.Tensor4D);

  const hv = Object.values(hp), rv = Object.values(rp), dv = Object.values(dp);
  let last = ck?.last ?? { psnr: 0, nc: 0, ncClean: 0, loss: 0 };
  let t0 = performance.now(), lastCk = elapsed;
  const snapshot = async () => {
    const opt: Record<string, Float32Array[]> = {};
    // Before the first step of a resumed run the optimisers are not restored yet (restore()
    // runs after that step): keep the loaded checkpoint's state, not their empty one.
    if (!restored && ck) Object.assign(opt, ck.opt);
    else for (const [k, o2] of Object.entries(optimisers)) opt[k] = await Promise.all((await o2.getWeights()).map(async (w) => (await w.tensor.data()) as Float32Array));
    await saveCheckpoint(o.out, { stage, step, elapsedS: elapsed, weight, seed, last, h: weightsOf(hp), r: weightsOf(rp), d: weightsOf(dp), opt });
  };
  const report = () => o.onProgress?.({ stage, step, elapsedS: elapsed, totalS, etaS: Math.max(0, totalS - elapsed), weight, ...last });
  const tick = async () => {
    // Let the event loop turn once per step: the wasm backend's awaits resolve as microtasks, so
    // without this, signal handlers (Ctrl-C) and timers wait for the next checkpoint's file I/O.
    await new Promise((r) => setImmediate(r));
    const now = performance.now();
    elapsed += (now - t0) / 1000;
    t0 = now;
    if (elapsed - lastCk >= ckptEvery) { lastCk = elapsed; await snapshot(); }
  };
  const stopped = () => o.signal?.aborted === true;

  // ---- Stage 1: H and R together on tiles.
  while (stage === 1 && elapsed < stage1S && !stopped()) {
    const frac = elapsed / stage1S;
    (optG as unknown as { learningRate: number }).learningRate = frac < 0.7 ? 1e-3 : 1e-3 * Math.pow(0.1, (frac - 0.7) / 0.3);
    const kindM = rand() < 0.4 ? 0 : 1 + Math.floor(rand() * 5), kindC = 1 + Math.floor(rand() * 5);
    const s1 = Math.floor(rand() * 2 ** 30), s2 = Math.floor(rand() * 2 ** 30);
    const xs = sampler.batch(B);
    let mKeep: tf.Tensor4D | undefined;
    const out = tf.tidy(() => {
      const x = tf.tensor4d(xs, [B, TILE, TILE, 3]);
      let parts: tf.Tensor[] = [];
      const cost = optG.minimize(() => {
        const res = forward(H, hp, { image: x, logo: logoIn }).residual!;
        const m = tf.add(x, res) as tf.Tensor4D;
        mKeep = tf.keep(m);
        const mq = tf.add(m, tf.randomUniform(m.shape, -0.5 / 255, 0.5 / 255, 'float32', s1)) as tf.Tensor4D;
        const em = forward(R, rp, { image: attack(mq, kindM, rand, s2) }).logo!;
        const half = B >> 1;
        const clean = tf.concat([tf.slice(x, [0, 0, 0, 0], [half, TILE, TILE, 3]), attack(tf.slice(x, [half, 0, 0, 0], [B - half, TILE, TILE, 3]), kindC, rand, s2 + 1)], 0) as tf.Tensor4D;
        const ec = forward(R, rp, { image: clean }).logo!;
        const mse = tf.mean(tf.square(res));
        const lImg = tf.mul(weight, tf.add(mse, tf.mul(0.01, tf.sub(1, ssimLoss(m, x)))));
        const adv = tf.mean(tf.softplus(tf.neg(forward(D, dp, { image: m }).logit!)));
        const lLogo = tf.mean(tf.squaredDifference(em, target2));
        const lClean = tf.mean(tf.square(ec));
        const lCons = tf.mean(tf.square(tf.sub(em, tf.mean(em, 0, true))));
        parts = [tf.keep(mse), logoRows(em), logoRows(ec)];
        return tf.addN([lImg, tf.mul(0.01, adv), lLogo, lClean, tf.mul(0.5, lCons)]) as tf.Scalar;
      }, true, [...hv, ...rv] as tf.Variable[])!;
      optD.minimize(() => {
        const real = forward(D, dp, { image: x }).logit!, fake = forward(D, dp, { image: mKeep! }).logit!;
        return tf.add(tf.mean(tf.softplus(tf.neg(real))), tf.mean(tf.softplus(fake))) as tf.Scalar;
      }, false, dv as tf.Variable[]);
      return { cost, parts };
    });
    mKeep?.dispose();
    const [mseT, emT, ecT] = out.parts;
    const mse = (await mseT!.data())[0]!;
    const ncs = ncRows((await emT!.data()) as Float32Array, B, L), ncc = ncRows((await ecT!.data()) as Float32Array, B, L);
    const loss = (await out.cost.data())[0]!;
    tf.dispose([out.cost, mseT!, emT!, ecT!]);
    if (!restored) { await restore(); restored = true; }
    const psnr = 10 * Math.log10(1 / Math.max(mse, 1e-12));
    const a = step === 0 ? 1 : 0.05;
    const smoothed = last.psnr + a * (psnr - last.psnr);
    // Steer the image weight by the smoothed PSNR: raise it when the marks are too strong, lower
    // it when too faint (a fixed weight levels off far from any target; a fast controller on
    // the noisy per-batch PSNR oscillated between 32 and 44 dB).
    weight = Math.min(1e6, Math.max(1, weight * Math.exp(0.004 * Math.max(-3, Math.min(3, target - smoothed)))));
    last = { psnr: smoothed, nc: last.nc + a * (mean(ncs) - last.nc), ncClean: last.ncClean + a * (mean(ncc) - last.ncClean), loss };
    step++;
    await tick();
    if (step % 10 === 0) report();
  }

  // ---- Stage 2: R alone on really marked and really attacked whole photos.
  if (stopped()) {
    await snapshot();
    const result = { h: weightsOf(hp), r: weightsOf(rp), steps: step, elapsedS: elapsed, psnr: last.psnr, nc: last.nc, interrupted: true, checkpointed: true };
    // As at the end: a caller that goes on (the API, not the CLI's exit) keeps no tensors.
    tf.dispose([logoIn, target2, ...hv, ...rv, ...dv]);
    optG.dispose(); optD.dispose(); optR2.dispose();
    return result;
  }
  if (stage === 1) { stage = 2; await snapshot(); }
  if (elapsed < totalS && !stopped()) {
    o.onLog?.(`stage 2: marking and re-encoding the ${photos.train.length} training photo${photos.train.length === 1 ? '' : 's'} for the extractor's fine-tuning ` +
      '(a few seconds a photo; not counted in --minutes nor in the ETA)', { phase: 'stage2', photos: photos.train.length });
    const pool = await stage2Pool(photos.train, hp, L, seed + step, o.signal);
    // Making the pool (every photo marked by H and attacked) is preparation, not training: not
    // charged to --minutes (it had eaten most of a short run's stage 2).
    t0 = performance.now();
    const cut = stopped(); // a signal while the pool was made: no step on a partial pool
    const mk = cut ? undefined! : new TileSampler(pool.marked, TILE, seed + 31), cl = cut ? undefined! : new TileSampler(pool.clean, TILE, seed + 37);
    const targetR = target2;
    while (elapsed < totalS && !stopped()) {
      const xm = mk.aligned(B), xc = cl.aligned(B), xt = sampler.batch(B);
      const out = tf.tidy(() => {
        let parts: tf.Tensor[] = [];
        const x1 = tf.tensor4d(xt, [B, TILE, TILE, 3]);
        const res = forward(H, hp, { image: x1, logo: logoIn }).residual!;
        const cost = optR2.minimize(() => {
          const m = tf.tensor4d(xm, [B, TILE, TILE, 3]);
          const em = forward(R, rp, { image: tf.concat([m, tf.add(x1, res) as tf.Tensor4D], 0) as tf.Tensor4D }).logo!;
          const ec = forward(R, rp, { image: tf.concat([tf.tensor4d(xc, [B, TILE, TILE, 3]), x1], 0) as tf.Tensor4D }).logo!;
          const t2 = tf.concat([targetR, targetR], 0);
          const lLogo = tf.mean(tf.squaredDifference(em, t2));
          const lClean = tf.mean(tf.square(ec));
          const lCons = tf.mean(tf.square(tf.sub(em, tf.mean(em, 0, true))));
          parts = [logoRows(em), logoRows(ec)];
          return tf.addN([lLogo, lClean, tf.mul(0.5, lCons)]) as tf.Scalar;
        }, true, rv as tf.Variable[])!;
        return { cost, parts };
      });
      const ncs = ncRows((await out.parts[0]!.data()) as Float32Array, B, L), ncc = ncRows((await out.parts[1]!.data()) as Float32Array, B, L);
      const loss = (await out.cost.data())[0]!;
      tf.dispose([out.cost, ...out.parts]);
      if (!restored) { await restore(); restored = true; }
      last = { psnr: last.psnr, nc: last.nc + 0.05 * (mean(ncs) - last.nc), ncClean: last.ncClean + 0.05 * (mean(ncc) - last.ncClean), loss };
      step++;
      await tick();
      if (step % 10 === 0) report();
    }
  }
  await snapshot();
  report();
  const result = { h: weightsOf(hp), r: weightsOf(rp), steps: step, elapsedS: elapsed, psnr: last.psnr, nc: last.nc, checkpointed: true };
  tf.dispose([logoIn, target2, ...hv, ...rv, ...dv]);
  optG.dispose(); optD.dispose(); optR2.dispose();
  return result;
}

const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / Math.max(1, a.length);

/**
 * Stage-2 data: each training photo marked at full resolution as the runner marks it (H at the
 * work size, the residual upsampled bilinearly and added, rounded to 8 bits), then attacked with
 * sharp, and squeezed back to the work size; the same attacks on the clean photo give blanks.
 */
async function stage2Pool(files: string[], hp: Params, L: Float32Array, seed: number, signal?: AbortSignal): Promise<{ marked: Plane[]; clean: Plane[] }> {
  const rand = rng(seed);
  const H = buildH();
  const map = tf.tensor4d(logoMap(L, LOGO, TILE, WORK), [1, WORK, WORK, 1]);
  const marked: Plane[] = [], clean: Plane[] = [];
  const attacks: ((s: Sharp, w: number, h: number) => Sharp)[] = [
    (s) => s.png(),
    (s) => s.jpeg({ quality: 60 + Math.floor(rand() * 36) }),
    (s) => s.jpeg({ quality: 70 + Math.floor(rand() * 10) }),
    (s) => s.webp({ quality: 75 }),
    (s, w, h) => s.resize(Math.round(w * 0.5), Math.round(h * 0.5), { fit: 'fill' }).png(),
    (s, w, h) => s.resize(Math.round(w * (0.4 + 0.4 * rand())), Math.round(h * (0.4 + 0.4 * rand())), { fit: 'fill' }).jpeg({ quality: 75 }),
    (s) => s.blur(0.6 + rand()).png(),
  ];
  for (const file of files) {
    if (signal?.aborted) break; // stopping: stage 2's loop will not run on a partial pool
    const { data, info } = await sharp(file).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true })
      .catch((cause: Error) => { throw undecodable(file, cause); });
    const { width: w, height: h } = info;
    const [work] = await loadPlanes(file, [WORK]).catch((cause: Error) => { throw undecodable(file, cause); });
    const full = tf.tidy(() => {
      const res = forward(H, hp, { image: tf.tensor4d(work!.data, [1, WORK, WORK, 3]), logo: map }).residual!;
      const up = tf.image.resizeBilinear(res, [h, w], false, true);
      const img = tf.tensor4d(Float32Array.from(data), [1, h, w, 3]);
      return tf.clipByValue(tf.round(tf.add(img, tf.mul(up, 255))), 0, 255);
    });
    const markedBytes = Buffer.from(Uint8Array.from(await full.data()));
    full.dispose();
    for (const a of attacks) {
      for (const [bytes, into] of [[markedBytes, marked], [data, clean]] as const) {
        const enc = await a(sharp(bytes, { raw: { width: w, height: h, channels: 3 } }), w, h).toBuffer();
        const { data: d2 } = await sharp(enc).removeAlpha().resize(WORK, WORK, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
        into.push(planeOf(d2, WORK));
      }
    }
  }
  map.dispose();
  return { marked, clean };
}

export type { NetSpec };
