/**
 * The deep watermark's networks as plain data: a list of nodes over named tensors. One
 * description drives the tfjs forward pass used for training (src/train/forward.ts) and the
 * ONNX export (src/train/onnx-export.ts), so the two cannot drift apart.
 *
 * Tensors are NHWC in tfjs and NCHW in ONNX; weights are stored in tfjs layout
 * (conv kernels HWIO, `[k, k, cin, cout]`) and transposed by the exporter.
 *
 * Only operations whose gradients run on tfjs's wasm backend are used: 3×3 / 1×1 stride-1
 * convolutions ('same' padding), 2×2 average pooling for downsampling (instead of strided
 * convolutions, whose filter gradient would need its own kernel), nearest 2× upsampling,
 * channel concatenation, addition and a scaled tanh.
 */

/** A node of a network. `x`/`xs` name inputs, `out` names the result. */
export type Node =
  | { op: 'conv'; x: string; out: string; k: 1 | 3; cin: number; cout: number; act: 'lrelu' | 'relu' | 'linear'; w: string; b: string }
  | { op: 'avgpool2'; x: string; out: string }
  | { op: 'up2'; x: string; out: string }
  | { op: 'concat'; xs: string[]; out: string }
  | { op: 'add'; xs: [string, string]; out: string }
  | { op: 'scaledTanh'; x: string; out: string; scale: number };

/** A network: named inputs (channel counts), nodes in execution order, named outputs. */
export interface NetSpec {
  name: string;
  inputs: { name: string; channels: number }[];
  nodes: Node[];
  outputs: string[];
  /** Spatial sizes must be multiples of this (two poolings: 4). */
  multiple: number;
}

/** Slope of the leaky ReLU used everywhere. */
export const LRELU_ALPHA = 0.2;

class Builder {
  nodes: Node[] = [];
  private n = 0;
  conv(x: string, cin: number, cout: number, act: 'lrelu' | 'relu' | 'linear' = 'lrelu', k: 1 | 3 = 3): string {
    const id = `c${this.n++}`;
    this.nodes.push({ op: 'conv', x, out: id, k, cin, cout, act, w: `${id}.w`, b: `${id}.b` });
    return id;
  }
  pool(x: string): string { const id = `p${this.n++}`; this.nodes.push({ op: 'avgpool2', x, out: id }); return id; }
  up(x: string): string { const id = `u${this.n++}`; this.nodes.push({ op: 'up2', x, out: id }); return id; }
  cat(...xs: string[]): string { const id = `k${this.n++}`; this.nodes.push({ op: 'concat', xs, out: id }); return id; }
  add(a: string, b: string): string { const id = `a${this.n++}`; this.nodes.push({ op: 'add', xs: [a, b], out: id }); return id; }
  tanh(x: string, scale: number): string { const id = `t${this.n++}`; this.nodes.push({ op: 'scaledTanh', x, out: id, scale }); return id; }
}

/** Widths of the embedder H. */
export interface HOptions { w1?: number; w2?: number; w3?: number; residualScale?: number }

/**
 * H, the embedder: a small U-Net. Inputs `image` (3 channels, [0, 1]) and `logo` (1 channel,
 * the logo upsampled to the tile size and tiled); output `residual` (3 channels), which the
 * caller adds to the image. Three levels (full, 1/2, 1/4) with skip connections.
 */
export function buildH(o: HOptions = {}): NetSpec {
  const w1 = o.w1 ?? 16, w2 = o.w2 ?? 32, w3 = o.w3 ?? 32, s = o.residualScale ?? 0.1;
  const b = new Builder();
  const x = b.cat('image', 'logo');
  const e1 = b.conv(b.conv(x, 4, w1), w1, w1);
  const e2 = b.conv(b.pool(e1), w1, w2);
  const e3 = b.conv(b.conv(b.pool(e2), w2, w3), w3, w3);
  const d2 = b.conv(b.cat(b.up(e3), e2), w3 + w2, w2);
  const d1 = b.conv(b.cat(b.up(d2), e1), w2 + w1, w1);
  const r = b.tanh(b.conv(d1, w1, 3, 'linear'), s);
  return { name: 'H', inputs: [{ name: 'image', channels: 3 }, { name: 'logo', channels: 1 }], nodes: rename(b.nodes, r, 'residual'), outputs: ['residual'], multiple: 4 };
}

/** Widths of the extractor R. */
export interface ROptions { w1?: number; w2?: number; blocks?: number }

/**
 * R, the extractor: one convolution at full size, a 2×2 pooling, then residual blocks at half
 * size and a linear 1-channel head. A 64×64 tile gives a 32×32 logo. Output `logo`: the logo
 * mapped to [-1, 1] on marked images, 0 (blank) on clean ones.
 */
export function buildR(o: ROptions = {}): NetSpec {
  const w1 = o.w1 ?? 16, w2 = o.w2 ?? 32, blocks = o.blocks ?? 2;
  const b = new Builder();
  let h = b.conv(b.pool(b.conv('image', 3, w1)), w1, w2);
  for (let i = 0; i < blocks; i++) h = b.add(h, b.conv(b.conv(h, w2, w2), w2, w2, 'linear'));
  const y = b.conv(b.conv(h, w2, w2), w2, 1, 'linear');
  return { name: 'R', inputs: [{ name: 'image', channels: 3 }], nodes: rename(b.nodes, y, 'logo'), outputs: ['logo'], multiple: 2 };
}

/** D, a small PatchGAN discriminator: one logit per 4×4 patch (training only). */
export function buildD(): NetSpec {
  const b = new Builder();
  const h = b.conv(b.pool(b.conv(b.pool(b.conv('image', 3, 16)), 16, 32)), 32, 32);
  const y = b.conv(h, 32, 1, 'linear', 1);
  return { name: 'D', inputs: [{ name: 'image', channels: 3 }], nodes: rename(b.nodes, y, 'logit'), outputs: ['logit'], multiple: 4 };
}

function rename(nodes: Node[], from: string, to: string): Node[] {
  return nodes.map((n) => {
    const m = { ...n } as Node & { x?: string; xs?: string[] };
    if (m.out === from) m.out = to;
    if (m.x === from) m.x = to;
    if (m.xs) m.xs = m.xs.map((v) => (v === from ? to : v)) as never;
    return m as Node;
  });
}

/** Names and shapes of every parameter of a network, in node order. */
export function parameterShapes(spec: NetSpec): { name: string; shape: number[] }[] {
  const out: { name: string; shape: number[] }[] = [];
  for (const n of spec.nodes) {
    if (n.op !== 'conv') continue;
    out.push({ name: n.w, shape: [n.k, n.k, n.cin, n.cout] }, { name: n.b, shape: [n.cout] });
  }
  return out;
}

/**
 * The logo map H takes: the logo (logoSize², values in [0, 1]) nearest-upsampled to the tile and
 * repeated over size × size. The runner and the training build it here, so they cannot differ.
 */
export function logoMap(logo: ArrayLike<number>, logoSize: number, tile: number, size: number): Float32Array {
  const f = tile / logoSize;
  const map = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    const ly = Math.floor((y % tile) / f) * logoSize;
    for (let x = 0; x < size; x++) map[y * size + x] = logo[ly + Math.floor((x % tile) / f)]!;
  }
  return map;
}

/** Weights of a network: parameter name to float data (shapes from {@link parameterShapes}). */
export type Weights = Record<string, Float32Array>;
