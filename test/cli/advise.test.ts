import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readAdvice } from '../../src/workflows/advise.js';
import { cli, tempDir, tinySpec } from './helpers.js';

const SMALL = ['--batch-sizes', '8,32', '--threads-list', '1,2', '--samples', '64', '--warmup-steps', '1', '--train-limit', '128', '--test-limit', '32'];

describe('ecoml advise', () => {
  it('reports every setting with its energy per sample and method, writes the advice, and records the run', async () => {
    const cwd = await tempDir();
    const spec = await tinySpec(cwd);
    const run = await cli(['advise', spec, ...SMALL, '--max-slowdown', '2', '--out', 'advice.json', '--json'], cwd);
    expect(run.code, run.stderr).toBe(0);
    const result = run.json<{
      run_id: string;
      settings: { batch_size: number; threads: number; j_per_sample: number; method: string; energy_model: string; within_slowdown: boolean }[];
      advice: { batch_size: number; threads: number; method: string };
      max_slowdown: number;
      max_power_watts: number;
    }>();
    expect(result.settings.map((s) => `${s.batch_size}/${s.threads}`)).toEqual(['8/1', '32/1', '8/2', '32/2']);
    expect(result.settings.every((s) => s.method === 'estimated' && s.energy_model.includes('cpu:') && s.j_per_sample > 0)).toBe(true);
    expect(result.max_slowdown).toBe(2);
    expect(result.max_power_watts).toBeGreaterThan(0);
    const advised = result.settings.find((s) => s.batch_size === result.advice.batch_size && s.threads === result.advice.threads);
    expect(advised?.within_slowdown).toBe(true);

    const file = JSON.parse(await readFile(join(cwd, 'advice.json'), 'utf8')) as Record<string, unknown>;
    expect(file).toMatchObject({ batch_size: result.advice.batch_size, threads: result.advice.threads, method: 'estimated', run_id: result.run_id });
    expect(await readAdvice(join(cwd, 'advice.json'))).toEqual({ batchSize: result.advice.batch_size, threads: result.advice.threads });

    const listed = (await cli(['runs', '--kind', 'advise', '--json'], cwd)).json<{ runs: { id: string; status: string }[] }>().runs;
    expect(listed).toEqual([expect.objectContaining({ id: result.run_id, status: 'completed' })]);
  });

  it('prints a table naming the advice in text mode', async () => {
    const cwd = await tempDir();
    const spec = await tinySpec(cwd);
    const run = await cli(['advise', spec, '--batch-sizes', '16', '--threads-list', '1', '--samples', '32', '--train-limit', '64', '--test-limit', '16'], cwd);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/advice \(throughput\): batch size 16, 1 thread: .* per sample \(estimated\)/);
    expect(run.stderr).toMatch(/batch {3}16 {2}threads {2}1 .* per sample/);
  });

  it('has --help', async () => {
    const run = await cli(['advise', '--help'], await tempDir());
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('--max-slowdown');
    expect(run.stdout).toContain('--target-accuracy');
  });

  it.each([
    [['--batch-sizes', '8,x']],
    [['--batch-sizes', '0']],
    [['--threads-list', '']],
    [['--max-slowdown', '0.5']],
    [['--eta', '2']],
    [['--objective', 'speed']],
    [['--target-accuracy', '0.9']],
    [['--max-epochs', '3']],
    [['--target-accuracy', '1.5', '--max-epochs', '2']],
  ])('refuses %j with a config error (exit 2) before measuring', async (flags) => {
    const cwd = await tempDir();
    const spec = await tinySpec(cwd);
    const run = await cli(['advise', spec, ...flags, '--json'], cwd);
    expect(run.code).toBe(2);
    expect(['E_CONFIG_INVALID', 'E_UNKNOWN_NAME']).toContain(run.json<{ error: { code: string } }>().error.code);
  });
});
