// `modelmark/deep`: the deep watermark. An embedder network H hides a logo in an image and an
// extractor R recovers it; both run with onnxruntime-web (WebAssembly in Node and workers,
// WebGPU in browsers that have it). H and R work at a fixed size (meta.workSize): the image is
// resized to it, and H's residual is upsampled and added at full resolution, so any image size
// works. Pre- and post-processing run in the WebAssembly SIMD kernels (assembly/deep.ts).
// Core code: no Node built-ins (the Node loader of the model files is src/node/deep.ts).
import '../inline.js';
import * as ort from 'onnxruntime-web';
import { checkOptionNames, invalidParameter, numberIn } from '../args.js';
import { ImageSizeError, InvalidArgumentError, ModelError, ModelmarkError } from '../errors.js';
import { bytesOf, checkImage, copyLike, DEFAULT_MAX_PIXELS, genuineBytes, genuineSamples, greyToRgb, MIN_SIDE, samplesLike, type Image, type PixelData } from '../image.js';
import { Arena, init, type KernelExports, type WasmBytes, type WasmModule } from '../wasm.js';
import { logoMap } from './spec.js';
import { checkDeepMeta, DEFAULT_NODE_THREADS, MODELS_HINT } from './meta.js';

// Without onnxruntime-web, in ./meta.js (src/node/ imports them from there, so that `modelmark/node`
// loads onnxruntime-web only when a deep watermarker is made).
export { checkDeepMeta, DEFAULT_NODE_THREADS } from './meta.js';
export type { CheckedDeepMeta } from './meta.js';

/** The `deep.json` that comes with `h.onnx` and `r.onnx`. Other fields are ignored. */
export interface DeepMeta {
  /** Version of this format: 1. */
  format: 1;
  /** Side of the square working size H and R run at (a multiple of `tile`). */
  workSize: number;
  /** Side of R's tiles (a multiple of 4). */
  tile: number;
  /** Side of the logo: tile / 2 (R's output per tile). */
  logoSize: number;
  /** `found` needs an NC at least this high (chosen from measured distributions). */
  threshold: number;
  /** The logo the models were trained on: base64 of logoSize × logoSize grey bytes, row-major. */
  logo: string;
  [field: string]: unknown;
}

/** The two networks (ONNX bytes) and their meta. */
export interface DeepModels {
  /** The embedder H (`h.onnx`). */
  h: Uint8Array | ArrayBuffer;
  /** The extractor R (`r.onnx`). */
  r: Uint8Array | ArrayBuffer;
  /** The parsed `deep.json`. */
  meta: DeepMeta;
}

/** Options of {@link createDeepWatermarker}. */
export interface DeepWatermarkerOptions {
  /** The models: `loadDeepModels()` from `modelmark/node` reads the package's own. */
  models: DeepModels;
  /**
   * The logo, when given: it must be the one the models were trained on (converted to grey
   * logoSize², within 2 levels of theirs), since the extractor R recovers only that one: the
   * models folder's `logo.png` (in Node, `modelmark/node`'s createDeepWatermarker also takes the
   * file train-deep was given, reduced the same way). A different logo is refused;
   * `modelmark train-deep --logo` makes models for another.
   */
  logo?: Image | undefined;
  /** Largest image accepted, in pixels (default 100 megapixels), as the classical watermarker's. */
  maxPixels?: number | undefined;
  /** `found` needs an NC at least this high (default: the models' meta.threshold). -1 to 1. */
  threshold?: number | undefined;
  /** A pre-compiled kernels module or its bytes, for runtimes that cannot compile (see init). */
  module?: WasmModule | WasmBytes | undefined;
  /**
   * onnxruntime-web execution providers, in order of preference. Default: ['wasm'] in Node;
   * ['webgpu', 'wasm'] in browsers that have WebGPU (`navigator.gpu`), else ['wasm'].
   */
  executionProviders?: string[] | undefined;
  /**
   * Threads of onnxruntime-web's WebAssembly backend (ort.env.wasm.numThreads, 1 to 64).
   * Default: {@link DEFAULT_NODE_THREADS} in Node, onnxruntime's own choice elsewhere. The
   * setting is process-wide and takes effect only before onnxruntime's first session.
   */
  numThreads?: number | undefined;
}

/** Result of {@link DeepWatermarker.extract}. */
export interface DeepExtractResult {
  /** The extracted logo: grey, logoSize × logoSize (mid-grey on clean images). */
  logo: Image & { channels: 1 };
  /** Pearson correlation (normalised correlation) of the extraction with the logo, -1 to 1. */
  nc: number;
  /** nc >= threshold. */
  found: boolean;
  /** The threshold used. */
  threshold: number;
}

/** A deep watermarker: the loaded networks and logo. */
export interface DeepWatermarker {
  /**
   * Return a copy of `image` (grey, RGB or RGBA, any size from 128 × 128 to 65,535 pixels a
   * side) carrying the logo. Size and alpha are unchanged, and so are the channels of a colour
   * image; a grey image comes back as RGB (3 channels), since the mark lives in colour: added
   * to grey alone it could not be extracted. `image` itself is not modified; its pixels are read
   * before and after the network runs, so leave `image.data` unchanged until the promise settles.
   * The copy's samples have the input's array type; it is an `ImageData` when the input is one
   * (browsers and workers), a plain object otherwise.
   * @example
   * const marked = await deep.embed(ctx.getImageData(0, 0, w, h));
   * ctx.putImageData(marked, 0, 0);
   */
  embed<T extends Image>(image: T): Promise<T & { channels: 1 | 3 | 4 }>;
  /**
   * Extract the logo from `image` and compare it with the watermarker's logo.
   * @example
   * const { found, nc, logo } = await deep.extract(image);
   * if (found) console.log(`deep mark found, NC ${nc.toFixed(3)}`);
   */
  extract(image: Image): Promise<DeepExtractResult>;
  /**
   * Release the networks' sessions (onnxruntime-web memory) now. The watermarker cannot be
   * used afterwards. One dropped without dispose() has its sessions released once the garbage
   * collector takes it (and every method of it the caller kept); call dispose() to free them at
   * a known time.
   * @example
   * await deep.dispose();
   */
  dispose(): Promise<void>;
  /** The models' meta (work size, tile, logo size, their threshold). */
  readonly meta: Readonly<DeepMeta>;
  /** The execution providers the sessions were created with. */
  readonly executionProviders: readonly string[];
}

/** The deep mark's longest side (JPEG's own limit): its buffers grow with it. */
const MAX_DEEP_SIDE = 65535;
/** Bytes of pixel rows streamed through wasm memory at a time (embed's add, the networks' input). */
const STREAM_BYTES = 1 << 20;

/** Bytes of an ONNX model argument. */
function modelBytes(value: unknown, name: string): Uint8Array {
  // Genuine arrays only (as for pixels): a Proxy passes instanceof but has no bytes to hand to
  // onnxruntime (it failed with a TypeError), and a subclass's length may lie.
  const bytes = genuineBytes(value);
  if (bytes) return bytes;
  if (value instanceof ArrayBuffer) {
    try {
      AB_BYTE_LENGTH.call(value); // throws for a Proxy of an ArrayBuffer
      return new Uint8Array(value);
    } catch {
      // not an ArrayBuffer after all: refused below
    }
  }
  throw invalidParameter(name, 'the ONNX model as a Uint8Array or ArrayBuffer', value);
}
const AB_BYTE_LENGTH = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'byteLength')!.get!;

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

/** Default execution providers for this runtime. */
function defaultProviders(): string[] {
  if (isNode) return ['wasm'];
  const nav = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
  return nav?.gpu ? ['webgpu', 'wasm'] : ['wasm'];
}

/** A logo image to logoSize² grey floats in [0, 1] (area/bilinear resize, then luma, quantised to bytes). */
function logoFromImage(k: KernelExports, image: unknown, size: number): Float32Array {
  if (typeof image !== 'object' || image === null) throw invalidParameter('options.logo', 'an image { width, height, data, channels? }', image);
  const { width: w, height: h, data: given, channels } = image as Partial<Image>;
  if (!Number.isInteger(w) || (w as number) <= 0) throw invalidParameter('options.logo.width', 'a positive integer', w);
  if (!Number.isInteger(h) || (h as number) <= 0) throw invalidParameter('options.logo.height', 'a positive integer', h);
  // Genuine arrays only, as for images: a Proxy passes instanceof and has no bytes to copy.
  const data = genuineSamples(given, false);
  if (data === undefined) throw invalidParameter('options.logo.data', 'a Uint8Array or Uint8ClampedArray of 8-bit pixels', given);
  const n = (w as number) * (h as number);
  if (n > 16_777_216) throw invalidParameter('options.logo', 'an image of at most 16 megapixels', `${w}x${h}`);
  const ch = channels ?? data.length / n;
  if (ch !== 1 && ch !== 3 && ch !== 4) throw invalidParameter('options.logo.channels', '1, 3 or 4', channels);
  if (data.length !== n * ch) throw invalidParameter('options.logo.data', `${n * ch} bytes (${w} x ${h} x ${ch} channels)`, data);
  const a = new Arena(k);
  try {
    const pix = a.put(data);
    const planes = a.f32(3 * size * size);
    const tmp = a.f32(3 * size * (w as number) + 8 * size + 16);
    k.deepInput(pix, w as number, h as number, ch, planes, size, size, tmp);
    const p = a.f32view(planes, 3 * size * size), m = size * size;
    const out = new Float32Array(m);
    for (let i = 0; i < m; i++) out[i] = Math.round(255 * (0.299 * p[i]! + 0.587 * p[m + i]! + 0.114 * p[2 * m + i]!)) / 255;
    return out;
  } finally {
    a.release();
  }
}

/** The runtime file onnxruntime-web's default (bundled) build fetches: WebAssembly and WebGPU. */
const ORT_WASM = 'ort-wasm-simd-threaded.jsep.wasm';

/** Open one network and check its inputs and outputs against the contract. */
async function openSession(bytes: Uint8Array, which: 'h' | 'r', inputs: [string, number][], output: string, providers: string[], side: number, sizes: string): Promise<ort.InferenceSession> {
  const label = which === 'h' ? 'models.h (the embedder H, h.onnx)' : 'models.r (the extractor R, r.onnx)';
  if (bytes.length === 0) throw new ModelError(`${label} is empty. ${MODELS_HINT}`);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: providers, graphOptimizationLevel: 'all' });
  } catch (cause) {
    const message = String((cause as Error)?.message ?? cause);
    // A provider this runtime lacks (WebGPU in Node, or in a browser without it) is not the models' fault.
    // onnxruntime-web fetches its WebAssembly runtime from beside its own script (or from
    // ort.env.wasm.wasmPaths): a bundler that does not emit the file (esbuild, Rollup) leaves a
    // 404 there, which onnxruntime reports as 'no available backend' too.
    const hint = /fetching of the wasm failed|failed to fetch|wasm streaming compile failed|magic word/i.test(message)
      ? `onnxruntime-web could not fetch its WebAssembly runtime (${ORT_WASM}), which it looks for beside the script that holds it ` +
        `(or at ort.env.wasm.wasmPaths): a bundler that does not emit it (esbuild, Rollup) needs it copied there from onnxruntime-web/dist/ (README: Bundlers).`
      : /backend not found|no available backend|webgpu/i.test(message)
      ? `The execution provider(s) ${providers.join(', ')} are not available here: in Node use 'wasm' (the default); in browsers 'webgpu' needs WebGPU, 'wasm' runs everywhere.`
      : MODELS_HINT;
    throw new ModelError(`Could not load ${label} with onnxruntime-web (${providers.join(', ')}): ${message}. ${hint}`, { cause });
  }
  const fail = (what: string): never => {
    void session.release().catch(() => {});
    throw new ModelError(`${label} ${what}. ${MODELS_HINT}`);
  };
  const expected = inputs.map(([n, c]) => `${n} [N,${c},H,W]`).join(' and ');
  for (const [name, channels] of inputs) {
    if (!session.inputNames.includes(name)) fail(`has inputs ${JSON.stringify(session.inputNames)}, expected ${expected}`);
    const meta = (session.inputMetadata as unknown as { name: string; shape?: unknown[] }[] | undefined)?.find?.((m) => m.name === name);
    const shape = meta?.shape;
    if (Array.isArray(shape) && (shape.length !== 4 || (typeof shape[1] === 'number' && shape[1] !== channels))) {
      fail(`input ${name} has shape [${shape.join(',')}], expected [N,${channels},H,W]`);
    }
    // A fixed height or width must be the one it is given (the meta's ${sizes}).
    if (Array.isArray(shape) && [shape[2], shape[3]].some((d) => typeof d === 'number' && d !== side)) {
      fail(`input ${name} has shape [${shape.join(',')}], but is given ${side}x${side} (${sizes} in deep.json)`);
    }
  }
  if (session.inputNames.length !== inputs.length) fail(`has inputs ${JSON.stringify(session.inputNames)}, expected ${expected}`);
  if (!session.outputNames.includes(output)) fail(`has outputs ${JSON.stringify(session.outputNames)}, expected ${output}`);
  return session;
}

/** What a deep watermarker holds in onnxruntime-web, released when it is dropped undisposed. */
interface Held { h: ort.InferenceSession; r: ort.InferenceSession; logo: ort.Tensor }

/**
 * Sessions of deep watermarkers that were dropped without dispose(): released once the
 * watermarker is collected. onnxruntime-web keeps each session's graph and buffers in its own
 * WebAssembly memory until release(), which the garbage collector never calls: a server that
 * made a watermarker per request and let it go grew by the sessions' size every time (measured:
 * +0.6 MB of RSS per create/embed/drop cycle with the shipped models, linear over 100 cycles).
 * dispose() stays the way to free them at a known time.
 */
const undisposed = typeof FinalizationRegistry === 'function'
  ? new FinalizationRegistry<Held>((held) => {
    held.logo.dispose();
    void Promise.all([held.h.release(), held.r.release()]).catch(() => {});
  })
  : undefined;

/**
 * Create a deep watermarker from the ONNX networks H and R and their meta: `embed` hides the
 * logo in any image, `extract` recovers it and reports the normalised correlation (NC) with the
 * logo. Loads the WebAssembly kernels and onnxruntime-web sessions. In Node,
 * `createDeepWatermarker()` from `modelmark/node` loads the package's own models.
 * @example
 * import { createDeepWatermarker } from 'modelmark/deep';
 * const models = { h: hBytes, r: rBytes, meta: JSON.parse(deepJsonText) };
 * const deep = await createDeepWatermarker({ models });
 * const marked = await deep.embed(imageData);
 * const { found, nc, logo } = await deep.extract(marked); // found: true, nc ~ 0.99
 * await deep.dispose();
 */
export async function createDeepWatermarker(options: DeepWatermarkerOptions): Promise<DeepWatermarker> {
  if (typeof options !== 'object' || options === null) throw invalidParameter('options', 'an object { models, logo?, threshold?, ... }', options);
  const models = options.models;
  if (typeof models !== 'object' || models === null) throw invalidParameter('options.models', 'an object { h, r, meta } (loadDeepModels() from modelmark/node reads them)', models);
  const hBytes = modelBytes(models.h, 'options.models.h');
  const rBytes = modelBytes(models.r, 'options.models.r');
  const meta = checkDeepMeta(models.meta);
  checkOptionNames('options', options, ['models', 'logo', 'threshold', 'maxPixels', 'module', 'executionProviders', 'numThreads']);
  const threshold = numberIn('options.threshold', options.threshold, -1, 1, meta.threshold);
  const maxPixels = numberIn('options.maxPixels', options.maxPixels, 1, Number.MAX_SAFE_INTEGER, DEFAULT_MAX_PIXELS);
  let providers = defaultProviders();
  if (options.executionProviders !== undefined) {
    const ep = options.executionProviders;
    if (!Array.isArray(ep) || ep.length === 0 || !ep.every((e) => typeof e === 'string' && e.length > 0)) {
      throw invalidParameter('options.executionProviders', "a non-empty array of provider names, e.g. ['webgpu', 'wasm']", ep);
    }
    providers = [...ep];
  }
  if (options.numThreads !== undefined) {
    const t = options.numThreads;
    if (!Number.isInteger(t) || t < 1 || t > 64) throw invalidParameter('options.numThreads', 'an integer from 1 to 64', t);
    ort.env.wasm.numThreads = t;
  } else if (isNode && ort.env.wasm.numThreads === undefined) {
    ort.env.wasm.numThreads = DEFAULT_NODE_THREADS;
  }
  const k = await init(options.module);
  let logo = meta.logo;
  if (options.logo !== undefined) {
    const given = logoFromImage(k, options.logo, meta.logoSize);
    let diff = 0;
    for (let i = 0; i < given.length; i++) diff = Math.max(diff, Math.abs(given[i]! - meta.logo[i]!));
    if (diff > 2 / 255) {
      throw new InvalidArgumentError(`options.logo differs from the ${meta.logoSize}x${meta.logoSize} logo these models were trained on (by up to ${Math.round(diff * 255)} grey levels, 2 allowed), ` +
        'and their extractor recovers only that one: leave logo out, or pass the logo.png of the models folder (in Node, the file train-deep was given also works); ' +
        'for another logo, make models with modelmark train-deep --logo');
    }
    logo = given;
  }
  const W = meta.workSize, tile = meta.tile, ls = meta.logoSize;
  const T = (W / tile) ** 2;

  const h = await openSession(hBytes, 'h', [['image', 3], ['logo', 1]], 'residual', providers, W, `workSize ${W}`);
  let r: ort.InferenceSession;
  try {
    r = await openSession(rBytes, 'r', [['image', 3]], 'logo', providers, tile, `tile ${tile}`);
  } catch (err) {
    await h.release().catch(() => {});
    throw err;
  }
  const logoTensor = new ort.Tensor('float32', logoMap(logo, ls, tile, W), [1, 1, W, W]);
  // Read by every method (live(), dispose()): reachable, so never collected, while any of them
  // is, even when the caller kept only `embed` and let the watermarker object go.
  const state = { disposed: false };
  undisposed?.register(state, { h, r, logo: logoTensor }, state);
  // One run at a time per session (onnxruntime-web sessions do not run concurrently).
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <R>(job: () => Promise<R>): Promise<R> => {
    const next = queue.then(job, job);
    queue = next.catch(() => {});
    return next;
  };

  const live = (): void => {
    if (state.disposed) throw new ModelmarkError('ERR_DISPOSED', 'This deep watermarker was disposed: create a new one with createDeepWatermarker().');
  };

  /** The image resized to W × W, planar RGB in [0, 1]; and, with `tiles`, cut into tiles. */
  function prepare(img: ReturnType<typeof checkImage>, tiles: boolean): Float32Array {
    // Kernel memory is never held across an await: other operations may run in between.
    const a = new Arena();
    const k = a.k;
    try {
      const { width: w, height: h, channels: ch } = img;
      const planes = a.f32(3 * W * W);
      const tmp = a.f32(3 * W * w + 8 * W + 16);
      if (h < W) {
        // Enlarged vertically (a small image): the whole image at once.
        k.deepInput(a.put(img.data), w, h, ch, planes, W, W, tmp);
      } else {
        // Streamed from the caller's array through a buffer of about 1 MB of rows (the same
        // floats as deepInput).
        a.streamRows(bytesOf(img.data), w * ch, h, STREAM_BYTES, (buf, y0, y1) => k.deepInputRows(buf, y0, y1, w, h, ch, W, tmp));
        k.deepInputFinish(w, ch, planes, W, W, tmp);
      }
      if (!tiles) return a.f32view(planes, 3 * W * W).slice();
      const t = a.f32(3 * W * W);
      k.deepTiles(planes, W, W, 3, tile, t);
      return a.f32view(t, 3 * W * W).slice();
    } finally {
      a.release();
    }
  }

  /** Run a session and return its output, checked against the expected dims. */
  async function run(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, output: string, dims: number[], label: string): Promise<Float32Array> {
    let results: ort.InferenceSession.OnnxValueMapType;
    try {
      results = await serial(() => session.run(feeds));
    } catch (cause) {
      // The model's own failure (a graph that does not take these sizes, or runs out of memory at
      // a very large workSize): not the caller's image.
      const message = String((cause as Error)?.message ?? cause).split('\n')[0];
      throw new ModelError(`${label} failed to run on its input (meta workSize ${W}, tile ${tile}, logoSize ${ls}): ${message}. ${MODELS_HINT}`, { cause });
    }
    const out = results[output]!;
    try {
      if (out.type !== 'float32' || out.dims.length !== dims.length || out.dims.some((d, i) => d !== dims[i])) {
        throw new ModelError(`${label} returned ${output} ${out.type} [${out.dims.join(',')}], expected float32 [${dims.join(',')}] for the meta's sizes (workSize ${W}, tile ${tile}, logoSize ${ls}). ${MODELS_HINT}`);
      }
      return (await out.getData()) as Float32Array;
    } finally {
      for (const t of Object.values(results)) if (t !== out) t.dispose();
    }
  }

  /** checkImage with this watermarker's pixel limit and the deep mark's largest side. */
  function checked(image: unknown, reading: boolean) {
    // No aspect limit: the networks see the image resized to W x W, whatever its shape.
    const img = checkImage(image, 'image', maxPixels, MIN_SIDE, Infinity, reading);
    if (Math.max(img.width, img.height) > MAX_DEEP_SIDE) {
      throw new ImageSizeError('ERR_IMAGE_TOO_LARGE', `image is ${img.width}x${img.height}; the deep mark takes at most ${MAX_DEEP_SIDE} pixels a side (its resampling buffers grow with the long side)`);
    }
    return img;
  }

  async function embed<T extends Image>(image: T): Promise<T & { channels: 1 | 3 | 4 }> {
    live();
    let img = checked(image, false);
    // The checked array (never image.data read again): its type is the copy's.
    const like = img.data;
    if (img.channels === 1) {
      // Grey to RGB: the mark is a colour pattern (the residual's three planes differ), which
      // grey pixels cannot hold; the copy is RGB.
      img = { ...img, ...greyToRgb(img) };
    }
    const input = new ort.Tensor('float32', prepare(img, false), [1, 3, W, W]);
    const residual = await run(h, { image: input, logo: logoTensor }, 'residual', [1, 3, W, W], 'The embedder H (h.onnx)');
    const { width: w, height: hh, channels: ch } = img;
    const n = w * hh * ch;
    // Read again below: an array detached (transferred) or shrunk (a resizable buffer) while H ran
    // is refused, rather than failing with a TypeError or marking zeros.
    if (genuineSamples(img.data, false)?.length !== n) {
      throw invalidParameter('image.data', `${n} bytes (${w} x ${hh} x ${ch} channels) until embed settles; it was detached or resized while the network ran`, img.data);
    }
    // The input's array type, also for a grey input made RGB.
    const data: PixelData = samplesLike(like, n);
    const a = new Arena();
    const k = a.k;
    try {
      // The residual upsampled along x once, then the image's rows streamed through a buffer of
      // about 1 MB: marked there and written to the new array (never the whole image in wasm memory).
      const res = a.put(residual);
      const tmp = a.f32(3 * W * W + 3 * W * w + 6 * w + 2 * hh + 32);
      k.addResidualPrepare(w, hh, res, W, W, tmp);
      a.streamRows(bytesOf(img.data), w * ch, hh, STREAM_BYTES, (buf, y0, y1) => k.addResidualRows(buf, y0, y1, w, hh, ch, W, W, tmp), bytesOf(data));
      return copyLike(image, { width: w, height: hh, channels: ch, data }) as T & { channels: 1 | 3 | 4 };
    } finally {
      a.release();
    }
  }

  async function extract(image: Image): Promise<DeepExtractResult> {
    live();
    const img = checked(image, true);
    const input = new ort.Tensor('float32', prepare(img, true), [T, 3, tile, tile]);
    const out = await run(r, { image: input }, 'logo', [T, 1, ls, ls], 'The extractor R (r.onnx)');
    const n = ls * ls;
    const a = new Arena();
    const k = a.k;
    let nc: number, e: Float32Array;
    try {
      const src = a.put(out), lp = a.put(logo), ep = a.f32(n);
      nc = k.tileNc(src, T, n, lp, ep);
      e = a.f32view(ep, n).slice();
    } finally {
      a.release();
    }
    const data = new Uint8Array(n);
    for (let i = 0; i < n; i++) data[i] = Math.max(0, Math.min(255, Math.round((e[i]! + 1) * 127.5)));
    return { logo: { width: ls, height: ls, channels: 1, data }, nc, found: nc >= threshold, threshold };
  }

  async function dispose(): Promise<void> {
    if (state.disposed) return;
    state.disposed = true;
    undisposed?.unregister(state);
    await queue;
    logoTensor.dispose();
    await Promise.all([h.release(), r.release()]);
  }

  return { embed, extract, dispose, meta: Object.freeze({ ...(models.meta as DeepMeta) }), executionProviders: Object.freeze([...providers]) };
}

export { ModelError } from '../errors.js';
export type { Image, PixelData } from '../image.js';
