// modelmark on Cloudflare Workers (module syntax). Routes:
//
//   POST /embed?payload=HEX (1 to 16 hex digits, as the API takes)[&format=png|jpeg][&quality=1-100][&progressive=1][&metadata=strip]
//        body: a PNG or JPEG
//        -> the marked image, in the upload's format unless `format` says otherwise (JPEG:
//           sequential, half the CPU of progressive, unless `progressive=1`; a JPEG upload at its
//           own quality, at least 75, and chroma subsampling unless `quality` is given, read back
//           and written at 95 where the mark does not survive that quality: the quality written
//           in `x-modelmark-quality`, `x-modelmark-quality-raised-from` when raised), with the upload's
//           EXIF, ICC profile and XMP (and a JPEG's IPTC records, into a JPEG answer) unless
//           `metadata=strip` (a block over the core's METADATA_LIMITS, XMP, EXIF or IPTC over
//           1 MiB or a profile over 4 MiB, is left out and named in an `x-modelmark-warning`
//           header, as are IPTC records a PNG answer cannot carry and PNG text chunks, kept in a
//           PNG answer, that a JPEG one cannot)
//   POST /detect                                                  body: a PNG or JPEG
//        -> { found, payload, pValue, transform }
//
// The key is the secret `MODELMARK_KEY` (`wrangler secret put MODELMARK_KEY`). Every request must
// carry `Authorization: Bearer TOKEN` with the secret `API_TOKEN` (16 characters or more): whoever
// can call /embed can mark any image with your key, and /detect is an oracle for removal
// attempts (ALLOW_ANONYMOUS=1 serves anyone, e.g. behind your own access control). Errors are JSON
// `{ error: { code, message } }` with a 4xx status. Optional vars: MAX_BODY_BYTES (default
// 16 MiB), MAX_PIXELS (default 8 megapixels: a Worker has 128 MB of memory, and the pixels
// live in JS, in the codec's wasm memory and in modelmark's; /detect at 8 megapixels reached about
// 90 MB in Node with the same codecs), MAX_EMBED_PIXELS (default 2.1 megapixels, 1920x1080: /embed
// also re-encodes, and MozJPEG's encoder alone grows its memory by about 27 MB a megapixel; the
// whole /embed reached 88 MB at 2.1 megapixels, 126 MB at 3 and 160 MB at 4) and MAX_ASPECT (default 4: the
// detector's search took 18 MB of wasm memory at 4:1 and 30–85 MB at 8:1, depending on the image).
//
// Workers cannot compile WebAssembly from bytes at run time, so every wasm module (modelmark's
// kernels and the codecs) is imported as a pre-compiled WebAssembly.Module: wrangler and
// examples/worker/build.mjs turn `.wasm` imports into wasm modules of the Worker.
import './polyfill.js';
import { apngFrames, createWatermarker, matchedSettings, MAX_ASPECT_LIMIT, ModelmarkError, sourceEncoding } from 'modelmark';
import { embedMetadata, metadataOf, profileFits, readMetadata } from 'modelmark/metadata';
import modelmarkWasm from 'modelmark/modelmark.wasm';
import { decode, encode, jpegScans, MAX_JPEG_SCANS, probe, truncation, TYPES } from './image.js';
import { HttpError, STATUS } from './errors.js';

const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
const DEFAULT_MAX_PIXELS = 8_000_000;
const DEFAULT_MAX_EMBED_PIXELS = 2_100_000;
const DEFAULT_MAX_ASPECT = 4;
/** JPEG quality without ?quality= for an upload that is not a JPEG (MozJPEG's own tables). */
const DEFAULT_QUALITY = 92;
/** A matched JPEG below this quality is read back; one that lost the mark is written at it (as modelmark/node's writeImage does). */
const RAISED_QUALITY = 95;

/** One watermarker per isolate and key (creating one derives the key's layout). */
let cached;
function watermarker(key, { maxPixels, maxAspect }) {
  if (typeof key !== 'string' || key.length === 0) {
    throw new HttpError(500, 'ERR_CONFIG', 'The Worker has no MODELMARK_KEY secret: set one with `wrangler secret put MODELMARK_KEY`.');
  }
  if (!cached || cached.key !== key || cached.maxPixels !== maxPixels || cached.maxAspect !== maxAspect) {
    const promise = createWatermarker({ key, maxPixels, maxAspect, module: modelmarkWasm });
    cached = { key, maxPixels, maxAspect, promise };
    promise.catch(() => { if (cached?.promise === promise) cached = undefined; });
  }
  return cached.promise;
}

function positiveInt(value, fallback, name) {
  if (value === undefined || value === null || value === '') return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new HttpError(500, 'ERR_CONFIG', `${name} must be a positive integer, not ${JSON.stringify(value)}.`);
  return n;
}

/** The request body as bytes, refusing (413) more than `limit` bytes without buffering them. */
async function readBody(request, limit) {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) {
    throw new HttpError(413, 'ERR_BODY_TOO_LARGE', `The body is ${declared} bytes, over the limit of ${limit} bytes.`);
  }
  if (!request.body) throw new HttpError(400, 'ERR_NO_BODY', 'Send the image as the request body (a PNG or JPEG).');
  const reader = request.body.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw new HttpError(413, 'ERR_BODY_TOO_LARGE', `The body is over the limit of ${limit} bytes.`);
    }
    chunks.push(value);
  }
  if (total === 0) throw new HttpError(400, 'ERR_NO_BODY', 'Send the image as the request body (a PNG or JPEG).');
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) { bytes.set(c, at); at += c.byteLength; }
  return bytes;
}

/**
 * Read, sniff, check the pixel and aspect limits from the header, then decode. `embed`: the
 * route re-encodes, and MAX_EMBED_PIXELS applies (at most MAX_PIXELS).
 */
async function readImage(request, env, embed) {
  const maxBody = positiveInt(env.MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES, 'MAX_BODY_BYTES');
  const maxPixels = positiveInt(env.MAX_PIXELS, DEFAULT_MAX_PIXELS, 'MAX_PIXELS');
  const maxEmbed = Math.min(maxPixels, positiveInt(env.MAX_EMBED_PIXELS, DEFAULT_MAX_EMBED_PIXELS, 'MAX_EMBED_PIXELS'));
  const limit = embed ? maxEmbed : maxPixels;
  const maxAspect = positiveInt(env.MAX_ASPECT, DEFAULT_MAX_ASPECT, 'MAX_ASPECT');
  if (maxAspect > MAX_ASPECT_LIMIT) throw new HttpError(500, 'ERR_CONFIG', `MAX_ASPECT must be at most ${MAX_ASPECT_LIMIT}, not ${maxAspect}.`);
  const bytes = await readBody(request, maxBody);
  const info = probe(bytes);
  if (!info) throw new HttpError(415, 'ERR_UNSUPPORTED_MEDIA_TYPE', 'The body is not a PNG or JPEG image.');
  if (info.width === 0 || info.height === 0) throw new HttpError(400, 'ERR_DECODE', 'The image header gives a zero width or height.');
  // An animated PNG decodes as its first image: a marked answer would lose the animation.
  const frames = embed && info.format === 'png' ? apngFrames(bytes) : 0;
  if (frames > 1) {
    throw new HttpError(422, 'ERR_ANIMATED', `The image is an animated PNG (APNG, ${frames} frames), and the marked answer would keep its first image only; convert it to a still image first (/detect reads its first image).`);
  }
  // A 16-bit PNG decodes through twice the memory of an 8-bit one: it counts double.
  const cost = info.width * info.height * (info.depth === 16 ? 2 : 1);
  if (cost > limit) {
    throw new HttpError(413, 'ERR_IMAGE_TOO_LARGE',
      `The image is ${info.width}x${info.height} (${(info.width * info.height / 1e6).toFixed(1)} megapixels${info.depth === 16 ? ', 16-bit samples: counted twice' : ''}), over this Worker's limit of ${(limit / 1e6).toFixed(1)} megapixels` +
      (embed ? ' for /embed (MAX_EMBED_PIXELS: re-encoding needs about 40 MB of memory a megapixel, and a Worker has 128 MB); resize it first.' : '.'));
  }
  const aspect = Math.max(info.width, info.height) / Math.min(info.width, info.height);
  if (aspect > maxAspect) {
    throw new HttpError(422, 'ERR_IMAGE_ASPECT',
      `The image is ${info.width}x${info.height}, an aspect ratio of ${aspect.toFixed(1)}:1, over this Worker's limit of ${maxAspect}:1 (the mark's memory grows with the ratio); crop or split it.`);
  }
  if (info.format === 'jpeg' && jpegScans(bytes) > MAX_JPEG_SCANS) {
    throw new HttpError(400, 'ERR_DECODE', `The JPEG image has more than ${MAX_JPEG_SCANS} scans; re-save it.`);
  }
  const cut = truncation(info.format, bytes);
  if (cut) throw new HttpError(400, 'ERR_DECODE', `The ${info.format.toUpperCase()} image is truncated: ${cut}. Send the whole file.`);
  if (info.components === 4) throw new HttpError(415, 'ERR_UNSUPPORTED_MEDIA_TYPE', 'CMYK JPEGs are not supported here: convert the image to RGB (sRGB) first.');
  const image = await decode(info.format, bytes);
  return { format: info.format, image, limits: { maxPixels, maxAspect }, bytes };
}

function json(body, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=utf-8' } });
}

async function embedRoute(request, env, url) {
  const given = url.searchParams.get('payload');
  if (!given || !/^[0-9a-fA-F]{1,16}$/.test(given)) {
    throw new HttpError(400, 'ERR_INVALID_ARGUMENT', 'Give the 64-bit payload as ?payload= and 1 to 16 hex digits, e.g. ?payload=c0ffee0000000001.');
  }
  const format = url.searchParams.get('format');
  if (format !== null && !Object.hasOwn(TYPES, format)) throw new HttpError(400, 'ERR_INVALID_ARGUMENT', '?format= must be png or jpeg.');
  const q = url.searchParams.get('quality');
  const quality = q === null ? DEFAULT_QUALITY : Number(q);
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) throw new HttpError(400, 'ERR_INVALID_ARGUMENT', '?quality= must be an integer from 1 to 100.');
  const prog = url.searchParams.get('progressive');
  if (prog !== null && prog !== '0' && prog !== '1') throw new HttpError(400, 'ERR_INVALID_ARGUMENT', '?progressive= must be 0 or 1.');
  const keep = url.searchParams.get('metadata');
  if (keep !== null && keep !== 'keep' && keep !== 'strip') throw new HttpError(400, 'ERR_INVALID_ARGUMENT', '?metadata= must be keep (the default) or strip.');
  const { format: inFormat, image, limits, bytes } = await readImage(request, env, true);
  const wm = await watermarker(env.MODELMARK_KEY, limits);
  const payload = given.padStart(16, '0');
  const marked = wm.embed(image, payload.toLowerCase());
  const outFormat = format ?? inFormat;
  const progressive = prog === '1';
  // A JPEG upload without ?quality= comes back at its own quality (read from its tables, at least
  // 75) and chroma subsampling, in the standard tables, so that it weighs what it did; read back
  // in place, and at RAISED_QUALITY where the mark does not survive that quality (a text scan at 75).
  const matched = outFormat === 'jpeg' && q === null ? matchedSettings('jpeg', sourceEncoding(bytes)) : {};
  let written = matched.quality ?? (outFormat === 'jpeg' ? quality : undefined);
  const like = (q) => ({ quality: q, progressive, quant_table: 0, auto_subsample: false, chroma_subsample: matched.chromaSubsampling === '4:4:4' ? 1 : 2 });
  let body = new Uint8Array(await encode(outFormat, marked, matched.quality === undefined ? { quality, progressive } : like(matched.quality)));
  let raisedFrom;
  if (matched.quality !== undefined && matched.quality < RAISED_QUALITY) {
    const r = wm.detect(await decode('jpeg', body), { search: false });
    if (!(r.found && r.payload === payload.toLowerCase())) {
      raisedFrom = matched.quality;
      written = RAISED_QUALITY;
      body = new Uint8Array(await encode(outFormat, marked, like(RAISED_QUALITY)));
    }
  }
  const headers = { 'content-type': TYPES[outFormat], 'x-modelmark-payload': payload.toLowerCase(), 'cache-control': 'no-store' };
  if (written !== undefined) headers['x-modelmark-quality'] = String(written);
  if (raisedFrom !== undefined) headers['x-modelmark-quality-raised-from'] = String(raisedFrom);
  if (keep !== 'strip') {
    // The codecs decode the stored pixels as they are (no EXIF rotation, no colour conversion),
    // so the upload's EXIF and ICC profile still describe the marked pixels: carried over as is.
    // A block over the core's METADATA_LIMITS (XMP or EXIF over 1 MiB, a profile over 4 MiB) is
    // left out, and a PNG's deflated one is inflated no further than that: a 17 KB upload whose
    // XMP inflates to 16 MB would otherwise come back as 16 MB. What was left out is said in
    // the x-modelmark-warning header.
    const meta = await readMetadata(bytes);
    body = await embedMetadata(body, outFormat, metadataOf(meta, profileFits(meta.icc, 4)), { width: marked.width, height: marked.height, alpha: outFormat === 'png' });
    // PNG has no standard place for IPTC records, JPEG none for PNG text: named as left out.
    const warnings = [...(meta.warnings ?? []),
      ...(meta.iptc && outFormat !== 'jpeg' ? [`metadata: the IPTC data was left out (${outFormat.toUpperCase()} has no standard place for IPTC records; ask for format=jpeg to keep them)`] : []),
      ...(meta.pngText && outFormat !== 'png' ? [`metadata: the PNG text was left out (${outFormat.toUpperCase()} has no place for PNG text chunks; ask for format=png to keep them)`] : [])];
    if (warnings.length) headers['x-modelmark-warning'] = warnings.join('; ');
  }
  return new Response(body, { headers });
}

async function detectRoute(request, env) {
  const { image, limits } = await readImage(request, env, false);
  const wm = await watermarker(env.MODELMARK_KEY, limits);
  const { found, payload, pValue, transform } = wm.detect(image);
  return json({ found, payload, pValue, transform });
}

const ROUTES = { '/embed': embedRoute, '/detect': detectRoute };

/** Equal secrets, compared in time that does not depend on where they differ (their SHA-256 digests). */
async function sameSecret(a, b) {
  const enc = new TextEncoder();
  const [x, y] = (await Promise.all([crypto.subtle.digest('SHA-256', enc.encode(a)), crypto.subtle.digest('SHA-256', enc.encode(b))])).map((d) => new Uint8Array(d));
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

/** Refuse a request without this Worker's API token (before its body is read). */
async function authorize(request, env) {
  if (env.ALLOW_ANONYMOUS === '1') return;
  const token = env.API_TOKEN;
  if (typeof token !== 'string' || token.length < 16) {
    throw new HttpError(500, 'ERR_CONFIG', 'The Worker has no API_TOKEN secret of 16 characters or more: set one with `wrangler secret put API_TOKEN` ' +
      '(clients send Authorization: Bearer TOKEN), or ALLOW_ANONYMOUS=1 to serve anyone (who could then mark any image with your key).');
  }
  const m = /^Bearer +(\S+) *$/i.exec(request.headers.get('authorization') ?? '');
  if (!m || !(await sameSecret(m[1], token))) throw new HttpError(401, 'ERR_UNAUTHORIZED', 'Send this Worker\'s API token as Authorization: Bearer TOKEN.');
}

export default {
  async fetch(request, env) {
    try {
      const url = new URL(request.url);
      const route = ROUTES[url.pathname];
      if (!route) throw new HttpError(404, 'ERR_NOT_FOUND', 'Use POST /embed?payload=HEX or POST /detect with a PNG or JPEG body.');
      if (request.method !== 'POST') throw new HttpError(405, 'ERR_METHOD_NOT_ALLOWED', `${url.pathname} takes POST.`);
      await authorize(request, env);
      return await route(request, env, url);
    } catch (err) {
      if (err instanceof HttpError) {
        const res = json({ error: { code: err.code, message: err.message } }, err.status);
        if (err.status === 401) res.headers.set('www-authenticate', 'Bearer');
        return res;
      }
      if (err instanceof ModelmarkError) {
        return json({ error: { code: err.code, message: err.message } }, STATUS[err.code] ?? 500);
      }
      console.error(err);
      return json({ error: { code: 'ERR_INTERNAL', message: 'Internal error.' } }, 500);
    }
  },
};
