// Hand-made PNG pieces for tests that need what encoders do not write: hostile metadata chunks,
// headers that claim another size.
import { deflateSync } from 'node:zlib';

const TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 (PNG's) of `bytes`. */
export function crc32(bytes) {
  let c = -1;
  for (const v of bytes) c = TABLE[(c ^ v) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** One PNG chunk: length, type, data, CRC. */
export function pngChunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  Buffer.from(data).copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** `png` with `chunks` (each [type, data]) inserted after its IHDR. */
export function pngWith(png, chunks) {
  const ihdrEnd = 8 + 12 + png.readUInt32BE(8);
  return Buffer.concat([png.subarray(0, ihdrEnd), ...chunks.map(([type, data]) => pngChunk(type, data)), png.subarray(ihdrEnd)]);
}

/** An XMP packet of about `n` bytes (a comment of spaces: it deflates to almost nothing). */
export function xmpOf(n) {
  return Buffer.from(`<x:xmpmeta xmlns:x="adobe:ns:meta/"><!--${' '.repeat(n)}--></x:xmpmeta>`);
}

/** A compressed iTXt XMP chunk, as [type, data] for pngWith: keyword, 0, compressed (1), method 0, empty language tag and translated keyword, zlib data. */
export function xmpITXt(xmp) {
  return ['iTXt', Buffer.concat([Buffer.from('XML:com.adobe.xmp\0\x01\x00\0\0', 'latin1'), deflateSync(xmp, { level: 9 })])];
}

/** A minimal RGB PNG whose header claims `width` × `height` (for bomb and zero-size checks). */
export function pngClaiming(width, height) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(Buffer.alloc(13))), pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * An animated PNG (APNG) of `frames` (PNG files of one size, e.g. sharp's): acTL, each frame's
 * fcTL, the first frame's IDAT as the default image and the others' as fdAT chunks; with
 * `defaultImage` (a PNG of the same size), its IDAT is the default image, outside the animation
 * (no fcTL before it), and every frame is in fdAT chunks.
 */
export function apngOf(frames, { loops = 0, defaultImage } = {}) {
  const chunksOf = (b) => { const out = []; for (let at = 8; at < b.length;) { const n = b.readUInt32BE(at); out.push([b.toString('latin1', at + 4, at + 8), b.subarray(at + 8, at + 8 + n)]); at += 12 + n; } return out; };
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32BE(v); return b; };
  const u16 = (v) => { const b = Buffer.alloc(2); b.writeUInt16BE(v); return b; };
  const ihdr = chunksOf(frames[0]).find(([t]) => t === 'IHDR')[1];
  const width = ihdr.readUInt32BE(0), height = ihdr.readUInt32BE(4);
  // sequence, size, offset 0,0, delay 1/2 s, dispose none, blend source
  const fctl = (seq) => Buffer.concat([u32(seq), u32(width), u32(height), u32(0), u32(0), u16(1), u16(2), Buffer.from([0, 0])]);
  let seq = 0;
  const parts = [frames[0].subarray(0, 8), pngChunk('IHDR', ihdr), pngChunk('acTL', Buffer.concat([u32(frames.length), u32(loops)]))];
  if (defaultImage) for (const [t, d] of chunksOf(defaultImage)) if (t === 'IDAT') parts.push(pngChunk('IDAT', d));
  frames.forEach((f, i) => {
    parts.push(pngChunk('fcTL', fctl(seq++)));
    for (const [t, d] of chunksOf(f)) if (t === 'IDAT') parts.push(i === 0 && !defaultImage ? pngChunk('IDAT', d) : pngChunk('fdAT', Buffer.concat([u32(seq++), d])));
  });
  parts.push(pngChunk('IEND', Buffer.alloc(0)));
  return Buffer.concat(parts);
}
