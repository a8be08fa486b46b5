/**
 * Optuna's MedianPruner: its PercentilePruner at the 50th percentile, transcribed from
 * optuna/pruners/_percentile.py (optuna/optuna@1d8ce7b). A trial is pruned when its best
 * intermediate value over all its steps so far is worse than the percentile of the completed
 * trials' values at the current step itself (their value at that step, not their best so far).
 * @module
 */
import { EcomlError } from '../../errors.js';
import type { Pruner } from '../pruner.js';
import type { Direction, FrozenTrial, StudyView } from '../trial.js';

export interface PercentilePrunerOptions {
  /** Keep trials in the top `percentile` percent; MedianPruner's is 50. */
  readonly percentile?: number;
  /** No pruning until this many trials have completed (Optuna: 5). */
  readonly nStartupTrials?: number;
  /** No pruning at steps below this one (Optuna: 0). */
  readonly nWarmupSteps?: number;
  /** Judge every this many steps after the warmup (Optuna: 1). */
  readonly intervalSteps?: number;
  /** No pruning unless at least this many completed trials reported the step (Optuna: 1). */
  readonly nMinTrials?: number;
}

export class MedianPruner implements Pruner {
  readonly name = 'median';
  private readonly percentile: number;
  private readonly nStartupTrials: number;
  private readonly nWarmupSteps: number;
  private readonly intervalSteps: number;
  private readonly nMinTrials: number;

  constructor(options: PercentilePrunerOptions = {}) {
    this.percentile = options.percentile ?? 50;
    this.nStartupTrials = options.nStartupTrials ?? 5;
    this.nWarmupSteps = options.nWarmupSteps ?? 0;
    this.intervalSteps = options.intervalSteps ?? 1;
    this.nMinTrials = options.nMinTrials ?? 1;
    if (!(this.percentile >= 0 && this.percentile <= 100)) invalid('percentile', this.percentile, 'between 0 and 100');
    if (!Number.isInteger(this.nStartupTrials) || this.nStartupTrials < 0) invalid('nStartupTrials', this.nStartupTrials, 'a non-negative integer');
    if (!Number.isInteger(this.nWarmupSteps) || this.nWarmupSteps < 0) invalid('nWarmupSteps', this.nWarmupSteps, 'a non-negative integer');
    if (!Number.isInteger(this.intervalSteps) || this.intervalSteps < 1) invalid('intervalSteps', this.intervalSteps, 'a positive integer');
    if (!Number.isInteger(this.nMinTrials) || this.nMinTrials < 1) invalid('nMinTrials', this.nMinTrials, 'a positive integer');
  }

  prune(study: StudyView, trial: FrozenTrial, step: number): boolean {
    // A percentile of vectors has no meaning; Optuna refuses too (trial.report raises).
    if (study.objectives.length > 1) {
      throw new EcomlError('E_CONFIG_INVALID', `the median pruner decides on one objective, and this study has ${study.objectives.length}: use the asha pruner`, {
        details: { pruner: this.name, objectives: study.objectives.map((o) => o.name) },
      });
    }
    const completed = study.trials().filter((t) => t.state === 'completed');
    if (completed.length === 0 || completed.length < this.nStartupTrials) return false;
    // Optuna judges at trial.last_step. A later execution re-reporting an earlier step adds no step
    // (Optuna has one execution per trial), so it is not a new decision.
    const steps = trial.intermediateValues.map((v) => v.step);
    if (step !== Math.max(...steps)) return false;
    if (step < this.nWarmupSteps) return false;
    if (!isFirstInIntervalStep(step, steps, this.nWarmupSteps, this.intervalSteps)) return false;

    const { direction } = study.objective;
    const best = nanBest(
      trial.intermediateValues.map((v) => v.value),
      direction,
    );
    if (Number.isNaN(best)) return true;
    const atStep = completed.flatMap((t) => t.intermediateValues.filter((v) => v.step === step).map((v) => v.value));
    if (atStep.length < this.nMinTrials) return false;
    const p = nanPercentile(atStep, direction === 'max' ? 100 - this.percentile : this.percentile);
    if (Number.isNaN(p)) return false;
    return direction === 'max' ? best < p : best > p;
  }
}

/**
 * Optuna's `_is_first_in_interval_step`: true when no step between the latest pruning checkpoint
 * at or below `step` and `step` itself was reported, so each interval is judged once.
 */
export function isFirstInIntervalStep(step: number, reportedSteps: readonly number[], nWarmupSteps: number, intervalSteps: number): boolean {
  const nearestLowerPruningStep = Math.floor((step - nWarmupSteps) / intervalSteps) * intervalSteps + nWarmupSteps;
  const secondLastStep = reportedSteps.reduce((acc, s) => (s > acc && s !== step ? s : acc), -1);
  return secondLastStep < nearestLowerPruningStep;
}

/** numpy's nanmax / nanmin: NaN only when every value is NaN. */
function nanBest(values: readonly number[], direction: Direction): number {
  const finite = values.filter((v) => !Number.isNaN(v));
  if (finite.length === 0) return Number.NaN;
  return direction === 'max' ? Math.max(...finite) : Math.min(...finite);
}

/**
 * numpy's nanpercentile with its default 'linear' method, bit for bit: the virtual index
 * q/100·(n−1) between two sorted neighbours a ≤ b, interpolated as numpy's `_lerp` does
 * (a + (b−a)·t, or b − (b−a)·(1−t) when t ≥ 0.5). NaN when every value is NaN.
 */
export function nanPercentile(values: readonly number[], percentile: number): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const virtualIndex = (percentile / 100) * (sorted.length - 1);
  const below = Math.floor(virtualIndex);
  const t = virtualIndex - below;
  const a = sorted[below] as number;
  const b = sorted[Math.min(below + 1, sorted.length - 1)] as number;
  const diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

function invalid(name: string, value: number, expected: string): never {
  throw new EcomlError('E_CONFIG_INVALID', `the median pruner's ${name} must be ${expected}, got ${value}`, { details: { [name]: value } });
}
