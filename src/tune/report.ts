/**
 * A study's report, pure over its trials: the energy it spent, the energy early stopping saved
 * (counted from the epochs not run, at each configuration's own measured joules per epoch), the
 * best trial per objective and the Pareto front, parameter importances, and the trials as CSV
 * (RFC 4180) or as JSON-ready rows. Field names are the domain's camelCase; the CLI maps them.
 * @module
 */
import type { HpValue } from '../models/spec.js';
import { parameterImportances } from './importance.js';
import type { Importance } from './importance.js';
import { paretoFront } from './pareto.js';
import type { SpaceEntry } from './space.js';
import type { FrozenTrial, Objective, TrialState } from './trial.js';

export const SAVED_ENERGY_METHOD = "estimated: epochs not run × this configuration's measured joules per epoch";

export interface ReportInput {
  readonly trials: readonly FrozenTrial[];
  readonly objectives: readonly [Objective, ...Objective[]];
  /** The epochs of a trial nobody stops early. */
  readonly maxEpochs: number;
  /**
   * The executions each configuration was to run. Without it, a lineage counts the executions its
   * trials attempted, which misses those a pruned trial never started (so undercounts the saving).
   */
  readonly executionsPerTrial?: number;
  /** The space to compute importances over; without it the report has none. */
  readonly space?: readonly SpaceEntry[];
  /** Seeds the importances' forest (default 0). */
  readonly seed?: number;
}

export interface EnergySpent {
  readonly joules: number;
  readonly kgCo2e: number;
  readonly trials: number;
  /** Trials whose summary has joules: the rest spent energy this total cannot count. */
  readonly measuredTrials: number;
  readonly byState: Readonly<Record<TrialState, number>>;
}

/**
 * One configuration's trials: a new trial and the promotions continuing it (attrs.parent), whose
 * epochs go on from the parent's checkpoint.
 */
export interface Lineage {
  /** Trial numbers, root first. */
  readonly trials: readonly number[];
  /** The last trial's state. */
  readonly state: TrialState;
  readonly epochsRun?: number;
  readonly fullEpochs: number;
  readonly joules?: number;
  readonly kgCo2e?: number;
  readonly joulesPerEpoch?: number;
  readonly savedJoules?: number;
  readonly savedKgCo2e?: number;
  /** Why there is no estimate (savedJoules absent). */
  readonly note?: string;
}

export interface EnergySaved {
  readonly method: typeof SAVED_ENERGY_METHOD;
  readonly savedJoules: number;
  /** Over the lineages whose kg CO2e was measured too. */
  readonly savedKgCo2e: number;
  /** Epoch counts over the lineages with an estimate. */
  readonly epochsRun: number;
  readonly epochsNotRun: number;
  readonly fullEpochs: number;
  /** Lineages without an estimate, each with its note: never guessed. */
  readonly notEstimable: number;
  readonly lineages: readonly Lineage[];
}

export interface BestTrial {
  readonly objective: Objective;
  readonly number: number;
  readonly value: number;
  /** False when no trial met the constraints: this one misses them least. */
  readonly feasible: boolean;
}

/** One trial as the CSV and the JSON export show it. */
export interface TrialRow {
  readonly number: number;
  readonly state: TrialState;
  readonly params: Readonly<Record<string, HpValue>>;
  /** By objective name; completed trials only. */
  readonly scores: Readonly<Record<string, number>>;
  readonly joules?: number;
  readonly kgCo2e?: number;
  readonly epochs?: number;
  readonly durationS?: number;
  readonly violation?: number;
  readonly parent?: number;
}

export interface StudyReport {
  readonly energy: EnergySpent;
  readonly saved: EnergySaved;
  readonly best: readonly BestTrial[];
  readonly front: readonly TrialRow[];
  /** Per objective, when the input has a space. */
  readonly importances: readonly { readonly objective: string; readonly importances: readonly Importance[] }[];
}

export function studyReport(input: ReportInput): StudyReport {
  const { trials, objectives, space } = input;
  return {
    energy: energySpent(trials),
    saved: energySaved(trials, input.maxEpochs, input.executionsPerTrial),
    best: objectives.flatMap((objective, k) => bestFor(trials, objective, k)),
    front: trialRows(paretoFront(trials, objectives), objectives),
    importances:
      space === undefined ? [] : objectives.map((o, k) => ({ objective: o.name, importances: parameterImportances(trials, space, k, { seed: input.seed ?? 0 }) })),
  };
}

export function energySpent(trials: readonly FrozenTrial[]): EnergySpent {
  const byState: Record<TrialState, number> = { running: 0, completed: 0, pruned: 0, failed: 0 };
  let [joules, kgCo2e, measuredTrials] = [0, 0, 0];
  for (const t of trials) {
    byState[t.state] += 1;
    if (t.summary?.joules !== undefined) {
      joules += t.summary.joules;
      measuredTrials += 1;
    }
    kgCo2e += t.summary?.kg_co2e ?? 0;
  }
  return { joules, kgCo2e, trials: trials.length, measuredTrials, byState };
}

/**
 * Energy early stopping saved, per configuration lineage: (maxEpochs × executions − epochs run) ×
 * the lineage's measured joules per epoch. A lineage still running or ended by a failure is not
 * early stopping; one without measured epochs or joules has no estimate.
 */
export function energySaved(trials: readonly FrozenTrial[], maxEpochs: number, executionsPerTrial?: number): EnergySaved {
  const lineages = lineagesOf(trials).map((members) => lineageSaving(members, maxEpochs, executionsPerTrial));
  const estimated = lineages.filter((l): l is Lineage & { savedJoules: number; epochsRun: number } => l.savedJoules !== undefined);
  const sum = (values: readonly (number | undefined)[]) => values.reduce<number>((s, v) => s + (v ?? 0), 0);
  const epochsRun = sum(estimated.map((l) => l.epochsRun));
  const fullEpochs = sum(estimated.map((l) => l.fullEpochs));
  return {
    method: SAVED_ENERGY_METHOD,
    savedJoules: sum(estimated.map((l) => l.savedJoules)),
    savedKgCo2e: sum(estimated.map((l) => l.savedKgCo2e)),
    epochsRun,
    epochsNotRun: fullEpochs - epochsRun,
    fullEpochs,
    notEstimable: lineages.length - estimated.length,
    lineages,
  };
}

/** Trials grouped by the new trial each promotion chain starts from, each group by number. */
function lineagesOf(trials: readonly FrozenTrial[]): FrozenTrial[][] {
  const byNumber = new Map(trials.map((t) => [t.number, t]));
  const rootOf = (t: FrozenTrial): number => {
    const seen = new Set<number>();
    let current = t;
    // A parent missing from the trials (or a cycle, which a study never makes) ends the chain.
    for (let parent = parentOf(current); parent !== undefined && !seen.has(parent); parent = parentOf(current)) {
      seen.add(current.number);
      const next = byNumber.get(parent);
      if (next === undefined) break;
      current = next;
    }
    return current.number;
  };
  const groups = new Map<number, FrozenTrial[]>();
  for (const t of [...trials].sort((a, b) => a.number - b.number)) {
    const root = rootOf(t);
    groups.set(root, [...(groups.get(root) ?? []), t]);
  }
  return [...groups.values()];
}

function lineageSaving(members: readonly FrozenTrial[], maxEpochs: number, executionsPerTrial: number | undefined): Lineage {
  const last = members[members.length - 1] as FrozenTrial;
  // A trial that did not complete was stopped inside the execution it had started.
  const attempted = Math.max(1, ...members.map((t) => t.executions.length + (t.state === 'completed' ? 0 : 1)));
  const fullEpochs = maxEpochs * (executionsPerTrial ?? attempted);
  const base = { trials: members.map((t) => t.number), state: last.state, fullEpochs };
  if (members.some((t) => t.state === 'running')) return { ...base, note: 'still running' };
  if (last.state === 'failed') return { ...base, note: 'ended by a failure, not stopped early' };
  const total = (key: string) => (members.every((t) => t.summary?.[key] !== undefined) ? members.reduce((s, t) => s + (t.summary?.[key] as number), 0) : undefined);
  const [epochsRun, joules, kgCo2e] = [total('epochs'), total('joules'), total('kg_co2e')];
  const measured = { ...base, ...(epochsRun === undefined ? {} : { epochsRun }), ...(joules === undefined ? {} : { joules }), ...(kgCo2e === undefined ? {} : { kgCo2e }) };
  if (epochsRun === undefined || epochsRun <= 0) return { ...measured, note: 'not estimable: no epochs recorded' };
  if (joules === undefined) return { ...measured, note: 'not estimable: joules not measured' };
  if (epochsRun > fullEpochs) return { ...measured, note: `not estimable: ran ${epochsRun} epochs, more than the ${fullEpochs} of a full run` };
  const notRun = fullEpochs - epochsRun;
  const joulesPerEpoch = joules / epochsRun;
  return {
    ...measured,
    joulesPerEpoch,
    savedJoules: notRun * joulesPerEpoch,
    ...(kgCo2e === undefined ? {} : { savedKgCo2e: (notRun * kgCo2e) / epochsRun }),
  };
}

/** The completed trial best on objective `k`: feasible ones first, then least violation, ties by number. */
function bestFor(trials: readonly FrozenTrial[], objective: Objective, k: number): BestTrial[] {
  const sign = objective.direction === 'max' ? -1 : 1;
  const candidates = trials
    .flatMap((t) => {
      const value = scoreOf(t, k);
      return t.state === 'completed' && value !== undefined && !Number.isNaN(value) ? [{ t, value, violation: t.violation ?? 0 }] : [];
    })
    .sort((a, b) => a.violation - b.violation || sign * (a.value - b.value) || a.t.number - b.t.number);
  const best = candidates[0];
  return best === undefined ? [] : [{ objective, number: best.t.number, value: best.value, feasible: best.violation === 0 }];
}

/** The JSON export shape: one row per trial, by number. */
export function trialRows(trials: readonly FrozenTrial[], objectives: readonly Objective[]): TrialRow[] {
  return [...trials]
    .sort((a, b) => a.number - b.number)
    .map((t) => {
      const scores: Record<string, number> = {};
      objectives.forEach((o, k) => {
        const value = scoreOf(t, k);
        if (t.state === 'completed' && value !== undefined) scores[o.name] = value;
      });
      const s = t.summary ?? {};
      const parent = parentOf(t);
      return {
        number: t.number,
        state: t.state,
        params: t.values,
        scores,
        ...(s.joules === undefined ? {} : { joules: s.joules }),
        ...(s.kg_co2e === undefined ? {} : { kgCo2e: s.kg_co2e }),
        ...(s.epochs === undefined ? {} : { epochs: s.epochs }),
        ...(t.durationS === undefined ? {} : { durationS: t.durationS }),
        ...(t.violation === undefined ? {} : { violation: t.violation }),
        ...(parent === undefined ? {} : { parent }),
      };
    });
}

/**
 * The trials as CSV (RFC 4180: CRLF line ends, fields with a comma, quote or line break quoted,
 * quotes doubled): number, state, params_<name> per parameter (in order of first use), values_<name>
 * per objective (Optuna's prefixes, so a parameter or objective named like a fixed column cannot
 * collide), joules, kg_co2e, epochs, duration_s, violation, parent. Missing values are empty.
 */
export function toCsv(trials: readonly FrozenTrial[], objectives: readonly Objective[]): string {
  const rows = trialRows(trials, objectives);
  const params = [...new Set(rows.flatMap((r) => Object.keys(r.params)))];
  const header = ['number', 'state', ...params.map((p) => `params_${p}`), ...objectives.map((o) => `values_${o.name}`), 'joules', 'kg_co2e', 'epochs', 'duration_s', 'violation', 'parent'];
  const lines = [header, ...rows.map((r) => [r.number, r.state, ...params.map((p) => r.params[p]), ...objectives.map((o) => r.scores[o.name]), r.joules, r.kgCo2e, r.epochs, r.durationS, r.violation, r.parent])];
  return lines.map((fields) => fields.map(csvField).join(',')).join('\r\n') + '\r\n';
}

function csvField(value: HpValue | undefined): string {
  if (value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Objective k's score; a single-objective trial may carry only `score`. */
function scoreOf(trial: FrozenTrial, k: number): number | undefined {
  return trial.scores?.[k] ?? (k === 0 ? trial.score : undefined);
}

function parentOf(trial: FrozenTrial): number | undefined {
  const parent = trial.attrs?.parent;
  return typeof parent === 'number' ? parent : undefined;
}
