// Photopea (photopea.com) plug-in: a small page that Photopea shows in its plug-in panel (an
// iframe). It speaks Photopea's Live Messaging protocol with `window.parent`: a string posted to
// Photopea is a script it runs; `app.activeDocument.saveToOE("png")` makes Photopea post back the
// flattened document as a PNG (an ArrayBuffer) and then the string "done"; an ArrayBuffer posted
// to Photopea is opened as a new document. The plug-in decodes the PNG in the page, marks or
// detects with the core, encodes the marked PNG and sends it back. Nothing leaves the browser.
import {
  checkImageFileSize, checkOptionNames, DecodeError, DEFAULT_MAX_PIXELS, invalidParameter, invalidSecretParameter, ModelmarkError, parsePayload, payloadHex,
  type DetectResult, type RegionMap, type Watermarker, type WatermarkerOptions,
} from 'modelmark';
import { watermarkerFor } from '../shared/options.js';

/**
 * A failure talking to Photopea: `ERR_PHOTOPEA_NOT_EMBEDDED`, `ERR_PHOTOPEA_TIMEOUT` or `ERR_PHOTOPEA_NO_DOCUMENT`.
 * @example
 * try {
 *   png = await exportDocumentPng(connection);
 * } catch (err) {
 *   if (err instanceof PhotopeaError && err.code === 'ERR_PHOTOPEA_NO_DOCUMENT') status.textContent = 'Open an image first';
 * }
 */
export class PhotopeaError extends ModelmarkError {
  constructor(code: 'ERR_PHOTOPEA_NOT_EMBEDDED' | 'ERR_PHOTOPEA_TIMEOUT' | 'ERR_PHOTOPEA_NO_DOCUMENT', message: string) {
    super(code, message);
  }
}

/** What a message to Photopea goes to and where its answers come from (the plug-in's parent and own window by default). */
export interface PhotopeaEndpoints {
  /** Photopea's window: `window.parent` inside the plug-in panel. */
  target?: { postMessage(message: unknown, targetOrigin: string, transfer?: Transferable[]): void } | undefined;
  /** The window that receives Photopea's answers: `window`. */
  source?: Pick<Window, 'addEventListener' | 'removeEventListener'> | undefined;
  /**
   * Photopea's origin: messages are posted to it only, and answers from any other origin are
   * ignored (default 'https://www.photopea.com'; '*' only for tests with a stand-in).
   */
  origin?: string | undefined;
  /** How long one script may take before it fails with `ERR_PHOTOPEA_TIMEOUT` (ms, default 120000). */
  timeoutMs?: number | undefined;
}

/** A message Photopea posts back: a string (`"done"`, or what `app.echoToOE` sent) or a file. */
export type PhotopeaReply = string | ArrayBuffer;

/** A Live Messaging connection to Photopea. Scripts run one at a time, in order. */
export interface PhotopeaConnection {
  /**
   * Post a script (or a file) and collect every reply up to Photopea's `"done"` (not included).
   * @example
   * const [name] = await pp.run('app.echoToOE(app.activeDocument.name);');
   */
  run(message: string | ArrayBuffer): Promise<PhotopeaReply[]>;
  /**
   * Stop listening; pending scripts fail.
   * @example
   * pp.close();
   */
  close(): void;
}

/**
 * Connect to Photopea from a plug-in page (or from a page that embeds Photopea, passing the
 * iframe's `contentWindow` as `target`).
 * @example
 * const pp = connectPhotopea(); // inside Photopea's plug-in panel
 * const replies = await pp.run('app.echoToOE(app.documents.length)'); // ['1']
 */
export function connectPhotopea(endpoints: PhotopeaEndpoints = {}): PhotopeaConnection {
  if (typeof endpoints !== 'object' || endpoints === null) throw invalidParameter('endpoints', 'an object { target?, source?, timeoutMs? }', endpoints);
  checkOptionNames('endpoints', endpoints, ['target', 'source', 'timeoutMs', 'origin']);
  const self = typeof window === 'undefined' ? undefined : window;
  const target = endpoints.target ?? self?.parent;
  const source = endpoints.source ?? self;
  const timeoutMs = endpoints.timeoutMs ?? 120_000;
  const origin = endpoints.origin ?? 'https://www.photopea.com';
  if (!target || typeof target.postMessage !== 'function') throw invalidParameter('endpoints.target', 'a window (Photopea\'s)', target);
  if (!source || typeof source.addEventListener !== 'function') throw invalidParameter('endpoints.source', 'a window to receive messages on', source);
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) throw invalidParameter('endpoints.timeoutMs', 'a positive number of milliseconds', timeoutMs);

  let pending: { replies: PhotopeaReply[]; done: (r: PhotopeaReply[]) => void; fail: (e: Error) => void } | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  let closed = false;
  // Live Messaging has no request ids: a script that timed out may still be answered, and its
  // late replies and "done" would be taken as the next script's (every later script then gets
  // its predecessor's answer: Mark would mark a stale copy of the document). After a timeout the
  // next script waits for an echo of a fresh token first; everything before that echo is dropped.
  let desynced = false;
  let syncing: { token: string; seen: boolean; done: () => void; fail: (e: Error) => void } | undefined;
  let syncs = 0;

  const onMessage = (event: Event) => {
    const e = event as MessageEvent;
    // Only Photopea's window, at Photopea's origin. A message whose source is null (posted by a
    // frame that was removed right after posting) is NOT Photopea's: accepting it let any frame
    // that can reach this window (e.g. via top.frames[i]) answer in Photopea's place.
    if (e.source === null || e.source !== (target as unknown)) return;
    if (origin !== '*' && e.origin !== origin) return;
    const data: unknown = e.data;
    if (syncing) {
      if (data === syncing.token) syncing.seen = true;
      else if (data === 'done' && syncing.seen) syncing.done();
      return; // a late answer to a script that timed out
    }
    if (!pending) return; // e.g. Photopea's "done" when it starts
    if (data === 'done') pending.done(pending.replies);
    else if (typeof data === 'string') pending.replies.push(data);
    else if (data instanceof ArrayBuffer) pending.replies.push(data);
    else if (ArrayBuffer.isView(data)) pending.replies.push(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer);
  };
  source.addEventListener('message', onMessage);

  const send = (message: string | ArrayBuffer) => new Promise<PhotopeaReply[]>((resolve, reject) => {
    if (closed) return reject(new PhotopeaError('ERR_PHOTOPEA_NOT_EMBEDDED', 'The connection to Photopea is closed.'));
    if (target === (self as unknown)) {
      return reject(new PhotopeaError('ERR_PHOTOPEA_NOT_EMBEDDED',
        'This page is not inside Photopea: add it as a plug-in (Photopea, More > Plugins) or embed Photopea and pass its window as target.'));
    }
    const timer = setTimeout(() => {
      pending = undefined;
      desynced = true;
      reject(new PhotopeaError('ERR_PHOTOPEA_TIMEOUT', `Photopea did not answer within ${Math.round(timeoutMs / 1000)} s.`));
    }, timeoutMs);
    pending = {
      replies: [],
      done: (r) => { clearTimeout(timer); pending = undefined; resolve(r); },
      fail: (err) => { clearTimeout(timer); pending = undefined; reject(err); },
    };
    target.postMessage(message, origin);
  });

  /** Post an echo of a fresh token and drop every message up to it and its "done". */
  const resync = () => new Promise<void>((resolve, reject) => {
    if (closed) return reject(new PhotopeaError('ERR_PHOTOPEA_NOT_EMBEDDED', 'The connection to Photopea is closed.'));
    const token = `modelmark-sync-${++syncs}-${Math.random().toString(36).slice(2)}`;
    const timer = setTimeout(() => {
      syncing = undefined;
      reject(new PhotopeaError('ERR_PHOTOPEA_TIMEOUT', `Photopea did not answer within ${Math.round(timeoutMs / 1000)} s.`));
    }, timeoutMs);
    syncing = {
      token,
      seen: false,
      done: () => { clearTimeout(timer); syncing = undefined; desynced = false; resolve(); },
      fail: (err) => { clearTimeout(timer); syncing = undefined; reject(err); },
    };
    target.postMessage(`app.echoToOE(${JSON.stringify(token)});`, origin);
  });

  return {
    run(message) {
      if (typeof message !== 'string' && !(message instanceof ArrayBuffer)) {
        return Promise.reject(invalidParameter('message', 'a script string or an ArrayBuffer', message));
      }
      const result = chain.then(async () => {
        if (desynced) await resync();
        return send(message);
      });
      chain = result.catch(() => undefined);
      return result;
    },
    close() {
      closed = true;
      source.removeEventListener('message', onMessage);
      pending?.fail(new PhotopeaError('ERR_PHOTOPEA_NOT_EMBEDDED', 'The connection to Photopea was closed.'));
      syncing?.fail(new PhotopeaError('ERR_PHOTOPEA_NOT_EMBEDDED', 'The connection to Photopea was closed.'));
    },
  };
}

/**
 * Ask Photopea for its active document, flattened, as PNG bytes (`saveToOE("png")`).
 * @example
 * const png = await exportDocumentPng(connectPhotopea());
 */
export async function exportDocumentPng(connection: PhotopeaConnection): Promise<ArrayBuffer> {
  if (typeof connection?.run !== 'function') throw invalidParameter('connection', 'a connection from connectPhotopea()', connection);
  const replies = await connection.run('app.activeDocument.saveToOE("png");');
  const file = replies.find((r): r is ArrayBuffer => r instanceof ArrayBuffer);
  if (!file) throw new PhotopeaError('ERR_PHOTOPEA_NO_DOCUMENT', 'Photopea sent no image: open or create a document first.');
  return file;
}

/** How a marked image goes back into Photopea. */
export type Placement = 'document' | 'layer';

/**
 * Give an image file to Photopea: `'document'` opens it as a new document (the file posted as an
 * ArrayBuffer); `'layer'` adds it as a new layer of the active document (`app.open(dataURL, null, true)`).
 * @example
 * await openInPhotopea(pp, markedPng, 'document');
 */
export async function openInPhotopea(connection: PhotopeaConnection, file: ArrayBuffer, placement: Placement = 'document'): Promise<void> {
  if (typeof connection?.run !== 'function') throw invalidParameter('connection', 'a connection from connectPhotopea()', connection);
  if (!(file instanceof ArrayBuffer) || file.byteLength === 0) throw invalidParameter('file', 'a non-empty ArrayBuffer (PNG bytes)', file);
  if (placement === 'document') {
    await connection.run(file);
  } else if (placement === 'layer') {
    await connection.run(`app.open(${JSON.stringify(await dataUrl(file, 'image/png'))}, null, true);`);
  } else {
    throw invalidParameter('placement', "'document' or 'layer'", placement);
  }
}

async function dataUrl(bytes: ArrayBuffer, type: string): Promise<string> {
  const u8 = new Uint8Array(bytes);
  let binary = '';
  for (let i = 0; i < u8.length; i += 0x8000) binary += String.fromCharCode(...u8.subarray(i, i + 0x8000));
  return `data:${type};base64,${btoa(binary)}`;
}

type Canvas2D = OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D;

function canvas2d(width: number, height: number): { canvas: OffscreenCanvas | HTMLCanvasElement; ctx: Canvas2D } {
  if (typeof OffscreenCanvas === 'function') {
    const canvas = new OffscreenCanvas(width, height);
    return { canvas, ctx: canvas.getContext('2d', { willReadFrequently: true })! };
  }
  const canvas = document.createElement('canvas');
  canvas.width = width; canvas.height = height;
  return { canvas, ctx: canvas.getContext('2d', { willReadFrequently: true })! };
}

/**
 * Decode an image file (PNG, JPEG, WebP, ...) into RGBA ImageData, in the browser, without
 * colour-space conversion or premultiplication. A file whose header declares more than
 * `maxPixels` pixels (default 100 megapixels, the watermarker's) is refused before decoding
 * (ERR_IMAGE_TOO_LARGE): a 1 MB PNG can declare a gigabyte of pixels.
 * @example
 * const image = await decodeImage(await file.arrayBuffer());
 */
export async function decodeImage(file: ArrayBuffer | Blob, options: { maxPixels?: number | undefined } = {}): Promise<ImageData> {
  if (!(file instanceof ArrayBuffer) && !(typeof Blob === 'function' && file instanceof Blob)) {
    throw invalidParameter('file', 'an ArrayBuffer or Blob holding an image file', file);
  }
  if (typeof options !== 'object' || options === null) throw invalidParameter('options', 'an object { maxPixels? }', options);
  checkOptionNames('options', options, ['maxPixels']);
  const bytes = new Uint8Array(file instanceof ArrayBuffer ? file : await file.arrayBuffer());
  checkImageFileSize(bytes, options.maxPixels ?? DEFAULT_MAX_PIXELS);
  const blob = file instanceof ArrayBuffer ? new Blob([file]) : file;
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob, { premultiplyAlpha: 'none', colorSpaceConversion: 'none', imageOrientation: 'from-image' });
  } catch (cause) {
    throw new DecodeError('The file could not be decoded as an image (is it a PNG, JPEG or WebP?).', { cause });
  }
  try {
    const { ctx } = canvas2d(bitmap.width, bitmap.height);
    ctx.drawImage(bitmap, 0, 0);
    return ctx.getImageData(0, 0, bitmap.width, bitmap.height);
  } finally {
    bitmap.close();
  }
}

/**
 * Encode RGBA pixels (ImageData or `{ width, height, data }` with 4 channels) as PNG bytes.
 * @example
 * const png = await encodePng(wm.embed(image, payload));
 */
export async function encodePng(image: { width: number; height: number; data: Uint8Array | Uint8ClampedArray }): Promise<ArrayBuffer> {
  if (typeof image !== 'object' || image === null) throw invalidParameter('image', 'an ImageData or { width, height, data } (RGBA)', image);
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw invalidParameter('image', 'positive integer width and height', `${width}x${height}`);
  }
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray) || data.length !== width * height * 4) {
    throw invalidParameter('image.data', `${width * height * 4} bytes of RGBA`, data);
  }
  const pixels = new Uint8ClampedArray(data.buffer as ArrayBuffer, data.byteOffset, data.length);
  const { canvas, ctx } = canvas2d(width, height);
  ctx.putImageData(new ImageData(pixels, width, height), 0, 0);
  const blob = 'convertToBlob' in canvas
    ? await canvas.convertToBlob({ type: 'image/png' })
    : await new Promise<Blob>((ok, fail) => canvas.toBlob((b) => (b ? ok(b) : fail(new Error('PNG encoding failed'))), 'image/png'));
  return blob.arrayBuffer();
}

/**
 * Overlay colour (CSS) of one region-map cell, as the CLI's `--map`: green >= 3, amber 1.5 to 3,
 * red below; null for a cell the detector did not examine.
 * @example
 * cellColour(4.2); // 'rgba(40, 210, 70, 0.59)'
 */
export function cellColour(score: number | null): string | null {
  if (score === null) return null;
  if (typeof score !== 'number' || Number.isNaN(score)) throw invalidParameter('score', 'a number or null', score);
  if (score >= 3) return 'rgba(40, 210, 70, 0.59)';
  if (score >= 1.5) return 'rgba(240, 180, 30, 0.47)';
  return 'rgba(220, 40, 40, 0.27)';
}

/**
 * Draw the detector's region map over a dimmed grey copy of the image, scaled to fit
 * `maxSide` pixels: green where a cell carries the mark, amber where the evidence is weak, red
 * where the cell shows no mark. Without a map (nothing found), the dimmed image alone.
 * @example
 * drawRegionMap(document.querySelector('canvas')!, image, wm.detect(image).regions, 320);
 */
export function drawRegionMap(canvas: HTMLCanvasElement | OffscreenCanvas, image: ImageData, regions: RegionMap | null, maxSide = Infinity): void {
  if (typeof canvas?.getContext !== 'function') throw invalidParameter('canvas', 'a canvas element or OffscreenCanvas', canvas);
  if (typeof image !== 'object' || image === null || !(image.data instanceof Uint8ClampedArray)) throw invalidParameter('image', 'an ImageData', image);
  if (!(typeof maxSide === 'number' && maxSide >= 1)) throw invalidParameter('maxSide', 'a number of pixels, at least 1', maxSide);
  const s = Math.min(1, maxSide / Math.max(image.width, image.height));
  const w = Math.max(1, Math.round(image.width * s)), h = Math.max(1, Math.round(image.height * s));
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext('2d', { willReadFrequently: true }) as Canvas2D;
  const full = canvas2d(image.width, image.height);
  full.ctx.putImageData(image, 0, 0);
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(full.canvas as CanvasImageSource, 0, 0, w, h);
  const px = ctx.getImageData(0, 0, w, h);
  const d = px.data;
  for (let i = 0; i < d.length; i += 4) {
    const y = 0.2126 * d[i] + 0.7152 * d[i + 1] + 0.0722 * d[i + 2];
    const v = 0.6 * y + 30;
    d[i] = d[i + 1] = d[i + 2] = v; d[i + 3] = 255;
  }
  ctx.putImageData(px, 0, 0);
  if (!regions) return;
  const cw = regions.cellWidth * s, ch = regions.cellHeight * s;
  regions.scores.forEach((score, i) => {
    const colour = cellColour(score);
    if (!colour) return;
    const cx = i % regions.columns, cy = Math.floor(i / regions.columns);
    const x0 = Math.round(cx * cw), y0 = Math.round(cy * ch);
    ctx.fillStyle = colour;
    ctx.fillRect(x0, y0, Math.round((cx + 1) * cw) - x0, Math.round((cy + 1) * ch) - y0);
  });
}

/** Options of {@link startPhotopeaPlugin}. */
export interface PhotopeaPluginOptions extends PhotopeaEndpoints, Partial<Omit<WatermarkerOptions, 'key' | 'module'>> {
  /** Key shown in the key field at start (typed by the user otherwise). */
  key?: string | undefined;
  /** Payload shown at start: 16 hex digits (a random one otherwise). */
  payload?: string | undefined;
  /** Where the marked image goes: a new document (default) or a new layer of the active document. */
  placement?: Placement | undefined;
  /** Add the plug-in's stylesheet to the document (default true). */
  styles?: boolean | undefined;
}

/** What happened on the last click, as the panel shows it. */
export interface PhotopeaOutcome {
  action: 'mark' | 'detect';
  width: number;
  height: number;
  /** The detector's result (for Mark: detecting on the marked pixels, as a check). */
  result: DetectResult;
}

/** A running plug-in panel. */
export interface PhotopeaPlugin {
  /**
   * Mark the active document (as the Mark button).
   * @example
   * const { payload } = await plugin.mark();
   */
  mark(): Promise<PhotopeaOutcome>;
  /**
   * Look for the mark in the active document (as the Detect button).
   * @example
   * const { found, pValue } = await plugin.detect();
   */
  detect(): Promise<PhotopeaOutcome>;
  /**
   * Remove the panel and stop listening to Photopea.
   * @example
   * plugin.destroy();
   */
  destroy(): void;
}

const CSS = `
.mm-pp{font:14px/1.4 system-ui,sans-serif;color:#e8e8e8;background:#2b2b2b;padding:12px;display:grid;gap:8px;max-width:420px}
.mm-pp h1{font-size:15px;margin:0}
.mm-pp label{display:block;font-weight:600;margin-bottom:2px}
.mm-pp input[type=text],.mm-pp input[type=password],.mm-pp input[type=number]{width:100%;box-sizing:border-box;padding:5px 6px;background:#1d1d1d;color:#fff;border:1px solid #666;border-radius:3px;font:inherit}
.mm-pp input:focus-visible,.mm-pp button:focus-visible{outline:2px solid #6cf;outline-offset:1px}
.mm-pp .mm-hint{font-size:12px;color:#bbb;margin:2px 0 0}
.mm-pp fieldset{border:1px solid #555;border-radius:3px;margin:0;padding:4px 8px}
.mm-pp fieldset label{display:inline;font-weight:400;margin-right:10px}
.mm-pp .mm-buttons{display:flex;gap:8px}
.mm-pp button{flex:1;padding:7px;font:inherit;font-weight:600;border-radius:3px;border:1px solid #888;background:#3d6fb6;color:#fff;cursor:pointer}
.mm-pp button[data-action=detect]{background:#444}
.mm-pp button:disabled{opacity:.55;cursor:progress}
.mm-pp [role=status]{min-height:1.4em;margin:0}
.mm-pp .mm-error{color:#ff9c9c}
.mm-pp dl{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;margin:0}
.mm-pp dt{color:#bbb}.mm-pp dd{margin:0;font-variant-numeric:tabular-nums;word-break:break-all}
.mm-pp canvas{max-width:100%;height:auto;border:1px solid #555}
@media (prefers-color-scheme: light){.mm-pp{color:#111;background:#f2f2f2}.mm-pp input[type=text],.mm-pp input[type=password],.mm-pp input[type=number]{background:#fff;color:#111}.mm-pp .mm-hint,.mm-pp dt{color:#555}.mm-pp button[data-action=detect]{background:#666}.mm-pp .mm-error{color:#a00}}
`;

let instances = 0;

function randomPayload(): string {
  const b = new Uint8Array(8);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * Format a p-value for people: `< 1e-300`, `3.2e-41`, `0.42`.
 * @example
 * formatPValue(result.pValue); // '1.6e-35'
 */
export function formatPValue(p: number): string {
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw invalidParameter('p', 'a probability (a number from 0 to 1)', p);
  if (p === 0) return '< 1e-300';
  return p < 1e-3 ? p.toExponential(1) : p.toPrecision(2);
}

/**
 * Start the plug-in panel in `root`: key and payload fields, "Mark" and "Detect" buttons, the
 * result (found, payload, p-value) and the region map. Mark exports the active document as PNG,
 * embeds the payload and opens the marked image in Photopea; Detect reports whether the active
 * document carries the key's mark.
 * @example
 * import { startPhotopeaPlugin } from 'modelmark/photopea';
 * startPhotopeaPlugin(document.getElementById('app')!);
 */
export function startPhotopeaPlugin(root: HTMLElement, options: PhotopeaPluginOptions = {}): PhotopeaPlugin {
  if (typeof root !== 'object' || root === null || typeof (root as HTMLElement).appendChild !== 'function') {
    throw invalidParameter('root', 'an HTML element to render the panel into', root);
  }
  if (typeof options !== 'object' || options === null) throw invalidSecretParameter('options', 'an object', options);
  checkOptionNames('options', options, ['key', 'payload', 'placement', 'styles', 'strength', 'threshold', 'maxPixels', 'maxAspect', 'search', 'target', 'source', 'timeoutMs', 'origin']);
  if (options.key !== undefined && typeof options.key !== 'string') throw invalidSecretParameter('options.key', 'a string', options.key);
  if (options.payload !== undefined) parsePayload(options.payload, 'options.payload');
  const placement = options.placement ?? 'document';
  if (placement !== 'document' && placement !== 'layer') throw invalidParameter('options.placement', "'document' or 'layer'", placement);
  if (options.strength !== undefined && !(typeof options.strength === 'number' && options.strength >= 0.25 && options.strength <= 4)) {
    throw invalidParameter('options.strength', 'a number between 0.25 and 4', options.strength);
  }
  const connection = connectPhotopea({ target: options.target, source: options.source, timeoutMs: options.timeoutMs, origin: options.origin });

  if (options.styles !== false && !document.getElementById('mm-pp-styles')) {
    const style = document.createElement('style');
    style.id = 'mm-pp-styles';
    style.textContent = CSS;
    document.head.appendChild(style);
  }
  const id = `mm-pp-${++instances}`;
  const form = document.createElement('form');
  form.className = 'mm-pp';
  form.noValidate = true;
  form.setAttribute('aria-labelledby', `${id}-title`);
  form.innerHTML = `
    <h1 id="${id}-title">modelmark: invisible watermark</h1>
    <div><label for="${id}-key">Secret key</label>
      <input id="${id}-key" name="key" type="password" autocomplete="off" spellcheck="false" required aria-describedby="${id}-key-hint">
      <p class="mm-hint" id="${id}-key-hint">Only this key can detect the mark. It never leaves this page.</p></div>
    <div><label for="${id}-payload">Payload (16 hex digits)</label>
      <input id="${id}-payload" name="payload" type="text" inputmode="text" autocomplete="off" spellcheck="false" aria-describedby="${id}-payload-hint">
      <p class="mm-hint" id="${id}-payload-hint">64 bits to hide, e.g. an owner or licence number.</p></div>
    <div><label for="${id}-strength">Strength</label>
      <input id="${id}-strength" name="strength" type="number" min="0.25" max="4" step="0.25"></div>
    <fieldset><legend>Put the marked image in</legend>
      <input type="radio" id="${id}-doc" name="placement" value="document"><label for="${id}-doc">a new document</label>
      <input type="radio" id="${id}-layer" name="placement" value="layer"><label for="${id}-layer">a new layer</label></fieldset>
    <div class="mm-buttons"><button type="submit" data-action="mark">Mark</button><button type="button" data-action="detect">Detect</button></div>
    <p role="status" aria-live="polite" data-field="status"></p>
    <dl data-field="result" hidden>
      <dt>Found</dt><dd data-field="found"></dd>
      <dt>Payload</dt><dd data-field="payload"></dd>
      <dt>p-value</dt><dd data-field="pvalue"></dd>
      <dt>Score</dt><dd data-field="score"></dd>
    </dl>
    <canvas data-field="map" role="img" aria-label="Region map: green where the mark was found" hidden></canvas>`;
  root.appendChild(form);
  const q = <T extends Element>(sel: string) => form.querySelector(sel) as T;
  const keyInput = q<HTMLInputElement>('[name=key]');
  const payloadInput = q<HTMLInputElement>('[name=payload]');
  const strengthInput = q<HTMLInputElement>('[name=strength]');
  const buttons = Array.from(form.querySelectorAll('button'));
  const status = q<HTMLElement>('[data-field=status]');
  const resultList = q<HTMLElement>('[data-field=result]');
  const map = q<HTMLCanvasElement>('[data-field=map]');
  keyInput.value = options.key ?? '';
  strengthInput.value = String(options.strength ?? 1);
  payloadInput.value = options.payload ?? randomPayload();
  q<HTMLInputElement>(`[name=placement][value=${placement}]`).checked = true;

  const say = (text: string, error = false) => {
    status.textContent = text;
    status.classList.toggle('mm-error', error);
  };
  const watermarker = (): Promise<Watermarker> => {
    const key = keyInput.value;
    if (!key) { keyInput.focus(); throw invalidParameter('key', 'a non-empty secret key', key); }
    const strength = Number(strengthInput.value);
    const o: WatermarkerOptions = { key, strength, threshold: options.threshold, maxPixels: options.maxPixels, maxAspect: options.maxAspect, search: options.search };
    const wm = watermarkerFor(o);
    wm.catch(() => undefined); // awaited later; reported there
    return wm;
  };
  const show = (action: 'mark' | 'detect', image: ImageData, result: DetectResult) => {
    resultList.hidden = false;
    q<HTMLElement>('[data-field=found]').textContent = result.found ? 'yes' : 'no';
    q<HTMLElement>('[data-field=payload]').textContent = result.payload ?? '-';
    q<HTMLElement>('[data-field=pvalue]').textContent = formatPValue(result.pValue);
    q<HTMLElement>('[data-field=score]').textContent = result.score.toFixed(2);
    map.hidden = false;
    drawRegionMap(map, image, result.regions, 400);
    form.dataset.state = `${action}-${result.found ? 'found' : 'not-found'}`;
  };

  let busy = false;
  const act = async (action: 'mark' | 'detect'): Promise<PhotopeaOutcome> => {
    if (busy) throw new ModelmarkError('ERR_BUSY', 'The plug-in is still working on the previous request.');
    busy = true;
    form.setAttribute('aria-busy', 'true');
    buttons.forEach((b) => (b.disabled = true));
    form.dataset.state = 'working';
    try {
      const wmPromise = watermarker();
      const payload = action === 'mark' ? payloadHex(parsePayload(payloadInput.value.trim(), 'payload')) : undefined;
      say('Reading the document from Photopea…');
      const png = await exportDocumentPng(connection);
      const image = await decodeImage(png, { maxPixels: options.maxPixels });
      const wm = await wmPromise;
      say(action === 'mark' ? 'Marking…' : 'Detecting…');
      await new Promise((ok) => setTimeout(ok, 0)); // let the status paint
      let outcome: PhotopeaOutcome;
      if (action === 'mark') {
        const marked = wm.embed(image, payload!);
        const markedImage = new ImageData(marked.data as Uint8ClampedArray<ArrayBuffer>, image.width, image.height);
        say('Sending the marked image to Photopea…');
        await openInPhotopea(connection, await encodePng(markedImage), q<HTMLInputElement>('[name=placement]:checked').value as Placement);
        const result = wm.detect(markedImage);
        outcome = { action, width: image.width, height: image.height, result };
        show(action, markedImage, result);
        say(`Marked ${image.width}×${image.height} with payload ${payload}; the marked image is open in Photopea.`);
      } else {
        const result = wm.detect(image);
        outcome = { action, width: image.width, height: image.height, result };
        show(action, image, result);
        say(result.found ? `Mark found: payload ${result.payload}, p-value ${formatPValue(result.pValue)}.`
          : `No mark of this key found (p-value ${formatPValue(result.pValue)}).`);
      }
      return outcome;
    } catch (err) {
      form.dataset.state = 'error';
      say(err instanceof Error ? err.message : String(err), true);
      throw err;
    } finally {
      busy = false;
      form.removeAttribute('aria-busy');
      buttons.forEach((b) => (b.disabled = false));
    }
  };
  if ((options.target ?? window.parent) === (window as unknown)) {
    say('This page works inside Photopea: add its address as a plug-in there (More > Plugins), then open it from the plug-in panel.');
  }
  const quiet = (p: Promise<unknown>) => void p.catch(() => undefined); // shown in the status line
  form.addEventListener('submit', (e) => { e.preventDefault(); quiet(act('mark')); });
  q<HTMLButtonElement>('[data-action=detect]').addEventListener('click', () => quiet(act('detect')));

  return {
    mark: () => act('mark'),
    detect: () => act('detect'),
    destroy() {
      connection.close();
      form.remove();
    },
  };
}
