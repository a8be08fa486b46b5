/**
 * Shared test helpers: a validity check for sampled values, frozen-trial builders and fast-check
 * arbitraries that generate valid hyperparameters of every type.
 */
import fc from 'fast-check';
import type { HpValue, Hyperparameter } from '../../src/models/spec.js';
import { deepFreeze } from '../../src/store/json.js';
import { createSearchSpace, gridSize } from '../../src/tune/space.js';
import type { HyperparameterInput } from '../../src/tune/space.js';
import type { FrozenTrial } from '../../src/tune/trial.js';

/** Parses one hyperparameter through the real validator (defaults applied). */
export function hyperparameter(input: HyperparameterInput): Hyperparameter {
  const [entry] = createSearchSpace({ p: input });
  if (entry === undefined) throw new Error('unreachable: one entry in, one out');
  return entry.hp;
}

const GRID_TOLERANCE = 1e-6;

/** Why `value` is not a value `hp` can take, or undefined when it is. */
export function invalidReason(hp: Hyperparameter, value: HpValue): string | undefined {
  switch (hp.type) {
    case 'int':
    case 'float': {
      if (typeof value !== 'number' || Number.isNaN(value)) return `not a number: ${String(value)}`;
      if (hp.type === 'int' && !Number.isInteger(value)) return `not an integer: ${value}`;
      if (value < hp.min || value > hp.max) return `${value} outside [${hp.min}, ${hp.max}]`;
      const step = hp.step ?? (hp.type === 'int' && hp.sampling === 'linear' ? 1 : undefined);
      if (step === undefined) return undefined;
      const index =
        hp.sampling === 'linear'
          ? (value - hp.min) / step
          : hp.sampling === 'log'
            ? Math.log(value / hp.min) / Math.log(step)
            : Math.log((hp.max + hp.min - value) / hp.min) / Math.log(step);
      if (Math.abs(index - Math.round(index)) > GRID_TOLERANCE) return `${value} is off the grid (index ${index})`;
      if (Math.round(index) < 0 || Math.round(index) >= gridSize(hp.sampling, hp.min, hp.max, step)) return `${value} has grid index ${index} out of range`;
      return undefined;
    }
    case 'choice':
      return hp.values.includes(value) ? undefined : `${String(value)} not in ${JSON.stringify(hp.values)}`;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `not a boolean: ${String(value)}`;
    case 'fixed':
      return value === hp.value ? undefined : `${String(value)} is not the fixed ${String(hp.value)}`;
  }
}

/** A frozen trial with neutral defaults for the fields a test does not care about. */
export function frozenTrial(fields: Partial<FrozenTrial> & { number: number }): FrozenTrial {
  return deepFreeze({
    values: {},
    state: 'completed',
    executions: [],
    metrics: [],
    intermediateValues: [],
    startedAt: '2026-01-01T00:00:00.000Z',
    ...fields,
  });
}

const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
export const probability = unit;

const optionalFraction = fc.option(fc.double({ min: 0.001, max: 0.999, noNaN: true }), { nil: undefined });

/** Valid hyperparameters of every type and sampling, with and without steps. */
export const anyHyperparameter: fc.Arbitrary<Hyperparameter> = fc
  .oneof(
    fc
      .record({ min: fc.integer({ min: -1000, max: 1000 }), span: fc.integer({ min: 1, max: 5000 }), step: fc.option(fc.integer({ min: 1, max: 5000 }), { nil: undefined }) })
      .map(({ min, span, step }): HyperparameterInput => ({ type: 'int', min, max: min + span, ...(step !== undefined && step <= span ? { step } : {}) })),
    fc
      .record({
        min: fc.integer({ min: 1, max: 1000 }),
        factor: fc.integer({ min: 2, max: 1000 }),
        sampling: fc.constantFrom('log' as const, 'reverse_log' as const),
        step: fc.option(fc.integer({ min: 2, max: 1000 }), { nil: undefined }),
      })
      .map(({ min, factor, sampling, step }): HyperparameterInput => ({ type: 'int', min, max: min * factor, sampling, ...(step !== undefined && step <= factor ? { step } : {}) })),
    fc
      .record({ min: fc.double({ min: -1000, max: 1000, noNaN: true }), span: fc.double({ min: 0.001, max: 1000, noNaN: true }), stepFraction: optionalFraction })
      .map(({ min, span, stepFraction }): HyperparameterInput => ({ type: 'float', min, max: min + span, ...(stepFraction === undefined ? {} : { step: span * stepFraction }) })),
    fc
      .record({
        min: fc.double({ min: 0.001, max: 1000, noNaN: true }),
        factor: fc.double({ min: 1.5, max: 10000, noNaN: true }),
        sampling: fc.constantFrom('log' as const, 'reverse_log' as const),
        stepFraction: optionalFraction,
      })
      .map(({ min, factor, sampling, stepFraction }): HyperparameterInput => ({
        type: 'float',
        min,
        max: min * factor,
        sampling,
        ...(stepFraction === undefined ? {} : { step: 1 + (factor - 1) * stepFraction }),
      })),
    fc.oneof(fc.uniqueArray(fc.integer(), { minLength: 1, maxLength: 8 }), fc.uniqueArray(fc.string(), { minLength: 1, maxLength: 8 })).map((values): HyperparameterInput => ({ type: 'choice', values })),
    fc.constant<HyperparameterInput>({ type: 'boolean' }),
    fc.oneof(fc.integer(), fc.string(), fc.boolean()).map((value): HyperparameterInput => ({ type: 'fixed', value })),
  )
  .map(hyperparameter);
