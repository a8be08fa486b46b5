/**
 * Sampler and pruner registries as plain data: the spec's `sampler:` and the CLI's flags resolve
 * through these tables with `lookup()`, which lists the valid names on a miss.
 * @module
 */
import type { PrunerFactory } from './pruner.js';
import { NopPruner } from './pruners/nop.js';
import type { SamplerFactory } from './sampler.js';
import { Nsga2Sampler } from './samplers/nsga2.js';
import { RandomSampler } from './samplers/random.js';

export function createSamplers() {
  return Object.freeze({
    random: (options) => new RandomSampler(options),
    nsga2: (options) => new Nsga2Sampler(options),
  } satisfies Record<string, SamplerFactory>);
}

export function createPruners() {
  return Object.freeze({
    nop: () => new NopPruner(),
  } satisfies Record<string, PrunerFactory>);
}
