/**
 * layerNormalization, and what batch normalization shares with it: the gamma and beta vectors and
 * the final scale and shift.
 * @module
 */
import type { LayerConfigOf } from '../../../models/layers.js';
import type { Graph, Value } from '../graph.js';
import type { OnnxLayer, ParamContext, ParamInfo } from './layer.js';

/** A normalization's per-feature vectors over its input's last axis, named `${name}/${role}`, in the order of the flat features they meet. */
export function featureVectors({ name, input, chwRows }: ParamContext, roles: readonly string[], extra: Partial<ParamInfo> = {}): ParamInfo[] {
  const order = chwRows !== undefined ? { chwRows } : {};
  return roles.map((role) => ({ name: `${name}/${role}`, shape: [input[input.length - 1] as number], hwio: false, ...extra, ...order }));
}

/** (h − mean) / √(variance + ε) · gamma + beta, as tfjs's batchNormalization op. */
export function scaleShift(g: Graph, h: Value, mean: Value, variance: Value, epsilon: number, gamma: Value, beta: Value): Value {
  return g.add(g.mul(g.div(g.sub(h, mean), g.unary('Sqrt', g.add(variance, g.scalar(epsilon)))), gamma), beta);
}

/**
 * Layer normalization over tfjs's last axis, the channels: axis 1 in our NCHW images, the last
 * axis of rows and sequences, so its mean and (biased) variance are sums over one static axis.
 */
export function layerNorm(g: Graph, h: Value, name: string, weight: (name: string) => Value, epsilon: number): Value {
  const image = h.shape.length === 4;
  const axis = image ? 1 : h.shape.length - 1;
  const c = h.shape[axis] as number;
  const channel = (v: Value): Value => (image ? g.reshape(v, [1, c, 1, 1]) : v);
  const count = g.scalar(c);
  const mean = g.div(g.reduceSum(h, [axis], true), count);
  const centered = g.sub(h, mean);
  const variance = g.div(g.reduceSum(g.mul(centered, centered), [axis], true), count);
  return scaleShift(g, h, mean, variance, epsilon, channel(weight(`${name}/gamma`)), channel(weight(`${name}/beta`)));
}

export const layerNormalization: OnnxLayer<LayerConfigOf<'layerNormalization'>> = {
  params: (_l, ctx) => featureVectors(ctx, ['gamma', 'beta']),
  forward: (g, h, l, ctx) => layerNorm(g, h, ctx.name, ctx.weight, l.epsilon),
};
