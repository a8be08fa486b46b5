/**
 * Keras Tuner's GridSearch over a declared space. Each parameter's values are its default first
 * (hp.default, else min / the first choice / false), then its other values in order; the first
 * trial takes every default, and each next combination bumps the last active parameter that is not
 * at its last value, resetting the ones after it to their defaults (`_get_next_combination`), so
 * the last declared parameter varies fastest and conditional parameters are walked only under
 * parents that activate them. Stepped parameters and linear ints enumerate their grid; a continuous
 * float (or a log/reverse_log int without a step) takes Keras Tuner's 10 values at
 * u = 0.05, 0.15, …, 0.95 (KT 1.4 `Numerical.values`; KT keeps them in a Python set, here they
 * stay in ascending u, duplicates dropped).
 *
 * Stateless: each draw is the first combination, in that order, that no trial in the history holds,
 * so concurrent, failed and resumed trials need no bookkeeping. Once every combination has been
 * tried it keeps proposing the defaults, which the study rejects as duplicates until it ends as
 * 'exhausted'.
 * @module
 */
import { EcomlError } from '../../errors.js';
import type { HpValue, Hyperparameter } from '../../models/spec.js';
import type { SampleContext, Sampler, TrialDraw } from '../sampler.js';
import { gridSize, isActive, probToValue } from '../space.js';
import type { SearchSpace } from '../space.js';
import { valuesHash } from '../trial.js';

/** Keras Tuner's number of values for a continuous parameter in a grid. */
export const CONTINUOUS_GRID_POINTS = 10;

/** The number of grid values of a numeric parameter that has a grid, or undefined when it is continuous. */
export function gridCount(hp: Extract<Hyperparameter, { type: 'int' | 'float' }>): number | undefined {
  // Keras Tuner gives a linear Int step 1; log and reverse_log Ints without a step are continuous.
  const step = hp.step ?? (hp.type === 'int' && hp.sampling === 'linear' ? 1 : undefined);
  return step === undefined ? undefined : gridSize(hp.sampling, hp.min, hp.max, step);
}

function numericValues(hp: Extract<Hyperparameter, { type: 'int' | 'float' }>): HpValue[] {
  const count = gridCount(hp);
  if (count !== undefined) return Array.from({ length: count }, (_, i) => probToValue(hp, (i + 0.5) / count));
  return [...new Set(Array.from({ length: CONTINUOUS_GRID_POINTS }, (_, i) => probToValue(hp, i * 0.1 + 0.05)))];
}

const VALUES: { readonly [T in Hyperparameter['type']]: (hp: Extract<Hyperparameter, { type: T }>) => { values: HpValue[]; default: HpValue } } = {
  int: (hp) => ({ values: numericValues(hp), default: hp.default ?? hp.min }),
  float: (hp) => ({ values: numericValues(hp), default: hp.default ?? hp.min }),
  choice: (hp) => ({ values: [...hp.values], default: hp.default ?? (hp.values[0] as HpValue) }),
  boolean: (hp) => ({ values: [false, true], default: hp.default ?? false }),
  fixed: (hp) => ({ values: [hp.value], default: hp.value }),
};

/** A parameter's grid values in Keras Tuner's order: the default, then the others. */
export function gridValues(hp: Hyperparameter): HpValue[] {
  const { values, default: first } = (VALUES[hp.type] as (hp: Hyperparameter) => { values: HpValue[]; default: HpValue })(hp);
  return [first, ...values.filter((value) => value !== first)];
}

/**
 * How many distinct combinations of active values the grid walks: the product over top-level
 * parameters of their counts, where a parameter's count sums, over its values, the product of the
 * counts of the children that value activates.
 */
export function gridCombinations(space: SearchSpace): number {
  const count = (index: number): number => {
    const entry = space[index] as SearchSpace[number];
    return gridValues(entry.hp).reduce<number>((sum, value) => {
      const children = space.flatMap((child, i) => (child.hp.parentName === entry.name && (child.hp.parentValues ?? []).includes(value) ? [i] : []));
      return sum + children.reduce((product, i) => product * count(i), 1);
    }, 0);
  };
  return space.reduce((product, entry, i) => (entry.hp.parentName === undefined ? product * count(i) : product), 1);
}

/** The combinations in Keras Tuner's order, active values only. */
export function* gridWalk(space: SearchSpace): Generator<Record<string, HpValue>> {
  const lists = space.map((entry) => gridValues(entry.hp));
  // Every parameter holds a value, active or not; inactive ones wait at their defaults.
  const positions = space.map(() => 0);
  const current = (): Record<string, HpValue> => Object.fromEntries(space.map((entry, i) => [entry.name, (lists[i] as HpValue[])[positions[i] as number] as HpValue]));
  const active = (all: Record<string, HpValue>): Record<string, HpValue> => {
    const chosen: Record<string, HpValue> = {};
    for (const entry of space) if (isActive(entry.hp, chosen)) chosen[entry.name] = all[entry.name] as HpValue;
    return chosen;
  };
  for (;;) {
    const all = current();
    yield active(all);
    const chosen = active(all);
    let bumped = false;
    for (let i = space.length - 1; i >= 0 && !bumped; i--) {
      const entry = space[i] as SearchSpace[number];
      if (entry.name in chosen && (positions[i] as number) < (lists[i] as HpValue[]).length - 1) {
        positions[i] = (positions[i] as number) + 1;
        bumped = true;
      } else {
        positions[i] = 0;
      }
    }
    if (!bumped) return;
  }
}

export class GridSampler implements Sampler {
  readonly name = 'grid';

  begin(context: SampleContext): TrialDraw {
    const tried = new Set(context.history.map((trial) => valuesHash(trial.values)));
    let pick: Record<string, HpValue> | undefined;
    let first: Record<string, HpValue> | undefined;
    for (const combination of gridWalk(context.space)) {
      first ??= combination;
      if (!tried.has(valuesHash(combination))) {
        pick = combination;
        break;
      }
    }
    const values = pick ?? first ?? {};
    const declared = new Set(context.space.map((entry) => entry.name));
    return {
      value: (entry) => {
        if (!declared.has(entry.name)) {
          throw new EcomlError('E_CONFIG_INVALID', `the grid sampler needs a declared search space: parameter "${entry.name}" is not in it (define-by-run suggest() cannot be gridded)`, {
            details: { parameter: entry.name, declared: [...declared] },
          });
        }
        return values[entry.name] as HpValue;
      },
    };
  }
}
