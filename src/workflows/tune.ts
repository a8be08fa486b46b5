/**
 * `tune` as a library workflow: a spec with a `tune` section → a study (sampler, pruner or
 * scheduler, one or more objectives, constraints) whose trials train real models, in this process
 * or on queue workers, each execution metered and recorded as a child run → the best trial's model
 * saved and evaluated, and a report of what the study spent and what early stopping saved.
 * `--resume` continues a study whose process died: finished trials stay, interrupted ones run again.
 * @module
 */
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EcomlError, lookup } from '../errors.js';
import type { Measurement } from '../meter/index.js';
import type { HpValue, SpecFile } from '../models/spec.js';
import {
  SqliteStudyStorage,
  createPruners,
  createSamplers,
  createSearchSpace,
  formatResultsSummary,
  isBetter,
  parseConstraint,
  runStudy,
  scoreCurve,
  type Constraint,
  type ExecutionResult,
  type FrozenTrial,
  type HyperparameterInput,
  type Objective,
  type Objectives,
  type Pruner,
  type RunTrial,
  type StudyRecord,
  type StudyResult,
  type TrialContext,
} from '../tune/index.js';
import { createQueueRunner, type JsonValue, type QueueRunner } from '../tune/distributed/index.js';
import { carbonStartFor, carbonStartMetrics, type CarbonStart, type CarbonStartFields } from './carbon-start.js';
import { evaluateModel, type EvaluationReport } from './evaluate.js';
import { openModel } from './saved.js';
import { saveTrainedModel } from './save.js';
import { TRIAL_MEASURES, runTrialJob, type TrialJob } from './tune-trial.js';
import { checkedModelDir, loadSpec, pickCallbacks, prepareData, requestSettings, type PreparedData, type TrainCallbacks, type TrainedModel, type TrainOverrides } from './train.js';
import type { Workspace } from './workspace.js';

/**
 * What `ecoml tune` runs without --sampler/--pruner: the cheapest strategy at equal quality in
 * bench/tune.ts (README, "Tuning measured here").
 */
export const DEFAULT_STRATEGY = Object.freeze({ sampler: 'tpe', pruner: 'asha' });
/** The queue trials travel on unless told otherwise; `ecoml worker` listens on the same. */
export const DEFAULT_QUEUE_NAME = 'ecoml-trials';
/** Trials in flight at once on a queue, by default. */
export const DEFAULT_QUEUE_CONCURRENCY = 4;

export interface TuneRequest extends TrainOverrides, TrainCallbacks, CarbonStartFields {
  readonly specPath: string;
  readonly maxTrials?: number;
  readonly executionsPerTrial?: number;
  readonly sampler?: string;
  readonly pruner?: string;
  /** Replace the spec's objective(s). */
  readonly objectives?: Objectives;
  /** Replace the spec's constraints. */
  readonly constraints?: readonly Constraint[];
  /** Where the best model is written; default `models/<spec name>-best`. */
  readonly outDir?: string;
  /** Continue an interrupted study: its id, or true for the newest unfinished study of this spec. */
  readonly resume?: number | true;
  /** Run trials on BullMQ workers at this Redis URL instead of in this process. */
  readonly queue?: string;
  readonly queueName?: string;
  /** Trials in flight at once on the queue. */
  readonly concurrency?: number;
  readonly onTrialStart?: (trial: FrozenTrial) => void;
  readonly onTrialEnd?: (trial: FrozenTrial) => void;
  /** Reuse already prepared data (quickstart loads MNIST once). */
  readonly data?: PreparedData;
}

/** How a study was set up: kept on its record, so --resume runs it the same way. */
export interface StudyConfig {
  readonly sampler: string;
  readonly pruner: string;
  readonly seed: number;
  readonly maxTrials?: number;
  readonly maxEpochs: number;
  readonly executionsPerTrial: number;
  readonly objectives: Objectives;
  readonly constraints: readonly Constraint[];
  readonly overrides: TrainOverrides;
  /** The spec's space, for reports (importances). */
  readonly space?: Readonly<Record<string, HyperparameterInput>>;
}

export interface TuneReport {
  readonly runId: string;
  readonly study: StudyRecord;
  readonly config: StudyConfig;
  readonly result: StudyResult;
  readonly resumed: boolean;
  readonly bestTrial?: FrozenTrial;
  readonly modelDir?: string;
  readonly metrics: Readonly<Record<string, number>>;
  readonly evaluation?: EvaluationReport;
  readonly summary: string;
  readonly carbonStart?: CarbonStart;
  readonly measurements: { readonly tune: Measurement; readonly evaluate?: Measurement; readonly save?: Measurement; readonly total: Measurement };
}

export async function tuneFromSpec(ws: Workspace, request: TuneRequest): Promise<TuneReport> {
  const { file, baseDir } = await loadSpec(request.specPath, ws.cwd);
  if (!file.tune) throw new EcomlError('E_SPEC_INVALID', `${request.specPath} has no tune section: add tune.space (see examples/mnist-cnn-tune.yaml)`);
  const space = createSearchSpace(file.tune.space);
  const resumed = request.resume === undefined ? undefined : findStudy(ws, file.name, request.resume);
  const config = resumed ? (resumed.config as StudyConfig) : studyConfig(file, file.tune, request);
  const samplerFactory = lookup(createSamplers(), config.sampler, 'sampler');
  const pruner: Pruner = lookup(createPruners(), config.pruner, 'pruner')({ maxEpochs: config.maxEpochs, seed: config.seed });
  const samplerState = resumed ? lastSamplerState(ws, resumed.id) : undefined;
  const sampler = samplerFactory({ seed: config.seed, ...(samplerState === undefined ? {} : { state: samplerState }) });
  const scoredOn = [...config.objectives.map((o) => o.name), ...config.constraints.map((c) => c.name)];
  const needsValidation = scoredOn.some((name) => name.startsWith('val_'));
  const measures = TRIAL_MEASURES.filter((m) => scoredOn.includes(m));
  const modelDir = checkedModelDir(ws, request.outDir, `${file.name}-best`);

  const carbonStart = await carbonStartFor(ws, request);
  const runId = ws.store.createRun({
    kind: 'tune',
    name: file.name,
    spec: file,
    params: { ...requestSettings(request, ws.cwd), ...(resumed ? { resumed_study: resumed.id } : {}), ...(carbonStart ? { carbonStartRecord: carbonStart } : {}) },
  }).id;

  const keeper = new BestModelKeeper(config.objectives[0]);
  const total = await ws.meter.begin('total');
  // Created inside the try: a queue that cannot be reached fails the tune run rather than leaving it running.
  let openedQueue: QueueRunner | undefined;
  try {
    const queue = request.queue === undefined ? undefined : await createQueueRunner({ url: request.queue, queueName: request.queueName ?? DEFAULT_QUEUE_NAME });
    openedQueue = queue;
    const data = request.data ?? (await prepareData(file, baseDir, config.overrides));
    if (!data.validation && needsValidation) {
      throw new EcomlError('E_CONFIG_INVALID', 'the objectives or constraints need validation metrics, but the spec has no test split; set train.validationSplit or --validation-split');
    }
    const checkpoints = (id: number, trial: number, execution: number) => join(ws.storeDir, 'checkpoints', `study-${id}`, `trial-${trial}.${execution}`);
    const jobFor = (ctx: TrialContext): TrialJob => ({
      file,
      specDir: baseDir,
      overrides: config.overrides,
      study: file.name,
      trialNumber: ctx.trialNumber,
      execution: ctx.execution,
      values: ctx.values,
      seed: ctx.seed,
      epochs: ctx.epochs,
      // Only schedulers promote, so only they need a trial's final state on disk.
      ...(pruner.plan === undefined ? {} : { checkpointDir: checkpoints(ctx.studyId, ctx.trialNumber, ctx.execution) }),
      ...(ctx.parent === undefined ? {} : { resumeFrom: checkpoints(ctx.studyId, ctx.parent, ctx.execution) }),
      measure: measures,
    });

    const runLocally: RunTrial = async (ctx) => {
      const { result, trained } = await runTrialJob(ws, { ...jobFor(ctx), parentRunId: runId }, data, {
        ...pickCallbacks(request),
        report: (step, metrics) => ctx.report(step, metrics),
      });
      keeper.offer(ctx.trialNumber, trained);
      return result;
    };
    const trialModels = (id: number) => join(ws.storeDir, 'studies', `study-${id}`);
    const runOnQueue: RunTrial | undefined =
      queue &&
      (async (ctx) => {
        // Workers save what they trained where this process can read it (a shared store).
        const saveModelTo = join(trialModels(ctx.studyId), `trial-${ctx.trialNumber}.${ctx.execution}`);
        // Finished jobs stay in Redis (a week) under their ids, and every run store numbers its studies
        // from 1: the id names the study by the tune run that created it too, which --resume keeps.
        const createdBy = new SqliteStudyStorage(ws.store).getStudy(ctx.studyId).runId ?? runId;
        const jobId = `${createdBy}-study-${ctx.studyId}-trial-${ctx.trialNumber}-exec-${ctx.execution}`;
        const value = await queue.run(jobId, { ...jobFor(ctx), saveModelTo } as unknown as JsonValue, (step, metrics) => ctx.report(step, metrics));
        return value as unknown as ExecutionResult;
      });

    const tuneWindow = await ws.meter.begin('tune');
    const result = await runStudy({
      name: file.name,
      runId,
      space,
      sampler,
      pruner,
      storage: new SqliteStudyStorage(ws.store),
      objectives: config.objectives,
      constraints: config.constraints,
      ...(config.maxTrials === undefined ? {} : { maxTrials: config.maxTrials }),
      maxEpochs: config.maxEpochs,
      executionsPerTrial: config.executionsPerTrial,
      seed: config.seed,
      config,
      ...(resumed ? { resume: resumed.id } : {}),
      ...(queue ? { concurrency: request.concurrency ?? DEFAULT_QUEUE_CONCURRENCY } : {}),
      ...(request.signal ? { signal: request.signal } : {}),
      runTrial: runOnQueue ?? runLocally,
      ...(request.onTrialStart ? { onTrialStart: request.onTrialStart } : {}),
      onTrialEnd: (trial) => {
        keeper.settle(trial);
        request.onTrialEnd?.(trial);
      },
    });
    const tuneMeasurement = await tuneWindow.end();

    const metrics: Record<string, number> = {};
    let evaluation: EvaluationReport | undefined;
    let save: Measurement | undefined;
    let savedTo: string | undefined;
    const winner = result.best;
    if (winner?.score !== undefined) {
      metrics.best_score = winner.score;
      metrics.best_trial = winner.number;
      if (queue) {
        // The worker saved every execution; the best trial's best execution is the model.
        const execution = bestExecution(winner, config.objectives[0]);
        await rm(modelDir, { recursive: true, force: true });
        await cp(join(trialModels(result.studyId), `trial-${winner.number}.${execution}`), modelDir, { recursive: true });
        savedTo = modelDir;
        if (data.test) {
          const loaded = await openModel(ws, modelDir);
          evaluation = await evaluateModel(ws, loaded.compiled, data.test, { batchSize: 256 });
        }
      } else {
        const model = keeper.best;
        if (model) {
          if (data.test) {
            evaluation = await evaluateModel(ws, model.compiled, data.test, { batchSize: model.settings.batchSize });
          }
          save = (await saveTrainedModel(ws, model, modelDir, { metrics: withEvaluation(metrics, evaluation), runId, ...(evaluation ? { evaluation } : {}) })).measurement;
          savedTo = modelDir;
        }
      }
      if (evaluation) Object.assign(metrics, withEvaluation({}, evaluation));
    }
    // Checkpoints and trial models only serve the study while it runs.
    await rm(join(ws.storeDir, 'checkpoints', `study-${result.studyId}`), { recursive: true, force: true });
    if (queue) await rm(trialModels(result.studyId), { recursive: true, force: true });
    const totalMeasurement = await total.end();
    if (carbonStart) Object.assign(metrics, carbonStartMetrics(carbonStart));
    ws.store.finishRun(runId, { status: 'completed', stopReason: result.status, metrics, measurement: totalMeasurement, ...(savedTo ? { modelDir: savedTo } : {}) });
    return {
      runId,
      study: new SqliteStudyStorage(ws.store).getStudy(result.studyId),
      config,
      result,
      resumed: resumed !== undefined,
      ...(winner ? { bestTrial: winner } : {}),
      ...(savedTo ? { modelDir: savedTo } : {}),
      metrics,
      ...(evaluation ? { evaluation } : {}),
      summary: formatResultsSummary(result),
      ...(carbonStart ? { carbonStart } : {}),
      measurements: {
        tune: tuneMeasurement,
        ...(evaluation ? { evaluate: evaluation.measurement } : {}),
        ...(save ? { save } : {}),
        total: totalMeasurement,
      },
    };
  } catch (error) {
    const measurement = await total.end().catch(() => undefined);
    ws.store.finishRun(runId, { status: 'failed', error, ...(measurement ? { measurement } : {}) });
    throw error;
  } finally {
    keeper.dispose();
    await openedQueue?.close();
  }
}

function studyConfig(file: SpecFile, tune: NonNullable<SpecFile['tune']>, request: TuneRequest): StudyConfig {
  const objectives = request.objectives ?? ((tune.objectives as Objectives | undefined) ?? [tune.objective]);
  const constraints = request.constraints ?? (tune.constraints ?? []).map(parseConstraint);
  const pruner = request.pruner ?? tune.pruner ?? (request.sampler ?? tune.sampler ? 'none' : DEFAULT_STRATEGY.pruner);
  const explicitTrials = request.maxTrials ?? tune.maxTrials;
  const { specPath: _specPath, data: _data, signal: _signal, ...rest } = request;
  const overrides: TrainOverrides = Object.fromEntries(
    (['epochs', 'batchSize', 'validationSplit', 'patience', 'minDelta', 'trainLimit', 'testLimit', 'budgetKwh', 'budgetKg'] as const)
      .filter((key) => rest[key] !== undefined)
      .map((key) => [key, rest[key]]),
  );
  return {
    sampler: request.sampler ?? tune.sampler ?? DEFAULT_STRATEGY.sampler,
    pruner,
    seed: tune.seed ?? request.seed ?? file.train.seed,
    // A scheduler decides how many trials it runs (Keras Tuner's Hyperband: max_trials unset).
    ...(pruner === 'hyperband' && request.maxTrials === undefined ? {} : { maxTrials: explicitTrials }),
    maxEpochs: request.epochs ?? file.train.epochs,
    executionsPerTrial: request.executionsPerTrial ?? tune.executionsPerTrial,
    objectives,
    constraints,
    overrides,
    space: tune.space,
  };
}

/** The study to resume: by id, or the newest one of this spec that did not finish. */
function findStudy(ws: Workspace, name: string, which: number | true): StudyRecord {
  const storage = new SqliteStudyStorage(ws.store);
  if (which !== true) {
    const study = storage.getStudy(which);
    if (study.status === 'completed' || study.status === 'exhausted') {
      throw new EcomlError('E_CONFIG_INVALID', `study ${study.id} (${study.name}) already ${study.status}; nothing to resume`, { details: { studyId: study.id } });
    }
    return checkConfig(study);
  }
  const study = storage.listStudies().find((s) => s.name === name && (s.status === 'running' || s.status === 'failed'));
  if (study === undefined) throw new EcomlError('E_RUN_NOT_FOUND', `no unfinished study of ${name} to resume (ecoml studies list shows them)`, { details: { name } });
  return checkConfig(study);
}

function checkConfig(study: StudyRecord): StudyRecord {
  if (typeof study.config !== 'object' || study.config === null) {
    throw new EcomlError('E_CONFIG_INVALID', `study ${study.id} predates resumable studies (it has no recorded setup)`, { details: { studyId: study.id } });
  }
  return study;
}

/** The sampler's state as the last trial drawn left it (random search's seed state). */
function lastSamplerState(ws: Workspace, studyId: number): unknown {
  const trials = new SqliteStudyStorage(ws.store).getTrials(studyId);
  for (let i = trials.length - 1; i >= 0; i--) {
    const state = trials[i]?.attrs?.samplerState;
    if (typeof state === 'string') return JSON.parse(state) as unknown;
  }
  return undefined;
}

/** The execution whose own curve scored best: the model that represents the trial. */
function bestExecution(trial: FrozenTrial, objective: Objective): number {
  let best = 0;
  let bestScore: number | undefined;
  trial.executions.forEach((execution, i) => {
    const scored = scoreCurve(execution.metricsByEpoch, objective);
    if (scored !== undefined && (bestScore === undefined || isBetter(objective.direction, scored.score, bestScore))) {
      bestScore = scored.score;
      best = i;
    }
  });
  return best;
}

function withEvaluation(metrics: Record<string, number>, evaluation: EvaluationReport | undefined): Record<string, number> {
  if (!evaluation) return metrics;
  return { ...metrics, test_loss: evaluation.loss, ...(evaluation.accuracy !== undefined ? { test_accuracy: evaluation.accuracy } : {}) };
}

/**
 * Keeps the trained model of the best trial so far in memory (its best execution), and disposes
 * of every other: a study never holds more than one candidate per running trial plus the best.
 */
class BestModelKeeper {
  private readonly candidates = new Map<number, { score: number; model: TrainedModel }>();
  private kept: { score: number; trial: number; model: TrainedModel } | undefined;

  constructor(private readonly objective: Objective) {}

  get best(): TrainedModel | undefined {
    return this.kept?.model;
  }

  offer(trialNumber: number, trained: TrainedModel): void {
    const own = scoreCurve(
      trained.fit.history.map((e) => e.metrics),
      this.objective,
    );
    const previous = this.candidates.get(trialNumber);
    if (own !== undefined && (previous === undefined || isBetter(this.objective.direction, own.score, previous.score))) {
      previous?.model.compiled.dispose();
      this.candidates.set(trialNumber, { score: own.score, model: trained });
    } else {
      trained.compiled.dispose();
    }
  }

  /** The trial ended: its candidate becomes the best, or goes. */
  settle(trial: FrozenTrial): void {
    const candidate = this.candidates.get(trial.number);
    this.candidates.delete(trial.number);
    const feasible = (trial.violation ?? 0) === 0;
    if (candidate && trial.state === 'completed' && feasible && trial.score !== undefined && (this.kept === undefined || isBetter(this.objective.direction, trial.score, this.kept.score))) {
      this.kept?.model.compiled.dispose();
      this.kept = { score: trial.score, trial: trial.number, model: candidate.model };
    } else {
      candidate?.model.compiled.dispose();
    }
  }

  dispose(): void {
    this.kept?.model.compiled.dispose();
    for (const c of this.candidates.values()) c.model.compiled.dispose();
    this.candidates.clear();
    this.kept = undefined;
  }
}

/** A trial as the CLI and quickstart print it (snake_case wire JSON). */
export interface TrialJson {
  readonly number: number;
  readonly values: Readonly<Record<string, HpValue>>;
  readonly state: string;
  readonly score?: number;
  readonly scores?: readonly number[];
  readonly best_epoch?: number;
  /** Epochs this trial trained (a promotion's only). */
  readonly epochs?: number;
  /** A Hyperband promotion continues this trial's checkpoint. */
  readonly parent?: number;
  readonly violation?: number;
  readonly duration_s?: number;
  readonly joules?: number;
  readonly kg_co2e?: number;
  readonly error?: string;
}

export function trialJson(trial: FrozenTrial): TrialJson {
  const summary = trial.summary ?? {};
  const parent = trial.attrs?.parent;
  return {
    number: trial.number,
    values: trial.values,
    state: trial.state,
    ...(trial.score !== undefined ? { score: trial.score } : {}),
    ...(trial.scores !== undefined && trial.scores.length > 1 ? { scores: trial.scores } : {}),
    ...(trial.bestEpoch !== undefined ? { best_epoch: trial.bestEpoch } : {}),
    ...(summary.epochs !== undefined ? { epochs: summary.epochs } : {}),
    ...(typeof parent === 'number' ? { parent } : {}),
    ...(trial.violation !== undefined ? { violation: trial.violation } : {}),
    ...(trial.durationS !== undefined ? { duration_s: trial.durationS } : {}),
    ...(summary.joules !== undefined ? { joules: summary.joules } : {}),
    ...(summary.kg_co2e !== undefined ? { kg_co2e: summary.kg_co2e } : {}),
    ...(trial.error !== undefined ? { error: trial.error } : {}),
  };
}
