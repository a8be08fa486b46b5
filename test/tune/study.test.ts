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
import { MemoryStudyStorage } from '../../src/tune/storage/memory.js';
import { SqliteStudyStorage } from '../../src/tune/storage/sqlite.js';
import { MAX_COLLISIONS, formatResultsSummary, runStudy } from '../../src/tune/study.js';
import type { RunTrial, StudyOptions } from '../../src/tune/study.js';
import { deriveSeed } from '../../src/tune/trial.js';
import type { TrialPruned } from '../../src/tune/pruner.js';
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
    objectives: [{ name: 'val_accuracy', direction: 'max' }],
    maxTrials: 5,
    maxEpochs: 3,
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
    begin(context) {
      draws++;
      seen.push(context.history);
      return inner.begin(context);
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

    const minimising = await runStudy(options({ objectives: [{ name: 'loss', direction: 'min' }] }));
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
    const fixed: Sampler = { name: 'fixed', begin: () => ({ value: ({ name }) => (name === 'units' ? 16 : 0.01) }) };
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
        objectives: [{ name: 'val_loss', direction: 'min' }],
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
    expect(result.trials[0]?.error).toBe('the objective "val_accuracy" is missing from every epoch of an execution and the trial summary; found: accuracy');
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

  it('keeps each execution’s energy and sums joules and epochs into the trial summary, pruned executions included', async () => {
    const result = await runStudy(
      options({
        maxTrials: 2,
        executionsPerTrial: 2,
        pruner: new ThresholdPruner(0.5),
        runTrial: async ({ trialNumber, execution, report }) => {
          if (trialNumber === 1) {
            report(1, { val_accuracy: 0.1 });
            return { metricsByEpoch: [] };
          }
          return { metricsByEpoch: [{ val_accuracy: 0.9 }], summary: { joules: 2 + execution, epochs: 1, params: 10 + execution }, energy: { joules: 2 + execution } };
        },
      }),
    );
    expect(result.trials[0]).toMatchObject({ state: 'completed', summary: { joules: 5, epochs: 2, params: 10.5 }, energy: [{ joules: 2 }, { joules: 3 }] });
    expect(result.trials[1]?.state).toBe('pruned');
  });

  it('counts what a pruned execution spent when its runTrial puts it on TrialPruned', async () => {
    const result = await runStudy(
      options({
        maxTrials: 1,
        pruner: new ThresholdPruner(0.5),
        runTrial: async ({ report }) => {
          try {
            report(1, { val_accuracy: 0.1 });
          } catch (err) {
            (err as TrialPruned).summary = { joules: 7, epochs: 1 };
            throw err;
          }
          return { metricsByEpoch: [] };
        },
      }),
    );
    expect(result.trials[0]).toMatchObject({ state: 'pruned', summary: { joules: 7, epochs: 1 } });
  });

  it('rejects invalid counts and seeds as E_CONFIG_INVALID', async () => {
    await expect(runStudy(options({ maxTrials: 0 }))).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
    await expect(runStudy(options({ executionsPerTrial: 1.5 }))).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
    await expect(runStudy(options({ concurrency: 0 }))).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
    await expect(runStudy(options({ maxEpochs: 0 }))).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
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
    const sampler: Sampler = {
      name: 'list',
      begin: () => {
        const picked = values[i++] ?? {};
        return { value: ({ name }) => picked[name] as HpValue };
      },
    };
    const result = await runStudy(
      options({
        name: 'mnist-mlp',
        space: createSearchSpace({ units: { type: 'int', min: 16, max: 64 }, act: { type: 'choice', values: ['relu', 'tanh'] } }),
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

describe('runStudy: several objectives, constraints, define-by-run, concurrency and resume', () => {
  /** val_accuracy rises with units and params cost units²: a real trade-off. */
  const tradeOff: RunTrial = async ({ values }) => {
    const units = values['units'] as number;
    return { metricsByEpoch: [{ val_accuracy: 1 - 16 / units }], summary: { params: units * units } };
  };

  it('scores every objective, from the epochs or the trial summary, and returns the Pareto front', async () => {
    const result = await runStudy(
      options({
        maxTrials: 8,
        objectives: [
          { name: 'val_accuracy', direction: 'max' },
          { name: 'params', direction: 'min' },
        ],
        runTrial: tradeOff,
      }),
    );
    for (const trial of result.trials) {
      const units = trial.values['units'] as number;
      expect(trial.scores).toEqual([1 - 16 / units, units * units]);
    }
    // On this trade-off every distinct config is Pareto-optimal.
    expect(result.front.map((t) => t.number).sort()).toEqual(result.trials.map((t) => t.number).sort());
    expect(formatResultsSummary(result)).toContain('Objective(name="params", direction="min")');
  });

  it('a constraint makes trials that miss it infeasible: never the best, never on the front', async () => {
    const result = await runStudy(
      options({
        maxTrials: 8,
        objectives: [{ name: 'params', direction: 'min' }],
        constraints: [{ name: 'val_accuracy', op: '>=', bound: 0.9 }],
        runTrial: tradeOff,
      }),
    );
    const feasible = result.trials.filter((t) => 1 - 16 / (t.values['units'] as number) >= 0.9);
    expect(feasible.length).toBeGreaterThan(0);
    for (const trial of result.trials) expect(trial.violation === 0).toBe(feasible.includes(trial));
    const smallest = Math.min(...feasible.map((t) => t.values['units'] as number));
    expect(result.best?.values['units']).toBe(smallest);
    expect(result.front.every((t) => t.violation === 0)).toBe(true);
  });

  it('draws only active conditional parameters', async () => {
    const space = createSearchSpace({
      head: { type: 'choice', values: ['mlp', 'cnn'] },
      units: { type: 'int', min: 16, max: 256, step: 16, parentName: 'head', parentValues: ['mlp'] },
      filters: { type: 'int', min: 8, max: 64, step: 8, parentName: 'head', parentValues: ['cnn'] },
    });
    const result = await runStudy(options({ space, maxTrials: 12, runTrial: async () => ({ metricsByEpoch: [{ val_accuracy: 0.5 }] }) }));
    for (const { values } of result.trials) {
      expect(Object.keys(values).sort()).toEqual(values['head'] === 'mlp' ? ['head', 'units'] : ['filters', 'head']);
    }
  });

  it('define-by-run: suggest() draws on first use, repeats within a trial, and records the values', async () => {
    const result = await runStudy(
      options({
        space: createSearchSpace({}),
        maxTrials: 6,
        executionsPerTrial: 2,
        runTrial: async (ctx) => {
          const layers = ctx.suggest('layers', { type: 'int', min: 1, max: 3 }) as number;
          let width = 0;
          for (let i = 0; i < layers; i++) width += ctx.suggest(`units_${i}`, { type: 'int', min: 8, max: 64, step: 8 }) as number;
          expect(ctx.suggest('layers', { type: 'int', min: 1, max: 3 })).toBe(layers);
          return { metricsByEpoch: [{ val_accuracy: width / 192 }] };
        },
      }),
    );
    for (const { values, state } of result.trials) {
      expect(state).toBe('completed');
      const layers = values['layers'] as number;
      expect(Object.keys(values).sort()).toEqual(['layers', ...Array.from({ length: layers }, (_, i) => `units_${i}`)].sort());
    }
  });

  it('runs up to `concurrency` trials at once', async () => {
    let running = 0;
    let peak = 0;
    const result = await runStudy(
      options({
        maxTrials: 6,
        concurrency: 3,
        runTrial: async (ctx) => {
          running++;
          peak = Math.max(peak, running);
          await new Promise((resolve) => setTimeout(resolve, 5));
          running--;
          return fakeTraining(ctx);
        },
      }),
    );
    expect(peak).toBe(3);
    expect(result.trials).toHaveLength(6);
    expect(new Set(result.trials.map((t) => t.number)).size).toBe(6);
  });

  it('resumes: finished trials stay, an interrupted one runs again under its own number, and the sampler continues its sequence', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecoml-resume-'));
    const store = openRunStore(dir);
    try {
      const storage = new SqliteStudyStorage(store);
      // The uninterrupted study, for comparison.
      const whole = await runStudy(options({ storage, maxTrials: 5 }));
      // A study whose process dies during trial 2: the trial stays 'running' in the store.
      let died!: () => void;
      const death = new Promise<void>((resolve) => (died = resolve));
      void runStudy(
        options({
          storage,
          maxTrials: 5,
          runTrial: async (ctx) => {
            if (ctx.trialNumber === 2) {
              died();
              return new Promise(() => undefined);
            }
            return fakeTraining(ctx);
          },
        }),
      );
      await death;
      const studyId = whole.studyId + 1;
      expect(storage.getTrials(studyId).map((t) => t.state)).toEqual(['completed', 'completed', 'running']);
      const runs: number[] = [];
      const resumed = await runStudy(
        options({
          storage,
          maxTrials: 5,
          resume: studyId,
          sampler: new RandomSampler({ seed: 42, state: JSON.parse(String(storage.getTrials(studyId).at(-1)?.attrs?.samplerState)) }),
          runTrial: async (ctx) => {
            runs.push(ctx.trialNumber);
            return fakeTraining(ctx);
          },
        }),
      );
      expect(runs).toEqual([2, 3, 4]);
      expect(resumed.studyId).toBe(studyId);
      expect(resumed.trials.map((t) => t.state)).toEqual(Array(5).fill('completed'));
      expect(resumed.trials.map((t) => t.values)).toEqual(whole.trials.map((t) => t.values));
      await expect(runStudy(options({ storage, name: 'other', resume: studyId }))).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('runStudy: multi-objective pruning', () => {
  it('ASHA stops a trial dominated at its rung on (val_accuracy, joules), and keeps one on the front', async () => {
    // Four trials, one rung at step 1 (η = 2: keep the better half). Trial 2 is dominated there by
    // trials 0 and 1 (lower accuracy, more joules); trial 3 trades accuracy for joules (on the front).
    const atRung: Record<number, { val_accuracy: number; joules: number }> = {
      0: { val_accuracy: 0.9, joules: 10 },
      1: { val_accuracy: 0.8, joules: 5 },
      2: { val_accuracy: 0.7, joules: 12 },
      3: { val_accuracy: 0.6, joules: 1 },
    };
    const { SuccessiveHalvingPruner } = await import('../../src/tune/pruners/asha.js');
    const result = await runStudy(
      options({
        maxTrials: 4,
        sampler: { name: 'numbered', begin: ({ trialNumber }) => ({ value: () => 16 * (trialNumber + 1) }) },
        space: createSearchSpace({ units: { type: 'int', min: 16, max: 256, step: 16 } }),
        objectives: [
          { name: 'val_accuracy', direction: 'max' },
          { name: 'joules', direction: 'min' },
        ],
        pruner: new SuccessiveHalvingPruner({ minResource: 1, reductionFactor: 2 }),
        runTrial: async ({ trialNumber, report }) => {
          const metrics = atRung[trialNumber] as { val_accuracy: number; joules: number };
          report(1, metrics);
          report(2, { ...metrics, joules: metrics.joules * 2 });
          return { metricsByEpoch: [metrics, metrics], summary: { joules: metrics.joules * 2 } };
        },
      }),
    );
    expect(result.trials.map((t) => t.state)).toEqual(['completed', 'completed', 'pruned', 'completed']);
    expect(result.trials[2]?.intermediateValues).toEqual([{ step: 1, value: 0.7, values: [0.7, 12] }]);
    expect(result.front.map((t) => t.number)).toEqual([0, 1, 3]);
  });
});
