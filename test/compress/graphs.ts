/** Small float models for the compress tests, written with the engine's ONNX encoder, and a runner. */
import { openOnnxInference, type OnnxInferenceOptions } from '../../src/engine/index.js';
import { encodeModel, floatTensor, type GraphData, int64Tensor, type NodeData } from '../../src/engine/onnx/protobuf.js';
import { PyRandom } from '../../src/util/random.js';

export function randomValues(rng: PyRandom, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (rng.random() * 2 - 1) * scale);
}

export interface ConvNet {
  readonly bytes: Uint8Array;
  readonly w: Float32Array;
  readonly b: Float32Array;
  readonly fc: Float32Array;
  readonly fcBias: Float32Array;
}

/** x [N,2,6,6] → Conv 4×3×3 (pad 1) + bias → Relu → Flatten → MatMul [144,5], or Gemm (transB, bias). */
export const CONV = { channelsIn: 2, channelsOut: 4, size: 6, kernel: 3, units: 5 } as const;
export const FLAT = CONV.channelsOut * CONV.size * CONV.size;

/** Options: per-channel weight scales; a Reshape to [-1, FLAT] in place of Flatten; spatial sizes of x left symbolic. */
export function convNet(seed: number, head: 'matmul' | 'gemm', options: { channelScale?: readonly number[]; reshape?: boolean; symbolicSize?: boolean } = {}): ConvNet {
  const rng = new PyRandom(seed);
  const { channelsIn, channelsOut, kernel, units } = CONV;
  const w = randomValues(rng, channelsOut * channelsIn * kernel * kernel, 0.5);
  const per = channelsIn * kernel * kernel;
  options.channelScale?.forEach((s, c) => {
    for (let k = 0; k < per; k++) w[c * per + k] = (w[c * per + k] as number) * s;
  });
  const b = randomValues(rng, channelsOut, 0.2);
  const fc = randomValues(rng, FLAT * units, 0.1);
  const fcBias = randomValues(rng, units, 0.1);
  const nodes: NodeData[] = [
    { op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: { pads: { ints: [1, 1, 1, 1] }, kernel_shape: { ints: [kernel, kernel] } } },
    { op: 'Relu', inputs: ['c'], outputs: ['r'] },
    options.reshape ? { op: 'Reshape', inputs: ['r', 'flat'], outputs: ['f'] } : { op: 'Flatten', inputs: ['r'], outputs: ['f'] },
    head === 'matmul' ? { op: 'MatMul', inputs: ['f', 'fc'], outputs: ['y'] } : { op: 'Gemm', inputs: ['f', 'fc', 'fcb'], outputs: ['y'], attrs: { transB: { i: 1 } } },
  ];
  const graph: GraphData = {
    nodes,
    inputs: [{ name: 'x', type: 'float', shape: options.symbolicSize ? ['N', channelsIn, 'H', 'W'] : ['N', channelsIn, CONV.size, CONV.size] }],
    outputs: [{ name: 'y', type: 'float', shape: ['N', units] }],
    initializers: [
      floatTensor(w, [channelsOut, channelsIn, kernel, kernel], 'w'),
      floatTensor(b, [channelsOut], 'b'),
      // Gemm with transB holds the weight as [units, features].
      floatTensor(fc, head === 'matmul' ? [FLAT, units] : [units, FLAT], 'fc'),
      ...(head === 'gemm' ? [floatTensor(fcBias, [units], 'fcb')] : []),
      ...(options.reshape ? [{ ...int64Tensor([-1, FLAT]), name: 'flat' }] : []),
    ],
  };
  return { bytes: encodeModel(graph), w, b, fc, fcBias };
}

/** A model as a third party might ship it: two inputs, ops not quantized (Sin, Erf), a Gemm with alpha/beta, a shape op. */
export function thirdParty(seed: number): Uint8Array {
  const rng = new PyRandom(seed);
  return encodeModel({
    nodes: [
      { op: 'Sin', inputs: ['a'], outputs: ['s'] },
      { op: 'Add', inputs: ['s', 'b'], outputs: ['t'] },
      { op: 'MatMul', inputs: ['t', 'w1'], outputs: ['m'] },
      { op: 'Erf', inputs: ['m'], outputs: ['e'] },
      { op: 'Gemm', inputs: ['e', 'w2', 'c2'], outputs: ['g'], attrs: { alpha: { f: 0.5 }, beta: { f: 2 } } },
      { op: 'Reshape', inputs: ['g', 'shape'], outputs: ['y'] },
    ],
    inputs: [
      { name: 'a', type: 'float', shape: ['N', 8] },
      { name: 'b', type: 'float', shape: ['N', 8] },
    ],
    outputs: [{ name: 'y', type: 'float', shape: ['N', 6] }],
    initializers: [floatTensor(randomValues(rng, 8 * 6), [8, 6], 'w1'), floatTensor(randomValues(rng, 6 * 6), [6, 6], 'w2'), floatTensor(randomValues(rng, 6), [6], 'c2'), { ...int64Tensor([-1, 6]), name: 'shape' }],
  });
}

/** Runs a model on float32 feeds and returns its first output (or the named ones). */
export async function run(bytes: Uint8Array, feeds: Readonly<Record<string, { data: Float32Array; dims: readonly number[] }>>, outputs: readonly string[] = ['y'], options: OnnxInferenceOptions = {}): Promise<Record<string, Float32Array>> {
  const model = await openOnnxInference(bytes, options);
  try {
    const result = await model.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, { type: 'float32', dims: v.dims, data: v.data }])), outputs);
    return Object.fromEntries(outputs.map((o) => [o, result[o]?.data as Float32Array]));
  } finally {
    await model.release();
  }
}

export function maxAbs(values: Float32Array): number {
  return values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}
