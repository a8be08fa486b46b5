import { describe, expect, it } from 'vitest';
import { optimize } from '../../src/tune/define-by-run.js';
import { ThresholdPruner } from './threshold-pruner.js';

describe('optimize (define-by-run)', () => {
  it('suggests values as the objective runs, branching on them, and scores what it returns', async () => {
    const result = await optimize({ objectives: [{ name: 'loss', direction: 'min' }], maxTrials: 30, seed: 4 }, async (trial) => {
      const kind = trial.suggestCategorical('kind', ['quadratic', 'abs']);
      const x = trial.suggestFloat('x', -10, 10);
      const lr = trial.suggestFloat('lr', 1e-4, 1, { log: true });
      const k = kind === 'quadratic' ? trial.suggestInt('k', 1, 4) : 1;
      expect(lr).toBeGreaterThanOrEqual(1e-4);
      return kind === 'quadratic' ? k * (x - 2) ** 2 : Math.abs(x - 2) + 1;
    });
    expect(result.trials).toHaveLength(30);
    for (const trial of result.trials) {
      const { kind, x, k } = trial.values as { kind: string; x: number; k?: number };
      expect('k' in trial.values).toBe(kind === 'quadratic');
      expect(trial.score).toBeCloseTo(kind === 'quadratic' ? (k as number) * (x - 2) ** 2 : Math.abs(x - 2) + 1, 12);
    }
    expect(result.best?.score).toBe(Math.min(...result.trials.map((t) => t.score as number)));
  });

  it('takes one value per objective, or named values that constraints can read, and gives the front', async () => {
    const result = await optimize(
      {
        objectives: [
          { name: 'error', direction: 'min' },
          { name: 'cost', direction: 'min' },
        ],
        constraints: [{ name: 'cost', op: '<=', bound: 50 }],
        maxTrials: 20,
        seed: 1,
      },
      async (trial) => {
        const size = trial.suggestInt('size', 1, 100);
        return { error: 1 / size, cost: size };
      },
    );
    expect(result.front.length).toBeGreaterThan(0);
    expect(result.front.every((t) => (t.values['size'] as number) <= 50)).toBe(true);
    const tuple = await optimize({ objectives: [{ name: 'a', direction: 'min' }, { name: 'b', direction: 'max' }], maxTrials: 2, seed: 1 }, async () => [1, 2]);
    expect(tuple.trials[0]?.scores).toEqual([1, 2]);
  });

  it('prunes through report and fails a trial that returns the wrong number of values', async () => {
    const pruned = await optimize({ objectives: [{ name: 'v', direction: 'max' }], maxTrials: 3, seed: 2, pruner: new ThresholdPruner(0.5) }, async (trial) => {
      trial.report(1, trial.suggestFloat('q', 0, 1));
      return 1;
    });
    expect(pruned.trials.every((t) => t.state === ((t.values['q'] as number) < 0.5 ? 'pruned' : 'completed'))).toBe(true);
    const wrong = await optimize({ objectives: [{ name: 'v', direction: 'max' }], maxTrials: 1, seed: 2 }, async () => [1, 2]);
    expect(wrong.trials[0]).toMatchObject({ state: 'failed', error: 'the objective function returned 2 value(s) for 1 objective(s) (v)' });
  });
});
