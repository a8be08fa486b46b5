import { describe, expect, it } from 'vitest';
import type { HpValue } from '../../src/models/spec.js';
import { NopPruner } from '../../src/tune/pruners/nop.js';
import { GridSampler, gridCombinations, gridValues, gridWalk } from '../../src/tune/samplers/grid.js';
import { createSearchSpace } from '../../src/tune/space.js';
import { MemoryStudyStorage } from '../../src/tune/storage/memory.js';
import { runStudy } from '../../src/tune/study.js';
import { valuesHash } from '../../src/tune/trial.js';
import { hyperparameter } from './helpers.js';
import { runSamplerSuite, sampleWith } from './sampler.suite.js';

runSamplerSuite('grid', () => new GridSampler(), { defineByRun: false });

const SMALL = createSearchSpace({
  layers: { type: 'int', min: 1, max: 3, default: 2 },
  act: { type: 'choice', values: ['relu', 'tanh'] },
  bn: { type: 'boolean' },
});

describe('GridSampler', () => {
  it("walks Keras Tuner's order: all defaults first, the last parameter fastest, each list default-first", () => {
    const walked = [...gridWalk(SMALL)].map((v) => `${String(v.layers)} ${String(v.act)} ${String(v.bn)}`);
    expect(walked).toEqual([
      '2 relu false',
      '2 relu true',
      '2 tanh false',
      '2 tanh true',
      '1 relu false',
      '1 relu true',
      '1 tanh false',
      '1 tanh true',
      '3 relu false',
      '3 relu true',
      '3 tanh false',
      '3 tanh true',
    ]);
    expect(gridCombinations(SMALL)).toBe(12);
  });

  it('proposes the first combination no trial holds yet', () => {
    const sampler = new GridSampler();
    const seen: Record<string, HpValue>[] = [];
    const history = () => seen.map((values, number) => ({ number, values, state: 'completed' as const, executions: [], metrics: [], intermediateValues: [], startedAt: '' }));
    for (let i = 0; i < 12; i++) seen.push(sampleWith(sampler, SMALL, history()));
    expect(seen).toEqual([...gridWalk(SMALL)]);
    expect(new Set(seen.map(valuesHash)).size).toBe(12);
    // Exhausted: it repeats the defaults, which the study rejects as a duplicate.
    expect(sampleWith(sampler, SMALL, history())).toEqual(seen[0]);
  });

  it('enumerates stepped grids and 10 points of a continuous float, the default first', () => {
    // Keras Tuner counts (max − min) // step + 1 values in Python floats: 0.5 // 0.1 is 4, so 0.5 is not on the grid.
    expect(gridValues(hyperparameter({ type: 'float', min: 0, max: 0.5, step: 0.1 }))).toEqual([0, 0.1, 0.2, 0.30000000000000004, 0.4]);
    expect(gridValues(hyperparameter({ type: 'float', min: 0, max: 1, step: 0.25 }))).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(gridValues(hyperparameter({ type: 'int', min: 2, max: 32, step: 2, sampling: 'log' }))).toEqual([2, 4, 8, 16, 32]);
    expect(gridValues(hyperparameter({ type: 'int', min: 32, max: 128, step: 32, default: 96 }))).toEqual([96, 32, 64, 128]);
    const continuous = gridValues(hyperparameter({ type: 'float', min: 0, max: 1 }));
    expect(continuous).toHaveLength(11);
    expect(continuous[0]).toBe(0);
    continuous.slice(1).forEach((v, i) => expect(v).toBeCloseTo(0.05 + 0.1 * i, 12));
    expect(gridValues(hyperparameter({ type: 'boolean', default: true }))).toEqual([true, false]);
    expect(gridValues(hyperparameter({ type: 'choice', values: [3, 5, 7], default: 5 }))).toEqual([5, 3, 7]);
  });

  it('walks conditional parameters only under the parent values that activate them', () => {
    const space = createSearchSpace({
      head: { type: 'choice', values: ['mlp', 'cnn'] },
      units: { type: 'int', min: 16, max: 64, step: 16, parentName: 'head', parentValues: ['mlp'] },
      kernel: { type: 'choice', values: [3, 5], parentName: 'head', parentValues: ['cnn'] },
    });
    expect([...gridWalk(space)]).toEqual([
      { head: 'mlp', units: 16 },
      { head: 'mlp', units: 32 },
      { head: 'mlp', units: 48 },
      { head: 'mlp', units: 64 },
      { head: 'cnn', kernel: 3 },
      { head: 'cnn', kernel: 5 },
    ]);
    expect(gridCombinations(space)).toBe(6);
  });

  it('counts an empty space as one (empty) combination', () => {
    expect(gridCombinations(createSearchSpace({}))).toBe(1);
    expect([...gridWalk(createSearchSpace({}))]).toEqual([{}]);
  });

  it('exhausts exactly its combinations through runStudy', async () => {
    const result = await runStudy({
      name: 'grid',
      space: SMALL,
      sampler: new GridSampler(),
      pruner: new NopPruner(),
      storage: new MemoryStudyStorage(),
      objectives: [{ name: 'value', direction: 'min' }],
      maxTrials: 100,
      maxEpochs: 1,
      seed: 1,
      runTrial: async (ctx) => ({ metricsByEpoch: [{ value: ctx.values.layers as number }] }),
    });
    expect(result.status).toBe('exhausted');
    expect(result.trials).toHaveLength(gridCombinations(SMALL));
    expect(result.trials.map((t) => t.values)).toEqual([...gridWalk(SMALL)]);
  });
});
