/**
 * Reading the weights back out of an ONNX model written by {@link exportOnnx}: the inverse of the
 * export, used to start a training from an existing models folder (`modelmark train-deep --init`).
 * Training only (Node).
 */
import { parameterShapes, type NetSpec, type Weights } from '../deep/spec.js';
import { onnxRoot } from './onnx-export.js';

/** TensorProto.DataType FLOAT. */
const FLOAT = 1;

interface TensorProto {
  name?: string;
  dims?: (number | { toNumber(): number })[];
  data_type?: number;
  raw_data?: Uint8Array;
  float_data?: number[];
}

const dimsOf = (t: TensorProto): number[] => (t.dims ?? []).map((d) => (typeof d === 'number' ? d : d.toNumber()));

/** ONNX OIHW `[cout, cin, k, k]` to tfjs HWIO `[k, k, cin, cout]`. */
function oihwToHwio(w: Float32Array, k: number, cin: number, cout: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let co = 0; co < cout; co++)
    for (let ci = 0; ci < cin; ci++)
      for (let kh = 0; kh < k; kh++)
        for (let kw = 0; kw < k; kw++)
          out[((kh * k + kw) * cin + ci) * cout + co] = w[((co * cin + ci) * k + kh) * k + kw]!;
  return out;
}

/** A float32 initializer's values: raw_data (little-endian, whatever the host's order) or float_data. */
function floats(t: TensorProto, where: string): Float32Array {
  if (t.data_type !== FLOAT) throw new Error(`${where} has data type ${t.data_type ?? 'none'}, expected 1 (FLOAT)`);
  const raw = t.raw_data;
  if (raw && raw.length > 0) {
    if (raw.length % 4 !== 0) throw new Error(`${where} has ${raw.length} bytes of raw data, not a whole number of float32 values`);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out = new Float32Array(raw.length / 4);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  return Float32Array.from(t.float_data ?? []);
}

/**
 * Reads a network's weights from ONNX bytes written by `exportOnnx(spec, weights)`: every
 * parameter of `parameterShapes(spec)` is taken from the graph initializer of the same name
 * (float32, raw little-endian data or float_data), conv kernels transposed back from ONNX's OIHW
 * to tfjs's HWIO. Other initializers (constants such as Resize scales) are ignored. Exact: the
 * result equals the weights that were exported, value for value.
 *
 * @param bytes A serialised ModelProto (e.g. the contents of `h.onnx`).
 * @param spec The network it was exported from (`buildH()` for h.onnx, `buildR()` for r.onnx).
 * @returns The weights in tfjs layout, keyed by parameter name, ready for `paramsFromWeights`
 *   or `TrainOptions.initFrom`.
 * @throws Error naming the network and the parameter when the bytes are not an ONNX model, or a
 *   weight is missing, not float32, or shaped differently from the spec (e.g. a model of other
 *   widths).
 * @example
 * ```ts
 * import { readFileSync } from 'node:fs';
 * import { buildH, buildR } from '../deep/spec.js';
 * import { readOnnxWeights } from './onnx-import.js';
 *
 * const initFrom = {
 *   h: readOnnxWeights(readFileSync('models/h.onnx'), buildH()),
 *   r: readOnnxWeights(readFileSync('models/r.onnx'), buildR()),
 * };
 * ```
 */
export function readOnnxWeights(bytes: Uint8Array, spec: NetSpec): Weights {
  if (!(bytes instanceof Uint8Array)) throw new Error(`readOnnxWeights: ${spec.name}: expected the ONNX model as a Uint8Array, got ${typeof bytes}`);
  const ModelProto = onnxRoot().lookupType('onnx.ModelProto');
  let model: { graph?: { initializer?: TensorProto[] } };
  try {
    model = ModelProto.decode(bytes) as unknown as typeof model;
  } catch (cause) {
    throw new Error(`readOnnxWeights: ${spec.name}: not an ONNX model (${(cause as Error).message})`, { cause });
  }
  const inits = new Map<string, TensorProto>();
  for (const t of model.graph?.initializer ?? []) if (t.name) inits.set(t.name, t);
  if (inits.size === 0) throw new Error(`readOnnxWeights: ${spec.name}: the model has no weights (no graph initializers); is it an ONNX model written by modelmark?`);

  const convs = new Map<string, { k: number; cin: number; cout: number }>();
  for (const n of spec.nodes) if (n.op === 'conv') convs.set(n.w, { k: n.k, cin: n.cin, cout: n.cout });

  const weights: Weights = {};
  for (const { name, shape } of parameterShapes(spec)) {
    const t = inits.get(name);
    const conv = convs.get(name);
    // The ONNX shape of this parameter: OIHW for conv kernels, as is for biases.
    const expected = conv ? [conv.cout, conv.cin, conv.k, conv.k] : shape;
    const where = `readOnnxWeights: ${spec.name}: weight ${name}`;
    if (!t) throw new Error(`${where} [${expected.join(', ')}] is missing from the model; it was not exported from this network`);
    const dims = dimsOf(t);
    if (dims.length !== expected.length || dims.some((d, i) => d !== expected[i])) {
      throw new Error(`${where} has shape [${dims.join(', ')}], expected [${expected.join(', ')}]; the model was exported from a network of other sizes`);
    }
    const data = floats(t, where);
    const size = expected.reduce((a, b) => a * b, 1);
    if (data.length !== size) throw new Error(`${where} holds ${data.length} values, expected ${size} ([${expected.join(', ')}])`);
    weights[name] = conv ? oihwToHwio(data, conv.k, conv.cin, conv.cout) : data;
  }
  return weights;
}
