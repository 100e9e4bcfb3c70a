/**
 * The whole training job behind `npm run train:deep` and `modelmark train-deep`: train (or
 * resume), export the models, then calibrate the detection threshold on clean images. Node-only.
 */
import { trainDeep, defaultLogo, type PhaseEvent, type Progress } from './train.js';
import { writeModels } from './export.js';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Weights } from '../deep/spec.js';

export interface PipelineOptions {
  photos: string;
  /** The training photos themselves, when not every photo in `photos` (see TrainOptions.files). */
  files?: string[];
  /** Models folder to write. */
  out: string;
  /** Checkpoint folder (resumable). */
  work: string;
  minutes: number;
  seed?: number;
  logo?: Uint8Array;
  holdOut?: boolean;
  /** PSNR target of the marked tiles (dB); see TrainOptions.targetPsnr. */
  targetPsnr?: number;
  /** Start from these weights (fine-tuning) when `work` holds no checkpoint; see TrainOptions.initFrom. */
  initFrom?: { h: Weights; r: Weights };
  onProgress?: (p: Progress) => void;
  /** Lines for the user; `phase` says what a line announces (see PhaseEvent), for programs. */
  onLog?: (line: string, phase?: PhaseEvent) => void;
  signal?: AbortSignal;
}

export interface PipelineResult { summary: Record<string, unknown> }

/**
 * Trains, exports and calibrates.
 *
 * @example
 * await trainAndExport({ photos: 'photos', out: 'my-models', work: '.train/mine', minutes: 60 });
 */
export async function trainAndExport(o: PipelineOptions): Promise<PipelineResult> {
  const logo = o.logo ?? defaultLogo();
  const t = await trainDeep({ photos: o.photos, files: o.files, out: o.work, minutes: o.minutes, seed: o.seed, logo, holdOut: o.holdOut, targetPsnr: o.targetPsnr, initFrom: o.initFrom, onProgress: o.onProgress, onLog: o.onLog, signal: o.signal });
  // `checkpointed`: whether the checkpoint in `work` holds this state (false when stopped while
  // the photos were loading, before any step: see TrainResult.checkpointed).
  if (t.interrupted || o.signal?.aborted) return { summary: { interrupted: true, checkpointed: t.checkpointed, steps: t.steps, elapsedS: Math.round(t.elapsedS) } };
  const training = { minutes: o.minutes, targetPsnr: o.targetPsnr ?? 42.5, steps: t.steps, elapsedS: Math.round(t.elapsedS), seed: o.seed ?? 1, trainPsnr: Number(t.psnr.toFixed(2)), trainNc: Number(t.nc.toFixed(3)) };
  // Calibrate from a staging copy inside the checkpoint folder: the models folder itself only
  // ever receives calibrated models (an interrupted calibration must not leave a complete-looking
  // folder with the provisional threshold 0.5, whose clean images are mostly "found").
  const staging = join(o.work, 'uncalibrated');
  await writeModels(staging, t, logo, 0.5, { training });
  const nPhotos = o.files?.length;
  o.onLog?.(`calibrating the threshold on clean images${nPhotos ? ` (${nPhotos} photo${nPhotos === 1 ? '' : 's'}, a few seconds each, not counted in --minutes nor in the ETA)` : ''}`,
    { phase: 'calibrating', photos: nPhotos ?? null, done: 0 });
  // Loaded late so that a long training run picks up the calibration code present at its end.
  const { calibrate } = await import('./calibrate.js');
  const cal = await calibrate({ models: staging, photos: o.photos, files: o.files, holdOut: o.holdOut ?? true, onLog: o.onLog, signal: o.signal });
  // Stopped during calibration: training is over and its last checkpoint written, so a rerun
  // goes straight to calibration (the models folder is left as it was).
  if (cal.interrupted) return { summary: { interrupted: true, checkpointed: true, calibrating: true, steps: t.steps, elapsedS: Math.round(t.elapsedS) } };
  await writeModels(o.out, t, logo, cal.threshold, { training, calibration: cal.record }).catch((err: Error) => {
    // Training is over and checkpointed: a rerun goes straight to calibration and writing.
    err.message += `; the training is kept in ${JSON.stringify(o.work)}: rerun the same command to write the models`;
    throw err;
  });
  await rm(staging, { recursive: true, force: true });
  o.onLog?.(`models written to ${o.out}`);
  const marked = (cal.record as { marked?: { n?: number }; markedBelowThreshold?: number });
  return { summary: { ...training, threshold: cal.threshold, markedSamples: marked.marked?.n ?? null, markedBelowThreshold: marked.markedBelowThreshold ?? null } };
}
