/**
 * embedding: a Gather of the embeddings' rows by the token ids (floats truncated, as tfjs casts them).
 * @module
 */
import type { LayerConfigOf } from '../../../models/layers.js';
import { firstOnly, type OnnxLayer } from './layer.js';

export const embedding: OnnxLayer<LayerConfigOf<'embedding'>> = {
  params: (l, { name }) => [{ name: `${name}/embeddings`, shape: [l.inputDim, l.outputDim], hwio: false, uniform: 0.05 }],
  forward: (g, h, _l, ctx) => g.gather(ctx.weight(`${ctx.name}/embeddings`), g.toInt64(h)),
  refuse: firstOnly,
};
