/**
 * From a resolved ModelSpec to a compiled tf.LayersModel: one builder per layer type, the
 * optimizers and the losses, each a plain registry. Initializers are seeded from the compile seed
 * (one derived seed per layer and role), so two compiles with one seed give identical weights.
 * Defaults follow Keras where tfjs differs (glorot-uniform kernels, sigmoid recurrent
 * activation, LSTM unit forget bias, epsilon 1e-7).
 * @module
 */
import { EcomlError } from '../../errors.js';
import { analyzeLayer, type LayerConfigOf, layerNames, type LayerType, pair, parseLayerConfig, type RecurrentLayerConfig, snakeCase, type TypedLayerConfig } from '../../models/layers.js';
import { type ModelSpec, optimizerSettings, type OptimizerSettings } from '../../models/spec.js';
import { mixSeed } from '../../util/random.js';
import { AdamWOptimizer } from './adamw.js';
import { tf } from './runtime.js';
import { PositionEmbedding, TokenAndPositionEmbedding, TransformerEncoder } from './transformer.js';

/** What each seeded draw is for, so one layer's draws stay independent of each other. */
const SEED_ROLE = { kernel: 1, recurrent: 2, dropout: 3, embeddings: 4 } as const;

interface BuildContext {
  readonly name: string;
  /** The layer's input shape (one sample). */
  readonly inputShape: readonly number[];
  seed(role: keyof typeof SEED_ROLE): number;
}

// Method syntax keeps each builder's parameter bivariant, so the registry can be indexed by any type.
interface Builder<C> {
  build(config: C, ctx: BuildContext): tf.layers.Layer;
}

function glorot(ctx: BuildContext): ReturnType<typeof tf.initializers.glorotUniform> {
  return tf.initializers.glorotUniform({ seed: ctx.seed('kernel') });
}

function recurrent(c: RecurrentLayerConfig, ctx: BuildContext): tf.layers.RNN {
  const common = {
    name: ctx.name,
    units: c.units,
    activation: c.activation,
    useBias: c.useBias,
    returnSequences: c.returnSequences,
    kernelInitializer: glorot(ctx),
    recurrentInitializer: tf.initializers.orthogonal({ seed: ctx.seed('recurrent'), gain: 1 }),
  };
  switch (c.type) {
    case 'simpleRnn':
      return tf.layers.simpleRNN(common);
    case 'lstm':
      // unitForgetBias is applied after building: tfjs's own option leaks tensors (see unitForgetBias()).
      return tf.layers.lstm({ ...common, recurrentActivation: c.recurrentActivation });
    case 'gru':
      return tf.layers.gru({ ...common, recurrentActivation: c.recurrentActivation });
  }
}

const BUILDERS: { readonly [K in LayerType]: Builder<LayerConfigOf<K>> } = {
  conv2d: {
    build: (c, ctx) =>
      tf.layers.conv2d({
        name: ctx.name,
        filters: c.filters,
        kernelSize: typeof c.kernelSize === 'number' ? c.kernelSize : [...c.kernelSize],
        strides: typeof c.strides === 'number' ? c.strides : [...c.strides],
        padding: c.padding,
        dilationRate: typeof c.dilationRate === 'number' ? c.dilationRate : [...c.dilationRate],
        activation: c.activation,
        useBias: c.useBias,
        kernelInitializer: glorot(ctx),
      }),
  },
  conv1d: {
    build: (c, ctx) =>
      tf.layers.conv1d({
        name: ctx.name,
        filters: c.filters,
        kernelSize: c.kernelSize,
        strides: c.strides,
        padding: c.padding,
        dilationRate: c.dilationRate,
        activation: c.activation,
        useBias: c.useBias,
        kernelInitializer: glorot(ctx),
      }),
  },
  maxPooling2d: {
    build: (c, ctx) =>
      tf.layers.maxPooling2d({ name: ctx.name, poolSize: pair(c.poolSize), padding: c.padding, ...(c.strides !== undefined ? { strides: pair(c.strides) } : {}) }),
  },
  averagePooling2d: {
    build: (c, ctx) =>
      tf.layers.averagePooling2d({ name: ctx.name, poolSize: pair(c.poolSize), padding: c.padding, ...(c.strides !== undefined ? { strides: pair(c.strides) } : {}) }),
  },
  maxPooling1d: {
    build: (c, ctx) => tf.layers.maxPooling1d({ name: ctx.name, poolSize: c.poolSize, padding: c.padding, ...(c.strides !== undefined ? { strides: c.strides } : {}) }),
  },
  averagePooling1d: {
    build: (c, ctx) => tf.layers.averagePooling1d({ name: ctx.name, poolSize: c.poolSize, padding: c.padding, ...(c.strides !== undefined ? { strides: c.strides } : {}) }),
  },
  globalMaxPooling2d: { build: (_c, ctx) => tf.layers.globalMaxPooling2d({ name: ctx.name }) },
  globalAveragePooling2d: { build: (_c, ctx) => tf.layers.globalAveragePooling2d({ name: ctx.name }) },
  globalMaxPooling1d: { build: (_c, ctx) => tf.layers.globalMaxPooling1d({ name: ctx.name }) },
  globalAveragePooling1d: { build: (_c, ctx) => tf.layers.globalAveragePooling1d({ name: ctx.name }) },
  flatten: { build: (_c, ctx) => tf.layers.flatten({ name: ctx.name }) },
  reshape: {
    build: (c, ctx) => {
      // tfjs leaves a -1 dimension unknown, which layers after it (Flatten) reject: resolve it here.
      const known = c.targetShape.reduce((a, d) => (d === -1 ? a : a * d), 1);
      const size = ctx.inputShape.reduce((a, d) => a * d, 1);
      return tf.layers.reshape({ name: ctx.name, targetShape: c.targetShape.map((d) => (d === -1 ? size / known : d)) });
    },
  },
  dense: {
    build: (c, ctx) => tf.layers.dense({ name: ctx.name, units: c.units, activation: c.activation, useBias: c.useBias, kernelInitializer: glorot(ctx) }),
  },
  dropout: { build: (c, ctx) => tf.layers.dropout({ name: ctx.name, rate: c.rate, seed: c.seed ?? ctx.seed('dropout') }) },
  batchNormalization: { build: (c, ctx) => tf.layers.batchNormalization({ name: ctx.name, momentum: c.momentum, epsilon: c.epsilon }) },
  layerNormalization: { build: (c, ctx) => tf.layers.layerNormalization({ name: ctx.name, epsilon: c.epsilon }) },
  activation: { build: (c, ctx) => tf.layers.activation({ name: ctx.name, activation: c.activation }) },
  leakyRelu: { build: (c, ctx) => tf.layers.leakyReLU({ name: ctx.name, alpha: c.alpha }) },
  embedding: {
    build: (c, ctx) =>
      tf.layers.embedding({
        name: ctx.name,
        inputDim: c.inputDim,
        outputDim: c.outputDim,
        // Keras' default: uniform in ±0.05.
        embeddingsInitializer: tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: ctx.seed('embeddings') }),
      }),
  },
  positionEmbedding: { build: (_c, ctx) => new PositionEmbedding({ name: ctx.name, initializerSeed: ctx.seed('kernel') }) },
  tokenAndPositionEmbedding: {
    build: (c, ctx) => new TokenAndPositionEmbedding({ name: ctx.name, inputDim: c.inputDim, outputDim: c.outputDim, initializerSeed: ctx.seed('embeddings') }),
  },
  transformerEncoder: {
    build: (c, ctx) =>
      new TransformerEncoder({
        name: ctx.name,
        numHeads: c.numHeads,
        intermediateDim: c.intermediateDim,
        dropout: c.dropout,
        activation: c.activation,
        layerNormEpsilon: c.layerNormEpsilon,
        normalizeFirst: c.normalizeFirst,
        seed: ctx.seed('dropout'),
        initializerSeed: ctx.seed('kernel'),
      }),
  },
  simpleRnn: { build: (c, ctx) => recurrent({ ...c, type: 'simpleRnn' }, ctx) },
  lstm: { build: (c, ctx) => recurrent({ ...c, type: 'lstm' }, ctx) },
  gru: { build: (c, ctx) => recurrent({ ...c, type: 'gru' }, ctx) },
  bidirectional: {
    build: (c, ctx) =>
      tf.layers.bidirectional({ name: ctx.name, mergeMode: c.mergeMode, layer: recurrent(c.layer, { ...ctx, name: `${ctx.name}_${snakeCase(c.layer.type)}` }) }),
  },
};

// The registry with configs erased, indexed only by the `type` of the config passed to it.
const ERASED_BUILDERS: Readonly<Record<LayerType, Builder<TypedLayerConfig>>> = BUILDERS;

/** The spec's layers, validated and typed again (ModelSpec keeps them as plain records). */
function typedLayers(spec: ModelSpec): TypedLayerConfig[] {
  return spec.layers.map((l, i) => parseLayerConfig(l, `model.layers[${i}]`));
}

/**
 * Keras' unit_forget_bias: an LSTM's forget-gate biases (the second quarter, gates being i, f, c, o)
 * start at 1. tfjs's `unitForgetBias` option does this with an initializer that leaks four tensors
 * per build, and per load; setting the zero-initialized bias afterwards leaks nothing.
 */
function unitForgetBias(layer: tf.layers.Layer, units: number): void {
  for (const weight of layer.weights) {
    if (!weight.originalName.endsWith('/bias') || weight.shape[0] !== 4 * units) continue;
    const bias = tf.tidy(() => tf.concat([tf.zeros([units]), tf.ones([units]), tf.zeros([2 * units])]));
    weight.write(bias);
    bias.dispose();
  }
}

/** A Sequential model for `spec` with every initializer seeded from `seed`. */
export function buildLayersModel(spec: ModelSpec, seed: number): tf.LayersModel {
  const layers = typedLayers(spec);
  const names = layerNames(layers);
  const model = tf.sequential({ name: spec.name });
  model.add(tf.layers.inputLayer({ name: 'input', inputShape: [...spec.input] }));
  let shape: readonly number[] = spec.input;
  layers.forEach((config, i) => {
    const name = names[i] as string;
    const ctx: BuildContext = { name, inputShape: shape, seed: (role) => mixSeed(seed, i, SEED_ROLE[role]) };
    const layer = ERASED_BUILDERS[config.type].build(config, ctx);
    model.add(layer);
    const lstm = config.type === 'lstm' ? config : config.type === 'bidirectional' && config.layer.type === 'lstm' ? config.layer : undefined;
    if (lstm?.useBias) unitForgetBias(layer, lstm.units);
    shape = analyzeLayer(config, shape, name).outputShape;
  });
  return model;
}

/**
 * tfjs-layers runs a conv2d layer through tfjs-core's fused conv2d op unless its activation is
 * relu or elu (the fusable non-linear ones), and that op's own gradient refuses dilation. Our
 * kernels serve the plain Conv2D gradient, which relu and elu layers take in training.
 */
const DILATION_TRAINABLE = new Set(['relu', 'elu']);

export function checkTrainable(spec: ModelSpec): void {
  typedLayers(spec).forEach((l, i) => {
    if (l.type !== 'conv2d') return;
    const [dh, dw] = pair(l.dilationRate);
    if ((dh > 1 || dw > 1) && !DILATION_TRAINABLE.has(l.activation)) {
      throw new EcomlError(
        'E_SPEC_INVALID',
        `model.layers[${i}].dilationRate: the tfjs engine trains dilated conv2d layers only with activation relu or elu (got ${l.activation})`,
        { details: { path: `model.layers[${i}].dilationRate` } },
      );
    }
  });
}

type OptimizerSpec = ModelSpec['compile']['optimizer'];

/** Each optimizer type, with Keras' defaults where the spec leaves a value out (optimizerSettings). */
const OPTIMIZERS = {
  adam: (o: OptimizerSettings) => tf.train.adam(o.learningRate, o.beta1, o.beta2, o.epsilon),
  adamw: (o: OptimizerSettings) => new AdamWOptimizer(o.learningRate, o.beta1, o.beta2, o.epsilon, o.weightDecay),
  // A momentum slot only when the spec asks for momentum or Nesterov, as tfjs's plain sgd keeps none.
  sgd: (o: OptimizerSettings, spec: OptimizerSpec) =>
    spec.momentum !== undefined || spec.nesterov === true ? tf.train.momentum(o.learningRate, o.momentum, spec.nesterov ?? false) : tf.train.sgd(o.learningRate),
  rmsprop: (o: OptimizerSettings) => tf.train.rmsprop(o.learningRate, o.rho, o.momentum, o.epsilon),
} satisfies Record<OptimizerSpec['type'], (o: OptimizerSettings, spec: OptimizerSpec) => tf.Optimizer>;

/** How labels become targets: class ids, one-hot rows, or one 0/1 column. */
export type TargetKind = 'sparse' | 'onehot' | 'binary';

export const LOSSES = {
  sparse_categorical_crossentropy: { tfjs: 'sparseCategoricalCrossentropy', targets: 'sparse' },
  categorical_crossentropy: { tfjs: 'categoricalCrossentropy', targets: 'onehot' },
  binary_crossentropy: { tfjs: 'binaryCrossentropy', targets: 'binary' },
  mean_squared_error: { tfjs: 'meanSquaredError', targets: 'onehot' },
  mean_absolute_error: { tfjs: 'meanAbsoluteError', targets: 'onehot' },
} as const satisfies Record<ModelSpec['compile']['loss'], { tfjs: string; targets: TargetKind }>;

export function compileLayersModel(model: tf.LayersModel, compile: ModelSpec['compile']): void {
  model.compile({
    optimizer: OPTIMIZERS[compile.optimizer.type](optimizerSettings(compile.optimizer), compile.optimizer),
    loss: LOSSES[compile.loss].tfjs,
    metrics: [...compile.metrics],
  });
}
