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

/** Seeded uniform numbers in [0, 1) (mulberry32): the library's own generator (src/random.ts). */
export { rng as mulberry32 } from '../dist/random.js';

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
  // AVIF as sharp writes it by default (effort 4, 4:4:4 chroma), and with the 4:2:0 chroma
  // that image CDNs commonly serve; the resized one is a CDN's smaller rendition.
  'avif q70': encode('avif', { quality: 70 }),
  'avif q50': encode('avif', { quality: 50 }),
  'avif q50 4:2:0': encode('avif', { quality: 50, chromaSubsampling: '4:2:0' }),
  'resize 0.5x + avif q60': async (img) => fromSharp(sharp(await raw(img).resize(Math.round(img.width / 2), Math.round(img.height / 2)).avif({ quality: 60 }).toBuffer())),
};

/** AVIF re-encodings: measured by `npm run measure` (BENCHMARKS.md), not asserted (each takes seconds on a large photo). */
export const AVIF_ATTACKS = Object.keys(ATTACKS).filter((n) => n.includes('avif'));

/** The attacks issue 2 requires at >= 95% exact payload recovery. */
export const CLASSICAL_ATTACKS = Object.keys(ATTACKS).filter((n) => n !== 'none' && !AVIF_ATTACKS.includes(n));

// ---------------------------------------------------------------------------------------------
// Geometric attacks (issue 3). Each takes (image, rand) where rand is a seeded uniform generator,
// so random crop offsets are reproducible per photo.

const rotateFitScale = (w, h, deg) => {
  const t = Math.abs((deg * Math.PI) / 180);
  return 1 / (Math.cos(t) + Math.sin(t) * Math.max(w / h, h / w));
};

/** Crop keeping `area` of the image (same aspect) at a random offset. */
const cropArea = (area) => async (img, rand) => {
  const f = Math.sqrt(area);
  const w = Math.round(img.width * f), h = Math.round(img.height * f);
  return fromSharp(raw(img).extract({ left: Math.floor(rand() * (img.width - w + 1)), top: Math.floor(rand() * (img.height - h + 1)), width: w, height: h }));
};

/** Rotate by `deg` degrees (positive: clockwise, as sharp), with black borders or cropped to fit. */
const rotate = (deg, fit) => async (img) => {
  const turned = await fromSharp(raw(img).rotate(deg, { background: { r: 0, g: 0, b: 0, alpha: 1 } }));
  if (!fit) return turned;
  const f = rotateFitScale(img.width, img.height, deg);
  const w = Math.floor(img.width * f), h = Math.floor(img.height * f);
  return fromSharp(raw(turned).extract({ left: Math.floor((turned.width - w) / 2), top: Math.floor((turned.height - h) / 2), width: w, height: h }));
};

const resizeTo = (img, w, h) => fromSharp(raw(img).resize(Math.max(1, Math.round(w)), Math.max(1, Math.round(h)), { fit: 'fill' }));

/** name -> async (image, rand) => image */
export const GEOMETRIC_ATTACKS = {
  'crop 50% area': cropArea(0.5),
  'crop 25% area': cropArea(0.25),
  ...Object.fromEntries([2, -2, 5, -5, 10, -10].flatMap((d) => [
    [`rotate ${d > 0 ? '+' : ''}${d} crop-to-fit`, rotate(d, true)],
    [`rotate ${d > 0 ? '+' : ''}${d} borders`, rotate(d, false)],
  ])),
  'rotate 90': async (img) => fromSharp(raw(img).rotate(90)),
  'rotate 180': async (img) => fromSharp(raw(img).rotate(180)),
  'rotate 270': async (img) => fromSharp(raw(img).rotate(270)),
  'flip left-right': async (img) => fromSharp(raw(img).flop()),
  'flip top-bottom': async (img) => fromSharp(raw(img).flip()),
  ...Object.fromEntries([0.3, 0.5, 0.75, 1.5, 2].map((s) => [`scale ${s}x`, (img) => resizeTo(img, img.width * s, img.height * s)])),
  ...Object.fromEntries([0.8, 0.9, 1.1, 1.25].map((r) => [`aspect ${r}`, (img) => resizeTo(img, img.width * r, img.height)])),
  'screenshot chain': async (img, rand) => {
    const s = await resizeTo(img, img.width * 0.8, img.height * 0.8);
    const l = Math.floor(rand() * 0.1 * s.width), r = Math.floor(rand() * 0.1 * s.width);
    const t = Math.floor(rand() * 0.1 * s.height), b = Math.floor(rand() * 0.1 * s.height);
    const c = await fromSharp(raw(s).extract({ left: l, top: t, width: s.width - l - r, height: s.height - t - b }));
    return fromSharp(sharp(await raw(c).jpeg({ quality: 80 }).toBuffer()));
  },
  'social media chain': async (img) => {
    const w = 1080, h = Math.round((img.height * 1080) / img.width);
    const s = await fromSharp(sharp(await raw(await resizeTo(img, w, h)).jpeg({ quality: 70 }).toBuffer()));
    const cw = Math.min(s.width, Math.round((s.height * 4) / 5)), ch = Math.min(s.height, Math.round((cw * 5) / 4));
    return fromSharp(raw(s).extract({ left: Math.floor((s.width - cw) / 2), top: Math.floor((s.height - ch) / 2), width: cw, height: ch }));
  },
};

// ---------------------------------------------------------------------------------------------
// Other edits (issue 3's suite: blur, sharpening, colour changes, overlays, noise and chains
// beyond issue 2's list). Same signature as the geometric attacks: (image, rand) => image.

/**
 * A 5 x 7 bitmap font for the overlay captions: one string per glyph row, '#' lit. Drawn as SVG
 * rectangles, so the overlay needs no font installed (librsvg in sharp renders it anywhere).
 */
const GLYPHS = {
  A: ['.###.', '#...#', '#...#', '#####', '#...#', '#...#', '#...#'],
  C: ['.###.', '#...#', '#....', '#....', '#....', '#...#', '.###.'],
  D: ['####.', '#...#', '#...#', '#...#', '#...#', '#...#', '####.'],
  E: ['#####', '#....', '#....', '####.', '#....', '#....', '#####'],
  H: ['#...#', '#...#', '#...#', '#####', '#...#', '#...#', '#...#'],
  I: ['.###.', '..#..', '..#..', '..#..', '..#..', '..#..', '.###.'],
  K: ['#...#', '#..#.', '#.#..', '##...', '#.#..', '#..#.', '#...#'],
  L: ['#....', '#....', '#....', '#....', '#....', '#....', '#####'],
  M: ['#...#', '##.##', '#.#.#', '#.#.#', '#...#', '#...#', '#...#'],
  N: ['#...#', '##..#', '#.#.#', '#..##', '#...#', '#...#', '#...#'],
  O: ['.###.', '#...#', '#...#', '#...#', '#...#', '#...#', '.###.'],
  P: ['####.', '#...#', '#...#', '####.', '#....', '#....', '#....'],
  R: ['####.', '#...#', '#...#', '####.', '#.#..', '#..#.', '#...#'],
  S: ['.####', '#....', '#....', '.###.', '....#', '....#', '####.'],
  T: ['#####', '..#..', '..#..', '..#..', '..#..', '..#..', '..#..'],
  U: ['#...#', '#...#', '#...#', '#...#', '#...#', '#...#', '.###.'],
  W: ['#...#', '#...#', '#...#', '#.#.#', '#.#.#', '##.##', '#...#'],
  Y: ['#...#', '#...#', '.#.#.', '..#..', '..#..', '..#..', '..#..'],
  0: ['.###.', '#...#', '#..##', '#.#.#', '##..#', '#...#', '.###.'],
  2: ['.###.', '#...#', '....#', '...#.', '..#..', '.#...', '#####'],
  6: ['..##.', '.#...', '#....', '####.', '#...#', '#...#', '.###.'],
  ' ': ['.....', '.....', '.....', '.....', '.....', '.....', '.....'],
};

/**
 * SVG of `text` in the bitmap font, `cell` pixels per font pixel, its top left at (x, y): white
 * glyphs with a black outline, as a caption or a meme line is drawn.
 */
function captionSvg(text, x, y, cell) {
  const rects = [];
  [...text].forEach((c, i) => {
    GLYPHS[c].forEach((row, r) => {
      for (let col = 0; col < 5; col++) {
        if (row[col] === '#') rects.push(`<rect x="${(x + (i * 6 + col) * cell).toFixed(1)}" y="${(y + r * cell).toFixed(1)}" width="${(cell + 0.6).toFixed(1)}" height="${(cell + 0.6).toFixed(1)}"/>`); // + 0.6: no seams
      }
    });
  });
  // The outline first (every lit cell stroked in black), then the white cells over it, so that
  // the strokes show only around the glyphs.
  const outline = Math.max(1, cell / 2);
  return `<g fill="black" stroke="black" stroke-width="${outline.toFixed(1)}">${rects.join('')}</g><g fill="white">${rects.join('')}</g>`;
}

/** Draw SVG `body` (in image pixels) over the image, alpha and channel count kept. */
async function overlaySvg(img, body) {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${img.width}" height="${img.height}">${body}</svg>`;
  const out = await fromSharp(raw(img).composite([{ input: Buffer.from(svg), top: 0, left: 0 }]));
  return out.channels === img.channels ? out : fromSharp(raw(out)[img.channels === 4 ? 'ensureAlpha' : 'removeAlpha']());
}

/**
 * Meme-style captions: a line across the top and one across the bottom, each about a tenth of
 * the image's height (5 x 7 glyphs scaled up; glyphs and outlines change about 10% of the
 * pixels at 3:2).
 */
const captions = (top, bottom) => async (img) => {
  const fit = (text) => Math.min(img.height * 0.1 / 7, (img.width * 0.9) / (text.length * 6));
  const line = (text, y) => {
    const cell = fit(text);
    return captionSvg(text, (img.width - (text.length * 6 - 1) * cell) / 2, y(cell), cell);
  };
  return overlaySvg(img, line(top, (c) => img.height * 0.04) + line(bottom, (c) => img.height * 0.96 - 7 * c));
};

/** A badge in a corner: a half-transparent white rounded box holding a caption, as a platform adds (about 1.3% of the pixels at 3:2). */
const badge = async (img) => {
  const text = 'SHARED ON MODELMARK';
  const cell = Math.max(1, (img.width * 0.3) / (text.length * 6));
  const w = (text.length * 6 + 3) * cell, h = 11 * cell;
  const x = img.width - w - img.width * 0.03, y = img.height - h - img.height * 0.03;
  return overlaySvg(img, `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${w.toFixed(1)}" height="${h.toFixed(1)}" rx="${(2 * cell).toFixed(1)}" fill="white" fill-opacity="0.5"/>${captionSvg(text, x + 2 * cell, y + 2 * cell, cell)}`);
};

/** Keep the channel layout (sharp's colour operations may add or drop channels). */
const sameLayout = async (img, pipeline) => {
  const out = await fromSharp(pipeline);
  if (out.channels === img.channels) return out;
  const p = raw(out);
  if (img.channels === 1) return fromSharp(p.greyscale().extractChannel(0));
  return fromSharp(img.channels === 4 ? p.toColourspace('srgb').ensureAlpha() : p.toColourspace('srgb').removeAlpha());
};

/** name -> async (image, rand) => image */
export const EDIT_ATTACKS = {
  'blur sigma 1': async (img) => fromSharp(raw(img).blur(1)),
  'blur sigma 2': async (img) => fromSharp(raw(img).blur(2)),
  'median 3x3': async (img) => fromSharp(raw(img).median(3)),
  'sharpen': async (img) => fromSharp(raw(img).sharpen({ sigma: 1 })),
  'noise sigma 10': async (img) => { const g = gaussian(6789); return mapColour(img, (v) => v + 10 * g()); },
  'saturation x1.5': async (img) => sameLayout(img, raw(img).modulate({ saturation: 1.5 })),
  'hue +45°': async (img) => sameLayout(img, raw(img).modulate({ hue: 45 })),
  'greyscale': async (img) => sameLayout(img, raw(img).greyscale()),
  'sepia': async (img) => sameLayout(img, raw(img).recomb([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])),
  'white balance (1.1, 1, 0.85)': async (img) => mapColour(img, (v, i) => v * [1.1, 1, 0.85, 1][img.channels >= 3 ? i % img.channels : 1]),
  'overlay captions': captions('MODELMARK 2026', 'PROTECTED COPY'),
  'overlay corner badge': badge,
  'captions then jpeg q75': async (img) => ATTACKS['jpeg q75'](await captions('WHEN THE MARK', 'STAYS PUT')(img)),
  'edit chain: saturation 1.3, sharpen, jpeg q85': async (img) => fromSharp(sharp(await raw(img).modulate({ saturation: 1.3 }).sharpen({ sigma: 1 }).jpeg({ quality: 85 }).toBuffer())),
};
