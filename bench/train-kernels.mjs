// Training speed of a conv net on tfjs backends: the probe network (3 -> 32 -> 32 -> 3
// channels, 3x3 convolutions, ReLU), batch 8 of 64x64, one Adam step (forward, gradients,
// update), median of a few steps per configuration:
//   cpu              tfjs's pure-JS backend (has every gradient kernel)
//   wasm, filter     wasm with our Conv2DBackpropFilter only (the backend's own, slow
//                    Conv2DBackpropInput kept)
//   wasm, both       wasm with both of our kernels (what training uses)
// The wasm backend alone cannot train this net at all (no Conv2DBackpropFilter kernel).
//
//   node bench/train-kernels.mjs [--cpu-steps N] [--steps N] [--quick]
//
// --quick: every configuration, one step each, on a batch of 1 of 16x16 (a check that the script
// works, test/bench-smoke.test.mjs; the cpu backend takes about a minute a step at full size).
// Its figures are not the probe and not to be quoted.
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { filterGradientKernel } from '../dist/train/wasm-kernels.js';

const { values } = parseArgs({ options: { 'cpu-steps': { type: 'string', default: '1' }, steps: { type: 'string', default: '5' }, quick: { type: 'boolean' } } });
const QUICK = !!values.quick;
if (QUICK) values['cpu-steps'] = values.steps = '1';
const B = QUICK ? 1 : 8, S = QUICK ? 16 : 64;

async function stepTime(steps) {
  const rand = (shape, sd) => tf.randomNormal(shape, 0, sd, 'float32', 7);
  const ws = [rand([3, 3, 3, 32], 0.27), rand([3, 3, 32, 32], 0.08), rand([3, 3, 32, 3], 0.08)].map((t) => tf.variable(t));
  const x = tf.randomUniform([B, S, S, 3], 0, 1, 'float32', 1), y = tf.randomUniform([B, S, S, 3], 0, 1, 'float32', 2);
  const opt = tf.train.adam(1e-3);
  const once = async () => {
    const loss = opt.minimize(() => {
      let h = tf.relu(tf.conv2d(x, ws[0], 1, 'same'));
      h = tf.relu(tf.conv2d(h, ws[1], 1, 'same'));
      return tf.mean(tf.square(tf.sub(tf.conv2d(h, ws[2], 1, 'same'), y)));
    }, true);
    await loss.data();
    loss.dispose();
  };
  await once(); // warm-up (kernel setup, moment creation)
  const times = [];
  for (let i = 0; i < steps; i++) { const t = performance.now(); await once(); times.push(performance.now() - t); }
  tf.dispose([...ws, x, y]); opt.dispose();
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const results = {};
await tf.setBackend('cpu');
results.cpu = await stepTime(Number(values['cpu-steps']));

await tf.setBackend('wasm');
// Our filter gradient only.
tf.registerKernel(filterGradientKernel);
results.wasmFilter = await stepTime(Number(values.steps));
tf.unregisterKernel('Conv2DBackpropFilter', 'wasm');

// Both of ours, as training registers them.
const { registerWasmGradientKernels } = await import('../dist/train/wasm-kernels.js');
registerWasmGradientKernels();
await tf.setBackend('cpu'); await tf.setBackend('wasm'); // re-run kernel setup after re-registering
results.wasmBoth = await stepTime(Number(values.steps));

const ms = (v) => `${v.toFixed(0)} ms`;
console.log(`one Adam step, 3->32->32->3 convs, batch ${B} of ${S}x${S}`);
console.log(`cpu backend:                          ${ms(results.cpu)}`);
console.log(`wasm + our filter gradient:           ${ms(results.wasmFilter)}  (${(results.cpu / results.wasmFilter).toFixed(0)}x cpu)`);
console.log(`wasm + our filter and input gradient: ${ms(results.wasmBoth)}  (${(results.cpu / results.wasmBoth).toFixed(0)}x cpu, ${(results.wasmFilter / results.wasmBoth).toFixed(1)}x filter-only)`);
