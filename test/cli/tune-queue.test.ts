/**
 * `ecoml tune --queue` with `ecoml worker`s, all real processes on a real redis-server: two workers,
 * one SIGKILLed mid-trial, still complete the study with every trial run to completion exactly once;
 * and the queue commands' errors (no --queue, nothing listening) are one line with their exit codes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../../src/errors.js';
import { openRunStore, type RunRecord } from '../../src/store/index.js';
import { SqliteStudyStorage } from '../../src/tune/index.js';
import { freePort, redisUnavailable, startRedisServer, type RedisServer } from '../helpers/redis.js';
import { REPO_ROOT, cliProcessArgs, tempDir } from './helpers.js';

const SPEC_NAME = 'queue-tiny';
const TRIALS = 6;

/** Flatten → dense(units) → softmax on MNIST, `units` tuned: a few seconds a trial at the limits below. */
async function tunableSpec(dir: string): Promise<string> {
  const path = join(dir, `${SPEC_NAME}.yaml`);
  await writeFile(
    path,
    [
      `name: ${SPEC_NAME}`,
      'data: { source: mnist }',
      'normalize: scale',
      'model:',
      '  input: [28, 28, 1]',
      '  layers:',
      '    - { type: flatten }',
      '    - { type: dense, units: { hp: units }, activation: relu }',
      '    - { type: dense, units: 10, activation: softmax }',
      'compile: { optimizer: { type: adam, learningRate: 0.01 }, loss: sparse_categorical_crossentropy, metrics: [accuracy] }',
      'train: { epochs: 3, batchSize: 32, seed: 1 }',
      'tune:',
      '  objective: { name: val_accuracy, direction: max }',
      '  space:',
      '    units: { type: int, min: 8, max: 64, step: 8 }',
      '',
    ].join('\n'),
  );
  return path;
}

/** A CLI process whose output is collected as it comes. */
interface Proc {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
}

const live: ChildProcess[] = [];
const dirs: string[] = [];

async function scratch(prefix: string): Promise<string> {
  const dir = await tempDir(prefix);
  dirs.push(dir);
  return dir;
}

function start(argv: string[]): Proc {
  const child = spawn(process.execPath, cliProcessArgs(argv), { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  live.push(child);
  const proc: Proc = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  child.stdout?.on('data', (chunk: Buffer) => (proc.stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (proc.stderr += chunk.toString()));
  return proc;
}

/** Polls `check` until it returns a value (not undefined), or fails after `timeoutMs` saying `what`. */
async function waitFor<T>(what: string, timeoutMs: number, check: () => T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

async function withTimeout<T>(what: string, timeoutMs: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The trial runs of a worker's run store, read without taking part in it. */
function trialRuns(storeDir: string): readonly RunRecord[] {
  const store = openRunStore(storeDir, { heartbeatIntervalMs: 0 });
  try {
    return store.listRuns({ kind: 'trial' });
  } finally {
    store.close();
  }
}

/** "worker: <study> trial N.E (attempt A, …" lines as [trial, execution, attempt]. */
function startedJobs(stderr: string): [number, number, number][] {
  return [...stderr.matchAll(/^worker: \S+ trial (\d+)\.(\d+) \(attempt (\d+),/gm)].map((m) => [Number(m[1]), Number(m[2]), Number(m[3])]);
}
function completedJobs(stderr: string): [number, number][] {
  return [...stderr.matchAll(/^worker: \S+ trial (\d+)\.(\d+) completed$/gm)].map((m) => [Number(m[1]), Number(m[2])]);
}

/** SIGTERM first (a worker hands its job back and stops), then SIGKILL whatever is still there. */
async function stopProcesses(): Promise<void> {
  const running = live.filter((child) => child.exitCode === null && child.signalCode === null);
  for (const child of running) child.kill('SIGTERM');
  await Promise.all(
    running.map(async (child) => {
      const exited = once(child, 'exit');
      const gone = await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]);
      if (!gone) {
        child.kill('SIGKILL');
        await exited;
      }
    }),
  );
}

afterAll(async () => {
  await stopProcesses();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(redisUnavailable !== undefined)('ecoml tune --queue with two ecoml workers on a real redis-server', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    // Workers go before their Redis does, or closing they would wait on it.
    await stopProcesses();
    await redis?.stop();
  });

  it('completes the study with one worker SIGKILLed mid-trial, every trial run to completion exactly once', async () => {
    const dir = await scratch('ecoml-tune-queue-');
    const spec = await tunableSpec(dir);
    const coordStore = join(dir, 'coordinator-store');
    const outDir = join(dir, 'best');
    const workerStores = [join(dir, 'worker-a'), join(dir, 'worker-b')];

    const workers = workerStores.map((store) => start(['worker', '--queue', redis.url, '--lock-ms', '2000', '--store', store]));
    await Promise.all(workers.map((w, i) => waitFor(`worker ${i} to start`, 60_000, () => (w.stderr.includes('worker: waiting for trials on') ? true : undefined))));

    const tune = start([
      ...['tune', spec, '--queue', redis.url, '--sampler', 'random', '--pruner', 'none', '--concurrency', '2'],
      ...['--max-trials', String(TRIALS), '--epochs', '3', '--train-limit', '20000', '--test-limit', '500', '--batch-size', '16'],
      ...['--store', coordStore, '--out', outDir, '--json'],
    ]);

    // The victim is the first worker to start a trial; it dies once that trial's run has an epoch recorded.
    const [victimIndex, killedTrial] = await waitFor('a worker to start a trial', 90_000, () => {
      for (const [i, w] of workers.entries()) {
        const first = startedJobs(w.stderr)[0];
        if (first !== undefined) return [i, first[0]] as const;
      }
      return undefined;
    });
    const victim = workers[victimIndex] as Proc;
    const survivor = workers[1 - victimIndex] as Proc;
    const victimStore = workerStores[victimIndex] as string;
    const survivorStore = workerStores[1 - victimIndex] as string;
    const killedRunName = `${SPEC_NAME}#${killedTrial}.0`;
    await waitFor(`${killedRunName} to record an epoch in the victim's store`, 60_000, () => {
      const store = openRunStore(victimStore, { heartbeatIntervalMs: 0 });
      try {
        const run = store.listRuns({ kind: 'trial' }).find((r) => r.name === killedRunName && r.status === 'running');
        return run !== undefined && store.epochs(run.id).length >= 1 ? true : undefined;
      } finally {
        store.close();
      }
    });
    victim.child.kill('SIGKILL');
    expect(await victim.exited).toBeNull();
    expect(victim.child.signalCode).toBe('SIGKILL');
    // Killed mid-trial: the trial had started on the victim and not finished there.
    expect(startedJobs(victim.stderr)).toEqual([[killedTrial, 0, 1]]);
    expect(completedJobs(victim.stderr)).toEqual([]);

    const code = await withTimeout('ecoml tune to finish', 120_000, tune.exited);
    expect(code, `tune stderr:\n${tune.stderr}\nsurvivor stderr:\n${survivor.stderr}`).toBe(0);
    const lines = tune.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const report = JSON.parse(lines[0] as string) as {
      study_id: number;
      status: string;
      trials: { number: number; state: string; score?: number }[];
      best?: { number: number };
      model_dir?: string;
      evaluation?: { n: number; accuracy: number };
    };
    expect(report.status).toBe('completed');
    expect(report.trials).toHaveLength(TRIALS);
    expect(report.trials.map((t) => t.number).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
    for (const trial of report.trials) {
      expect(trial.state).toBe('completed');
      expect(trial.score).toEqual(expect.any(Number));
    }
    expect(tune.stderr).not.toMatch(/error|warning|\n\s+at /i);

    // The killed trial ran again on the survivor, in a later attempt; each trial completed once, there.
    const survivorStarts = startedJobs(survivor.stderr);
    expect(survivorStarts.filter(([trial]) => trial === killedTrial)).toEqual([[killedTrial, 0, expect.any(Number)]]);
    expect(survivorStarts.find(([trial]) => trial === killedTrial)?.[2]).toBeGreaterThanOrEqual(2);
    expect(survivorStarts.filter(([trial]) => trial !== killedTrial).every(([, execution, attempt]) => execution === 0 && attempt === 1)).toBe(true);
    expect(survivorStarts.map(([trial]) => trial).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(completedJobs(survivor.stderr).sort(([a], [b]) => a - b)).toEqual([0, 1, 2, 3, 4, 5].map((n) => [n, 0]));

    // The run stores: one completed trial run per (trial, execution) across both workers; the killed one stays unfinished.
    const victimRuns = trialRuns(victimStore);
    const survivorRuns = trialRuns(survivorStore);
    expect(victimRuns).toHaveLength(1);
    expect(victimRuns[0]).toMatchObject({ name: killedRunName, status: expect.stringMatching(/^(running|crashed)$/) });
    const completedRuns = [...victimRuns, ...survivorRuns].filter((r) => r.status === 'completed');
    expect(survivorRuns.every((r) => r.status === 'completed')).toBe(true);
    expect(completedRuns.map((r) => r.name).sort()).toEqual([0, 1, 2, 3, 4, 5].map((n) => `${SPEC_NAME}#${n}.0`));

    // The coordinator's study: each trial once, completed with a score, its execution the survivor's completed run.
    const store = openRunStore(coordStore, { heartbeatIntervalMs: 0 });
    try {
      const trials = new SqliteStudyStorage(store).getTrials(report.study_id);
      expect(trials.map((t) => t.number)).toEqual([0, 1, 2, 3, 4, 5]);
      for (const trial of trials) {
        expect(trial.state).toBe('completed');
        expect(trial.score).toEqual(expect.any(Number));
        expect(trial.executions).toHaveLength(1);
        const runId = (trial.executions[0]?.extra as { runId?: string } | undefined)?.runId;
        expect(completedRuns.find((r) => r.id === runId)?.name).toBe(`${SPEC_NAME}#${trial.number}.0`);
      }
      expect(store.listRuns({ kind: 'tune' }).map((r) => r.status)).toEqual(['completed']);
    } finally {
      store.close();
    }

    // The best trial's model, copied from where the survivor saved it, evaluated by the coordinator.
    expect(report.model_dir).toBe(outDir);
    expect(existsSync(join(outDir, 'model.json'))).toBe(true);
    expect(report.evaluation).toMatchObject({ n: 500, accuracy: expect.any(Number) });
    expect(report.best?.number).toEqual(expect.any(Number));
    // The trial models were only for the study while it ran.
    expect(existsSync(join(coordStore, 'studies', `study-${report.study_id}`))).toBe(false);

    // The survivor stops cleanly on SIGTERM and says what it ran.
    survivor.child.kill('SIGTERM');
    expect(await withTimeout('the surviving worker to stop', 15_000, survivor.exited)).toBe(0);
    expect(survivor.stdout.trim()).toMatch(/^worker stopped: 6 jobs \(6 completed, 0 pruned, 0 failed\) from redis:\/\/127\.0\.0\.1:\d+ \(ecoml-trials\)$/);
  }, 180_000);

  it("runs a study's trials even when another run store's study of the same id already ran on this queue", async () => {
    // Finished jobs stay in Redis for a week under their ids, and every fresh run store numbers its
    // first study 1: two coordinators (two machines, or a store started afresh) must not collide.
    const dir = await scratch('ecoml-tune-queue-ids-');
    const spec = await tunableSpec(dir);
    const queueName = 'ids';
    const worker = start(['worker', '--queue', redis.url, '--queue-name', queueName, '--store', join(dir, 'worker')]);
    await waitFor('the worker to start', 60_000, () => (worker.stderr.includes('worker: waiting for trials on') ? true : undefined));
    for (const [round, units] of [[1, 8], [2, 64]] as const) {
      // Each round's space holds one value only, so a stale result from the other round would show.
      const roundSpec = join(dir, `round-${round}.yaml`);
      await writeFile(roundSpec, (await readFile(spec, 'utf8')).replace('{ type: int, min: 8, max: 64, step: 8 }', `{ type: fixed, value: ${units} }`));
      const tune = start([
        ...['tune', roundSpec, '--queue', redis.url, '--queue-name', queueName, '--sampler', 'random', '--pruner', 'none', '--max-trials', '1'],
        ...['--epochs', '1', '--train-limit', '500', '--test-limit', '100', '--store', join(dir, `coordinator-${round}`), '--out', join(dir, `best-${round}`), '--json'],
      ]);
      const code = await withTimeout(`tune round ${round}`, 90_000, tune.exited);
      expect(code, tune.stderr).toBe(0);
      const report = JSON.parse(tune.stdout) as { study_id: number; trials: { number: number; state: string; values: Record<string, number> }[] };
      expect(report.study_id).toBe(1);
      expect(report.trials).toEqual([expect.objectContaining({ number: 0, state: 'completed', values: { units } })]);
      expect(startedJobs(worker.stderr)).toHaveLength(round);
    }
    const runs = trialRuns(join(dir, 'worker'));
    expect(runs.map((r) => [r.status, (r.params as { values?: unknown }).values]).reverse()).toEqual([
      ['completed', { units: 8 }],
      ['completed', { units: 64 }],
    ]);
    worker.child.kill('SIGTERM');
    expect(await withTimeout('the worker to stop', 15_000, worker.exited)).toBe(0);
  }, 180_000);
});

describe('the queue commands refuse bad queues with one line and their exit code', () => {
  it('worker without --queue is E_CONFIG_INVALID; tune and worker with nothing listening are E_QUEUE_UNAVAILABLE at once', async () => {
    const dir = await scratch('ecoml-tune-queue-errors-');
    const spec = await tunableSpec(dir);
    const nobody = `redis://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const [noQueue, tune, worker] = [
      start(['worker', '--store', join(dir, 'store-a')]),
      start(['tune', spec, '--queue', nobody, '--max-trials', '1', '--store', join(dir, 'store-b'), '--out', join(dir, 'best'), '--json']),
      start(['worker', '--queue', nobody, '--store', join(dir, 'store-c')]),
    ];
    const codes = await withTimeout('the three commands to exit', 60_000, Promise.all([noQueue.exited, tune.exited, worker.exited]));
    // Process start-up (tsx, tfjs) is most of it; a retried connection would take far longer.
    expect(Date.now() - started).toBeLessThan(45_000);

    expect(codes).toEqual([ERROR_CATALOGUE.E_CONFIG_INVALID.exitCode, ERROR_CATALOGUE.E_QUEUE_UNAVAILABLE.exitCode, ERROR_CATALOGUE.E_QUEUE_UNAVAILABLE.exitCode]);
    expect(codes).toEqual([2, 22, 22]);
    expect(noQueue.stderr).toBe('error E_CONFIG_INVALID: worker needs --queue redis://host:port (see --help)\n');
    const unreachable = /^error E_QUEUE_UNAVAILABLE: cannot reach the queue's Redis at 127\.0\.0\.1:\d+\/0: .*ECONNREFUSED.*\n$/;
    expect(tune.stderr).toMatch(unreachable);
    // It says it waits only once it is connected: here it never is.
    expect(worker.stderr).toMatch(/^error E_QUEUE_UNAVAILABLE: cannot reach the queue's Redis at 127\.0\.0\.1:\d+\/0: .*ECONNREFUSED.*\n$/);
    expect(JSON.parse(tune.stdout)).toMatchObject({ error: { code: 'E_QUEUE_UNAVAILABLE' } });

    // The tune run that could not reach its queue is recorded as failed, not left running.
    const store = openRunStore(join(dir, 'store-b'), { heartbeatIntervalMs: 0 });
    try {
      expect(store.listRuns({ kind: 'tune' }).map((r) => [r.status, (r.error as { code?: string } | null)?.code])).toEqual([['failed', 'E_QUEUE_UNAVAILABLE']]);
    } finally {
      store.close();
    }
  }, 90_000);
});
