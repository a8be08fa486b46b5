import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Measurement } from '../../src/meter/index.js';
import { budgetStop, forecastRun, type EpochRecord } from '../../src/train/index.js';

function epoch(n: number, joules: number, durationS = 10): EpochRecord {
  const kwh = joules / 3.6e6;
  const measurement = { energy: { joules, kwh, components: [] }, emissions: { kgCo2e: kwh * 0.4 } } as unknown as Measurement;
  return { epoch: n, metrics: { loss: 1 }, durationS, samplesPerSecond: 1, measurement };
}

describe('forecasts (Carbontracker: mean epoch × epochs)', () => {
  it('predicts the whole run from the epochs so far', () => {
    const f = forecastRun([epoch(1, 100, 10), epoch(2, 300, 30)], 10);
    expect(f).toMatchObject({ epochs: 10, basedOn: 2, durationS: 200, joules: 2000 });
    expect(f?.kwh).toBeCloseTo(2000 / 3.6e6, 15);
    expect(f?.kgCo2e).toBeCloseTo((2000 / 3.6e6) * 0.4, 15);
  });

  it('has nothing to say before a metered epoch', () => {
    expect(forecastRun([], 10)).toBeUndefined();
  });

  it('never predicts less than what was spent, and equals it once all epochs ran', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 20 }), fc.nat(30), (joules, extra) => {
        const history = joules.map((j, i) => epoch(i + 1, j));
        const spent = joules.reduce((a, b) => a + b, 0);
        const f = forecastRun(history, history.length + extra);
        expect(f?.joules).toBeGreaterThanOrEqual(spent * (1 - 1e-12));
        if (extra === 0) expect(f?.joules).toBeCloseTo(spent, 6);
      }),
    );
  });
});

describe('budgets', () => {
  const kwh = (j: number) => j / 3.6e6;

  it('stops before the epoch that would cross the energy budget', () => {
    const history = [epoch(1, 3.6e6 * 0.3), epoch(2, 3.6e6 * 0.3)];
    expect(budgetStop(history, { kwh: 0.95 })).toBeUndefined();
    expect(budgetStop(history, { kwh: 0.85 })).toBe('budget');
  });

  it('stops on the emissions budget too, and not without a metered epoch', () => {
    expect(budgetStop([epoch(1, 3.6e6)], { kgCo2e: 0.7 })).toBe('budget');
    expect(budgetStop([], { kwh: 0 })).toBeUndefined();
    expect(budgetStop([epoch(1, 1)], {})).toBeUndefined();
  });

  it('a run that obeys the budget never ends above it (one mean epoch of slack at most)', () => {
    fc.assert(
      fc.property(fc.double({ min: 1, max: 1e4, noNaN: true }), fc.double({ min: 1e-4, max: 1, noNaN: true }), (perEpochJ, budgetKwh) => {
        const history: EpochRecord[] = [epoch(1, perEpochJ)];
        while (history.length < 10_000 && budgetStop(history, { kwh: budgetKwh }) === undefined) history.push(epoch(history.length + 1, perEpochJ));
        const used = kwh(perEpochJ * history.length);
        // The first epoch always runs; every later one only when it fits.
        if (history.length > 1) expect(used).toBeLessThanOrEqual(budgetKwh * (1 + 1e-9));
      }),
    );
  });
});
