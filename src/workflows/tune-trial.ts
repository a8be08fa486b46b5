/**
 * One execution of one tuning trial, as plain JSON in (a TrialJob) and out: the same function runs
 * in the tuning process and in `ecoml worker` on another machine. It trains (or, for a Hyperband
 * promotion, continues the parent's checkpoint), reports every epoch with the energy spent so far,
 * measures the trial-level objectives the study asks for, and writes the checkpoint a scheduler
 * promotes from.
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EpochRecord } from '../train/index.js';
import { writeCheckpoint } from '../train/index.js';
import { readModelDir } from '../models/index.js';
import type { HpValue, SpecFile } from '../models/spec.js';
import type { EpochMetrics, ExecutionResult } from '../tune/index.js';
import { batch1LatencyMs } from './evaluate.js';
import { saveTrainedModel } from './save.js';
import { pickCallbacks, trainModel, type PreparedData, type TrainCallbacks, type TrainedModel, type TrainOverrides } from './train.js';
import type { Workspace } from './workspace.js';

/** Trial-level values measured after training, only when an objective or constraint names them. */
export const TRIAL_MEASURES = ['latency_ms', 'size_bytes'] as const;
export type TrialMeasure = (typeof TRIAL_MEASURES)[number];

/** Everything an execution needs, JSON-serialisable so a queue can carry it. */
export interface TrialJob {
  readonly file: SpecFile;
  readonly specDir: string;
  readonly overrides: TrainOverrides;
  readonly study: string;
  readonly trialNumber: number;
  readonly execution: number;
  readonly values: Readonly<Record<string, HpValue>>;
  readonly seed: number;
  /** Train until this epoch. */
  readonly epochs: number;
  /** Where to write the final training state, for a scheduler to promote from. */
  readonly checkpointDir?: string;
  /** A promotion: the parent's checkpoint to continue. */
  readonly resumeFrom?: string;
  readonly measure: readonly TrialMeasure[];
  /** The run-store run to record this execution under (a 'trial' child run). */
  readonly parentRunId?: string;
}

export interface TrialHooks extends TrainCallbacks {
  /** Called after each epoch with its metrics plus `joules` and `kg_co2e` spent so far; throws TrialPruned to stop. */
  readonly report: (step: number, metrics: EpochMetrics) => void | Promise<void>;
}

/**
 * Runs one execution. The trained model is returned for the caller to keep or dispose. A pruned
 * or failed execution throws, with what it spent on the error's `summary` (see runStudy).
 */
export async function runTrialJob(ws: Workspace, job: TrialJob, data: PreparedData, hooks: TrialHooks): Promise<{ result: ExecutionResult; trained: TrainedModel }> {
  const child = ws.store.createRun({
    kind: 'trial',
    name: `${job.study}#${job.trialNumber}.${job.execution}`,
    ...(job.parentRunId === undefined ? {} : { parentId: job.parentRunId }),
    params: { values: job.values, seed: job.seed, epochs: job.epochs, ...(job.resumeFrom === undefined ? {} : { resumed_from: job.resumeFrom }) },
  });
  const spent = { joules: 0, kg_co2e: 0, epochs: 0 };
  let trained: TrainedModel | undefined;
  try {
    trained = await trainModel(ws, {
      file: job.file,
      specDir: job.specDir,
      data,
      hyperparameters: job.values,
      overrides: { ...job.overrides, seed: job.seed, epochs: job.epochs },
      runId: child.id,
      label: `trial ${job.trialNumber}`,
      ...(job.resumeFrom === undefined ? {} : { resumeFrom: job.resumeFrom }),
      ...pickCallbacks(hooks),
      afterEpoch: async (record: EpochRecord) => {
        spent.joules += record.measurement?.energy.joules ?? 0;
        spent.kg_co2e += record.measurement?.emissions.kgCo2e ?? 0;
        spent.epochs += 1;
        await hooks.report(record.epoch, { ...record.metrics, joules: spent.joules, kg_co2e: spent.kg_co2e });
      },
    });
    const model = trained;
    if (job.checkpointDir !== undefined) {
      await writeCheckpoint(job.checkpointDir, { runId: child.id, epoch: model.fit.history.length, history: model.fit.history, earlyStopping: model.fit.earlyStopping }, await model.compiled.getWeights(), await model.compiled.getOptimizerState());
    }
    const curve = model.fit.history.map((e) => e.metrics);
    const summary: Record<string, number> = {
      joules: model.measurement.energy.joules,
      kg_co2e: model.measurement.emissions.kgCo2e,
      epochs: spent.epochs,
      params: model.compiled.parameterCount,
      ...(await measureTrial(ws, model, job.measure)),
    };
    ws.store.finishRun(child.id, { status: 'completed', metrics: curve.at(-1) ?? {}, measurement: model.measurement, stopReason: model.fit.stopReason });
    return { result: { metricsByEpoch: curve, summary, energy: model.measurement, extra: { runId: child.id } }, trained: model };
  } catch (error) {
    trained?.compiled.dispose();
    if (error instanceof Error) (error as Error & { summary?: Record<string, number> }).summary = { ...spent };
    // TrialPruned here, or the queue's JobPrunedError on a worker: both carry the name.
    const pruned = (error as Error | undefined)?.name === 'TrialPruned';
    ws.store.finishRun(child.id, pruned ? { status: 'stopped', stopReason: 'pruned' } : { status: 'failed', error });
    throw error;
  }
}

/** The trial-level values the study asks for, measured on the trained model. */
async function measureTrial(ws: Workspace, trained: TrainedModel, measures: readonly TrialMeasure[]): Promise<Partial<Record<TrialMeasure, number>>> {
  const out: Partial<Record<TrialMeasure, number>> = {};
  for (const measure of measures) out[measure] = await MEASURES[measure](ws, trained);
  return out;
}

const MEASURES: { readonly [K in TrialMeasure]: (ws: Workspace, trained: TrainedModel) => Promise<number> } = {
  latency_ms: async (_ws, trained) => batch1LatencyMs(trained.compiled, trained.data.validation ?? trained.data.train),
  // What `ecoml train` would write for this model, saved for real and removed: its files' bytes as
  // the sidecar records them (the bytes_on_disk `evaluate` reports).
  size_bytes: async (ws, trained) => {
    const dir = await mkdtemp(join(tmpdir(), 'ecoml-size-'));
    try {
      await saveTrainedModel(ws, trained, join(dir, 'model'), { metrics: {}, runId: 'size-probe' });
      return (await readModelDir(join(dir, 'model'))).profile.bytesOnDisk;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};
