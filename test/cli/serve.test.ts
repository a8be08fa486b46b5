import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { affineOnnx, writeOnnx } from '../serve/models.js';
import { REPO_ROOT, cli, cliProcessArgs, tempDir } from './helpers.js';

const RECIPE = fileURLToPath(new URL('../../examples/mnist-cnn.yaml', import.meta.url));

/** Resolves with the server's address once it logs that it is serving; fails if it exits first. */
function serving(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const match = /"address":"(http:\/\/[^"]+)"/.exec(text);
      if (match) resolve(match[1] as string);
    });
    child.once('exit', (code) => reject(new Error(`ecoml serve exited (${code}) before serving:\n${text}`)));
  });
}

/** A port nothing listens on: one the system gave out and took back. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const inferBody = (value: number) => JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [value, value, value] }] });

describe('ecoml serve: flags', () => {
  it.each([
    [['serve'], /^error E_CONFIG_INVALID: give either --model-repository DIR or one MODEL_DIR/],
    [['serve', 'a', '--model-repository', 'b'], /^error E_CONFIG_INVALID: give either/],
    [['serve', 'a', '--batching', 'maybe'], /^error E_CONFIG_INVALID: --batching must be on or off, got "maybe"/],
    [['serve', 'a', '--port', '-1'], /^error E_CONFIG_INVALID: --port must be ≥ 0, got "-1"/],
    [['serve', 'a', '--max-memory', 'lots'], /^error E_CONFIG_INVALID: --max-memory must be a size such as 512M, 2G/],
    [['serve', 'a', '--log-level', 'chatty'], /^error E_CONFIG_INVALID: --log-level must be one of/],
    [['serve', '--model-repository', '/nonexistent/repo'], /^error E_FILE_NOT_FOUND: cannot read the model repository \/nonexistent\/repo/],
  ])('%j is one coded line', async (argv, message) => {
    const cwd = await tempDir();
    const r = await cli([...argv, '--store', join(cwd, 'store')], cwd);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('--help lists the serving options', async () => {
    const r = await cli(['serve', '--help'], await tempDir());
    expect(r.code).toBe(0);
    for (const flag of ['--model-repository', '--max-batch-size', '--max-queue-delay', '--idle-unload', '--max-memory', '--auth-token', '--max-body-size']) expect(r.stdout).toContain(flag);
  });
});

describe('ecoml serve: SIGTERM drains', () => {
  it('answers every request it accepted (even ones waiting to fill a batch), then exits 0 and records the session', { timeout: 120_000 }, async () => {
    const cwd = await tempDir();
    const repo = join(cwd, 'repo');
    await writeOnnx(join(repo, 'affine', '1'), affineOnnx(3, 2, 1));
    // A long queue delay holds requests back to fill a batch: only the drain sends them early.
    await writeFile(join(repo, 'affine', 'config.json'), JSON.stringify({ max_batch_size: 64, dynamic_batching: { max_queue_delay_microseconds: 60_000_000 } }));
    const store = join(cwd, 'store');
    const child = spawn(process.execPath, cliProcessArgs(['serve', '--model-repository', repo, '--port', '0', '--store', store, '--json']), { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const url = await serving(child);
      const answers = Array.from({ length: 5 }, (_, i) => fetch(`${url}/v2/models/affine/infer`, { method: 'POST', body: inferBody(i) }).then(async (r) => ({ status: r.status, body: (await r.json()) as { outputs: { data: number[] }[] } })));
      // Every request has reached the queue (the server counts it as pending) before the signal.
      await new Promise((r) => setTimeout(r, 500));
      child.kill('SIGTERM');
      const results = await Promise.all(answers);
      expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      expect(results.map((r) => r.body.outputs[0]?.data)).toEqual([0, 1, 2, 3, 4].map((i) => [2 * i + 1, 2 * i + 1, 2 * i + 1]));
      expect(await exited).toBe(0);
      await expect(fetch(`${url}/v2/health/live`)).rejects.toThrow();
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const summary = JSON.parse(stdout) as { run_id: string; requests: number; energy: { joules: number; components: { method: string }[] } };
    expect(summary.requests).toBe(5);
    expect(summary.energy.joules).toBeGreaterThan(0);
    expect(summary.energy.components.every((c) => c.method === 'estimated')).toBe(true);
    const shown = await cli(['runs', 'show', summary.run_id, '--store', store, '--json'], cwd);
    const json = shown.json<{ run: { kind: string; status: string }; serving: { models: { model: string; requests: number; inferences: number; joules: number }[]; requests: number } }>();
    expect(json.run).toMatchObject({ kind: 'serve', status: 'completed' });
    expect(json.serving.requests).toBe(5);
    expect(json.serving.models).toEqual([expect.objectContaining({ model: 'affine', requests: 5, inferences: 5 })]);
    expect(json.serving.models[0]?.joules).toBeGreaterThan(0);
  });
});

describe('predict --server against ecoml serve', () => {
  let child: ChildProcess;
  let url: string;
  let cwd: string;
  let digits: string;
  beforeAll(async () => {
    cwd = await tempDir();
    const trained = await cli(['train', RECIPE, '--epochs', '1', '--train-limit', '1000', '--test-limit', '100', '--out', join(cwd, 'repo', 'mnist', '1'), '--store', join(cwd, 'store'), '--json'], cwd);
    expect(trained.code, trained.stderr).toBe(0);
    digits = join(cwd, 'digits.json');
    // Three MNIST-shaped samples of raw pixel values, as predict reads them.
    await writeFile(digits, JSON.stringify([0, 1, 2].map((i) => Array.from({ length: 784 }, (_, p) => ((p * 7 + i * 31) % 256) * (p % 3 === 0 ? 1 : 0)))));
    child = spawn(process.execPath, cliProcessArgs(['serve', '--model-repository', join(cwd, 'repo'), '--port', '0', '--store', join(cwd, 'store')]), { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    url = await serving(child);
  }, 180_000);
  afterAll(async () => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  });

  it('gives the same predictions as local predict, over v2 JSON, v2 binary and TF Serving, with the energy the server reported', async () => {
    const local = (await cli(['predict', join(cwd, 'repo', 'mnist', '1'), digits, '--store', join(cwd, 'store'), '--json'], cwd)).json<{ predictions: { class: number; probabilities: number[] }[] }>();
    for (const flags of [[], ['--binary'], ['--protocol', 'tfserving']]) {
      const r = await cli(['predict', '--server', url, '--model', 'mnist', digits, ...flags, '--json'], cwd);
      expect(r.code, r.stderr).toBe(0);
      const remote = r.json<{ source: string; n: number; predictions: { class: number; probabilities: number[] }[]; server_energy: { joules: number; joules_low: number; joules_high: number; method: string; requests: number } }>();
      expect(remote.source).toBe('server');
      expect(remote.predictions.map((p) => p.class)).toEqual(local.predictions.map((p) => p.class));
      remote.predictions.forEach((p, i) => p.probabilities.forEach((v, c) => expect(v).toBeCloseTo(local.predictions[i]?.probabilities[c] as number, 5)));
      expect(remote.server_energy).toMatchObject({ method: 'estimated', requests: 1 });
      expect(remote.server_energy.joules_low).toBeLessThanOrEqual(remote.server_energy.joules);
      expect(remote.server_energy.joules).toBeLessThanOrEqual(remote.server_energy.joules_high);
    }
  });

  it('splits the input into requests of --batch-size samples', async () => {
    const r = await cli(['predict', '--server', url, '--model', 'mnist', digits, '--batch-size', '2', '--json'], cwd);
    expect(r.json<{ n: number; server_energy: { requests: number } }>()).toMatchObject({ n: 3, server_energy: { requests: 2 } });
  });

  it('fails with one coded line for an unknown model, an unreachable server and a bad protocol', async () => {
    const unknown = await cli(['predict', '--server', url, '--model', 'nope', digits], cwd);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toMatch(/^error E_MODEL_NOT_FOUND: 404 from \/v2\/models\/nope: model "nope" is not in the repository\n$/);
    const closed = await closedPort();
    const unreachable = await cli(['predict', '--server', `http://127.0.0.1:${closed}`, '--model', 'mnist', digits], cwd);
    expect(unreachable.code).toBe(20);
    expect(unreachable.stderr).toBe(`error E_SERVER_UNREACHABLE: cannot reach http://127.0.0.1:${closed}/v2/models/mnist: ECONNREFUSED\n`);
    const protocol = await cli(['predict', '--server', url, '--model', 'mnist', digits, '--protocol', 'grpc'], cwd);
    expect(protocol.stderr).toMatch(/^error E_CONFIG_INVALID: --protocol must be v2 or tfserving, got "grpc"\n$/);
    const binary = await cli(['predict', '--server', url, '--model', 'mnist', digits, '--protocol', 'tfserving', '--binary'], cwd);
    expect(binary.stderr).toMatch(/^error E_CONFIG_INVALID: --binary is part of the Open Inference Protocol/);
  });
});
