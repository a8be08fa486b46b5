import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWorkspace, quickstart, type Workspace } from '../../src/index.js';
import { tempDir } from '../cli/helpers.js';

describe('quickstart workflow (tiny sizes)', () => {
  let ws: Workspace;
  let cwd: string;
  beforeAll(async () => {
    cwd = await tempDir('ecoml-qs-');
    ws = await openWorkspace({ cwd, env: {} });
  });
  afterAll(async () => ws.close());

  it('trains, tunes, saves, reloads and predicts identically, metering each step, without leaking tensors', async () => {
    const before = ws.engine.liveTensors();
    const report = await quickstart(ws, {
      sizes: { trainLimit: 300, testLimit: 200, epochs: 1, tune: { trials: 3, executions: 2, epochs: 1, trainLimit: 64, testLimit: 64 } },
      seed: 3,
    });
    expect(ws.engine.liveTensors()).toBe(before);
    expect(report.steps.map(([name]) => name)).toEqual(['train', 'evaluate', 'tune', 'save', 'load', 'predict']);
    expect(report.reload_identical).toBe(true);
    expect(report.metrics.reloaded_test_accuracy).toBeCloseTo(report.metrics.test_accuracy ?? -1, 6);
    expect(report.tune.trials).toHaveLength(3);
    for (const t of report.tune.trials) {
      expect(t.state).toBe('completed');
      expect(t.joules).toBeGreaterThan(0);
      expect(t.values.filters).toBeGreaterThanOrEqual(32);
      expect((t.values.filters as number) % 32).toBe(0);
    }
    expect(existsSync(join(report.model_dir, 'ecoml.json'))).toBe(true);
    expect(report.best_model_dir && existsSync(join(report.best_model_dir, 'model.json'))).toBe(true);
    const stepJoules = report.steps.reduce((sum, [, m]) => sum + m.energy.joules, 0);
    expect(report.total.energy.joules).toBeCloseTo(stepJoules, 9);
    // Every trial execution is a child run of the study, with its epochs.
    const study = ws.store.getRun(report.tune.run_id);
    expect(study.kind).toBe('tune');
    const children = ws.store.listRuns({ parentId: study.id });
    expect(children).toHaveLength(6);
    for (const child of children) expect(ws.store.epochs(child.id)).toHaveLength(1);
  });
});
