// A TIFF file's metadata tags, read and written without touching its image data: the EXIF
// sub-IFD (with its GPS and interoperability IFDs and IFD0's descriptive tags), the ICC profile
// (tag 34675), the XMP packet (tag 700) and the resolution. libvips writes a TIFF's pixels and
// resolution but takes its ICC profile and XMP only from a decoded file, and writes no EXIF at
// all; this puts them into the encoded bytes instead, as metadata.ts does for JPEG, PNG and WebP.
// Classic TIFF only (BigTIFF is left as it is). Plain Uint8Array work: any runtime.
import { iptcRecords } from './iptc.js';
import type { ImageMetadata } from './metadata.js';

const TAG = {
  ImageDescription: 270, Make: 271, Model: 272, Orientation: 274, XResolution: 282, YResolution: 283,
  ResolutionUnit: 296, Software: 305, DateTime: 306, Artist: 315, XMP: 700, Copyright: 33432,
  IPTC: 33723, Photoshop: 34377, ExifIFD: 34665, ICC: 34675, GPSIFD: 34853, InteropIFD: 40965,
} as const;

/** IFD0 tags of an EXIF block that describe the photo, not the pixels' layout: carried into a TIFF's IFD0 when it lacks them. */
const DESCRIPTIVE: readonly number[] = [TAG.ImageDescription, TAG.Make, TAG.Model, TAG.Software, TAG.DateTime, TAG.Artist, TAG.Copyright];
/** Tags whose value is the offset of a sub-IFD. */
const POINTERS: ReadonlySet<number> = new Set([TAG.ExifIFD, TAG.GPSIFD, TAG.InteropIFD]);
/** Bytes per value of each TIFF field type (1 BYTE ... 13 IFD); 0: unknown. */
const TYPE_SIZE = [0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4];
/** Bytes per element that a change of byte order swaps (RATIONAL: two LONGs). */
const SWAP_UNIT = [0, 1, 1, 2, 4, 4, 1, 1, 2, 4, 4, 4, 8, 4];
/** Sub-IFDs followed at most this deep, and entries read per IFD at most (a malformed block is not chased for ever). */
const MAX_DEPTH = 4;
const MAX_ENTRIES = 1024;
/** Pages given the ICC profile at most (a longer chain keeps the rest as it was). */
const MAX_PAGES = 65536;

/**
 * Bytes that copying an EXIF structure may still read and write: each IFD read costs its size, each
 * value copied its length. A crafted block's IFDs can overlap and its entries share one large
 * value, so without it a 1 MB file was copied into a 1 GB block (1000 entries naming one value).
 * Once spent (below 0), the copy stops and is left out whole.
 */
interface Budget { left: number }

interface Entry { tag: number; type: number; count: number; /** The 4 value bytes as stored (file order). */ raw: Uint8Array }

/** A TIFF structure's byte order and IFD0 offset; undefined when the bytes are not a classic TIFF. */
function header(b: Uint8Array): { le: boolean; ifd0: number } | undefined {
  if (b.length < 8) return undefined;
  const le = b[0] === 0x49 && b[1] === 0x49, be = b[0] === 0x4d && b[1] === 0x4d;
  if (!le && !be) return undefined;
  const d = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (d.getUint16(2, le) !== 42) return undefined;
  const ifd0 = d.getUint32(4, le);
  return ifd0 >= 8 && ifd0 + 2 <= b.length ? { le, ifd0 } : undefined;
}

/** Whether `b` starts as a classic TIFF file does. */
export function isTiff(b: Uint8Array): boolean {
  return header(b) !== undefined;
}

/** The entries of the IFD at `at`, and its link to the next IFD (0 when there is none, or when cut). */
function readIfd(b: Uint8Array, at: number, le: boolean): { entries: Entry[]; next: number } | undefined {
  const d = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (at + 2 > b.length) return undefined;
  const n = d.getUint16(at, le);
  if (n > MAX_ENTRIES || at + 2 + 12 * n > b.length) return undefined;
  const entries: Entry[] = [];
  for (let i = 0; i < n; i++) {
    const e = at + 2 + 12 * i;
    entries.push({ tag: d.getUint16(e, le), type: d.getUint16(e + 2, le), count: d.getUint32(e + 4, le), raw: b.subarray(e + 8, e + 12) });
  }
  const end = at + 2 + 12 * n;
  return { entries, next: end + 4 <= b.length ? d.getUint32(end, le) : 0 };
}

/** The bytes of an entry's value in `b` (inline or at its offset), or undefined when they lie outside `b`. */
function valueOf(b: Uint8Array, e: Entry, le: boolean): Uint8Array | undefined {
  const size = (TYPE_SIZE[e.type] ?? 0) * e.count;
  if (size === 0 && e.count !== 0) return undefined; // an unknown type: its size is unknown
  if (size <= 4) return e.raw.subarray(0, size);
  const off = new DataView(e.raw.buffer, e.raw.byteOffset, 4).getUint32(0, le);
  return off + size <= b.length ? b.subarray(off, off + size) : undefined;
}

/** `v` (values of `type`) in the other byte order: each element's bytes reversed. */
function swapped(v: Uint8Array, type: number): Uint8Array {
  const unit = SWAP_UNIT[type] ?? 1;
  if (unit === 1) return v;
  const out = new Uint8Array(v.length);
  for (let i = 0; i + unit <= v.length; i += unit) for (let k = 0; k < unit; k++) out[i + k] = v[i + unit - 1 - k];
  return out;
}

/** Output under construction: chunks at absolute offsets from `base` on, each starting at an even offset. */
class Appender {
  parts: Uint8Array[] = [];
  at: number;
  constructor(readonly base: number, readonly le: boolean) { this.at = base; }
  /** Place `bytes` (padded to an even length); their offset. */
  put(bytes: Uint8Array): number {
    const off = this.at;
    const padded = bytes.length % 2 === 0 ? bytes : (() => { const p = new Uint8Array(bytes.length + 1); p.set(bytes); return p; })();
    this.parts.push(padded);
    this.at += padded.length;
    return off;
  }
}

/** The 12 bytes of an entry in the output's byte order. */
function entryBytes(tag: number, type: number, count: number, value: Uint8Array | number, le: boolean): Uint8Array {
  const out = new Uint8Array(12), d = new DataView(out.buffer);
  d.setUint16(0, tag, le);
  d.setUint16(2, type, le);
  d.setUint32(4, count, le);
  if (typeof value === 'number') d.setUint32(8, value, le);
  else out.set(value.subarray(0, 4), 8);
  return out;
}

/**
 * One entry of `src` copied into `out`: its value converted to the output's byte order and put
 * after the IFDs' space when over 4 bytes; a sub-IFD pointer followed and the sub-IFD copied.
 * Undefined for an entry whose value lies outside `src` (dropped, not carried broken).
 */
function copyEntry(src: Uint8Array, srcLe: boolean, e: Entry, out: Appender, depth: number, seen: Set<number>, budget: Budget): Uint8Array | undefined {
  if (POINTERS.has(e.tag)) {
    // Only a sub-IFD's offset (one LONG or IFD) can be followed and relocated: any other value
    // copied as it is would point at whatever lies at that offset of the output.
    if (!((e.type === 4 || e.type === 13) && e.count === 1)) return undefined;
    const child = copyIfd(src, srcLe, new DataView(e.raw.buffer, e.raw.byteOffset, 4).getUint32(0, srcLe), out, depth + 1, seen, budget);
    return child === undefined ? undefined : entryBytes(e.tag, 4, 1, child, out.le);
  }
  const v = valueOf(src, e, srcLe);
  if (v === undefined) return undefined;
  const value = srcLe === out.le ? v : swapped(v, e.type);
  if (value.length <= 4) {
    const inline = new Uint8Array(4);
    inline.set(value);
    return entryBytes(e.tag, e.type, e.count, inline, out.le);
  }
  if ((budget.left -= value.length) < 0) return undefined;
  return entryBytes(e.tag, e.type, e.count, out.put(value.slice()), out.le);
}

/**
 * `entries` of `src` written into `out` as one IFD (no link to a next one), sorted by tag as TIFF
 * requires, a tag given twice kept once (the first), entries of unknown type or with values
 * outside `src` left out; its offset there. The IFD goes first, its values after it.
 */
function writeIfd(src: Uint8Array, srcLe: boolean, entries: Entry[], out: Appender, depth: number, seen: Set<number>, budget: Budget): number {
  const kept: Entry[] = [];
  for (const e of [...entries].sort((a, b) => a.tag - b.tag)) {
    if (TYPE_SIZE[e.type] && kept[kept.length - 1]?.tag !== e.tag) kept.push(e);
  }
  const block = new Uint8Array(2 + 12 * kept.length + 4);
  const off = out.put(block);
  const bytes: Uint8Array[] = [];
  for (const e of kept) {
    const b = copyEntry(src, srcLe, e, out, depth, seen, budget);
    if (b) bytes.push(b);
  }
  const d = new DataView(block.buffer);
  d.setUint16(0, bytes.length, out.le);
  bytes.forEach((b, i) => block.set(b, 2 + 12 * i));
  d.setUint32(2 + 12 * bytes.length, 0, out.le); // (the entries left out leave zeros after the link)
  return off;
}

/** The IFD of `src` at `at` copied into `out` (its chain to a next IFD not followed); its offset there. */
function copyIfd(src: Uint8Array, srcLe: boolean, at: number, out: Appender, depth: number, seen: Set<number>, budget: Budget): number | undefined {
  if (depth > MAX_DEPTH || seen.has(at) || budget.left < 0) return undefined;
  seen.add(at);
  const ifd = readIfd(src, at, srcLe);
  if (!ifd || (budget.left -= 6 + 12 * ifd.entries.length) < 0) return undefined;
  return writeIfd(src, srcLe, ifd.entries, out, depth, seen, budget);
}

/**
 * An ASCII entry of an EXIF block's IFD0 as libtiff takes it into a TIFF's IFD0: ASCII only, and
 * ending with a NUL (one added when the camera left it out; libtiff warns of both, and a strict
 * decoder refuses the file). Undefined for any other.
 */
function asciiEntry(src: Uint8Array, srcLe: boolean, e: Entry, out: Appender, budget: Budget): Uint8Array | undefined {
  const v = e.type === 2 && e.count > 0 ? valueOf(src, e, srcLe) : undefined;
  if (!v) return undefined;
  const text = v[v.length - 1] === 0 ? v : new Uint8Array(v.length + 1);
  if (text !== v) text.set(v);
  if (text.length <= 4) {
    const inline = new Uint8Array(4);
    inline.set(text);
    return entryBytes(e.tag, 2, text.length, inline, out.le);
  }
  if ((budget.left -= text.length) < 0) return undefined;
  return entryBytes(e.tag, 2, text.length, out.put(text.slice()), out.le);
}

/** A RATIONAL `x` as numerator / denominator (denominator 10000, or smaller for large values), in `le` order. */
function rational(x: number, le: boolean): Uint8Array {
  const out = new Uint8Array(8), d = new DataView(out.buffer);
  const den = x > 400000 ? 1 : 10000;
  d.setUint32(0, Math.min(0xffffffff, Math.round(x * den)), le);
  d.setUint32(4, den, le);
  return out;
}

/**
 * `tiff` with the metadata of `m` in its first IFD: the EXIF block's sub-IFDs (EXIF, GPS) and
 * descriptive IFD0 tags (make, model, date, artist, copyright, ...) the file lacks, the ICC
 * profile, the XMP packet, the IPTC records (tag 33723) and the resolution (per inch), each replacing the file's own. The image
 * data and the other pages are untouched: the new entries and a new first IFD go at the end, and
 * the header points at it. Returns `tiff` itself when there is nothing to add, and for a BigTIFF
 * or bytes that are not a TIFF (which embedMetadata, its public entry, refuses first: it takes
 * classic TIFF only) or a first IFD it cannot read whole.
 * @example
 * const tagged = tiffWith(await sharp(raw, { raw: info }).tiff().toBuffer(), { icc, xmp, exif });
 */
export function tiffWith(tiff: Uint8Array, m: ImageMetadata): Uint8Array {
  const h = header(tiff);
  if (!h) return tiff;
  const ifd0 = readIfd(tiff, h.ifd0, h.le);
  if (!ifd0) return tiff;
  const out = new Appender(tiff.length + (tiff.length % 2), h.le);
  const added = new Map<number, Uint8Array>();
  if (m.exif?.length) {
    const eh = header(m.exif);
    const eifd = eh && readIfd(m.exif, eh.ifd0, eh.le);
    if (eh && eifd) {
      const has = new Set(ifd0.entries.map((e) => e.tag));
      const seen = new Set<number>();
      // A real block's copy is about its own size (each value copied once): twice that is plenty.
      const budget: Budget = { left: 2 * m.exif.length + 4096 };
      for (const e of eifd.entries) {
        if (added.has(e.tag)) continue; // a tag given twice: the first
        const b = POINTERS.has(e.tag) ? (e.tag !== TAG.InteropIFD ? copyEntry(m.exif, eh.le, e, out, 0, seen, budget) : undefined)
          : DESCRIPTIVE.includes(e.tag) && !has.has(e.tag) ? asciiEntry(m.exif, eh.le, e, out, budget) : undefined;
        if (b) added.set(e.tag, b);
      }
      if (budget.left < 0) { // a crafted block: its EXIF left out whole
        added.clear();
        out.parts = [];
        out.at = out.base;
      }
    }
  }
  const icc = m.icc?.length ? entryBytes(TAG.ICC, 7, m.icc.length, out.put(m.icc.slice()), h.le) : undefined;
  if (icc) added.set(TAG.ICC, icc);
  if (m.xmp?.length) added.set(TAG.XMP, entryBytes(TAG.XMP, 1, m.xmp.length, out.put(m.xmp.slice()), h.le));
  if (m.iptc?.length) added.set(TAG.IPTC, entryBytes(TAG.IPTC, 7, m.iptc.length, out.put(m.iptc.slice()), h.le));
  if (m.density !== undefined && m.density > 0) {
    added.set(TAG.XResolution, entryBytes(TAG.XResolution, 5, 1, out.put(rational(m.density, h.le)), h.le));
    added.set(TAG.YResolution, entryBytes(TAG.YResolution, 5, 1, out.put(rational(m.density, h.le)), h.le));
    const inch = new Uint8Array(4);
    new DataView(inch.buffer).setUint16(0, 2, h.le);
    added.set(TAG.ResolutionUnit, entryBytes(TAG.ResolutionUnit, 3, 1, inch, h.le));
  }
  if (added.size === 0) return tiff;
  /** A new IFD: `own`'s entries (their values stay where they are) with `add`'s in place of any of the same tag, sorted by tag as TIFF requires, linked to `next`. */
  const rewrite = (own: Entry[], add: Map<number, Uint8Array>, next: number) => {
    const entries = new Map<number, Uint8Array>();
    for (const e of own) entries.set(e.tag, entryBytes(e.tag, e.type, e.count, e.raw, h.le));
    for (const [tag, b] of add) entries.set(tag, b);
    const tags = [...entries.keys()].sort((a, b) => a - b);
    const block = new Uint8Array(2 + 12 * tags.length + 4), d = new DataView(block.buffer);
    d.setUint16(0, tags.length, h.le);
    tags.forEach((t, i) => block.set(entries.get(t)!, 2 + 12 * i));
    d.setUint32(2 + 12 * tags.length, next, h.le);
    return out.put(block);
  };
  // The other pages (a multi-page TIFF) share the pixels' colours: each gets the ICC profile too,
  // written once, so the chain of pages is rewritten from the last one back.
  let next = ifd0.next;
  if (icc) {
    const pages: { entries: Entry[]; next: number }[] = [];
    const seen = new Set<number>([h.ifd0]);
    // The pages' IFDs of a real file lie side by side in it, so together they fit in its length;
    // crafted ones overlap (65536 IFDs of 1024 entries in half a megabyte had made 800 MB of IFDs).
    let room = tiff.length - (6 + 12 * ifd0.entries.length);
    for (let at = ifd0.next; at !== 0 && !seen.has(at) && pages.length < MAX_PAGES;) {
      seen.add(at);
      const page = readIfd(tiff, at, h.le);
      if (!page || (room -= 6 + 12 * page.entries.length) < 0) break;
      pages.push(page);
      at = page.next;
    }
    if (pages.length > 0) {
      next = pages[pages.length - 1].next; // past the pages read: as it was
      for (let i = pages.length - 1; i >= 0; i--) next = rewrite(pages[i].entries, new Map([[TAG.ICC, icc]]), i === pages.length - 1 ? pages[i].next : next);
    }
  }
  const ifdAt = rewrite(ifd0.entries, added, next);
  if (out.at > 0xffffffff) return tiff; // past classic TIFF's 4 GiB of offsets: left as it was
  const result = new Uint8Array(out.at);
  result.set(tiff);
  let at = out.base;
  for (const p of out.parts) { result.set(p, at); at += p.length; }
  new DataView(result.buffer).setUint32(4, ifdAt, h.le);
  return result;
}

/**
 * The metadata in a TIFF file's first IFD: its EXIF (the EXIF and GPS sub-IFDs and the
 * descriptive IFD0 tags, as an EXIF block of their own: a TIFF structure), ICC profile, XMP, IPTC records,
 * resolution in pixels per inch and orientation. Nothing is decoded. An EXIF block that would come
 * to over `exifLimit` bytes is not built (`exifOver` says so): a crafted file's entries can name
 * one large value a thousand times over.
 * @example
 * const { icc, exif, density } = tiffRead(bytes, METADATA_LIMITS.exif);
 */
export function tiffRead(tiff: Uint8Array, exifLimit: number): ImageMetadata & { orientation?: number; exifOver?: true } {
  const h = header(tiff);
  const ifd0 = h && readIfd(tiff, h.ifd0, h.le);
  if (!h || !ifd0) return {};
  const out: ImageMetadata & { orientation?: number; exifOver?: true } = {};
  const value = (tag: number) => {
    const e = ifd0.entries.find((x) => x.tag === tag);
    return e && { e, v: valueOf(tiff, e, h.le) };
  };
  const icc = value(TAG.ICC)?.v;
  if (icc?.length) out.icc = icc;
  const xmp = value(TAG.XMP)?.v;
  if (xmp?.length) out.xmp = xmp;
  // IPTC-IIM records: tag 33723 (as bytes, whatever type it is written as), or inside the
  // Photoshop resources of tag 34377.
  const iptc = iptcRecords(value(TAG.IPTC)?.v) ?? iptcRecords(value(TAG.Photoshop)?.v);
  if (iptc) out.iptc = iptc;
  const num = (r: { e: Entry; v: Uint8Array | undefined } | undefined) => {
    if (!r?.v) return undefined;
    const d = new DataView(r.v.buffer, r.v.byteOffset, r.v.byteLength);
    if (r.e.type === 3 && r.v.length >= 2) return d.getUint16(0, h.le);
    if (r.e.type === 4 && r.v.length >= 4) return d.getUint32(0, h.le);
    if (r.e.type === 5 && r.v.length >= 8) { const den = d.getUint32(4, h.le); return den ? d.getUint32(0, h.le) / den : undefined; }
    return undefined;
  };
  const x = num(value(TAG.XResolution)), unit = num(value(TAG.ResolutionUnit)) ?? 2;
  if (x !== undefined && x > 0 && (unit === 2 || unit === 3)) out.density = unit === 3 ? x * 2.54 : x;
  const o = num(value(TAG.Orientation));
  if (o !== undefined && o >= 1 && o <= 8) out.orientation = o;
  // The EXIF block: a TIFF structure of its own holding the sub-IFDs and descriptive tags.
  const carried = ifd0.entries.filter((e) => (POINTERS.has(e.tag) && e.tag !== TAG.InteropIFD) || DESCRIPTIVE.includes(e.tag));
  if (carried.some((e) => e.tag === TAG.ExifIFD || e.tag === TAG.GPSIFD)) {
    const block = new Appender(8, h.le);
    const budget: Budget = { left: exifLimit - 8 - (6 + 12 * carried.length) };
    writeIfd(tiff, h.le, carried, block, 0, new Set<number>(), budget);
    if (budget.left < 0) {
      out.exifOver = true;
      return out;
    }
    const exif = new Uint8Array(block.at);
    exif.set(h.le ? [0x49, 0x49, 42, 0, 8, 0, 0, 0] : [0x4d, 0x4d, 0, 42, 0, 0, 0, 8]);
    let at = 8;
    for (const p of block.parts) { exif.set(p, at); at += p.length; }
    out.exif = exif;
  }
  return out;
}
