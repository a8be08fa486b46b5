/**
 * The conformance suite every Sampler runs: valid values for every parameter, reproducibility for
 * a seed, and frozen history taken as given.
 */
import { describe, expect, it } from 'vitest';
import type { Sampler } from '../../src/tune/sampler.js';
import { createSearchSpace } from '../../src/tune/space.js';
import { frozenTrial, invalidReason } from './helpers.js';

export const SUITE_SPACE = createSearchSpace({
  units: { type: 'int', min: 32, max: 512, step: 32 },
  layers: { type: 'int', min: 1, max: 4 },
  lr: { type: 'float', min: 1e-4, max: 1e-2, sampling: 'log' },
  dropout: { type: 'float', min: 0, max: 0.5, step: 0.1 },
  filters: { type: 'int', min: 8, max: 128, sampling: 'log' },
  activation: { type: 'choice', values: ['relu', 'tanh', 'gelu'] },
  batchnorm: { type: 'boolean' },
  optimizer: { type: 'fixed', value: 'adam' },
  decay: { type: 'float', min: 0.1, max: 0.9, sampling: 'reverse_log' },
  width: { type: 'int', min: 2, max: 32, step: 2, sampling: 'log' },
});

export function runSamplerSuite(name: string, makeSampler: (seed: number) => Sampler): void {
  describe(`Sampler conformance: ${name}`, () => {
    /** Samples `n` trials, feeding each back as completed history, as the study loop does. */
    function sampleMany(sampler: Sampler, n: number) {
      const history = [];
      for (let number = 0; number < n; number++) {
        const values = sampler.sample(SUITE_SPACE, Object.freeze([...history]));
        history.push(frozenTrial({ number, values, score: number % 7, metrics: [{ loss: number }], intermediateValues: [{ step: 0, value: number }] }));
      }
      return history.map((trial) => trial.values);
    }

    it('has a name', () => {
      expect(makeSampler(1).name).toMatch(/^[a-z][a-z0-9_-]*$/);
    });

    it('gives every parameter of the space a valid value, and nothing else', () => {
      for (const values of sampleMany(makeSampler(7), 60)) {
        expect(Object.keys(values).sort()).toEqual(SUITE_SPACE.map((entry) => entry.name).sort());
        for (const { name: param, hp } of SUITE_SPACE) {
          expect(invalidReason(hp, values[param] as never), param).toBeUndefined();
        }
      }
    });

    it('repeats its sequence for the same seed', () => {
      expect(sampleMany(makeSampler(123), 20)).toEqual(sampleMany(makeSampler(123), 20));
    });

    it('explores: 30 draws are not all the same', () => {
      const distinct = new Set(sampleMany(makeSampler(5), 30).map((values) => JSON.stringify(values)));
      expect(distinct.size).toBeGreaterThan(1);
    });

    it('samples an empty space as no values', () => {
      expect(makeSampler(3).sample(createSearchSpace({}), [])).toEqual({});
    });
  });
}
