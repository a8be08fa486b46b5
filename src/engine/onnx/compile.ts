/**
 * ModelSpec → ONNX graphs: the inference graph (NHWC samples in, class probabilities out) and
 * one training-step graph (forward, loss, gradients and the optimizer update; weights and
 * optimizer state in, their new values out, plus the loss and the count of correct predictions).
 * Batch-norm moving statistics are weights the step updates itself rather than the optimizer.
 * Weights are graph inputs in ONNX layout (conv kernels OIHW, dense kernels after a flatten with
 * CHW-ordered rows; see layout.ts); their names match the tfjs engine's.
 * @module
 */
import { EcomlError } from '../../errors.js';
import {
  type Activation,
  analyzeLayer,
  type LayerConfigOf,
  layerNames,
  pair,
  parseLayerConfig,
  type RecurrentLayerConfig,
  snakeCase,
  tokenAndPositionWeights,
  transformerEncoderWeights,
  type TypedLayerConfig,
} from '../../models/layers.js';
import { isAdam, type ModelSpec, optimizerSettings } from '../../models/spec.js';
import { gradients } from './autodiff.js';
import { Graph, type Value, type WindowAttrs } from './graph.js';
import { hwioShape } from './layout.js';

export const ONNX_LAYERS = [
  'conv2d',
  'maxPooling2d',
  'averagePooling2d',
  'maxPooling1d',
  'averagePooling1d',
  'globalMaxPooling2d',
  'globalAveragePooling2d',
  'flatten',
  'dense',
  'dropout',
  'activation',
  'leakyRelu',
  'batchNormalization',
  'layerNormalization',
  'reshape',
  'simpleRnn',
  'lstm',
  'gru',
  'embedding',
  'conv1d',
  'globalMaxPooling1d',
  'globalAveragePooling1d',
  'positionEmbedding',
  'tokenAndPositionEmbedding',
  'transformerEncoder',
  'bidirectional',
] as const;
/** tfjs-core's SELU constants (scale·alpha and scale), so both engines compute the same function. */
const SELU_SCALE_ALPHA = 1.7580993408473768;
const SELU_SCALE = 1.0507009873554805;
const LOSSES = ['sparse_categorical_crossentropy', 'categorical_crossentropy', 'mean_squared_error', 'mean_absolute_error', 'binary_crossentropy'];
/** Gate count per recurrent cell: its kernels are [·, gates·units]. */
const GATES = { simpleRnn: 1, lstm: 4, gru: 3 } as const;
/** Keras' fuzz factor, which tfjs's cross-entropies clip probabilities by. */
const EPSILON = 1e-7;
const OPTIMIZERS = ['adam', 'adamw', 'sgd', 'rmsprop'];

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

export interface DropoutInfo {
  /** Graph input for the mask: 0 or 1/(1 − rate) per activation. */
  readonly name: string;
  readonly rate: number;
  /** Per-sample mask shape in the graph's layout. */
  readonly shape: readonly number[];
  /** The layer's index in the spec (for seeding). */
  readonly layer: number;
  /** For a layer with several masks (a transformer encoder's residual branches): which one (for seeding). */
  readonly site?: number;
}

export interface CompiledGraphs {
  readonly params: readonly ParamInfo[];
  /** Optimizer slot names per param (e.g. `m`, `v` for Adam), named `${param}/${slot}`. */
  readonly slots: readonly string[];
  readonly dropouts: readonly DropoutInfo[];
  readonly inference: Graph;
  readonly training: Graph;
  /**
   * Whether ONNX Runtime's blocked (NCHWc) convolution layout pays for this model: it does when a
   * conv2d reads 8 or more channels; for fewer, the reorders in and out cost more than the conv
   * gains, so the engine turns that transformer off. With it on, the inference graph flattens
   * images NHWC (folded into the reorder out) and its dense rows after a flatten are tfjs's.
   */
  readonly blockedLayout: boolean;
}

function unsupported(message: string, details: Record<string, unknown>): EcomlError {
  return new EcomlError('E_UNKNOWN_NAME', `the onnx engine does not support ${message}; it supports layers ${ONNX_LAYERS.join(', ')} with any activation (a last layer of dense with softmax, or of one sigmoid unit with binary_crossentropy), losses ${LOSSES.join(', ')} and optimizers ${OPTIMIZERS.join(', ')}`, {
    details: { ...details, unsupported: message, valid: [...ONNX_LAYERS] },
  });
}

/** Throws E_UNKNOWN_NAME naming the first thing in `spec` this engine cannot compile. */
export function checkSupported(spec: ModelSpec): TypedLayerConfig[] {
  const layers = spec.layers.map((l, i) => parseLayerConfig(l, `model.layers[${i}]`));
  let shape: readonly number[] = spec.input;
  const binary = spec.compile.loss === 'binary_crossentropy';
  layers.forEach((l, i) => {
    const at = `model.layers[${i}]`;
    if ((l.type === 'averagePooling2d' || l.type === 'averagePooling1d') && padsAnything(shape, l)) {
      // Its forward pass leaves padding out of each window's count, but tfjs's gradient divides
      // by the full window size: no true gradient agrees with that, so such layers stay on tfjs.
      throw unsupported(`${l.type} with padding "same" that pads this input (${at})`, { path: at, name: l.type });
    }
    const input = shape;
    shape = analyzeLayer(l, shape, at).outputShape;
    if (!(ONNX_LAYERS as readonly string[]).includes(l.type)) throw unsupported(`layer type "${l.type}" (${at})`, { path: at, name: l.type });
    const last = i === layers.length - 1;
    // Our images are NCHW, so the graph's dense would not run over an image's last axis; its batch
    // normalization has batch statistics over flat rows and images, not over a sequence's steps.
    if ((l.type === 'dense' && input.length === 3) || (l.type === 'batchNormalization' && input.length === 2)) {
      throw unsupported(`${l.type} on an input of shape [${input.join(', ')}] (${at})`, { path: at, name: l.type });
    }
    // The token ids are the input itself: nothing before them could be trained through a lookup.
    if ((l.type === 'embedding' || l.type === 'tokenAndPositionEmbedding') && i > 0) throw unsupported(`${l.type} other than as the first layer (${at})`, { path: at, name: l.type });
    // With one step the recurrent kernel never meets a nonzero state, so it would get no gradient.
    if ((l.type === 'lstm' || l.type === 'gru' || l.type === 'simpleRnn' || l.type === 'bidirectional') && input[0] === 1) {
      throw unsupported(`a recurrent layer over one timestep (${at})`, { path: at, name: l.type });
    }
    if (!last) return;
    if (binary && !(l.type === 'dense' && l.units === 1 && l.activation === 'sigmoid')) {
      throw unsupported(`binary_crossentropy with a last layer other than one dense unit with sigmoid (${at})`, { path: at, name: l.type });
    }
    if (!binary && !(l.type === 'dense' && l.activation === 'softmax')) throw unsupported(`a last layer other than dense with softmax (${at})`, { path: at, name: l.type });
  });
  if (!LOSSES.includes(spec.compile.loss)) throw unsupported(`loss "${spec.compile.loss}"`, { name: spec.compile.loss });
  const opt = spec.compile.optimizer;
  if (!OPTIMIZERS.includes(opt.type)) throw unsupported(`optimizer "${opt.type}"`, { name: opt.type });
  if (spec.input.length > 3) throw unsupported(`input shape [${spec.input.join(', ')}] (rank 1 to 3 only)`, { name: 'input' });
  return layers;
}

type PoolingConfig = Extract<TypedLayerConfig, { type: 'maxPooling2d' | 'averagePooling2d' | 'maxPooling1d' | 'averagePooling1d' }>;

/** A pooling layer's window as [height, width] pairs: a 1-D pool is one of height 1, as tfjs runs it. */
function poolWindow(l: PoolingConfig): { kernel: [number, number]; strides: [number, number] } {
  if (l.type === 'maxPooling1d' || l.type === 'averagePooling1d') return { kernel: [1, l.poolSize], strides: [1, l.strides ?? l.poolSize] };
  return { kernel: pair(l.poolSize), strides: pair(l.strides ?? l.poolSize) };
}

/** Whether 'same' pooling over an [h, w, c] image or [steps, c] sequence adds padding. */
function padsAnything(input: readonly number[], l: PoolingConfig): boolean {
  if (l.padding === 'valid') return false;
  const [h, w] = input.length === 2 ? [1, input[0] as number] : [input[0] as number, input[1] as number];
  const { kernel, strides } = poolWindow(l);
  return [...samePads(h, kernel[0], strides[0], 1), ...samePads(w, kernel[1], strides[1], 1)].some((p) => p > 0);
}

/** Why the onnx engine cannot compile `spec`, or undefined when it can. */
export function unsupportedReason(spec: ModelSpec): string | undefined {
  try {
    checkSupported(spec);
    return undefined;
  } catch (error) {
    if (error instanceof EcomlError && error.code === 'E_UNKNOWN_NAME') return String(error.details.unsupported ?? error.message);
    throw error;
  }
}

/** Whether the onnx engine can compile `spec` (otherwise use tfjs). */
export function supports(spec: ModelSpec): boolean {
  return unsupportedReason(spec) === undefined;
}

/** TF's padding: 'same' splits the overrun with the extra row at the end. */
function samePads(size: number, k: number, s: number, d: number): [number, number] {
  const out = Math.ceil(size / s);
  const total = Math.max((out - 1) * s + (k - 1) * d + 1 - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

function windowOf(shape: readonly number[], kernel: [number, number], strides: [number, number], dilations: [number, number], padding: 'same' | 'valid'): WindowAttrs {
  const [, , h, w] = shape as [number, number, number, number];
  const [t, b] = padding === 'same' ? samePads(h, kernel[0], strides[0], dilations[0]) : [0, 0];
  const [l, r] = padding === 'same' ? samePads(w, kernel[1], strides[1], dilations[1]) : [0, 0];
  return { kernel, strides, dilations, pads: [t, l, b, r] };
}

/** A valid (unpadded) conv2d's or 2-D pooling layer's window span and strides per axis; undefined for any other layer. */
function validWindow(l: TypedLayerConfig): { span: [number, number]; strides: [number, number] } | undefined {
  if (l.type === 'conv2d' && l.padding === 'valid') {
    const [k, d] = [pair(l.kernelSize), pair(l.dilationRate)];
    return { span: [(k[0] - 1) * d[0] + 1, (k[1] - 1) * d[1] + 1], strides: pair(l.strides) };
  }
  if ((l.type === 'maxPooling2d' || l.type === 'averagePooling2d') && l.padding === 'valid') {
    const { kernel, strides } = poolWindow(l);
    return { span: kernel, strides };
  }
  return undefined;
}

/**
 * Layer `i`'s NCHW input cut to the rows and columns that the chain of valid windows from layer
 * `i` on (elementwise activations between them) ever reads: a 2×2 pool over an 11×11 conv output
 * never reads its last row and column, so neither that conv nor the layers before it compute
 * what only those would have read. The cut is a Split; where its input needs a gradient, the
 * cut-off part gets a zero one. In the 2-conv CNN the cut reaches the model's input (28×28 to
 * 26×26), which needs none: 15% less of the first conv and pool, and no copies in the gradient.
 */
function cropToChain(g: Graph, x: Value, layers: readonly TypedLayerConfig[], i: number): Value {
  const chain: { span: [number, number]; strides: [number, number] }[] = [];
  for (const l of layers.slice(i)) {
    if (l.type === 'activation' || l.type === 'leakyRelu') continue;
    const window = validWindow(l);
    if (window === undefined) break;
    chain.push(window);
  }
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

/** A hidden layer's activation, op for op as tfjs-layers computes it. */
function activate(g: Graph, x: Value, activation: Activation): Value {
  switch (activation) {
    case 'linear':
      return x;
    case 'relu':
      return g.unary('Relu', x);
    case 'sigmoid':
      return g.unary('Sigmoid', x);
    case 'tanh':
      return g.unary('Tanh', x);
    case 'softplus':
      return g.unary('Softplus', x);
    case 'elu':
      return g.unary('Elu', x, { alpha: { f: 1 } });
    case 'selu':
      return g.unary('Selu', x, { alpha: { f: SELU_SCALE_ALPHA / SELU_SCALE }, gamma: { f: SELU_SCALE } });
    case 'gelu':
      // tfjs-layers' exact GELU: x · 0.5 · (1 + erf(x / √2)), not the tanh approximation.
      return g.mul(x, g.mul(g.scalar(0.5), g.add(g.scalar(1), g.unary('Erf', g.div(x, g.scalar(Math.SQRT2))))));
    case 'swish':
      return g.mul(g.unary('Sigmoid', x), x);
    case 'relu6':
      return g.clip(g.unary('Relu', x), 0, 6);
    case 'hardSigmoid':
      // tfjs-layers' slope is 0.2: clip(0.5 + 0.2·x, 0, 1).
      return g.clip(g.add(g.scalar(0.5), g.mul(g.scalar(0.2), x)), 0, 1);
    case 'softsign':
      return g.div(x, g.add(g.unary('Abs', x), g.scalar(1)));
    case 'mish':
      return g.mul(x, g.unary('Tanh', g.unary('Softplus', x)));
    case 'gelu_new':
      // The tanh approximation: 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715·x³))).
      return g.mul(g.scalar(0.5), g.mul(x, g.add(g.scalar(1), g.unary('Tanh', g.mul(g.scalar(Math.sqrt(2 / Math.PI)), g.add(x, g.mul(g.scalar(0.044715), g.mul(g.mul(x, x), x))))))));
    case 'softmax':
      // Over tfjs's last axis, the channels: axis 1 of our NCHW images.
      return g.softmax(x, x.shape.length === 4 ? 1 : -1);
  }
}

/** A transformer encoder's residual branches, each with its own dropout mask. */
const ENCODER_BRANCHES = { attention: 1, feedforward: 2 } as const;
type EncoderBranch = keyof typeof ENCODER_BRANCHES;

/** The graph input of a dropout mask: per dropout layer, or per branch of a transformer encoder. */
function maskName(layer: string, branch?: EncoderBranch): string {
  return branch === undefined ? `mask/${layer}` : `mask/${layer}/${branch}`;
}

/** What only the training step's forward pass has. */
interface TrainingPass {
  /** Each dropout mask input by its name (`maskName`). */
  readonly masks: ReadonlyMap<string, Value>;
  /** The batch size as a float scalar, read off the input `x` (so no gradient flows into it); built on first use. */
  readonly batch: () => Value;
  /** Collects each moving statistic's updated value by weight name. */
  readonly moving: Map<string, Value>;
  /** Whether MaxPool gives its argmax indices to the gradient (see GraphOptions). */
  readonly poolIndices: boolean;
}

/**
 * Batch normalization over all axes but the channels (axis 1, NCHW, or the last of a 2-D
 * tensor), as tfjs computes it: in training, the batch's mean and biased variance, with each
 * moving statistic m updated to m − (m − batch stat)·(1 − momentum); in inference, the moving ones.
 */
function batchNorm(g: Graph, h: Value, name: string, weight: (name: string) => Value, momentum: number, epsilon: number, train: TrainingPass | undefined): Value {
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
      train.moving.set(`${name}/${stat}`, g.sub(old, g.mul(g.sub(old, g.reshape(batchStat, [c])), g.scalar(1 - momentum))));
    }
  }
  return scaleShift(g, h, mean, variance, epsilon, channel(weight(`${name}/gamma`)), channel(weight(`${name}/beta`)));
}

/** (h − mean) / √(variance + ε) · gamma + beta, as tfjs's batchNormalization op. */
function scaleShift(g: Graph, h: Value, mean: Value, variance: Value, epsilon: number, gamma: Value, beta: Value): Value {
  return g.add(g.mul(g.div(g.sub(h, mean), g.unary('Sqrt', g.add(variance, g.scalar(epsilon)))), gamma), beta);
}

/**
 * Layer normalization over tfjs's last axis, the channels: axis 1 in our NCHW images, the last
 * axis of rows and sequences, so its mean and (biased) variance are sums over one static axis.
 */
function layerNorm(g: Graph, h: Value, name: string, weight: (name: string) => Value, epsilon: number): Value {
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

/** A sequence [n, steps, c] as an NCHW image [n, c, 1, steps], so 2-D windows of height 1 run along its steps. */
function stepsAsImage(g: Graph, x: Value): Value {
  const [, steps, c] = x.shape as [number, number, number];
  return g.reshape(g.transpose(x, [0, 2, 1]), [-1, c, 1, steps]);
}

/** The inverse of `stepsAsImage`. */
function imageAsSteps(g: Graph, x: Value): Value {
  const [, c, , steps] = x.shape as [number, number, number, number];
  return g.transpose(g.reshape(x, [-1, c, steps]), [0, 2, 1]);
}

/** NHWC → NCHW; with one channel both hold the same bytes, so a reshape is enough. */
function toNchw(g: Graph, x: Value): Value {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  return c === 1 ? g.reshape(x, [n, 1, h, w]) : g.transpose(x, [0, 3, 1, 2]);
}

/** NCHW → NHWC, the inverse of `toNchw`. */
function toNhwc(g: Graph, x: Value): Value {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  return c === 1 ? g.reshape(x, [n, h, w, 1]) : g.transpose(x, [0, 2, 3, 1]);
}

/**
 * A recurrent layer over [batch, steps, features], unrolled over its static steps from a zero
 * state, gate for gate as tfjs-layers' cells compute it (kernels [in, gates·units] with gates
 * LSTM i, f, c, o and GRU z, r, h; GRU without reset_after, its bias on the input side only).
 * The input projections of all steps are one MatMul. Every bias is added there, before the
 * recurrent term, where tfjs's LSTM adds it after: a float rounding apart, not a different model.
 * The first step skips the terms of the zero state, so no zero tensor of dynamic batch is needed.
 * `backwards` runs the steps last to first (a bidirectional layer's backward half) and returns
 * its sequence in input order, as tfjs's Bidirectional reverses it back.
 */
function recurrent(g: Graph, x: Value, l: RecurrentLayerConfig, name: string, weight: (name: string) => Value, backwards = false): Value {
  const [, steps, features] = x.shape as [number, number, number];
  const u = l.units;
  const width = GATES[l.type] * u;
  let projected = g.matmul(g.reshape(x, [-1, features]), weight(`${name}/kernel`));
  if (l.useBias) projected = g.add(projected, weight(`${name}/bias`));
  const inputs = g.split(g.reshape(projected, [-1, steps, width]), 1, new Array<number>(steps).fill(1)).map((v) => g.reshape(v, [-1, width]));
  const kernel = weight(`${name}/recurrent_kernel`);
  const act = (v: Value): Value => activate(g, v, l.activation);
  const gate = (v: Value): Value => activate(g, v, l.type === 'simpleRnn' ? l.activation : l.recurrentActivation);
  // GRU's reset gate scales the state before its candidate's recurrent product: split that part off.
  const [zrKernel, hKernel] = l.type === 'gru' ? g.split(kernel, 1, [2 * u, u]) : [kernel, kernel];
  let state: { h: Value; c?: Value } | undefined;
  const outputs: Value[] = [];
  for (const xt of backwards ? [...inputs].reverse() : inputs) {
    const prev = state;
    if (l.type === 'simpleRnn') {
      state = { h: act(prev === undefined ? xt : g.add(xt, g.matmul(prev.h, kernel))) };
    } else if (l.type === 'lstm') {
      const [zi, zf, zc, zo] = g.split(prev === undefined ? xt : g.add(xt, g.matmul(prev.h, kernel)), 1, [u, u, u, u]) as [Value, Value, Value, Value];
      const input = g.mul(gate(zi), act(zc));
      const c = prev === undefined ? input : g.add(g.mul(gate(zf), prev.c as Value), input);
      state = { h: g.mul(gate(zo), act(c)), c };
    } else {
      const [xz, xr, xh] = g.split(xt, 1, [u, u, u]) as [Value, Value, Value];
      if (prev === undefined) {
        state = { h: g.mul(g.sub(g.scalar(1), gate(xz)), act(xh)) };
      } else {
        const [rz, rr] = g.split(g.matmul(prev.h, zrKernel as Value), 1, [u, u]) as [Value, Value];
        const z = gate(g.add(xz, rz));
        const r = gate(g.add(xr, rr));
        const candidate = act(g.add(xh, g.matmul(g.mul(r, prev.h), hKernel as Value)));
        state = { h: g.add(g.mul(z, prev.h), g.mul(g.sub(g.scalar(1), z), candidate)) };
      }
    }
    if (l.returnSequences) outputs.push(g.reshape(state.h, [-1, 1, u]));
  }
  return l.returnSequences ? g.concat(backwards ? outputs.reverse() : outputs, 1) : (state as { h: Value }).h;
}

/** A bidirectional layer's two outputs merged as tfjs merges them. */
function merge(g: Graph, y: Value, yRev: Value, mode: LayerConfigOf<'bidirectional'>['mergeMode']): Value {
  switch (mode) {
    case 'concat':
      return g.concat([y, yRev], y.shape.length - 1);
    case 'sum':
      return g.add(y, yRev);
    case 'mul':
      return g.mul(y, yRev);
    case 'ave':
      return g.mul(g.scalar(0.5), g.add(y, yRev));
  }
}

/** The weight-name prefix of a bidirectional layer's forward or backward half, as tfjs names it. */
function directionName(name: string, direction: 'forward' | 'backward', inner: RecurrentLayerConfig): string {
  return `${name}/${direction}_${name}_${snakeCase(inner.type)}`;
}

/**
 * keras_hub's TransformerEncoder over [batch, steps, dim], op for op as the tfjs engine's layer:
 * per head softmax(Q·Kᵀ/√headDim)·V (the query scaled first, as Keras does), the output
 * projection, then the feed-forward block; each a residual branch, dropped out through its mask
 * in training, layer-normalized after the residual add (or before the branch with normalizeFirst).
 */
function transformerEncoder(
  g: Graph,
  x: Value,
  l: LayerConfigOf<'transformerEncoder'>,
  name: string,
  weight: (name: string) => Value,
  mask: (branch: EncoderBranch) => Value | undefined,
): Value {
  const [, steps, dim] = x.shape as [number, number, number];
  const headDim = dim / l.numHeads;
  const dense = (t: Value, sublayer: string): Value => g.add(g.matmul(t, weight(`${name}/${sublayer}/kernel`)), weight(`${name}/${sublayer}/bias`));
  const heads = (t: Value, perm: readonly number[]): Value => g.transpose(g.reshape(t, [-1, steps, l.numHeads, headDim]), perm);
  const attention = (t: Value): Value => {
    const query = g.mul(heads(dense(t, 'query'), [0, 2, 1, 3]), g.scalar(1 / Math.sqrt(headDim)));
    const keys = heads(dense(t, 'key'), [0, 2, 3, 1]);
    const values = heads(dense(t, 'value'), [0, 2, 1, 3]);
    const attended = g.matmul(g.softmax(g.matmul(query, keys)), values);
    return dense(g.reshape(g.transpose(attended, [0, 2, 1, 3]), [-1, steps, dim]), 'attention_output');
  };
  const feedForward = (t: Value): Value => dense(activate(g, dense(t, 'feedforward_intermediate_dense'), l.activation), 'feedforward_output_dense');
  const residual = (t: Value, norm: string, branch: EncoderBranch, run: (t: Value) => Value): Value => {
    const normalize = (v: Value): Value => layerNorm(g, v, `${name}/${norm}`, weight, l.layerNormEpsilon);
    const y = run(l.normalizeFirst ? normalize(t) : t);
    const m = mask(branch);
    const sum = g.add(t, m === undefined ? y : g.mul(y, m));
    return l.normalizeFirst ? sum : normalize(sum);
  };
  return residual(residual(x, 'self_attention_layer_norm', 'attention', attention), 'feedforward_layer_norm', 'feedforward', feedForward);
}

/**
 * The shared forward pass up to the logits; `train` is given for the training step only.
 * `nhwcFlatten`: flatten images in tfjs's HWC order (see CompiledGraphs.blockedLayout).
 */
function forward(g: Graph, x: Value, layers: readonly TypedLayerConfig[], weights: ReadonlyMap<string, Value>, train: TrainingPass | undefined, names: readonly string[], nhwcFlatten = false): Value {
  let h = x.shape.length === 4 ? toNchw(g, x) : x;
  // The [c, h, w] of an image a flatten left in CHW order, until a dense kernel absorbs that order.
  let chwFlat: readonly number[] | undefined;
  const weight = (name: string): Value => weights.get(name) as Value;
  // In the training step a relu right before a max pool moves after it (max and relu commute): it
  // and its gradient then run on the pooled tensor, a quarter of the size for 2×2 windows.
  let reluAfterPool = false;
  layers.forEach((l, i) => {
    const name = names[i] as string;
    switch (l.type) {
      case 'conv2d': {
        h = cropToChain(g, h, layers, i);
        const attrs = windowOf(h.shape, pair(l.kernelSize), pair(l.strides), pair(l.dilationRate), l.padding);
        reluAfterPool = train !== undefined && l.activation === 'relu' && layers[i + 1]?.type === 'maxPooling2d';
        h = g.conv(h, weight(`${name}/kernel`), l.useBias ? weight(`${name}/bias`) : undefined, attrs);
        if (!reluAfterPool) h = activate(g, h, l.activation);
        break;
      }
      case 'maxPooling2d':
      case 'averagePooling2d':
      case 'maxPooling1d':
      case 'averagePooling1d': {
        const sequence = l.type === 'maxPooling1d' || l.type === 'averagePooling1d';
        const image = sequence ? stepsAsImage(g, h) : cropToChain(g, h, layers, i);
        const { kernel, strides } = poolWindow(l);
        const { pads } = windowOf(image.shape, kernel, strides, [1, 1], l.padding);
        const max = l.type === 'maxPooling2d' || l.type === 'maxPooling1d';
        // Only the gradient needs the argmax indices; without them ONNX Runtime pools several times faster.
        const y = !max ? g.averagePool(image, { kernel, strides, pads }) : train?.poolIndices === true ? g.maxPool(image, { kernel, strides, pads })[0] : g.maxPoolValues(image, { kernel, strides, pads });
        h = sequence ? imageAsSteps(g, y) : y;
        if (reluAfterPool) h = activate(g, h, 'relu');
        reluAfterPool = false;
        break;
      }
      case 'globalMaxPooling2d':
      case 'globalAveragePooling2d':
        h = g.reshape(g.globalPool(l.type === 'globalMaxPooling2d' ? 'GlobalMaxPool' : 'GlobalAveragePool', h), [-1, h.shape[1] as number]);
        break;
      case 'globalMaxPooling1d':
        h = g.reduceMax(h, [1], false);
        break;
      case 'globalAveragePooling1d':
        h = g.div(g.reduceSum(h, [1], false), g.scalar(h.shape[1] as number));
        break;
      case 'activation':
        h = activate(g, h, l.activation);
        break;
      case 'leakyRelu':
        h = g.unary('LeakyRelu', h, { alpha: { f: l.alpha } });
        break;
      case 'flatten':
        // Flattens NCHW order, the next dense kernel's rows (and normalization vectors) permuted to
        // match (see ParamInfo), or NHWC where ONNX Runtime folds that transpose into the reorder out
        // of its blocked conv layout (see CompiledGraphs.blockedLayout).
        if (h.shape.length === 4 && !nhwcFlatten) chwFlat = h.shape.slice(1);
        h = g.reshape(nhwcFlatten && h.shape.length === 4 ? toNhwc(g, h) : h, [-1, h.shape.slice(1).reduce((a, b) => a * b, 1)]);
        break;
      case 'reshape': {
        // tfjs reshapes NHWC element order: leave our NCHW layout around it.
        const size = h.shape.slice(1).reduce((a, b) => a * b, 1);
        const known = l.targetShape.reduce((a, d) => (d === -1 ? a : a * d), 1);
        const target = l.targetShape.map((d) => (d === -1 ? size / known : d));
        // After a flatten, first put its CHW rows back in tfjs's HWC order.
        const source = chwFlat !== undefined ? toNhwc(g, g.reshape(h, [-1, ...chwFlat])) : h.shape.length === 4 ? toNhwc(g, h) : h;
        chwFlat = undefined;
        h = g.reshape(source, [-1, ...target]);
        if (target.length === 3) h = toNchw(g, h);
        break;
      }
      case 'conv1d': {
        // A Conv of kernel height 1 along the steps.
        const image = stepsAsImage(g, h);
        const attrs = windowOf(image.shape, [1, l.kernelSize], [1, l.strides], [1, l.dilationRate], l.padding);
        const y = g.conv(image, weight(`${name}/kernel`), l.useBias ? weight(`${name}/bias`) : undefined, attrs);
        h = activate(g, imageAsSteps(g, y), l.activation);
        break;
      }
      case 'embedding':
        h = g.gather(weight(`${name}/embeddings`), g.toInt64(h));
        break;
      case 'tokenAndPositionEmbedding':
        h = g.add(g.gather(weight(`${name}/token_embedding/embeddings`), g.toInt64(h)), weight(`${name}/position_embedding/embeddings`));
        break;
      case 'positionEmbedding':
        h = g.add(h, weight(`${name}/embeddings`));
        break;
      case 'transformerEncoder':
        h = transformerEncoder(g, h, l, name, weight, (branch) => train?.masks.get(maskName(name, branch)));
        break;
      case 'simpleRnn':
      case 'lstm':
      case 'gru':
        h = recurrent(g, h, l, name, weight);
        break;
      case 'bidirectional':
        h = merge(g, recurrent(g, h, l.layer, directionName(name, 'forward', l.layer), weight), recurrent(g, h, l.layer, directionName(name, 'backward', l.layer), weight, true), l.mergeMode);
        break;
      case 'dense': {
        chwFlat = undefined;
        h = g.matmul(h, weight(`${name}/kernel`));
        if (l.useBias) h = g.add(h, weight(`${name}/bias`));
        // The last layer's softmax is applied by the inference output and by the loss.
        if (i < layers.length - 1) h = activate(g, h, l.activation);
        break;
      }
      case 'batchNormalization':
        h = batchNorm(g, h, name, weight, l.momentum, l.epsilon, train);
        break;
      case 'layerNormalization':
        h = layerNorm(g, h, name, weight, l.epsilon);
        break;
      case 'dropout': {
        const mask = train?.masks.get(maskName(name));
        if (mask !== undefined) h = g.mul(h, mask);
        break;
      }
    }
  });
  return h;
}

/** A recurrent cell's weights, named and shaped as tfjs's (`name` is the cell's weight prefix). */
function recurrentParams(name: string, l: RecurrentLayerConfig, features: number): ParamInfo[] {
  const width = GATES[l.type] * l.units;
  return [
    { name: `${name}/kernel`, shape: [features, width], hwio: false },
    { name: `${name}/recurrent_kernel`, shape: [l.units, width], hwio: false, orthogonal: true },
    ...(l.useBias ? [{ name: `${name}/bias`, shape: [width], hwio: false, ...(l.type === 'lstm' ? { forgetBias: l.units } : {}) }] : []),
  ];
}

function paramsOf(spec: ModelSpec, layers: readonly TypedLayerConfig[], names: readonly string[]): ParamInfo[] {
  const params: ParamInfo[] = [];
  let shape: readonly number[] = spec.input;
  let flattened: [number, number, number] | undefined;
  layers.forEach((l, i) => {
    const name = names[i] as string;
    if (l.type === 'flatten' && shape.length === 3) flattened = [shape[0] as number, shape[1] as number, shape[2] as number];
    // A reshape puts flattened rows back in tfjs's order (see forward).
    if (l.type === 'reshape') flattened = undefined;
    if (l.type === 'conv2d') {
      const [kh, kw] = pair(l.kernelSize);
      params.push({ name: `${name}/kernel`, shape: [kh, kw, shape[2] as number, l.filters], hwio: true });
      if (l.useBias) params.push({ name: `${name}/bias`, shape: [l.filters], hwio: false });
    } else if (l.type === 'dense') {
      params.push({ name: `${name}/kernel`, shape: [shape[shape.length - 1] as number, l.units], hwio: false, ...(flattened !== undefined ? { chwRows: flattened } : {}) });
      flattened = undefined;
      if (l.useBias) params.push({ name: `${name}/bias`, shape: [l.units], hwio: false });
    } else if (l.type === 'conv1d') {
      params.push({ name: `${name}/kernel`, shape: [l.kernelSize, shape[1] as number, l.filters], hwio: true });
      if (l.useBias) params.push({ name: `${name}/bias`, shape: [l.filters], hwio: false });
    } else if (l.type === 'embedding') {
      params.push({ name: `${name}/embeddings`, shape: [l.inputDim, l.outputDim], hwio: false, uniform: 0.05 });
    } else if (l.type === 'tokenAndPositionEmbedding') {
      for (const w of tokenAndPositionWeights(shape[0] as number, l.inputDim, l.outputDim)) {
        params.push({ name: `${name}/${w.name}`, shape: w.shape, hwio: false, ...(w.name.startsWith('token_embedding/') ? { uniform: 0.05 } : {}) });
      }
    } else if (l.type === 'positionEmbedding') {
      params.push({ name: `${name}/embeddings`, shape: [...shape], hwio: false });
    } else if (l.type === 'transformerEncoder') {
      for (const w of transformerEncoderWeights(shape[1] as number, l.intermediateDim)) params.push({ name: `${name}/${w.name}`, shape: w.shape, hwio: false });
    } else if (l.type === 'simpleRnn' || l.type === 'lstm' || l.type === 'gru') {
      params.push(...recurrentParams(name, l, shape[1] as number));
    } else if (l.type === 'bidirectional') {
      params.push(...recurrentParams(directionName(name, 'forward', l.layer), l.layer, shape[1] as number), ...recurrentParams(directionName(name, 'backward', l.layer), l.layer, shape[1] as number));
    } else if (l.type === 'batchNormalization' || l.type === 'layerNormalization') {
      const c = [shape[shape.length - 1] as number];
      const order = flattened !== undefined ? { chwRows: flattened } : {};
      params.push({ name: `${name}/gamma`, shape: c, hwio: false, ...order }, { name: `${name}/beta`, shape: c, hwio: false, ...order });
      if (l.type === 'batchNormalization') {
        params.push({ name: `${name}/moving_mean`, shape: c, hwio: false, moving: true, ...order }, { name: `${name}/moving_variance`, shape: c, hwio: false, moving: true, ...order });
      }
    }
    shape = analyzeLayer(l, shape, `model.layers[${i}]`).outputShape;
  });
  // tfjs's getWeights() order: every trainable weight, then the non-trainable moving statistics.
  return [...params.filter((p) => p.moving !== true), ...params.filter((p) => p.moving === true)];
}

export function onnxShape(p: ParamInfo): number[] {
  const [kh, kw, cin, cout] = hwioShape(p.shape);
  return p.hwio ? [cout, cin, kh, kw] : [...p.shape];
}

/** Per-sample activation shapes in graph layout (NCHW for images), after each layer. */
function graphShapes(spec: ModelSpec, layers: readonly TypedLayerConfig[]): number[][] {
  let shape: readonly number[] = spec.input;
  return layers.map((l, i) => {
    shape = analyzeLayer(l, shape, `model.layers[${i}]`).outputShape;
    return shape.length === 3 ? [shape[2] as number, shape[0] as number, shape[1] as number] : [...shape];
  });
}

/** The last layer's output per class: the softmax, or for one sigmoid unit [1 − p, p] as the tfjs engine reports. */
function probabilities(g: Graph, logits: Value, spec: ModelSpec): Value {
  if (spec.compile.loss !== 'binary_crossentropy') return g.softmax(logits);
  const p = g.unary('Sigmoid', logits);
  return g.concat([g.sub(g.scalar(1), p), p], 1);
}

/**
 * The batch's mean loss and its count of correct predictions, against targets built in-graph from
 * the class ids as the tfjs engine feeds them: one-hot rows for the categorical and regression
 * losses, one 0/1 column for binary cross-entropy. Accuracy is tfjs's for each: argmax against
 * the label, or p > 0.5 against the 0/1 target.
 */
function objective(g: Graph, logits: Value, labels: Value, spec: ModelSpec, batch: () => Value): { loss: Value; correct: Value } {
  const loss = spec.compile.loss;
  switch (loss) {
    case 'sparse_categorical_crossentropy':
    case 'categorical_crossentropy': {
      // tfjs, op for op: the probabilities renormalized by their sum and clipped to [ε, 1 − ε]
      // before the log, so a sample predicted with p < ε (or > 1 − ε) for its class counts
      // −log ε (or −log(1 − ε)) and passes no gradient.
      const p = g.softmax(logits);
      const clipped = g.clip(g.div(p, g.reduceSum(p, [1], true)), EPSILON, 1 - EPSILON);
      const ce = g.reduceSum(g.mul(g.oneHot(labels, spec.numClasses), g.unary('Log', clipped)), [0, 1], false);
      return { loss: g.unary('Neg', g.div(ce, batch())), correct: g.countCorrect(logits, labels) };
    }
    case 'mean_squared_error':
    case 'mean_absolute_error': {
      const diff = g.sub(g.softmax(logits), g.oneHot(labels, spec.numClasses));
      const err = loss === 'mean_squared_error' ? g.mul(diff, diff) : g.unary('Abs', diff);
      return { loss: g.div(g.reduceSum(err, [0, 1], false), g.mul(batch(), g.scalar(spec.numClasses))), correct: g.countCorrect(logits, labels) };
    }
    case 'binary_crossentropy': {
      const target = g.reshape(g.toFloat(labels), [-1, 1]);
      const p = g.unary('Sigmoid', logits);
      // tfjs, op for op: clip p to [ε, 1 − ε], turn it back into a logit z, then the stable
      // sigmoid cross-entropy max(z, 0) − z·y + log(1 + e^−|z|); the clip zeroes saturated gradients.
      const clipped = g.clip(p, EPSILON, 1 - EPSILON);
      const z = g.unary('Log', g.div(clipped, g.sub(g.scalar(1), clipped)));
      const softplus = g.unary('Log', g.add(g.scalar(1), g.unary('Exp', g.unary('Neg', g.unary('Abs', z)))));
      const ce = g.add(g.sub(g.unary('Relu', z), g.mul(z, target)), softplus);
      const hits = g.toFloat(g.compare('Equal', g.toFloat(g.compare('Greater', p, g.scalar(0.5))), target));
      return { loss: g.div(g.reduceSum(ce, [0, 1], false), batch()), correct: g.reduceSum(hits, [0, 1], false) };
    }
  }
}

/** How the graphs are built for where they run. */
export interface GraphOptions {
  /**
   * Whether the training step's max pools output argmax indices for their gradient (default
   * true: fastest on the CPU). ONNX Runtime's WebGPU MaxPool has no indices output; without
   * them the gradient finds each window's maximum again.
   */
  readonly poolIndices?: boolean;
  /** Conv input gradients through Col2Im (default true; see GradientOptions). */
  readonly col2Im?: boolean;
  /** The most tensors one Split or Concat node may give or take (default unlimited; see Graph). */
  readonly maxParts?: number;
}

export function compileGraphs(spec: ModelSpec, options: GraphOptions = {}): CompiledGraphs {
  const layers = checkSupported(spec);
  const names = layerNames(layers);
  const params = paramsOf(spec, layers, names);
  const shapes = graphShapes(spec, layers);
  const inputShape = [-1, ...spec.input];
  // Graph shapes are CHW: a conv2d's input channels are the first axis of the layer before's output.
  const blockedLayout = layers.some((l, i) => l.type === 'conv2d' && ((i === 0 ? spec.input[2] : shapes[i - 1]?.[0]) ?? 0) >= 8);

  const inference = new Graph(options.maxParts);
  {
    const x = inference.input('x', 'float', inputShape);
    const weights = new Map(params.map((p) => [p.name, inference.input(p.name, 'float', onnxShape(p))]));
    const logits = forward(inference, x, layers, weights, undefined, names, blockedLayout);
    inference.output(probabilities(inference, logits, spec), 'probs');
  }

  const opt = spec.compile.optimizer;
  const adam = isAdam(opt);
  const rmsprop = opt.type === 'rmsprop';
  // As the tfjs engine: sgd keeps a momentum slot when given a momentum or nesterov.
  const momentum = opt.type === 'sgd' && (opt.momentum !== undefined || opt.nesterov === true);
  // tfjs's RMSProp keeps both slots even with momentum 0.
  const slots = adam ? ['m', 'v'] : rmsprop ? ['rms', 'momentum'] : momentum ? ['momentum'] : [];
  const training = new Graph(options.maxParts);
  const x = training.input('x', 'float', inputShape);
  const labels = training.input('labels', 'int64', [-1]);
  const weights = new Map(params.map((p) => [p.name, training.input(p.name, 'float', onnxShape(p))]));
  const dropouts: DropoutInfo[] = [];
  layers.forEach((l, i) => {
    const shape = i === 0 ? [...spec.input] : (shapes[i - 1] as number[]);
    if (l.type === 'dropout' && l.rate > 0) dropouts.push({ name: maskName(names[i] as string), rate: l.rate, shape, layer: i });
    if (l.type === 'transformerEncoder' && l.dropout > 0) {
      for (const [branch, site] of Object.entries(ENCODER_BRANCHES)) dropouts.push({ name: maskName(names[i] as string, branch as EncoderBranch), rate: l.dropout, shape, layer: i, site });
    }
  });
  const masks = new Map(dropouts.map((d) => [d.name, training.input(d.name, 'float', [-1, ...d.shape])]));
  const moving = new Map<string, Value>();
  let batchValue: Value | undefined;
  const batch = (): Value => (batchValue ??= training.batchSize(x));
  const logits = forward(training, x, layers, weights, { masks, batch, moving, poolIndices: options.poolIndices ?? true }, names);
  const { loss, correct } = objective(training, logits, labels, spec, batch);
  training.output(loss, 'loss');
  training.output(correct, 'correct');
  for (const [name, v] of moving) training.output(v, `new:${name}`);
  const trained = params.filter((p) => p.moving !== true);
  const wrt = trained.map((p) => weights.get(p.name) as Value);
  const grads = gradients(training, loss, wrt, undefined, { col2Im: options.col2Im ?? true });

  const g = training;
  const { learningRate, beta1: b1, beta2: b2, epsilon, rho, momentum: momentumFactor, weightDecay } = optimizerSettings(opt);
  // Adam's bias corrections 1 − β^t are fed per step (tfjs accumulates β^t in float32). They are
  // folded into two scalars, α = lr·√c2/c1 and ε̂ = ε·√c2 (m̂/(√v̂ + ε) = (m/c1)·√c2/(√v + ε·√c2)),
  // so each weight's update takes 12 elementwise passes instead of tfjs's 14: for a large dense
  // kernel the update is most of a step's memory traffic.
  const corr1 = adam ? g.input('adam/oneMinusAccBeta1', 'float', []) : undefined;
  const corr2 = adam ? g.input('adam/oneMinusAccBeta2', 'float', []) : undefined;
  const rootCorr2 = corr2 !== undefined ? g.unary('Sqrt', corr2) : undefined;
  const negAlpha = corr1 !== undefined && rootCorr2 !== undefined ? g.div(g.mul(rootCorr2, g.scalar(-learningRate)), corr1) : undefined;
  const epsilonHat = rootCorr2 !== undefined ? g.mul(rootCorr2, g.scalar(epsilon)) : undefined;
  trained.forEach((p, i) => {
    const w = wrt[i] as Value;
    const grad = grads[i];
    if (grad === undefined) throw new EcomlError('E_INTERNAL', `weight ${p.name} does not affect the loss`);
    const shape = onnxShape(p);
    // The update is `step · scale` added to the (decayed) weight; scale is −lr but for Adam's.
    let step: Value;
    let scale: Value | undefined;
    if (adam) {
      const m = g.input(`${p.name}/m`, 'float', shape);
      const v = g.input(`${p.name}/v`, 'float', shape);
      const m2 = g.add(g.mul(m, g.scalar(b1)), g.mul(grad, g.scalar(1 - b1)));
      const v2 = g.add(g.mul(v, g.scalar(b2)), g.mul(g.mul(grad, g.scalar(1 - b2)), grad));
      g.output(m2, `new:${p.name}/m`);
      g.output(v2, `new:${p.name}/v`);
      step = g.div(m2, g.add(g.unary('Sqrt', v2), epsilonHat as Value));
      scale = negAlpha as Value;
    } else if (rmsprop) {
      // The tfjs (uncentered) RMSProp update, op for op: ε inside the root, lr inside the moments.
      const ms = g.input(`${p.name}/rms`, 'float', shape);
      const moments = g.input(`${p.name}/momentum`, 'float', shape);
      const ms2 = g.add(g.mul(ms, g.scalar(rho)), g.mul(g.mul(grad, grad), g.scalar(1 - rho)));
      const scaled = g.div(g.mul(grad, g.scalar(learningRate)), g.unary('Sqrt', g.add(ms2, g.scalar(epsilon))));
      const moments2 = g.add(g.mul(moments, g.scalar(momentumFactor)), scaled);
      g.output(ms2, `new:${p.name}/rms`);
      g.output(moments2, `new:${p.name}/momentum`);
      g.output(g.sub(w, moments2), `new:${p.name}`);
      return;
    } else if (momentum) {
      const m = g.scalar(momentumFactor);
      const acc = g.add(g.mul(g.input(`${p.name}/momentum`, 'float', shape), m), grad);
      g.output(acc, `new:${p.name}/momentum`);
      // Nesterov steps along the gradient plus the look-ahead m · acc, as tfjs does.
      step = opt.nesterov === true ? g.add(grad, g.mul(acc, m)) : acc;
    } else {
      step = grad;
    }
    // AdamW's decoupled decay, w − w · lr · weightDecay, comes before the step as in Keras 3.
    const decayed = opt.type === 'adamw' ? g.sub(w, g.mul(w, g.scalar(learningRate * weightDecay))) : w;
    g.output(g.add(g.mul(step, scale ?? g.scalar(-learningRate)), decayed), `new:${p.name}`);
  });
  return { params, slots, dropouts, inference, training, blockedLayout };
}
