// `node bench/browser-screenshots.mjs`: real browser screenshots of a marked photo (issue 3).
// bench/attacks.mjs's "screenshot chain" simulates one (0.8x, crop, JPEG q80); here the browser
// does it. Every shared photo is marked at the default strength with one key and payload (the
// library in Node), served on 127.0.0.1 as PNG and as JPEG q90 (what pages serve) in a small web
// page (a dark header with links, a side column and paragraphs of text, a caption), shown by real
// Chromium (Debian's, driven by playwright-core as in test/helpers/browser.mjs) at four sizes:
// natural size, 0.75x and 0.5x of it (CSS width and height, rounded to whole CSS pixels), and fit
// into a 1280x720 viewport under the header (`object-fit: contain`, so a small photo is scaled up),
// at devicePixelRatio 1, 1.5 and 2. The screenshot is a PNG from Chromium: the whole page for the
// three sizes, the 1280x720 viewport for "fit". Chromium scales the image itself (its own filter),
// and on a HiDPI page the screenshot's pixels are CSS pixels x DPR, so the photo reaches the
// detector at (size x DPR) of its marked size: 0.5x at DPR 1, 2x at natural size and DPR 2.
// Each screenshot is read with `wm.detect(img)` and `wm.detect(img, { pieces: true })`
// (docs/geometry.md "Pieces"). Prints a Markdown table: condition -> found with the right payload,
// read whole and with pieces, and the photos missed; its first two rows read the served PNG and
// JPEG q90 files themselves (no page, no browser), to tell the browser's cost from the file's.
// PHOTOS=a.png,b.jpg (names in ../shared/photos/) restricts the photos; --quick runs one photo
// (skimage-astronaut.png unless PHOTOS names others) in one condition (PNG, 0.75x, DPR 1.5).
// --save DIR writes every screenshot there. CHROMIUM_PATH overrides /usr/bin/chromium.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createWatermarker } from '../dist/index.js';
import { fromSharp } from './attacks.mjs';
import { benchPhotos } from './photos.mjs';
import { launchChromium, serveStatic } from '../test/helpers/browser.mjs';

const KEY = 'modelmark browser screenshot key', PAYLOAD = 'c0ffee00deadbeef';
const VIEWPORT = { width: 1280, height: 720 };
const FORMATS = ['PNG', 'JPEG q90'];
const SIZES = ['natural', '0.75x', '0.5x', 'fit 1280x720'];
const DPRS = [1, 1.5, 2];
const HEADER_PX = 56, CAPTION_PX = 28;

const raw = (img) => sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: img.channels } });
const esc = (s) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

const STYLE = `body{margin:0;min-width:max-content;font:16px/1.45 "DejaVu Sans",sans-serif;color:#222;background:#fafafa}
header{height:${HEADER_PX}px;box-sizing:border-box;background:#1f2937;color:#fff;padding:14px 24px;font-size:20px;white-space:nowrap}
header a{color:#cbd5e1;margin-left:22px;font-size:15px}
main{display:flex;gap:24px;padding:16px 24px;width:max-content}
aside{width:200px;flex:none;font-size:14px;color:#444}
article{flex:none}
figure{margin:8px 0}
figcaption{font-size:13px;color:#555}
.fit{height:calc(100vh - ${HEADER_PX + CAPTION_PX}px);background:#111}
.fit img{display:block;width:100%;height:100%;object-fit:contain}
.cap{height:${CAPTION_PX}px;font-size:13px;padding:4px 24px;box-sizing:border-box;color:#555}`;
const TEXT = 'A photograph shown in a page, the way a gallery, a news article or a shop shows one. The text around it is ordinary page text in the default fonts.';

/** The page showing `src` (natural size w x h) at `size`. */
function pageHtml(src, w, h, size, title) {
  const head = `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title><style>${STYLE}</style></head><body>` +
    `<header>Photo gallery<a href="#">Home</a><a href="#">Albums</a><a href="#">About</a></header>`;
  if (size.startsWith('fit')) {
    return `${head}<div class="fit"><img src="${src}" alt=""></div><div class="cap">${esc(title)}: fit to the window</div></body></html>`;
  }
  const f = size === 'natural' ? 1 : Number.parseFloat(size);
  const cw = Math.round(w * f), ch = Math.round(h * f);
  return `${head}<main><aside><p><b>Albums</b></p><p>Landscapes<br>Portraits<br>Textures<br>Scans</p><p>${TEXT}</p></aside>` +
    `<article><h2>${esc(title)}</h2><p>${TEXT}</p><figure><img src="${src}" width="${cw}" height="${ch}" style="width:${cw}px;height:${ch}px" alt="">` +
    `<figcaption>${esc(title)}, shown at ${size} (${cw}x${ch} CSS pixels)</figcaption></figure><p>${TEXT}</p></article></main></body></html>`;
}

const conditionName = (format, size, dpr) => `${format}, ${size}, DPR ${dpr}`;

/** Screenshot every (photo, condition) and read it; returns rows per condition. */
export async function measureScreenshots(photos, conditions, { save = null } = {}) {
  const wm = await createWatermarker({ key: KEY });
  const routes = { '/favicon.ico': (req, res) => res.writeHead(204).end() };
  const server = await serveStatic('/nonexistent-modelmark-root', routes);
  const browser = await launchChromium();
  const reader = detectWorker();
  const pending = [];
  const newRow = (name) => ({ name, tried: 0, whole: [], pieces: [], missWhole: [], missPieces: [], shots: [] });
  // Reference rows: the served file itself, decoded by sharp and read with no page and no browser.
  const fileRows = Object.fromEntries(FORMATS.map((f) => [f, newRow(`${f} file itself, no browser`)]));
  const rows = new Map([...Object.values(fileRows).map((r) => [r.name, r]), ...conditions.map((c) => [conditionName(...c), newRow(conditionName(...c))])]);
  const count = (row, name, px, scale, whole, withPieces) => {
    row.tried++;
    row.shots.push({ px, scale });
    const tag = (r) => (r.found ? `${name} (wrong payload)` : name);
    if (whole.found && whole.payload === PAYLOAD) row.whole.push(name); else row.missWhole.push(tag(whole));
    if (withPieces.found && withPieces.payload === PAYLOAD) row.pieces.push(name); else row.missPieces.push(tag(withPieces));
  };
  const contexts = new Map();
  try {
    for (const dpr of new Set(conditions.map((c) => c[2]))) {
      contexts.set(dpr, await (await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: dpr })).newPage());
    }
    for (const [i, { name, image }] of photos.entries()) {
      const marked = wm.embed(image, PAYLOAD);
      const files = { PNG: ['png', 'image/png', await raw(marked).png().toBuffer()], 'JPEG q90': ['jpg', 'image/jpeg', await raw(marked).jpeg({ quality: 90 }).toBuffer()] };
      for (const [format, [ext, type, bytes]] of Object.entries(files)) {
        routes[`/${i}/photo.${ext}`] = (req, res) => res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(bytes);
        const file = await fromSharp(sharp(bytes));
        count(fileRows[format], name, file.width * file.height, 1, wm.detect(file), wm.detect(file, { pieces: true }));
      }
      for (const [format, size, dpr] of conditions) {
        const row = rows.get(conditionName(format, size, dpr));
        const [ext] = files[format];
        const path = `/${i}/${ext}-${size.replace(/\W+/g, '_')}.html`;
        const html = pageHtml(`/${i}/photo.${ext}`, marked.width, marked.height, size, name);
        routes[path] = (req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
        const page = contexts.get(dpr);
        await page.goto(server.url + path, { waitUntil: 'load' });
        await page.evaluate(() => Promise.all([...document.images].map((im) => im.decode())));
        const png = await page.screenshot({ type: 'png', fullPage: !size.startsWith('fit') });
        if (save) await writeFile(join(save, `${name.replace(/\.\w+$/, '')}-${conditionName(format, size, dpr).replace(/\W+/g, '_')}.png`), png);
        const f = size === 'natural' ? 1 : size.startsWith('fit') ? Math.min(VIEWPORT.width / marked.width, (VIEWPORT.height - HEADER_PX - CAPTION_PX) / marked.height) : Number.parseFloat(size);
        pending.push(reader.read(png).then(({ px, whole, withPieces }) => count(row, name, px, f * dpr, whole, withPieces)));
        // Chromium renders the next page while the worker reads this one; at most two wait.
        if (pending.length > 2) await pending.shift();
      }
      process.stderr.write(`${i + 1}/${photos.length} ${name}\n`);
    }
    await Promise.all(pending);
  } finally {
    await reader.close();
    await browser.close();
    await server.close();
  }
  return [...rows.values()];
}

/**
 * The detector in a worker thread, so that Chromium renders and encodes the next screenshot
 * while the last one is read. `read(png)` resolves to { px, whole, withPieces } ({ found, payload }).
 */
function detectWorker() {
  const worker = new Worker(new URL(import.meta.url), { workerData: { role: 'detect', key: KEY } });
  const waiting = new Map();
  let next = 0, failed = null;
  worker.on('message', ({ id, result, error }) => {
    const w = waiting.get(id); waiting.delete(id);
    if (error) w.reject(new Error(error)); else w.resolve(result);
  });
  worker.on('error', (e) => { failed = e; for (const w of waiting.values()) w.reject(e); waiting.clear(); });
  return {
    read: (png) => new Promise((resolve, reject) => {
      if (failed) return reject(failed);
      const id = next++;
      waiting.set(id, { resolve, reject });
      worker.postMessage({ id, png });
    }),
    close: () => worker.terminate(),
  };
}

async function detectLoop() {
  const wm = await createWatermarker({ key: workerData.key });
  const brief = (r) => ({ found: r.found, payload: r.payload });
  parentPort.on('message', async ({ id, png }) => {
    try {
      const shot = await fromSharp(sharp(Buffer.from(png)));
      parentPort.postMessage({ id, result: { px: shot.width * shot.height, whole: brief(wm.detect(shot)), withPieces: brief(wm.detect(shot, { pieces: true })) } });
    } catch (e) {
      parentPort.postMessage({ id, error: String(e?.stack ?? e) });
    }
  });
}

const short = (n) => n.replace(/\.(png|jpe?g)( |$)/, '$2');

export function screenshotTable(rows, nPhotos) {
  const out = [`| condition | photo's scale in the screenshot | screenshot, megapixels | found, right payload, read whole (${nPhotos} photos) | with pieces | missed read whole | missed with pieces |`, '|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const range = (xs, d) => { const lo = Math.min(...xs), hi = Math.max(...xs); return lo.toFixed(d) === hi.toFixed(d) ? lo.toFixed(d) : `${lo.toFixed(d)}–${hi.toFixed(d)}`; };
    out.push(`| ${r.name} | ${range(r.shots.map((s) => s.scale), 2)}x | ${range(r.shots.map((s) => s.px / 1e6), 1)} | ${r.whole.length}/${r.tried} | ${r.pieces.length}/${r.tried} | ${r.missWhole.map(short).join(', ') || '–'} | ${r.missPieces.map(short).join(', ') || '–'} |`);
  }
  return out.join('\n');
}

if (!isMainThread && workerData?.role === 'detect') {
  await detectLoop();
} else if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick');
  if (quick && !process.env.PHOTOS) process.env.PHOTOS = 'skimage-astronaut.png';
  let photos = await benchPhotos();
  if (quick) photos = photos.slice(0, 1);
  const conditions = quick ? [['PNG', '0.75x', 1.5]] : FORMATS.flatMap((f) => SIZES.flatMap((s) => DPRS.map((d) => [f, s, d])));
  const t0 = performance.now();
  const at = process.argv.indexOf('--save'), save = at > 0 ? process.argv[at + 1] : null;
  if (save) await mkdir(save, { recursive: true });
  const rows = await measureScreenshots(photos, conditions, { save });
  console.log(screenshotTable(rows, photos.length));
  const shots = rows.filter((r) => !r.name.includes('no browser'));
  const sum = (k) => shots.reduce((a, r) => a + r[k].length, 0), tried = shots.reduce((a, r) => a + r.tried, 0);
  console.log(`\nAll screenshots: ${sum('whole')}/${tried} read whole, ${sum('pieces')}/${tried} with pieces; ${((performance.now() - t0) / 1000).toFixed(0)} s.`);
}
