import { afterAll, describe, expect, it } from 'vitest';
import { constantSparsity, createMagnitudePruner, keptCount, magnitudeMask, polynomialDecay, prunableKernels } from '../../src/compress/index.js';
import type { Dataset } from '../../src/data/index.js';
import { createEngines, type CompiledModel } from '../../src/engine/index.js';
import { defineSpec, resolveModelSpec, type ModelSpec } from '../../src/models/index.js';
import { fit } from '../../src/train/fit.js';
import { PyRandom } from '../../src/util/random.js';
import { signedValues } from '../engine/values.js';

/** TF-MOT's PolynomialDecay formula, in double precision. */
function formula(t: number, si: number, sf: number, t0: number, tEnd: number, power: number): number {
  const p = Math.min(1, Math.max(0, (t - t0) / (tEnd - t0)));
  return sf + (si - sf) * (1 - p) ** power;
}

describe('polynomialDecay (TF-MOT PolynomialDecay)', () => {
  it('follows s_t = s_f + (s_i − s_f)(1 − (t − t0)/(t_end − t0))^p and prunes every `frequency` steps in [begin, end]', () => {
    const schedule = polynomialDecay({ initialSparsity: 0.1, finalSparsity: 0.8, beginStep: 10, endStep: 110, power: 2, frequency: 20 });
    const table: [step: number, update: boolean][] = [
      [0, false],
      [9, false],
      [10, true],
      [11, false],
      [30, true],
      [50, true],
      [60, false],
      [109, false],
      [110, true],
      [111, false],
      [130, false],
      [1000, false],
    ];
    for (const [step, update] of table) {
      const got = schedule(step);
      expect([step, got.update]).toEqual([step, update]);
      expect(got.sparsity).toBeCloseTo(formula(step, 0.1, 0.8, 10, 110, 2), 6);
      // Computed in float32, as TensorFlow does.
      expect(Math.fround(got.sparsity)).toBe(got.sparsity);
    }
    // TensorFlow's float32: (s_i − s_f) and s_f are float32 constants, so at the start it gives −0.7f + 0.8f, not 0.1f.
    expect(schedule(10).sparsity).toBe(Math.fround(Math.fround(0.1 - 0.8) + Math.fround(0.8)));
    expect(schedule(110).sparsity).toBe(Math.fround(0.8));
  });

  it('defaults to power 3 and frequency 100, as TF-MOT', () => {
    const schedule = polynomialDecay({ initialSparsity: 0, finalSparsity: 0.5, beginStep: 0, endStep: 1000 });
    expect([0, 50, 100, 150, 900, 1000, 1100].map((s) => schedule(s).update)).toEqual([true, false, true, false, true, true, false]);
    expect(schedule(500).sparsity).toBe(0.4375);
    for (const s of [0, 123, 250, 777, 1000]) expect(schedule(s).sparsity).toBeCloseTo(formula(s, 0, 0.5, 0, 1000, 3), 6);
  });

  it('refuses what TF-MOT refuses, and a decay over no steps', () => {
    const base = { initialSparsity: 0, finalSparsity: 0.5, beginStep: 5, endStep: 10 };
    for (const bad of [{ endStep: 4 }, { endStep: -1 }, { endStep: 5 }, { beginStep: -1 }, { frequency: 0 }, { finalSparsity: 1 }, { initialSparsity: -0.1 }]) {
      expect(() => polynomialDecay({ ...base, ...bad }), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'E_CONFIG_INVALID' }));
    }
  });
});

describe('constantSparsity (TF-MOT ConstantSparsity)', () => {
  it('prunes at its target every `frequency` steps from beginStep, forever by default', () => {
    const forever = constantSparsity({ targetSparsity: 0.5, beginStep: 3, frequency: 4 });
    expect([2, 3, 5, 7, 11, 4003].map((s) => forever(s).update)).toEqual([false, true, false, true, true, true]);
    expect(forever(7).sparsity).toBe(0.5);
    const bounded = constantSparsity({ targetSparsity: 0.5, beginStep: 3, endStep: 7, frequency: 4 });
    expect([3, 7, 11].map((s) => bounded(s).update)).toEqual([true, true, false]);
  });
});

describe('magnitudeMask (TF-MOT pruning_impl, block 1×1)', () => {
  it('keeps round(size·(1 − s)) weights in float32, halves to even, at least 1', () => {
    expect(keptCount(4, 0.5)).toBe(2);
    expect(keptCount(10, 0.25)).toBe(8); // 7.5 → 8
    expect(keptCount(6, 0.25)).toBe(4); // 4.5 → 4, where Math.round gives 5
    expect(keptCount(3, 0.99)).toBe(1);
    expect(keptCount(7, 0)).toBe(7);
  });

  it('keeps exactly the k largest magnitudes when they are distinct (seeded property loop)', () => {
    const rng = new PyRandom(1234);
    for (let trial = 0; trial < 300; trial++) {
      const size = 1 + rng.below(400);
      const sparsity = rng.random() * 0.999;
      // Distinct magnitudes: a shuffled ramp with random signs.
      const ranks = Array.from({ length: size }, (_, i) => i);
      for (let i = size - 1; i > 0; i--) {
        const j = rng.below(i + 1);
        [ranks[i], ranks[j]] = [ranks[j] as number, ranks[i] as number];
      }
      const values = Float32Array.from(ranks, (r) => (r + 1) * 0.01 * (rng.random() < 0.5 ? -1 : 1));
      const mask = magnitudeMask(values, sparsity);
      const k = keptCount(size, sparsity);
      // Away from halves (where float32 and the rounding rule decide), k is the plain rounding.
      const exact = size * (1 - sparsity);
      if (Math.abs((exact % 1) - 0.5) > 1e-3) expect(k).toBe(Math.max(1, Math.round(exact)));
      expect(mask.reduce((a, b) => a + b, 0)).toBe(k);
      // Every kept magnitude is above every pruned one.
      const kept = ranks.filter((_, i) => mask[i] === 1);
      const pruned = ranks.filter((_, i) => mask[i] === 0);
      expect(Math.min(...kept)).toBeGreaterThan(pruned.length === 0 ? -1 : Math.max(...pruned));
    }
  });

  it('keeps every weight tied with the k-th largest, as TF-MOT (|w| ≥ threshold)', () => {
    expect([...magnitudeMask(Float32Array.of(3, -3, 1, 3, 2), 0.6)]).toEqual([1, 1, 0, 1, 0]); // k = 2, three tie at 3
    expect([...magnitudeMask(Float32Array.of(0.5, -0.5, 0.5, 0.5), 0.5)]).toEqual([1, 1, 1, 1]);
    expect([...magnitudeMask(Float32Array.of(0, 0, 0, 1), 0.9)]).toEqual([0, 0, 0, 1]);
    expect([...magnitudeMask(Float32Array.of(0, 1), 0)]).toEqual([1, 1]);
  });
});

const spec: ModelSpec = resolveModelSpec(
  defineSpec({
    name: 'prune-fit',
    numClasses: 3,
    model: {
      input: [6, 6, 1],
      layers: [
        { type: 'conv2d', filters: 4, kernelSize: 3, activation: 'relu' },
        { type: 'flatten' },
        { type: 'dense', units: 8, activation: 'relu' },
        { type: 'dense', units: 3, activation: 'softmax' },
      ],
    },
  }),
  {},
);

function zeros(values: Float32Array): number {
  return values.reduce((n, v) => n + (v === 0 ? 1 : 0), 0);
}

describe('magnitude pruning during a fine-tune', () => {
  it('prunes the conv and dense kernels but not biases, nor the output layer unless asked', () => {
    expect(prunableKernels(spec)).toEqual(['conv2d/kernel', 'dense/kernel']);
    expect(prunableKernels(spec, true)).toEqual(['conv2d/kernel', 'dense/kernel', 'dense_1/kernel']);
  });

  const engines = createEngines();
  const open: CompiledModel[] = [];
  afterAll(() => open.forEach((m) => m.dispose()));

  for (const name of ['onnx', 'tfjs'] as const) {
    it(`${name}: masks follow the schedule step by step and every pruned kernel ends at the final sparsity; the model still predicts`, async () => {
      const engine = engines[name];
      await engine.ready();
      const model = await engine.compile(spec, { seed: 3 });
      open.push(model);
      const n = 32;
      const train: Dataset = { name: 'synthetic', x: signedValues(11, n * 36), y: Int32Array.from({ length: n }, (_, i) => i % 3), n, featureShape: [6, 6, 1], numClasses: 3 };
      const schedule = polynomialDecay({ initialSparsity: 0, finalSparsity: 0.75, beginStep: 2, endStep: 8, frequency: 2 });
      const pruner = createMagnitudePruner(model, { schedule });
      const initial = await model.getWeights();
      const sizes = new Map(initial.map((w) => [w.name, w.values.length]));
      // The sparsity of the last mask made for a step up to `step`, where one was.
      const lastMask = (step: number): number | undefined => {
        for (let s = step; s >= 1; s--) if (schedule(s).update) return schedule(s).sparsity;
        return undefined;
      };
      const seen: [number, number, number][] = [];
      await pruner.update(0);
      await fit({
        model,
        train,
        epochs: 3,
        batchSize: 8,
        seed: 1,
        shuffle: true,
        afterStep: async (steps) => {
          await pruner.update(steps);
          const kernel = (await model.getWeights()).find((w) => w.name === 'conv2d/kernel');
          const sparsity = lastMask(steps + 1);
          seen.push([steps, zeros(kernel?.values ?? new Float32Array()), sparsity === undefined ? 0 : 36 - keptCount(36, sparsity)]);
        },
      });
      expect(seen.map(([s]) => s)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      for (const [steps, got, expected] of seen) expect([steps, got]).toEqual([steps, expected]);
      expect(Math.max(...seen.map(([, z]) => z))).toBe(27);

      const final = await model.getWeights();
      for (const w of final) {
        const size = sizes.get(w.name) as number;
        if (pruner.targets.includes(w.name)) expect([w.name, zeros(w.values)]).toEqual([w.name, size - keptCount(size, 0.75)]);
        else expect([w.name, zeros(w.values) < size]).toEqual([w.name, true]);
      }
      // The kept weights trained.
      const before = initial.find((w) => w.name === 'dense/kernel')?.values;
      const after = final.find((w) => w.name === 'dense/kernel')?.values;
      expect(after?.some((v, i) => v !== 0 && v !== before?.[i])).toBe(true);
      const probs = await model.predict(train.x, n);
      for (let r = 0; r < n; r++) expect((probs[3 * r] as number) + (probs[3 * r + 1] as number) + (probs[3 * r + 2] as number)).toBeCloseTo(1, 5);
    });
  }
});
