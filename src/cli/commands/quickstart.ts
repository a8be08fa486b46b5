/** `ecoml quickstart`: the reference MNIST workflow end to end, with energy and CO2e per step. @module */
import { booleanOption, numberOption, stringOption } from '../args.js';
import { defineCommand } from '../command.js';
import { formatMetrics } from '../format.js';
import { createProgress } from '../progress.js';
import { FULL_SIZES, QUICK_SIZES, quickstart, type QuickstartReport, type QuickstartSizes } from '../../workflows/quickstart.js';
import { WORKSPACE_OPTIONS, meteredJson, renderMetered, workspaceFrom, type MeteredJson } from './shared.js';
import { trialLine, trialStartLine } from './tune.js';

export interface QuickstartResult extends MeteredJson, Omit<QuickstartReport, 'steps' | 'total'> {
  readonly mode: 'quick' | 'full';
}

export default defineCommand<QuickstartResult>({
  name: 'quickstart',
  summary: 'Train the reference MNIST CNN, tune it, save, reload and predict the test set, metering every step.',
  usage: 'ecoml quickstart [--full] [options]',
  description: `Default: ${QUICK_SIZES.trainLimit} training samples × ${QUICK_SIZES.epochs} epochs, ${QUICK_SIZES.tune.trials} tuning trials (a few minutes on 2 cores). --full: the whole recipe, 60,000 samples × 10 epochs and 10 trials × 3 executions × 10 epochs (hours on a laptop CPU).`,
  options: {
    full: { type: 'boolean', description: 'run the whole recipe instead of the quick default' },
    epochs: { type: 'string', valueName: 'N', description: 'training epochs of the recipe model' },
    'train-limit': { type: 'string', valueName: 'N', description: 'training samples for the recipe model' },
    trials: { type: 'string', valueName: 'N', description: 'tuning trials' },
    seed: { type: 'string', valueName: 'N', description: 'seed for weights, shuffling and the search' },
    out: { type: 'string', short: 'o', valueName: 'DIR', description: 'where the models go (default models/quickstart)' },
    ...WORKSPACE_OPTIONS,
  },
  async run({ values }, ctx) {
    const full = booleanOption(values, 'full');
    const base = full ? FULL_SIZES : QUICK_SIZES;
    const epochs = numberOption(values, 'epochs', { integer: true, min: 1 });
    const trainLimit = numberOption(values, 'train-limit', { integer: true, min: 1 });
    const trials = numberOption(values, 'trials', { integer: true, min: 1 });
    const seed = numberOption(values, 'seed', { integer: true, min: 0 });
    const out = stringOption(values, 'out');
    const sizes: QuickstartSizes = {
      ...base,
      ...(epochs !== undefined ? { epochs } : {}),
      ...(trainLimit !== undefined ? { trainLimit } : {}),
      tune: { ...base.tune, ...(trials !== undefined ? { trials } : {}) },
    };
    const ws = await workspaceFrom(values, ctx);
    try {
      let progress = createProgress(ctx.stderr, ctx.isTTY);
      const report = await quickstart(ws, {
        sizes,
        ...(out !== undefined ? { outDir: out } : {}),
        ...(seed !== undefined ? { seed } : {}),
        onStep: (name) => {
          progress = createProgress(ctx.stderr, ctx.isTTY, name === 'train' ? 'train' : '');
          ctx.stderr.write(`== ${name}\n`);
        },
        onTrialStart: (trial) => {
          progress = createProgress(ctx.stderr, ctx.isTTY, `trial ${trial.number}`);
          ctx.stderr.write(trialStartLine(trial));
        },
        onBatch: (p) => progress.onBatch(p),
        onEpochEnd: (record, epochCount) => progress.onEpochEnd(record, epochCount),
        signal: ctx.signal,
      });
      return {
        run_id: report.run_id,
        mode: full ? 'full' : 'quick',
        sizes: report.sizes,
        model_dir: report.model_dir,
        ...(report.best_model_dir ? { best_model_dir: report.best_model_dir } : {}),
        metrics: report.metrics,
        reload_identical: report.reload_identical,
        tune: report.tune,
        ...meteredJson(report.total, report.steps),
      };
    } finally {
      await ws.close();
    }
  },
  render(r) {
    const accuracy = r.metrics.test_accuracy;
    return [
      `quickstart (${r.mode}, run ${r.run_id})`,
      `test accuracy ${accuracy !== undefined ? `${(accuracy * 100).toFixed(2)}%` : 'n/a'} (reloaded model: ${((r.metrics.reloaded_test_accuracy ?? 0) * 100).toFixed(2)}%, predictions ${r.reload_identical ? 'identical' : 'DIFFER'} after save → load)`,
      `  ${formatMetrics(r.metrics)}`,
      'tuning trials:',
      ...r.tune.trials.map((t) => `  ${trialLine(t)}`),
      renderMetered(r),
      `models: ${r.model_dir}${r.best_model_dir ? `, best tuned: ${r.best_model_dir}` : ''}`,
    ].join('\n');
  },
});
