// Development models of the deep watermark: H and R with random (He-initialised, seeded) weights,
// exported by our own ONNX exporter with a deep.json of the shipped layout. They follow the
// model contract exactly (names, shapes, sizes), so the runner can be tested and timed before
// trained models exist; they carry no logo (NC near 0). No tfjs needed.
import fs from 'node:fs';
import path from 'node:path';
import { mulberry32 } from './attacks.mjs';

/** He-initialised random weights for a network description (parameterShapes from dist/deep/spec.js). */
export function randomWeights(spec, shapes, seed) {
  const rand = mulberry32(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const weights = {};
  for (const { name, shape } of shapes(spec)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const std = shape.length === 4 ? Math.sqrt(2 / (shape[0] * shape[1] * shape[2])) : 0;
    weights[name] = Float32Array.from({ length: n }, () => std * normal());
  }
  return weights;
}

/** A 32x32 test logo: a ring and a bar. */
export function devLogo() {
  const logo = new Uint8Array(32 * 32);
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      const r = Math.hypot(x - 15.5, y - 15.5);
      logo[y * 32 + x] = (r > 8 && r < 13) || (x > 13 && x < 18 && y > 4 && y < 27) ? 255 : 0;
    }
  }
  return logo;
}

/** Write h.onnx, r.onnx and deep.json (work size 256, tile 64, logo 32) into `dir`. */
export async function writeDevModels(dir) {
  const { buildH, buildR, parameterShapes } = await import('../dist/deep/spec.js');
  const { exportOnnx } = await import('../dist/train/onnx-export.js');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'h.onnx'), exportOnnx(buildH(), randomWeights(buildH(), parameterShapes, 1)));
  fs.writeFileSync(path.join(dir, 'r.onnx'), exportOnnx(buildR(), randomWeights(buildR(), parameterShapes, 2)));
  const meta = { format: 1, workSize: 256, tile: 64, logoSize: 32, threshold: 0.5, logo: Buffer.from(devLogo()).toString('base64'), note: 'development models, random weights' };
  fs.writeFileSync(path.join(dir, 'deep.json'), JSON.stringify(meta));
  return dir;
}
