// Pintura (pqina.nl/pintura) image editor: mark every image the editor writes. Pintura's default
// image writer calls `postprocessImageData(imageData, options, onprogress)` with the edited
// pixels just before it encodes the output file; the function made here returns a marked copy.
import { checkOptionNames, checkWatermarkerOptions, ImageSizeError, invalidParameter, MIN_SIDE, parsePayload, WATERMARKER_OPTION_NAMES } from 'modelmark';
import { embedSetup, type EmbedOptions } from '../shared/options.js';

/** Options of {@link createPostprocessImageData}: the watermarker's options, the payload and what to do with small images. */
export interface PinturaWatermarkOptions extends EmbedOptions {
  /**
   * What to do with an output smaller than 128 x 128 pixels (a thumbnail crop): `'error'`
   * (default) rejects with an `ERR_IMAGE_TOO_SMALL` error, so nothing unmarked is written by
   * mistake; `'skip'` returns the image unmarked.
   */
  tooSmall?: 'error' | 'skip' | undefined;
}

/** The function Pintura calls as `imageWriter.postprocessImageData`. */
export type PostprocessImageData = (imageData: ImageData, options?: unknown, onprogress?: (event: ProgressEvent) => void) => Promise<ImageData>;

function checkOptions(options: unknown): PinturaWatermarkOptions {
  if (typeof options !== 'object' || options === null) {
    throw invalidParameter('options', 'an object { key, payload, strength?, tooSmall? }', options);
  }
  const o = options as PinturaWatermarkOptions;
  checkOptionNames('options', o, [...WATERMARKER_OPTION_NAMES, 'payload', 'tooSmall']);
  checkWatermarkerOptions(o); // now, not at the first export
  parsePayload(o.payload, 'options.payload');
  if (o.tooSmall !== undefined && o.tooSmall !== 'error' && o.tooSmall !== 'skip') {
    throw invalidParameter('options.tooSmall', "'error' or 'skip'", o.tooSmall);
  }
  return o;
}

function isImageData(value: unknown): value is ImageData {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<ImageData>;
  return Number.isInteger(v.width) && Number.isInteger(v.height) && v.data instanceof Uint8ClampedArray;
}

/**
 * Make Pintura's `imageWriter.postprocessImageData` hook: every image the editor writes (after
 * crops, filters and annotations, before encoding) gets the invisible mark carrying `payload`.
 * The options are checked now, so a bad key or payload fails when the editor is set up; the key
 * is derived once and the watermarker shared by every call. Alpha and the colour space of the
 * ImageData are kept.
 * @example
 * import { appendDefaultEditor } from '@pqina/pintura';
 * import { createPostprocessImageData } from 'modelmark/pintura';
 *
 * appendDefaultEditor('#editor', {
 *   src: 'photo.jpeg',
 *   imageWriter: { postprocessImageData: createPostprocessImageData({ key: 'my secret', payload: 'c0ffee0000000001' }) },
 * });
 * @example
 * // Headless, with Pintura's processImage:
 * const { dest } = await processImage(file, {
 *   imageReader: createDefaultImageReader(),
 *   imageWriter: createDefaultImageWriter({ postprocessImageData: createPostprocessImageData({ key, payload }) }),
 * });
 */
export function createPostprocessImageData(options: PinturaWatermarkOptions): PostprocessImageData {
  const o = checkOptions(options);
  const settings: EmbedOptions = { ...o };
  delete (settings as PinturaWatermarkOptions).tooSmall;
  let setup: ReturnType<typeof embedSetup> | undefined;
  return async (imageData: ImageData, _options?: unknown, onprogress?: (event: ProgressEvent) => void): Promise<ImageData> => {
    if (!isImageData(imageData)) {
      throw invalidParameter('imageData', 'an ImageData (RGBA, Uint8ClampedArray data)', imageData);
    }
    const { width, height } = imageData;
    if (width < MIN_SIDE || height < MIN_SIDE) {
      if (o.tooSmall === 'skip') return imageData;
      throw new ImageSizeError('ERR_IMAGE_TOO_SMALL',
        `Pintura's output is ${width}x${height}; the watermark needs at least ${MIN_SIDE}x${MIN_SIDE} pixels (pass tooSmall: 'skip' to write small images unmarked).`);
    }
    if (!setup) {
      const pending = embedSetup(settings);
      pending.catch(() => { if (setup === pending) setup = undefined; }); // retry after a failed load
      setup = pending;
    }
    const { wm, payload } = await setup;
    const marked = wm.embed({ width, height, data: imageData.data, channels: 4 }, payload);
    const data = marked.data as Uint8ClampedArray<ArrayBuffer>; // embed keeps the input's array type
    const out = new ImageData(data, width, height, { colorSpace: imageData.colorSpace ?? 'srgb' });
    if (typeof onprogress === 'function' && typeof ProgressEvent === 'function') {
      onprogress(new ProgressEvent('progress', { lengthComputable: true, loaded: 1, total: 1 }));
    }
    return out;
  };
}
