// modelmark/canvas/worker, the page side: createWatermarkWorker() and the protocol's types and
// helpers. It imports the core through modelmark/lite and the canvas plug-in's image check
// (../image.js) only, never the kernels: a page that starts a worker does not download them
// (the worker does), with bundlers that honour package.json "sideEffects" (webpack, esbuild) as
// with those that find it out (Rollup, Vite). The worker side is ./serve.js.
import {
  checkImage, checkOptionNames, checkWatermarkerOptions, DecodeError, FileError, ImageSizeError, InvalidArgumentError, MIN_DETECT_SIDE, MIN_SIDE, ModelmarkError, parsePayload, WasmError,
  WATERMARKER_OPTION_NAMES, booleanOption, invalidParameter, piecesOption, type DetectResult, type ModelmarkErrorCode, type WatermarkerOptions,
} from 'modelmark/lite';
import { rgbaImage, type ImageDataLike } from '../image.js';
import type { EmbedOptions } from '../../shared/options.js';
import type { CanvasDetectOptions } from '../index.js';

/** Per-call options of the client. */
export interface TransferOptions {
  /**
   * Transfer the pixel buffer to the worker instead of copying it: the ImageData you pass is
   * left empty (detached). Default: true for embed (use the returned ImageData), false for detect.
   */
  transfer?: boolean | undefined;
  /** This call's {@link WatermarkWorkerOptions.timeoutMs} (default: the client's). */
  timeoutMs?: number | undefined;
}

/** Options of {@link createWatermarkWorker}. */
export interface WatermarkWorkerOptions {
  /**
   * How long a call may wait for the worker's answer before it rejects with
   * `ERR_WORKER_TIMEOUT` (ms, default 120000, as the Photopea plug-in's; `Infinity`: no limit).
   * A worker that hangs, or a script that never serves the protocol, would otherwise leave the
   * promise pending for ever. The default is generous: a first call also compiles the kernels,
   * and a large image on a slow phone takes seconds. The worker is not stopped (it may still be
   * working): its late answer is ignored, and later calls are answered once it is free.
   */
  timeoutMs?: number | undefined;
}

/** Longest finite timeout: setTimeout fires at once past 2^31 - 1 ms (about 24.8 days). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
const DEFAULT_TIMEOUT_MS = 120_000;

/** A timeout option: a positive number of milliseconds up to 2^31 - 1, or Infinity (none). */
function timeoutOption(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0) || (value > MAX_TIMEOUT_MS && value !== Infinity)) {
    throw invalidParameter(name, `a positive number of milliseconds (at most ${MAX_TIMEOUT_MS}) or Infinity`, value);
  }
  return value;
}

/** The page-side handle on a watermark worker. */
export interface WatermarkWorkerClient {
  /**
   * Mark a copy of `imageData` in the worker and resolve to a new ImageData in the same
   * `colorSpace` (a plain `{ width, height, data }` where ImageData does not exist). By default the pixels are
   * transferred to the worker (`imageData.data` is emptied); `{ transfer: false }` copies them.
   * @example
   * const marked = await client.embed(ctx.getImageData(0, 0, w, h), { key, payload: 'c0ffee' });
   * ctx.putImageData(marked, 0, 0);
   */
  embed<T extends ImageDataLike>(imageData: T, options: EmbedOptions, call?: TransferOptions): Promise<T>;
  /**
   * Detect in the worker; resolves to the core's DetectResult. The pixels are copied (not
   * transferred) unless `{ transfer: true }`.
   * @example
   * const { found, payload } = await client.detect(ctx.getImageData(0, 0, w, h), { key });
   */
  detect(imageData: ImageDataLike, options: CanvasDetectOptions, call?: TransferOptions): Promise<DetectResult>;
  /**
   * Stop the worker; pending calls reject with code ERR_WORKER_TERMINATED.
   * @example
   * window.addEventListener('pagehide', () => client.terminate());
   */
  terminate(): void;
}

/** The part of a Worker (page side) or a worker's global scope (worker side) used here. */
export interface WorkerPort {
  postMessage(message: unknown, transfer: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  removeEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
}

type Op = 'embed' | 'detect';
/** A request the worker answers (the page side sends it). */
export interface WatermarkWorkerRequest { __modelmark: 1; id: number; op: Op; width: number; height: number; data: Uint8ClampedArray | Uint8Array; options: WatermarkerOptions }
/** An error as it crosses the worker boundary. */
export interface SerializedError { name: string; code?: string; message: string }
/** The worker's answer to a {@link WatermarkWorkerRequest}. */
export type WatermarkWorkerResponse =
  | { __modelmark: 1; id: number; ok: true; data?: Uint8ClampedArray | Uint8Array; result?: DetectResult }
  | { __modelmark: 1; id: number; ok: false; error: SerializedError };

/** A buffer safe to transfer: the view must own its whole (non-shared) buffer, else copy it. */
export function transferable<D extends Uint8ClampedArray | Uint8Array>(data: D, transfer: boolean): { data: D; list: Transferable[] } {
  if (!transfer) return { data, list: [] };
  const owns = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer;
  const d = owns ? data : (data.slice() as D);
  return { data: d, list: [d.buffer as ArrayBuffer] };
}

export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) return { name: e.name, code: (e as { code?: unknown }).code as string | undefined, message: e.message };
  return { name: 'Error', message: String(e) };
}

/** Rebuild an error from the worker as the same class and code the core would have thrown. */
function reviveError(s: SerializedError): Error {
  switch (s.code) {
    case 'ERR_INVALID_ARGUMENT': return new InvalidArgumentError(s.message);
    case 'ERR_IMAGE_TOO_SMALL': case 'ERR_IMAGE_TOO_LARGE': case 'ERR_IMAGE_ASPECT': return new ImageSizeError(s.code, s.message);
    case 'ERR_DECODE': return new DecodeError(s.message);
    case 'ERR_FILE': return new FileError(s.message);
    case 'ERR_WASM': return new WasmError(s.message);
    case undefined: { const e = new Error(s.message); e.name = s.name; return e; }
    default: { const e = new ModelmarkError(s.code as ModelmarkErrorCode, s.message); e.name = s.name; return e; }
  }
}

/**
 * The next request id, shared by every client of this module: clients handed the same worker
 * (or port) each see every answer on it, and take those with their own ids only. It starts at
 * a random number so that clients of another copy of this module (two bundles on one page)
 * sharing that worker do not count from the same place.
 */
let nextRequestId = 1 + Math.floor(Math.random() * 2 ** 40);

/**
 * The clients of each worker, by what they were handed: terminate() on one ends the worker for
 * all of them, whose pending calls would otherwise wait for ever.
 */
const clientsOf = new WeakMap<object, Set<(e: ModelmarkError) => void>>();

export function isPort(x: unknown): x is WorkerPort {
  return typeof x === 'object' && x !== null && typeof (x as WorkerPort).postMessage === 'function' && typeof (x as WorkerPort).addEventListener === 'function';
}

/**
 * Start (or wrap) a watermark worker and get a promise-based client. Pass a Worker you built
 * (recommended with bundlers, see the module comment), a URL of a worker script, or nothing to
 * start the package's own entry (`./entry.js` beside this module, as an ES module worker).
 * Errors thrown in the worker reject with the same class and `.code` (e.g. ERR_INVALID_ARGUMENT);
 * a call the worker does not answer within `options.timeoutMs` (default 120 s) rejects with
 * ERR_WORKER_TIMEOUT.
 * @example
 * import { createWatermarkWorker } from 'modelmark/canvas/worker';
 * const client = createWatermarkWorker(new Worker(new URL('./watermark.worker.js', import.meta.url), { type: 'module' }));
 * const marked = await client.embed(ctx.getImageData(0, 0, w, h), { key: 'my secret', payload: 'c0ffee0000000001' });
 * ctx.putImageData(marked, 0, 0);
 * const { found, payload } = await client.detect(marked, { key: 'my secret' });
 */
export function createWatermarkWorker(workerOrUrl?: Worker | WorkerPort | string | URL, options: WatermarkWorkerOptions = {}): WatermarkWorkerClient {
  if (typeof options !== 'object' || options === null) throw invalidParameter('options', 'an object { timeoutMs? }', options);
  checkOptionNames('options', options, ['timeoutMs']);
  const clientTimeout = timeoutOption('options.timeoutMs', options.timeoutMs, DEFAULT_TIMEOUT_MS);
  let worker: WorkerPort & { terminate?: () => void };
  /**
   * The package's own script was started: said when it fails to load. (Not its URL: a second
   * new URL('./entry.js', import.meta.url) would make webpack and Vite emit the file once more,
   * as a plain asset.)
   */
  let ownEntry = false;
  if (workerOrUrl === undefined) {
    worker = new Worker(new URL('./entry.js', import.meta.url), { type: 'module' });
    ownEntry = true;
  } else if (typeof workerOrUrl === 'string' || workerOrUrl instanceof URL) {
    worker = new Worker(workerOrUrl, { type: 'module' });
  } else if (isPort(workerOrUrl)) {
    worker = workerOrUrl;
  } else {
    throw invalidParameter('workerOrUrl', 'a Worker, a worker script URL or nothing', workerOrUrl);
  }

  let closed: ModelmarkError | undefined;
  const pending = new Map<number, { resolve: (r: WatermarkWorkerResponse & { ok: true }) => void; reject: (e: Error) => void; timer?: ReturnType<typeof setTimeout> }>();
  const failAll = (e: ModelmarkError) => { for (const p of pending.values()) { clearTimeout(p.timer); p.reject(e); } pending.clear(); };
  /** This client closed: later calls reject with `e`, pending ones now. */
  const close = (e: ModelmarkError) => { closed = e; failAll(e); };
  let siblings = clientsOf.get(worker);
  if (!siblings) clientsOf.set(worker, (siblings = new Set()));

  const onMessage = (event: MessageEvent) => {
    const r = event.data as WatermarkWorkerResponse;
    if (!r || r.__modelmark !== 1) return;
    const p = pending.get(r.id);
    if (!p) return; // another client's, or an answer that came after its call timed out
    pending.delete(r.id);
    clearTimeout(p.timer);
    if (r.ok) p.resolve(r); else p.reject(reviveError(r.error));
  };
  const onError = (e: Event) => {
    // A script that did not load (a 404) gives an ErrorEvent with no message at all. The
    // package's own script is missing where a bundler left the new URL('./entry.js',
    // import.meta.url) above as it is without emitting the file (esbuild, Rollup without a
    // plug-in): say what to do instead.
    const msg = (e as ErrorEvent).message || (!ownEntry
      ? 'the worker script failed to load or threw'
      : "the package's worker script (entry.js, beside the script that holds createWatermarkWorker) failed to load or threw; a bundler that does not bundle workers " +
        '(esbuild, Rollup) leaves it out: write a worker module that calls serveWatermarkWorker(), build it as an entry of its own, ' +
        "and pass createWatermarkWorker(new Worker(its URL, { type: 'module' })) (README: Bundlers)");
    e.preventDefault?.();
    // The worker is not to be trusted to answer again (a script that failed to load never
    // will): later calls reject at once instead of waiting forever.
    closed = new ModelmarkError('ERR_WORKER', `modelmark worker error: ${msg}; create a new client`);
    failAll(closed);
  };
  const onMessageError = () => failAll(new ModelmarkError('ERR_WORKER', 'modelmark worker: a message could not be deserialised'));
  worker.addEventListener('message', onMessage);
  type Listen = (t: string, f: (e: Event) => void) => void;
  const w = worker as unknown as { addEventListener?: Listen; removeEventListener?: Listen };
  w.addEventListener?.('error', onError);
  w.addEventListener?.('messageerror', onMessageError);
  /**
   * Ended (terminate() on this client or on another handed the same worker): every listener
   * this client added comes off, so that a long-lived port or worker handed to many clients in
   * turn does not keep each one's listeners (and what they hold) for ever.
   */
  const end = (e: ModelmarkError) => {
    worker.removeEventListener('message', onMessage);
    w.removeEventListener?.('error', onError);
    w.removeEventListener?.('messageerror', onMessageError);
    close(e);
  };
  siblings.add(end);

  /** The third argument of embed and detect: { transfer?, timeoutMs? } (checked: a misspelt name would transfer or not by default). */
  function callOptions(c: unknown, byDefault: boolean): { transfer: boolean; timeoutMs: number } {
    if (typeof c !== 'object' || c === null) throw invalidParameter('callOptions', 'an object { transfer?, timeoutMs? }', c);
    checkOptionNames('callOptions', c, ['transfer', 'timeoutMs']);
    return {
      transfer: booleanOption('callOptions.transfer', (c as TransferOptions).transfer, byDefault),
      timeoutMs: timeoutOption('callOptions.timeoutMs', (c as TransferOptions).timeoutMs, clientTimeout),
    };
  }

  function call(op: Op, imageData: ImageDataLike, options: WatermarkerOptions, c: unknown, byDefault: boolean): Promise<WatermarkWorkerResponse & { ok: true }> {
    let transfer: boolean, timeoutMs: number;
    try {
      ({ transfer, timeoutMs } = callOptions(c, byDefault));
    } catch (e) {
      return Promise.reject(e);
    }
    if (closed) return Promise.reject(closed);
    let image;
    try {
      image = rgbaImage(imageData);
      if (typeof options !== 'object' || options === null) throw invalidParameter('options', 'an object with a key', options);
      // What the worker would refuse, refused here: before the pixels are transferred (and the
      // caller's ImageData emptied) for nothing.
      checkOptionNames('options', options, [...WATERMARKER_OPTION_NAMES, ...(op === 'embed' ? ['payload'] : ['pieces'])]);
      checkWatermarkerOptions(options); // the key, strength, threshold and limits
      if (op === 'detect') piecesOption('options.pieces', (options as CanvasDetectOptions).pieces);
      if (op === 'embed') parsePayload((options as EmbedOptions).payload, 'options.payload');
      // The core's own size check (and message), with no pixel or aspect limit: the worker's
      // watermarker applies those.
      checkImage(image, 'image', Number.MAX_SAFE_INTEGER, op === 'embed' ? MIN_SIDE : MIN_DETECT_SIDE, Number.POSITIVE_INFINITY);
    } catch (e) {
      return Promise.reject(e);
    }
    const { data, list } = transferable(image.data, transfer);
    const id = nextRequestId++;
    const req: WatermarkWorkerRequest = { __modelmark: 1, id, op, width: image.width, height: image.height, data, options };
    return new Promise((resolve, reject) => {
      const entry: { resolve: typeof resolve; reject: typeof reject; timer?: ReturnType<typeof setTimeout> } = { resolve, reject };
      if (timeoutMs !== Infinity) {
        entry.timer = setTimeout(() => {
          // The id is forgotten: a late answer finds no call and is dropped (ids are never reused).
          if (pending.get(id) !== entry) return;
          pending.delete(id);
          reject(new ModelmarkError('ERR_WORKER_TIMEOUT', `modelmark worker did not answer the ${op} call within ${timeoutMs} ms ` +
            '(callOptions.timeoutMs or createWatermarkWorker(worker, { timeoutMs })); the worker was not stopped: terminate() it if it hangs'));
        }, timeoutMs);
      }
      pending.set(id, entry);
      try {
        worker.postMessage(req, list);
      } catch (e) {
        clearTimeout(entry.timer);
        pending.delete(id);
        reject(e instanceof DOMException && e.name === 'DataCloneError'
          ? invalidParameter('options', 'structured-cloneable options (strings, bigints, bytes, a WebAssembly.Module)', options)
          : e);
      }
    });
  }

  return {
    async embed<T extends ImageDataLike>(imageData: T, options: EmbedOptions, c: TransferOptions = {}): Promise<T> {
      const r = await call('embed', imageData, options, c, true);
      const data = r.data!;
      const IData = (globalThis as { ImageData?: typeof ImageData }).ImageData;
      if (IData && imageData instanceof IData && data instanceof Uint8ClampedArray) {
        // In the input's colour space: an 'srgb' copy of a 'display-p3' ImageData would be
        // converted (its colours shifted) by putImageData on the P3 canvas it came from.
        const { colorSpace } = imageData as { colorSpace?: PredefinedColorSpace };
        return new IData(data as Uint8ClampedArray<ArrayBuffer>, imageData.width, imageData.height, colorSpace ? { colorSpace } : undefined) as unknown as T;
      }
      return { width: imageData.width, height: imageData.height, data } as unknown as T;
    },
    async detect(imageData: ImageDataLike, options: CanvasDetectOptions, c: TransferOptions = {}): Promise<DetectResult> {
      return (await call('detect', imageData, options, c, false)).result!;
    },
    terminate() {
      const e = new ModelmarkError('ERR_WORKER_TERMINATED', 'modelmark worker was terminated');
      siblings.delete(end);
      end(e);
      if (typeof worker.terminate === 'function') {
        // The worker ends for every client handed it (a port's other clients keep theirs).
        for (const other of siblings) other(e);
        siblings.clear();
        worker.terminate();
      }
    },
  };
}
