// The ONNX export (src/train/onnx-export.ts) against the tfjs forward pass (src/train/forward.ts)
// it must reproduce: for H and R with seeded He-normal weights and seeded non-zero biases, the
// exported model run by onnxruntime-web (wasm, one thread) and forward() on tfjs's cpu backend
// are given the same seeded inputs (a square 1×64×64 tile and a non-square batch of two 48×80
// ones) and must agree to 1e-4 at every output value. The measured maximum differences are
// printed. The bytes must also decode with our schema subset (opset 13, one ONNX node per
// spec node plus one per activation and tanh scale), and a missing or mis-sized weight must be
// refused with an Error naming it.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-web';
import { buildH, buildR } from '../dist/deep/spec.js';
import { forward, initParams, rng, weightsOf } from '../dist/train/forward.js';
import { exportOnnx, onnxRoot, ONNX_OPSET, ONNX_IR_VERSION } from '../dist/train/onnx-export.js';

ort.env.wasm.numThreads = 1;
const TOL = 1e-4;

const previousBackend = tf.getBackend();
await tf.setBackend('cpu');

/** Seeded weights of a spec: He-normal kernels from initParams, plus N(0, 0.1) biases. The
 * variables are assigned the noisy biases too, so forward() and the export see the same values. */
function seededParams(spec, seed) {
  const params = initParams(spec, seed);
  const g = rng(seed + 1000);
  const weights = {};
  for (const [name, data] of Object.entries(weightsOf(params))) {
    const copy = new Float32Array(data);
    if (name.endsWith('.b')) {
      for (let i = 0; i < copy.length; i++) copy[i] = (g() - 0.5) * 0.4;
      params[name].assign(tf.tensor(copy, params[name].shape));
    }
    weights[name] = copy;
  }
  return { params, weights };
}

/** Seeded uniform data in [lo, hi). */
function randomData(size, seed, lo, hi) {
  const r = rng(seed);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

function nhwcToNchw(data, n, h, w, c) {
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++) out[((b * c + ch) * h + y) * w + x] = data[((b * h + y) * w + x) * c + ch];
  return out;
}

function nchwToNhwc(data, n, c, h, w) {
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) out[((b * h + y) * w + x) * c + ch] = data[((b * c + ch) * h + y) * w + x];
  return out;
}

/** Runs the spec both ways on seeded NHWC inputs of n×h×w; returns the max abs difference per output. */
async function compare(spec, params, session, n, h, w, seed) {
  const tfInputs = {};
  const feeds = {};
  spec.inputs.forEach((input, i) => {
    const c = input.channels;
    const [lo, hi] = input.name === 'logo' ? [-1, 1] : [0, 1];
    const data = randomData(n * h * w * c, seed + 17 * i, lo, hi);
    tfInputs[input.name] = tf.tensor4d(data, [n, h, w, c]);
    feeds[input.name] = new ort.Tensor('float32', nhwcToNchw(data, n, h, w, c), [n, c, h, w]);
  });
  const tfOut = forward(spec, params, tfInputs);
  const ortOut = await session.run(feeds);
  const diffs = {};
  for (const name of spec.outputs) {
    const expected = tfOut[name];
    const [on, oh, ow, oc] = expected.shape;
    const got = ortOut[name];
    assert.equal([...got.dims], [on, oc, oh, ow], `${spec.name}.${name} shape`);
    const actual = nchwToNhwc(got.data, on, oc, oh, ow);
    const want = expected.dataSync();
    let max = 0, scale = 0;
    for (let i = 0; i < want.length; i++) {
      max = Math.max(max, Math.abs(actual[i] - want[i]));
      scale = Math.max(scale, Math.abs(want[i]));
    }
    assert.ok(scale > 0, `${spec.name}.${name}: output is all zeros, the comparison would prove nothing`);
    diffs[name] = { max, scale };
  }
  for (const t of [...Object.values(tfInputs), ...Object.values(tfOut)]) t.dispose();
  for (const t of Object.values(ortOut)) t.dispose?.();
  return diffs;
}

/** ONNX nodes expected for a spec: one per node, plus the activation of non-linear convs and the
 * Mul of a scaled tanh. */
const expectedNodeCount = (spec) =>
  spec.nodes.reduce((a, n) => a + (n.op === 'conv' ? (n.act === 'linear' ? 1 : 2) : n.op === 'scaledTanh' ? 2 : 1), 0);

for (const [label, build, seed] of [['H', buildH, 11], ['R', buildR, 23]]) {
  test(`ONNX export of ${label} matches the tfjs forward pass (1×64×64 and 2×48×80)`, async () => {
    const spec = build();
    const { params, weights } = seededParams(spec, seed);
    try {
      const bytes = exportOnnx(spec, weights, { docString: `${label} test`, metadata: { seed: String(seed) } });
      assert.instance(bytes, Uint8Array);

      // The bytes decode with the schema.
      const ModelProto = onnxRoot().lookupType('onnx.ModelProto');
      const model = ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, defaults: false });
      assert.is(model.ir_version, ONNX_IR_VERSION);
      assert.is(model.producer_name, 'modelmark');
      assert.is(model.doc_string, `${label} test`);
      assert.equal(model.opset_import, [{ domain: '', version: 13 }]);
      assert.is(ONNX_OPSET, 13);
      assert.equal(model.metadata_props, [{ key: 'seed', value: String(seed) }]);
      assert.is(model.graph.node.length, expectedNodeCount(spec));
      assert.equal(model.graph.input.map((i) => i.name), spec.inputs.map((i) => i.name));
      assert.equal(model.graph.output.map((o) => o.name), spec.outputs);
      const dims = model.graph.input[0].type.tensor_type.shape.dim;
      assert.equal(dims, [{ dim_param: 'N' }, { dim_value: spec.inputs[0].channels }, { dim_param: 'H' }, { dim_param: 'W' }]);
      const convs = spec.nodes.filter((n) => n.op === 'conv');
      const first = model.graph.initializer.find((t) => t.name === convs[0].w);
      assert.equal(first.dims, [convs[0].cout, convs[0].cin, convs[0].k, convs[0].k]);
      assert.is(first.raw_data.length, 4 * weights[convs[0].w].length);

      const session = await ort.InferenceSession.create(bytes);
      try {
        for (const [n, h, w, s] of [[1, 64, 64, seed * 7], [2, 48, 80, seed * 13]]) {
          const diffs = await compare(spec, params, session, n, h, w, s);
          for (const [name, { max, scale }] of Object.entries(diffs)) {
            console.log(`  ${label}.${name} ${n}×${h}×${w}: max |onnx - tfjs| = ${max.toExponential(2)} (max |tfjs| = ${scale.toFixed(3)})`);
            assert.ok(max < TOL, `${label}.${name} ${n}×${h}×${w}: max difference ${max} >= ${TOL}`);
          }
        }
      } finally {
        await session.release();
      }
    } finally {
      for (const v of Object.values(params)) v.dispose();
    }
  });
}

test('exportOnnx refuses a missing or mis-sized weight', () => {
  const spec = buildR();
  const weights = {};
  for (const n of spec.nodes) {
    if (n.op !== 'conv') continue;
    weights[n.w] = new Float32Array(n.k * n.k * n.cin * n.cout);
    weights[n.b] = new Float32Array(n.cout);
  }
  exportOnnx(spec, weights); // complete: accepted
  const convs = spec.nodes.filter((n) => n.op === 'conv');
  const missing = { ...weights };
  delete missing[convs[1].w];
  assert.throws(() => exportOnnx(spec, missing), (e) => e instanceof Error && e.message.includes(convs[1].w) && /missing/.test(e.message));
  const short = { ...weights, [convs[0].b]: new Float32Array(convs[0].cout - 1) };
  assert.throws(() => exportOnnx(spec, short), (e) => e instanceof Error && e.message.includes(convs[0].b) && /expected/.test(e.message));
});

test.after(async () => {
  if (previousBackend && previousBackend !== 'cpu') await tf.setBackend(previousBackend);
});

test.run();
