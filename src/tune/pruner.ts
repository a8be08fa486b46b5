/**
 * The pruner seam: after each reported step, decide whether the running trial should stop.
 * Median, successive-halving and Hyperband pruners plug in here; they read the other trials'
 * intermediate values through the StudyView.
 * @module
 */
import type { FrozenTrial, StudyView } from './trial.js';

export interface Pruner {
  readonly name: string;
  /** `trial` is the running trial's snapshot, including the value just reported for `step`. */
  prune(study: StudyView, trial: FrozenTrial, step: number): boolean;
}

export type PrunerFactory = () => Pruner;

/**
 * Thrown by `report()` when the pruner says stop; the study loop (and nothing else) catches it and
 * records the trial as pruned. Not an EcomlError: it is control flow, not a failure.
 */
export class TrialPruned extends Error {
  constructor(readonly step: number) {
    super(`trial pruned at step ${step}`);
    this.name = 'TrialPruned';
  }
}
