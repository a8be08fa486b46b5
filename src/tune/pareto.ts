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
  if (a.violation === 0 && b.violation > 0) return true;
  if (a.violation > 0 || b.violation > 0) return a.violation < b.violation;
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
 * NSGA-II's crowding distance of each point within one front: the boundary points of every
 * objective get Infinity; the others the sum of their neighbours' normalised gaps.
 */
export function crowdingDistance(values: readonly (readonly number[])[]): number[] {
  const n = values.length;
  const distance = values.map(() => 0);
  if (n === 0) return distance;
  const dims = (values[0] as readonly number[]).length;
  for (let m = 0; m < dims; m++) {
    const order = values.map((_, i) => i).sort((a, b) => (values[a]?.[m] as number) - (values[b]?.[m] as number));
    const lo = values[order[0] as number]?.[m] as number;
    const hi = values[order[n - 1] as number]?.[m] as number;
    distance[order[0] as number] = Infinity;
    distance[order[n - 1] as number] = Infinity;
    if (hi === lo) continue;
    for (let k = 1; k < n - 1; k++) {
      const i = order[k] as number;
      const gap = ((values[order[k + 1] as number]?.[m] as number) - (values[order[k - 1] as number]?.[m] as number)) / (hi - lo);
      distance[i] = (distance[i] as number) + gap;
    }
  }
  return distance;
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
