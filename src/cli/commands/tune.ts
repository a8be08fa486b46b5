/** `ecoml tune SPEC`: hyperparameter search over the spec's tune space; the best model is saved. @module */
import { resolve } from 'node:path';
import { booleanOption, numberOption, requirePositional, stringOption } from '../args.js';
import { defineCommand, type CliContext, type OptionValues } from '../command.js';
import { formatJoulesShort, formatMetrics } from '../format.js';
import { createProgress, createWaitProgress } from '../progress.js';
import { evaluationJson, type EvaluationReport } from '../../workflows/evaluate.js';
import { readAdvice } from '../../workflows/advise.js';
import { DEFAULT_STRATEGY, trialJson, tuneFromSpec, type TrialJson } from '../../workflows/tune.js';
import { parseConstraint, parseObjective, type Constraint, type FrozenTrial, type Objective, type Objectives } from '../../tune/index.js';
import { EcomlError } from '../../errors.js';
import { CARBON_START_OPTIONS, FIT_OPTIONS, WORKSPACE_OPTIONS, carbonStartJson, fitOverrides, meteredJson, parseCarbonStart, renderMetered, workspaceFrom, type CarbonStartJson, type MeteredJson } from './shared.js';
import { EXPORT_OPTIONS, renderStudyReport, studyReportJson, writeStudyExports, type StudyReportJson } from './studies.js';

export interface TuneResult extends MeteredJson {
  readonly run_id: string;
  readonly study_id: number;
  readonly study: string;
  readonly resumed: boolean;
  readonly sampler: string;
  readonly pruner: string;
  readonly objectives: readonly Objective[];
  readonly constraints: readonly Constraint[];
  readonly status: string;
  readonly trials: readonly TrialJson[];
  readonly best?: TrialJson;
  readonly report: StudyReportJson;
  readonly model_dir?: string;
  readonly metrics: Readonly<Record<string, number>>;
  readonly evaluation?: Omit<EvaluationReport, 'measurement'>;
  readonly carbon_start?: CarbonStartJson;
  readonly exported?: readonly string[];
  readonly summary: string;
}

export function trialLine(t: TrialJson): string {
  const values = Object.entries(t.values).map(([k, v]) => `${k}=${String(v)}`).join(' ');
  const score = t.scores !== undefined ? `scores ${t.scores.map((s) => s.toPrecision(4)).join(', ')}` : t.score !== undefined ? `score ${t.score.toFixed(4)}` : t.state;
  const infeasible = (t.violation ?? 0) > 0 ? '  infeasible' : '';
  const lineage = t.parent !== undefined ? `  (continues trial ${t.parent})` : '';
  const epochs = t.epochs !== undefined ? `  ${t.epochs} ep` : '';
  const energy = t.joules !== undefined ? `  ${formatJoulesShort(t.joules)}` : '';
  return `trial ${t.number}: ${values}  ${score}${infeasible}${lineage}${epochs}${t.duration_s !== undefined ? `  ${t.duration_s.toFixed(1)}s` : ''}${energy}${t.error ? `  (${t.error})` : ''}`;
}

/** The line printed as a trial starts: its values and, for a scheduled trial, its epochs. */
export function trialStartLine(trial: FrozenTrial): string {
  const values = Object.entries(trial.values).map(([k, v]) => `${k}=${String(v)}`).join(' ');
  const { epochs, initialEpoch, parent } = trial.attrs ?? {};
  const plan = typeof parent === 'number' ? ` (epochs ${String(initialEpoch)}→${String(epochs)}, continuing trial ${parent})` : '';
  return `trial ${trial.number}: ${values || 'define-by-run'}${plan}\n`;
}

/** Comma-separated flag values, each parsed. */
function listOption<T>(values: OptionValues, name: string, parse: (text: string) => T): T[] | undefined {
  const text = stringOption(values, name);
  return text === undefined ? undefined : text.split(',').map((part) => parse(part));
}

async function adviceOverrides(values: OptionValues, ctx: CliContext): Promise<{ batchSize?: number; threads?: string }> {
  const file = stringOption(values, 'advice');
  if (file === undefined) return {};
  const advice = await readAdvice(resolve(ctx.cwd, file));
  return {
    ...(values['batch-size'] === undefined ? { batchSize: advice.batchSize } : {}),
    ...(values.threads === undefined ? { threads: String(advice.threads) } : {}),
  };
}

export default defineCommand<TuneResult>({
  name: 'tune',
  summary: `Search hyperparameters for a spec with a tune section (default strategy: ${DEFAULT_STRATEGY.sampler} + ${DEFAULT_STRATEGY.pruner}).`,
  usage: 'ecoml tune SPEC [options]',
  description: [
    'Every trial and execution is recorded in the run store with its energy; the best trial’s model is saved.',
    `Samplers: random (Keras Tuner), grid, tpe, tpe-multivariate, nsga2. Pruners: none, median, asha, hyperband (Keras Tuner brackets, checkpoint reuse).`,
    '--sampler random --pruner none is the seed’s exact random search. Objectives: any recorded metric, or joules, kg_co2e, latency_ms, size_bytes, params.',
  ].join('\n'),
  options: {
    'max-trials': { type: 'string', valueName: 'N', description: 'new trials to run (default: the spec’s tune.maxTrials; Hyperband runs its brackets)' },
    executions: { type: 'string', valueName: 'N', description: 'executions per trial, metrics averaged (default: tune.executionsPerTrial)' },
    sampler: { type: 'string', valueName: 'NAME', description: `search algorithm (default: tune.sampler, else ${DEFAULT_STRATEGY.sampler})` },
    pruner: { type: 'string', valueName: 'NAME', description: `early stopping (default: tune.pruner, else ${DEFAULT_STRATEGY.pruner}; none when only --sampler is given)` },
    objective: { type: 'string', valueName: 'LIST', description: 'objectives, comma-separated, name[:min|max] (e.g. val_accuracy:max,joules:min): several give a Pareto front' },
    constraint: { type: 'string', valueName: 'LIST', description: 'bounds a trial must meet, comma-separated (e.g. "val_accuracy>=0.985")' },
    resume: { type: 'boolean', description: 'continue the newest unfinished study of this spec (or --study ID): finished trials stay, interrupted ones run again' },
    study: { type: 'string', valueName: 'ID', description: 'with --resume: the study to continue' },
    queue: { type: 'string', valueName: 'URL', description: 'run trials on `ecoml worker`s through a BullMQ queue at this Redis URL (redis://host:port)' },
    'queue-name': { type: 'string', valueName: 'NAME', description: 'the queue’s name (default ecoml-trials)' },
    concurrency: { type: 'string', valueName: 'N', description: 'with --queue: trials in flight at once (default 4)' },
    advice: { type: 'string', valueName: 'FILE', description: 'batch size and threads from `ecoml advise --out FILE` for every trial (flags still win)' },
    ...EXPORT_OPTIONS,
    out: { type: 'string', short: 'o', valueName: 'DIR', description: 'best model directory (default models/<spec name>-best)' },
    ...CARBON_START_OPTIONS,
    ...FIT_OPTIONS,
    ...WORKSPACE_OPTIONS,
  },
  async run({ positionals, values }, ctx) {
    const specPath = requirePositional(positionals, 0, 'SPEC');
    const maxTrials = numberOption(values, 'max-trials', { integer: true, min: 1 });
    const executionsPerTrial = numberOption(values, 'executions', { integer: true, min: 1 });
    const concurrency = numberOption(values, 'concurrency', { integer: true, min: 1 });
    const studyId = numberOption(values, 'study', { integer: true, min: 1 });
    const resume = booleanOption(values, 'resume');
    if (studyId !== undefined && !resume) throw new EcomlError('E_CONFIG_INVALID', '--study goes with --resume', { details: { option: 'study' } });
    const sampler = stringOption(values, 'sampler');
    const pruner = stringOption(values, 'pruner');
    const queue = stringOption(values, 'queue');
    const queueName = stringOption(values, 'queue-name');
    const objectives = listOption(values, 'objective', parseObjective);
    const constraints = listOption(values, 'constraint', parseConstraint);
    const out = stringOption(values, 'out');
    const carbonStart = parseCarbonStart(values);
    const advised = await adviceOverrides(values, ctx);
    const overrides = { ...fitOverrides(values), ...(advised.batchSize !== undefined ? { batchSize: advised.batchSize } : {}) };
    const ws = await workspaceFrom(advised.threads !== undefined ? { ...values, threads: advised.threads } : values, ctx);
    try {
      let progress = createProgress(ctx.stderr, ctx.isTTY);
      const wait = createWaitProgress(ctx.stderr, ctx.isTTY);
      const report = await tuneFromSpec(ws, {
        specPath,
        ...overrides,
        ...(maxTrials !== undefined ? { maxTrials } : {}),
        ...(executionsPerTrial !== undefined ? { executionsPerTrial } : {}),
        ...(sampler !== undefined ? { sampler } : {}),
        ...(pruner !== undefined ? { pruner } : {}),
        ...(objectives !== undefined ? { objectives: objectives as unknown as Objectives } : {}),
        ...(constraints !== undefined ? { constraints } : {}),
        ...(resume ? { resume: studyId ?? true } : {}),
        ...(queue !== undefined ? { queue } : {}),
        ...(queueName !== undefined ? { queueName } : {}),
        ...(concurrency !== undefined ? { concurrency } : {}),
        ...(out !== undefined ? { outDir: out } : {}),
        ...(carbonStart ? { carbonStart, onCarbonWait: wait.onWait, onCarbonTick: wait.onTick, onCarbonWarning: wait.onWarning } : {}),
        onTrialStart: (trial) => {
          progress = createProgress(ctx.stderr, ctx.isTTY, `trial ${trial.number}`);
          ctx.stderr.write(trialStartLine(trial));
        },
        onBatch: (p) => progress.onBatch(p),
        onEpochEnd: (record, epochs) => progress.onEpochEnd(record, epochs),
        onTrialEnd: (trial) => ctx.stderr.write(`${trialLine(trialJson(trial))}\n`),
        signal: ctx.signal,
      });
      const studyReport = studyReportJson(report.result.trials, report.config);
      const exported = await writeStudyExports(ctx, report.result.trials, report.config.objectives, studyReport, {
        csv: stringOption(values, 'export-csv'),
        json: stringOption(values, 'export-json'),
      });
      const m = report.measurements;
      const steps: [string, typeof m.tune][] = [['tune', m.tune]];
      if (m.evaluate) steps.push(['evaluate', m.evaluate]);
      if (m.save) steps.push(['save', m.save]);
      return {
        run_id: report.runId,
        study_id: report.study.id,
        study: report.study.name,
        resumed: report.resumed,
        sampler: report.config.sampler,
        pruner: report.config.pruner,
        objectives: report.config.objectives,
        constraints: report.config.constraints,
        status: report.result.status,
        trials: report.result.trials.map(trialJson),
        ...(report.bestTrial ? { best: trialJson(report.bestTrial) } : {}),
        report: studyReport,
        ...(report.modelDir ? { model_dir: report.modelDir } : {}),
        metrics: report.metrics,
        ...(report.evaluation ? { evaluation: evaluationJson(report.evaluation) } : {}),
        ...(report.carbonStart ? { carbon_start: carbonStartJson(report.carbonStart) } : {}),
        ...(exported.length > 0 ? { exported } : {}),
        summary: report.summary,
        ...meteredJson(m.total, steps),
      };
    } finally {
      await ws.close();
    }
  },
  render(r) {
    const objectives = r.objectives.map((o) => `${o.name} (${o.direction})`).join(', ');
    return [
      `tuned ${r.study} (study ${r.study_id}, run ${r.run_id}${r.resumed ? ', resumed' : ''}): ${r.trials.length} trials, ${r.status}; ${r.sampler} + ${r.pruner}; objective${r.objectives.length > 1 ? 's' : ''} ${objectives}`,
      ...r.constraints.map((c) => `  constraint ${c.name} ${c.op} ${c.bound}`),
      ...(r.carbon_start ? [`  waited ${r.carbon_start.waited_s.toFixed(0)} s for a greener grid (${r.carbon_start.reason})`] : []),
      ...r.trials.map((t) => `  ${trialLine(t)}`),
      r.best ? `best: ${trialLine(r.best)}` : 'no trial completed',
      ...renderStudyReport(r.report),
      `  ${formatMetrics(r.metrics)}`,
      renderMetered(r),
      ...(r.model_dir ? [`best model saved to ${r.model_dir}`] : []),
      ...(r.exported ?? []).map((file) => `exported ${file}`),
    ].join('\n');
  },
});
