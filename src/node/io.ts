// Node-only image file input and output with sharp: decoding with decompression-bomb and
// truncation checks, and atomic, never-overwrite-the-input encoding.
import { constants as bufferConstants } from 'node:buffer';
import { constants as fsConstants, promises as fsp } from 'node:fs';
import { extname } from 'node:path';
import type { Metadata, OutputInfo, TiffOptions } from 'sharp';
import loadSharp from './sharp.js';
import { booleanOption, checkOptionNames, invalidParameter, numberIn } from '../args.js';
import { DecodeError, FileError, ImageSizeError, InvalidArgumentError } from '../errors.js';
import { DEFAULT_MAX_PIXELS, genuineBytes, genuineSamples, pixelCount, type SampleImage } from '../image.js';
import { apngFrames, gifTruncatedAt } from '../header.js';
import { fileKind, osReason, readRegularFile, writeFileAtomic, type InsideFolder } from './files.js';
import { checkSourceEncoding, matchedSettings, sourceEncoding, type SourceEncoding } from '../encoding.js';
import { parsePayload, payloadHex, type Payload } from '../payload.js';
import type { Watermarker } from '../watermarker.js';
import { checkPngText, embedMetadata, metadataOf, metadataWarnings, profileFits, readMetadata, type ImageMetadata } from '../metadata.js';

/** Formats {@link writeImage} can encode. */
export type WriteFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'avif' | 'tiff';

/**
 * The frames of an animated file, stacked top to bottom in one image (`height` = `frames` x
 * `frameHeight`, as sharp lays them out): {@link ReadImageOptions.allFrames} returns it, and
 * {@link writeImage} writes such a stack back as an animated WebP or GIF.
 */
export interface Animation {
  frames: number;
  frameHeight: number;
  /** Each frame's display time in milliseconds (absent: the encoder's default). */
  delay?: number[];
  /** Times to play: 0 loops forever. */
  loop?: number;
}

/** A decoded image file: 8-bit grey, RGB or RGBA pixels plus the decoder that read it. */
export interface ImageFile {
  width: number;
  height: number;
  channels: 1 | 3 | 4;
  data: Uint8Array;
  /** The file format: sharp's name ('jpeg', 'png', 'webp', 'gif', 'tiff', 'heif', ...), except 'avif' for AVIF (sharp's 'heif' with AV1). */
  format: string;
  /** With {@link ReadImageOptions.metadata}: the file's EXIF (upright), ICC profile, XMP, IPTC records and resolution, for {@link writeImage}. */
  metadata?: ImageMetadata;
  /**
   * How a JPEG or WebP file was encoded (a JPEG's quality, chroma subsampling and progressive
   * mode, a WebP's lossless mode), for {@link WriteImageOptions.encoding}: a copy written with it
   * matches the original's quality and size. Absent for other formats.
   */
  encoding?: SourceEncoding;
  /** For an animated file: its number of frames (with {@link ReadImageOptions.firstFrame} or `maxFrames`, more than were decoded). */
  pages?: number;
  /** With {@link ReadImageOptions.allFrames}, for an animated file: its frames, stacked in `data`. */
  animation?: Animation;
  /**
   * What the decoder warned of, when it did (e.g. "Corrupt JPEG data: premature end of data
   * segment"): the file is damaged, and `data` is what its decoder made of it, as a viewer would
   * show it; and, with {@link ReadImageOptions.metadata}, a metadata block over METADATA_LIMITS
   * that was left out (a line that starts with "metadata: "). Absent for a sound file.
   */
  warnings?: string[];
}

/** A decoded image file whose 16-bit samples were kept (see {@link ReadImageOptions.keepDepth}). */
export interface SampleFile extends Omit<ImageFile, 'data'> {
  /** 8-bit samples, or 16-bit ones for a 16-bit file. */
  data: Uint8Array | Uint16Array;
}

/** Options of {@link readImage}. */
export interface ReadImageOptions {
  /** Largest image accepted, in pixels (default 100 megapixels): a guard against decompression bombs. */
  maxPixels?: number | undefined;
  /**
   * Keep 16 bits: a 16-bit file (PNG, TIFF, ...) decodes to a Uint16Array of 16-bit samples
   * (grey, RGB or RGBA, as for 8 bits) instead of 8-bit ones (default false). The classical
   * watermarker takes them, and {@link writeImage} writes them back as 16-bit PNG.
   */
  keepDepth?: boolean | undefined;
  /**
   * Keep the file's metadata (default false): the result's `metadata` holds its EXIF (with the
   * orientation set to upright, since the pixels are turned upright), its XMP, its IPTC records
   * (a JPEG's or TIFF's: caption, creator, copyright notice), its ICC profile and its resolution (`density`, pixels per inch), for {@link writeImage} to write into a copy. The pixels then stay in the ICC
   * profile's colours (a Display P3 photo keeps its P3 values, and its wide gamut) instead of
   * being converted to sRGB; profiles that cannot travel with the decoded pixels (CMYK, or a grey
   * profile on grey + alpha, which decodes as RGBA) are converted to sRGB as without this
   * option, and left out. A PNG's gAMA, cHRM and sRGB chunks are not kept (the pixels are taken
   * as sRGB), nor are Photoshop's other image resources beside its IPTC records. 16-bit grey with a grey profile is read without its profile applied
   * (libvips has no transform for it): keep the profile with this option to keep its look.
   */
  metadata?: boolean | undefined;
  /**
   * Accept an animated file (GIF, WebP) and decode its first frame (default false: refused with
   * DecodeError `ERR_ANIMATED`, since a copy made from one frame would lose the others). For
   * reading only, as detection does: every frame of a marked animation carries the mark.
   */
  firstFrame?: boolean | undefined;
  /**
   * Accept an animated file (GIF, WebP) and decode every frame (default false): `data` holds the
   * frames stacked top to bottom and `animation` says how many, their height, delays and loop
   * count; mark each frame on its own (a view of `frameHeight` rows) and write the stack back
   * with writeImage's `animation` option. `maxPixels` counts the pixels of all frames.
   */
  allFrames?: boolean | undefined;
  /**
   * With `allFrames`: decode the first `maxFrames` frames only (default: all), for reading, as
   * detection does (`animation.frames` is then the number decoded, `pages` the file's). The
   * pixel limit counts the frames decoded. A multi-page file that is not an animation (TIFF,
   * HEIF) is then read as its first page is.
   */
  maxFrames?: number | undefined;
}

/** Options of {@link writeImage}. */
export interface WriteImageOptions {
  /** Format used when the path's extension does not name one, e.g. the input's format. */
  format?: string | undefined;
  /**
   * JPEG / WebP / AVIF quality, 1 to 100. Ignored for PNG, GIF and TIFF. By default 95, so that
   * the mark survives its own save, or for a JPEG written from a JPEG's `encoding`, that file's
   * quality (at least MIN_MATCHED_QUALITY (75)).
   */
  quality?: number | undefined;
  /**
   * The encoding of the file the image came from (readImage's `encoding`), matched when the
   * output has the same format: a JPEG is written at the source's quality (estimated from its
   * tables; at least MIN_MATCHED_QUALITY (75), where the mark keeps its margin; `quality`
   * overrides it), with its chroma subsampling (4:2:0 stays 4:2:0, anything finer is written
   * 4:4:4) and progressive if it was; a lossless WebP is written lossless (unless `quality` is
   * given). Without it, or for another format, the defaults hold (quality 95, 4:2:0, baseline).
   */
  encoding?: SourceEncoding | undefined;
  /**
   * Make sure a JPEG written below quality 95 because it matches `encoding` still carries the
   * mark: its bytes are decoded and read in place (`watermarker.detect`, no geometric search) and,
   * when `payload` does not come back, the image is written at quality 95 instead
   * ({@link WrittenImage.raisedFrom} then names the quality that lost it). A text scan at its
   * source's quality 75 or 85 was such a case. Costs a decode and a read (13-14 ms at 1080p on a 2-vCPU AMD EPYC).
   */
  verify?: { watermarker: Pick<Watermarker, 'detect'>; payload: Payload } | undefined;
  /** A file that must not be written over, e.g. the one the image was read from: refused always. */
  sourcePath?: string | undefined;
  /**
   * Allow writing over the file this image was read from (default false). {@link readImage}
   * records that file on the image it returns, and copies made from it by `wm.embed` or
   * {@link markFile} keep the record, so `writeImage(sameFile, marked)` is refused unless this
   * is true (the original would be lost). Does not lift `sourcePath`.
   */
  overwriteSource?: boolean | undefined;
  /**
   * Metadata to write into the file (EXIF, ICC profile, XMP, IPTC records: JPEG and TIFF only), e.g. `readImage(..., { metadata:
   * true })`'s: written into the encoded file as it is (nothing re-encoded). The ICC profile must
   * fit the pixels (an RGB profile for RGB or RGBA, a grey one for grey). EXIF or XMP over 64 KB
   * does not fit a JPEG segment and is left out of JPEG files. GIF files carry none of it: for
   * GIF, pixels in the ICC profile's colours are converted to sRGB, so that they look the same.
   */
  metadata?: ImageMetadata | undefined;
  /**
   * Write `image` as an animation: its rows are `frames` frames of `frameHeight` rows, stacked
   * (as readImage's `allFrames` returns them). WebP and GIF; TIFF writes the frames as pages
   * (without timing; every page carries the ICC profile, the first the other metadata).
   */
  animation?: Animation | undefined;
  /**
   * Write only inside this folder: when the file is written, its folder must resolve inside
   * `insideFolder.path` (and that folder still be the one with `insideFolder.id`, see folderId),
   * else FileError. A guard for services that write into folders other users can change: a
   * folder swapped for a symbolic link after the caller's checks gets the write refused instead
   * of redirected.
   */
  insideFolder?: InsideFolder | undefined;
}

/** What {@link encodeImage} made: the file's bytes and their format. */
export interface EncodedImage {
  data: Buffer;
  format: WriteFormat;
  /**
   * The blocks of `options.metadata` the file carries, read back from its bytes: e.g. `['exif',
   * 'icc']`, `[]` for GIF (which carries none), no `'exif'` for EXIF over 64 KB in JPEG.
   */
  metadata: MetadataKind[];
  /** The quality of a lossy JPEG, WebP or AVIF file (absent for PNG, GIF, TIFF and lossless WebP). */
  quality?: number;
  /** With `options.verify`: the source's quality at which the mark did not read back (the file is at `quality`, 95). */
  raisedFrom?: number;
}

/** A kind of metadata block: the EXIF block, the ICC profile, the XMP packet. */
export type MetadataKind = 'exif' | 'icc' | 'xmp' | 'iptc' | 'pngText';
const METADATA_KINDS: readonly MetadataKind[] = ['exif', 'icc', 'xmp', 'iptc', 'pngText'];

/** What {@link writeImage} wrote. */
export interface WrittenImage {
  path: string;
  format: WriteFormat;
  /** Size of the file in bytes. */
  size: number;
  /** The blocks of `options.metadata` the file carries (as {@link EncodedImage.metadata}). */
  metadata: MetadataKind[];
  /** The quality of a lossy JPEG, WebP or AVIF file (absent for PNG, GIF, TIFF and lossless WebP). */
  quality?: number;
  /** With `options.verify`: the source's quality at which the mark did not read back (the file is at `quality`, 95). */
  raisedFrom?: number;
}

const EXTENSIONS: Record<string, WriteFormat> = { '.jpg': 'jpeg', '.jpeg': 'jpeg', '.jpe': 'jpeg', '.jfif': 'jpeg', '.png': 'png', '.webp': 'webp', '.gif': 'gif', '.avif': 'avif', '.tif': 'tiff', '.tiff': 'tiff' };
/** The extensions {@link formatFromPath} knows, for messages. */
const EXTENSION_LIST = '.png, .jpg, .jpeg, .jpe, .jfif, .webp, .gif, .avif, .tif or .tiff';
/** The format names {@link writeImage} and {@link encodeImage} take, for messages. */
const FORMAT_LIST = '"jpeg", "png", "webp", "gif", "avif" or "tiff"';
/**
 * Format names writeImage takes. 'heif' is sharp's name of an AVIF input (AV1 in a HEIF
 * container; this sharp decodes no other HEIF): such an input is written back as AVIF.
 */
const FORMAT_NAMES: Record<string, WriteFormat> = { jpeg: 'jpeg', jpg: 'jpeg', png: 'png', webp: 'webp', gif: 'gif', avif: 'avif', heif: 'avif', tiff: 'tiff', tif: 'tiff' };
/**
 * Largest side each encoder accepts (writeImage and the sharp plug-in's stream refuse a larger
 * image before decoding it). JPEG's header could say 65535, but libjpeg-turbo (sharp's
 * encoder) refuses more than 65500 ("Maximum supported image dimension is 65500 pixels").
 * TIFF's sides are 32-bit fields; a classic TIFF file stays under 4 GiB, which readImage's own
 * limit on decoded samples (one Node buffer) keeps it under, deflated.
 */
export const ENCODER_MAX_SIDE: Readonly<Record<WriteFormat, number>> = Object.freeze({ jpeg: 65500, png: 0x7fffffff, webp: 16383, gif: 65535, avif: 16384, tiff: 0x7fffffff });
const DEFAULT_QUALITY = 95;
/** How an image is encoded: writeImage's and encodeImage's quality and encoding options resolved. */
interface Settings {
  /** JPEG, WebP and AVIF: the quality (unused when lossless). */
  quality: number;
  /** WebP: lossless. */
  lossless: boolean;
  /** JPEG. */
  chromaSubsampling: '4:2:0' | '4:4:4';
  /** JPEG. */
  progressive: boolean;
  /** Whether `quality` is the source's (matched), not the caller's or the default. */
  matched: boolean;
}

/** The settings for writing `format`, matching `encoding` where it is of the same format. */
function settingsFor(format: WriteFormat, quality: number | undefined, encoding: SourceEncoding | undefined): Settings {
  const matched = matchedSettings(format, encoding, quality);
  return { quality: quality ?? DEFAULT_QUALITY, lossless: false, chromaSubsampling: '4:2:0', progressive: false, ...matched, matched: matched.quality !== undefined };
}

/** The quality a file written with `s` as `format` has, if it is lossy. */
const lossyQuality = (format: WriteFormat, s: Settings) =>
  format === 'jpeg' || format === 'avif' || (format === 'webp' && !s.lossless) ? { quality: s.quality } : {};
const DISPLAY: Record<WriteFormat, string> = { jpeg: 'JPEG', png: 'PNG', webp: 'WebP', gif: 'GIF', avif: 'AVIF', tiff: 'TIFF' };
/**
 * Bits a sample of 16-bit pixels keep in AVIF: 10, what AV1's Main profile (and so every AVIF
 * decoder) takes; 12 bits need the Professional profile, which many decoders lack.
 */
const AVIF_DEEP_BITS = 10;

function checkPath(path: unknown, name: string): string {
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) throw invalidParameter(name, 'a non-empty file path string', path);
  return path;
}

const q = (path: string) => JSON.stringify(path);


/**
 * sharp's own line in front of a loader's warning when `failOn` turns it into an error (TIFF's
 * JPEG strips): it names our setting, not the file's damage, so users are not shown it.
 */
const FAIL_ON_NOTE = /^warning treated as error due to failOn setting:?$/i;

/**
 * Why a HEIF file may not decode, from its header: its image is compressed with a codec other than
 * AV1 (HEVC, as iPhones save photos), which sharp's prebuilt libvips cannot decode. Else ''. For
 * the message of a decoding that failed.
 * @example
 * const why = heifCodec(await sharp('IMG_0001.HEIC').metadata()); // 'it is a HEIF image compressed with HEVC ...'
 */
export function heifCodec(meta: { format?: string | undefined; compression?: string | undefined }): string {
  if (meta.format !== 'heif' || meta.compression === undefined || meta.compression === 'av1') return '';
  return `it is a HEIF image compressed with ${meta.compression.toUpperCase()} (a HEIC photo, as iPhones save them), which this sharp cannot ` +
    'decode (its prebuilt libvips decodes AV1 in HEIF, i.e. AVIF, only); convert it to JPEG or PNG first';
}

/**
 * sharp's TIFF output options as modelmark writes TIFF: lossless, as PNG, with deflate after
 * horizontal differencing (read by libtiff and so by nearly every TIFF reader; smaller than LZW
 * on photos, and never more than a few bytes in a thousand over the samples on noise, where LZW
 * can grow by half); with `quality`, JPEG compression at that quality instead. The resolution is
 * `density` (pixels per inch; else 72), labelled per inch: sharp's defaults are JPEG compression
 * at quality 80 and 1 pixel per millimetre, which prints at 25.4 dpi.
 * @example
 * await sharp(input).tiff(tiffWriteOptions((await sharp(input).metadata()).density)).toFile('out.tiff');
 */
export function tiffWriteOptions(density: number | undefined, quality?: number): TiffOptions {
  const perMm = (density ?? 72) / 25.4;
  const res = { xres: perMm, yres: perMm, resolutionUnit: 'inch' as const };
  return quality === undefined ? { compression: 'deflate', predictor: 'horizontal', ...res } : { compression: 'jpeg', quality, ...res };
}

/** Classify a sharp decoding failure into a short explanation. */
function decodeReason(message: string): string {
  const m = message.toLowerCase();
  if (m.includes('buffer is empty')) return 'the file is empty';
  if (m.includes('unsupported image format')) return 'it is not an image in a supported format (JPEG, PNG, WebP, GIF, TIFF, AVIF, HEIF)';
  if (/premature end|truncat|unexpected end|read error|not enough data/.test(m)) return 'the file is truncated or corrupt';
  if (m.includes('corrupt header') || m.includes('bad ') || m.includes('invalid')) return 'the file is corrupt';
  return 'the image data could not be decoded';
}

/** The pixel-limit error of a file of `pages` frames of width x height (one for a still image). */
function tooLarge(path: string, width: number, height: number, maxPixels: number, pages = 1): ImageSizeError {
  const mp = pixelCount(width * height * pages);
  const size = pages > 1 ? `${pages} frames of ${width}x${height} (${mp} in all)` : `${width}x${height} (${mp})`;
  return new ImageSizeError('ERR_IMAGE_TOO_LARGE',
    `${q(path)} is ${size}, over the limit of ` +
    `${pixelCount(maxPixels)}; if you trust this file, raise the limit with the maxPixels option ` +
    '(--max-pixels on the command line). The limit protects against decompression bombs.');
}

/** Bytes a pixel can take in an image file: 16-bit RGBA, stored uncompressed. */
const FILE_BYTES_PER_PIXEL = 8;
/** Room beside the pixels for metadata, thumbnails and trailing data in a file. */
const FILE_SLACK_BYTES = 64 * 1024 * 1024;

/**
 * The largest file read as an image under a pixel limit: 8 bytes a pixel (16-bit RGBA,
 * uncompressed) and 64 MiB for metadata. A larger file cannot be an image within the limit, and
 * is refused before it is read into memory (827 MiB at the default 100 megapixels).
 * @example
 * maxFileBytes(100_000_000); // 867108864
 */
export function maxFileBytes(maxPixels: number): number {
  return maxPixels * FILE_BYTES_PER_PIXEL + FILE_SLACK_BYTES;
}

/**
 * The file-size error, before reading: `size` bytes are more than an image of `maxPixels`
 * pixels takes (see {@link maxFileBytes}).
 * @example
 * if (st.size > maxFileBytes(limit)) throw fileTooLarge('huge.png', st.size, limit);
 */
export function fileTooLarge(path: string, size: number, maxPixels: number): ImageSizeError {
  const mib = (n: number) => `${(n / 1048576).toFixed(n < 10 * 1048576 ? 1 : 0)} MiB`;
  if (size > bufferConstants.MAX_LENGTH && size <= maxFileBytes(maxPixels)) {
    return new ImageSizeError('ERR_IMAGE_TOO_LARGE',
      `${q(path)} is ${mib(size)}, more than one buffer of this Node.js can hold (${mib(bufferConstants.MAX_LENGTH)}), so it was not read; ` +
      'convert it to a smaller file (a compressed format) or split it.');
  }
  return new ImageSizeError('ERR_IMAGE_TOO_LARGE',
    `${q(path)} is ${mib(size)}, more than any image file within the limit of ${pixelCount(maxPixels)} can be ` +
    `(${mib(maxFileBytes(maxPixels))}: 8 bytes a pixel and 64 MiB of metadata), so it was not read; if you trust this file, ` +
    'raise the limit with the maxPixels option (--max-pixels on the command line).');
}

/**
 * Read and decode an image file into 8-bit pixels: grey stays grey (1 channel), grey with alpha
 * becomes RGBA, 16-bit becomes 8-bit, CMYK and ICC-profiled images become sRGB, and EXIF
 * orientation is applied. Alpha is kept.
 * @example
 * const img = await readImage('photo.jpg'); // { width, height, channels: 3, data, format: 'jpeg' }
 */
export async function readImage(path: string, options?: ReadImageOptions & { keepDepth?: false | undefined }): Promise<ImageFile>;
/**
 * Read and decode an image file, keeping 16-bit samples of a 16-bit file (a Uint16Array).
 * @example
 * const img = await readImage('scan.png', { keepDepth: true }); // data: Uint16Array for a 16-bit PNG
 */
export async function readImage(path: string, options: ReadImageOptions & { keepDepth: boolean }): Promise<SampleFile>;
/**
 * Read and decode an image file with options of the general type (keepDepth unknown here).
 * @example
 * async function load(path: string, options?: ReadImageOptions) { return readImage(path, options); }
 */
export async function readImage(path: string, options?: ReadImageOptions): Promise<SampleFile>;
export async function readImage(path: string, options: ReadImageOptions = {}): Promise<SampleFile> {
  checkPath(path, 'path');
  const checked = checkReadOptions(options);
  let bytes: Buffer;
  let source: SourceFile;
  try {
    // A device (/dev/zero never ends), a FIFO or a socket is never read as an image file.
    const read = await readRegularFile(path, {
      maxBytes: maxFileBytes(checked.maxPixels),
      notRegular: (kind) => new FileError(`Cannot read image file ${q(path)}: it is ${kind}; give a regular file (the command line reads a pipe from standard input with -)`),
      tooLarge: (size) => fileTooLarge(path, size, checked.maxPixels),
    });
    bytes = read.bytes;
    source = { path, dev: read.st.dev, ino: read.st.ino };
  } catch (err) {
    if (err instanceof FileError || err instanceof ImageSizeError) throw err;
    // A name that is not valid UTF-8 reaches us (through argv or readdir) with U+FFFD in place of
    // its bytes, a name that does not exist: say so, as the folder batch does.
    const utf8 = (err as NodeJS.ErrnoException).code === 'ENOENT' && path.includes('\ufffd')
      ? '; if the name on disk is not valid UTF-8 (shown here as \ufffd), it cannot be opened by this name: rename the file' : '';
    throw new FileError(`Cannot read image file ${q(path)}: ${osReason(err)}${utf8}`, { cause: err });
  }
  const image = await decode(bytes, path, checked);
  // Carried into copies made by spreading (embed's and markFile's results are), so that
  // writeImage can refuse to write over this file.
  (image as SampleFile & { [SOURCE_FILE]?: SourceFile })[SOURCE_FILE] = source;
  return image;
}

/**
 * Where readImage records the file an image came from, on the image object itself: a symbol
 * key, so copies made with `{ ...image }` keep it and JSON leaves it out.
 */
export const SOURCE_FILE: unique symbol = Symbol.for('modelmark.sourceFile') as never;

/** The file an image was read from, as readImage records it. */
interface SourceFile {
  path: string;
  dev: number;
  ino: number;
}

interface ReadChecked { maxPixels: number; keepDepth: boolean; metadata: boolean; firstFrame: boolean; allFrames: boolean; maxFrames: number }

function checkReadOptions(options: ReadImageOptions): ReadChecked {
  if (typeof options !== 'object' || options === null) throw invalidParameter('options', 'an object', options);
  checkOptionNames('options', options, ['maxPixels', 'keepDepth', 'metadata', 'firstFrame', 'allFrames', 'maxFrames']);
  const maxPixels = numberIn('options.maxPixels', options.maxPixels, 1, Number.MAX_SAFE_INTEGER, DEFAULT_MAX_PIXELS);
  const keepDepth = booleanOption('options.keepDepth', options.keepDepth, false);
  const metadata = booleanOption('options.metadata', options.metadata, false);
  const firstFrame = booleanOption('options.firstFrame', options.firstFrame, false);
  const allFrames = booleanOption('options.allFrames', options.allFrames, false);
  if (firstFrame && allFrames) throw invalidParameter('options.allFrames', 'false when options.firstFrame is true (one or the other)', true);
  const maxFrames = options.maxFrames === undefined ? Infinity : numberIn('options.maxFrames', options.maxFrames, 1, 1e6, 1);
  if (!Number.isInteger(maxFrames) && maxFrames !== Infinity) throw invalidParameter('options.maxFrames', 'a whole number of frames', maxFrames);
  if (options.maxFrames !== undefined && !allFrames) throw invalidParameter('options.maxFrames', 'used with allFrames: true', options.maxFrames);
  return { maxPixels, keepDepth, metadata, firstFrame, allFrames, maxFrames };
}

/**
 * Decode the bytes of an image file that the caller has already read, as {@link readImage} does
 * (the same conversions, limits and errors, which name `path`). The folder batch uses it to
 * decode exactly the bytes whose hash its manifest records, without reading the file twice.
 * @example
 * const bytes = await fsp.readFile('photo.jpg');
 * const img = await decodeImageFile(bytes, 'photo.jpg', { keepDepth: true });
 */
export async function decodeImageFile(bytes: Uint8Array, path: string, options?: ReadImageOptions & { keepDepth?: false | undefined }): Promise<ImageFile>;
/**
 * Decode bytes already read, keeping 16-bit samples of a 16-bit file (a Uint16Array).
 * @example
 * const img = await decodeImageFile(bytes, 'scan.png', { keepDepth: true });
 */
export async function decodeImageFile(bytes: Uint8Array, path: string, options: ReadImageOptions & { keepDepth: boolean }): Promise<SampleFile>;
/**
 * Decode bytes already read, with options of the general type (keepDepth unknown here).
 * @example
 * async function decode(bytes: Uint8Array, options?: ReadImageOptions) { return decodeImageFile(bytes, 'upload', options); }
 */
export async function decodeImageFile(bytes: Uint8Array, path: string, options?: ReadImageOptions): Promise<SampleFile>;
export async function decodeImageFile(bytes: Uint8Array, path: string, options: ReadImageOptions = {}): Promise<SampleFile> {
  return decodeAdmitted(bytes, path, options);
}

/**
 * {@link decodeImageFile} with a gate between the header and the pixels: `admit` gets the number
 * of pixels about to be decoded (all frames) and the bytes of their samples (pixels x channels x
 * bytes a sample), and resolves when memory for them may be taken.
 * Not part of the public API: the folder batch's workers use it to bound the pixels they hold.
 */
export async function decodeAdmitted(bytes: Uint8Array, path: string, options: ReadImageOptions = {}, admit?: (pixels: number, sampleBytes: number) => Promise<void>): Promise<SampleFile> {
  const data = genuineBytes(bytes); // a Proxy is refused, a lying length measured by the array's slots
  if (data === undefined) throw invalidParameter('bytes', 'a Buffer or Uint8Array of the file\'s bytes', bytes);
  checkPath(path, 'path');
  return decode(asBuffer(data), path, checkReadOptions(options), admit);
}

/**
 * Refuse, from the header, an image whose decoded samples (`frames` frames of `width` x `height`,
 * `channels` channels of `bytesPer` bytes) would not fit in one Node buffer
 * (buffer.constants.MAX_LENGTH, 4 GiB on Node 20), which is what sharp hands them over in: with
 * sharp 0.35, a 16-bit RGBA PNG of 23200x23200 (4.31 GB of samples) aborted the whole process
 * ("free(): double free detected") where 23100x23100 (4.27 GB) was read.
 */
function checkDecodable(path: string, width: number, height: number, frames: number, channels: number, bytesPer: number): void {
  const bytes = width * height * frames * channels * bytesPer;
  if (bytes <= bufferConstants.MAX_LENGTH) return;
  const gb = (n: number) => `${(n / 1e9).toFixed(2)} GB`;
  throw new ImageSizeError('ERR_IMAGE_TOO_LARGE',
    `${q(path)} is ${width}x${height}${frames > 1 ? ` (${frames} frames)` : ''}: decoded (${channels} channel${channels > 1 ? 's' : ''} of ${bytesPer * 8} bits) ` +
    `it would take ${gb(bytes)}, more than one buffer of this Node.js can hold (${gb(bufferConstants.MAX_LENGTH)}); crop or split it` +
    `${bytesPer === 2 ? ', or convert it to 8 bits (readImage: leave keepDepth out)' : ''}.`);
}

async function decode(bytes: Buffer, path: string, { maxPixels, keepDepth, metadata, firstFrame, allFrames, maxFrames }: ReadChecked,
  admit?: (pixels: number, sampleBytes: number) => Promise<void>): Promise<SampleFile> {
  const sharp = loadSharp();
  let unsupported = '';
  const decodeError = (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    if (unsupported) return new DecodeError(`Cannot decode image file ${q(path)}: ${unsupported}`, { cause: err });
    if (/pixel limit/i.test(message)) return new ImageSizeError('ERR_IMAGE_TOO_LARGE',
      `${q(path)} is over the limit of ${pixelCount(maxPixels)}; if you trust this file, raise the limit ` +
      'with the maxPixels option (--max-pixels on the command line). The limit protects against decompression bombs.');
    // libvips repeats its loader's lines as the error climbs its stack: each said once.
    const detail = [...new Set(message.split('\n').map((l) => l.trim().replace(/:$/, '')).filter((l) => l && !FAIL_ON_NOTE.test(l)))].join('; ');
    return new DecodeError(`Cannot decode image file ${q(path)}: ${decodeReason(message)}${detail ? ` (${detail})` : ''}`, { cause: err });
  };

  // The header first (no pixel limit: nothing is decoded), so an oversized image is refused with
  // its size in the message before any pixel memory is allocated.
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { failOn: 'truncated', limitInputPixels: false }).metadata();
  } catch (err) {
    throw decodeError(err);
  }
  const { width, height } = meta;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new DecodeError(`Cannot decode image file ${q(path)}: its header gives no valid size (${width}x${height})`);
  }
  if (width * height > maxPixels) throw tooLarge(path, width, height, maxPixels);
  // HEIF whose image is HEVC (an iPhone's HEIC photo): sharp's prebuilt libvips decodes AV1 only
  // (AVIF), and its loader's failure ("bad seek", "plugin ... not built in") had read as a corrupt
  // file. Said plainly if decoding fails (a libvips built with libde265 decodes it).
  unsupported = heifCodec(meta);
  // A GIF cut short: refused as a truncated still image is (libvips reads a truncated
  // animation as the frames it still has, and a frame cut in half as partly the one before).
  const cut = meta.format === 'gif' ? gifTruncatedAt(bytes) : -1;
  if (cut >= 0) {
    throw new DecodeError(`Cannot decode image file ${q(path)}: the file is truncated (its GIF data ends before the trailer, ` +
      `${cut} whole frame${cut === 1 ? '' : 's'} in)`);
  }
  // An animated PNG: libvips reads its default image only. A copy would lose the animation, so
  // none is made (detection, reading frames one by one, takes that image as the first frame).
  const apng = meta.format === 'png' ? apngFrames(bytes) : 0;
  if (apng > 1 && !firstFrame && maxFrames === Infinity) {
    throw new DecodeError(`${q(path)} is an animated PNG (APNG, ${apng} frames): its frames cannot be read here (libvips reads its first image only), ` +
      'and a copy made from that image would lose the animation; convert it to an animated WebP or GIF first ' +
      '(readImage: { firstFrame: true } reads its first image)', { code: 'ERR_ANIMATED' });
  }
  const pages = meta.pages ?? 1;
  // The frames decoded: all, or the first maxFrames of them. A read limited so (detection) takes
  // the frames of an animation (GIF, WebP) only; a multi-page file's pages, which may differ in
  // size (a pyramid TIFF), are read as its first page is.
  const reading = maxFrames !== Infinity;
  const decoded = !allFrames ? 1 : reading && meta.format !== 'gif' && meta.format !== 'webp' ? 1 : Math.min(pages, maxFrames);
  const animated = decoded > 1;
  if (pages > 1 && !firstFrame && !allFrames) {
    throw new DecodeError(`${q(path)} is animated (${pages} frames), and a copy made from its first frame would lose the others ` +
      '(readImage: { allFrames: true } reads every frame, { firstFrame: true } the first only)', { code: 'ERR_ANIMATED' });
  }
  if (animated && width * height * decoded > maxPixels) throw tooLarge(path, width, height, maxPixels, decoded);
  const deep = keepDepth && meta.depth === 'ushort';
  // Grey stays one channel; everything else becomes RGB, with its alpha if any (as below).
  const outChannels = meta.channels === 1 ? 1 : meta.hasAlpha ? 4 : 3;
  checkDecodable(path, width, height, decoded, outChannels, deep ? 2 : 1);
  await admit?.(width * height * decoded, width * height * decoded * outChannels * (deep ? 2 : 1));

  // With metadata kept, a profile that fits the decoded pixels (RGB for RGB / RGBA, grey for
  // grey) stays with them: no transform to sRGB (sharp's keepIccProfile).
  const keepIcc = metadata && meta.space !== 'cmyk' && profileFits(meta.icc, meta.channels === 1 ? 1 : 3);
  const decodePixels = (failOn: 'warning' | 'truncated') => {
    let pipeline = sharp(bytes, { failOn, limitInputPixels: Math.floor(maxPixels), autoOrient: true, ...(animated ? { pages: decoded === pages ? -1 : decoded } : {}) });
    if (keepIcc) pipeline = pipeline.keepIccProfile();
    // libvips skips the input profile of a 16-bit RGB image on the way to sRGB (a 16-bit Display P3
    // PNG came out with its P3 values read as sRGB): the transform is asked for on output instead.
    // (16-bit grey with a grey profile stays as libvips reads it: it has no transform for it.)
    else if (meta.depth === 'ushort' && meta.hasProfile && meta.space !== 'cmyk' && meta.channels !== 1) pipeline = pipeline.withIccProfile('srgb');
    // Grey without alpha stays one channel; everything else (grey + alpha, CMYK, 16-bit, Lab, ...)
    // becomes sRGB with its alpha, if any. With keepDepth a 16-bit file stays 16-bit (its 16-bit
    // colour space must be asked for before the raw output, or sharp scales it to 8 bits).
    if (deep) pipeline = (meta.channels === 1 ? pipeline.toColourspace('grey16') : pipeline.toColourspace('rgb16')).raw({ depth: 'ushort' });
    else pipeline = (meta.channels === 1 ? pipeline.toColourspace('b-w') : pipeline.toColourspace('srgb')).raw({ depth: 'uchar' });
    return pipeline.toBuffer({ resolveWithObject: true });
  };
  let data: Buffer, info: OutputInfo;
  let warnings: string[] | undefined;
  try {
    // Strict first: a decoder warning (a corrupt JPEG segment decodes as grey blocks) fails it.
    ({ data, info } = await decodePixels('warning'));
  } catch (strict) {
    // Decodable all the same (what the file's decoder makes of it, as any viewer shows it): the
    // image is returned with the warning, for the caller to pass on.
    try {
      ({ data, info } = await decodePixels('truncated'));
    } catch (err) {
      // Pages of different sizes (a pyramid TIFF, a page with its thumbnail): a sound file, but
      // not frames of one animation, where libvips's "page 1 differs from page 0" read as corrupt.
      if (animated && /page \d+ differs from page \d+/i.test(err instanceof Error ? err.message : String(err))) {
        throw new DecodeError(`${q(path)} has ${pages} pages of different sizes (a multi-page or pyramid ${String(meta.format).toUpperCase()}), ` +
          'not frames of one animation, and a copy made from its first page would lose the others ' +
          '(readImage: { firstFrame: true } reads the first page)', { code: 'ERR_ANIMATED', cause: err });
      }
      throw decodeError(err);
    }
    const lines = String((strict as Error)?.message ?? strict).split('\n').map((l) => l.trim()).filter((l) => l && !FAIL_ON_NOTE.test(l));
    warnings = lines.length ? [...new Set(lines)].slice(0, 4) : ['the decoder reported damaged data'];
  }
  const channels = info.channels as number;
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new DecodeError(`Cannot decode image file ${q(path)}: it decoded to ${channels} channels; expected grey, RGB or RGBA`);
  }
  const bytesPer = deep ? 2 : 1;
  if (data.length !== info.width * info.height * channels * bytesPer) {
    throw new DecodeError(`Cannot decode image file ${q(path)}: the decoder returned ${data.length} bytes for ${info.width}x${info.height}x${channels}${deep ? ' 16-bit samples' : ''}`);
  }
  let samples: Uint8Array | Uint16Array = new Uint8Array(data.buffer, data.byteOffset, data.length);
  if (deep) {
    samples = data.byteOffset % 2 === 0
      ? new Uint16Array(data.buffer, data.byteOffset, data.length / 2)
      : new Uint16Array(samples.slice().buffer); // an aligned copy
  }
  // AVIF is AV1 in a HEIF container, which sharp names 'heif': named as writeImage and its users do.
  const format = meta.format === 'heif' && meta.compression === 'av1' ? 'avif' : meta.format;
  const file: SampleFile = { width: info.width, height: info.height, channels, data: samples, format };
  const encoding = sourceEncoding(bytes);
  if (encoding) file.encoding = encoding;
  if (metadata) {
    // libvips reads a TIFF's ICC profile and XMP but not its EXIF sub-IFDs: those come from the
    // file's first IFD (readMetadata reads them with src/tiff.ts), as a block of their own, with a
    // warning when a crafted one would come to over METADATA_LIMITS.
    // IPTC records come from the container too: libvips keeps a JPEG's first Photoshop APP13
    // segment only (records split over two, or in a second one, were lost), reads a TIFF's tag
    // 33723 as LONGs (a big-endian file's records came out byte-swapped) and not its Photoshop
    // tag 34377.
    // A PNG's text chunks (title, author, copyright, an image generator's prompt and workflow):
    // libvips hands over none as they are stored, so they are read from the file too.
    const read = meta.format === 'tiff' || meta.format === 'jpeg' || meta.format === 'png' ? await readMetadata(bytes) : undefined;
    const fromTiff = meta.exif === undefined && meta.format === 'tiff' ? read : undefined;
    const exif = meta.exif ?? fromTiff?.exif;
    const { iptc: _libvips, ...rest } = meta;
    file.metadata = metadataOf({ ...rest, ...(exif ? { exif } : {}), ...(read?.iptc ? { iptc: read.iptc } : {}) }, keepIcc, { upright: true });
    if (read?.pngText) file.metadata.pngText = read.pngText;
    // A block over METADATA_LIMITS is left out (a PNG's few KB of deflated XMP can be 16 MB of copy).
    const over = [...metadataWarnings({ exif: meta.exif, xmp: meta.xmp, ...(keepIcc ? { icc: meta.icc } : {}) }),
      ...(read?.warnings ?? []).filter((w) => (fromTiff && w.startsWith('metadata: the EXIF block')) || /^metadata: the (IPTC data|Photoshop resources|PNG text|file holds)/.test(w))];
    if (over.length) warnings = [...(warnings ?? []), ...over];
  }
  if (warnings) file.warnings = warnings;
  if (pages > 1) file.pages = pages;
  else if (apng > 1) file.pages = apng;
  if (animated) {
    const frameHeight = info.height / decoded;
    if (!Number.isInteger(frameHeight) || frameHeight !== height) {
      throw new DecodeError(`Cannot decode image file ${q(path)}: its ${decoded} frames decoded to ${info.width}x${info.height} pixels, not ${decoded} frames of ${width}x${height}`);
    }
    file.animation = { frames: decoded, frameHeight, ...(meta.delay ? { delay: meta.delay.slice(0, decoded) } : {}), ...(meta.loop !== undefined ? { loop: meta.loop } : {}) };
  }
  return file;
}

/**
 * The format a path's extension names, or undefined when it has none.
 * @throws InvalidArgumentError for an extension that is not .png, .jpg, .jpeg, .jpe, .jfif, .webp, .gif, .avif, .tif or .tiff.
 */
export function formatFromPath(path: string): WriteFormat | undefined {
  const ext = extname(path);
  if (ext === '' || ext === '.') return undefined;
  const f = EXTENSIONS[ext.toLowerCase()];
  if (!f) throw invalidParameter(`the extension of ${q(path)}`, EXTENSION_LIST, ext);
  return f;
}

/**
 * Refuse an image (or one frame of an animation) that `format` cannot hold, with the
 * ImageSizeError writeImage and encodeImage give: for callers that know the output format before
 * marking (the command line), so that nothing is marked or encoded for an output that cannot be
 * written. `format`: a format name as {@link isWritableFormat} takes it; `label` names the output.
 * @example
 * checkWritableSize(image.width, image.height, 'webp', 'out.webp'); // throws for 20000x15000
 */
export function checkWritableSize(width: number, height: number, format: string, label: string): void {
  const f = FORMAT_NAMES[format.toLowerCase()];
  if (f === undefined) return;
  const max = ENCODER_MAX_SIDE[f];
  if (width > max || height > max) {
    throw new ImageSizeError('ERR_IMAGE_TOO_LARGE', `Cannot write ${q(label)}: ${width}x${height} is too large for ${DISPLAY[f]} (at most ${max} pixels a side); write PNG instead`);
  }
}

/** Whether {@link writeImage} can write a format named by sharp (e.g. an input's format). */
export function isWritableFormat(format: string): boolean {
  return Object.hasOwn(FORMAT_NAMES, format.toLowerCase());
}

/** The format to write `path` in: from its extension, else from `format`. */
function outputFormat(path: string, format: unknown): WriteFormat {
  const fromExt = formatFromPath(path);
  if (fromExt) return fromExt;
  if (format === undefined) {
    throw new InvalidArgumentError(`Cannot tell which format to write ${q(path)} in: give it a ${EXTENSION_LIST} extension, or pass options.format`);
  }
  const f = typeof format === 'string' ? FORMAT_NAMES[format.toLowerCase()] : undefined;
  if (!f) {
    throw invalidParameter('options.format', `${FORMAT_LIST} (or a ${EXTENSION_LIST} extension on ${q(path)})`, format);
  }
  return f;
}

function checkRaw(image: unknown): { width: number; height: number; channels: 1 | 2 | 3 | 4; data: Uint8Array | Uint16Array } {
  if (typeof image !== 'object' || image === null) throw invalidParameter('image', 'an object { width, height, data, channels? }', image);
  const { width, height, data: given, channels } = image as Partial<SampleImage>;
  if (!Number.isInteger(width) || (width as number) <= 0) throw invalidParameter('image.width', 'a positive integer', width);
  if (!Number.isInteger(height) || (height as number) <= 0) throw invalidParameter('image.height', 'a positive integer', height);
  const data = genuineSamples(given, true); // a Proxy, or a subclass whose length lies, is measured by its slots
  if (data === undefined) {
    throw invalidParameter('image.data', 'a Uint8Array, Uint8ClampedArray or Buffer of 8-bit samples, or a Uint16Array of 16-bit samples', given);
  }
  const unit = data instanceof Uint16Array ? 'samples' : 'bytes';
  const pixels = (width as number) * (height as number);
  const ch = channels ?? data.length / pixels;
  if (ch !== 1 && ch !== 2 && ch !== 3 && ch !== 4) {
    throw channels !== undefined
      ? invalidParameter('image.channels', '1, 2, 3 or 4', channels)
      : invalidParameter('image.data', `${pixels}, ${pixels * 2}, ${pixels * 3} or ${pixels * 4} ${unit} (grey, grey + alpha, RGB or RGBA)`, data);
  }
  if (data.length !== pixels * ch) throw invalidParameter('image.data', `${pixels * ch} ${unit} (${width} x ${height} x ${ch} channels)`, data);
  return {
    width: width as number, height: height as number, channels: ch,
    data: data instanceof Uint16Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.length),
  };
}

function checkMetadata(metadata: unknown, channels: number): ImageMetadata | undefined {
  if (metadata === undefined) return undefined;
  if (typeof metadata !== 'object' || metadata === null) throw invalidParameter('options.metadata', 'an object { exif?, icc?, xmp?, iptc?, pngText?, density? }', metadata);
  const m = metadata as Record<string, unknown>;
  for (const k of ['exif', 'icc', 'xmp', 'iptc']) {
    if (m[k] !== undefined && !(m[k] instanceof Uint8Array)) throw invalidParameter(`options.metadata.${k}`, 'a Buffer or Uint8Array', m[k]);
  }
  checkPngText('options.metadata.pngText', m.pngText);
  if (m.density !== undefined && !(typeof m.density === 'number' && m.density >= 1 && m.density <= 65535)) {
    throw invalidParameter('options.metadata.density', 'a resolution in pixels per inch, 1 to 65535', m.density);
  }
  const md = metadata as ImageMetadata;
  if (md.icc?.length && !profileFits(md.icc, channels)) {
    throw new InvalidArgumentError(`options.metadata.icc: the ICC profile does not fit an image of ${channels} channel${channels > 1 ? 's' : ''} ` +
      '(an RGB profile goes with RGB or RGBA pixels, a grey one with grey pixels); leave it out, or convert the pixels');
  }
  return md;
}

function checkAnimation(animation: unknown, format: WriteFormat, height: number): Animation | undefined {
  if (animation === undefined) return undefined;
  if (typeof animation !== 'object' || animation === null) throw invalidParameter('options.animation', 'an object { frames, frameHeight, delay?, loop? }', animation);
  const a = animation as Animation;
  if (!Number.isInteger(a.frames) || a.frames < 1) throw invalidParameter('options.animation.frames', 'a positive integer', a.frames);
  if (!Number.isInteger(a.frameHeight) || a.frameHeight * a.frames !== height) {
    throw invalidParameter('options.animation.frameHeight', `the height of one frame (the image's ${height} rows / ${a.frames} frames)`, a.frameHeight);
  }
  if (a.delay !== undefined && !(Array.isArray(a.delay) && a.delay.length === a.frames && a.delay.every((d) => Number.isInteger(d) && d >= 0))) {
    throw invalidParameter('options.animation.delay', `${a.frames} display times in milliseconds`, a.delay);
  }
  if (a.loop !== undefined && !(Number.isInteger(a.loop) && a.loop >= 0 && a.loop <= 65535)) throw invalidParameter('options.animation.loop', 'an integer from 0 (forever) to 65535', a.loop);
  if (a.frames > 1 && format !== 'webp' && format !== 'gif' && format !== 'tiff') {
    throw new InvalidArgumentError(`An animation (${a.frames} frames) cannot be written as ${DISPLAY[format]}: write WebP, GIF or TIFF (pages, without timing)`);
  }
  return a;
}

async function encode(image: ReturnType<typeof checkRaw>, format: WriteFormat, settings: Settings, path: string, animation?: Animation, metadata?: ImageMetadata): Promise<Buffer> {
  const sharp = loadSharp();
  const { width, height, channels, data } = image;
  const frameHeight = animation?.frameHeight ?? height;
  checkWritableSize(width, frameHeight, format, path);
  // A Uint16Array is read as 16-bit samples (sharp takes its depth from the array type). The
  // frames of an animation are pages of one tall image.
  let p = sharp(data, { raw: { width, height, channels, ...(animation ? { pageHeight: frameHeight } : {}) }, limitInputPixels: false });
  const timing = animation ? { ...(animation.delay ? { delay: animation.delay } : {}), ...(animation.loop !== undefined ? { loop: animation.loop } : {}) } : {};
  const deep = data instanceof Uint16Array && (format === 'png' || format === 'tiff' || format === 'avif');
  if (data instanceof Uint16Array) {
    // PNG and TIFF keep the 16 bits, AVIF 10 of them; JPEG, WebP and GIF are 8-bit formats.
    p = deep ? p.toColourspace(channels <= 2 ? 'grey16' : 'rgb16') : p.toColourspace(channels <= 2 ? 'b-w' : 'srgb');
  } else if (channels <= 2) p = p.toColourspace('b-w');
  if (format === 'avif' && hasMetadata(metadata)) {
    // libheif writes EXIF, XMP and the ICC profile that sharp hands it from an input file, and
    // sharp takes them from a file only: the pixels travel with the metadata in an uncompressed
    // PNG, kept as they are (keepMetadata: no conversion to sRGB). (TIFF's go in as tags after.)
    let png: Buffer;
    try {
      png = await p.png({ compressionLevel: 0 }).toBuffer();
    } catch (err) {
      throw new FileError(`Cannot encode ${q(path)} as ${DISPLAY[format]}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const tagged = asBuffer(await embedMetadata(png, 'png', metadata, { width, height, alpha: channels === 2 || channels === 4 }));
    p = sharp(tagged, { limitInputPixels: false }).keepMetadata();
  }
  if (format === 'jpeg') {
    // JPEG has no alpha: composite onto white, as a viewer shows it (opaque pixels are unchanged).
    if (channels === 2 || channels === 4) p = p.flatten({ background: '#ffffff' });
    p = p.jpeg({ quality: settings.quality, chromaSubsampling: settings.chromaSubsampling, progressive: settings.progressive });
  } else if (format === 'webp') {
    p = settings.lossless ? p.webp({ lossless: true, ...timing }) : p.webp({ quality: settings.quality, alphaQuality: 100, ...timing });
  } else if (format === 'gif') {
    p = p.gif(timing);
  } else if (format === 'avif') {
    p = p.avif({ quality: settings.quality, bitdepth: deep ? AVIF_DEEP_BITS : 8 });
  } else if (format === 'tiff') {
    p = p.tiff(tiffWriteOptions(metadata?.density));
  } else {
    p = p.png();
  }
  try {
    return await p.toBuffer();
  } catch (err) {
    throw new FileError(`Cannot encode ${q(path)} as ${DISPLAY[format]}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

async function statOrNull(path: string) {
  try {
    return await fsp.stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new FileError(`Cannot write ${q(path)}: ${osReason(err)}`, { cause: err });
  }
}

/** Whether `metadata` has a block to write. */
const hasMetadata = (metadata: ImageMetadata | undefined): metadata is ImageMetadata =>
  !!(metadata?.exif?.length || metadata?.icc?.length || metadata?.xmp?.length);

/** A Buffer over the same bytes (no copy). */
const asBuffer = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));

/** What writeImage and encodeImage check before encoding: the pixels, the quality, the metadata and the animation. */
function checkEncoding(image: SampleImage, format: WriteFormat, options: Omit<WriteImageOptions, 'sourcePath' | 'overwriteSource' | 'format'>) {
  const quality = options.quality;
  if (quality !== undefined && !(Number.isInteger(quality) && quality >= 1 && quality <= 100)) throw invalidParameter('options.quality', 'an integer between 1 and 100', quality);
  const settings = settingsFor(format, quality, checkSourceEncoding(options.encoding, 'options.encoding'));
  const v = options.verify;
  if (v !== undefined && !(typeof v === 'object' && v !== null && typeof v.watermarker?.detect === 'function')) {
    throw invalidParameter('options.verify', 'an object { watermarker, payload } (a watermarker from createWatermarker)', v);
  }
  const verify = v && { watermarker: v.watermarker, payload: payloadHex(parsePayload(v.payload, 'options.verify.payload')) };
  const img = checkRaw(image);
  return { img, format, settings, verify, metadata: checkMetadata(options.metadata, img.channels), animation: checkAnimation(options.animation, format, img.height) };
}

/**
 * Pixels in an ICC profile's colours converted to sRGB, 8 bits: for GIF, which has no place for
 * the profile (written without it, the colours would be shown as if they were sRGB: a Display P3
 * photo dulled and shifted). The pixels travel with their profile in a lossless PNG, and libvips
 * converts them; the frames of an animation stay stacked.
 */
async function toSrgb(image: ReturnType<typeof checkRaw>, icc: Uint8Array, label: string): Promise<ReturnType<typeof checkRaw>> {
  const { width, height, channels, data } = image;
  const grey = channels <= 2;
  const sharp = loadSharp();
  try {
    const png = await sharp(data, { raw: { width, height, channels }, limitInputPixels: false })
      .toColourspace(data instanceof Uint16Array ? (grey ? 'grey16' : 'rgb16') : (grey ? 'b-w' : 'srgb')).png({ compressionLevel: 0 }).toBuffer();
    const tagged = asBuffer(await embedMetadata(png, 'png', { icc }, { width, height, alpha: channels === 2 || channels === 4 }));
    const { data: out, info } = await sharp(tagged, { limitInputPixels: false }).toColourspace(grey ? 'b-w' : 'srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    return { width, height, channels: info.channels as 1 | 2 | 3 | 4, data: new Uint8Array(out.buffer, out.byteOffset, out.length) };
  } catch (err) {
    throw new FileError(`Cannot encode ${q(label)} as GIF: converting its ICC profile's colours to sRGB failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/**
 * What a copy whose quality `verify` raised says of it (undefined when nothing was raised): the
 * command line's note and a folder run's record warning.
 * @example
 * const note = raisedQualityNote(await writeImage(out, marked, { encoding, verify })); // "at the input's JPEG quality 75 ..."
 */
export function raisedQualityNote(written: { raisedFrom?: number | undefined; quality?: number | undefined }): string | undefined {
  return written.raisedFrom === undefined ? undefined
    : `at the input's JPEG quality ${written.raisedFrom} the mark did not read back from the copy; written at quality ${written.quality} instead`;
}

/**
 * Whether `payload`'s mark reads back, in place (no geometric search), from `bytes`, an image just
 * encoded from marked pixels: decoded in its pixels' own colours (an ICC profile it carries is not
 * applied). What writeImage's `verify` and the sharp plug-in's stream check before keeping a JPEG
 * written at its source's lower quality.
 * @example
 * if (!(await markReadsBack(jpegBytes, wm, 'c0ffee0000000001'))) jpegBytes = await encodeImage(marked, { format: 'jpeg', quality: 95 }).then((e) => e.data);
 */
export async function markReadsBack(bytes: Uint8Array, watermarker: Pick<Watermarker, 'detect'>, payload: Payload): Promise<boolean> {
  const hex = payloadHex(parsePayload(payload, 'payload'));
  const { data, info } = await loadSharp()(asBuffer(bytes), { limitInputPixels: false }).keepIccProfile().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  const r = watermarker.detect({ width: info.width, height: info.height, channels: info.channels as 1 | 3 | 4, data }, { search: false });
  return r.found && r.payload === hex;
}

async function encodeChecked({ img, format, settings, verify, metadata, animation }: ReturnType<typeof checkEncoding>, label: string): Promise<{ bytes: Buffer; kinds: MetadataKind[]; quality?: number; raisedFrom?: number }> {
  // GIF carries no profile: pixels in a profile's colours are converted to sRGB first.
  if (format === 'gif' && metadata?.icc?.length) img = await toSrgb(img, metadata.icc, label);
  let bytes = await encode(img, format, settings, label, animation, metadata);
  let raisedFrom: number | undefined;
  if (verify && format === 'jpeg' && settings.quality < DEFAULT_QUALITY && settings.matched && !(await markReadsBack(bytes, verify.watermarker, verify.payload))) {
    raisedFrom = settings.quality;
    settings = { ...settings, quality: DEFAULT_QUALITY };
    bytes = await encode(img, format, settings, label, animation, metadata);
  }
  // GIF has no place for EXIF or ICC here; AVIF's were written by encode. TIFF's become tags of
  // its first IFD (src/tiff.ts: libvips writes no EXIF, and ICC and XMP from a decoded file only).
  if (format !== 'gif' && format !== 'avif') {
    const height = animation?.frameHeight ?? img.height;
    bytes = asBuffer(await embedMetadata(bytes, format, metadata, { width: img.width, height, alpha: (img.channels === 2 || img.channels === 4) && format !== 'jpeg' }));
  }
  return { bytes, kinds: await carried(bytes, format, metadata), ...lossyQuality(format, settings), ...(raisedFrom !== undefined ? { raisedFrom } : {}) };
}

/**
 * The blocks of `given` that the encoded file carries, read back from its bytes (its container's
 * headers only), so that a caller reports what was written, not what was asked for.
 */
async function carried(bytes: Buffer, format: WriteFormat, given: ImageMetadata | undefined): Promise<MetadataKind[]> {
  const asked = METADATA_KINDS.filter((k) => (given?.[k]?.length ?? 0) > 0);
  if (asked.length === 0 || format === 'gif') return [];
  let found: ImageMetadata;
  try {
    found = format === 'avif' ? await loadSharp()(bytes, { limitInputPixels: false }).metadata() : await readMetadata(bytes);
  } catch {
    return []; // the file is written either way: what it carries is then unknown, so nothing is claimed
  }
  return asked.filter((k) => (found[k]?.length ?? 0) > 0);
}

/**
 * Encode `image` in memory as {@link writeImage} encodes files (the same formats, quality default,
 * 16-bit and alpha handling and metadata), e.g. for standard output or an HTTP response.
 * `options.format` is required: 'jpeg', 'png', 'webp', 'gif', 'avif' or 'tiff' (or a format name such as an input's).
 * @example
 * const jpeg = await encodeImage(wm.embed(img, 'c0ffee'), { format: 'jpeg', quality: 90 });
 */
export async function encodeImage(image: SampleImage, options: Omit<WriteImageOptions, 'sourcePath' | 'overwriteSource' | 'insideFolder'> & { format: string }): Promise<EncodedImage> {
  if (typeof options !== 'object' || options === null) throw invalidParameter('options', 'an object { format, quality?, metadata? }', options);
  checkOptionNames('options', options, ['format', 'quality', 'encoding', 'verify', 'metadata', 'animation']);
  const f = typeof options.format === 'string' ? FORMAT_NAMES[options.format.toLowerCase()] : undefined;
  if (!f) throw invalidParameter('options.format', FORMAT_LIST, options.format);
  const { bytes, kinds, quality, raisedFrom } = await encodeChecked(checkEncoding(image, f, options), 'the encoded image');
  return { data: bytes, format: f, metadata: kinds, ...(quality !== undefined ? { quality } : {}), ...(raisedFrom !== undefined ? { raisedFrom } : {}) };
}

/**
 * Encode `image` and write it to `path` atomically: the file is encoded in memory, written to a
 * temporary file beside the destination, flushed to disk and renamed over the destination, so
 * readers never see a partial file and a failure leaves the destination as it was. The format
 * comes from the extension (.png, .jpg, .jpeg, .webp, .gif, .avif, .tif, .tiff), else from
 * `options.format`. JPEG, WebP and AVIF default to quality 95, or with `options.encoding` (readImage's)
 * to the source's settings (a JPEG's quality, subsampling and progressive mode, a WebP's lossless
 * mode) when the format is the same; PNG and TIFF (deflate) are lossless;
 * GIF is quantised to 256 colours. 16-bit samples (a Uint16Array) are written as 16-bit PNG or
 * TIFF or 10-bit AVIF, or scaled to 8 bits for the other formats. AVIF is at most 16384 pixels a
 * side and holds no animation; a TIFF's EXIF, ICC profile, XMP and IPTC are tags of its first IFD. With
 * `options.animation`, the image's stacked frames are written as an animated WebP or GIF, or as
 * the pages of a TIFF.
 * Refuses to overwrite `options.sourcePath`, and the file the image was read from (readImage
 * records it on the image; copies made by `wm.embed` keep it) unless `options.overwriteSource`.
 * @example
 * const img = await readImage('in.jpg');
 * await writeImage('out.jpg', wm.embed(img, 'c0ffee'), { format: img.format, encoding: img.encoding, sourcePath: 'in.jpg' });
 */
export async function writeImage(path: string, image: SampleImage, options: WriteImageOptions = {}): Promise<WrittenImage> {
  checkPath(path, 'path');
  if (typeof options !== 'object' || options === null) throw invalidParameter('options', 'an object', options);
  checkOptionNames('options', options, ['format', 'quality', 'encoding', 'verify', 'sourcePath', 'overwriteSource', 'metadata', 'animation', 'insideFolder']);
  const inside = options.insideFolder;
  if (inside !== undefined && !(typeof inside === 'object' && inside !== null && typeof inside.path === 'string' && inside.path !== '' && (inside.id === undefined || typeof inside.id === 'string'))) {
    throw invalidParameter('options.insideFolder', 'an object { path, id? } (a folder\'s real path)', inside);
  }
  if (inside !== undefined) {
    // A path through a link (macOS's /tmp) would refuse every write: its real path is compared.
    const real = await fsp.realpath(inside.path).catch((err) => { throw new FileError(`options.insideFolder: cannot resolve ${q(inside.path)}: ${osReason(err)}`, { cause: err }); });
    if (real !== inside.path) options = { ...options, insideFolder: { ...inside, path: real } };
  }
  const encoding = checkEncoding(image, outputFormat(path, options.format), options);
  if (options.sourcePath !== undefined) checkPath(options.sourcePath, 'options.sourcePath');
  booleanOption('options.overwriteSource', options.overwriteSource, false);

  // Write through a symbolic link to the file it names; refuse directories and the input file.
  let target = path;
  const existing = await statOrNull(path);
  if (existing) {
    if (existing.isDirectory()) throw new FileError(`Cannot write ${q(path)}: it is a directory`);
    if (!existing.isFile()) {
      // The rename would put a regular file in place of a device or a FIFO (as root, even /dev/null).
      throw new FileError(`Cannot write ${q(path)}: it is ${fileKind(existing)}, ` +
        'and only regular files are written (the command line writes to standard output with -)');
    }
    // A read-only file is not replaced (the rename would do it regardless of its permissions).
    const writable = await fsp.access(path, fsConstants.W_OK).then(() => true, () => false);
    if (!writable) throw new FileError(`Cannot write ${q(path)}: the file is read-only (permission denied); make it writable or write elsewhere`);
    try {
      target = await fsp.realpath(path);
    } catch (err) {
      throw new FileError(`Cannot write ${q(path)}: ${osReason(err)}`, { cause: err });
    }
    if (options.sourcePath !== undefined) {
      const src = await fsp.stat(options.sourcePath).catch(() => null);
      const srcReal = await fsp.realpath(options.sourcePath).catch(() => null);
      if ((src && src.dev === existing.dev && src.ino === existing.ino) || srcReal === target) {
        throw new FileError(`Refusing to overwrite the input file ${q(options.sourcePath)} with ${q(path)}: write the output to a different path`);
      }
    }
    const read = (image as SampleImage & { [SOURCE_FILE]?: SourceFile })[SOURCE_FILE];
    if (read && options.overwriteSource !== true && read.dev === existing.dev && read.ino === existing.ino) {
      throw new FileError(`Refusing to overwrite ${q(path)}: it is the file this image was read from (${q(read.path)}), ` +
        'and the original would be lost; write the copy to another path, or pass { overwriteSource: true } to replace it');
    }
  }

  const { bytes, kinds, quality, raisedFrom } = await encodeChecked(encoding, path);
  await writeFileAtomic(target, bytes, { mode: existing ? existing.mode & 0o7777 : 0o666, label: q(path), ...(options.insideFolder ? { insideFolder: options.insideFolder } : {}) });
  return { path, format: encoding.format, size: bytes.length, metadata: kinds, ...(quality !== undefined ? { quality } : {}), ...(raisedFrom !== undefined ? { raisedFrom } : {}) };
}
