import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { EcomlError } from '../../src/errors.js';
import { openWorkspace, trainFromSpec } from '../../src/index.js';
import type { Measurement } from '../../src/meter/index.js';
import { cli, tempDir } from '../cli/helpers.js';

const RECIPE = fileURLToPath(new URL('../../examples/mnist-cnn.yaml', import.meta.url));

describe('an interrupted train run', () => {
  it('keeps the energy it spent (its metered epoch included), so `runs` shows it instead of -', async () => {
    const cwd = await tempDir('ecoml-train-');
    const ws = await openWorkspace({ cwd, env: {} });
    const controller = new AbortController();
    let epochJoules = 0;
    const error = await trainFromSpec(ws, {
      specPath: RECIPE,
      trainLimit: 200,
      testLimit: 100,
      epochs: 3,
      signal: controller.signal,
      // As SIGINT does in the CLI: the signal is checked at the next batch.
      onEpochEnd: (record) => {
        epochJoules = record.measurement?.energy.joules ?? Number.NaN;
        controller.abort();
      },
    })
      .catch((e: unknown) => e as EcomlError)
      .finally(() => ws.close());
    expect(error).toMatchObject({ code: 'E_INTERRUPTED' });

    const listed = await cli(['runs', '--json'], cwd);
    const [run] = listed.json<{ runs: { status: string; measurement: Measurement | null; parts: { status: string }[] }[] }>().runs;
    expect(run?.status).toBe('failed');
    expect(run?.parts.map((p) => p.status)).toEqual(['failed']);
    expect(epochJoules).toBeGreaterThan(0);
    expect(run?.measurement?.energy.joules).toBeGreaterThanOrEqual(epochJoules);
    expect((await cli(['runs'], cwd)).stdout).toMatch(/ train +failed +mnist-cnn +\S+ +\d[\d.]* m?J /);
  });
});
