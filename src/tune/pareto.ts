/**
 * Pareto dominance for multi-objective studies, as pure functions over value vectors with one
 * direction per objective: dominance, constrained dominance (Deb's rule, as NSGA-II and Optuna use
 * it: feasible beats infeasible, less violation beats more), non-dominated sorting and crowding
 * distance, and the front of a study's trials.
 * @module
 */
import type { Constraint, Direction, FrozenTrial, Objective } from './trial.js';

/** True when `a` is at least as good as `b` in every objective and better in one. */
export function dominates(a: readonly number[], b: readonly number[], directions: readonly Direction[]): boolean {
  let better = false;
  for (let i = 0; i < directions.length; i++) {
    const x = oriented(a[i], directions[i]);
    const y = oriented(b[i], directions[i]);
    if (x > y) return false;
    if (x < y) better = true;
  }
  return better;
}

/** A point with how far it misses its constraints (0 = feasible). */
export interface Scored {
  readonly values: readonly number[];
  readonly violation: number;
}

/** Deb's constrained domination: feasibility first, then less violation, then plain dominance. */
export function constrainedDominates(a: Scored, b: Scored, directions: readonly Direction[]): boolean {
  const [va, vb] = [violationRank(a.violation), violationRank(b.violation)];
  if (va > 0 || vb > 0) return va < vb;
  return dominates(a.values, b.values, directions);
}

/**
 * Indices grouped into fronts (Deb's fast non-dominated sort): front 0 is non-dominated, front 1 is
 * non-dominated once front 0 is removed, and so on. Within a front, indices keep their order.
 */
export function nonDominatedSort(points: readonly Scored[], directions: readonly Direction[]): number[][] {
  const dominatedBy = points.map(() => 0);
  const dominating: number[][] = points.map(() => []);
  for (let i = 0; i < points.length; i++) {
    for (let j = i + 1; j < points.length; j++) {
      const [a, b] = [points[i] as Scored, points[j] as Scored];
      if (constrainedDominates(a, b, directions)) {
        (dominating[i] as number[]).push(j);
        dominatedBy[j] = (dominatedBy[j] as number) + 1;
      } else if (constrainedDominates(b, a, directions)) {
        (dominating[j] as number[]).push(i);
        dominatedBy[i] = (dominatedBy[i] as number) + 1;
      }
    }
  }
  const fronts: number[][] = [];
  let current = points.map((_, i) => i).filter((i) => dominatedBy[i] === 0);
  while (current.length > 0) {
    fronts.push(current);
    const next: number[] = [];
    for (const i of current) {
      for (const j of dominating[i] as number[]) {
        dominatedBy[j] = (dominatedBy[j] as number) - 1;
        if (dominatedBy[j] === 0) next.push(j);
      }
    }
    current = next.sort((a, b) => a - b);
  }
  return fronts;
}

/**
 * NSGA-II's crowding distance of each point within one front. Per objective whose values are not
 * all equal, the points at its minimum or maximum get Infinity; every other point adds the gap
 * between the nearest distinct values below and above its own, over the objective's range. Ties
 * are treated as one value, so the distances do not depend on the points' order (Deb's and
 * Optuna's sort-and-walk gives tied points different distances by index). An objective with an
 * infinite range only marks its boundary points. Values must not be NaN.
 */
export function crowdingDistance(values: readonly (readonly number[])[]): number[] {
  const distance = values.map(() => 0);
  const dims = values[0]?.length ?? 0;
  for (let m = 0; m < dims; m++) {
    const column = values.map((v) => v[m] as number);
    const distinct = [...new Set(column)].sort((a, b) => a - b);
    const lo = distinct[0] as number;
    const hi = distinct[distinct.length - 1] as number;
    if (hi === lo) continue;
    const span = hi - lo;
    const rank = new Map(distinct.map((v, k) => [v, k]));
    column.forEach((v, i) => {
      if (v === lo || v === hi) {
        distance[i] = Infinity;
      } else if (Number.isFinite(span)) {
        const k = rank.get(v) as number;
        distance[i] = (distance[i] as number) + ((distinct[k + 1] as number) - (distinct[k - 1] as number)) / span;
      }
    });
  }
  return distance;
}

/**
 * The area (2-D hypervolume) that `points` dominate, bounded by `reference`: the union of the boxes
 * between each point and the reference. Points not strictly better than the reference in both
 * objectives add nothing.
 */
export function hypervolume2d(points: readonly (readonly number[])[], reference: readonly number[], directions: readonly [Direction, Direction]): number {
  const [rx, ry] = [oriented(reference[0], directions[0]), oriented(reference[1], directions[1])];
  const inside = points
    .map((p) => [oriented(p[0], directions[0]), oriented(p[1], directions[1])] as const)
    .filter(([x, y]) => x < rx && y < ry)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  // Sweeping by the first objective, each point that lowers the best second objective so far adds
  // the strip between the two, from its first objective to the reference.
  let area = 0;
  let bestY = ry;
  for (const [x, y] of inside) {
    if (y >= bestY) continue;
    area += (rx - x) * (bestY - y);
    bestY = y;
  }
  return area;
}

/** How far `summary` misses `constraints`: the sum of each bound's shortfall (0 = feasible; a missing value counts as Infinity). */
export function violationOf(summary: Readonly<Record<string, number>>, constraints: readonly Constraint[]): number {
  let total = 0;
  for (const c of constraints) {
    const value = summary[c.name];
    if (value === undefined || Number.isNaN(value)) return Infinity;
    total += c.op === '>=' ? Math.max(0, c.bound - value) : Math.max(0, value - c.bound);
  }
  return total;
}

/**
 * The study's Pareto front: completed, feasible trials that no other such trial dominates, by
 * trial number. With one objective it is the best trial(s).
 */
export function paretoFront(trials: readonly FrozenTrial[], objectives: readonly Objective[]): FrozenTrial[] {
  const candidates = trials.filter(
    (t): t is FrozenTrial & { scores: readonly number[] } => t.state === 'completed' && t.scores !== undefined && (t.violation ?? 0) === 0,
  );
  const directions = objectives.map((o) => o.direction);
  return candidates.filter((t) => !candidates.some((other) => other !== t && dominates(other.scores, t.scores, directions)));
}

/** Makes every objective a minimisation, so comparisons need one sign. NaN or a missing value is worst. */
function oriented(value: number | undefined, direction: Direction | undefined): number {
  if (value === undefined || Number.isNaN(value)) return Infinity;
  return direction === 'max' ? -value : value;
}

/** A NaN violation (a constraint value that could not be computed) counts as the worst, never as feasible. */
function violationRank(violation: number): number {
  return Number.isNaN(violation) ? Infinity : violation;
}
