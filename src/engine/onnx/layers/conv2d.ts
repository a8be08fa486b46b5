/**
 * conv2d: an NCHW Conv, its kernel OIHW (see layout.ts).
 * @module
 */
import { type LayerConfigOf, pair } from '../../../models/layers.js';
import { activate } from './activations.js';
import { biasParam, type OnnxLayer } from './layer.js';
import { reluMovesPastPool } from './pooling.js';
import { cropToChain, windowOf } from './shapes.js';

export const conv2d: OnnxLayer<LayerConfigOf<'conv2d'>> = {
  params: (l, { name, input }) => {
    const [kh, kw] = pair(l.kernelSize);
    return [{ name: `${name}/kernel`, shape: [kh, kw, input[2] as number, l.filters], hwio: true }, ...biasParam(name, l.filters, l.useBias)];
  },
  forward: (g, h, l, ctx) => {
    const x = cropToChain(g, h, ctx.chain());
    const attrs = windowOf(x.shape, pair(l.kernelSize), pair(l.strides), pair(l.dilationRate), l.padding);
    const y = g.conv(x, ctx.weight(`${ctx.name}/kernel`), l.useBias ? ctx.weight(`${ctx.name}/bias`) : undefined, attrs);
    return reluMovesPastPool(ctx.layers, ctx.index, ctx.train) ? y : activate(g, y, l.activation);
  },
  validWindow: (l) => {
    if (l.padding !== 'valid') return undefined;
    const [k, d] = [pair(l.kernelSize), pair(l.dilationRate)];
    return { span: [(k[0] - 1) * d[0] + 1, (k[1] - 1) * d[1] + 1], strides: pair(l.strides) };
  },
  // For fewer than 8 input channels the reorders in and out of the blocked layout cost more than the conv gains.
  blocked: (input) => (input[2] ?? 0) >= 8,
};
