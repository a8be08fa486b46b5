import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { calibrationTargets, decodeModel, encodeModel, type OnnxModel, quantizableNodes, quantizeDynamic, quantizeStatic, type TensorRange, withOutputs } from '../../src/compress/index.js';
import { DATA_TYPE, type OnnxTensor } from '../../src/compress/onnx/model.js';
import { dequantize, INT32, int8Weights, quantize, type QuantParams, scaleZeroPoint, UINT8 } from '../../src/compress/qmath.js';
import { maxAbsDiff } from '../../src/util/arrays.js';
import { encodeModel as encodeEngineModel, floatTensor } from '../../src/engine/onnx/protobuf.js';
import { PyRandom } from '../../src/util/random.js';
import { CONV, convNet, FLAT, maxAbs, randomValues, run, thirdParty } from './graphs.js';

const dir = mkdtempSync(join(tmpdir(), 'ecoml-quant-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BATCH = 3;
const xDims = [BATCH, CONV.channelsIn, CONV.size, CONV.size];

/** MinMax ranges of `targets` over the feeds (the plainest calibration, enough for these tests). */
async function ranges(model: OnnxModel, feeds: Parameters<typeof run>[1]): Promise<Map<string, TensorRange>> {
  const targets = calibrationTargets(model);
  const out = await run(encodeModel(withOutputs(model, targets)), feeds, targets);
  return new Map(targets.map((t) => [t, { min: Math.min(...(out[t] as Float32Array)), max: Math.max(...(out[t] as Float32Array)) }]));
}

const initializer = (m: OnnxModel, name: string): OnnxTensor => {
  const t = m.graph.initializers.find((i) => i.name === name);
  if (t === undefined) throw new Error(`no initializer ${name}`);
  return t;
};
const floats = (t: OnnxTensor): Float32Array => new Float32Array(t.raw.slice().buffer);
const int8s = (t: OnnxTensor): Int8Array => new Int8Array(t.raw.slice().buffer);

/** The fake-quant forward of convNet('matmul'): every tensor ORT sees in uint8/int8/int32, computed in float64. */
function reference(net: ReturnType<typeof convNet>, x: Float32Array, r: ReadonlyMap<string, TensorRange>): Float32Array {
  const { channelsIn: ci, channelsOut: co, size: s, kernel: k, units } = CONV;
  const act = (name: string): QuantParams => {
    const range = r.get(name) as TensorRange;
    return scaleZeroPoint(range.min, range.max, UINT8, false);
  };
  const fq = (v: number, p: QuantParams): number => dequantize(quantize(v, p, UINT8), p);
  const px = act('x');
  const xq = x.map((v) => fq(v, px));
  const per = ci * k * k;
  const wp = Array.from({ length: co }, (_, c) => scaleZeroPoint(Math.min(...net.w.subarray(c * per, (c + 1) * per)), Math.max(...net.w.subarray(c * per, (c + 1) * per)), int8Weights(true), true));
  const wq = net.w.map((v, j) => dequantize(quantize(v, wp[Math.floor(j / per)] as QuantParams, int8Weights(true)), wp[Math.floor(j / per)] as QuantParams));
  const bq = Array.from(net.b, (v, c) => {
    const p = { scale: Math.fround(px.scale * (wp[c] as QuantParams).scale), zeroPoint: 0 };
    return dequantize(quantize(v, p, INT32), p);
  });
  const pr = act('r');
  const rq = new Float32Array(BATCH * FLAT);
  for (let n = 0; n < BATCH; n++) {
    for (let c = 0; c < co; c++) {
      for (let i = 0; i < s; i++) {
        for (let j = 0; j < s; j++) {
          let acc = bq[c] as number;
          for (let d = 0; d < ci; d++) {
            for (let a = 0; a < k; a++) {
              for (let b = 0; b < k; b++) {
                const y = i + a - 1;
                const z = j + b - 1;
                if (y < 0 || y >= s || z < 0 || z >= s) continue;
                acc += (xq[((n * ci + d) * s + y) * s + z] as number) * (wq[((c * ci + d) * k + a) * k + b] as number);
              }
            }
          }
          rq[n * FLAT + (c * s + i) * s + j] = fq(Math.max(0, acc), pr);
        }
      }
    }
  }
  const colp = Array.from({ length: units }, (_, u) => {
    const col = Array.from({ length: FLAT }, (_, f) => net.fc[f * units + u] as number);
    return scaleZeroPoint(Math.min(...col), Math.max(...col), int8Weights(true), true);
  });
  // Flatten's output is MatMul's input: quantized again with its own range (the same values as r's).
  const pf = act('f');
  const fq2 = rq.map((v) => fq(v, pf));
  const py = act('y');
  const y = new Float32Array(BATCH * units);
  for (let n = 0; n < BATCH; n++) {
    for (let u = 0; u < units; u++) {
      let acc = 0;
      for (let f = 0; f < FLAT; f++) {
        const p = colp[u] as QuantParams;
        acc += (fq2[n * FLAT + f] as number) * dequantize(quantize(net.fc[f * units + u] as number, p, int8Weights(true)), p);
      }
      y[n * units + u] = fq(acc, py);
    }
  }
  return y;
}

// The accuracy checks quantize with reduceRange: on x86 CPUs without VNNI (this one: AVX2 only) ORT's
// u8×s8 kernels add pairs of products in 16 bits, which full-range int8 weights overflow; 7-bit ones do not.
describe('quantizeStatic', () => {
  it('matches a fake-quant reference within one output step, and ORT fuses it into QLinearConv and QLinearMatMul', async () => {
    const net = convNet(1, 'matmul');
    const model = decodeModel(net.bytes);
    const rng = new PyRandom(2);
    const calibration = { x: { data: randomValues(rng, BATCH * CONV.channelsIn * CONV.size * CONV.size), dims: xDims } };
    const r = await ranges(model, calibration);
    expect(calibrationTargets(model)).toEqual(['x', 'r', 'f', 'y']);
    const { model: q, report } = quantizeStatic(model, r, { reduceRange: true });
    expect(report.nodes.map((n) => [n.op, n.precision])).toEqual([['Conv', 'int8'], ['Relu', 'int8'], ['Flatten', 'float32'], ['MatMul', 'int8']]);
    const x = randomValues(new PyRandom(3), BATCH * CONV.channelsIn * CONV.size * CONV.size);
    const optimized = join(dir, 'matmul.opt.onnx');
    const got = (await run(encodeModel(q), { x: { data: x, dims: xDims } }, ['y'], { optimizedModelPath: optimized })).y as Float32Array;
    const want = reference(net, x, r);
    const yRange = r.get('y') as TensorRange;
    const step = scaleZeroPoint(yRange.min, yRange.max, UINT8, false).scale;
    expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(step * 1.0001);
    // And on the data it was calibrated on (nothing out of range), it is still the float model.
    const onCalibration = (await run(encodeModel(q), calibration)).y as Float32Array;
    const float = (await run(net.bytes, calibration)).y as Float32Array;
    expect(maxAbsDiff(onCalibration, float)).toBeLessThan(0.05 * maxAbs(float));
    const ops = decodeModel(readFileSync(optimized)).graph.nodes.map((n) => n.opType);
    expect(ops).toContain('QLinearConv');
    expect(ops).toContain('QLinearMatMul');
    expect(ops).not.toContain('Conv');
    expect(ops).not.toContain('Relu');
    expect(ops).not.toContain('MatMul');
    // Flattened channels-last: only x's Transpose into ORT's NHWC QLinearConv is left, none back to NCHW.
    expect(q.graph.nodes.find((n) => n.opType === 'Transpose')?.attributes.find((a) => a.name === 'perm')?.ints).toEqual([0n, 2n, 3n, 1n]);
    expect(ops.filter((o) => o === 'Transpose')).toHaveLength(1);
  });

  it('flattens channels-last through a Reshape to [-1, C·H·W] where the Conv output size is known, and not where it is not', async () => {
    const feeds = { x: { data: randomValues(new PyRandom(19), BATCH * CONV.channelsIn * CONV.size * CONV.size), dims: xDims } };
    for (const symbolicSize of [false, true]) {
      const net = convNet(18, 'matmul', { reshape: true, symbolicSize });
      const model = decodeModel(net.bytes);
      const { model: q } = quantizeStatic(model, await ranges(model, feeds), { reduceRange: true });
      expect(q.graph.nodes.filter((n) => n.opType === 'Transpose')).toHaveLength(symbolicSize ? 0 : 1);
      const got = (await run(encodeModel(q), feeds)).y as Float32Array;
      const float = (await run(net.bytes, feeds)).y as Float32Array;
      expect(maxAbsDiff(got, float)).toBeLessThan(0.05 * maxAbs(float));
    }
  });

  it('quantizes a Gemm head (transB, bias) into QGemm', async () => {
    const net = convNet(4, 'gemm');
    const model = decodeModel(net.bytes);
    const feeds = { x: { data: randomValues(new PyRandom(5), BATCH * CONV.channelsIn * CONV.size * CONV.size), dims: xDims } };
    const { model: q, report } = quantizeStatic(model, await ranges(model, feeds), { reduceRange: true });
    expect(report.nodes.find((n) => n.op === 'Gemm')?.precision).toBe('int8');
    // Gemm's weight is [units, features]: per output along axis 0.
    expect(initializer(q, 'fc_scale').dims).toEqual([CONV.units]);
    const optimized = join(dir, 'gemm.opt.onnx');
    const got = (await run(encodeModel(q), feeds, ['y'], { optimizedModelPath: optimized })).y as Float32Array;
    const float = (await run(net.bytes, feeds)).y as Float32Array;
    expect(maxAbsDiff(got, float)).toBeLessThan(0.05 * maxAbs(float));
    const ops = decodeModel(readFileSync(optimized)).graph.nodes.map((n) => n.opType);
    expect(ops).toContain('QLinearConv');
    expect(ops).toContain('QGemm');
  });

  it('scales weights per output channel: max|w|/127, or /64 with reduceRange; a wide channel leaves the others their resolution', async () => {
    const net = convNet(6, 'matmul', { channelScale: [100, 1, 1, 1] });
    const model = decodeModel(net.bytes);
    const feeds = { x: { data: randomValues(new PyRandom(7), BATCH * CONV.channelsIn * CONV.size * CONV.size), dims: xDims } };
    const r = await ranges(model, feeds);
    const per = CONV.channelsIn * CONV.kernel * CONV.kernel;
    for (const [reduceRange, levels] of [[false, 127], [true, 64]] as const) {
      const { model: q } = quantizeStatic(model, r, { reduceRange });
      const scales = floats(initializer(q, 'w_scale'));
      const values = int8s(initializer(q, 'w_quantized'));
      for (let c = 0; c < CONV.channelsOut; c++) {
        const channel = net.w.subarray(c * per, (c + 1) * per);
        expect(scales[c]).toBe(Math.fround(maxAbs(channel) / levels));
        // Every channel reaches the ends of its own range.
        expect(Math.max(...Array.from(values.subarray(c * per, (c + 1) * per), Math.abs))).toBe(levels);
      }
      expect(int8s(initializer(q, 'w_zero_point'))).toEqual(new Int8Array(CONV.channelsOut));
      const bias = new Int32Array(initializer(q, 'b_n0_quantized').raw.slice().buffer);
      const biasScale = floats(initializer(q, 'b_n0_scale'));
      const xScale = (floats(initializer(q, 'x_scale'))[0] as number);
      biasScale.forEach((s, c) => expect(s).toBe(Math.fround(xScale * (scales[c] as number))));
      bias.forEach((v, c) => expect(Math.abs(v * (biasScale[c] as number) - (net.b[c] as number))).toBeLessThanOrEqual((biasScale[c] as number) / 2));
    }
  });

  it('quantizes a third-party graph: unnamed nodes get names, unhandled ops stay float and are reported', async () => {
    const source = decodeModel(thirdParty(8));
    const model: OnnxModel = { ...source, graph: { ...source.graph, nodes: source.graph.nodes.map((n) => (n.opType === 'Sin' || n.opType === 'Erf' ? { ...n, name: '' } : n)) } };
    expect(quantizableNodes(model)).toEqual([{ name: 'n2', op: 'MatMul' }]);
    const rng = new PyRandom(9);
    const feeds = { a: { data: randomValues(rng, 4 * 8), dims: [4, 8] }, b: { data: randomValues(rng, 4 * 8), dims: [4, 8] } };
    const { model: q, report } = quantizeStatic(model, await ranges(model, feeds), { reduceRange: true });
    expect(report.nodes).toEqual([
      { name: 'Sin_0', op: 'Sin', precision: 'float32', reason: 'Sin has no int8 form here (only Conv, MatMul, Gemm)' },
      { name: 'n1', op: 'Add', precision: 'float32', reason: 'Add has no int8 form here (only Conv, MatMul, Gemm)' },
      { name: 'n2', op: 'MatMul', precision: 'int8' },
      { name: 'Erf_3', op: 'Erf', precision: 'float32', reason: 'Erf has no int8 form here (only Conv, MatMul, Gemm)' },
      { name: 'n4', op: 'Gemm', precision: 'float32', reason: 'its C input c2 is not a 1-D float initializer with alpha = beta = 1' },
      { name: 'n5', op: 'Reshape', precision: 'float32', reason: 'Reshape has no int8 form here (only Conv, MatMul, Gemm)' },
    ]);
    const got = (await run(encodeModel(q), feeds)).y as Float32Array;
    const float = (await run(encodeModel(model), feeds)).y as Float32Array;
    expect(maxAbsDiff(got, float)).toBeLessThan(0.05 * maxAbs(float));
    // keepFloat falls a node back.
    const kept = quantizeStatic(model, await ranges(model, feeds), { reduceRange: false, keepFloat: new Set(['n2']) });
    expect(kept.report.nodes.find((n) => n.name === 'n2')).toEqual({ name: 'n2', op: 'MatMul', precision: 'float32', reason: 'kept float on request' });
    expect(kept.model.graph.nodes.map((n) => n.opType)).not.toContain('QuantizeLinear');
  });

  it('absorbs a Clip after a MatMul: its calibrated range clips in the output quantization', async () => {
    const rng = new PyRandom(14);
    const bytes = encodeEngineModel({
      nodes: [
        { op: 'MatMul', inputs: ['x', 'w'], outputs: ['m'] },
        { op: 'Clip', inputs: ['m', 'lo', 'hi'], outputs: ['y'] },
      ],
      inputs: [{ name: 'x', type: 'float', shape: ['N', 8] }],
      outputs: [{ name: 'y', type: 'float', shape: ['N', 4] }],
      initializers: [floatTensor(randomValues(rng, 32), [8, 4], 'w'), floatTensor([0], [], 'lo'), floatTensor([0.5], [], 'hi')],
    });
    const model = decodeModel(bytes);
    expect(calibrationTargets(model)).toEqual(['x', 'y']);
    const feeds = { x: { data: randomValues(rng, 16 * 8), dims: [16, 8] } };
    const { model: q, report } = quantizeStatic(model, await ranges(model, feeds), { reduceRange: true });
    expect(report.nodes).toEqual([
      { name: 'n0', op: 'MatMul', precision: 'int8' },
      { name: 'n1', op: 'Clip', precision: 'int8', reason: "absorbed into n0's output quantization" },
    ]);
    const optimized = join(dir, 'clip.opt.onnx');
    const got = (await run(encodeModel(q), feeds, ['y'], { optimizedModelPath: optimized })).y as Float32Array;
    const float = (await run(bytes, feeds)).y as Float32Array;
    expect(Math.min(...got)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...got)).toBeLessThanOrEqual(0.5 + 0.5 / 255);
    expect(maxAbsDiff(got, float)).toBeLessThan(0.05);
    const ops = decodeModel(readFileSync(optimized)).graph.nodes.map((n) => n.opType);
    expect(ops).toContain('QLinearMatMul');
    expect(ops).not.toContain('Clip');
  });

  /** x → MatMul → Add bias → Relu → MatMul → Add bias → y, x of the given shape. */
  function denseHead(rng: PyRandom, xShape: readonly (number | string)[]): Uint8Array {
    return encodeEngineModel({
      nodes: [
        { op: 'MatMul', inputs: ['x', 'w1'], outputs: ['m1'] },
        { op: 'Add', inputs: ['m1', 'b1'], outputs: ['a1'] },
        { op: 'Relu', inputs: ['a1'], outputs: ['h'] },
        { op: 'MatMul', inputs: ['h', 'w2'], outputs: ['m2'] },
        { op: 'Add', inputs: ['b2', 'm2'], outputs: ['y'] },
      ],
      inputs: [{ name: 'x', type: 'float', shape: [...xShape] }],
      outputs: [{ name: 'y', type: 'float', shape: [...xShape.slice(0, -1), 4] }],
      initializers: [floatTensor(randomValues(rng, 8 * 6), [8, 6], 'w1'), floatTensor(randomValues(rng, 6, 0.5), [6], 'b1'), floatTensor(randomValues(rng, 6 * 4), [6, 4], 'w2'), floatTensor(randomValues(rng, 4, 0.5), [4], 'b2')],
    });
  }

  it('fuses MatMul + Add of a bias into one Gemm (QGemm in ORT, int32 bias, Relu absorbed) where the input is known 2-D', async () => {
    const rng = new PyRandom(16);
    const bytes = denseHead(rng, ['N', 8]);
    const model = decodeModel(bytes);
    // The Relu follows the first Add now: its output is what the first Gemm's output quantization measures.
    expect(calibrationTargets(model)).toEqual(['x', 'h', 'y']);
    const feeds = { x: { data: randomValues(rng, 32 * 8), dims: [32, 8] } };
    const r = await ranges(model, feeds);
    const { model: q, report } = quantizeStatic(model, r, { reduceRange: true });
    expect(report.nodes.map((n) => [n.name, n.precision, n.reason])).toEqual([
      ['n0', 'int8', "one Gemm with n1's bias"],
      ['n1', 'int8', "the int32 bias of n0's Gemm"],
      ['n2', 'int8', "absorbed into n0's output quantization"],
      ['n3', 'int8', "one Gemm with n4's bias"],
      ['n4', 'int8', "the int32 bias of n3's Gemm"],
    ]);
    const optimized = join(dir, 'dense.opt.onnx');
    const got = (await run(encodeModel(q), feeds, ['y'], { optimizedModelPath: optimized })).y as Float32Array;
    const float = (await run(bytes, feeds)).y as Float32Array;
    const yRange = r.get('y') as TensorRange;
    // Three roundings (x, h, y) of at most half a step each, plus the weights': well within 4 output steps.
    expect(maxAbsDiff(got, float)).toBeLessThan(4 * scaleZeroPoint(yRange.min, yRange.max, UINT8, false).scale);
    const ops = decodeModel(readFileSync(optimized)).graph.nodes.map((n) => n.opType);
    expect(ops.filter((o) => o === 'QGemm')).toHaveLength(2);
    for (const op of ['Add', 'Relu', 'MatMul', 'QLinearMatMul']) expect(ops).not.toContain(op);
    // Kept float on request, the MatMul keeps its Add: the float graph is left as it was there.
    const kept = quantizeStatic(model, r, { reduceRange: true, keepFloat: new Set(['n3']) });
    expect(kept.model.graph.nodes.filter((n) => n.name === 'n3' || n.name === 'n4').map((n) => n.opType)).toEqual(['MatMul', 'Add']);
  });

  it('leaves MatMul + Add apart where the input is not known to be 2-D (Gemm takes only matrices)', async () => {
    const rng = new PyRandom(17);
    const bytes = denseHead(rng, ['N', 2, 8]);
    const model = decodeModel(bytes);
    const feeds = { x: { data: randomValues(rng, 8 * 2 * 8), dims: [8, 2, 8] } };
    const { model: q, report } = quantizeStatic(model, await ranges(model, feeds), { reduceRange: true });
    expect(report.nodes.map((n) => [n.op, n.precision])).toEqual([['MatMul', 'int8'], ['Add', 'float32'], ['Relu', 'float32'], ['MatMul', 'int8'], ['Add', 'float32']]);
    expect(q.graph.nodes.map((n) => n.opType)).not.toContain('Gemm');
    const got = (await run(encodeModel(q), feeds)).y as Float32Array;
    const float = (await run(bytes, feeds)).y as Float32Array;
    expect(maxAbsDiff(got, float)).toBeLessThan(0.05 * maxAbs(float));
  });

  it('leaves a node float where a range is missing, and raises an old opset to 13 for per-channel axes', async () => {
    const net = convNet(10, 'matmul');
    const model = { ...decodeModel(net.bytes), opsetImport: [{ domain: '', version: 11 }] };
    const { model: q, report } = quantizeStatic(model, new Map([['x', { min: -1, max: 1 }], ['r', { min: 0, max: 3 }]]), { reduceRange: true });
    expect(report.opsetRaisedFrom).toBe(11);
    expect(q.opsetImport).toEqual([{ domain: '', version: 13 }]);
    expect(report.nodes.find((n) => n.op === 'MatMul')).toEqual({ name: 'n3', op: 'MatMul', precision: 'float32', reason: 'no calibrated range for f' });
    const feeds = { x: { data: randomValues(new PyRandom(11), BATCH * CONV.channelsIn * CONV.size * CONV.size), dims: xDims } };
    const got = (await run(encodeModel(q), feeds)).y as Float32Array;
    const float = (await run(net.bytes, feeds)).y as Float32Array;
    expect(maxAbsDiff(got, float)).toBeLessThan(0.1 * maxAbs(float));
  });
});

describe('quantizeDynamic', () => {
  it('writes DynamicQuantizeLinear + MatMulInteger for MatMul and Gemm (alpha, beta, transB folded) and stays within 5% of the float outputs', async () => {
    const model = decodeModel(thirdParty(12));
    const { model: q, report } = quantizeDynamic(model, { reduceRange: false });
    expect(report.nodes.filter((n) => n.precision === 'int8').map((n) => n.op)).toEqual(['MatMul', 'Gemm']);
    const ops = q.graph.nodes.map((n) => n.opType);
    expect(ops.filter((o) => o === 'MatMulInteger')).toHaveLength(2);
    expect(ops.filter((o) => o === 'DynamicQuantizeLinear')).toHaveLength(2);
    expect(q.graph.initializers.filter((t) => t.dataType === DATA_TYPE.int8 && t.dims.length === 2).map((t) => t.dims)).toEqual([[8, 6], [6, 6]]);
    const rng = new PyRandom(13);
    const feeds = { a: { data: randomValues(rng, 4 * 8), dims: [4, 8] }, b: { data: randomValues(rng, 4 * 8), dims: [4, 8] } };
    const optimized = join(dir, 'dynamic.opt.onnx');
    const got = (await run(encodeModel(quantizeDynamic(model, { reduceRange: true }).model), feeds, ['y'], { optimizedModelPath: optimized })).y as Float32Array;
    const float = (await run(encodeModel(model), feeds)).y as Float32Array;
    expect(maxAbsDiff(got, float)).toBeLessThan(0.05 * maxAbs(float));
    // ORT fuses each quantize → MatMulInteger → Cast → Mul chain into one kernel.
    const fused = decodeModel(readFileSync(optimized)).graph.nodes.map((n) => n.opType);
    expect(fused.filter((o) => o === 'DynamicQuantizeMatMul' || o === 'MatMulIntegerToFloat')).toHaveLength(2);
    expect(fused).not.toContain('MatMulInteger');
  });
});
