/**
 * The graphs' layout moves and window geometry: images are NCHW in the graphs (NHWC in tfjs),
 * sequences run through 2-D ops as images of one row, and 'same' windows pad as TF pads them.
 * @module
 */
import type { Graph, Value, WindowAttrs } from '../graph.js';

/** NHWC → NCHW; with one channel both hold the same bytes, so a reshape is enough. */
export function toNchw(g: Graph, x: Value): Value {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  return c === 1 ? g.reshape(x, [n, 1, h, w]) : g.transpose(x, [0, 3, 1, 2]);
}

/** NCHW → NHWC, the inverse of `toNchw`. */
export function toNhwc(g: Graph, x: Value): Value {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  return c === 1 ? g.reshape(x, [n, h, w, 1]) : g.transpose(x, [0, 2, 3, 1]);
}

/** A sequence [n, steps, c] as an NCHW image [n, c, 1, steps], so 2-D windows of height 1 run along its steps. */
export function stepsAsImage(g: Graph, x: Value): Value {
  const [, steps, c] = x.shape as [number, number, number];
  return g.reshape(g.transpose(x, [0, 2, 1]), [-1, c, 1, steps]);
}

/** The inverse of `stepsAsImage`. */
export function imageAsSteps(g: Graph, x: Value): Value {
  const [, c, , steps] = x.shape as [number, number, number, number];
  return g.transpose(g.reshape(x, [-1, c, steps]), [0, 2, 1]);
}

/** TF's padding: 'same' splits the overrun with the extra row at the end. */
export function samePads(size: number, k: number, s: number, d: number): [number, number] {
  const out = Math.ceil(size / s);
  const total = Math.max((out - 1) * s + (k - 1) * d + 1 - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** The window attributes of a conv or pool over the NCHW `shape`. */
export function windowOf(shape: readonly number[], kernel: [number, number], strides: [number, number], dilations: [number, number], padding: 'same' | 'valid'): WindowAttrs {
  const [, , h, w] = shape as [number, number, number, number];
  const [t, b] = padding === 'same' ? samePads(h, kernel[0], strides[0], dilations[0]) : [0, 0];
  const [l, r] = padding === 'same' ? samePads(w, kernel[1], strides[1], dilations[1]) : [0, 0];
  return { kernel, strides, dilations, pads: [t, l, b, r] };
}

/** A valid (unpadded) window's span and strides per axis. */
export interface WindowSpan {
  readonly span: [number, number];
  readonly strides: [number, number];
}

/**
 * `x` (NCHW) cut to the rows and columns that a chain of valid windows ever reads: a 2×2 pool
 * over an 11×11 conv output never reads its last row and column, so neither that conv nor the
 * layers before it compute what only those would have read. The cut is a Split; where its input
 * needs a gradient, the cut-off part gets a zero one. In the 2-conv CNN the cut reaches the
 * model's input (28×28 to 26×26), which needs none: 15% less of the first conv and pool, and no
 * copies in the gradient.
 */
export function cropToChain(g: Graph, x: Value, chain: readonly WindowSpan[]): Value {
  let cropped = x;
  for (const axis of [0, 1] as const) {
    const size = x.shape[axis + 2] as number;
    const outputs = chain.reduce((n, w) => Math.floor((n - w.span[axis]) / w.strides[axis]) + 1, size);
    if (outputs < 1) continue;
    const needed = chain.reduceRight((n, w) => (n - 1) * w.strides[axis] + w.span[axis], outputs);
    if (needed < size) cropped = g.split(cropped, axis + 2, [needed, size - needed])[0] as Value;
  }
  return cropped;
}
