/**
 * The Engine contract, run by every engine (test/engine/engines.test.ts): compile as profiled,
 * seeded starts, training, prediction, evaluation, weights and optimizer state across the seam,
 * batch checks, save/load and tensor hygiene.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DISTILLATION_DEFAULTS, kdLoss } from '../../src/engine/index.js';
import type { CompiledModel, Engine, NamedWeight } from '../../src/engine/index.js';
import { defineSpec, modelProfile, resolveModelSpec } from '../../src/models/index.js';
import type { ModelSpec, SpecInput } from '../../src/models/index.js';
import { signedValues, teacherRows } from './values.js';

/** A small CNN with batch normalization and dropout: every kind of weight and state an engine keeps. */
const spec: ModelSpec = resolveModelSpec(
  defineSpec({
    name: 'conformance',
    numClasses: 3,
    model: {
      input: [6, 6, 1],
      layers: [
        { type: 'conv2d', filters: 4, kernelSize: 3, activation: 'relu' },
        { type: 'batchNormalization' },
        { type: 'flatten' },
        { type: 'dropout', rate: 0.3 },
        { type: 'dense', units: 3, activation: 'softmax' },
      ],
    },
  }),
  {},
);

function specOf(name: string, layers: SpecInput['model']['layers'], compile?: SpecInput['compile']): ModelSpec {
  return resolveModelSpec(defineSpec({ name, numClasses: 3, model: { input: [6, 6, 1], layers }, ...(compile !== undefined ? { compile } : {}) }), {});
}

function batch(n: number, seed: number): { x: Float32Array; y: Int32Array } {
  return { x: signedValues(seed, n * 36), y: Int32Array.from({ length: n }, (_, i) => (i * 2 + seed) % 3) };
}

function same(a: readonly NamedWeight[], b: readonly NamedWeight[]): boolean {
  return a.length === b.length && a.every((w, i) => w.name === b[i]?.name && w.values.every((v, k) => Object.is(v, b[i]?.values[k])));
}

export function engineConformance(label: string, create: () => Engine): void {
  describe(`Engine contract: ${label}`, () => {
    const engine = create();
    const open: CompiledModel[] = [];
    let root: string;
    const compile = async (seed: number): Promise<CompiledModel> => {
      const model = await engine.compile(spec, { seed });
      open.push(model);
      return model;
    };

    beforeAll(async () => {
      await engine.ready();
      root = await mkdtemp(join(tmpdir(), 'ecoml-engine-'));
    });
    afterAll(async () => {
      for (const m of open) m.dispose();
      await rm(root, { recursive: true, force: true });
    });

    it('compiles a spec as profiled, its weights named and ordered as tfjs-layers does', async () => {
      const model = await compile(1);
      expect(engine.unsupportedReason?.(spec)).toBeUndefined();
      expect(model.spec).toBe(spec);
      expect([model.parameterCount, model.flopsPerSample]).toEqual([modelProfile(spec).parameterCount, modelProfile(spec).flopsPerSample]);
      expect((await model.getWeights()).map((w) => [w.name, w.shape])).toEqual([
        ['conv2d/kernel', [3, 3, 1, 4]],
        ['conv2d/bias', [4]],
        ['batch_normalization/gamma', [4]],
        ['batch_normalization/beta', [4]],
        ['dense/kernel', [64, 3]],
        ['dense/bias', [3]],
        ['batch_normalization/moving_mean', [4]],
        ['batch_normalization/moving_variance', [4]],
      ]);
    });

    it('starts from the same weights for a seed and other weights for another, and trains deterministically, dropout included', async () => {
      const [a, b, c] = [await compile(7), await compile(7), await compile(8)];
      expect(same(await a.getWeights(), await b.getWeights())).toBe(true);
      expect(same(await a.getWeights(), await c.getWeights())).toBe(false);
      const { x, y } = batch(8, 5);
      const losses = [[], []] as number[][];
      for (let step = 0; step < 3; step++) for (const [i, m] of [a, b].entries()) losses[i]?.push((await m.trainBatch(x, y, 8)).loss);
      expect(losses[0]).toEqual(losses[1]);
      expect(same(await a.getWeights(), await b.getWeights())).toBe(true);
    });

    it('trains: steps on one batch lower its loss, metrics are in range, and a last partial batch trains', async () => {
      const model = await compile(2);
      const { x, y } = batch(8, 3);
      const first = await model.trainBatch(x, y, 8);
      let last = first;
      for (let step = 0; step < 15; step++) last = await model.trainBatch(x, y, 8);
      expect(Number.isFinite(first.loss) && last.loss < first.loss).toBe(true);
      for (const m of [first, last]) expect(m.accuracy).toSatisfy((a: number | undefined) => a !== undefined && a >= 0 && a <= 1);
      const partial = await model.trainBatch(x, y, 5);
      expect(Number.isFinite(partial.loss)).toBe(true);
    });

    it('predicts one probability row per sample, the same at any batch size', async () => {
      const model = await compile(3);
      const { x } = batch(10, 4);
      const whole = await model.predict(x, 10, 10);
      expect(whole).toHaveLength(30);
      for (let r = 0; r < 10; r++) expect((whole[3 * r] as number) + (whole[3 * r + 1] as number) + (whole[3 * r + 2] as number)).toBeCloseTo(1, 5);
      const parts = await model.predict(x, 10, 3);
      parts.forEach((v, i) => expect(v).toBeCloseTo(whole[i] as number, 6));
    });

    it('evaluates in batches as in one, without changing the weights', async () => {
      const model = await compile(4);
      const { x, y } = batch(10, 6);
      await model.trainBatch(x, y, 10);
      const before = await model.getWeights();
      const whole = await model.evaluate(x, y, 10, 10);
      const parts = await model.evaluate(x, y, 10, 3);
      expect(parts.loss).toBeCloseTo(whole.loss, 5);
      expect(parts.accuracy).toBeCloseTo(whole.accuracy ?? -1, 6);
      expect(same(await model.getWeights(), before)).toBe(true);
    });

    it('takes weights by name in any order, and refuses unknown names and wrong shapes (E_SHAPE_MISMATCH) leaving its own', async () => {
      const [a, b] = [await compile(1), await compile(2)];
      const theirs = await a.getWeights();
      b.setWeights([...theirs].reverse());
      expect(same(await b.getWeights(), theirs)).toBe(true);
      const own = await b.getWeights();
      const bogus: NamedWeight = { name: 'dense/kernal', shape: [1], values: new Float32Array(1) };
      expect(() => b.setWeights([...theirs, bogus])).toThrow(expect.objectContaining({ code: 'E_SHAPE_MISMATCH' }));
      const misshapen = theirs.map((w) => (w.name === 'dense/bias' ? { ...w, shape: [4], values: new Float32Array(4) } : w));
      expect(() => b.setWeights(misshapen)).toThrow(expect.objectContaining({ code: 'E_SHAPE_MISMATCH' }));
      expect(same(await b.getWeights(), own)).toBe(true);
    });

    it('resumes exactly from its weights and optimizer state', async () => {
      const { x, y } = batch(8, 2);
      const a = await compile(1);
      await a.trainBatch(x, y, 8);
      // Dropout masks follow the compile seed and step: a resume compiles with the same seed. A step
      // on other data first makes sure the restored state replaces the model's own.
      const b = await compile(1);
      await b.trainBatch(batch(8, 7).x, y, 8);
      b.setWeights(await a.getWeights());
      await b.setOptimizerState(await a.getOptimizerState());
      await a.trainBatch(x, y, 8);
      await b.trainBatch(x, y, 8);
      expect(same(await b.getWeights(), await a.getWeights())).toBe(true);
    });

    // A GPU engine keeps the trained weights on the device and reads them back asynchronously.
    it('gives a weight read the weights it began with, though they are replaced before it ends', async () => {
      const [a, twin, b] = [await compile(1), await compile(1), await compile(2)];
      const { x, y } = batch(8, 3);
      await a.trainBatch(x, y, 8);
      await twin.trainBatch(x, y, 8);
      const theirs = await b.getWeights();
      const reading = a.getWeights();
      a.setWeights(theirs);
      expect(same(await reading, await twin.getWeights())).toBe(true);
      expect(same(await a.getWeights(), theirs)).toBe(true);
      // The next step starts from the weights set, and reads back as it left them, twice alike.
      await a.trainBatch(x, y, 8);
      const stepped = a.getWeights();
      expect(same(await stepped, await a.getWeights())).toBe(true);
      expect(same(await stepped, theirs)).toBe(false);
    });

    it('checks batches: too few values or labels out of range are E_SHAPE_MISMATCH, a batch size of 0 E_CONFIG_INVALID', async () => {
      const model = await compile(1);
      const { x, y } = batch(4, 1);
      await expect(model.trainBatch(x.subarray(0, 100), y, 4)).rejects.toMatchObject({ code: 'E_SHAPE_MISMATCH' });
      await expect(model.trainBatch(x, Int32Array.from([0, 1, 3, 2]), 4)).rejects.toMatchObject({ code: 'E_SHAPE_MISMATCH', details: { index: 2, label: 3 } });
      await expect(model.predict(x, 4, 0)).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
      await expect(model.evaluate(x, y, 4, 0)).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
    });

    it('loads what it saved, predicting the same', async () => {
      const model = await compile(5);
      const { x, y } = batch(6, 8);
      await model.trainBatch(x, y, 6);
      const dir = join(root, 'saved');
      const { files } = await model.saveTo(dir);
      expect(files.length).toBeGreaterThan(0);
      const loaded = await engine.load(dir, spec);
      open.push(loaded);
      expect(await loaded.predict(x, 6)).toEqual(await model.predict(x, 6));
      await expect(engine.load(join(root, 'missing'), spec)).rejects.toMatchObject({ code: 'E_MODEL_NOT_FOUND' });
    });

    it('distills: refuses specs other than sparse labels into a softmax head, and bad settings, at compile', async () => {
      const flat: SpecInput['model']['layers'] = [{ type: 'flatten' }];
      for (const other of [
        specOf('mse', [...flat, { type: 'dense', units: 3, activation: 'softmax' }], { loss: 'mean_squared_error' }),
        specOf('onehot', [...flat, { type: 'dense', units: 3, activation: 'softmax' }], { loss: 'categorical_crossentropy' }),
        specOf('no-softmax', [...flat, { type: 'dense', units: 3 }, { type: 'activation', activation: 'softmax' }]),
      ]) {
        await expect(engine.compile(other, { seed: 1, distillation: DISTILLATION_DEFAULTS })).rejects.toMatchObject({ code: 'E_SPEC_INVALID', message: expect.stringMatching(/cannot be distilled/) as unknown });
      }
      for (const distillation of [
        { temperature: 0, alpha: 0.5 },
        { temperature: Number.NaN, alpha: 0.5 },
        { temperature: 2, alpha: 1.5 },
        { temperature: 2, alpha: Number.NaN },
      ]) {
        await expect(engine.compile(spec, { seed: 1, distillation })).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
      }
    });

    it('distills: a step needs the teacher probabilities, n × classes, exactly when compiled for them', async () => {
      const { x, y } = batch(4, 1);
      const distilled = await engine.compile(spec, { seed: 1, distillation: DISTILLATION_DEFAULTS });
      open.push(distilled);
      await expect(distilled.trainBatch(x, y, 4)).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringMatching(/teacher/) as unknown });
      await expect(distilled.trainBatch(x, y, 4, teacherRows(3, 3, 1))).rejects.toMatchObject({ code: 'E_SHAPE_MISMATCH', details: { expected: 12, got: 9 } });
      await expect((await compile(1)).trainBatch(x, y, 4, teacherRows(4, 3, 1))).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringMatching(/not compiled for distillation/) as unknown });
      expect(Number.isFinite((await distilled.trainBatch(x, y, 4, teacherRows(4, 3, 1))).loss)).toBe(true);
    });

    it.each([
      { temperature: 10, alpha: 0.1 },
      { temperature: 2, alpha: 0 },
      { temperature: 1, alpha: 0.7 },
    ])('distills: a step reports the loss kdLoss gives its predictions, T = $temperature, α = $alpha', async (distillation) => {
      // No dropout or batch normalization: training-mode outputs are the predictions.
      const plain = specOf('plain', [{ type: 'flatten' }, { type: 'dense', units: 5, activation: 'tanh' }, { type: 'dense', units: 3, activation: 'softmax' }]);
      const model = await engine.compile(plain, { seed: 3, distillation });
      open.push(model);
      const { x, y } = batch(8, 4);
      const teacher = teacherRows(8, 3, 4);
      const probs = await model.predict(x, 8);
      let expected = 0;
      for (let r = 0; r < 8; r++) expected += kdLoss(probs.subarray(3 * r, 3 * r + 3), teacher.subarray(3 * r, 3 * r + 3), y[r] as number, distillation.temperature, distillation.alpha) / 8;
      const { loss } = await model.trainBatch(x, y, 8, teacher);
      expect(Math.abs(loss - expected)).toBeLessThan(1e-5 * Math.max(1, expected));
    });

    it('distills with α = 1 as it trains without a teacher, dropout and batch normalization included', async () => {
      const { x, y } = batch(8, 6);
      const [plain, distilled] = [await compile(4), await engine.compile(spec, { seed: 4, distillation: { temperature: 10, alpha: 1 } })];
      open.push(distilled);
      for (let step = 0; step < 3; step++) {
        const [a, b] = [await plain.trainBatch(x, y, 8), await distilled.trainBatch(x, y, 8, teacherRows(8, 3, step))];
        expect(b).toEqual(a);
      }
      expect(same(await distilled.getWeights(), await plain.getWeights())).toBe(true);
    });

    it('holds no runtime tensors once its models are disposed', async () => {
      const baseline = engine.liveTensors();
      const model = await engine.compile(spec, { seed: 9 });
      const distilled = await engine.compile(spec, { seed: 9, distillation: DISTILLATION_DEFAULTS });
      const { x, y } = batch(4, 9);
      await model.trainBatch(x, y, 4);
      await distilled.trainBatch(x, y, 4, teacherRows(4, 3, 9));
      await model.predict(x, 4);
      model.dispose();
      distilled.dispose();
      expect(engine.liveTensors()).toBe(baseline);
    });

    // On a GPU, a trained model holds device tensors; freeing them after their session crashed the process.
    it('disposes a trained model whose weights are being read, and goes on with another', async () => {
      const { x, y } = batch(4, 10);
      const model = await engine.compile(spec, { seed: 10 });
      await model.trainBatch(x, y, 4);
      await model.trainBatch(x, y, 4);
      const reading = model.getWeights();
      model.dispose();
      expect((await reading).length).toBeGreaterThan(0);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const next = await engine.compile(spec, { seed: 10 });
      await next.trainBatch(x, y, 4);
      expect(same(await next.getWeights(), await reading)).toBe(false);
      next.dispose();
      await new Promise((resolve) => setTimeout(resolve, 50));
    });
  });
}
