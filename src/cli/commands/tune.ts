/** `ecoml tune SPEC`: hyperparameter search over the spec's tune space; the best model is saved. @module */
import { numberOption, requirePositional, stringOption } from '../args.js';
import { defineCommand } from '../command.js';
import { formatJoulesShort, formatMetrics } from '../format.js';
import { createProgress } from '../progress.js';
import { evaluationJson, type EvaluationReport } from '../../workflows/evaluate.js';
import { tuneFromSpec, type TrialJson } from '../../workflows/tune.js';
import type { Objective } from '../../tune/index.js';
import { FIT_OPTIONS, WORKSPACE_OPTIONS, fitOverrides, meteredJson, renderMetered, workspaceFrom, type MeteredJson } from './shared.js';

export interface TuneResult extends MeteredJson {
  readonly run_id: string;
  readonly study: string;
  readonly objective: Objective;
  readonly status: string;
  readonly trials: readonly TrialJson[];
  readonly best?: TrialJson;
  readonly model_dir?: string;
  readonly metrics: Readonly<Record<string, number>>;
  readonly evaluation?: Omit<EvaluationReport, 'measurement'>;
  readonly summary: string;
}

export function trialLine(t: TrialJson): string {
  const values = Object.entries(t.values).map(([k, v]) => `${k}=${String(v)}`).join(' ');
  const score = t.score !== undefined ? `score ${t.score.toFixed(4)}` : t.state;
  const energy = t.joules !== undefined ? `  ${formatJoulesShort(t.joules)}` : '';
  return `trial ${t.number}: ${values}  ${score}${t.duration_s !== undefined ? `  ${t.duration_s.toFixed(1)}s` : ''}${energy}${t.error ? `  (${t.error})` : ''}`;
}

export default defineCommand<TuneResult>({
  name: 'tune',
  summary: 'Search hyperparameters for a spec with a tune section (random search, Keras Tuner semantics).',
  usage: 'ecoml tune SPEC [options]',
  description: 'Every trial and execution is recorded in the run store with its energy; the best trial’s model is saved.',
  options: {
    'max-trials': { type: 'string', valueName: 'N', description: 'trials to run (default: the spec’s tune.maxTrials)' },
    executions: { type: 'string', valueName: 'N', description: 'executions per trial, metrics averaged (default: tune.executionsPerTrial)' },
    sampler: { type: 'string', valueName: 'NAME', description: 'search algorithm (default: tune.sampler, random)' },
    out: { type: 'string', short: 'o', valueName: 'DIR', description: 'best model directory (default models/<spec name>-best)' },
    ...FIT_OPTIONS,
    ...WORKSPACE_OPTIONS,
  },
  async run({ positionals, values }, ctx) {
    const specPath = requirePositional(positionals, 0, 'SPEC');
    const maxTrials = numberOption(values, 'max-trials', { integer: true, min: 1 });
    const executionsPerTrial = numberOption(values, 'executions', { integer: true, min: 1 });
    const sampler = stringOption(values, 'sampler');
    const out = stringOption(values, 'out');
    const overrides = fitOverrides(values);
    const ws = await workspaceFrom(values, ctx);
    try {
      let progress = createProgress(ctx.stderr, ctx.isTTY);
      const report = await tuneFromSpec(ws, {
        specPath,
        ...overrides,
        ...(maxTrials !== undefined ? { maxTrials } : {}),
        ...(executionsPerTrial !== undefined ? { executionsPerTrial } : {}),
        ...(sampler !== undefined ? { sampler } : {}),
        ...(out !== undefined ? { outDir: out } : {}),
        onTrialStart: (n, execution, hp) => {
          progress = createProgress(ctx.stderr, ctx.isTTY, `trial ${n}.${execution}`);
          ctx.stderr.write(`trial ${n} execution ${execution}: ${Object.entries(hp).map(([k, v]) => `${k}=${String(v)}`).join(' ')}\n`);
        },
        onBatch: (p) => progress.onBatch(p),
        onEpochEnd: (record, epochs) => progress.onEpochEnd(record, epochs),
        onTrialEnd: (trial) => ctx.stderr.write(`${trialLine({ number: trial.number, values: trial.values, state: trial.state, ...(trial.score !== undefined ? { score: trial.score } : {}) })}\n`),
        signal: ctx.signal,
      });
      const m = report.measurements;
      const steps: [string, typeof m.tune][] = [['tune', m.tune]];
      if (m.evaluate) steps.push(['evaluate', m.evaluate]);
      if (m.save) steps.push(['save', m.save]);
      return {
        run_id: report.run_id,
        study: report.study,
        objective: report.objective,
        status: report.status,
        trials: report.trials,
        ...(report.best ? { best: report.best } : {}),
        ...(report.model_dir ? { model_dir: report.model_dir } : {}),
        metrics: report.metrics,
        ...(report.evaluation ? { evaluation: evaluationJson(report.evaluation) } : {}),
        summary: report.summary,
        ...meteredJson(m.total, steps),
      };
    } finally {
      await ws.close();
    }
  },
  render(r) {
    return [
      `tuned ${r.study} (run ${r.run_id}): ${r.trials.length} trials, ${r.status}; objective ${r.objective.name} (${r.objective.direction})`,
      ...r.trials.map((t) => `  ${trialLine(t)}`),
      r.best ? `best: ${trialLine(r.best)}` : 'no trial completed',
      `  ${formatMetrics(r.metrics)}`,
      renderMetered(r),
      ...(r.model_dir ? [`best model saved to ${r.model_dir}`] : []),
    ].join('\n');
  },
});
