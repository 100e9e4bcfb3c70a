/**
 * Convolution gradient kernels for tfjs's wasm backend, built from kernels it has.
 *
 * - `Conv2DBackpropFilter` is missing from @tensorflow/tfjs-backend-wasm 4.x, so a conv layer
 *   cannot train there. For stride 1 the filter gradient is itself a convolution: of the input
 *   with batch and channel axes swapped ([Cin, H, W, N], padded as the forward pass was) by the
 *   output gradient taken as a filter ([outH, outW, N, Cout]), giving [Cin, kh, kw, Cout].
 *   Measured at 8×64×64, 32→32 channels: 47 ms, against 345 ms for k² shifted-slice matrix
 *   products (XNNPACK's transposed matmul is slow) and about 180 ms for one im2col matmul.
 * - `Conv2DBackpropInput` exists but is a slow scalar loop; for stride 1 it equals a
 *   convolution of dY with the filter rotated by 180° and its channel axes swapped, with the
 *   complementary padding, which runs on the fast Conv2D kernel.
 *
 * Strides, dilations or layouts other than stride 1 / NHWC are rejected with a clear error for
 * the filter gradient and handed to the original kernel for the input gradient. Our networks
 * downsample with average pooling (whose gradient the backend has) rather than strides.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

type Info = tf.TensorInfo;
interface RefBackend { incRef(dataId: object): void }
type Attrs = {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dilations?: number | [number, number];
};

/** Wraps a kernel input as a tensor without letting its disposal free the input's memory. */
function borrow(backend: RefBackend, info: Info): tf.Tensor {
  backend.incRef(info.dataId);
  return tf.engine().makeTensorFromTensorInfo(info);
}

/** Hands a tensor's data to the engine as a kernel output (the engine owns it afterwards). */
function handOver(backend: RefBackend, t: tf.Tensor): Info {
  backend.incRef(t.dataId);
  const info = { dataId: t.dataId, shape: t.shape.slice(), dtype: t.dtype };
  t.dispose();
  return info;
}

function stride1(a: Attrs): boolean {
  const s = a.strides, d = a.dilations ?? 1;
  const one = (v: number | [number, number]) => (typeof v === 'number' ? v === 1 : v[0] === 1 && v[1] === 1);
  return one(s) && one(d) && a.dataFormat !== 'NCHW';
}

/** The filter gradient of a stride-1 NHWC convolution (see the file comment). */
export function conv2dBackpropFilter(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number], pad: Attrs['pad'], dimRoundingMode?: Attrs['dimRoundingMode']): tf.Tensor4D {
  const info = tf.backend_util.computeConv2DInfo(x.shape, filterShape, 1, 1, pad, dimRoundingMode, false, 'channelsLast');
  const { top, bottom, left, right } = info.padInfo;
  return tf.tidy(() => {
    // Input channels become the batch and the batch becomes the channels: [Cin, H, W, N].
    const xt = tf.transpose(x, [3, 1, 2, 0]) as tf.Tensor4D;
    // The output gradient is the filter: [outH, outW, N, Cout].
    const dyt = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D;
    // A "valid" convolution of the padded input with it leaves [Cin, kh, kw, Cout].
    const r = tf.conv2d(xt, dyt, 1, [[0, 0], [top, bottom], [left, right], [0, 0]]);
    return tf.transpose(r, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/** The input gradient of a stride-1 NHWC convolution, as a convolution of dY. */
export function conv2dBackpropInput(dy: tf.Tensor4D, filter: tf.Tensor4D, inputShape: [number, number, number, number], pad: Attrs['pad'], dimRoundingMode?: Attrs['dimRoundingMode']): tf.Tensor4D {
  const [kh, kw] = filter.shape;
  const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape, 1, 1, pad, dimRoundingMode, false, 'channelsLast');
  const { top, bottom, left, right } = info.padInfo;
  return tf.tidy(() => {
    const rotated = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    const p: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [kh - 1 - top, kh - 1 - bottom], [kw - 1 - left, kw - 1 - right], [0, 0]];
    return tf.conv2d(dy, rotated, 1, p);
  });
}

/** The `Conv2DBackpropFilter` kernel for the wasm backend (registered by {@link registerWasmGradientKernels}). */
export const filterGradientKernel: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const a = attrs as unknown as Attrs & { filterShape: [number, number, number, number] };
    if (!stride1(a)) throw new Error('modelmark: the wasm Conv2DBackpropFilter kernel supports stride 1, dilation 1, NHWC only; downsample with pooling');
    const b = backend as unknown as RefBackend;
    const x = borrow(b, inputs.x as Info) as tf.Tensor4D, dy = borrow(b, inputs.dy as Info) as tf.Tensor4D;
    try {
      return handOver(b, conv2dBackpropFilter(x, dy, a.filterShape, a.pad, a.dimRoundingMode));
    } finally { x.dispose(); dy.dispose(); }
  },
};

let registered = false;

/**
 * Registers the two gradient kernels on the wasm backend (idempotent). Call after
 * `import '@tensorflow/tfjs-backend-wasm'` and before training.
 *
 * @example
 * import * as tf from '@tensorflow/tfjs';
 * import '@tensorflow/tfjs-backend-wasm';
 * registerWasmGradientKernels();
 * await tf.setBackend('wasm');
 */
export function registerWasmGradientKernels(): void {
  if (registered) return;
  registered = true;
  const original = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) tf.unregisterKernel('Conv2DBackpropFilter', 'wasm');
  tf.registerKernel(filterGradientKernel);
  if (original) tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
  tf.registerKernel({
    kernelName: 'Conv2DBackpropInput',
    backendName: 'wasm',
    // The original's setup binds its wasm function, which the stride > 1 fallback calls.
    ...(original?.setupFunc ? { setupFunc: original.setupFunc } : {}),
    kernelFunc: (args) => {
      const a = args.attrs as unknown as Attrs & { inputShape: [number, number, number, number] };
      if (!stride1(a)) {
        if (!original) throw new Error('modelmark: no Conv2DBackpropInput kernel for this stride on wasm');
        return original.kernelFunc(args);
      }
      const b = args.backend as unknown as RefBackend;
      const dy = borrow(b, args.inputs.dy as Info) as tf.Tensor4D, w = borrow(b, args.inputs.filter as Info) as tf.Tensor4D;
      try {
        return handOver(b, conv2dBackpropInput(dy, w, a.inputShape, a.pad, a.dimRoundingMode));
      } finally { dy.dispose(); w.dispose(); }
    },
  });
}
