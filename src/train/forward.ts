/**
 * The tfjs forward pass of a {@link NetSpec} (NHWC), and seeded parameter initialisation.
 * Training only (Node); inference runs the exported ONNX models with onnxruntime-web.
 */
import * as tf from '@tensorflow/tfjs';
import { LRELU_ALPHA, parameterShapes, type NetSpec, type Weights } from '../deep/spec.js';

export type Params = Record<string, tf.Variable>;

// The seeded PRNG lives in core code (the evidence's reference patterns use it too).
import { rng } from '../random.js';
export { rng };

/** Gaussian samples from a uniform PRNG (Box–Muller). */
export function gaussian(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** He-normal weights and zero biases, drawn from `seed`. */
export function initParams(spec: NetSpec, seed: number): Params {
  const g = gaussian(rng(seed));
  const params: Params = {};
  for (const { name, shape } of parameterShapes(spec)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (shape.length === 4) {
      const fanIn = shape[0]! * shape[1]! * shape[2]!;
      const sd = Math.sqrt(2 / fanIn);
      for (let i = 0; i < size; i++) data[i] = g() * sd;
    }
    params[name] = tf.variable(tf.tensor(data, shape), true);
  }
  return params;
}

/** Variables from stored weights (a checkpoint). */
export function paramsFromWeights(spec: NetSpec, weights: Weights): Params {
  const params: Params = {};
  for (const { name, shape } of parameterShapes(spec)) {
    const data = weights[name];
    if (!data || data.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`weights for ${spec.name}.${name} missing or of the wrong size`);
    params[name] = tf.variable(tf.tensor(data, shape), true);
  }
  return params;
}

/** Current values of the variables, as plain arrays. */
export function weightsOf(params: Params): Weights {
  const out: Weights = {};
  for (const [k, v] of Object.entries(params)) out[k] = v.dataSync() as Float32Array;
  return out;
}

/** Runs the network on NHWC inputs; returns every named output. */
export function forward(spec: NetSpec, params: Params, inputs: Record<string, tf.Tensor4D>): Record<string, tf.Tensor4D> {
  const env = new Map<string, tf.Tensor4D>(Object.entries(inputs));
  const get = (n: string): tf.Tensor4D => {
    const t = env.get(n);
    if (!t) throw new Error(`${spec.name}: tensor ${n} is not defined`);
    return t;
  };
  for (const n of spec.nodes) {
    let y: tf.Tensor4D;
    switch (n.op) {
      case 'conv': {
        const c = tf.add(tf.conv2d(get(n.x), params[n.w] as tf.Tensor4D, 1, 'same'), params[n.b]!) as tf.Tensor4D;
        y = n.act === 'lrelu' ? tf.leakyRelu(c, LRELU_ALPHA) : n.act === 'relu' ? tf.relu(c) : c;
        break;
      }
      case 'avgpool2': y = tf.avgPool(get(n.x), 2, 2, 'valid'); break;
      case 'up2': { const x = get(n.x); y = tf.image.resizeNearestNeighbor(x, [x.shape[1] * 2, x.shape[2] * 2]); break; }
      case 'concat': y = tf.concat(n.xs.map(get), 3); break;
      case 'add': y = tf.add(get(n.xs[0]), get(n.xs[1])); break;
      case 'scaledTanh': y = tf.mul(tf.tanh(get(n.x)), n.scale); break;
    }
    env.set(n.out, y);
  }
  const out: Record<string, tf.Tensor4D> = {};
  for (const o of spec.outputs) out[o] = get(o);
  return out;
}
