import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import { createSearchSpace, probToValue, pyFloorDiv, valueToProb } from '../../src/tune/space.js';
import type { HyperparameterInput } from '../../src/tune/space.js';
import { anyHyperparameter, hyperparameter, invalidReason, probability } from './helpers.js';

const PROBS = [0, 0.25, 0.5, 0.7, 0.99, 0.9999999999999999];

// Expected values computed with Keras Tuner 1.4.7's prob_to_value formulas on CPython 3.11
// (int(), //, math.pow, math.log as written in hp_types/numerical.py, int_hp.py, float_hp.py).
const KERAS_TUNER_TABLE: [string, HyperparameterInput, (number | string | boolean)[]][] = [
  ['Int linear, default step 1 (max reachable)', { type: 'int', min: 6, max: 12 }, [6, 7, 9, 10, 12, 12]],
  ['Int linear step 3 (13 unreachable)', { type: 'int', min: 6, max: 13, step: 3 }, [6, 6, 9, 12, 12, 12]],
  ['Int linear across zero (floors, not truncates)', { type: 'int', min: -5, max: 5 }, [-5, -3, 0, 2, 5, 5]],
  ['Int log step 2 (multiplier)', { type: 'int', min: 2, max: 32, step: 2, sampling: 'log' }, [2, 4, 8, 16, 32, 32]],
  ['Int reverse_log step 2', { type: 'int', min: 2, max: 32, step: 2, sampling: 'reverse_log' }, [32, 30, 26, 18, 2, 2]],
  ['Int log without step (max+1, truncated)', { type: 'int', min: 1, max: 100, sampling: 'log' }, [1, 3, 10, 25, 96, 100]],
  // Keras Tuner returns 101 for the last u: (max+1)·… rounds to max+1. We clamp to max.
  ['Int reverse_log without step', { type: 'int', min: 1, max: 100, sampling: 'reverse_log' }, [1, 70, 91, 98, 100, 100]],
  ['Float step 0.1 (Python 1.0 // 0.1 = 9: 1.0 unreachable)', { type: 'float', min: 0, max: 1, step: 0.1 }, [0, 0.2, 0.5, 0.6000000000000001, 0.9, 0.9]],
  ['Float log step 10', { type: 'float', min: 0.001, max: 10, step: 10, sampling: 'log' }, [0.001, 0.01, 0.1, 1, 10, 10]],
  [
    'Float log',
    { type: 'float', min: 0.0001, max: 0.1, sampling: 'log' },
    [0.0001, 0.0005623413251903491, 0.0031622776601683794, 0.012589254117941668, 0.0933254300796991, 0.09999999999999992],
  ],
  [
    'Float reverse_log',
    { type: 'float', min: 0.0001, max: 0.1, sampling: 'reverse_log' },
    [0.00010000000000000286, 0.08231720589961078, 0.09693772233983163, 0.09930567176527573, 0.09999284806947625, 0.1],
  ],
  ['Float linear', { type: 'float', min: -1, max: 1 }, [-1, -0.5, 0, 0.3999999999999999, 0.98, 0.9999999999999998]],
  ['Choice', { type: 'choice', values: [16, 32, 64] }, [16, 16, 32, 64, 64, 64]],
  ['Boolean', { type: 'boolean' }, [false, false, true, true, true, true]],
  ['Fixed', { type: 'fixed', value: 'adam' }, ['adam', 'adam', 'adam', 'adam', 'adam', 'adam']],
];

describe('probToValue matches Keras Tuner 1.4.7', () => {
  it.each(KERAS_TUNER_TABLE)('%s', (_label, input, expected) => {
    const hp = hyperparameter(input);
    expect(PROBS.map((u) => probToValue(hp, u))).toEqual(expected);
  });
});

describe('pyFloorDiv', () => {
  // Python: 1.0//0.1, 0.3//0.1, -1.0//0.3, 7//2, 0.5//0.1, 2.5//0.5
  it.each([
    [1, 0.1, 9],
    [0.3, 0.1, 2],
    [-1, 0.3, -4],
    [7, 2, 3],
    [0.5, 0.1, 4],
    [2.5, 0.5, 5],
  ])('%d // %d = %d', (a, b, expected) => {
    expect(pyFloorDiv(a, b)).toBe(expected);
  });
});

describe('createSearchSpace validation', () => {
  it.each<[string, HyperparameterInput, RegExp]>([
    ['min not below max', { type: 'int', min: 5, max: 5 }, /min \(5\) must be below max \(5\)/],
    ['log with min 0', { type: 'float', min: 0, max: 1, sampling: 'log' }, /log sampling needs min > 0/],
    ['reverse_log with negative min', { type: 'int', min: -1, max: 10, sampling: 'reverse_log' }, /reverse_log sampling needs min > 0/],
    ['step wider than the range', { type: 'int', min: 0, max: 10, step: 11 }, /step 11 is larger than the range 10/],
    ['fractional int step', { type: 'int', min: 0, max: 10, step: 2.5 }, /step must be an integer/],
    ['log step not a growing multiplier', { type: 'float', min: 1, max: 100, step: 1, sampling: 'log' }, /multiplier/],
    ['log step beyond max/min', { type: 'float', min: 1, max: 100, step: 101, sampling: 'log' }, /multiplier/],
    ['default outside the range', { type: 'float', min: 0, max: 1, default: 2 }, /default 2 is outside/],
    ['mixed choice types', { type: 'choice', values: [1, 'a'] }, /one type/],
    ['default not a choice', { type: 'choice', values: ['a', 'b'], default: 'c' }, /not one of the choices/],
    ['unknown type', { type: 'integer', min: 0, max: 1 } as unknown as HyperparameterInput, /hyperparameter "units"/],
  ])('%s → E_CONFIG_INVALID naming it', (_label, input, message) => {
    const attempt = () => createSearchSpace({ units: input });
    expect(attempt).toThrow(EcomlError);
    expect(attempt).toThrow(message);
    try {
      attempt();
    } catch (err) {
      expect((err as EcomlError).code).toBe('E_CONFIG_INVALID');
      expect((err as EcomlError).details['hyperparameter']).toBe('units');
      expect((err as EcomlError).message).toContain('"units"');
    }
  });

  it('keeps insertion order and freezes the space', () => {
    const space = createSearchSpace({ b: { type: 'boolean' }, a: { type: 'fixed', value: 1 } });
    expect(space.map((entry) => entry.name)).toEqual(['b', 'a']);
    expect(Object.isFrozen(space)).toBe(true);
    expect(Object.isFrozen(space[0]?.hp)).toBe(true);
  });
});

describe('space properties', () => {
  it('every value is in range, on the step grid, or one of the choices', () => {
    fc.assert(
      fc.property(anyHyperparameter, probability, (hp, u) => {
        expect(invalidReason(hp, probToValue(hp, u))).toBeUndefined();
      }),
      { numRuns: 2000 },
    );
  });

  it('valueToProb lands in [0, 1] and maps back to the same value', () => {
    fc.assert(
      fc.property(anyHyperparameter, probability, (hp, u) => {
        const value = probToValue(hp, u);
        const p = valueToProb(hp, value);
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThanOrEqual(1);
        const back = probToValue(hp, p);
        if (hp.type === 'float' && hp.step === undefined) {
          expect(Math.abs((back as number) - (value as number))).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(hp.max), Math.abs(hp.min)));
        } else {
          expect(back).toBe(value);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('continuous floats invert u itself', () => {
    const hp = hyperparameter({ type: 'float', min: 1e-4, max: 1e-1, sampling: 'log' });
    fc.assert(
      fc.property(probability, (u) => {
        expect(valueToProb(hp, probToValue(hp, u))).toBeCloseTo(u, 9);
      }),
    );
  });

  it('valueToProb rejects values a choice does not have', () => {
    expect(() => valueToProb(hyperparameter({ type: 'choice', values: ['a'] }), 'b')).toThrow(/not one of the choices/);
    expect(() => valueToProb(hyperparameter({ type: 'int', min: 0, max: 3 }), 'x')).toThrow(/expected a number/);
  });
});
