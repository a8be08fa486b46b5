/**
 * The binary tensor extension's codec, property-tested: every datatype's little-endian wire form
 * round-trips, BYTES elements carry a 4-byte little-endian length, the binary section is sliced
 * by `binary_data_size` exactly, and header lengths are read strictly. (No ONNX model the tests
 * can build takes strings, so BYTES is tested here rather than end to end.)
 * @module
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import { encodeBinaryBody, parseHeaderLength, sliceBinarySection, splitBinaryBody } from '../../src/serve/protocols/binary.js';
import { DATATYPES, type Datatype, type Tensor, tensorByteLength, tensorFromBytes, tensorToBytes } from '../../src/serve/tensors.js';

/** Bytes per element on the wire, from the spec (0: BYTES, length-prefixed). */
const WIRE_BYTES: Readonly<Record<Datatype, number>> = {
  BOOL: 1,
  UINT8: 1,
  INT8: 1,
  UINT16: 2,
  INT16: 2,
  FP16: 2,
  UINT32: 4,
  INT32: 4,
  FP32: 4,
  UINT64: 8,
  INT64: 8,
  FP64: 8,
  BYTES: 0,
};

function expectInvalid(run: () => unknown): EcomlError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(EcomlError);
  expect((caught as EcomlError).code).toBe('E_REQUEST_INVALID');
  expect((caught as EcomlError).httpStatus).toBe(400);
  return caught as EcomlError;
}

const shapeArb = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 3 });
const countOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Typed-array data of exactly `n` elements for a datatype. */
function dataArb(datatype: Datatype, n: number): fc.Arbitrary<Tensor['data']> {
  const len = { minLength: n, maxLength: n };
  switch (datatype) {
    case 'BOOL':
      return fc.array(fc.integer({ min: 0, max: 1 }), len).map((a) => Uint8Array.from(a));
    case 'UINT8':
      return fc.uint8Array(len);
    case 'INT8':
      return fc.int8Array(len);
    case 'UINT16':
    case 'FP16':
      return fc.uint16Array(len);
    case 'INT16':
      return fc.int16Array(len);
    case 'UINT32':
      return fc.uint32Array(len);
    case 'INT32':
      return fc.int32Array(len);
    case 'FP32':
      return fc.float32Array(len);
    case 'FP64':
      return fc.float64Array(len);
    case 'UINT64':
      return fc.bigUint64Array(len);
    case 'INT64':
      return fc.bigInt64Array(len);
    case 'BYTES':
      return fc.array(fc.uint8Array({ maxLength: 12 }), len);
  }
}

const tensorArb = (datatype: Datatype): fc.Arbitrary<Tensor> => shapeArb.chain((shape) => dataArb(datatype, countOf(shape)).map((data): Tensor => ({ datatype, shape, data })));

/** The tensor's elements as bytes, to compare (NaN payloads included) without caring about the array type. */
function elementBytes(tensor: Tensor): number[][] {
  if (tensor.datatype === 'BYTES') return (tensor.data as readonly Uint8Array[]).map((b) => [...b]);
  const data = tensor.data as Exclude<Tensor['data'], readonly Uint8Array[]>;
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const size = WIRE_BYTES[tensor.datatype];
  return Array.from({ length: data.length }, (_, i) => [...bytes.subarray(i * size, (i + 1) * size)]);
}

describe('tensorToBytes / tensorFromBytes', () => {
  it.each(DATATYPES)('%s round-trips, whatever the alignment of the bytes it reads', (datatype) => {
    fc.assert(
      fc.property(tensorArb(datatype), fc.integer({ min: 0, max: 7 }), (tensor, offset) => {
        const wire = tensorToBytes(tensor);
        expect(wire.byteLength).toBe(tensorByteLength(tensor));
        if (datatype !== 'BYTES') expect(wire.byteLength).toBe(countOf(tensor.shape) * WIRE_BYTES[datatype]);
        // The slice of a request body starts anywhere: copy it to an odd offset.
        const body = new Uint8Array(offset + wire.byteLength);
        body.set(wire, offset);
        const back = tensorFromBytes('t', datatype, tensor.shape, body.subarray(offset));
        expect(back.datatype).toBe(datatype);
        expect(back.shape).toEqual(tensor.shape);
        expect(elementBytes(back)).toEqual(elementBytes(tensor));
      }),
    );
  });

  it('writes little-endian', () => {
    const bytes = (datatype: Datatype, data: Tensor['data']): number[] => [...tensorToBytes({ datatype, shape: [1], data })];
    expect(bytes('FP32', Float32Array.of(1))).toEqual([0, 0, 0x80, 0x3f]);
    expect(bytes('FP64', Float64Array.of(-2))).toEqual([0, 0, 0, 0, 0, 0, 0, 0xc0]);
    expect(bytes('UINT16', Uint16Array.of(0x0102))).toEqual([2, 1]);
    expect(bytes('INT32', Int32Array.of(-2))).toEqual([0xfe, 0xff, 0xff, 0xff]);
    expect(bytes('INT64', BigInt64Array.of(2n ** 53n + 1n))).toEqual([1, 0, 0, 0, 0, 0, 0x20, 0]);
    expect(bytes('UINT64', BigUint64Array.of(2n ** 64n - 1n))).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    expect(bytes('FP16', Uint16Array.of(0x3c00))).toEqual([0, 0x3c]);
    expect(bytes('BOOL', Uint8Array.of(1))).toEqual([1]);
    expect(tensorFromBytes('t', 'INT64', [1], Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)).data).toEqual(BigInt64Array.of(2n ** 63n - 1n));
  });

  it('writes BYTES as a 4-byte little-endian length before each element', () => {
    const data = [new Uint8Array(Buffer.from('hi')), new Uint8Array(0), new Uint8Array(300).fill(7)];
    const wire = tensorToBytes({ datatype: 'BYTES', shape: [3], data });
    expect([...wire.subarray(0, 6)]).toEqual([2, 0, 0, 0, 0x68, 0x69]);
    expect([...wire.subarray(6, 10)]).toEqual([0, 0, 0, 0]);
    expect([...wire.subarray(10, 14)]).toEqual([44, 1, 0, 0]);
    expect(wire.byteLength).toBe(14 + 300);
    fc.assert(
      fc.property(tensorArb('BYTES'), (tensor) => {
        const bytes = tensorToBytes(tensor);
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        const read: number[][] = [];
        for (let offset = 0; offset < bytes.byteLength; ) {
          const length = view.getUint32(offset, true);
          read.push([...bytes.subarray(offset + 4, offset + 4 + length)]);
          offset += 4 + length;
        }
        expect(read).toEqual(elementBytes(tensor));
      }),
    );
  });

  it.each(DATATYPES.filter((d) => d !== 'BYTES'))("%s: refuses any byte count but the shape's, with 400", (datatype) => {
    fc.assert(
      fc.property(shapeArb, fc.integer({ min: 0, max: 200 }), (shape, length) => {
        fc.pre(length !== countOf(shape) * WIRE_BYTES[datatype]);
        expectInvalid(() => tensorFromBytes('t', datatype, shape, new Uint8Array(length)));
      }),
    );
  });

  it('BYTES: refuses a truncated length or element, trailing bytes, or the wrong element count', () => {
    const wire = tensorToBytes({ datatype: 'BYTES', shape: [2], data: [Uint8Array.of(1, 2, 3), Uint8Array.of(4)] });
    for (let cut = 1; cut < wire.byteLength; cut++) expectInvalid(() => tensorFromBytes('t', 'BYTES', [2], wire.subarray(0, cut)));
    const extra = new Uint8Array(wire.byteLength + 1);
    extra.set(wire);
    expectInvalid(() => tensorFromBytes('t', 'BYTES', [2], extra));
    expectInvalid(() => tensorFromBytes('t', 'BYTES', [3], wire));
    expectInvalid(() => tensorFromBytes('t', 'BYTES', [1], wire));
    expect(tensorFromBytes('t', 'BYTES', [0], new Uint8Array(0)).data).toEqual([]);
  });

  it('BOOL: refuses a byte other than 0 or 1', () => {
    expectInvalid(() => tensorFromBytes('t', 'BOOL', [2], Uint8Array.of(1, 2)));
  });

  it('names the input in its errors', () => {
    expect(expectInvalid(() => tensorFromBytes('pixels', 'FP32', [2], new Uint8Array(7))).message).toContain('"pixels"');
  });
});

describe('sliceBinarySection', () => {
  /** Tensors in a request: each binary (its bytes) or JSON (undefined). */
  const sectionArb = fc.array(fc.option(fc.uint8Array({ maxLength: 40 }), { nil: undefined }), { maxLength: 6 });
  const concat = (chunks: readonly (Uint8Array | undefined)[]): Uint8Array => new Uint8Array(Buffer.concat(chunks.flatMap((c) => (c === undefined ? [] : [c]))));

  it('gives each binary tensor its own bytes, in order, and JSON tensors none', () => {
    fc.assert(
      fc.property(sectionArb, (chunks) => {
        const slices = sliceBinarySection(
          chunks.map((c) => c?.byteLength),
          concat(chunks),
          chunks.map((_, i) => `t${i}`),
        );
        expect(slices.map((s) => (s === undefined ? undefined : [...s]))).toEqual(chunks.map((c) => (c === undefined ? undefined : [...c])));
      }),
    );
  });

  it('refuses sizes that do not add up to the section: bytes left over or missing', () => {
    fc.assert(
      fc.property(sectionArb, fc.integer({ min: 1, max: 16 }), fc.boolean(), (chunks, delta, over) => {
        const binary = concat(chunks);
        const sizes = chunks.map((c) => c?.byteLength);
        fc.pre(over || binary.byteLength >= delta);
        const wrong = over ? new Uint8Array(binary.byteLength + delta) : binary.subarray(0, binary.byteLength - delta);
        wrong.set(binary.subarray(0, wrong.byteLength));
        expectInvalid(() => sliceBinarySection(sizes, wrong, sizes.map((_, i) => `t${i}`)));
      }),
    );
  });

  it('refuses a size that is not a non-negative integer', () => {
    for (const size of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) expectInvalid(() => sliceBinarySection([size], new Uint8Array(4), ['x']));
  });
});

describe('the binary body: header length and split', () => {
  it('reads a decimal header length no longer than the body', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 10_000 }), (length, body) => {
        if (length <= body) expect(parseHeaderLength(String(length), body)).toBe(length);
        else expectInvalid(() => parseHeaderLength(String(length), body));
      }),
    );
    expect(parseHeaderLength(undefined, 10)).toBeUndefined();
  });

  it('refuses a header length that is not a non-negative decimal integer', () => {
    for (const text of ['', ' ', 'abc', '-1', '+1', '1.5', '1e3', '0x10', '12abc', 'NaN', 'Infinity', '١٢']) expectInvalid(() => parseHeaderLength(text, 1_000_000));
  });

  it('splits what it encodes: the JSON header (its UTF-8 bytes counted), then the binary section', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 30 }), fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 4 }), (text, chunks) => {
        const header = JSON.stringify({ id: text });
        const { body, headerLength } = encodeBinaryBody(header, chunks);
        expect(headerLength).toBe(Buffer.byteLength(header, 'utf8'));
        const split = splitBinaryBody(body, headerLength);
        expect(split.header).toBe(header);
        expect([...split.binary]).toEqual([...Buffer.concat(chunks)]);
      }),
    );
  });
});
