import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { averageCurves, bestTrials, deriveSeed, isBetter, scoreCurve, valuesHash } from '../../src/tune/trial.js';
import { frozenTrial } from './helpers.js';

describe('averageCurves', () => {
  it('averages epoch by epoch over the executions that reached each epoch', () => {
    expect(
      averageCurves([
        [{ loss: 1, acc: 0.5 }, { loss: 0.5, acc: 0.7 }, { loss: 0.2, acc: 0.9 }],
        [{ loss: 3, acc: 0.7 }, { loss: 1.5 }],
      ]),
    ).toEqual([{ loss: 2, acc: 0.6 }, { loss: 1, acc: 0.7 }, { loss: 0.2, acc: 0.9 }]);
    expect(averageCurves([])).toEqual([]);
  });

  it('of copies of one curve is that curve; every mean lies between the executions', () => {
    const curveArb = fc.array(fc.record({ m: fc.double({ min: -1e6, max: 1e6, noNaN: true }) }), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(curveArb, fc.integer({ min: 1, max: 4 }), (curve, copies) => {
        const mean = averageCurves(Array.from({ length: copies }, () => curve));
        mean.forEach((epoch, i) => expect(epoch['m']).toBeCloseTo(curve[i]?.['m'] as number, 6));
      }),
    );
    fc.assert(
      fc.property(fc.array(curveArb, { minLength: 1, maxLength: 5 }), (curves) => {
        averageCurves(curves).forEach((epoch, i) => {
          const values = curves.flatMap((c) => (c[i] === undefined ? [] : [c[i]['m']]));
          expect(epoch['m']).toBeGreaterThanOrEqual(Math.min(...values) - 1e-6);
          expect(epoch['m']).toBeLessThanOrEqual(Math.max(...values) + 1e-6);
        });
      }),
    );
  });
});

describe('scoreCurve', () => {
  const curve = [{ val_loss: 0.5 }, { val_loss: 0.3 }, { val_loss: Number.NaN }, { val_loss: 0.3 }, { val_loss: 0.4 }];

  it('takes the best epoch for the direction, first one on ties, skipping NaN', () => {
    expect(scoreCurve(curve, { name: 'val_loss', direction: 'min' })).toEqual({ score: 0.3, bestEpoch: 1 });
    expect(scoreCurve(curve, { name: 'val_loss', direction: 'max' })).toEqual({ score: 0.5, bestEpoch: 0 });
  });

  it('is undefined when the objective never appears', () => {
    expect(scoreCurve(curve, { name: 'val_accuracy', direction: 'max' })).toBeUndefined();
    expect(scoreCurve([{ x: Number.NaN }], { name: 'x', direction: 'max' })).toBeUndefined();
  });

  it('is the min or max of the curve', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: true }), { minLength: 1 }), fc.constantFrom('min' as const, 'max' as const), (values, direction) => {
        const scored = scoreCurve(values.map((v) => ({ o: v })), { name: 'o', direction });
        expect(scored?.score).toBe(direction === 'min' ? Math.min(...values) : Math.max(...values));
        expect(values[scored?.bestEpoch as number]).toBe(scored?.score);
      }),
    );
  });
});

describe('bestTrials', () => {
  it('ranks completed trials by score for the direction, ties by number', () => {
    const trials = [
      frozenTrial({ number: 0, score: 0.8 }),
      frozenTrial({ number: 1, state: 'failed', error: 'boom' }),
      frozenTrial({ number: 2, score: 0.9 }),
      frozenTrial({ number: 3, state: 'pruned' }),
      frozenTrial({ number: 4, score: 0.8 }),
    ];
    expect(bestTrials(trials, { name: 'acc', direction: 'max' }).map((t) => t.number)).toEqual([2, 0, 4]);
    expect(bestTrials(trials, { name: 'acc', direction: 'min' }).map((t) => t.number)).toEqual([0, 4, 2]);
    expect(isBetter('max', 1, 1)).toBe(false);
  });
});

describe('valuesHash', () => {
  it("is Keras Tuner's sha256 over sorted name=value pairs, 32 hex digits", () => {
    // hashlib.sha256("a=1b=relu".encode()).hexdigest()[:32]
    expect(valuesHash({ b: 'relu', a: 1 })).toBe('5b574b64566fe8cd7229e53430679108');
    expect(valuesHash({ a: 1 })).not.toBe(valuesHash({ a: 2 }));
  });
});

describe('deriveSeed', () => {
  it('is reproducible, a non-negative 31-bit integer, and distinct per (trial, execution)', () => {
    expect(deriveSeed(42, 3, 1)).toBe(deriveSeed(42, 3, 1));
    const seeds = new Set<number>();
    for (let trial = 0; trial < 50; trial++) {
      for (let execution = 0; execution < 3; execution++) {
        const seed = deriveSeed(42, trial, execution);
        expect(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 31).toBe(true);
        seeds.add(seed);
      }
    }
    expect(seeds.size).toBe(150);
    expect(deriveSeed(43, 0, 0)).not.toBe(deriveSeed(42, 0, 0));
  });
});
