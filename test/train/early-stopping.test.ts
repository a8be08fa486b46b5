import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { INITIAL_EARLY_STOPPING, monitorDirection, stepEarlyStopping } from '../../src/train/index.js';

function run(monitor: string, patience: number, minDelta: number, values: number[]) {
  let state = INITIAL_EARLY_STOPPING;
  let stoppedAt: number | undefined;
  values.forEach((v, i) => {
    if (stoppedAt !== undefined) return;
    state = stepEarlyStopping({ monitor, patience, minDelta }, state, i + 1, v);
    if (state.stop) stoppedAt = i + 1;
  });
  return { state, stoppedAt };
}

describe('early stopping (Keras semantics)', () => {
  it('minimises losses and maximises accuracies', () => {
    expect(monitorDirection('val_loss')).toBe('min');
    expect(monitorDirection('loss')).toBe('min');
    expect(monitorDirection('val_accuracy')).toBe('max');
  });

  it('stops after `patience` epochs without improvement beyond minDelta', () => {
    const { stoppedAt, state } = run('val_loss', 2, 0.01, [1.0, 0.5, 0.495, 0.6, 0.7]);
    expect(state.bestEpoch).toBe(2);
    expect(stoppedAt).toBe(4);
  });

  it('patience 0 stops at the first epoch that does not improve', () => {
    expect(run('val_accuracy', 0, 0, [0.9, 0.95, 0.95]).stoppedAt).toBe(3);
  });

  it('never stops while the monitored value keeps improving by more than minDelta', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0.02, max: 1, noNaN: true }), { minLength: 1, maxLength: 30 }), fc.nat(5), (steps, patience) => {
        let value = 100;
        const values = steps.map((s) => (value -= s));
        const { stoppedAt, state } = run('loss', patience, 0.01, values);
        expect(stoppedAt).toBeUndefined();
        expect(state.bestEpoch).toBe(values.length);
      }),
    );
  });

  it('the best value is always the extreme of what was seen up to the stop', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 10, noNaN: true }), { minLength: 1, maxLength: 40 }), fc.nat(4), (values, patience) => {
        const { state, stoppedAt } = run('val_loss', patience, 0, values);
        const seen = values.slice(0, stoppedAt ?? values.length);
        expect(state.best).toBe(Math.min(...seen));
      }),
    );
  });
});
