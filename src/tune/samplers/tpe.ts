/**
 * Optuna 4.x's TPESampler with its defaults (n_startup_trials=10, n_ei_candidates=24, gamma
 * min(⌈0.1n⌉, 25), default_weights, prior_weight=1, magic clip on, endpoints off). Finished trials
 * split into "below" (the best gamma(n)) and "above"; a Parzen estimator is fitted to each, 24
 * candidates are drawn from the below one, and the candidate maximising log l(x) − log g(x) wins.
 *
 * Coordinates: every numeric parameter is modelled where its own sampling is uniform, which is
 * valueToProb's u ∈ [0, 1] (linear, log, or for reverse_log the log of max + min − x; these are
 * affine images of Optuna's log transform, and TPE is invariant under affine maps). A parameter
 * with a grid (a step, or a linear int) is modelled on its grid index 0 … K−1, so the estimator
 * snaps to exactly the values Keras Tuner's probToValue produces. Choices and booleans are
 * categorical; fixed parameters are not modelled.
 *
 * Several objectives rank the below set as MOTPE does: non-dominated fronts, the last front that
 * does not fit cut by crowding distance (Optuna cuts by hypervolume subset selection; the below
 * kernels here keep default weights rather than hypervolume contributions).
 *
 * The startup trials are Keras Tuner's random search for the same seed, draw for draw (Optuna also
 * starts from its RandomSampler): a TPE study and a random search of one seed begin with the same
 * configurations, so strategies compare paired. Their seed state is the sampler's only state, kept
 * across a resume through `state()`. After startup each draw's generator comes from (seed, trial
 * number, attempt), and wall-clock time plays no part.
 * @module
 */
import { EcomlError } from '../../errors.js';
import type { HpValue, Hyperparameter } from '../../models/spec.js';
import { mixSeed, PyRandom } from '../../util/random.js';
import { crowdingDistance, nonDominatedSort } from '../pareto.js';
import type { SampleContext, Sampler, SamplerOptions, TrialDraw } from '../sampler.js';
import { probToValue, valueToProb } from '../space.js';
import type { SpaceEntry } from '../space.js';
import type { Direction, FrozenTrial } from '../trial.js';
import { gridCount } from './grid.js';
import { RandomSampler } from './random.js';
import { buildParzenEstimator, defaultGamma, multiObjectiveGamma, parzenLogPdf, sampleParzen } from './parzen.js';
import type { Domain } from './parzen.js';

export interface TpeOptions {
  /** Model the parameters every finished trial shares jointly (Optuna's multivariate=True). */
  readonly multivariate?: boolean;
  /** Running trials count as "above", so concurrent workers spread out (Optuna's constant_liar). */
  readonly constantLiar?: boolean;
  /** Random draws before TPE takes over (default 10). */
  readonly nStartupTrials?: number;
  /** Candidates drawn from l(x) per parameter or joint draw (default 24). */
  readonly nEiCandidates?: number;
  /** How many of n finished trials are "below" (default min(⌈0.1n⌉, 25), or ⌈0.1n⌉ with several objectives). */
  readonly gamma?: (n: number) => number;
}

const PRIOR_WEIGHT = 1;
/** Keeps draw generators apart from other seeds derived from the same study seed. */
const TPE_SEED_SALT = 0x7e5;

/** How a hyperparameter maps to the estimator's coordinates and back. */
interface Codec {
  readonly domain: Domain;
  /** Undefined for a value the definition cannot hold (define-by-run redefinitions). */
  encode(value: HpValue): number | undefined;
  decode(x: number): HpValue;
}

function numericCodec(hp: Extract<Hyperparameter, { type: 'int' | 'float' }>): Codec {
  const count = gridCount(hp);
  const valid = (value: HpValue) => typeof value === 'number' && value >= hp.min && value <= hp.max;
  if (count === undefined) {
    return {
      domain: { kind: 'numeric', low: 0, high: 1, step: 0 },
      encode: (value) => (valid(value) ? valueToProb(hp, value) : undefined),
      decode: (u) => probToValue(hp, u),
    };
  }
  return {
    domain: { kind: 'numeric', low: 0, high: count - 1, step: 1 },
    // valueToProb gives a grid value the centre of its bucket, (index + 0.5) / count.
    encode: (value) => (valid(value) ? Math.round(valueToProb(hp, value) * count - 0.5) : undefined),
    decode: (index) => probToValue(hp, (index + 0.5) / count),
  };
}

function categoricalCodec(choices: readonly HpValue[]): Codec {
  return {
    domain: { kind: 'categorical', choices: choices.length },
    encode: (value) => {
      const index = choices.indexOf(value);
      return index < 0 ? undefined : index;
    },
    decode: (index) => choices[index] as HpValue,
  };
}

const CODECS: { readonly [T in Hyperparameter['type']]: (hp: Extract<Hyperparameter, { type: T }>) => Codec | undefined } = {
  int: numericCodec,
  float: numericCodec,
  choice: (hp) => categoricalCodec(hp.values),
  boolean: () => categoricalCodec([false, true]),
  fixed: () => undefined,
};

function codecOf(hp: Hyperparameter): Codec | undefined {
  return (CODECS[hp.type] as (hp: Hyperparameter) => Codec | undefined)(hp);
}

/** The finished trials split for one draw, each side in trial-number order. */
export interface TrialSplit {
  readonly below: readonly FrozenTrial[];
  readonly above: readonly FrozenTrial[];
}

/**
 * Optuna's `_split_trials`: the best completed feasible trials first, then pruned ones by (deepest
 * step, the value there), then infeasible ones by violation, up to nBelow; the rest, and running
 * trials under the constant liar, are above.
 */
export function splitTrials(trials: readonly FrozenTrial[], nBelow: number, directions: readonly Direction[]): TrialSplit {
  const scored = trials.filter((t) => t.state === 'completed' && scoresOf(t) !== undefined);
  const completed = scored.filter((t) => (t.violation ?? 0) === 0);
  const pruned = trials.filter((t) => t.state === 'pruned');
  const infeasible = scored.filter((t) => (t.violation ?? 0) > 0);
  const ranked = [
    ...(directions.length > 1 ? paretoRanked(completed, nBelow, directions) : completed.sort(byFirstScore(directions[0] ?? 'min'))),
    ...pruned.sort(byPrunedProgress(directions[0] ?? 'min')),
    ...infeasible.sort((a, b) => (a.violation ?? 0) - (b.violation ?? 0) || a.number - b.number),
  ];
  const below = new Set(ranked.slice(0, nBelow));
  const byNumber = (a: FrozenTrial, b: FrozenTrial) => a.number - b.number;
  return {
    below: [...below].sort(byNumber),
    above: trials.filter((t) => !below.has(t) && t.state !== 'failed').sort(byNumber),
  };
}

/** Every objective's value; a trial scored on one objective may carry only `score`. */
function scoresOf(trial: FrozenTrial): readonly number[] | undefined {
  return trial.scores ?? (trial.score === undefined ? undefined : [trial.score]);
}

/** Best first; NaN is worst. */
function byFirstScore(direction: Direction) {
  const key = (t: FrozenTrial) => {
    const score = scoresOf(t)?.[0] ?? NaN;
    return Number.isNaN(score) ? Infinity : direction === 'max' ? -score : score;
  };
  return (a: FrozenTrial, b: FrozenTrial) => {
    const [ka, kb] = [key(a), key(b)];
    return (ka === kb ? 0 : ka < kb ? -1 : 1) || a.number - b.number;
  };
}

/** Deepest step first, then the better value at that step; NaN is worst and no report ranks last. */
function byPrunedProgress(direction: Direction) {
  const key = (t: FrozenTrial): [number, number] => {
    const last = t.intermediateValues.reduce<(typeof t.intermediateValues)[number] | undefined>((deepest, v) => (deepest === undefined || v.step > deepest.step ? v : deepest), undefined);
    if (last === undefined) return [1, 0];
    if (Number.isNaN(last.value)) return [-last.step, Infinity];
    return [-last.step, direction === 'max' ? -last.value : last.value];
  };
  return (a: FrozenTrial, b: FrozenTrial) => {
    const [ka, kb] = [key(a), key(b)];
    return ka[0] - kb[0] || (ka[1] === kb[1] ? 0 : ka[1] < kb[1] ? -1 : 1) || a.number - b.number;
  };
}

/** Whole non-dominated fronts while they fit in nBelow, then the next front by crowding distance, widest first. */
function paretoRanked(trials: readonly FrozenTrial[], nBelow: number, directions: readonly Direction[]): FrozenTrial[] {
  const points = trials.map((t) => ({ values: scoresOf(t) ?? [], violation: 0 }));
  const ranked: FrozenTrial[] = [];
  for (const front of nonDominatedSort(points, directions)) {
    if (ranked.length + front.length > nBelow && ranked.length < nBelow) {
      const distance = crowdingDistance(front.map((i) => points[i]?.values ?? []));
      const order = front.map((_, k) => k).sort((a, b) => (distance[b] as number) - (distance[a] as number) || a - b);
      ranked.push(...order.map((k) => trials[front[k] as number] as FrozenTrial));
    } else {
      ranked.push(...front.map((i) => trials[i] as FrozenTrial));
    }
  }
  return ranked;
}

export class TPESampler implements Sampler {
  readonly name: string;
  private readonly seed: number;
  private readonly multivariate: boolean;
  private readonly constantLiar: boolean;
  private readonly nStartupTrials: number;
  private readonly nEiCandidates: number;
  private readonly gamma: ((n: number) => number) | undefined;
  private readonly startup: RandomSampler;
  /** The study redraws a trial whose values duplicate an earlier one's: each attempt needs fresh randomness. */
  private lastDraw: { trialNumber: number; attempt: number } | undefined;

  constructor(options: SamplerOptions & TpeOptions) {
    if (!Number.isSafeInteger(options.seed)) {
      throw new EcomlError('E_CONFIG_INVALID', `the TPE sampler's seed must be an integer, got ${String(options.seed)}`, { details: { seed: options.seed } });
    }
    this.seed = options.seed;
    this.startup = new RandomSampler(options);
    this.multivariate = options.multivariate ?? false;
    this.constantLiar = options.constantLiar ?? false;
    this.nStartupTrials = checkCount('nStartupTrials', options.nStartupTrials ?? 10, 0);
    this.nEiCandidates = checkCount('nEiCandidates', options.nEiCandidates ?? 24, 1);
    this.gamma = options.gamma;
    this.name = this.multivariate ? 'tpe-multivariate' : 'tpe';
  }

  begin(context: SampleContext): TrialDraw {
    const attempt = this.lastDraw?.trialNumber === context.trialNumber ? this.lastDraw.attempt + 1 : 0;
    this.lastDraw = { trialNumber: context.trialNumber, attempt };
    const rng = new PyRandom(mixSeed(TPE_SEED_SALT, this.seed, context.trialNumber, attempt));
    const others = context.history.filter((t) => t.number !== context.trialNumber);
    const finished = others.filter((t) => t.state === 'completed' || t.state === 'pruned');
    if (finished.length < this.nStartupTrials) return this.startup.begin();

    const directions = context.objectives.map((o) => o.direction);
    const gamma = this.gamma ?? (directions.length > 1 ? multiObjectiveGamma : defaultGamma);
    const considered = this.constantLiar ? others.filter((t) => t.state !== 'failed') : finished;
    const split = splitTrials(considered, gamma(finished.length), directions);
    const joint = this.multivariate ? this.jointPick(context, finished, split, rng) : new Map<string, HpValue>();
    const definitions = new Map(context.space.map((entry) => [entry.name, JSON.stringify(entry.hp)]));
    return {
      value: (entry) => {
        if (entry.hp.type === 'fixed') return entry.hp.value;
        const picked = joint.get(entry.name);
        if (picked !== undefined && definitions.get(entry.name) === JSON.stringify(entry.hp)) return picked;
        return this.pick([entry], split, rng).get(entry.name) as HpValue;
      },
    };
  }

  state(): number {
    return this.startup.state();
  }

  /** Multivariate: one joint draw over the space's parameters that every finished trial has (Optuna's intersection space). */
  private jointPick(context: SampleContext, finished: readonly FrozenTrial[], split: TrialSplit, rng: PyRandom): Map<string, HpValue> {
    const shared = context.space.filter((entry) => entry.hp.type !== 'fixed' && finished.every((t) => entry.name in t.values));
    return shared.length === 0 ? new Map() : this.pick(shared, split, rng);
  }

  /**
   * TPE over `entries` jointly (one entry: independent TPE): fit l to the below trials and g to the
   * above ones (only trials holding every entry contribute), draw candidates from l, keep the best
   * log l − log g. Empty for entries nothing models (fixed).
   */
  private pick(entries: readonly SpaceEntry[], split: TrialSplit, rng: PyRandom): Map<string, HpValue> {
    const modelled = entries.flatMap((entry) => {
      const codec = codecOf(entry.hp);
      return codec === undefined ? [] : [{ name: entry.name, codec }];
    });
    if (modelled.length === 0) return new Map();
    const domains = modelled.map((m) => m.codec.domain);
    const observe = (trials: readonly FrozenTrial[]) =>
      trials.flatMap((t) => {
        const point = modelled.map((m) => {
          const value = t.values[m.name];
          return value === undefined ? undefined : m.codec.encode(value);
        });
        return point.every((x) => x !== undefined) ? [point as number[]] : [];
      });
    // As in Optuna, a multivariate sampler's independent fallback keeps the multivariate bandwidth (d = 1).
    const options = { multivariate: this.multivariate, priorWeight: PRIOR_WEIGHT };
    const below = buildParzenEstimator(observe(split.below), domains, options);
    const above = buildParzenEstimator(observe(split.above), domains, options);
    let best: number[] | undefined;
    let bestScore = -Infinity;
    for (const candidate of sampleParzen(below, rng, this.nEiCandidates)) {
      const score = parzenLogPdf(below, candidate) - parzenLogPdf(above, candidate);
      if (best === undefined || score > bestScore) [best, bestScore] = [candidate, score];
    }
    const chosen = best as number[];
    return new Map(modelled.map((m, d) => [m.name, m.codec.decode(chosen[d] as number)]));
  }
}

function checkCount(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new EcomlError('E_CONFIG_INVALID', `the TPE sampler's ${name} must be an integer ≥ ${min}, got ${value}`, { details: { [name]: value } });
  }
  return value;
}
