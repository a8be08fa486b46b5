/**
 * Structured pruning: whole filters of conv layers and units of dense layers removed, by smallest
 * L1 norm of their kernel slice (Li et al., "Pruning Filters for Efficient ConvNets"), giving a
 * genuinely smaller spec and weights. The removal is carried through every later layer that
 * indexes those channels, up to the layer that consumes them; CHANNELS says, per layer type, how.
 * Weights are in the tfjs engine's names and layouts (channels last, kernels [..., in, out]).
 * @module
 */
import type { NamedWeight } from '../engine/types.js';
import { EcomlError } from '../errors.js';
import { analyzeLayer, layerNames, type LayerConfigOf, type LayerType, parseLayerConfig, type TypedLayerConfig } from '../models/layers.js';
import { modelProfile } from '../models/load.js';
import type { LayerConfig, ModelSpec } from '../models/spec.js';

/** How one layer treats the channels (indices over the last axis) of its input. */
type Carry =
  /** Consumes its input's channels (kernel rows, second-to-last axis) and makes its own (last axis), which may be pruned unless `refuse` says why not. */
  | { readonly kind: 'produce'; readonly field: 'filters' | 'units'; readonly useBias: boolean; readonly refuse?: string }
  /** Leaves each channel where it is. */
  | { readonly kind: 'pass' }
  /** Keeps one value per channel in each of its weights (batch normalization's four vectors). */
  | { readonly kind: 'vectors'; readonly weights: readonly string[] }
  /** Channels-last flatten: channel c at position p becomes feature p·C + c. */
  | { readonly kind: 'flatten' }
  /** Cannot take fewer channels than it was built for: the layer feeding it keeps all of its own. */
  | { readonly kind: 'stop'; readonly reason: string };

// Method syntax keeps the parameter bivariant, so the table can be indexed by any layer's type.
interface ChannelRule<C> {
  carry(config: C): Carry;
}

const PASS: ChannelRule<unknown> = { carry: () => ({ kind: 'pass' }) };

function stop(reason: string): ChannelRule<unknown> {
  return { carry: () => ({ kind: 'stop', reason }) };
}

const SOFTMAX = 'its softmax normalizes across the channels, so removing some changes the rest';

function produce(field: 'filters' | 'units'): ChannelRule<{ readonly activation: string; readonly useBias: boolean }> {
  return { carry: (c) => ({ kind: 'produce', field, useBias: c.useBias, ...(c.activation === 'softmax' ? { refuse: SOFTMAX } : {}) }) };
}

const NOT_CARRIED = 'its weights are not sliced by channel here';

const CHANNELS: { readonly [K in LayerType]: ChannelRule<LayerConfigOf<K>> } = {
  conv2d: produce('filters'),
  conv1d: produce('filters'),
  dense: produce('units'),
  maxPooling2d: PASS,
  averagePooling2d: PASS,
  maxPooling1d: PASS,
  averagePooling1d: PASS,
  globalMaxPooling2d: PASS,
  globalAveragePooling2d: PASS,
  globalMaxPooling1d: PASS,
  globalAveragePooling1d: PASS,
  dropout: PASS,
  leakyRelu: PASS,
  activation: { carry: (c) => (c.activation === 'softmax' ? { kind: 'stop', reason: SOFTMAX } : { kind: 'pass' }) },
  flatten: { carry: () => ({ kind: 'flatten' }) },
  batchNormalization: { carry: () => ({ kind: 'vectors', weights: ['gamma', 'beta', 'moving_mean', 'moving_variance'] }) },
  reshape: stop('it regroups the last axis, so channels lose their place'),
  layerNormalization: stop('it normalizes across the channels, so removing some changes the rest'),
  embedding: stop('it takes token ids, not channels'),
  tokenAndPositionEmbedding: stop('it takes token ids, not channels'),
  positionEmbedding: stop(NOT_CARRIED),
  transformerEncoder: stop(NOT_CARRIED),
  simpleRnn: stop(NOT_CARRIED),
  lstm: stop(NOT_CARRIED),
  gru: stop(NOT_CARRIED),
  bidirectional: stop(NOT_CARRIED),
};
const ERASED_CHANNELS: Readonly<Record<LayerType, ChannelRule<TypedLayerConfig>>> = CHANNELS;

export interface StructuredPruneOptions {
  /** The fraction of each prunable layer's filters or units to remove, in (0, 1); at least one stays. */
  readonly fraction: number;
}

export interface PrunedLayer {
  readonly layer: string;
  readonly type: LayerType;
  readonly before: number;
  readonly after: number;
  /** The removed filters or units, by their index in the source. */
  readonly removed: readonly number[];
}

/** A conv or dense layer left whole, and why. */
export interface UnprunedLayer {
  readonly layer: string;
  readonly type: LayerType;
  readonly reason: string;
}

export interface StructuredPruneReport {
  readonly fraction: number;
  readonly pruned: readonly PrunedLayer[];
  readonly unpruned: readonly UnprunedLayer[];
  readonly parameterCount: { readonly before: number; readonly after: number };
  readonly flopsPerSample: { readonly before: number; readonly after: number };
}

export interface StructuredPruneResult {
  readonly spec: ModelSpec;
  /** In the order of the source weights, shapes shrunk where channels went. */
  readonly weights: NamedWeight[];
  readonly report: StructuredPruneReport;
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The weight with only the `keep` indices of `axis`, in their order. */
function sliceAxis(w: NamedWeight, axis: number, keep: readonly number[]): NamedWeight {
  const dim = w.shape[axis] as number;
  const outer = product(w.shape.slice(0, axis));
  const inner = product(w.shape.slice(axis + 1));
  const values = new Float32Array(outer * keep.length * inner);
  for (let o = 0; o < outer; o++) {
    keep.forEach((k, j) => values.set(w.values.subarray((o * dim + k) * inner, (o * dim + k + 1) * inner), (o * keep.length + j) * inner));
  }
  return { name: w.name, shape: w.shape.map((d, i) => (i === axis ? keep.length : d)), values };
}

/** The L1 norm of each output channel (last axis) of a kernel. */
function channelL1(kernel: NamedWeight): Float64Array {
  const n = lastDim(kernel.shape);
  const norms = new Float64Array(n);
  kernel.values.forEach((v, i) => (norms[i % n] = (norms[i % n] as number) + Math.abs(v)));
  return norms;
}

/** The `remove` channels of smallest L1 norm (the lower index first among equals), ascending. */
function smallestL1(kernel: NamedWeight, remove: number): number[] {
  const norms = channelL1(kernel);
  const order = Array.from(norms.keys()).sort((a, b) => (norms[a] as number) - (norms[b] as number) || a - b);
  return order.slice(0, remove).sort((a, b) => a - b);
}

function lastDim(shape: readonly number[]): number {
  return shape[shape.length - 1] as number;
}

/** A kernel [..., fanIn, n] as the spec says, before any index into it is trusted. */
function checkKernel(kernel: NamedWeight, fanIn: number, n: number): void {
  const rank = kernel.shape.length;
  if (rank < 2 || kernel.shape[rank - 2] !== fanIn || kernel.shape[rank - 1] !== n || kernel.values.length !== product(kernel.shape)) {
    throw new EcomlError('E_SHAPE_MISMATCH', `weight ${kernel.name} has shape [${kernel.shape.join(', ')}] and ${kernel.values.length} values; the spec needs [..., ${fanIn}, ${n}]`, {
      details: { weight: kernel.name, got: [...kernel.shape] },
    });
  }
}

/** Channel indices over a [..., C] activation after a channels-last flatten. */
function flattened(shape: readonly number[], kept: readonly number[]): number[] {
  const channels = lastDim(shape);
  const positions = product(shape) / channels;
  return Array.from({ length: positions }, (_, p) => kept.map((c) => p * channels + c)).flat();
}

/**
 * Removes the `fraction` of filters or units with the smallest L1 norm from every conv2d, conv1d
 * and dense layer whose channels can be followed to the next such layer, and takes the same
 * channels out of everything between (batch normalization's vectors) and of that layer's kernel.
 * A layer whose channels reach the model's output, or a layer that cannot take fewer channels, is
 * left whole, with the reason in the report.
 */
export function structuredPrune(spec: ModelSpec, weights: readonly NamedWeight[], options: StructuredPruneOptions): StructuredPruneResult {
  const { fraction } = options;
  if (!(fraction > 0 && fraction < 1)) {
    throw new EcomlError('E_CONFIG_INVALID', `structured pruning: fraction must be in (0, 1), got ${fraction}`, { details: { fraction } });
  }
  const layers = spec.layers.map((l, i) => parseLayerConfig(l, `model.layers[${i}]`));
  const names = layerNames(layers);
  const carries = layers.map((l) => ERASED_CHANNELS[l.type].carry(l));
  // shapes[i] is layer i's input, shapes[i + 1] its output.
  const shapes: (readonly number[])[] = [spec.input];
  layers.forEach((l, i) => shapes.push(analyzeLayer(l, shapes[i] as readonly number[], `model.layers[${i}] (${l.type})`).outputShape));

  const byName = new Map(weights.map((w) => [w.name, w]));
  const weight = (name: string): NamedWeight => {
    const w = byName.get(name);
    if (w === undefined) throw new EcomlError('E_SHAPE_MISMATCH', `no value given for weight ${name}`, { details: { weight: name } });
    return w;
  };

  /** Why layer i's channels cannot be followed to a consumer, or undefined. */
  const blocked = (i: number): string | undefined => {
    for (let j = i + 1; j < layers.length; j++) {
      const c = carries[j] as Carry;
      if (c.kind === 'produce') return undefined;
      if (c.kind === 'stop') return `it feeds ${names[j] as string} (${layers[j]?.type as string}): ${c.reason}`;
    }
    return "its channels are the model's outputs";
  };

  const kept: (number[] | undefined)[] = layers.map(() => undefined);
  const pruned: PrunedLayer[] = [];
  const unpruned: UnprunedLayer[] = [];
  layers.forEach((l, i) => {
    const c = carries[i] as Carry;
    if (c.kind !== 'produce') return;
    const layer = names[i] as string;
    const kernel = weight(`${layer}/kernel`);
    const n = lastDim(shapes[i + 1] as readonly number[]);
    checkKernel(kernel, lastDim(shapes[i] as readonly number[]), n);
    const remove = Math.min(Math.floor(fraction * n), n - 1);
    const reason = blocked(i) ?? c.refuse ?? (remove === 0 ? `${fraction} of its ${n} ${c.field} is less than one` : undefined);
    if (reason !== undefined) {
      unpruned.push({ layer, type: l.type, reason });
      return;
    }
    const removed = smallestL1(kernel, remove);
    const gone = new Set(removed);
    kept[i] = Array.from({ length: n }, (_, k) => k).filter((k) => !gone.has(k));
    pruned.push({ layer, type: l.type, before: n, after: n - remove, removed });
  });

  // Carry each removal forward: `incoming` lists the surviving indices over the current input's last axis.
  const out = new Map<string, NamedWeight>();
  const newLayers: LayerConfig[] = [...spec.layers];
  let incoming: readonly number[] | undefined;
  layers.forEach((_l, i) => {
    const c = carries[i] as Carry;
    const layer = names[i] as string;
    switch (c.kind) {
      case 'produce': {
        let kernel = weight(`${layer}/kernel`);
        if (incoming !== undefined) kernel = sliceAxis(kernel, kernel.shape.length - 2, incoming);
        const own = kept[i];
        if (own !== undefined) {
          kernel = sliceAxis(kernel, kernel.shape.length - 1, own);
          if (c.useBias) out.set(`${layer}/bias`, sliceAxis(weight(`${layer}/bias`), 0, own));
          newLayers[i] = { ...(spec.layers[i] as LayerConfig), [c.field]: own.length };
        }
        out.set(kernel.name, kernel);
        incoming = own;
        return;
      }
      case 'vectors':
        if (incoming !== undefined) for (const v of c.weights) out.set(`${layer}/${v}`, sliceAxis(weight(`${layer}/${v}`), 0, incoming));
        return;
      case 'flatten':
        if (incoming !== undefined) incoming = flattened(shapes[i] as readonly number[], incoming);
        return;
      case 'pass':
        return;
      case 'stop':
        if (incoming !== undefined) throw new EcomlError('E_INTERNAL', `structured pruning carried channels into ${layer}, which cannot take them`);
        return;
    }
  });

  const result: ModelSpec = { ...spec, layers: newLayers };
  const before = modelProfile(spec);
  const after = modelProfile(result);
  return {
    spec: result,
    weights: weights.map((w) => out.get(w.name) ?? w),
    report: {
      fraction,
      pruned,
      unpruned,
      parameterCount: { before: before.parameterCount, after: after.parameterCount },
      flopsPerSample: { before: before.flopsPerSample, after: after.flopsPerSample },
    },
  };
}
