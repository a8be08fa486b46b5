/**
 * A queue worker: takes jobs from BullMQ, runs `execute` on their payload, reports progress and waits
 * for the coordinator's continue-or-prune at each step. A worker that dies loses its job's lock; the
 * stalled checker of any live worker moves the job back to wait, and it runs again from its start.
 * @module
 */
import { Redis } from 'ioredis';
import { WaitingError, Worker, type Job } from 'bullmq';
import { EcomlError } from '../../errors.js';
import { parseQueueUrl, probeRedis, redisOptions } from './connection.js';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_PREFIX,
  JobPrunedError,
  decisionKey,
  failureReason,
  type JsonValue,
  type Outcome,
  type Progress,
} from './protocol.js';

export interface ExecuteContext {
  /** Reports a step's metrics and waits for the coordinator; rejects with a 'TrialPruned' error when told to prune. */
  report(step: number, metrics: Record<string, number>): Promise<void>;
  /** Aborted when this worker closes or loses the job's lock (another worker may be running it). */
  readonly signal: AbortSignal;
  /** 1 on the first run; higher after a stall recovery or an abandoned run. */
  readonly attempt: number;
}

export type Execute = (payload: JsonValue, ctx: ExecuteContext) => Promise<JsonValue>;

export interface QueueWorkerOptions {
  readonly url: string;
  readonly queueName: string;
  readonly execute: Execute;
  readonly prefix?: string;
  readonly concurrency?: number;
  /** How long a job's lock lasts without renewal: a dead worker's job is recovered after about this long. */
  readonly lockDurationMs?: number;
  readonly stalledIntervalMs?: number;
  /** Recoveries a job may have before it fails; BullMQ's default of 1 would fail it on a second crash. */
  readonly maxStalledCount?: number;
  /** How long a report waits for the coordinator's decision before going on. */
  readonly decisionTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  /** Connection trouble and lost locks; by default a process warning. */
  readonly onError?: (error: Error) => void;
}

export interface QueueWorker {
  /** Stops taking jobs; an active job is asked to stop (its signal aborts) and goes back to the queue unless it finishes. */
  close(): Promise<void>;
}

export async function startQueueWorker(options: QueueWorkerOptions): Promise<QueueWorker> {
  const target = parseQueueUrl(options.url);
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  await probeRedis(target, connectTimeoutMs);
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const decisionTimeoutS = (options.decisionTimeoutMs ?? 60_000) / 1000;
  const onError = options.onError ?? ((error: Error) => process.emitWarning(error.message, 'EcomlQueueWarning'));
  const connection = redisOptions(target, connectTimeoutMs);
  let closing = false;

  async function runJob(job: Job, token: string | undefined, signal: AbortSignal | undefined): Promise<Outcome> {
    if (job.id === undefined || signal === undefined) throw new EcomlError('E_INTERNAL', 'BullMQ gave a job without an id or abort signal');
    const jobId = job.id;
    const attempt = job.attemptsStarted;
    // BLPOP holds its connection, so each running job has its own.
    const decisions = new Redis(connection);
    decisions.on('error', onError);
    const stopWaiting = (): void => decisions.disconnect();
    signal.addEventListener('abort', stopWaiting);
    let prunedAtStep: number | undefined;
    const report = async (step: number, metrics: Record<string, number>): Promise<void> => {
      signal.throwIfAborted();
      const progress: Progress = { step, metrics, attempt };
      await job.updateProgress(progress);
      let reply: [string, string] | null;
      try {
        reply = await decisions.blpop(decisionKey(prefix, options.queueName, jobId, attempt, step), decisionTimeoutS);
      } catch (error) {
        signal.throwIfAborted();
        throw error;
      }
      if (reply?.[1] === 'prune') {
        prunedAtStep = step;
        throw new JobPrunedError(step);
      }
    };
    try {
      const value = await options.execute(job.data as JsonValue, { report, signal, attempt });
      // A pruned execution that returned anyway is still pruned: the coordinator waits for that answer.
      return prunedAtStep === undefined ? { outcome: 'completed', value } : { outcome: 'pruned', step: prunedAtStep };
    } catch (error) {
      if (prunedAtStep !== undefined) {
        // What the execution spent before it stopped travels back, for the study's totals.
        const spent = (error as { summary?: unknown } | undefined)?.summary;
        return { outcome: 'pruned', step: prunedAtStep, ...(typeof spent === 'object' && spent !== null ? { spent: spent as Record<string, number> } : {}) };
      }
      if (closing && signal.aborted) {
        // Abandoned, not failed: back to wait at once for another worker, without a stall's delay.
        await job.moveToWait(token);
        throw new WaitingError();
      }
      throw new Error(failureReason(error), { cause: error });
    } finally {
      signal.removeEventListener('abort', stopWaiting);
      decisions.disconnect();
    }
  }

  const worker = new Worker(options.queueName, runJob, {
    connection,
    prefix,
    concurrency: options.concurrency ?? 1,
    lockDuration: options.lockDurationMs ?? 30_000,
    stalledInterval: options.stalledIntervalMs ?? 30_000,
    maxStalledCount: options.maxStalledCount ?? 2,
  });
  worker.on('error', onError);
  // Someone else may hold the job now: stop working on it; BullMQ refuses this worker's result anyway.
  worker.on('lockRenewalFailed', (jobIds: string[]) => {
    for (const jobId of jobIds) worker.cancelJob(jobId, `lost the lock on job ${jobId}`);
  });
  await worker.waitUntilReady();

  return {
    async close() {
      closing = true;
      worker.cancelAllJobs('the worker is closing');
      await worker.close();
    },
  };
}
