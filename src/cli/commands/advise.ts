/** `ecoml advise SPEC`: energy per sample over batch sizes × threads, and the setting to train with. @module */
import { resolve } from 'node:path';
import { numberOption, requirePositional, stringOption } from '../args.js';
import { defineCommand, type OptionValues } from '../command.js';
import { formatJoulesShort } from '../format.js';
import { EcomlError, lookup } from '../../errors.js';
import { formatEnergyWithBounds, formatJoules } from '../../meter/index.js';
import { checkOutputFile } from '../../util/fs.js';
import { ADVICE_OBJECTIVES, type AdviceObjective } from '../../workflows/advise-select.js';
import { ADVISE_DEFAULTS, adviceFile, adviseFromSpec, methodsOf, writeAdvice, type AccuracyRun, type AdviceFile, type SettingFigures } from '../../workflows/advise.js';
import { energyJson, emissionsJson, type EmissionsJson, type EnergyJson } from '../../workflows/report.js';
import { DATA_LIMIT_OPTIONS, WORKSPACE_OPTIONS, parseHpAssignments, workspaceFrom } from './shared.js';

interface SettingJson {
  readonly batch_size: number;
  readonly threads: number;
  readonly samples: number;
  readonly samples_per_second: number;
  readonly j_per_sample: number;
  readonly j_per_sample_low: number;
  readonly j_per_sample_high: number;
  readonly method: string;
  readonly energy_model: string;
  readonly zeus_cost_j_per_sample: number;
  readonly within_slowdown: boolean;
}

interface AccuracyRunJson {
  readonly batch_size: number;
  readonly threads: number;
  readonly reached: boolean;
  readonly epochs: number;
  readonly val_accuracy: number;
  readonly tta_s: number;
  readonly eta_joules: number;
  readonly eta_joules_low: number;
  readonly eta_joules_high: number;
  readonly method: string;
  readonly zeus_cost_joules: number;
}

export interface AdviseResult {
  readonly run_id: string;
  readonly spec: string;
  readonly engine: string;
  readonly eta: number;
  readonly max_slowdown: number;
  readonly objective: AdviceObjective;
  readonly max_power_watts: number;
  readonly max_power_source: string;
  readonly settings: readonly SettingJson[];
  readonly accuracy?: { readonly target_accuracy: number; readonly max_epochs: number; readonly runs: readonly AccuracyRunJson[] };
  readonly advice: AdviceFile;
  readonly out?: string;
  readonly notes: readonly string[];
  readonly energy: EnergyJson;
  readonly emissions: EmissionsJson;
}

function energyModel(s: SettingFigures): string {
  return s.energyPerSample.components.map((c) => `${c.name}: ${c.model}`).join('; ');
}

function accuracyRunJson(r: AccuracyRun): AccuracyRunJson {
  return {
    batch_size: r.batchSize,
    threads: r.threads,
    reached: r.reached,
    epochs: r.epochs,
    val_accuracy: r.valAccuracy,
    tta_s: r.seconds,
    eta_joules: r.joules,
    eta_joules_low: r.energy.low,
    eta_joules_high: r.energy.high,
    method: methodsOf(r.energy),
    zeus_cost_joules: r.zeusCostJoules,
  };
}

/** '32,64,128' → [32, 64, 128]; anything but positive integers is E_CONFIG_INVALID. */
function intList(values: OptionValues, name: string): number[] | undefined {
  const raw = stringOption(values, name);
  if (raw === undefined) return undefined;
  const items = raw.split(',').map((s) => s.trim());
  const numbers = items.map(Number);
  if (items.some((s) => s === '') || !numbers.every((n) => Number.isInteger(n) && n >= 1)) {
    throw new EcomlError('E_CONFIG_INVALID', `--${name} takes integers ≥ 1 separated by commas, got "${raw}"`, { details: { option: name, value: raw } });
  }
  return [...new Set(numbers)];
}

export default defineCommand<AdviseResult>({
  name: 'advise',
  summary: 'Measure energy per sample over batch sizes × engine threads and recommend the lowest-energy setting within a slowdown budget.',
  usage: 'ecoml advise SPEC [--batch-sizes 16,32,64] [--threads-list 1,2,4] [--max-slowdown F] [--target-accuracy A --max-epochs N] [--out advice.json] [options]',
  description: [
    "Zeus's idea on this machine: each setting compiles the spec's model, takes --warmup-steps unmetered optimizer steps, then trains --samples samples in one meter window.",
    `The recommendation is the lowest joules per sample (--objective cost: the lowest Zeus cost η·J + (1−η)·maxPower·s, maxPower the CPU's TDP from the meter's power model) among the settings at least 1/F as fast as the fastest (--max-slowdown F, default ${ADVISE_DEFAULTS.maxSlowdown}).`,
    'With --target-accuracy, each batch size then trains (at the recommended thread count, on --train-limit samples) until its validation accuracy reaches A or --max-epochs pass; energy-to-accuracy decides among those that reached it, within the slowdown budget on time-to-accuracy.',
    'Energy is what the meter reports: measured where RAPL or NVML can be read, else estimated, with its bounds and model. --out writes the advice (batch_size, threads…) for `ecoml tune --advice`.',
  ].join('\n'),
  options: {
    'batch-sizes': { type: 'string', valueName: 'LIST', description: `batch sizes to try (default ${ADVISE_DEFAULTS.batchSizes.join(',')})` },
    'threads-list': { type: 'string', valueName: 'LIST', description: 'onnx engine threads to try (default 1,2,4,… up to the logical CPUs, and their count)' },
    samples: { type: 'string', valueName: 'N', description: `training samples metered per setting (default ${ADVISE_DEFAULTS.samples})` },
    'warmup-steps': { type: 'string', valueName: 'N', description: `unmetered steps before each setting (default ${ADVISE_DEFAULTS.warmupSteps})` },
    'max-slowdown': { type: 'string', valueName: 'F', description: `slowest allowed, as a multiple of the fastest setting's time (≥ 1, default ${ADVISE_DEFAULTS.maxSlowdown})` },
    objective: { type: 'string', valueName: 'NAME', description: `${Object.entries(ADVICE_OBJECTIVES).map(([k, v]) => `${k}: ${v}`).join('; ')} (default ${ADVISE_DEFAULTS.objective})` },
    eta: { type: 'string', valueName: 'η', description: `weight of energy against time in the Zeus cost, in [0, 1] (default ${ADVISE_DEFAULTS.eta})` },
    'target-accuracy': { type: 'string', valueName: 'A', description: 'also train each batch size until validation accuracy ≥ A (0–1) and decide on energy-to-accuracy' },
    'max-epochs': { type: 'string', valueName: 'N', description: 'with --target-accuracy: most epochs per batch size' },
    'validation-split': { type: 'string', valueName: 'F', description: 'hold out fraction F of train for validation (default: the test split)' },
    seed: { type: 'string', valueName: 'N', description: 'seed for initial weights and shuffling (default: the spec’s)' },
    hp: { type: 'string', multiple: true, valueName: 'NAME=VALUE', description: 'set a hyperparameter of the spec’s tune space (repeatable; default: each at its default)' },
    out: { type: 'string', short: 'o', valueName: 'FILE', description: 'write the advice as JSON (batch_size, threads, j_per_sample…) for tune --advice' },
    ...DATA_LIMIT_OPTIONS,
    ...WORKSPACE_OPTIONS,
  },
  async run({ positionals, values }, ctx) {
    const specPath = requirePositional(positionals, 0, 'SPEC');
    const targetAccuracy = numberOption(values, 'target-accuracy', { min: 0, max: 1 });
    const maxEpochs = numberOption(values, 'max-epochs', { integer: true, min: 1 });
    if (targetAccuracy !== undefined && maxEpochs === undefined) throw new EcomlError('E_CONFIG_INVALID', '--target-accuracy needs --max-epochs N');
    if (maxEpochs !== undefined && targetAccuracy === undefined) throw new EcomlError('E_CONFIG_INVALID', '--max-epochs bounds --target-accuracy A; add it');
    const objective = stringOption(values, 'objective');
    const out = stringOption(values, 'out');
    const outPath = out === undefined ? undefined : resolve(ctx.cwd, out);
    if (outPath !== undefined) checkOutputFile(outPath, `--out ${out}`);
    const hyperparameters = parseHpAssignments(values.hp);
    const defined = Object.fromEntries(
      Object.entries({
        batchSizes: intList(values, 'batch-sizes'),
        threadsList: intList(values, 'threads-list'),
        samples: numberOption(values, 'samples', { integer: true, min: 1 }),
        warmupSteps: numberOption(values, 'warmup-steps', { integer: true, min: 0 }),
        maxSlowdown: numberOption(values, 'max-slowdown', { min: 1 }),
        eta: numberOption(values, 'eta', { min: 0, max: 1 }),
        seed: numberOption(values, 'seed', { integer: true, min: 0 }),
        validationSplit: numberOption(values, 'validation-split', { min: 0, max: 1, exclusiveMax: true }),
        trainLimit: numberOption(values, 'train-limit', { integer: true, min: 1 }),
        testLimit: numberOption(values, 'test-limit', { integer: true, min: 1 }),
      }).filter(([, v]) => v !== undefined),
    );
    const ws = await workspaceFrom(values, ctx);
    try {
      let drawn = false;
      const report = await adviseFromSpec(
        ws,
        {
          specPath,
          ...defined,
          ...(hyperparameters ? { hyperparameters } : {}),
          ...(objective !== undefined ? { objective: (lookup(ADVICE_OBJECTIVES, objective, 'advise objective'), objective as AdviceObjective) } : {}),
          ...(targetAccuracy !== undefined && maxEpochs !== undefined ? { target: { accuracy: targetAccuracy, maxEpochs } } : {}),
        },
        {
          onStart: (s) => {
            if (!ctx.isTTY) return;
            drawn = true;
            ctx.stderr.write(`\r${s.phase} ${s.index}/${s.total}: batch ${s.batchSize}, ${s.threads} thread${s.threads === 1 ? '' : 's'}…\x1b[K`);
          },
          onSetting: (s) => ctx.stderr.write(`${drawn ? '\r\x1b[K' : ''}batch ${String(s.batchSize).padStart(4)}  threads ${String(s.threads).padStart(2)}  ${s.samplesPerSecond.toFixed(0).padStart(7)} samples/s  ${formatEnergyWithBounds(s.energyPerSample)} per sample\n`),
          onAccuracyRun: (r) => ctx.stderr.write(`${drawn ? '\r\x1b[K' : ''}batch ${String(r.batchSize).padStart(4)}  ${r.reached ? 'reached' : 'missed '} val_accuracy ${r.valAccuracy.toFixed(4)} in ${r.epochs} epochs, ${r.seconds.toFixed(1)} s, ${formatEnergyWithBounds(r.energy)}\n`),
          signal: ctx.signal,
        },
      );
      if (outPath !== undefined) await writeAdvice(outPath, report);
      const eligible = new Set(report.throughput.eligible);
      return {
        run_id: report.runId,
        spec: report.spec,
        engine: report.engine,
        eta: report.policy.eta,
        max_slowdown: report.policy.maxSlowdown,
        objective: report.policy.objective,
        max_power_watts: report.policy.maxPowerWatts,
        max_power_source: report.maxPowerSource,
        settings: report.settings.map((s) => ({
          batch_size: s.batchSize,
          threads: s.threads,
          samples: s.samples,
          samples_per_second: s.samplesPerSecond,
          j_per_sample: s.energyPerSample.joules,
          j_per_sample_low: s.energyPerSample.low,
          j_per_sample_high: s.energyPerSample.high,
          method: methodsOf(s.energyPerSample),
          energy_model: energyModel(s),
          zeus_cost_j_per_sample: s.zeusCostJoules,
          within_slowdown: eligible.has(s),
        })),
        ...(report.accuracy ? { accuracy: { target_accuracy: report.accuracy.target.accuracy, max_epochs: report.accuracy.target.maxEpochs, runs: report.accuracy.runs.map(accuracyRunJson) } } : {}),
        advice: adviceFile(report),
        ...(outPath !== undefined ? { out: outPath } : {}),
        notes: report.notes,
        energy: energyJson(report.measurement),
        emissions: emissionsJson(report.measurement),
      };
    } finally {
      await ws.close();
    }
  },
  render(r) {
    const a = r.advice;
    const header = `${'batch'.padStart(6)} ${'threads'.padStart(8)} ${'samples/s'.padStart(10)} ${'J/sample'.padStart(10)} ${'bounds'.padStart(21)} ${'Zeus cost'.padStart(10)}`;
    const rows = r.settings.map((s) => {
      const mark = s.batch_size === a.batch_size && s.threads === a.threads ? ' ← advice' : s.within_slowdown ? '' : ' (too slow)';
      const bounds = `${formatJoules(s.j_per_sample_low)}–${formatJoules(s.j_per_sample_high)}`;
      return `${String(s.batch_size).padStart(6)} ${String(s.threads).padStart(8)} ${s.samples_per_second.toFixed(0).padStart(10)} ${formatJoules(s.j_per_sample).padStart(10)} ${bounds.padStart(21)} ${formatJoules(s.zeus_cost_j_per_sample).padStart(10)}${mark}`;
    });
    const accuracy = r.accuracy
      ? [
          `to val_accuracy ${r.accuracy.target_accuracy} (at most ${r.accuracy.max_epochs} epochs, ${r.accuracy.runs[0]?.threads ?? '-'} threads):`,
          ...r.accuracy.runs.map((x) => `${String(x.batch_size).padStart(6)}  ${x.reached ? `reached in ${x.epochs} epochs` : `not reached (${x.val_accuracy.toFixed(4)})`}, TTA ${x.tta_s.toFixed(1)} s, ETA ${formatJoules(x.eta_joules)} (${formatJoules(x.eta_joules_low)}–${formatJoules(x.eta_joules_high)}, ${x.method})`),
        ]
      : [];
    return [
      `advise ${r.spec} on ${r.engine} (run ${r.run_id}): ${r.settings.length} settings, energy ${r.settings[0]?.method ?? '-'} (${r.settings[0]?.energy_model ?? '-'})`,
      header,
      ...rows,
      ...accuracy,
      `Zeus cost: η ${r.eta}, maxPower ${r.max_power_watts} W (${r.max_power_source}); slowdown budget ${r.max_slowdown}×; objective ${r.objective}`,
      ...r.notes.map((n) => `note: ${n}`),
      `advice (${a.basis}): batch size ${a.batch_size}, ${a.threads} thread${a.threads === 1 ? '' : 's'}: ${formatJoules(a.j_per_sample)} per sample (${a.method}), ${a.samples_per_second.toFixed(0)} samples/s`,
      ...(r.out ? [`advice written to ${r.out}`] : []),
      `advise run: ${formatJoulesShort(r.energy.joules)} (${[...new Set(r.energy.components.map((c) => c.method))].join('+')})`,
    ].join('\n');
  },
});
