/**
 * Sampler and pruner registries as plain data: the spec's `sampler:` and the CLI's flags resolve
 * through these tables with `lookup()`, which lists the valid names on a miss.
 * @module
 */
import type { PrunerFactory } from './pruner.js';
import { SuccessiveHalvingPruner } from './pruners/asha.js';
import { HyperbandPruner } from './pruners/hyperband.js';
import { MedianPruner } from './pruners/median.js';
import { NopPruner } from './pruners/nop.js';
import type { SamplerFactory } from './sampler.js';
import { GridSampler } from './samplers/grid.js';
import { Nsga2Sampler } from './samplers/nsga2.js';
import { RandomSampler } from './samplers/random.js';
import { TPESampler } from './samplers/tpe.js';

export function createSamplers() {
  return Object.freeze({
    random: (options) => new RandomSampler(options),
    tpe: (options) => new TPESampler(options),
    'tpe-multivariate': (options) => new TPESampler({ ...options, multivariate: true }),
    grid: () => new GridSampler(),
    nsga2: (options) => new Nsga2Sampler(options),
  } satisfies Record<string, SamplerFactory>);
}

export function createPruners() {
  return Object.freeze({
    // Every trial runs to the end, as Keras Tuner's random search.
    none: () => new NopPruner(),
    median: () => new MedianPruner(),
    asha: () => new SuccessiveHalvingPruner(),
    hyperband: ({ maxEpochs }) => new HyperbandPruner({ maxEpochs }),
  } satisfies Record<string, PrunerFactory>);
}
