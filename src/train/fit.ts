/**
 * The training loop: epochs of seeded, streamed mini-batches through an engine's CompiledModel,
 * validation after each epoch, early stopping, a checkpoint per epoch, and an energy window per
 * epoch. Engine-neutral: it only sees typed arrays and the CompiledModel interface.
 * @module
 */
import { batches } from '../data/index.js';
import type { Dataset } from '../data/types.js';
import type { CompiledModel } from '../engine/types.js';
import { EcomlError } from '../errors.js';
import type { Measurement } from '../meter/types.js';
import { writeCheckpoint } from './checkpoint.js';
import { INITIAL_EARLY_STOPPING, stepEarlyStopping, type EarlyStoppingConfig, type EarlyStoppingState } from './early-stopping.js';

export type EpochMetrics = Readonly<Record<string, number>>;

export interface EpochRecord {
  /** 1-based. */
  readonly epoch: number;
  readonly metrics: EpochMetrics;
  readonly durationS: number;
  readonly samplesPerSecond: number;
  readonly measurement?: Measurement;
}

/** The slice of a meter the loop needs: one window per epoch. */
export interface EpochMeter {
  begin(label: string): Promise<{ end(): Promise<Measurement> }>;
}

export interface BatchProgress {
  readonly epoch: number;
  readonly epochs: number;
  readonly batch: number;
  readonly batches: number;
  readonly loss: number;
}

export interface FitOptions {
  readonly model: CompiledModel;
  readonly train: Dataset;
  readonly validation?: Dataset;
  /**
   * A teacher's class probabilities for `train`, row-major train.n × numClasses, aligned with
   * train.x: each batch's rows go to trainBatch with it (a model compiled for distillation).
   */
  readonly teacher?: Float32Array;
  readonly epochs: number;
  readonly batchSize: number;
  readonly seed: number;
  readonly shuffle: boolean;
  readonly earlyStopping?: EarlyStoppingConfig;
  readonly meter?: EpochMeter;
  /** Written after every epoch when set. */
  readonly checkpoint?: { readonly dir: string; readonly runId: string };
  /** Continue from this state (loaded with readCheckpoint; weights already set on the model). */
  readonly resume?: { readonly epoch: number; readonly history: readonly EpochRecord[]; readonly earlyStopping: EarlyStoppingState };
  /** Checked between batches: an aborted signal ends training with E_INTERRUPTED; the last epoch's checkpoint stays valid for --resume. */
  readonly signal?: AbortSignal;
  /** Returns a reason to stop before the given epoch starts (e.g. an energy budget), or undefined. */
  readonly shouldStop?: (nextEpoch: number, history: readonly EpochRecord[]) => string | undefined;
  readonly onBatch?: (progress: BatchProgress) => void;
  /**
   * Awaited after every optimizer step with the steps taken so far, counted across epochs (a resumed
   * run counts the epochs before it in full): where training is changed between steps, as pruning
   * zeroes weights.
   */
  readonly afterStep?: (steps: number) => Promise<void>;
  readonly onEpochEnd?: (record: EpochRecord) => void | Promise<void>;
}

export type StopReason = 'completed' | 'early_stopping' | string;

export interface FitResult {
  readonly history: readonly EpochRecord[];
  readonly stopReason: StopReason;
  readonly earlyStopping: EarlyStoppingState;
}

export async function fit(options: FitOptions): Promise<FitResult> {
  const { model, train, validation, epochs, batchSize } = options;
  checkShapes(model, train, 'training');
  if (validation) checkShapes(model, validation, 'validation');
  const aligned = options.teacher === undefined ? undefined : { values: options.teacher, width: model.spec.numClasses };
  if (options.teacher !== undefined && options.teacher.length !== train.n * model.spec.numClasses) {
    throw new EcomlError('E_SHAPE_MISMATCH', `the teacher gave ${options.teacher.length} probabilities for ${train.n} training samples of ${model.spec.numClasses} classes (${train.n * model.spec.numClasses} needed)`, {
      details: { expected: train.n * model.spec.numClasses, got: options.teacher.length },
    });
  }

  const history: EpochRecord[] = [...(options.resume?.history ?? [])];
  let early = options.resume?.earlyStopping ?? INITIAL_EARLY_STOPPING;
  const batchCount = Math.ceil(train.n / batchSize);
  let steps = (options.resume?.epoch ?? 0) * batchCount;
  let stopReason: StopReason = 'completed';

  for (let epoch = (options.resume?.epoch ?? 0) + 1; epoch <= epochs; epoch++) {
    const external = options.shouldStop?.(epoch, history);
    if (external !== undefined) {
      stopReason = external;
      break;
    }
    const window = await options.meter?.begin(`epoch ${epoch}`);
    const started = performance.now();
    let lossSum = 0;
    let accuracySum = 0;
    let seen = 0;
    let batch = 0;
    for (const b of batches(train, batchSize, { shuffle: options.shuffle, seed: options.seed, epoch, ...(aligned === undefined ? {} : { aligned }) })) {
      if (options.signal?.aborted) throw new EcomlError('E_INTERRUPTED', `training interrupted during epoch ${epoch}`);
      const m = await model.trainBatch(b.x, b.y, b.n, b.aligned);
      if (!Number.isFinite(m.loss)) {
        throw new EcomlError('E_ENGINE_FAILED', `loss became ${m.loss} at epoch ${epoch}, batch ${batch + 1}: lower the learning rate or check the data`, {
          details: { epoch, batch: batch + 1 },
        });
      }
      steps++;
      await options.afterStep?.(steps);
      lossSum += m.loss * b.n;
      accuracySum += (m.accuracy ?? 0) * b.n;
      seen += b.n;
      batch++;
      options.onBatch?.({ epoch, epochs, batch, batches: batchCount, loss: lossSum / seen });
    }
    const trainSeconds = (performance.now() - started) / 1000;
    const metrics: Record<string, number> = { loss: lossSum / seen };
    if (model.spec.compile.metrics.includes('accuracy')) metrics.accuracy = accuracySum / seen;
    if (validation) {
      const v = await model.evaluate(validation.x, validation.y, validation.n, Math.max(batchSize, 256));
      metrics.val_loss = v.loss;
      if (v.accuracy !== undefined) metrics.val_accuracy = v.accuracy;
    }
    const measurement = await window?.end();
    const record: EpochRecord = {
      epoch,
      metrics,
      durationS: (performance.now() - started) / 1000,
      samplesPerSecond: train.n / trainSeconds,
      ...(measurement ? { measurement } : {}),
    };
    history.push(record);

    if (options.earlyStopping) {
      const value = metrics[options.earlyStopping.monitor];
      if (value === undefined) {
        throw new EcomlError('E_CONFIG_INVALID', `early stopping monitors "${options.earlyStopping.monitor}", which this run does not compute (has: ${Object.keys(metrics).join(', ')})`);
      }
      early = stepEarlyStopping(options.earlyStopping, early, epoch, value);
    }
    if (options.checkpoint) {
      await writeCheckpoint(
        options.checkpoint.dir,
        { runId: options.checkpoint.runId, epoch, history, earlyStopping: early },
        await model.getWeights(),
        await model.getOptimizerState(),
      );
    }
    await options.onEpochEnd?.(record);
    if (early.stop) {
      stopReason = 'early_stopping';
      break;
    }
  }
  return { history, stopReason, earlyStopping: early };
}

function checkShapes(model: CompiledModel, data: Dataset, role: string): void {
  const expected = model.spec.input;
  const perSample = expected.reduce((a, b) => a * b, 1);
  const got = data.featureShape.reduce((a, b) => a * b, 1);
  if (perSample !== got) {
    throw new EcomlError(
      'E_SHAPE_MISMATCH',
      `the ${role} data has samples of shape [${data.featureShape.join(', ')}] (${got} values) but model "${model.spec.name}" takes [${expected.join(', ')}] (${perSample} values)`,
      { details: { role, dataShape: data.featureShape, modelInput: expected } },
    );
  }
  if (data.numClasses > model.spec.numClasses) {
    throw new EcomlError('E_SHAPE_MISMATCH', `the ${role} data has ${data.numClasses} classes but the model outputs ${model.spec.numClasses}`, {
      details: { role, dataClasses: data.numClasses, modelClasses: model.spec.numClasses },
    });
  }
}
