import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchIterator, batches, epochSeed, limitDataset, splitValidation, type Dataset } from '../../src/data/index.js';
import { expectError } from './helpers.js';

/** Sample i has features [i, -i] and label i, so a batch tells which samples it holds. */
function indexed(n: number): Dataset {
  const x = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) x.set([i, -i], 2 * i);
  return { name: 'idx', x, y: Int32Array.from({ length: n }, (_, i) => i), n, featureShape: [2], numClasses: n };
}

function epochOrder(iterator: BatchIterator, epoch: number): number[] {
  const seen: number[] = [];
  for (const b of iterator.epoch(epoch)) {
    for (let r = 0; r < b.n; r++) {
      expect([b.x[2 * r], b.x[2 * r + 1]]).toEqual([b.y[r], -(b.y[r] as number)]);
      seen.push(b.y[r] as number);
    }
  }
  return seen;
}

describe('limitDataset', () => {
  it('takes the first n samples as views', () => {
    const ds = indexed(5);
    const few = limitDataset(ds, 2);
    expect(few.n).toBe(2);
    expect(few.x.buffer).toBe(ds.x.buffer);
    expect(Array.from(few.y)).toEqual([0, 1]);
    expect(limitDataset(ds, 50)).toBe(ds);
    expectError(() => limitDataset(ds, 0), 'E_CONFIG_INVALID');
    expectError(() => limitDataset(ds, 1.5), 'E_CONFIG_INVALID');
  });
});

describe('splitValidation', () => {
  it('is seeded, disjoint, complete and order-preserving', () => {
    const ds = indexed(100);
    const a = splitValidation(ds, 0.2, 7);
    const b = splitValidation(ds, 0.2, 7);
    expect([a.train.n, a.validation.n]).toEqual([80, 20]);
    expect(a.validation.y).toEqual(b.validation.y);
    const all = [...a.train.y, ...a.validation.y].sort((p, q) => p - q);
    expect(all).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect([...a.validation.y]).toEqual([...a.validation.y].sort((p, q) => p - q));
    expect(splitValidation(ds, 0.2, 8).validation.y).not.toEqual(a.validation.y);
    expect(Array.from(a.train.x.subarray(0, 2))).toEqual([a.train.y[0], -(a.train.y[0] as number)]);
  });

  it('refuses a split that leaves a side empty', () => {
    expectError(() => splitValidation(indexed(3), 0.9, 1), 'E_CONFIG_INVALID');
    expect(splitValidation(indexed(3), 0.01, 1).validation.n).toBe(1);
    expectError(() => splitValidation(indexed(3), 0, 1), 'E_CONFIG_INVALID');
    expectError(() => splitValidation(indexed(3), 1, 1), 'E_CONFIG_INVALID');
  });
});

describe('batches', () => {
  it('yields full batches then the partial last one, reusing one buffer pair', () => {
    const iterator = new BatchIterator(indexed(10), 4, { shuffle: false });
    const got = [...iterator.epoch(0)].map((b) => ({ n: b.n, buffer: b.x.buffer, yBuffer: b.y.buffer }));
    expect(got.map((b) => b.n)).toEqual([4, 4, 2]);
    expect(new Set(got.map((b) => b.buffer)).size).toBe(1);
    expect(new Set(got.map((b) => b.yBuffer)).size).toBe(1);
    expect(iterator.batchesPerEpoch).toBe(3);
    expect(epochOrder(iterator, 3)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('is reproducible for a seed and epoch', () => {
    const ds = indexed(50);
    const order = (seed: number, epoch: number): number[] => [...batches(ds, 8, { seed, epoch })].flatMap((b) => Array.from(b.y));
    expect(order(3, 1)).toEqual(order(3, 1));
    expect(order(3, 1)).not.toEqual(order(3, 2));
    expect(order(3, 1)).not.toEqual(order(4, 1));
    expect(epochSeed(3, 1)).toBe(3_000_010);
    expectError(() => epochSeed(2 ** 50, 0), 'E_CONFIG_INVALID');
    expectError(() => new BatchIterator(ds, 0), 'E_CONFIG_INVALID');
  });

  it('gives each epoch a permutation of all samples, different between epochs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 20, max: 300 }), fc.integer({ min: 1, max: 64 }), fc.nat(1_000_000), fc.nat(1000), (n, batchSize, seed, epoch) => {
        const iterator = new BatchIterator(indexed(n), batchSize, { seed });
        const first = epochOrder(iterator, epoch);
        const second = epochOrder(iterator, epoch + 1);
        const all = Array.from({ length: n }, (_, i) => i);
        expect([...first].sort((a, b) => a - b)).toEqual(all);
        expect([...second].sort((a, b) => a - b)).toEqual(all);
        expect(second).not.toEqual(first);
      }),
      { numRuns: 60 },
    );
  });

  it('gathers aligned rows in the order of the shuffled samples, into one reused buffer, and refuses rows that do not fit', () => {
    const ds = indexed(23);
    // Sample i's row is [i, 100 + i, 200 + i].
    const values = Float32Array.from({ length: 3 * ds.n }, (_, k) => 100 * (k % 3) + Math.floor(k / 3));
    const iterator = new BatchIterator(ds, 5, { seed: 4, aligned: { values, width: 3 } });
    const buffers = new Set<ArrayBufferLike>();
    for (const epoch of [1, 2]) {
      const seen: number[] = [];
      for (const b of iterator.epoch(epoch)) {
        const rows = b.aligned as Float32Array;
        buffers.add(rows.buffer);
        expect(rows).toHaveLength(3 * b.n);
        for (let r = 0; r < b.n; r++) expect(Array.from(rows.subarray(3 * r, 3 * r + 3))).toEqual([0, 100, 200].map((o) => o + (b.y[r] as number)));
        seen.push(...b.y);
      }
      expect(seen).not.toEqual([...seen].sort((a, c) => a - c));
    }
    expect(buffers.size).toBe(1);
    expect([...batches(ds, 5)].every((b) => b.aligned === undefined)).toBe(true);
    expectError(() => new BatchIterator(ds, 5, { aligned: { values: values.subarray(3), width: 3 } }), 'E_SHAPE_MISMATCH');
  });
});
