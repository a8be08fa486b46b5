/**
 * What every ONNX model of a spec checks and computes around its runs, trainable or inference
 * graph only: the batch's shape and labels before a run, and the loss and accuracy from the
 * class probabilities after one.
 * @module
 */
import * as ort from 'onnxruntime-node';
import { EcomlError } from '../../errors.js';
import type { ModelSpec } from '../../models/spec.js';
import { checkBatchSize, guarded, inBatches } from '../guard.js';
import type { BatchMetrics } from '../types.js';
import { LOSSES } from './losses.js';

/** `n` samples of `spec.input` in `x` (and, given `y`, `n` labels within the classes), or E_SHAPE_MISMATCH. */
export function checkBatch(spec: ModelSpec, inputSize: number, x: Float32Array, n: number, y?: Int32Array): void {
  if (!Number.isInteger(n) || n < 0) throw new EcomlError('E_SHAPE_MISMATCH', `the sample count must be a non-negative integer, got ${n}`);
  if (x.length < n * inputSize) {
    throw new EcomlError('E_SHAPE_MISMATCH', `${n} samples of shape [${spec.input.join(', ')}] need ${n * inputSize} values, got ${x.length}`, {
      details: { expected: n * inputSize, got: x.length, featureShape: [...spec.input] },
    });
  }
  if (y === undefined) return;
  if (y.length < n) throw new EcomlError('E_SHAPE_MISMATCH', `${n} samples need ${n} labels, got ${y.length}`, { details: { expected: n, got: y.length } });
  for (let i = 0; i < n; i++) {
    const label = y[i] as number;
    if (label < 0 || label >= spec.numClasses) {
      throw new EcomlError('E_SHAPE_MISMATCH', `label ${label} at index ${i} is outside 0…${spec.numClasses - 1} (the model has ${spec.numClasses} classes)`, {
        details: { index: i, label, numClasses: spec.numClasses },
      });
    }
  }
}

/** The metrics the spec asks for, from a batch's mean loss and count of correct predictions. */
export function batchMetrics(spec: ModelSpec, loss: number, correct: number, n: number): BatchMetrics {
  return { loss, ...(spec.compile.metrics.includes('accuracy') ? { accuracy: correct / n } : {}) };
}

/** The spec's loss (per sample, as the tfjs engine computes it) and accuracy over `n` rows of class probabilities. */
export function scoreProbabilities(spec: ModelSpec, probs: Float32Array, y: Int32Array, n: number): BatchMetrics {
  const classes = spec.numClasses;
  const loss = LOSSES[spec.compile.loss];
  let total = 0;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const row = probs.subarray(i * classes, (i + 1) * classes);
    const label = y[i] as number;
    total += loss.sample(row, label);
    let best = 0;
    for (let c = 1; c < classes; c++) if ((row[c] as number) > (row[best] as number)) best = c;
    if (best === label) correct++;
  }
  return batchMetrics(spec, total / n, correct, n);
}

/** Class probabilities for `n` samples, `batchSize` at a time, from an inference graph taking `x` and giving `probs`. */
export async function predictInBatches(
  engine: string,
  spec: ModelSpec,
  inputSize: number,
  session: () => Promise<ort.InferenceSession>,
  x: Float32Array,
  n: number,
  batchSize: number,
): Promise<Float32Array> {
  checkBatch(spec, inputSize, x, n);
  return inBatches(n, batchSize, spec.numClasses, async (start, count) => {
    const input = new ort.Tensor('float32', x.subarray(start * inputSize, (start + count) * inputSize), [count, ...spec.input]);
    const result = await guarded(engine, 'prediction', async () => (await session()).run({ x: input }));
    return result.probs?.data as Float32Array;
  });
}

/** The spec's loss and accuracy over `n` labelled samples, from the model's own predictions. */
export async function evaluateByPredicting(
  spec: ModelSpec,
  inputSize: number,
  predict: (x: Float32Array, n: number, batchSize: number) => Promise<Float32Array>,
  x: Float32Array,
  y: Int32Array,
  n: number,
  batchSize: number,
): Promise<BatchMetrics> {
  checkBatch(spec, inputSize, x, n, y);
  checkBatchSize(batchSize);
  if (n === 0) throw new EcomlError('E_SHAPE_MISMATCH', 'cannot evaluate on 0 samples');
  return scoreProbabilities(spec, await predict(x, n, batchSize), y, n);
}
