/**
 * `ecoml studies list|show|delete`: the tuning studies in the run store, and a study's report
 * (energy spent and saved, best trials, Pareto front, parameter importances) with CSV/JSON export.
 * Also the report's wire JSON and export writing that `ecoml tune` prints at its end.
 * @module
 */
import { rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { EcomlError } from '../../errors.js';
import { openRunStore, resolveStoreDir } from '../../store/index.js';
import { SqliteStudyStorage, bestTrials, createSearchSpace, studyReport, toCsv, type FrozenTrial, type Objective, type StudyRecord, type StudyReport } from '../../tune/index.js';
import type { StudyConfig } from '../../workflows/tune.js';
import { trialJson, type TrialJson } from '../../workflows/tune.js';
import { requirePositional, stringOption } from '../args.js';
import { defineCommand, type CliContext } from '../command.js';
import { formatCo2, formatJoulesShort } from '../format.js';
import { trialLine } from './tune.js';

export interface StudyReportJson {
  readonly energy: { readonly joules: number; readonly kg_co2e: number; readonly trials: number; readonly measured_trials: number; readonly by_state: Readonly<Record<string, number>> };
  readonly saved_by_early_stopping: {
    readonly method: string;
    readonly joules: number;
    readonly kg_co2e: number;
    readonly epochs_run: number;
    readonly epochs_not_run: number;
    readonly full_epochs: number;
    readonly not_estimable: number;
  };
  readonly best: readonly { readonly objective: string; readonly direction: string; readonly trial: number; readonly value: number; readonly feasible: boolean }[];
  readonly front: readonly { readonly trial: number; readonly params: Readonly<Record<string, unknown>>; readonly scores: Readonly<Record<string, number>>; readonly joules?: number }[];
  readonly importances: readonly { readonly objective: string; readonly importances: readonly { readonly name: string; readonly importance: number }[] }[];
}

/** The study's report as wire JSON. */
export function studyReportJson(trials: readonly FrozenTrial[], config: StudyConfig): StudyReportJson {
  const report: StudyReport = studyReport({
    trials,
    objectives: config.objectives,
    maxEpochs: config.maxEpochs,
    executionsPerTrial: config.executionsPerTrial,
    ...(config.space === undefined ? {} : { space: createSearchSpace(config.space) }),
    seed: config.seed,
  });
  return {
    energy: {
      joules: report.energy.joules,
      kg_co2e: report.energy.kgCo2e,
      trials: report.energy.trials,
      measured_trials: report.energy.measuredTrials,
      by_state: report.energy.byState,
    },
    saved_by_early_stopping: {
      method: report.saved.method,
      joules: report.saved.savedJoules,
      kg_co2e: report.saved.savedKgCo2e,
      epochs_run: report.saved.epochsRun,
      epochs_not_run: report.saved.epochsNotRun,
      full_epochs: report.saved.fullEpochs,
      not_estimable: report.saved.notEstimable,
    },
    best: report.best.map((b) => ({ objective: b.objective.name, direction: b.objective.direction, trial: b.number, value: b.value, feasible: b.feasible })),
    front: report.front.map((row) => ({ trial: row.number, params: row.params, scores: row.scores, ...(row.joules === undefined ? {} : { joules: row.joules }) })),
    importances: report.importances.map((i) => ({ objective: i.objective, importances: i.importances.map(({ name, importance }) => ({ name, importance })) })),
  };
}

export function renderStudyReport(r: StudyReportJson): string[] {
  const saved = r.saved_by_early_stopping;
  const lines = [
    `energy: ${formatJoulesShort(r.energy.joules)}, ${formatCo2(r.energy.kg_co2e)} over ${r.energy.trials} trials (${Object.entries(r.energy.by_state).filter(([, n]) => n > 0).map(([state, n]) => `${n} ${state}`).join(', ')})`,
    `saved by early stopping: ${formatJoulesShort(saved.joules)}, ${formatCo2(saved.kg_co2e)} — ${saved.epochs_not_run} of ${saved.full_epochs} epochs not run (${saved.method})${saved.not_estimable > 0 ? `; ${saved.not_estimable} configuration(s) not estimable` : ''}`,
  ];
  if (r.front.length > 1 || (r.best.length > 1 && r.front.length > 0)) {
    lines.push(`Pareto front (${r.front.length}):`);
    for (const row of r.front) {
      lines.push(`  trial ${row.trial}: ${Object.entries(row.params).map(([k, v]) => `${k}=${String(v)}`).join(' ')}  ${Object.entries(row.scores).map(([k, v]) => `${k} ${v.toPrecision(4)}`).join(', ')}`);
    }
  }
  for (const { objective, importances } of r.importances) {
    // With fewer than two completed trials (or no variation) there is nothing to attribute.
    if (importances.every((i) => i.importance === 0)) continue;
    lines.push(`importance for ${objective}: ${importances.map((i) => `${i.name} ${(i.importance * 100).toFixed(0)}%`).join(', ')}`);
  }
  return lines;
}

/** Writes the CSV and/or JSON exports asked for; returns the paths written. */
export async function writeStudyExports(
  ctx: CliContext,
  trials: readonly FrozenTrial[],
  objectives: readonly Objective[],
  report: StudyReportJson,
  to: { readonly csv?: string | undefined; readonly json?: string | undefined },
): Promise<string[]> {
  const written: string[] = [];
  const write = async (file: string, text: string) => {
    const path = resolve(ctx.cwd, file);
    await writeFile(path, text).catch((error: NodeJS.ErrnoException) => {
      throw new EcomlError('E_FILE_NOT_FOUND', `cannot write ${path}: ${error.code ?? error.message}`, { details: { file: path } });
    });
    written.push(path);
  };
  if (to.csv !== undefined) await write(to.csv, toCsv(trials, objectives));
  if (to.json !== undefined) await write(to.json, `${JSON.stringify({ report, trials: trials.map(trialJson) }, null, 2)}\n`);
  return written;
}

/** `--export-csv` and `--export-json`, for `tune` and `studies show` alike (see writeStudyExports). */
export const EXPORT_OPTIONS = {
  'export-csv': { type: 'string', valueName: 'FILE', description: 'write every trial as a CSV row' },
  'export-json': { type: 'string', valueName: 'FILE', description: 'write the report and trials as JSON' },
} as const;

const STORE_OPTION = { store: { type: 'string', valueName: 'DIR', description: 'run store directory (default .ecoml, or $ECOML_STORE)' } } as const;

async function withStudies<T>(ctx: CliContext, values: Readonly<Record<string, unknown>>, fn: (storage: SqliteStudyStorage, storeDir: string) => Promise<T> | T): Promise<T> {
  const storeDir = resolveStoreDir(ctx.cwd, typeof values.store === 'string' ? values.store : undefined, ctx.env);
  const store = openRunStore(storeDir);
  try {
    return await fn(new SqliteStudyStorage(store), storeDir);
  } finally {
    store.close();
  }
}

function studyIdArg(positionals: readonly string[]): number {
  const text = requirePositional(positionals, 0, 'STUDY');
  const id = Number(text);
  if (!Number.isSafeInteger(id) || id < 1) throw new EcomlError('E_CONFIG_INVALID', `STUDY must be a study id (a positive integer), got "${text}"`, { details: { study: text } });
  return id;
}

interface StudyLineJson {
  readonly id: number;
  readonly name: string;
  readonly status: string;
  readonly created_at: string;
  readonly run_id?: string;
  readonly sampler?: string;
  readonly pruner?: string;
  readonly objectives: readonly Objective[];
  readonly trials: number;
  readonly best?: TrialJson;
  readonly joules: number;
}

function studyLine(study: StudyRecord, trials: readonly FrozenTrial[]): StudyLineJson {
  const config = study.config as Partial<StudyConfig> | undefined;
  const best = studyBest(trials, study.objectives[0]);
  return {
    id: study.id,
    name: study.name,
    status: study.status,
    created_at: study.createdAt,
    ...(study.runId === undefined ? {} : { run_id: study.runId }),
    ...(config?.sampler === undefined ? {} : { sampler: config.sampler }),
    ...(config?.pruner === undefined ? {} : { pruner: config.pruner }),
    objectives: study.objectives,
    trials: trials.length,
    ...(best ? { best: trialJson(best) } : {}),
    joules: trials.reduce((sum, t) => sum + (t.summary?.joules ?? 0), 0),
  };
}

/** The best feasible completed trial for the first objective, as the study loop ranks them. */
function studyBest(trials: readonly FrozenTrial[], objective: Objective): FrozenTrial | undefined {
  return bestTrials(trials, objective).find((t) => (t.violation ?? 0) === 0);
}

export const listCommand = defineCommand<{ readonly studies: readonly StudyLineJson[] }>({
  name: 'studies list',
  summary: 'List tuning studies, newest first.',
  usage: 'ecoml studies list [--store DIR]',
  options: { ...STORE_OPTION },
  run: async ({ values }, ctx) =>
    withStudies(ctx, values, (storage) => ({ studies: storage.listStudies().map((study) => studyLine(study, storage.getTrials(study.id))) })),
  render(r) {
    if (r.studies.length === 0) return 'no studies';
    return [
      `${'id'.padEnd(4)} ${'name'.padEnd(18)} ${'status'.padEnd(10)} ${'strategy'.padEnd(18)} ${'trials'.padEnd(6)} ${'energy'.padEnd(9)} best`,
      ...r.studies.map(
        (s) =>
          `${String(s.id).padEnd(4)} ${s.name.padEnd(18)} ${s.status.padEnd(10)} ${`${s.sampler ?? '?'}+${s.pruner ?? '?'}`.padEnd(18)} ${String(s.trials).padEnd(6)} ${formatJoulesShort(s.joules).padEnd(9)} ${s.best ? `trial ${s.best.number} ${s.best.score?.toFixed(4) ?? ''}` : '-'}`,
      ),
    ].join('\n');
  },
});

export const showCommand = defineCommand<StudyLineJson & { readonly config?: unknown; readonly report: StudyReportJson; readonly trial_list: readonly TrialJson[]; readonly exported?: readonly string[] }>({
  name: 'studies show',
  summary: 'Show a study: its trials, energy spent and saved, best trials, Pareto front and parameter importances.',
  usage: 'ecoml studies show STUDY [--export-csv FILE] [--export-json FILE] [--store DIR]',
  options: { ...EXPORT_OPTIONS, ...STORE_OPTION },
  run: async ({ positionals, values }, ctx) => {
    const id = studyIdArg(positionals);
    return withStudies(ctx, values, async (storage) => {
      const study = storage.getStudy(id);
      const trials = storage.getTrials(id);
      const config = study.config as StudyConfig | undefined;
      const report = studyReportJson(trials, config ?? { objectives: study.objectives, maxEpochs: Math.max(1, ...trials.map((t) => t.metrics.length)), executionsPerTrial: 1, seed: 0, sampler: '?', pruner: '?', constraints: [], overrides: {} });
      const exported = await writeStudyExports(ctx, trials, study.objectives, report, { csv: stringOption(values, 'export-csv'), json: stringOption(values, 'export-json') });
      return { ...studyLine(study, trials), ...(config ? { config } : {}), report, trial_list: trials.map(trialJson), ...(exported.length > 0 ? { exported } : {}) };
    });
  },
  render(r) {
    return [
      `study ${r.id} ${r.name}: ${r.status}, ${r.trials} trials${r.sampler ? `, ${r.sampler} + ${r.pruner}` : ''}; objectives ${r.objectives.map((o) => `${o.name} (${o.direction})`).join(', ')}`,
      ...r.trial_list.map((t) => `  ${trialLine(t)}`),
      ...r.report.best.map((b) => `best ${b.objective}: trial ${b.trial} (${b.value.toPrecision(5)})${b.feasible ? '' : ' — no trial met the constraints'}`),
      ...renderStudyReport(r.report),
      ...(r.exported ?? []).map((file) => `exported ${file}`),
    ].join('\n');
  },
});

export const deleteCommand = defineCommand<{ readonly deleted: number; readonly name: string; readonly trials: number }>({
  name: 'studies delete',
  summary: 'Delete a study, its trials and its checkpoints (the runs its trials recorded stay).',
  usage: 'ecoml studies delete STUDY [--store DIR]',
  options: { ...STORE_OPTION },
  run: async ({ positionals, values }, ctx) => {
    const id = studyIdArg(positionals);
    return withStudies(ctx, values, async (storage, storeDir) => {
      const study = storage.getStudy(id);
      const trials = storage.getTrials(id).length;
      storage.deleteStudy(id);
      await rm(join(storeDir, 'checkpoints', `study-${id}`), { recursive: true, force: true });
      return { deleted: id, name: study.name, trials };
    });
  },
  render: (r) => `deleted study ${r.deleted} (${r.name}, ${r.trials} trials)`,
});
