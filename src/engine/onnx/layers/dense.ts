/**
 * dense: a MatMul over the last axis of rows and sequences (not of NCHW images, which it refuses).
 * @module
 */
import type { LayerConfigOf } from '../../../models/layers.js';
import { activate } from './activations.js';
import { biasParam, type OnnxLayer } from './layer.js';

export const dense: OnnxLayer<LayerConfigOf<'dense'>> = {
  params: (l, { name, input, chwRows }) => [
    { name: `${name}/kernel`, shape: [input[input.length - 1] as number, l.units], hwio: false, ...(chwRows !== undefined ? { chwRows } : {}) },
    ...biasParam(name, l.units, l.useBias),
  ],
  forward: (g, h, l, ctx) => {
    const y = g.matmul(h, ctx.weight(`${ctx.name}/kernel`));
    const biased = l.useBias ? g.add(y, ctx.weight(`${ctx.name}/bias`)) : y;
    // The last layer's softmax is applied by the inference output and by the loss.
    return ctx.index < ctx.layers.length - 1 ? activate(g, biased, l.activation) : biased;
  },
  // Our images are NCHW, so the graph's dense would not run over an image's last axis.
  refuse: (l, input) => (input.length === 3 ? `${l.type} on an input of shape [${input.join(', ')}]` : undefined),
  featureOrder: 'tfjs',
};
