import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeIdx, loadTrainTest } from '../../src/data/index.js';
import { expectError, fixture, tempDir } from './helpers.js';

const dir = tempDir();
mkdirSync(join(dir, 'idx'));
fixture(dir, 'idx/train-images', encodeIdx('ubyte', [4, 2, 2], [0, 255, 0, 255, 51, 51, 51, 51, 0, 0, 0, 0, 255, 255, 255, 255]));
fixture(dir, 'idx/train-labels', encodeIdx('ubyte', [4], [0, 1, 2, 1]));
fixture(dir, 'idx/test-images', encodeIdx('ubyte', [2, 2, 2], [255, 0, 0, 0, 0, 0, 0, 255]));
fixture(dir, 'idx/test-labels', encodeIdx('ubyte', [2], [2, 0]));
fixture(dir, 'idx/wide-images', encodeIdx('ubyte', [2, 2, 3], new Array(12).fill(0)));
fixture(dir, 'train.csv', 'a,b,species\n1,10,cat\n3,10,dog\n5,10,cat\n');
fixture(dir, 'test.csv', 'a,b,species\n3,20,dog\n');
fixture(dir, 'other-test.csv', 'b,a,species\n3,20,dog\n');

const idxSpec = { source: 'idx', trainImages: 'idx/train-images', trainLabels: 'idx/train-labels', testImages: 'idx/test-images', testLabels: 'idx/test-labels' } as const;

describe('loadTrainTest', () => {
  it('loads MNIST with limits, scaled by the training fit', () => {
    const { train, test, preprocessing } = loadTrainTest({ source: 'mnist' }, { baseDir: dir, normalize: 'scale', trainLimit: 64, testLimit: 32 });
    expect([train.n, test?.n]).toEqual([64, 32]);
    expect(preprocessing).toEqual({ kind: 'scale', scale: 1 / 255 });
    expect(Math.max(...train.x)).toBeLessThanOrEqual(1);
    expect(test?.y[0]).toBe(7);
  });

  it('resolves IDX paths against baseDir and applies one preprocessing to both splits', () => {
    const { train, test, preprocessing } = loadTrainTest(idxSpec, { baseDir: dir, normalize: 'scale' });
    expect(train).toMatchObject({ n: 4, numClasses: 3, featureShape: [2, 2, 1] });
    expect(Array.from(train.x.subarray(0, 4))).toEqual([0, 1, 0, 1]);
    expect(Array.from(test?.x ?? [])).toEqual([1, 0, 0, 0, 0, 0, 0, 1]);
    expect(preprocessing.kind).toBe('scale');
  });

  it('fits CSV standardization on the training split only and shares its classes', () => {
    const { train, test, preprocessing } = loadTrainTest(
      { source: 'csv', train: 'train.csv', test: 'test.csv', labelColumn: 'species' },
      { baseDir: dir, normalize: 'standardize' },
    );
    expect(preprocessing).toMatchObject({ kind: 'standardize', mean: [3, 10] });
    expect(train.classNames).toEqual(['cat', 'dog']);
    expect(Array.from(test?.y ?? [])).toEqual([1]);
    expect(Array.from(test?.x ?? [])).toEqual([0, 10]);
  });

  it('can hold out validation data before fitting', () => {
    const { train, validation, preprocessing } = loadTrainTest(
      { source: 'csv', train: 'train.csv', labelColumn: 'species' },
      { baseDir: dir, normalize: 'scale', validation: { fraction: 0.3, seed: 1 } },
    );
    expect([train.n, validation?.n]).toEqual([2, 1]);
    expect(preprocessing.kind).toBe('scale');
    expect(Math.max(...train.x)).toBe(1);
  });

  it('rejects a test split that does not fit the training data', () => {
    const wide = expectError(() => loadTrainTest({ ...idxSpec, testImages: 'idx/wide-images' }, { baseDir: dir, normalize: 'none' }), 'E_SHAPE_MISMATCH');
    expect(wide.message).toMatch(/sample shape \[2, 3, 1\], training data has \[2, 2, 1\]/);
    const columns = expectError(
      () => loadTrainTest({ source: 'csv', train: 'train.csv', test: 'other-test.csv', labelColumn: 'species' }, { baseDir: dir, normalize: 'none' }),
      'E_SHAPE_MISMATCH',
    );
    expect(columns.message).toMatch(/feature columns \(b, a\), training data has \(a, b\)/);
    expectError(() => loadTrainTest({ ...idxSpec, testLabels: undefined }, { baseDir: dir, normalize: 'none' }), 'E_SPEC_INVALID');
    expectError(() => loadTrainTest(idxSpec, { baseDir: dir, normalize: 'none', numClasses: 2 }), 'E_DATA_MALFORMED');
    expectError(() => loadTrainTest({ ...idxSpec, trainImages: 'nope' }, { baseDir: dir, normalize: 'none' }), 'E_FILE_NOT_FOUND');
  });
});
