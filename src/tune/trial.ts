/**
 * The trial model every plug-in sees, and the pure functions that score trials: averaging the
 * executions' epoch curves, picking the best epoch, ranking trials, hashing values for duplicate
 * detection and deriving per-execution seeds.
 * @module
 */
import { createHash } from 'node:crypto';
import type { HpValue } from '../models/spec.js';

export type Direction = 'min' | 'max';

export interface Objective {
  /** A metric name as the trial reports it, e.g. 'val_accuracy'. */
  readonly name: string;
  readonly direction: Direction;
}

/**
 * A feasibility bound on a trial-level value, e.g. `val_accuracy >= 0.985`. A trial that misses
 * one is infeasible: it never beats a feasible trial (constrained domination, as NSGA-II).
 */
export interface Constraint {
  readonly name: string;
  readonly op: '>=' | '<=';
  readonly bound: number;
}

export type TrialState = 'running' | 'completed' | 'pruned' | 'failed';

/** Bookkeeping a scheduler or the study loop keeps on a trial (bracket, round, epochs, parent); JSON. */
export type TrialAttrs = Readonly<Record<string, string | number | boolean | null>>;

/** One epoch's metrics, by name. */
export type EpochMetrics = Readonly<Record<string, number>>;

/** One finished execution (one training run) of a trial's values. */
export interface ExecutionRecord {
  readonly seed: number;
  readonly metricsByEpoch: readonly EpochMetrics[];
  /** Whatever the caller's runTrial returned alongside the metrics, opaque JSON. */
  readonly extra?: unknown;
}

/** The objective's value at one reported step, averaged over the executions that reached it. */
export interface IntermediateValue {
  readonly step: number;
  /** The first objective's value. */
  readonly value: number;
  /** Every objective's value, in the study's order, when the study has several. */
  readonly values?: readonly number[];
}

/** A read-only snapshot of one trial: what samplers, pruners and storages exchange. */
export interface FrozenTrial {
  /** 0-based, in creation order within the study. */
  readonly number: number;
  /** The hyperparameter values tried. */
  readonly values: Readonly<Record<string, HpValue>>;
  readonly state: TrialState;
  /** Finished executions only; a pruned or failed one leaves its trace in intermediateValues. */
  readonly executions: readonly ExecutionRecord[];
  /** Per epoch, each metric averaged over the executions that reached that epoch. */
  readonly metrics: readonly EpochMetrics[];
  /** The (first) objective's best value over the epochs of `metrics`; set on completed trials only. */
  readonly score?: number;
  /** Every objective's value, in the study's order; set on completed trials only. */
  readonly scores?: readonly number[];
  readonly bestEpoch?: number;
  /**
   * Trial-level values: the executions' summaries (parameter count, size, latency) averaged, their
   * joules and kg CO2e summed, and `epochs` run in all.
   */
  readonly summary?: Readonly<Record<string, number>>;
  /** How far the trial misses the study's constraints: 0 when feasible; set on completed trials. */
  readonly violation?: number;
  readonly attrs?: TrialAttrs;
  readonly intermediateValues: readonly IntermediateValue[];
  readonly error?: string;
  readonly startedAt: string;
  readonly endedAt?: string;
  readonly durationS?: number;
  /** The energy record the caller's meter attached (e.g. a Measurement), opaque JSON. */
  readonly energy?: unknown;
}

/** What a pruner or sampler may see of the study it works for. */
export interface StudyView {
  readonly id: number;
  readonly name: string;
  /** The first of `objectives`. */
  readonly objective: Objective;
  readonly objectives: readonly [Objective, ...Objective[]];
  readonly constraints: readonly Constraint[];
  /** Snapshots of every trial so far, by number. */
  trials(): readonly FrozenTrial[];
}

/** True when `a` is strictly better than `b` (ties keep the earlier one, as Keras Tuner does). */
export function isBetter(direction: Direction, a: number, b: number): boolean {
  return direction === 'max' ? a > b : a < b;
}

/**
 * Averages several executions' curves epoch by epoch and metric by metric, over the executions
 * that reached that epoch and reported that metric (early stopping can shorten some).
 */
export function averageCurves(curves: readonly (readonly EpochMetrics[])[]): EpochMetrics[] {
  const epochs = Math.max(0, ...curves.map((curve) => curve.length));
  const averaged: EpochMetrics[] = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    const sums = new Map<string, { sum: number; count: number }>();
    for (const curve of curves) {
      for (const [name, value] of Object.entries(curve[epoch] ?? {})) {
        const acc = sums.get(name) ?? { sum: 0, count: 0 };
        acc.sum += value;
        acc.count += 1;
        sums.set(name, acc);
      }
    }
    averaged.push(Object.fromEntries([...sums].map(([name, { sum, count }]) => [name, sum / count])));
  }
  return averaged;
}

/**
 * A trial's score as Keras Tuner computes it (`convert_to_metrics_dict`): each execution is scored
 * at its own best epoch, then those scores are averaged; the best epoch is the rounded mean of the
 * executions' best epochs. Undefined when any execution never reported the objective.
 */
export function scoreExecutions(curves: readonly (readonly EpochMetrics[])[], objective: Objective): { score: number; bestEpoch: number } | undefined {
  const scored = curves.map((curve) => scoreCurve(curve, objective));
  if (scored.length === 0 || scored.some((s) => s === undefined)) return undefined;
  const all = scored as { score: number; bestEpoch: number }[];
  return {
    score: all.reduce((sum, s) => sum + s.score, 0) / all.length,
    bestEpoch: Math.round(all.reduce((sum, s) => sum + s.bestEpoch, 0) / all.length),
  };
}

/**
 * The objective's best value over the epochs of `curve` and the first epoch reaching it;
 * undefined when no epoch has a non-NaN value for it.
 */
export function scoreCurve(curve: readonly EpochMetrics[], objective: Objective): { score: number; bestEpoch: number } | undefined {
  let best: { score: number; bestEpoch: number } | undefined;
  curve.forEach((metrics, epoch) => {
    const value = metrics[objective.name];
    if (value === undefined || Number.isNaN(value)) return;
    if (best === undefined || isBetter(objective.direction, value, best.score)) best = { score: value, bestEpoch: epoch };
  });
  return best;
}

/**
 * Completed trials, best first: feasible ones (no constraint missed) by score, then infeasible ones
 * by how far they miss; ties by trial number.
 */
export function bestTrials(trials: readonly FrozenTrial[], objective: Objective): FrozenTrial[] {
  return trials
    .filter((trial): trial is FrozenTrial & { score: number } => trial.state === 'completed' && trial.score !== undefined)
    .sort((a, b) => {
      const missed = (a.violation ?? 0) - (b.violation ?? 0);
      if (missed !== 0) return missed;
      return isBetter(objective.direction, a.score, b.score) ? -1 : isBetter(objective.direction, b.score, a.score) ? 1 : a.number - b.number;
    });
}

/**
 * Identifies a set of values for duplicate detection, as Keras Tuner does: sha256 over the
 * `name=value` pairs sorted by name, first 32 hex digits.
 */
export function valuesHash(values: Readonly<Record<string, HpValue>>): string {
  const text = Object.keys(values)
    .sort()
    .map((name) => `${name}=${String(values[name])}`)
    .join('');
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 32);
}

/**
 * A seed for one execution of one trial: reproducible from the study seed, different for every
 * (trial, execution) pair, and uncorrelated with the sampler's consecutive seeds.
 */
export function deriveSeed(studySeed: number, trialNumber: number, execution: number): number {
  const digest = createHash('sha256').update(`${studySeed}/${trialNumber}/${execution}`).digest();
  return digest.readUInt32BE(0) >>> 1;
}
