/**
 * bidirectional: a recurrent layer run forward and backward over the sequence, its two outputs merged as tfjs merges them.
 * @module
 */
import { type LayerConfigOf, type RecurrentLayerConfig, snakeCase } from '../../../models/layers.js';
import type { Graph, Value } from '../graph.js';
import type { OnnxLayer } from './layer.js';
import { recurrent, recurrentParams, refuseOneStep } from './recurrent.js';

type Bidirectional = LayerConfigOf<'bidirectional'>;

const MERGES: { readonly [M in Bidirectional['mergeMode']]: (g: Graph, y: Value, yRev: Value) => Value } = {
  concat: (g, y, yRev) => g.concat([y, yRev], y.shape.length - 1),
  sum: (g, y, yRev) => g.add(y, yRev),
  mul: (g, y, yRev) => g.mul(y, yRev),
  ave: (g, y, yRev) => g.mul(g.scalar(0.5), g.add(y, yRev)),
};

/** The weight-name prefix of a bidirectional layer's forward or backward half, as tfjs names it. */
function directionName(name: string, direction: 'forward' | 'backward', inner: RecurrentLayerConfig): string {
  return `${name}/${direction}_${name}_${snakeCase(inner.type)}`;
}

export const bidirectional: OnnxLayer<Bidirectional> = {
  params: (l, { name, input }) => [
    ...recurrentParams(directionName(name, 'forward', l.layer), l.layer, input[1] as number),
    ...recurrentParams(directionName(name, 'backward', l.layer), l.layer, input[1] as number),
  ],
  forward: (g, h, l, { name, weight }) =>
    MERGES[l.mergeMode](g, recurrent(g, h, l.layer, directionName(name, 'forward', l.layer), weight), recurrent(g, h, l.layer, directionName(name, 'backward', l.layer), weight, true)),
  refuse: refuseOneStep,
};
