/** A test-only pruner: prunes as soon as the step's intermediate value is worse than a fixed bound. */
import type { Pruner } from '../../src/tune/pruner.js';
import type { FrozenTrial, StudyView } from '../../src/tune/trial.js';

export class ThresholdPruner implements Pruner {
  readonly name = 'threshold';

  constructor(private readonly bound: number) {}

  prune(study: StudyView, trial: FrozenTrial, step: number): boolean {
    const value = trial.intermediateValues.find((v) => v.step === step)?.value;
    if (value === undefined) return false;
    return study.objective.direction === 'max' ? value < this.bound : value > this.bound;
  }
}
