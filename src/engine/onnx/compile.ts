/**
 * ModelSpec → ONNX graphs: the inference graph (NHWC samples in, class probabilities out) and
 * one training-step graph (forward, loss, gradients and the optimizer update; weights and
 * optimizer state in, their new values out, plus the loss and the count of correct predictions).
 * Each layer's weights and lowering come from the layer table (layers/), the update from the
 * optimizer table (optimizers/), the loss from losses.ts; this module walks them.
 * Weights are graph inputs in ONNX layout (conv kernels OIHW, dense kernels after a flatten with
 * CHW-ordered rows; see layout.ts); their names match the tfjs engine's.
 * @module
 */
import { EcomlError } from '../../errors.js';
import { analyzeLayer, layerNames, parseLayerConfig, type Shape, type TypedLayerConfig } from '../../models/layers.js';
import type { ModelSpec } from '../../models/spec.js';
import type { Distillation } from '../types.js';
import { gradients } from './autodiff.js';
import { FusedAdam } from './fused.js';
import { Graph, type Value } from './graph.js';
import { ONNX_LAYERS, onnxLayer } from './layers/index.js';
import type { ParamInfo, TrainingPass } from './layers/layer.js';
import { toNchw, type WindowSpan } from './layers/shapes.js';
import { onnxShape, size } from './layout.js';
import { distillationLoss, LOSSES } from './losses.js';
import { ONNX_OPTIMIZERS, type OnnxOptimizer, onnxOptimizer } from './optimizers/index.js';

const ONNX_LOSSES = Object.keys(LOSSES);

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
  /** Its slots per param, named `${param}/${slot}`, and the state it keeps on the host between steps. */
  readonly optimizer: OnnxOptimizer;
  readonly dropouts: readonly DropoutInfo[];
  readonly inference: Graph;
  readonly training: Graph;
  /**
   * Whether ONNX Runtime's blocked (NCHWc) convolution layout pays for this model (a layer's
   * `blocked`: a conv2d reading 8 or more channels); where it does not, the reorders in and out
   * cost more than the conv gains, so the engine turns that transformer off. With it on, the
   * inference graph flattens images NHWC (folded into the reorder out) and its dense rows after a
   * flatten are tfjs's.
   */
  readonly blockedLayout: boolean;
  /**
   * Whether the optimizer's update runs on the host (GraphOptions.hostUpdate): the training graph
   * then outputs each trained weight's gradient, `grad:${param}`, and takes no slots.
   */
  readonly hostUpdate: boolean;
  /** The distillation the training step takes a `teacher` input for, if any. */
  readonly distillation: Distillation | undefined;
}

function unsupported(message: string, details: Record<string, unknown>): EcomlError {
  return new EcomlError(
    'E_UNKNOWN_NAME',
    `the onnx engine does not support ${message}; it supports layers ${ONNX_LAYERS.join(', ')} with any activation (a last layer of dense with softmax, or of one sigmoid unit with binary_crossentropy), losses ${ONNX_LOSSES.join(', ')} and optimizers ${ONNX_OPTIMIZERS.join(', ')}`,
    { details: { ...details, unsupported: message, valid: [...ONNX_LAYERS] } },
  );
}

/** Throws E_UNKNOWN_NAME naming the first thing in `spec` this engine cannot compile. */
export function checkSupported(spec: ModelSpec): TypedLayerConfig[] {
  const layers = spec.layers.map((l, i) => parseLayerConfig(l, `model.layers[${i}]`));
  // Only a spec that skipped validation can name others: the tables cover the models' types.
  if (!ONNX_LOSSES.includes(spec.compile.loss)) throw unsupported(`loss "${spec.compile.loss}"`, { name: spec.compile.loss });
  const opt = spec.compile.optimizer;
  if (!(ONNX_OPTIMIZERS as readonly string[]).includes(opt.type)) throw unsupported(`optimizer "${opt.type}"`, { name: opt.type });
  const head = LOSSES[spec.compile.loss].head;
  let shape: Shape = spec.input;
  layers.forEach((l, i) => {
    const at = `model.layers[${i}]`;
    const refusal = onnxLayer(l).refuse?.(l, shape, i) ?? (i === layers.length - 1 && !head.takes(l) ? head.refusal : undefined);
    if (refusal !== undefined) throw unsupported(`${refusal} (${at})`, { path: at, name: l.type });
    shape = analyzeLayer(l, shape, at).outputShape;
  });
  if (spec.input.length > 3) throw unsupported(`input shape [${spec.input.join(', ')}] (rank 1 to 3 only)`, { name: 'input' });
  return layers;
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

/** One layer where it stands in the model. */
interface Site {
  readonly layer: TypedLayerConfig;
  readonly name: string;
  /** Its input and output shapes (one sample, tfjs layout). */
  readonly input: Shape;
  readonly output: Shape;
  /** The [h, w, c] of an image whose flattened features its input holds in CHW order (see ParamInfo.chwRows). */
  readonly chwRows: readonly [number, number, number] | undefined;
}

function sitesOf(spec: ModelSpec, layers: readonly TypedLayerConfig[]): Site[] {
  const names = layerNames(layers);
  let input: Shape = spec.input;
  let chwRows: Site['chwRows'];
  return layers.map((layer, i) => {
    const output = analyzeLayer(layer, input, `model.layers[${i}]`).outputShape;
    const site: Site = { layer, name: names[i] as string, input, output, chwRows };
    const order = onnxLayer(layer).featureOrder;
    if (order === 'chw' && input.length === 3) chwRows = input as [number, number, number];
    if (order === 'tfjs') chwRows = undefined;
    input = output;
    return site;
  });
}

/** A per-sample shape in graph layout (NCHW for images). */
function graphShape(shape: Shape): number[] {
  return shape.length === 3 ? [shape[2] as number, shape[0] as number, shape[1] as number] : [...shape];
}

function paramsOf(sites: readonly Site[]): ParamInfo[] {
  const params = sites.flatMap((s) => onnxLayer(s.layer).params?.(s.layer, s) ?? []);
  // tfjs's getWeights() order: every trainable weight, then the non-trainable moving statistics.
  return [...params.filter((p) => p.moving !== true), ...params.filter((p) => p.moving === true)];
}

/** The graph input of a dropout mask: per layer, or per branch of a layer with several. */
function maskName(layer: string, branch?: string): string {
  return branch === undefined ? `mask/${layer}` : `mask/${layer}/${branch}`;
}

function dropoutsOf(sites: readonly Site[]): DropoutInfo[] {
  return sites.flatMap((s, i) => {
    const shape = graphShape(s.input);
    return (onnxLayer(s.layer).dropouts?.(s.layer) ?? []).map((m) => ({ name: maskName(s.name, m.branch), rate: m.rate, shape, layer: i, ...(m.site !== undefined ? { site: m.site } : {}) }));
  });
}

/** The valid windows that the layers from `i` on read in a row, elementwise layers between them passed through (see cropToChain). */
function windowChain(layers: readonly TypedLayerConfig[], i: number): WindowSpan[] {
  const chain: WindowSpan[] = [];
  for (const l of layers.slice(i)) {
    const entry = onnxLayer(l);
    if (entry.elementwise === true) continue;
    const window = entry.validWindow?.(l);
    if (window === undefined) break;
    chain.push(window);
  }
  return chain;
}

/**
 * The shared forward pass up to the logits; `train` is given for the training step only.
 * `nhwcFlatten`: flatten images in tfjs's HWC order (see CompiledGraphs.blockedLayout).
 */
function forward(g: Graph, x: Value, sites: readonly Site[], weights: ReadonlyMap<string, Value>, train: TrainingPass | undefined, nhwcFlatten = false): Value {
  const layers = sites.map((s) => s.layer);
  const weight = (name: string): Value => weights.get(name) as Value;
  return sites.reduce(
    (h, site, index) =>
      g.within(site.name, () =>
        onnxLayer(site.layer).forward(g, h, site.layer, {
          ...site,
          chwRows: nhwcFlatten ? undefined : site.chwRows,
          layers,
          index,
          weight,
          train,
          mask: (branch) => train?.masks.get(maskName(site.name, branch)),
          chain: () => windowChain(layers, index),
          nhwcFlatten,
        }),
      ),
    x.shape.length === 4 ? toNchw(g, x) : x,
  );
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
  /**
   * Leave the update to the host's fused kernel where the optimizer has one and the weights fit
   * its memory (default false; fused.ts): on the CPU it replaces a dozen passes over each weight,
   * and the copies of the new weights and slots out of the graph, with one pass.
   */
  readonly hostUpdate?: boolean;
}

/**
 * The graphs for `spec`; with `distillation` (checked by the caller: checkDistillation) the
 * training step also takes `teacher`, the teacher's probabilities [batch, classes], and trains on
 * the distillation objective.
 */
export function compileGraphs(spec: ModelSpec, options: GraphOptions = {}, distillation?: Distillation): CompiledGraphs {
  const sites = sitesOf(spec, checkSupported(spec));
  const params = paramsOf(sites);
  const inputShape = [-1, ...spec.input];
  const blockedLayout = sites.some((s) => onnxLayer(s.layer).blocked?.(s.input) === true);
  const loss = LOSSES[spec.compile.loss];

  const inference = new Graph(options.maxParts);
  {
    const x = inference.input('x', 'float', inputShape);
    const weights = new Map(params.map((p) => [p.name, inference.input(p.name, 'float', onnxShape(p))]));
    const logits = forward(inference, x, sites, weights, undefined, blockedLayout);
    inference.output(loss.head.probabilities(inference, logits), 'probs');
  }

  const g = new Graph(options.maxParts);
  const x = g.input('x', 'float', inputShape);
  const labels = g.input('labels', 'int64', [-1]);
  const weights = new Map(params.map((p) => [p.name, g.input(p.name, 'float', onnxShape(p))]));
  const dropouts = dropoutsOf(sites);
  const masks = new Map(dropouts.map((d) => [d.name, g.input(d.name, 'float', [-1, ...d.shape])]));
  const moving = new Map<string, Value>();
  let batchValue: Value | undefined;
  const batch = (): Value => (batchValue ??= g.batchSize(x));
  const logits = forward(g, x, sites, weights, { masks, batch, moving, poolIndices: options.poolIndices ?? true });
  const objective = loss.graph(g, logits, labels, spec.numClasses, batch);
  const trainedLoss =
    distillation === undefined ? objective.loss : distillationLoss(g, objective.loss, logits, g.input('teacher', 'float', [-1, spec.numClasses]), distillation, batch);
  g.output(trainedLoss, 'loss');
  g.output(objective.correct, 'correct');
  for (const [name, v] of moving) g.output(v, `new:${name}`);
  const trained = params.filter((p) => p.moving !== true);
  const wrt = trained.map((p) => weights.get(p.name) as Value);
  const grads = gradients(g, trainedLoss, wrt, undefined, { col2Im: options.col2Im ?? true });

  const optimizer = onnxOptimizer(spec.compile.optimizer);
  const hostUpdate = options.hostUpdate === true && optimizer.fused !== undefined && FusedAdam.fits(trained.map((p) => size(onnxShape(p))));
  const update = hostUpdate ? undefined : optimizer.graphUpdate(g);
  trained.forEach((p, i) => {
    const grad = grads[i];
    if (grad === undefined) throw new EcomlError('E_INTERNAL', `weight ${p.name} does not affect the loss`);
    if (update === undefined) {
      g.output(grad, `grad:${p.name}`);
      return;
    }
    const slots = optimizer.slots.map((slot) => g.input(`${p.name}/${slot}`, 'float', onnxShape(p)));
    const next = update(wrt[i] as Value, grad, slots);
    next.slots.forEach((v, k) => g.output(v, `new:${p.name}/${optimizer.slots[k] as string}`));
    g.output(next.weight, `new:${p.name}`);
  });
  return { params, optimizer, dropouts, inference, training: g, blockedLayout, hostUpdate, distillation };
}
