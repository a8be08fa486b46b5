/**
 * conv1d: a Conv of kernel height 1 along the steps of the sequence as an image.
 * @module
 */
import type { LayerConfigOf } from '../../../models/layers.js';
import { activate } from './activations.js';
import { biasParam, type OnnxLayer } from './layer.js';
import { imageAsSteps, stepsAsImage, windowOf } from './shapes.js';

export const conv1d: OnnxLayer<LayerConfigOf<'conv1d'>> = {
  params: (l, { name, input }) => [
    { name: `${name}/kernel`, shape: [l.kernelSize, input[1] as number, l.filters], hwio: true },
    ...biasParam(name, l.filters, l.useBias),
  ],
  forward: (g, h, l, ctx) => {
    const image = stepsAsImage(g, h);
    const attrs = windowOf(image.shape, [1, l.kernelSize], [1, l.strides], [1, l.dilationRate], l.padding);
    const y = g.conv(image, ctx.weight(`${ctx.name}/kernel`), l.useBias ? ctx.weight(`${ctx.name}/bias`) : undefined, attrs);
    return activate(g, imageAsSteps(g, y), l.activation);
  },
};
