import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyPreprocessing, fitPreprocessing, loadMnist, mnistDataDir } from '../../src/data/index.js';
import { expectError } from './helpers.js';

describe('MNIST', () => {
  it('finds the package data directory', () => {
    expect(existsSync(join(mnistDataDir(), 'train-images-idx3-ubyte'))).toBe(true);
  });

  it('loads all 60,000 training images, first label 5, scaled into [0, 1]', () => {
    const train = loadMnist('train');
    expect(train).toMatchObject({ name: 'mnist-train', n: 60_000, featureShape: [28, 28, 1], numClasses: 10, valueMax: 255 });
    expect(train.x.length).toBe(60_000 * 784);
    expect(train.y[0]).toBe(5);
    const p = fitPreprocessing('scale', train);
    expect(p).toEqual({ kind: 'scale', scale: 1 / 255 });
    applyPreprocessing(p, train.x);
    let min = Infinity;
    let max = -Infinity;
    for (const v of train.x) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect([min, max]).toEqual([0, 1]);
  });

  it('loads the 10,000 test images, and a limit', () => {
    const test = loadMnist('test');
    expect(test.n).toBe(10_000);
    expect(test.y[0]).toBe(7);
    const few = loadMnist('train', { limit: 100 });
    expect(few.n).toBe(100);
    expect(few.x.length).toBe(78_400);
    expect(Array.from(few.y.subarray(0, 5))).toEqual([5, 0, 4, 1, 9]);
  });

  it('rejects a class count its labels do not fit', () => {
    expectError(() => loadMnist('test', { limit: 50, numClasses: 3 }), 'E_DATA_MALFORMED');
    expectError(() => loadMnist('test', { limit: 0 }), 'E_CONFIG_INVALID');
  });
});
