// The named attack suite shared by tests, the demo and the benchmarks. Each attack takes a raw
// image { width, height, channels, data } and returns the attacked raw image, applied with sharp
// (format round trips, resizes, tone curves) or with seeded pixel arithmetic (noise).
import sharp from 'sharp';

const raw = (img) => sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), {
  raw: { width: img.width, height: img.height, channels: img.channels },
});

export async function fromSharp(pipeline) {
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: info.channels, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** Decode a file into a raw image (grey stays grey; alpha kept). */
export async function load(path) {
  return fromSharp(sharp(path));
}

/** Seeded uniform numbers in [0, 1) (mulberry32). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded standard normal numbers (xorshift32 + Box-Muller). */
export function gaussian(seed) {
  let s = seed >>> 0 || 1;
  const u = () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

function mapColour(img, fn) {
  const data = new Uint8Array(img.data.length);
  const alpha = img.channels === 4;
  for (let i = 0; i < data.length; i++) {
    data[i] = alpha && (i & 3) === 3 ? img.data[i] : Math.max(0, Math.min(255, Math.round(fn(img.data[i], i))));
  }
  return { ...img, data };
}

const encode = (fmt, opts) => async (img) => fromSharp(sharp(await raw(img)[fmt](opts).toBuffer()));

/** name -> async (image) => image */
export const ATTACKS = {
  'none': async (img) => img,
  'jpeg q75': encode('jpeg', { quality: 75 }),
  'jpeg q50': encode('jpeg', { quality: 50 }),
  'resize 0.5x': async (img) => fromSharp(raw(img).resize(Math.round(img.width / 2), Math.round(img.height / 2))),
  'resize 0.5x and back': async (img) => {
    const half = await fromSharp(raw(img).resize(Math.round(img.width / 2), Math.round(img.height / 2)));
    return fromSharp(raw(half).resize(img.width, img.height));
  },
  'noise sigma 5': async (img) => { const g = gaussian(12345); return mapColour(img, (v) => v + 5 * g()); },
  'brightness +20%': async (img) => mapColour(img, (v) => v * 1.2),
  'contrast x0.8': async (img) => mapColour(img, (v) => 128 + (v - 128) * 0.8),
  'gamma 1.2': async (img) => mapColour(img, (v) => 255 * Math.pow(v / 255, 1.2)),
  'webp q80': encode('webp', { quality: 80 }),
};

/** The attacks issue 2 requires at >= 95% exact payload recovery. */
export const CLASSICAL_ATTACKS = Object.keys(ATTACKS).filter((n) => n !== 'none');
