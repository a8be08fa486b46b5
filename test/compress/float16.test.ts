import { describe, expect, it } from 'vitest';
import { convertToFloat16, decodeModel, encodeModel } from '../../src/compress/index.js';
import { DATA_TYPE } from '../../src/compress/onnx/model.js';
import { openOnnxInference } from '../../src/engine/index.js';
import { maxAbsDiff } from '../../src/util/arrays.js';
import { PyRandom } from '../../src/util/random.js';
import { CONV, convNet, maxAbs, randomValues, run, thirdParty } from './graphs.js';

// float16 keeps 11 significant bits: a few ulps of rounding over these depths stay under 1% of the output.
const TOLERANCE = 0.01;

describe('convertToFloat16', () => {
  it('converts a conv net: float16 weights, float32 inputs and outputs, outputs within 1%', async () => {
    const net = convNet(1, 'gemm');
    const { model, report } = convertToFloat16(decodeModel(net.bytes));
    expect(report.nodes.every((n) => n.precision === 'float16')).toBe(true);
    expect(new Set(model.graph.initializers.map((t) => t.dataType))).toEqual(new Set([DATA_TYPE.float16]));
    const bytes = encodeModel(model);
    const session = await openOnnxInference(bytes);
    expect([session.inputs[0]?.type, session.outputs[0]?.type]).toEqual(['float32', 'float32']);
    await session.release();
    const feeds = { x: { data: randomValues(new PyRandom(2), 2 * CONV.channelsIn * CONV.size * CONV.size), dims: [2, CONV.channelsIn, CONV.size, CONV.size] } };
    const half = (await run(bytes, feeds)).y as Float32Array;
    const float = (await run(net.bytes, feeds)).y as Float32Array;
    expect(maxAbsDiff(half, float)).toBeLessThan(TOLERANCE * maxAbs(float));
  });

  it('keeps requested nodes float32 between Casts, including one that writes a graph output', async () => {
    const source = decodeModel(thirdParty(3));
    const { model, report } = convertToFloat16(source, { keepFloat: new Set(['n3', 'n5']) });
    expect(report.nodes.map((n) => [n.name, n.precision])).toEqual([['n0', 'float16'], ['n1', 'float16'], ['n2', 'float16'], ['n3', 'float32'], ['n4', 'float16'], ['n5', 'float32']]);
    expect(report.nodes.find((n) => n.name === 'n3')?.reason).toBe('kept float on request');
    // The int64 shape stays int64.
    expect(model.graph.initializers.find((t) => t.name === 'shape')?.dataType).toBe(DATA_TYPE.int64);
    const rng = new PyRandom(4);
    const feeds = { a: { data: randomValues(rng, 32), dims: [4, 8] }, b: { data: randomValues(rng, 32), dims: [4, 8] } };
    const half = (await run(encodeModel(model), feeds)).y as Float32Array;
    const float = (await run(encodeModel(source), feeds)).y as Float32Array;
    expect(maxAbsDiff(half, float)).toBeLessThan(TOLERANCE * maxAbs(float));
    const all = convertToFloat16(source);
    expect(maxAbsDiff((await run(encodeModel(all.model), feeds)).y as Float32Array, float)).toBeLessThan(TOLERANCE * maxAbs(float));
  });
});
