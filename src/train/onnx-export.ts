/**
 * ONNX export of a {@link NetSpec} with its weights, written from our own code (protobufjs and
 * the schema subset in ./onnx-schema.ts; no Python, no converter). The graph is NCHW, the layout
 * of ONNX's standard convolution and pooling operators; weights are transposed from tfjs's HWIO.
 * Training only (Node); the files it writes run in onnxruntime-web.
 */
import protobuf from 'protobufjs';
import { LRELU_ALPHA, type NetSpec, type Weights } from '../deep/spec.js';
import { ONNX_SCHEMA } from './onnx-schema.js';

/** ONNX IR version of the files written (IR 8: ONNX 1.10+, any recent runtime). */
export const ONNX_IR_VERSION = 8;
/** Version of the default ONNX operator set the graphs use. */
export const ONNX_OPSET = 13;

/** TensorProto.DataType values used here. */
const FLOAT = 1;
/** AttributeProto.AttributeType values used here. */
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

let root: protobuf.Root | undefined;
/** The parsed ONNX schema (parsed once). `keepCase` keeps the official snake_case names. */
export function onnxRoot(): protobuf.Root {
  root ??= protobuf.parse(ONNX_SCHEMA, { keepCase: true }).root;
  return root;
}

/** Options of {@link exportOnnx}. */
export interface OnnxExportOptions {
  /** Model description (ModelProto.doc_string). */
  docString?: string;
  /** Key–value metadata (ModelProto.metadata_props), e.g. training settings or a version. */
  metadata?: Record<string, string>;
}

type Attribute = { name: string; type: number; f?: number; i?: number; s?: Uint8Array; ints?: number[] };
type OnnxNode = { name: string; op_type: string; input: string[]; output: string[]; attribute: Attribute[] };
type Initializer = { name: string; dims: number[]; data_type: number; raw_data: Uint8Array };
type Dim = { dim_value: number } | { dim_param: string };

const utf8 = new TextEncoder();
const attrInts = (name: string, ints: number[]): Attribute => ({ name, type: ATTR.INTS, ints });
const attrFloat = (name: string, f: number): Attribute => ({ name, type: ATTR.FLOAT, f });
const attrInt = (name: string, i: number): Attribute => ({ name, type: ATTR.INT, i });
const attrString = (name: string, s: string): Attribute => ({ name, type: ATTR.STRING, s: utf8.encode(s) });

/** Float32 data as little-endian bytes (TensorProto.raw_data), whatever the host's byte order. */
function rawFloat32(data: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(data.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i]!, true);
  return bytes;
}

/** tfjs conv kernel HWIO `[k, k, cin, cout]` to ONNX OIHW `[cout, cin, k, k]`. */
function hwioToOihw(w: Float32Array, k: number, cin: number, cout: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let kh = 0; kh < k; kh++)
    for (let kw = 0; kw < k; kw++)
      for (let ci = 0; ci < cin; ci++)
        for (let co = 0; co < cout; co++)
          out[((co * cin + ci) * k + kh) * k + kw] = w[((kh * k + kw) * cin + ci) * cout + co]!;
  return out;
}

/** A spatial dimension relative to the input's symbolic size (`H`, `H/2`, `H*2`). */
function spatial(sym: string, scale: number): Dim {
  if (scale === 1) return { dim_param: sym };
  return { dim_param: scale < 1 ? `${sym}/${Math.round(1 / scale)}` : `${sym}*${scale}` };
}

function valueInfo(name: string, dims: Dim[]) {
  return { name, type: { tensor_type: { elem_type: FLOAT, shape: { dim: dims } } } };
}

/**
 * Writes a network as an ONNX model (IR 8, opset 13, producer "modelmark"): NCHW float32 inputs
 * `[N, C, H, W]` with symbolic `N`, `H`, `W`, the outputs named as in `spec.outputs`, and every
 * weight stored as a little-endian float32 initializer. The graph computes what
 * `forward()` (src/train/forward.ts) computes on NHWC tensors:
 *
 * - `conv` → Conv (kernel transposed HWIO → OIHW, bias, 'same' padding, stride 1), then
 *   LeakyRelu (alpha {@link LRELU_ALPHA}), Relu or nothing;
 * - `avgpool2` → AveragePool 2×2 stride 2; `up2` → Resize (nearest, asymmetric, floor, scales
 *   `[1, 1, 2, 2]`), which is tf.image.resizeNearestNeighbor without align-corners or half-pixel
 *   centres; `concat` → Concat on channels; `add` → Add; `scaledTanh` → Tanh then Mul.
 *
 * @param spec The network description.
 * @param weights Its parameters in tfjs layout, as from `weightsOf(params)`; each must be present
 *   with the size `parameterShapes(spec)` gives, or an Error naming it is thrown.
 * @param options Optional doc string and metadata (ModelProto.metadata_props).
 * @returns The serialised ModelProto, to write to a `.onnx` file or hand to an ONNX runtime.
 * @example
 * ```ts
 * import { writeFileSync } from 'node:fs';
 * import { buildR } from '../deep/spec.js';
 * import { initParams, weightsOf } from './forward.js';
 * import { exportOnnx } from './onnx-export.js';
 *
 * const spec = buildR();
 * const bytes = exportOnnx(spec, weightsOf(initParams(spec, 1)), { metadata: { tile: '64' } });
 * writeFileSync('R.onnx', bytes);
 * // then: await ort.InferenceSession.create(bytes) and run it on { image: NCHW float32 }
 * ```
 */
export function exportOnnx(spec: NetSpec, weights: Weights, options: OnnxExportOptions = {}): Uint8Array {
  const nodes: OnnxNode[] = [];
  const initializers: Initializer[] = [];
  // Channels and spatial scale (relative to the inputs) of every tensor defined so far.
  const tensors = new Map<string, { channels: number; scale: number }>();
  for (const i of spec.inputs) tensors.set(i.name, { channels: i.channels, scale: 1 });
  const get = (name: string) => {
    const t = tensors.get(name);
    if (!t) throw new Error(`exportOnnx: ${spec.name}: tensor ${name} is used before it is defined`);
    return t;
  };
  const constant = (name: string, dims: number[], data: ArrayLike<number>) => {
    initializers.push({ name, dims, data_type: FLOAT, raw_data: rawFloat32(data) });
    return name;
  };
  const weight = (name: string, size: number, shape: string): Float32Array => {
    const w = weights[name];
    if (!w) throw new Error(`exportOnnx: ${spec.name}: weight ${name} (${shape}) is missing`);
    if (w.length !== size) throw new Error(`exportOnnx: ${spec.name}: weight ${name} has ${w.length} values, expected ${size} (${shape})`);
    return w;
  };
  const node = (op_type: string, name: string, input: string[], output: string, attribute: Attribute[] = []) => {
    nodes.push({ name, op_type, input, output: [output], attribute });
    return output;
  };

  for (const n of spec.nodes) {
    switch (n.op) {
      case 'conv': {
        const x = get(n.x);
        if (x.channels !== n.cin) throw new Error(`exportOnnx: ${spec.name}: ${n.out} expects ${n.cin} input channels, ${n.x} has ${x.channels}`);
        const w = weight(n.w, n.k * n.k * n.cin * n.cout, `[${n.k}, ${n.k}, ${n.cin}, ${n.cout}] HWIO`);
        const b = weight(n.b, n.cout, `[${n.cout}]`);
        constant(n.w, [n.cout, n.cin, n.k, n.k], hwioToOihw(w, n.k, n.cin, n.cout));
        constant(n.b, [n.cout], b);
        const p = (n.k - 1) / 2;
        const convOut = n.act === 'linear' ? n.out : `${n.out}.conv`;
        node('Conv', `${n.out}.Conv`, [n.x, n.w, n.b], convOut, [
          attrInts('kernel_shape', [n.k, n.k]), attrInts('pads', [p, p, p, p]), attrInts('strides', [1, 1]), attrInts('dilations', [1, 1]), attrInt('group', 1),
        ]);
        if (n.act === 'lrelu') node('LeakyRelu', `${n.out}.LeakyRelu`, [convOut], n.out, [attrFloat('alpha', LRELU_ALPHA)]);
        else if (n.act === 'relu') node('Relu', `${n.out}.Relu`, [convOut], n.out);
        tensors.set(n.out, { channels: n.cout, scale: x.scale });
        break;
      }
      case 'avgpool2': {
        const x = get(n.x);
        node('AveragePool', `${n.out}.AveragePool`, [n.x], n.out, [attrInts('kernel_shape', [2, 2]), attrInts('strides', [2, 2])]);
        tensors.set(n.out, { channels: x.channels, scale: x.scale / 2 });
        break;
      }
      case 'up2': {
        const x = get(n.x);
        const scales = constant(`${n.out}.scales`, [4], [1, 1, 2, 2]);
        node('Resize', `${n.out}.Resize`, [n.x, '', scales], n.out, [
          attrString('mode', 'nearest'), attrString('coordinate_transformation_mode', 'asymmetric'), attrString('nearest_mode', 'floor'),
        ]);
        tensors.set(n.out, { channels: x.channels, scale: x.scale * 2 });
        break;
      }
      case 'concat': {
        const xs = n.xs.map(get);
        if (xs.some((x) => x.scale !== xs[0]!.scale)) throw new Error(`exportOnnx: ${spec.name}: ${n.out} concatenates tensors of different sizes`);
        node('Concat', `${n.out}.Concat`, n.xs, n.out, [attrInt('axis', 1)]);
        tensors.set(n.out, { channels: xs.reduce((a, x) => a + x.channels, 0), scale: xs[0]!.scale });
        break;
      }
      case 'add': {
        const a = get(n.xs[0]);
        get(n.xs[1]);
        node('Add', `${n.out}.Add`, n.xs, n.out);
        tensors.set(n.out, { ...a });
        break;
      }
      case 'scaledTanh': {
        const x = get(n.x);
        const t = node('Tanh', `${n.out}.Tanh`, [n.x], `${n.out}.tanh`);
        const s = constant(`${n.out}.scale`, [], [n.scale]);
        node('Mul', `${n.out}.Mul`, [t, s], n.out);
        tensors.set(n.out, { ...x });
        break;
      }
      default: {
        const never: never = n;
        throw new Error(`exportOnnx: ${spec.name}: unknown op ${(never as { op: string }).op}`);
      }
    }
  }

  const model = {
    ir_version: ONNX_IR_VERSION,
    opset_import: [{ domain: '', version: ONNX_OPSET }],
    producer_name: 'modelmark',
    ...(options.docString !== undefined ? { doc_string: options.docString } : {}),
    graph: {
      name: spec.name,
      node: nodes,
      initializer: initializers,
      input: spec.inputs.map((i) => valueInfo(i.name, [{ dim_param: 'N' }, { dim_value: i.channels }, { dim_param: 'H' }, { dim_param: 'W' }])),
      output: spec.outputs.map((o) => {
        const t = get(o);
        return valueInfo(o, [{ dim_param: 'N' }, { dim_value: t.channels }, spatial('H', t.scale), spatial('W', t.scale)]);
      }),
    },
    metadata_props: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  const ModelProto = onnxRoot().lookupType('onnx.ModelProto');
  const err = ModelProto.verify(model);
  if (err) throw new Error(`exportOnnx: ${spec.name}: invalid ModelProto: ${err}`);
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}
