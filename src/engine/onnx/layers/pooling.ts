/**
 * The windowed pools, max and average, 2-D and 1-D: a 1-D pool runs as a 2-D one of height 1
 * over the sequence as an image, as tfjs runs it.
 * @module
 */
import { pair, type Shape, type TypedLayerConfig } from '../../../models/layers.js';
import { activate } from './activations.js';
import type { OnnxLayer, TrainingPass } from './layer.js';
import { cropToChain, imageAsSteps, samePads, stepsAsImage, windowOf } from './shapes.js';

type PoolingConfig = Extract<TypedLayerConfig, { type: 'maxPooling2d' | 'averagePooling2d' | 'maxPooling1d' | 'averagePooling1d' }>;

/** A pooling layer's window as [height, width] pairs: a 1-D pool is one of height 1. */
function poolWindow(l: PoolingConfig): { kernel: [number, number]; strides: [number, number] } {
  if (l.type === 'maxPooling1d' || l.type === 'averagePooling1d') return { kernel: [1, l.poolSize], strides: [1, l.strides ?? l.poolSize] };
  return { kernel: pair(l.poolSize), strides: pair(l.strides ?? l.poolSize) };
}

/** Whether 'same' pooling over an [h, w, c] image or [steps, c] sequence adds padding. */
function padsAnything(input: Shape, l: PoolingConfig): boolean {
  if (l.padding === 'valid') return false;
  const [h, w] = input.length === 2 ? [1, input[0] as number] : [input[0] as number, input[1] as number];
  const { kernel, strides } = poolWindow(l);
  return [...samePads(h, kernel[0], strides[0], 1), ...samePads(w, kernel[1], strides[1], 1)].some((p) => p > 0);
}

/**
 * Whether the relu of the conv2d at `index` moves past the max pool after it: in the training
 * step (max and relu commute), so that it and its gradient run on the pooled tensor, a quarter of
 * the size for 2×2 windows.
 */
export function reluMovesPastPool(layers: readonly TypedLayerConfig[], index: number, train: TrainingPass | undefined): boolean {
  const conv = layers[index];
  return train !== undefined && conv?.type === 'conv2d' && conv.activation === 'relu' && layers[index + 1]?.type === 'maxPooling2d';
}

export const pooling: OnnxLayer<PoolingConfig> = {
  forward: (g, h, l, ctx) => {
    const sequence = l.type === 'maxPooling1d' || l.type === 'averagePooling1d';
    const image = sequence ? stepsAsImage(g, h) : cropToChain(g, h, ctx.chain());
    const { kernel, strides } = poolWindow(l);
    const { pads } = windowOf(image.shape, kernel, strides, [1, 1], l.padding);
    const max = l.type === 'maxPooling2d' || l.type === 'maxPooling1d';
    // Only the gradient needs the argmax indices; without them ONNX Runtime pools several times faster.
    const y = !max ? g.averagePool(image, { kernel, strides, pads }) : ctx.train?.poolIndices === true ? g.maxPool(image, { kernel, strides, pads })[0] : g.maxPoolValues(image, { kernel, strides, pads });
    const pooled = sequence ? imageAsSteps(g, y) : y;
    return reluMovesPastPool(ctx.layers, ctx.index - 1, ctx.train) ? activate(g, pooled, 'relu') : pooled;
  },
  // Its forward pass leaves padding out of each window's count, but tfjs's gradient divides by
  // the full window size: no true gradient agrees with that, so such layers stay on tfjs.
  refuse: (l, input) => ((l.type === 'averagePooling2d' || l.type === 'averagePooling1d') && padsAnything(input, l) ? `${l.type} with padding "same" that pads this input` : undefined),
  validWindow: (l) => {
    if ((l.type !== 'maxPooling2d' && l.type !== 'averagePooling2d') || l.padding !== 'valid') return undefined;
    const { kernel, strides } = poolWindow(l);
    return { span: kernel, strides };
  },
};
