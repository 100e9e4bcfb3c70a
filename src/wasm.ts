import { WasmError } from './errors.js';
import { invalidParameter } from './args.js';

/**
 * A compiled WebAssembly module (`WebAssembly.Module`). Spelled through `globalThis` so that the
 * published declarations also compile in projects without the DOM library (a Node project with
 * lib ES2023), where TypeScript has no `WebAssembly` namespace: there it is any object.
 */
export type WasmModule = typeof globalThis extends { WebAssembly: { Module: abstract new (...args: never[]) => infer M } } ? M : object;

/** Bytes of a .wasm file (the DOM library's `BufferSource`). */
export type WasmBytes = ArrayBuffer | ArrayBufferView<ArrayBuffer>;

/** The raw exports of the AssemblyScript kernels (assembly/index.ts). Pointers are byte offsets. */
export interface KernelExports {
  /** The kernels' linear memory (a WebAssembly.Memory). */
  memory: { readonly buffer: ArrayBuffer; grow(delta: number): number };
  alloc(bytes: number): number;
  mark(): number;
  release(mark: number): void;
  zero(ptr: number, bytes: number): void;
  touch(ptr: number, bytes: number): void;
  rgbToY(src: number, n: number, ch: number, dst: number): void;
  rgbToYcc(src: number, n: number, ch: number, y: number, cb: number, cr: number): void;
  yccToRgb(y: number, cb: number, cr: number, n: number, ch: number, dst: number): void;
  areaResize(src: number, sw: number, sh: number, dst: number, dw: number, dh: number, sx: number, sy: number, tmp: number): void;
  bilinearResize(src: number, sw: number, sh: number, dst: number, dw: number, dh: number, sx: number, sy: number, tmp: number): void;
  lumaArea(src: number, w: number, h: number, ch: number, dst: number, dw: number, dh: number, sx: number, sy: number, tmp: number): void;
  lumaAreaTables(w: number, h: number, dw: number, dh: number, sx: number, sy: number, tmp: number): void;
  lumaAreaRows(src: number, first: number, w: number, h: number, ch: number, dst: number, dw: number, dh: number, o0: number, o1: number, tmp: number): void;
  addLuma(pix: number, w: number, h: number, ch: number, res: number, rw: number, rh: number, sx: number, sy: number, tmp: number): void;
  addLumaPrepare(w: number, h: number, res: number, rw: number, rh: number, sx: number, sy: number, tmp: number): void;
  addLumaRows(pix: number, first: number, w: number, h: number, ch: number, rh: number, y0: number, y1: number, tmp: number): void;
  addMarkPrepare(w: number, h: number, res: number, rw: number, rh: number, sx: number, sy: number, tmp: number): void;
  addMarkRows(pix: number, first: number, w: number, h: number, ch: number, rh: number, y0: number, y1: number, tmp: number, kr: number, kg: number, kb: number): void;
  cbArea(src: number, w: number, h: number, ch: number, dst: number, dw: number, dh: number, sx: number, sy: number, tmp: number): void;
  cbAreaRows(src: number, first: number, w: number, h: number, ch: number, dst: number, dw: number, dh: number, o0: number, o1: number, tmp: number): void;
  dct8x8(src: number, dst: number, w: number, bw: number, bh: number, inverse: number): void;
  hash(k: number, stream: number, i: number): number;
  random(k: number, stream: number, n: number, dst: number): void;
  chips(k: number, stream: number, n: number, dst: number): void;
  layout(k: number, nslots: number, npilot: number, nsym: number, npsym: number, code: number, sign: number, tmp: number): void;
  blockStats(coef: number, w: number, bw: number, bh: number, band: number, nb: number, act: number, pow: number, tmp: number): void;
  maskWeights(act: number, pow: number, n: number, nb: number, a0: number, aref: number, gamma: number, lo: number, hi: number, p0: number, mask: number, weight: number): void;
  spreadEmbed(wm: number, w: number, bw: number, bh: number, band: number, nb: number, tb: number, code: number, sign: number, sym: number, mask: number, amp: number): void;
  fold(coef: number, w: number, bw: number, bh: number, band: number, nb: number, tb: number, weight: number, F: number): void;
  correlate(F: number, code: number, sign: number, nslots: number, nsym: number, soft: number, energy: number): void;
  blockEvidence(coef: number, coef2: number, w: number, bw: number, bh: number, band: number, nb: number, tb: number, weight: number, weight2: number, k1: number, k2: number, code: number, sign: number, sym: number, num: number, den: number): void;
  sse(a: number, b: number, n: number, ch: number): number;
  sse16(a: number, b: number, n: number, ch: number): number;
  fft2d(re: number, im: number, n: number, inverse: number, tmp: number, rows: number): void;
  mulConj(ar: number, ai: number, br: number, bi: number, or: number, oi: number, n: number): void;
  boxBlur(src: number, w: number, h: number, r: number, dst: number, tmp: number): void;
  whiten(src: number, w: number, h: number, r1: number, r2: number, c: number, dst: number, tmp: number): void;
  affineSample(src: number, sw: number, sh: number, dst: number, dw: number, dh: number, m00: number, m01: number, m10: number, m11: number, tx: number, ty: number): number;
  affineSampleCubic(src: number, sw: number, sh: number, dst: number, dw: number, dh: number, m00: number, m01: number, m10: number, m11: number, tx: number, ty: number): number;
  affineSampleCubic2(src: number, src2: number, sw: number, sh: number, dst: number, dst2: number, dw: number, dh: number, m00: number, m01: number, m10: number, m11: number, tx: number, ty: number): number;
  fillOutside(dst: number, dw: number, dh: number, sw: number, sh: number, m00: number, m01: number, m10: number, m11: number, tx: number, ty: number): number;
  foldSpatial(src: number, w: number, h: number, px: number, py: number, dst: number): void;
  meanStd(src: number, n: number, out: number): void;
  latticeComb(src: number, n: number, lagMax: number, rho: number, th0: number, dth: number, nth: number, p0: number, dp: number, np: number, out: number): void;
  gridPeaks(src: number, w: number, h: number, out: number, max: number): number;
  foldResampledRows(src: number, w: number, sh: number, step: number, n: number, p: number, dst: number): void;
  whitenSpectrum(re: number, im: number, n: number, r: number, fmin: number, fmax: number, tmp: number): void;
  harmonicMap(src: number, n: number, ymax: number, rmin: number, dst: number): number;
  lagPeaks(src: number, n: number, rmin: number, rmax: number, out: number, max: number): number;
  tileOnGrid(src: number, p: number, a: number, b: number, c: number, d: number, tx: number, ty: number, dst: number): void;
  orient(src: number, w: number, h: number, op: number, dst: number): void;
  ssim(a: number, b: number, w: number, h: number, tmp: number): number;
  deepInput(src: number, w: number, h: number, ch: number, dst: number, dw: number, dh: number, tmp: number): void;
  deepInputRows(src: number, y0: number, y1: number, w: number, h: number, ch: number, dh: number, tmp: number): void;
  deepInputFinish(w: number, ch: number, dst: number, dw: number, dh: number, tmp: number): void;
  deepTiles(src: number, w: number, h: number, c: number, tile: number, dst: number): void;
  addResidual(pix: number, w: number, h: number, ch: number, res: number, rw: number, rh: number, tmp: number): void;
  addResidualPrepare(w: number, h: number, res: number, rw: number, rh: number, tmp: number): void;
  addResidualRows(pix: number, y0: number, y1: number, w: number, h: number, ch: number, rw: number, rh: number, tmp: number): void;
  tileNc(src: number, tiles: number, n: number, logo: number, e: number): number;
  listViterbi(soft: number, infoLength: number, L: number, out: number, metricOut: number, tmp: number): number;
  narrow16(src: number, n: number, dst: number): void;
  apply16(src: number, marked: number, n: number): void;
  narrow16ga(src: number, n: number, dst: number): void;
  apply16ga(src: number, marked: number, n: number): void;
  narrowGa8(src: number, n: number, dst: number): void;
  applyGa8(src: number, marked: number, n: number): void;
}

/** Exports that any module passed to init must have: a module without them is not ours. */
const REQUIRED_EXPORTS = ['memory', 'alloc', 'mark', 'release', 'zero', 'dct8x8', 'spreadEmbed', 'correlate', 'lumaAreaRows', 'addMarkRows', 'listViterbi', 'ssim', 'sse'];

/** The hint for bytes that are not WebAssembly at all. */
const NOT_WASM = "The bytes given are not a valid WebAssembly module: pass the contents of modelmark's .wasm file (modelmark/modelmark.wasm), unchanged.";

/**
 * Whether `value` is a compiled WebAssembly module, from this realm or another. A sandbox that
 * runs code in its own realm (Vercel's Edge Runtime and Next.js middleware run it in a Node vm
 * context) hands over modules its host compiled, which fail `instanceof` against the sandbox's
 * own `WebAssembly.Module`; `WebAssembly.Module.exports` checks the object itself, in any realm.
 */
function isWasmModule(value: unknown): boolean {
  if (value instanceof WebAssembly.Module) return true;
  if (typeof value !== 'object' || value === null) return false;
  try {
    WebAssembly.Module.exports(value as WebAssembly.Module);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether `value` is an ArrayBuffer, from this realm or another (bytes read by a host outside a
 * vm sandbox fail `instanceof` against the sandbox's ArrayBuffer; ArrayBuffer.isView already
 * accepts views from any realm).
 */
function isArrayBuffer(value: unknown): boolean {
  return value instanceof ArrayBuffer || Object.prototype.toString.call(value) === '[object ArrayBuffer]';
}

/** The names of REQUIRED_EXPORTS a compiled module does not export. */
function missingExports(module: WebAssembly.Module): string[] {
  const names = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  return REQUIRED_EXPORTS.filter((n) => !names.has(n));
}

/** The error for a module that lacks some of REQUIRED_EXPORTS (`missing`). */
function notKernels(missing: string[]): WasmError {
  return new WasmError(`The WebAssembly module given is not modelmark's kernels (it lacks ${missing.slice(0, 4).join(', ')}${missing.length > 4 ? ', ...' : ''}): ` +
    "pass modelmark's own module (modelmark/modelmark.wasm, or build/modelmark.wasm of the same version).");
}

let kernels: KernelExports | undefined;
let loading: Promise<KernelExports> | undefined;
/** The source the load in progress was started with. */
let loadingSource: WasmModule | WasmBytes | undefined;
/** The compiled module of `kernels`, to make them afresh (see reclaimMemory). */
let loadedModule: WebAssembly.Module | undefined;
/** The allocator's top when nothing is allocated in `kernels` (their first mark()). */
let bottom = 0;

/**
 * WebAssembly memory (bytes) above which the kernels are made afresh once no operation holds
 * any of it. A WebAssembly memory never shrinks: without this, one rare large call (a 32:1
 * strip read by the geometric search takes about 270 MB) would keep its peak for the life of the
 * process. No state lives in kernel memory between operations, so a fresh instance of the same
 * compiled module (well under a millisecond) gives the same results; usual calls (a 100-megapixel
 * image: 14 MB) never reach it.
 */
export const RECLAIM_BYTES = 64 * 2 ** 20;

/** Replace the kernels by a fresh instance when their memory has grown past RECLAIM_BYTES. */
function reclaimMemory(): void {
  if (!kernels || !loadedModule || kernels.memory.buffer.byteLength <= RECLAIM_BYTES) return;
  try {
    kernels = new WebAssembly.Instance(loadedModule, {}).exports as unknown as KernelExports;
    bottom = kernels.mark();
  } catch {
    // Could not instantiate now (memory pressure): keep the grown instance, which still works.
  }
}
/** The kernels built into the default entry (src/inline.ts); none in `modelmark/lite`. */
let builtIn: (() => BufferSource) | undefined;

/** @internal Called by the default entry (src/inline.ts) with its inlined kernels. */
export function setBuiltInKernels(load: () => WasmBytes): void {
  builtIn = load;
}

/** Bytes of a base64 string (atob: present in Node, browsers and workers). */
export function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * Bytes of base64 that the build wrote (the built-in kernels, src/inline.ts), with the runtime's
 * own decoder where it has one: `Uint8Array.fromBase64` (ES2026), else Node's global `Buffer`
 * (feature-detected; nothing imported). In a fresh Node process the 92 KB of the kernels decode
 * in about 0.15 ms that way, against 1.5-2 ms for decodeBase64's loop, which runs interpreted
 * on a cold start (bench/cold-start.mjs). Not for input from users: Buffer skips characters
 * that are not base64 where decodeBase64 throws.
 */
export function decodeTrustedBase64(text: string): Uint8Array {
  const fromBase64 = (Uint8Array as unknown as { fromBase64?: (s: string) => Uint8Array }).fromBase64;
  if (typeof fromBase64 === 'function') return fromBase64.call(Uint8Array, text);
  const buffer = (globalThis as { Buffer?: { from?: (s: string, encoding: 'base64') => Uint8Array } }).Buffer;
  if (typeof buffer?.from === 'function') return buffer.from(text, 'base64');
  return decodeBase64(text);
}

/**
 * Load the WebAssembly kernels. Optional: every API that needs them calls it. Pass a
 * pre-compiled `WebAssembly.Module` where the runtime forbids compiling code at run time
 * (Cloudflare Workers, Vercel's Edge Runtime), or the bytes of `build/modelmark.wasm`; with no argument the
 * module embedded in the package is used (the `modelmark/lite` entry has none: there the module
 * is required). Calling it again returns the instance in use (the same one, unless an operation
 * grew its memory past RECLAIM_BYTES: then a fresh instance of the same module took its place).
 *
 * @example
 * import { init } from 'modelmark';
 * import wasm from 'modelmark/modelmark.wasm'; // a WebAssembly.Module in Workers
 * await init(wasm);
 */
export function init(module?: WasmModule | WasmBytes): Promise<KernelExports> {
  if (module !== undefined && !isWasmModule(module) && !isArrayBuffer(module) && !ArrayBuffer.isView(module)) {
    return Promise.reject(invalidParameter('module', "a WebAssembly.Module or the bytes of modelmark's .wasm file", module));
  }
  if (kernels) {
    // Loaded already: the instance is shared, but a module given now that could never have
    // loaded is still an error (cheap checks only: its exports, or whether the bytes are valid).
    if (isWasmModule(module)) {
      const missing = missingExports(module as WebAssembly.Module);
      if (missing.length > 0) return Promise.reject(notKernels(missing));
    } else if (module !== undefined) {
      if (!WebAssembly.validate(module as BufferSource)) return Promise.reject(new WasmError(NOT_WASM));
      // Valid WebAssembly: compiled (off the main thread where the runtime can) for its exports.
      const loaded = kernels;
      return WebAssembly.compile(module as BufferSource).then((m) => {
        const missing = missingExports(m);
        if (missing.length > 0) throw notKernels(missing);
        return kernels ?? loaded;
      });
    }
    return Promise.resolve(kernels);
  }
  if (loading && loadingSource !== module) {
    // Another caller's load, with another module, is in progress: once it settles, this call's
    // own module is checked (loaded: the checks above) or loaded (theirs failed), so that no
    // caller gets another's error and a module that is not ours is refused either way.
    const again = () => init(module);
    return loading.then(again, again);
  }
  if (module === undefined && !builtIn) {
    return Promise.reject(new WasmError("modelmark/lite has no built-in kernels: pass the compiled module, e.g. import wasm from 'modelmark/modelmark.wasm'; createWatermarker({ key, module: wasm }) (or init(wasm)). Cloudflare Workers and Vercel's Edge Runtime (the \"workerd\" and \"edge-light\" export conditions) resolve 'modelmark' to modelmark/lite too; elsewhere (Node, Deno, Bun, browsers) 'modelmark' has the kernels built in."));
  }
  if (!loading) {
    loadingSource = module;
    loading = (async () => {
      try {
        const compiled: WebAssembly.Module = isWasmModule(module)
          ? module as WebAssembly.Module
          : await WebAssembly.compile((module ?? builtIn!()) as BufferSource);
        const instance = await WebAssembly.instantiate(compiled, {});
        const exports = instance.exports as Record<string, unknown>;
        const missing = REQUIRED_EXPORTS.filter((name) => (name === 'memory' ? !(exports.memory instanceof WebAssembly.Memory) : typeof exports[name] !== 'function'));
        // Not kept: a later call with the right module (or none) still loads.
        if (missing.length > 0) throw notKernels(missing);
        kernels = exports as unknown as KernelExports;
        bottom = kernels.mark();
        loadedModule = compiled;
        return kernels;
      } catch (cause) {
        loading = undefined;
        if (cause instanceof WasmError) throw cause;
        const message = String((cause as Error).message).replace(/\.+$/, '');
        // A page whose Content Security Policy has no 'wasm-unsafe-eval' (or 'unsafe-eval') source
        // compiles no WebAssembly at all, a module handed over included: only the policy can
        // change that. Cloudflare Workers refuse compiling at run time but take a module
        // compiled at deploy time.
        const hint = /Content Security Polic|unsafe-eval/i.test(message)
          ? "This page's Content Security Policy forbids WebAssembly: add 'wasm-unsafe-eval' to its script-src directive (Chrome 97+, Firefox 102+, Safari 16+; workers follow their own script's policy). No WebAssembly library runs without it."
          : /disallowed|code generation/i.test(message)
          ? "This runtime forbids compiling WebAssembly at run time (Cloudflare Workers, Vercel Edge Functions and Next.js middleware): pass the module compiled at deploy time, e.g. import wasm from 'modelmark/modelmark.wasm'; createWatermarker({ key, module: wasm })."
          : /allocate|out of memory|memory/i.test(message) && !(cause instanceof WebAssembly.CompileError)
            ? 'The process could not reserve memory for WebAssembly (a memory limit such as ulimit -v, or a container limit, may be too low).'
            : cause instanceof WebAssembly.CompileError && module !== undefined && !isWasmModule(module)
              ? NOT_WASM
              : 'The runtime needs WebAssembly with SIMD (Node 16.4+, Chrome 91+, Firefox 89+, Safari 16.4+).';
        throw new WasmError(`Could not load the modelmark WebAssembly kernels: ${message}. ${hint}`, { cause });
      }
    })();
  }
  return loading;
}

/** The loaded kernels; throws when `init()` has not completed. */
export function getKernels(): KernelExports {
  if (!kernels) throw new WasmError('The WebAssembly kernels are not loaded yet: await init() (or createWatermarker) first.');
  return kernels;
}

/**
 * Allocations for one operation on top of the kernels' bump allocator, released together.
 * Typed-array views are made on demand because memory growth detaches older views.
 */
export class Arena {
  readonly k: KernelExports;
  private readonly start: number;
  /**
   * On the kernels loaded now by default. Operations make their arena this way, never keeping
   * kernels across calls: when an arena that began with nothing allocated is released (the bump
   * allocator is empty again, whatever happened in between), kernels whose memory grew past
   * RECLAIM_BYTES are made afresh.
   */
  constructor(k: KernelExports = getKernels()) {
    this.k = k;
    this.start = k.mark();
  }
  /** Reserve `bytes` bytes; returns the pointer. */
  bytes(bytes: number): number {
    // wasm32 addresses: a size of 4 GiB or more would be cut to 32 bits on its way to alloc.
    if (!(Number.isInteger(bytes) && bytes >= 0 && bytes < 2 ** 32)) throw new WasmError(`Out of WebAssembly memory while reserving ${bytes} bytes; the image is too large for this runtime.`);
    const ptr = this.k.alloc(bytes);
    if (ptr === 0) throw new WasmError(`Out of WebAssembly memory while reserving ${bytes} bytes; the image is too large for this runtime.`);
    return ptr;
  }
  /** Reserve `n` floats (or i32/u32). */
  f32(n: number): number { return this.bytes(n * 4); }
  /** Reserve and fill from a typed array. */
  put(src: ArrayBufferView): number {
    const ptr = this.bytes(src.byteLength);
    new Uint8Array(this.k.memory.buffer, ptr, src.byteLength).set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
    return ptr;
  }
  u8(ptr: number, n: number): Uint8Array { return new Uint8Array(this.k.memory.buffer, ptr, n); }
  f32view(ptr: number, n: number): Float32Array { return new Float32Array(this.k.memory.buffer, ptr, n); }
  f64view(ptr: number, n: number): Float64Array { return new Float64Array(this.k.memory.buffer, ptr, n); }
  i32view(ptr: number, n: number): Int32Array { return new Int32Array(this.k.memory.buffer, ptr, n); }
  /**
   * Stream the rows of an image still in JavaScript memory through one buffer of this arena (about
   * `bytes` bytes, at least one row): per band of rows y0..y1 - 1, the rows are copied in,
   * `each(buf, y0, y1)` runs, and with `out` the band is copied out to the same rows of `out`.
   * The image is never copied whole into wasm memory. `src` and `out` are the image's bytes
   * (`stride` per row); `each` must not allocate (the view it writes through would detach).
   */
  streamRows(src: Uint8Array, stride: number, height: number, bytes: number, each: (buf: number, y0: number, y1: number) => void, out?: Uint8Array): void {
    const rowsPer = Math.max(1, Math.floor(bytes / stride));
    const buf = this.bytes(Math.min(height, rowsPer) * stride); // alloc leaves 16 bytes of slack after it
    const view = new Uint8Array(this.k.memory.buffer);
    for (let y0 = 0; y0 < height; y0 += rowsPer) {
      const y1 = Math.min(height, y0 + rowsPer);
      view.set(src.subarray(y0 * stride, y1 * stride), buf);
      each(buf, y0, y1);
      out?.set(view.subarray(buf, buf + (y1 - y0) * stride), y0 * stride);
    }
  }
  /** Free everything this arena reserved. */
  release(): void {
    this.k.release(this.start);
    if (this.k === kernels && this.start === bottom) reclaimMemory();
  }
}
