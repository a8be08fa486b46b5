/**
 * Writing a trained model directory (engine files + ecoml.json sidecar), metered as its own step.
 * @module
 */
import type { Measurement } from '../meter/index.js';
import { saveModelDir } from '../models/index.js';
import { moveToEngine } from './engines.js';
import type { EvaluationReport } from './evaluate.js';
import { energyJson, emissionsJson } from './report.js';
import type { TrainedModel } from './train.js';
import type { Workspace } from './workspace.js';

export async function saveTrainedModel(
  ws: Workspace,
  trained: TrainedModel,
  dir: string,
  extra: { readonly metrics: Readonly<Record<string, number>>; readonly runId: string; readonly evaluation?: EvaluationReport },
): Promise<{ measurement: Measurement }> {
  const window = await ws.meter.begin('save');
  const { evaluation } = extra;
  // Model directories are TF.js layers format whatever engine trained the weights.
  const reference = await moveToEngine(trained.compiled, ws.reference, trained.settings.seed);
  try {
    await saveModelDir(dir, reference, {
      trainedOn: trained.compiled.engine,
      spec: trained.file,
      specDir: trained.specDir,
      hyperparameters: trained.hyperparameters,
      preprocessing: trained.data.preprocessing,
      ...(trained.data.train.classNames ? { classNames: trained.data.train.classNames } : {}),
      metrics: extra.metrics,
      runId: extra.runId,
      training: {
        epochs: trained.fit.history.length,
        batchSize: trained.settings.batchSize,
        seed: trained.settings.seed,
        stopReason: trained.fit.stopReason,
        trainSamples: trained.data.train.n,
        validation: trained.data.validationSource,
      },
      energy: {
        train: { ...energyJson(trained.measurement), emissions: emissionsJson(trained.measurement) },
        hardware: trained.measurement.hardware,
      },
      ...(evaluation ? { inference: evaluation.inference } : {}),
    });
  } finally {
    if (reference !== trained.compiled) reference.dispose();
  }
  return { measurement: await window.end() };
}
