/**
 * How a JPEG or WebP file was encoded, read from its bytes: a JPEG's quality (estimated from its
 * quantisation tables), chroma subsampling and progressive mode, a WebP's lossless mode. A marked
 * copy written with the same settings looks and weighs what the original did: written at a fixed
 * quality 95 instead, a web JPEG of quality 75 came back twice its size, a 4:4:4 JPEG lost half
 * its colour resolution and a lossless WebP became a lossy one.
 *
 * Plain byte parsing: no Node built-ins (this is core code, used in Node, browsers and workers).
 */
import { invalidParameter } from './args.js';

/** How a JPEG file was encoded. */
export interface JpegEncoding {
  format: 'jpeg';
  /**
   * The quality, 1 to 100, whose standard (IJG, Annex K) tables are closest to the file's: the
   * quality it was saved at by libjpeg, libjpeg-turbo, sharp, Pillow, ImageMagick, browsers' canvas
   * encoders, and most others; for other encoders' tables (cameras, Photoshop) an equivalent.
   */
  quality: number;
  /** Whether the file's tables are exactly the standard tables at `quality`. */
  standardTables: boolean;
  /** The chroma subsampling, e.g. '4:2:0', '4:4:4', '4:2:2' (absent for a grey JPEG). */
  chromaSubsampling?: string;
  /** Whether the file is progressive (its frame is SOF2, or SOF10). */
  progressive: boolean;
}

/** How a WebP file was encoded. */
export interface WebpEncoding {
  format: 'webp';
  /** Whether every image in the file (every frame of an animation) is lossless (VP8L). */
  lossless: boolean;
}

/** How a file was encoded, as far as a copy of it should match: see {@link sourceEncoding}. */
export type SourceEncoding = JpegEncoding | WebpEncoding;

// The standard tables (ITU-T T.81 Annex K), in natural (row-major) order.
const LUMA = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
  14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
  49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMA = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
  47, 66, 99, 99, 99, 99, 99, 99, ...new Array<number>(32).fill(99),
];
/** The natural index of each coefficient in a DQT segment's zigzag order. */
const ZIGZAG = [
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
  35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/** libjpeg's jpeg_quality_scaling and jpeg_add_quant_table (baseline: values clamped to 1..255). */
function scaled(base: readonly number[], quality: number, i: number): number {
  const scale = quality < 50 ? Math.floor(5000 / quality) : 200 - quality * 2;
  return Math.min(255, Math.max(1, Math.floor((base[i] * scale + 50) / 100)));
}

const TABLE = 'a quantisation table: 64 integers from 0 to 65535 (an array or typed array), in natural (row-major) order';
const isTable = (t: unknown): t is ArrayLike<number> => typeof t === 'object' && t !== null && (t as ArrayLike<unknown>).length === 64 &&
  Array.from(t as ArrayLike<unknown>).every((v) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535);

/**
 * The quality whose standard tables are closest to `luma` (and `chroma` when given), both in
 * natural order: the smallest sum of absolute differences; among equals, the lowest quality
 * (so a table that several qualities give is named by the lowest).
 * @example
 * jpegQualityOf(lumaTable, chromaTable); // { quality: 75, standardTables: true }
 */
export function jpegQualityOf(luma: ArrayLike<number>, chroma?: ArrayLike<number>): { quality: number; standardTables: boolean } {
  if (!isTable(luma)) throw invalidParameter('luma', TABLE, luma);
  if (chroma !== undefined && !isTable(chroma)) throw invalidParameter('chroma', `${TABLE}, or undefined`, chroma);
  let best = 1, bestError = Infinity;
  for (let quality = 1; quality <= 100; quality++) {
    let error = 0;
    for (let i = 0; i < 64; i++) {
      error += Math.abs(luma[i] - scaled(LUMA, quality, i));
      if (chroma) error += Math.abs(chroma[i] - scaled(CHROMA, quality, i));
    }
    if (error < bestError) { best = quality; bestError = error; }
  }
  return { quality: best, standardTables: bestError === 0 };
}

const SUBSAMPLING: Record<string, string> = { '1x1': '4:4:4', '2x1': '4:2:2', '1x2': '4:4:0', '2x2': '4:2:0', '4x1': '4:1:1', '4x2': '4:1:0' };

function jpegEncoding(b: Uint8Array): JpegEncoding | undefined {
  const tables: (number[] | undefined)[] = [];
  let components: { h: number; v: number; table: number }[] | undefined;
  let progressive = false;
  for (let at = 2; at + 4 <= b.length;) {
    if (b[at] !== 0xff) return undefined;
    const marker = b[at + 1];
    if (marker === 0xff) { at++; continue; } // fill byte
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { at += 2; continue; }
    if (marker === 0xda || marker === 0xd9) break; // tables and frame come before the first scan
    const length = (b[at + 2] << 8) | b[at + 3];
    const end = Math.min(b.length, at + 2 + length);
    if (length < 2) return undefined;
    if (marker === 0xdb) {
      for (let p = at + 4; p < end;) {
        const precision = b[p] >> 4, id = b[p] & 15, size = precision ? 128 : 64;
        if (id > 3 || p + 1 + size > end) return undefined;
        const t = new Array<number>(64);
        for (let k = 0; k < 64; k++) t[ZIGZAG[k]] = precision ? (b[p + 1 + 2 * k] << 8) | b[p + 2 + 2 * k] : b[p + 1 + k];
        tables[id] = t;
        p += 1 + size;
      }
    } else if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      // SOFn: 8 bytes of header, then 3 a component (id, sampling HV, table).
      progressive = marker === 0xc2 || marker === 0xca;
      const n = b[at + 9];
      if (at + 10 + 3 * n > end) return undefined;
      components = [];
      for (let c = 0; c < n; c++) {
        const s = b[at + 11 + 3 * c];
        components.push({ h: s >> 4, v: s & 15, table: b[at + 12 + 3 * c] & 15 });
      }
    }
    at += 2 + length;
  }
  if (!components || components.length === 0) return undefined;
  const luma = tables[components[0].table];
  if (!luma) return undefined;
  const chromaTable = components.length >= 3 ? tables[components[1].table] : undefined;
  // A table shared by luma and chroma (some encoders) is compared as luma only.
  const chroma = chromaTable && components[1].table !== components[0].table ? chromaTable : undefined;
  const out: JpegEncoding = { format: 'jpeg', ...jpegQualityOf(luma, chroma), progressive };
  if (components.length >= 3) {
    const y = components[0], c = components[1];
    const key = c.h > 0 && c.v > 0 && y.h % c.h === 0 && y.v % c.v === 0 ? `${y.h / c.h}x${y.v / c.v}` : '';
    if (SUBSAMPLING[key]) out.chromaSubsampling = SUBSAMPLING[key];
  }
  return out;
}

const fourcc = (b: Uint8Array, at: number) => String.fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3]);

function webpEncoding(b: Uint8Array): WebpEncoding | undefined {
  let lossy = false, lossless = false;
  // Top-level chunks, and those inside each animation frame (ANMF: 16 bytes of header first).
  const walk = (from: number, to: number, depth: number) => {
    for (let at = from; at + 8 <= to;) {
      const id = fourcc(b, at);
      const size = (b[at + 4] | (b[at + 5] << 8) | (b[at + 6] << 16) | (b[at + 7] << 24)) >>> 0;
      const end = Math.min(to, at + 8 + size);
      if (id === 'VP8 ') lossy = true;
      else if (id === 'VP8L') lossless = true;
      else if (id === 'ANMF' && depth === 0) walk(at + 8 + 16, end, 1);
      at = at + 8 + size + (size & 1);
    }
  };
  walk(12, b.length, 0);
  return lossy || lossless ? { format: 'webp', lossless: lossless && !lossy } : undefined;
}

/**
 * How a JPEG or WebP file was encoded, from its bytes (its headers only: nothing is decoded);
 * undefined for another format or a file whose headers cannot be read.
 * @example
 * const enc = sourceEncoding(bytes); // { format: 'jpeg', quality: 75, standardTables: true, chromaSubsampling: '4:2:0', progressive: false }
 */
export function sourceEncoding(bytes: Uint8Array): SourceEncoding | undefined {
  if (!(bytes instanceof Uint8Array)) return undefined;
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return jpegEncoding(bytes);
  if (bytes.length >= 16 && fourcc(bytes, 0) === 'RIFF' && fourcc(bytes, 8) === 'WEBP') return webpEncoding(bytes);
  return undefined;
}

/**
 * The lowest quality a JPEG copy is written at when it matches its source's. Measured on the 27
 * photos of ../shared/photos (bench/match-quality.mjs, BENCHMARKS.md): marked and written back at
 * the source's own quality, the mark was read on all 27 at quality 92, on 26 at 85 and 75 (not the
 * text scan: writeImage's `verify` writes that one at 95) and on 25 at 60.
 */
export const MIN_MATCHED_QUALITY = 75;

/** What a copy takes from its source's encoding: see {@link matchedSettings}. */
export interface MatchedSettings {
  /** JPEG: the source's quality, at least MIN_MATCHED_QUALITY. */
  quality?: number;
  /** JPEG: '4:2:0' for a source subsampled both ways, '4:4:4' for one with finer chroma. */
  chromaSubsampling?: '4:2:0' | '4:4:4';
  /** JPEG: progressive when the source is. */
  progressive?: boolean;
  /** WebP: lossless when the source is. */
  lossless?: boolean;
}

/**
 * The encoder settings a copy written as `format` takes from its source's `encoding`: only where
 * the formats are the same (a JPEG's quality, subsampling and progressive mode, a lossless WebP's
 * lossless mode); `quality`, when given, is the caller's choice and wins (a WebP with a quality
 * is lossy). A lossy WebP's quality cannot be read back from the file (libwebp's per-segment
 * quantisers depend on the content), so it gives nothing. The rest is the caller's defaults.
 * @example
 * matchedSettings('jpeg', { format: 'jpeg', quality: 82, standardTables: true, chromaSubsampling: '4:4:4', progressive: true });
 * // { quality: 82, chromaSubsampling: '4:4:4', progressive: true }
 */
export function matchedSettings(format: string, encoding: SourceEncoding | undefined, quality?: number): MatchedSettings {
  if (typeof format !== 'string') throw invalidParameter('format', "an output format's name, e.g. 'jpeg' or 'webp'", format);
  checkSourceEncoding(encoding, 'encoding');
  if (quality !== undefined && !(Number.isInteger(quality) && quality >= 1 && quality <= 100)) throw invalidParameter('quality', 'an integer between 1 and 100, or undefined', quality);
  if (encoding?.format === 'jpeg' && format === 'jpeg') {
    return {
      ...(quality === undefined ? { quality: Math.max(MIN_MATCHED_QUALITY, encoding.quality) } : {}),
      chromaSubsampling: encoding.chromaSubsampling !== undefined && encoding.chromaSubsampling !== '4:2:0' ? '4:4:4' : '4:2:0',
      progressive: encoding.progressive,
    };
  }
  if (encoding?.format === 'webp' && format === 'webp' && encoding.lossless && quality === undefined) return { lossless: true };
  return {};
}

/**
 * `e` if it is an encoding as {@link sourceEncoding} gives one (or undefined); else an
 * InvalidArgumentError naming `name`.
 * @example
 * checkSourceEncoding(options.encoding, 'options.encoding');
 */
export function checkSourceEncoding(e: unknown, name: string): SourceEncoding | undefined {
  if (e === undefined) return undefined;
  const o = e as Partial<Record<string, unknown>>;
  const ok = typeof e === 'object' && e !== null && (
    (o.format === 'jpeg' && Number.isInteger(o.quality) && (o.quality as number) >= 1 && (o.quality as number) <= 100 &&
      (o.chromaSubsampling === undefined || typeof o.chromaSubsampling === 'string') && typeof o.progressive === 'boolean') ||
    (o.format === 'webp' && typeof o.lossless === 'boolean'));
  if (!ok) {
    throw invalidParameter(name, "readImage's encoding: { format: 'jpeg', quality, chromaSubsampling?, progressive } or { format: 'webp', lossless }", e);
  }
  return e as SourceEncoding;
}
