// Test page for modelmark/pintura: the real Pintura package (@pqina/pintura, its test version)
// runs processImage with createDefaultImageWriter({ postprocessImageData }) in Chromium.
import { processImage, createDefaultImageReader, createDefaultImageWriter } from '@pqina/pintura';
import { createPostprocessImageData } from 'modelmark/pintura';

const base64 = async (blob) => {
  const url = await new Promise((ok) => { const r = new FileReader(); r.onload = () => ok(r.result); r.readAsDataURL(blob); });
  return url.slice(url.indexOf(',') + 1);
};

/** Run Pintura headless on the photo at `url`, marking through postprocessImageData; returns the output PNG (base64). */
window.processWithPintura = async (url, { key, payload, crop }) => {
  const blob = await (await fetch(url)).blob();
  const file = new File([blob], 'photo.jpg', { type: blob.type });
  let calls = 0;
  const mark = createPostprocessImageData({ key, payload });
  const { dest } = await processImage(file, {
    imageReader: createDefaultImageReader(),
    imageWriter: createDefaultImageWriter({
      mimeType: 'image/png',
      postprocessImageData: (imageData, options, onprogress) => { calls++; return mark(imageData, options, onprogress); },
    }),
    ...(crop ? { imageCrop: crop } : {}),
  });
  return { png: await base64(dest), calls, type: dest.type, name: dest.name };
};

/** Call the hook directly on ImageData decoded from the photo. */
window.markImageData = async (url, options, colorSpace = 'srgb') => {
  const bitmap = await createImageBitmap(await (await fetch(url)).blob());
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0);
  const input = ctx.getImageData(0, 0, bitmap.width, bitmap.height, { colorSpace });
  const before = input.data.slice();
  const out = await createPostprocessImageData(options)(input);
  let changed = 0;
  for (let i = 0; i < before.length; i++) if (before[i] !== out.data[i]) changed++;
  const inputUntouched = input.data.every((v, i) => v === before[i]);
  ctx.putImageData(out, 0, 0);
  const png = await base64(await canvas.convertToBlob({ type: 'image/png' }));
  return { png, isImageData: out instanceof ImageData, width: out.width, height: out.height, colorSpace: out.colorSpace, changed, inputUntouched };
};

/** Errors as { code, message } (or 'ok'). */
window.tryHook = async (options, size) => {
  try {
    const hook = createPostprocessImageData(options);
    const input = new ImageData(size, size);
    const out = await hook(input);
    return out === input ? 'same' : 'new';
  } catch (e) {
    return { code: e.code, message: e.message };
  }
};
window.ready = true;
