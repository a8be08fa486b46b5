import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import { createQueueRunner, parseQueueUrl, startQueueWorker, type Execute, type QueueRunner, type QueueWorker } from '../../src/tune/distributed/index.js';
import { REPO_ROOT } from '../cli/helpers.js';
import { freePort, redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redis.js';

describe('parseQueueUrl', () => {
  it('takes redis://host:port, a database and credentials', () => {
    expect(parseQueueUrl('redis://127.0.0.1:6379')).toEqual({ host: '127.0.0.1', port: 6379, db: 0 });
    expect(parseQueueUrl('redis://queue.local:7000/3')).toEqual({ host: 'queue.local', port: 7000, db: 3 });
    expect(parseQueueUrl('redis://:s%40cret@10.0.0.2:6380')).toEqual({ host: '10.0.0.2', port: 6380, db: 0, password: 's@cret' });
    expect(parseQueueUrl('redis://[::1]:6379')).toEqual({ host: '::1', port: 6379, db: 0 });
  });

  it('refuses anything else with E_CONFIG_INVALID, and never echoes the password', () => {
    for (const url of ['localhost:6379', 'http://h:1', 'redis://h', 'redis://h:1/x', 'redis://h:1?db=2', 'not a url']) {
      expect(() => parseQueueUrl(url)).toThrow(expect.objectContaining({ code: 'E_CONFIG_INVALID' }));
    }
    expect(() => parseQueueUrl('redis://:topsecret@h:1/x')).toThrow(expect.objectContaining({ message: expect.not.stringContaining('topsecret') }));
  });
});

describe('an unreachable queue', () => {
  it('is E_QUEUE_UNAVAILABLE at once, for the coordinator and for a worker', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const runner = createQueueRunner({ url, queueName: 'q' });
    await expect(runner).rejects.toThrow(EcomlError);
    await expect(runner).rejects.toMatchObject({ code: 'E_QUEUE_UNAVAILABLE', message: expect.stringMatching(/^cannot reach the queue's Redis at 127\.0\.0\.1:\d+\/0: .*ECONNREFUSED/) });
    await expect(startQueueWorker({ url, queueName: 'q', execute: async () => null })).rejects.toMatchObject({ code: 'E_QUEUE_UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe.skipIf(redisUnavailable !== undefined)('the queue on a real redis-server', () => {
  let redis: RedisServer;
  let queueCount = 0;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    for (const close of closers.reverse()) await close();
    await redis?.stop();
  });

  function queueName(): string {
    queueCount += 1;
    return `test-${queueCount}`;
  }
  async function runner(name: string): Promise<QueueRunner> {
    const created = await createQueueRunner({ url: redis.url, queueName: name });
    closers.push(() => created.close());
    return created;
  }
  async function worker(name: string, execute: Execute): Promise<QueueWorker> {
    const started = await startQueueWorker({ url: redis.url, queueName: name, execute, lockDurationMs: 2_000, stalledIntervalMs: 1_000 });
    closers.push(() => started.close());
    return started;
  }

  it("returns the job's result, with its progress reports in order", async () => {
    const name = queueName();
    await worker(name, async (payload, ctx) => {
      const { a, b } = payload as { a: number; b: number };
      for (let step = 1; step <= 3; step += 1) await ctx.report(step, { loss: 1 / step });
      return { sum: a + b, attempt: ctx.attempt };
    });
    const reports: [number, Record<string, number>][] = [];
    const result = await (await runner(name)).run('job-1', { a: 2, b: 3 }, (step, metrics) => reports.push([step, metrics]));
    expect(result).toEqual({ sum: 5, attempt: 1 });
    expect(reports).toEqual([
      [1, { loss: 1 }],
      [2, { loss: 0.5 }],
      [3, { loss: 1 / 3 }],
    ]);
  });

  it('stops the worker at the step whose report the coordinator prunes, and rejects with that error', async () => {
    const name = queueName();
    const reached: number[] = [];
    let workerSaw: unknown;
    await worker(name, async (_payload, ctx) => {
      try {
        for (let step = 1; step <= 5; step += 1) {
          reached.push(step);
          await ctx.report(step, { accuracy: step / 10 });
        }
      } catch (error) {
        workerSaw = error;
        throw error;
      }
      return 'finished';
    });
    const pruned = Object.assign(new Error('pruned by the median rule'), { name: 'TrialPruned' });
    const run = (await runner(name)).run('job-1', null, (step) => {
      if (step === 2) throw pruned;
    });
    await expect(run).rejects.toBe(pruned);
    expect(reached).toEqual([1, 2]);
    expect(workerSaw).toMatchObject({ name: 'TrialPruned', step: 2 });
  });

  it("rejects with the worker's error, its code kept", async () => {
    const name = queueName();
    await worker(name, async () => {
      throw new EcomlError('E_SHAPE_MISMATCH', 'expected 784 features, got 3');
    });
    await expect((await runner(name)).run('job-1', null, () => undefined)).rejects.toMatchObject({ code: 'E_SHAPE_MISMATCH', message: 'expected 784 features, got 3' });
  });

  it('runs a job id once, however often and from however many coordinators it is enqueued', async () => {
    const name = queueName();
    let executions = 0;
    await worker(name, async (payload, ctx) => {
      executions += 1;
      await ctx.report(1, {});
      await sleep(200);
      return payload;
    });
    const first = await runner(name);
    const second = await runner(name);
    // Whichever enqueuing reaches Redis first defines the job; the other waits for its result.
    const [fromFirst, fromSecond] = await Promise.all([first.run('same', 'a', () => undefined), second.run('same', 'b', () => undefined)]);
    expect(['a', 'b']).toContain(fromFirst);
    expect(fromSecond).toBe(fromFirst);
    expect(await first.run('same', 'c', () => undefined)).toBe(fromFirst);
    expect(executions).toBe(1);

    const slow = first.run('other', 'x', () => undefined);
    await expect(first.run('other', 'x', () => undefined)).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
    expect(await slow).toBe('x');
    expect(executions).toBe(2);
  });

  it('hands the active job back to the queue when a worker closes, and another worker finishes it', async () => {
    const name = queueName();
    const attempts: number[] = [];
    const execute: Execute = async (_payload, ctx) => {
      attempts.push(ctx.attempt);
      for (let step = 1; step <= 3; step += 1) {
        await ctx.report(step, {});
        await sleep(ctx.attempt === 1 ? 60_000 : 10, undefined, { signal: ctx.signal });
      }
      return ctx.attempt;
    };
    const leaving = await startQueueWorker({ url: redis.url, queueName: name, execute });
    let closed: Promise<void> | undefined;
    const result = (await runner(name)).run('job-1', null, () => {
      closed ??= leaving.close();
    });
    await closed;
    await worker(name, execute);
    expect(await result).toBe(2);
    expect(attempts).toEqual([1, 2]);
  });

  it('two worker processes, one SIGKILLed mid-job: every job runs to completion exactly once', async () => {
    const name = queueName();
    const dir = await mkdtemp(join(tmpdir(), 'ecoml-queue-'));
    const startedLog = join(dir, 'started.log');
    const completedLog = join(dir, 'completed.log');
    await writeFile(startedLog, '');
    await writeFile(completedLog, '');
    const workers: ChildProcess[] = [];
    closers.push(async () => {
      for (const child of workers) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    for (let i = 0; i < 2; i += 1) {
      const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test', 'tune', 'queue-worker.ts')], {
        cwd: REPO_ROOT,
        env: { ...process.env, QUEUE_URL: redis.url, QUEUE_NAME: name, STARTED_LOG: startedLog, COMPLETED_LOG: completedLog },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      workers.push(child);
      const [ready] = (await once(child.stdout!, 'data')) as [Buffer];
      expect(ready.toString()).toBe('ready\n');
    }
    const [victim, survivor] = workers as [ChildProcess, ChildProcess];

    const coordinator = await runner(name);
    const jobs = Array.from({ length: 6 }, (_, i) => `job-${i}`);
    let killedJob: string | undefined;
    const resolutions = new Map<string, number>();
    const results = await Promise.all(
      jobs.map(async (id) => {
        const result = await coordinator.run(id, { id, steps: 5, stepMs: 150 }, (step, metrics) => {
          if (killedJob === undefined && metrics.pid === victim.pid && step === 2) {
            killedJob = id;
            victim.kill('SIGKILL');
          }
        });
        resolutions.set(id, (resolutions.get(id) ?? 0) + 1);
        return result;
      }),
    );

    const lines = async (path: string): Promise<string[][]> => (await readFile(path, 'utf8')).trim().split('\n').map((line) => line.split(' '));
    const started = await lines(startedLog);
    const completed = await lines(completedLog);
    expect(killedJob).toBeDefined();
    expect(victim.signalCode).toBe('SIGKILL');
    for (const id of jobs) {
      expect(resolutions.get(id)).toBe(1);
      expect(completed.filter(([job]) => job === id)).toHaveLength(1);
      expect(started.filter(([job]) => job === id)).toHaveLength(id === killedJob ? 2 : 1);
    }
    // The killed job ran again on the survivor, in a later attempt.
    expect(started.filter(([job]) => job === killedJob)).toEqual([
      [killedJob, String(victim.pid), '1'],
      [killedJob, String(survivor.pid), expect.stringMatching(/^[2-9]$/)],
    ]);
    expect(results).toEqual(jobs.map((id) => ({ id, pid: id === killedJob ? survivor.pid : expect.any(Number) })));
  }, 60_000);
});
