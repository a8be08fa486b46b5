/**
 * Reverse-mode differentiation over the graph IR: a table of gradient rules, one per op, each
 * written with ordinary ONNX ops (so ONNX Runtime runs forward and backward in one session); the
 * window ops' tuned rules are in window-gradients.ts. Only values that depend on the `wrt` values
 * get gradients, so e.g. the first Conv computes no input gradient.
 * @module
 */
import { EcomlError } from '../../errors.js';
import type { Graph, Node, Value } from './graph.js';
import { floatTensor, type TensorData } from './protobuf.js';
import { averagePoolGradient, convGradient, maxPoolGradient } from './window-gradients.js';

/** How gradients are built where a choice depends on the execution provider. */
export interface GradientOptions {
  /**
   * Conv input gradients as a MatMul and Col2Im (default true) rather than one ConvTranspose:
   * ONNX Runtime's CPU ConvTranspose runs on one thread, that MatMul on all of them (+7% on the
   * 2-conv CNN's step at 2 threads). Its GPU providers have no Col2Im.
   */
  readonly col2Im?: boolean;
}

/** One op's gradient rule: its inputs' gradients from its outputs' (`dy`), for the inputs that `wants` says need one. */
export type Rule = (g: Graph, node: Node, dy: readonly (Value | undefined)[], wants: (i: number) => boolean, options: GradientOptions) => (Value | undefined)[];

/** Sums `dy` down to `shape` (undoing NumPy broadcasting). */
function unbroadcast(g: Graph, dy: Value, shape: readonly number[]): Value {
  if (dy.shape.length === shape.length && dy.shape.every((d, i) => d === shape[i])) return dy;
  const lead = dy.shape.length - shape.length;
  const axes = dy.shape.flatMap((d, i) => (i < lead || (shape[i - lead] === 1 && d !== 1) ? [i] : []));
  const summed = axes.length > 0 ? g.reduceSum(dy, axes, true) : dy;
  return g.reshape(summed, shape);
}

function floatAttr(node: Node, name: string): number {
  return (node.attrs[name] as { f: number }).f;
}

/** The values of an int64 Constant (e.g. ReduceSum's axes), read at build time. */
function constantInts(g: Graph, v: Value): number[] {
  const t = g.nodes.find((n) => n.op === 'Constant' && n.outputs[0]?.name === v.name)?.attrs.value as { t: TensorData } | undefined;
  if (t === undefined) throw new EcomlError('E_INTERNAL', `${v.name} is not a constant`, { details: { value: v.name } });
  return Array.from(new BigInt64Array(t.t.raw.slice().buffer), Number);
}

function inputs2(node: Node): [Value, Value] {
  return [node.inputs[0] as Value, node.inputs[1] as Value];
}

/** 2-D products as Gemms with a transposed operand; batched products as MatMuls. */
const matmulGradient: Rule = (g, n, [dy], wants) => {
  const [a, b] = inputs2(n);
  const d = dy as Value;
  if (a.shape.length === 2 && b.shape.length === 2) return [wants(0) ? g.gemm(d, b, false, true) : undefined, wants(1) ? g.gemm(a, d, true, false) : undefined];
  if (b.shape.length === 2) {
    // A sequence times a kernel: every position is one more row of a 2-D product.
    const [k, units] = b.shape as [number, number];
    const rows = g.reshape(d, [-1, units]);
    return [wants(0) ? g.reshape(g.gemm(rows, b, false, true), a.shape) : undefined, wants(1) ? g.gemm(g.reshape(a, [-1, k]), rows, true, false) : undefined];
  }
  // Batched products over equal leading axes: each operand's gradient pairs dy with the other, its last two axes swapped.
  const swap = (v: Value): Value => {
    const r = v.shape.length;
    return g.transpose(v, [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2]);
  };
  return [wants(0) ? g.matmul(d, swap(b)) : undefined, wants(1) ? g.matmul(swap(a), d) : undefined];
};

const RULES: Readonly<Record<string, Rule>> = {
  // Arithmetic, dy summed back over broadcast axes.
  Identity: (_g, _n, [dy]) => [dy],
  Add: (g, n, [dy], wants) => {
    const [a, b] = inputs2(n);
    return [wants(0) ? unbroadcast(g, dy as Value, a.shape) : undefined, wants(1) ? unbroadcast(g, dy as Value, b.shape) : undefined];
  },
  Sub: (g, n, [dy], wants) => {
    const [a, b] = inputs2(n);
    return [wants(0) ? unbroadcast(g, dy as Value, a.shape) : undefined, wants(1) ? unbroadcast(g, g.unary('Neg', dy as Value), b.shape) : undefined];
  },
  Mul: (g, n, [dy], wants) => {
    const [a, b] = inputs2(n);
    return [wants(0) ? unbroadcast(g, g.mul(dy as Value, b), a.shape) : undefined, wants(1) ? unbroadcast(g, g.mul(dy as Value, a), b.shape) : undefined];
  },
  Div: (g, n, [dy], wants) => {
    const [a, b] = inputs2(n);
    const y = n.outputs[0] as Value;
    // d(a/b)/db = −(a/b)/b
    return [
      wants(0) ? unbroadcast(g, g.div(dy as Value, b), a.shape) : undefined,
      wants(1) ? unbroadcast(g, g.unary('Neg', g.div(g.mul(dy as Value, y), b)), b.shape) : undefined,
    ];
  },
  Neg: (g, _n, [dy]) => [g.unary('Neg', dy as Value)],
  // Elementwise functions.
  Sqrt: (g, n, [dy]) => [g.div(g.mul(dy as Value, g.scalar(0.5)), n.outputs[0] as Value)],
  Relu: (g, n, [dy]) => [g.where(g.positive(n.inputs[0] as Value), dy as Value, g.scalar(0))],
  LeakyRelu: (g, n, [dy]) => [g.where(g.positive(n.inputs[0] as Value), dy as Value, g.mul(dy as Value, g.scalar(floatAttr(n, 'alpha'))))],
  // For x ≤ 0, y = α(eˣ − 1), so dy/dx = y + α.
  Elu: (g, n, [dy]) => {
    const d = dy as Value;
    return [g.where(g.positive(n.inputs[0] as Value), d, g.mul(d, g.add(n.outputs[0] as Value, g.scalar(floatAttr(n, 'alpha')))))];
  },
  // For x ≤ 0, y = γα(eˣ − 1), so dy/dx = y + γα.
  Selu: (g, n, [dy]) => {
    const d = dy as Value;
    const gamma = floatAttr(n, 'gamma');
    const slope = g.add(n.outputs[0] as Value, g.scalar(gamma * floatAttr(n, 'alpha')));
    return [g.where(g.positive(n.inputs[0] as Value), g.mul(d, g.scalar(gamma)), g.mul(d, slope))];
  },
  Sigmoid: (g, n, [dy]) => {
    const y = n.outputs[0] as Value;
    return [g.mul(dy as Value, g.mul(y, g.sub(g.scalar(1), y)))];
  },
  Tanh: (g, n, [dy]) => {
    const y = n.outputs[0] as Value;
    return [g.mul(dy as Value, g.sub(g.scalar(1), g.mul(y, y)))];
  },
  Exp: (g, n, [dy]) => [g.mul(dy as Value, n.outputs[0] as Value)],
  Log: (g, n, [dy]) => [g.div(dy as Value, n.inputs[0] as Value)],
  // As tfjs: slope 1 for x > 0 and −1 otherwise, at 0 too (where a logit of p = ½ lands exactly).
  Abs: (g, n, [dy]) => [g.where(g.positive(n.inputs[0] as Value), dy as Value, g.unary('Neg', dy as Value))],
  // As tfjs: dy passes where lo ≤ x ≤ hi, bounds included.
  Clip: (g, n, [dy]) => {
    const [x, lo, hi] = n.inputs as [Value, Value, Value];
    return [g.where(g.and(g.compare('GreaterOrEqual', x, lo), g.compare('LessOrEqual', x, hi)), dy as Value, g.scalar(0)), undefined, undefined];
  },
  Softplus: (g, n, [dy]) => [g.mul(dy as Value, g.unary('Sigmoid', n.inputs[0] as Value))],
  // d erf(x)/dx = 2/√π · exp(−x²)
  Erf: (g, n, [dy]) => {
    const x = n.inputs[0] as Value;
    return [g.mul(dy as Value, g.mul(g.scalar(2 / Math.sqrt(Math.PI)), g.unary('Exp', g.unary('Neg', g.mul(x, x)))))];
  },
  // Along its axis: y · (dy − Σ dy·y).
  Softmax: (g, n, [dy]) => {
    const y = n.outputs[0] as Value;
    const d = dy as Value;
    const axis = (n.attrs.axis as { i: number }).i;
    return [g.mul(y, g.sub(d, g.reduceSum(g.mul(d, y), [axis < 0 ? y.shape.length + axis : axis], true)))];
  },
  // Reductions.
  // Every summed element gets dy: restore the reduced axes as 1s, then broadcast back.
  ReduceSum: (g, n, [dy]) => {
    const x = n.inputs[0] as Value;
    const reduced = constantInts(g, n.inputs[1] as Value);
    const kept = g.reshape(dy as Value, x.shape.map((d, i) => (reduced.includes(i) ? 1 : d)));
    const shape = g.node('Shape', [x], [{ type: 'int64', shape: [x.shape.length] }])[0] as Value;
    return [g.node('Expand', [kept, shape], [{ type: 'float', shape: x.shape }])[0], undefined];
  },
  // As GlobalMaxPool: dy goes to every element equal to the maximum it was reduced to.
  ReduceMax: (g, n, [dy]) => {
    const [x, y] = [n.inputs[0] as Value, n.outputs[0] as Value];
    const axes = constantInts(g, n.inputs[1] as Value);
    const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    return [g.where(g.compare('Equal', x, g.reshape(y, kept)), g.reshape(dy as Value, kept), g.scalar(0))];
  },
  // dy goes to every element equal to its plane's maximum (ties share it, as in tfjs).
  GlobalMaxPool: (g, n, [dy]) => {
    const [x, y] = [n.inputs[0] as Value, n.outputs[0] as Value];
    const isMax = g.node('Equal', [x, y], [{ type: 'bool', shape: x.shape }])[0] as Value;
    return [g.where(isMax, dy as Value, g.scalar(0))];
  },
  GlobalAveragePool: (g, n, [dy]) => {
    const [, , h, w] = (n.inputs[0] as Value).shape as [number, number, number, number];
    return [g.mul(dy as Value, g.constant(floatTensor(new Array<number>(h * w).fill(1 / (h * w)), [h, w])))];
  },
  // Shapes and lookups.
  Reshape: (g, n, [dy]) => [g.reshape(dy as Value, (n.inputs[0] as Value).shape)],
  Transpose: (g, n, [dy]) => {
    const perm = (n.attrs.perm as { ints: readonly number[] }).ints;
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return [g.transpose(dy as Value, inverse)];
  },
  // The pieces' gradients side by side; a piece nothing used (e.g. the forget gate at the first
  // step, where the carry is 0) contributes zeros.
  Split: (g, n, dys) => {
    const axis = (n.attrs.axis as { i: number }).i;
    const parts = n.outputs.map((o, k) => dys[k] ?? g.zerosLike(o));
    return [g.concat(parts, axis), undefined];
  },
  Concat: (g, n, [dy], wants) => {
    const axis = (n.attrs.axis as { i: number }).i;
    const parts = g.split(dy as Value, axis, n.inputs.map((x) => x.shape[axis] as number));
    return parts.map((p, k) => (wants(k) ? p : undefined));
  },
  // Rows along axis 0 (as Graph.gather builds it): scatter-add dy into zero rows, repeated indices summing.
  Gather: (g, n, [dy]) => {
    const [data, indices] = inputs2(n);
    const zeros = g.node('ConstantOfShape', [g.ints(data.shape)], [{ type: 'float', shape: data.shape }])[0] as Value;
    const at = g.reshape(indices, [...indices.shape, 1]);
    return [g.node('ScatterND', [zeros, at, dy as Value], [{ type: 'float', shape: data.shape }], { reduction: { s: 'add' } })[0], undefined];
  },
  // Products, and the window ops (their rules in window-gradients.ts).
  MatMul: matmulGradient,
  Conv: convGradient,
  MaxPool: maxPoolGradient,
  AveragePool: averagePoolGradient,
};

/** Ops with a gradient rule. */
export const DIFFERENTIABLE_OPS: readonly string[] = Object.keys(RULES);

/**
 * Appends to `g` the gradient of `loss` with respect to each of `wrt`, in order: for a scalar
 * loss by default, else the vector-Jacobian product with `seed` (shaped like `loss`).
 * A value of `wrt` the loss does not depend on gets `undefined`.
 */
export function gradients(g: Graph, loss: Value, wrt: readonly Value[], seed?: Value, options: GradientOptions = {}): (Value | undefined)[] {
  const forward = [...g.nodes];
  // Which values depend on a wrt value: only they need gradients.
  const live = new Set(wrt.map((v) => v.name));
  for (const node of forward) if (node.inputs.some((v) => live.has(v.name))) for (const o of node.outputs) live.add(o.name);
  const grads = new Map<string, Value>([[loss.name, seed ?? g.constant(floatTensor([1], []))]]);
  for (let i = forward.length - 1; i >= 0; i--) {
    const node = forward[i] as Node;
    const dys = node.outputs.map((o) => grads.get(o.name));
    if (dys.every((d) => d === undefined) || !node.inputs.some((v) => live.has(v.name))) continue;
    const rule = RULES[node.op];
    if (rule === undefined) throw new EcomlError('E_INTERNAL', `no gradient rule for ONNX op ${node.op}`, { details: { op: node.op } });
    const dxs = rule(g, node, dys, (k) => live.has((node.inputs[k] as Value).name), options);
    dxs.forEach((dx, k) => {
      const x = node.inputs[k] as Value;
      if (dx === undefined || !live.has(x.name)) return;
      const prev = grads.get(x.name);
      grads.set(x.name, prev === undefined ? dx : g.add(prev, dx));
    });
  }
  return wrt.map((v) => grads.get(v.name));
}
