/**
 * NSGA-II (Deb et al. 2002) with Optuna's NSGAIISampler defaults: populations of 50, uniform
 * crossover with probability 0.9 (each parameter from either parent with probability 0.5), and
 * mutation as a random resample of each parameter with probability 1/len(params). The first
 * generation is random. A trial's generation is its position among the study's new configurations
 * (Hyperband promotions are not new) divided by the population size; its parents are the elite of
 * the generations before it, built as Optuna builds them: each generation's completed trials joined
 * with the elite so far, cut back to a population by constrained non-dominated rank, then crowding
 * distance. Everything derives from the history and a per-trial generator seeded from (seed, trial
 * number), so a resumed study needs no sampler state.
 * @module
 */
import { createHash } from 'node:crypto';
import { EcomlError } from '../../errors.js';
import type { HpValue, Hyperparameter } from '../../models/spec.js';
import { PyRandom } from '../../util/random.js';
import { crowdingDistance, nonDominatedSort } from '../pareto.js';
import type { Scored } from '../pareto.js';
import type { SampleContext, Sampler, SamplerOptions, TrialDraw } from '../sampler.js';
import { probToValue, valueToProb } from '../space.js';
import type { SpaceEntry } from '../space.js';
import type { Direction, FrozenTrial } from '../trial.js';

export interface Nsga2Settings {
  /** Trials per generation (Optuna: 50). */
  readonly populationSize: number;
  /** Chance that a child is a crossover of two parents rather than a copy of one (Optuna: 0.9). */
  readonly crossoverProb: number;
  /** Chance that a parameter comes from the second parent in a crossover (Optuna: 0.5). */
  readonly swappingProb: number;
  /** Chance that a parameter is drawn at random instead of inherited; undefined: 1/len(params), Optuna's default. */
  readonly mutationProb?: number;
}

export const NSGA2_DEFAULTS: Nsga2Settings = Object.freeze({ populationSize: 50, crossoverProb: 0.9, swappingProb: 0.5 });

/** A completed trial as NSGA-II ranks it. */
export interface Individual extends Scored {
  readonly trial: FrozenTrial;
}

export class Nsga2Sampler implements Sampler {
  readonly name = 'nsga2';
  private readonly settings: Nsga2Settings;
  /** begin() calls per trial number: the study begins again on a duplicate, and each retry must differ. */
  private readonly attempts = new Map<number, number>();
  private readonly elites: EliteCache = [];
  /** The last parent population ranked: trials of one generation share it. */
  private ranked: { population: readonly Individual[]; ranked: Ranked[] } | undefined;

  constructor(private readonly options: SamplerOptions & Partial<Nsga2Settings>) {
    if (!Number.isSafeInteger(options.seed)) throw invalid(`the seed must be an integer, got ${String(options.seed)}`, { seed: options.seed });
    this.settings = { ...NSGA2_DEFAULTS, ...definedOnly(options) };
    const { populationSize, crossoverProb, swappingProb, mutationProb } = this.settings;
    if (!Number.isInteger(populationSize) || populationSize < 2) throw invalid(`populationSize must be an integer ≥ 2, got ${populationSize}`, { populationSize });
    for (const [name, p] of Object.entries({ crossoverProb, swappingProb, mutationProb })) {
      if (p !== undefined && !(p >= 0 && p <= 1)) throw invalid(`${name} must be in [0, 1], got ${p}`, { [name]: p });
    }
  }

  begin(context: SampleContext): TrialDraw {
    const attempt = this.attempts.get(context.trialNumber) ?? 0;
    this.attempts.set(context.trialNumber, attempt + 1);
    const rng = new PyRandom(trialSeed(this.options.seed, context.trialNumber, attempt));
    const random = (hp: Hyperparameter): HpValue => probToValue(hp, rng.random());

    const directions = context.objectives.map((o) => o.direction);
    const population = parentPopulation(context.history, context.trialNumber, directions, this.settings.populationSize, this.elites);
    if (population.length === 0) return { value: ({ hp }) => random(hp) };

    const { crossoverProb, swappingProb } = this.settings;
    const mutationProb = this.settings.mutationProb ?? 1 / Math.max(1, context.space.length);
    const declared = new Set(context.space.map((entry) => entry.name));
    const parents: FrozenTrial[] = [];
    if (rng.random() < crossoverProb && population.length >= 2) {
      if (this.ranked?.population !== population) this.ranked = { population, ranked: rankAndCrowd(population, directions) };
      const { ranked } = this.ranked;
      const first = tournament(ranked, rng);
      parents.push(first.trial, tournament(ranked.filter((r) => r !== first), rng).trial);
    } else {
      // Optuna copies one parent picked uniformly, not by tournament, when it skips crossover.
      parents.push((population[rng.below(population.length)] as Individual).trial);
    }

    return {
      value: (entry: SpaceEntry): HpValue => {
        // Parameters outside the declared or intersection space (define-by-run) have nothing to inherit.
        if (!declared.has(entry.name)) return random(entry.hp);
        const order = parents.length === 2 && rng.random() < swappingProb ? [parents[1], parents[0]] : parents;
        const inherited = order.map((p) => inheritable(entry.hp, p?.values[entry.name])).find((v) => v !== undefined);
        if (rng.random() < mutationProb || inherited === undefined) return random(entry.hp);
        return inherited;
      },
    };
  }
}

/**
 * The parents for the trial numbered `trialNumber`: empty in the first generation, otherwise the
 * elite after folding in each earlier generation's completed trials (Optuna's
 * `_collect_parent_population`). Generations are counted over new configurations only.
 */
export function parentPopulation(
  history: readonly FrozenTrial[],
  trialNumber: number,
  directions: readonly Direction[],
  populationSize: number,
  cache: EliteCache = [],
): readonly Individual[] {
  const fresh = history.filter((t) => t.number < trialNumber && t.attrs?.parent === undefined).sort((a, b) => a.number - b.number);
  const generation = Math.floor(fresh.length / populationSize);
  let elite = NO_ELITE;
  for (let g = 0; g < generation; g++) {
    const members = fresh.slice(g * populationSize, (g + 1) * populationSize).flatMap((t) => individual(t, directions.length));
    const key = members.map((m) => m.trial.number).join(',');
    const cached = cache[g];
    if (cached !== undefined && cached.key === key && cached.previous === elite) {
      elite = cached.elite;
      continue;
    }
    const previous = elite;
    elite = selectElite([...members, ...elite], directions, populationSize);
    cache[g] = { key, previous, elite };
  }
  return elite;
}

/**
 * Each generation's elite with what it was built from (its completed members, the elite before):
 * a finished trial's scores never change, so the same members on the same elite give the same elite.
 */
export type EliteCache = { key: string; previous: readonly Individual[]; elite: readonly Individual[] }[];

/** The elite before the first generation: one shared array, so a cache entry can recognise it. */
const NO_ELITE: readonly Individual[] = Object.freeze([]);

/** Whole fronts by constrained non-dominated rank while they fit, then the least crowded of the next. */
export function selectElite(population: readonly Individual[], directions: readonly Direction[], size: number): Individual[] {
  const elite: Individual[] = [];
  for (const front of nonDominatedSort(population, directions)) {
    const members = front.map((i) => population[i] as Individual);
    if (elite.length + members.length <= size) {
      elite.push(...members);
      continue;
    }
    const distance = crowdingDistance(members.map((m) => m.values));
    const byCrowding = members.map((_, i) => i).sort((a, b) => (distance[b] as number) - (distance[a] as number) || a - b);
    elite.push(...byCrowding.slice(0, size - elite.length).map((i) => members[i] as Individual));
    break;
  }
  return elite;
}

interface Ranked {
  readonly trial: FrozenTrial;
  readonly rank: number;
  readonly crowding: number;
}

function rankAndCrowd(population: readonly Individual[], directions: readonly Direction[]): Ranked[] {
  const ranked: Ranked[] = [];
  nonDominatedSort(population, directions).forEach((front, rank) => {
    const distance = crowdingDistance(front.map((i) => (population[i] as Individual).values));
    front.forEach((i, k) => ranked.push({ trial: (population[i] as Individual).trial, rank, crowding: distance[k] as number }));
  });
  return ranked;
}

/**
 * Deb's crowded binary tournament: the lower rank wins, then the larger crowding distance, then the
 * first drawn. (Optuna 4.9 compares by constrained dominance only, crowding distance being a TODO.)
 */
function tournament(ranked: readonly Ranked[], rng: PyRandom): Ranked {
  const a = ranked[rng.below(ranked.length)] as Ranked;
  const b = ranked[rng.below(ranked.length)] as Ranked;
  if (b.rank < a.rank || (b.rank === a.rank && b.crowding > a.crowding)) return b;
  return a;
}

/** A completed trial with a score per objective; others never parent. */
function individual(trial: FrozenTrial, objectives: number): Individual[] {
  const { scores } = trial;
  if (trial.state !== 'completed' || scores === undefined || scores.length < objectives || scores.some((s) => Number.isNaN(s))) return [];
  return [{ trial, values: scores, violation: trial.violation ?? 0 }];
}

/**
 * A parent's value as a valid value of `hp`, through prob space, or undefined when the parent
 * lacks it (inactive there) or it cannot be one of hp's values (a choice no longer offered).
 */
function inheritable(hp: Hyperparameter, value: HpValue | undefined): HpValue | undefined {
  if (value === undefined) return undefined;
  if ((hp.type === 'int' || hp.type === 'float') && typeof value !== 'number') return undefined;
  if (hp.type === 'choice' && !hp.values.includes(value)) return undefined;
  // In range, a continuous value is kept as is: the round trip through log and pow can move it an ulp.
  if (isContinuous(hp) && typeof value === 'number' && value >= hp.min && value <= hp.max && (hp.type === 'float' || Number.isInteger(value))) return value;
  // A stepped value from a parent drawn under another range can map past the last bucket.
  return probToValue(hp, Math.min(Math.max(valueToProb(hp, value), 0), 1 - Number.EPSILON));
}

/** Numeric without a grid: a float without a step, or a log-sampled int without one (linear ints step by 1). */
function isContinuous(hp: Hyperparameter): hp is Extract<Hyperparameter, { type: 'int' | 'float' }> {
  return (hp.type === 'float' || (hp.type === 'int' && hp.sampling !== 'linear')) && hp.step === undefined;
}

function trialSeed(seed: number, trialNumber: number, attempt: number): number {
  return createHash('sha256').update(`nsga2/${seed}/${trialNumber}/${attempt}`).digest().readUIntBE(0, 6);
}

function definedOnly(options: Partial<Nsga2Settings>): Partial<Nsga2Settings> {
  const { populationSize, crossoverProb, swappingProb, mutationProb } = options;
  return Object.fromEntries(Object.entries({ populationSize, crossoverProb, swappingProb, mutationProb }).filter(([, v]) => v !== undefined));
}

function invalid(message: string, details: Record<string, unknown>): EcomlError {
  return new EcomlError('E_CONFIG_INVALID', `the nsga2 sampler: ${message}`, { details });
}
