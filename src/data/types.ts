/**
 * In-memory datasets: one contiguous Float32Array of features and one Int32Array of labels.
 * Batches are views or reused buffers over these arrays, never per-epoch tensor copies.
 * @module
 */

export interface Dataset {
  readonly name: string;
  /** Row-major features, length = n × prod(featureShape). */
  readonly x: Float32Array;
  /** Class labels 0 … numClasses-1, length = n. */
  readonly y: Int32Array;
  readonly n: number;
  /** Shape of one sample, e.g. [28, 28, 1] for MNIST or [k] for k CSV feature columns. */
  readonly featureShape: readonly number[];
  readonly numClasses: number;
  /** Class names by id, when labels were text (CSV): id i is classNames[i]. */
  readonly classNames?: readonly string[];
  /** Feature column names (CSV), so a test split or prediction file can be checked against them. */
  readonly featureNames?: readonly string[];
  /** Largest value the source encoding can hold (255 for ubyte IDX and PNG): what 'scale' divides by. */
  readonly valueMax?: number;
}

/** How raw values were turned into model inputs; stored in the model's sidecar so predict repeats it. */
export type Preprocessing =
  | { readonly kind: 'scale'; readonly scale: number }
  | { readonly kind: 'standardize'; readonly mean: readonly number[]; readonly std: readonly number[] }
  | { readonly kind: 'none' };
