/**
 * The sampler seam. A sampler opens one draw per trial (`begin`) over what is known of the space,
 * then answers one parameter at a time (`value`), in the order the study meets them: the declared
 * space walked in insertion order (conditional parameters only when active), or a define-by-run
 * objective's suggest calls, in whatever order its code makes them. That is Optuna's split:
 * `begin` is where a sampler models the parameters jointly (multivariate TPE, NSGA-II, grid);
 * `value` draws a parameter on its own (independent TPE, random) or hands back the joint pick.
 * @module
 */
import type { HpValue } from '../models/spec.js';
import type { SearchSpace, SpaceEntry } from './space.js';
import type { Constraint, FrozenTrial, Objective } from './trial.js';

export interface SampleContext {
  /**
   * The declared space, or for define-by-run the parameters every finished trial used (Optuna's
   * intersection search space): what a joint model may cover.
   */
  readonly space: SearchSpace;
  /** Every trial so far, by number (finished ones with scores, running ones as they stand). */
  readonly history: readonly FrozenTrial[];
  /** The number the trial being drawn will get. */
  readonly trialNumber: number;
  readonly objectives: readonly [Objective, ...Objective[]];
  readonly constraints: readonly Constraint[];
}

/** One trial's draw. */
export interface TrialDraw {
  /** A valid value for `entry`; `chosen` holds the values already drawn for this trial. */
  value(entry: SpaceEntry, chosen: Readonly<Record<string, HpValue>>): HpValue;
}

export interface Sampler {
  readonly name: string;
  /**
   * Opens a trial's draw. Each call is a fresh draw: the study calls again when the values
   * duplicate an earlier trial's.
   */
  begin(context: SampleContext): TrialDraw;
  /** Samplers with state that must survive a resume (random search's seed state) expose it here. */
  state?(): unknown;
}

export interface SamplerOptions {
  readonly seed: number;
  /** What `state()` returned before the process stopped, when the study resumes. */
  readonly state?: unknown;
}

export type SamplerFactory = (options: SamplerOptions) => Sampler;
