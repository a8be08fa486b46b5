import { describe, expect, it } from 'vitest';
import { DISTILLATION_DEFAULTS, kdLoss } from '../../src/engine/index.js';
import { PyRandom } from '../../src/util/random.js';

/** A random row of `classes` probabilities, one value in five exactly 0 (an underflowed softmax). */
function probabilities(rng: PyRandom, classes: number): number[] {
  const raw = Array.from({ length: classes }, () => (rng.random() < 0.2 ? 0 : rng.random() ** 3));
  const sum = raw.reduce((a, b) => a + b, 0);
  return sum > 0 ? raw.map((v) => v / sum) : raw.map(() => 1 / classes);
}

/** Random (student, teacher, label, T, α) draws. */
function* draws(seed: number, count: number): Generator<{ s: number[]; t: number[]; label: number; temperature: number; alpha: number }> {
  const rng = new PyRandom(seed);
  for (let i = 0; i < count; i++) {
    const classes = 2 + rng.below(9);
    yield { s: probabilities(rng, classes), t: probabilities(rng, classes), label: rng.below(classes), temperature: 0.25 + rng.random() * 20, alpha: rng.random() };
  }
}

describe('kdLoss', () => {
  it("defaults to Keras' example: T = 10, α = 0.1", () => {
    expect(DISTILLATION_DEFAULTS).toEqual({ temperature: 10, alpha: 0.1 });
  });

  it('is the hard-label cross-entropy, clipped to [1e-7, 1 − 1e-7], at α = 1', () => {
    for (const { s, t, label, temperature } of draws(1, 300)) expect(kdLoss(s, t, label, temperature, 1)).toBe(-Math.log(Math.min(Math.max(s[label] as number, 1e-7), 1 - 1e-7)));
  });

  it('adds nothing to α · cross-entropy when the student is the teacher, and never less', () => {
    for (const { s, t, label, temperature, alpha } of draws(2, 300)) {
      const hard = alpha * kdLoss(s, t, label, temperature, 1);
      expect(kdLoss(s, s, label, temperature, alpha)).toBeCloseTo(hard, 12);
      expect(kdLoss(s, t, label, temperature, alpha)).toBeGreaterThanOrEqual(hard - 1e-12);
    }
  });

  it("softens the log-probabilities: neither a teacher's scale matters nor whether a student's row sums to 1 (rows without zeros, which stay at the floor)", () => {
    for (const { s, t, label, temperature } of draws(3, 600)) {
      if ([...s, ...t].includes(0)) continue;
      const loss = kdLoss(s, t, label, temperature, 0);
      expect(kdLoss(s, t.map((v) => v * 3), label, temperature, 0)).toBeCloseTo(loss, 9);
      expect(kdLoss(s.map((v) => v / 2), t, label, temperature, 0)).toBeCloseTo(loss, 9);
    }
  });

  it('is T² · KL between the softened distributions, by hand', () => {
    // T = 1: the distributions themselves. KL([0.8, 0.2] ‖ [0.5, 0.5]) = 0.8 ln 1.6 + 0.2 ln 0.4.
    expect(kdLoss([0.5, 0.5], [0.8, 0.2], 0, 1, 0)).toBeCloseTo(0.8 * Math.log(1.6) + 0.2 * Math.log(0.4), 12);
    // T = 2: the teacher softened to ∝ [√0.8, √0.2] = [2/3, 1/3]; T² = 4; half the cross-entropy added at α = 0.5.
    const soft = 4 * ((2 / 3) * Math.log(4 / 3) + (1 / 3) * Math.log(2 / 3));
    expect(kdLoss([0.5, 0.5], [0.8, 0.2], 1, 2, 0.5)).toBeCloseTo(0.5 * Math.log(2) + 0.5 * soft, 12);
  });

  it('stays finite for probabilities that underflowed to 0, on either side', () => {
    expect(Number.isFinite(kdLoss([1, 0, 0], [0, 0, 1], 1, 10, 0.1))).toBe(true);
    expect(Number.isFinite(kdLoss([0, 0, 1], [1, 0, 0], 0, 0.5, 0))).toBe(true);
  });
});
