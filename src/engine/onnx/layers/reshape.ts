/**
 * reshape: tfjs reshapes NHWC element order, so our NCHW layout is left around it.
 * @module
 */
import type { LayerConfigOf } from '../../../models/layers.js';
import type { OnnxLayer } from './layer.js';
import { toNchw, toNhwc } from './shapes.js';

export const reshape: OnnxLayer<LayerConfigOf<'reshape'>> = {
  forward: (g, h, _l, ctx) => {
    const target = ctx.output;
    // After a flatten, first put its CHW rows back in tfjs's HWC order.
    const rows = ctx.chwRows === undefined ? undefined : [ctx.chwRows[2], ctx.chwRows[0], ctx.chwRows[1]];
    const source = rows !== undefined ? toNhwc(g, g.reshape(h, [-1, ...rows])) : h.shape.length === 4 ? toNhwc(g, h) : h;
    const y = g.reshape(source, [-1, ...target]);
    return target.length === 3 ? toNchw(g, y) : y;
  },
  featureOrder: 'tfjs',
};
