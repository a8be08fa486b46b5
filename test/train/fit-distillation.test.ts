import { describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/index.js';
import { createOnnxEngine, DISTILLATION_DEFAULTS, kdLoss, type CompiledModel, type Distillation } from '../../src/engine/index.js';
import { defineSpec, resolveModelSpec } from '../../src/models/index.js';
import { fit } from '../../src/train/index.js';
import { PyRandom } from '../../src/util/random.js';

const engine = createOnnxEngine();
const CLASSES = 3;

const spec = resolveModelSpec(
  defineSpec({
    name: 'student',
    numClasses: CLASSES,
    model: {
      input: [4],
      layers: [
        { type: 'dense', units: 8, activation: 'tanh' },
        { type: 'dense', units: CLASSES, activation: 'softmax' },
      ],
    },
    compile: { optimizer: { type: 'adam', learningRate: 0.005 } },
  }),
  {},
);

/**
 * A tiny problem with a teacher: x uniform in [-1, 1)⁴, the teacher's probabilities softmax(W·x)
 * for a fixed random W (soft, so they say more than the labels), the labels the teacher's argmax.
 */
function problem(n: number, seed: number): { train: Dataset; teacher: Float32Array } {
  const rng = new PyRandom(seed);
  const w = Array.from({ length: CLASSES * 4 }, () => rng.random() * 4 - 2);
  const x = Float32Array.from({ length: n * 4 }, () => rng.random() * 2 - 1);
  const teacher = new Float32Array(n * CLASSES);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const logits = Array.from({ length: CLASSES }, (_, c) => [0, 1, 2, 3].reduce((sum, k) => sum + (w[c * 4 + k] as number) * (x[i * 4 + k] as number), 0));
    const e = logits.map((v) => Math.exp(v));
    const total = e.reduce((a, b) => a + b, 0);
    e.forEach((v, c) => (teacher[i * CLASSES + c] = v / total));
    y[i] = logits.indexOf(Math.max(...logits));
  }
  return { train: { name: 'synthetic', x, y, n, featureShape: [4], numClasses: CLASSES }, teacher };
}

/** The student's mean KL from the teacher over the data (kdLoss at α = 0, T = 1). */
async function klToTeacher(model: CompiledModel, train: Dataset, teacher: Float32Array): Promise<number> {
  const probs = await model.predict(train.x, train.n);
  let sum = 0;
  for (let i = 0; i < train.n; i++) {
    const row = (a: Float32Array): Float32Array => a.subarray(i * CLASSES, (i + 1) * CLASSES);
    sum += kdLoss(row(probs), row(teacher), train.y[i] as number, 1, 0);
  }
  return sum / train.n;
}

const options = { epochs: 3, batchSize: 16, seed: 7, shuffle: true } as const;

describe('fit with a teacher', () => {
  it('at α = 1 trains as fit without one', async () => {
    const { train, teacher } = problem(100, 1);
    const plain = await engine.compile(spec, { seed: 3 });
    const distilled = await engine.compile(spec, { seed: 3, distillation: { temperature: 10, alpha: 1 } });
    const a = await fit({ ...options, model: plain, train });
    const b = await fit({ ...options, model: distilled, train, teacher });
    expect(b.history.map((r) => r.metrics)).toEqual(a.history.map((r) => r.metrics));
    expect(await distilled.getWeights()).toEqual(await plain.getWeights());
    plain.dispose();
    distilled.dispose();
  });

  it("moves the student toward the teacher's distribution, epoch by epoch", async () => {
    const { train, teacher } = problem(160, 2);
    const run = async (distillation: Distillation, rows: Float32Array): Promise<number[]> => {
      const model = await engine.compile(spec, { seed: 5, distillation });
      const kl = [await klToTeacher(model, train, teacher)];
      await fit({ ...options, epochs: 8, model, train, teacher: rows, onEpochEnd: async () => void kl.push(await klToTeacher(model, train, teacher)) });
      model.dispose();
      return kl;
    };
    const kl = await run(DISTILLATION_DEFAULTS, teacher);
    kl.slice(1).forEach((v, i) => expect(v).toBeLessThan(kl[i] as number));
    expect(kl.at(-1)).toBeLessThan((kl[0] as number) / 10);
    // The teacher's rows must go with their own samples: rows shifted by one sample teach noise.
    const shifted = Float32Array.from({ length: teacher.length }, (_, k) => teacher[(k + CLASSES) % teacher.length] as number);
    const misaligned = await run({ temperature: 10, alpha: 0 }, shifted);
    const aligned = await run({ temperature: 10, alpha: 0 }, teacher);
    expect(aligned.at(-1)).toBeLessThan((misaligned.at(-1) as number) / 2);
  });

  it('refuses teacher probabilities that do not cover the training samples', async () => {
    const { train, teacher } = problem(20, 3);
    const model = await engine.compile(spec, { seed: 1, distillation: DISTILLATION_DEFAULTS });
    await expect(fit({ ...options, model, train, teacher: teacher.subarray(CLASSES) })).rejects.toMatchObject({ code: 'E_SHAPE_MISMATCH', details: { expected: 60, got: 57 } });
    model.dispose();
  });
});
