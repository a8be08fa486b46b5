/**
 * Float16 conversion as onnxconverter-common's convert_float_to_float16 does it with
 * keep_io_types: float initializers, constants and tensors become float16, values clamped into
 * float16's range first; graph inputs and outputs stay float32 behind Casts; ops without a float16
 * kernel (the block list), other domains and kept-float nodes run in float32 between Casts.
 * @module
 */
import { consumerCounts, intAttr, Names, namedNodes, node, tensorAttr } from './onnx/graph.js';
import { DATA_TYPE, makeTensor, type OnnxAttribute, type OnnxModel, type OnnxNode, type OnnxTensor, valueInfoType } from './onnx/model.js';
import { clampToFloat16Range, float16Bits } from './qmath.js';
import type { CompressResult, NodeReport } from './quantize.js';

/** onnxconverter-common's DEFAULT_OP_BLOCK_LIST (ops ORT has no float16 kernel for), plus the quantization ops. */
const BLOCKED: ReadonlySet<string> = new Set([
  'ArrayFeatureExtractor', 'Binarizer', 'CastMap', 'CategoryMapper', 'DictVectorizer', 'FeatureVectorizer', 'Imputer', 'LabelEncoder',
  'LinearClassifier', 'LinearRegressor', 'Normalizer', 'OneHotEncoder', 'RandomUniformLike', 'SVMClassifier', 'SVMRegressor', 'Scaler',
  'TreeEnsembleClassifier', 'TreeEnsembleRegressor', 'ZipMap', 'NonMaxSuppression', 'TopK', 'RoiAlign', 'Range', 'CumSum', 'Min', 'Max', 'Upsample',
  'QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear',
]);

/** Inputs that ONNX types as float32 only, whatever the op's T (Resize's roi and scales). */
const FLOAT32_INPUTS: Readonly<Record<string, readonly number[]>> = { Resize: [1, 2] };

const BOOL_OUTPUT = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);
const INT64_OUTPUT = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin']);

/** The element type of a node's outputs: fixed, named by an attribute, or its data input's. */
function outputTypes(n: OnnxNode, typeOf: (t: string) => number | undefined): (number | undefined)[] {
  const first = typeOf(n.inputs[0] ?? '');
  const dtype = (name: string, fallback: number | undefined): number | undefined => {
    const a = n.attributes.find((x) => x.name === name);
    return a?.i !== undefined ? Number(a.i) : fallback;
  };
  const valueType = (): number => n.attributes.find((x) => x.name === 'value')?.t?.dataType ?? DATA_TYPE.float;
  const rules: Record<string, () => (number | undefined)[]> = {
    Cast: () => [dtype('to', undefined)],
    Constant: () => {
      const a = n.attributes[0];
      if (a?.t) return [a.t.dataType];
      return [a?.name.startsWith('value_float') ? DATA_TYPE.float : a?.name.startsWith('value_int') ? DATA_TYPE.int64 : undefined];
    },
    ConstantOfShape: () => [valueType()],
    RandomNormal: () => [dtype('dtype', DATA_TYPE.float)],
    RandomUniform: () => [dtype('dtype', DATA_TYPE.float)],
    RandomNormalLike: () => [dtype('dtype', first)],
    EyeLike: () => [dtype('dtype', first)],
    Where: () => [typeOf(n.inputs[1] ?? '')],
    TopK: () => [first, DATA_TYPE.int64],
    MaxPool: () => [first, DATA_TYPE.int64],
    DequantizeLinear: () => [typeOf(n.inputs[1] ?? '')],
    QuantizeLinear: () => [typeOf(n.inputs[2] ?? '') ?? DATA_TYPE.uint8],
    DynamicQuantizeLinear: () => [DATA_TYPE.uint8, DATA_TYPE.float, DATA_TYPE.uint8],
    MatMulInteger: () => [DATA_TYPE.int32],
    ConvInteger: () => [DATA_TYPE.int32],
  };
  if (BOOL_OUTPUT.has(n.opType)) return n.outputs.map(() => DATA_TYPE.bool);
  if (INT64_OUTPUT.has(n.opType)) return n.outputs.map(() => DATA_TYPE.int64);
  const rule = rules[n.opType];
  return rule ? rule() : n.outputs.map(() => first);
}

/** Element types of the graph's tensors: declared ones first, the rest propagated through the nodes. */
function elementTypes(model: OnnxModel, nodes: readonly OnnxNode[]): Map<string, number> {
  const types = new Map<string, number>();
  const declared = new Map<string, number>();
  for (const v of [...model.graph.inputs, ...model.graph.outputs, ...model.graph.valueInfo]) {
    const t = valueInfoType(v);
    if (t !== undefined && t.elemType !== 0) declared.set(v.name, t.elemType);
  }
  for (const t of model.graph.initializers) types.set(t.name, t.dataType);
  for (const [name, t] of declared) types.set(name, t);
  for (const n of nodes) {
    const out = outputTypes(n, (t) => types.get(t));
    n.outputs.forEach((o, k) => {
      const t = declared.get(o) ?? out[k];
      if (t !== undefined) types.set(o, t);
    });
  }
  return types;
}

function toFloat16(t: OnnxTensor): OnnxTensor {
  const values = new Float32Array(t.raw.buffer, t.raw.byteOffset, t.raw.byteLength / 4);
  const bits = Uint16Array.from(values, (v) => float16Bits(clampToFloat16Range(v)));
  return makeTensor(t.name, DATA_TYPE.float16, t.dims, new Uint8Array(bits.buffer));
}

/** Float tensor-valued and dtype attributes retyped to float16 (Constant, ConstantOfShape, Cast…). */
function retypeAttributes(n: OnnxNode): OnnxAttribute[] {
  const attributes = n.attributes.map((a): OnnxAttribute => {
    if (a.t?.dataType === DATA_TYPE.float && a.t.external === undefined) return { ...a, t: toFloat16(a.t) };
    if ((a.name === 'to' || a.name === 'dtype') && a.i === BigInt(DATA_TYPE.float)) return { ...a, i: BigInt(DATA_TYPE.float16) };
    if (n.opType === 'Constant' && a.name === 'value_float' && a.f !== undefined) return tensorAttr('value', toFloat16(makeTensor('', DATA_TYPE.float, [], new Uint8Array(Float32Array.of(a.f).buffer))));
    if (n.opType === 'Constant' && a.name === 'value_floats' && a.floats !== undefined) return tensorAttr('value', toFloat16(makeTensor('', DATA_TYPE.float, [a.floats.length], new Uint8Array(Float32Array.from(a.floats).buffer))));
    return a;
  });
  // Ops whose float output is a default, not an attribute: name float16 explicitly.
  const explicit: Record<string, () => OnnxAttribute> = {
    ConstantOfShape: () => tensorAttr('value', makeTensor('', DATA_TYPE.float16, [1], new Uint8Array(2))),
    RandomNormal: () => intAttr('dtype', DATA_TYPE.float16),
    RandomUniform: () => intAttr('dtype', DATA_TYPE.float16),
  };
  const key = n.opType === 'ConstantOfShape' ? 'value' : 'dtype';
  const add = explicit[n.opType];
  return add && !attributes.some((a) => a.name === key) ? [...attributes, add()] : attributes;
}

function blockReason(n: OnnxNode, keepFloat: ReadonlySet<string> | undefined): string | undefined {
  if (keepFloat?.has(n.name)) return 'kept float on request';
  if (n.domain !== '' && n.domain !== 'ai.onnx') return `domain ${n.domain} is not converted`;
  if (BLOCKED.has(n.opType)) return `${n.opType} has no float16 kernel in ONNX Runtime (onnxconverter-common's block list)`;
  if (n.attributes.some((a) => a.unknown.some((u) => u.field === 6 || u.field === 11))) return 'its subgraphs are not converted';
  return undefined;
}

/** Converts float32 to float16 inside the graph, keeping the graph's inputs and outputs float32. */
export function convertToFloat16(model: OnnxModel, options: { readonly keepFloat?: ReadonlySet<string> } = {}): CompressResult {
  const nodes = namedNodes(model.graph);
  const types = elementTypes(model, nodes);
  const isFloat = (t: string): boolean => t !== '' && types.get(t) === DATA_TYPE.float;
  const names = new Names(model.graph);
  const blocked = new Map(nodes.flatMap((n) => {
    const why = blockReason(n, options.keepFloat);
    return why === undefined ? [] : [[n.name, why] as const];
  }));
  const graphInputs = new Set(model.graph.inputs.map((i) => i.name));
  const graphOutputs = new Set(model.graph.outputs.map((o) => o.name));
  // Initializers read only by float32 consumers stay float32 (no cast back and forth).
  const float32Reads = new Map<string, number>();
  for (const n of nodes) {
    n.inputs.forEach((t, k) => {
      if (blocked.has(n.name) || FLOAT32_INPUTS[n.opType]?.includes(k)) float32Reads.set(t, (float32Reads.get(t) ?? 0) + 1);
    });
  }
  const reads = consumerCounts(nodes);
  const keptInitializers = new Set(model.graph.initializers.filter((t) => isFloat(t.name) && float32Reads.get(t.name) === reads.get(t.name)).map((t) => t.name));

  // Inside the graph a float tensor lives as float16, under its own name, except graph inputs and
  // outputs (a float16 twin beside them) and the kept initializers.
  // Float weights in external files are not rewritten: like graph inputs, they are cast on entry.
  const external = new Set(model.graph.initializers.filter((t) => isFloat(t.name) && t.external !== undefined && !keptInitializers.has(t.name)).map((t) => t.name));
  const entering = (t: string): boolean => graphInputs.has(t) || external.has(t);
  const half = new Map<string, string>();
  const halfName = (t: string): string => {
    if (!entering(t) && !graphOutputs.has(t)) return t;
    let h = half.get(t);
    if (h === undefined) {
      h = names.fresh(`${t}_float16`);
      half.set(t, h);
    }
    return h;
  };
  const out: OnnxNode[] = [];
  for (const i of [...model.graph.inputs.map((v) => v.name), ...external]) {
    if (isFloat(i) && (reads.get(i) ?? 0) > (float32Reads.get(i) ?? 0)) out.push(node('Cast', names.fresh(`${i}_cast_to_float16`), [i], [halfName(i)], [intAttr('to', DATA_TYPE.float16)]));
  }
  const float32Copies = new Map<string, string>();
  const asFloat32 = (t: string): string => {
    if (entering(t) || keptInitializers.has(t)) return t;
    let copy = float32Copies.get(t);
    if (copy === undefined) {
      copy = names.fresh(`${t}_float32`);
      float32Copies.set(t, copy);
      out.push(node('Cast', names.fresh(`${t}_cast_to_float32`), [halfName(t)], [copy], [intAttr('to', DATA_TYPE.float)]));
    }
    return copy;
  };
  const reports: NodeReport[] = [];
  const castsBack: OnnxNode[] = [];
  const writtenFloat32 = new Set<string>();
  for (const n of nodes) {
    const why = blocked.get(n.name);
    if (why !== undefined) {
      const inputs = n.inputs.map((t) => (isFloat(t) ? asFloat32(t) : t));
      const outputs = n.outputs.map((t) => {
        if (!isFloat(t)) return t;
        // A graph output is written as it is, in float32, and cast for the float16 readers.
        const f = graphOutputs.has(t) ? t : names.fresh(`${t}_float32`);
        if (graphOutputs.has(t)) writtenFloat32.add(t);
        if (f !== t || (reads.get(t) ?? 0) > 0) castsBack.push(node('Cast', names.fresh(`${t}_cast_to_float16`), [f], [halfName(t)], [intAttr('to', DATA_TYPE.float16)]));
        return f;
      });
      out.push({ ...n, inputs, outputs }, ...castsBack.splice(0));
      reports.push({ name: n.name, op: n.opType, precision: 'float32', reason: why });
      continue;
    }
    const inputs = n.inputs.map((t, k) => (!isFloat(t) ? t : FLOAT32_INPUTS[n.opType]?.includes(k) ? asFloat32(t) : keptInitializers.has(t) ? t : halfName(t)));
    const outputs = n.outputs.map((t) => (isFloat(t) ? halfName(t) : t));
    out.push({ ...n, inputs, outputs, attributes: retypeAttributes(n) });
    reports.push({ name: n.name, op: n.opType, precision: 'float16' });
  }
  // Graph outputs: back to float32 from their float16 twins (a blocked producer wrote float32 already).
  for (const o of model.graph.outputs) {
    const h = half.get(o.name);
    if (h !== undefined && !entering(o.name) && !writtenFloat32.has(o.name)) out.push(node('Cast', names.fresh(`${o.name}_cast_to_float32`), [h], [o.name], [intAttr('to', DATA_TYPE.float)]));
  }
  // An initializer that is also a graph input (a default the caller may override) keeps the input's float32.
  const initializers = model.graph.initializers.map((t) => (isFloat(t.name) && !keptInitializers.has(t.name) && !entering(t.name) ? toFloat16(t) : t));
  // Declared types of converted tensors are stale; ORT infers them again.
  const valueInfo = model.graph.valueInfo.filter((v) => !isFloat(v.name));
  return { model: { ...model, graph: { ...model.graph, nodes: out, initializers, valueInfo } }, report: { nodes: reports } };
}
