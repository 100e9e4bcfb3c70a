// modelmark/konva: the watermark as a Konva filter. Konva runs filters synchronously as
// `filter.call(node, imageData, pixelRatio)` on a cached node's pixels, so the asynchronous part
// (key derivation, loading the kernels) happens once in createModelmarkFilter() and the filter
// itself is a plain synchronous function.
//
// Konva is not imported here: pass your Konva (the default export of 'konva') so the node
// attribute is registered on the same Konva your app uses and Konva is never bundled twice.
import { checkOptionNames, invalidParameter, parsePayload, payloadHex, type Payload, WATERMARKER_OPTION_NAMES, type WatermarkerOptions } from 'modelmark';
import { watermarkerFor } from '../shared/options.js';

/**
 * The part of the Konva namespace this plug-in touches (the default export of 'konva'): its
 * Node class. Where the namespace also exposes `Factory` (some builds do), its addGetterSetter
 * registers the attribute; otherwise an equivalent getter/setter pair is installed.
 */
export interface KonvaLike {
  Node: abstract new (...args: never[]) => object;
  Factory?: {
    addGetterSetter(constructor: unknown, attr: string, def?: unknown, validator?: (value: unknown, attr: string) => unknown, after?: (this: any) => void): void;
    afterSetFilter(this: any): void;
  };
}

/** A Konva filter: called with the node as `this`, edits `imageData` in place. */
export type ModelmarkKonvaFilter = (this: unknown, imageData: ImageData, pixelRatio?: number) => void;

/** Options of {@link createModelmarkFilter}. */
export interface KonvaFilterOptions extends WatermarkerOptions {
  /**
   * Payload used when the node has no `modelmarkPayload` attribute (bigint, 16 hex digits or
   * 8 bytes). One of the two must be set when the filter runs.
   */
  payload?: Payload | undefined;
  /** Your Konva: registers the node attributes (see {@link registerModelmarkAttributes}). */
  Konva?: KonvaLike | undefined;
}

/** Konva's Node class type (type only: Konva is never imported at run time). */
export type { Node as KonvaNode } from 'konva/lib/Node.js';

declare module 'konva/lib/Node.js' {
  interface Node {
    /** Payload this node's Modelmark filter embeds (16 hex digits; set with any payload form). */
    modelmarkPayload(): string | undefined;
    modelmarkPayload(payload: Payload | undefined | null): this;
  }
}

const registered = new WeakSet<object>();

function payloadValidator(value: unknown): string {
  return payloadHex(parsePayload(value, 'modelmarkPayload'));
}

/**
 * Register the node attribute the filter reads, on every Konva node (like the built-in filters'
 * `blurRadius`): `node.modelmarkPayload('c0ffee0000000001')` sets it (any payload form; stored as
 * 16 hex digits, so it serialises with `node.toJSON()`), `node.modelmarkPayload()` reads it, and
 * setting it re-runs the filter on the next draw. An invalid payload throws ERR_INVALID_ARGUMENT.
 * Idempotent.
 * @example
 * import Konva from 'konva';
 * import { registerModelmarkAttributes } from 'modelmark/konva';
 * registerModelmarkAttributes(Konva);
 * image.modelmarkPayload('c0ffee0000000001'); // or new Konva.Image({ ..., modelmarkPayload: '...' })
 */
export function registerModelmarkAttributes(Konva: KonvaLike): void {
  if (typeof Konva !== 'object' || Konva === null || typeof Konva.Node !== 'function') {
    throw invalidParameter('Konva', "the Konva namespace (import Konva from 'konva')", Konva);
  }
  if (registered.has(Konva.Node)) return;
  const factory = Konva.Factory;
  if (factory && typeof factory.addGetterSetter === 'function' && typeof factory.afterSetFilter === 'function') {
    factory.addGetterSetter(Konva.Node, 'modelmarkPayload', undefined, payloadValidator, factory.afterSetFilter);
  } else {
    // What Konva's Factory.addGetterSetter does (its Factory is not on the namespace in Konva 10):
    // getModelmarkPayload / setModelmarkPayload, the overloaded modelmarkPayload(), and the
    // filter cache marked stale on every set (Factory.afterSetFilter).
    type KonvaNode = { attrs: Record<string, unknown>; _setAttr(attr: string, value: unknown): void; _filterUpToDate: boolean };
    const proto = Konva.Node.prototype as Record<string, unknown>;
    const getter = function (this: KonvaNode) { return this.attrs.modelmarkPayload; };
    (getter as { _def?: unknown })._def = undefined; // Konva's toObject() compares attrs with it
    proto.getModelmarkPayload ??= getter;
    proto.setModelmarkPayload ??= function (this: KonvaNode, value: unknown) {
      this._setAttr('modelmarkPayload', value === undefined || value === null ? value : payloadValidator(value));
      this._filterUpToDate = false;
      return this;
    };
    proto.modelmarkPayload ??= function (this: KonvaNode & { getModelmarkPayload(): unknown; setModelmarkPayload(v: unknown): unknown }, ...args: unknown[]) {
      if (args.length) { this.setModelmarkPayload(args[0]); return this; }
      return this.getModelmarkPayload();
    };
  }
  registered.add(Konva.Node);
}

/**
 * Create the Modelmark Konva filter for a key. The payload comes from the node's
 * `modelmarkPayload` attribute when set, else from `options.payload`. The filter marks the
 * node's cached pixels (at the cache's pixel ratio: export at that ratio, e.g.
 * `node.cache({ pixelRatio: 1 })` and `toCanvas({ pixelRatio: 1 })`, to keep the mark exact;
 * `cache()` alone uses `Konva.pixelRatio`, 2 on a HiDPI screen, and exports at pixel ratio 1 or 2
 * of such a cache, resampled, still carry the mark).
 * The cached node must be at least 128 x 128 pixels. Konva catches errors thrown by filters and
 * logs them ("Konva error: Unable to apply filter"), leaving the node unmarked.
 * @example
 * import Konva from 'konva';
 * import { createModelmarkFilter } from 'modelmark/konva';
 * const Modelmark = await createModelmarkFilter({ key: 'my secret', Konva });
 * const image = new Konva.Image({ image: photo, modelmarkPayload: 'c0ffee0000000001' });
 * layer.add(image);
 * image.cache({ pixelRatio: 1 });
 * image.filters([Modelmark]);
 */
export async function createModelmarkFilter(options: KonvaFilterOptions): Promise<ModelmarkKonvaFilter> {
  if (typeof options !== 'object' || options === null) {
    throw invalidParameter('options', 'an object { key, payload?, Konva?, strength? }', options);
  }
  checkOptionNames('options', options, [...WATERMARKER_OPTION_NAMES, 'payload', 'Konva']);
  const fallback = options.payload === undefined ? undefined : payloadHex(parsePayload(options.payload, 'options.payload'));
  if (options.Konva !== undefined) registerModelmarkAttributes(options.Konva);
  const { Konva: _konva, payload: _payload, ...wmOptions } = options;
  const wm = await watermarkerFor(wmOptions);
  return function Modelmark(this: unknown, imageData: ImageData): void {
    const own = typeof (this as { modelmarkPayload?: unknown })?.modelmarkPayload === 'function'
      ? (this as { modelmarkPayload(): string | undefined }).modelmarkPayload()
      : undefined;
    const payload = own ?? fallback;
    if (payload === undefined) {
      throw invalidParameter('modelmarkPayload', 'a payload on the node (node.modelmarkPayload(...)) or options.payload', payload);
    }
    const image = { width: imageData.width, height: imageData.height, channels: 4 as const, data: imageData.data };
    wm.embed(image, payload, { inPlace: true });
  };
}
