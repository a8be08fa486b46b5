/**
 * `train` as a library workflow: spec → data → compiled model → fit (metered per epoch,
 * checkpointed, resumable) → test evaluation → saved model directory, all recorded in the run store.
 * @module
 */
import { dirname, join, resolve } from 'node:path';
import { loadTrainTest, type Dataset, type Preprocessing } from '../data/index.js';
import type { CompiledModel } from '../engine/types.js';
import { EcomlError } from '../errors.js';
import { sumMeasurements, type Measurement } from '../meter/index.js';
import { checkModelDirTarget, defaultHpValues, loadSpecFile, resolveModelSpec, type SpecFile } from '../models/index.js';
import type { HpValue, ModelSpec } from '../models/spec.js';
import type { RunPart } from '../store/index.js';
import { budgetStop, fit, forecastRun, readCheckpoint, type BatchProgress, type EpochRecord, type FitResult, type Forecast } from '../train/index.js';
import { carbonStartFor, carbonStartMetrics, type CarbonStart, type CarbonStartFields } from './carbon-start.js';
import { evaluateModel, type EvaluationReport } from './evaluate.js';
import { saveTrainedModel } from './save.js';
import type { Workspace } from './workspace.js';

export interface TrainOverrides {
  readonly epochs?: number;
  readonly batchSize?: number;
  readonly seed?: number;
  readonly validationSplit?: number;
  readonly patience?: number;
  readonly minDelta?: number;
  readonly trainLimit?: number;
  readonly testLimit?: number;
  /** Stop before an epoch that would take the run past this energy (kWh) or these emissions (kg CO2e). */
  readonly budgetKwh?: number;
  readonly budgetKg?: number;
}

export interface PreparedData {
  readonly train: Dataset;
  readonly validation?: Dataset;
  readonly test?: Dataset;
  readonly preprocessing: Preprocessing;
  /** Where validation metrics come from: a held-out split of train, or the test split (Keras Tuner's recipe). */
  readonly validationSource: 'split' | 'test' | 'none';
}

export interface TrainCallbacks {
  readonly onBatch?: (progress: BatchProgress) => void;
  readonly onEpochEnd?: (record: EpochRecord, epochs: number) => void;
  /** Called once, after the first metered epoch, with the whole run's predicted totals. */
  readonly onForecast?: (forecast: Forecast) => void;
  readonly signal?: AbortSignal;
}

export interface TrainedModel {
  readonly compiled: CompiledModel;
  readonly spec: ModelSpec;
  readonly file: SpecFile;
  /** The spec file's directory: relative data paths in it resolve against this. */
  readonly specDir: string;
  readonly hyperparameters: Readonly<Record<string, HpValue>>;
  readonly data: PreparedData;
  readonly fit: FitResult;
  readonly measurement: Measurement;
  /** The prediction made after the first metered epoch of this call. */
  readonly forecast?: Forecast;
  readonly settings: { readonly epochs: number; readonly batchSize: number; readonly seed: number };
}

export async function loadSpec(path: string, cwd: string): Promise<{ file: SpecFile; baseDir: string }> {
  const full = resolve(cwd, path);
  return { file: await loadSpecFile(full), baseDir: dirname(full) };
}

export async function prepareData(
  file: SpecFile,
  baseDir: string,
  overrides: TrainOverrides,
): Promise<PreparedData> {
  const fraction = overrides.validationSplit ?? file.train.validationSplit;
  // The validation rows are split off before preprocessing is fitted, so they cannot leak into it.
  const loaded = await loadTrainTest(file.data, {
    baseDir,
    normalize: file.normalize,
    ...(overrides.trainLimit !== undefined ? { trainLimit: overrides.trainLimit } : {}),
    ...(overrides.testLimit !== undefined ? { testLimit: overrides.testLimit } : {}),
    ...(file.numClasses !== undefined ? { numClasses: file.numClasses } : {}),
    ...(fraction > 0 ? { validation: { fraction, seed: overrides.seed ?? file.train.seed } } : {}),
  });
  const test = loaded.test ? { test: loaded.test } : {};
  if (loaded.validation) return { train: loaded.train, validation: loaded.validation, ...test, preprocessing: loaded.preprocessing, validationSource: 'split' };
  if (loaded.test) return { train: loaded.train, validation: loaded.test, test: loaded.test, preprocessing: loaded.preprocessing, validationSource: 'test' };
  return { train: loaded.train, preprocessing: loaded.preprocessing, validationSource: 'none' };
}

/** Fits one model of `file` with `hyperparameters` on prepared data. Used by train, tune and quickstart. */
export async function trainModel(
  ws: Workspace,
  args: {
    readonly file: SpecFile;
    readonly specDir: string;
    readonly data: PreparedData;
    readonly hyperparameters?: Readonly<Record<string, HpValue>>;
    readonly overrides: TrainOverrides;
    readonly runId: string;
    readonly checkpointDir?: string;
    readonly resumeFrom?: string;
    readonly label?: string;
    readonly shouldStop?: (nextEpoch: number, history: readonly EpochRecord[]) => string | undefined;
    /** Awaited after each epoch is recorded: a tuner reports it here, and may stop training by throwing. */
    readonly afterEpoch?: (record: EpochRecord) => Promise<void>;
  } & TrainCallbacks,
): Promise<TrainedModel> {
  const { file, data, overrides } = args;
  const numClasses = file.numClasses ?? data.train.numClasses;
  const hyperparameters = args.hyperparameters ?? defaultHpValues(file.tune?.space ?? {});
  const spec = resolveModelSpec(file, hyperparameters, { numClasses });
  const epochs = overrides.epochs ?? file.train.epochs;
  const batchSize = overrides.batchSize ?? file.train.batchSize;
  const seed = overrides.seed ?? file.train.seed;
  const early = file.train.earlyStopping;
  const patience = overrides.patience ?? early?.patience;
  const earlyStopping =
    patience === undefined
      ? undefined
      : { monitor: early?.monitor ?? (data.validation ? 'val_loss' : 'loss'), patience, minDelta: overrides.minDelta ?? early?.minDelta ?? 0 };

  const compiled = await ws.engineFor(spec).compile(spec, { seed });
  try {
    let resume;
    if (args.resumeFrom !== undefined) {
      const checkpoint = await readCheckpoint(args.resumeFrom);
      compiled.setWeights(checkpoint.weights);
      await compiled.setOptimizerState(checkpoint.optimizer);
      resume = checkpoint.state;
      ws.log(`resuming ${checkpoint.state.runId} after epoch ${checkpoint.state.epoch}`);
    }
    const budget = { ...(overrides.budgetKwh !== undefined ? { kwh: overrides.budgetKwh } : {}), ...(overrides.budgetKg !== undefined ? { kgCo2e: overrides.budgetKg } : {}) };
    // Forecasts and budgets cover the whole run, resumed epochs included.
    const history: EpochRecord[] = [...(resume?.history ?? [])];
    let forecast: Forecast | undefined;
    const window = await ws.meter.begin(args.label ?? 'train');
    const result = await fit({
      model: compiled,
      train: data.train,
      ...(data.validation ? { validation: data.validation } : {}),
      epochs,
      batchSize,
      seed,
      shuffle: file.train.shuffle,
      ...(earlyStopping ? { earlyStopping } : {}),
      meter: ws.meter,
      ...(args.checkpointDir ? { checkpoint: { dir: args.checkpointDir, runId: args.runId } } : {}),
      ...(resume ? { resume } : {}),
      ...(args.signal ? { signal: args.signal } : {}),
      shouldStop: (nextEpoch, history) => args.shouldStop?.(nextEpoch, history) ?? budgetStop(history, budget),
      ...(args.onBatch ? { onBatch: args.onBatch } : {}),
      onEpochEnd: async (record) => {
        ws.store.addEpoch(args.runId, record.epoch, record.metrics, record.measurement ?? null);
        args.onEpochEnd?.(record, epochs);
        history.push(record);
        if (forecast === undefined) {
          forecast = forecastRun(history, epochs);
          // A forecast is only news while epochs remain.
          if (forecast && forecast.epochs > forecast.basedOn) args.onForecast?.(forecast);
        }
        await args.afterEpoch?.(record);
      },
    });
    const measurement = await window.end();
    return {
      compiled,
      spec,
      file,
      specDir: args.specDir,
      hyperparameters,
      data,
      fit: result,
      measurement,
      ...(forecast ? { forecast } : {}),
      settings: { epochs, batchSize, seed },
    };
  } catch (error) {
    compiled.dispose();
    throw error;
  }
}

export interface TrainRequest extends TrainOverrides, TrainCallbacks, CarbonStartFields {
  readonly specPath: string;
  readonly hyperparameters?: Readonly<Record<string, HpValue>>;
  /** Model directory to write; default `models/<spec name>`. */
  readonly outDir?: string;
  /** A run id (or unique prefix) whose checkpoint to continue. */
  readonly resume?: string;
}

/** One process's share of a run (the first, each --resume), as reports list it. */
export interface RunPartJson {
  readonly part: number;
  readonly pid: number | null;
  readonly host: string | null;
  readonly status: string;
  readonly started_at: string;
  readonly ended_at: string | null;
  readonly joules: number | null;
}

export interface TrainReport {
  readonly run_id: string;
  readonly model_dir: string;
  readonly spec: string;
  readonly engine: string;
  readonly hyperparameters: Readonly<Record<string, HpValue>>;
  readonly epochs: readonly { readonly epoch: number; readonly metrics: Readonly<Record<string, number>>; readonly duration_s: number; readonly joules?: number }[];
  readonly stop_reason: string;
  readonly forecast?: Forecast;
  /** How long the start waited for a cleaner grid, when asked to. */
  readonly carbonStart?: CarbonStart;
  readonly metrics: Readonly<Record<string, number>>;
  readonly evaluation?: EvaluationReport;
  /** Every process that worked on the run, this one last. */
  readonly parts: readonly RunPartJson[];
  readonly measurements: {
    readonly train: Measurement;
    readonly evaluate?: Measurement;
    readonly save: Measurement;
    /** What the processes before this one (a resumed run's) spent. */
    readonly earlier?: Measurement;
    /** The whole run: every part, this process's included. */
    readonly total: Measurement;
  };
}

export async function trainFromSpec(ws: Workspace, request: TrainRequest): Promise<TrainReport> {
  const { file, baseDir } = await loadSpec(request.specPath, ws.cwd);
  const modelDir = checkedModelDir(ws, request.outDir, file.name);
  const previous = request.resume === undefined ? undefined : ws.store.getRun(request.resume);
  if (previous && previous.kind !== 'train') throw new EcomlError('E_CONFIG_INVALID', `--resume needs a train run; ${previous.id} is a ${previous.kind} run`);
  // The wait comes after every check that can fail, and before the run opens: a run held back for
  // hours is not yet running (nor beating its heartbeat), and the idle wait is not its energy.
  const carbonStart = await carbonStartFor(ws, request);
  let runId: string;
  let resumeFrom: string | undefined;
  if (previous) {
    runId = previous.id;
    resumeFrom = checkpointDirFor(ws, runId);
    ws.store.reopenRun(runId);
  } else {
    runId = ws.store.createRun({ kind: 'train', name: file.name, spec: file, params: { ...requestSettings(request, ws.cwd), ...(carbonStart ? { carbonStartRecord: carbonStart } : {}) } }).id;
  }
  const total = await ws.meter.begin('total');
  try {
    const data = await prepareData(file, baseDir, request);
    const trained = await trainModel(ws, {
      file,
      specDir: baseDir,
      data,
      ...(request.hyperparameters ? { hyperparameters: request.hyperparameters } : {}),
      overrides: request,
      runId,
      checkpointDir: checkpointDirFor(ws, runId),
      ...(resumeFrom ? { resumeFrom } : {}),
      ...pickCallbacks(request),
    });
    try {
      let evaluation: EvaluationReport | undefined;
      if (data.test) evaluation = await evaluateModel(ws, trained.compiled, data.test, { batchSize: trained.settings.batchSize });
      const last = trained.fit.history.at(-1)?.metrics ?? {};
      const metrics: Record<string, number> = { ...last, ...(carbonStart ? carbonStartMetrics(carbonStart) : {}) };
      if (evaluation) {
        metrics.test_loss = evaluation.loss;
        if (evaluation.accuracy !== undefined) metrics.test_accuracy = evaluation.accuracy;
      }
      const saved = await saveTrainedModel(ws, trained, modelDir, { metrics, runId, ...(evaluation ? { evaluation } : {}) });
      const stopReason = trained.fit.stopReason;
      const run = ws.store.finishRun(runId, {
        status: stopReason === 'completed' || stopReason === 'early_stopping' ? 'completed' : 'stopped',
        stopReason,
        metrics,
        measurement: await total.end(),
        modelDir,
      });
      const earlier = measurementsOf(run.parts.slice(0, -1));
      return {
        run_id: runId,
        model_dir: modelDir,
        spec: file.name,
        engine: trained.compiled.engine,
        hyperparameters: trained.hyperparameters,
        epochs: trained.fit.history.map((e) => ({
          epoch: e.epoch,
          metrics: e.metrics,
          duration_s: e.durationS,
          ...(e.measurement ? { joules: e.measurement.energy.joules } : {}),
        })),
        stop_reason: stopReason,
        ...(trained.forecast ? { forecast: trained.forecast } : {}),
        ...(carbonStart ? { carbonStart } : {}),
        metrics,
        ...(evaluation ? { evaluation } : {}),
        parts: run.parts.map(partJson),
        measurements: {
          train: trained.measurement,
          ...(evaluation ? { evaluate: evaluation.measurement } : {}),
          save: saved.measurement,
          ...(earlier.length > 0 ? { earlier: sumMeasurements('earlier', earlier) } : {}),
          total: run.measurement as Measurement,
        },
      };
    } finally {
      trained.compiled.dispose();
    }
  } catch (error) {
    // An interrupted or failed run still spent energy: it counts towards the run's total.
    const spent = await total.end().catch(() => undefined);
    ws.store.finishRun(runId, { status: 'failed', error: { message: (error as Error).message, code: (error as EcomlError).code ?? 'E_INTERNAL' }, ...(spent ? { measurement: spent } : {}) });
    throw error;
  }
}

/** The measurements of these parts (each holds a Measurement, or none yet). */
function measurementsOf(parts: readonly RunPart[]): Measurement[] {
  return parts.flatMap((p) => (p.measurement === null ? [] : [p.measurement as Measurement]));
}

function partJson(part: RunPart): RunPartJson {
  const joules = (part.measurement as Measurement | null)?.energy.joules ?? null;
  return { part: part.part, pid: part.pid, host: part.host, status: part.status, started_at: part.startedAt, ended_at: part.endedAt, joules };
}

/**
 * What a run records of its request: plain settings, with the spec path made absolute. Callbacks,
 * the abort signal and preloaded data are dropped (functions and handles are not settings).
 */
export function requestSettings(request: object & { readonly specPath: string }, cwd: string): Record<string, unknown> {
  const settings = Object.fromEntries(
    Object.entries(request as Record<string, unknown>).filter(([key, value]) => typeof value !== 'function' && !(value instanceof AbortSignal) && key !== 'data'),
  );
  return { ...settings, specPath: resolve(cwd, request.specPath) };
}

/**
 * The model directory a request saves to (its --out, else models/<name>), checked before any work:
 * a model that cannot be saved is better refused now than after the last epoch.
 */
export function checkedModelDir(ws: Workspace, outDir: string | undefined, name: string): string {
  const dir = resolve(ws.cwd, outDir ?? join('models', name));
  checkModelDirTarget(dir, outDir !== undefined ? `--out ${outDir}` : `model directory ${dir}`);
  return dir;
}

export function checkpointDirFor(ws: Workspace, runId: string): string {
  return join(ws.storeDir, 'checkpoints', runId);
}

export function pickCallbacks(source: TrainCallbacks): TrainCallbacks {
  return {
    ...(source.onBatch ? { onBatch: source.onBatch } : {}),
    ...(source.onEpochEnd ? { onEpochEnd: source.onEpochEnd } : {}),
    ...(source.onForecast ? { onForecast: source.onForecast } : {}),
    ...(source.signal ? { signal: source.signal } : {}),
  };
}
