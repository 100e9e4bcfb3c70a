// modelmark/sharp: watermark and detect inside sharp pipelines, and a stream filter for encoded
// image bytes. The pixel work is the core's (one embed per image); this file moves pixels between
// sharp and the core and carries the input's metadata, depth and colour kind over to the result.
import { constants as bufferConstants } from 'node:buffer';
import { Transform } from 'node:stream';
import sharp, { type Metadata, type OutputInfo, type Sharp } from 'sharp';
import {
  DecodeError,
  FileError,
  ImageSizeError,
  booleanOption,
  piecesOption,
  invalidParameter,
  ModelmarkError,
  parsePayload,
  type DetectCallOptions,
  checkOptionNames,
  DEFAULT_MAX_PIXELS,
  gifTruncatedAt,
  apngFrames,
  matchedSettings,
  sourceEncoding,
  WATERMARKER_OPTION_NAMES,
  type DetectResult,
  type Evidence,
  type Payload,
  type SampleImage,
  type Watermarker,
  type WatermarkerOptions,
} from 'modelmark';
import { embedMetadata, metadataOf, readMetadata as readFileMetadata } from 'modelmark/metadata';
import { detectFile, ENCODER_MAX_SIDE, heifCodec, markReadsBack, tiffWriteOptions, type SampleFile } from 'modelmark/node';
import { embedSetup, watermarkerFor, type EmbedOptions } from '../shared/options.js';

/** Options of {@link watermark}: the watermarker's options, the payload, and `carryMetadata`. */
export interface SharpWatermarkOptions extends EmbedOptions {
  /**
   * Carry the input's EXIF, ICC profile and XMP over to the returned instance, so that
   * `.keepMetadata()`, `.withMetadata()`, `.keepExif()` and `.keepIccProfile()` work on it as on
   * the input (default true). The metadata travels in a lossless in-memory PNG with the marked
   * pixels (about 15 ms more at 1080p), made only when the input has an ICC profile (its pixels
   * stay in the profile's colours, which sharp converts or keeps as for the input) or when the
   * pipeline keeps EXIF or XMP; otherwise the pixels go back to sharp as raw memory. With false,
   * always raw memory: an ICC-profiled input is converted to sRGB first, and nothing is kept.
   */
  carryMetadata?: boolean | undefined;
}

/** Formats {@link watermarkStream} can write. */
export type StreamFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif' | 'heif' | 'jp2' | 'jxl';

/** Options of {@link watermarkStream}. */
export interface WatermarkStreamOptions extends SharpWatermarkOptions {
  /** Output format (default: the input's format; PNG when sharp cannot write that format). */
  format?: StreamFormat | undefined;
  /**
   * Output quality, 1 to 100, for lossy formats (JPEG, WebP, AVIF, HEIF). By default a JPEG
   * written from a JPEG takes the input's quality (read from its tables, at least 75), chroma
   * subsampling and progressive mode, and a WebP written from a lossless WebP stays lossless
   * (the core's matchedSettings); otherwise sharp's defaults. A quality given here replaces the
   * input's (a JPEG keeps its subsampling and progressive mode) and makes a WebP lossy. A TIFF is written losslessly
   * (deflate) unless this is given, then JPEG-compressed at this quality.
   */
  quality?: number | undefined;
  /** Keep the input's EXIF, ICC profile and XMP in the output (default false, as sharp does). */
  keepMetadata?: boolean | undefined;
  /** Largest encoded input accepted, in bytes (default 256 MiB): the stream buffers the whole file. */
  maxInputBytes?: number | undefined;
}

/** What sharp's toFormat() accepts. */
type OutFormat = Parameters<Sharp['toFormat']>[0];

const DEFAULT_MAX_INPUT_BYTES = 256 * 1024 * 1024;

/** What {@link prepare} learned and made. */
interface Marked {
  out: Sharp;
  /** The format the result is written in unless the caller chooses one. */
  format: OutFormat;
  /** The input's resolution in pixels per inch, when it has one. */
  density: number | undefined;
  /** The input's EXIF as it is carried (upright), when sharp read one. */
  exif: Uint8Array | undefined;
}


/**
 * Internals of a sharp instance that this plug-in reads (sharp 0.34-0.35). Where they differ, the
 * hooks stand aside: the default format is then set up front and the metadata carrier made eagerly.
 */
type SharpInternals = Sharp & {
  options?: { formatOut?: unknown; fileOut?: unknown; keepMetadata?: number; streamOut?: boolean; input?: Record<string, unknown>; delay?: number[]; loop?: number };
  _pipeline?: (...args: unknown[]) => unknown;
};

function isSharp(value: unknown): value is Sharp {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return ['metadata', 'raw', 'toBuffer', 'autoOrient', 'keepIccProfile', 'toColourspace'].every((m) => typeof v[m] === 'function');
}

function checkSharp(value: unknown, name: string): Sharp {
  if (!isSharp(value)) throw invalidParameter(name, 'a sharp instance, e.g. sharp(input) (sharp 0.34 or later)', value);
  return value;
}

function checkOptions(options: unknown, expected: string): Record<string, unknown> {
  if (typeof options !== 'object' || options === null) throw invalidParameter('options', expected, options);
  return options as Record<string, unknown>;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err)).trim().replace(/:$/, '');

/** A typed error for a sharp failure while reading the input. */
function readFailure(err: unknown): ModelmarkError {
  if (err instanceof ModelmarkError) return err;
  const text = message(err);
  const m = text.toLowerCase();
  if (m.includes('pixel limit')) {
    return new ImageSizeError('ERR_IMAGE_TOO_LARGE', `The input image is over sharp's pixel limit (${text}); if you trust it, raise limitInputPixels when creating the sharp instance (watermarkStream: options.maxPixels)`);
  }
  if (m.includes('input file is missing') || m.includes('no such file')) return new FileError(`Cannot read the input image: ${text}`, { cause: err });
  let reason = 'the image data could not be decoded';
  if (m.includes('buffer is empty') || m.includes('empty input')) reason = 'the input is empty';
  else if (m.includes('unsupported image format')) reason = 'it is not an image in a format sharp can read';
  else if (/premature end|truncat|unexpected end|read error|not enough data/.test(m)) reason = 'the input is truncated or corrupt';
  else if (/corrupt|bad |invalid/.test(m)) reason = 'the input is corrupt';
  return new DecodeError(`Cannot decode the input image: ${reason} (${text})`, { cause: err });
}

// ---------------------------------------------------------------------------------------------
// Pixels

/**
 * Mark raw samples of any layout sharp gives: 1 to 4 channels, 8 or 16 bits, in place (they are
 * sharp's fresh buffer, or this plug-in's aligned copy of it). The core takes them all: 16-bit
 * samples are marked through their 8-bit view and keep their precision, grey + alpha through
 * its grey plane; alpha is left untouched.
 */
function markSamples(wm: Watermarker, payload: Payload, samples: Uint8Array | Uint16Array, width: number, height: number, channels: number): Uint8Array | Uint16Array {
  return wm.embed({ width, height, channels: channels as 1 | 2 | 3 | 4, data: samples }, payload, { inPlace: true }).data as Uint8Array | Uint16Array;
}

// ---------------------------------------------------------------------------------------------
// The returned instance

/** Extensions sharp's toFile() recognises (lower or upper case, as sharp compares them). */
const FILE_EXTENSIONS = /\.(jpe?g|png|webp|gif|jp2|jpx|j2k|j2c|tiff?|heic|heif|avif|jxl|dzi|zip|szi|v|vips)$/;

function namesFormat(fileOut: unknown): boolean {
  if (typeof fileOut !== 'string' || fileOut === '') return false;
  const ext = /\.[^./\\]*$/.exec(fileOut)?.[0] ?? '';
  return (ext === ext.toLowerCase() || ext === ext.toUpperCase()) && FILE_EXTENSIONS.test(ext.toLowerCase());
}

/** sharp's keepMetadata bits for EXIF and XMP, the metadata a lazily made carrier brings. */
const KEEP_EXIF_OR_XMP = 0b00011;

/** Whether the instance's internals are as this plug-in expects, so its raw input can be swapped. */
function canSwapInput(s: SharpInternals): boolean {
  const input = s.options?.input;
  return typeof s._pipeline === 'function' && typeof s.options?.keepMetadata === 'number' &&
    typeof input === 'object' && input !== null && 'rawChannels' in input && ArrayBuffer.isView(input.buffer);
}

/**
 * Hook the returned instance at sharp's one entry to its native pipeline (toBuffer(), toFile()
 * and stream output all go through it), just before it runs:
 * - write `format` when the caller chose none (sharp would write its own input's: raw pixels or
 *   the carrier PNG); a file name with a known extension still picks its format, as in sharp;
 * - when `carrier` is given (an input with EXIF or XMP but no ICC profile) and the caller asked
 *   for EXIF or XMP to be kept, swap the raw pixels for the carrier PNG that holds them first, so
 *   the lossless re-encode is paid only by pipelines that keep metadata.
 * clone() passes the hook on.
 */
function continueAs(out: Sharp, format: OutFormat, carrier?: () => Promise<Buffer>, greyAlpha = false, density?: number): Sharp {
  const s = out as SharpInternals;
  const run = s._pipeline;
  const formatOptions = format === 'tiff' ? tiffWriteOptions(density) : undefined;
  if (typeof run !== 'function' || typeof s.options !== 'object') out.toFormat(format, formatOptions);
  else {
    Object.defineProperty(s, '_pipeline', {
      configurable: true,
      writable: true,
      value(this: SharpInternals, ...args: unknown[]) {
        const o = this.options!;
        if (o.formatOut === 'input' && !namesFormat(o.fileOut)) this.toFormat(format, formatOptions);
        // Raw output of a b-w image keeps its first band only: an 8-bit grey + alpha image would
        // lose its alpha. It comes out as plain sharp gives such an image raw: RGBA.
        if (greyAlpha && o.formatOut === 'raw') this.toColourspace('srgb');
        if (!carrier || !((o.keepMetadata ?? 0) & KEEP_EXIF_OR_XMP) || !canSwapInput(this)) return run.apply(this, args);
        const ready = carrier().then((png) => {
          const input = o.input!;
          for (const k of Object.keys(input)) if (k.startsWith('raw')) delete input[k];
          input.buffer = png;
        });
        const callback = args[0];
        if (typeof callback === 'function') {
          ready.then(() => run.apply(this, args), (err) => callback(err));
          return this;
        }
        if (o.streamOut) {
          ready.then(() => run.apply(this, args), (err) => this.emit('error', err));
          return this;
        }
        return ready.then(() => run.apply(this, args));
      },
    });
  }
  const clone = s.clone;
  Object.defineProperty(s, 'clone', {
    configurable: true,
    writable: true,
    value(this: Sharp) { return continueAs(clone.call(this), format, carrier, greyAlpha, density); },
  });
  return out;
}

/**
 * Give the returned instance the input animation's frame delays and loop count, which raw pixels
 * do not carry: set as the output options `.gif()` and `.webp()` set (a caller's own delay or
 * loop given there still wins), so the animated output keeps the input's timing.
 */
function keepTiming(out: Sharp, meta: Metadata, frames: number): void {
  const timing: { delay?: number[]; loop?: number } = {};
  if (Array.isArray(meta.delay) && meta.delay.length === frames) timing.delay = [...meta.delay];
  if (Number.isInteger(meta.loop)) timing.loop = meta.loop;
  const o = (out as SharpInternals).options;
  if (typeof o === 'object' && o !== null) Object.assign(o, timing); // where sharp's internals differ, its default timing
}

/** The format to write by default: the input's, when sharp can write it to a buffer. */
function outputFormatFor(inputFormat: string): OutFormat {
  // HEIF input (AVIF, HEIC) is written as AVIF: sharp's heif output needs a compression named,
  // and its prebuilt libvips encodes AV1 only.
  if (inputFormat === 'heif') return 'avif';
  const f = (sharp.format as unknown as Record<string, { output?: { buffer?: boolean } } | undefined>)[inputFormat];
  return f?.output?.buffer ? (inputFormat as OutFormat) : 'png';
}

/**
 * Refuse, from the header, an image whose raw samples (`channels` of `bytesPer` bytes a pixel,
 * all frames read) would not fit in one Node buffer (buffer.constants.MAX_LENGTH, 4 GiB on
 * Node 20): sharp 0.35 aborted the process ("free(): double free detected") on a 23200x23200
 * 16-bit RGBA PNG (4.31 GB) instead of failing.
 */
function checkDecodable(image: Sharp, meta: Metadata, channels: number, bytesPer: number): void {
  // Only where the pipeline keeps the input's size (no resize, crop, extend, rotation, trim or
  // affine), as far as sharp's internals tell: the raw pixels of a pipeline that shrinks a large
  // input are small, and one whose internals differ is left to sharp.
  const o = (image as SharpInternals).options as Record<string, unknown> | undefined;
  const sameSize = typeof o === 'object' && o !== null &&
    ['topOffsetPre', 'leftOffsetPre', 'widthPre', 'heightPre', 'topOffsetPost', 'leftOffsetPost', 'widthPost', 'heightPost', 'width', 'height', 'trimThreshold'].every((k) => o[k] === -1) &&
    ['angle', 'rotationAngle', 'extendTop', 'extendBottom', 'extendLeft', 'extendRight'].every((k) => o[k] === 0) &&
    Array.isArray(o.affineMatrix) && o.affineMatrix.length === 0;
  if (!sameSize) return;
  const bytes = (meta.width ?? 0) * (meta.height ?? 0) * channels * bytesPer;
  if (bytes <= bufferConstants.MAX_LENGTH) return;
  const gb = (n: number) => `${(n / 1e9).toFixed(2)} GB`;
  throw new ImageSizeError('ERR_IMAGE_TOO_LARGE', `The input image is ${meta.width}x${meta.height}: its raw pixels (${channels} channel${channels > 1 ? 's' : ''} ` +
    `of ${bytesPer * 8} bits) would take ${gb(bytes)}, more than one buffer of this Node.js can hold (${gb(bufferConstants.MAX_LENGTH)}); ` +
    `crop or resize it in the pipeline first${bytesPer === 2 ? ', or convert it to 8 bits' : ''}`);
}

async function readMetadata(image: Sharp): Promise<Metadata> {
  try {
    return await image.metadata();
  } catch (err) {
    throw readFailure(err);
  }
}

/** The pipeline's raw pixels; a failure as a typed error (an iPhone's HEIC photo said to be one, from `meta`, not a corrupt input). */
async function rawPixels(pipeline: Sharp, meta: Metadata): Promise<{ data: Buffer; info: OutputInfo }> {
  try {
    return await pipeline.toBuffer({ resolveWithObject: true });
  } catch (err) {
    const heif = heifCodec(meta);
    throw heif ? new DecodeError(`Cannot decode the input image: ${heif}`, { cause: err }) : readFailure(err);
  }
}

/** sharp's raw output as samples: 16-bit ones as a Uint16Array (an aligned copy where the Buffer's offset is odd). */
function samplesOf(data: Buffer, sixteen: boolean): Uint8Array | Uint16Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.length);
  if (!sixteen) return bytes;
  return data.byteOffset % 2 === 0 ? new Uint16Array(data.buffer, data.byteOffset, data.length / 2) : new Uint16Array(bytes.slice().buffer);
}

/**
 * Whether the instance reads several frames of an animation (or pages of a multi-page file)
 * stacked into one image (sharp's `animated: true` or `pages` over 1): sharp then gives the
 * height of the whole stack and the height of one page.
 */
const readsFrames = (meta: Metadata) => meta.pageHeight !== undefined && meta.height !== undefined && meta.height > meta.pageHeight;

/** The frames of a stack sharp decoded (1 for a still image): how many, and each one's height. */
function framesOf(info: OutputInfo): { frames: number; frameHeight: number } {
  const frameHeight = info.pageHeight;
  if (frameHeight === undefined || frameHeight <= 0 || frameHeight >= info.height || info.height % frameHeight !== 0) return { frames: 1, frameHeight: info.height };
  return { frames: info.height / frameHeight, frameHeight };
}

const isGrey = (meta: Metadata) => meta.space === 'b-w' || meta.space === 'grey16' || meta.channels === 1 || meta.channels === 2;

/** watermark()'s option names beyond the watermarker's and the payload; the stream's add theirs. */
const EMBED_NAMES = ['carryMetadata'];
const STREAM_NAMES = [...EMBED_NAMES, 'format', 'quality', 'keepMetadata', 'maxInputBytes'];

async function prepare(image: Sharp, options: SharpWatermarkOptions, known = EMBED_NAMES): Promise<Marked> {
  checkSharp(image, 'image');
  checkOptions(options, 'an object { key, payload, strength?, carryMetadata? }');
  const carry = booleanOption('options.carryMetadata', options.carryMetadata, true);
  const { wm, payload } = await embedSetup(options, known); // the payload and names are checked before any decoding
  const meta = await readMetadata(image);
  // The watermarker's pixel limit, from the header: before sharp decodes (a sharp instance made
  // with limitInputPixels: false would otherwise decode a bomb whole, only to be refused after).
  const limit = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (meta.width && meta.height && meta.width * meta.height > limit) {
    throw new ImageSizeError('ERR_IMAGE_TOO_LARGE', `The input image is ${meta.width}x${meta.height}, over the limit of ${limit} pixels; ` +
      'if you trust it, raise options.maxPixels (the limit protects against decompression bombs)');
  }
  const format = outputFormatFor(meta.format);
  const deep = meta.depth === 'ushort';
  const grey = isGrey(meta);
  const cmyk = meta.space === 'cmyk';
  // An animation (the instance reads all its frames) is marked frame by frame and goes back to
  // sharp as raw frames with its timing; its metadata is not carried (GIF has none), so its
  // colours are converted to sRGB as with carryMetadata: false.
  const animated = readsFrames(meta);
  // Keep the input's colours (no ICC transform) when its profile travels with the pixels.
  const keepIcc = carry && !animated && !cmyk && meta.hasProfile === true;
  // The raw pixels asked for below: grey (with its alpha when 16-bit), else RGB with its alpha.
  const alpha = meta.hasAlpha === true ? 1 : 0;
  checkDecodable(image, meta, grey && (deep || meta.channels !== 2) ? 1 + (deep ? alpha : 0) : 3 + alpha, deep ? 2 : 1);

  // Mark the image as it will be seen: EXIF orientation applied (the carried EXIF then says 1).
  let p = image.autoOrient();
  if (keepIcc) p = p.keepIccProfile();
  // libvips skips the input profile of a 16-bit RGB image on the way to sRGB: asked for on output.
  else if (deep && meta.hasProfile && !cmyk && !grey) p = p.withIccProfile('srgb');
  if (deep) p = p.toColourspace(grey ? 'grey16' : 'rgb16').raw({ depth: 'ushort' });
  else p = (grey && meta.channels !== 2 ? p.toColourspace('b-w') : p.toColourspace('srgb')).raw({ depth: 'uchar' });
  const { data, info } = await rawPixels(p, meta);
  const { frames, frameHeight } = animated ? framesOf(info) : { frames: 1, frameHeight: info.height };
  const { width, height } = info;
  let channels: number = info.channels;
  let samples = samplesOf(data, data.length === width * height * channels * 2);

  // 8-bit grey + alpha comes out of sharp as RGBA with R = G = B: back to grey + alpha.
  if (grey && meta.channels === 2 && !deep && channels === 4) {
    const n = width * height, rgba = samples as Uint8Array;
    let same = true;
    for (let i = 0; i < rgba.length; i += 4) if (rgba[i] !== rgba[i + 1] || rgba[i] !== rgba[i + 2]) { same = false; break; }
    if (same) {
      const ga = new Uint8Array(n * 2);
      for (let i = 0, j = 0; i < n; i++, j += 4) { ga[2 * i] = rgba[j]; ga[2 * i + 1] = rgba[j + 3]; }
      samples = ga;
      channels = 2;
    }
  }
  if (channels < 1 || channels > 4) {
    throw new DecodeError(`Cannot watermark an image of ${channels} channels: expected grey, grey + alpha, RGB or RGBA`);
  }

  // Each frame of an animation on its own (a view of frameHeight rows), so that every frame
  // carries the whole mark, as the command line and markFile mark them.
  const frameLength = width * frameHeight * channels;
  for (let i = 0; i < frames; i++) markSamples(wm, payload, samples.subarray(i * frameLength, (i + 1) * frameLength), width, frameHeight, channels);
  const marked = samples;
  const depth16 = marked instanceof Uint16Array;
  const raw = { width, height, channels: channels as 1 | 2 | 3 | 4, ...(frames > 1 ? { pageHeight: frameHeight } : {}) };
  const kept = carry && !animated ? metadataOf(meta, keepIcc, { upright: true }) : {};
  // The blocks decide whether the carrier PNG is needed; the resolution alone (which sharp reports
  // for nearly every input) travels in it when it is made, and is no reason to make it.
  const hasMetadata = (['exif', 'icc', 'xmp'] as const).some((k) => kept[k] !== undefined);
  const space = depth16 ? (channels < 3 ? 'grey16' : 'rgb16') : channels < 3 ? 'b-w' : 'srgb';
  let png: Promise<Buffer> | undefined;
  /** The marked pixels as a lossless PNG (level 0: fast) with the input's metadata chunks. */
  const carrier = () => png ??= sharp(marked, { raw, limitInputPixels: false }).toColourspace(space)
    .png({ compressionLevel: 0, adaptiveFiltering: false }).toBuffer()
    .then((b) => embedMetadata(b, 'png', kept, { width, height, alpha: false }))
    .then((u) => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength)));
  let out = sharp(marked, { raw, limitInputPixels: false });
  let lazy: typeof carrier | undefined;
  if (hasMetadata) {
    // With an ICC profile the carrier is needed either way (sharp converts the kept colours with
    // it when the profile is not kept); without, only pipelines that keep EXIF or XMP need it.
    if (!keepIcc && canSwapInput(out as SharpInternals)) lazy = carrier;
    else out = sharp(await carrier(), { limitInputPixels: false });
  }
  // Keep the input's kind on output: 16-bit stays 16-bit, grey stays grey.
  if (depth16 || channels < 3) out = out.toColourspace(space);
  if (frames > 1) keepTiming(out, meta, frames);
  const density = typeof meta.density === 'number' && meta.density >= 1 && meta.density <= 65535 ? meta.density : undefined;
  return { out: continueAs(out, format, lazy, !depth16 && channels === 2, density), format, density, exif: kept.exif };
}

/**
 * Watermark the image of a sharp pipeline. The operations already on `image` (resize, crop, ...)
 * are applied first and their result is marked, upright: EXIF orientation is applied before
 * marking (the carried EXIF then says orientation 1), so the mark sits in the pixels as viewers
 * show them. Resolves with a NEW sharp instance holding the marked pixels, on which the pipeline
 * continues: further operations (`.resize()`, ...), an output format (`.jpeg()`, `.png()`, ...;
 * set output options after this call), `.toBuffer()`, `.toFile()`, streaming, `.metadata()`.
 *
 * - Output format: the input's unless you choose one (or `toFile` names one by its extension). A
 *   TIFF input is written back losslessly (deflate) at its resolution, not with sharp's TIFF
 *   defaults (JPEG compression at quality 80, 1 pixel per mm); a format you choose has sharp's.
 * - Metadata: as with sharp, stripped unless you ask: `.keepMetadata()` / `.withMetadata()` /
 *   `.keepExif()` / `.keepIccProfile()` / `.keepXmp()` keep the input's EXIF, ICC profile and XMP
 *   (not IPTC, nor a PNG's text chunks: the command line and writeImage keep those). See {@link SharpWatermarkOptions.carryMetadata}.
 * - Depth and kind: 16-bit stays 16-bit, grey stays grey, alpha is kept byte for byte.
 *   CMYK and other colour spaces are converted to sRGB.
 * - `image` itself is used up (its output is set to raw pixels); keep using the returned one.
 *   `.metadata()` on the returned instance describes what it holds (raw pixels, or the PNG that
 *   carries the metadata), not the input file; read the input's metadata before this call.
 * - Animations: an instance made with `animated: true` (or `pages` over 1) has every frame marked
 *   on its own, and the result keeps the frames, their delays and the loop count (write it as GIF
 *   or WebP; its metadata is not carried, and its colours are converted to sRGB). An instance
 *   made without reads the first frame only, as sharp does, so its result is that one frame.
 *   The `maxPixels` limit counts the pixels of every frame the instance reads.
 *
 * @throws InvalidArgumentError for bad options (a bad payload before anything is decoded),
 *   DecodeError for an input sharp cannot decode, ImageSizeError for an image too small
 *   (under 128 px a side) or over `maxPixels`.
 * @example
 * import sharp from 'sharp';
 * import { watermark } from 'modelmark/sharp';
 * const marked = await watermark(sharp('in.jpg'), { key: 'my secret', payload: 'c0ffee0000000001' });
 * await marked.resize(1280).keepMetadata().jpeg({ quality: 90 }).toFile('out.jpg');
 */
export async function watermark(image: Sharp, options: SharpWatermarkOptions): Promise<Sharp> {
  return (await prepare(image, options)).out;
}

/**
 * Look for the mark of `options.key` in the image of a sharp pipeline (after its operations and
 * EXIF orientation), blind. Resolves with the core's DetectResult. `image` is used up. An
 * instance reading every frame of an animation (`animated: true`) has its first frame read.
 * With `evidence: true` the result also holds the image's evidence (see `evidence` below),
 * from the same read; `pieces: true` also looks for a marked piece of a larger image (the
 * core's detect option), `pieces: 'all'` for every one (listed in the result's `pieces`).
 * @throws InvalidArgumentError for bad options, DecodeError for an input sharp cannot decode.
 * @example
 * import sharp from 'sharp';
 * import { detect } from 'modelmark/sharp';
 * const { found, payload, pValue } = await detect(sharp('out.jpg'), { key: 'my secret' });
 */
export async function detect(image: Sharp, options: WatermarkerOptions & DetectCallOptions): Promise<DetectResult> {
  // The call's options checked before anything is decoded (the core checks them again).
  if (options !== null && typeof options === 'object') {
    booleanOption('options.evidence', options.evidence, false);
    piecesOption('options.pieces', options.pieces);
  }
  const { wm, pixels, stack } = await readForDetection(image, options, ['evidence', 'pieces']);
  // An animation's frames in turn, as the command line reads them (up to MAX_DETECT_FRAMES,
  // the p-value counting every frame read; evidence from the first frame).
  if (stack) return detectFile(wm, stack, { evidence: options.evidence, pieces: options.pieces });
  return wm.detect(pixels, { evidence: options.evidence, pieces: options.pieces });
}

/**
 * This image's evidence for the mark of `options.key` (read as `detect` reads it), to be
 * pooled over a set of images with `combineEvidence` from `modelmark`: found where the set
 * carries the mark even when no single image shows it. `image` is used up.
 * @throws InvalidArgumentError for bad options, DecodeError for an input sharp cannot decode.
 * @example
 * import sharp from 'sharp';
 * import { combineEvidence } from 'modelmark';
 * import { evidence } from 'modelmark/sharp';
 * const all = await Promise.all(['a.jpg', 'b.jpg'].map((f) => evidence(sharp(f), { key: 'my secret' })));
 * combineEvidence(all); // { found, pValue, t, ... }
 */
export async function evidence(image: Sharp, options: WatermarkerOptions): Promise<Evidence> {
  const { wm, pixels } = await readForDetection(image, options);
  return wm.evidence(pixels);
}

/** The watermarker for `options` and the pipeline's pixels as the detector reads them. */
async function readForDetection(image: Sharp, options: WatermarkerOptions, known: string[] = []): Promise<{ wm: Watermarker; pixels: SampleImage; stack?: SampleFile }> {
  checkSharp(image, 'image');
  checkOptions(options, 'an object { key, strength?, threshold?, search? }');
  const wm = await watermarkerFor(options, known);
  const meta = await readMetadata(image);
  // The watermarker's pixel limit, from the header, before sharp decodes (as watermark() does).
  const limit = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (meta.width && meta.height && meta.width * meta.height > limit) {
    throw new ImageSizeError('ERR_IMAGE_TOO_LARGE', `The input image is ${meta.width}x${meta.height}, over the limit of ${limit} pixels; ` +
      'if you trust it, raise options.maxPixels (the limit protects against decompression bombs)');
  }
  const deep = meta.depth === 'ushort';
  const alpha = meta.hasAlpha === true ? 1 : 0;
  checkDecodable(image, meta, deep ? (isGrey(meta) ? 1 : 3) + alpha : meta.channels === 1 ? 1 : 3 + alpha, deep ? 2 : 1);
  let p = image.autoOrient();
  if (meta.space !== 'cmyk' && meta.hasProfile) p = p.keepIccProfile(); // the colours the mark went into
  // 16-bit samples are read as such: the core reads them through the same 8-bit view that
  // watermark() marked (round(s / 257); sharp's own conversion to 8 bits truncates).
  if (deep) p = p.toColourspace(isGrey(meta) ? 'grey16' : 'rgb16').raw({ depth: 'ushort' });
  else p = (meta.channels === 1 ? p.toColourspace('b-w') : p.toColourspace('srgb')).raw({ depth: 'uchar' });
  const { data, info } = await rawPixels(p, meta);
  // An instance reading every frame of an animation: its frames (each carries the whole mark of a
  // marked animation), never the stack read as one tall image, where no mark would be found; the
  // first frame alone for evidence.
  const { frames, frameHeight } = readsFrames(meta) ? framesOf(info) : { frames: 1, frameHeight: info.height };
  const samples = samplesOf(data, deep);
  const channels = info.channels as 1 | 3 | 4;
  const first = frames > 1 ? samples.subarray(0, info.width * frameHeight * channels) : samples;
  const stack = frames > 1 ? { width: info.width, height: info.height, channels, data: samples, format: meta.format ?? 'raw', animation: { frames, frameHeight } } : undefined;
  return { wm, pixels: { width: info.width, height: frameHeight, channels, data: first }, ...(stack ? { stack } : {}) };
}

const FORMAT_NAMES = new Set<string>(['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'heif', 'jp2', 'jxl']);

/** A JPEG matched to its input below this quality is read back; one that lost the mark is written at it (writeImage's default). */
const VERIFY_BELOW = 95;



/**
 * A stream filter for encoded images: write one image file's bytes in, read the marked image's
 * bytes out, in the input's format unless `options.format` says otherwise (a JPEG at the input's
 * quality, subsampling and progressive mode, a lossless WebP lossless: see `options.quality`). An animated GIF or
 * WebP written as GIF or WebP keeps every frame (each marked), its delays and loop count; written
 * in another format, its first frame is marked and written. The whole input is
 * buffered (at most `options.maxInputBytes`, 256 MiB by default); errors (bad input, corrupt
 * image, image too large) end the stream with a typed error, so `pipeline()` rejects with it.
 * Options are checked when the stream is made (a bad payload throws here, synchronously).
 * @example
 * import { createReadStream, createWriteStream } from 'node:fs';
 * import { pipeline } from 'node:stream/promises';
 * import { watermarkStream } from 'modelmark/sharp';
 * await pipeline(createReadStream('in.jpg'), watermarkStream({ key: 'my secret', payload: 'c0ffee0000000001' }), createWriteStream('out.jpg'));
 */
export function watermarkStream(options: WatermarkStreamOptions): Transform {
  const o = checkOptions(options, 'an object { key, payload, format?, quality?, keepMetadata?, maxInputBytes? }');
  checkOptionNames('options', options, [...WATERMARKER_OPTION_NAMES, 'payload', ...STREAM_NAMES]);
  parsePayload(options.payload, 'options.payload');
  const carry = booleanOption('options.carryMetadata', o.carryMetadata, true);
  const keep = booleanOption('options.keepMetadata', o.keepMetadata, false);
  const { format, quality } = options;
  if (format !== undefined && (typeof format !== 'string' || !FORMAT_NAMES.has(format))) {
    throw invalidParameter('options.format', `one of ${[...FORMAT_NAMES].join(', ')}`, format);
  }
  if (quality !== undefined && !(Number.isInteger(quality) && quality >= 1 && quality <= 100)) {
    throw invalidParameter('options.quality', 'an integer between 1 and 100', quality);
  }
  if (options.maxPixels !== undefined && !(Number.isSafeInteger(options.maxPixels) && options.maxPixels > 0)) {
    throw invalidParameter('options.maxPixels', 'a positive integer number of pixels', options.maxPixels);
  }
  const limit = options.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES;
  if (!(Number.isSafeInteger(limit) && limit > 0)) throw invalidParameter('options.maxInputBytes', 'a positive integer', limit);
  // Load the watermarker now (cached); a bad key or strength is reported when the input ends.
  watermarkerFor(options).catch(() => {});

  const chunks: Buffer[] = [];
  let size = 0;
  const stream: Transform = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      if (size > limit) {
        chunks.length = 0;
        callback(new ImageSizeError('ERR_IMAGE_TOO_LARGE', `The input is over the stream's limit of ${limit} bytes; raise options.maxInputBytes if you trust it`));
        return;
      }
      chunks.push(chunk);
      callback();
    },
    flush(callback) {
      const input = Buffer.concat(chunks, size);
      chunks.length = 0;
      (async () => {
        if (input.length === 0) throw new DecodeError('Cannot decode the input image: the input is empty');
        // An animation written as GIF or WebP (its own format, or the one asked for) keeps every
        // frame, each marked; written in a still format, its first frame is.
        const head = await readMetadata(sharp(input, { failOn: 'truncated', limitInputPixels: false }));
        // libvips reads a GIF cut off after its first frame silently (frames lost, one half filled).
        const cut = head.format === 'gif' ? gifTruncatedAt(input) : -1;
        if (cut >= 0) throw new DecodeError(`Cannot decode the input image: the input is truncated (its GIF data ends before the trailer, ${cut} whole frame${cut === 1 ? '' : 's'} in)`);
        // An animated PNG: sharp reads its first image only, and the copy would lose the animation.
        const apng = head.format === 'png' ? apngFrames(input) : 0;
        if (apng > 1) {
          throw new DecodeError(`The input is an animated PNG (APNG, ${apng} frames): sharp reads its first image only, and the copy would lose the animation; ` +
            'convert it to an animated WebP or GIF first', { code: 'ERR_ANIMATED' });
        }
        const written = format ?? String(outputFormatFor(String(head.format ?? '')));
        // A side the output format cannot hold (orientation only swaps the sides: either way),
        // refused from the header, before it is decoded and marked (modelmark/node's table).
        const side = (ENCODER_MAX_SIDE as Partial<Record<string, number>>)[written];
        if (side !== undefined && ((head.width ?? 0) > side || (head.height ?? 0) > side)) {
          throw new ImageSizeError('ERR_IMAGE_TOO_LARGE', `The input image is ${head.width}x${head.height}, too large for ${written} ` +
            `(at most ${side} pixels a side); choose another output format with options.format (png)`);
        }
        const animated = (head.pages ?? 1) > 1 && (written === 'gif' || written === 'webp');
        const { out, format: own, density, exif } = await prepare(sharp(input, { failOn: 'truncated', limitInputPixels: options.maxPixels ?? true, animated }), options, STREAM_NAMES);
        // Destroyed meanwhile (the consumer went away): no encoding for nobody.
        if (stream.destroyed) return Buffer.alloc(0);
        let p = keep ? out.keepMetadata() : out;
        const f: OutFormat = format ?? own;
        try {
          // heif: AV1 in a HEIF container (sharp needs the compression named); a format this
          // sharp cannot write (jp2 without OpenJPEG, ...) throws here, as a typed error below.
          const matched = matchedSettings(String(f), sourceEncoding(input), quality);
          const base = p;
          p = f === 'heif' ? p.heif({ compression: 'av1', ...(quality !== undefined ? { quality } : {}) })
            : f === 'tiff' ? p.tiff(tiffWriteOptions(density, quality))
              : p.toFormat(f, { ...(quality !== undefined ? { quality } : {}), ...matched });
          let bytes = await p.toBuffer();
          // A JPEG at its input's quality below 95 is read back (in place) before it is kept; where
          // the mark does not come back (a text scan at 75), it is written at 95, as the CLI does.
          if (matched.quality !== undefined && matched.quality < VERIFY_BELOW && !(await markReadsBack(bytes, await watermarkerFor(options), options.payload))) {
            bytes = await base.clone().toFormat(f, { ...matched, quality: VERIFY_BELOW }).toBuffer();
          }
          // libvips writes a TIFF's ICC profile and XMP but no EXIF, and reads none from a TIFF
          // input: kept EXIF goes in as the TIFF's EXIF sub-IFDs (modelmark/metadata).
          // (carryMetadata: false carries nothing: not even a TIFF input's EXIF.)
          const carried = f === 'tiff' && keep && carry ? exif ?? (head.format === 'tiff' ? (await readFileMetadata(input)).exif : undefined) : undefined;
          if (!carried) return bytes;
          const tagged = await embedMetadata(bytes, 'tiff', { exif: carried }, { width: 0, height: 0, alpha: false });
          return Buffer.from(tagged.buffer, tagged.byteOffset, tagged.byteLength);
        } catch (err) {
          throw new FileError(`Cannot encode the marked image as ${f}: ${message(err)}`, { cause: err });
        }
      })().then((bytes) => callback(null, bytes), (err) => callback(err));
    },
  });
  return stream;
}
