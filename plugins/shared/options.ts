// Shared by every plug-in: the options a host passes (key, payload, strength, ...) and one cached
// watermarker per key and settings, so a filter that runs on every frame or file derives its key
// (HKDF) and loads the kernels once.
import { checkOptionNames, createWatermarker, invalidSecretParameter, parsePayload, WATERMARKER_OPTION_NAMES, type Payload, type Watermarker, type WatermarkerOptions } from 'modelmark';

/** Options of every plug-in that embeds: the watermarker's options plus the payload. */
export interface EmbedOptions extends WatermarkerOptions {
  /** 64 bits to embed: bigint, 16 hex digits or 8 bytes. */
  payload: Payload;
}

const cache = new Map<string, Promise<Watermarker>>();
const MAX_CACHED = 16;

function cacheKey(o: WatermarkerOptions): string | undefined {
  if (o.module !== undefined) return undefined; // a caller-supplied module: no sharing
  const key = typeof o.key === 'string' ? `s:${o.key}` : o.key instanceof Uint8Array ? `b:${Array.from(o.key, (b) => b.toString(16).padStart(2, '0')).join('')}` : undefined;
  if (key === undefined) return undefined; // let createWatermarker report the bad key
  // Each value with its type: strength '2' (a string, refused by createWatermarker) must not
  // share the entry made for strength 2.
  return JSON.stringify([key, ...[o.strength, o.threshold, o.maxPixels, o.maxAspect, o.search].map((v) => [typeof v, String(v)])]);
}

/**
 * The watermarker's own options out of a plug-in's (which add the payload and their own, such
 * as an output quality): createWatermarker refuses names it does not know.
 */
function watermarkerOptions(o: WatermarkerOptions): WatermarkerOptions {
  const { key, strength, threshold, maxPixels, maxAspect, module, search } = o;
  return { key, strength, threshold, maxPixels, maxAspect, module, search };
}

/**
 * The watermarker for these options, created once per key and settings (at most 16 kept).
 * With `known` (the plug-in's own option names), any other name is refused, as
 * createWatermarker refuses names it does not know.
 * @example
 * const wm = await watermarkerFor({ key: 'secret', strength: 1 });
 */
export function watermarkerFor(options: WatermarkerOptions, known?: readonly string[]): Promise<Watermarker> {
  if (typeof options !== 'object' || options === null) {
    return Promise.reject(invalidSecretParameter('options', 'an object with a key', options));
  }
  if (known) {
    try {
      checkOptionNames('options', options, [...WATERMARKER_OPTION_NAMES, ...known]);
    } catch (err) {
      return Promise.reject(err);
    }
  }
  const id = cacheKey(options);
  if (id === undefined) return createWatermarker(watermarkerOptions(options));
  let wm = cache.get(id);
  if (!wm) {
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
    wm = createWatermarker(watermarkerOptions(options));
    cache.set(id, wm);
    const made = wm;
    // Only this failed entry: it may have been evicted and the id cached again meanwhile.
    wm.catch(() => { if (cache.get(id) === made) cache.delete(id); });
  }
  return wm;
}

/**
 * Check an embedding plug-in's options before any pixels move: a bad payload or an unknown
 * option name (`known`: the plug-in's own, beyond the watermarker's and the payload) fails here,
 * with the parameter named, rather than after a decode.
 * @example
 * const { wm, payload } = await embedSetup({ key: 'secret', payload: 'c0ffee0000000001' });
 */
export async function embedSetup(options: EmbedOptions, known: readonly string[] = []): Promise<{ wm: Watermarker; payload: Payload }> {
  if (typeof options !== 'object' || options === null) {
    throw invalidSecretParameter('options', 'an object { key, payload, strength? }', options);
  }
  checkOptionNames('options', options, [...WATERMARKER_OPTION_NAMES, 'payload', ...known]);
  parsePayload(options.payload, 'options.payload');
  return { wm: await watermarkerFor(options), payload: options.payload };
}
