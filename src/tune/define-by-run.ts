/**
 * The define-by-run API, Optuna's style in TypeScript: the objective function asks its trial for
 * values (`trial.suggestInt('units', 32, 256, { step: 32 })`) as its own code runs, so the space
 * can branch on earlier values with plain `if`s, and returns the score(s). Built on runStudy: the
 * same samplers, pruners, storages, constraints and Pareto front as a spec's tune section.
 * @example
 * const result = await optimize({ objectives: [{ name: 'loss', direction: 'min' }], maxTrials: 50, seed: 1 }, async (trial) => {
 *   const x = trial.suggestFloat('x', -10, 10);
 *   return (x - 2) ** 2;
 * });
 * @module
 */
import { EcomlError } from '../errors.js';
import type { HpValue } from '../models/spec.js';
import { NopPruner } from './pruners/nop.js';
import type { Pruner } from './pruner.js';
import type { Sampler } from './sampler.js';
import { RandomSampler } from './samplers/random.js';
import { createSearchSpace } from './space.js';
import type { Objectives, StudyStorage } from './storage.js';
import { MemoryStudyStorage } from './storage/memory.js';
import { runStudy } from './study.js';
import type { StudyResult, TrialContext } from './study.js';
import type { Constraint, EpochMetrics } from './trial.js';

export interface NumberRange {
  readonly step?: number;
  /** Sample on a log scale (min must be > 0). */
  readonly log?: boolean;
}

/** What an objective function gets: Optuna's suggest_* and report. */
export interface Trial {
  readonly number: number;
  /** The values suggested so far. */
  readonly params: Readonly<Record<string, HpValue>>;
  suggestInt(name: string, min: number, max: number, range?: NumberRange): number;
  suggestFloat(name: string, min: number, max: number, range?: NumberRange): number;
  suggestCategorical<T extends HpValue>(name: string, choices: readonly T[]): T;
  suggestBoolean(name: string): boolean;
  /**
   * An intermediate result at `step` (e.g. an epoch): a number for the first objective, or named
   * metrics. Throws TrialPruned when the pruner says stop; let it propagate.
   */
  report(step: number, value: number | EpochMetrics): void;
}

/** A number per objective, in order, or the objectives (and constraint values) by name. */
export type ObjectiveResult = number | readonly number[] | Readonly<Record<string, number>>;

export interface OptimizeOptions {
  readonly objectives: Objectives;
  readonly maxTrials: number;
  readonly seed: number;
  readonly name?: string;
  readonly sampler?: Sampler;
  readonly pruner?: Pruner;
  readonly storage?: StudyStorage;
  readonly constraints?: readonly Constraint[];
  readonly concurrency?: number;
  /** The steps a trial reports at most; only schedulers read it (default 1). */
  readonly maxSteps?: number;
}

export async function optimize(options: OptimizeOptions, objective: (trial: Trial) => Promise<ObjectiveResult>): Promise<StudyResult> {
  const names = options.objectives.map((o) => o.name);
  return runStudy({
    name: options.name ?? 'study',
    space: createSearchSpace({}),
    sampler: options.sampler ?? new RandomSampler({ seed: options.seed }),
    pruner: options.pruner ?? new NopPruner(),
    storage: options.storage ?? new MemoryStudyStorage(),
    objectives: options.objectives,
    ...(options.constraints === undefined ? {} : { constraints: options.constraints }),
    maxTrials: options.maxTrials,
    maxEpochs: options.maxSteps ?? 1,
    seed: options.seed,
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    runTrial: async (ctx) => ({ metricsByEpoch: [], summary: summaryOf(await objective(trialFor(ctx, names[0] as string)), names) }),
  });
}

function trialFor(ctx: TrialContext, first: string): Trial {
  const numeric = (name: string, type: 'int' | 'float', min: number, max: number, range: NumberRange = {}) =>
    ctx.suggest(name, { type, min, max, ...(range.step === undefined ? {} : { step: range.step }), sampling: range.log === true ? 'log' : 'linear' }) as number;
  return {
    number: ctx.trialNumber,
    get params() {
      return ctx.values;
    },
    suggestInt: (name, min, max, range) => numeric(name, 'int', min, max, range),
    suggestFloat: (name, min, max, range) => numeric(name, 'float', min, max, range),
    suggestCategorical: <T extends HpValue>(name: string, choices: readonly T[]) => ctx.suggest(name, { type: 'choice', values: [...choices] }) as T,
    suggestBoolean: (name) => ctx.suggest(name, { type: 'boolean' }) as boolean,
    report: (step, value) => ctx.report(step, typeof value === 'number' ? { [first]: value } : value),
  };
}

/** The objective function's return as trial-level values by name (what scoreTrial reads first). */
function summaryOf(result: ObjectiveResult, names: readonly string[]): Record<string, number> {
  if (typeof result === 'number') result = [result];
  if (Array.isArray(result)) {
    const values = result as readonly number[];
    if (values.length !== names.length) {
      throw new EcomlError('E_CONFIG_INVALID', `the objective function returned ${values.length} value(s) for ${names.length} objective(s) (${names.join(', ')})`);
    }
    return Object.fromEntries(names.map((name, i) => [name, values[i] as number]));
  }
  return { ...(result as Readonly<Record<string, number>>) };
}
