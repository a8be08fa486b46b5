import { describe, expect, it } from 'vitest';
import { lookup } from '../../src/errors.js';
import { TrialPruned } from '../../src/tune/pruner.js';
import type { Pruner } from '../../src/tune/pruner.js';
import { SuccessiveHalvingPruner } from '../../src/tune/pruners/asha.js';
import { HyperbandPruner } from '../../src/tune/pruners/hyperband.js';
import { MedianPruner } from '../../src/tune/pruners/median.js';
import { NopPruner } from '../../src/tune/pruners/nop.js';
import { createPruners } from '../../src/tune/registry.js';
import type { FrozenTrial, StudyView } from '../../src/tune/trial.js';
import { runPrunerSuite } from './pruner.suite.js';
import { ThresholdPruner } from './threshold-pruner.js';

runPrunerSuite('none', () => new NopPruner());
runPrunerSuite('threshold (test-only)', () => new ThresholdPruner(0.5));
runPrunerSuite('median', () => new MedianPruner());
runPrunerSuite('median, no startup', () => new MedianPruner({ nStartupTrials: 0 }));
runPrunerSuite('asha', () => new SuccessiveHalvingPruner());
runPrunerSuite('asha, rungs at 1 and 2', () => new SuccessiveHalvingPruner({ minResource: 1, reductionFactor: 2 }));
runPrunerSuite('hyperband', () => new HyperbandPruner({ maxEpochs: 10 }));

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
  const options = { maxEpochs: 10, seed: 1 };

  it('resolves every built-in pruner and lists the valid names on a miss', () => {
    const pruners = createPruners();
    expect(lookup(pruners, 'none', 'pruner')(options)).toBeInstanceOf(NopPruner);
    expect(lookup(pruners, 'median', 'pruner')(options)).toBeInstanceOf(MedianPruner);
    expect(lookup(pruners, 'asha', 'pruner')(options)).toBeInstanceOf(SuccessiveHalvingPruner);
    expect(lookup(pruners, 'hyperband', 'pruner')(options)).toBeInstanceOf(HyperbandPruner);
    expect(() => lookup(pruners, 'percentile', 'pruner')).toThrow('unknown pruner "percentile"; valid: asha, hyperband, median, none');
  });

  it('names each pruner as the registry does', () => {
    for (const [name, factory] of Object.entries(createPruners())) expect(factory(options).name).toBe(name);
  });

  it('gives hyperband the study budget as max_epochs', () => {
    const pruner = createPruners().hyperband({ maxEpochs: 10, seed: 1 });
    const objective = { name: 'acc', direction: 'max' } as const;
    const plan = pruner.plan?.({ id: 1, name: 's', objective, objectives: [objective], constraints: [], trials: () => [] });
    expect(plan).toEqual({ kind: 'new', epochs: 2, attrs: { bracket: 2, round: 0, iteration: 0 } });
  });
});
