/**
 * Parameter importances, fANOVA-lite (Hutter et al. 2014, Optuna's default evaluator): a seeded
 * random forest of regression trees fitted to completed trials, each parameter mapped to [0, 1]
 * through valueToProb (a choice becomes its bucket centre), then for every tree the share of its
 * variance over the uniform unit cube that the parameter's first-order marginal explains. A tree
 * is piecewise constant on boxes, so the marginals and variances are exact sums over its leaves.
 * Pure: the same trials and seed give the same importances.
 * @module
 */
import { PyRandom } from '../util/random.js';
import type { SpaceEntry } from './space.js';
import { valueToProb } from './space.js';
import type { FrozenTrial } from './trial.js';

export interface Importance {
  readonly name: string;
  /** Share of the explained variance; the list sums to 1 (all 0 when no parameter explains any). */
  readonly importance: number;
}

export interface ImportanceOptions {
  readonly seed: number;
  /** Trees in the forest (Optuna: 64). */
  readonly trees?: number;
  /** Deepest split (Optuna: 64). */
  readonly maxDepth?: number;
}

/**
 * How much each parameter of `space` explains objective `objectiveIndex` over the completed trials,
 * highest first (ties by name). Only parameters every such trial has active take part (Optuna's
 * intersection space); a trial without a score for the objective is left out.
 */
export function parameterImportances(trials: readonly FrozenTrial[], space: readonly SpaceEntry[], objectiveIndex: number, options: ImportanceOptions): Importance[] {
  const scored = trials.flatMap((t) => {
    const y = t.scores?.[objectiveIndex] ?? (objectiveIndex === 0 ? t.score : undefined);
    return t.state === 'completed' && y !== undefined && Number.isFinite(y) ? [{ trial: t, y }] : [];
  });
  const columns = space.flatMap(({ name, hp }) => {
    const column = scored.map(({ trial }) => {
      const value = trial.values[name];
      if (value === undefined || (hp.type === 'choice' && !hp.values.includes(value))) return undefined;
      return Math.min(Math.max(valueToProb(hp, value), 0), 1);
    });
    return column.every((x) => x !== undefined) ? [{ name, column: column as number[] }] : [];
  });
  const x = scored.map((_, i) => columns.map((c) => c.column[i] as number));
  const y = scored.map((s) => s.y);
  const totals = columns.map(() => 0);
  if (scored.length >= 2 && columns.length > 0) {
    const rng = new PyRandom(options.seed);
    const maxDepth = options.maxDepth ?? 64;
    for (let t = 0; t < (options.trees ?? 64); t++) {
      const sample = y.map(() => rng.below(y.length));
      const tree = grow(x, y, sample, 0, maxDepth, rng, columns.length);
      marginalShares(tree, columns.length)?.forEach((share, j) => (totals[j] = (totals[j] as number) + share));
    }
  }
  const sum = totals.reduce((a, b) => a + b, 0);
  return columns
    .map((c, j) => ({ name: c.name, importance: sum > 0 ? (totals[j] as number) / sum : 0 }))
    .sort((a, b) => b.importance - a.importance || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

type Tree = { readonly value: number } | { readonly feature: number; readonly threshold: number; readonly left: Tree; readonly right: Tree };

/**
 * A regression tree on the rows `rows` (a bootstrap sample, repeats allowed): each node takes the
 * split of least squared error over all features (tried in a random order, first best kept, as
 * scikit-learn breaks ties), at the midpoint between two distinct values.
 */
function grow(x: readonly number[][], y: readonly number[], rows: readonly number[], depth: number, maxDepth: number, rng: PyRandom, features: number): Tree {
  const mean = rows.reduce((s, r) => s + (y[r] as number), 0) / rows.length;
  if (depth >= maxDepth || rows.every((r) => y[r] === y[rows[0] as number])) return { value: mean };
  let best: { sse: number; feature: number; threshold: number } | undefined;
  for (const feature of shuffled(features, rng)) {
    const sorted = [...rows].sort((a, b) => (x[a]?.[feature] as number) - (x[b]?.[feature] as number));
    const ys = sorted.map((r) => y[r] as number);
    const total = ys.reduce((s, v) => s + v, 0);
    const totalSq = ys.reduce((s, v) => s + v * v, 0);
    let [sum, sumSq] = [0, 0];
    for (let k = 1; k < sorted.length; k++) {
      sum += ys[k - 1] as number;
      sumSq += (ys[k - 1] as number) ** 2;
      const [lo, hi] = [x[sorted[k - 1] as number]?.[feature] as number, x[sorted[k] as number]?.[feature] as number];
      if (lo === hi) continue;
      const sse = sumSq - (sum * sum) / k + (totalSq - sumSq - ((total - sum) * (total - sum)) / (sorted.length - k));
      if (best === undefined || sse < best.sse) best = { sse, feature, threshold: (lo + hi) / 2 };
    }
  }
  if (best === undefined) return { value: mean };
  const { feature, threshold } = best;
  const left = rows.filter((r) => (x[r]?.[feature] as number) <= threshold);
  const right = rows.filter((r) => (x[r]?.[feature] as number) > threshold);
  return { feature, threshold, left: grow(x, y, left, depth + 1, maxDepth, rng, features), right: grow(x, y, right, depth + 1, maxDepth, rng, features) };
}

interface Leaf {
  readonly value: number;
  /** Per feature, the leaf's interval [lo, hi] within [0, 1]. */
  readonly box: readonly (readonly [number, number])[];
}

/**
 * Each feature's first-order marginal variance over the tree's total variance, under the uniform
 * distribution on [0, 1]^d; undefined for a constant tree (nothing to explain).
 */
function marginalShares(tree: Tree, features: number): number[] | undefined {
  const leaves: Leaf[] = [];
  const thresholds: number[][] = Array.from({ length: features }, () => [0, 1]);
  const walk = (node: Tree, box: (readonly [number, number])[]): void => {
    if ('value' in node) {
      leaves.push({ value: node.value, box });
      return;
    }
    const [lo, hi] = box[node.feature] as readonly [number, number];
    (thresholds[node.feature] as number[]).push(node.threshold);
    walk(node.left, box.map((b, j) => (j === node.feature ? [lo, Math.min(hi, node.threshold)] : b)));
    walk(node.right, box.map((b, j) => (j === node.feature ? [Math.max(lo, node.threshold), hi] : b)));
  };
  walk(tree, Array.from({ length: features }, () => [0, 1] as const));
  const volume = (leaf: Leaf) => leaf.box.reduce((v, [lo, hi]) => v * (hi - lo), 1);
  const mean = leaves.reduce((s, leaf) => s + leaf.value * volume(leaf), 0);
  const variance = leaves.reduce((s, leaf) => s + volume(leaf) * (leaf.value - mean) ** 2, 0);
  if (!(variance > 0)) return undefined;
  return thresholds.map((cuts, j) => {
    const points = [...new Set(cuts)].sort((a, b) => a - b);
    let marginalVariance = 0;
    for (let k = 1; k < points.length; k++) {
      const [lo, hi] = [points[k - 1] as number, points[k] as number];
      const mid = (lo + hi) / 2;
      // The marginal at mid: every leaf whose interval on j holds mid, weighted by its volume in the other dimensions.
      let marginal = 0;
      for (const leaf of leaves) {
        const [a, b] = leaf.box[j] as readonly [number, number];
        if (a <= mid && mid <= b && b > a) marginal += (leaf.value * volume(leaf)) / (b - a);
      }
      marginalVariance += (hi - lo) * (marginal - mean) ** 2;
    }
    return marginalVariance / variance;
  });
}

/** 0 … n−1 in a random order (Fisher–Yates). */
function shuffled(n: number, rng: PyRandom): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  return order;
}
