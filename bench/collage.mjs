// `node bench/collage.mjs`: "where is the mark" on collages (issue 3). Each shared photo is marked
// at the default strength and pasted, whole or cropped, at scale 1 or scaled, into a larger
// unmarked photo at a random offset (never a multiple of 8), two marked pieces share one collage
// (same key; or another key beside it), or the photo sits in a "screenshot" (flat grey frame, text
// bars). Per scenario: the photos whose payload is found, and how well `regions` marks the pasted
// area: a cell counts as carrying the mark at score >= 3 (README, docs/geometry.md); precision is
// the share of such cells that touch a pasted piece of this key, recall the share of the non-null
// cells lying wholly inside a found piece that score >= 3 ("where found": a missed payload has no
// map). `ref` is the recall of the same piece detected alone (same scale, same JPEG): what the
// photo's own texture allows, so recall / ref shows what the collage costs.
// With two pieces of this key, "region recall" is the better-mapped piece's and "second piece's
// recall" the other's: the map is read on the one grid the search found, so a second piece pasted
// at another offset or scale reads as unmarked.
// PHOTOS=a.png,b.jpg (names in ../shared/photos/) restricts the pieces' photos; --only NAME
// (substring, repeatable) the scenarios; --seed N; --png skips the JPEG q85 save, --grey-host
// pastes onto flat grey instead of another photo (to tell those costs apart); --pieces detects
// with `{ pieces: true }` (nine windows searched when the whole image reads no mark), --all-pieces
// with `{ pieces: 'all' }`: then a scenario of two pieces of this key with two payloads is added,
// and one of a piece pasted on a photo marked with another payload ("both listed": both payloads
// in `pieces`), and "pieces listed" counts every scenario's pieces
// (one per pasted piece of this key is right: more is the same piece listed twice). Prints
// Markdown.
import sharp from 'sharp';
import { createWatermarker } from '../dist/index.js';
import { fromSharp, mulberry32 } from './attacks.mjs';
import { benchPhotos, syntheticPhoto } from './photos.mjs';

const KEY = 'modelmark collage key', OTHER_KEY = 'modelmark collage other key';
const PAYLOAD = 'c0ffee00deadbeef', PAYLOAD2 = '0123456789abcdef', PAYLOAD3 = 'fedcba9876543210';
export const CELL_MARKED = 3;

const raw = (img) => sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: img.channels } });
const rgb = (img) => (img.channels === 3 ? img : fromSharp(raw(img).removeAlpha().toColourspace('srgb')));
const resize = (img, w, h) => fromSharp(raw(img).resize(Math.round(w), Math.round(h), { fit: 'fill', kernel: 'lanczos3' }));
let FORMAT = 'jpeg';
const jpeg = async (img, quality = 85) => FORMAT === 'png' ? img : fromSharp(sharp(await raw(img).jpeg({ quality }).toBuffer()));
const extract = (img, r) => fromSharp(raw(img).extract({ left: r.left, top: r.top, width: r.width, height: r.height }));
/** Off the 8-pixel grid: a random integer in [0, max] that is not a multiple of 8 (where max allows). */
const offset = (rand, max) => {
  let v = Math.floor(rand() * (max + 1));
  if (v % 8 === 0 && max >= 3) v = v + 3 <= max ? v + 3 : v - 3;
  return Math.max(0, v);
};

/** Paste pieces [{ img, left, top }] over a copy of host with sharp. */
async function paste(host, pieces) {
  return fromSharp(raw(host).composite(pieces.map(({ img, left, top }) => ({
    input: Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), raw: { width: img.width, height: img.height, channels: img.channels }, left, top,
  }))));
}

/** A random crop keeping 25-60% of the area. */
function cropRect(rand, w, h) {
  const area = 0.25 + 0.35 * rand();
  const fw = Math.min(1, Math.sqrt(area) * (0.8 + 0.4 * rand()));
  const fh = Math.min(1, area / fw);
  const width = Math.round(w * fw), height = Math.round(h * fh);
  return { left: Math.floor(rand() * (w - width + 1)), top: Math.floor(rand() * (h - height + 1)), width, height };
}

/**
 * Cells of a detection's region map against pasted rectangles: `pos` the rectangles of this key's
 * pieces, `neg` those of pieces that must not show (another key's). Returns counts.
 */
export function scoreCells(regions, pos, neg = []) {
  const { columns, rows, cellWidth: cw, cellHeight: ch, scores } = regions;
  const overlap = (x0, y0, x1, y1, r) => Math.max(0, Math.min(x1, r.left + r.width) - Math.max(x0, r.left)) * Math.max(0, Math.min(y1, r.top + r.height) - Math.max(y0, r.top));
  const c = { marked: 0, markedOnPiece: 0, inside: pos.map(() => 0), insideMarked: pos.map(() => 0), negInside: 0, negMarked: 0, outsideScores: [] };
  for (let y = 0; y < rows; y++) for (let x = 0; x < columns; x++) {
    const s = scores[y * columns + x];
    if (s === null) continue;
    const x0 = x * cw, y0 = y * ch, x1 = x0 + cw, y1 = y0 + ch, a = cw * ch;
    const m = s >= CELL_MARKED;
    const touches = pos.some((r) => overlap(x0, y0, x1, y1, r) > 0);
    if (m) c.marked++;
    if (m && touches) c.markedOnPiece++;
    pos.forEach((r, i) => {
      if (overlap(x0, y0, x1, y1, r) >= a * 0.999) { c.inside[i]++; if (m) c.insideMarked[i]++; }
    });
    for (const r of neg) if (overlap(x0, y0, x1, y1, r) >= a * 0.999) { c.negInside++; if (m) c.negMarked++; }
    if (!touches && !neg.some((r) => overlap(x0, y0, x1, y1, r) > 0)) c.outsideScores.push(s);
  }
  return c;
}

/** Recall of the piece detected alone: share of its non-null cells at >= 3 ('' when not found). */
function aloneRecall(wm, img, payload) {
  const r = wm.detect(img);
  if (!r.found || r.payload !== payload) return null;
  const s = r.regions.scores.filter((v) => v !== null);
  return s.filter((v) => v >= CELL_MARKED).length / s.length;
}

const fmt = (x) => (x === null || Number.isNaN(x) ? '–' : x.toFixed(2));

export async function measureCollages(photos, { seed = 1, only = [], host = 'photo', format = 'jpeg', pieces = false } = {}) {
  FORMAT = format;
  const call = pieces ? { pieces } : undefined;
  const wm = await createWatermarker({ key: KEY });
  const wm2 = await createWatermarker({ key: OTHER_KEY });
  const n = photos.length;
  const hostOf = async (i, w, h) => {
    if (host === 'grey') return { width: w, height: h, channels: 3, data: new Uint8Array(w * h * 3).fill(128) };
    const src = n > 1 ? photos[(i + 1) % n].image : await syntheticPhoto(640, 480, 11 + i);
    return resize(await rgb(src), w, h);
  };
  const scen = {};
  const row = (name) => (scen[name] ??= { name, tried: 0, found: [], failed: [], marked: 0, markedOnPiece: 0, inside: 0, insideMarked: 0, inside2: 0, insideMarked2: 0, refInside: 0, refMarked: 0, negInside: 0, negMarked: 0, outside: [], cases: [], listed: 0, pasted: 0, both: 0 });
  const want = (name) => !only.length || only.some((o) => name.includes(o));
  const marks = [];
  for (const [i, { image }] of photos.entries()) {
    const img = await rgb(image);
    marks.push({ i, img, marked: wm.embed(img, PAYLOAD), other: wm2.embed(img, PAYLOAD2), ...(pieces === 'all' ? { third: wm.embed(img, PAYLOAD3) } : {}) });
  }
  const record = (name, label, r, payload, rects, extra = {}) => {
    const s = row(name);
    s.tried++;
    // pieces: 'all': the pieces listed, against the pasted pieces of this key.
    if (r.pieces) { s.listed += r.pieces.length; s.pasted += extra.neg ? 1 : rects.length; }
    if (extra.both && r.pieces && extra.both.every((p) => r.pieces.some((q) => q.payload === p))) s.both++;
    const ok = r.found && r.payload === payload;
    if (!ok) { s.failed.push(label); return null; }
    s.found.push(label);
    const c = scoreCells(r.regions, rects, extra.neg ?? []);
    s.marked += c.marked; s.markedOnPiece += c.markedOnPiece;
    // Two pieces of this key: recall is the better-mapped piece's (the one whose grid was found),
    // `second` the other's.
    const k = c.inside.map((v, q) => [v ? c.insideMarked[q] / v : -1, q]).sort((x, y) => y[0] - x[0]).map(([, q]) => q);
    s.inside += c.inside[k[0]]; s.insideMarked += c.insideMarked[k[0]];
    if (k.length > 1) { s.inside2 += c.inside[k[1]]; s.insideMarked2 += c.insideMarked[k[1]]; }
    s.negInside += c.negInside; s.negMarked += c.negMarked;
    s.outside.push(...c.outsideScores);
    s.cases.push({ label, precision: c.marked ? c.markedOnPiece / c.marked : null, recall: c.inside.map((v, k) => (v ? c.insideMarked[k] / v : null)), ref: extra.ref ?? null });
    return c;
  };

  for (const { i, img, marked } of marks) {
    const name = photos[i].name;
    // 1. One piece pasted into a larger unmarked photo, saved as JPEG q85.
    for (const [variant, crop, scaled] of [['whole, scale 1', false, false], ['crop 25-60%, scale 1', true, false], ['whole, scaled 0.5-0.9', false, true], ['crop 25-60%, scaled 0.5-0.9', true, true]]) {
      const sname = `1. pasted: ${variant}`;
      if (!want(sname)) continue;
      const rand = mulberry32(seed * 1000 + i * 17 + variant.length);
      let piece = crop ? await extract(marked, cropRect(rand, img.width, img.height)) : marked;
      const sc = scaled ? 0.5 + 0.4 * rand() : 1;
      if (scaled) piece = await resize(piece, piece.width * sc, piece.height * sc);
      const W = Math.round(piece.width * (1.3 + 0.6 * rand())), H = Math.round(piece.height * (1.3 + 0.6 * rand()));
      const rect = { left: offset(rand, W - piece.width), top: offset(rand, H - piece.height), width: piece.width, height: piece.height };
      const out = await jpeg(await paste(await hostOf(i, W, H), [{ img: piece, left: rect.left, top: rect.top }]));
      const ref = aloneRecall(wm, await jpeg(piece), PAYLOAD);
      record(sname, `${name} (${piece.width}x${piece.height} at ${rect.left},${rect.top} in ${W}x${H}${scaled ? `, x${sc.toFixed(2)}` : ''})`, wm.detect(out, call), PAYLOAD, [rect], { ref });
    }
    // 2. Two pieces in one collage: from photo i and photo i+1, both this key; then photo i+1
    // marked with another key beside photo i.
    const j = (i + 1) % n;
    for (const [variant, sameKey] of [['two pieces, same key', true], ['beside another key\'s piece', false], ...(pieces === 'all' ? [['two pieces, same key, two payloads', 'third']] : [])]) {
      const sname = `2. ${variant}`;
      if (!want(sname)) continue;
      const rand = mulberry32(seed * 1000 + i * 31 + variant.length);
      const fit = async (m) => {
        const p = await extract(m, cropRect(rand, m.width, m.height));
        const s = Math.min(1, 900 / Math.max(p.width, p.height)) * (0.7 + 0.3 * rand());
        return s < 1 ? resize(p, p.width * s, p.height * s) : p;
      };
      const a = await fit(marked), b = await fit(sameKey === 'third' ? marks[j].third : sameKey ? marks[j].marked : marks[j].other);
      const gap = 20 + Math.floor(rand() * 60);
      const W = a.width + b.width + gap + 40 + Math.floor(rand() * 120), H = Math.max(a.height, b.height) + 40 + Math.floor(rand() * 120);
      const ra = { left: offset(rand, 20) + 1, top: offset(rand, H - a.height), width: a.width, height: a.height };
      const rb = { left: ra.left + a.width + gap + (offset(rand, 9) || 5), top: offset(rand, H - b.height), width: b.width, height: b.height };
      rb.left = Math.min(rb.left, W - b.width);
      const out = await jpeg(await paste(await hostOf(n > 2 ? i + 1 : i, W, H), [{ img: a, left: ra.left, top: ra.top }, { img: b, left: rb.left, top: rb.top }]));
      const label = `${name} + ${photos[j].name}`;
      if (sameKey === 'third') {
        const r = wm.detect(out, call);
        // Found: the first listed piece is either payload's (the table's precision counts the cells of both).
        record(sname, label, r.found && r.payload === PAYLOAD3 ? { ...r, payload: PAYLOAD } : r, PAYLOAD, [ra, rb], { both: [PAYLOAD, PAYLOAD3] });
      } else if (sameKey) {
        record(sname, label, wm.detect(out, call), PAYLOAD, [ra, rb]);
      } else {
        record(sname + ' (key A)', label, wm.detect(out, call), PAYLOAD, [ra], { neg: [rb] });
        record(sname + ' (key B)', label, wm2.detect(out, call), PAYLOAD2, [rb], { neg: [ra] });
      }
    }
    // 2. (pieces: 'all') A piece on a marked background: photo i+1 marked with a third payload as
    // the whole image (its own size), photo i (this payload) cropped and scaled to at most half of
    // each of its sides pasted on it.
    const nname = '2. piece on a marked background, two payloads';
    if (pieces === 'all' && want(nname)) {
      const rand = mulberry32(seed * 1000 + i * 53 + 7);
      const bg = marks[j].third;
      let p = await extract(marked, cropRect(rand, marked.width, marked.height));
      const s = Math.min(bg.width * 0.5 / p.width, bg.height * 0.5 / p.height) * (0.7 + 0.3 * rand());
      if (s < 1) p = await resize(p, p.width * s, p.height * s);
      const rect = { left: offset(rand, bg.width - p.width), top: offset(rand, bg.height - p.height), width: p.width, height: p.height };
      const out = await jpeg(await paste(bg, [{ img: p, left: rect.left, top: rect.top }]));
      const r = wm.detect(out, call);
      record(nname, `${name} (${p.width}x${p.height}) on ${photos[j].name}`, r.found && r.payload === PAYLOAD3 ? { ...r, payload: PAYLOAD } : r, PAYLOAD,
        [rect, { left: 0, top: 0, width: bg.width, height: bg.height }], { both: [PAYLOAD, PAYLOAD3] });
    }
    // 3. A "screenshot": the photo shown at 0.5-1x in a flat grey window with text bars, 40-70%
    // of the screenshot's area, saved as PNG.
    const sname = '3. screenshot (PNG)';
    if (want(sname)) {
      const rand = mulberry32(seed * 1000 + i * 43 + 3);
      const d = 0.5 + 0.5 * rand();
      const shown = await resize(marked, marked.width * d, marked.height * d);
      const f = 0.4 + 0.3 * rand();
      const barT = 40 + Math.floor(rand() * 40), barB = 24 + Math.floor(rand() * 30);
      let W = Math.round(Math.sqrt((shown.width * shown.height / f) * (shown.width / shown.height))), H = Math.round(shown.width * shown.height / f / W);
      W = Math.max(W, shown.width + 16); H = Math.max(H, shown.height + barT + barB + 16);
      const data = new Uint8Array(W * H * 3).fill(236);
      const box = (x0, y0, w, h, v) => { for (let y = y0; y < Math.min(H, y0 + h); y++) for (let x = x0; x < Math.min(W, x0 + w); x++) data.fill(v, (y * W + x) * 3, (y * W + x) * 3 + 3); };
      box(0, 0, W, barT, 48); box(0, H - barB, W, barB, 200);
      const text = (y0, h, v, x0, x1) => { for (let x = x0; x < x1;) { const w = 4 + Math.floor(rand() * 40); box(x, y0, w, h, v); x += w + 4 + Math.floor(rand() * 10); } };
      text(Math.floor(barT / 2) - 6, 12, 230, 12, Math.floor(W * 0.6));
      text(H - barB + Math.floor(barB / 2) - 5, 10, 40, 8, Math.floor(W * 0.4));
      const rect = { left: offset(rand, W - shown.width), top: barT + offset(rand, H - barT - barB - shown.height), width: shown.width, height: shown.height };
      // side text lines where the window has room
      for (let y = barT + 10; y < H - barB - 14; y += 22) {
        if (rect.left > 60) text(y, 10, 90, 8, rect.left - 8);
        if (W - rect.left - rect.width > 60) text(y, 10, 90, rect.left + rect.width + 8, W - 8);
      }
      const ui = { width: W, height: H, channels: 3, data };
      const out = await fromSharp(sharp(await raw(await paste(ui, [{ img: shown, left: rect.left, top: rect.top }])).png().toBuffer()));
      const ref = aloneRecall(wm, shown, PAYLOAD);
      record(sname, `${name} (x${d.toFixed(2)}, ${(100 * shown.width * shown.height / (W * H)).toFixed(0)}% of ${W}x${H})`, wm.detect(out, call), PAYLOAD, [rect], { ref });
    }
  }
  return Object.values(scen);
}

export function collageTable(rows, nPhotos) {
  const out = [`| scenario | found, right payload (${nPhotos} photos) | region precision | region recall | second piece's recall | recall of the piece alone | another key's cells at >= 3 | unpasted cells: mean, share >= 3 |`, '|---|---|---|---|---|---|---|---|'];
  const all = rows.some((s) => s.pasted > 0);
  if (all) { out[0] += ' pieces listed / pasted of this key | both payloads listed |'; out[1] += '---|---|'; }
  for (const s of rows) {
    const refs = s.cases.map((c) => c.ref).filter((v) => v !== null);
    const om = s.outside.length ? s.outside.reduce((a, b) => a + b, 0) / s.outside.length : null;
    out.push(`| ${s.name} | ${s.found.length}/${s.tried} | ${fmt(s.marked ? s.markedOnPiece / s.marked : null)} | ${fmt(s.inside ? s.insideMarked / s.inside : null)} | ${s.inside2 ? fmt(s.insideMarked2 / s.inside2) : '–'} | ${refs.length ? fmt(refs.reduce((a, b) => a + b, 0) / refs.length) : '–'} | ${s.negInside ? `${s.negMarked}/${s.negInside}` : '–'} | ${fmt(om)}, ${s.outside.length ? fmt(s.outside.filter((v) => v >= CELL_MARKED).length / s.outside.length) : '–'} |` +
      (all ? ` ${s.pasted ? `${s.listed}/${s.pasted}` : '–'} | ${s.name.includes('two payloads') ? `${s.both}/${s.tried}` : '–'} |` : ''));
  }
  return out.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const only = args.flatMap((a, k) => (a === '--only' ? [args[k + 1]] : []));
  const seed = Number(args[args.indexOf('--seed') + 1] ?? 1) || 1;
  const photos = await benchPhotos();
  const host = args.includes('--grey-host') ? 'grey' : 'photo', format = args.includes('--png') ? 'png' : 'jpeg';
  const rows = await measureCollages(photos, { seed, only, host, format, pieces: args.includes('--all-pieces') ? 'all' : args.includes('--pieces') });
  console.log(collageTable(rows, photos.length));
  console.log('\nPer case (precision; recall per piece; recall of the piece alone):');
  for (const s of rows) {
    console.log(`\n${s.name}: missed ${s.failed.length ? s.failed.join('; ') : 'none'}`);
    for (const c of s.cases) console.log(`- ${c.label}: ${fmt(c.precision)}; ${c.recall.map(fmt).join(' / ')}; ${fmt(c.ref)}`);
  }
}
