/**
 * dropout: in training, the activations times a mask the engine draws per step (0 or 1/(1 − rate)).
 * @module
 */
import type { LayerConfigOf } from '../../../models/layers.js';
import type { OnnxLayer } from './layer.js';

export const dropout: OnnxLayer<LayerConfigOf<'dropout'>> = {
  forward: (g, h, _l, ctx) => {
    const mask = ctx.mask();
    return mask === undefined ? h : g.mul(h, mask);
  },
  dropouts: (l) => (l.rate > 0 ? [{ rate: l.rate }] : []),
};
