/**
 * Evaluation: loss, accuracy, per-class precision/recall, confusion matrix, and the inference
 * resource profile (latency at batch 1, throughput and energy per 1,000 predictions, metered).
 * @module
 */
import type { Dataset } from '../data/index.js';
import type { Predictor } from '../engine/types.js';
import type { Measurement } from '../meter/index.js';
import type { Workspace } from './workspace.js';

export interface ClassReport {
  readonly class: number;
  readonly name?: string;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  readonly support: number;
}

export interface InferenceProfile {
  readonly batch_size: number;
  readonly samples_per_second: number;
  /** Median wall time of one single-sample prediction. */
  readonly latency_ms_batch1: number;
  readonly joules_per_1000: number;
  readonly method: string;
}

export interface EvaluationReport {
  readonly n: number;
  readonly loss: number;
  readonly accuracy?: number;
  readonly per_class: readonly ClassReport[];
  readonly confusion_matrix: readonly (readonly number[])[];
  readonly inference: InferenceProfile;
  /** The whole evaluation: loss pass, prediction pass and the batch-1 latency probe. */
  readonly measurement: Measurement;
}

const LATENCY_SAMPLES = 50;

/** Index of the largest value in each row. */
export function argmaxRows(probabilities: Float32Array, n: number, classes: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestValue = -Infinity;
    for (let c = 0; c < classes; c++) {
      const v = probabilities[i * classes + c] as number;
      if (v > bestValue) {
        bestValue = v;
        best = c;
      }
    }
    out[i] = best;
  }
  return out;
}

/** confusion[true][predicted] */
export function confusionMatrix(truth: Int32Array, predicted: Int32Array, classes: number): number[][] {
  const m = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < truth.length; i++) {
    const row = m[truth[i] as number];
    if (row) row[predicted[i] as number] = (row[predicted[i] as number] ?? 0) + 1;
  }
  return m;
}

export function perClassReport(confusion: readonly (readonly number[])[], names?: readonly string[]): ClassReport[] {
  return confusion.map((row, c) => {
    const tp = row[c] ?? 0;
    const support = row.reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((sum, r) => sum + (r[c] ?? 0), 0);
    const precision = predicted === 0 ? 0 : tp / predicted;
    const recall = support === 0 ? 0 : tp / support;
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    const name = names?.[c];
    return { class: c, ...(name !== undefined ? { name } : {}), precision, recall, f1, support };
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export async function evaluateModel(
  ws: Workspace,
  model: Predictor,
  data: Dataset,
  options: { readonly batchSize: number; readonly classNames?: readonly string[] },
): Promise<EvaluationReport> {
  const classes = model.spec.numClasses;
  const batchSize = Math.max(options.batchSize, 256);
  const whole = await ws.meter.begin('evaluate');
  const metrics = await model.evaluate(data.x, data.y, data.n, batchSize);

  // The batched prediction pass alone gives the energy per 1,000 predictions.
  const window = await ws.meter.begin('predict');
  const started = performance.now();
  const probabilities = await model.predict(data.x, data.n, batchSize);
  const seconds = (performance.now() - started) / 1000;
  const predictMeasurement = await window.end();

  const latencyMs = await batch1LatencyMs(model, data);

  const measurement = await whole.end();
  const confusion = confusionMatrix(data.y, argmaxRows(probabilities, data.n, classes), classes);
  const methods = [...new Set(predictMeasurement.energy.components.map((c) => c.method))];
  return {
    n: data.n,
    loss: metrics.loss,
    ...(metrics.accuracy !== undefined ? { accuracy: metrics.accuracy } : {}),
    per_class: perClassReport(confusion, options.classNames),
    confusion_matrix: confusion,
    inference: {
      batch_size: batchSize,
      samples_per_second: data.n / seconds,
      latency_ms_batch1: latencyMs,
      joules_per_1000: (predictMeasurement.energy.joules / data.n) * 1000,
      method: methods.join('+'),
    },
    measurement,
  };
}

/** The median time of one prediction at batch 1, over the first LATENCY_SAMPLES samples of `data`, in ms. */
export async function batch1LatencyMs(model: Predictor, data: Dataset): Promise<number> {
  const perSample = data.x.length / data.n;
  const latencies: number[] = [];
  for (let i = 0; i < Math.min(LATENCY_SAMPLES, data.n); i++) {
    const t0 = performance.now();
    await model.predict(data.x.subarray(i * perSample, (i + 1) * perSample), 1, 1);
    latencies.push(performance.now() - t0);
  }
  return median(latencies);
}

/** The report without its raw Measurement, for JSON output where energy is reported separately. */
export function evaluationJson(report: EvaluationReport): Omit<EvaluationReport, 'measurement'> {
  const { measurement: _measurement, ...rest } = report;
  return rest;
}
