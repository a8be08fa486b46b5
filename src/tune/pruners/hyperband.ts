/**
 * Hyperband as Keras Tuner schedules it (keras_tuner/tuners/hyperband.py, HyperbandOracle,
 * keras-team/keras-tuner@417e5b5): brackets from the most aggressive down to plain random search,
 * each a successive halving over rounds that train the survivors further from their checkpoints.
 * It stops trials by not promoting them, so `prune` never does.
 *
 * The oracle's state (its brackets, rounds and which trial each promotion came from) is read back
 * from the trials' attrs {bracket, round, iteration, parent} on every call, so a study resumed in
 * a new process plans on where it stopped.
 * @module
 */
import { EcomlError } from '../../errors.js';
import { log } from '../libm.js';
import type { Pruner, TrialPlan } from '../pruner.js';
import { bestTrials } from '../trial.js';
import type { FrozenTrial, StudyView } from '../trial.js';
import { paretoRanks } from './asha.js';

export interface HyperbandOptions {
  /** The epochs of a trial that reaches the last round (Keras Tuner: 100). */
  readonly maxEpochs: number;
  /** Keep 1 in `factor` per round; epochs grow by `factor` (Keras Tuner: 3). */
  readonly factor?: number;
  /** Sweeps over all the brackets (Keras Tuner: 1). */
  readonly hyperbandIterations?: number;
}

export interface HyperbandRound {
  /** Trials in the round: new configurations in round 0, promotions after. */
  readonly size: number;
  /** The epochs its trials train to, counted from the first. */
  readonly epochs: number;
}

export interface HyperbandBracket {
  readonly bracket: number;
  readonly rounds: readonly HyperbandRound[];
}

export interface HyperbandTotals {
  readonly trials: number;
  readonly newConfigurations: number;
  /** Epochs trained when each promotion continues its parent's checkpoint. */
  readonly epochs: number;
}

/** Keras Tuner's `_get_num_brackets`: how many times max_epochs divides by factor and stays ≥ 1. */
export function hyperbandBracketCount(maxEpochs: number, factor: number): number {
  let epochs = maxEpochs;
  let brackets = 0;
  while (epochs >= 1) {
    epochs = epochs / factor;
    brackets += 1;
  }
  return brackets;
}

/** Keras Tuner's `_get_size`. CPython's math.log(x, base) is log(x)/log(base) with glibc's log; V8's Math.log makes log(9)/log(3) 2.0000000000000004, whose ceil is one too many. */
function roundSize(maxEpochs: number, factor: number, bracket: number, round: number): number {
  const bracket0EndSize = Math.ceil(1 + log(maxEpochs) / log(factor));
  return Math.ceil((bracket0EndSize / (bracket + 1)) * factor ** (bracket - round));
}

/** Keras Tuner's `_get_epochs`. */
function roundEpochs(maxEpochs: number, factor: number, bracket: number, round: number): number {
  return Math.ceil(maxEpochs / factor ** (bracket - round));
}

/** One sweep's brackets in the order they run, most aggressive first; bracket b has b + 1 rounds. */
export function hyperbandBrackets(maxEpochs: number, factor: number): HyperbandBracket[] {
  checkArguments(maxEpochs, factor, 1);
  const count = hyperbandBracketCount(maxEpochs, factor);
  return Array.from({ length: count }, (_, k) => {
    const bracket = count - 1 - k;
    const rounds = Array.from({ length: bracket + 1 }, (_, round) => ({
      size: roundSize(maxEpochs, factor, bracket, round),
      epochs: roundEpochs(maxEpochs, factor, bracket, round),
    }));
    return { bracket, rounds };
  });
}

/** What brackets cost when every trial completes: round 0 trains from scratch, later rounds from their parents' epochs. */
export function hyperbandTotals(brackets: readonly HyperbandBracket[]): HyperbandTotals {
  let trials = 0;
  let newConfigurations = 0;
  let epochs = 0;
  for (const { rounds } of brackets) {
    rounds.forEach((round, r) => {
      trials += round.size;
      if (r === 0) newConfigurations += round.size;
      epochs += round.size * (round.epochs - (rounds[r - 1]?.epochs ?? 0));
    });
  }
  return { trials, newConfigurations, epochs };
}

export class HyperbandPruner implements Pruner {
  readonly name = 'hyperband';
  private readonly maxEpochs: number;
  private readonly factor: number;
  private readonly iterations: number;
  private readonly bracketCount: number;

  constructor(options: HyperbandOptions) {
    this.maxEpochs = options.maxEpochs;
    this.factor = options.factor ?? 3;
    this.iterations = options.hyperbandIterations ?? 1;
    checkArguments(this.maxEpochs, this.factor, this.iterations);
    this.bracketCount = hyperbandBracketCount(this.maxEpochs, this.factor);
  }

  prune(): boolean {
    return false;
  }

  /**
   * Keras Tuner's `populate_space`: in each unfinished bracket, oldest first, fill round 0 with new
   * configurations, else promote into the first round r whose previous round has more completed,
   * unpromoted trials than it will discard (size(r−1) − size(r)); when no bracket can go on, start
   * the next one, or wait for the running trials after the last.
   */
  plan(study: StudyView): TrialPlan {
    const trials = study.trials();
    // Brackets by their place in the sweep: iteration·count + (count − 1 − bracket).
    const started = new Map<number, FrozenTrial[][]>();
    for (const trial of trials) {
      const { bracket, round, iteration } = trial.attrs ?? {};
      if (typeof bracket !== 'number' || typeof round !== 'number' || typeof iteration !== 'number') continue;
      const order = iteration * this.bracketCount + (this.bracketCount - 1 - bracket);
      const rounds = started.get(order) ?? Array.from({ length: bracket + 1 }, () => []);
      started.set(order, rounds);
      rounds[round]?.push(trial);
    }
    const orders = [...started.keys()].sort((a, b) => a - b);
    for (const order of orders) {
      const { bracket, iteration } = this.bracketAt(order);
      const rounds = started.get(order) as FrozenTrial[][];
      // Keras Tuner drops a bracket once its last round has all its trials (created, maybe running).
      if ((rounds[bracket] as FrozenTrial[]).length === this.size(bracket, bracket)) continue;
      if ((rounds[0] as FrozenTrial[]).length < this.size(bracket, 0)) return this.newTrial(order);
      for (let round = 1; round <= bracket; round++) {
        const promoted = new Set((rounds[round] as FrozenTrial[]).map((t) => t.attrs?.parent));
        const completed = (rounds[round - 1] as FrozenTrial[]).filter((t) => t.state === 'completed');
        const candidates = completed.filter((t) => !promoted.has(t.number));
        if (candidates.length > this.size(bracket, round - 1) - this.size(bracket, round)) {
          return {
            kind: 'promote',
            parent: best(candidates, completed, study).number,
            epochs: roundEpochs(this.maxEpochs, this.factor, bracket, round),
            attrs: { bracket, round, iteration },
          };
        }
      }
    }
    const next = (orders.at(-1) ?? -1) + 1;
    if (next < this.bracketCount * this.iterations) return this.newTrial(next);
    return trials.some((t) => t.state === 'running') ? { kind: 'wait' } : { kind: 'done' };
  }

  private bracketAt(order: number): { bracket: number; iteration: number } {
    return { bracket: this.bracketCount - 1 - (order % this.bracketCount), iteration: Math.floor(order / this.bracketCount) };
  }

  private size(bracket: number, round: number): number {
    return roundSize(this.maxEpochs, this.factor, bracket, round);
  }

  private newTrial(order: number): TrialPlan {
    const { bracket, iteration } = this.bracketAt(order);
    return { kind: 'new', epochs: roundEpochs(this.maxEpochs, this.factor, bracket, 0), attrs: { bracket, round: 0, iteration } };
  }
}

/**
 * The candidate to promote. One objective: Keras Tuner's stable sort by score (ties: the earlier
 * trial), feasible trials first. Several: the best Pareto rank (front, then crowding distance, then
 * the earlier trial) among all the round's completed trials, promoted ones included, so that
 * promoting one at a time takes the round's top ranks in order, as a score does; re-ranking what
 * is left would let a dominated trial jump ahead once its dominator has gone.
 */
function best(candidates: readonly FrozenTrial[], completed: readonly FrozenTrial[], study: StudyView): FrozenTrial {
  if (study.objectives.length === 1) return bestTrials(candidates, study.objective)[0] as FrozenTrial;
  const ranks = paretoRanks(
    completed.map((t) => ({ values: t.scores ?? [], violation: t.violation ?? 0 })),
    study.objectives.map((o) => o.direction),
  );
  const rankOf = (t: FrozenTrial) => ranks[completed.indexOf(t)] as (typeof ranks)[number];
  return candidates.reduce((chosen, t) => {
    const [rank, top] = [rankOf(t), rankOf(chosen)];
    return rank.front < top.front || (rank.front === top.front && rank.crowding > top.crowding) ? t : chosen;
  });
}

function checkArguments(maxEpochs: number, factor: number, iterations: number): void {
  const bad = (name: string, value: number, expected: string) =>
    new EcomlError('E_CONFIG_INVALID', `hyperband's ${name} must be ${expected}, got ${value}`, { details: { [name]: value } });
  if (!Number.isInteger(maxEpochs) || maxEpochs < 1) throw bad('maxEpochs', maxEpochs, 'a positive integer');
  if (!Number.isInteger(factor) || factor < 2) throw bad('factor', factor, 'an integer of at least 2');
  if (!Number.isInteger(iterations) || iterations < 1) throw bad('hyperbandIterations', iterations, 'a positive integer');
}
