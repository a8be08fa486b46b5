/**
 * Subsets of a dataset: the first n samples (views, no copy) and a seeded train/validation split.
 * @module
 */
import { EcomlError } from '../errors.js';
import { PyRandom, shuffleInPlace } from '../util/random.js';
import { featureSize, resolveLimit } from './shape.js';
import type { Dataset } from './types.js';

/** The first `limit` samples as subarray views of `ds` (the same dataset when it has no more). */
export function limitDataset(ds: Dataset, limit: number): Dataset {
  const n = resolveLimit(ds.n, limit);
  if (n === ds.n) return ds;
  return { ...ds, n, x: ds.x.subarray(0, n * featureSize(ds.featureShape)), y: ds.y.subarray(0, n) };
}

/** Copies the given samples, in the given order, into a new contiguous dataset. */
export function selectRows(ds: Dataset, indices: ArrayLike<number>, name: string): Dataset {
  const k = featureSize(ds.featureShape);
  const x = new Float32Array(indices.length * k);
  const y = new Int32Array(indices.length);
  for (let r = 0; r < indices.length; r++) {
    const i = indices[r] as number;
    x.set(ds.x.subarray(i * k, (i + 1) * k), r * k);
    y[r] = ds.y[i] as number;
  }
  return { ...ds, name, n: indices.length, x, y };
}

/**
 * Holds out `fraction` of the samples for validation: indices are shuffled with PyRandom(seed);
 * the last n − ⌊n·(1 − fraction)⌋ of them (Keras's rounding) go to validation. Each part keeps
 * the original sample order.
 */
export function splitValidation(ds: Dataset, fraction: number, seed: number): { train: Dataset; validation: Dataset } {
  const trainCount = Math.floor(ds.n * (1 - fraction));
  if (!(fraction > 0 && fraction < 1) || trainCount < 1 || trainCount >= ds.n) {
    throw new EcomlError('E_CONFIG_INVALID', `validation fraction ${fraction} of ${ds.n} samples must leave at least one sample on each side`, {
      details: { fraction, n: ds.n },
    });
  }
  const order = Uint32Array.from({ length: ds.n }, (_, i) => i);
  shuffleInPlace(order, new PyRandom(seed));
  return {
    train: selectRows(ds, order.subarray(0, trainCount).sort(), `${ds.name}[train]`),
    validation: selectRows(ds, order.subarray(trainCount).sort(), `${ds.name}[validation]`),
  };
}
