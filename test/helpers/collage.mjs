// A marked photo pasted into a larger unmarked one, saved as JPEG q85: the case detect's
// `pieces` option is for. With this key and payload the whole image reads no mark and the
// windows find it (test/geometry.test.mjs checks both), so the tests of the command line and
// the sharp plug-in can show their `pieces` pass-through on it.
import sharp from 'sharp';
import { createWatermarker } from '../../dist/index.js';
import { PHOTOS_DIR } from '../../bench/photos.mjs';

export const COLLAGE_KEY = 'geometry test key';
export const COLLAGE_PAYLOAD = '0123456789abcdef';

/**
 * mate-GreenMeadow (1280 x 1024), marked, pasted at (681, 383), off the 8-pixel grid, into
 * mate-Dune stretched to 2112 x 1625, as JPEG q85. Returns the JPEG, its size, the pasted
 * rectangle and the marked photo (raw RGB) itself.
 */
export async function pastedCollage() {
  const wm = await createWatermarker({ key: COLLAGE_KEY });
  const { data, info } = await sharp(PHOTOS_DIR + 'mate-GreenMeadow.jpg').removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const marked = wm.embed({ width: info.width, height: info.height, channels: 3, data }, COLLAGE_PAYLOAD);
  const width = 2112, height = 1625, rect = { left: 681, top: 383, width: info.width, height: info.height };
  const host = await sharp(PHOTOS_DIR + 'mate-Dune.jpg').removeAlpha().resize(width, height, { fit: 'fill' }).raw().toBuffer();
  const jpeg = await sharp(host, { raw: { width, height, channels: 3 } })
    .composite([{ input: Buffer.from(marked.data), raw: { width: info.width, height: info.height, channels: 3 }, left: rect.left, top: rect.top }])
    .jpeg({ quality: 85 }).toBuffer();
  return { jpeg, width, height, rect, marked };
}

/**
 * A marked photo shown small on a flat page, as in a screenshot of a web page: skimage-coins
 * (384 x 303), marked, scaled to 0.5x (192 x 152, Lanczos) and placed at (248, 184) on a
 * 1445 x 720 page of #fafafa with a dark header bar and rows of text-like dark marks around it,
 * lossless. Read whole or in the nine windows, the photo is too small a share of the page; the
 * textured-box search of `pieces` locates it. Returns the page (raw RGB), the photo's rectangle
 * and the key and payload.
 */
export async function photoOnPage() {
  const wm = await createWatermarker({ key: COLLAGE_KEY });
  const { data, info } = await sharp(PHOTOS_DIR + 'skimage-coins.png').removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const marked = wm.embed({ width: info.width, height: info.height, channels: 3, data }, COLLAGE_PAYLOAD);
  const small = await sharp(Buffer.from(marked.data), { raw: { width: info.width, height: info.height, channels: 3 } }).resize(192, 152, { kernel: 'lanczos3' }).raw().toBuffer();
  const width = 1445, height = 720, rect = { left: 248, top: 184, width: 192, height: 152 };
  const page = new Uint8Array(width * height * 3).fill(250);
  const box = (x0, y0, w, h, v) => { for (let y = y0; y < y0 + h; y++) page.fill(v, (y * width + x0) * 3, (y * width + x0 + w) * 3); };
  box(0, 0, width, 56, 31); // header
  // "text": rows of word-like marks 10 px high, 23 px apart, in a side column and above and below the photo
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const line = (x0, x1, y) => { for (let x = x0; x < x1;) { const w = 8 + Math.floor(rand() * 50); box(x, y, Math.min(w, x1 - x), 10, 40 + Math.floor(rand() * 40)); x += w + 6 + Math.floor(rand() * 6); } };
  for (let y = 90; y < 420; y += 23) line(24, 200, y);
  for (const y of [110, 133]) line(248, 1400, y);
  for (const y of [372, 395, 430]) line(248, 1400, y);
  for (let y = 0; y < rect.height; y++) page.set(small.subarray(y * rect.width * 3, (y + 1) * rect.width * 3), ((rect.top + y) * width + rect.left) * 3);
  return { image: { width, height, channels: 3, data: page }, rect };
}

/** The second payload of twoPieceCollage: another image marked with the same key. */
export const SECOND_PAYLOAD = 'fedcba9876543210';

/**
 * Two photos marked with the same key and different payloads, pasted side by side into one
 * unmarked photo, as JPEG q90: mate-LadyBird at 700 x 438 (COLLAGE_PAYLOAD) at (100, 80) and
 * mate-Storm at 700 x 467 (SECOND_PAYLOAD) at (1100, 500), on mate-Dune at 1920 x 1080. The case
 * of detect's `pieces: 'all'`. Returns the collage (raw RGB) and each piece's rectangle and payload.
 */
export async function twoPieceCollage() {
  const wm = await createWatermarker({ key: COLLAGE_KEY });
  const load = async (name, width) => {
    const { data, info } = await sharp(PHOTOS_DIR + name).removeAlpha().resize(width).raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, channels: 3, data };
  };
  const host = await load('mate-Dune.jpg', 1920);
  const pieces = [
    { image: wm.embed(await load('mate-LadyBird.jpg', 700), COLLAGE_PAYLOAD), left: 100, top: 80, payload: COLLAGE_PAYLOAD },
    { image: wm.embed(await load('mate-Storm.jpg', 700), SECOND_PAYLOAD), left: 1100, top: 500, payload: SECOND_PAYLOAD },
  ];
  const jpeg = await sharp(Buffer.from(host.data), { raw: { width: host.width, height: host.height, channels: 3 } })
    .composite(pieces.map((p) => ({ input: Buffer.from(p.image.data), raw: { width: p.image.width, height: p.image.height, channels: 3 }, left: p.left, top: p.top })))
    .jpeg({ quality: 90 }).toBuffer();
  const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  return {
    image: { width: info.width, height: info.height, channels: 3, data },
    jpeg,
    pieces: pieces.map((p) => ({ payload: p.payload, rect: { left: p.left, top: p.top, width: p.image.width, height: p.image.height } })),
  };
}
