/**
 * The search space and the pure maps between a probability u ∈ [0, 1) and a hyperparameter value.
 * `probToValue` reproduces Keras Tuner 1.4.7's `prob_to_value` operation for operation (including
 * Python's float floor division, `int()` truncation and correctly rounded pow/log, see libm.ts),
 * so a sampler that draws the same u as Keras Tuner gets the same value. `valueToProb` is its inverse, for model-based samplers (TPE, BO).
 * @module
 */
import type { z } from 'zod';
import { EcomlError } from '../errors.js';
import { HyperparameterSchema } from '../models/spec.js';
import type { HpValue, Hyperparameter } from '../models/spec.js';
import { deepFreeze } from '../store/json.js';
import { log, pow } from './libm.js';

/** A hyperparameter as written in a spec, before defaults (sampling: 'linear') are applied. */
export type HyperparameterInput = z.input<typeof HyperparameterSchema>;
export type Sampling = 'linear' | 'log' | 'reverse_log';

export interface SpaceEntry {
  readonly name: string;
  readonly hp: Hyperparameter;
}

declare const validated: unique symbol;
/** Validated, frozen parameters in insertion order (the order samplers walk, as Keras Tuner does). */
export type SearchSpace = readonly SpaceEntry[] & { readonly [validated]: true };

/**
 * Validates every hyperparameter (E_CONFIG_INVALID naming the one at fault) and freezes the space.
 * @example
 * const space = createSearchSpace({ units: { type: 'int', min: 32, max: 512, step: 32 }, lr: { type: 'float', min: 1e-4, max: 1e-2, sampling: 'log' } });
 * probToValue(space[0]!.hp, 0.5); // 288
 */
export function createSearchSpace(space: Readonly<Record<string, HyperparameterInput>>): SearchSpace {
  const entries: SpaceEntry[] = [];
  for (const [name, raw] of Object.entries(space)) {
    const parsed = HyperparameterSchema.safeParse(raw);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'type'}: ${issue.message}`);
      throw invalid(name, issues.join('; '), { issues });
    }
    checkHyperparameter(name, parsed.data);
    checkCondition(name, parsed.data, entries);
    entries.push(Object.freeze({ name, hp: deepFreeze(parsed.data) }));
  }
  return Object.freeze(entries) as SearchSpace;
}

/** True when `hp` has no parent, or its parent is active and holds one of its parentValues. */
export function isActive(hp: Hyperparameter, chosen: Readonly<Record<string, HpValue>>): boolean {
  if (hp.parentName === undefined) return true;
  const parent = chosen[hp.parentName];
  return parent !== undefined && (hp.parentValues ?? []).includes(parent);
}

/**
 * Draws a declared space in insertion order, skipping parameters whose condition does not hold
 * (Keras Tuner puts only active parameters in `values`).
 */
export function drawSpace(space: SearchSpace, value: (entry: SpaceEntry, chosen: Readonly<Record<string, HpValue>>) => HpValue): Record<string, HpValue> {
  const chosen: Record<string, HpValue> = {};
  for (const entry of space) {
    if (isActive(entry.hp, chosen)) chosen[entry.name] = value(entry, chosen);
  }
  return chosen;
}

/** Maps u ∈ [0, 1) to a value exactly as Keras Tuner's `prob_to_value`. */
export function probToValue(hp: Hyperparameter, u: number): HpValue {
  switch (hp.type) {
    case 'int': {
      const step = intStep(hp);
      // Without a step, Keras Tuner maps onto [min, max+1) and truncates, so max is reachable.
      const raw = step === undefined ? continuousValue(hp.sampling, hp.min, hp.max + 1, u) : steppedValue(hp.sampling, hp.min, hp.max, step, u);
      return clamp(Math.trunc(raw), hp.min, hp.max);
    }
    case 'float': {
      const raw = hp.step === undefined ? continuousValue(hp.sampling, hp.min, hp.max, u) : steppedValue(hp.sampling, hp.min, hp.max, hp.step, u);
      return clamp(raw, hp.min, hp.max);
    }
    case 'choice':
      return hp.values[probToIndex(u, hp.values.length)] as HpValue;
    case 'boolean':
      return u >= 0.5;
    case 'fixed':
      return hp.value;
  }
}

/**
 * The probability whose value is `value`: the centre of its bucket for discrete parameters, so
 * `probToValue(hp, valueToProb(hp, v)) === v` for every value probToValue can return.
 */
export function valueToProb(hp: Hyperparameter, value: HpValue): number {
  switch (hp.type) {
    case 'int': {
      const v = numericValue(value);
      const step = intStep(hp);
      // +0.5 centres the value in its truncation bucket [v, v+1).
      return step === undefined ? continuousProb(hp.sampling, hp.min, hp.max + 1, v + 0.5) : steppedProb(hp.sampling, hp.min, hp.max, step, v);
    }
    case 'float': {
      const v = numericValue(value);
      return hp.step === undefined ? continuousProb(hp.sampling, hp.min, hp.max, v) : steppedProb(hp.sampling, hp.min, hp.max, hp.step, v);
    }
    case 'choice': {
      const index = hp.values.indexOf(value);
      if (index < 0) {
        throw new EcomlError('E_CONFIG_INVALID', `${JSON.stringify(value)} is not one of the choices ${JSON.stringify(hp.values)}`, {
          details: { value, values: hp.values },
        });
      }
      return indexToProb(index, hp.values.length);
    }
    case 'boolean':
      return value === true ? 0.75 : 0.25;
    case 'fixed':
      return 0.5;
  }
}

/** Keras Tuner's Int defaults a linear parameter to step 1; only log/reverse_log Ints are continuous. */
function intStep(hp: Extract<Hyperparameter, { type: 'int' }>): number | undefined {
  return hp.step ?? (hp.sampling === 'linear' ? 1 : undefined);
}

function continuousValue(sampling: Sampling, min: number, max: number, u: number): number {
  switch (sampling) {
    case 'linear':
      return u * (max - min) + min;
    case 'log':
      return min * pow(max / min, u);
    case 'reverse_log':
      return max + min - min * pow(max / min, 1 - u);
  }
}

/** Clamped to [0, 1]: near max, reverse_log's max + min − value cancels and can step just outside. */
function continuousProb(sampling: Sampling, min: number, max: number, value: number): number {
  switch (sampling) {
    case 'linear':
      return clamp((value - min) / (max - min), 0, 1);
    case 'log':
      return clamp(log(value / min) / log(max / min), 0, 1);
    case 'reverse_log':
      return clamp(1 - log((max + min - value) / min) / log(max / min), 0, 1);
  }
}

/** How many grid values fit in [min, max]; for log sampling the step is a multiplier. */
export function gridSize(sampling: Sampling, min: number, max: number, step: number): number {
  return sampling === 'linear' ? pyFloorDiv(max - min, step) + 1 : Math.trunc(log(max / min) / log(step)) + 1;
}

function steppedValue(sampling: Sampling, min: number, max: number, step: number, u: number): number {
  const index = probToIndex(u, gridSize(sampling, min, max, step));
  switch (sampling) {
    case 'linear':
      return min + index * step;
    case 'log':
      return min * pow(step, index);
    case 'reverse_log':
      return max + min - min * pow(step, index);
  }
}

function steppedProb(sampling: Sampling, min: number, max: number, step: number, value: number): number {
  // Rounds to the nearest grid index where Keras Tuner floors: an ulp of error in a computed grid
  // value would otherwise land it in the previous bucket.
  let index: number;
  switch (sampling) {
    case 'linear':
      index = Math.round((value - min) / step);
      break;
    case 'log':
      index = Math.round(log(value / min) / log(step));
      break;
    case 'reverse_log':
      index = Math.round(log((max - value + min) / min) / log(step));
      break;
  }
  return indexToProb(index, gridSize(sampling, min, max, step));
}

/** Keras Tuner's `prob_to_index`, division included (u / (1/n) and u·n can round differently). */
function probToIndex(u: number, n: number): number {
  const index = Math.floor(u / (1 / n));
  return index === n ? index - 1 : index;
}

function indexToProb(index: number, n: number): number {
  return (index + 0.5) * (1 / n);
}

/**
 * Python's float `a // b` (CPython float_floor_div), which is not Math.floor(a / b):
 * `1.0 // 0.1` is 9 because 0.1 is slightly above a tenth.
 */
export function pyFloorDiv(a: number, b: number): number {
  const mod = a % b;
  let div = (a - mod) / b;
  if (mod !== 0 && (b < 0) !== (mod < 0)) div -= 1;
  if (div === 0) return 0;
  let floorDiv = Math.floor(div);
  if (div - floorDiv > 0.5) floorDiv += 1;
  return floorDiv;
}

/** In probToValue: rounding at u → 1 can overshoot max by an ulp (a reverse_log Int would even reach max+1). */
function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

function numericValue(value: HpValue): number {
  if (typeof value !== 'number') {
    throw new EcomlError('E_CONFIG_INVALID', `expected a number for a numeric hyperparameter, got ${JSON.stringify(value)}`, { details: { value } });
  }
  return value;
}

function checkHyperparameter(name: string, hp: Hyperparameter): void {
  switch (hp.type) {
    case 'int':
    case 'float':
      checkRange(name, hp);
      return;
    case 'choice': {
      const types = new Set(hp.values.map((v) => typeof v));
      if (types.size > 1) throw invalid(name, `choice values must all have one type, got ${[...types].join(' and ')}`);
      if (hp.default !== undefined && !hp.values.includes(hp.default)) {
        throw invalid(name, `default ${JSON.stringify(hp.default)} is not one of the choices ${JSON.stringify(hp.values)}`);
      }
      return;
    }
    case 'boolean':
    case 'fixed':
      return;
  }
}

function checkCondition(name: string, hp: Hyperparameter, before: readonly SpaceEntry[]): void {
  if (hp.parentName === undefined && hp.parentValues === undefined) return;
  if (hp.parentName === undefined || hp.parentValues === undefined) throw invalid(name, 'parentName and parentValues go together');
  const parent = before.find((entry) => entry.name === hp.parentName);
  if (parent === undefined) {
    throw invalid(name, `its parent "${hp.parentName}" must be declared before it; declared so far: ${before.map((e) => e.name).join(', ') || 'none'}`);
  }
  for (const value of hp.parentValues) {
    const reason = parentValueProblem(parent.hp, value);
    if (reason !== undefined) throw invalid(name, `parent value ${JSON.stringify(value)} ${reason}`);
  }
}

/** Why `value` can never be taken by the parent, or undefined when it can. */
function parentValueProblem(parent: Hyperparameter, value: HpValue): string | undefined {
  switch (parent.type) {
    case 'choice':
      return parent.values.includes(value) ? undefined : `is not one of ${JSON.stringify(parent.values)}`;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'is not a boolean';
    case 'fixed':
      return value === parent.value ? undefined : `is not the fixed value ${JSON.stringify(parent.value)}`;
    case 'int':
    case 'float':
      return typeof value === 'number' && value >= parent.min && value <= parent.max ? undefined : `is outside [${parent.min}, ${parent.max}]`;
  }
}

function checkRange(name: string, hp: Extract<Hyperparameter, { type: 'int' | 'float' }>): void {
  const { min, max, step, sampling } = hp;
  if (!(min < max)) throw invalid(name, `min (${min}) must be below max (${max})`);
  if (sampling !== 'linear' && !(min > 0)) throw invalid(name, `${sampling} sampling needs min > 0, got ${min}`);
  if (hp.default !== undefined && (hp.default < min || hp.default > max)) throw invalid(name, `default ${hp.default} is outside [${min}, ${max}]`);
  if (step === undefined) return;
  if (hp.type === 'int' && !Number.isInteger(step)) throw invalid(name, `an int's step must be an integer, got ${step}`);
  if (sampling === 'linear') {
    if (step > max - min) throw invalid(name, `step ${step} is larger than the range ${max - min}`);
  } else if (!(step > 1) || step > max / min) {
    // With log sampling the step multiplies, so it must grow values and fit within max/min.
    throw invalid(name, `with ${sampling} sampling the step is a multiplier and must be in (1, max/min = ${max / min}], got ${step}`);
  }
}

function invalid(name: string, reason: string, extra: Record<string, unknown> = {}): EcomlError {
  return new EcomlError('E_CONFIG_INVALID', `hyperparameter "${name}": ${reason}`, { details: { hyperparameter: name, ...extra } });
}
