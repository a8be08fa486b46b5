/**
 * The pruner seam: after each reported step, decide whether the running trial should stop.
 * Median and successive-halving pruners answer `prune` from the other trials' intermediate values.
 * A scheduling pruner (Hyperband, with Keras Tuner's brackets) also decides what runs next through
 * `plan`: a new configuration trained for some epochs, or an earlier trial promoted to more epochs,
 * continuing from its own checkpoint.
 * @module
 */
import type { FrozenTrial, StudyView, TrialAttrs } from './trial.js';

/** What a scheduling pruner tells the study to run next. */
export type TrialPlan =
  /** A configuration the sampler draws, trained from scratch to `epochs`. */
  | { readonly kind: 'new'; readonly epochs: number; readonly attrs?: TrialAttrs }
  /** `parent`'s values again, continuing its checkpoint from the epochs it ran to `epochs`. */
  | { readonly kind: 'promote'; readonly parent: number; readonly epochs: number; readonly attrs?: TrialAttrs }
  /** Nothing can start until a running trial ends. */
  | { readonly kind: 'wait' }
  | { readonly kind: 'done' };

export interface Pruner {
  readonly name: string;
  /** `trial` is the running trial's snapshot, including the value just reported for `step`. */
  prune(study: StudyView, trial: FrozenTrial, step: number): boolean;
  /** Schedulers only. Reads the study's trials (their attrs), so a resumed study plans on. */
  plan?(study: StudyView): TrialPlan;
}

export interface PrunerOptions {
  /** The full training budget: the epochs of a trial nobody stops. */
  readonly maxEpochs: number;
  readonly seed: number;
}

export type PrunerFactory = (options: PrunerOptions) => Pruner;

/**
 * Thrown by `report()` when the pruner says stop; the study loop (and nothing else) catches it and
 * records the trial as pruned. Not an EcomlError: it is control flow, not a failure.
 */
export class TrialPruned extends Error {
  /** What the execution spent before it stopped (joules, epochs…), set by whoever ran it. */
  summary?: Readonly<Record<string, number>>;

  constructor(readonly step: number) {
    super(`trial pruned at step ${step}`);
    this.name = 'TrialPruned';
  }
}
