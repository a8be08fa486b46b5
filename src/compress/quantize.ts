/**
 * Int8 quantization of any ONNX model, in the forms ONNX Runtime's CPU provider runs fastest and
 * its Python quantizer writes: static QDQ (QuantizeLinear/DequantizeLinear pairs that ORT's graph
 * optimizer fuses into QLinearConv, QLinearMatMul, QGemm) and dynamic (DynamicQuantizeLinear +
 * MatMulInteger). Weights are int8, symmetric, per output channel; activations uint8, asymmetric,
 * from calibrated ranges.
 *
 * Measured at batch 256 on this repo's 2-core AVX2 (no VNNI) machine with ORT 1.30: a Conv with one
 * input channel (the MNIST examples' first layer) runs 2.5–3× slower as QLinearConv than as ORT's
 * float NCHWc Conv. It is quantized all the same: left float, its output must leave the NCHWc layout
 * and be quantized, which on examples/mnist-cnn.yaml gains about 10% (19.4k vs 17.4k samples per
 * CPU-second, float 21.2k) but on examples/mnist-cnn2.yaml makes ORT max-pool in uint8 NCHW (45 vs
 * 23 ms per batch); no rule yet tells the two apart.
 * @module
 */
import { attribute, consumerCounts, defaultOpset, floatAttribute, intAttr, intAttribute, intsAttr, Names, namedNodes, node, withOpsetAtLeast } from './onnx/graph.js';
import type { TensorRange } from './calibrate.js';
import { DATA_TYPE, floatTensor, floatValues, makeTensor, makeValueInfo, type OnnxModel, valueInfoType, type OnnxNode, type OnnxTensor } from './onnx/model.js';
import { INT32, int8Weights, quantize, type QuantParams, type QuantRange, scaleZeroPoint, UINT8 } from './qmath.js';

export type Precision = 'int8' | 'float16' | 'float32';

export interface NodeReport {
  readonly name: string;
  readonly op: string;
  readonly precision: Precision;
  /** Why a node stayed float, or how an int8 one was handled. */
  readonly reason?: string;
}

export interface QuantizationReport {
  readonly nodes: readonly NodeReport[];
  /** The default-domain opset before it was raised for the operators written (as ORT's quantizer raises it). */
  readonly opsetRaisedFrom?: number;
}

export interface CompressResult {
  readonly model: OnnxModel;
  readonly report: QuantizationReport;
}

export interface QuantizeOptions {
  /** 7-bit weights (±64), ORT's reduce_range. */
  readonly reduceRange: boolean;
  /** Node names that stay float (the accuracy guard's per-layer fallback). */
  readonly keepFloat?: ReadonlySet<string>;
}

/** A node the static quantizer rewrites: which input is the weight, along which axis its channels run. */
interface Target {
  readonly node: OnnxNode;
  /** Inputs quantized as uint8 activations. */
  readonly activations: readonly string[];
  readonly weight?: { readonly name: string; readonly axis: number };
  readonly bias?: string;
  /** The tensor its (possibly absorbed activation's) output is; its range sets the output's scale. */
  readonly output: string;
  /** A Relu/Clip that follows and is folded into the output's quantization. */
  readonly absorbed?: OnnxNode;
}

type Refusal = { readonly reason: string };

const QUANTIZABLE = ['Conv', 'MatMul', 'Gemm'] as const;
type QuantizableOp = (typeof QUANTIZABLE)[number];
const isQuantizable = (op: string): op is QuantizableOp => (QUANTIZABLE as readonly string[]).includes(op);

interface Context {
  readonly initializers: ReadonlyMap<string, OnnxTensor>;
}

/** An initializer usable as a weight: float, inline, of the given rank. */
function weightOf(ctx: Context, name: string | undefined, rank: (r: number) => boolean): OnnxTensor | Refusal {
  if (name === undefined || name === '') return { reason: 'it has no weight input' };
  const t = ctx.initializers.get(name);
  if (t === undefined) return { reason: `its weight ${name} is not an initializer (computed at run time)` };
  if (t.dataType !== DATA_TYPE.float) return { reason: `its weight ${name} is not float32` };
  if (t.external !== undefined) return { reason: `its weight ${name} lives in external data, which is not rewritten` };
  if (!rank(t.dims.length)) return { reason: `its weight ${name} has rank ${t.dims.length}` };
  return t;
}

/** A 1-D float initializer of `length` elements, or undefined. */
function biasOf(ctx: Context, name: string | undefined, length: number | undefined): string | undefined {
  if (name === undefined || name === '') return undefined;
  const t = ctx.initializers.get(name);
  return t !== undefined && t.dataType === DATA_TYPE.float && t.external === undefined && t.dims.length === 1 && t.dims[0] === length ? name : undefined;
}

/** Per op: what the static quantizer rewrites (as ORT's operators/conv.py, matmul.py, gemm.py). */
const STATIC_RULES: { readonly [K in QuantizableOp]: (n: OnnxNode, ctx: Context) => Omit<Target, 'node' | 'output' | 'absorbed'> | Refusal } = {
  Conv(n, ctx) {
    const w = weightOf(ctx, n.inputs[1], (r) => r >= 3);
    if ('reason' in w) return w;
    const bias = biasOf(ctx, n.inputs[2], w.dims[0]);
    if (n.inputs[2] && bias === undefined) return { reason: `its bias ${n.inputs[2]} is not a 1-D float initializer` };
    return { activations: [n.inputs[0] ?? ''], weight: { name: w.name, axis: 0 }, ...(bias !== undefined ? { bias } : {}) };
  },
  MatMul(n, ctx) {
    const [a = '', b = ''] = n.inputs;
    if (ctx.initializers.has(a)) return { reason: `its first input ${a} is an initializer` };
    // Two activations: both quantized per tensor (QLinearMatMul takes any two uint8 inputs).
    if (!ctx.initializers.has(b)) return { activations: [a, b] };
    const w = weightOf(ctx, b, (r) => r === 2);
    if ('reason' in w) return w;
    return { activations: [a], weight: { name: w.name, axis: 1 } };
  },
  Gemm(n, ctx) {
    if (intAttribute(n, 'transA', 0) !== 0) return { reason: 'transA is set' };
    const transB = intAttribute(n, 'transB', 0) !== 0;
    const w = weightOf(ctx, n.inputs[1], (r) => r === 2);
    if ('reason' in w) return w;
    const units = w.dims[transB ? 0 : 1];
    const c = n.inputs[2];
    // ORT folds beta into C's scale; keeping alpha = beta = 1 keeps QGemm's C = A·B's scale exact.
    const plain = floatAttribute(n, 'alpha', 1) === 1 && floatAttribute(n, 'beta', 1) === 1;
    const bias = plain ? biasOf(ctx, c, units) : undefined;
    if (c && bias === undefined) return { reason: `its C input ${c} is not a 1-D float initializer with alpha = beta = 1` };
    return { activations: [n.inputs[0] ?? ''], weight: { name: w.name, axis: transB ? 0 : 1 }, ...(bias !== undefined ? { bias } : {}) };
  },
};

/** Element-wise ops whose (first) output has their first input's shape. */
const SHAPE_KEEPING = new Set(['Relu', 'Clip', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Identity', 'Dropout']);

/**
 * Whether a tensor is known to be 2-D: a graph input or value_info of rank 2, the output of Flatten,
 * Gemm or a Reshape to a constant 2-element shape, or of a MatMul by a 2-D initializer, an Add of a
 * 1-D initializer or an element-wise op applied to such a tensor.
 */
function knownMatrix(graph: OnnxModel['graph'], nodes: readonly OnnxNode[], ctx: Context, tensor: string): boolean {
  const declared = [...graph.inputs, ...graph.valueInfo].find((v) => v.name === tensor);
  const shape = declared === undefined ? undefined : valueInfoType(declared)?.shape;
  if (shape !== undefined) return shape.length === 2;
  const producer = nodes.find((n) => n.outputs[0] === tensor);
  if (producer === undefined || !isDefaultDomain(producer)) return false;
  if (producer.opType === 'Flatten' || producer.opType === 'Gemm') return true;
  const [first = '', second = ''] = producer.inputs;
  const rankOf = (name: string): number | undefined => ctx.initializers.get(name)?.dims.length;
  if (SHAPE_KEEPING.has(producer.opType)) return knownMatrix(graph, nodes, ctx, first);
  if (producer.opType === 'MatMul') return rankOf(second) === 2 && knownMatrix(graph, nodes, ctx, first);
  if (producer.opType === 'Add') return (rankOf(second) === 1 && knownMatrix(graph, nodes, ctx, first)) || (rankOf(first) === 1 && knownMatrix(graph, nodes, ctx, second));
  if (producer.opType !== 'Reshape') return false;
  const target = producer.inputs[1] ?? '';
  const constant = ctx.initializers.get(target) ?? nodes.find((n) => n.opType === 'Constant' && n.outputs[0] === target)?.attributes.find((a) => a.name === 'value')?.t;
  return constant !== undefined && constant.dims.length === 1 && constant.dims[0] === 2;
}

/**
 * MatMul followed by the Add of a 1-D bias initializer becomes one Gemm (ORT's float MatMulAddFusion),
 * so that the quantized graph runs QGemm with an int32 bias. Left apart, ORT runs QLinearMatMul →
 * DequantizeLinear → float Add → QuantizeLinear; on this repo's 2-core AVX2 machine the Dense head of
 * examples/mnist-cnn2.yaml lost its float Add, Dequantize and re-Quantize per layer this way.
 * Only where the MatMul's input is known 2-D: Gemm takes nothing else.
 * Returns the nodes and, per fused Add, the MatMul it went into.
 */
function fuseMatMulAdd(model: OnnxModel, nodes: readonly OnnxNode[], ctx: Context, keepFloat: ReadonlySet<string> | undefined): { nodes: OnnxNode[]; fusedAdds: Map<string, string> } {
  const consumers = consumerCounts(nodes);
  const graphOutputs = new Set(model.graph.outputs.map((o) => o.name));
  const fusedAdds = new Map<string, string>();
  const gemms = new Map<string, OnnxNode>();
  for (const n of nodes) {
    if (n.opType !== 'MatMul' || whyNot(n, keepFloat) !== undefined) continue;
    const [a = '', b = ''] = n.inputs;
    const out = n.outputs[0] ?? '';
    const w = weightOf(ctx, b, (r) => r === 2);
    if ('reason' in w || consumers.get(out) !== 1 || graphOutputs.has(out) || !knownMatrix(model.graph, nodes, ctx, a)) continue;
    const add = nodes.find((m) => m.opType === 'Add' && isDefaultDomain(m) && m.inputs.includes(out));
    if (add === undefined || keepFloat?.has(add.name) || add.inputs.length !== 2) continue;
    const bias = biasOf(ctx, add.inputs.find((i) => i !== out), w.dims[1]);
    if (bias === undefined) continue;
    fusedAdds.set(add.name, n.name);
    gemms.set(n.name, node('Gemm', n.name, [a, b, bias], add.outputs));
  }
  return { nodes: nodes.filter((n) => !fusedAdds.has(n.name)).map((n) => gemms.get(n.name) ?? n), fusedAdds };
}

interface StaticPlan {
  readonly nodes: readonly OnnxNode[];
  /** Per Add fused into a MatMul's Gemm, that MatMul. */
  readonly fusedAdds: ReadonlyMap<string, string>;
  readonly targets: ReadonlyMap<string, Target>;
  readonly reports: readonly NodeReport[];
  /** Tensors quantized as activations, in graph order: what calibration must measure. */
  readonly activations: readonly string[];
}

function isDefaultDomain(n: OnnxNode): boolean {
  return n.domain === '' || n.domain === 'ai.onnx';
}

function whyNot(n: OnnxNode, keepFloat: ReadonlySet<string> | undefined): string | undefined {
  if (keepFloat?.has(n.name)) return 'kept float on request';
  if (!isDefaultDomain(n)) return `domain ${n.domain} is not quantized`;
  if (!isQuantizable(n.opType)) return `${n.opType} has no int8 form here (only ${QUANTIZABLE.join(', ')})`;
  return undefined;
}

/** Which nodes the static quantizer rewrites, which Relu/Clip it absorbs, and what must be calibrated. */
function planStatic(model: OnnxModel, keepFloat: ReadonlySet<string> | undefined): StaticPlan {
  const original = namedNodes(model.graph);
  const ctx: Context = { initializers: new Map(model.graph.initializers.map((t) => [t.name, t])) };
  const { nodes, fusedAdds } = fuseMatMulAdd(model, original, ctx, keepFloat);
  const consumers = consumerCounts(nodes);
  const graphOutputs = new Set(model.graph.outputs.map((o) => o.name));
  const targets = new Map<string, Target>();
  const refused = new Map<string, string>();
  const absorbedBy = new Map<string, string>();
  for (const n of nodes) {
    const not = whyNot(n, keepFloat);
    const rule = not === undefined ? STATIC_RULES[n.opType as QuantizableOp](n, ctx) : { reason: not };
    if ('reason' in rule) {
      refused.set(n.name, rule.reason);
      continue;
    }
    const out = n.outputs[0] ?? '';
    // ORT's QDQRemovableActivation: a Relu/Clip alone after the op is dropped; the output's
    // uint8 range (calibrated after the activation) clips as it did.
    const next = consumers.get(out) === 1 && !graphOutputs.has(out) ? nodes.find((m) => m.inputs[0] === out && (m.opType === 'Relu' || m.opType === 'Clip') && isDefaultDomain(m)) : undefined;
    const absorbed = next !== undefined && !keepFloat?.has(next.name) && next.inputs.filter((t) => t === out).length === 1 ? next : undefined;
    if (absorbed) absorbedBy.set(absorbed.name, n.name);
    targets.set(n.name, { node: n, ...rule, output: absorbed?.outputs[0] ?? out, ...(absorbed ? { absorbed } : {}) });
  }
  const reports = original.map((n): NodeReport => {
    const added = [...fusedAdds].find(([, m]) => m === n.name)?.[0];
    if (targets.has(n.name)) return { name: n.name, op: n.opType, precision: 'int8', ...(added !== undefined ? { reason: `one Gemm with ${added}'s bias` } : {}) };
    const into = fusedAdds.get(n.name);
    if (into !== undefined && targets.has(into)) return { name: n.name, op: n.opType, precision: 'int8', reason: `the int32 bias of ${into}'s Gemm` };
    const by = absorbedBy.get(n.name);
    if (by !== undefined) return { name: n.name, op: n.opType, precision: 'int8', reason: `absorbed into ${by}'s output quantization` };
    return { name: n.name, op: n.opType, precision: 'float32', reason: refused.get(n.name) ?? 'not quantized' };
  });
  const activations = [...new Set([...targets.values()].flatMap((t) => [...t.activations, t.output]))];
  return { nodes, fusedAdds, targets, reports, activations };
}

/** The float tensors whose ranges static quantization needs (feed them to calibration). */
export function calibrationTargets(model: OnnxModel, options: Pick<QuantizeOptions, 'keepFloat'> = {}): string[] {
  return [...planStatic(model, options.keepFloat).activations];
}

/** The nodes that can be quantized, which the accuracy guard may fall back to float one by one. */
export function quantizableNodes(model: OnnxModel): { name: string; op: string }[] {
  const plan = planStatic(model, undefined);
  return [...plan.targets.values()].map((t) => ({ name: t.node.name, op: t.node.opType }));
}

/** The model with `names` added as graph outputs (float, shape unknown), to collect them in a run. */
export function withOutputs(model: OnnxModel, names: readonly string[]): OnnxModel {
  const present = new Set(model.graph.outputs.map((o) => o.name));
  const extra = [...new Set(names)].filter((n) => !present.has(n)).map((n) => makeValueInfo(n, DATA_TYPE.float));
  return { ...model, graph: { ...model.graph, outputs: [...model.graph.outputs, ...extra] } };
}

const int8Bytes = (q: readonly number[]): Uint8Array => Uint8Array.from(q, (v) => v & 0xff);
const int32Bytes = (q: readonly number[]): Uint8Array => new Uint8Array(Int32Array.from(q).buffer);

/** Per-channel symmetric int8 of a weight along `axis` (ORT's quantize_weight_per_channel). */
function quantizeWeight(values: Float32Array, dims: readonly number[], axis: number, range: QuantRange): { readonly q: number[]; readonly params: QuantParams[] } {
  const channels = dims[axis] ?? 1;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channelOf = (k: number): number => Math.floor(k / inner) % channels;
  const min = new Array<number>(channels).fill(0);
  const max = new Array<number>(channels).fill(0);
  values.forEach((v, k) => {
    const c = channelOf(k);
    min[c] = Math.min(min[c] ?? 0, v);
    max[c] = Math.max(max[c] ?? 0, v);
  });
  const params = min.map((lo, c) => scaleZeroPoint(lo, max[c] ?? 0, range, true));
  const q = Array.from(values, (v, k) => quantize(v, params[channelOf(k)] as QuantParams, range));
  return { q, params };
}

/** A [rows, cols] matrix transposed. */
function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c] as number;
  return out;
}

/** Emits initializers and nodes for a graph being rewritten. */
class Rewrite {
  readonly initializers: OnnxTensor[] = [];
  readonly names: Names;

  constructor(model: OnnxModel) {
    this.names = new Names(model.graph);
  }

  tensor(base: string, dataType: number, bytes: Uint8Array, dims: readonly number[] = []): string {
    const name = this.names.fresh(base);
    this.initializers.push(makeTensor(name, dataType, dims, bytes));
    return name;
  }

  floats(base: string, values: readonly number[], dims: readonly number[] = []): string {
    const name = this.names.fresh(base);
    this.initializers.push(floatTensor(name, dims, Float32Array.from(values)));
    return name;
  }
}

/** An int64 initializer's or Constant's values, or undefined. */
function int64Values(nodes: readonly OnnxNode[], ctx: Context, name: string): number[] | undefined {
  const t = ctx.initializers.get(name) ?? nodes.find((n) => n.opType === 'Constant' && n.outputs[0] === name)?.attributes.find((a) => a.name === 'value')?.t;
  if (t === undefined || t.dataType !== DATA_TYPE.int64 || t.external !== undefined) return undefined;
  return Array.from(new BigInt64Array(t.raw.slice().buffer), Number);
}

/** A 2-D Conv's output height × width per sample, where its input's are known (a declared shape or a Reshape to a constant one) and it pads explicitly. */
function convOutputArea(graph: OnnxModel['graph'], nodes: readonly OnnxNode[], ctx: Context, conv: OnnxNode): number | undefined {
  const input = conv.inputs[0] ?? '';
  const declared = [...graph.inputs, ...graph.valueInfo].find((v) => v.name === input);
  const producer = nodes.find((n) => n.outputs[0] === input);
  const dims = declared !== undefined ? valueInfoType(declared)?.shape : producer?.opType === 'Reshape' ? int64Values(nodes, ctx, producer.inputs[1] ?? '') : undefined;
  const autoPad = attribute(conv, 'auto_pad')?.s;
  if (dims === undefined || dims.length !== 4 || (autoPad !== undefined && new TextDecoder().decode(autoPad) !== 'NOTSET')) return undefined;
  const spatial = dims.slice(2);
  if (!spatial.every((d): d is number => typeof d === 'number' && d > 0)) return undefined;
  const list = (name: string, fallback: number): number[] => attribute(conv, name)?.ints?.map(Number) ?? [fallback, fallback, fallback, fallback];
  const kernel = ctx.initializers.get(conv.inputs[1] ?? '')?.dims.slice(2) ?? [];
  const [pads, strides, dilations] = [list('pads', 0), list('strides', 1), list('dilations', 1)];
  const sizes = spatial.map((d, i) => Math.floor((d + (pads[i] ?? 0) + (pads[i + 2] ?? 0) - (dilations[i] ?? 1) * ((kernel[i] ?? 1) - 1) - 1) / (strides[i] ?? 1)) + 1);
  return sizes.length === 2 && kernel.length === 2 ? sizes[0]! * sizes[1]! : undefined;
}

/** A quantized Conv's output flattened per sample into a quantized MatMul/Gemm's weight. */
interface ChannelsLastFlatten {
  readonly flatten: string;
  /** The Conv's (or its absorbed activation's) output, which the Flatten reads. */
  readonly source: string;
  readonly target: string;
  readonly channels: number;
  readonly area: number;
  /** The Conv output's rank. */
  readonly rank: number;
}

/**
 * ORT runs QLinearConv channels-last (NHWC) and, before a Flatten/Reshape that reads its output in
 * NCHW order, transposes it back. Flattening in NHWC order instead (a Transpose that ORT cancels
 * against its own, and the weight's rows permuted to match) saves that pass: 2.3 of 15.6 ms per
 * batch of 256 for examples/mnist-cnn.yaml on this repo's 2-core AVX2 machine (ORT's profiler).
 * Only where the flatten is per sample: Flatten with axis 1, or a Reshape to [-1 or 0, C·H·W] with
 * the Conv's H·W known; and where nothing else reads the Conv's output or the flattened tensor.
 */
function channelsLastFlattens(model: OnnxModel, nodes: readonly OnnxNode[], ctx: Context, targets: readonly Target[]): ChannelsLastFlatten[] {
  const consumers = consumerCounts(nodes);
  const graphOutputs = new Set(model.graph.outputs.map((o) => o.name));
  const single = (tensor: string): boolean => consumers.get(tensor) === 1 && !graphOutputs.has(tensor);
  const found: ChannelsLastFlatten[] = [];
  for (const t of targets) {
    const a = t.activations[0] ?? '';
    const transposed = t.node.opType === 'Gemm' && intAttribute(t.node, 'transB', 0) !== 0;
    const rows = t.weight === undefined || transposed || t.activations.length !== 1 ? undefined : ctx.initializers.get(t.weight.name)?.dims[0];
    const flatten = nodes.find((n) => n.outputs[0] === a && isDefaultDomain(n));
    const conv = targets.find((c) => c.node.opType === 'Conv' && c.output === flatten?.inputs[0]);
    if (rows === undefined || flatten === undefined || conv === undefined || !single(a) || !single(conv.output)) continue;
    const convWeight = ctx.initializers.get(conv.weight?.name ?? '')?.dims ?? [];
    const channels = convWeight[0] ?? 0;
    const area = rows / channels;
    if (!Number.isInteger(area)) continue;
    const shape = flatten.opType === 'Reshape' ? int64Values(nodes, ctx, flatten.inputs[1] ?? '') : undefined;
    const perSample =
      (flatten.opType === 'Flatten' && intAttribute(flatten, 'axis', 1) === 1) ||
      (shape !== undefined && shape.length === 2 && (shape[0] === -1 || shape[0] === 0) && shape[1] === rows && convOutputArea(model.graph, nodes, ctx, conv.node) === area);
    if (perSample) found.push({ flatten: flatten.name, source: conv.output, target: t.node.name, channels, area, rank: convWeight.length });
  }
  return found;
}

/** A [channels·area, units] weight's rows, from (channel, position) order to (position, channel). */
function channelsLastRows(values: Float32Array, channels: number, area: number): Float32Array {
  const units = values.length / (channels * area);
  const out = new Float32Array(values.length);
  for (let c = 0; c < channels; c++) for (let p = 0; p < area; p++) out.set(values.subarray((c * area + p) * units, (c * area + p + 1) * units), (p * channels + c) * units);
  return out;
}

/**
 * Static QDQ quantization from calibrated activation ranges. Every node is reported: int8, or
 * float32 with the reason.
 */
export function quantizeStatic(model: OnnxModel, ranges: ReadonlyMap<string, TensorRange>, options: QuantizeOptions): CompressResult {
  const plan = planStatic(model, options.keepFloat);
  const missing = new Map<string, string>();
  for (const t of plan.targets.values()) {
    const unranged = [...t.activations, t.output].find((a) => !ranges.has(a));
    if (unranged !== undefined) missing.set(t.node.name, `no calibrated range for ${unranged}`);
  }
  const ranged = [...plan.targets.values()].filter((t) => !missing.has(t.node.name));
  const rw = new Rewrite(model);
  const graphInputs = new Set(model.graph.inputs.map((i) => i.name));
  const initializers = new Map(model.graph.initializers.map((t) => [t.name, t]));
  const ctx: Context = { initializers };
  // Channels-last flattens: a Transpose before the flatten, quantized as the Conv's output is (ORT drops
  // DQ → Transpose → Q with equal parameters), and the weight's rows permuted into a fresh initializer.
  const flattens = new Map<string, ChannelsLastFlatten & { readonly transposed: string }>();
  const allRanges = new Map(ranges);
  const permutedWeights = new Map<string, string>();
  for (const f of channelsLastFlattens(model, plan.nodes, ctx, ranged)) {
    const transposed = rw.names.fresh(`${f.source}_channels_last`);
    flattens.set(f.flatten, { ...f, transposed });
    allRanges.set(transposed, ranges.get(f.source) as TensorRange);
    const target = plan.targets.get(f.target) as Target;
    const w = initializers.get(target.weight?.name ?? '') as OnnxTensor;
    const name = rw.names.fresh(`${w.name}_channels_last`);
    initializers.set(name, floatTensor(name, w.dims, channelsLastRows(floatValues(w) as Float32Array, f.channels, f.area)));
    permutedWeights.set(f.target, name);
  }
  const targets = ranged.map((t): Target => {
    const permuted = permutedWeights.get(t.node.name);
    return permuted === undefined || t.weight === undefined ? t : { ...t, weight: { ...t.weight, name: permuted } };
  });
  const flattenedAs = new Map([...flattens.values()].map((f) => [f.flatten, f.transposed]));
  const weightRange = int8Weights(options.reduceRange);
  const prefix: OnnxNode[] = [];

  // Activations: one Q/DQ pair per tensor, after its producer; the DQ takes over the tensor's name.
  const activationParams = new Map<string, QuantParams>();
  const producedAs = new Map<string, string>();
  const pairs = new Map<string, OnnxNode[]>();
  const inputRenames = new Map<string, string>();
  for (const tensor of new Set([...targets.flatMap((t) => [...t.activations, t.output]), ...flattenedAs.values()])) {
    const range = allRanges.get(tensor) as TensorRange;
    const p = scaleZeroPoint(range.min, range.max, UINT8, false);
    activationParams.set(tensor, p);
    const scale = rw.floats(`${tensor}_scale`, [p.scale]);
    const zp = rw.tensor(`${tensor}_zero_point`, DATA_TYPE.uint8, Uint8Array.of(p.zeroPoint));
    const quantized = rw.names.fresh(`${tensor}_QuantizeLinear_Output`);
    const produced = !graphInputs.has(tensor) && !initializers.has(tensor);
    const source = produced ? rw.names.fresh(`${tensor}_QuantizeLinear_Input`) : tensor;
    const dequantized = produced ? tensor : rw.names.fresh(`${tensor}_DequantizeLinear_Output`);
    const nodes = [node('QuantizeLinear', rw.names.fresh(`${tensor}_QuantizeLinear`), [source, scale, zp], [quantized]), node('DequantizeLinear', rw.names.fresh(`${tensor}_DequantizeLinear`), [quantized, scale, zp], [dequantized])];
    if (produced) {
      producedAs.set(tensor, source);
      pairs.set(tensor, nodes);
    } else {
      inputRenames.set(tensor, dequantized);
      prefix.push(...nodes);
    }
  }

  // Weights (shared by every node that reads them) and biases (per node: their scale follows the input's).
  const dequantizedWeights = new Map<string, { name: string; params: QuantParams[] }>();
  const rewired = new Map<string, OnnxNode>();
  for (const t of targets) {
    const inputs = [...t.node.inputs];
    if (t.weight !== undefined) {
      const w = initializers.get(t.weight.name) as OnnxTensor;
      let dq = dequantizedWeights.get(t.weight.name);
      if (dq === undefined) {
        const { q, params } = quantizeWeight(floatValues(w) as Float32Array, w.dims, t.weight.axis, weightRange);
        const channels = params.length;
        const qName = rw.tensor(`${w.name}_quantized`, DATA_TYPE.int8, int8Bytes(q), w.dims);
        const scale = rw.floats(`${w.name}_scale`, params.map((p) => p.scale), [channels]);
        const zp = rw.tensor(`${w.name}_zero_point`, DATA_TYPE.int8, new Uint8Array(channels), [channels]);
        dq = { name: rw.names.fresh(`${w.name}_DequantizeLinear_Output`), params };
        prefix.push(node('DequantizeLinear', rw.names.fresh(`${w.name}_DequantizeLinear`), [qName, scale, zp], [dq.name], [intAttr('axis', t.weight.axis)]));
        dequantizedWeights.set(t.weight.name, dq);
      }
      inputs[1] = dq.name;
      if (t.bias !== undefined) {
        const b = floatValues(initializers.get(t.bias) as OnnxTensor) as Float32Array;
        const inputScale = (activationParams.get(t.activations[0] ?? '') as QuantParams).scale;
        const biasParams = dq.params.map((p) => ({ scale: Math.fround(inputScale * p.scale), zeroPoint: 0 }));
        const q = Array.from(b, (v, c) => quantize(v, biasParams[c] as QuantParams, INT32));
        const qName = rw.tensor(`${t.bias}_${t.node.name}_quantized`, DATA_TYPE.int32, int32Bytes(q), [b.length]);
        const scale = rw.floats(`${t.bias}_${t.node.name}_scale`, biasParams.map((p) => p.scale), [b.length]);
        const zp = rw.tensor(`${t.bias}_${t.node.name}_zero_point`, DATA_TYPE.int32, new Uint8Array(4 * b.length), [b.length]);
        const out = rw.names.fresh(`${t.bias}_${t.node.name}_DequantizeLinear_Output`);
        prefix.push(node('DequantizeLinear', rw.names.fresh(`${t.bias}_${t.node.name}_DequantizeLinear`), [qName, scale, zp], [out], [intAttr('axis', 0)]));
        inputs[2] = out;
      }
    }
    rewired.set(t.node.name, { ...t.node, inputs, outputs: [t.output, ...t.node.outputs.slice(1)] });
  }

  const absorbed = new Set(targets.flatMap((t) => (t.absorbed ? [t.absorbed.name] : [])));
  const body: OnnxNode[] = [];
  for (const n of plan.nodes) {
    if (absorbed.has(n.name)) continue;
    const f = flattens.get(n.name);
    if (f !== undefined) {
      const perm = [0, ...Array.from({ length: f.rank - 2 }, (_, i) => i + 2), 1];
      body.push(node('Transpose', rw.names.fresh(`${n.name}_channels_last`), [f.source], [producedAs.get(f.transposed) ?? f.transposed], [intsAttr('perm', perm)]), ...(pairs.get(f.transposed) ?? []));
    }
    const flattened = rewired.get(n.name) ?? n;
    const base = f === undefined ? flattened : { ...flattened, inputs: [f.transposed, ...flattened.inputs.slice(1)] };
    const renamed = { ...base, inputs: base.inputs.map((i) => inputRenames.get(i) ?? i), outputs: base.outputs.map((o) => producedAs.get(o) ?? o) };
    body.push(renamed);
    for (const o of base.outputs) body.push(...(pairs.get(o) ?? []));
  }
  const nodes = [...prefix, ...body];
  const used = new Set(nodes.flatMap((n) => n.inputs));
  const graph = {
    ...model.graph,
    nodes,
    initializers: [...model.graph.initializers.filter((t) => used.has(t.name) || graphInputs.has(t.name)), ...rw.initializers],
  };
  const reports = plan.reports.map((r): NodeReport => {
    const owner = plan.fusedAdds.get(r.name) ?? [...plan.targets.values()].find((t) => t.absorbed?.name === r.name)?.node.name ?? '';
    const why = missing.get(r.name) ?? missing.get(owner);
    return why === undefined ? r : { name: r.name, op: r.op, precision: 'float32', reason: why };
  });
  return finish({ ...model, graph }, model, targets.length > 0 ? 13 : undefined, reports);
}

/** Raises the opset where the written operators need it (per-channel DequantizeLinear's axis: 13). */
function finish(model: OnnxModel, source: OnnxModel, opset: number | undefined, nodes: readonly NodeReport[]): CompressResult {
  const from = defaultOpset(source);
  const raised = opset !== undefined && from < opset;
  return { model: raised ? withOpsetAtLeast(model, opset) : model, report: { nodes, ...(raised ? { opsetRaisedFrom: from } : {}) } };
}

/** Per op: the weight [K, N] (transposed for Gemm's transB), its scale factor and the bias that dynamic quantization folds. */
const DYNAMIC_RULES: { readonly [K in 'MatMul' | 'Gemm']: (n: OnnxNode, ctx: Context) => { weight: OnnxTensor; transpose: boolean; alpha: number; bias?: { name: string; beta: number } } | Refusal } = {
  MatMul(n, ctx) {
    const w = weightOf(ctx, n.inputs[1], (r) => r === 2);
    return 'reason' in w ? w : { weight: w, transpose: false, alpha: 1 };
  },
  Gemm(n, ctx) {
    if (intAttribute(n, 'transA', 0) !== 0) return { reason: 'transA is set' };
    const w = weightOf(ctx, n.inputs[1], (r) => r === 2);
    if ('reason' in w) return w;
    const c = n.inputs[2];
    const ct = c ? ctx.initializers.get(c) : undefined;
    if (c && (ct === undefined || ct.dataType !== DATA_TYPE.float || ct.external !== undefined)) return { reason: `its C input ${c} is not an inline float initializer` };
    return { weight: w, transpose: intAttribute(n, 'transB', 0) !== 0, alpha: floatAttribute(n, 'alpha', 1), ...(c ? { bias: { name: c, beta: floatAttribute(n, 'beta', 1) } } : {}) };
  },
};

/**
 * Dynamic quantization (ORT's quantize_dynamic): MatMul and Gemm with initializer weights become
 * DynamicQuantizeLinear → MatMulInteger → Cast → Mul by the two scales (→ Add of Gemm's C), the
 * pattern ORT fuses into MatMulIntegerToFloat / DynamicQuantizeMatMul; weights int8 per column.
 */
export function quantizeDynamic(model: OnnxModel, options: QuantizeOptions): CompressResult {
  const nodes = namedNodes(model.graph);
  const ctx: Context = { initializers: new Map(model.graph.initializers.map((t) => [t.name, t])) };
  const rw = new Rewrite(model);
  const weightRange = int8Weights(options.reduceRange);
  const quantizedInputs = new Map<string, [string, string, string]>();
  const out: OnnxNode[] = [];
  const reports: NodeReport[] = [];
  for (const n of nodes) {
    const kept = whyNot(n, options.keepFloat) ?? (n.opType === 'Conv' ? 'Conv is quantized statically only' : undefined);
    const rule = kept === undefined ? DYNAMIC_RULES[n.opType as 'MatMul' | 'Gemm'](n, ctx) : { reason: kept };
    const a = n.inputs[0] ?? '';
    if ('reason' in rule || ctx.initializers.has(a)) {
      reports.push({ name: n.name, op: n.opType, precision: 'float32', reason: 'reason' in rule ? rule.reason : `its first input ${a} is an initializer` });
      out.push(n);
      continue;
    }
    const [rows = 0, cols = 0] = rule.weight.dims;
    const values = floatValues(rule.weight) as Float32Array;
    const kn = rule.transpose ? transpose(values, rows, cols) : values;
    const k = rule.transpose ? cols : rows;
    const units = rule.transpose ? rows : cols;
    const { q, params } = quantizeWeight(kn, [k, units], 1, weightRange);
    const wq = rw.tensor(`${n.name}_${rule.weight.name}_quantized`, DATA_TYPE.int8, int8Bytes(q), [k, units]);
    const wzp = rw.tensor(`${n.name}_${rule.weight.name}_zero_point`, DATA_TYPE.int8, new Uint8Array(units), [units]);
    const wscale = rw.floats(`${n.name}_${rule.weight.name}_scale`, params.map((p) => p.scale * rule.alpha), [units]);
    let dq = quantizedInputs.get(a);
    if (dq === undefined) {
      dq = [rw.names.fresh(`${a}_quantized`), rw.names.fresh(`${a}_scale`), rw.names.fresh(`${a}_zero_point`)];
      out.push(node('DynamicQuantizeLinear', rw.names.fresh(`${a}_DynamicQuantizeLinear`), [a], dq));
      quantizedInputs.set(a, dq);
    }
    const [aq, ascale, azp] = dq;
    const result = n.outputs[0] ?? '';
    const integer = rw.names.fresh(`${result}_MatMulInteger_Output`);
    const cast = rw.names.fresh(`${result}_cast_output`);
    const scales = rw.names.fresh(`${result}_scales_mul`);
    const scaled = rule.bias ? rw.names.fresh(`${result}_no_bias`) : result;
    out.push(
      node('MatMulInteger', rw.names.fresh(`${n.name}_MatMulInteger`), [aq, wq, azp, wzp], [integer]),
      node('Cast', rw.names.fresh(`${n.name}_cast`), [integer], [cast], [intAttr('to', DATA_TYPE.float)]),
      node('Mul', rw.names.fresh(`${n.name}_scales_mul`), [ascale, wscale], [scales]),
      node('Mul', rw.names.fresh(`${n.name}_output_scale_mul`), [cast, scales], [scaled]),
    );
    if (rule.bias) {
      const c = ctx.initializers.get(rule.bias.name) as OnnxTensor;
      const beta = rule.bias.beta;
      const folded = beta === 1 ? c.name : rw.floats(`${c.name}_${n.name}_beta`, Array.from(floatValues(c) as Float32Array, (v) => v * beta), c.dims);
      out.push(node('Add', rw.names.fresh(`${n.name}_bias_add`), [scaled, folded], [result]));
    }
    reports.push({ name: n.name, op: n.opType, precision: 'int8', reason: 'dynamic: activations quantized at run time' });
  }
  const used = new Set(out.flatMap((n) => n.inputs));
  const graphInputs = new Set(model.graph.inputs.map((i) => i.name));
  const graph = { ...model.graph, nodes: out, initializers: [...model.graph.initializers.filter((t) => used.has(t.name) || graphInputs.has(t.name)), ...rw.initializers] };
  const quantized = reports.some((r) => r.precision === 'int8');
  return finish({ ...model, graph }, model, quantized ? 11 : undefined, reports);
}
