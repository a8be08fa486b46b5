import { describe, expect, it } from 'vitest';
import { lookup } from '../../src/errors.js';
import { TrialPruned } from '../../src/tune/pruner.js';
import type { Pruner } from '../../src/tune/pruner.js';
import { NopPruner } from '../../src/tune/pruners/nop.js';
import { createPruners } from '../../src/tune/registry.js';
import type { FrozenTrial, StudyView } from '../../src/tune/trial.js';
import { runPrunerSuite } from './pruner.suite.js';
import { ThresholdPruner } from './threshold-pruner.js';

runPrunerSuite('nop', () => new NopPruner());
runPrunerSuite('threshold (test-only)', () => new ThresholdPruner(0.5));

describe('NopPruner', () => {
  it('never prunes', () => {
    const objective = { name: 'loss', direction: 'min' } as const;
    const study: StudyView = { id: 1, name: 's', objective, objectives: [objective], constraints: [], trials: () => [] };
    const trial: FrozenTrial = { number: 0, values: {}, state: 'running', executions: [], metrics: [], intermediateValues: [{ step: 0, value: 1e9 }], startedAt: '' };
    const pruner: Pruner = new NopPruner();
    expect(pruner.prune(study, trial, 0)).toBe(false);
  });
});

describe('TrialPruned', () => {
  it('is control flow carrying the step, not a coded error', () => {
    const signal = new TrialPruned(3);
    expect(signal.step).toBe(3);
    expect(signal.name).toBe('TrialPruned');
    expect(signal).not.toHaveProperty('code');
  });
});

describe('pruner registry', () => {
  it('resolves "nop" and lists valid names on a miss', () => {
    expect(lookup(createPruners(), 'nop', 'pruner')()).toBeInstanceOf(NopPruner);
    expect(() => lookup(createPruners(), 'median', 'pruner')).toThrow('unknown pruner "median"; valid: nop');
  });
});
