// The example Cloudflare Worker (examples/worker) on workerd, the open-source Workers runtime:
// build the bundle (one ES module + every .wasm as a pre-compiled wasm module, as wrangler
// uploads it), serve it on loopback with the shipped config.capnp, mark real photos (PNG and
// JPEG) through POST /embed, check them with the Node core, read them back through POST /detect,
// and check that bad input gets a JSON error with a 4xx status. workerd refuses to compile wasm
// from bytes at run time, like Cloudflare, so this also proves the core runs from a passed Module.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { createWatermarker, sourceEncoding } from '../dist/index.js';
import { buildWorker } from '../examples/worker/build.mjs';
import { apngOf, pngWith, xmpITXt, xmpOf } from './helpers/png.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CONFIG = fileURLToPath(new URL('../examples/worker/config.capnp', import.meta.url));
const WORKERD = fileURLToPath(new URL('../node_modules/.bin/workerd', import.meta.url));
const PHOTOS = new URL('../../shared/photos/', import.meta.url);
const PAYLOAD = 'c0ffee00d15ea5e1';

// The Worker's key is the text binding in config.capnp; the Node side detects with the same one.
const config = await readFile(CONFIG, 'utf8');
const KEY = /name = "MODELMARK_KEY", text = "([^"]*)"/.exec(config)?.[1];
const TOKEN = /name = "API_TOKEN", text = "([^"]*)"/.exec(config)?.[1];
const AUTH = { authorization: `Bearer ${TOKEN}` };

let workerd;
let base;
let stderr = '';
let bundle;

function stop() {
  if (workerd && workerd.exitCode === null && workerd.signalCode === null) workerd.kill('SIGTERM');
  workerd = undefined;
}
// Never leave workerd behind, whatever ends this process (the suite runs in one process).
process.once('exit', stop);

test.before(async () => {
  assert.ok(KEY, 'config.capnp must bind MODELMARK_KEY as text');
  bundle = await buildWorker();
  workerd = spawn(WORKERD, ['serve', CONFIG, '--socket-addr', 'http=127.0.0.1:0', '--control-fd', '3'], {
    cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  workerd.stderr.on('data', (d) => { stderr += d; });
  // workerd reports each socket's port on the control descriptor once it listens.
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`workerd did not listen within 20 s:\n${stderr}`)), 20_000);
    let buf = '';
    workerd.stdio[3].on('data', (d) => {
      buf += d;
      for (const line of buf.split('\n')) {
        try {
          const msg = JSON.parse(line);
          if (msg.event === 'listen' && msg.socket === 'http') { clearTimeout(timer); resolve(msg.port); }
        } catch { /* partial line */ }
      }
    });
    workerd.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`workerd exited (${code ?? signal}):\n${stderr}`)); });
    workerd.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
  base = `http://127.0.0.1:${port}`;
});

test.after(() => stop());

async function post(path, body) {
  if (body.length > 1 << 20) return postExpecting(path, body);
  const res = await fetch(base + path, { method: 'POST', body, headers: AUTH });
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { res, bytes, type: res.headers.get('content-type') ?? '' };
}

/**
 * POST a large body the way careful clients do, with `Expect: 100-continue`: the body goes out
 * only if the server asks for it, so a refusal by the declared length (413) arrives intact
 * instead of racing a connection closed under the upload.
 */
function postExpecting(path, body) {
  return new Promise((resolve, reject) => {
    const req = request(base + path, { method: 'POST', headers: { ...AUTH, 'content-length': body.length, expect: '100-continue' } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ res: { status: res.statusCode }, bytes: new Uint8Array(Buffer.concat(chunks)), type: res.headers['content-type'] ?? '' }));
      res.on('error', reject);
    });
    req.on('continue', () => req.end(body));
    req.on('error', reject);
    req.flushHeaders();
  });
}

const jsonOf = (bytes) => JSON.parse(new TextDecoder().decode(bytes));

const node = await createWatermarker({ key: KEY ?? 'unset' });

/** Decode a file's bytes with sharp and detect with the Node core. */
async function detectInNode(bytes) {
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  return node.detect({ width: info.width, height: info.height, channels: info.channels, data });
}

for (const [file, format, mime] of [['skimage-astronaut.png', 'png', 'image/png'], ['mate-FreshFlower.jpg', 'jpeg', 'image/jpeg']]) {
  test(`POST /embed marks a ${format.toUpperCase()} photo (${file}); Node and /detect read the payload`, async () => {
    const original = new Uint8Array(await readFile(new URL(file, PHOTOS)));
    const { res, bytes, type } = await post(`/embed?payload=${PAYLOAD}`, original);
    assert.is(res.status, 200, `embed answered ${res.status}: ${new TextDecoder().decode(bytes.slice(0, 300))}\n${stderr}`);
    assert.is(type, mime);
    assert.is(res.headers.get('x-modelmark-payload'), PAYLOAD);
    const meta = await sharp(bytes).metadata();
    const src = await sharp(original).metadata();
    assert.is(meta.format, format);
    assert.equal([meta.width, meta.height], [src.width, src.height]);

    const inNode = await detectInNode(bytes);
    assert.ok(inNode.found, `Node core did not find the mark: p = ${inNode.pValue}`);
    assert.is(inNode.payload, PAYLOAD);

    const unmarked = await post('/detect', original);
    assert.is(unmarked.res.status, 200);
    assert.is(jsonOf(unmarked.bytes).found, false, 'the original must not test as marked');

    const back = await post('/detect', bytes);
    assert.is(back.res.status, 200);
    assert.ok(back.type.startsWith('application/json'));
    const r = jsonOf(back.bytes);
    assert.equal(Object.keys(r).sort(), ['found', 'pValue', 'payload', 'transform']);
    assert.is(r.found, true);
    assert.is(r.payload, PAYLOAD);
    assert.ok(r.pValue < 1e-6, `pValue ${r.pValue}`);
    assert.is(typeof r.transform, 'object');
  });
}

test('POST /embed keeps the upload\'s EXIF (orientation as stored), ICC profile and XMP; metadata=strip drops them', async () => {
  const xmp = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Worker Test</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>';
  for (const format of ['jpeg', 'png']) {
    const upload = await sharp(fileURLToPath(new URL('mate-Storm.jpg', PHOTOS))).resize(800)
      .withIccProfile('p3').withExif({ IFD0: { Copyright: 'Worker Test 2026' } }).withXmp(xmp).toFormat(format).toBuffer()
      .then((b) => sharp(b).keepMetadata().withMetadata({ orientation: 6 }).toFormat(format).toBuffer());
    const src = await sharp(upload).metadata();
    assert.is(src.orientation, 6);
    const { res, bytes } = await post(`/embed?payload=${PAYLOAD}`, new Uint8Array(upload));
    assert.is(res.status, 200, new TextDecoder().decode(bytes.slice(0, 300)));
    const m = await sharp(bytes).metadata();
    assert.ok(m.icc && Buffer.compare(m.icc, src.icc) === 0, `${format}: the P3 profile`);
    assert.is(m.orientation, 6, `${format}: the stored pixels are not turned, so the orientation stays`);
    assert.equal([m.width, m.height], [src.width, src.height]);
    assert.ok(m.exif.toString('latin1').includes('Worker Test 2026'), `${format}: EXIF`);
    assert.ok(m.xmp.toString('utf8').includes('Worker Test'), `${format}: XMP`);
    // The mark is in the stored pixels: read them as stored (no rotation, no conversion).
    const { data, info } = await sharp(bytes).keepIccProfile().raw().toBuffer({ resolveWithObject: true });
    const r = node.detect({ width: info.width, height: info.height, channels: info.channels, data });
    assert.is(r.payload, PAYLOAD);

    const stripped = await post(`/embed?payload=${PAYLOAD}&metadata=strip`, new Uint8Array(upload));
    assert.is(stripped.res.status, 200);
    const sm = await sharp(stripped.bytes).metadata();
    assert.equal([sm.icc, sm.exif, sm.xmp], [undefined, undefined, undefined]);
  }
  const bad = await post(`/embed?payload=${PAYLOAD}&metadata=maybe`, new Uint8Array(await readFile(new URL('skimage-astronaut.png', PHOTOS))));
  assert.is(bad.res.status, 400);
  assert.is(jsonOf(bad.bytes).error.code, 'ERR_INVALID_ARGUMENT');
});

test('POST /embed keeps a JPEG upload\'s IPTC records (caption, creator, copyright) in a JPEG answer', async () => {
  const text = Buffer.from('Worker caption 2026', 'utf8');
  const records = Buffer.concat([Buffer.from([0x1c, 2, 0x78, 0, text.length]), text]);
  const size = Buffer.alloc(4);
  size.writeUInt32BE(records.length);
  const body = Buffer.concat([Buffer.from('Photoshop 3.0\0', 'latin1'), Buffer.from('8BIM'), Buffer.from([4, 4, 0, 0]), size, records, Buffer.alloc(records.length & 1)]);
  const jpeg = await sharp(fileURLToPath(new URL('mate-Storm.jpg', PHOTOS))).resize(640).jpeg({ quality: 90 }).toBuffer();
  const upload = Buffer.concat([jpeg.subarray(0, 2), Buffer.from([0xff, 0xed, (body.length + 2) >> 8, (body.length + 2) & 255]), body, jpeg.subarray(2)]);
  const { res, bytes } = await post(`/embed?payload=${PAYLOAD}`, new Uint8Array(upload));
  assert.is(res.status, 200);
  const iptc = (await sharp(bytes).metadata()).iptc;
  assert.ok(iptc && iptc.includes(records), 'the records, read by libvips');
  assert.is((await detectInNode(bytes)).payload, PAYLOAD);
  assert.is(res.headers.get('x-modelmark-warning'), null);
  // A PNG answer has no place for them: said in the warning header, as the CLI warns.
  const png = await post(`/embed?payload=${PAYLOAD}&format=png`, new Uint8Array(upload));
  assert.is(png.res.status, 200);
  assert.is((await sharp(png.bytes).metadata()).iptc, undefined);
  assert.match(png.res.headers.get('x-modelmark-warning') ?? '', /^metadata: the IPTC data was left out \(PNG has no standard place for IPTC records/);
});

test('POST /embed keeps a PNG upload\'s text chunks in a PNG answer and names them in x-modelmark-warning for a JPEG one', async () => {
  const png = await sharp(fileURLToPath(new URL('mate-Storm.jpg', PHOTOS))).resize(400).png().toBuffer();
  const upload = pngWith(png, [['tEXt', Buffer.from('parameters\0a storm, Steps: 20', 'latin1')]]);
  const same = await post(`/embed?payload=${PAYLOAD}`, new Uint8Array(upload));
  assert.is(same.res.status, 200);
  assert.equal((await sharp(same.bytes).metadata()).comments, [{ keyword: 'parameters', text: 'a storm, Steps: 20' }]);
  assert.is(same.res.headers.get('x-modelmark-warning'), null);
  const jpeg = await post(`/embed?payload=${PAYLOAD}&format=jpeg`, new Uint8Array(upload));
  assert.is(jpeg.res.status, 200);
  assert.match(jpeg.res.headers.get('x-modelmark-warning') ?? '', /the PNG text was left out/);
});

test('POST /embed refuses an animated PNG (422 ERR_ANIMATED: the answer would keep its first image); /detect reads it', async () => {
  const frame = (name) => sharp(fileURLToPath(new URL(name, PHOTOS))).resize(320, 200, { fit: 'fill' }).png().toBuffer();
  const apng = new Uint8Array(apngOf([await frame('mate-Garden.jpg'), await frame('mate-Storm.jpg')]));
  const e = await post(`/embed?payload=${PAYLOAD}`, apng);
  assert.is(e.res.status, 422);
  assert.is(jsonOf(e.bytes).error.code, 'ERR_ANIMATED');
  const d = await post('/detect', apng);
  assert.is(d.res.status, 200);
  assert.is(jsonOf(d.bytes).found, false);
});

test('POST /embed writes sequential JPEG (half MozJPEG\'s CPU) unless progressive=1; both carry the payload', async () => {
  const upload = new Uint8Array(await sharp(fileURLToPath(new URL('mate-Storm.jpg', PHOTOS))).resize(640).jpeg({ quality: 90 }).toBuffer());
  for (const [query, progressive] of [['', false], ['&progressive=1', true], ['&progressive=0', false]]) {
    const { res, bytes } = await post(`/embed?payload=${PAYLOAD}${query}`, upload);
    assert.is(res.status, 200);
    assert.is((await sharp(bytes).metadata()).isProgressive, progressive, `progressive${query}`);
    assert.is((await detectInNode(bytes)).payload, PAYLOAD);
  }
  const bad = await post(`/embed?payload=${PAYLOAD}&progressive=yes`, upload);
  assert.is(bad.res.status, 400);
  assert.is(jsonOf(bad.bytes).error.code, 'ERR_INVALID_ARGUMENT');
});

test('POST /embed: a JPEG upload comes back at its own quality and subsampling (standard tables), read back and at 95 where the mark is lost; ?quality= wins', async () => {
  const storm = () => sharp(fileURLToPath(new URL('mate-Storm.jpg', PHOTOS))).resize(640);
  const web = new Uint8Array(await storm().jpeg({ quality: 78, chromaSubsampling: '4:4:4' }).toBuffer());
  const a = await post(`/embed?payload=${PAYLOAD}`, web);
  assert.is(a.res.status, 200);
  assert.equal(sourceEncoding(a.bytes), { format: 'jpeg', quality: 78, standardTables: true, chromaSubsampling: '4:4:4', progressive: false });
  assert.is(a.res.headers.get('x-modelmark-quality'), '78');
  assert.is(a.res.headers.get('x-modelmark-quality-raised-from'), null);
  assert.ok(a.bytes.length < 1.25 * web.length, `${a.bytes.length} bytes for an upload of ${web.length}`);
  assert.is((await detectInNode(a.bytes)).payload, PAYLOAD);
  // Below the floor: 75; 4:2:0 stays 4:2:0.
  const low = await post(`/embed?payload=${PAYLOAD}`, new Uint8Array(await storm().jpeg({ quality: 50 }).toBuffer()));
  assert.equal(sourceEncoding(low.bytes), { format: 'jpeg', quality: 75, standardTables: true, chromaSubsampling: '4:2:0', progressive: false });
  // The text scan at 75 loses the mark in place at 75: written at 95 instead (same tables and subsampling), and read.
  const page = await post(`/embed?payload=${PAYLOAD}`, new Uint8Array(await sharp(fileURLToPath(new URL('skimage-page.png', PHOTOS))).jpeg({ quality: 75 }).toBuffer()));
  assert.is(page.res.status, 200);
  assert.is(page.res.headers.get('x-modelmark-quality'), '95');
  assert.is(page.res.headers.get('x-modelmark-quality-raised-from'), '75');
  assert.equal(sourceEncoding(page.bytes), { format: 'jpeg', quality: 95, standardTables: true, chromaSubsampling: '4:2:0', progressive: false });
  assert.is((await detectInNode(page.bytes)).payload, PAYLOAD);
  // ?quality= is the caller's: MozJPEG's tables at that quality, nothing matched; a PNG upload has no quality to match.
  const chosen = await post(`/embed?payload=${PAYLOAD}&quality=90`, web);
  assert.is(chosen.res.headers.get('x-modelmark-quality'), '90');
  assert.is(sourceEncoding(chosen.bytes).standardTables, false);
  const png = await post(`/embed?payload=${PAYLOAD}&format=jpeg`, new Uint8Array(await storm().png().toBuffer()));
  assert.is(png.res.headers.get('x-modelmark-quality'), '92');
  const asPng = await post(`/embed?payload=${PAYLOAD}&format=png`, web);
  assert.is(asPng.res.headers.get('x-modelmark-quality'), null);
});

test('bad input gets a JSON error with a 4xx status and a code, and the Worker keeps serving', async () => {
  const png = new Uint8Array(await readFile(new URL('skimage-camera.png', PHOTOS)));
  const jpeg = new Uint8Array(await readFile(new URL('skimage-rocket.jpg', PHOTOS)));
  const corrupt = jpeg.slice();
  for (let i = 800; i < corrupt.length; i++) corrupt[i] = (i * 2654435761) >>> 24; // header intact, scan garbage
  // A PNG header claiming 100000 x 100000 pixels: refused before any decoding.
  const bomb = png.slice(0, 64);
  new DataView(bomb.buffer).setUint32(16, 100_000);
  new DataView(bomb.buffer).setUint32(20, 100_000);
  // 100 x 100 is too small to mark (128) but not to read (48); 40 x 40 is too small for both
  const thumb = await sharp({ create: { width: 100, height: 100, channels: 3, background: '#808080' } }).png().toBuffer();
  const tiny = await sharp({ create: { width: 40, height: 40, channels: 3, background: '#808080' } }).png().toBuffer();
  // 5:1, over the Worker's default aspect limit (4:1), refused from the header
  const strip = await sharp({ create: { width: 1000, height: 200, channels: 3, background: '#808080' } }).png().toBuffer();
  // A JPEG cut to its first third: its decoder would fill the rest with grey, silently.
  const cut = jpeg.slice(0, Math.floor(jpeg.length / 3));
  const cmyk = await sharp(jpeg).toColourspace('cmyk').jpeg().toBuffer();
  const cases = [
    ['/embed?payload=c0ffee00000000011', png, 400, 'ERR_INVALID_ARGUMENT'],
    ['/embed?payload=c0ffeg', png, 400, 'ERR_INVALID_ARGUMENT'],
    [`/embed?payload=${PAYLOAD}&format=toString`, png, 400, 'ERR_INVALID_ARGUMENT'],
    [`/embed?payload=${PAYLOAD}`, cut, 400, 'ERR_DECODE'],
    ['/detect', new Uint8Array(cmyk), 415, 'ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['/embed', png, 400, 'ERR_INVALID_ARGUMENT'],
    [`/embed?payload=${PAYLOAD}&quality=0`, jpeg, 400, 'ERR_INVALID_ARGUMENT'],
    [`/embed?payload=${PAYLOAD}`, new TextEncoder().encode('this is not an image at all'), 415, 'ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['/detect', crypto.getRandomValues(new Uint8Array(4096)), 415, 'ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['/detect', png.slice(0, 2000), 400, 'ERR_DECODE'],
    ['/detect', corrupt, 400, 'ERR_DECODE'],
    ['/detect', bomb, 413, 'ERR_IMAGE_TOO_LARGE'],
    ['/detect', new Uint8Array(16 * 1024 * 1024 + 1), 413, 'ERR_BODY_TOO_LARGE'],
    [`/embed?payload=${PAYLOAD}`, new Uint8Array(thumb), 422, 'ERR_IMAGE_TOO_SMALL'],
    ['/detect', new Uint8Array(tiny), 422, 'ERR_IMAGE_TOO_SMALL'],
    ['/detect', new Uint8Array(strip), 422, 'ERR_IMAGE_ASPECT'],
    ['/detect', new Uint8Array(0), 400, 'ERR_NO_BODY'],
    ['/nowhere', png, 404, 'ERR_NOT_FOUND'],
  ];
  for (const [path, body, status, code] of cases) {
    const { res, bytes, type } = await post(path, body);
    const text = new TextDecoder().decode(bytes.slice(0, 300));
    assert.is(res.status, status, `${path} (${body.length} bytes): ${res.status} ${text}`);
    assert.ok(type.startsWith('application/json'), `${path}: content-type ${type}`);
    const { error } = JSON.parse(text);
    assert.is(error.code, code, `${path}: ${text}`);
    assert.type(error.message, 'string');
  }
  // A short payload is the API's: 1 to 16 hex digits, zero-padded on the left.
  const short = await post('/embed?payload=C0FFEE', png);
  assert.is(short.res.status, 200, new TextDecoder().decode(short.bytes.slice(0, 300)));
  assert.is(short.res.headers.get('x-modelmark-payload'), '0000000000c0ffee');
  assert.is((await detectInNode(short.bytes)).payload, '0000000000c0ffee');
  // the 100 x 100 image is read: an answer, not an error
  const small = await post('/detect', new Uint8Array(thumb));
  assert.is(small.res.status, 200);
  assert.is(JSON.parse(new TextDecoder().decode(small.bytes)).found, false);
  const get = await fetch(`${base}/detect`, { headers: AUTH });
  assert.is(get.status, 405);
  assert.is((await get.json()).error.code, 'ERR_METHOD_NOT_ALLOWED');
  // After a corrupt JPEG the decoder is replaced: good files still work.
  const after = await post('/detect', jpeg);
  assert.is(after.res.status, 200, new TextDecoder().decode(after.bytes.slice(0, 300)));
  assert.is(jsonOf(after.bytes).found, false);
});

test('the Worker ships under the 1 MB gzip budget (JS + all wasm modules)', () => {
  let raw = 0, gz = 0;
  for (const f of bundle.files) {
    raw += f.bytes;
  }
  return Promise.all(bundle.files.map((f) => readFile(f.path))).then((bufs) => {
    for (const b of bufs) gz += gzipSync(b).length;
    assert.ok(bundle.files.some((f) => f.name === 'modelmark.wasm'));
    assert.ok(gz <= 1_000_000, `worker is ${gz} bytes gzip (raw ${raw})`);
  });
});

test('every route needs the API token (401 with WWW-Authenticate otherwise, before the body is read); a 16-bit PNG counts double against MAX_PIXELS; a JPEG of thousands of scans is refused', async () => {
  const png = await sharp({ create: { width: 256, height: 256, channels: 3, background: '#808080' } }).png().toBuffer();
  for (const headers of [{}, { authorization: 'Bearer wrong-token-of-some-length' }, { authorization: TOKEN }, { authorization: `Basic ${TOKEN}` }]) {
    for (const route of ['/embed?payload=c0ffee', '/detect']) {
      // A cross-site "simple" request (text/plain, another origin) is refused the same way.
      const res = await fetch(base + route, { method: 'POST', body: png, headers: { ...headers, 'content-type': 'text/plain', origin: 'https://evil.example' } });
      assert.is(res.status, 401, `${route} with ${JSON.stringify(headers)}`);
      assert.is(res.headers.get('www-authenticate'), 'Bearer');
      assert.is((await res.json()).error.code, 'ERR_UNAUTHORIZED');
    }
  }
  assert.is((await post('/detect', png)).res.status, 200, 'with the token');
  // 2829 x 2829 (8.0 megapixels, under the 8,000,000 limit as 8-bit) in 16-bit samples: 413.
  const deep = await sharp({ create: { width: 2829, height: 2829, channels: 4, background: '#336699' } }).toColourspace('rgb16').png({ compressionLevel: 9 }).toBuffer();
  const big = await post('/detect', deep);
  assert.is(big.res.status, 413, new TextDecoder().decode(big.bytes.slice(0, 300)));
  assert.match(jsonOf(big.bytes).error.message, /16-bit/);
  // A progressive JPEG whose last scan is repeated 2,000 times (a CPU bomb for the decoder).
  const prog = new Uint8Array(await sharp({ create: { width: 512, height: 512, channels: 3, background: '#a0b0c0' } }).jpeg({ progressive: true }).toBuffer());
  let last = -1;
  for (let i = 2; i + 1 < prog.length; i++) if (prog[i] === 0xff && prog[i + 1] === 0xda) last = i;
  const scan = prog.subarray(last, prog.length - 2);
  const bomb = new Uint8Array(last + scan.length * 2000 + 2);
  bomb.set(prog.subarray(0, last));
  for (let k = 0; k < 2000; k++) bomb.set(scan, last + k * scan.length);
  bomb.set([0xff, 0xd9], bomb.length - 2);
  const refused = await post('/detect', bomb);
  assert.is(refused.res.status, 400);
  assert.match(jsonOf(refused.bytes).error.message, /scans/);
  // FF DA bytes inside a comment segment are not scans: a one-scan JPEG with 120 of them is read.
  const plainJpeg = new Uint8Array(await sharp({ create: { width: 256, height: 256, channels: 3, background: '#a0b0c0' } }).jpeg().toBuffer());
  const com = new Uint8Array(4 + 240);
  com.set([0xff, 0xfe, 0, 242]);
  for (let i = 4; i < com.length; i += 2) com.set([0xff, 0xda], i);
  const commented = new Uint8Array(plainJpeg.length + com.length);
  commented.set(plainJpeg.subarray(0, 2));
  commented.set(com, 2);
  commented.set(plainJpeg.subarray(2), 2 + com.length);
  const fine = await post('/detect', commented);
  assert.is(fine.res.status, 200, new TextDecoder().decode(fine.bytes.slice(0, 300)));
});

test('a JPEG or PNG the decoders refuse gets a message that says why (not "exit(1)" or "unwrap_throw")', async () => {
  const jpeg = new Uint8Array(await readFile(new URL('skimage-rocket.jpg', PHOTOS)));
  const png = new Uint8Array(await readFile(new URL('skimage-camera.png', PHOTOS)));
  let sof = 2;
  while (!(jpeg[sof] === 0xff && jpeg[sof + 1] >= 0xc0 && jpeg[sof + 1] <= 0xc2)) sof++;
  const twelveBit = jpeg.slice();
  twelveBit[sof + 4] = 12;
  const arithmetic = jpeg.slice();
  arithmetic[sof + 1] = 0xc9;
  const lossless = jpeg.slice();
  lossless[sof + 1] = 0xc3;
  const badCrc = png.slice();
  badCrc[200] ^= 0xff;
  for (const [body, reason] of [[twelveBit, /precision 12/], [arithmetic, /arithmetic/], [lossless, /SOF type 0xc3/], [badCrc, /checksum/]]) {
    const { res, bytes } = await post('/detect', body);
    assert.is(res.status, 400);
    const { error } = jsonOf(bytes);
    assert.is(error.code, 'ERR_DECODE');
    assert.match(error.message, reason);
    assert.not.match(error.message, /exit\(1\)|unwrap_throw/);
  }
  assert.is((await post('/detect', jpeg)).res.status, 200, 'the decoder still works afterwards');
});

test('/embed has its own, lower pixel limit (MAX_EMBED_PIXELS, 2.1 megapixels: re-encoding needs about 40 MB a megapixel); /detect keeps MAX_PIXELS', async () => {
  const photo = (w, h) => sharp(fileURLToPath(new URL('mate-Storm.jpg', PHOTOS))).resize(w, h, { fit: 'fill' }).jpeg({ quality: 85 }).toBuffer();
  const hd = new Uint8Array(await photo(1920, 1080));
  const ok = await post('/embed?payload=c0ffee', hd);
  assert.is(ok.res.status, 200, new TextDecoder().decode(ok.bytes.slice(0, 300)));
  const over = new Uint8Array(await photo(2000, 1200));
  const big = await post('/embed?payload=c0ffee', over);
  assert.is(big.res.status, 413, new TextDecoder().decode(big.bytes.slice(0, 300)));
  const e = jsonOf(big.bytes).error;
  assert.is(e.code, 'ERR_IMAGE_TOO_LARGE');
  assert.match(e.message, /2\.1 megapixels for \/embed/);
  assert.match(e.message, /MAX_EMBED_PIXELS/);
  const read = await post('/detect', over);
  assert.is(read.res.status, 200, 'the same image is read by /detect');
});

test('POST /embed does not amplify: a 17 KB PNG whose compressed XMP inflates to 16 MB comes back without it (METADATA_LIMITS, a warning header), not as a 16 MB response', async () => {
  const png = await sharp(fileURLToPath(new URL('mate-Storm.jpg', PHOTOS))).resize(256).png().toBuffer();
  const withXmp = (xmp) => new Uint8Array(pngWith(png, [xmpITXt(xmp)]));
  const hostile = withXmp(xmpOf(16_000_000));
  assert.ok(hostile.length < png.length + 20_000, `the upload is small: ${hostile.length} bytes`);
  const { res, bytes } = await post(`/embed?payload=${PAYLOAD}`, hostile);
  assert.is(res.status, 200, new TextDecoder().decode(bytes.slice(0, 300)));
  assert.ok(bytes.length < png.length * 2, `the response is ${bytes.length} bytes for an upload of ${hostile.length}`);
  assert.is((await sharp(bytes).metadata()).xmp, undefined, 'the XMP over the limit is left out');
  assert.match(res.headers.get('x-modelmark-warning') ?? '', /XMP.*over 1 MiB/);
  assert.is((await detectInNode(bytes)).payload, PAYLOAD);
  // An XMP packet under the limit, compressed the same way, is carried whole, without a warning.
  const fine = await post(`/embed?payload=${PAYLOAD}`, withXmp(xmpOf(900_000)));
  assert.is(fine.res.status, 200);
  assert.is(fine.res.headers.get('x-modelmark-warning'), null);
  assert.is((await sharp(fine.bytes).metadata()).xmp?.length, xmpOf(900_000).length);
});

test.run();
