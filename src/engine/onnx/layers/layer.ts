/**
 * What one layer type is to the onnx engine: its weights, its forward lowering, and the few facts
 * about it that the compiler reads from outside (refusals, dropout masks, windows, feature order).
 * @module
 */
import type { Shape, TypedLayerConfig } from '../../../models/layers.js';
import type { Graph, Value } from '../graph.js';
import type { WindowSpan } from './shapes.js';

export interface ParamInfo {
  /** The tfjs engine's weight name, e.g. `conv2d/kernel`. */
  readonly name: string;
  /** The tfjs engine's shape (conv kernels HWIO). */
  readonly shape: readonly number[];
  /** True for conv kernels, stored OIHW in ONNX (conv1d's [k, in, out] as [out, in, 1, k]). */
  readonly hwio: boolean;
  /** True for batch-norm moving statistics: state the training step updates, not the optimizer. */
  readonly moving?: true;
  /**
   * For a dense kernel fed by a flattened image [h, w, c], or a normalization's vectors between
   * the two: the graphs flatten NCHW (no transpose), so the ONNX kernel's rows (the vector's
   * entries) are in CHW order where tfjs's are in HWC order; but an inference graph in the blocked
   * layout flattens NHWC and keeps tfjs's order (see CompiledGraphs.blockedLayout).
   */
  readonly chwRows?: readonly [number, number, number];
  /** For an LSTM bias: its units, whose forget-gate quarter starts at 1 as in the tfjs engine. */
  readonly forgetBias?: number;
  /** True for recurrent kernels, which start orthogonal as in the tfjs engine. */
  readonly orthogonal?: true;
  /** For embeddings: Keras' start, uniform in ±this. */
  readonly uniform?: number;
}

/** Where a layer's weights are made. */
export interface ParamContext {
  /** The layer's name (`conv2d`, `dense_1`, …): its weights are `${name}/…`. */
  readonly name: string;
  /** Its input shape (one sample, tfjs layout). */
  readonly input: Shape;
  /** The [h, w, c] of an image whose flattened features its input holds in CHW order (see ParamInfo.chwRows). */
  readonly chwRows: readonly [number, number, number] | undefined;
}

/** What only the training step's forward pass has. */
export interface TrainingPass {
  /** Each dropout mask input by its name (see ForwardContext.mask). */
  readonly masks: ReadonlyMap<string, Value>;
  /** The batch size as a float scalar, read off the input `x` (so no gradient flows into it); built on first use. */
  readonly batch: () => Value;
  /** Collects each moving statistic's updated value by weight name. */
  readonly moving: Map<string, Value>;
  /** Whether MaxPool gives its argmax indices to the gradient (see GraphOptions). */
  readonly poolIndices: boolean;
}

/** Where a layer is lowered. */
export interface ForwardContext extends ParamContext {
  /** The model's layers and this one's index among them, for what depends on its neighbours. */
  readonly layers: readonly TypedLayerConfig[];
  readonly index: number;
  /** Its output shape (one sample, tfjs layout). */
  readonly output: Shape;
  /** A weight's graph value by its full name. */
  readonly weight: (name: string) => Value;
  /** Given for the training step only. */
  readonly train: TrainingPass | undefined;
  /** The training step's dropout mask for this layer (for one of its `dropouts` branches), if it has one. */
  readonly mask: (branch?: string) => Value | undefined;
  /** The valid windows that this layer and the ones after it read in a row (see cropToChain). */
  readonly chain: () => WindowSpan[];
  /**
   * Whether this pass flattens images in tfjs's HWC order (see CompiledGraphs.blockedLayout); it
   * then leaves `chwRows` undefined, its flat features being in tfjs's order already.
   */
  readonly nhwcFlatten: boolean;
}

/** A dropout mask a layer takes in training. */
export interface MaskSite {
  readonly rate: number;
  /** For a layer with several masks: which one, by name (in the mask's input name) and by number (for seeding). */
  readonly branch?: string;
  readonly site?: number;
}

// Method syntax keeps each entry's config parameter bivariant, so the table can be indexed by any type.
export interface OnnxLayer<C> {
  /** Its weights, named and shaped as the tfjs engine's; none where left out. */
  params?(config: C, ctx: ParamContext): ParamInfo[];
  /** Its lowering: the graph value after the layer, from `h` before it (images NCHW). */
  forward(g: Graph, h: Value, config: C, ctx: ForwardContext): Value;
  /** Why the onnx engine cannot compile it on an input of shape `input` (tfjs layout), or undefined. */
  refuse?(config: C, input: Shape, index: number): string | undefined;
  /** The dropout masks it takes in training. */
  dropouts?(config: C): MaskSite[];
  /** Its window where it slides one without padding, else undefined (see cropToChain). */
  validWindow?(config: C): WindowSpan | undefined;
  /** True for elementwise layers, which a chain of valid windows passes through. */
  readonly elementwise?: true;
  /**
   * How it orders its output's flat features against tfjs's: a flatten of an image leaves them
   * CHW (`chw`); a dense layer, whose kernel rows take that order in, and a reshape, which puts
   * them back, leave them in tfjs's (`tfjs`); other layers keep their input's order.
   */
  readonly featureOrder?: 'chw' | 'tfjs';
  /** Whether ONNX Runtime's blocked NCHWc layout pays for it on an input of shape `input` (tfjs layout). */
  blocked?(input: Shape): boolean;
}

/** A layer's bias vector, where it has one. */
export function biasParam(name: string, units: number, useBias: boolean): ParamInfo[] {
  return useBias ? [{ name: `${name}/bias`, shape: [units], hwio: false }] : [];
}

/** The refusal of a lookup layer anywhere but first: the token ids are the input itself, and nothing before them could be trained through a lookup. */
export function firstOnly(l: { readonly type: string }, _input: Shape, index: number): string | undefined {
  return index > 0 ? `${l.type} other than as the first layer` : undefined;
}
