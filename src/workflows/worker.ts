/**
 * `ecoml worker` as a library workflow: takes trial jobs from a BullMQ queue, trains them with the
 * same runTrialJob the tuning process uses, and sends the results back, until stopped. Each job's
 * training is recorded in this machine's run store with this machine's energy.
 * @module
 */
import { startQueueWorker, type JsonValue } from '../tune/distributed/index.js';
import { EcomlError } from '../errors.js';
import { saveTrainedModel } from './save.js';
import { prepareData, type PreparedData } from './train.js';
import { runTrialJob, type TrialJob } from './tune-trial.js';
import type { Workspace } from './workspace.js';

/** A trial job as it travels: the coordinator also says where to save the trained model. */
export type QueuedTrialJob = TrialJob & { readonly saveModelTo?: string };

export interface WorkerRequest {
  readonly url: string;
  readonly queueName: string;
  /** BullMQ's lock on a running job; a worker that dies loses its jobs after this (default 30 s). */
  readonly lockDurationMs?: number;
  readonly stalledIntervalMs?: number;
  /** Once connected and listening. */
  readonly onReady?: () => void;
  readonly onJob?: (job: QueuedTrialJob, attempt: number) => void;
  readonly onJobEnd?: (job: QueuedTrialJob, outcome: 'completed' | 'pruned' | 'failed') => void;
  /** Aborting stops the worker: a job in progress goes back to the queue for another worker. */
  readonly signal: AbortSignal;
}

export interface WorkerSummary {
  readonly jobs: number;
  readonly completed: number;
  readonly pruned: number;
  readonly failed: number;
}

export async function runWorker(ws: Workspace, request: WorkerRequest): Promise<WorkerSummary> {
  const counts = { jobs: 0, completed: 0, pruned: 0, failed: 0 };
  // Jobs of one study share their data: prepared once per (spec data, limits, split).
  const prepared = new Map<string, Promise<PreparedData>>();
  const dataFor = (job: QueuedTrialJob): Promise<PreparedData> => {
    const key = JSON.stringify([job.specDir, job.file.data, job.file.normalize, job.file.numClasses, job.file.train.seed, job.overrides]);
    let data = prepared.get(key);
    if (data === undefined) {
      data = prepareData(job.file, job.specDir, job.overrides);
      prepared.set(key, data);
    }
    return data;
  };
  const worker = await startQueueWorker({
    url: request.url,
    queueName: request.queueName,
    ...(request.lockDurationMs === undefined ? {} : { lockDurationMs: request.lockDurationMs }),
    ...(request.stalledIntervalMs === undefined ? {} : { stalledIntervalMs: request.stalledIntervalMs }),
    onError: (error) => ws.log(`worker: ${error.message}`),
    execute: async (payload, ctx) => {
      const job = checkedJob(payload);
      counts.jobs++;
      request.onJob?.(job, ctx.attempt);
      try {
        const { result, trained } = await runTrialJob(ws, job, await dataFor(job), { report: (step, metrics) => ctx.report(step, { ...metrics }), signal: ctx.signal });
        try {
          if (job.saveModelTo !== undefined) {
            await saveTrainedModel(ws, trained, job.saveModelTo, { metrics: trained.fit.history.at(-1)?.metrics ?? {}, runId: String((result.extra as { runId?: string } | undefined)?.runId) });
          }
        } finally {
          trained.compiled.dispose();
        }
        counts.completed++;
        request.onJobEnd?.(job, 'completed');
        return result as unknown as JsonValue;
      } catch (error) {
        const pruned = (error as Error | undefined)?.name === 'TrialPruned';
        counts[pruned ? 'pruned' : 'failed']++;
        request.onJobEnd?.(job, pruned ? 'pruned' : 'failed');
        throw error;
      }
    },
  });
  request.onReady?.();
  try {
    await new Promise<void>((resolve) => {
      if (request.signal.aborted) resolve();
      request.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    await worker.close();
  }
  return counts;
}

function checkedJob(payload: JsonValue): QueuedTrialJob {
  const job = payload as unknown as Partial<QueuedTrialJob> | null;
  if (job === null || typeof job !== 'object' || typeof job.file !== 'object' || typeof job.trialNumber !== 'number' || typeof job.epochs !== 'number') {
    throw new EcomlError('E_CONFIG_INVALID', 'a queue job is not an ecoml trial job (is another program using this queue?)');
  }
  return job as QueuedTrialJob;
}
