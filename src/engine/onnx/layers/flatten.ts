/**
 * flatten: an image flattened in NCHW order, so with no transpose; the next dense kernel's rows
 * (and normalization vectors) are permuted to match (see ParamInfo.chwRows). Where ONNX Runtime
 * folds that transpose into the reorder out of its blocked conv layout, NHWC instead (see
 * CompiledGraphs.blockedLayout).
 * @module
 */
import type { LayerConfigOf } from '../../../models/layers.js';
import type { OnnxLayer } from './layer.js';
import { toNhwc } from './shapes.js';

export const flatten: OnnxLayer<LayerConfigOf<'flatten'>> = {
  forward: (g, h, _l, ctx) => g.reshape(ctx.nhwcFlatten && h.shape.length === 4 ? toNhwc(g, h) : h, [-1, h.shape.slice(1).reduce((a, b) => a * b, 1)]),
  featureOrder: 'chw',
};
