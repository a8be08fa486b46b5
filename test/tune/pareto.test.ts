import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { constrainedDominates, crowdingDistance, dominates, hypervolume2d, nonDominatedSort, paretoFront, violationOf } from '../../src/tune/pareto.js';
import type { Scored } from '../../src/tune/pareto.js';
import type { Direction } from '../../src/tune/trial.js';
import { frozenTrial } from './helpers.js';

// Small integer values make ties, dominance and chains of dominance common.
const value = fc.integer({ min: 0, max: 3 });
const direction = fc.constantFrom<Direction>('min', 'max');

/** Directions and `count` generators of points with one value per direction. */
function withPoints<T>(dims: { min: number; max: number }, build: (d: number) => fc.Arbitrary<T>) {
  return fc.integer(dims).chain((d) => fc.tuple(fc.array(direction, { minLength: d, maxLength: d }), build(d)));
}
const vector = (d: number) => fc.array(value, { minLength: d, maxLength: d });
const scored = (d: number): fc.Arbitrary<Scored> => fc.record({ values: vector(d), violation: fc.oneof(fc.constant(0), fc.constant(0), value, fc.constant(Infinity)) });

function negateMax(values: readonly number[], directions: readonly Direction[]): number[] {
  return values.map((v, i) => (directions[i] === 'max' ? -v : v));
}

describe('dominates', () => {
  it('is irreflexive', () => {
    fc.assert(fc.property(withPoints({ min: 1, max: 4 }, vector), ([dirs, a]) => !dominates(a, a, dirs)));
  });

  it('is asymmetric', () => {
    fc.assert(fc.property(withPoints({ min: 1, max: 3 }, (d) => fc.tuple(vector(d), vector(d))), ([dirs, [a, b]]) => !(dominates(a, b, dirs) && dominates(b, a, dirs))));
  });

  it('is transitive', () => {
    fc.assert(
      fc.property(withPoints({ min: 1, max: 3 }, (d) => fc.tuple(vector(d), vector(d), vector(d))), ([dirs, [a, b, c]]) => {
        if (dominates(a, b, dirs) && dominates(b, c, dirs)) expect(dominates(a, c, dirs)).toBe(true);
      }),
    );
  });

  it("with 'max' equals negating the value with 'min'", () => {
    fc.assert(
      fc.property(withPoints({ min: 1, max: 3 }, (d) => fc.tuple(vector(d), vector(d))), ([dirs, [a, b]]) => {
        const mins = dirs.map((): Direction => 'min');
        expect(dominates(a, b, dirs)).toBe(dominates(negateMax(a, dirs), negateMax(b, dirs), mins));
      }),
    );
  });

  it('counts NaN or a missing value as the worst', () => {
    expect(dominates([1], [NaN], ['min'])).toBe(true);
    expect(dominates([NaN], [1], ['max'])).toBe(false);
    expect(dominates([1, 2], [1], ['min', 'min'])).toBe(true);
  });
});

describe('constrainedDominates', () => {
  it('is irreflexive, asymmetric and transitive', () => {
    fc.assert(
      fc.property(withPoints({ min: 1, max: 3 }, (d) => fc.tuple(scored(d), scored(d), scored(d))), ([dirs, [a, b, c]]) => {
        expect(constrainedDominates(a, a, dirs)).toBe(false);
        expect(constrainedDominates(a, b, dirs) && constrainedDominates(b, a, dirs)).toBe(false);
        if (constrainedDominates(a, b, dirs) && constrainedDominates(b, c, dirs)) expect(constrainedDominates(a, c, dirs)).toBe(true);
      }),
    );
  });

  it('a feasible point beats an infeasible one whatever their values', () => {
    fc.assert(
      fc.property(withPoints({ min: 1, max: 3 }, (d) => fc.tuple(vector(d), vector(d), fc.double({ min: 1e-9, max: 1e9, noNaN: true }))), ([dirs, [a, b, violation]]) => {
        expect(constrainedDominates({ values: a, violation: 0 }, { values: b, violation }, dirs)).toBe(true);
        expect(constrainedDominates({ values: b, violation }, { values: a, violation: 0 }, dirs)).toBe(false);
      }),
    );
  });

  it('between infeasible points, less violation beats more whatever their values', () => {
    fc.assert(
      fc.property(
        withPoints({ min: 1, max: 3 }, (d) => fc.tuple(vector(d), vector(d), fc.double({ min: 1e-9, max: 1e9, noNaN: true }), fc.double({ min: 1e-9, max: 1e9, noNaN: true }))),
        ([dirs, [a, b, v1, v2]]) => {
          fc.pre(v1 !== v2);
          const [less, more] = [Math.min(v1, v2), Math.max(v1, v2)];
          expect(constrainedDominates({ values: a, violation: less }, { values: b, violation: more }, dirs)).toBe(true);
          expect(constrainedDominates({ values: b, violation: more }, { values: a, violation: less }, dirs)).toBe(false);
        },
      ),
    );
  });

  it('between feasible points is plain dominance', () => {
    fc.assert(
      fc.property(withPoints({ min: 1, max: 3 }, (d) => fc.tuple(vector(d), vector(d))), ([dirs, [a, b]]) => {
        expect(constrainedDominates({ values: a, violation: 0 }, { values: b, violation: 0 }, dirs)).toBe(dominates(a, b, dirs));
      }),
    );
  });

  it('counts a NaN violation as the worst, never as feasible', () => {
    const nan = { values: [0], violation: NaN };
    expect(constrainedDominates({ values: [5], violation: 0 }, nan, ['min'])).toBe(true);
    expect(constrainedDominates({ values: [5], violation: 3 }, nan, ['min'])).toBe(true);
    expect(constrainedDominates(nan, { values: [5], violation: 0 }, ['min'])).toBe(false);
  });
});

describe('nonDominatedSort', () => {
  const sorted = withPoints({ min: 1, max: 3 }, (d) => fc.array(scored(d), { maxLength: 25 }));

  it('partitions the indices, each front in ascending order', () => {
    fc.assert(
      fc.property(sorted, ([dirs, points]) => {
        const fronts = nonDominatedSort(points, dirs);
        expect(fronts.flat().sort((a, b) => a - b)).toEqual(points.map((_, i) => i));
        for (const front of fronts) {
          expect(front.length).toBeGreaterThan(0);
          expect([...front].sort((a, b) => a - b)).toEqual(front);
        }
      }),
    );
  });

  it('no point dominates another of its own front or of an earlier one; each point of front k+1 is dominated by one of front k', () => {
    fc.assert(
      fc.property(sorted, ([dirs, points]) => {
        const fronts = nonDominatedSort(points, dirs);
        const at = (i: number) => points[i] as Scored;
        fronts.forEach((front, k) => {
          for (const i of front) {
            for (const earlier of fronts.slice(0, k + 1).flat()) expect(constrainedDominates(at(i), at(earlier), dirs)).toBe(false);
            if (k > 0) expect((fronts[k - 1] as number[]).some((j) => constrainedDominates(at(j), at(i), dirs))).toBe(true);
          }
        });
      }),
    );
  });
});

describe('paretoFront', () => {
  const study = withPoints({ min: 1, max: 3 }, (d) =>
    fc.array(fc.record({ scores: vector(d), violation: fc.oneof(fc.constant(0), fc.constant(0), value), state: fc.constantFrom('completed' as const, 'completed' as const, 'pruned' as const) }), {
      maxLength: 20,
    }),
  );

  it('is non-empty for a non-empty feasible set, mutually non-dominated, and dominates every feasible completed trial it leaves out', () => {
    fc.assert(
      fc.property(study, ([dirs, rows]) => {
        const trials = rows.map((row, number) => frozenTrial({ number, ...row, ...(row.state === 'completed' ? {} : { scores: undefined }) }));
        const objectives = dirs.map((direction, i) => ({ name: `o${i}`, direction }));
        const front = paretoFront(trials, objectives);
        const feasible = trials.filter((t) => t.state === 'completed' && t.violation === 0);
        const scoresOf = (t: (typeof trials)[number]) => t.scores as readonly number[];
        if (feasible.length > 0) expect(front.length).toBeGreaterThan(0);
        for (const t of front) {
          expect(feasible).toContain(t);
          expect(front.some((o) => dominates(scoresOf(o), scoresOf(t), dirs))).toBe(false);
        }
        for (const t of feasible.filter((f) => !front.includes(f))) expect(front.some((o) => dominates(scoresOf(o), scoresOf(t), dirs))).toBe(true);
      }),
    );
  });
});

describe('crowdingDistance', () => {
  const front = fc.integer({ min: 1, max: 3 }).chain((d) => fc.array(vector(d), { minLength: 1, maxLength: 12 }));

  it('gives Infinity to the points at the minimum or maximum of every objective that varies', () => {
    fc.assert(
      fc.property(front, (values) => {
        const distance = crowdingDistance(values);
        (values[0] as number[]).forEach((_, m) => {
          const column = values.map((v) => v[m] as number);
          const [lo, hi] = [Math.min(...column), Math.max(...column)];
          if (lo === hi) return;
          column.forEach((v, i) => {
            if (v === lo || v === hi) expect(distance[i]).toBe(Infinity);
          });
        });
        for (const d of distance) expect(d).toBeGreaterThanOrEqual(0);
      }),
    );
  });

  it('does not depend on the order of the points', () => {
    fc.assert(
      fc.property(
        front.chain((values) => fc.tuple(fc.constant(values), fc.shuffledSubarray(values.map((_, i) => i), { minLength: values.length }))),
        ([values, order]) => {
          const distance = crowdingDistance(values);
          const permuted = crowdingDistance(order.map((i) => values[i] as number[]));
          expect(permuted).toEqual(order.map((i) => distance[i]));
        },
      ),
    );
  });

  it('gives tied points the same distance (regression: the sort-and-walk gave them different ones by index)', () => {
    const distance = crowdingDistance([
      [0, 4],
      [2, 2],
      [2, 2],
      [4, 0],
    ]);
    expect(distance).toEqual([Infinity, 2, 2, Infinity]);
  });

  it('is all zeros when every point is the same', () => {
    expect(crowdingDistance([[1, 1], [1, 1]])).toEqual([0, 0]);
    expect(crowdingDistance([])).toEqual([]);
  });
});

describe('hypervolume2d', () => {
  const R = 6;
  const grid = fc.array(fc.tuple(fc.integer({ min: 0, max: R + 1 }), fc.integer({ min: 0, max: R + 1 })), { maxLength: 8 });

  /** Unit cells of [0, R]² that some point (minimised) dominates: the area, counted by hand. */
  function cellsDominated(points: readonly (readonly [number, number])[]): number {
    let count = 0;
    for (let i = 0; i < R; i++) for (let j = 0; j < R; j++) if (points.some(([x, y]) => x <= i && y <= j)) count++;
    return count;
  }

  it('equals the count of unit cells the points dominate within the reference', () => {
    fc.assert(
      fc.property(grid, (points) => {
        expect(hypervolume2d(points, [R, R], ['min', 'min'])).toBe(cellsDominated(points));
      }),
    );
  });

  it("with 'max' equals negating the values and the reference with 'min'", () => {
    fc.assert(
      fc.property(grid, fc.tuple(direction, direction), (points, dirs) => {
        const flip = (p: readonly number[]) => negateMax(p, dirs) as [number, number];
        expect(hypervolume2d(points.map(flip), flip([R, R]), dirs)).toBe(hypervolume2d(points, [R, R], ['min', 'min']));
      }),
    );
  });

  it('never shrinks when a point is added, and a dominated point adds nothing', () => {
    fc.assert(
      fc.property(grid, fc.tuple(fc.integer({ min: 0, max: R }), fc.integer({ min: 0, max: R })), (points, extra) => {
        const before = hypervolume2d(points, [R, R], ['min', 'min']);
        expect(hypervolume2d([...points, extra], [R, R], ['min', 'min'])).toBeGreaterThanOrEqual(before);
        const dominated = points.map(([x, y]) => [x + 1, y] as const);
        expect(hypervolume2d([...points, ...dominated], [R, R], ['min', 'min'])).toBe(before);
      }),
    );
  });

  it('is the box to the reference for one point, and 0 for a point beyond the reference', () => {
    expect(hypervolume2d([[0.9, 2]], [0.5, 10], ['max', 'min'])).toBeCloseTo(0.4 * 8, 12);
    expect(hypervolume2d([[0.4, 2]], [0.5, 10], ['max', 'min'])).toBe(0);
    expect(hypervolume2d([], [1, 1], ['min', 'min'])).toBe(0);
  });
});

describe('violationOf', () => {
  it('sums the shortfalls, and a missing value is Infinity', () => {
    const constraints = [
      { name: 'val_accuracy', op: '>=' as const, bound: 0.98 },
      { name: 'size_bytes', op: '<=' as const, bound: 1000 },
    ];
    expect(violationOf({ val_accuracy: 0.99, size_bytes: 900 }, constraints)).toBe(0);
    expect(violationOf({ val_accuracy: 0.97, size_bytes: 1100 }, constraints)).toBeCloseTo(100.01, 10);
    expect(violationOf({ val_accuracy: 0.99 }, constraints)).toBe(Infinity);
  });
});
