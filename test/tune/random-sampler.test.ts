import { describe, expect, it } from 'vitest';
import { EcomlError, lookup } from '../../src/errors.js';
import { createSamplers } from '../../src/tune/registry.js';
import type { Sampler } from '../../src/tune/sampler.js';
import { GridSampler } from '../../src/tune/samplers/grid.js';
import { Nsga2Sampler } from '../../src/tune/samplers/nsga2.js';
import { RandomSampler } from '../../src/tune/samplers/random.js';
import { TPESampler } from '../../src/tune/samplers/tpe.js';
import { createSearchSpace } from '../../src/tune/space.js';
import { runSamplerSuite, sampleWith, SUITE_SPACE } from './sampler.suite.js';

/** The suite's unconditional parameters: the space the Keras Tuner reference values were drawn over. */
const KT_SPACE = createSearchSpace(Object.fromEntries(SUITE_SPACE.filter((e) => e.hp.parentName === undefined && e.name !== 'head').map((e) => [e.name, e.hp])));

runSamplerSuite('random', (seed) => new RandomSampler({ seed }));

describe('RandomSampler', () => {
  it("draws Keras Tuner's values for seed 42, draw for draw", () => {
    // Computed with CPython 3.11: seed_state = 42; for each trial, for each parameter in order,
    // u = random.Random(seed_state).random(); seed_state += 1; value = Keras Tuner prob_to_value(u).
    // (u for seed 42, 43, 44, 45 = 0.6394267984578837, 0.038551839337380045, 0.40853587925449375, 0.2718754143840908.)
    const expected = [
      { units: 352, layers: 1, lr: 0.0006562536901904111, dropout: 0.1, filters: 94, activation: 'tanh', batchnorm: true, optimizer: 'adam', decay: 0.6983717839427338, width: 4 },
      { units: 512, layers: 3, lr: 0.006718710759425462, dropout: 0, filters: 117, activation: 'relu', batchnorm: true, optimizer: 'adam', decay: 0.5423639595205744, width: 8 },
      { units: 480, layers: 2, lr: 0.0008960175671873151, dropout: 0.2, filters: 9, activation: 'relu', batchnorm: true, optimizer: 'adam', decay: 0.8780723990123864, width: 4 },
      { units: 64, layers: 2, lr: 0.005241515692754444, dropout: 0.2, filters: 22, activation: 'gelu', batchnorm: true, optimizer: 'adam', decay: 0.5043510982291839, width: 8 },
    ];
    const sampler: Sampler = new RandomSampler({ seed: 42 });
    expect(expected.map(() => sampleWith(sampler, KT_SPACE, []))).toEqual(expected);
  });

  it('different seeds give different sequences', () => {
    const a: Sampler = new RandomSampler({ seed: 1 });
    const b: Sampler = new RandomSampler({ seed: 2 });
    const draws = (s: Sampler) => Array.from({ length: 5 }, () => sampleWith(s, SUITE_SPACE, []));
    expect(draws(a)).not.toEqual(draws(b));
  });

  it('rejects a seed that is not an integer', () => {
    expect(() => new RandomSampler({ seed: 1.5 })).toThrow(EcomlError);
  });
});

describe('sampler registry', () => {
  it('is plain data resolving "random", "tpe", "tpe-multivariate", "grid" and "nsga2"', () => {
    const samplers = createSamplers();
    expect(Object.keys(samplers)).toEqual(['random', 'tpe', 'tpe-multivariate', 'grid', 'nsga2']);
    expect(lookup(samplers, 'nsga2', 'sampler')({ seed: 1 })).toBeInstanceOf(Nsga2Sampler);
    expect(lookup(samplers, 'random', 'sampler')({ seed: 1 })).toBeInstanceOf(RandomSampler);
    expect(lookup(samplers, 'tpe', 'sampler')({ seed: 1 })).toBeInstanceOf(TPESampler);
    expect(lookup(samplers, 'tpe-multivariate', 'sampler')({ seed: 1 }).name).toBe('tpe-multivariate');
    expect(lookup(samplers, 'grid', 'sampler')({ seed: 1 })).toBeInstanceOf(GridSampler);
  });

  it('a miss lists the valid names', () => {
    expect(() => lookup(createSamplers(), 'cmaes', 'sampler')).toThrow('unknown sampler "cmaes"; valid: grid, nsga2, random, tpe, tpe-multivariate');
  });
});
