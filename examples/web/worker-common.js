// Shared by the demo's two workers (worker.js, deep-worker.js).
/** |a - b| x amplify on the colour channels, opaque: the demo's difference view (RGBA bytes). */
export function difference(a, b, amplify) {
  const out = new Uint8ClampedArray(a.length);
  for (let i = 0; i < a.length; i += 4) {
    out[i] = Math.abs(a[i] - b[i]) * amplify;
    out[i + 1] = Math.abs(a[i + 1] - b[i + 1]) * amplify;
    out[i + 2] = Math.abs(a[i + 2] - b[i + 2]) * amplify;
    out[i + 3] = 255;
  }
  return out;
}

/**
 * Answers the page's messages `{ id, op, ... }` with `handle(msg)`: `{ id, ok: true, ...out }`
 * (transferring `out.transfer`), or `{ id, ok: false, error: { name, code, message } }`.
 */
export function serve(handle) {
  self.onmessage = async ({ data: msg }) => {
    try {
      const { transfer = [], ...out } = await handle(msg);
      self.postMessage({ id: msg.id, ok: true, ...out }, transfer);
    } catch (e) {
      self.postMessage({ id: msg.id, ok: false, error: { name: e?.name ?? 'Error', code: e?.code, message: e?.message ?? String(e) } });
    }
  };
}
