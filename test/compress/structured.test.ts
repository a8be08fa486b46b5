import { afterAll, describe, expect, it } from 'vitest';
import { structuredPrune } from '../../src/compress/index.js';
import { createEngines, type CompiledModel, type NamedWeight } from '../../src/engine/index.js';
import { defineSpec, loadSpecFile, modelProfile, resolveModelSpec, type ModelSpec, type SpecInput } from '../../src/models/index.js';
import { maxAbsDiff } from '../../src/util/arrays.js';
import { PyRandom } from '../../src/util/random.js';
import { signedValues, unitValues } from '../engine/values.js';

function specOf(input: number[], layers: SpecInput['model']['layers'], numClasses = 3): ModelSpec {
  return resolveModelSpec(defineSpec({ name: 'structured', numClasses, model: { input, layers } }), {});
}

/** Zeroes output channels `channels` (last axis) of a weight. */
function zeroChannels(w: NamedWeight, channels: readonly number[]): NamedWeight {
  const n = w.shape[w.shape.length - 1] as number;
  return { ...w, values: w.values.map((v, i) => (channels.includes(i % n) ? 0 : v)) };
}

/** Every value replaced by a seeded draw in [lo, hi), so no weight keeps an engine's neutral start. */
function randomize(w: NamedWeight, seed: number, lo: number, hi: number): NamedWeight {
  return { ...w, values: unitValues(seed, w.values.length).map((u) => lo + u * (hi - lo)) };
}

describe('structured pruning keeps the function when the removed channels are zero', () => {
  const engines = createEngines();
  const open: CompiledModel[] = [];
  afterAll(() => open.forEach((m) => m.dispose()));

  const cases: { name: string; spec: ModelSpec; zero: Record<string, number[]>; removed: Record<string, number[]> }[] = [
    {
      name: 'conv → conv → flatten → dense → dense',
      spec: specOf(
        [7, 6, 2],
        [
          { type: 'conv2d', filters: 6, kernelSize: 3, activation: 'relu' },
          { type: 'conv2d', filters: 5, kernelSize: [2, 3], padding: 'same', activation: 'relu' },
          { type: 'flatten' },
          { type: 'dense', units: 7, activation: 'relu' },
          { type: 'dense', units: 3, activation: 'softmax' },
        ],
      ),
      // fraction 0.5 removes ⌊6/2⌋ = 3, ⌊5/2⌋ = 2 and ⌊7/2⌋ = 3.
      zero: { conv2d: [0, 2, 5], conv2d_1: [1, 3], dense: [2, 4, 6] },
      removed: { conv2d: [0, 2, 5], conv2d_1: [1, 3], dense: [2, 4, 6] },
    },
    {
      name: 'conv → batch norm → max pool → conv → flatten → dense',
      spec: specOf(
        [8, 8, 1],
        [
          { type: 'conv2d', filters: 6, kernelSize: 3, padding: 'same', activation: 'relu' },
          { type: 'batchNormalization' },
          { type: 'maxPooling2d', poolSize: 2 },
          { type: 'conv2d', filters: 4, kernelSize: 3, activation: 'relu' },
          { type: 'dropout', rate: 0.2 },
          { type: 'flatten' },
          { type: 'dense', units: 3, activation: 'softmax' },
        ],
      ),
      zero: { conv2d: [1, 3, 4], conv2d_1: [0, 3] },
      removed: { conv2d: [1, 3, 4], conv2d_1: [0, 3] },
    },
  ];

  for (const engineName of ['onnx', 'tfjs'] as const) {
    for (const c of cases) {
      it(`${engineName}: ${c.name}`, async () => {
        const engine = engines[engineName];
        await engine.ready();
        const source = await engine.compile(c.spec, { seed: 5 });
        open.push(source);
        // Random biases and batch-norm statistics, so a misplaced channel shows; the removed channels
        // zero in kernel and bias, and (after batch norm) in beta and the moving mean, so they stay 0.
        const weights = (await source.getWeights()).map((w, k) => {
          const layer = w.name.slice(0, w.name.indexOf('/'));
          const zero = c.zero[layer] ?? (layer === 'batch_normalization' ? c.zero.conv2d : undefined) ?? [];
          const kind = w.name.slice(w.name.indexOf('/') + 1);
          const drawn = kind === 'bias' || kind === 'beta' || kind === 'moving_mean' ? randomize(w, 100 + k, -0.3, 0.3) : kind === 'gamma' || kind === 'moving_variance' ? randomize(w, 100 + k, 0.5, 1.5) : w;
          return kind === 'gamma' || kind === 'moving_variance' ? drawn : zeroChannels(drawn, zero);
        });
        source.setWeights(weights);

        const pruned = structuredPrune(c.spec, weights, { fraction: 0.5 });
        expect(Object.fromEntries(pruned.report.pruned.map((p) => [p.layer, p.removed]))).toEqual(c.removed);
        expect(pruned.report.unpruned.map((u) => [u.layer, u.reason])).toEqual([[pruned.report.unpruned[0]?.layer, "its channels are the model's outputs"]]);
        const smaller = await engine.compile(pruned.spec, { seed: 6 });
        open.push(smaller);
        smaller.setWeights(pruned.weights);
        expect(smaller.parameterCount).toBe(pruned.report.parameterCount.after);
        expect(pruned.report.parameterCount.after).toBeLessThan(pruned.report.parameterCount.before);

        const n = 12;
        const x = signedValues(21, n * c.spec.input.reduce((a, b) => a * b, 1));
        const [want, got] = [await source.predict(x, n), await smaller.predict(x, n)];
        expect(maxAbsDiff(want, got)).toBeLessThan(1e-6);
        // The pruned filters did matter before they were zeroed: the check above can fail.
        expect(maxAbsDiff(want, new Float32Array(want.length).fill(1 / 3))).toBeGreaterThan(1e-3);
      });
    }
  }

  it('fails the same check when a removed channel was not zero (the comparison can fail)', async () => {
    const c = cases[0] as (typeof cases)[number];
    const model = await engines.onnx.compile(c.spec, { seed: 5 });
    open.push(model);
    const weights = await model.getWeights();
    const pruned = structuredPrune(c.spec, weights, { fraction: 0.5 });
    const smaller = await engines.onnx.compile(pruned.spec, { seed: 6 });
    open.push(smaller);
    smaller.setWeights(pruned.weights);
    const x = signedValues(21, 12 * 84);
    expect(maxAbsDiff(await model.predict(x, 12), await smaller.predict(x, 12))).toBeGreaterThan(1e-4);
  });
});

describe('structured pruning selects by L1 norm', () => {
  const spec = specOf([5], [
    { type: 'dense', units: 9, activation: 'relu' },
    { type: 'dense', units: 3, activation: 'softmax' },
  ]);

  it('removes the units whose kernel columns have the smallest L1 norms, and slices the next kernel by the same rows (seeded property loop)', () => {
    const rng = new PyRandom(77);
    for (let trial = 0; trial < 100; trial++) {
      const fraction = 0.05 + rng.random() * 0.9;
      const kernel = Float32Array.from({ length: 5 * 9 }, () => rng.random() * 2 - 1);
      const weights: NamedWeight[] = [
        { name: 'dense/kernel', shape: [5, 9], values: kernel },
        { name: 'dense/bias', shape: [9], values: Float32Array.from({ length: 9 }, () => rng.random()) },
        { name: 'dense_1/kernel', shape: [9, 3], values: Float32Array.from({ length: 27 }, () => rng.random()) },
        { name: 'dense_1/bias', shape: [3], values: Float32Array.of(1, 2, 3) },
      ];
      const norms = Array.from({ length: 9 }, (_, u) => Array.from({ length: 5 }, (_, r) => Math.abs(kernel[r * 9 + u] as number)).reduce((a, b) => a + b, 0));
      const remove = Math.floor(fraction * 9);
      const result = structuredPrune(spec, weights, { fraction });
      if (remove === 0) {
        expect(result.report.pruned).toEqual([]);
        continue;
      }
      const removed = result.report.pruned[0]?.removed ?? [];
      expect(removed).toHaveLength(remove);
      const keptUnits = Array.from({ length: 9 }, (_, u) => u).filter((u) => !removed.includes(u));
      // Every removed norm is at most every kept one.
      expect(Math.max(...removed.map((u) => norms[u] as number))).toBeLessThanOrEqual(Math.min(...keptUnits.map((u) => norms[u] as number)));
      const [k0, b0, k1, b1] = result.weights;
      expect(k0?.shape).toEqual([5, keptUnits.length]);
      expect([...(k0?.values ?? [])]).toEqual(Array.from({ length: 5 }, (_, r) => keptUnits.map((u) => kernel[r * 9 + u])).flat());
      expect([...(b0?.values ?? [])]).toEqual(keptUnits.map((u) => weights[1]?.values[u]));
      expect([...(k1?.values ?? [])]).toEqual(keptUnits.flatMap((u) => [...(weights[2]?.values.subarray(u * 3, u * 3 + 3) ?? [])]));
      expect(b1).toBe(weights[3]);
      expect(result.spec.layers[0]).toMatchObject({ type: 'dense', units: keptUnits.length });
    }
  });
});

describe('structured pruning stops where channels cannot be carried', () => {
  it('leaves whole a layer feeding an lstm, a softmax or the output, saying why', () => {
    const spec = specOf([10, 4], [
      { type: 'conv1d', filters: 6, kernelSize: 3, activation: 'relu' },
      { type: 'lstm', units: 5, returnSequences: true },
      { type: 'conv1d', filters: 4, kernelSize: 2, activation: 'softmax' },
      { type: 'globalAveragePooling1d' },
      { type: 'dense', units: 3, activation: 'softmax' },
    ]);
    const weights = (() => {
      const rng = new PyRandom(3);
      const shapes: [string, number[]][] = [
        ['conv1d/kernel', [3, 4, 6]],
        ['conv1d/bias', [6]],
        ['lstm/kernel', [6, 20]],
        ['lstm/recurrent_kernel', [5, 20]],
        ['lstm/bias', [20]],
        ['conv1d_1/kernel', [2, 5, 4]],
        ['conv1d_1/bias', [4]],
        ['dense/kernel', [4, 3]],
        ['dense/bias', [3]],
      ];
      return shapes.map(([name, shape]) => ({ name, shape, values: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.random()) }));
    })();
    const result = structuredPrune(spec, weights, { fraction: 0.5 });
    expect(result.report.pruned).toEqual([]);
    expect(result.report.unpruned).toEqual([
      { layer: 'conv1d', type: 'conv1d', reason: 'it feeds lstm (lstm): its weights are not sliced by channel here' },
      { layer: 'conv1d_1', type: 'conv1d', reason: 'its softmax normalizes across the channels, so removing some changes the rest' },
      { layer: 'dense', type: 'dense', reason: "its channels are the model's outputs" },
    ]);
    expect(result.weights).toEqual(weights);
    expect(result.spec.layers).toEqual(spec.layers);
  });

  it('refuses a fraction outside (0, 1), and weights that do not fit the spec', () => {
    const spec = specOf([4], [{ type: 'dense', units: 3, activation: 'softmax' }]);
    for (const fraction of [0, 1, -0.5, Number.NaN]) expect(() => structuredPrune(spec, [], { fraction })).toThrow(expect.objectContaining({ code: 'E_CONFIG_INVALID' }));
    const kernel = (shape: number[]): NamedWeight => ({ name: 'dense/kernel', shape, values: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
    expect(() => structuredPrune(spec, [], { fraction: 0.5 })).toThrow(expect.objectContaining({ code: 'E_SHAPE_MISMATCH' }));
    expect(() => structuredPrune(spec, [kernel([3, 4])], { fraction: 0.5 })).toThrow(expect.objectContaining({ code: 'E_SHAPE_MISMATCH' }));
    expect(structuredPrune(spec, [kernel([4, 3])], { fraction: 0.5 }).report.unpruned).toHaveLength(1);
  });
});

describe('structured pruning of the recipe (examples/mnist-cnn.yaml) at fraction 0.5', () => {
  it('halves the conv filters; parameters and FLOPs drop as computed by hand', async () => {
    const spec = resolveModelSpec(await loadSpecFile('examples/mnist-cnn.yaml'), {}, { numClasses: 10 });
    const engine = createEngines().onnx;
    const model = await engine.compile(spec, { seed: 1 });
    const result = structuredPrune(spec, await model.getWeights(), { fraction: 0.5 });
    model.dispose();
    expect(result.spec.layers[0]).toMatchObject({ type: 'conv2d', filters: 16 });
    expect(result.spec.layers[2]).toMatchObject({ type: 'dense', units: 10 });
    // conv 3·3·1·16 + 16 = 160; dense (26·26·16)·10 + 10 = 108,170.
    // FLOPs: conv 2·9·1·10,816 + 10,816 = 205,504; dense 2·10,816·10 + 10 = 216,330.
    expect(result.report.parameterCount).toEqual({ before: 216_650, after: 108_330 });
    expect(result.report.flopsPerSample).toEqual({ before: 843_658, after: 421_834 });
    expect(modelProfile(result.spec).parameterCount).toBe(108_330);
    expect(result.weights.map((w) => [w.name, w.shape])).toEqual([
      ['conv2d/kernel', [3, 3, 1, 16]],
      ['conv2d/bias', [16]],
      ['dense/kernel', [10_816, 10]],
      ['dense/bias', [10]],
    ]);
  });
});
