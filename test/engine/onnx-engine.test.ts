import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngines } from '../../src/engine/index.js';
import type { CompiledModel, NamedWeight } from '../../src/engine/index.js';
import { compileGraphs } from '../../src/engine/onnx/compile.js';
import { checkSupported, createOnnxEngine, supports } from '../../src/engine/onnx/index.js';
import { defineSpec, resolveModelSpec } from '../../src/models/index.js';
import type { ModelSpec, SpecInput } from '../../src/models/index.js';
import type { Distillation, Engine } from '../../src/engine/index.js';
import { teacherRows, unitValues } from './values.js';
import { maxAbsDiff } from '../../src/util/arrays.js';

const tfjs = createEngines().tfjs;
const onnx = createOnnxEngine();
let root: string;

beforeAll(async () => {
  await tfjs.ready();
  root = await mkdtemp(join(tmpdir(), 'ecoml-onnx-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function specOf(input: number[], layers: SpecInput['model']['layers'], compile?: SpecInput['compile']): ModelSpec {
  // binary_crossentropy models have one sigmoid unit for 2 classes.
  const numClasses = compile?.loss === 'binary_crossentropy' ? 2 : 10;
  return resolveModelSpec(defineSpec({ name: 'test', numClasses, model: { input, layers }, ...(compile !== undefined ? { compile } : {}) }), {});
}

function batch(spec: ModelSpec, n: number, seed: number): { x: Float32Array; y: Int32Array } {
  const x = unitValues(seed, n * spec.input.reduce((a, b) => a * b, 1));
  return { x, y: Int32Array.from({ length: n }, (_, i) => (i * 7 + seed) % spec.numClasses) };
}

function expectWeightsClose(a: readonly NamedWeight[], b: readonly NamedWeight[], tolerance: number): void {
  expect(a.map((w) => [w.name, w.shape])).toEqual(b.map((w) => [w.name, w.shape]));
  a.forEach((w, i) => expect(maxAbsDiff(w.values, (b[i] as NamedWeight).values)).toBeLessThanOrEqual(tolerance));
}

const recipe: SpecInput['model']['layers'] = [
  { type: 'conv2d', filters: 32, kernelSize: 3, activation: 'relu' },
  { type: 'flatten' },
  { type: 'dense', units: 10, activation: 'softmax' },
];
const cnn = (rate: number): SpecInput['model']['layers'] => [
  { type: 'conv2d', filters: 32, kernelSize: 3, activation: 'relu' },
  { type: 'maxPooling2d', poolSize: 2 },
  { type: 'conv2d', filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' },
  { type: 'maxPooling2d', poolSize: 2 },
  { type: 'flatten' },
  { type: 'dense', units: 128, activation: 'relu' },
  { type: 'dropout', rate },
  { type: 'dense', units: 10, activation: 'softmax' },
];

async function pair(spec: ModelSpec): Promise<{ ref: CompiledModel; model: CompiledModel }> {
  const ref = await tfjs.compile(spec, { seed: 5 });
  const model = await onnx.compile(spec, { seed: 5 });
  model.setWeights(await ref.getWeights());
  return { ref, model };
}

describe('onnx engine agrees with the tfjs engine', () => {
  const cases = [
    { name: 'recipe, adam', input: [28, 28, 1], layers: recipe, compile: undefined },
    { name: 'recipe, sgd with momentum', input: [28, 28, 1], layers: recipe, compile: { optimizer: { type: 'sgd', learningRate: 0.05, momentum: 0.9 } } },
    { name: 'recipe, sgd with nesterov', input: [28, 28, 1], layers: recipe, compile: { optimizer: { type: 'sgd', learningRate: 0.05, momentum: 0.8, nesterov: true } } },
    { name: 'recipe, rmsprop', input: [28, 28, 1], layers: recipe, compile: { optimizer: { type: 'rmsprop' } } },
    { name: 'recipe, rmsprop with rho, epsilon and momentum', input: [28, 28, 1], layers: recipe, compile: { optimizer: { type: 'rmsprop', learningRate: 0.002, rho: 0.8, epsilon: 1e-4, momentum: 0.7 } } },
    { name: 'recipe, adamw', input: [28, 28, 1], layers: recipe, compile: { optimizer: { type: 'adamw' } } },
    { name: 'recipe, adamw with weightDecay, beta1, beta2 and epsilon', input: [28, 28, 1], layers: recipe, compile: { optimizer: { type: 'adamw', learningRate: 0.01, weightDecay: 0.3, beta1: 0.8, beta2: 0.99, epsilon: 1e-4 } } },
    { name: 'recipe, plain sgd', input: [28, 28, 1], layers: recipe, compile: { optimizer: { type: 'sgd', learningRate: 0.05 } } },
    { name: '2-conv CNN, adam', input: [14, 14, 1], layers: cnn(0), compile: undefined },
    { name: 'strided conv on 3 channels, adam', input: [9, 9, 3], layers: [{ type: 'conv2d', filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }], compile: undefined },
    ...(['sigmoid', 'tanh', 'elu', 'selu', 'softplus', 'gelu', 'swish', 'relu6', 'hardSigmoid', 'softsign', 'mish', 'gelu_new', 'softmax'] as const).map((activation) => ({
      name: `${activation} on conv2d and dense, adam`,
      input: [6, 6, 2],
      layers: [
        { type: 'conv2d', filters: 3, kernelSize: 3, activation },
        { type: 'flatten' },
        { type: 'dense', units: 5, activation },
        { type: 'dense', units: 10, activation: 'softmax' },
      ] as SpecInput['model']['layers'],
      compile: undefined,
    })),
    {
      name: 'leakyRelu and activation layers, sgd',
      input: [6],
      layers: [{ type: 'dense', units: 5 }, { type: 'leakyRelu', alpha: 0.2 }, { type: 'dense', units: 4 }, { type: 'activation', activation: 'tanh' }, { type: 'dense', units: 10, activation: 'softmax' }],
      compile: { optimizer: { type: 'sgd', learningRate: 0.1 } },
    },
    {
      name: 'average pooling (valid, same without padding) and global average pooling, adam',
      input: [7, 7, 2],
      layers: [
        { type: 'conv2d', filters: 3, kernelSize: 2, activation: 'relu' },
        { type: 'averagePooling2d', poolSize: 2 },
        { type: 'averagePooling2d', poolSize: 3, padding: 'same' },
        { type: 'globalAveragePooling2d' },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
      compile: undefined,
    },
    {
      name: 'global max pooling, adam',
      input: [5, 5, 2],
      layers: [{ type: 'conv2d', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }, { type: 'globalMaxPooling2d' }, { type: 'dense', units: 10, activation: 'softmax' }],
      compile: undefined,
    },
    {
      name: 'batch normalization after conv2d and after dense, adam',
      input: [6, 6, 2],
      layers: [
        { type: 'conv2d', filters: 3, kernelSize: 3, activation: 'relu' },
        { type: 'batchNormalization' },
        { type: 'flatten' },
        { type: 'dense', units: 5, activation: 'relu' },
        { type: 'batchNormalization', momentum: 0.8, epsilon: 0.01 },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
      compile: undefined,
    },
    {
      name: 'batch normalization on the input, sgd with momentum',
      input: [7],
      layers: [{ type: 'batchNormalization', momentum: 0.5 }, { type: 'dense', units: 10, activation: 'softmax' }],
      compile: { optimizer: { type: 'sgd', learningRate: 0.1, momentum: 0.9 } },
    },
    {
      // The graph flattens in CHW order: the normalizations' vectors there are permuted to match.
      name: 'batch normalization after flattening a multi-channel image, sgd',
      input: [3, 2, 3],
      layers: [
        { type: 'conv2d', filters: 2, kernelSize: 1, activation: 'tanh' },
        { type: 'flatten' },
        { type: 'batchNormalization', momentum: 0.5 },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
      compile: { optimizer: { type: 'sgd', learningRate: 0.5 } },
    },
    {
      name: 'layer normalization after flattening a multi-channel image, sgd',
      input: [3, 2, 3],
      layers: [{ type: 'flatten' }, { type: 'layerNormalization' }, { type: 'dense', units: 10, activation: 'softmax' }],
      compile: { optimizer: { type: 'sgd', learningRate: 0.5 } },
    },
    {
      name: 'flatten of a multi-channel image → reshape into a sequence → gru, sgd',
      input: [3, 2, 2],
      layers: [
        { type: 'conv2d', filters: 3, kernelSize: 1, activation: 'tanh' },
        { type: 'flatten' },
        { type: 'reshape', targetShape: [3, -1] },
        { type: 'gru', units: 3 },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
      compile: { optimizer: { type: 'sgd', learningRate: 0.1 } },
    },
    {
      name: 'layer normalization after conv2d and after dense, rmsprop',
      input: [5, 5, 3],
      layers: [
        { type: 'conv2d', filters: 4, kernelSize: 2, activation: 'tanh' },
        { type: 'layerNormalization' },
        { type: 'flatten' },
        { type: 'dense', units: 6 },
        { type: 'layerNormalization', epsilon: 0.1 },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
      compile: { optimizer: { type: 'rmsprop' } },
    },
    ...(['mean_squared_error', 'mean_absolute_error'] as const).map((loss) => ({
      name: `${loss}, adam`,
      input: [6],
      layers: [
        { type: 'dense', units: 5, activation: 'relu' },
        { type: 'dense', units: 10, activation: 'softmax' },
      ] as SpecInput['model']['layers'],
      compile: { optimizer: { type: 'adam' as const, learningRate: 0.05 }, loss },
    })),
    {
      name: 'reshape from and to multi-channel images, adam',
      input: [4, 4, 2],
      layers: [
        { type: 'reshape', targetShape: [4, 2, 4] },
        { type: 'conv2d', filters: 3, kernelSize: 2, activation: 'relu' },
        { type: 'reshape', targetShape: [-1] },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
      compile: undefined,
    },
    {
      name: 'reshape [6, 4, 1] → lstm (last state), adam',
      input: [6, 4, 1],
      layers: [{ type: 'reshape', targetShape: [6, 4] }, { type: 'lstm', units: 5 }, { type: 'dense', units: 10, activation: 'softmax' }],
      compile: undefined,
    },
    {
      name: 'lstm (sequences, tanh gates, no bias) → flatten, rmsprop',
      input: [4, 3],
      layers: [{ type: 'lstm', units: 3, returnSequences: true, recurrentActivation: 'tanh', useBias: false }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }],
      compile: { optimizer: { type: 'rmsprop' } },
    },
    {
      name: 'gru (sequences) → gru (last state), adam',
      input: [5, 3],
      layers: [{ type: 'gru', units: 4, returnSequences: true }, { type: 'gru', units: 3, activation: 'relu' }, { type: 'dense', units: 10, activation: 'softmax' }],
      compile: undefined,
    },
    {
      name: 'simpleRnn (sequences) → dropout → simpleRnn (last state), sgd with momentum',
      input: [3, 2],
      layers: [{ type: 'simpleRnn', units: 4, returnSequences: true }, { type: 'dropout', rate: 0 }, { type: 'simpleRnn', units: 5, activation: 'relu' }, { type: 'dense', units: 10, activation: 'softmax' }],
      compile: { optimizer: { type: 'sgd', learningRate: 0.1, momentum: 0.9 } },
    },
    {
      name: 'conv1d (valid, strided) → conv1d (same, dilated) → lstm, adam',
      input: [9, 3],
      layers: [
        { type: 'conv1d', filters: 4, kernelSize: 3, strides: 2, activation: 'relu' },
        { type: 'conv1d', filters: 2, kernelSize: 2, padding: 'same', dilationRate: 2, useBias: false },
        { type: 'lstm', units: 3 },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
      compile: undefined,
    },
    {
      name: 'lstm (hardSigmoid gates, softsign) → gru (mish gates, gelu_new) → simpleRnn (softmax), adam',
      input: [4, 3],
      layers: [
        { type: 'lstm', units: 3, returnSequences: true, recurrentActivation: 'hardSigmoid', activation: 'softsign' },
        { type: 'gru', units: 3, returnSequences: true, recurrentActivation: 'mish', activation: 'gelu_new' },
        { type: 'simpleRnn', units: 4, activation: 'softmax' },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
      compile: undefined,
    },
    {
      name: 'conv1d → maxPooling1d (same, strided) → averagePooling1d (valid, strided) → flatten, rmsprop',
      input: [11, 2],
      layers: [
        { type: 'conv1d', filters: 3, kernelSize: 2, activation: 'tanh' },
        { type: 'maxPooling1d', poolSize: 3, strides: 2, padding: 'same' },
        { type: 'averagePooling1d', poolSize: 2, strides: 1 },
        { type: 'flatten' },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
      compile: { optimizer: { type: 'rmsprop' } },
    },
    {
      name: 'maxPooling1d (valid) → averagePooling1d (same without padding) → lstm, adam',
      input: [9, 3],
      layers: [
        { type: 'maxPooling1d', poolSize: 2 },
        { type: 'averagePooling1d', poolSize: 2, padding: 'same' },
        { type: 'lstm', units: 3 },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
      compile: undefined,
    },
    {
      name: 'bidirectional lstm (sequences, concat) → bidirectional gru (last state, sum), adam',
      input: [4, 3],
      layers: [
        { type: 'bidirectional', layer: { type: 'lstm', units: 3, returnSequences: true } },
        { type: 'bidirectional', mergeMode: 'sum', layer: { type: 'gru', units: 2 } },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
      compile: undefined,
    },
    {
      name: 'bidirectional simpleRnn (sequences, mul) → flatten, and bidirectional gru (last state, ave, no bias), sgd with momentum',
      input: [3, 2],
      layers: [
        { type: 'bidirectional', mergeMode: 'mul', layer: { type: 'simpleRnn', units: 4, returnSequences: true } },
        { type: 'bidirectional', mergeMode: 'ave', layer: { type: 'gru', units: 3, useBias: false } },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
      compile: { optimizer: { type: 'sgd', learningRate: 0.1, momentum: 0.9 } },
    },
    {
      name: 'bidirectional lstm (sequences, ave) → flatten, rmsprop',
      input: [3, 2],
      layers: [{ type: 'bidirectional', mergeMode: 'ave', layer: { type: 'lstm', units: 2, returnSequences: true, useBias: false } }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }],
      compile: { optimizer: { type: 'rmsprop' } },
    },
    {
      name: 'conv1d (same, uneven pads) → flatten, sgd',
      input: [6, 2],
      layers: [{ type: 'conv1d', filters: 3, kernelSize: 4, padding: 'same', activation: 'tanh' }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }],
      compile: { optimizer: { type: 'sgd', learningRate: 0.1 } },
    },
    // Transformer cases train with sgd: the key bias's gradient is 0 in exact arithmetic (softmax
    // ignores a constant added to a row of scores), so each engine's is float noise, which Adam
    // and RMSProp would scale up to learning-rate-sized steps that differ between the engines.
    {
      name: 'dense on sequences → positionEmbedding → transformerEncoder (2 heads) → globalAveragePooling1d, sgd with momentum',
      input: [5, 3],
      layers: [
        { type: 'dense', units: 4, activation: 'relu' },
        { type: 'positionEmbedding' },
        { type: 'transformerEncoder', numHeads: 2, intermediateDim: 6 },
        { type: 'globalAveragePooling1d' },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
      compile: { optimizer: { type: 'sgd', learningRate: 0.1, momentum: 0.9 } },
    },
    {
      name: 'dense and layerNormalization on sequences → globalMaxPooling1d, rmsprop',
      input: [4, 3],
      layers: [
        { type: 'dense', units: 5, activation: 'tanh' },
        { type: 'layerNormalization', epsilon: 0.01 },
        { type: 'dense', units: 4, useBias: false },
        { type: 'globalMaxPooling1d' },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
      compile: { optimizer: { type: 'rmsprop' } },
    },
    {
      // A conv over 8 channels puts the inference graph in ONNX Runtime's blocked layout, which flattens NHWC.
      name: 'blocked layout: conv over 8 channels → flatten → batch normalization → dense, adam',
      input: [6, 6, 1],
      layers: [
        { type: 'conv2d', filters: 8, kernelSize: 2, activation: 'relu' },
        // tanh, not linear: a bias straight into batch normalization has no true gradient to agree on.
        { type: 'conv2d', filters: 4, kernelSize: 2, activation: 'tanh' },
        { type: 'flatten' },
        { type: 'batchNormalization' },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
      compile: undefined,
    },
    {
      // Pool windows never read the convs' last rows and columns: those are not computed, and the cut reaches the input.
      name: 'valid convs whose last rows and columns no pool window reads (max, strided average), adam',
      input: [10, 9, 2],
      layers: [
        { type: 'conv2d', filters: 3, kernelSize: 2, activation: 'relu' },
        { type: 'maxPooling2d', poolSize: 2 },
        { type: 'conv2d', filters: 4, kernelSize: [2, 1], strides: [1, 2], activation: 'tanh' },
        { type: 'averagePooling2d', poolSize: 2, strides: 1 },
        { type: 'flatten' },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
      compile: undefined,
    },
    {
      // The cut comes after a same conv (outside the chain of valid windows), so its cut-off column gets a zero gradient.
      name: 'same conv → valid conv, leakyRelu, max pool that never read the last column, adam',
      input: [9, 8, 1],
      layers: [
        { type: 'conv2d', filters: 3, kernelSize: 3, padding: 'same', activation: 'tanh' },
        { type: 'conv2d', filters: 2, kernelSize: 2 },
        { type: 'leakyRelu', alpha: 0.2 },
        { type: 'maxPooling2d', poolSize: 2 },
        { type: 'flatten' },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
      compile: undefined,
    },
    {
      name: 'binary_crossentropy with one sigmoid unit, sgd',
      input: [4, 4, 1],
      layers: [{ type: 'conv2d', filters: 2, kernelSize: 2, activation: 'relu' }, { type: 'flatten' }, { type: 'dense', units: 1, activation: 'sigmoid' }],
      compile: { optimizer: { type: 'sgd', learningRate: 0.5 }, loss: 'binary_crossentropy' },
    },
  ] as const satisfies { name: string; input: readonly number[]; layers: SpecInput['model']['layers']; compile: SpecInput['compile'] | undefined }[];

  it.each(cases)('$name: outputs, loss and weights after two steps', async ({ input, layers, compile }) => {
    const spec = specOf([...input], [...layers], compile);
    const { x, y } = batch(spec, 8, 3);
    await expectAgreement(spec, x, y);
  });

  it.each([
    { name: 'embedding → lstm, adam', layers: [{ type: 'embedding', inputDim: 7, outputDim: 3 }, { type: 'lstm', units: 4 }], compile: undefined },
    {
      // sgd, as the transformer cases above.
      name: 'tokenAndPositionEmbedding → transformerEncoder (normalizeFirst, gelu) → globalMaxPooling1d, sgd',
      compile: { optimizer: { type: 'sgd', learningRate: 0.2 } },
      layers: [
        { type: 'tokenAndPositionEmbedding', inputDim: 7, outputDim: 4 },
        { type: 'transformerEncoder', numHeads: 2, intermediateDim: 5, activation: 'gelu', normalizeFirst: true, layerNormEpsilon: 1e-3 },
        { type: 'globalMaxPooling1d' },
      ],
    },
  ] as const satisfies { name: string; layers: SpecInput['model']['layers']; compile: SpecInput['compile'] | undefined }[])(
    '$name, token ids repeated across the batch: outputs, loss and weights after two steps',
    async ({ layers, compile }) => {
      const spec = specOf([5], [...layers, { type: 'dense', units: 10, activation: 'softmax' }], compile);
      const { x, y } = batch(spec, 8, 3);
      await expectAgreement(spec, x.map((v) => Math.floor(v * 7)), y);
    },
  );

  it('relu6, hardSigmoid and softsign past their bends, softmax activation layers, sgd: outputs, loss and weights after two steps', async () => {
    const spec = specOf(
      [3, 3, 4],
      [
        { type: 'conv2d', filters: 4, kernelSize: 2, activation: 'relu6' },
        { type: 'activation', activation: 'softmax' },
        { type: 'flatten' },
        { type: 'dense', units: 6, activation: 'hardSigmoid' },
        { type: 'activation', activation: 'softmax' },
        { type: 'dense', units: 5, activation: 'softsign' },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
      { optimizer: { type: 'sgd', learningRate: 0.5 } },
    );
    const { x, y } = batch(spec, 8, 3);
    // Inputs in ±20 push relu6 past 6 and hardSigmoid past both ends for some units.
    await expectAgreement(spec, x.map((v) => v * 40 - 20), y);
  });

  it.each(['sparse_categorical_crossentropy', 'categorical_crossentropy'] as const)('%s on saturated predictions, clipped as tfjs clips them, sgd: outputs, loss and weights after two steps', async (loss) => {
    const spec = specOf([6], [{ type: 'dense', units: 10, activation: 'softmax' }], { optimizer: { type: 'sgd', learningRate: 0.1 }, loss });
    const { x, y } = batch(spec, 8, 3);
    // Inputs in ±500 put some labels' probabilities below ε = 1e-7 and some above 1 − ε.
    await expectAgreement(spec, x.map((v) => v * 1000 - 500), y);
  });

  it.each([
    { name: 'adam, the fused host update', optimizer: { type: 'adam', learningRate: 0.01 }, engine: onnx, distillation: { temperature: 10, alpha: 0.1 } },
    { name: 'adam, the update in the graph', optimizer: { type: 'adam', learningRate: 0.01 }, engine: createOnnxEngine({ hostUpdate: false }), distillation: { temperature: 10, alpha: 0.1 } },
    { name: 'sgd with momentum, T = 2, α = 0.5', optimizer: { type: 'sgd', learningRate: 0.05, momentum: 0.9 }, engine: onnx, distillation: { temperature: 2, alpha: 0.5 } },
    { name: 'rmsprop, T = 4, α = 0', optimizer: { type: 'rmsprop', learningRate: 0.01 }, engine: onnx, distillation: { temperature: 4, alpha: 0 } },
  ] as { name: string; optimizer: NonNullable<SpecInput['compile']>['optimizer']; engine: Engine; distillation: Distillation }[])(
    'distillation, $name: loss, accuracy, weights and optimizer state after three steps',
    async ({ optimizer, engine, distillation }) => {
      const spec = specOf([6, 6, 2], [{ type: 'conv2d', filters: 3, kernelSize: 3, activation: 'relu' }, { type: 'flatten' }, { type: 'dense', units: 5, activation: 'tanh' }, { type: 'dense', units: 10, activation: 'softmax' }], { optimizer });
      const ref = await tfjs.compile(spec, { seed: 5, distillation });
      const model = await engine.compile(spec, { seed: 5, distillation });
      model.setWeights(await ref.getWeights());
      for (let step = 0; step < 3; step++) {
        const { x, y } = batch(spec, 8, step + 1);
        const teacher = teacherRows(8, 10, step + 1);
        const [a, b] = [await model.trainBatch(x, y, 8, teacher), await ref.trainBatch(x, y, 8, teacher)];
        expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-5 * Math.max(1, b.loss));
        expect(a.accuracy).toBeCloseTo(b.accuracy ?? Number.NaN, 6);
        expectWeightsClose(await model.getWeights(), await ref.getWeights(), 1e-4);
      }
      expectWeightsClose(await model.getOptimizerState(), await ref.getOptimizerState(), 1e-4);
      ref.dispose();
      model.dispose();
    },
  );

  async function expectAgreement(spec: ModelSpec, x: Float32Array, y: Int32Array): Promise<void> {
    const { ref, model } = await pair(spec);
    expect(maxAbsDiff(await model.predict(x, 8), await ref.predict(x, 8))).toBeLessThan(1e-5);
    for (let step = 0; step < 2; step++) {
      const [a, b] = [await model.trainBatch(x, y, 8), await ref.trainBatch(x, y, 8)];
      expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-5);
      expect(a.accuracy).toBeCloseTo(b.accuracy ?? Number.NaN, 6);
      expectWeightsClose(await model.getWeights(), await ref.getWeights(), 1e-4);
    }
    const [sa, sb] = [await model.getOptimizerState(), await ref.getOptimizerState()];
    expectWeightsClose(sa, sb, 1e-4);
    const [ea, eb] = [await model.evaluate(x, y, 8, 3), await ref.evaluate(x, y, 8, 3)];
    expect(Math.abs(ea.loss - eb.loss)).toBeLessThan(1e-4);
    expect(ea.accuracy).toBeCloseTo(eb.accuracy ?? Number.NaN, 6);
    ref.dispose();
    model.dispose();
  }
});

describe('onnx engine', () => {
  const spec = specOf([10, 10, 1], cnn(0.5));

  it('drops out both residual branches of a transformer encoder, with masks that replay for a seed', async () => {
    const encoder = (dropout: number): ModelSpec =>
      specOf([4, 6], [{ type: 'transformerEncoder', numHeads: 3, intermediateDim: 5, dropout }, { type: 'globalAveragePooling1d' }, { type: 'dense', units: 10, activation: 'softmax' }]);
    const { x, y } = batch(encoder(0), 8, 4);
    const losses = async (dropout: number, seed: number): Promise<number[]> => {
      const model = await onnx.compile(encoder(dropout), { seed });
      const seen = [(await model.trainBatch(x, y, 8)).loss, (await model.trainBatch(x, y, 8)).loss];
      model.dispose();
      return seen;
    };
    expect(compileGraphs(encoder(0.4)).dropouts.map((d) => [d.name, d.shape])).toEqual([
      ['mask/transformer_encoder/attention', [4, 6]],
      ['mask/transformer_encoder/feedforward', [4, 6]],
    ]);
    const dropped = await losses(0.4, 6);
    expect(dropped.every(Number.isFinite)).toBe(true);
    expect(await losses(0.4, 6)).toEqual(dropped);
    // The same start without dropout trains differently: the masks were applied.
    expect((await losses(0, 6))[0]).not.toBe(dropped[0]);
    const model = await onnx.compile(encoder(0.4), { seed: 6 });
    // Inference uses no mask: the same as without dropout.
    const plain = await onnx.compile(encoder(0), { seed: 6 });
    expect(await model.predict(x, 8)).toEqual(await plain.predict(x, 8));
    model.dispose();
    plain.dispose();
  });

  it('masks a dropout before any other layer in the graph layout of its image input', async () => {
    const first = specOf([6, 5, 2], [{ type: 'dropout', rate: 0.5 }, { type: 'conv2d', filters: 2, kernelSize: 2, activation: 'relu' }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }]);
    expect(compileGraphs(first).dropouts.map((d) => d.shape)).toEqual([[2, 6, 5]]);
    const model = await onnx.compile(first, { seed: 1 });
    const { x, y } = batch(first, 4, 1);
    expect(Number.isFinite((await model.trainBatch(x, y, 4)).loss)).toBe(true);
    model.dispose();
  });

  // Adam's resume is in the engine contract (engine.suite.ts); AdamW keeps the same state.
  it('resumes exactly from its AdamW state', async () => {
    const resumed = specOf([10, 10, 1], cnn(0.5), { optimizer: { type: 'adamw', weightDecay: 0.1 } });
    const { x, y } = batch(resumed, 8, 2);
    const a = await onnx.compile(resumed, { seed: 1 });
    await a.trainBatch(x, y, 8);
    // Dropout masks follow the compile seed, as in the tfjs engine: a resume compiles with the same seed.
    const b = await onnx.compile(resumed, { seed: 1 });
    await b.trainBatch(batch(resumed, 8, 7).x, y, 8);
    b.setWeights(await a.getWeights());
    await b.setOptimizerState(await a.getOptimizerState());
    await a.trainBatch(x, y, 8);
    await b.trainBatch(x, y, 8);
    expectWeightsClose(await a.getWeights(), await b.getWeights(), 0);
  });

  it('updates Adam and AdamW on the host, fused, exactly as the graph does, across a resume', async () => {
    const inGraph = createOnnxEngine({ hostUpdate: false });
    const layers: SpecInput['model']['layers'] = [...cnn(0.25).slice(0, 5), { type: 'batchNormalization' }, ...cnn(0.25).slice(5)];
    for (const optimizer of [{ type: 'adam' }, { type: 'adamw', weightDecay: 0.1 }] as const) {
      const spec = specOf([10, 10, 1], layers, { optimizer });
      expect([compileGraphs(spec, { hostUpdate: true }).hostUpdate, compileGraphs(spec).hostUpdate]).toEqual([true, false]);
      const [fused, graph] = [await onnx.compile(spec, { seed: 3 }), await inGraph.compile(spec, { seed: 3 })];
      for (let step = 0; step < 4; step++) {
        const { x, y } = batch(spec, 8, step);
        expect((await fused.trainBatch(x, y, 8)).loss).toBe((await graph.trainBatch(x, y, 8)).loss);
      }
      // A resume into a fresh fused model goes on as the graph model does.
      const resumed = await onnx.compile(spec, { seed: 3 });
      resumed.setWeights(await fused.getWeights());
      await resumed.setOptimizerState(await graph.getOptimizerState());
      for (let step = 4; step < 7; step++) {
        const { x, y } = batch(spec, 8, step);
        await resumed.trainBatch(x, y, 8);
        await graph.trainBatch(x, y, 8);
      }
      expectWeightsClose(await resumed.getWeights(), await graph.getWeights(), 0);
      expectWeightsClose(await resumed.getOptimizerState(), await graph.getOptimizerState(), 0);
      for (const m of [fused, graph, resumed]) m.dispose();
    }
  });

  it('computes only the rows and columns of valid convs and pools that a later window reads, cutting at the model input', () => {
    const cnn2 = specOf([28, 28, 1], [
      { type: 'conv2d', filters: 4, kernelSize: 3, activation: 'relu' },
      { type: 'maxPooling2d', poolSize: 2 },
      { type: 'conv2d', filters: 4, kernelSize: 3, activation: 'relu' },
      { type: 'maxPooling2d', poolSize: 2 },
      { type: 'flatten' },
      { type: 'dense', units: 10, activation: 'softmax' },
    ]);
    const { inference, training } = compileGraphs(cnn2);
    for (const graph of [inference, training]) {
      // 28 → 26 (cut) → conv 24 → pool 12 → conv 10 → pool 5: the second pool reads all of its input.
      expect(graph.nodes.filter((n) => n.op === 'Conv').map((n) => n.inputs[0]?.shape.slice(2))).toEqual([[26, 26], [12, 12]]);
      expect(graph.nodes.filter((n) => n.op === 'MaxPool').map((n) => n.inputs[0]?.shape.slice(2))).toEqual([[24, 24], [10, 10]]);
    }
    // Nothing in the training step copies a cut-off part back: the input needs no gradient.
    expect(training.nodes.filter((n) => n.op === 'Concat' && [2, 3].some((axis) => n.attrs.axis !== undefined && 'i' in n.attrs.axis && n.attrs.axis.i === axis))).toEqual([]);
  });

  it('uses ONNX Runtime\'s blocked conv layout only where a conv2d reads 8 or more channels', () => {
    expect(compileGraphs(specOf([28, 28, 1], recipe)).blockedLayout).toBe(false);
    expect(compileGraphs(spec).blockedLayout).toBe(true);
    expect(compileGraphs(specOf([6, 6, 8], recipe)).blockedLayout).toBe(true);
  });

  it.each([
    { name: 'a CNN with dropout (blocked layout)', model: spec, tokens: 0 },
    { name: 'a one-channel conv, flattened, with batch normalization (plain layout)', model: specOf([5, 5, 1], [{ type: 'conv2d', filters: 3, kernelSize: 2, activation: 'tanh' }, { type: 'flatten' }, { type: 'batchNormalization' }, { type: 'dense', units: 10, activation: 'softmax' }]), tokens: 0 },
    {
      name: 'token and position embeddings and a transformer encoder with dropout',
      tokens: 5,
      model: specOf([6], [{ type: 'tokenAndPositionEmbedding', inputDim: 5, outputDim: 4 }, { type: 'transformerEncoder', numHeads: 2, intermediateDim: 3, dropout: 0.2 }, { type: 'globalAveragePooling1d' }, { type: 'dense', units: 10, activation: 'softmax' }]),
    },
  ])('predicts the same after saveTo and load: $name', async ({ name, model: trainedSpec, tokens }) => {
    const model = await onnx.compile(trainedSpec, { seed: 4 });
    const { x, y } = batch(trainedSpec, 7, 5);
    const input = tokens > 0 ? x.map((v) => Math.floor(v * tokens)) : x;
    await model.trainBatch(input, y, 7);
    const dir = join(root, `saved ${name}`);
    expect(await model.saveTo(dir)).toEqual({ files: ['model.onnx'] });
    const loaded = await onnx.load(dir, trainedSpec);
    expect(await loaded.predict(input, 7, 3)).toEqual(await model.predict(input, 7, 3));
    expect(loaded.parameterCount).toBe(model.parameterCount);
    expect(onnx.liveTensors()).toBe(0);
    await expect(onnx.load(join(root, 'missing'), trainedSpec)).rejects.toMatchObject({ code: 'E_MODEL_NOT_FOUND' });
  });

  it('keeps batch-norm moving statistics through saveTo and load', async () => {
    const bn = specOf([4, 4, 2], [{ type: 'conv2d', filters: 3, kernelSize: 2 }, { type: 'batchNormalization', momentum: 0.5 }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }]);
    const model = await onnx.compile(bn, { seed: 2 });
    const { x, y } = batch(bn, 6, 3);
    await model.trainBatch(x, y, 6);
    const moving = (await model.getWeights()).find((w) => w.name === 'batch_normalization/moving_variance');
    expect(Array.from(moving?.values ?? [])).not.toEqual([1, 1, 1]);
    const dir = join(root, 'bn');
    await model.saveTo(dir);
    const loaded = await onnx.load(dir, bn);
    expect(await loaded.predict(x, 6)).toEqual(await model.predict(x, 6));
    expectWeightsClose(await loaded.getWeights(), await model.getWeights(), 0);
  });

  it('starts as the tfjs engine: embeddings within ±0.05, orthogonal recurrent kernel, forget biases 1', async () => {
    const layers: SpecInput['model']['layers'] = [{ type: 'embedding', inputDim: 9, outputDim: 2 }, { type: 'lstm', units: 3 }, { type: 'dense', units: 10, activation: 'softmax' }];
    const model = await onnx.compile(specOf([3], layers), { seed: 3 });
    const byName = new Map((await model.getWeights()).map((w) => [w.name, w.values]));
    const embeddings = Array.from(byName.get('embedding/embeddings') ?? []);
    expect(embeddings).toHaveLength(18);
    expect(embeddings.every((v) => Math.abs(v) <= 0.05) && embeddings.some((v) => v !== 0)).toBe(true);
    expect(Array.from(byName.get('lstm/bias') ?? [])).toEqual([0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
    // A [3, 12] kernel: its rows are orthonormal.
    const r = byName.get('lstm/recurrent_kernel') ?? new Float32Array();
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++) {
        let dot = 0;
        for (let k = 0; k < 12; k++) dot += (r[i * 12 + k] as number) * (r[j * 12 + k] as number);
        expect(dot).toBeCloseTo(i === j ? 1 : 0, 5);
      }
  });

  it('starts transformer layers as the tfjs engine: glorot kernels and positions, unit gammas, zero biases and betas, tokens within ±0.05', async () => {
    const layers: SpecInput['model']['layers'] = [
      { type: 'tokenAndPositionEmbedding', inputDim: 9, outputDim: 4 },
      { type: 'transformerEncoder', numHeads: 2, intermediateDim: 3 },
      { type: 'globalAveragePooling1d' },
      { type: 'dense', units: 10, activation: 'softmax' },
    ];
    const spec = specOf([6], layers);
    const [model, ref] = [await onnx.compile(spec, { seed: 3 }), await tfjs.compile(spec, { seed: 3 })];
    const starts = (weights: readonly NamedWeight[]): [string, string][] =>
      weights.map((w) => {
        const values = Array.from(w.values);
        const role = w.name.slice(w.name.lastIndexOf('/') + 1);
        const fill = role === 'gamma' ? 1 : role === 'bias' || role === 'beta' ? 0 : undefined;
        if (fill !== undefined) return [w.name, values.every((v) => v === fill) ? `all ${fill}` : 'other'];
        const limit = w.name.includes('token_embedding') ? 0.05 : Math.sqrt(6 / ((w.shape[0] as number) + (w.shape[1] as number)));
        return [w.name, values.every((v) => Math.abs(v) <= limit) && new Set(values).size === values.length ? `distinct within ±${limit}` : 'other'];
      });
    expect(starts(await model.getWeights())).toEqual(starts(await ref.getWeights()));
    expect(starts(await model.getWeights()).every(([, start]) => start !== 'other')).toBe(true);
    model.dispose();
    ref.dispose();
  });

  it('refuses unsupported layers, pooling and losses, naming them', async () => {
    // tfjs's average-pooling gradient counts padding its forward pass leaves out: no true gradient agrees.
    const pool1d = specOf([5, 3], [{ type: 'averagePooling1d', padding: 'same' }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }]);
    expect(supports(pool1d)).toBe(false);
    expect(supports(spec)).toBe(true);
    await expect(onnx.compile(pool1d, { seed: 1 })).rejects.toMatchObject({ code: 'E_UNKNOWN_NAME', message: expect.stringContaining('averagePooling1d with padding "same"') });
    expect(supports(specOf([4, 3], [{ type: 'averagePooling1d', padding: 'same' }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }]))).toBe(true);
    expect(supports(specOf([4, 3], [{ type: 'lstm', units: 4 }, { type: 'dense', units: 10, activation: 'softmax' }]))).toBe(true);
    expect(() => checkSupported(specOf([1, 3], [{ type: 'simpleRnn', units: 4 }, { type: 'dense', units: 10, activation: 'softmax' }]))).toThrow(/one timestep/);
    expect(() => checkSupported(specOf([1, 3], [{ type: 'bidirectional', layer: { type: 'gru', units: 4 } }, { type: 'dense', units: 10, activation: 'softmax' }]))).toThrow(/one timestep/);
    // Dense runs over the last axis of rows and sequences, not of (NCHW) images; batch normalization not over sequences.
    const image = specOf([3, 3, 2], [{ type: 'dense', units: 5 }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }]);
    expect(() => checkSupported(image)).toThrow(/dense on an input of shape \[3, 3, 2\]/);
    const norm = specOf([4, 3], [{ type: 'batchNormalization' }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }]);
    expect(() => checkSupported(norm)).toThrow(/batchNormalization on an input/);
    for (const type of ['embedding', 'tokenAndPositionEmbedding'] as const) {
      const late = specOf([5], [{ type: 'dense', units: 5 }, { type, inputDim: 7, outputDim: 3 }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }]);
      expect(() => checkSupported(late)).toThrow(`${type} other than as the first layer`);
    }
    // tfjs's average-pooling gradient counts padding its forward pass leaves out: no true gradient agrees.
    const padded = specOf([5, 5, 1], [{ type: 'averagePooling2d', poolSize: 2, padding: 'same' }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }]);
    expect(() => checkSupported(padded)).toThrow(/averagePooling2d with padding "same"/);
    expect(supports(specOf([4, 4, 1], [{ type: 'averagePooling2d', poolSize: 2, padding: 'same' }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }]))).toBe(true);
    const binary = (activation: 'sigmoid' | 'linear'): ModelSpec => specOf([5], [{ type: 'dense', units: 1, activation }], { loss: 'binary_crossentropy' });
    expect(supports(binary('sigmoid'))).toBe(true);
    expect(() => checkSupported(binary('linear'))).toThrow(/binary_crossentropy with a last layer other than one dense unit with sigmoid/);
    const regression = specOf([5], [{ type: 'dense', units: 10, activation: 'sigmoid' }], { loss: 'mean_squared_error' });
    expect(() => checkSupported(regression)).toThrow(/a last layer other than dense with softmax/);
  });
});
