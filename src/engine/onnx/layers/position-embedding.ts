/**
 * positionEmbedding: keras_hub's, a learned vector added at each step.
 * @module
 */
import type { LayerConfigOf } from '../../../models/layers.js';
import type { OnnxLayer } from './layer.js';

export const positionEmbedding: OnnxLayer<LayerConfigOf<'positionEmbedding'>> = {
  params: (_l, { name, input }) => [{ name: `${name}/embeddings`, shape: [...input], hwio: false }],
  forward: (g, h, _l, ctx) => g.add(h, ctx.weight(`${ctx.name}/embeddings`)),
};
