/**
 * Every activation function, op for op as tfjs-layers computes it: the activation layer's and
 * every layer that takes an `activation` field.
 * @module
 */
import type { Activation } from '../../../models/layers.js';
import type { Graph, Value } from '../graph.js';

/** tfjs-core's SELU constants (scale·alpha and scale), so both engines compute the same function. */
const SELU_SCALE_ALPHA = 1.7580993408473768;
const SELU_SCALE = 1.0507009873554805;

const ACTIVATIONS: { readonly [A in Activation]: (g: Graph, x: Value) => Value } = {
  linear: (_g, x) => x,
  relu: (g, x) => g.unary('Relu', x),
  sigmoid: (g, x) => g.unary('Sigmoid', x),
  tanh: (g, x) => g.unary('Tanh', x),
  softplus: (g, x) => g.unary('Softplus', x),
  elu: (g, x) => g.unary('Elu', x, { alpha: { f: 1 } }),
  selu: (g, x) => g.unary('Selu', x, { alpha: { f: SELU_SCALE_ALPHA / SELU_SCALE }, gamma: { f: SELU_SCALE } }),
  // tfjs-layers' exact GELU: x · 0.5 · (1 + erf(x / √2)), not the tanh approximation.
  gelu: (g, x) => g.mul(x, g.mul(g.scalar(0.5), g.add(g.scalar(1), g.unary('Erf', g.div(x, g.scalar(Math.SQRT2)))))),
  swish: (g, x) => g.mul(g.unary('Sigmoid', x), x),
  relu6: (g, x) => g.clip(g.unary('Relu', x), 0, 6),
  // tfjs-layers' slope is 0.2: clip(0.5 + 0.2·x, 0, 1).
  hardSigmoid: (g, x) => g.clip(g.add(g.scalar(0.5), g.mul(g.scalar(0.2), x)), 0, 1),
  softsign: (g, x) => g.div(x, g.add(g.unary('Abs', x), g.scalar(1))),
  mish: (g, x) => g.mul(x, g.unary('Tanh', g.unary('Softplus', x))),
  // The tanh approximation: 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715·x³))).
  gelu_new: (g, x) =>
    g.mul(g.scalar(0.5), g.mul(x, g.add(g.scalar(1), g.unary('Tanh', g.mul(g.scalar(Math.sqrt(2 / Math.PI)), g.add(x, g.mul(g.scalar(0.044715), g.mul(g.mul(x, x), x)))))))),
  // Over tfjs's last axis, the channels: axis 1 of our NCHW images.
  softmax: (g, x) => g.softmax(x, x.shape.length === 4 ? 1 : -1),
};

/** `x` through `activation`. */
export function activate(g: Graph, x: Value, activation: Activation): Value {
  return ACTIVATIONS[activation](g, x);
}
