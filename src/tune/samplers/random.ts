/**
 * Keras Tuner's random search, draw for draw. `seedState` starts at the seed; walking the space in
 * insertion order, each parameter maps `u = Random(seedState).random()` through probToValue and then
 * increments seedState (a fresh CPython-compatible generator per draw, as Keras Tuner does). With the
 * same seed and space, the values equal Keras Tuner 1.4.7's RandomSearch trial for trial, including
 * the draws it spends on duplicates (the study retries as its oracle does), bit for bit except where
 * glibc's own pow is off by a fraction of an ulp (rare; see libm.ts). The seed state is the
 * sampler's whole state, so a resumed study continues the same sequence.
 * @module
 */
import { EcomlError } from '../../errors.js';
import type { HpValue } from '../../models/spec.js';
import { PyRandom } from '../../util/random.js';
import type { Sampler, SamplerOptions, TrialDraw } from '../sampler.js';
import { probToValue } from '../space.js';
import type { SpaceEntry } from '../space.js';

export class RandomSampler implements Sampler {
  readonly name = 'random';
  private seedState: number;

  constructor(options: SamplerOptions) {
    const start = options.state ?? options.seed;
    if (typeof start !== 'number' || !Number.isSafeInteger(start)) {
      throw new EcomlError('E_CONFIG_INVALID', `the random sampler's seed must be an integer, got ${String(start)}`, { details: { seed: start } });
    }
    this.seedState = start;
  }

  begin(): TrialDraw {
    return { value: (entry: SpaceEntry): HpValue => this.draw(entry) };
  }

  state(): number {
    return this.seedState;
  }

  private draw({ hp }: SpaceEntry): HpValue {
    const value = probToValue(hp, new PyRandom(this.seedState).random());
    this.seedState += 1;
    return value;
  }
}
