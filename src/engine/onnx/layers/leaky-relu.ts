/**
 * leakyRelu: ONNX's LeakyRelu with the layer's slope.
 * @module
 */
import type { LayerConfigOf } from '../../../models/layers.js';
import type { OnnxLayer } from './layer.js';

export const leakyRelu: OnnxLayer<LayerConfigOf<'leakyRelu'>> = {
  forward: (g, h, l) => g.unary('LeakyRelu', h, { alpha: { f: l.alpha } }),
  elementwise: true,
};
