/**
 * batchNormalization over all axes but the channels (axis 1, NCHW, or the last of a 2-D tensor).
 * Its moving statistics are weights the training step updates itself, not the optimizer.
 * @module
 */
import type { LayerConfigOf } from '../../../models/layers.js';
import type { Value } from '../graph.js';
import type { OnnxLayer } from './layer.js';
import { featureVectors, scaleShift } from './layer-normalization.js';

export const batchNormalization: OnnxLayer<LayerConfigOf<'batchNormalization'>> = {
  params: (_l, ctx) => [...featureVectors(ctx, ['gamma', 'beta']), ...featureVectors(ctx, ['moving_mean', 'moving_variance'], { moving: true })],
  /**
   * As tfjs computes it: in training, the batch's mean and biased variance, with each moving
   * statistic m updated to m − (m − batch stat)·(1 − momentum); in inference, the moving ones.
   */
  forward: (g, h, l, { name, weight, train }) => {
    const c = h.shape[1] as number;
    const image = h.shape.length === 4;
    // Per-channel vectors broadcast against NCHW as [1, c, 1, 1].
    const channel = (v: Value): Value => (image ? g.reshape(v, [1, c, 1, 1]) : v);
    let mean: Value;
    let variance: Value;
    if (train === undefined) {
      mean = channel(weight(`${name}/moving_mean`));
      variance = channel(weight(`${name}/moving_variance`));
    } else {
      const axes = image ? [0, 2, 3] : [0];
      const count = image ? g.mul(train.batch(), g.scalar((h.shape[2] as number) * (h.shape[3] as number))) : train.batch();
      mean = g.div(g.reduceSum(h, axes, true), count);
      const centered = g.sub(h, mean);
      variance = g.div(g.reduceSum(g.mul(centered, centered), axes, true), count);
      for (const [stat, batchStat] of [
        ['moving_mean', mean],
        ['moving_variance', variance],
      ] as const) {
        const old = weight(`${name}/${stat}`);
        train.moving.set(`${name}/${stat}`, g.sub(old, g.mul(g.sub(old, g.reshape(batchStat, [c])), g.scalar(1 - l.momentum))));
      }
    }
    return scaleShift(g, h, mean, variance, l.epsilon, channel(weight(`${name}/gamma`)), channel(weight(`${name}/beta`)));
  },
  // Its batch statistics are over flat rows and images, not over a sequence's steps.
  refuse: (l, input) => (input.length === 2 ? `${l.type} on an input of shape [${input.join(', ')}]` : undefined),
};
