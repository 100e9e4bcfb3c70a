// Windows for finding a marked piece inside a larger image (detect's `pieces` option): a photo
// pasted into a collage, a page or another photo. The detector's frame is 256 pixels on the
// image's short side, so a piece covering part of a larger image reaches it smaller than it was
// marked (its tile period can fall below what the lattice search looks for) and mixed with the
// rest of the image; read in a window about its size, it is near its own scale again. A window
// is read by the lattice search alone (src/watermarker.ts): a piece pasted at some offset is on
// no canonical grid of the window.
import { bytesOf, MIN_DETECT_SIDE, type CheckedImage } from './image.js';
import { BAND, lumaFrameStreamed, NB, type Geometry } from './scheme.js';
import type { Arena } from './wasm.js';
import type { RegionMap } from './regions.js';

/** Each window's share of the image's side. */
export const PIECE_FRACTION = 0.6;
/** Window positions along each side: a 3 x 3 grid from one edge to the other. */
const STEPS = 3;

/** A window of an image, in its pixels. */
export interface Window {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * The windows searched for a piece of a `width` x `height` image: 60% of each side, at the start,
 * middle and end of each axis (nine), none when a window would be smaller than the detector's
 * minimum side.
 * @example
 * pieceWindows(1920, 1080); // 9 windows of 1152 x 648, the first at (0, 0), the last at (768, 432)
 */
export function pieceWindows(width: number, height: number): Window[] {
  const ww = Math.round(width * PIECE_FRACTION), wh = Math.round(height * PIECE_FRACTION);
  if (Math.min(ww, wh) < MIN_DETECT_SIDE) return [];
  const out: Window[] = [];
  for (let j = 0; j < STEPS; j++) {
    for (let i = 0; i < STEPS; i++) {
      out.push({ left: Math.round(((width - ww) * i) / (STEPS - 1)), top: Math.round(((height - wh) * j) / (STEPS - 1)), width: ww, height: wh });
    }
  }
  return out;
}

/**
 * A copy of window `w` of an 8-bit image (a new Uint8Array, same channels).
 * @example
 * const part = cropSamples(img, { left: 10, top: 20, width: 300, height: 200 });
 */
export function cropSamples(img: CheckedImage, w: Window): CheckedImage {
  const c = img.channels;
  const src = bytesOf(img.data);
  const row = w.width * c;
  const data = new Uint8Array(row * w.height);
  for (let y = 0; y < w.height; y++) {
    const from = ((w.top + y) * img.width + w.left) * c;
    data.set(src.subarray(from, from + row), y * row);
  }
  return { width: w.width, height: w.height, channels: c, data };
}

/** Most pieces `pieces: 'all'` reports. */
export const MAX_PIECES = 8;
/** A region map's cell carries the mark at this score or more (N(0, 1) where it carries none). */
const LIT = 3;
/** Whether cell `i` of map `m` carries the mark (see LIT). */
const isLit = (m: RegionMap, i: number) => {
  const s = m.scores[i];
  return s !== null && s !== undefined && s >= LIT;
};

/**
 * Where a find lies, as the CLI prints it: the box of the cells its region map lights (score 3 or
 * more), grown by a cell on each side, within the image; the whole image when no cell is lit.
 * (What `pieces: 'all'` paints out is {@link litAreas}: the lit cells themselves.)
 * @example
 * litBox(result, 1920, 1080); // { left: 384, top: 96, width: 640, height: 480 }
 */
export function litBox(r: { regions: RegionMap | null }, width: number, height: number): Window {
  const m = r.regions;
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  if (m) {
    for (let y = 0; y < m.rows; y++) {
      for (let x = 0; x < m.columns; x++) {
        if (!isLit(m, y * m.columns + x)) continue;
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
  }
  if (!m || x1 < 0) return { left: 0, top: 0, width, height };
  const left = Math.max(0, Math.floor((x0 - 1) * m.cellWidth)), top = Math.max(0, Math.floor((y0 - 1) * m.cellHeight));
  const right = Math.min(width, Math.ceil((x1 + 2) * m.cellWidth)), bottom = Math.min(height, Math.ceil((y1 + 2) * m.cellHeight));
  return { left, top, width: Math.max(0, right - left), height: Math.max(0, bottom - top) };
}

/** Unlit gaps of at most this many cells, enclosed by a find's lit cells, are painted with them. */
const GAP_CELLS = 2;

/**
 * The parts of the image a find's mark covers, as `pieces: 'all'` paints them out: the cells its
 * region map lights (score 3 or more), with the unlit gaps of at most 2 cells they enclose, as
 * one rectangle per run of such cells in a row of the map; the whole image when no cell is lit.
 * Unlike {@link litBox}, what the lit cells surround is left: a photo of another payload pasted
 * on a marked one is still read (the bounding box of a marked background is the whole image,
 * and a ring of a cell around its lit cells, about 135 pixels at 1080p, covered most of a
 * pasted photo), and a stray lit cell paints itself, not a box stretched to it. The unlit edge of
 * a piece is found again on its grid, and merged (see detect).
 * @example
 * litAreas(result, 1920, 1080); // [{ left: 384, top: 96, width: 320, height: 54 }, ...]
 */
export function litAreas(r: { regions: RegionMap | null }, width: number, height: number): Window[] {
  const m = r.regions;
  const whole = [{ left: 0, top: 0, width, height }];
  if (!m) return whole;
  const { columns: C, rows: R } = m;
  const paint = new Uint8Array(C * R);
  let any = false;
  for (let i = 0; i < C * R; i++) {
    if (!isLit(m, i)) continue;
    any = true;
    paint[i] = 1;
  }
  if (!any) return whole;
  // Enclosed gaps: 4-connected groups of unpainted cells that do not reach the map's edge.
  const seen = new Uint8Array(C * R);
  for (let i = 0; i < C * R; i++) {
    if (paint[i] || seen[i]) continue;
    const group = [i], stack = [i];
    seen[i] = 1;
    let open = false;
    while (stack.length > 0) {
      const j = stack.pop()!;
      const x = j % C, y = (j - x) / C;
      if (x === 0 || y === 0 || x === C - 1 || y === R - 1) open = true;
      for (const q of [x > 0 ? j - 1 : -1, x < C - 1 ? j + 1 : -1, y > 0 ? j - C : -1, y < R - 1 ? j + C : -1]) {
        if (q >= 0 && !paint[q] && !seen[q]) { seen[q] = 1; stack.push(q); group.push(q); }
      }
    }
    if (!open && group.length <= GAP_CELLS) for (const j of group) paint[j] = 1;
  }
  const out: Window[] = [];
  for (let y = 0; y < R; y++) {
    for (let x = 0; x < C;) {
      if (!paint[y * C + x]) { x++; continue; }
      const x0 = x;
      while (x < C && paint[y * C + x]) x++;
      const left = Math.floor(x0 * m.cellWidth), top = Math.floor(y * m.cellHeight);
      const right = Math.min(width, Math.ceil(x * m.cellWidth)), bottom = Math.min(height, Math.ceil((y + 1) * m.cellHeight));
      out.push({ left, top, width: right - left, height: bottom - top });
    }
  }
  return out;
}

/**
 * Window `w` of an 8-bit image, copied, with the parts under `boxes` (image coordinates) painted
 * flat grey, alpha kept: a piece found already can then not be found in it again. Null when 90%
 * of the window or more is under them (nothing left worth reading), measured before anything is
 * copied. Rows are painted with fill() (per pixel for RGBA, its alpha kept).
 * @example
 * paintOut(img, w, litAreas(first, img.width, img.height));
 */
export function paintOut(img: CheckedImage, w: Window, boxes: Window[]): CheckedImage | null {
  const clipped: { x0: number; x1: number; y0: number; y1: number }[] = [];
  for (const b of boxes) {
    const x0 = Math.max(0, b.left - w.left), x1 = Math.min(w.width, b.left + b.width - w.left);
    const y0 = Math.max(0, b.top - w.top), y1 = Math.min(w.height, b.top + b.height - w.top);
    if (x1 > x0 && y1 > y0) clipped.push({ x0, x1, y0, y1 });
  }
  // The share painted, exactly (boxes overlap): a mask of the window, filled row by row.
  const painted = new Uint8Array(w.width * w.height);
  for (const { x0, x1, y0, y1 } of clipped) for (let y = y0; y < y1; y++) painted.fill(1, y * w.width + x0, y * w.width + x1);
  let n = 0;
  for (let i = 0; i < painted.length; i++) n += painted[i]!;
  if (n >= 0.9 * painted.length) return null;
  const crop = cropSamples(img, w);
  const c = crop.channels;
  const data = bytesOf(crop.data);
  for (const { x0, x1, y0, y1 } of clipped) {
    for (let y = y0; y < y1; y++) {
      const row = y * w.width;
      if (c !== 4) {
        data.fill(128, (row + x0) * c, (row + x1) * c);
        continue;
      }
      for (let i = (row + x0) * 4, end = (row + x1) * 4; i < end; i += 4) {
        data[i] = 128; data[i + 1] = 128; data[i + 2] = 128;
      }
    }
  }
  return crop;
}

/** Most textured boxes read (see texturedBoxes); the p-value counts this many whether found or not. */
export const MAX_BOXES = 2;
/** The activity map's plane is at most this many pixels (coarser blocks on larger images). */
const BOX_PLANE_PIXELS = 2_000_000;
/** A block is flat below this luma variance (8-bit levels squared): a page's background, a flat bar. */
const FLAT_VARIANCE = 4;

/**
 * Up to MAX_BOXES rectangles of the image that hold a picture on a flat page: a photo in a
 * screenshot of a web page, a document or a user interface. The image's luma is cut into 8 x 8
 * blocks (of a plane of at most 2 megapixels) and each block's variance measured (the WebAssembly
 * DCT and block statistics); a block is part of a picture when it and its eight neighbours all
 * have texture (text leaves flat blocks between its lines and letters; a flat background, bars and
 * margins are flat), and the pictures are the largest 4-connected groups of such blocks, grown by
 * a block on each side. Boxes under 64 pixels a side, or covering 90% of the image or more (the
 * image itself, a photo on no page), are left out. Largest first.
 * @example
 * texturedBoxes(arena, screenshot); // [{ left: 248, top: 184, width: 256, height: 280 }]
 */
export function texturedBoxes(a: Arena, img: CheckedImage, max = MAX_BOXES): Window[] {
  const r = Math.max(1, Math.sqrt((img.width * img.height) / BOX_PLANE_PIXELS));
  const fw = Math.floor(img.width / r / 8) * 8, fh = Math.floor(img.height / r / 8) * 8;
  if (fw < 24 || fh < 24) return [];
  const bw = fw >> 3, bh = fh >> 3, n = bw * bh;
  const g: Geometry = { fw, fh, bw, bh, sx: img.width / fw, sy: img.height / fh };
  const k = a.k;
  const mk = k.mark();
  let variance: Float32Array;
  try {
    const plane = lumaFrameStreamed(a, img, g);
    k.dct8x8(plane, plane, fw, bw, bh, 0);
    const act = a.f32(n), pow = a.f32(n * NB), tmp = a.f32(2 * (1 + NB) * n);
    k.blockStats(plane, fw, bw, bh, a.put(BAND), NB, act, pow, tmp);
    // blockStats leaves each block's own AC variance at the start of its scratch, a documented
    // part of the kernel's contract that test/kernels.test.mjs checks (`act` is that smoothed
    // over 3 x 3 blocks, which would fill the gaps between lines of text).
    variance = a.f32view(tmp, n).slice();
  } finally {
    k.release(mk);
  }
  const busy = new Uint8Array(n);
  for (let i = 0; i < n; i++) busy[i] = variance[i]! > FLAT_VARIANCE ? 1 : 0;
  const core = new Uint8Array(n);
  for (let y = 1; y < bh - 1; y++) {
    for (let x = 1; x < bw - 1; x++) {
      let all = 1;
      for (let dy = -1; dy <= 1 && all; dy++) for (let dx = -1; dx <= 1; dx++) if (!busy[(y + dy) * bw + x + dx]) { all = 0; break; }
      core[y * bw + x] = all;
    }
  }
  const seen = new Uint8Array(n);
  const groups: { x0: number; y0: number; x1: number; y1: number; count: number }[] = [];
  for (let i = 0; i < n; i++) {
    if (!core[i] || seen[i]) continue;
    const b = { x0: bw, y0: bh, x1: -1, y1: -1, count: 0 };
    const stack = [i];
    seen[i] = 1;
    while (stack.length > 0) {
      const j = stack.pop()!;
      const x = j % bw, y = (j - x) / bw;
      b.count++;
      b.x0 = Math.min(b.x0, x); b.x1 = Math.max(b.x1, x); b.y0 = Math.min(b.y0, y); b.y1 = Math.max(b.y1, y);
      for (const q of [x > 0 ? j - 1 : -1, x < bw - 1 ? j + 1 : -1, y > 0 ? j - bw : -1, y < bh - 1 ? j + bw : -1]) {
        if (q >= 0 && core[q] && !seen[q]) { seen[q] = 1; stack.push(q); }
      }
    }
    groups.push(b);
  }
  const out: (Window & { count: number })[] = [];
  for (const b of groups) {
    const left = Math.max(0, Math.floor((b.x0 - 1) * 8 * g.sx)), top = Math.max(0, Math.floor((b.y0 - 1) * 8 * g.sy));
    const right = Math.min(img.width, Math.ceil((b.x1 + 2) * 8 * g.sx)), bottom = Math.min(img.height, Math.ceil((b.y1 + 2) * 8 * g.sy));
    const width = right - left, height = bottom - top;
    if (width < 64 || height < 64 || width * height >= 0.9 * img.width * img.height) continue;
    out.push({ left, top, width, height, count: b.count });
  }
  return out.sort((p, q) => q.count - p.count).slice(0, max).map(({ left, top, width, height }) => ({ left, top, width, height }));
}
