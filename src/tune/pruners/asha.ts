/**
 * Optuna's SuccessiveHalvingPruner (asynchronous successive halving), transcribed from
 * optuna/pruners/_successive_halving.py (optuna/optuna@1d8ce7b), extended to several objectives.
 *
 * Rung k sits at step minResource·η^(minEarlyStoppingRate+k). Each trial is judged once per rung,
 * at the first step it reports at or past the rung: it continues when its value there is within
 * the top ⌊n/η⌋ of the n values recorded at that rung (its own included), or is the best when
 * n < η; otherwise it is pruned.
 *
 * Optuna records a trial's value at a rung as a system attr (`completed_rung_k`); a pruner here
 * cannot write attrs, so the rung values are read back from the intermediate values instead: a
 * trial's value at rung k is its value at the first step it reported at or past the rung's step,
 * skipping NaN (Optuna prunes on NaN before recording it). This is the same set Optuna records
 * when every step is reported, as the study loop does with epochs, because a trial reaches a
 * rung's step only by surviving the rungs before it. Two differences remain: a trial pruned at
 * one rung in a report that skips past several counts at those later rungs here; and with
 * min_resource 'auto', trials that ran before the first trial completed compete here, while
 * Optuna (which only then learns where its rungs are) recorded nothing for them.
 *
 * With several objectives (which Optuna refuses) a trial competes with its vector of values:
 * the rung ranks the vectors by non-dominated front, then by crowding distance.
 * @module
 */
import { EcomlError } from '../../errors.js';
import { crowdingDistance, nonDominatedSort } from '../pareto.js';
import type { Scored } from '../pareto.js';
import type { Pruner } from '../pruner.js';
import type { Direction, FrozenTrial, IntermediateValue, StudyView } from '../trial.js';

export interface SuccessiveHalvingOptions {
  /** Steps (epochs) of the first rung, or 'auto': max(last step of the completed trials ÷ 100, 1). */
  readonly minResource?: number | 'auto';
  /** η: keep 1 in η at each rung (Optuna: 4). */
  readonly reductionFactor?: number;
  /** s: the first rung sits at minResource·η^s (Optuna: 0). */
  readonly minEarlyStoppingRate?: number;
  /** Prune a trial at a rung until more than this many trials have reached it (Optuna: 0). */
  readonly bootstrapCount?: number;
}

export class SuccessiveHalvingPruner implements Pruner {
  readonly name = 'asha';
  private readonly minResource: number | 'auto';
  private readonly reductionFactor: number;
  private readonly minEarlyStoppingRate: number;
  private readonly bootstrapCount: number;

  constructor(options: SuccessiveHalvingOptions = {}) {
    this.minResource = options.minResource ?? 'auto';
    this.reductionFactor = options.reductionFactor ?? 4;
    this.minEarlyStoppingRate = options.minEarlyStoppingRate ?? 0;
    this.bootstrapCount = options.bootstrapCount ?? 0;
    if (this.minResource !== 'auto' && (!Number.isInteger(this.minResource) || this.minResource < 1)) {
      invalid('minResource', this.minResource, "a positive integer or 'auto'");
    }
    if (!Number.isInteger(this.reductionFactor) || this.reductionFactor < 2) invalid('reductionFactor', this.reductionFactor, 'an integer of at least 2');
    if (!Number.isInteger(this.minEarlyStoppingRate) || this.minEarlyStoppingRate < 0) invalid('minEarlyStoppingRate', this.minEarlyStoppingRate, 'a non-negative integer');
    if (!Number.isInteger(this.bootstrapCount) || this.bootstrapCount < 0) invalid('bootstrapCount', this.bootstrapCount, 'a non-negative integer');
    if (this.bootstrapCount > 0 && this.minResource === 'auto') {
      throw new EcomlError('E_CONFIG_INVALID', "the asha pruner's bootstrapCount needs a numeric minResource, not 'auto' (as in Optuna)", {
        details: { bootstrapCount: this.bootstrapCount },
      });
    }
  }

  prune(study: StudyView, trial: FrozenTrial, step: number): boolean {
    const steps = trial.intermediateValues.map((v) => v.step);
    // Optuna judges at trial.last_step; a later execution re-reporting an earlier step was judged.
    if (step !== Math.max(...steps)) return false;
    const trials = study.trials();
    const minResource = this.minResource === 'auto' ? estimateMinResource(trials) : this.minResource;
    if (minResource === undefined) return false;
    const previousStep = Math.max(-1, ...steps.filter((s) => s < step));
    const current = vectorAt(trial.intermediateValues, step, study.objectives.length);
    if (current === undefined) return false;
    const directions = study.objectives.map((o) => o.direction);
    for (let rung = 0; ; rung++) {
      const rungStep = minResource * this.reductionFactor ** (this.minEarlyStoppingRate + rung);
      if (step < rungStep) return false;
      // Judged when the trial first reported past this rung's step.
      if (rungStep <= previousStep) continue;
      if (current.some(Number.isNaN)) return true;
      const competing = [current];
      for (const other of trials) {
        if (other.number === trial.number) continue;
        const value = rungValue(other.intermediateValues, rungStep, study.objectives.length);
        if (value !== undefined) competing.push(value);
      }
      if (competing.length <= this.bootstrapCount) return true;
      const promotable =
        directions.length === 1
          ? isPromotable(current[0] as number, competing.map((v) => v[0] as number), this.reductionFactor, directions[0] as Direction)
          : isParetoPromotable(0, competing, this.reductionFactor, directions);
      if (!promotable) return true;
    }
  }
}

/**
 * Optuna's `_is_trial_promotable_to_next_rung`: `value` (one of `competing`) is at least as good as
 * the ⌊n/η⌋-th best of the n competing values, or as the best when n < η.
 */
export function isPromotable(value: number, competing: readonly number[], reductionFactor: number, direction: Direction): boolean {
  const promotableIndex = Math.max(Math.floor(competing.length / reductionFactor) - 1, 0);
  const sorted = [...competing].sort((a, b) => a - b);
  return direction === 'max' ? value >= (sorted[sorted.length - 1 - promotableIndex] as number) : value <= (sorted[promotableIndex] as number);
}

/**
 * The multi-objective rung rule: `points[index]` continues when fewer than max(⌊n/η⌋, 1) of the n
 * points rank strictly ahead of it (an earlier front, or the same front and a larger crowding
 * distance). With one objective this is `isPromotable`: only strictly better values rank ahead.
 */
export function isParetoPromotable(index: number, points: readonly (readonly number[])[], reductionFactor: number, directions: readonly Direction[]): boolean {
  const ranks = paretoRanks(
    points.map((values) => ({ values, violation: 0 })),
    directions,
  );
  const own = ranks[index];
  if (own === undefined) throw new EcomlError('E_INTERNAL', `point ${index} is not among the ${points.length} competing`);
  const kept = Math.max(Math.floor(points.length / reductionFactor), 1);
  const ahead = ranks.filter((r) => r.front < own.front || (r.front === own.front && r.crowding > own.crowding)).length;
  return ahead < kept;
}

/** Where a point stands: its non-dominated front (0 = best) and its crowding distance in it. */
export interface ParetoRank {
  readonly front: number;
  readonly crowding: number;
}

/**
 * Each point's front (constrained domination) and crowding distance within its front. Equal
 * vectors share one distance, computed over the front's distinct vectors, so duplicates tie
 * rather than being told apart by the order they came in.
 */
export function paretoRanks(points: readonly Scored[], directions: readonly Direction[]): ParetoRank[] {
  const ranks: ParetoRank[] = points.map(() => ({ front: 0, crowding: 0 }));
  nonDominatedSort(points, directions).forEach((members, front) => {
    const keyOf = (i: number) => JSON.stringify((points[i] as Scored).values);
    const distinct = [...new Map(members.map((i) => [keyOf(i), (points[i] as Scored).values])).entries()];
    const distances = crowdingDistance(distinct.map(([, values]) => values));
    const byKey = new Map(distinct.map(([key], k) => [key, distances[k] as number]));
    for (const i of members) ranks[i] = { front, crowding: byKey.get(keyOf(i)) as number };
  });
  return ranks;
}

/** Optuna's `_estimate_min_resource`: undefined until a trial completes. */
function estimateMinResource(trials: readonly FrozenTrial[]): number | undefined {
  const lastSteps = trials.filter((t) => t.state === 'completed' && t.intermediateValues.length > 0).map((t) => Math.max(...t.intermediateValues.map((v) => v.step)));
  if (lastSteps.length === 0) return undefined;
  return Math.max(Math.floor(Math.max(...lastSteps) / 100), 1);
}

/** The objectives' values at `step`, as a vector (the first objective alone for a one-objective study). */
function vectorAt(values: readonly IntermediateValue[], step: number, objectives: number): readonly number[] | undefined {
  const at = values.find((v) => v.step === step);
  if (at === undefined) return undefined;
  return objectives === 1 ? [at.value] : (at.values ?? [at.value]);
}

/** What Optuna would have recorded for a trial at the rung at `rungStep`; see the module comment. */
function rungValue(values: readonly IntermediateValue[], rungStep: number, objectives: number): readonly number[] | undefined {
  const reached = values.filter((v) => v.step >= rungStep);
  if (reached.length === 0) return undefined;
  const first = reached.reduce((a, b) => (b.step < a.step ? b : a));
  const vector = vectorAt([first], first.step, objectives);
  return vector === undefined || vector.some(Number.isNaN) ? undefined : vector;
}

function invalid(name: string, value: number | string, expected: string): never {
  throw new EcomlError('E_CONFIG_INVALID', `the asha pruner's ${name} must be ${expected}, got ${value}`, { details: { [name]: value } });
}
