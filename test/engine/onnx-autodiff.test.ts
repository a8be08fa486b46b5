import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { DIFFERENTIABLE_OPS, type GradientOptions, gradients } from '../../src/engine/onnx/autodiff.js';
import { Graph, type Value } from '../../src/engine/onnx/graph.js';
import { distillationLoss, LOSSES } from '../../src/engine/onnx/losses.js';
import { decodeInitializers, floatTensor, int64Tensor } from '../../src/engine/onnx/protobuf.js';

/** Deterministic values in [-1, 1), kept at least `gap` away from 0 (off Relu's kink). */
function values(seed: number, n: number, gap = 0): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const v = ((s >>> 0) / 2 ** 32) * 2 - 1;
    return Math.abs(v) < gap ? (v < 0 ? -gap : gap) : v;
  });
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

interface Case {
  readonly name: string;
  readonly op: string;
  readonly shapes: readonly number[][];
  readonly build: (g: Graph, inputs: Value[]) => Value;
  /** Maps raw values in [-1, 1) to the op's domain (e.g. positive for Sqrt). */
  readonly domain?: (v: number) => number;
  readonly options?: GradientOptions;
}

/**
 * Checks an op's gradient rule along two random directions u: ⟨dy, J·u⟩ from central differences
 * of the forward graph against Σ⟨∂, u⟩ from the rule, all run by ONNX Runtime in float32.
 */
async function checkRule(c: Case): Promise<void> {
  const g = new Graph();
  const inputs = c.shapes.map((s, i) => g.input(`in${i}`, 'float', s));
  const y = c.build(g, inputs);
  const dy = g.input('dy', 'float', y.shape);
  g.output(y, 'y');
  const grads = gradients(g, y, inputs, dy, c.options);
  grads.forEach((d, i) => g.output(d as Value, `d${i}`));
  const session = await ort.InferenceSession.create(g.toModel());
  const base = c.shapes.map((s, i) => values(11 + i, size(s), 0.05).map((v) => (c.domain ?? ((u) => u))(v)));
  const dyValues = values(99, size(y.shape));
  const run = async (xs: Float32Array[]): Promise<ort.InferenceSession.OnnxValueMapType> => {
    const feeds: Record<string, ort.Tensor> = { dy: new ort.Tensor('float32', dyValues, [...y.shape]) };
    xs.forEach((x, i) => (feeds[`in${i}`] = new ort.Tensor('float32', x, c.shapes[i] as number[])));
    return session.run(feeds);
  };
  const out = await run(base);
  for (const dir of [1, 2]) {
    const u = c.shapes.map((s, i) => values(1000 * dir + i, size(s)));
    let analytic = 0;
    u.forEach((ui, i) => {
      const d = out[`d${i}`]?.data as Float32Array;
      ui.forEach((v, k) => (analytic += v * (d[k] as number)));
    });
    const eps = 1e-3;
    const shifted = async (sign: number): Promise<number> => {
      const r = await run(base.map((b, i) => b.map((v, k) => v + sign * eps * ((u[i] as Float32Array)[k] as number))));
      const yv = r.y?.data as Float32Array;
      let dot = 0;
      yv.forEach((v, k) => (dot += v * (dyValues[k] as number)));
      return dot;
    };
    const numeric = ((await shifted(1)) - (await shifted(-1))) / (2 * eps);
    expect(Math.abs(analytic - numeric)).toBeLessThan(2e-3 * Math.max(1, Math.abs(numeric)));
  }
  await session.release();
}

const window = (k: number, s: number, d: number, pads: [number, number, number, number]) =>
  ({ kernel: [k, k], strides: [s, s], dilations: [d, d], pads }) as const;

const ruleCases: Case[] = [
  { name: 'Identity', op: 'Identity', shapes: [[3, 2]], build: (g, [a]) => g.unary('Identity', a as Value) },
  { name: 'Add, broadcast', op: 'Add', shapes: [[2, 3], [3]], build: (g, [a, b]) => g.add(a as Value, b as Value) },
  { name: 'Sub, broadcast', op: 'Sub', shapes: [[3], [2, 3]], build: (g, [a, b]) => g.sub(a as Value, b as Value) },
  { name: 'Mul, broadcast', op: 'Mul', shapes: [[2, 3, 4], [3, 1]], build: (g, [a, b]) => g.mul(a as Value, b as Value) },
  { name: 'Div', op: 'Div', shapes: [[2, 3], [2, 3]], build: (g, [a, b]) => g.div(a as Value, b as Value), domain: (v) => v + Math.sign(v) },
  { name: 'Neg', op: 'Neg', shapes: [[4]], build: (g, [a]) => g.unary('Neg', a as Value) },
  { name: 'Sqrt', op: 'Sqrt', shapes: [[5]], build: (g, [a]) => g.unary('Sqrt', a as Value), domain: (v) => Math.abs(v) + 0.5 },
  { name: 'Relu', op: 'Relu', shapes: [[3, 4]], build: (g, [a]) => g.unary('Relu', a as Value) },
  { name: 'Sigmoid', op: 'Sigmoid', shapes: [[3, 4]], build: (g, [a]) => g.unary('Sigmoid', a as Value) },
  { name: 'Tanh', op: 'Tanh', shapes: [[3, 4]], build: (g, [a]) => g.unary('Tanh', a as Value) },
  { name: 'Exp', op: 'Exp', shapes: [[3, 4]], build: (g, [a]) => g.unary('Exp', a as Value) },
  { name: 'Log', op: 'Log', shapes: [[3, 4]], build: (g, [a]) => g.unary('Log', a as Value), domain: (v) => Math.abs(v) + 0.5 },
  { name: 'Abs', op: 'Abs', shapes: [[3, 4]], build: (g, [a]) => g.unary('Abs', a as Value) },
  // Values sit at least 0.05 from the bounds, off the kinks.
  { name: 'Clip', op: 'Clip', shapes: [[3, 4]], build: (g, [a]) => g.clip(a as Value, -0.5, 0.5), domain: (v) => (Math.abs(Math.abs(v) - 0.5) < 0.05 ? v * 0.8 : v) },
  { name: 'Softmax', op: 'Softmax', shapes: [[3, 4]], build: (g, [a]) => g.softmax(a as Value) },
  { name: 'Softmax along axis 1 (NCHW channels)', op: 'Softmax', shapes: [[2, 3, 2, 2]], build: (g, [a]) => g.softmax(a as Value, 1) },
  { name: 'Softplus', op: 'Softplus', shapes: [[3, 4]], build: (g, [a]) => g.unary('Softplus', a as Value) },
  { name: 'Erf', op: 'Erf', shapes: [[3, 4]], build: (g, [a]) => g.unary('Erf', a as Value) },
  { name: 'Elu', op: 'Elu', shapes: [[3, 4]], build: (g, [a]) => g.unary('Elu', a as Value, { alpha: { f: 0.7 } }) },
  { name: 'Selu', op: 'Selu', shapes: [[3, 4]], build: (g, [a]) => g.unary('Selu', a as Value, { alpha: { f: 1.6733 }, gamma: { f: 1.0507 } }) },
  { name: 'LeakyRelu', op: 'LeakyRelu', shapes: [[3, 4]], build: (g, [a]) => g.unary('LeakyRelu', a as Value, { alpha: { f: 0.2 } }) },
  { name: 'Reshape', op: 'Reshape', shapes: [[2, 6]], build: (g, [a]) => g.reshape(a as Value, [3, 4]) },
  { name: 'Transpose', op: 'Transpose', shapes: [[2, 3, 4]], build: (g, [a]) => g.transpose(a as Value, [2, 0, 1]) },
  { name: 'ReduceSum, keepdims', op: 'ReduceSum', shapes: [[2, 3, 4, 2]], build: (g, [a]) => g.reduceSum(a as Value, [0, 2, 3], true) },
  { name: 'ReduceSum, axes dropped', op: 'ReduceSum', shapes: [[3, 4]], build: (g, [a]) => g.reduceSum(a as Value, [0], false) },
  {
    // The graph compile.ts builds for training-mode batch normalization, through every rule it uses.
    name: 'batch normalization (batch statistics)',
    op: 'ReduceSum',
    shapes: [[4, 3], [3], [3]],
    build: (g, [x, gamma, beta]) => {
      const [xv, count] = [x as Value, g.scalar(4)];
      const mean = g.div(g.reduceSum(xv, [0], true), count);
      const centered = g.sub(xv, mean);
      const variance = g.div(g.reduceSum(g.mul(centered, centered), [0], true), count);
      return g.add(g.mul(g.div(centered, g.unary('Sqrt', g.add(variance, g.scalar(1e-3)))), gamma as Value), beta as Value);
    },
  },
  {
    name: 'Gather, repeated rows',
    op: 'Gather',
    shapes: [[4, 3]],
    build: (g, [a]) => g.gather(a as Value, g.constant(int64Tensor([0, 2, 2, 3, 0, 2], [2, 3]))),
  },
  { name: 'Split, uneven', op: 'Split', shapes: [[2, 5]], build: (g, [a]) => g.concat(g.split(a as Value, 1, [2, 3]).reverse(), 1) },
  {
    name: 'Split, one piece unused',
    op: 'Split',
    shapes: [[3, 2, 4]],
    build: (g, [a]) => {
      const [first, , last] = g.split(a as Value, 2, [1, 2, 1]);
      return g.mul(first as Value, last as Value);
    },
  },
  { name: 'Concat', op: 'Concat', shapes: [[2, 1, 3], [2, 2, 3]], build: (g, [a, b]) => g.concat([b as Value, a as Value, b as Value], 1) },
  { name: 'MatMul', op: 'MatMul', shapes: [[3, 4], [4, 2]], build: (g, [a, b]) => g.matmul(a as Value, b as Value) },
  { name: 'MatMul, sequence times kernel', op: 'MatMul', shapes: [[2, 3, 4], [4, 5]], build: (g, [a, b]) => g.matmul(a as Value, b as Value) },
  { name: 'MatMul, batched (attention heads)', op: 'MatMul', shapes: [[2, 3, 4, 2], [2, 3, 2, 4]], build: (g, [a, b]) => g.matmul(a as Value, b as Value) },
  { name: 'Softmax, last axis of rank 4', op: 'Softmax', shapes: [[2, 2, 3, 4]], build: (g, [a]) => g.softmax(a as Value) },
  { name: 'ReduceMax, axis dropped', op: 'ReduceMax', shapes: [[2, 5, 3]], build: (g, [a]) => g.reduceMax(a as Value, [1], false) },
  { name: 'ReduceMax, keepdims', op: 'ReduceMax', shapes: [[3, 4]], build: (g, [a]) => g.reduceMax(a as Value, [0], true) },
  {
    name: 'Conv, valid, bias',
    op: 'Conv',
    shapes: [[2, 2, 5, 5], [3, 2, 3, 3], [3]],
    build: (g, [x, w, b]) => g.conv(x as Value, w as Value, b, window(3, 1, 1, [0, 0, 0, 0])),
  },
  {
    name: 'Conv, strided, same (uneven pads)',
    op: 'Conv',
    shapes: [[2, 2, 6, 6], [2, 2, 3, 3]],
    build: (g, [x, w]) => g.conv(x as Value, w as Value, undefined, window(3, 2, 1, [0, 0, 1, 1])),
  },
  {
    name: 'Conv, strided, valid, skipped rows',
    op: 'Conv',
    shapes: [[1, 2, 6, 6], [2, 2, 2, 2]],
    build: (g, [x, w]) => g.conv(x as Value, w as Value, undefined, window(2, 3, 1, [0, 0, 0, 0])),
  },
  {
    name: 'Conv, same, even kernel (uneven pads)',
    op: 'Conv',
    shapes: [[2, 3, 5, 4], [2, 3, 2, 2], [2]],
    build: (g, [x, w, b]) => g.conv(x as Value, w as Value, b, window(2, 1, 1, [0, 0, 1, 1])),
  },
  {
    name: 'Conv, dilated',
    op: 'Conv',
    shapes: [[2, 1, 7, 7], [2, 1, 2, 2]],
    build: (g, [x, w]) => g.conv(x as Value, w as Value, undefined, window(2, 1, 2, [0, 0, 0, 0])),
  },
  // Several input channels take another filter-gradient path (gathered patches) than one does.
  {
    name: 'Conv, dilated, strided, padded, 3 input channels',
    op: 'Conv',
    shapes: [[2, 3, 8, 7], [2, 3, 2, 2]],
    build: (g, [x, w]) => g.conv(x as Value, w as Value, undefined, { kernel: [2, 2], strides: [2, 1], dilations: [2, 2], pads: [1, 0, 1, 1] }),
  },
  { name: 'MaxPool 2×2', op: 'MaxPool', shapes: [[2, 3, 4, 4]], build: (g, [x]) => g.maxPool(x as Value, window(2, 2, 1, [0, 0, 0, 0]))[0] },
  { name: 'MaxPool 2×2, last row and column uncovered', op: 'MaxPool', shapes: [[2, 2, 5, 5]], build: (g, [x]) => g.maxPool(x as Value, window(2, 2, 1, [0, 0, 0, 0]))[0] },
  {
    name: 'MaxPool 3×3 stride 2, same (overlapping)',
    op: 'MaxPool',
    shapes: [[2, 2, 5, 5]],
    build: (g, [x]) => g.maxPool(x as Value, window(3, 2, 1, [1, 1, 1, 1]))[0],
  },
  // Without the indices output (as on WebGPU) the rule finds each window's maximum again.
  { name: 'MaxPool 2×2, no indices', op: 'MaxPool', shapes: [[2, 3, 4, 4]], build: (g, [x]) => g.maxPoolValues(x as Value, window(2, 2, 1, [0, 0, 0, 0])) },
  { name: 'MaxPool 2×2 stride 3, no indices, skipped rows', op: 'MaxPool', shapes: [[1, 2, 6, 6]], build: (g, [x]) => g.maxPoolValues(x as Value, window(2, 3, 1, [0, 0, 0, 0])) },
  {
    name: 'MaxPool 3×3 stride 2, same, no indices (overlapping, padded)',
    op: 'MaxPool',
    shapes: [[2, 2, 6, 6]],
    build: (g, [x]) => g.maxPoolValues(x as Value, window(3, 2, 1, [0, 0, 1, 1])),
  },
  { name: 'AveragePool 2×2', op: 'AveragePool', shapes: [[2, 3, 4, 4]], build: (g, [x]) => g.averagePool(x as Value, window(2, 2, 1, [0, 0, 0, 0])) },
  {
    name: 'AveragePool 3×3 stride 2, same (uneven pads, padding not counted)',
    op: 'AveragePool',
    shapes: [[2, 2, 6, 6]],
    build: (g, [x]) => g.averagePool(x as Value, window(3, 2, 1, [0, 0, 1, 1])),
  },
  {
    name: 'AveragePool 2×2 stride 3, valid, skipped rows',
    op: 'AveragePool',
    shapes: [[1, 2, 6, 6]],
    build: (g, [x]) => g.averagePool(x as Value, window(2, 3, 1, [0, 0, 0, 0])),
  },
  { name: 'GlobalMaxPool', op: 'GlobalMaxPool', shapes: [[2, 3, 4, 5]], build: (g, [x]) => g.globalPool('GlobalMaxPool', x as Value) },
  { name: 'GlobalAveragePool', op: 'GlobalAveragePool', shapes: [[2, 3, 4, 5]], build: (g, [x]) => g.globalPool('GlobalAveragePool', x as Value) },
];

// Each Conv case again with its input gradient as one ConvTranspose, as on the GPU providers.
const cases: Case[] = [...ruleCases, ...ruleCases.filter((c) => c.op === 'Conv').map((c) => ({ ...c, name: `${c.name}, ConvTranspose`, options: { col2Im: false } }))];

describe('onnx autodiff', () => {
  it('has a finite-difference case for every gradient rule', () => {
    expect([...new Set(cases.map((c) => c.op))].sort()).toEqual([...DIFFERENTIABLE_OPS].sort());
  });

  it.each(cases)('$name: the rule matches central differences', async (c) => {
    await checkRule(c);
  });

  // The distillation loss is built from ops with rules; its composition is checked as each rule is,
  // with respect to the student's logits and (though training never asks) the teacher's probabilities.
  it.each([
    { temperature: 10, alpha: 0.1 },
    { temperature: 2, alpha: 0 },
    { temperature: 0.5, alpha: 0.6 },
  ])('distillation loss, T = $temperature, α = $alpha: its gradient matches central differences', async (d) => {
    const labels = [2, 0, 3];
    await checkRule({
      name: 'distillation loss',
      op: 'Softmax, Clip, Log, Div, Mul, ReduceSum, Add',
      shapes: [
        [3, 4],
        [3, 4],
      ],
      // Teacher probabilities in (0, 1); the softening renormalizes them.
      domain: (v) => (v + 1.05) / 2.1,
      build: (g, [z, teacher]) => {
        const batch = (): Value => g.scalar(labels.length);
        const hard = LOSSES.sparse_categorical_crossentropy.graph(g, z as Value, g.constant(int64Tensor(labels, [labels.length])), 4, batch).loss;
        return distillationLoss(g, hard, z as Value, teacher as Value, d, batch);
      },
    });
  });

  it.each([
    ['2×2', window(2, 2, 1, [0, 0, 0, 0])],
    ['3×3 stride 2, same', window(3, 2, 1, [1, 1, 1, 1])],
  ])('MaxPool %s: the gradient without indices sends dy where the indexed one does (ties, and windows padding would win)', async (_, attrs) => {
    const shape = [2, 3, 6, 6];
    const g = new Graph();
    const [a, b] = [g.input('a', 'float', shape), g.input('b', 'float', shape)];
    const indexed = g.maxPool(a, attrs)[0];
    const free = g.maxPoolValues(b, attrs);
    const dy = g.input('dy', 'float', indexed.shape);
    g.output(gradients(g, indexed, [a], dy)[0] as Value, 'indexed');
    g.output(gradients(g, free, [b], dy)[0] as Value, 'free');
    const session = await ort.InferenceSession.create(g.toModel());
    // Three levels, all ≤ 0: most windows hold ties, and padding (never picked) would otherwise win.
    const x = new ort.Tensor('float32', values(5, size(shape)).map((v) => -Math.floor((v + 1) * 1.5)), shape);
    const out = await session.run({ a: x, b: x, dy: new ort.Tensor('float32', values(6, size(indexed.shape)), [...indexed.shape]) });
    // Overlapping windows sum in another order: equal to rounding, and 0 wherever the indexed one is.
    const [indexedDx, freeDx] = [out.indexed?.data as Float32Array, out.free?.data as Float32Array];
    expect(Array.from(freeDx, (v, i) => (indexedDx[i] === 0 ? v === 0 : Math.abs(v - (indexedDx[i] as number)) <= 1e-6))).not.toContain(false);
  });

  it('a Graph with maxParts splits and joins in trees of nodes that each take or give at most that many', async () => {
    const g = new Graph(3);
    const x = g.input('x', 'float', [2, 10]);
    const pieces = g.split(x, 1, [1, 2, 1, 1, 1, 1, 1, 1, 1]);
    g.output(g.concat(pieces.reverse(), 1), 'y');
    const parts = g.nodes.filter((n) => n.op === 'Split' || n.op === 'Concat').map((n) => (n.op === 'Split' ? n.outputs : n.inputs).length);
    expect(parts.length).toBeGreaterThan(2);
    expect(Math.max(...parts)).toBeLessThanOrEqual(3);
    expect(pieces.map((p) => p.shape)).toEqual([1, 1, 1, 1, 1, 1, 1, 2, 1].map((k) => [2, k]));
    const session = await ort.InferenceSession.create(g.toModel());
    const data = Float32Array.from({ length: 20 }, (_, i) => i);
    const y = (await session.run({ x: new ort.Tensor('float32', data, [2, 10]) })).y?.data as Float32Array;
    expect(Array.from(y.subarray(0, 10))).toEqual([9, 8, 7, 6, 5, 4, 3, 1, 2, 0]);
  });

  it('round-trips initializers through the encoder', () => {
    const g = new Graph();
    const w = g.input('w', 'float', [2, 2]);
    g.output(g.unary('Neg', w), 'y');
    const stored = decodeInitializers(g.toModel([floatTensor([1, 2, 3, 4], [2, 2], 'w')]));
    expect(stored).toEqual([{ name: 'w', dims: [2, 2], values: Float32Array.of(1, 2, 3, 4) }]);
  });
});
