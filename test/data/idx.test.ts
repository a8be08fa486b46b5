import { describe, expect, it } from 'vitest';
import { decodeIdx, encodeIdx, loadIdxPair, parseIdx, readIdxFile, type IdxType } from '../../src/data/index.js';
import { expectError, fixture, tempDir } from './helpers.js';

const dir = tempDir();

const SAMPLES: Record<IdxType, number[]> = {
  ubyte: [0, 1, 127, 128, 254, 255],
  sbyte: [-128, -1, 0, 1, 100, 127],
  short: [-32768, -300, 0, 1, 300, 32767],
  int: [-2147483648, -70000, 0, 1, 70000, 2147483647],
  float: [-1.5, 0, Math.fround(0.1), 3.25, Math.fround(1e20), -Math.fround(1e-20)],
  double: [-1.5, 0, 0.1, Math.PI, 1e300, -1e-300],
};

describe('IDX round trip', () => {
  for (const [type, values] of Object.entries(SAMPLES) as [IdxType, number[]][]) {
    it(`encodes and decodes ${type}`, () => {
      const file = fixture(dir, `rt-${type}.idx`, encodeIdx(type, [3, 2], values));
      const idx = readIdxFile(file);
      expect(idx.type).toBe(type);
      expect(idx.dims).toEqual([3, 2]);
      expect(Array.from(decodeIdx(idx, Float64Array))).toEqual(values);
      expect(Array.from(decodeIdx(idx, Float64Array, 2))).toEqual(values.slice(0, 4));
    });
  }

  it('refuses to encode values the type cannot hold', () => {
    expect(expectError(() => encodeIdx('ubyte', [2], [1, 256]), 'E_DATA_MALFORMED').message).toMatch(/value 256 at index 1 is not a ubyte/);
    expectError(() => encodeIdx('short', [1], [0.5]), 'E_DATA_MALFORMED');
    expectError(() => encodeIdx('ubyte', [2, 2], [1, 2, 3]), 'E_SHAPE_MISMATCH');
  });

  it('loads an images/labels pair with a channel axis for 2-D samples', () => {
    const images = fixture(dir, 'img.idx', encodeIdx('ubyte', [3, 2, 2], [0, 255, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    const labels = fixture(dir, 'lab.idx', encodeIdx('ubyte', [3], [2, 0, 1]));
    const ds = loadIdxPair(images, labels);
    expect(ds).toMatchObject({ n: 3, featureShape: [2, 2, 1], numClasses: 3, valueMax: 255, name: images });
    expect(Array.from(ds.x)).toEqual([0, 255, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(Array.from(ds.y)).toEqual([2, 0, 1]);
    const limited = loadIdxPair(images, labels, { limit: 2, numClasses: 5 });
    expect(limited).toMatchObject({ n: 2, numClasses: 5 });
    expect(limited.x.length).toBe(8);
  });

  it('keeps vector and multi-channel sample shapes as they are', () => {
    const labels = fixture(dir, 'lab2.idx', encodeIdx('ubyte', [2], [0, 1]));
    const vectors = fixture(dir, 'vec.idx', encodeIdx('float', [2, 3], [1, 2, 3, 4, 5, 6]));
    const ds = loadIdxPair(vectors, labels);
    expect(ds.featureShape).toEqual([3]);
    expect(ds.valueMax).toBeUndefined();
    const rgb = fixture(dir, 'rgb.idx', encodeIdx('ubyte', [2, 1, 2, 3], new Array(12).fill(7)));
    expect(loadIdxPair(rgb, labels).featureShape).toEqual([1, 2, 3]);
  });
});

describe('malformed IDX', () => {
  const good = encodeIdx('ubyte', [2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]);

  function malformedAt(bytes: Uint8Array, name: string, offset: number, text: RegExp): void {
    const file = fixture(dir, name, bytes);
    const err = expectError(() => readIdxFile(file), 'E_DATA_MALFORMED');
    expect(err.message).toContain(file);
    expect(err.message).toContain(`byte ${offset}`);
    expect(err.message).toMatch(text);
    expect(err.details).toEqual({ file, offset });
  }

  it('rejects a file shorter than the magic number', () => malformedAt(good.subarray(0, 3), 'short.idx', 3, /shorter than the 4-byte magic/));
  it('rejects a truncated header', () => malformedAt(good.subarray(0, 10), 'header.idx', 10, /16-byte header, file has 10 bytes/));
  it('rejects a wrong magic number', () => {
    malformedAt(Buffer.from([0x1f, 0x8b, 8, 0]), 'gzip.idx', 0, /bad magic number/);
    malformedAt(Buffer.from([0, 1, 8, 1, 0, 0, 0, 0]), 'magic1.idx', 1, /bad magic number/);
  });
  it('rejects an unknown type code', () => {
    const bytes = Buffer.from(good);
    bytes[2] = 0x0a;
    malformedAt(bytes, 'type.idx', 2, /unknown data type code 0x0a/);
  });
  it('rejects zero dimensions and zero-sized dimensions', () => {
    malformedAt(Buffer.from([0, 0, 8, 0]), 'ndims.idx', 3, /number of dimensions is 0/);
    malformedAt(Buffer.from([0, 0, 8, 2, 0, 0, 0, 1, 0, 0, 0, 0]), 'dim0.idx', 8, /dimension 1 has size 0/);
  });
  it('rejects truncated data, saying expected and actual bytes', () => {
    malformedAt(good.subarray(0, good.length - 3), 'trunc.idx', good.length - 3, /need 8 data bytes after the 16-byte header, found 5/);
    malformedAt(encodeIdx('short', [2], [1, 2]).subarray(0, 10), 'trunc16.idx', 10, /need 4 data bytes after the 8-byte header, found 2/);
  });
  it('rejects trailing bytes', () => malformedAt(Buffer.concat([good, Buffer.from([9])]), 'trail.idx', 24, /1 unexpected bytes/));

  it('rejects images and labels whose counts differ, naming both files', () => {
    const images = fixture(dir, 'pair-img.idx', good);
    const labels = fixture(dir, 'pair-lab.idx', encodeIdx('ubyte', [3], [0, 1, 2]));
    const err = expectError(() => loadIdxPair(images, labels), 'E_DATA_MALFORMED');
    expect(err.message).toContain(images);
    expect(err.message).toContain(labels);
    expect(err.message).toContain('byte 4');
    expect(err.details).toMatchObject({ file: images, labelsFile: labels, offset: 4, imagesCount: 2, labelsCount: 3 });
  });

  it('rejects labels out of range or not whole numbers, at their byte offset', () => {
    const images = fixture(dir, 'rng-img.idx', good);
    const labels = fixture(dir, 'rng-lab.idx', encodeIdx('ubyte', [2], [3, 10]));
    const err = expectError(() => loadIdxPair(images, labels, { numClasses: 10 }), 'E_DATA_MALFORMED');
    expect(err.message).toMatch(/byte 9: label out of range: 10/);
    expect(err.details).toEqual({ file: labels, offset: 9 });
    const negative = fixture(dir, 'neg-lab.idx', encodeIdx('sbyte', [2], [0, -1]));
    expect(expectError(() => loadIdxPair(images, negative), 'E_DATA_MALFORMED').message).toMatch(/byte 9: label out of range: -1 is negative/);
    const fractional = fixture(dir, 'frac-lab.idx', encodeIdx('float', [2], [0.5, 1]));
    expect(expectError(() => loadIdxPair(images, fractional), 'E_DATA_MALFORMED').message).toMatch(/byte 8: label 0.5 is not a whole number/);
  });

  it('rejects files of the wrong rank for their role', () => {
    const labels = fixture(dir, 'rank-lab.idx', encodeIdx('ubyte', [2], [0, 1]));
    const images = fixture(dir, 'rank-img.idx', good);
    expect(expectError(() => loadIdxPair(labels, labels), 'E_DATA_MALFORMED').message).toMatch(/needs at least 2 dimensions/);
    expect(expectError(() => loadIdxPair(images, images), 'E_DATA_MALFORMED').message).toMatch(/labels file must have 1 dimension, found 3/);
  });

  it('reports a missing file as E_FILE_NOT_FOUND', () => {
    const missing = `${dir}/nope.idx`;
    expect(expectError(() => readIdxFile(missing), 'E_FILE_NOT_FOUND').details).toEqual({ path: missing, errno: 'ENOENT' });
  });

  it('parses from a buffer that is a slice of a larger one', () => {
    const pooled = Buffer.concat([Buffer.from([1, 2, 3]), encodeIdx('short', [2], [-5, 300])]).subarray(3);
    expect(Array.from(decodeIdx(parseIdx(pooled, 'mem'), Float32Array))).toEqual([-5, 300]);
  });
});
