/**
 * tokenAndPositionEmbedding: keras_hub's, a token embedding plus a learned embedding per position.
 * @module
 */
import { type LayerConfigOf, tokenAndPositionWeights } from '../../../models/layers.js';
import { firstOnly, type OnnxLayer } from './layer.js';

export const tokenAndPositionEmbedding: OnnxLayer<LayerConfigOf<'tokenAndPositionEmbedding'>> = {
  params: (l, { name, input }) =>
    tokenAndPositionWeights(input[0] as number, l.inputDim, l.outputDim).map((w) => ({ name: `${name}/${w.name}`, shape: w.shape, hwio: false, ...(w.name.startsWith('token_embedding/') ? { uniform: 0.05 } : {}) })),
  forward: (g, h, _l, ctx) => g.add(g.gather(ctx.weight(`${ctx.name}/token_embedding/embeddings`), g.toInt64(h)), ctx.weight(`${ctx.name}/position_embedding/embeddings`)),
  refuse: firstOnly,
};
