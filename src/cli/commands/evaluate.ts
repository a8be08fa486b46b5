/** `ecoml evaluate MODEL_DIR`: metrics, per-class report, confusion matrix and resource profile. @module */
import { numberOption, requirePositional, stringOption } from '../args.js';
import { defineCommand } from '../command.js';
import { formatJoulesShort } from '../format.js';
import { evaluationJson, type EvaluationReport } from '../../workflows/evaluate.js';
import { evaluateSaved, evaluationData } from '../../workflows/saved.js';
import { WORKSPACE_OPTIONS, loadedStepJson, renderMetered, withSavedModel, type MeteredJson } from './shared.js';

export interface EvaluateResult extends MeteredJson, Omit<EvaluationReport, 'measurement'> {
  readonly model_dir: string;
  readonly metrics: { readonly test_loss: number; readonly test_accuracy?: number };
  readonly profile: {
    readonly parameter_count: number;
    readonly flops_per_sample: number;
    readonly bytes_on_disk: number;
  };
}

export default defineCommand<EvaluateResult>({
  name: 'evaluate',
  summary: 'Evaluate a saved model: loss, accuracy, per-class precision/recall, confusion matrix, resource profile.',
  usage: 'ecoml evaluate MODEL_DIR [--data FILE [--labels FILE]] [options]',
  description: 'Without --data, evaluates on the test split of the data the model was trained on.',
  options: {
    data: { type: 'string', valueName: 'FILE', description: 'labelled data: IDX images (with --labels) or CSV with the label column' },
    labels: { type: 'string', valueName: 'FILE', description: 'IDX labels file for --data' },
    limit: { type: 'string', valueName: 'N', description: 'evaluate on the first N samples only' },
    'batch-size': { type: 'string', valueName: 'N', description: 'inference batch size (default 256)' },
    ...WORKSPACE_OPTIONS,
  },
  async run({ positionals, values }, ctx) {
    const dir = requirePositional(positionals, 0, 'MODEL_DIR');
    const path = stringOption(values, 'data');
    const labelsPath = stringOption(values, 'labels');
    const limit = numberOption(values, 'limit', { integer: true, min: 1 });
    const batchSize = numberOption(values, 'batch-size', { integer: true, min: 1 });
    return withSavedModel(values, ctx, dir, async (ws, model) => {
      const data = await evaluationData(ws, model, {
        ...(path !== undefined ? { path } : {}),
        ...(labelsPath !== undefined ? { labelsPath } : {}),
        ...(limit !== undefined ? { limit } : {}),
      });
      const report = await evaluateSaved(ws, model, data, batchSize !== undefined ? { batchSize } : {});
      const { total, ...metered } = loadedStepJson(model, 'evaluate', report.measurement);
      const profile = model.sidecar.profile;
      const metrics = { test_loss: report.loss, ...(report.accuracy !== undefined ? { test_accuracy: report.accuracy } : {}) };
      const run = ws.store.createRun({ kind: 'evaluate', name: model.sidecar.spec.name, params: { modelDir: model.dir, data: path ?? 'test split', limit } });
      ws.store.finishRun(run.id, { status: 'completed', metrics, measurement: total, modelDir: model.dir });
      return {
        model_dir: model.dir,
        metrics,
        ...evaluationJson(report),
        profile: { parameter_count: profile.parameterCount, flops_per_sample: profile.flopsPerSample, bytes_on_disk: profile.bytesOnDisk },
        ...metered,
      };
    });
  },
  render(r) {
    const header = `class  precision  recall     f1  support`;
    const rows = r.per_class.map((c) => `${String(c.name ?? c.class).padStart(5)}  ${c.precision.toFixed(4).padStart(9)}  ${c.recall.toFixed(4).padStart(6)}  ${c.f1.toFixed(4)}  ${String(c.support).padStart(7)}`);
    const width = Math.max(...r.confusion_matrix.flat().map((v) => String(v).length), 3);
    const matrix = r.confusion_matrix.map((row, i) => `${String(i).padStart(5)} | ${row.map((v) => String(v).padStart(width)).join(' ')}`);
    return [
      `${r.model_dir}: ${r.n} samples, loss ${r.loss.toFixed(4)}${r.accuracy !== undefined ? `, accuracy ${(r.accuracy * 100).toFixed(2)}%` : ''}`,
      header,
      ...rows,
      'confusion matrix (rows: true class, columns: predicted):',
      ...matrix,
      `profile: ${r.profile.parameter_count.toLocaleString('en')} parameters, ${r.profile.flops_per_sample.toLocaleString('en')} FLOPs/sample, ${r.profile.bytes_on_disk.toLocaleString('en')} bytes on disk`,
      `inference: ${r.inference.samples_per_second.toFixed(0)} samples/s at batch ${r.inference.batch_size}, ${r.inference.latency_ms_batch1.toFixed(2)} ms at batch 1, ${formatJoulesShort(r.inference.joules_per_1000)} per 1,000 predictions (${r.inference.method})`,
      renderMetered(r),
    ].join('\n');
  },
});
