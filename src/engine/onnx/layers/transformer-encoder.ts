/**
 * transformerEncoder: keras_hub's TransformerEncoder over [batch, steps, dim], op for op as the
 * tfjs engine's layer: per head softmax(Q·Kᵀ/√headDim)·V (the query scaled first, as Keras does),
 * the output projection, then the feed-forward block; each a residual branch, dropped out through
 * its mask in training, layer-normalized after the residual add (or before the branch with
 * normalizeFirst).
 * @module
 */
import { type LayerConfigOf, transformerEncoderWeights } from '../../../models/layers.js';
import type { Value } from '../graph.js';
import { activate } from './activations.js';
import type { OnnxLayer } from './layer.js';
import { layerNorm } from './layer-normalization.js';

/** Its residual branches, each with its own dropout mask, by the site number that seeds it. */
const BRANCHES = { attention: 1, feedforward: 2 } as const;
type Branch = keyof typeof BRANCHES;

export const transformerEncoder: OnnxLayer<LayerConfigOf<'transformerEncoder'>> = {
  params: (l, { name, input }) => transformerEncoderWeights(input[1] as number, l.intermediateDim).map((w) => ({ name: `${name}/${w.name}`, shape: w.shape, hwio: false })),
  forward: (g, x, l, { name, weight, mask }) => {
    const [, steps, dim] = x.shape as [number, number, number];
    const headDim = dim / l.numHeads;
    const dense = (t: Value, sublayer: string): Value => g.add(g.matmul(t, weight(`${name}/${sublayer}/kernel`)), weight(`${name}/${sublayer}/bias`));
    const heads = (t: Value, perm: readonly number[]): Value => g.transpose(g.reshape(t, [-1, steps, l.numHeads, headDim]), perm);
    const attention = (t: Value): Value => {
      const query = g.mul(heads(dense(t, 'query'), [0, 2, 1, 3]), g.scalar(1 / Math.sqrt(headDim)));
      const keys = heads(dense(t, 'key'), [0, 2, 3, 1]);
      const values = heads(dense(t, 'value'), [0, 2, 1, 3]);
      const attended = g.matmul(g.softmax(g.matmul(query, keys)), values);
      return dense(g.reshape(g.transpose(attended, [0, 2, 1, 3]), [-1, steps, dim]), 'attention_output');
    };
    const feedForward = (t: Value): Value => dense(activate(g, dense(t, 'feedforward_intermediate_dense'), l.activation), 'feedforward_output_dense');
    const residual = (t: Value, norm: string, branch: Branch, run: (t: Value) => Value): Value => {
      const normalize = (v: Value): Value => layerNorm(g, v, `${name}/${norm}`, weight, l.layerNormEpsilon);
      const y = run(l.normalizeFirst ? normalize(t) : t);
      const m = mask(branch);
      const sum = g.add(t, m === undefined ? y : g.mul(y, m));
      return l.normalizeFirst ? sum : normalize(sum);
    };
    return residual(residual(x, 'self_attention_layer_norm', 'attention', attention), 'feedforward_layer_norm', 'feedforward', feedForward);
  },
  dropouts: (l) => (l.dropout > 0 ? Object.entries(BRANCHES).map(([branch, site]) => ({ rate: l.dropout, branch, site })) : []),
};
