// modelmark/fabric: the watermark as a Fabric 7 image filter.
//
// Fabric applies filters synchronously (image.applyFilters()), so the asynchronous part (key
// derivation, loading the kernels) happens before: ModelmarkFilter.create(), filter.prepare()
// or ModelmarkFilter.fromObject() (which Fabric awaits while loading JSON).
//
// Both filter backends are handled. Canvas 2D: applyTo2d marks the pipeline's ImageData in place.
// WebGL (Fabric's default where WebGL works): applyToWebGL reads the input texture back with
// gl.readPixels, marks the pixels on the CPU, uploads them as a texture and draws it through the
// identity shader into the pipeline's next target, so the filter can sit anywhere in a chain.
// The readback costs one GPU->CPU->GPU round trip per applyFilters().
//
// The key is never serialised: toObject() keeps { type, payload, strength } only. fromObject()
// takes the key from its options ({ key }) or from the provider set by setModelmarkKeyProvider().
// Beware: when a filter's fromObject rejects (no key), Fabric 7 drops that filter from the
// revived image and only tells a `reviver` passed to fromObject/loadFromJSON (its third argument
// is the error): register the key provider before loading JSON, or check with a reviver.
//
// Fabric is a peer import ('fabric', never bundled by this package): the filter subclasses and
// registers in the Fabric your bundler resolves for 'fabric', i.e. the browser build. Fabric's
// Node build ('fabric/node') is a separate copy with its own classRegistry, which this plug-in
// does not target.
import { classRegistry, filters } from 'fabric';
import { checkOptionNames, ModelmarkError, invalidParameter, parsePayload, payloadHex, type Payload, type Watermarker, WATERMARKER_OPTION_NAMES, type WatermarkerOptions } from 'modelmark';
import { watermarkerFor } from '../shared/options.js';

/** Supplies the key when a filter is revived from JSON (or prepared without one). */
export type ModelmarkKeyProvider = (filter: { payload: string; strength: number }) => string | Uint8Array | Promise<string | Uint8Array>;

let keyProvider: ModelmarkKeyProvider | undefined;

/**
 * Register the function that supplies the key for filters revived from JSON (and for
 * `prepare()` without a key). Pass null to remove it.
 * @example
 * import { setModelmarkKeyProvider } from 'modelmark/fabric';
 * setModelmarkKeyProvider(() => session.watermarkKey);
 * await canvas.loadFromJSON(json); // every Modelmark filter gets its key from the provider
 */
export function setModelmarkKeyProvider(provider: ModelmarkKeyProvider | null): void {
  if (provider !== null && typeof provider !== 'function') {
    throw invalidParameter('provider', 'a function returning the key, or null', provider);
  }
  keyProvider = provider ?? undefined;
}

/** Serialised and constructor properties of the filter (never the key). */
export interface ModelmarkFilterProps {
  /** 64-bit payload as 16 hex digits (any payload form is accepted and normalised on output). */
  payload: string;
  /** Embedding strength, 0.25 to 4 (default 1). */
  strength: number;
}

/** Options of {@link ModelmarkFilter.create} and of `fromObject`'s second argument. */
export interface ModelmarkFilterOptions extends Omit<WatermarkerOptions, 'strength'> {
  payload: Payload;
  strength?: number | undefined;
}

const BaseFilter = filters.BaseFilter;

/** Where the watermark pipeline stands, for the not-ready error. */
function notReady(why: string): ModelmarkError {
  return new ModelmarkError('ERR_NOT_READY', `Modelmark filter is not ready: ${why}. Create it with await ModelmarkFilter.create({ key, payload }) or call await filter.prepare(key) before applyFilters().`);
}

/**
 * A Fabric image filter that embeds a modelmark watermark. Create it with
 * {@link ModelmarkFilter.create} (or `new` + `await filter.prepare(key)`), add it to
 * `image.filters` and call `image.applyFilters()`. `type` is 'Modelmark'; it is registered in
 * Fabric's classRegistry, so `FabricImage.fromObject` / `canvas.loadFromJSON` revive it (the
 * key from {@link setModelmarkKeyProvider} or fromObject's `{ key }` option).
 * @example
 * import { FabricImage } from 'fabric';
 * import { ModelmarkFilter, setModelmarkKeyProvider } from 'modelmark/fabric';
 * const image = await FabricImage.fromURL('photo.jpg');
 * image.filters.push(await ModelmarkFilter.create({ key: 'my secret', payload: 'c0ffee0000000001' }));
 * image.applyFilters();
 * const json = image.toObject(); // filters: [{ type: 'Modelmark', payload: 'c0ffee0000000001', strength: 1 }]
 * setModelmarkKeyProvider(() => 'my secret');
 * const again = await FabricImage.fromObject(json);
 */
export class ModelmarkFilter extends BaseFilter<'Modelmark', ModelmarkFilterProps> {
  static override type = 'Modelmark';
  // No default payload: a filter revived or made without one is refused when prepared, not marked with 0.
  static override defaults: Record<string, unknown> = { strength: 1 };
  declare payload: string;
  declare strength: number;
  #wm: Watermarker | undefined;
  #wmStrength: number | undefined;
  #key: string | Uint8Array | undefined;

  /**
   * A filter not yet bound to a key; call `await filter.prepare(key)` before applying it. The
   * key is never accepted here (so it cannot end up on the object): use prepare() or create().
   * @example
   * const filter = new ModelmarkFilter({ payload: 'c0ffee0000000001' });
   * await filter.prepare('my secret');
   */
  constructor(options: { payload?: Payload; strength?: number } = {}) {
    if (typeof options !== 'object' || options === null) throw invalidParameter('options', 'an object { payload, strength? }', options);
    const { key: _key, ...rest } = options as Record<string, unknown>;
    if (_key !== undefined) throw invalidParameter('options.key', 'no key in the constructor (use ModelmarkFilter.create or filter.prepare(key))', '[key]');
    if (rest.payload !== undefined) rest.payload = payloadHex(parsePayload(rest.payload, 'options.payload'));
    super(rest as Record<string, unknown>);
  }

  /**
   * Bind the filter to a key (or to the registered key provider's key): derives the key and
   * loads the kernels, so that the synchronous applyFilters() can mark. Call again after
   * changing `strength`. Resolves to the filter.
   * @example
   * await filter.prepare('my secret');
   * image.filters.push(filter);
   * image.applyFilters();
   */
  async prepare(key?: string | Uint8Array, options: Omit<WatermarkerOptions, 'key' | 'strength'> = {}): Promise<this> {
    let k = key ?? this.#key;
    if (k === undefined) {
      if (!keyProvider) throw invalidParameter('key', 'a key, or a provider registered with setModelmarkKeyProvider()', k);
      k = await keyProvider({ payload: this.payload, strength: this.strength });
    }
    parsePayload(this.payload);
    const strength = this.strength;
    this.#wm = await watermarkerFor({ ...options, key: k, strength }, []);
    this.#wmStrength = strength;
    this.#key = k;
    return this;
  }

  /**
   * Create a filter ready to apply: `{ key, payload, strength? }` plus any watermarker option.
   * @example
   * import { FabricImage } from 'fabric';
   * import { ModelmarkFilter } from 'modelmark/fabric';
   * const image = await FabricImage.fromURL(url);
   * image.filters.push(await ModelmarkFilter.create({ key: 'my secret', payload: 'c0ffee0000000001' }));
   * image.applyFilters();
   */
  static async create(options: ModelmarkFilterOptions): Promise<ModelmarkFilter> {
    if (typeof options !== 'object' || options === null) throw invalidParameter('options', 'an object { key, payload, strength? }', options);
    checkOptionNames('options', options, [...WATERMARKER_OPTION_NAMES, 'payload']);
    const { key, payload, strength, ...rest } = options;
    const filter = new ModelmarkFilter({ payload, ...(strength === undefined ? {} : { strength }) });
    return filter.prepare(key, rest);
  }

  /**
   * Revive from `toObject()` output. The key comes from `options.key` or the provider set with
   * {@link setModelmarkKeyProvider}; Fabric calls this (awaiting it) while loading JSON. Without
   * either it rejects with ERR_INVALID_ARGUMENT, and Fabric then drops the filter from the image
   * (reporting the error only to a `reviver`).
   * @example
   * const filter = await ModelmarkFilter.fromObject(json, { key: 'my secret' });
   */
  static override async fromObject(object: Record<string, any>, options?: { key?: string | Uint8Array; signal?: AbortSignal }): Promise<ModelmarkFilter> {
    if (typeof object !== 'object' || object === null) throw invalidParameter('object', 'a serialised Modelmark filter { type, payload, strength }', object);
    const { type: _type, key: _key, ...props } = object;
    const filter = new ModelmarkFilter(props);
    return filter.prepare(options?.key);
  }

  /** The pixels as the core sees them, after checking the filter can run. */
  #ready(): Watermarker {
    if (!this.#wm) throw notReady('no key yet');
    if (this.#wmStrength !== this.strength) throw notReady(`strength changed from ${this.#wmStrength} to ${this.strength}`);
    return this.#wm;
  }

  /** Never neutral: a mark always changes the pixels. */
  override isNeutralState(): boolean {
    return false;
  }

  /** Canvas 2D backend: mark the pipeline's ImageData in place. */
  override applyTo2d(options: { imageData: ImageData }): void {
    const wm = this.#ready();
    const { imageData } = options;
    const image = { width: imageData.width, height: imageData.height, channels: 4 as const, data: imageData.data };
    wm.embed(image, this.payload, { inPlace: true });
  }

  /**
   * WebGL backend: read the input texture back, mark it on the CPU, upload it and draw it with
   * the identity shader into the current target (the next texture, or the output canvas).
   */
  override applyToWebGL(options: Parameters<InstanceType<typeof BaseFilter>['applyToWebGL']>[0]): void {
    const wm = this.#ready();
    const gl = options.context;
    const w = options.sourceWidth, h = options.sourceHeight;
    const input = options.pass === 0 && options.originalTexture ? options.originalTexture : options.sourceTexture;
    const previous = gl.getParameter(gl.FRAMEBUFFER_BINDING) as WebGLFramebuffer | null;
    const fbo = gl.createFramebuffer();
    const pixels = new Uint8Array(w * h * 4);
    gl.bindFramebuffer(gl.FRAMEBUFFER, fbo);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, input, 0);
    gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, pixels);
    gl.bindFramebuffer(gl.FRAMEBUFFER, previous);
    gl.deleteFramebuffer(fbo);
    // Rows come back in texture order, the order they were uploaded in: no flip either way.
    const marked = wm.embed({ width: w, height: h, channels: 4, data: pixels }, this.payload, { inPlace: true }).data;
    const texture = options.filterBackend.createTexture(gl, w, h);
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, w, h, 0, gl.RGBA, gl.UNSIGNED_BYTE, marked);
    const shader = this.retrieveShader(options);
    gl.useProgram(shader.program);
    this.sendAttributeData(gl, shader.attributeLocations, options.aPosition);
    gl.uniform1f(shader.uniformLocations.uStepW, 1 / w);
    gl.uniform1f(shader.uniformLocations.uStepH, 1 / h);
    gl.viewport(0, 0, options.destinationWidth, options.destinationHeight);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    gl.bindTexture(gl.TEXTURE_2D, null);
    gl.deleteTexture(texture);
  }

  /** `{ type: 'Modelmark', payload, strength }`: never the key. */
  override toObject(): { type: 'Modelmark' } & ModelmarkFilterProps {
    return { type: 'Modelmark', payload: payloadHex(parsePayload(this.payload)), strength: this.strength };
  }
}

classRegistry.setClass(ModelmarkFilter);
