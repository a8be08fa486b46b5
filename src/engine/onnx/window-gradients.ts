/**
 * The gradients of the window ops (Conv, MaxPool, AveragePool), each tuned against the obvious
 * form on ONNX Runtime: weight gradients as GEMMs over input patches, input gradients through
 * Col2Im or a transposed Conv, max pooling through its argmax indices or without them.
 * @module
 */
import type { Rule } from './autodiff.js';
import { type Graph, type Node, type Value, type WindowAttrs, windowAttrs } from './graph.js';
import { floatTensor, int64Tensor } from './protobuf.js';

/** A Conv's or pool's window attributes (pools have no dilations: 1). */
function windowOfNode(node: Node): WindowAttrs {
  const ints = (name: string): readonly number[] | undefined => (node.attrs[name] as { ints: readonly number[] } | undefined)?.ints;
  return { kernel: ints('kernel_shape'), strides: ints('strides'), dilations: ints('dilations') ?? [1, 1], pads: ints('pads') } as WindowAttrs;
}

/**
 * dW (and db where `bias`) for an NCHW Conv: dW[o, c, i, j] = Σ_(n, y, x) dy[n, o, y, x] ·
 * x[n, c, y·s + i·d, x·s + j·d], GEMMs of dy with the kh·kw shifted views ("patches") of the
 * padded input. A Conv over the batch axis computes the same sums, but as a GEMM only kh·kw
 * wide: 3× slower.
 */
function filterGradient(g: Graph, x: Value, dy: Value, wShape: readonly number[], a: WindowAttrs, bias: boolean): [Value, Value | undefined] {
  const c = wShape[1] as number;
  const [pt, pl, pb, pr] = a.pads as [number, number, number, number];
  const padded = a.pads.some((p) => p > 0) ? g.node('Pad', [x, g.ints([0, 0, pt, pl, 0, 0, pb, pr])], [{ type: 'float', shape: [x.shape[0] as number, c, (x.shape[2] as number) + pt + pb, (x.shape[3] as number) + pl + pr] }])[0] as Value : x;
  return c === 1 ? slicedPatchesGradient(g, padded, dy, wShape, a, bias) : gatheredPatchesGradient(g, padded, dy, wShape, a, bias);
}

/**
 * One input channel: the kh·kw strided Slices of each image stacked as its [kh·kw, y·x] patches,
 * one batched MatMul with that image's dy as [o, y·x], summed over the batch. Gathering single
 * floats, as gatheredPatchesGradient would, ran 15% slower; one GEMM over the whole batch needed dy
 * transposed to [o, (n, y, x)] and took twice as long.
 */
function slicedPatchesGradient(g: Graph, padded: Value, dy: Value, wShape: readonly number[], a: WindowAttrs, bias: boolean): [Value, Value | undefined] {
  const [o, c, kh, kw] = wShape as [number, number, number, number];
  const [, , oh, ow] = dy.shape as [number, number, number, number];
  const patches: Value[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const top = i * a.dilations[0];
      const left = j * a.dilations[1];
      patches.push(
        g.node(
          'Slice',
          [padded, g.ints([top, left]), g.ints([top + (oh - 1) * a.strides[0] + 1, left + (ow - 1) * a.strides[1] + 1]), g.ints([2, 3]), g.ints([a.strides[0], a.strides[1]])],
          [{ type: 'float', shape: [padded.shape[0] as number, c, oh, ow] }],
        )[0] as Value,
      );
    }
  }
  const perImage = g.reshape(dy, [-1, o, oh * ow]);
  const stacked = g.reshape(g.concat(patches, 1), [-1, kh * kw, oh * ow]);
  const filter = g.reshape(g.reduceSum(g.matmul(perImage, g.transpose(stacked, [0, 2, 1])), [0], false), [o, c, kh, kw]);
  return [filter, bias ? g.reduceSum(perImage, [0, 2], false) : undefined];
}

/**
 * Several input channels: one Gather of the input's pixel rows (NHWC, c floats each) builds all
 * patches as [kh·kw, (n, y, x), c], and one batched MatMul gives dW per kernel offset. The
 * Slices and Concat of slicedPatchesGradient copied the patches twice: this ran 9–14% faster on
 * the 2-conv CNN's step.
 */
function gatheredPatchesGradient(g: Graph, padded: Value, dy: Value, wShape: readonly number[], a: WindowAttrs, bias: boolean): [Value, Value | undefined] {
  const [o, c, kh, kw] = wShape as [number, number, number, number];
  // dy as one row per output channel: the GEMM's operand, and the bias gradient as contiguous
  // row sums (a third of the time of summing NCHW over three axes).
  const dyRows = g.reshape(g.transpose(dy, [1, 0, 2, 3]), [o, -1]);
  const [, , oh, ow] = dy.shape as [number, number, number, number];
  const [hp, wp] = [padded.shape[2] as number, padded.shape[3] as number];
  const pixels = g.reshape(g.transpose(padded, [0, 2, 3, 1]), [-1, c]);
  // Each patch element's pixel within its image, by kernel offset then output position.
  const within = Array.from({ length: kh * kw * oh * ow }, (_, k) => {
    const [offset, y, xx] = [Math.floor(k / (oh * ow)), Math.floor(k / ow) % oh, k % ow];
    return (Math.floor(offset / kw) * a.dilations[0] + y * a.strides[0]) * wp + (offset % kw) * a.dilations[1] + xx * a.strides[1];
  });
  const int64 = (op: string, inputs: Value[], shape: number[]): Value => g.node(op, inputs, [{ type: 'int64', shape }])[0] as Value;
  const imageStarts = int64('Mul', [int64('Range', [g.constant(int64Tensor([0], [])), g.batchCount(padded), g.constant(int64Tensor([1], []))], [-1]), g.constant(int64Tensor([hp * wp], []))], [-1]);
  const rows = int64('Add', [g.constant(int64Tensor(within, [kh * kw, 1, oh * ow])), int64('Reshape', [imageStarts, g.ints([1, -1, 1])], [1, -1, 1])], [kh * kw, -1, oh * ow]);
  const patches = g.node('Gather', [pixels, int64('Reshape', [rows, g.ints([kh * kw, -1])], [kh * kw, -1])], [{ type: 'float', shape: [kh * kw, -1, c] }], { axis: { i: 0 } })[0] as Value;
  return [g.reshape(g.transpose(g.matmul(dyRows, patches), [1, 2, 0]), [o, c, kh, kw]), bias ? g.reduceSum(dyRows, [1], false) : undefined];
}

/**
 * A window op's plane-by-plane form: each of the batch·channel planes of an NCHW tensor as an
 * image of its own (ONNX Runtime's WebGPU ConvTranspose mishandles groups, so no depthwise op is used).
 */
function planes(g: Graph, v: Value): Value {
  const [, , h, w] = v.shape as [number, number, number, number];
  return g.reshape(v, [-1, 1, h, w]);
}

/**
 * MaxPool's gradient without its indices output (ONNX Runtime's WebGPU MaxPool has none): a Conv
 * with one-hot kernels stacks each window's kh·kw elements, ArgMax picks each window's first
 * maximum (row-major, as the indexed MaxPool and tfjs pick; padding never wins), and the
 * transposed Conv with the same kernels adds dy back at those elements, overlapping windows summing.
 */
function windowMaxGradient(g: Graph, n: Node, dy: Value): Value {
  const x = n.inputs[0] as Value;
  const window = windowOfNode(n);
  const { kernel: [kh, kw], strides: [sh, sw], pads } = window;
  const [batch, c, h, w] = x.shape as [number, number, number, number];
  const [, , oh, ow] = dy.shape as [number, number, number, number];
  const k = kh * kw;
  const oneHot = g.constant(floatTensor(Array.from({ length: k * k }, (_, i) => (i % k === Math.floor(i / k) ? 1 : 0)), [k, 1, kh, kw]));
  const windows = g.node('Conv', [planes(g, x), oneHot], [{ type: 'float', shape: [-1, k, oh, ow] }], windowAttrs(window))[0] as Value;
  let stacked = g.reshape(windows, [-1, c, k, oh, ow]);
  // Where a window reaches into the padding, the Conv read a 0 there; MaxPool never picks padding.
  const inside = Array.from({ length: k * oh * ow }, (_, i) => {
    const [offset, row, col] = [Math.floor(i / (oh * ow)), Math.floor(i / ow) % oh, i % ow];
    const [top, left] = [row * sh - pads[0] + Math.floor(offset / kw), col * sw - pads[1] + (offset % kw)];
    return top >= 0 && top < h && left >= 0 && left < w;
  });
  if (inside.some((v) => !v)) stacked = g.add(stacked, g.constant(floatTensor(inside.map((v) => (v ? 0 : Number.NEGATIVE_INFINITY)), [1, 1, k, oh, ow])));
  const first = g.node('ArgMax', [stacked], [{ type: 'int64', shape: [batch, c, 1, oh, ow] }], { axis: { i: 2 }, keepdims: { i: 1 }, select_last_index: { i: 0 } })[0] as Value;
  const isFirst = g.compare('Equal', first, g.constant(int64Tensor(Array.from({ length: k }, (_, i) => i), [1, 1, k, 1, 1])));
  const spread = g.where(isFirst, g.node('Unsqueeze', [dy, g.ints([2])], [{ type: 'float', shape: [batch, c, 1, oh, ow] }])[0] as Value, g.scalar(0));
  return g.reshape(transposedConv(g, g.reshape(spread, [-1, k, oh, ow]), oneHot, window, [-1, 1, h, w]), x.shape);
}

/** The transposed Conv of `d` to `shape` (NCHW); output_padding restores rows the forward stride skipped. */
function transposedConv(g: Graph, d: Value, kernels: Value, a: WindowAttrs, shape: readonly number[]): Value {
  const [, , oh, ow] = d.shape as [number, number, number, number];
  const span = (o: number, i: 0 | 1): number => a.strides[i] * (o - 1) + (a.kernel[i] - 1) * a.dilations[i] + 1 - (a.pads[i] as number) - (a.pads[i + 2] as number);
  const outputPadding = [(shape[2] as number) - span(oh, 0), (shape[3] as number) - span(ow, 1)];
  return g.node('ConvTranspose', [d, kernels], [{ type: 'float', shape }], { ...windowAttrs(a), output_padding: { ints: outputPadding } })[0] as Value;
}

/** dX as Col2Im or a transposed Conv (see GradientOptions.col2Im), dW and db from the input's patches. */
export const convGradient: Rule = (g, n, [dy], wants, options) => {
  const [x, w] = n.inputs as [Value, Value];
  const d = dy as Value;
  const window = windowOfNode(n);
  const [kh, kw] = window.kernel;
  const [, , h, wd] = x.shape as [number, number, number, number];
  const [, , oh, ow] = d.shape as [number, number, number, number];
  const grads: (Value | undefined)[] = [undefined, undefined, undefined];
  if (wants(0) && (options.col2Im ?? true)) {
    // dX = col2im(Wᵀ · dy): each column of Wᵀ · dy is one output position's contribution to its window.
    const [o, c] = w.shape as [number, number];
    const cols = g.matmul(g.transpose(g.reshape(w, [o, c * kh * kw]), [1, 0]), g.reshape(d, [-1, o, oh * ow]));
    grads[0] = g.node('Col2Im', [cols, g.ints([h, wd]), g.ints([kh, kw])], [{ type: 'float', shape: x.shape }], {
      dilations: { ints: window.dilations },
      pads: { ints: window.pads },
      strides: { ints: window.strides },
    })[0];
  } else if (wants(0)) {
    grads[0] = transposedConv(g, d, w, window, x.shape);
  }
  const bias = n.inputs.length > 2 && wants(2);
  if (wants(1)) {
    [grads[1], grads[2]] = filterGradient(g, x, d, w.shape, window, bias);
  } else if (bias) {
    grads[2] = g.reduceSum(d, [0, 2, 3], false);
  }
  return grads;
};

/** dy to each window's argmax: placed by MaxUnpool, scatter-added where windows overlap, or found again without indices. */
export const maxPoolGradient: Rule = (g, n, [dy]) => {
  const x = n.inputs[0] as Value;
  const idx = n.outputs[1];
  if (idx === undefined) return [windowMaxGradient(g, n, dy as Value)];
  const { kernel, strides, pads } = windowOfNode(n);
  if (strides.every((s, i) => s >= (kernel[i] as number))) {
    // Windows that never overlap send each input at most one dy: MaxUnpool places them directly.
    const shape = g.node('Shape', [x], [{ type: 'int64', shape: [x.shape.length] }])[0] as Value;
    return [g.node('MaxUnpool', [dy as Value, idx, shape], [{ type: 'float', shape: x.shape }], { kernel_shape: { ints: kernel }, strides: { ints: strides }, pads: { ints: pads } })[0]];
  }
  const size = x.shape.reduce((a, b) => a * b, 1);
  // Indices are flat NCHW positions in the whole input: scatter-add dy into a flat zero tensor.
  const flatX = g.reshape(x, [size < 0 ? -1 : size]);
  const scattered = g.node('ScatterElements', [g.zerosLike(flatX), g.reshape(idx, [-1]), g.reshape(dy as Value, [-1])], [{ type: 'float', shape: flatX.shape }], {
    axis: { i: 0 },
    reduction: { s: 'add' },
  })[0] as Value;
  return [g.reshape(scattered, x.shape)];
};

export const averagePoolGradient: Rule = (g, n, [dy]) => {
  const x = n.inputs[0] as Value;
  const d = dy as Value;
  const window = windowOfNode(n);
  const { kernel: [kh, kw], strides: [sh, sw], pads } = window;
  const [, , h, w] = x.shape as [number, number, number, number];
  const [, , oh, ow] = d.shape as [number, number, number, number];
  // Each window spreads dy / (its unpadded element count) over its elements: a transposed
  // convolution of each plane with a ones kernel. The counts are static, so they are a constant.
  const counts = Array.from({ length: oh * ow }, (_, k) => {
    const covered = (o: number, s: number, kk: number, p: number, len: number): number => Math.min(o * s - p + kk, len) - Math.max(o * s - p, 0);
    return 1 / (covered(Math.floor(k / ow), sh, kh, pads[0], h) * covered(k % ow, sw, kw, pads[1], w));
  });
  const scaled = g.mul(d, g.constant(floatTensor(counts, [oh, ow])));
  const ones = g.constant(floatTensor(new Array<number>(kh * kw).fill(1), [1, 1, kh, kw]));
  return [g.reshape(transposedConv(g, planes(g, scaled), ones, window, [-1, 1, h, w]), x.shape)];
};
