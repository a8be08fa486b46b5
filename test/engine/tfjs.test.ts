import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createEngines, fromLayersModel } from '../../src/engine/index.js';
import type { CompiledModel, NamedWeight } from '../../src/engine/index.js';
import { dirLoadHandler } from '../../src/engine/tfjs/io.js';
import { TfjsModel } from '../../src/engine/tfjs/model.js';
import { tf } from '../../src/engine/tfjs/runtime.js';
import { defineSpec, LAYER_TYPES, loadModelDir, modelProfile, parseLayerConfig, readModelDir, resolveModelSpec, saveModelDir } from '../../src/models/index.js';
import type { ModelSpec, SpecInput } from '../../src/models/index.js';
import { moveToEngine } from '../../src/workflows/engines.js';
import { signedValues } from './values.js';

const engine = createEngines().tfjs;
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ecoml-tfjs-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function specOf(input: number[], layers: SpecInput['model']['layers'], extra: Partial<SpecInput> = {}): ModelSpec {
  const file = defineSpec({ name: 'test', numClasses: 3, model: { input, layers }, ...extra });
  return resolveModelSpec(file, {});
}

function batch(spec: ModelSpec, n: number, seed: number, ints = 0): { x: Float32Array; y: Int32Array } {
  const size = spec.input.reduce((a, b) => a * b, 1);
  const raw = signedValues(seed, n * size);
  const x = ints > 0 ? raw.map((v) => Math.floor(((v + 1) / 2) * ints)) : raw;
  return { x, y: Int32Array.from({ length: n }, (_, i) => (i * 7 + seed) % spec.numClasses) };
}

function tfjsModel(compiled: CompiledModel): tf.LayersModel {
  if (!(compiled instanceof TfjsModel)) throw new Error('expected a TfjsModel');
  return compiled.model;
}

function weightsEqual(a: readonly NamedWeight[], b: readonly NamedWeight[]): boolean {
  return a.length === b.length && a.every((w, i) => w.name === b[i]?.name && w.values.every((v, j) => Object.is(v, b[i]?.values[j])));
}

describe('tfjs engine', () => {
  it('starts the wasm backend without writing to stdout, even when tfjs warns', async () => {
    const write = vi.spyOn(process.stdout, 'write');
    const log = vi.spyOn(console, 'log');
    const warn = vi.spyOn(console, 'warn');
    await engine.ready();
    await engine.ready();
    expect(tf.getBackend()).toBe('wasm');
    // The cpu backend greets Node users on its first tensor unless production mode is on.
    await tf.setBackend('cpu');
    tf.tensor([1, 2]).dispose();
    await tf.setBackend('wasm');
    expect(write).not.toHaveBeenCalled();
    expect(log).not.toHaveBeenCalled();
    expect(warn).not.toHaveBeenCalled();
    vi.restoreAllMocks();
  });

  const cases: { name: string; input: number[]; layers: SpecInput['model']['layers']; ints?: number }[] = [
    {
      name: 'conv2d, strided same, relu',
      input: [6, 6, 2],
      layers: [{ type: 'conv2d', filters: 3, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }, { type: 'flatten' }],
    },
    {
      name: 'conv2d, dilated',
      input: [7, 7, 1],
      layers: [
        { type: 'conv2d', filters: 2, kernelSize: 2, dilationRate: 2, activation: 'relu' },
        { type: 'conv2d', filters: 2, kernelSize: 2, dilationRate: [2, 1], activation: 'elu' },
        { type: 'flatten' },
      ],
    },
    { name: 'conv2d, tanh, two convs', input: [6, 6, 1], layers: [{ type: 'conv2d', filters: 2, kernelSize: [2, 3], activation: 'tanh' }, { type: 'conv2d', filters: 2, kernelSize: 2 }, { type: 'flatten' }] },
    { name: 'conv1d, strided same', input: [8, 2], layers: [{ type: 'conv1d', filters: 3, kernelSize: 3, strides: 2, padding: 'same' }, { type: 'flatten' }] },
    { name: 'conv1d, dilated', input: [8, 2], layers: [{ type: 'conv1d', filters: 2, kernelSize: 2, dilationRate: 2 }, { type: 'flatten' }] },
    { name: 'pooling 2d', input: [6, 6, 2], layers: [{ type: 'maxPooling2d' }, { type: 'averagePooling2d', poolSize: [1, 2], padding: 'same' }, { type: 'flatten' }] },
    { name: 'pooling 1d', input: [8, 2], layers: [{ type: 'maxPooling1d' }, { type: 'averagePooling1d', strides: 1 }, { type: 'flatten' }] },
    { name: 'global max 2d', input: [4, 4, 2], layers: [{ type: 'conv2d', filters: 2, kernelSize: 1 }, { type: 'globalMaxPooling2d' }] },
    { name: 'global average 2d', input: [4, 4, 2], layers: [{ type: 'globalAveragePooling2d' }] },
    { name: 'global max 1d', input: [5, 2], layers: [{ type: 'conv1d', filters: 2, kernelSize: 1 }, { type: 'globalMaxPooling1d' }] },
    { name: 'global average 1d', input: [5, 2], layers: [{ type: 'globalAveragePooling1d' }] },
    { name: 'reshape', input: [6, 6, 2], layers: [{ type: 'reshape', targetShape: [-1, 6] }, { type: 'flatten' }] },
    {
      name: 'dense, dropout, normalization, activations',
      input: [5],
      layers: [
        { type: 'dense', units: 4, activation: 'elu' },
        { type: 'dropout', rate: 0.5 },
        { type: 'batchNormalization' },
        { type: 'layerNormalization' },
        { type: 'activation', activation: 'swish' },
        { type: 'leakyRelu', alpha: 0.1 },
      ],
    },
    { name: 'embedding', input: [5], layers: [{ type: 'embedding', inputDim: 7, outputDim: 3 }, { type: 'flatten' }], ints: 7 },
    {
      name: 'position embedding and transformer encoders (post-norm with dropout, pre-norm gelu)',
      input: [5, 4],
      layers: [
        { type: 'positionEmbedding' },
        { type: 'transformerEncoder', numHeads: 2, intermediateDim: 6, dropout: 0.2 },
        { type: 'transformerEncoder', numHeads: 4, intermediateDim: 3, activation: 'gelu', normalizeFirst: true },
        { type: 'globalAveragePooling1d' },
      ],
    },
    { name: 'token and position embedding', input: [5], layers: [{ type: 'tokenAndPositionEmbedding', inputDim: 7, outputDim: 4 }, { type: 'flatten' }], ints: 7 },
    { name: 'simpleRnn', input: [4, 3], layers: [{ type: 'simpleRnn', units: 4, returnSequences: true }, { type: 'flatten' }] },
    { name: 'lstm', input: [4, 3], layers: [{ type: 'lstm', units: 4 }] },
    { name: 'gru', input: [4, 3], layers: [{ type: 'gru', units: 4, activation: 'relu' }] },
    {
      name: 'bidirectional',
      input: [4, 3],
      layers: [
        { type: 'bidirectional', layer: { type: 'lstm', units: 3, returnSequences: true }, mergeMode: 'ave' },
        { type: 'bidirectional', layer: { type: 'gru', units: 2 } },
      ],
    },
  ];

  it('covers every layer type of the registry', () => {
    const used = new Set(['dense', ...cases.flatMap((c) => c.layers.map((l) => l.type))]);
    expect([...used].sort()).toEqual(Object.keys(LAYER_TYPES).sort());
  });

  it.each(cases)('$name: builds as profiled, trains one batch and leaks no tensor', async ({ input, layers, ints }) => {
    const baseline = engine.liveTensors();
    const spec = specOf(input, [...layers, { type: 'dense', units: 3, activation: 'softmax' }]);
    const compiled = await engine.compile(spec, { seed: 3 });
    const model = tfjsModel(compiled);
    const profile = modelProfile(spec);
    expect(compiled.parameterCount).toBe(model.countParams());
    const built = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
    expect(built.map((l) => (l.outputShape as (number | null)[]).slice(1))).toEqual(profile.layers.map((l) => l.outputShape));

    const { x, y } = batch(spec, 4, 11, ints);
    const first = await compiled.trainBatch(x, y, 4);
    expect(Number.isFinite(first.loss)).toBe(true);
    const live = engine.liveTensors();
    await compiled.trainBatch(x, y, 4);
    const probabilities = await compiled.predict(x, 4, 3);
    const evaluation = await compiled.evaluate(x, y, 4, 3);
    expect(engine.liveTensors()).toBe(live);
    expect(probabilities).toHaveLength(12);
    expect(probabilities[0]! + probabilities[1]! + probabilities[2]!).toBeCloseTo(1, 5);
    expect(evaluation.accuracy).toBeGreaterThanOrEqual(0);
    compiled.dispose();
    expect(engine.liveTensors()).toBe(baseline);
  });

  it("starts an LSTM's forget-gate biases at 1, as Keras does", async () => {
    const spec = specOf([4, 3], [{ type: 'lstm', units: 2 }, { type: 'dense', units: 3 }]);
    const m = await engine.compile(spec, { seed: 1 });
    expect(Array.from((await m.getWeights()).find((w) => w.name === 'lstm/bias')?.values ?? [])).toEqual([0, 0, 1, 1, 0, 0, 0, 0]);
    m.dispose();
  });

  it('refuses dilated conv2d layers it cannot train', async () => {
    const spec = specOf([7, 7, 1], [{ type: 'conv2d', filters: 2, kernelSize: 2, dilationRate: 2 }, { type: 'flatten' }, { type: 'dense', units: 3 }]);
    await expect(engine.compile(spec, { seed: 1 })).rejects.toMatchObject({ code: 'E_SPEC_INVALID', details: { path: 'model.layers[0].dilationRate' } });
  });

  const small = (): ModelSpec =>
    specOf(
      [6, 6, 1],
      [
        { type: 'conv2d', filters: 4, kernelSize: 3, activation: 'relu' },
        { type: 'batchNormalization' },
        { type: 'flatten' },
        { type: 'dropout', rate: 0.3 },
        { type: 'dense', units: 3, activation: 'softmax' },
      ],
    );

  it('saves TF.js layers files and loads them back to bitwise-identical predictions', async () => {
    const spec = small();
    const m = await engine.compile(spec, { seed: 4 });
    const { x, y } = batch(spec, 8, 9);
    await m.trainBatch(x, y, 8);
    const dir = join(root, 'saved');
    const file = defineSpec({ name: 'test', numClasses: 3, model: { input: [6, 6, 1], layers: [...spec.layers] } });
    await saveModelDir(dir, m, { spec: file, specDir: root, hyperparameters: {}, preprocessing: { kind: 'none' } });
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as Record<string, unknown>;
    expect(json).toMatchObject({ format: 'layers-model', convertedBy: null, weightsManifest: [{ paths: ['group1-shard1of1.bin'] }] });
    expect(json.generatedBy).toMatch(/TensorFlow\.js/);
    const { compiled, sidecar } = await loadModelDir(dir, engine);
    expect(sidecar.profile.bytesOnDisk).toBeGreaterThan(4 * compiled.parameterCount);
    const before = await m.predict(x, 8);
    const after = await compiled.predict(x, 8);
    expect(after.every((v, i) => Object.is(v, before[i]))).toBe(true);
    expect(weightsEqual(await compiled.getWeights(), await m.getWeights())).toBe(true);
    m.dispose();
    compiled.dispose();
  });

  it('loads back activations whose saved names tfjs renames on loading (gelu_new, hardSigmoid)', async () => {
    const layers: SpecInput['model']['layers'] = [
      { type: 'dense', units: 4, activation: 'gelu_new' },
      { type: 'dense', units: 4, activation: 'hardSigmoid' },
      { type: 'dense', units: 3, activation: 'softmax' },
    ];
    const spec = specOf([5], layers);
    const m = await engine.compile(spec, { seed: 4 });
    const { x } = batch(spec, 6, 2);
    const dir = join(root, 'renamed-activations');
    await saveModelDir(dir, m, { spec: defineSpec({ name: 'test', numClasses: 3, model: { input: [5], layers } }), specDir: root, hyperparameters: {}, preprocessing: { kind: 'none' } });
    const { compiled } = await loadModelDir(dir, engine);
    expect(await compiled.predict(x, 6)).toEqual(await m.predict(x, 6));
    m.dispose();
    compiled.dispose();
  });

  const transformer = (dropout: number): ModelSpec =>
    specOf(
      [5],
      [
        { type: 'tokenAndPositionEmbedding', inputDim: 9, outputDim: 4 },
        { type: 'transformerEncoder', numHeads: 2, intermediateDim: 6, dropout, activation: 'gelu' },
        { type: 'positionEmbedding' },
        { type: 'transformerEncoder', numHeads: 4, intermediateDim: 3, normalizeFirst: true, layerNormEpsilon: 1e-3 },
        { type: 'globalMaxPooling1d' },
        { type: 'dense', units: 3, activation: 'softmax' },
      ],
    );

  it('trains transformer encoders deterministically for a seed, dropout masks included', async () => {
    const { x, y } = batch(transformer(0), 8, 6, 9);
    const [a, b, plain] = await Promise.all([engine.compile(transformer(0.3), { seed: 2 }), engine.compile(transformer(0.3), { seed: 2 }), engine.compile(transformer(0), { seed: 2 })]);
    expect(weightsEqual(await a.getWeights(), await plain.getWeights())).toBe(true);
    const losses: number[][] = [[], [], []];
    for (let step = 0; step < 2; step++) for (const [i, m] of [a, b, plain].entries()) losses[i]?.push((await m.trainBatch(x, y, 8)).loss);
    expect(losses[0]).toEqual(losses[1]);
    expect(weightsEqual(await a.getWeights(), await b.getWeights())).toBe(true);
    // Dropout was applied: the same start without it trains differently.
    expect(losses[2]?.[0]).not.toBe(losses[0]?.[0]);
    for (const m of [a, b, plain]) m.dispose();
  });

  it('saves transformer layers (custom classes) and loads them back, on tfjs and moved to onnx', async () => {
    const spec = transformer(0.3);
    const m = await engine.compile(spec, { seed: 4 });
    const { x, y } = batch(spec, 8, 9, 9);
    await m.trainBatch(x, y, 8);
    const dir = join(root, 'transformer');
    const file = defineSpec({ name: 'test', numClasses: 3, model: { input: [5], layers: [...spec.layers] } });
    await saveModelDir(dir, m, { spec: file, specDir: root, hyperparameters: {}, preprocessing: { kind: 'none' } });
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as { modelTopology: { config: { layers: { class_name: string }[] } } };
    expect(json.modelTopology.config.layers.map((l) => l.class_name)).toEqual(['InputLayer', 'TokenAndPositionEmbedding', 'TransformerEncoder', 'PositionEmbedding', 'TransformerEncoder', 'GlobalMaxPooling1D', 'Dense']);
    const { compiled } = await loadModelDir(dir, engine);
    const before = await m.predict(x, 8);
    expect(Array.from(await compiled.predict(x, 8))).toEqual(Array.from(before));
    expect(weightsEqual(await compiled.getWeights(), await m.getWeights())).toBe(true);
    // The loaded layers keep their configuration, dropout seed included: training resumes alike.
    await compiled.setOptimizerState(await m.getOptimizerState());
    expect((await compiled.trainBatch(x, y, 8)).loss).toBe((await m.trainBatch(x, y, 8)).loss);
    const onnx = await moveToEngine(compiled, createEngines().onnx, 0);
    const [trained, moved] = [await compiled.predict(x, 8), await onnx.predict(x, 8)];
    expect(Math.max(...Array.from(moved, (v, i) => Math.abs(v - (trained[i] as number))))).toBeLessThan(1e-5);
    // A user's own copy of the saved model is described back as the same layers.
    const { compiled: wrapped, specFile } = await fromLayersModel(await tf.loadLayersModel(dirLoadHandler(dir)));
    expect(specFile.model.layers).toEqual(file.model.layers.map((l) => parseLayerConfig(l, 'layer')));
    for (const model of [m, compiled, onnx, wrapped]) model.dispose();
  });

  it('reports an edited weight shard as E_MODEL_CORRUPT and missing files precisely', async () => {
    const spec = small();
    const m = await engine.compile(spec, { seed: 4 });
    const dir = join(root, 'corrupt');
    const file = defineSpec({ name: 'test', numClasses: 3, model: { input: [6, 6, 1], layers: [...spec.layers] } });
    await saveModelDir(dir, m, { spec: file, specDir: root, hyperparameters: {}, preprocessing: { kind: 'none' } });
    m.dispose();
    const shard = join(dir, 'group1-shard1of1.bin');
    const bytes = await readFile(shard);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    await writeFile(shard, bytes);
    await expect(readModelDir(dir)).rejects.toMatchObject({ code: 'E_MODEL_CORRUPT', details: { file: 'group1-shard1of1.bin' } });
    await unlink(shard);
    await expect(engine.load(dir, spec)).rejects.toMatchObject({ code: 'E_MODEL_CORRUPT', details: { file: 'group1-shard1of1.bin' } });
    await expect(engine.load(join(root, 'nothing'), spec)).rejects.toMatchObject({ code: 'E_MODEL_NOT_FOUND' });
  });

  it.each([
    { optimizer: { type: 'adam' as const } },
    { optimizer: { type: 'adamw' as const, weightDecay: 0.1 } },
    { optimizer: { type: 'sgd' as const, learningRate: 0.05, momentum: 0.9, nesterov: true } },
    { optimizer: { type: 'rmsprop' as const, momentum: 0.5 } },
  ])('resumes exactly from weights and $optimizer.type state', async ({ optimizer }) => {
    const spec = resolveModelSpec(
      defineSpec({ name: 'test', numClasses: 3, model: { input: [6, 6, 1], layers: [...small().layers] }, compile: { optimizer } }),
      {},
    );
    const steps = [batch(spec, 8, 1), batch(spec, 8, 2), batch(spec, 8, 3), batch(spec, 8, 4)];
    const a = await engine.compile(spec, { seed: 5 });
    for (const s of steps.slice(0, 2)) await a.trainBatch(s.x, s.y, 8);
    const weights = await a.getWeights();
    const state = await a.getOptimizerState();
    expect(state.some((s) => s.name === 'conv2d/kernel/' + (optimizer.type === 'adam' || optimizer.type === 'adamw' ? 'm' : optimizer.type === 'sgd' ? 'momentum' : 'rms'))).toBe(true);
    for (const s of steps.slice(2)) await a.trainBatch(s.x, s.y, 8);

    // A fresh model compiled as the run was (its seed also seeds dropout) resumes from the snapshot.
    const b = await engine.compile(spec, { seed: 5 });
    b.setWeights(weights);
    const live = engine.liveTensors();
    await b.setOptimizerState(state);
    for (const s of steps.slice(2)) await b.trainBatch(s.x, s.y, 8);
    expect(weightsEqual(await b.getWeights(), await a.getWeights())).toBe(true);
    // The only new tensors are the optimizer's slots; replacing them again leaks none.
    const slots = state.filter((s) => s.name !== 'iter' && !s.name.startsWith('adam/')).length;
    expect(engine.liveTensors()).toBe(live + slots);
    await b.setOptimizerState(state);
    expect(engine.liveTensors()).toBe(live + slots);
    a.dispose();
    b.dispose();
  });

  it('steps AdamW as an Adam step less lr · weightDecay of each weight, Keras default decay 0.004', async () => {
    // Every weight trainable (no batch-norm statistics), so every weight decays.
    const layers: SpecInput['model']['layers'] = [{ type: 'conv2d', filters: 4, kernelSize: 3, activation: 'relu' }, { type: 'flatten' }, { type: 'dense', units: 3, activation: 'softmax' }];
    for (const { optimizer, decay } of [
      { optimizer: { type: 'adamw' as const, learningRate: 0.01, weightDecay: 0.2 }, decay: 0.01 * 0.2 },
      { optimizer: { type: 'adamw' as const, learningRate: 0.01 }, decay: 0.01 * 0.004 },
    ]) {
      const adamw = await engine.compile(specOf([6, 6, 1], layers, { compile: { optimizer } }), { seed: 3 });
      const adam = await engine.compile(specOf([6, 6, 1], layers, { compile: { optimizer: { type: 'adam', learningRate: 0.01 } } }), { seed: 3 });
      for (const seed of [1, 2]) {
        // From the same weights (and, so, the same gradients and moments) the two differ by the decay alone.
        const before = await adamw.getWeights();
        adam.setWeights(before);
        const { x, y } = batch(adam.spec, 8, seed);
        await adamw.trainBatch(x, y, 8);
        await adam.trainBatch(x, y, 8);
        const [decayed, plain] = [await adamw.getWeights(), await adam.getWeights()];
        before.forEach((w, i) =>
          w.values.forEach((v, j) => expect(Math.abs((plain[i]?.values[j] as number) - (decayed[i]?.values[j] as number) - v * decay)).toBeLessThan(2e-7)),
        );
      }
      adamw.dispose();
      adam.dispose();
    }
  });

  it('predicts two columns for a binary model and trains one-hot losses', async () => {
    const binary = specOf([4], [{ type: 'dense', units: 1, activation: 'sigmoid' }], { numClasses: 2, compile: { loss: 'binary_crossentropy' } });
    const m = await engine.compile(binary, { seed: 1 });
    const { x, y } = batch(binary, 6, 2);
    expect((await m.trainBatch(x, y, 6)).accuracy).toBeGreaterThanOrEqual(0);
    const p = await m.predict(x, 6);
    expect(p).toHaveLength(12);
    expect(p[0]! + p[1]!).toBeCloseTo(1, 6);
    m.dispose();
    for (const loss of ['categorical_crossentropy', 'mean_squared_error', 'mean_absolute_error'] as const) {
      const spec = specOf([4], [{ type: 'dense', units: 3, activation: 'softmax' }], { compile: { loss } });
      const c = await engine.compile(spec, { seed: 1 });
      const data = batch(spec, 6, 3);
      expect(Number.isFinite((await c.trainBatch(data.x, data.y, 6)).loss)).toBe(true);
      c.dispose();
    }
  });

  it("wraps a user's own LayersModel, keeping its weights", async () => {
    const { compiled, specFile } = await fromLayersModel(
      (t) =>
        t.sequential({
          layers: [
            t.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3, activation: 'relu' }),
            t.layers.maxPooling2d({ poolSize: 2 }),
            t.layers.flatten(),
            t.layers.dense({ units: 3, activation: 'softmax' }),
          ],
        }),
      { name: 'mine', compile: { optimizer: { type: 'sgd', learningRate: 0.1 } } },
    );
    expect(specFile.model.layers.map((l) => l.type)).toEqual(['conv2d', 'maxPooling2d', 'flatten', 'dense']);
    expect(compiled.spec.numClasses).toBe(3);
    expect(compiled.parameterCount).toBe(2 * 9 + 2 + 8 * 3 + 3);
    expect(compiled.flopsPerSample).toBe(modelProfile(compiled.spec).flopsPerSample);
    const { x, y } = batch(compiled.spec, 4, 1);
    expect(Number.isFinite((await compiled.trainBatch(x, y, 4)).loss)).toBe(true);
    compiled.dispose();
  });
});
