/**
 * `advise` as a library workflow (Zeus's idea, on this machine): measure energy per training sample
 * at several batch sizes × engine thread counts, then recommend the lowest-energy (or lowest Zeus
 * cost) setting within a slowdown budget. Optionally, each batch size is trained to a target
 * accuracy, and energy-to-accuracy and time-to-accuracy decide instead. The advice, written as JSON,
 * seeds a study (`readAdvice`). Each setting is one meter window; the run is recorded as 'advise'.
 * @module
 */

import { availableParallelism } from 'node:os';
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { batches, type Batch, type Dataset } from '../data/index.js';
import { createOnnxEngine } from '../engine/index.js';
import type { CompiledModel, Engine } from '../engine/types.js';
import { EcomlError } from '../errors.js';
import { sumMeasurements, type EnergyReport, type Measurement } from '../meter/index.js';
import { defaultHpValues, resolveModelSpec, type SpecFile } from '../models/index.js';
import type { HpValue, ModelSpec } from '../models/spec.js';
import { fit } from '../train/index.js';
import { fsError } from '../util/fs.js';
import { checkSelectionPolicy, selectSetting, zeusCost, type AdviceObjective, type SelectionPolicy } from './advise-select.js';
import { loadSpec, prepareData, requestSettings, type PreparedData } from './train.js';
import type { Workspace } from './workspace.js';

export const ADVISE_DEFAULTS = Object.freeze({
  batchSizes: [16, 32, 64, 128, 256] as readonly number[],
  samples: 2048,
  /** Zeus's GlobalPowerLimitOptimizer warms up 10 steps before it profiles. */
  warmupSteps: 10,
  eta: 0.5,
  maxSlowdown: 1.5,
  objective: 'energy' as AdviceObjective,
});

/** 1, 2, 4, … up to the machine's logical CPUs, and that count itself: the thread axis without one setting per core. */
export function defaultThreadsList(cores = availableParallelism()): number[] {
  const list: number[] = [];
  for (let t = 1; t < cores; t *= 2) list.push(t);
  list.push(Math.max(1, cores));
  return list;
}

export interface AccuracyTarget {
  /** Validation accuracy in (0, 1] to reach. */
  readonly accuracy: number;
  readonly maxEpochs: number;
}

export interface AdviseRequest {
  readonly specPath: string;
  readonly hyperparameters?: Readonly<Record<string, HpValue>>;
  readonly batchSizes?: readonly number[];
  /** Engine threads to try (the onnx engine's intra-op threads); default defaultThreadsList(). */
  readonly threadsList?: readonly number[];
  /** Training samples metered per setting (whole batches: a setting may run up to one batch more). */
  readonly samples?: number;
  /** Unmetered optimizer steps before each setting's window (session warm-up, first allocations). */
  readonly warmupSteps?: number;
  readonly eta?: number;
  readonly maxSlowdown?: number;
  readonly objective?: AdviceObjective;
  /** Train each batch size to this accuracy (at the throughput recommendation's thread count). */
  readonly target?: AccuracyTarget;
  readonly seed?: number;
  readonly trainLimit?: number;
  readonly testLimit?: number;
  readonly validationSplit?: number;
}

export interface AdviseCallbacks {
  /** Before each measurement: which one of how many. */
  readonly onStart?: (what: { readonly phase: 'throughput' | 'accuracy'; readonly batchSize: number; readonly threads: number; readonly index: number; readonly total: number }) => void;
  readonly onSetting?: (setting: SettingFigures) => void;
  readonly onAccuracyRun?: (run: AccuracyRun) => void;
  readonly signal?: AbortSignal;
}

/** One throughput setting, measured. Per-sample figures divide the window's by the samples it trained. */
export interface SettingFigures {
  readonly batchSize: number;
  readonly threads: number;
  readonly samples: number;
  readonly samplesPerSecond: number;
  /** Seconds and joules per sample (the selection's figures). */
  readonly seconds: number;
  readonly joules: number;
  /** The window's energy divided per sample: bounds, method and model per component. */
  readonly energyPerSample: EnergyReport;
  /** Zeus cost per sample, in joules. */
  readonly zeusCostJoules: number;
  readonly measurement: Measurement;
}

/** One batch size trained towards the target: energy-to-accuracy (ETA) and time-to-accuracy (TTA). */
export interface AccuracyRun {
  readonly batchSize: number;
  readonly threads: number;
  readonly reached: boolean;
  readonly epochs: number;
  readonly valAccuracy: number;
  /** TTA and ETA: to the epoch that reached the target, or over every epoch when none did. */
  readonly seconds: number;
  readonly joules: number;
  readonly energy: EnergyReport;
  readonly zeusCostJoules: number;
  readonly measurement: Measurement;
}

export interface Advice {
  readonly batchSize: number;
  readonly threads: number;
  /** 'throughput': energy per sample within the slowdown budget; 'accuracy': energy to the target accuracy within it. */
  readonly basis: 'throughput' | 'accuracy';
}

export interface AdviseReport {
  readonly runId: string;
  readonly spec: string;
  readonly engine: string;
  readonly hyperparameters: Readonly<Record<string, HpValue>>;
  readonly policy: SelectionPolicy;
  /** Where maxPowerWatts came from. */
  readonly maxPowerSource: string;
  readonly settings: readonly SettingFigures[];
  readonly throughput: { readonly chosen: SettingFigures; readonly fastest: SettingFigures; readonly eligible: readonly SettingFigures[] };
  readonly accuracy?: { readonly target: AccuracyTarget; readonly runs: readonly AccuracyRun[]; readonly chosen?: AccuracyRun; readonly fastest?: AccuracyRun };
  readonly advice: Advice;
  readonly notes: readonly string[];
  readonly measurement: Measurement;
}

function checkRequest(request: AdviseRequest, batchSizes: readonly number[], threadsList: readonly number[]): void {
  const bad = (what: string): EcomlError => new EcomlError('E_CONFIG_INVALID', what);
  const positiveInts = (list: readonly number[]): boolean => list.length > 0 && list.every((n) => Number.isInteger(n) && n >= 1);
  if (!positiveInts(batchSizes)) throw bad(`batch sizes must be integers ≥ 1, got ${batchSizes.join(',') || 'none'}`);
  if (!positiveInts(threadsList)) throw bad(`thread counts must be integers ≥ 1, got ${threadsList.join(',') || 'none'}`);
  if (request.samples !== undefined && !(Number.isInteger(request.samples) && request.samples >= 1)) throw bad(`samples must be an integer ≥ 1, got ${request.samples}`);
  if (request.warmupSteps !== undefined && !(Number.isInteger(request.warmupSteps) && request.warmupSteps >= 0)) throw bad(`warm-up steps must be an integer ≥ 0, got ${request.warmupSteps}`);
  const target = request.target;
  if (target && !(target.accuracy > 0 && target.accuracy <= 1)) throw bad(`the target accuracy must be in (0, 1], got ${target.accuracy}`);
  if (target && !(Number.isInteger(target.maxEpochs) && target.maxEpochs >= 1)) throw bad(`the most epochs must be an integer ≥ 1, got ${target.maxEpochs}`);
}

/** An energy report divided by `n` (per sample); bounds, methods and models kept. */
export function energyPer(energy: EnergyReport, n: number): EnergyReport {
  return {
    joules: energy.joules / n,
    low: energy.low / n,
    high: energy.high / n,
    kwh: energy.kwh / n,
    components: energy.components.map((c) => ({ ...c, joules: c.joules / n, low: c.low / n, high: c.high / n })),
  };
}

/** Batches over epochs without end, each epoch shuffled by its own seed as fit does. */
function* endlessBatches(train: Dataset, batchSize: number, seed: number, shuffle: boolean): Generator<Batch> {
  for (let epoch = 1; ; epoch++) yield* batches(train, batchSize, { shuffle, seed, epoch });
}

function interruptedIf(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new EcomlError('E_INTERRUPTED', 'advise interrupted');
}

export async function adviseFromSpec(ws: Workspace, request: AdviseRequest, callbacks: AdviseCallbacks = {}): Promise<AdviseReport> {
  const batchSizes = request.batchSizes ?? ADVISE_DEFAULTS.batchSizes;
  const policy: SelectionPolicy = {
    maxSlowdown: request.maxSlowdown ?? ADVISE_DEFAULTS.maxSlowdown,
    objective: request.objective ?? ADVISE_DEFAULTS.objective,
    eta: request.eta ?? ADVISE_DEFAULTS.eta,
    // What a second costs in Zeus's metric: the machine's full CPU power from the meter's power model.
    maxPowerWatts: ws.meter.hardware.tdpWatts,
  };
  checkSelectionPolicy(policy);
  checkRequest(request, batchSizes, request.threadsList ?? [1]);
  const { file, baseDir } = await loadSpec(request.specPath, ws.cwd);
  const data = await prepareData(file, baseDir, request);
  const numClasses = file.numClasses ?? data.train.numClasses;
  const hyperparameters = request.hyperparameters ?? defaultHpValues(file.tune?.space ?? {});
  const spec = resolveModelSpec(file, hyperparameters, { numClasses });
  const preferred = ws.engineFor(spec);
  const notes: string[] = [];
  // Threads are the onnx engine's: on the reference engine the axis has one value.
  let threadsList = request.threadsList ?? defaultThreadsList();
  if (preferred.name !== 'onnx') {
    if (request.threadsList !== undefined && request.threadsList.length > 1) throw new EcomlError('E_CONFIG_INVALID', `${spec.name} runs on ${preferred.name}, whose threads ecoml does not set: drop --threads-list`);
    threadsList = [1];
    notes.push(`${spec.name} runs on ${preferred.name}: only batch sizes are compared`);
  }
  const tooBig = batchSizes.filter((b) => b > data.train.n);
  if (tooBig.length > 0) throw new EcomlError('E_CONFIG_INVALID', `batch sizes ${tooBig.join(', ')} exceed the ${data.train.n} training samples: raise --train-limit or drop them`);
  if (request.target && !spec.compile.metrics.includes('accuracy')) throw new EcomlError('E_CONFIG_INVALID', `--target-accuracy needs a spec that computes accuracy; ${spec.name} has metrics [${spec.compile.metrics.join(', ')}]`);
  if (request.target && !data.validation) throw new EcomlError('E_CONFIG_INVALID', `--target-accuracy needs validation data: ${spec.name} has no test split; add --validation-split F`);

  const engines = new Map<number, Engine>();
  const engineWith = async (threads: number): Promise<Engine> => {
    if (preferred.name !== 'onnx') return preferred;
    let engine = engines.get(threads);
    if (engine === undefined) {
      engine = createOnnxEngine({ threads, device: ws.device });
      await engine.ready();
      engines.set(threads, engine);
    }
    return engine;
  };

  const seed = request.seed ?? file.train.seed;
  const run = ws.store.createRun({ kind: 'advise', name: file.name, spec: file, params: requestSettings(request, ws.cwd) });
  const total = await ws.meter.begin('advise');
  try {
    const settings: SettingFigures[] = [];
    const grid = threadsList.flatMap((threads) => batchSizes.map((batchSize) => ({ threads, batchSize })));
    for (const [index, { threads, batchSize }] of grid.entries()) {
      callbacks.onStart?.({ phase: 'throughput', batchSize, threads, index: index + 1, total: grid.length });
      const setting = await measureSetting(ws, await engineWith(threads), spec, data.train, { batchSize, threads, seed, shuffle: file.train.shuffle, samples: request.samples ?? ADVISE_DEFAULTS.samples, warmupSteps: request.warmupSteps ?? ADVISE_DEFAULTS.warmupSteps, policy, signal: callbacks.signal });
      settings.push(setting);
      callbacks.onSetting?.(setting);
    }
    // Never undefined: the grid has at least one setting (checkRequest).
    const picked = selectSetting(settings, policy) as NonNullable<ReturnType<typeof selectSetting<SettingFigures>>>;
    let advice: Advice = { batchSize: picked.chosen.batchSize, threads: picked.chosen.threads, basis: 'throughput' };

    let accuracy: AdviseReport['accuracy'];
    if (request.target) {
      const threads = picked.chosen.threads;
      const runs: AccuracyRun[] = [];
      for (const [index, batchSize] of batchSizes.entries()) {
        callbacks.onStart?.({ phase: 'accuracy', batchSize, threads, index: index + 1, total: batchSizes.length });
        const trained = await trainToAccuracy(ws, await engineWith(threads), spec, file, data, { batchSize, threads, seed, target: request.target, policy, signal: callbacks.signal });
        runs.push(trained);
        callbacks.onAccuracyRun?.(trained);
      }
      const reached = selectSetting(runs.filter((r) => r.reached), policy);
      accuracy = { target: request.target, runs, ...(reached ? { chosen: reached.chosen, fastest: reached.fastest } : {}) };
      if (reached) advice = { batchSize: reached.chosen.batchSize, threads, basis: 'accuracy' };
      else notes.push(`no batch size reached accuracy ${request.target.accuracy} in ${request.target.maxEpochs} epochs: the advice is the throughput one`);
    }

    const measurement = await total.end();
    const chosen = settings.find((s) => s.batchSize === advice.batchSize && s.threads === advice.threads) ?? picked.chosen;
    ws.store.finishRun(run.id, {
      status: 'completed',
      metrics: { batch_size: advice.batchSize, threads: advice.threads, j_per_sample: chosen.joules, samples_per_second: chosen.samplesPerSecond, settings: settings.length },
      measurement,
    });
    return {
      runId: run.id,
      spec: spec.name,
      engine: preferred.name,
      hyperparameters,
      policy,
      maxPowerSource: `cpu TDP ${ws.meter.hardware.tdpWatts} W (${ws.meter.hardware.tdpSource})`,
      settings,
      throughput: { chosen: picked.chosen, fastest: picked.fastest, eligible: picked.eligible },
      ...(accuracy ? { accuracy } : {}),
      advice,
      notes,
      measurement,
    };
  } catch (error) {
    const spent = await total.end().catch(() => undefined);
    ws.store.finishRun(run.id, { status: 'failed', error, ...(spent ? { measurement: spent } : {}) });
    throw error;
  }
}

async function measureSetting(
  ws: Workspace,
  engine: Engine,
  spec: ModelSpec,
  train: Dataset,
  o: { batchSize: number; threads: number; seed: number; shuffle: boolean; samples: number; warmupSteps: number; policy: SelectionPolicy; signal: AbortSignal | undefined },
): Promise<SettingFigures> {
  const model = await engine.compile(spec, { seed: o.seed });
  try {
    const stream = endlessBatches(train, o.batchSize, o.seed, o.shuffle);
    const step = async (): Promise<number> => {
      interruptedIf(o.signal);
      const batch = stream.next().value as Batch;
      await model.trainBatch(batch.x, batch.y, batch.n);
      return batch.n;
    };
    for (let i = 0; i < o.warmupSteps; i++) await step();
    const window = await ws.meter.begin(`advise batch ${o.batchSize} threads ${o.threads}`);
    let samples = 0;
    while (samples < o.samples) samples += await step();
    const measurement = await window.end();
    return settingFigures(o.batchSize, o.threads, samples, measurement, o.policy);
  } finally {
    model.dispose();
  }
}

function settingFigures(batchSize: number, threads: number, samples: number, measurement: Measurement, policy: SelectionPolicy): SettingFigures {
  const seconds = measurement.durationS / samples;
  const energyPerSample = energyPer(measurement.energy, samples);
  const figures = { seconds, joules: energyPerSample.joules };
  return { batchSize, threads, samples, samplesPerSecond: 1 / seconds, ...figures, energyPerSample, zeusCostJoules: zeusCost(figures, policy.eta, policy.maxPowerWatts), measurement };
}

async function trainToAccuracy(
  ws: Workspace,
  engine: Engine,
  spec: ModelSpec,
  file: SpecFile,
  data: PreparedData,
  o: { batchSize: number; threads: number; seed: number; target: AccuracyTarget; policy: SelectionPolicy; signal: AbortSignal | undefined },
): Promise<AccuracyRun> {
  const model: CompiledModel = await engine.compile(spec, { seed: o.seed });
  try {
    const reachedIn = (metrics: Readonly<Record<string, number>> | undefined): boolean => (metrics?.val_accuracy ?? 0) >= o.target.accuracy;
    const result = await fit({
      model,
      train: data.train,
      ...(data.validation ? { validation: data.validation } : {}),
      epochs: o.target.maxEpochs,
      batchSize: o.batchSize,
      seed: o.seed,
      shuffle: file.train.shuffle,
      meter: ws.meter,
      ...(o.signal ? { signal: o.signal } : {}),
      shouldStop: (_next, history) => (reachedIn(history.at(-1)?.metrics) ? 'target_reached' : undefined),
    });
    const history = result.history;
    const measurement = sumMeasurements(`advise accuracy batch ${o.batchSize}`, history.map((e) => e.measurement as Measurement));
    const figures = { seconds: history.reduce((s, e) => s + e.durationS, 0), joules: measurement.energy.joules };
    return {
      batchSize: o.batchSize,
      threads: o.threads,
      reached: reachedIn(history.at(-1)?.metrics),
      epochs: history.length,
      valAccuracy: history.at(-1)?.metrics.val_accuracy ?? 0,
      ...figures,
      energy: measurement.energy,
      zeusCostJoules: zeusCost(figures, o.policy.eta, o.policy.maxPowerWatts),
      measurement,
    };
  } finally {
    model.dispose();
  }
}

/** The advice file (`advise --out`): snake_case, like every file ecoml writes for people and other tools. */
export interface AdviceFile {
  readonly batch_size: number;
  readonly threads: number;
  readonly basis: Advice['basis'];
  readonly spec: string;
  readonly engine: string;
  readonly run_id: string;
  readonly j_per_sample: number;
  readonly j_per_sample_low: number;
  readonly j_per_sample_high: number;
  readonly samples_per_second: number;
  readonly method: string;
  readonly energy_model: string;
  readonly eta: number;
  readonly max_slowdown: number;
  readonly objective: AdviceObjective;
}

/** Every component's method, joined ('estimated', 'measured+estimated'). */
export function methodsOf(energy: EnergyReport): string {
  const methods = new Set(energy.components.map((c) => c.method));
  return (['measured', 'estimated'] as const).filter((m) => methods.has(m)).join('+');
}

export function adviceFile(report: AdviseReport): AdviceFile {
  const setting = report.settings.find((s) => s.batchSize === report.advice.batchSize && s.threads === report.advice.threads) ?? report.throughput.chosen;
  return {
    batch_size: report.advice.batchSize,
    threads: report.advice.threads,
    basis: report.advice.basis,
    spec: report.spec,
    engine: report.engine,
    run_id: report.runId,
    j_per_sample: setting.energyPerSample.joules,
    j_per_sample_low: setting.energyPerSample.low,
    j_per_sample_high: setting.energyPerSample.high,
    samples_per_second: setting.samplesPerSecond,
    method: methodsOf(setting.energyPerSample),
    energy_model: setting.energyPerSample.components.map((c) => `${c.name}: ${c.model}`).join('; '),
    eta: report.policy.eta,
    max_slowdown: report.policy.maxSlowdown,
    objective: report.policy.objective,
  };
}

export async function writeAdvice(path: string, report: AdviseReport): Promise<void> {
  await writeFile(path, `${JSON.stringify(adviceFile(report), null, 2)}\n`).catch((error: unknown) => {
    throw fsError(error, `advice file ${path}`, path, 'write');
  });
}

/** The setting an advice file recommends, for `tune --advice` (and anything else it seeds). */
export async function readAdvice(path: string): Promise<{ readonly batchSize: number; readonly threads: number }> {
  const full = resolve(path);
  const text = await readFile(full, 'utf8').catch((error: unknown) => {
    throw fsError(error, `advice file ${full}`, full, 'read');
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new EcomlError('E_DATA_MALFORMED', `${full} is not JSON: ${(error as Error).message}`, { details: { path: full } });
  }
  const record = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  const positiveInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1;
  const { batch_size: batchSize, threads } = record;
  if (!positiveInt(batchSize) || !positiveInt(threads)) {
    throw new EcomlError('E_DATA_MALFORMED', `${full} is not an advice file: it needs integer batch_size and threads ≥ 1 (ecoml advise --out writes one)`, { details: { path: full } });
  }
  return { batchSize, threads };
}
