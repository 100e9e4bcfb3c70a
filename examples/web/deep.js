// The demo page's "Logo watermark (deep)" section: mark the image of step 1 with the models'
// logo (marked image, amplified difference, PSNR, download) and extract the logo from any image
// (the extraction enlarged and pixelated next to the models' logo, NC, found, and the execution
// provider that ran: webgpu or wasm). The work runs in deep-worker.js, created on first use; as
// in the classical section, the page only paints what comes back (previews at most 1600 pixels a
// side, said in the difference view's caption when scaled) and offers the PNG the worker encoded
// (full size). The full-size pixels stay in the worker: the page sends step 1's File with its id,
// the worker decodes and keeps its own copy, and keeps the marked pixels.
// The section's data-state: idle, loading, working, marked, found, not-found, error.

const $ = (id) => document.getElementById(id);

/**
 * Wire the deep section. `getImage()` returns the image loaded in step 1 ({ id, file, name, width, height }) or
 * null; `getAmplify()` the difference view's factor. Returns { imageChanged() } to call when
 * step 1 loads another image.
 */
export function setupDeep({ getImage, getAmplify }) {
  const ui = {
    section: $('deep'), provider: $('deep-provider'), mark: $('deep-mark'), extract: $('deep-extract'),
    status: $('deep-status'), error: $('deep-error'), markResult: $('deep-mark-result'), psnr: $('deep-psnr'),
    markProvider: $('deep-mark-provider'), original: $('deep-original'), marked: $('deep-marked'), diff: $('deep-diff'),
    diffCaption: $('deep-diff-caption'), download: $('deep-download'), downloadInfo: $('deep-download-info'), extractMarked: $('deep-extract-marked'),
    extractResult: $('deep-extract-result'), verdict: $('deep-verdict'), extracted: $('deep-extracted'),
    expected: $('deep-expected'), found: $('deep-found'), nc: $('deep-nc'), threshold: $('deep-threshold'),
    providerUsed: $('deep-provider-used'), providerNote: $('deep-provider-note'), source: $('deep-source'),
  };
  // lastMarked: { name, width, height } of the marked image the worker keeps (not its pixels).
  let worker = null, lastMarked = null, downloadUrl = null, working = false, nextId = 0;
  const waiting = new Map();

  function call(message, transfer = []) {
    if (!worker) {
      worker = new Worker(new URL('./deep-worker.js', import.meta.url), { type: 'module' });
      worker.onmessage = ({ data }) => {
        const w = waiting.get(data.id);
        waiting.delete(data.id);
        if (data.ok) w.resolve(data);
        else w.reject(Object.assign(new Error(data.error.message), data.error));
      };
      worker.onerror = (e) => {
        for (const w of waiting.values()) w.reject(new Error(e.message || 'The deep watermark worker failed to start.'));
        waiting.clear();
        worker = null;
        lastMarked = null; // it was in that worker
        buttons();
      };
    }
    const id = ++nextId;
    return new Promise((resolve, reject) => { waiting.set(id, { resolve, reject }); worker.postMessage({ id, ...message }, transfer); });
  }

  const setState = (s) => { ui.section.dataset.state = s; };
  const say = (text) => { ui.status.textContent = text; };
  function fail(err) {
    say(''); // not "Marking…" beside the error
    ui.error.textContent = err?.code ? `${err.message} (${err.code})` : String(err?.message ?? err);
    setState('error');
  }
  function buttons() {
    const image = getImage();
    ui.mark.disabled = working || !image;
    ui.extract.disabled = working || !image;
    ui.extractMarked.disabled = working || !lastMarked;
  }
  // Disabling the focused button drops the focus to the page's start: it goes back after.
  let refocus = null;
  function busy(on) {
    working = on;
    if (on && document.activeElement instanceof HTMLButtonElement) refocus = document.activeElement;
    for (const result of [ui.markResult, ui.extractResult]) result.setAttribute('aria-busy', String(on));
    buttons();
    if (!on) {
      if ((!document.activeElement || document.activeElement === document.body) && refocus?.isConnected && !refocus.disabled) refocus.focus();
      refocus = null;
    }
  }

  /** Draw pixels from the worker, { width, height, data } (worker-common.js forPage). */
  function paint(canvas, { width, height, data }) {
    canvas.width = width; canvas.height = height;
    canvas.getContext('2d').putImageData(new ImageData(data, width, height), 0, 0);
  }

  /** A grey size² logo (bytes) drawn enlarged, without smoothing, on a square canvas. */
  function paintLogo(canvas, grey, size) {
    const rgba = new ImageData(size, size);
    for (let i = 0; i < size * size; i++) {
      rgba.data[4 * i] = rgba.data[4 * i + 1] = rgba.data[4 * i + 2] = grey[i];
      rgba.data[4 * i + 3] = 255;
    }
    const small = new OffscreenCanvas(size, size);
    small.getContext('2d').putImageData(rgba, 0, 0);
    const ctx = canvas.getContext('2d');
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
  }

  function showProvider(out) {
    ui.providerUsed.textContent = out.provider;
    ui.section.dataset.provider = out.provider;
    const notes = [];
    if (out.adapter && out.provider === 'webgpu') notes.push(`adapter: ${out.adapter}`);
    if (out.fallback) notes.push(out.fallback);
    if (out.meta?.development) notes.push('development models (random weights): "found" means nothing with them');
    ui.providerNote.textContent = notes.join('; ');
  }

  const formatBytes = (n) => (n < 1e6 ? `${(n / 1e3).toFixed(1)} kB` : `${(n / 1e6).toFixed(1)} MB`);

  async function run(label, job) {
    ui.error.textContent = '';
    setState(worker ? 'working' : 'loading');
    busy(true);
    try {
      say(worker ? `${label}…` : `Loading the deep models and onnxruntime-web, then ${label.toLowerCase()}…`);
      await job();
    } catch (err) {
      fail(err);
    } finally {
      busy(false);
    }
  }

  const mark = () => run('Marking with the logo', async () => {
    const { id, file, name } = getImage();
    const amplify = getAmplify();
    const out = await call({ op: 'embed', provider: ui.provider.value, amplify, image: { id, file } });
    paint(ui.original, out.previews.original);
    paint(ui.marked, out.previews.marked);
    paint(ui.diff, out.previews.diff);
    const scale = out.previews.diff.width / out.width;
    ui.diffCaption.textContent = `|marked − original| × ${amplify}` + (scale < 1 ? ` (shown at ${Math.round(scale * 100)} %)` : '');
    ui.psnr.textContent = out.psnr.toFixed(2);
    ui.markProvider.textContent = out.provider;
    showProvider(out);
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = URL.createObjectURL(out.png);
    ui.downloadInfo.textContent = `PNG, ${out.width} × ${out.height} pixels, ${formatBytes(out.png.size)}`;
    ui.download.href = downloadUrl;
    ui.download.download = `${name.replace(/\.[^.]+$/, '') || 'image'}-logo.png`;
    lastMarked = { name: ui.download.download, width: out.width, height: out.height };
    ui.markResult.hidden = false;
    say(`Marked with the logo on ${out.provider} in ${Math.round(out.ms)} ms (PSNR ${out.psnr.toFixed(2)} dB). Download the PNG below.`);
    setState('marked');
  });

  /** `source`: step 1's image (with its file) or the marked one the worker keeps (lastMarked). */
  const extract = (source) => run(`Extracting the logo from ${source.name}`, async () => {
    const { width, height } = source;
    let out;
    if (source.file) {
      out = await call({ op: 'extract', provider: ui.provider.value, image: { id: source.id, file: source.file } });
    } else {
      out = await call({ op: 'extract', provider: ui.provider.value, marked: true });
    }
    paintLogo(ui.extracted, out.logo, out.logoSize);
    const expected = Uint8Array.from(atob(out.meta.logo), (c) => c.charCodeAt(0));
    paintLogo(ui.expected, expected, out.meta.logoSize);
    ui.found.textContent = out.found ? 'yes' : 'no';
    ui.nc.textContent = out.nc.toFixed(4);
    ui.threshold.textContent = out.threshold.toFixed(4);
    ui.source.textContent = `${source.name} (${width} × ${height})`;
    showProvider(out);
    ui.verdict.textContent = out.found
      ? `Logo found in ${source.name}: NC ${out.nc.toFixed(3)} ≥ ${out.threshold.toFixed(3)}.`
      : `No logo in ${source.name}: NC ${out.nc.toFixed(3)} < ${out.threshold.toFixed(3)}.`;
    ui.extractResult.hidden = false;
    say(`Extracted on ${out.provider} in ${Math.round(out.ms)} ms: ${out.found ? 'found' : 'not found'} (NC ${out.nc.toFixed(3)}).`);
    setState(out.found ? 'found' : 'not-found');
  });

  ui.mark.addEventListener('click', mark);
  ui.extract.addEventListener('click', () => extract(getImage()));
  ui.extractMarked.addEventListener('click', () => extract(lastMarked));
  buttons();
  return { imageChanged: buttons };
}
