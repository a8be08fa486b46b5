/** Properties of the multi-objective rung rule: Pareto ranks, then crowding, keep ⌊n/η⌋. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isParetoPromotable, isPromotable } from '../../src/tune/pruners/asha.js';
import { dominates, nonDominatedSort } from '../../src/tune/pareto.js';
import type { Direction } from '../../src/tune/trial.js';

const direction = fc.constantFrom<Direction>('min', 'max');
/** Small integer coordinates, so that ties and duplicates are common. */
const rung = fc.integer({ min: 2, max: 4 }).chain((dims) =>
  fc.record({
    directions: fc.array(direction, { minLength: dims, maxLength: dims }),
    points: fc.array(fc.array(fc.integer({ min: 0, max: 5 }), { minLength: dims, maxLength: dims }), { minLength: 1, maxLength: 12 }),
    reductionFactor: fc.integer({ min: 2, max: 5 }),
  }),
);
const kept = (n: number, reductionFactor: number) => Math.max(Math.floor(n / reductionFactor), 1);

describe('isParetoPromotable', () => {
  it('never prunes a point of the first front when that front fits in the kept count', () => {
    fc.assert(
      fc.property(rung, ({ directions, points, reductionFactor }) => {
        const first = nonDominatedSort(
          points.map((values) => ({ values, violation: 0 })),
          directions,
        )[0] as number[];
        fc.pre(first.length <= kept(points.length, reductionFactor));
        for (const i of first) expect(isParetoPromotable(i, points, reductionFactor, directions)).toBe(true);
      }),
    );
  });

  it('prunes a point every other point dominates when fewer than all are kept', () => {
    fc.assert(
      fc.property(rung, ({ directions, points, reductionFactor }) => {
        const worst = points.length;
        // Worse than every point in every objective by one.
        const vector = directions.map((d, m) => (d === 'max' ? Math.min(...points.map((p) => p[m] as number)) - 1 : Math.max(...points.map((p) => p[m] as number)) + 1));
        const all = [...points, vector];
        fc.pre(kept(all.length, reductionFactor) < all.length);
        expect(points.every((p) => dominates(p, vector, directions))).toBe(true);
        expect(isParetoPromotable(worst, all, reductionFactor, directions)).toBe(false);
      }),
    );
  });

  it("reduces to Optuna's scalar rule with one objective, ties included", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 15 }),
        fc.integer({ min: 2, max: 5 }),
        direction,
        (values, reductionFactor, d) => {
          values.forEach((value, i) => {
            expect(isParetoPromotable(i, values.map((v) => [v]), reductionFactor, [d])).toBe(isPromotable(value, values, reductionFactor, d));
          });
        },
      ),
    );
  });

  it('keeps exactly the kept count when the points are distinct and totally ordered', () => {
    // Points on a line where each dominates the next: the top ⌊n/η⌋ (at least 1) go on.
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 2, max: 5 }), (n, reductionFactor) => {
        const points = Array.from({ length: n }, (_, i) => [i, i]);
        const goOn = points.filter((_, i) => isParetoPromotable(i, points, reductionFactor, ['min', 'min'])).length;
        expect(goOn).toBe(kept(n, reductionFactor));
      }),
    );
  });
});
