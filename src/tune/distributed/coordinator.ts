/**
 * The coordinator's side of the queue: `run` enqueues one job under a caller-chosen id and settles
 * with its outcome; the job's progress reports reach `onReport`, and what it says (go on, or throw to
 * prune) is pushed to the key the worker waits on.
 * @module
 */
import { Redis } from 'ioredis';
import { Queue, QueueEvents } from 'bullmq';
import { EcomlError } from '../../errors.js';
import { parseQueueUrl, probeRedis, redisOptions } from './connection.js';
import {
  DECISION_TTL_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_PREFIX,
  JOB_NAME,
  JobPrunedError,
  decisionKey,
  failureError,
  parseOutcome,
  parseProgress,
  type Decision,
  type JsonValue,
} from './protocol.js';

export type OnReport = (step: number, metrics: Record<string, number>) => void;

export interface QueueRunnerOptions {
  readonly url: string;
  readonly queueName: string;
  readonly prefix?: string;
  /**
   * How long finished jobs stay in Redis: while they do, enqueuing the same id again returns the
   * recorded outcome instead of running the job again.
   */
  readonly retentionS?: number;
  readonly connectTimeoutMs?: number;
  /** Connection trouble and decisions that could not be sent; by default a process warning. */
  readonly onError?: (error: Error) => void;
}

export interface QueueRunner {
  /**
   * Runs the job `jobId` (once, however often it is enqueued) and resolves with what `execute`
   * returned. When `onReport` throws, the worker is told to stop and `run` rejects with that error
   * once the worker has stopped.
   */
  run(jobId: string, payload: JsonValue, onReport: OnReport): Promise<JsonValue>;
  close(): Promise<void>;
}

interface Pending {
  readonly onReport: OnReport;
  /** What the last onReport threw: the error `run` rejects with when the job ends pruned. */
  pruneError?: unknown;
  readonly cancel: (error: Error) => void;
}

export async function createQueueRunner(options: QueueRunnerOptions): Promise<QueueRunner> {
  const target = parseQueueUrl(options.url);
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  await probeRedis(target, connectTimeoutMs);
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const { queueName } = options;
  const retentionS = options.retentionS ?? 7 * 24 * 3600;
  const onError = options.onError ?? ((error: Error) => process.emitWarning(error.message, 'EcomlQueueWarning'));
  const connection = redisOptions(target, connectTimeoutMs);

  const commands = new Redis(connection);
  commands.on('error', onError);
  // Events are read from the stream's current end, so none between this point and the first
  // blocking read is missed (BullMQ's default, '$', starts at that read).
  const latest = await commands.xrevrange(`${prefix}:${queueName}:events`, '+', '-', 'COUNT', 1);
  const queue = new Queue(queueName, { connection, prefix });
  const events = new QueueEvents(queueName, { connection, prefix, lastEventId: latest[0]?.[0] ?? '0-0' });
  queue.on('error', onError);
  events.on('error', onError);
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);

  const pending = new Map<string, Pending>();
  let closed = false;

  async function decide(jobId: string, data: unknown): Promise<void> {
    const entry = pending.get(jobId);
    const progress = parseProgress(data);
    // Another coordinator's job, or one this coordinator stopped waiting for.
    if (entry === undefined || progress === undefined) return;
    let decision: Decision = 'continue';
    try {
      entry.onReport(progress.step, progress.metrics);
    } catch (error) {
      entry.pruneError = error;
      decision = 'prune';
    }
    const key = decisionKey(prefix, queueName, jobId, progress.attempt, progress.step);
    await commands.multi().lpush(key, decision).pexpire(key, DECISION_TTL_MS).exec();
  }
  events.on('progress', ({ jobId, data }: { jobId: string; data: unknown }) => {
    decide(jobId, data).catch((error: unknown) => onError(error instanceof Error ? error : new Error(String(error))));
  });

  async function outcomeOf(jobId: string, payload: JsonValue): Promise<unknown> {
    const job = await queue.add(JOB_NAME, payload, {
      jobId,
      // A trial that throws has failed; trying it again is the study's call, not the queue's.
      attempts: 1,
      removeOnComplete: { age: retentionS },
      removeOnFail: { age: retentionS },
    });
    try {
      return await job.waitUntilFinished(events);
    } catch (error) {
      throw failureError(error instanceof Error ? error.message : String(error), jobId);
    }
  }

  return {
    async run(jobId, payload, onReport) {
      if (closed) throw new EcomlError('E_INTERRUPTED', `the queue runner is closed; job ${jobId} was not enqueued`);
      if (pending.has(jobId)) throw new EcomlError('E_CONFIG_INVALID', `job ${jobId} is already running from this coordinator`, { details: { jobId } });
      let cancel: (error: Error) => void = () => undefined;
      const cancelled = new Promise<never>((_resolve, reject) => {
        cancel = reject;
      });
      const entry: Pending = { onReport, cancel };
      pending.set(jobId, entry);
      try {
        const finished = outcomeOf(jobId, payload);
        // When close() wins the race, the job's own ending is of no interest any more.
        finished.catch(() => undefined);
        const outcome = parseOutcome(await Promise.race([finished, cancelled]));
        if (outcome.outcome === 'completed') return outcome.value;
        const pruned = entry.pruneError ?? new JobPrunedError(outcome.step);
        if (outcome.spent !== undefined) Object.assign(pruned, { summary: outcome.spent });
        throw pruned;
      } finally {
        pending.delete(jobId);
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const [jobId, entry] of pending) {
        entry.cancel(new EcomlError('E_INTERRUPTED', `the queue runner closed before job ${jobId} finished; it stays queued`, { details: { jobId } }));
      }
      await events.close();
      await queue.close();
      await commands.quit();
    },
  };
}
