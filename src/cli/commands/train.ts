/** `ecoml train SPEC`: fit a model from a spec file, evaluate it on the test split, save it. @module */
import { stringOption, requirePositional } from '../args.js';
import { defineCommand } from '../command.js';
import { formatDuration, formatJoulesShort, formatMetrics } from '../format.js';
import { createProgress, createWaitProgress } from '../progress.js';
import { trainFromSpec, type RunPartJson } from '../../workflows/train.js';
import type { Forecast } from '../../train/index.js';
import { evaluationJson, type EvaluationReport } from '../../workflows/evaluate.js';
import {
  CARBON_START_OPTIONS,
  FIT_OPTIONS,
  WORKSPACE_OPTIONS,
  carbonStartJson,
  fitOverrides,
  meteredJson,
  parseCarbonStart,
  parseHpAssignments,
  renderMetered,
  workspaceFrom,
  type CarbonStartJson,
  type MeteredJson,
} from './shared.js';

export interface TrainResult extends MeteredJson {
  readonly run_id: string;
  readonly model_dir: string;
  readonly spec: string;
  readonly engine: string;
  readonly stop_reason: string;
  readonly forecast?: Forecast;
  /** Present when the start waited for a cleaner grid (--start-when-intensity-below, --start-in-greenest-window). */
  readonly carbon_start?: CarbonStartJson;
  readonly hyperparameters: Readonly<Record<string, unknown>>;
  readonly metrics: Readonly<Record<string, number>>;
  readonly epochs: readonly unknown[];
  readonly evaluation?: Omit<EvaluationReport, 'measurement'>;
  /** Every process that worked on the run (more than one after --resume); `energy` is their sum. */
  readonly parts: readonly RunPartJson[];
}

export default defineCommand<TrainResult>({
  name: 'train',
  summary: 'Train a model from a spec file (YAML or JSON), evaluate it on the test split and save it.',
  usage: 'ecoml train SPEC [options]',
  description:
    "Checkpoints after every epoch under the run store; --resume RUN continues an interrupted or crashed run exactly (a run another live process is working on is refused), and the run's energy adds up every process that worked on it.",
  options: {
    ...FIT_OPTIONS,
    out: { type: 'string', short: 'o', valueName: 'DIR', description: 'model directory to write (default models/<spec name>)' },
    resume: { type: 'string', valueName: 'RUN', description: 'continue the train run RUN (id or unique prefix) from its last checkpoint (E_RUN_LOCKED while another live process works on it)' },
    hp: { type: 'string', multiple: true, valueName: 'NAME=VALUE', description: 'set a hyperparameter of the spec’s tune space (repeatable)' },
    ...CARBON_START_OPTIONS,
    ...WORKSPACE_OPTIONS,
  },
  async run({ positionals, values }, ctx) {
    const specPath = requirePositional(positionals, 0, 'SPEC');
    const overrides = fitOverrides(values);
    const hyperparameters = parseHpAssignments(values.hp);
    const out = stringOption(values, 'out');
    const resume = stringOption(values, 'resume');
    const carbonStart = parseCarbonStart(values);
    const ws = await workspaceFrom(values, ctx);
    try {
      const progress = createProgress(ctx.stderr, ctx.isTTY);
      const waiting = createWaitProgress(ctx.stderr, ctx.isTTY);
      const report = await trainFromSpec(ws, {
        specPath,
        ...overrides,
        ...(hyperparameters ? { hyperparameters } : {}),
        ...(out !== undefined ? { outDir: out } : {}),
        ...(resume !== undefined ? { resume } : {}),
        ...(carbonStart ? { carbonStart, onCarbonWait: waiting.onWait, onCarbonTick: waiting.onTick, onCarbonWarning: waiting.onWarning } : {}),
        onBatch: progress.onBatch,
        onEpochEnd: progress.onEpochEnd,
        onForecast: progress.onForecast,
        signal: ctx.signal,
      });
      const m = report.measurements;
      const steps: [string, typeof m.train][] = m.earlier ? [['earlier', m.earlier]] : [];
      steps.push(['train', m.train]);
      if (m.evaluate) steps.push(['evaluate', m.evaluate]);
      steps.push(['save', m.save]);
      return {
        run_id: report.run_id,
        model_dir: report.model_dir,
        spec: report.spec,
        engine: report.engine,
        stop_reason: report.stop_reason,
        ...(report.forecast ? { forecast: report.forecast } : {}),
        ...(report.carbonStart ? { carbon_start: carbonStartJson(report.carbonStart) } : {}),
        hyperparameters: report.hyperparameters,
        metrics: report.metrics,
        epochs: report.epochs,
        ...(report.evaluation ? { evaluation: evaluationJson(report.evaluation) } : {}),
        parts: report.parts,
        ...meteredJson(m.total, steps),
      };
    } finally {
      await ws.close();
    }
  },
  render(r) {
    return [
      `trained ${r.spec} on ${r.engine} (run ${r.run_id}), ${r.epochs.length} epochs, ${r.stop_reason === 'budget' ? 'stopped: budget (checkpoint kept; --resume continues)' : r.stop_reason}`,
      ...(r.carbon_start ? [`started ${r.carbon_start.started_at} after waiting ${formatDuration(r.carbon_start.waited_s)} (${r.carbon_start.reason}), grid ${r.carbon_start.intensity_at_start_g_per_kwh.toFixed(0)} gCO2e/kWh (${r.carbon_start.source})`] : []),
      `  ${formatMetrics(r.metrics)}`,
      ...(r.parts.length > 1 ? [`the run's energy adds up ${r.parts.length} processes: ${r.parts.map((p) => `${p.joules === null ? '-' : formatJoulesShort(p.joules)} (${p.status})`).join(' + ')}`] : []),
      renderMetered(r),
      `model saved to ${r.model_dir}`,
    ].join('\n');
  },
});
