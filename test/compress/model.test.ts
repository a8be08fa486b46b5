import { describe, expect, it } from 'vitest';
import { decodeModel, encodeModel, makeValueInfo, valueInfoType } from '../../src/compress/index.js';
import { DATA_TYPE, type OnnxModel } from '../../src/compress/onnx/model.js';
import { maxAbsDiff } from '../../src/util/arrays.js';
import { Writer } from '../../src/util/protobuf.js';
import { PyRandom } from '../../src/util/random.js';
import { CONV, convNet, randomValues, run, thirdParty } from './graphs.js';

describe('ONNX model codec', () => {
  it("round-trips the engine's models byte for byte", () => {
    for (const bytes of [convNet(1, 'matmul').bytes, convNet(2, 'gemm').bytes, thirdParty(3)]) {
      expect(encodeModel(decodeModel(bytes))).toEqual(bytes);
    }
  });

  it('keeps unknown fields at every level, and ORT still runs the model the same', async () => {
    const source = decodeModel(thirdParty(4));
    const docString = (field: number, text: string) => ({ field, wire: 2 as const, value: new TextEncoder().encode(text) });
    const fixed32 = { field: 99, wire: 5 as const, value: Uint8Array.of(1, 2, 3, 4) };
    const fixed64 = { field: 98, wire: 1 as const, value: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) };
    const varint = { field: 97, wire: 0 as const, value: 12345678901234n };
    const [first, ...rest] = source.graph.nodes;
    const [init, ...inits] = source.graph.initializers;
    if (first === undefined || init === undefined) throw new Error('empty graph');
    const model: OnnxModel = {
      ...source,
      // producer_version, metadata_props and three fields ONNX does not define (yet), in field order as a decode lists them.
      unknown: [docString(3, '1.2.3'), { field: 14, wire: 2, value: new Writer().string(1, 'key').string(2, 'value').finish() }, varint, fixed64, fixed32],
      graph: {
        ...source.graph,
        unknown: [docString(10, 'graph doc')],
        nodes: [{ ...first, unknown: [docString(6, 'node doc'), varint] }, ...rest],
        initializers: [{ ...init, unknown: [docString(12, 'tensor doc'), fixed32] }, ...inits],
      },
    };
    const bytes = encodeModel(model);
    const back = decodeModel(bytes);
    expect(back).toEqual(model);
    expect(encodeModel(back)).toEqual(bytes);
    const rng = new PyRandom(5);
    const feeds = { a: { data: randomValues(rng, 16), dims: [2, 8] }, b: { data: randomValues(rng, 16), dims: [2, 8] } };
    expect(maxAbsDiff((await run(bytes, feeds)).y as Float32Array, (await run(thirdParty(4), feeds)).y as Float32Array)).toBe(0);
  });

  it('decodes float_data, int32_data and int64_data (packed or not) into little-endian raw bytes', () => {
    const packedFloats = new Uint8Array(Float32Array.of(1.5, -2).buffer);
    const tensor = (type: number, body: (w: Writer) => Writer, name: string): Writer => body(new Writer().int(1, 2).int(2, type).string(8, name));
    const graph = new Writer()
      .message(5, tensor(DATA_TYPE.float, (w) => w.bytes(4, packedFloats), 'f'))
      .message(5, tensor(DATA_TYPE.int8, (w) => w.int(5, -3).int(5, 7), 'i8'))
      .message(5, tensor(DATA_TYPE.int64, (w) => w.bytes(7, new Writer().int(1, 0).finish().subarray(1)).int(7, -1), 'i64'))
      .message(5, tensor(DATA_TYPE.float16, (w) => w.int(5, 0x3c00).int(5, 0xc000), 'h'))
      // Opaque to the codec: kept as read.
      .message(5, tensor(DATA_TYPE.float, (w) => w.message(13, new Writer().string(1, 'location').string(2, 'w.bin')).int(14, 1), 'ext'));
    const model = decodeModel(new Writer().int(1, 8).message(7, graph).message(8, new Writer().string(1, '').int(2, 13)).finish());
    const [f, i8, i64, h, ext] = model.graph.initializers;
    expect(new Float32Array(f?.raw.slice().buffer ?? new ArrayBuffer(0))).toEqual(Float32Array.of(1.5, -2));
    expect(new Int8Array(i8?.raw.slice().buffer ?? new ArrayBuffer(0))).toEqual(Int8Array.of(-3, 7));
    expect(new BigInt64Array(i64?.raw.slice().buffer ?? new ArrayBuffer(0))).toEqual(BigInt64Array.of(0n, -1n));
    expect(new Uint16Array(h?.raw.slice().buffer ?? new ArrayBuffer(0))).toEqual(Uint16Array.of(0x3c00, 0xc000));
    expect(ext?.external).toEqual([['location', 'w.bin']]);
    expect(ext?.raw.length).toBe(0);
    expect(decodeModel(encodeModel(model))).toEqual(model);
  });

  it('reads and writes value infos', () => {
    const model = decodeModel(convNet(6, 'matmul').bytes);
    expect(valueInfoType(model.graph.inputs[0] ?? makeValueInfo('', 0))).toEqual({ elemType: DATA_TYPE.float, shape: ['N', CONV.channelsIn, CONV.size, CONV.size] });
    expect(valueInfoType(makeValueInfo('z', DATA_TYPE.int64, [3, 'B', undefined]))).toEqual({ elemType: DATA_TYPE.int64, shape: [3, 'B', undefined] });
    expect(valueInfoType(makeValueInfo('z', DATA_TYPE.float))).toEqual({ elemType: DATA_TYPE.float });
  });
});
