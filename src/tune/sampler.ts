/**
 * The sampler seam: given the space and the finished history, propose the next trial's values.
 * Random search ignores the history; TPE, GP-BO or NSGA-II read it (values, states, scores and
 * intermediate values are all on the frozen trials), so they plug in here unchanged.
 * @module
 */
import type { HpValue } from '../models/spec.js';
import type { SearchSpace } from './space.js';
import type { FrozenTrial, StudyView } from './trial.js';

export interface Sampler {
  readonly name: string;
  /**
   * Values for every active parameter of `space`. Each call is a fresh draw: the study calls again
   * when the values duplicate an earlier trial's.
   */
  sample(space: SearchSpace, history: readonly FrozenTrial[]): Record<string, HpValue>;
  /** Called once per trial after it ends (any state), for samplers that keep their own model. */
  afterTrial?(study: StudyView, trial: FrozenTrial): void;
}

export interface SamplerOptions {
  readonly seed: number;
}

export type SamplerFactory = (options: SamplerOptions) => Sampler;
