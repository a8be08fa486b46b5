/**
 * Mini-batches over a dataset. Each iterator allocates one x/y buffer pair and one index array,
 * and every batch of every epoch is copied into them: no full-dataset copies per epoch.
 * @module
 */
import { EcomlError } from '../errors.js';
import { PyRandom, shuffleInPlace } from '../util/random.js';
import { featureSize } from './shape.js';
import type { Dataset } from './types.js';

/** A batch of `n` samples. x and y are views of the iterator's reused buffers: valid until the next batch. */
export interface Batch {
  readonly x: Float32Array;
  readonly y: Int32Array;
  readonly n: number;
  /** The rows of BatchOptions.aligned for these samples, in the same order (a view like x and y). */
  readonly aligned?: Float32Array;
}

export interface BatchOptions {
  /** Shuffle each epoch (default true). */
  readonly shuffle?: boolean;
  readonly seed?: number;
  /** Per-sample rows kept with the samples (e.g. a teacher's probabilities): `width` values for each of the dataset's n. */
  readonly aligned?: { readonly values: Float32Array; readonly width: number };
}

/** Seed of an epoch's permutation: distinct per (seed, epoch) for any run shorter than 1,000,003 epochs. */
export function epochSeed(seed: number, epoch: number): number {
  const derived = seed * 1_000_003 + epoch;
  if (!Number.isSafeInteger(derived)) {
    throw new EcomlError('E_CONFIG_INVALID', `seed ${seed} and epoch ${epoch} must be integers small enough to combine (seed × 1000003 + epoch)`, {
      details: { seed, epoch },
    });
  }
  return derived;
}

export class BatchIterator {
  private readonly k: number;
  private readonly xBuffer: Float32Array;
  private readonly yBuffer: Int32Array;
  private readonly order: Uint32Array;
  private readonly alignedBuffer: Float32Array | undefined;

  constructor(
    private readonly ds: Dataset,
    private readonly batchSize: number,
    private readonly options: BatchOptions = {},
  ) {
    if (!Number.isSafeInteger(batchSize) || batchSize <= 0) {
      throw new EcomlError('E_CONFIG_INVALID', `batch size must be a positive integer, got ${batchSize}`, { details: { batchSize } });
    }
    this.k = featureSize(ds.featureShape);
    const capacity = Math.min(batchSize, ds.n);
    this.xBuffer = new Float32Array(capacity * this.k);
    this.yBuffer = new Int32Array(capacity);
    this.order = new Uint32Array(ds.n);
    const aligned = options.aligned;
    if (aligned !== undefined && aligned.values.length !== ds.n * aligned.width) {
      throw new EcomlError('E_SHAPE_MISMATCH', `${ds.n} samples need ${ds.n * aligned.width} aligned values (${aligned.width} each), got ${aligned.values.length}`, {
        details: { expected: ds.n * aligned.width, got: aligned.values.length },
      });
    }
    this.alignedBuffer = aligned === undefined ? undefined : new Float32Array(capacity * aligned.width);
  }

  /** Number of batches per epoch, the last possibly partial. */
  get batchesPerEpoch(): number {
    return Math.ceil(this.ds.n / this.batchSize);
  }

  /** The batches of one epoch, in the order PyRandom(epochSeed(seed, epoch)) shuffles them. */
  *epoch(epoch: number): Generator<Batch> {
    const { ds, k, order, xBuffer, yBuffer, alignedBuffer } = this;
    const width = this.options.aligned?.width ?? 0;
    const alignedValues = this.options.aligned?.values;
    for (let i = 0; i < ds.n; i++) order[i] = i;
    if (this.options.shuffle ?? true) shuffleInPlace(order, new PyRandom(epochSeed(this.options.seed ?? 0, epoch)));
    for (let start = 0; start < ds.n; start += this.batchSize) {
      const n = Math.min(this.batchSize, ds.n - start);
      for (let r = 0; r < n; r++) {
        const i = order[start + r] as number;
        xBuffer.set(ds.x.subarray(i * k, (i + 1) * k), r * k);
        yBuffer[r] = ds.y[i] as number;
        alignedBuffer?.set((alignedValues as Float32Array).subarray(i * width, (i + 1) * width), r * width);
      }
      yield { x: xBuffer.subarray(0, n * k), y: yBuffer.subarray(0, n), n, ...(alignedBuffer === undefined ? {} : { aligned: alignedBuffer.subarray(0, n * width) }) };
    }
  }
}

/** One epoch's batches; for many epochs, keep one BatchIterator and call epoch() on it. */
export function batches(ds: Dataset, batchSize: number, options: BatchOptions & { readonly epoch?: number } = {}): Generator<Batch> {
  return new BatchIterator(ds, batchSize, options).epoch(options.epoch ?? 0);
}
