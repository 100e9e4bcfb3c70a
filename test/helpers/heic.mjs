// A minimal HEIF file whose one image is HEVC-coded ("hvc1", as an iPhone's HEIC photo), built
// box by box: its header is sound (sharp reads its format, codec and size), and its coded data is
// filler, so no decoder makes pixels of it. sharp's prebuilt libvips has no HEVC decoder at all.
const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const u16 = (n) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const box = (type, ...parts) => { const body = Buffer.concat(parts); return Buffer.concat([u32(8 + body.length), Buffer.from(type, 'latin1'), body]); };
const full = (type, version, ...parts) => box(type, Buffer.from([version, 0, 0, 0]), ...parts);

/** The bytes of a `width` x `height` HEVC HEIF (ftyp heic, meta with one hvc1 item, mdat). */
export function hevcHeif(width, height) {
  // hvcC: version 1, Main profile, level 3, 4:2:0, 8 bits, 4-byte NAL lengths, no parameter sets.
  const hvcC = box('hvcC', Buffer.from([1, 1, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 90, 0xf0, 0, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0, 0x0f, 0]));
  const ispe = full('ispe', 0, u32(width), u32(height));
  const ipma = full('ipma', 0, u32(1), u16(1), Buffer.from([2, 0x81, 0x02]));
  const iprp = box('iprp', box('ipco', hvcC, ispe), ipma);
  const hdlr = full('hdlr', 0, u32(0), Buffer.from('pict'), Buffer.alloc(12), Buffer.from([0]));
  const pitm = full('pitm', 0, u16(1));
  const iinf = full('iinf', 0, u16(1), full('infe', 2, u16(1), u16(0), Buffer.from('hvc1'), Buffer.from([0])));
  const data = Buffer.alloc(4096, 0x42);
  const ftyp = box('ftyp', Buffer.from('heic'), u32(0), Buffer.from('mif1heic'));
  const head = (offset) => Buffer.concat([ftyp, full('meta', 0, hdlr, pitm,
    full('iloc', 0, Buffer.from([0x44, 0x00]), u16(1), u16(1), u16(0), u16(1), u32(offset), u32(data.length)), iinf, iprp)]);
  const size = head(0).length;
  return Buffer.concat([head(size + 8), box('mdat', data)]);
}
