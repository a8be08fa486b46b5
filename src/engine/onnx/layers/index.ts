/**
 * The onnx engine's layer table: one entry per layer type of the models floor, so a layer type
 * without a lowering here is a type error. Adding a layer means adding its file and its row.
 * @module
 */
import type { LayerConfigOf, LayerType, TypedLayerConfig } from '../../../models/layers.js';
import { activation } from './activation.js';
import { batchNormalization } from './batch-normalization.js';
import { bidirectional } from './bidirectional.js';
import { conv1d } from './conv1d.js';
import { conv2d } from './conv2d.js';
import { dense } from './dense.js';
import { dropout } from './dropout.js';
import { embedding } from './embedding.js';
import { flatten } from './flatten.js';
import { globalAveragePooling1d, globalAveragePooling2d, globalMaxPooling1d, globalMaxPooling2d } from './global-pooling.js';
import type { OnnxLayer } from './layer.js';
import { layerNormalization } from './layer-normalization.js';
import { leakyRelu } from './leaky-relu.js';
import { pooling } from './pooling.js';
import { positionEmbedding } from './position-embedding.js';
import { recurrentLayer } from './recurrent.js';
import { reshape } from './reshape.js';
import { tokenAndPositionEmbedding } from './token-and-position-embedding.js';
import { transformerEncoder } from './transformer-encoder.js';

const LAYERS: { readonly [K in LayerType]: OnnxLayer<LayerConfigOf<K>> } = {
  conv2d,
  maxPooling2d: pooling,
  averagePooling2d: pooling,
  maxPooling1d: pooling,
  averagePooling1d: pooling,
  globalMaxPooling2d,
  globalAveragePooling2d,
  flatten,
  dense,
  dropout,
  activation,
  leakyRelu,
  batchNormalization,
  layerNormalization,
  reshape,
  simpleRnn: recurrentLayer,
  lstm: recurrentLayer,
  gru: recurrentLayer,
  embedding,
  conv1d,
  globalMaxPooling1d,
  globalAveragePooling1d,
  positionEmbedding,
  tokenAndPositionEmbedding,
  transformerEncoder,
  bidirectional,
};

/** The layer types the onnx engine compiles, as its errors list them. */
export const ONNX_LAYERS = Object.keys(LAYERS) as readonly LayerType[];

/** The entry for `config`'s type, its config type erased: sound, as it is only ever given that very config. */
export function onnxLayer(config: TypedLayerConfig): OnnxLayer<TypedLayerConfig> {
  const erased: Readonly<Record<LayerType, OnnxLayer<TypedLayerConfig>>> = LAYERS;
  return erased[config.type];
}
