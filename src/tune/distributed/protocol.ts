/**
 * What the coordinator and the workers exchange through Redis besides BullMQ's own records: the
 * progress a worker reports, the decision key it waits on, the outcome a job completes with, and how
 * a worker's error crosses as BullMQ's one-line failedReason.
 * @module
 */
import { ERROR_CATALOGUE, EcomlError, type ErrorCode } from '../../errors.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** The name every pruning error carries: tune's pruners throw it, and `report` rejects with it. */
export const PRUNED_ERROR_NAME = 'TrialPruned';

/** What `report` rejects with when the coordinator said prune, and `run` when no local error explains it. */
export class JobPrunedError extends Error {
  readonly step: number;
  constructor(step: number) {
    super(`pruned at step ${step}`);
    this.name = PRUNED_ERROR_NAME;
    this.step = step;
  }
}

export const JOB_NAME = 'run';
export const DEFAULT_PREFIX = 'ecoml';
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/** The job's progress record. `attempt` is BullMQ's attemptsStarted: a stall recovery starts a new one. */
export interface Progress {
  readonly step: number;
  readonly metrics: Record<string, number>;
  readonly attempt: number;
}

export function parseProgress(data: unknown): Progress | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const { step, metrics, attempt } = data as Record<string, unknown>;
  if (typeof step !== 'number' || typeof attempt !== 'number' || typeof metrics !== 'object' || metrics === null) return undefined;
  const numeric = Object.entries(metrics).filter((entry): entry is [string, number] => typeof entry[1] === 'number');
  return { step, attempt, metrics: Object.fromEntries(numeric) };
}

export type Decision = 'continue' | 'prune';

/** One key per attempt and step, so an answer meant for a killed attempt never reaches its re-run. */
export function decisionKey(prefix: string, queueName: string, jobId: string, attempt: number, step: number): string {
  return `${prefix}:${queueName}:decision:${jobId}:${attempt}:${step}`;
}

/** Unread decisions (the worker had given up waiting, or died) expire instead of piling up. */
export const DECISION_TTL_MS = 10 * 60_000;

/** A pruned job may say what it spent before it stopped (`spent`, e.g. joules and epochs). */
export type Outcome = { readonly outcome: 'completed'; readonly value: JsonValue } | { readonly outcome: 'pruned'; readonly step: number; readonly spent?: Readonly<Record<string, number>> };

export function parseOutcome(returned: unknown): Outcome {
  if (typeof returned === 'object' && returned !== null) {
    const record = returned as Record<string, unknown>;
    if (record.outcome === 'completed') return { outcome: 'completed', value: (record.value ?? null) as JsonValue };
    if (record.outcome === 'pruned' && typeof record.step === 'number') {
      const spent = typeof record.spent === 'object' && record.spent !== null ? { spent: record.spent as Record<string, number> } : {};
      return { outcome: 'pruned', step: record.step, ...spent };
    }
  }
  throw new EcomlError('E_INTERNAL', `a queue job completed with a value that is not an outcome: ${JSON.stringify(returned)}`);
}

/** BullMQ keeps only an error's message; an EcomlError's code travels in front of it, as the CLI prints it. */
export function failureReason(error: unknown): string {
  if (error instanceof EcomlError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

export function failureError(reason: string, jobId: string): Error {
  const coded = /^(E_[A-Z_]+): (.*)$/s.exec(reason);
  if (coded !== null && Object.hasOwn(ERROR_CATALOGUE, coded[1] as string)) {
    return new EcomlError(coded[1] as ErrorCode, coded[2] as string, { details: { jobId } });
  }
  return new Error(reason);
}
