/**
 * `tune` as a library workflow: a spec with a `tune` section → a study whose trials train real
 * models (each execution metered and recorded as a child run) → the best trial's model saved.
 * @module
 */
import { EcomlError, lookup } from '../errors.js';
import type { Measurement } from '../meter/index.js';
import type { HpValue } from '../models/spec.js';
import {
  NopPruner,
  SqliteStudyStorage,
  createSamplers,
  createSearchSpace,
  formatResultsSummary,
  isBetter,
  runStudy,
  scoreCurve,
  type FrozenTrial,
  type Objective,
} from '../tune/index.js';
import { evaluateModel, type EvaluationReport } from './evaluate.js';
import { saveTrainedModel } from './save.js';
import { checkedModelDir, loadSpec, pickCallbacks, prepareData, requestSettings, trainModel, type PreparedData, type TrainCallbacks, type TrainedModel, type TrainOverrides } from './train.js';
import type { Workspace } from './workspace.js';

export interface TuneRequest extends TrainOverrides, TrainCallbacks {
  readonly specPath: string;
  readonly maxTrials?: number;
  readonly executionsPerTrial?: number;
  readonly sampler?: string;
  /** Where the best model is written; default `models/<spec name>-best`. */
  readonly outDir?: string;
  readonly onTrialStart?: (trialNumber: number, execution: number, values: Readonly<Record<string, HpValue>>) => void;
  readonly onTrialEnd?: (trial: FrozenTrial) => void;
  /** Reuse already prepared data (quickstart loads MNIST once). */
  readonly data?: PreparedData;
}

export interface TrialJson {
  readonly number: number;
  readonly values: Readonly<Record<string, HpValue>>;
  readonly state: string;
  readonly score?: number;
  readonly best_epoch?: number;
  readonly duration_s?: number;
  readonly joules?: number;
  readonly kg_co2e?: number;
  readonly error?: string;
}

export interface TuneReport {
  readonly run_id: string;
  readonly study: string;
  readonly objective: Objective;
  readonly status: 'completed' | 'exhausted';
  readonly trials: readonly TrialJson[];
  readonly best?: TrialJson;
  readonly model_dir?: string;
  readonly metrics: Readonly<Record<string, number>>;
  readonly evaluation?: EvaluationReport;
  readonly summary: string;
  readonly measurements: { readonly tune: Measurement; readonly evaluate?: Measurement; readonly save?: Measurement; readonly total: Measurement };
}

function trialJson(trial: FrozenTrial): TrialJson {
  const summary = trial.summary ?? {};
  return {
    number: trial.number,
    values: trial.values,
    state: trial.state,
    ...(trial.score !== undefined ? { score: trial.score } : {}),
    ...(trial.bestEpoch !== undefined ? { best_epoch: trial.bestEpoch } : {}),
    ...(trial.durationS !== undefined ? { duration_s: trial.durationS } : {}),
    ...(summary.joules !== undefined ? { joules: summary.joules } : {}),
    ...(summary.kg_co2e !== undefined ? { kg_co2e: summary.kg_co2e } : {}),
    ...(trial.error !== undefined ? { error: trial.error } : {}),
  };
}

export async function tuneFromSpec(ws: Workspace, request: TuneRequest): Promise<TuneReport> {
  const { file, baseDir } = await loadSpec(request.specPath, ws.cwd);
  if (!file.tune) throw new EcomlError('E_SPEC_INVALID', `${request.specPath} has no tune section: add tune.space (see examples/mnist-cnn-tune.yaml)`);
  const tune = file.tune;
  const objective: Objective = tune.objective;
  const seed = tune.seed ?? request.seed ?? file.train.seed;
  const sampler = lookup(createSamplers(), request.sampler ?? tune.sampler, 'sampler')({ seed });
  const space = createSearchSpace(tune.space);
  const modelDir = checkedModelDir(ws, request.outDir, `${file.name}-best`);
  const runId = ws.store.createRun({ kind: 'tune', name: file.name, spec: file, params: requestSettings(request, ws.cwd) }).id;

  // The best execution of the best trial so far stays in memory; every other model is disposed.
  let best: { trial: number; score: number; model: TrainedModel } | undefined;
  const candidates = new Map<number, { score: number; model: TrainedModel }>();
  const total = await ws.meter.begin('total');
  try {
    const data = request.data ?? (await prepareData(file, baseDir, request));
    if (!data.validation && objective.name.startsWith('val_')) {
      throw new EcomlError('E_CONFIG_INVALID', `objective ${objective.name} needs validation data: the spec has no test split; set train.validationSplit or --validation-split`);
    }
    const tuneWindow = await ws.meter.begin('tune');
    const result = await runStudy({
      name: file.name,
      runId,
      space,
      sampler,
      pruner: new NopPruner(),
      storage: new SqliteStudyStorage(ws.store),
      objectives: [objective],
      maxEpochs: request.epochs ?? file.train.epochs,
      maxTrials: request.maxTrials ?? tune.maxTrials,
      executionsPerTrial: request.executionsPerTrial ?? tune.executionsPerTrial,
      seed,
      runTrial: async (ctx) => {
        request.onTrialStart?.(ctx.trialNumber, ctx.execution, ctx.values);
        const child = ws.store.createRun({ kind: 'trial', name: `${file.name}#${ctx.trialNumber}.${ctx.execution}`, parentId: runId, params: { values: ctx.values, seed: ctx.seed } });
        try {
          const trained = await trainModel(ws, {
            file,
            specDir: baseDir,
            data,
            hyperparameters: ctx.values,
            overrides: { ...request, seed: ctx.seed },
            runId: child.id,
            label: `trial ${ctx.trialNumber}`,
            ...pickCallbacks(request),
            onEpochEnd: (record, epochs) => {
              request.onEpochEnd?.(record, epochs);
              ctx.report(record.epoch, record.metrics);
            },
          });
          const curve = trained.fit.history.map((e) => e.metrics);
          const own = scoreCurve(curve, objective);
          const previous = candidates.get(ctx.trialNumber);
          if (own !== undefined && (previous === undefined || isBetter(objective.direction, own.score, previous.score))) {
            previous?.model.compiled.dispose();
            candidates.set(ctx.trialNumber, { score: own.score, model: trained });
          } else {
            trained.compiled.dispose();
          }
          ws.store.finishRun(child.id, { status: 'completed', metrics: curve.at(-1) ?? {}, measurement: trained.measurement, stopReason: trained.fit.stopReason });
          return {
            metricsByEpoch: curve,
            summary: { joules: trained.measurement.energy.joules, kg_co2e: trained.measurement.emissions.kgCo2e, epochs: curve.length },
            energy: trained.measurement,
            extra: { runId: child.id },
          };
        } catch (error) {
          ws.store.finishRun(child.id, { status: 'failed', error });
          throw error;
        }
      },
      onTrialEnd: (trial) => {
        const candidate = candidates.get(trial.number);
        candidates.delete(trial.number);
        if (candidate && trial.state === 'completed' && trial.score !== undefined && (best === undefined || isBetter(objective.direction, trial.score, best.score))) {
          best?.model.compiled.dispose();
          best = { trial: trial.number, score: trial.score, model: candidate.model };
        } else {
          candidate?.model.compiled.dispose();
        }
        request.onTrialEnd?.(trial);
      },
    });
    const tuneMeasurement = await tuneWindow.end();

    const metrics: Record<string, number> = {};
    let evaluation: EvaluationReport | undefined;
    let save: Measurement | undefined;
    let savedTo: string | undefined;
    const winner = best;
    if (winner) {
      metrics.best_score = winner.score;
      metrics.best_trial = winner.trial;
      if (data.test) {
        evaluation = await evaluateModel(ws, winner.model.compiled, data.test, { batchSize: winner.model.settings.batchSize });
        metrics.test_loss = evaluation.loss;
        if (evaluation.accuracy !== undefined) metrics.test_accuracy = evaluation.accuracy;
      }
      save = (await saveTrainedModel(ws, winner.model, modelDir, { metrics, runId, ...(evaluation ? { evaluation } : {}) })).measurement;
      savedTo = modelDir;
    }
    const totalMeasurement = await total.end();
    ws.store.finishRun(runId, { status: 'completed', stopReason: result.status, metrics, measurement: totalMeasurement, ...(savedTo ? { modelDir: savedTo } : {}) });
    const bestTrial = result.trials.find((t) => t.number === winner?.trial);
    return {
      run_id: runId,
      study: file.name,
      objective,
      status: result.status,
      trials: result.trials.map(trialJson),
      ...(bestTrial ? { best: trialJson(bestTrial) } : {}),
      ...(savedTo ? { model_dir: savedTo } : {}),
      metrics,
      ...(evaluation ? { evaluation } : {}),
      summary: formatResultsSummary(result),
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
    best?.model.compiled.dispose();
    for (const c of candidates.values()) c.model.compiled.dispose();
  }
}
