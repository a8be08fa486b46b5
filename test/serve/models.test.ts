import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { affineOnnx, externalDataOnnx, writeOnnx } from './models.js';
import { startTestServer, writeConfig, type TestServer } from './harness.js';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(...args: Parameters<typeof startTestServer>): Promise<TestServer> {
  const t = await startTestServer(...args);
  servers.push(t);
  return t;
}

const infer = (t: TestServer, model = 'affine', version?: number) =>
  t.request('POST', `/v2/models/${model}${version !== undefined ? `/versions/${version}` : ''}/infer`, { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 1, 1] }] });

const statuses = (t: TestServer, model = 'affine') => t.server.models.describe(model).map((v) => [v.version, v.status]);

describe('model versions over time', () => {
  it('swaps a new version in under load with no failed request, then unloads the old one', async () => {
    const t = await start(async (repo) => writeOnnx(join(repo, 'affine', '1'), affineOnnx(3, 2, 1)), { serve: { pollIntervalS: 0.1 } });
    const seen: string[] = [];
    const failures: string[] = [];
    // Requests are numbered as they are sent; the number sent when version 2 first answered marks the swap.
    let sent = 0;
    let sentAtSwap: number | undefined;
    const late: { sequence: number; version: string }[] = [];
    let stop = false;
    const client = async () => {
      while (!stop) {
        const sequence = ++sent;
        const r = await infer(t);
        if (r.status !== 200) failures.push(`${r.status} ${r.body}`);
        else {
          const body = r.json<{ model_version: string; outputs: { data: number[] }[] }>();
          // Version 1 computes 2x + 1, version 2 computes 3x + 1: each answer matches its version.
          expect(body.outputs[0]?.data).toEqual(body.model_version === '1' ? [3, 3, 3] : [4, 4, 4]);
          seen.push(body.model_version);
          if (body.model_version === '2') sentAtSwap ??= sent;
          if (sentAtSwap !== undefined && sequence > sentAtSwap) late.push({ sequence, version: body.model_version });
        }
      }
    };
    const load = [client(), client(), client(), client()];
    await vi.waitFor(() => expect(seen.length).toBeGreaterThan(20), { timeout: 10_000, interval: 10 });
    await writeOnnx(join(t.repo, 'affine', '2'), affineOnnx(3, 3, 1));
    await vi.waitFor(() => expect(sentAtSwap).toBeDefined(), { timeout: 20_000, interval: 20 });
    await vi.waitFor(() => expect(late.length).toBeGreaterThan(20), { timeout: 10_000, interval: 10 });
    stop = true;
    await Promise.all(load);
    expect(failures).toEqual([]);
    expect(seen).toContain('1');
    // Once version 2 has answered, every request sent after that is answered by version 2.
    expect(late.filter((r) => r.version !== '2')).toEqual([]);
    await vi.waitFor(() => expect(statuses(t)).toEqual([[2, 'ready']]), { timeout: 10_000, interval: 20 });
    expect((await infer(t, 'affine', 1)).status).toBe(404);
  });

  it('keeps serving the current version while a new one fails to load, and loads it once its files are fixed', async () => {
    const t = await start(async (repo) => writeOnnx(join(repo, 'affine', '1'), affineOnnx(3, 2, 1)), { serve: { pollIntervalS: 0.1 } });
    await writeOnnx(join(t.repo, 'affine', '2'), Buffer.from('half-written'));
    await vi.waitFor(() => expect(statuses(t)).toEqual([[2, 'failed'], [1, 'ready']]), { timeout: 10_000, interval: 20 });
    expect(t.server.models.describe('affine')[0]?.reason).toMatch(/ONNX Runtime cannot load it/);
    await expect(infer(t).then((r) => r.json<{ model_version: string }>().model_version)).resolves.toBe('1');
    await writeOnnx(join(t.repo, 'affine', '2'), affineOnnx(3, 3, 1));
    await vi.waitFor(() => expect(statuses(t)).toEqual([[2, 'ready']]), { timeout: 10_000, interval: 20 });
    expect((await infer(t)).json<{ outputs: { data: number[] }[] }>().outputs[0]?.data).toEqual([4, 4, 4]);
  });

  it('stops serving a version whose directory is removed, and falls back to the one before under latest(2)', async () => {
    const t = await start(
      async (repo) => {
        await writeOnnx(join(repo, 'affine', '1'), affineOnnx(3, 2, 1));
        await writeOnnx(join(repo, 'affine', '2'), affineOnnx(3, 3, 1));
        await writeConfig(repo, 'affine', { version_policy: { latest: { num_versions: 2 } } });
      },
      { serve: { pollIntervalS: 0.1 } },
    );
    expect(statuses(t)).toEqual([[2, 'ready'], [1, 'ready']]);
    await rm(join(t.repo, 'affine', '2'), { recursive: true });
    await vi.waitFor(() => expect(statuses(t)).toEqual([[1, 'ready']]), { timeout: 10_000, interval: 20 });
    expect((await infer(t)).json<{ model_version: string }>().model_version).toBe('1');
    expect((await infer(t, 'affine', 2)).status).toBe(404);
  });

  it('unloads a model after its idle timeout and reloads it on the next request, counting the cold start', async () => {
    const t = await start(undefined, { defaults: { idleTimeoutS: 0.2 }, serve: { pollIntervalS: 0.1 } });
    expect((await infer(t)).status).toBe(200);
    await vi.waitFor(() => expect(statuses(t)).toEqual([[1, 'idle']]), { timeout: 10_000, interval: 20 });
    expect(t.server.models.describe('affine')[0]).toMatchObject({ instances: 0, memoryBytes: 0 });
    // Still ready to the protocols: it answers, after a load.
    expect((await t.request('GET', '/v2/models/affine/ready')).status).toBe(200);
    const r = await infer(t);
    expect(r.status).toBe(200);
    expect(r.json<{ outputs: { data: number[] }[] }>().outputs[0]?.data).toEqual([3, 3, 3]);
    expect(statuses(t)).toEqual([[1, 'ready']]);
    const metrics = (await t.request('GET', '/metrics')).body;
    expect(metrics).toMatch(/^ecoml_serve_cold_start_seconds_count\{model="affine",version="1"\} 1$/m);
    expect(metrics).toMatch(/^ecoml_serve_model_state\{model="affine",version="1",state="ready"\} 1$/m);
  });

  it('unloads the least recently used model to fit the memory budget, and reloads it when asked', async () => {
    const t = await start(
      async (repo) => {
        await externalDataOnnx(join(repo, 'a', '1'), 100_000, 1);
        await externalDataOnnx(join(repo, 'b', '1'), 100_000, 2);
        await writeConfig(repo, 'a', { max_batch_size: 0 });
      },
      { defaults: { maxMemoryBytes: 600_000 } },
    );
    const ones = new Array(100_000).fill(1);
    const run = (m: string) => t.request('POST', `/v2/models/${m}/infer`, { inputs: [{ name: 'x', shape: [1, 100_000], datatype: 'FP32', data: ones }] });
    // Both load at start only if they fit: one of them was pushed out.
    const held = () => t.server.models.all().filter((v) => v.instances > 0).map((v) => v.model);
    expect(held()).toHaveLength(1);
    expect((await run('a')).json<{ outputs: { data: number[] }[] }>().outputs[0]?.data).toEqual([100_000]);
    expect(held()).toEqual(['a']);
    const b = await run('b');
    expect(b.json<{ outputs: { data: number[] }[] }>().outputs[0]?.data).toEqual([200_000]);
    expect(held()).toEqual(['b']);
    expect(t.server.models.memoryBytes()).toBeLessThanOrEqual(600_000);
    expect(statuses(t, 'a')).toEqual([[1, 'idle']]);
  });

  it('refuses a model larger than the whole budget with E_OVERLOADED and a failed version', async () => {
    const t = await start(async (repo) => void (await externalDataOnnx(join(repo, 'big', '1'), 100_000, 1)), { defaults: { maxMemoryBytes: 1000 } });
    expect(statuses(t, 'big')).toEqual([[1, 'failed']]);
    expect(t.server.models.describe('big')[0]?.reason).toMatch(/more than the whole memory budget/);
    const r = await t.request('POST', '/v2/models/big/infer', { inputs: [{ name: 'x', shape: [1, 100_000], datatype: 'FP32', data: new Array(100_000).fill(1) }] });
    expect(r.status).toBe(503);
  });

  it('runs a model on as many instances as its config asks', async () => {
    const t = await start(async (repo) => {
      await writeOnnx(join(repo, 'affine', '1'), affineOnnx(3, 2, 1));
      await writeFile(join(repo, 'affine', 'config.pbtxt'), 'instance_group [ { count: 2 kind: KIND_CPU } ]\n');
    });
    expect(t.server.models.describe('affine')[0]).toMatchObject({ instances: 2, status: 'ready' });
    const answers = await Promise.all(Array.from({ length: 10 }, () => infer(t)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
  });
});
