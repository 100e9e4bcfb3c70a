// The demo's heavy work, off the main thread: embed, PSNR, the amplified difference and detect.
// Messages in:  { id, op: 'mark', key, strength, payload, amplify, image: { width, height, data } }
//               { id, op: 'detect', key, strength, image }
// Messages out: { id, ok: true, ... } or { id, ok: false, error: { name, code, message } }
import { createWatermarker, payloadHex, parsePayload, psnr } from 'modelmark';
import { difference, serve } from './worker-common.js';

const watermarkers = new Map();

/** One watermarker per key and strength (the key derivation and kernel load happen once). */
function watermarker(key, strength) {
  const id = `${strength}|${key}`;
  if (!watermarkers.has(id)) {
    const wm = createWatermarker({ key, strength });
    wm.catch(() => watermarkers.delete(id));
    watermarkers.set(id, wm);
  }
  return watermarkers.get(id);
}

async function handle(msg) {
  const { op, key, strength, image } = msg;
  const wm = await watermarker(key, strength);
  if (op === 'mark') {
    const payload = payloadHex(parsePayload(msg.payload));
    const marked = wm.embed(image, payload);
    const db = await psnr(image, marked);
    const diff = difference(image.data, marked.data, msg.amplify);
    return { payload, psnr: db, marked: marked.data, diff, transfer: [marked.data.buffer, diff.buffer] };
  }
  if (op === 'detect') return { result: wm.detect(image) };
  throw new Error(`unknown operation ${op}`);
}

serve(handle);
