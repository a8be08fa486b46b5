import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HpValue } from '../../src/models/spec.js';
import { parameterImportances } from '../../src/tune/importance.js';
import { createSearchSpace, probToValue } from '../../src/tune/space.js';
import { PyRandom } from '../../src/util/random.js';
import { frozenTrial } from './helpers.js';

const SPACE = createSearchSpace({
  a: { type: 'float', min: 1e-4, max: 1e-1, sampling: 'log' },
  b: { type: 'int', min: 1, max: 8 },
  c: { type: 'choice', values: ['relu', 'tanh', 'gelu'] },
  fixed: { type: 'fixed', value: 'adam' },
  same: { type: 'float', min: 0, max: 1 },
});

/** `n` completed trials with random values (`same` always 0.5) scored by `score`. */
function trials(n: number, seed: number, score: (v: Record<string, HpValue>) => number) {
  const rng = new PyRandom(seed);
  return Array.from({ length: n }, (_, number) => {
    const values: Record<string, HpValue> = Object.fromEntries(SPACE.map(({ name, hp }) => [name, probToValue(hp, rng.random())]));
    values.same = 0.5;
    const y = score(values);
    return frozenTrial({ number, values, score: y, scores: [y, -y] });
  });
}

const onlyA = (v: Record<string, HpValue>) => Math.log10(v.a as number) ** 2;

describe('parameterImportances', () => {
  it('gives most of the importance to the one parameter the score depends on, and 0 to constant ones', () => {
    const result = parameterImportances(trials(80, 1, onlyA), SPACE, 0, { seed: 7 });
    expect(result[0]?.name).toBe('a');
    expect(result[0]?.importance).toBeGreaterThan(0.9);
    expect(result.find((r) => r.name === 'fixed')?.importance).toBe(0);
    expect(result.find((r) => r.name === 'same')?.importance).toBe(0);
  });

  it('splits an additive score by the variance of each term: y = x + 2z gives about 1/5 and 4/5', () => {
    const space = createSearchSpace({ x: { type: 'float', min: 0, max: 1 }, z: { type: 'float', min: 0, max: 1 } });
    const rng = new PyRandom(11);
    const study = Array.from({ length: 300 }, (_, number) => {
      const [x, z] = [rng.random(), rng.random()];
      return frozenTrial({ number, values: { x, z }, score: x + 2 * z });
    });
    const byName = Object.fromEntries(parameterImportances(study, space, 0, { seed: 2, trees: 16 }).map((r) => [r.name, r.importance]));
    expect(byName.x).toBeCloseTo(0.2, 1);
    expect(byName.z).toBeCloseTo(0.8, 1);
  });

  it('finds a categorical driver, on any objective of several', () => {
    const byChoice = (v: Record<string, HpValue>) => ({ relu: 0, tanh: 1, gelu: 3 })[v.c as 'relu' | 'tanh' | 'gelu'];
    const result = parameterImportances(trials(60, 2, byChoice), SPACE, 1, { seed: 1, trees: 16 });
    expect(result[0]).toEqual({ name: 'c', importance: expect.closeTo(1, 1) });
  });

  it('sums to 1 (or is all zeros), is non-negative, sorted, and the same for the same seed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 2, max: 30 }), (seed, n) => {
        const study = trials(n, seed, (v) => (v.b as number) * Math.log10(v.a as number) + (v.c === 'relu' ? 1 : 0));
        const result = parameterImportances(study, SPACE, 0, { seed, trees: 4 });
        // All zeros only when every bootstrap tree came out constant (a tiny study).
        const sum = result.reduce((s, r) => s + r.importance, 0);
        if (result.some((r) => r.importance > 0)) expect(sum).toBeCloseTo(1, 9);
        for (const r of result) expect(r.importance).toBeGreaterThanOrEqual(0);
        expect([...result].sort((p, q) => q.importance - p.importance)).toEqual(result);
        expect(parameterImportances(study, SPACE, 0, { seed, trees: 4 })).toEqual(result);
      }),
      { numRuns: 30 },
    );
  });

  it('is all zeros when the score is constant or there are too few trials, and leaves out parameters some trial lacks', () => {
    expect(parameterImportances(trials(20, 3, () => 1), SPACE, 0, { seed: 1 }).every((r) => r.importance === 0)).toBe(true);
    expect(parameterImportances(trials(1, 3, onlyA), SPACE, 0, { seed: 1 }).map((r) => r.importance)).toEqual([0, 0, 0, 0, 0]);
    const partial = trials(20, 4, onlyA).map((t, i) => (i === 0 ? { ...t, values: { a: t.values.a as HpValue } } : t));
    expect(parameterImportances(partial, SPACE, 0, { seed: 1 }).map((r) => r.name)).toEqual(['a']);
  });

  it('ignores trials that did not complete or have no score for the objective', () => {
    const study = trials(40, 5, onlyA);
    const noisy = [...study, frozenTrial({ number: 40, values: study[0]?.values, state: 'pruned' }), frozenTrial({ number: 41, values: study[1]?.values, state: 'failed' })];
    expect(parameterImportances(noisy, SPACE, 0, { seed: 3 })).toEqual(parameterImportances(study, SPACE, 0, { seed: 3 }));
  });
});
