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
