/**
 * Keras Tuner's random search, draw for draw. `seedState` starts at the seed; walking the space in
 * insertion order, each parameter maps `u = Random(seedState).random()` through probToValue and then
 * increments seedState (a fresh CPython-compatible generator per draw, as Keras Tuner does). With the
 * same seed and space, the values equal Keras Tuner 1.4.7's RandomSearch trial for trial, including
 * the draws it spends on duplicates (the study retries as its oracle does), bit for bit except where
 * glibc's own pow is off by a fraction of an ulp (rare; see libm.ts).
 * @module
 */
import { EcomlError } from '../../errors.js';
import type { HpValue } from '../../models/spec.js';
import { PyRandom } from '../../util/random.js';
import type { Sampler, SamplerOptions } from '../sampler.js';
import { probToValue } from '../space.js';
import type { SearchSpace } from '../space.js';

export class RandomSampler implements Sampler {
  readonly name = 'random';
  private seedState: number;

  constructor(options: SamplerOptions) {
    if (!Number.isSafeInteger(options.seed)) {
      throw new EcomlError('E_CONFIG_INVALID', `the random sampler's seed must be an integer, got ${options.seed}`, { details: { seed: options.seed } });
    }
    this.seedState = options.seed;
  }

  sample(space: SearchSpace): Record<string, HpValue> {
    const values: Record<string, HpValue> = {};
    for (const { name, hp } of space) {
      values[name] = probToValue(hp, new PyRandom(this.seedState).random());
      this.seedState += 1;
    }
    return values;
  }
}
