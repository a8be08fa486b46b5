/**
 * The study loop: propose values (rejecting duplicates), run each trial's executions through the
 * caller's `runTrial`, average and score them, record everything in the storage. It is the one
 * place that catches TrialPruned. Semantics follow Keras Tuner's oracle: 20 duplicate proposals in
 * a row exhaust the space, 3 consecutive failed trials fail the study.
 * @module
 */
import { EcomlError } from '../errors.js';
import type { HpValue } from '../models/spec.js';
import { deepFreeze } from '../store/json.js';
import { TrialPruned } from './pruner.js';
import type { Pruner } from './pruner.js';
import type { Sampler } from './sampler.js';
import type { SearchSpace } from './space.js';
import { bestTrial } from './storage.js';
import type { StudyStorage } from './storage.js';
import { averageCurves, bestTrials, deriveSeed, scoreExecutions, valuesHash } from './trial.js';
import type { EpochMetrics, ExecutionRecord, FrozenTrial, IntermediateValue, Objective, StudyView } from './trial.js';

/** Keras Tuner's `_max_collisions`: duplicate proposals tolerated for one trial before giving up. */
export const MAX_COLLISIONS = 20;
/** Keras Tuner's `max_consecutive_failed_trials` default. */
export const MAX_CONSECUTIVE_FAILED_TRIALS = 3;

/** What one execution of a trial gets from the study. */
export interface TrialContext {
  readonly trialNumber: number;
  readonly values: Readonly<Record<string, HpValue>>;
  /** 0 … executionsPerTrial − 1. */
  readonly execution: number;
  /** Derived from the study seed, different for every execution of every trial. */
  readonly seed: number;
  /**
   * Records one step's (epoch's) metrics, which must include the objective, and consults the
   * pruner: throws TrialPruned when it says stop. Let that propagate out of runTrial.
   */
  report(step: number, metrics: EpochMetrics): void;
}

export interface ExecutionResult {
  readonly metricsByEpoch: readonly EpochMetrics[];
  /** Opaque JSON kept on the execution record (e.g. a model path). */
  readonly extra?: unknown;
}

export type RunTrial = (ctx: TrialContext) => Promise<ExecutionResult>;

/**
 * Wraps all of one trial's executions; `work` never rejects. What the meter resolves to (e.g. a
 * Measurement) is stored as the trial's `energy`.
 */
export type TrialMeter = (trialNumber: number, work: () => Promise<void>) => Promise<unknown>;

export interface StudyOptions {
  readonly name: string;
  readonly space: SearchSpace;
  readonly sampler: Sampler;
  readonly pruner: Pruner;
  readonly storage: StudyStorage;
  readonly objective: Objective;
  readonly maxTrials: number;
  /** Trainings per trial, averaged epoch by epoch (default 1). */
  readonly executionsPerTrial?: number;
  /** Source of the executions' seeds. */
  readonly seed: number;
  readonly runTrial: RunTrial;
  /** Called after each trial ends, whatever its state. */
  readonly onTrialEnd?: (trial: FrozenTrial, study: StudyView) => void | Promise<void>;
  readonly meter?: TrialMeter;
  /** The run-store run the study is recorded under. */
  readonly runId?: string;
}

export interface StudyResult {
  readonly studyId: number;
  readonly name: string;
  readonly objective: Objective;
  /** 'exhausted': the sampler ran out of new values before maxTrials. */
  readonly status: 'completed' | 'exhausted';
  readonly trials: readonly FrozenTrial[];
  readonly best: FrozenTrial | undefined;
}

/**
 * Runs a search. A trial whose runTrial throws is recorded as failed and the search goes on,
 * unless it is the third failure in a row: then the study is marked failed and that error thrown.
 */
export async function runStudy(options: StudyOptions): Promise<StudyResult> {
  const executionsPerTrial = options.executionsPerTrial ?? 1;
  checkCount('maxTrials', options.maxTrials);
  checkCount('executionsPerTrial', executionsPerTrial);
  if (!Number.isSafeInteger(options.seed)) {
    throw new EcomlError('E_CONFIG_INVALID', `the study seed must be an integer, got ${options.seed}`, { details: { seed: options.seed } });
  }
  const { storage, objective } = options;
  const study = storage.createStudy({ name: options.name, objectives: [objective], ...(options.runId === undefined ? {} : { runId: options.runId }) });
  const view: StudyView = Object.freeze({ id: study.id, name: study.name, objective, trials: () => storage.getTrials(study.id) });
  const tried = new Set<string>();
  let consecutiveFailures = 0;
  let status: StudyResult['status'] = 'completed';
  try {
    for (let n = 0; n < options.maxTrials; n++) {
      const values = propose(options.sampler, options.space, view.trials(), tried);
      if (values === undefined) {
        status = 'exhausted';
        break;
      }
      const { trial, error } = await runTrialOnce(options, view, values, executionsPerTrial);
      options.sampler.afterTrial?.(view, trial);
      await options.onTrialEnd?.(trial, view);
      consecutiveFailures = trial.state === 'failed' ? consecutiveFailures + 1 : 0;
      if (consecutiveFailures >= MAX_CONSECUTIVE_FAILED_TRIALS) throw error;
    }
  } catch (err) {
    storage.setStudyStatus(study.id, 'failed');
    throw err;
  }
  storage.setStudyStatus(study.id, status);
  return Object.freeze({ studyId: study.id, name: study.name, objective, status, trials: storage.getTrials(study.id), best: bestTrial(storage, study.id) });
}

/** Draws until the values are new; undefined once MAX_COLLISIONS retries all hit tried values. */
function propose(sampler: Sampler, space: SearchSpace, history: readonly FrozenTrial[], tried: Set<string>): Record<string, HpValue> | undefined {
  for (let collisions = 0; collisions <= MAX_COLLISIONS; collisions++) {
    const values = sampler.sample(space, history);
    const hash = valuesHash(values);
    if (!tried.has(hash)) {
      tried.add(hash);
      return values;
    }
  }
  return undefined;
}

type Outcome =
  | { readonly state: 'completed'; readonly score: number; readonly bestEpoch: number }
  | { readonly state: 'pruned' }
  | { readonly state: 'failed'; readonly error: unknown };

async function runTrialOnce(
  options: StudyOptions,
  view: StudyView,
  values: Readonly<Record<string, HpValue>>,
  executionsPerTrial: number,
): Promise<{ trial: FrozenTrial; error?: unknown }> {
  const { storage, objective } = options;
  const created = storage.createTrial(view.id, values);
  const { number } = created;
  const started = performance.now();
  const executions: ExecutionRecord[] = [];
  // Per execution: the objective's value at each reported step.
  const reports: Map<number, number>[] = [];

  const report = (steps: Map<number, number>, step: number, metrics: EpochMetrics): void => {
    if (!Number.isInteger(step) || step < 0) {
      throw new EcomlError('E_CONFIG_INVALID', `report() needs a non-negative integer step, got ${step}`, { details: { step } });
    }
    const value = metrics[objective.name];
    if (typeof value !== 'number') throw missingObjective(objective, Object.keys(metrics), `the metrics reported at step ${step}`);
    steps.set(step, value);
    const snapshot = storage.updateTrial(view.id, number, { intermediateValues: intermediateValues(reports) });
    if (options.pruner.prune(view, snapshot, step)) throw new TrialPruned(step);
  };

  const attempt = async (): Promise<Outcome> => {
    try {
      for (let execution = 0; execution < executionsPerTrial; execution++) {
        const steps = new Map<number, number>();
        reports.push(steps);
        const seed = deriveSeed(options.seed, number, execution);
        const ctx = Object.freeze<TrialContext>({ trialNumber: number, values: created.values, execution, seed, report: (step, metrics) => report(steps, step, metrics) });
        const result = await options.runTrial(ctx);
        executions.push(deepFreeze(structuredClone({ seed, metricsByEpoch: result.metricsByEpoch, ...(result.extra === undefined ? {} : { extra: result.extra }) })));
        storage.updateTrial(view.id, number, { executions, metrics: averageCurves(executions.map((e) => e.metricsByEpoch)) });
      }
      const curves = executions.map((e) => e.metricsByEpoch);
      const scored = scoreExecutions(curves, objective);
      if (scored === undefined) throw missingObjective(objective, [...new Set(curves.flat().flatMap((m) => Object.keys(m)))], 'every epoch of an execution');
      return { state: 'completed', ...scored };
    } catch (err) {
      return err instanceof TrialPruned ? { state: 'pruned' } : { state: 'failed', error: err };
    }
  };

  let outcome: Outcome | undefined;
  let energy: unknown;
  if (options.meter === undefined) {
    outcome = await attempt();
  } else {
    try {
      energy = await options.meter(number, async () => {
        outcome = await attempt();
      });
    } catch (err) {
      outcome = { state: 'failed', error: err };
    }
    outcome ??= { state: 'failed', error: new EcomlError('E_INTERNAL', `the trial meter returned without running trial ${number}`) };
  }

  const trial = storage.updateTrial(view.id, number, {
    state: outcome.state,
    executions,
    metrics: averageCurves(executions.map((e) => e.metricsByEpoch)),
    intermediateValues: intermediateValues(reports),
    ...(outcome.state === 'completed' ? { score: outcome.score, bestEpoch: outcome.bestEpoch } : {}),
    ...(outcome.state === 'failed' ? { error: messageOf(outcome.error) } : {}),
    endedAt: new Date().toISOString(),
    durationS: (performance.now() - started) / 1000,
    ...(energy === undefined ? {} : { energy }),
  });
  return outcome.state === 'failed' ? { trial, error: outcome.error } : { trial };
}

/** Each step's objective value averaged over the executions that reported it. */
function intermediateValues(reports: readonly Map<number, number>[]): IntermediateValue[] {
  const byStep = new Map<number, number[]>();
  for (const steps of reports) for (const [step, value] of steps) byStep.set(step, [...(byStep.get(step) ?? []), value]);
  return [...byStep]
    .sort(([a], [b]) => a - b)
    .map(([step, values]) => ({ step, value: values.reduce((sum, v) => sum + v, 0) / values.length }));
}

/**
 * Keras Tuner's results_summary as text: the objective, then the best trials (completed ones by
 * score, then the others) with their hyperparameters and score.
 */
export function formatResultsSummary(result: StudyResult, numTrials = 10): string {
  const ranked = bestTrials(result.trials, result.objective);
  const shown = [...ranked, ...result.trials.filter((trial) => !ranked.includes(trial))].slice(0, numTrials);
  const lines = [
    'Results summary',
    `Study "${result.name}": ${result.status}, ${result.trials.length} trial${result.trials.length === 1 ? '' : 's'}`,
    `Showing ${shown.length} best trial${shown.length === 1 ? '' : 's'}`,
    `Objective(name="${result.objective.name}", direction="${result.objective.direction}")`,
  ];
  for (const trial of shown) {
    lines.push('', `Trial ${trial.number} summary`, 'Hyperparameters:');
    const entries = Object.entries(trial.values);
    if (entries.length === 0) lines.push('default configuration');
    for (const [name, value] of entries) lines.push(`${name}: ${String(value)}`);
    if (trial.score !== undefined) lines.push(`Score: ${trial.score}`);
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
