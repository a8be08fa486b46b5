/**
 * The reference workflow end to end on MNIST: train the recipe model, search hyperparameters,
 * save, reload, predict the test set — each step metered, the whole recorded as one run.
 * @module
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EcomlError } from '../errors.js';
import { sumMeasurements, type Measurement } from '../meter/index.js';
import { checkModelDirTarget } from '../models/index.js';
import { argmaxRows, evaluateModel } from './evaluate.js';
import { openModel } from './saved.js';
import { saveTrainedModel } from './save.js';
import { loadSpec, pickCallbacks, prepareData, trainModel, type TrainCallbacks } from './train.js';
import { trialJson, tuneFromSpec, type TrialJson, type TuneRequest } from './tune.js';
import type { Workspace } from './workspace.js';

export const RECIPE_SPEC = fileURLToPath(new URL('../../examples/mnist-cnn.yaml', import.meta.url));
export const HYPERMODEL_SPEC = fileURLToPath(new URL('../../examples/mnist-cnn-tune.yaml', import.meta.url));

export interface QuickstartSizes {
  readonly trainLimit?: number;
  readonly testLimit?: number;
  readonly epochs: number;
  readonly tune: { readonly trials: number; readonly executions: number; readonly epochs: number; readonly trainLimit?: number; readonly testLimit?: number };
}

/** Sized to finish in a few minutes on 2 cores; `full` is the whole recipe (60k × 10 epochs, 10 trials × 3 executions). */
export const QUICK_SIZES: QuickstartSizes = Object.freeze({
  trainLimit: 12_000,
  epochs: 2,
  tune: Object.freeze({ trials: 3, executions: 1, epochs: 1, trainLimit: 2_000, testLimit: 1_000 }),
});
export const FULL_SIZES: QuickstartSizes = Object.freeze({
  epochs: 10,
  tune: Object.freeze({ trials: 10, executions: 3, epochs: 10 }),
});

export interface QuickstartRequest extends TrainCallbacks {
  readonly sizes: QuickstartSizes;
  /** Directory for the two models; default `models/quickstart`. */
  readonly outDir?: string;
  readonly seed?: number;
  readonly onStep?: (step: string) => void;
  readonly onTrialStart?: TuneRequest['onTrialStart'];
  readonly onTrialEnd?: TuneRequest['onTrialEnd'];
}

export interface QuickstartReport {
  readonly run_id: string;
  readonly sizes: QuickstartSizes;
  readonly model_dir: string;
  readonly best_model_dir?: string;
  readonly metrics: Readonly<Record<string, number>>;
  /** The reloaded model's test-set probabilities equal the in-memory model's, bit for bit. */
  readonly reload_identical: boolean;
  readonly tune: { readonly run_id: string; readonly trials: readonly TrialJson[]; readonly best?: TrialJson };
  readonly steps: readonly (readonly [string, Measurement])[];
  readonly total: Measurement;
}

export async function quickstart(ws: Workspace, request: QuickstartRequest): Promise<QuickstartReport> {
  const { sizes } = request;
  const outDir = resolve(ws.cwd, request.outDir ?? join('models', 'quickstart'));
  const { file, baseDir } = await loadSpec(RECIPE_SPEC, ws.cwd);
  const modelDir = join(outDir, file.name);
  // Both models' directories are checked before any work (tune checks its own again when it starts).
  for (const dir of [modelDir, join(outDir, 'best')]) checkModelDirTarget(dir, request.outDir !== undefined ? `--out ${request.outDir}` : `models directory ${outDir}`);
  const run = ws.store.createRun({ kind: 'quickstart', name: 'mnist', params: { sizes, outDir } });
  const steps: [string, Measurement][] = [];
  const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    request.onStep?.(name);
    const window = await ws.meter.begin(name);
    const value = await work();
    steps.push([name, await window.end()]);
    return value;
  };
  try {
    const limits = { ...(sizes.trainLimit !== undefined ? { trainLimit: sizes.trainLimit } : {}), ...(sizes.testLimit !== undefined ? { testLimit: sizes.testLimit } : {}) };
    const overrides = { ...limits, epochs: sizes.epochs, ...(request.seed !== undefined ? { seed: request.seed } : {}) };
    const trainRun = ws.store.createRun({ kind: 'train', name: file.name, parentId: run.id, spec: file, params: overrides });

    const trained = await step('train', async () => {
      const data = await prepareData(file, baseDir, overrides);
      return trainModel(ws, { file, specDir: baseDir, data, overrides, runId: trainRun.id, ...pickCallbacks(request) });
    });
    try {
      const test = trained.data.test;
      if (!test) throw new EcomlError('E_INTERNAL', 'the MNIST recipe has no test split');
      const evaluation = await step('evaluate', () => evaluateModel(ws, trained.compiled, test, { batchSize: trained.settings.batchSize }));
      const reference = await trained.compiled.predict(test.x, test.n, 256);

      const tuned = await step('tune', () =>
        tuneFromSpec(ws, {
          specPath: HYPERMODEL_SPEC,
          maxTrials: sizes.tune.trials,
          executionsPerTrial: sizes.tune.executions,
          epochs: sizes.tune.epochs,
          ...(sizes.tune.trainLimit !== undefined ? { trainLimit: sizes.tune.trainLimit } : {}),
          ...(sizes.tune.testLimit !== undefined ? { testLimit: sizes.tune.testLimit } : {}),
          ...(request.seed !== undefined ? { seed: request.seed } : {}),
          // The seed's tuning step exactly: Keras Tuner's random search, every trial to the end.
          sampler: 'random',
          pruner: 'none',
          outDir: join(outDir, 'best'),
          ...pickCallbacks(request),
          ...(request.onTrialStart ? { onTrialStart: request.onTrialStart } : {}),
          ...(request.onTrialEnd ? { onTrialEnd: request.onTrialEnd } : {}),
        }),
      );

      const metrics: Record<string, number> = { ...(trained.fit.history.at(-1)?.metrics ?? {}), test_loss: evaluation.loss };
      if (evaluation.accuracy !== undefined) metrics.test_accuracy = evaluation.accuracy;
      await step('save', () => saveTrainedModel(ws, trained, modelDir, { metrics, runId: trainRun.id, evaluation }));
      ws.store.finishRun(trainRun.id, { status: 'completed', metrics, measurement: trained.measurement, modelDir, stopReason: trained.fit.stopReason });

      const loaded = await step('load', () => openModel(ws, modelDir));
      try {
        const predicted = await step('predict', () => loaded.compiled.predict(test.x, test.n, 256));
        const classes = argmaxRows(predicted, test.n, loaded.compiled.spec.numClasses);
        let correct = 0;
        for (let i = 0; i < test.n; i++) if (classes[i] === test.y[i]) correct++;
        metrics.reloaded_test_accuracy = correct / test.n;
        if (tuned.metrics['best_score'] !== undefined) metrics.tune_best_score = tuned.metrics['best_score'];
        const reloadIdentical = predicted.length === reference.length && predicted.every((v, i) => v === reference[i]);

        const total = sumMeasurements('total', steps.map(([, m]) => m));
        ws.store.finishRun(run.id, { status: 'completed', metrics, measurement: total, modelDir });
        return {
          run_id: run.id,
          sizes,
          model_dir: modelDir,
          ...(tuned.modelDir ? { best_model_dir: tuned.modelDir } : {}),
          metrics,
          reload_identical: reloadIdentical,
          tune: { run_id: tuned.runId, trials: tuned.result.trials.map(trialJson), ...(tuned.bestTrial ? { best: trialJson(tuned.bestTrial) } : {}) },
          steps,
          total,
        };
      } finally {
        loaded.compiled.dispose();
      }
    } finally {
      trained.compiled.dispose();
    }
  } catch (error) {
    for (const open of ws.store.listRuns({ parentId: run.id, status: 'running' })) ws.store.finishRun(open.id, { status: 'failed', error });
    ws.store.finishRun(run.id, { status: 'failed', error });
    throw error;
  }
}
