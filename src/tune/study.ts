/**
 * The study loop: plan each trial (a scheduler's promotion, or a new configuration), propose its
 * values (rejecting duplicates), run its executions through the caller's `runTrial` (several
 * trials at once when `concurrency` allows, e.g. on a queue's workers), score them on one or more
 * objectives under constraints, and record everything in the storage. It is the one place that
 * catches TrialPruned. Semantics follow Keras Tuner's oracle: 20 duplicate proposals in a row
 * exhaust the space, 3 consecutive failed trials fail the study. A study resumed after its process
 * died keeps its finished trials and runs its interrupted ones again under their own numbers.
 * @module
 */
import { EcomlError } from '../errors.js';
import type { HpValue } from '../models/spec.js';
import { deepFreeze } from '../store/json.js';
import { paretoFront, violationOf } from './pareto.js';
import { TrialPruned } from './pruner.js';
import type { Pruner, TrialPlan } from './pruner.js';
import type { Sampler, TrialDraw } from './sampler.js';
import { createSearchSpace, drawSpace } from './space.js';
import type { HyperparameterInput, SearchSpace, SpaceEntry } from './space.js';
import type { Objectives, StudyRecord, StudyStorage } from './storage.js';
import { averageCurves, bestTrials, deriveSeed, scoreExecutions, valuesHash } from './trial.js';
import type { Constraint, EpochMetrics, ExecutionRecord, FrozenTrial, IntermediateValue, Objective, StudyView, TrialAttrs } from './trial.js';

/** Keras Tuner's `_max_collisions`: duplicate proposals tolerated for one trial before giving up. */
export const MAX_COLLISIONS = 20;
/** Keras Tuner's `max_consecutive_failed_trials` default. */
export const MAX_CONSECUTIVE_FAILED_TRIALS = 3;
/** Trial-level values that add up over executions (the rest are averaged). */
const SUMMED = new Set(['joules', 'kg_co2e', 'epochs']);

/** What one execution of a trial gets from the study. */
export interface TrialContext {
  readonly studyId: number;
  readonly trialNumber: number;
  /** The values drawn so far (all of them for a declared space). */
  readonly values: Readonly<Record<string, HpValue>>;
  /** 0 … executionsPerTrial − 1. */
  readonly execution: number;
  /** Derived from the study seed, different for every execution of every trial. */
  readonly seed: number;
  /** Train until this epoch (counted from 1, over the parent's epochs too for a promotion). */
  readonly epochs: number;
  /** 0, or for a promotion the epochs its parent ran: where its checkpoint continues. */
  readonly initialEpoch: number;
  /** A promotion's parent trial, whose checkpoint of this same execution to continue. */
  readonly parent?: number;
  readonly attrs: TrialAttrs;
  /**
   * Define-by-run: the value of parameter `name`, drawn by the sampler the first time it is asked
   * for in this trial (later calls, and later executions, get the same value).
   */
  suggest(name: string, hp: HyperparameterInput): HpValue;
  /**
   * Records one step's (epoch's) metrics, which must include the first objective, and consults the
   * pruner: throws TrialPruned when it says stop. Let that propagate out of runTrial.
   */
  report(step: number, metrics: EpochMetrics): void;
}

export interface ExecutionResult {
  readonly metricsByEpoch: readonly EpochMetrics[];
  /**
   * Trial-level values for objectives and constraints that are not per-epoch: `joules`,
   * `kg_co2e`, `epochs` (summed over executions), `params`, `size_bytes`, `latency_ms` (averaged).
   */
  readonly summary?: Readonly<Record<string, number>>;
  /** The execution's energy record (e.g. a Measurement), opaque JSON. */
  readonly energy?: unknown;
  /** Opaque JSON kept on the execution record (e.g. a run id). */
  readonly extra?: unknown;
}

export type RunTrial = (ctx: TrialContext) => Promise<ExecutionResult>;

export interface StudyOptions {
  readonly name: string;
  /** The declared space; empty for a define-by-run study (parameters come from `suggest`). */
  readonly space: SearchSpace;
  readonly sampler: Sampler;
  readonly pruner: Pruner;
  readonly storage: StudyStorage;
  /** One objective, or several for a Pareto front. */
  readonly objectives: Objectives;
  readonly constraints?: readonly Constraint[];
  /**
   * New trials to run. Optional with a scheduling pruner, which says when it is done; then it
   * caps the trials.
   */
  readonly maxTrials?: number;
  /** The epochs of a trial nobody stops early. */
  readonly maxEpochs: number;
  /** Trainings per trial, averaged epoch by epoch (default 1). */
  readonly executionsPerTrial?: number;
  /** Trials run at once (default 1). */
  readonly concurrency?: number;
  /** Source of the executions' seeds. */
  readonly seed: number;
  readonly runTrial: RunTrial;
  readonly onTrialStart?: (trial: FrozenTrial) => void;
  /** Called after each trial ends, whatever its state. */
  readonly onTrialEnd?: (trial: FrozenTrial, study: StudyView) => void | Promise<void>;
  /** The run-store run the study is recorded under. */
  readonly runId?: string;
  /** How the study was set up, kept on its record (see StudyRecord.config). */
  readonly config?: unknown;
  /** Continue this study: finished trials stay, interrupted ones run again. */
  readonly resume?: number;
  /** Aborted: no new trial starts (running ones end as their runTrial decides). */
  readonly signal?: AbortSignal;
}

export interface StudyResult {
  readonly studyId: number;
  readonly name: string;
  readonly objectives: Objectives;
  /** The first objective. */
  readonly objective: Objective;
  readonly constraints: readonly Constraint[];
  /** 'exhausted': the sampler ran out of new values before maxTrials. */
  readonly status: 'completed' | 'exhausted';
  readonly trials: readonly FrozenTrial[];
  /** The best feasible trial for the first objective. */
  readonly best: FrozenTrial | undefined;
  /** Completed feasible trials that no other dominates (the best trial(s) for one objective). */
  readonly front: readonly FrozenTrial[];
}

/**
 * Runs (or resumes) a search. A trial whose runTrial throws is recorded as failed and the search
 * goes on, unless it is the third failure in a row: then the study is marked failed and that
 * error thrown.
 */
export async function runStudy(options: StudyOptions): Promise<StudyResult> {
  const executionsPerTrial = options.executionsPerTrial ?? 1;
  const concurrency = options.concurrency ?? 1;
  if (options.maxTrials !== undefined || options.pruner.plan === undefined) checkCount('maxTrials', options.maxTrials ?? Number.NaN);
  checkCount('maxEpochs', options.maxEpochs);
  checkCount('executionsPerTrial', executionsPerTrial);
  checkCount('concurrency', concurrency);
  if (!Number.isSafeInteger(options.seed)) {
    throw new EcomlError('E_CONFIG_INVALID', `the study seed must be an integer, got ${options.seed}`, { details: { seed: options.seed } });
  }
  const { storage, objectives } = options;
  const constraints = options.constraints ?? [];
  const study = openStudy(options);
  const view: StudyView = Object.freeze({
    id: study.id,
    name: study.name,
    objective: objectives[0],
    objectives,
    constraints,
    trials: () => storage.getTrials(study.id),
  });
  const run = new StudyRun(options, view, executionsPerTrial);
  const interrupted = view.trials().filter((t) => t.state === 'running');
  let status: StudyResult['status'] = 'completed';
  try {
    for (const trial of interrupted) await run.launch(storage.restartTrial(study.id, trial.number), undefined, concurrency);
    for (;;) {
      if (options.signal?.aborted) break;
      await run.waitForSlot(concurrency);
      const plan = run.plan();
      if (plan.kind === 'done') break;
      if (plan.kind === 'wait') {
        if (!(await run.waitForAny())) throw new EcomlError('E_INTERNAL', `the ${options.pruner.name} scheduler waits with no trial running`);
        continue;
      }
      const created = run.create(plan);
      if (created === undefined) {
        status = 'exhausted';
        break;
      }
      await run.launch(created.trial, created.draw, concurrency);
    }
    await run.drain();
  } catch (err) {
    await run.drain().catch(() => undefined);
    storage.setStudyStatus(study.id, 'failed');
    throw err;
  }
  storage.setStudyStatus(study.id, status);
  const trials = storage.getTrials(study.id);
  return Object.freeze({
    studyId: study.id,
    name: study.name,
    objectives,
    objective: objectives[0],
    constraints,
    status,
    trials,
    best: bestTrials(trials, objectives[0]).find((t) => (t.violation ?? 0) === 0),
    front: paretoFront(trials, objectives),
  });
}

function openStudy(options: StudyOptions): StudyRecord {
  const { storage } = options;
  if (options.resume === undefined) {
    return storage.createStudy({
      name: options.name,
      objectives: options.objectives,
      ...(options.runId === undefined ? {} : { runId: options.runId }),
      ...(options.config === undefined ? {} : { config: options.config }),
    });
  }
  const study = storage.getStudy(options.resume);
  if (study.name !== options.name) {
    throw new EcomlError('E_CONFIG_INVALID', `study ${study.id} is "${study.name}", not "${options.name}": resume it with its own spec`, {
      details: { studyId: study.id, study: study.name, requested: options.name },
    });
  }
  if (JSON.stringify(study.objectives) !== JSON.stringify(options.objectives)) {
    throw new EcomlError('E_CONFIG_INVALID', `study ${study.id} optimises ${JSON.stringify(study.objectives)}, not ${JSON.stringify(options.objectives)}`);
  }
  return storage.setStudyStatus(study.id, 'running');
}

/** The loop's state while one study runs. */
class StudyRun {
  private readonly tried = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  /** Define-by-run: each parameter's definition as first suggested. */
  private readonly known = new Map<string, SpaceEntry>();
  private consecutiveFailures = 0;
  private failure: unknown;
  private readonly storage: StudyStorage;

  constructor(
    private readonly options: StudyOptions,
    private readonly view: StudyView,
    private readonly executionsPerTrial: number,
  ) {
    this.storage = options.storage;
    for (const trial of view.trials()) {
      if (trial.attrs?.parent === undefined) this.tried.add(valuesHash(trial.values));
    }
  }

  plan(): TrialPlan {
    const trials = this.view.trials();
    const newTrials = trials.filter((t) => t.attrs?.parent === undefined).length;
    if (this.options.maxTrials !== undefined && newTrials >= this.options.maxTrials) return { kind: 'done' };
    return this.options.pruner.plan?.(this.view) ?? { kind: 'new', epochs: this.options.maxEpochs };
  }

  /** The plan's trial, or undefined when the sampler keeps proposing values already tried. */
  create(plan: Extract<TrialPlan, { kind: 'new' | 'promote' }>): { trial: FrozenTrial; draw?: TrialDraw } | undefined {
    const base = { epochs: plan.epochs, ...plan.attrs };
    if (plan.kind === 'promote') {
      const parent = this.view.trials()[plan.parent];
      if (parent === undefined) throw new EcomlError('E_INTERNAL', `the ${this.options.pruner.name} scheduler promoted trial ${plan.parent}, which does not exist`);
      const initialEpoch = Number(parent.attrs?.epochs ?? this.options.maxEpochs);
      return { trial: this.storage.createTrial(this.view.id, parent.values, { ...base, parent: plan.parent, initialEpoch }) };
    }
    const dedupe = this.options.space.length > 0;
    for (let collisions = 0; collisions <= MAX_COLLISIONS; collisions++) {
      const draw = this.options.sampler.begin({
        space: dedupe ? this.options.space : this.intersectionSpace(),
        history: this.view.trials(),
        trialNumber: this.view.trials().length,
        objectives: this.view.objectives,
        constraints: this.view.constraints,
      });
      const values = drawSpace(this.options.space, (entry, chosen) => draw.value(entry, chosen));
      const hash = valuesHash(values);
      if (dedupe && this.tried.has(hash)) continue;
      this.tried.add(hash);
      const state = this.options.sampler.state?.();
      const attrs = { ...base, initialEpoch: 0, ...(state === undefined ? {} : { samplerState: JSON.stringify(state) }) };
      return { trial: this.storage.createTrial(this.view.id, values, attrs), draw };
    }
    return undefined;
  }

  async launch(trial: FrozenTrial, draw: TrialDraw | undefined, concurrency: number): Promise<void> {
    await this.waitForSlot(concurrency);
    this.options.onTrialStart?.(trial);
    const running = this.runOne(trial, draw).finally(() => this.inFlight.delete(running));
    this.inFlight.add(running);
  }

  async waitForSlot(concurrency: number): Promise<void> {
    while (this.inFlight.size >= concurrency) await this.waitForAny();
    this.rethrow();
  }

  /** False when nothing was running. */
  async waitForAny(): Promise<boolean> {
    if (this.inFlight.size === 0) return false;
    await Promise.race(this.inFlight);
    this.rethrow();
    return true;
  }

  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
    this.rethrow();
  }

  private rethrow(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** Define-by-run: the parameters every completed trial used, as first defined. */
  private intersectionSpace(): SearchSpace {
    const completed = this.view.trials().filter((t) => t.state === 'completed');
    const names = [...this.known.keys()].filter((name) => completed.length > 0 && completed.every((t) => name in t.values));
    return Object.freeze(names.map((name) => this.known.get(name) as SpaceEntry)) as SearchSpace;
  }

  private async runOne(created: FrozenTrial, draw: TrialDraw | undefined): Promise<void> {
    const { options, storage, view } = this;
    const { number } = created;
    const started = performance.now();
    const executions: ExecutionRecord[] = [];
    const reports: Map<number, EpochMetrics>[] = [];
    const summaries: Readonly<Record<string, number>>[] = [];
    const energies: unknown[] = [];
    let values: Record<string, HpValue> = { ...created.values };
    let trialDraw = draw;
    const attrs = created.attrs ?? {};

    const suggest = (name: string, input: HyperparameterInput): HpValue => {
      const existing = values[name];
      if (existing !== undefined) return existing;
      const [entry] = createSearchSpace({ [name]: input });
      if (entry === undefined) throw new EcomlError('E_INTERNAL', 'a one-parameter space came back empty');
      if (!this.known.has(name)) this.known.set(name, entry);
      trialDraw ??= options.sampler.begin({
        space: this.intersectionSpace(),
        history: view.trials(),
        trialNumber: number,
        objectives: view.objectives,
        constraints: view.constraints,
      });
      const value = trialDraw.value(entry, values);
      values = { ...values, [name]: value };
      storage.updateTrial(view.id, number, { values });
      return value;
    };

    const report = (steps: Map<number, EpochMetrics>, step: number, metrics: EpochMetrics): void => {
      if (!Number.isInteger(step) || step < 0) {
        throw new EcomlError('E_CONFIG_INVALID', `report() needs a non-negative integer step, got ${step}`, { details: { step } });
      }
      if (typeof metrics[view.objective.name] !== 'number') throw missingObjective(view.objective, Object.keys(metrics), `the metrics reported at step ${step}`);
      steps.set(step, metrics);
      const snapshot = storage.updateTrial(view.id, number, { intermediateValues: intermediateValues(reports, view.objectives) });
      if (options.pruner.prune(view, snapshot, step)) throw new TrialPruned(step);
    };

    type Outcome = { readonly state: 'completed' } | { readonly state: 'pruned' | 'failed'; readonly error: unknown };
    let outcome: Outcome;
    try {
      for (let execution = 0; execution < this.executionsPerTrial; execution++) {
        const steps = new Map<number, EpochMetrics>();
        reports.push(steps);
        const seed = deriveSeed(options.seed, number, execution);
        const parent = typeof attrs.parent === 'number' ? attrs.parent : undefined;
        const ctx: TrialContext = Object.freeze({
          studyId: view.id,
          trialNumber: number,
          get values() {
            return values;
          },
          execution,
          seed,
          epochs: Number(attrs.epochs ?? options.maxEpochs),
          initialEpoch: Number(attrs.initialEpoch ?? 0),
          ...(parent === undefined ? {} : { parent }),
          attrs,
          suggest,
          report: (step: number, metrics: EpochMetrics) => report(steps, step, metrics),
        });
        const result = await options.runTrial(ctx);
        executions.push(deepFreeze(structuredClone({ seed, metricsByEpoch: result.metricsByEpoch, ...(result.extra === undefined ? {} : { extra: result.extra }) })));
        if (result.summary !== undefined) summaries.push(result.summary);
        if (result.energy !== undefined) energies.push(result.energy);
        storage.updateTrial(view.id, number, { executions, metrics: averageCurves(executions.map((e) => e.metricsByEpoch)) });
      }
      outcome = { state: 'completed' };
    } catch (err) {
      outcome = { state: err instanceof TrialPruned ? 'pruned' : 'failed', error: err };
    }

    const curves = executions.map((e) => e.metricsByEpoch);
    // A pruned or failed execution still spent energy: its runTrial reports it on the error it
    // throws (see partialSummaryOf), so the study's totals count every epoch run.
    if (outcome.state !== 'completed') {
      const partial = partialSummaryOf(outcome.error);
      if (partial !== undefined) summaries.push(partial);
    }
    const summary = combineSummaries(summaries);
    let scoring: Partial<FrozenTrial> = {};
    if (outcome.state === 'completed') {
      try {
        scoring = scoreTrial(curves, summary, view.objectives, view.constraints);
      } catch (err) {
        outcome = { state: 'failed', error: err };
      }
    }
    const trial = storage.updateTrial(view.id, number, {
      state: outcome.state,
      executions,
      metrics: averageCurves(curves),
      intermediateValues: intermediateValues(reports, view.objectives),
      ...scoring,
      ...(Object.keys(summary).length > 0 ? { summary } : {}),
      ...(outcome.state === 'failed' ? { error: messageOf(outcome.error) } : {}),
      endedAt: new Date().toISOString(),
      durationS: (performance.now() - started) / 1000,
      ...(energies.length > 0 ? { energy: energies } : {}),
    });
    try {
      await options.onTrialEnd?.(trial, view);
    } catch (err) {
      this.failure ??= err;
    }
    this.consecutiveFailures = trial.state === 'failed' ? this.consecutiveFailures + 1 : 0;
    if (this.consecutiveFailures >= MAX_CONSECUTIVE_FAILED_TRIALS && outcome.state === 'failed') this.failure ??= outcome.error;
  }
}

/**
 * An error that ended an execution early (TrialPruned included) may carry what that execution
 * spent (`summary: { joules, epochs, … }`), so that pruned and failed trials count in the totals.
 */
function partialSummaryOf(error: unknown): Readonly<Record<string, number>> | undefined {
  const summary = (error as { summary?: unknown } | undefined)?.summary;
  return typeof summary === 'object' && summary !== null ? (summary as Record<string, number>) : undefined;
}

/** Sums joules, kg CO2e and epochs over executions; averages everything else. */
export function combineSummaries(summaries: readonly Readonly<Record<string, number>>[]): Record<string, number> {
  const totals = new Map<string, { sum: number; count: number }>();
  for (const summary of summaries) {
    for (const [name, value] of Object.entries(summary)) {
      const acc = totals.get(name) ?? { sum: 0, count: 0 };
      acc.sum += value;
      acc.count += 1;
      totals.set(name, acc);
    }
  }
  return Object.fromEntries([...totals].map(([name, { sum, count }]) => [name, SUMMED.has(name) ? sum : sum / count]));
}

/**
 * Each objective's value: a trial-level value from the summary when there is one (joules, size,
 * latency), otherwise Keras Tuner's score over the epochs (each execution at its best epoch,
 * averaged). The best epoch is the first epoch-scored objective's. Constraints read the same
 * values, epoch metrics at their best in the bound's direction.
 */
export function scoreTrial(
  curves: readonly (readonly EpochMetrics[])[],
  summary: Readonly<Record<string, number>>,
  objectives: readonly Objective[],
  constraints: readonly Constraint[],
): Pick<FrozenTrial, 'score' | 'scores' | 'bestEpoch' | 'violation'> {
  let bestEpoch: number | undefined;
  const scores = objectives.map((objective) => {
    const value = summary[objective.name];
    if (value !== undefined) return value;
    const scored = scoreExecutions(curves, objective);
    if (scored === undefined) {
      throw missingObjective(objective, [...new Set([...curves.flat().flatMap((m) => Object.keys(m)), ...Object.keys(summary)])], 'every epoch of an execution and the trial summary');
    }
    bestEpoch ??= scored.bestEpoch;
    return scored.score;
  });
  const bounded: Record<string, number> = { ...summary };
  for (const c of constraints) {
    if (bounded[c.name] !== undefined) continue;
    const scored = scoreExecutions(curves, { name: c.name, direction: c.op === '>=' ? 'max' : 'min' });
    if (scored !== undefined) bounded[c.name] = scored.score;
  }
  return {
    score: scores[0] as number,
    scores,
    ...(bestEpoch === undefined ? {} : { bestEpoch }),
    ...(constraints.length > 0 ? { violation: violationOf(bounded, constraints) } : {}),
  };
}

/** Each step's objective values averaged over the executions that reported them. */
function intermediateValues(reports: readonly Map<number, EpochMetrics>[], objectives: readonly Objective[]): IntermediateValue[] {
  const byStep = new Map<number, EpochMetrics[]>();
  for (const steps of reports) for (const [step, metrics] of steps) byStep.set(step, [...(byStep.get(step) ?? []), metrics]);
  return [...byStep]
    .sort(([a], [b]) => a - b)
    .map(([step, all]) => {
      const mean = (name: string) => all.reduce((sum, m) => sum + (m[name] ?? Number.NaN), 0) / all.length;
      const values = objectives.map((o) => mean(o.name));
      return { step, value: values[0] as number, ...(objectives.length > 1 ? { values } : {}) };
    });
}

/**
 * Keras Tuner's results_summary as text: the objective(s), then the best trials (feasible
 * completed ones by score, then the others) with their hyperparameters and score.
 */
export function formatResultsSummary(result: StudyResult, numTrials = 10): string {
  const ranked = bestTrials(result.trials, result.objective);
  const shown = [...ranked, ...result.trials.filter((trial) => !ranked.includes(trial))].slice(0, numTrials);
  const lines = [
    'Results summary',
    `Study "${result.name}": ${result.status}, ${result.trials.length} trial${result.trials.length === 1 ? '' : 's'}`,
    `Showing ${shown.length} best trial${shown.length === 1 ? '' : 's'}`,
    ...result.objectives.map((o) => `Objective(name="${o.name}", direction="${o.direction}")`),
    ...result.constraints.map((c) => `Constraint(${c.name} ${c.op} ${c.bound})`),
  ];
  for (const trial of shown) {
    lines.push('', `Trial ${trial.number} summary`, 'Hyperparameters:');
    const entries = Object.entries(trial.values);
    if (entries.length === 0) lines.push('default configuration');
    for (const [name, value] of entries) lines.push(`${name}: ${String(value)}`);
    if (trial.scores !== undefined && trial.scores.length > 1) lines.push(`Scores: ${trial.scores.join(', ')}`);
    else if (trial.score !== undefined) lines.push(`Score: ${trial.score}`);
    if ((trial.violation ?? 0) > 0) lines.push(`Infeasible: misses the constraints by ${trial.violation}`);
    if (trial.state !== 'completed') lines.push(`State: ${trial.state}${trial.error === undefined ? '' : ` (${trial.error})`}`);
  }
  return `${lines.join('\n')}\n`;
}

function missingObjective(objective: Objective, found: readonly string[], where: string): EcomlError {
  return new EcomlError('E_CONFIG_INVALID', `the objective "${objective.name}" is missing from ${where}; found: ${found.join(', ') || 'nothing'}`, {
    details: { objective: objective.name, found },
  });
}

function checkCount(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new EcomlError('E_CONFIG_INVALID', `${name} must be a positive integer, got ${value}`, { details: { [name]: value } });
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

