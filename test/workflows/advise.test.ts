import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openWorkspace } from '../../src/index.js';
import { ADVISE_DEFAULTS, adviseFromSpec, defaultThreadsList, readAdvice, writeAdvice } from '../../src/workflows/advise.js';
import { tinySpec } from '../cli/helpers.js';

async function workspaceWithSpec() {
  const cwd = await mkdtemp(join(tmpdir(), 'ecoml-advise-'));
  return { cwd, spec: await tinySpec(cwd), ws: await openWorkspace({ cwd, env: {} }) };
}

describe('adviseFromSpec', () => {
  it('measures every batch size × thread setting, with the meter’s energy per sample, and records an advise run', async () => {
    const { cwd, spec, ws } = await workspaceWithSpec();
    try {
      const report = await adviseFromSpec(ws, { specPath: spec, batchSizes: [8, 32], threadsList: [1, 2], samples: 64, warmupSteps: 2, trainLimit: 128, testLimit: 32 });
      expect(report.settings.map((s) => [s.batchSize, s.threads])).toEqual([
        [8, 1],
        [32, 1],
        [8, 2],
        [32, 2],
      ]);
      for (const s of report.settings) {
        expect(s.samples).toBeGreaterThanOrEqual(64);
        expect(s.joules).toBeGreaterThan(0);
        expect(s.energyPerSample.low).toBeLessThanOrEqual(s.joules);
        expect(s.energyPerSample.high).toBeGreaterThanOrEqual(s.joules);
        expect(s.energyPerSample.components.every((c) => c.method === 'estimated' && c.model !== '')).toBe(true);
        expect(s.zeusCostJoules).toBeCloseTo(0.5 * s.joules + 0.5 * report.policy.maxPowerWatts * s.seconds, 12);
      }
      // The advice is one of the settings within the slowdown budget.
      const { advice, throughput } = report;
      expect(report.settings).toContainEqual(expect.objectContaining({ batchSize: advice.batchSize, threads: advice.threads }));
      expect(throughput.chosen.seconds).toBeLessThanOrEqual(throughput.fastest.seconds * ADVISE_DEFAULTS.maxSlowdown);
      const run = ws.store.getRun(report.runId);
      expect(run).toMatchObject({ kind: 'advise', status: 'completed', metrics: { batch_size: advice.batchSize, threads: advice.threads, settings: 4 } });

      const path = join(cwd, 'advice.json');
      await writeAdvice(path, report);
      expect(await readAdvice(path)).toEqual({ batchSize: advice.batchSize, threads: advice.threads });
    } finally {
      await ws.close();
    }
  });

  it('trains each batch size towards the target accuracy and reports energy- and time-to-accuracy', async () => {
    const { spec, ws } = await workspaceWithSpec();
    try {
      const report = await adviseFromSpec(ws, { specPath: spec, batchSizes: [16, 32], threadsList: [1], samples: 32, warmupSteps: 1, trainLimit: 128, testLimit: 32, target: { accuracy: 0.05, maxEpochs: 2 } });
      const runs = report.accuracy?.runs ?? [];
      expect(runs.map((r) => r.batchSize)).toEqual([16, 32]);
      for (const r of runs) {
        expect(r.epochs).toBeGreaterThanOrEqual(1);
        expect(r.epochs).toBeLessThanOrEqual(2);
        expect(r.joules).toBeGreaterThan(0);
        expect(r.reached).toBe(r.valAccuracy >= 0.05);
      }
      if (runs.some((r) => r.reached)) expect(report.advice.basis).toBe('accuracy');
      else expect(report.notes.join('\n')).toMatch(/no batch size reached/);
    } finally {
      await ws.close();
    }
  });

  it('refuses bad settings with E_CONFIG_INVALID before measuring', async () => {
    const { spec, ws } = await workspaceWithSpec();
    try {
      await expect(adviseFromSpec(ws, { specPath: spec, batchSizes: [0] })).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
      await expect(adviseFromSpec(ws, { specPath: spec, batchSizes: [256], trainLimit: 100 })).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
      await expect(adviseFromSpec(ws, { specPath: spec, maxSlowdown: 0.5 })).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
      await expect(adviseFromSpec(ws, { specPath: spec, threadsList: [1], batchSizes: [8], target: { accuracy: 2, maxEpochs: 1 } })).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
      expect(ws.store.listRuns({ kind: 'advise' })).toEqual([]);
    } finally {
      await ws.close();
    }
  });
});

describe('readAdvice', () => {
  it('refuses a file without integer batch_size and threads with E_DATA_MALFORMED, and a missing one with E_FILE_NOT_FOUND', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ecoml-advice-'));
    await writeFile(join(dir, 'bad.json'), JSON.stringify({ batch_size: 1.5, threads: 2 }));
    await writeFile(join(dir, 'text.json'), 'not json');
    await expect(readAdvice(join(dir, 'bad.json'))).rejects.toMatchObject({ code: 'E_DATA_MALFORMED' });
    await expect(readAdvice(join(dir, 'text.json'))).rejects.toMatchObject({ code: 'E_DATA_MALFORMED' });
    await expect(readAdvice(join(dir, 'missing.json'))).rejects.toMatchObject({ code: 'E_FILE_NOT_FOUND' });
  });
});

describe('defaultThreadsList', () => {
  it('is the powers of two below the core count, then the count', () => {
    expect(defaultThreadsList(1)).toEqual([1]);
    expect(defaultThreadsList(6)).toEqual([1, 2, 4, 6]);
    expect(defaultThreadsList(8)).toEqual([1, 2, 4, 8]);
  });
});
