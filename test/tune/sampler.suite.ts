/**
 * The conformance suite every Sampler runs: valid values for every active parameter (conditional
 * ones only under their parent's values), reproducibility for a seed, frozen history taken as
 * given, and define-by-run draws one parameter at a time.
 */
import { describe, expect, it } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import type { HpValue } from '../../src/models/spec.js';
import type { Sampler } from '../../src/tune/sampler.js';
import { createSearchSpace, drawSpace, isActive } from '../../src/tune/space.js';
import type { SearchSpace } from '../../src/tune/space.js';
import type { FrozenTrial, Objective } from '../../src/tune/trial.js';
import { frozenTrial, invalidReason } from './helpers.js';

const SUITE_OBJECTIVES: readonly [Objective, ...Objective[]] = [{ name: 'val_loss', direction: 'min' }];

/** One trial's values from `sampler`, walking `space` as the study does. */
export function sampleWith(
  sampler: Sampler,
  space: SearchSpace,
  history: readonly FrozenTrial[],
  objectives: readonly [Objective, ...Objective[]] = SUITE_OBJECTIVES,
): Record<string, HpValue> {
  const draw = sampler.begin({ space, history, trialNumber: history.length, objectives, constraints: [] });
  return drawSpace(space, (entry, chosen) => draw.value(entry, chosen));
}

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
  head: { type: 'choice', values: ['mlp', 'cnn'] },
  mlp_units: { type: 'int', min: 16, max: 256, step: 16, parentName: 'head', parentValues: ['mlp'] },
  kernel: { type: 'choice', values: [3, 5], parentName: 'head', parentValues: ['cnn'] },
});

export interface SuiteOptions {
  /** False for samplers that need a declared space (grid): a define-by-run parameter must then be refused with E_CONFIG_INVALID. */
  readonly defineByRun?: boolean;
}

export function runSamplerSuite(name: string, makeSampler: (seed: number) => Sampler, options: SuiteOptions = {}): void {
  describe(`Sampler conformance: ${name}`, () => {
    /** Samples `n` trials, feeding each back as completed history, as the study loop does. */
    function sampleMany(sampler: Sampler, n: number) {
      const history = [];
      for (let number = 0; number < n; number++) {
        const values = sampleWith(sampler, SUITE_SPACE, Object.freeze([...history]));
        history.push(frozenTrial({ number, values, score: number % 7, scores: [number % 7], metrics: [{ val_loss: number % 7 }], intermediateValues: [{ step: 0, value: number % 7 }] }));
      }
      return history.map((trial) => trial.values);
    }

    it('has a name', () => {
      expect(makeSampler(1).name).toMatch(/^[a-z][a-z0-9_-]*$/);
    });

    it('gives every active parameter of the space a valid value, and nothing else', () => {
      const heads = new Set<HpValue>();
      for (const values of sampleMany(makeSampler(7), 60)) {
        const active = SUITE_SPACE.filter((entry) => isActive(entry.hp, values)).map((entry) => entry.name);
        expect(Object.keys(values).sort()).toEqual(active.sort());
        for (const name of active) {
          const { hp } = SUITE_SPACE.find((entry) => entry.name === name) as (typeof SUITE_SPACE)[number];
          expect(invalidReason(hp, values[name] as never), name).toBeUndefined();
        }
        heads.add(values.head as HpValue);
      }
      expect(heads.size, 'both branches of the conditional space are drawn').toBe(2);
    });

    it(options.defineByRun === false ? 'refuses define-by-run parameters outside the declared space' : 'draws define-by-run parameters one at a time, outside any declared space', () => {
      const sampler = makeSampler(11);
      const [entry] = createSearchSpace({ lr: { type: 'float', min: 1e-4, max: 1e-1, sampling: 'log' } });
      const draw = sampler.begin({ space: createSearchSpace({}), history: [], trialNumber: 0, objectives: SUITE_OBJECTIVES, constraints: [] });
      if (options.defineByRun === false) {
        let thrown: unknown;
        try {
          draw.value(entry as NonNullable<typeof entry>, {});
        } catch (err) {
          thrown = err;
        }
        expect(thrown).toBeInstanceOf(EcomlError);
        expect((thrown as EcomlError).code).toBe('E_CONFIG_INVALID');
        return;
      }
      const value = draw.value(entry as NonNullable<typeof entry>, {});
      expect(invalidReason((entry as NonNullable<typeof entry>).hp, value)).toBeUndefined();
    });

    it('repeats its sequence for the same seed', () => {
      expect(sampleMany(makeSampler(123), 20)).toEqual(sampleMany(makeSampler(123), 20));
    });

    it('explores: 30 draws are not all the same', () => {
      const distinct = new Set(sampleMany(makeSampler(5), 30).map((values) => JSON.stringify(values)));
      expect(distinct.size).toBeGreaterThan(1);
    });

    it('samples an empty space as no values', () => {
      expect(sampleWith(makeSampler(3), createSearchSpace({}), [])).toEqual({});
    });
  });
}
