/**
 * activation: an activation function as a layer of its own.
 * @module
 */
import type { LayerConfigOf } from '../../../models/layers.js';
import { activate } from './activations.js';
import type { OnnxLayer } from './layer.js';

export const activation: OnnxLayer<LayerConfigOf<'activation'>> = {
  forward: (g, h, l) => activate(g, h, l.activation),
  elementwise: true,
};
