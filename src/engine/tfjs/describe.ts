/**
 * Describes a user's own tf.LayersModel (a linear stack of standard layers) as ecoml layer
 * configs, so it gets a ModelSpec, a parameter count and FLOPs like a spec-built model.
 * @module
 */
import { EcomlError, lookup } from '../../errors.js';
import { ACTIVATIONS } from '../../models/layers.js';
import type { RawLayer } from '../../models/spec.js';
import type { tf } from './runtime.js';

type Config = Record<string, unknown>;

function activation(c: Config): string {
  const name = String(c.activation ?? 'linear');
  // tfjs serializes hardSigmoid as hard_sigmoid in some versions, and names gelu_new geluNew once loaded.
  const normalized = ({ hard_sigmoid: 'hardSigmoid', geluNew: 'gelu_new' } as Readonly<Record<string, string>>)[name] ?? name;
  return (ACTIVATIONS as readonly string[]).includes(normalized) ? normalized : name;
}

function first(v: unknown): unknown {
  return Array.isArray(v) ? v[0] : v;
}

function padding(c: Config): unknown {
  return c.padding ?? 'valid';
}

function recurrent(type: 'simpleRnn' | 'lstm' | 'gru', c: Config): RawLayer {
  return {
    type,
    units: c.units,
    activation: activation(c),
    useBias: c.useBias,
    returnSequences: c.returnSequences,
    ...(type === 'simpleRnn' ? {} : { recurrentActivation: activation({ activation: c.recurrentActivation }) }),
  };
}

const RECURRENT_CLASSES = { SimpleRNN: 'simpleRnn', LSTM: 'lstm', GRU: 'gru' } as const;

/** tfjs layer class → our config, from the layer's camelCase getConfig(). */
const DESCRIBERS = {
  Conv2D: (c: Config) => ({
    type: 'conv2d',
    filters: c.filters,
    kernelSize: c.kernelSize,
    strides: c.strides,
    padding: padding(c),
    dilationRate: c.dilationRate,
    activation: activation(c),
    useBias: c.useBias,
  }),
  Conv1D: (c: Config) => ({
    type: 'conv1d',
    filters: c.filters,
    kernelSize: first(c.kernelSize),
    strides: first(c.strides),
    padding: padding(c),
    dilationRate: first(c.dilationRate),
    activation: activation(c),
    useBias: c.useBias,
  }),
  MaxPooling2D: (c: Config) => ({ type: 'maxPooling2d', poolSize: c.poolSize, strides: c.strides, padding: padding(c) }),
  AveragePooling2D: (c: Config) => ({ type: 'averagePooling2d', poolSize: c.poolSize, strides: c.strides, padding: padding(c) }),
  MaxPooling1D: (c: Config) => ({ type: 'maxPooling1d', poolSize: first(c.poolSize), strides: first(c.strides), padding: padding(c) }),
  AveragePooling1D: (c: Config) => ({ type: 'averagePooling1d', poolSize: first(c.poolSize), strides: first(c.strides), padding: padding(c) }),
  GlobalMaxPooling2D: () => ({ type: 'globalMaxPooling2d' }),
  GlobalAveragePooling2D: () => ({ type: 'globalAveragePooling2d' }),
  GlobalMaxPooling1D: () => ({ type: 'globalMaxPooling1d' }),
  GlobalAveragePooling1D: () => ({ type: 'globalAveragePooling1d' }),
  Flatten: () => ({ type: 'flatten' }),
  Reshape: (c: Config) => ({ type: 'reshape', targetShape: (c.targetShape as unknown[]).map((d) => d ?? -1) }),
  Dense: (c: Config) => ({ type: 'dense', units: c.units, activation: activation(c), useBias: c.useBias }),
  Dropout: (c: Config) => ({ type: 'dropout', rate: c.rate, ...(typeof c.seed === 'number' ? { seed: c.seed } : {}) }),
  BatchNormalization: (c: Config) => ({ type: 'batchNormalization', momentum: c.momentum, epsilon: c.epsilon }),
  LayerNormalization: (c: Config) => ({ type: 'layerNormalization', epsilon: c.epsilon }),
  Activation: (c: Config) => ({ type: 'activation', activation: activation(c) }),
  LeakyReLU: (c: Config) => ({ type: 'leakyRelu', alpha: c.alpha }),
  Embedding: (c: Config) => ({ type: 'embedding', inputDim: c.inputDim, outputDim: c.outputDim }),
  PositionEmbedding: () => ({ type: 'positionEmbedding' }),
  TokenAndPositionEmbedding: (c: Config) => ({ type: 'tokenAndPositionEmbedding', inputDim: c.inputDim, outputDim: c.outputDim }),
  TransformerEncoder: (c: Config) => ({
    type: 'transformerEncoder',
    numHeads: c.numHeads,
    intermediateDim: c.intermediateDim,
    dropout: c.dropout,
    activation: activation(c),
    layerNormEpsilon: c.layerNormEpsilon,
    normalizeFirst: c.normalizeFirst,
  }),
  SimpleRNN: (c: Config) => recurrent('simpleRnn', c),
  LSTM: (c: Config) => recurrent('lstm', c),
  GRU: (c: Config) => recurrent('gru', c),
  Bidirectional: (c: Config) => {
    const inner = c.layer as { className: string; config: Config };
    return { type: 'bidirectional', mergeMode: c.mergeMode, layer: recurrent(lookup(RECURRENT_CLASSES, inner.className, 'recurrent layer class'), inner.config) };
  },
} satisfies Record<string, (c: Config) => RawLayer>;

/** The model's layers as raw ecoml layer configs (validated later by the layer registry). */
export function describeLayers(model: tf.LayersModel): { input: number[]; layers: RawLayer[] } {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new EcomlError('E_SPEC_INVALID', `model ${model.name}: ecoml takes models with one input and one output`);
  }
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  // Only a plain chain can be described as a list: each layer must consume the previous one's output.
  layers.forEach((layer, i) => {
    const inbound = layer.inboundNodes.flatMap((node) => node.inboundLayers);
    const previous = i === 0 ? model.layers.find((l) => l.getClassName() === 'InputLayer') : layers[i - 1];
    if (inbound.length !== 1 || (previous !== undefined && inbound[0] !== previous)) {
      throw new EcomlError('E_SPEC_INVALID', `model ${model.name}: layer ${layer.name} is not in a linear stack; ecoml takes sequential models`);
    }
  });
  const input = model.inputs[0]?.shape.slice(1) ?? [];
  if (input.some((d) => d === null)) throw new EcomlError('E_SPEC_INVALID', `model ${model.name}: the input shape [${input.join(', ')}] must be fully known`);
  return {
    input: input as number[],
    layers: layers.map((layer) => lookup(DESCRIBERS, layer.getClassName(), 'tfjs layer class')(layer.getConfig() as Config)),
  };
}
