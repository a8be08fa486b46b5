/** `ecoml worker --queue URL`: runs tuning trials from a BullMQ queue until stopped (Ctrl-C, SIGTERM). @module */
import { numberOption, stringOption } from '../args.js';
import { defineCommand } from '../command.js';
import { EcomlError } from '../../errors.js';
import { DEFAULT_QUEUE_NAME } from '../../workflows/tune.js';
import { runWorker, type WorkerSummary } from '../../workflows/worker.js';
import { WORKSPACE_OPTIONS, workspaceFrom } from './shared.js';

export interface WorkerResult extends WorkerSummary {
  readonly queue: string;
  readonly queue_name: string;
}

export default defineCommand<WorkerResult>({
  name: 'worker',
  summary: 'Run tuning trials from a queue that `ecoml tune --queue URL` fills; start any number, on any machines.',
  usage: 'ecoml worker --queue redis://host:port [options]',
  description: [
    'Each trial trains here and is recorded in this machine’s run store with this machine’s energy; its metrics go back to the tuning process, which decides pruning.',
    'A worker that dies mid-trial loses the trial’s lock; another worker picks the trial up (BullMQ stalled-job recovery) and runs it again from its first epoch.',
    'Trained models are saved where the tuning process asks, under its run store: share that directory between machines.',
  ].join('\n'),
  options: {
    queue: { type: 'string', valueName: 'URL', description: 'the Redis URL the tuning process was given' },
    'queue-name': { type: 'string', valueName: 'NAME', description: `the queue’s name (default ${DEFAULT_QUEUE_NAME})` },
    'lock-ms': { type: 'string', valueName: 'MS', description: 'how long a job stays locked without a heartbeat before another worker may take it (default 30000)' },
    ...WORKSPACE_OPTIONS,
  },
  async run({ values }, ctx) {
    const queue = stringOption(values, 'queue');
    if (queue === undefined) throw new EcomlError('E_CONFIG_INVALID', 'worker needs --queue redis://host:port (see --help)', { details: { option: 'queue' } });
    const queueName = stringOption(values, 'queue-name') ?? DEFAULT_QUEUE_NAME;
    const lockMs = numberOption(values, 'lock-ms', { integer: true, min: 1000 });
    const ws = await workspaceFrom(values, ctx);
    try {
      const summary = await runWorker(ws, {
        url: queue,
        queueName,
        ...(lockMs === undefined ? {} : { lockDurationMs: lockMs, stalledIntervalMs: Math.max(500, Math.floor(lockMs / 2)) }),
        signal: ctx.signal,
        onReady: () => ctx.stderr.write(`worker: waiting for trials on ${queue} (${queueName})\n`),
        onJob: (job, attempt) => ctx.stderr.write(`worker: ${job.study} trial ${job.trialNumber}.${job.execution} (attempt ${attempt}, to epoch ${job.epochs})\n`),
        onJobEnd: (job, outcome) => ctx.stderr.write(`worker: ${job.study} trial ${job.trialNumber}.${job.execution} ${outcome}\n`),
      });
      return { queue, queue_name: queueName, ...summary };
    } finally {
      await ws.close();
    }
  },
  render(r) {
    return `worker stopped: ${r.jobs} jobs (${r.completed} completed, ${r.pruned} pruned, ${r.failed} failed) from ${r.queue} (${r.queue_name})`;
  },
});
