/**
 * A tiny graph IR for building ONNX graphs in JS: values carry static shapes (the batch axis as
 * -1), nodes carry ONNX ops. Every builder method infers its output shape, so gradient rules can
 * read shapes at build time instead of computing them in the graph.
 * @module
 */
import { type Attr, type ElemType, encodeModel, floatTensor, type GraphData, int64Tensor, type NodeData, type TensorData } from './protobuf.js';

export type UnaryOp = 'Sqrt' | 'Relu' | 'Neg' | 'Identity' | 'Sigmoid' | 'Tanh' | 'Erf' | 'Exp' | 'Log' | 'Abs' | 'Softplus' | 'Elu' | 'Selu' | 'LeakyRelu';

export interface Value {
  readonly name: string;
  readonly type: ElemType;
  /** Static shape; -1 marks the (dynamic) batch axis. */
  readonly shape: readonly number[];
}

export interface Node {
  readonly op: string;
  readonly inputs: readonly Value[];
  readonly outputs: readonly Value[];
  readonly attrs: Readonly<Record<string, Attr>>;
  /** `<layer>/<op>_<n>` for a node a layer's lowering added, so tools (compress's report and guard) can name the layer. */
  readonly name?: string;
}

/** NumPy broadcasting of static shapes (the batch axis broadcasts like any other). */
function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`cannot broadcast [${a.join(', ')}] with [${b.join(', ')}]`);
    return da === 1 ? db : da;
  });
}

/** Output length of a window (kernel k, stride s, dilation d) over n padded by pads p0, p1. */
function windowLength(n: number, k: number, s: number, d: number, p0: number, p1: number): number {
  return Math.floor((n + p0 + p1 - ((k - 1) * d + 1)) / s) + 1;
}

export interface WindowAttrs {
  readonly kernel: readonly [number, number];
  readonly strides: readonly [number, number];
  readonly dilations: readonly [number, number];
  /** [top, left, bottom, right], ONNX order. */
  readonly pads: readonly [number, number, number, number];
}

function windowShape(x: readonly number[], w: WindowAttrs, channels: number): number[] {
  const [n, , h, wd] = x as [number, number, number, number];
  return [
    n,
    channels,
    windowLength(h, w.kernel[0], w.strides[0], w.dilations[0], w.pads[0], w.pads[2]),
    windowLength(wd, w.kernel[1], w.strides[1], w.dilations[1], w.pads[1], w.pads[3]),
  ];
}

/** `items` in at most `most` consecutive groups. */
function groups<T>(items: readonly T[], most: number): T[][] {
  const size = Math.ceil(items.length / most);
  return Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));
}

export class Graph {
  /**
   * @param maxParts the most tensors one Split or Concat node may give or take (default
   *   unlimited); more are split or joined in a tree of such nodes, which costs a copy per level.
   */
  constructor(readonly maxParts = Number.POSITIVE_INFINITY) {}

  readonly nodes: Node[] = [];
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  private counter = 0;
  /** The layer whose nodes are being added (see `within`). */
  private scope: string | undefined;

  private fresh(type: ElemType, shape: readonly number[]): Value {
    return { name: `v${this.counter++}`, type, shape: [...shape] };
  }

  /** Adds a node with outputs of the given types and shapes. */
  node(op: string, inputs: readonly Value[], outs: readonly { type: ElemType; shape: readonly number[] }[], attrs: Record<string, Attr> = {}): Value[] {
    const outputs = outs.map((o) => this.fresh(o.type, o.shape));
    this.nodes.push({ op, inputs, outputs, attrs, ...(this.scope !== undefined ? { name: `${this.scope}/${op}_${this.nodes.length}` } : {}) });
    return outputs;
  }

  /** Runs `build` with the nodes it adds named after `scope` (a layer's name). */
  within<T>(scope: string, build: () => T): T {
    const outer = this.scope;
    this.scope = scope;
    try {
      return build();
    } finally {
      this.scope = outer;
    }
  }

  private one(op: string, inputs: readonly Value[], type: ElemType, shape: readonly number[], attrs: Record<string, Attr> = {}): Value {
    return this.node(op, inputs, [{ type, shape }], attrs)[0] as Value;
  }

  input(name: string, type: ElemType, shape: readonly number[]): Value {
    const v: Value = { name, type, shape: [...shape] };
    this.inputs.push(v);
    return v;
  }

  /** Marks `v` as a graph output under `name`. */
  output(v: Value, name: string): void {
    const out: Value = { name, type: v.type, shape: v.shape };
    this.nodes.push({ op: 'Identity', inputs: [v], outputs: [out], attrs: {} });
    this.outputs.push(out);
  }

  constant(t: TensorData): Value {
    return this.one('Constant', [], t.type, t.dims, { value: { t } });
  }

  scalar(v: number): Value {
    return this.constant(floatTensor([v], []));
  }

  ints(values: readonly number[]): Value {
    return this.constant(int64Tensor(values));
  }

  binary(op: 'Add' | 'Sub' | 'Mul' | 'Div', a: Value, b: Value): Value {
    return this.one(op, [a, b], 'float', broadcastShape(a.shape, b.shape));
  }

  add(a: Value, b: Value): Value {
    return this.binary('Add', a, b);
  }

  sub(a: Value, b: Value): Value {
    return this.binary('Sub', a, b);
  }

  mul(a: Value, b: Value): Value {
    return this.binary('Mul', a, b);
  }

  div(a: Value, b: Value): Value {
    return this.binary('Div', a, b);
  }

  /** An elementwise op; `attrs` carry e.g. Elu's alpha. */
  unary(op: UnaryOp, x: Value, attrs: Record<string, Attr> = {}): Value {
    return this.one(op, [x], x.type, x.shape, attrs);
  }

  /** Elementwise `cond ? a : b`, broadcast to `shape`. */
  where(cond: Value, a: Value, b: Value): Value {
    return this.one('Where', [cond, a, b], 'float', broadcastShape(cond.shape, broadcastShape(a.shape, b.shape)));
  }

  /** x limited to [lo, hi]. */
  clip(x: Value, lo: number, hi: number): Value {
    return this.one('Clip', [x, this.scalar(lo), this.scalar(hi)], 'float', x.shape);
  }

  /** A bool mask of `a op b`, broadcast. */
  compare(op: 'Greater' | 'GreaterOrEqual' | 'LessOrEqual' | 'Equal', a: Value, b: Value): Value {
    return this.one(op, [a, b], 'bool', broadcastShape(a.shape, b.shape));
  }

  /** Elementwise logical and of two bool masks. */
  and(a: Value, b: Value): Value {
    return this.one('And', [a, b], 'bool', broadcastShape(a.shape, b.shape));
  }

  /** Any tensor as float32 (bools to 0/1). */
  toFloat(x: Value): Value {
    return this.one('Cast', [x], 'float', x.shape, { to: { i: 1 } });
  }

  /** Joins tensors along `axis` (their other axes equal), at most maxParts per Concat node. */
  concat(xs: readonly Value[], axis: number): Value {
    if (xs.length > this.maxParts) return this.concat(groups(xs, this.maxParts).map((group) => this.concat(group, axis)), axis);
    const first = xs[0] as Value;
    const shape = first.shape.map((d, i) => (i === axis ? xs.reduce((a, x) => a + (x.shape[i] as number), 0) : d));
    return this.one('Concat', xs, 'float', shape, { axis: { i: axis } });
  }

  /** Rows of `data` picked by int64 `indices`: shaped [...indices, ...data's other axes]. */
  gather(data: Value, indices: Value): Value {
    return this.one('Gather', [data, indices], data.type, [...indices.shape, ...data.shape.slice(1)], { axis: { i: 0 } });
  }

  /** Float values truncated to int64 (as tfjs casts token ids to int32). */
  toInt64(x: Value): Value {
    return this.one('Cast', [x], 'int64', x.shape, { to: { i: 7 } });
  }

  /** Splits `x` along `axis` into pieces of the given sizes, at most maxParts per Split node. */
  split(x: Value, axis: number, sizes: readonly number[]): Value[] {
    if (sizes.length > this.maxParts) {
      const parts = groups(sizes, this.maxParts);
      return this.split(x, axis, parts.map((group) => group.reduce((a, b) => a + b, 0))).flatMap((v, i) => this.split(v, axis, parts[i] as number[]));
    }
    const outs = sizes.map((k) => ({ type: x.type, shape: x.shape.map((d, i) => (i === axis ? k : d)) }));
    return this.node('Split', [x, this.ints(sizes)], outs, { axis: { i: axis } });
  }

  /** A bool mask of x > 0. */
  positive(x: Value): Value {
    return this.one('Greater', [x, this.scalar(0)], 'bool', x.shape);
  }

  /** Reshape to a static shape (at most one -1, the batch axis). */
  reshape(x: Value, shape: readonly number[]): Value {
    return this.one('Reshape', [x, this.ints(shape)], x.type, shape);
  }

  transpose(x: Value, perm: readonly number[]): Value {
    return this.one('Transpose', [x], x.type, perm.map((p) => x.shape[p] as number), { perm: { ints: perm } });
  }

  /** NumPy matmul: the last two axes multiplied, the leading (batch) axes broadcast. */
  matmul(a: Value, b: Value): Value {
    const batch = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
    return this.one('MatMul', [a, b], 'float', [...batch, a.shape[a.shape.length - 2] as number, b.shape[b.shape.length - 1] as number]);
  }

  /** a·b with either operand transposed (2-D only). */
  gemm(a: Value, b: Value, transA: boolean, transB: boolean): Value {
    const m = a.shape[transA ? 1 : 0] as number;
    const n = b.shape[transB ? 0 : 1] as number;
    return this.one('Gemm', [a, b], 'float', [m, n], { transA: { i: transA ? 1 : 0 }, transB: { i: transB ? 1 : 0 } });
  }

  /** NCHW convolution; `w` is [out, in, kh, kw]. */
  conv(x: Value, w: Value, b: Value | undefined, attrs: WindowAttrs): Value {
    return this.one('Conv', b === undefined ? [x, w] : [x, w, b], 'float', windowShape(x.shape, attrs, w.shape[0] as number), windowAttrs(attrs));
  }

  /** The max and the flat NCHW index of each window's maximum. */
  maxPool(x: Value, attrs: Omit<WindowAttrs, 'dilations'>): [Value, Value] {
    const shape = windowShape(x.shape, { ...attrs, dilations: [1, 1] }, x.shape[1] as number);
    const [y, idx] = this.node(
      'MaxPool',
      [x],
      [
        { type: 'float', shape },
        { type: 'int64', shape },
      ],
      { kernel_shape: { ints: attrs.kernel }, strides: { ints: attrs.strides }, pads: { ints: attrs.pads } },
    );
    return [y as Value, idx as Value];
  }

  /** The max of each window only (ONNX Runtime's fast path: no index bookkeeping). */
  maxPoolValues(x: Value, attrs: Omit<WindowAttrs, 'dilations'>): Value {
    const shape = windowShape(x.shape, { ...attrs, dilations: [1, 1] }, x.shape[1] as number);
    return this.one('MaxPool', [x], 'float', shape, { kernel_shape: { ints: attrs.kernel }, strides: { ints: attrs.strides }, pads: { ints: attrs.pads } });
  }

  /** Window means, padding excluded from the count (as TF's 'same' average pooling). */
  averagePool(x: Value, attrs: Omit<WindowAttrs, 'dilations'>): Value {
    const shape = windowShape(x.shape, { ...attrs, dilations: [1, 1] }, x.shape[1] as number);
    return this.one('AveragePool', [x], 'float', shape, { kernel_shape: { ints: attrs.kernel }, strides: { ints: attrs.strides }, pads: { ints: attrs.pads }, count_include_pad: { i: 0 } });
  }

  /** The maximum or mean over each channel's plane: [n, c, h, w] → [n, c, 1, 1]. */
  globalPool(op: 'GlobalMaxPool' | 'GlobalAveragePool', x: Value): Value {
    return this.one(op, [x], 'float', [x.shape[0] as number, x.shape[1] as number, 1, 1]);
  }

  reduceSum(x: Value, axes: readonly number[], keepdims: boolean): Value {
    const shape = keepdims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
    return this.one('ReduceSum', [x, this.ints(axes)], x.type, shape, { keepdims: { i: keepdims ? 1 : 0 } });
  }

  reduceMax(x: Value, axes: readonly number[], keepdims: boolean): Value {
    const shape = keepdims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
    return this.one('ReduceMax', [x, this.ints(axes)], x.type, shape, { keepdims: { i: keepdims ? 1 : 0 } });
  }

  /** Softmax along `axis` (the last by default). */
  softmax(x: Value, axis = -1): Value {
    return this.one('Softmax', [x], 'float', x.shape, { axis: { i: axis } });
  }

  /** Rows of 0/1 floats: onehot[i, c] = (labels[i] == c). */
  oneHot(labels: Value, classes: number): Value {
    const col = this.one('Unsqueeze', [labels, this.ints([1])], 'int64', [labels.shape[0] as number, 1]);
    const eq = this.one('Equal', [col, this.ints(Array.from({ length: classes }, (_, i) => i))], 'bool', [labels.shape[0] as number, classes]);
    return this.one('Cast', [eq], 'float', eq.shape, { to: { i: 1 } });
  }

  /** Number of rows with argmax(logits) == label, as a float scalar. */
  countCorrect(logits: Value, labels: Value): Value {
    const arg = this.one('ArgMax', [logits], 'int64', [logits.shape[0] as number], { axis: { i: 1 }, keepdims: { i: 0 } });
    const eq = this.one('Equal', [arg, labels], 'bool', arg.shape);
    const f = this.one('Cast', [eq], 'float', eq.shape, { to: { i: 1 } });
    return this.one('ReduceSum', [f], 'float', [], { keepdims: { i: 0 } });
  }

  /** Zeros shaped like `v` (whose batch axis is only known at run time). */
  zerosLike(v: Value): Value {
    const shape = this.one('Shape', [v], 'int64', [v.shape.length]);
    return this.one('ConstantOfShape', [shape], 'float', v.shape);
  }

  /** The batch size (x's first axis) as an int64 scalar. */
  batchCount(x: Value): Value {
    const shape = this.one('Shape', [x], 'int64', [x.shape.length]);
    return this.one('Gather', [shape, this.constant(int64Tensor([0], []))], 'int64', []);
  }

  /** The batch size as a float scalar. */
  batchSize(x: Value): Value {
    return this.one('Cast', [this.batchCount(x)], 'float', [], { to: { i: 1 } });
  }

  /** The ONNX graph; `initializers` bakes inputs of those names in as constants. */
  toModel(initializers: readonly TensorData[] = []): Uint8Array {
    const baked = new Set(initializers.map((t) => t.name));
    // An output's Identity would copy the value on every run (the new weights and optimizer state of
    // a training step are most of its memory traffic): the producing node writes the output instead.
    const computed = new Set(this.nodes.filter((n) => n.op !== 'Constant').flatMap((n) => n.outputs.map((v) => v.name)));
    const outputs = new Set(this.outputs);
    const renamed = new Map<string, string>();
    const copies = new Set<Node>();
    for (const n of this.nodes) {
      const [source, out] = [n.inputs[0], n.outputs[0]];
      if (n.op !== 'Identity' || out === undefined || !outputs.has(out) || source === undefined || !computed.has(source.name) || renamed.has(source.name)) continue;
      renamed.set(source.name, out.name);
      copies.add(n);
    }
    const name = (v: Value): string => renamed.get(v.name) ?? v.name;
    const nodes: NodeData[] = this.nodes.filter((n) => !copies.has(n)).map((n) => ({ op: n.op, inputs: n.inputs.map(name), outputs: n.outputs.map(name), attrs: n.attrs, ...(n.name !== undefined ? { name: n.name } : {}) }));
    const graph: GraphData = {
      nodes,
      inputs: this.inputs.filter((v) => !baked.has(v.name)),
      outputs: this.outputs,
      initializers,
    };
    return encodeModel(graph);
  }
}

export function windowAttrs(w: WindowAttrs): Record<string, Attr> {
  return { kernel_shape: { ints: w.kernel }, strides: { ints: w.strides }, dilations: { ints: w.dilations }, pads: { ints: w.pads } };
}
