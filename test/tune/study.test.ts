import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import type { HpValue } from '../../src/models/spec.js';
import { openRunStore } from '../../src/store/index.js';
import { NopPruner } from '../../src/tune/pruners/nop.js';
import type { Sampler } from '../../src/tune/sampler.js';
import { RandomSampler } from '../../src/tune/samplers/random.js';
import { createSearchSpace } from '../../src/tune/space.js';
import type { SearchSpace } from '../../src/tune/space.js';
import { MemoryStudyStorage } from '../../src/tune/storage/memory.js';
import { SqliteStudyStorage } from '../../src/tune/storage/sqlite.js';
import { MAX_COLLISIONS, formatResultsSummary, runStudy } from '../../src/tune/study.js';
import type { RunTrial, StudyOptions } from '../../src/tune/study.js';
import { deriveSeed } from '../../src/tune/trial.js';
import type { FrozenTrial } from '../../src/tune/trial.js';
import { ThresholdPruner } from './threshold-pruner.js';

const SPACE = createSearchSpace({ units: { type: 'int', min: 16, max: 256, step: 16 }, lr: { type: 'float', min: 1e-4, max: 1e-1, sampling: 'log' } });

/** A fake training: val_accuracy rises with units, so the study has a clear best. */
const fakeTraining: RunTrial = async ({ values }) => {
  const units = values['units'] as number;
  return { metricsByEpoch: [0.5, 0.8, 1].map((f) => ({ val_accuracy: (f * units) / 256, loss: 1 / units })) };
};

function options(overrides: Partial<StudyOptions> = {}): StudyOptions {
  return {
    name: 'test-study',
    space: SPACE,
    sampler: new RandomSampler({ seed: 42 }),
    pruner: new NopPruner(),
    storage: new MemoryStudyStorage(),
    objective: { name: 'val_accuracy', direction: 'max' },
    maxTrials: 5,
    seed: 42,
    runTrial: fakeTraining,
    ...overrides,
  };
}

/** Wraps a sampler to count its draws and keep the history it was shown. */
function counting(inner: Sampler) {
  const seen: (readonly FrozenTrial[])[] = [];
  let draws = 0;
  const sampler: Sampler = {
    name: inner.name,
    sample(space: SearchSpace, history: readonly FrozenTrial[]) {
      draws++;
      seen.push(history);
      return inner.sample(space, history);
    },
  };
  return { sampler, seen, draws: () => draws };
}

describe('runStudy', () => {
  it('runs maxTrials trials and returns the best for the direction', async () => {
    const result = await runStudy(options());
    expect(result.status).toBe('completed');
    expect(result.trials).toHaveLength(5);
    expect(result.trials.every((t) => t.state === 'completed')).toBe(true);
    const maxUnits = Math.max(...result.trials.map((t) => t.values['units'] as number));
    expect(result.best?.values['units']).toBe(maxUnits);
    expect(result.best?.score).toBe(maxUnits / 256);
    expect(result.best?.bestEpoch).toBe(2);

    const minimising = await runStudy(options({ objective: { name: 'loss', direction: 'min' } }));
    expect(minimising.best?.values['units']).toBe(maxUnits);
  });

  it('is reproducible: same seeds, same trials', async () => {
    const values = async () => (await runStudy(options({ sampler: new RandomSampler({ seed: 9 }) }))).trials.map((t) => t.values);
    expect(await values()).toEqual(await values());
  });

  it('stops as exhausted once a tiny space has no new values (one boolean: 2 trials)', async () => {
    const { sampler, draws } = counting(new RandomSampler({ seed: 1 }));
    let drawsForTwoTrials = 0;
    const result = await runStudy(
      options({
        space: createSearchSpace({ flag: { type: 'boolean' } }),
        sampler,
        maxTrials: 10,
        runTrial: async () => ({ metricsByEpoch: [{ val_accuracy: 0.5 }] }),
        onTrialEnd: (trial) => {
          if (trial.number === 1) drawsForTwoTrials = draws();
        },
      }),
    );
    expect(result.status).toBe('exhausted');
    expect(result.trials.map((t) => t.values['flag']).sort()).toEqual([false, true]);
    // As Keras Tuner: one draw for the third trial plus MAX_COLLISIONS retries, all duplicates.
    expect(draws() - drawsForTwoTrials).toBe(1 + MAX_COLLISIONS);
  });

  it('retries duplicate proposals up to 20 times, then gives up', async () => {
    const fixed: Sampler = { name: 'fixed', sample: () => ({ units: 16 }) };
    const { sampler, draws } = counting(fixed);
    const storage = new MemoryStudyStorage();
    const result = await runStudy(options({ sampler, storage }));
    expect(result.status).toBe('exhausted');
    expect(result.trials).toHaveLength(1);
    expect(draws()).toBe(1 + MAX_COLLISIONS + 1);
    expect(storage.getStudy(result.studyId).status).toBe('exhausted');
  });

  it('averages the curves for display and scores like Keras Tuner: the mean of each execution’s best', async () => {
    const curves = [
      [{ val_loss: 1.0 }, { val_loss: 0.4 }, { val_loss: 0.6 }],
      [{ val_loss: 0.8 }, { val_loss: 0.6 }, { val_loss: 0.2 }],
    ];
    const contexts: { execution: number; seed: number; trialNumber: number }[] = [];
    const result = await runStudy(
      options({
        maxTrials: 1,
        executionsPerTrial: 2,
        seed: 5,
        objective: { name: 'val_loss', direction: 'min' },
        runTrial: async ({ execution, seed, trialNumber }) => {
          contexts.push({ execution, seed, trialNumber });
          return { metricsByEpoch: curves[execution] ?? [], extra: { execution } };
        },
      }),
    );
    const [trial] = result.trials;
    expect(trial?.metrics.map((m) => m['val_loss'])).toEqual([0.9, 0.5, 0.4]);
    // Keras Tuner's convert_to_metrics_dict: execution bests 0.4 (epoch 1) and 0.2 (epoch 2) average to 0.3, epochs to 1.5 → 2.
    expect(trial?.score).toBeCloseTo(0.3, 12);
    expect(trial?.bestEpoch).toBe(2);
    expect(trial?.executions.map((e) => e.extra)).toEqual([{ execution: 0 }, { execution: 1 }]);
    expect(contexts).toEqual([
      { execution: 0, seed: deriveSeed(5, 0, 0), trialNumber: 0 },
      { execution: 1, seed: deriveSeed(5, 0, 1), trialNumber: 0 },
    ]);
    expect(trial?.executions.map((e) => e.seed)).toEqual([deriveSeed(5, 0, 0), deriveSeed(5, 0, 1)]);
    expect(trial?.durationS).toBeGreaterThanOrEqual(0);
  });

  it('records a throwing trial as failed and carries on', async () => {
    const result = await runStudy(
      options({
        runTrial: async (ctx) => {
          if (ctx.trialNumber === 1) throw new Error('out of memory');
          return fakeTraining(ctx);
        },
      }),
    );
    expect(result.status).toBe('completed');
    expect(result.trials.map((t) => t.state)).toEqual(['completed', 'failed', 'completed', 'completed', 'completed']);
    expect(result.trials[1]?.error).toBe('out of memory');
    expect(result.trials[1]?.score).toBeUndefined();
    expect(result.best?.state).toBe('completed');
  });

  it('fails the study with the last error after 3 consecutive failed trials', async () => {
    const storage = new MemoryStudyStorage();
    let calls = 0;
    const attempt = runStudy(
      options({
        storage,
        maxTrials: 10,
        runTrial: async () => {
          calls++;
          throw new EcomlError('E_ENGINE_FAILED', `engine crashed (${calls})`);
        },
      }),
    );
    await expect(attempt).rejects.toMatchObject({ code: 'E_ENGINE_FAILED', message: 'engine crashed (3)' });
    expect(calls).toBe(3);
    expect(storage.getStudy(1).status).toBe('failed');
    expect(storage.getTrials(1).map((t) => t.state)).toEqual(['failed', 'failed', 'failed']);
  });

  it('a success resets the consecutive-failure count', async () => {
    const failing = new Set([0, 1, 3, 4, 6]);
    const result = await runStudy(
      options({
        maxTrials: 8,
        runTrial: async (ctx) => {
          if (failing.has(ctx.trialNumber)) throw new Error('flaky');
          return fakeTraining(ctx);
        },
      }),
    );
    expect(result.trials.map((t) => t.state === 'failed')).toEqual([true, true, false, true, true, false, true, false]);
  });

  it('prunes through report(): the trial stops, is recorded as pruned, and the study goes on', async () => {
    const epochsRun: number[] = [];
    const result = await runStudy(
      options({
        pruner: new ThresholdPruner(0.3),
        runTrial: async ({ values, report, trialNumber }) => {
          const units = values['units'] as number;
          const metricsByEpoch = [];
          for (let epoch = 0; epoch < 3; epoch++) {
            const metrics = { val_accuracy: ((epoch + 1) * units) / 768 };
            report(epoch, metrics);
            epochsRun[trialNumber] = epoch + 1;
            metricsByEpoch.push(metrics);
          }
          return { metricsByEpoch };
        },
      }),
    );
    const pruned = result.trials.filter((t) => t.state === 'pruned');
    const completed = result.trials.filter((t) => t.state === 'completed');
    expect(pruned.length).toBeGreaterThan(0);
    expect(completed.length).toBeGreaterThan(0);
    for (const trial of pruned) {
      const last = trial.intermediateValues.at(-1);
      expect(last?.value).toBeLessThan(0.3);
      expect(epochsRun[trial.number] ?? 0).toBe(last?.step);
      expect(trial.score).toBeUndefined();
      expect(trial.error).toBeUndefined();
    }
    for (const trial of completed) expect(trial.intermediateValues.map((v) => v.step)).toEqual([0, 1, 2]);
  });

  it('fails a trial whose metrics lack the objective, naming what it found', async () => {
    const result = await runStudy(options({ maxTrials: 1, runTrial: async () => ({ metricsByEpoch: [{ accuracy: 0.9 }] }) }));
    expect(result.trials[0]?.state).toBe('failed');
    expect(result.trials[0]?.error).toBe('the objective "val_accuracy" is missing from every epoch of an execution; found: accuracy');
    const reported = await runStudy(
      options({
        maxTrials: 1,
        runTrial: async ({ report }) => {
          report(0, { loss: 1 });
          return { metricsByEpoch: [] };
        },
      }),
    );
    expect(reported.trials[0]?.error).toMatch(/missing from the metrics reported at step 0; found: loss/);
  });

  it('stores what the meter measured as the trial energy; a failing meter fails the trial', async () => {
    const result = await runStudy(
      options({
        maxTrials: 2,
        meter: async (trialNumber, work) => {
          if (trialNumber === 1) throw new Error('RAPL unreadable');
          await work();
          return { label: `trial ${trialNumber}`, joules: 42 };
        },
      }),
    );
    expect(result.trials[0]?.energy).toEqual({ label: 'trial 0', joules: 42 });
    expect(result.trials[0]?.state).toBe('completed');
    expect(result.trials[1]).toMatchObject({ state: 'failed', error: 'RAPL unreadable' });

    const lazy = await runStudy(options({ maxTrials: 1, meter: async () => ({}) }));
    expect(lazy.trials[0]?.error).toMatch(/meter returned without running trial 0/);
  });

  it('shows plug-ins frozen snapshots: history, afterTrial and onTrialEnd', async () => {
    const { sampler, seen } = counting(new RandomSampler({ seed: 3 }));
    const after: FrozenTrial[] = [];
    const ended: FrozenTrial[] = [];
    sampler.afterTrial = (_study, trial) => after.push(trial);
    await runStudy(options({ sampler, maxTrials: 3, onTrialEnd: (trial) => void ended.push(trial) }));
    expect(seen.map((history) => history.length)).toEqual([0, 1, 2]);
    expect(seen[2]?.every((t) => Object.isFrozen(t) && Object.isFrozen(t.values))).toBe(true);
    expect(after.map((t) => t.number)).toEqual([0, 1, 2]);
    expect(ended).toEqual(after);
    expect(ended.every((t) => t.state === 'completed' && Object.isFrozen(t))).toBe(true);
  });

  it('rejects invalid counts and seeds as E_CONFIG_INVALID', async () => {
    await expect(runStudy(options({ maxTrials: 0 }))).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
    await expect(runStudy(options({ executionsPerTrial: 1.5 }))).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
    await expect(runStudy(options({ seed: Number.NaN }))).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
  });

  it('runs on the SQLite storage and leaves the trials in the run store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecoml-study-'));
    const store = openRunStore(dir);
    try {
      const run = store.createRun({ kind: 'tune', name: 'mnist' });
      const storage = new SqliteStudyStorage(store);
      const result = await runStudy(options({ storage, runId: run.id, executionsPerTrial: 2, pruner: new ThresholdPruner(0.1) }));
      expect(storage.getTrials(result.studyId)).toEqual(result.trials);
      expect(storage.getStudy(result.studyId)).toMatchObject({ status: 'completed', runId: run.id });
      expect(result.best).toEqual(result.trials.find((t) => t.number === result.best?.number));
      // Same seeds on the memory storage: the same trials, whatever the storage.
      const inMemory = await runStudy(options({ executionsPerTrial: 2, pruner: new ThresholdPruner(0.1) }));
      const essentials = ({ number, values, state, executions, metrics, score, bestEpoch, intermediateValues }: FrozenTrial) => ({
        number,
        values,
        state,
        executions,
        metrics,
        score,
        bestEpoch,
        intermediateValues,
      });
      expect(result.trials.map(essentials)).toEqual(inMemory.trials.map(essentials));
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('formatResultsSummary', () => {
  it("prints Keras Tuner's results summary: objective, then best trials with values and score", async () => {
    const values: Record<string, HpValue>[] = [{ units: 32, act: 'relu' }, { units: 64, act: 'tanh' }, { units: 16, act: 'relu' }];
    let i = 0;
    const sampler: Sampler = { name: 'list', sample: () => values[i++] ?? {} };
    const result = await runStudy(
      options({
        name: 'mnist-mlp',
        sampler,
        maxTrials: 3,
        runTrial: async ({ values: v }) => {
          if (v['units'] === 16) throw new Error('boom');
          return { metricsByEpoch: [{ val_accuracy: (v['units'] as number) / 100 }] };
        },
      }),
    );
    expect(formatResultsSummary(result, 2)).toBe(
      [
        'Results summary',
        'Study "mnist-mlp": completed, 3 trials',
        'Showing 2 best trials',
        'Objective(name="val_accuracy", direction="max")',
        '',
        'Trial 1 summary',
        'Hyperparameters:',
        'units: 64',
        'act: tanh',
        'Score: 0.64',
        '',
        'Trial 0 summary',
        'Hyperparameters:',
        'units: 32',
        'act: relu',
        'Score: 0.32',
        '',
      ].join('\n'),
    );
    expect(formatResultsSummary(result)).toContain('Trial 2 summary\nHyperparameters:\nunits: 16\nact: relu\nState: failed (boom)\n');
  });
});
