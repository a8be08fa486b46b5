/**
 * A queue worker as its own process, for the distributed tests' SIGKILL: each job's payload says how
 * many steps to report and how long each takes; one line per started and per completed execution is
 * appended to files, so the test can count them after a worker dies.
 * Environment: QUEUE_URL, QUEUE_NAME, STARTED_LOG, COMPLETED_LOG.
 */
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { startQueueWorker } from '../../src/tune/distributed/index.js';

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
}

const worker = await startQueueWorker({
  url: env('QUEUE_URL'),
  queueName: env('QUEUE_NAME'),
  lockDurationMs: 2_000,
  stalledIntervalMs: 1_000,
  async execute(payload, ctx) {
    const { id, steps, stepMs } = payload as { id: string; steps: number; stepMs: number };
    appendFileSync(env('STARTED_LOG'), `${id} ${process.pid} ${ctx.attempt}\n`);
    for (let step = 1; step <= steps; step += 1) {
      await sleep(stepMs);
      await ctx.report(step, { pid: process.pid, value: step });
    }
    appendFileSync(env('COMPLETED_LOG'), `${id} ${process.pid}\n`);
    return { id, pid: process.pid };
  },
});
process.once('SIGTERM', () => {
  void worker.close().then(() => process.exit(0));
});
process.stdout.write('ready\n');
