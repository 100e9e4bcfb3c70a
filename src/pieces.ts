// Windows for finding a marked piece inside a larger image (detect's `pieces` option): a photo
// pasted into a collage, a page or another photo. The detector's frame is 256 pixels on the
// image's short side, so a piece covering part of a larger image reaches it smaller than it was
// marked (its tile period can fall below what the lattice search looks for) and mixed with the
// rest of the image; read in a window about its size, it is near its own scale again. A window
// is read by the lattice search alone (src/watermarker.ts): a piece pasted at some offset is on
// no canonical grid of the window.
import { bytesOf, MIN_DETECT_SIDE, type CheckedImage } from './image.js';

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
