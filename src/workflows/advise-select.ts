/**
 * How `advise` picks a setting from measured ones (pure): Zeus's MaxSlowdownConstraint keeps the
 * settings at most `maxSlowdown` times slower than the fastest, and among them the lowest energy
 * (or the lowest Zeus cost η·energy + (1−η)·maxPower·time) wins.
 * @module
 */

import { EcomlError } from '../errors.js';

/** What one setting cost per unit of work: a sample (throughput grid) or a whole run to the target accuracy. */
export interface CostFigures {
  readonly seconds: number;
  readonly joules: number;
}

export type AdviceObjective = 'energy' | 'cost';
export const ADVICE_OBJECTIVES: Readonly<Record<AdviceObjective, string>> = Object.freeze({
  energy: 'the lowest joules',
  cost: "the lowest Zeus cost η·joules + (1−η)·maxPower·seconds",
});

export interface SelectionPolicy {
  /** ≥ 1: a setting may take at most this many times the fastest one's seconds. */
  readonly maxSlowdown: number;
  readonly objective: AdviceObjective;
  /** η in [0, 1]: the weight of energy against time in the Zeus cost. */
  readonly eta: number;
  /** What a second is worth in the Zeus cost, in watts. */
  readonly maxPowerWatts: number;
}

export interface Selection<T> {
  readonly chosen: T;
  readonly fastest: T;
  /** Those within the slowdown budget, in the order given. */
  readonly eligible: readonly T[];
}

/** Zeus's cost metric, in joules: η·energy + (1−η)·maxPower·time. */
export function zeusCost(figures: CostFigures, eta: number, maxPowerWatts: number): number {
  return eta * figures.joules + (1 - eta) * maxPowerWatts * figures.seconds;
}

export function checkSelectionPolicy(policy: SelectionPolicy): void {
  const bad = (what: string): EcomlError => new EcomlError('E_CONFIG_INVALID', what, { details: { ...policy } });
  if (!(Number.isFinite(policy.maxSlowdown) && policy.maxSlowdown >= 1)) throw bad(`the slowdown budget must be ≥ 1 (1: the fastest only), got ${policy.maxSlowdown}`);
  if (!(policy.eta >= 0 && policy.eta <= 1)) throw bad(`η must be in [0, 1], got ${policy.eta}`);
  if (!(Number.isFinite(policy.maxPowerWatts) && policy.maxPowerWatts >= 0)) throw bad(`the maximum power must be ≥ 0 W, got ${policy.maxPowerWatts}`);
  if (!Object.hasOwn(ADVICE_OBJECTIVES, policy.objective)) throw bad(`the objective must be ${Object.keys(ADVICE_OBJECTIVES).join(' or ')}, got ${String(policy.objective)}`);
}

/**
 * The cheapest setting within the slowdown budget; ties go to the faster, then to the earlier given.
 * Undefined for no candidates. The fastest is always within budget, so any candidates give a choice.
 */
export function selectSetting<T extends CostFigures>(candidates: readonly T[], policy: SelectionPolicy): Selection<T> | undefined {
  checkSelectionPolicy(policy);
  const first = candidates[0];
  if (first === undefined) return undefined;
  const fastest = candidates.reduce((best, c) => (c.seconds < best.seconds ? c : best), first);
  const eligible = candidates.filter((c) => c.seconds <= fastest.seconds * policy.maxSlowdown);
  const score = (c: T): number => (policy.objective === 'energy' ? c.joules : zeusCost(c, policy.eta, policy.maxPowerWatts));
  const chosen = eligible.slice(1).reduce((best, c) => {
    const [a, b] = [score(c), score(best)];
    return a < b || (a === b && c.seconds < best.seconds) ? c : best;
  }, eligible[0] as T);
  return { chosen, fastest, eligible };
}
