/**
 * The global pools: the maximum or mean over each channel of an image (its plane) or a sequence (its steps).
 * @module
 */
import type { LayerConfigOf } from '../../../models/layers.js';
import type { Graph, Value } from '../graph.js';
import type { OnnxLayer } from './layer.js';

type GlobalPool<K extends 'globalMaxPooling2d' | 'globalAveragePooling2d' | 'globalMaxPooling1d' | 'globalAveragePooling1d'> = OnnxLayer<LayerConfigOf<K>>;

/** An image's [n, c, h, w] pooled to [n, c]. */
function overPlanes(op: 'GlobalMaxPool' | 'GlobalAveragePool'): { forward: (g: Graph, h: Value) => Value } {
  return { forward: (g, h) => g.reshape(g.globalPool(op, h), [-1, h.shape[1] as number]) };
}

export const globalMaxPooling2d: GlobalPool<'globalMaxPooling2d'> = overPlanes('GlobalMaxPool');
export const globalAveragePooling2d: GlobalPool<'globalAveragePooling2d'> = overPlanes('GlobalAveragePool');
export const globalMaxPooling1d: GlobalPool<'globalMaxPooling1d'> = { forward: (g, h) => g.reduceMax(h, [1], false) };
export const globalAveragePooling1d: GlobalPool<'globalAveragePooling1d'> = { forward: (g, h) => g.div(g.reduceSum(h, [1], false), g.scalar(h.shape[1] as number)) };
