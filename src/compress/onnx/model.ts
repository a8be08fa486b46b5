/**
 * A lossless codec for any ONNX ModelProto: a typed view of what the compressors rewrite (graph,
 * nodes, attributes, tensors), every other field kept as read and written back in field order.
 * Field numbers follow onnx/onnx.proto.
 * @module
 */
import { fields, packedVarints, type WireType, Writer } from '../../util/protobuf.js';

/** A field the typed view does not model, as read. */
export interface RawField {
  readonly field: number;
  readonly wire: WireType;
  readonly value: bigint | Uint8Array;
}

/** TensorProto.DataType codes the compressors name. */
export const DATA_TYPE = { float: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10, double: 11 } as const;

export interface OnnxTensor {
  readonly name: string;
  /** TensorProto.DataType code. */
  readonly dataType: number;
  readonly dims: readonly number[];
  /** Little-endian element bytes (float_data, int32_data… are decoded into them); empty for external data. */
  readonly raw: Uint8Array;
  /** external_data's key/value entries (location, offset, length…) where the bytes live in another file. */
  readonly external?: readonly (readonly [string, string])[];
  readonly unknown: readonly RawField[];
}

export interface OnnxAttribute {
  readonly name: string;
  /** AttributeProto.AttributeType code. */
  readonly type: number;
  readonly f?: number;
  readonly i?: bigint;
  readonly s?: Uint8Array;
  readonly t?: OnnxTensor;
  readonly floats?: readonly number[];
  readonly ints?: readonly bigint[];
  readonly strings?: readonly Uint8Array[];
  /** Subgraphs (g, graphs), sparse tensors and the rest, as read. */
  readonly unknown: readonly RawField[];
}

export interface OnnxNode {
  readonly name: string;
  readonly opType: string;
  /** '' is the default domain (ai.onnx). */
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: readonly OnnxAttribute[];
  readonly unknown: readonly RawField[];
}

/** A ValueInfoProto kept as its bytes; `valueInfoType` reads its tensor type. */
export interface OnnxValueInfo {
  readonly name: string;
  readonly bytes: Uint8Array;
}

export interface OnnxGraph {
  readonly name: string;
  readonly nodes: readonly OnnxNode[];
  readonly initializers: readonly OnnxTensor[];
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  readonly valueInfo: readonly OnnxValueInfo[];
  readonly unknown: readonly RawField[];
}

export interface OpsetId {
  readonly domain: string;
  readonly version: number;
}

export interface OnnxModel {
  readonly irVersion?: number;
  readonly opsetImport: readonly OpsetId[];
  readonly graph: OnnxGraph;
  /** producer_name, metadata_props, functions… as read. */
  readonly unknown: readonly RawField[];
}

const text = new TextDecoder();
const str = (v: bigint | Uint8Array): string => (v instanceof Uint8Array ? text.decode(v) : '');
const bytesOf = (v: bigint | Uint8Array): Uint8Array => (v instanceof Uint8Array ? v : new Uint8Array(0));
const num = (v: bigint | Uint8Array): number => (typeof v === 'bigint' ? Number(BigInt.asIntN(64, v)) : 0);
const int64 = (v: bigint): bigint => BigInt.asIntN(64, v);

/** Fixed-size elements of a packed (wire 2) or single (wire 1/5) field, as one byte run. */
const fixedBytes = (v: bigint | Uint8Array): Uint8Array => bytesOf(v);

/** Bytes per element where int32_data carries the values (TensorProto's comment lists them). */
const INT32_DATA_BYTES: Readonly<Record<number, { readonly size: 1 | 2 | 4; readonly signed: boolean }>> = {
  2: { size: 1, signed: false }, // uint8
  3: { size: 1, signed: true }, // int8
  4: { size: 2, signed: false }, // uint16
  5: { size: 2, signed: true }, // int16
  6: { size: 4, signed: true }, // int32
  9: { size: 1, signed: false }, // bool
  10: { size: 2, signed: false }, // float16 bits
  16: { size: 2, signed: false }, // bfloat16 bits
};
/** Bytes per element where uint64_data carries the values. */
const UINT64_DATA_BYTES: Readonly<Record<number, 4 | 8>> = { 12: 4, 13: 8 };

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function integersToBytes(values: readonly bigint[], size: 1 | 2 | 4 | 8): Uint8Array {
  const out = new Uint8Array(values.length * size);
  const view = new DataView(out.buffer);
  values.forEach((v, k) => {
    if (size === 8) view.setBigUint64(k * size, BigInt.asUintN(64, v), true);
    else if (size === 4) view.setUint32(k * size, Number(BigInt.asUintN(32, v)), true);
    else if (size === 2) view.setUint16(k * size, Number(BigInt.asUintN(16, v)), true);
    else view.setUint8(k, Number(BigInt.asUintN(8, v)));
  });
  return out;
}

function decodeTensor(buf: Uint8Array): OnnxTensor {
  let name = '';
  let dataType = 0;
  const dims: number[] = [];
  let raw: Uint8Array | undefined;
  const typed: { field: number; wire: WireType; value: bigint | Uint8Array }[] = [];
  const external: [string, string][] = [];
  const unknown: RawField[] = [];
  for (const [field, wire, value] of fields(buf)) {
    if (field === 1) dims.push(...packedVarints(value).map((d) => Number(int64(d))));
    else if (field === 2) dataType = num(value);
    else if (field === 8) name = str(value);
    else if (field === 9) raw = bytesOf(value);
    else if (field === 13) {
      let key = '';
      let entry = '';
      for (const [ef, , ev] of fields(bytesOf(value))) {
        if (ef === 1) key = str(ev);
        else if (ef === 2) entry = str(ev);
      }
      external.push([key, entry]);
    } else if (field === 4 || field === 5 || field === 7 || field === 10 || field === 11) typed.push({ field, wire, value });
    else unknown.push({ field, wire, value });
  }
  // The typed *_data fields become raw bytes, where the data type says how; others stay as read.
  const parts: Uint8Array[] = [];
  for (const t of typed) {
    const int32 = INT32_DATA_BYTES[dataType];
    const uint64 = UINT64_DATA_BYTES[dataType];
    if (t.field === 4 || t.field === 10) parts.push(fixedBytes(t.value));
    else if (t.field === 5 && int32 !== undefined) parts.push(integersToBytes(packedVarints(t.value), int32.size));
    else if (t.field === 7) parts.push(integersToBytes(packedVarints(t.value), 8));
    else if (t.field === 11 && uint64 !== undefined) parts.push(integersToBytes(packedVarints(t.value), uint64));
    else unknown.push(t);
  }
  // A fresh, aligned copy: typed-array views need it, and the source buffer may be a pooled Buffer.
  const bytes = concat(raw !== undefined ? [raw, ...parts] : parts);
  return { name, dataType, dims, raw: bytes, ...(external.length > 0 ? { external } : {}), unknown };
}

function decodeAttribute(buf: Uint8Array): OnnxAttribute {
  let name = '';
  let type = 0;
  const a: { f?: number; i?: bigint; s?: Uint8Array; t?: OnnxTensor; floats?: number[]; ints?: bigint[]; strings?: Uint8Array[] } = {};
  const unknown: RawField[] = [];
  for (const [field, wire, value] of fields(buf)) {
    if (field === 1) name = str(value);
    else if (field === 20) type = num(value);
    else if (field === 2) a.f = new DataView(bytesOf(value).buffer, bytesOf(value).byteOffset).getFloat32(0, true);
    else if (field === 3 && typeof value === 'bigint') a.i = int64(value);
    else if (field === 4) a.s = bytesOf(value);
    else if (field === 5) a.t = decodeTensor(bytesOf(value));
    else if (field === 7) {
      const b = bytesOf(value);
      const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
      for (let k = 0; k + 4 <= b.length; k += 4) (a.floats ??= []).push(view.getFloat32(k, true));
    } else if (field === 8) (a.ints ??= []).push(...packedVarints(value).map(int64));
    else if (field === 9) (a.strings ??= []).push(bytesOf(value));
    else unknown.push({ field, wire, value });
  }
  return { name, type, ...a, unknown };
}

function decodeNode(buf: Uint8Array): OnnxNode {
  let name = '';
  let opType = '';
  let domain = '';
  const inputs: string[] = [];
  const outputs: string[] = [];
  const attributes: OnnxAttribute[] = [];
  const unknown: RawField[] = [];
  for (const [field, wire, value] of fields(buf)) {
    if (field === 1) inputs.push(str(value));
    else if (field === 2) outputs.push(str(value));
    else if (field === 3) name = str(value);
    else if (field === 4) opType = str(value);
    else if (field === 5) attributes.push(decodeAttribute(bytesOf(value)));
    else if (field === 7) domain = str(value);
    else unknown.push({ field, wire, value });
  }
  return { name, opType, domain, inputs, outputs, attributes, unknown };
}

function decodeValueInfo(buf: Uint8Array): OnnxValueInfo {
  let name = '';
  for (const [field, , value] of fields(buf)) if (field === 1) name = str(value);
  return { name, bytes: buf };
}

function decodeGraph(buf: Uint8Array): OnnxGraph {
  let name = '';
  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = [];
  const inputs: OnnxValueInfo[] = [];
  const outputs: OnnxValueInfo[] = [];
  const valueInfo: OnnxValueInfo[] = [];
  const unknown: RawField[] = [];
  for (const [field, wire, value] of fields(buf)) {
    if (field === 1) nodes.push(decodeNode(bytesOf(value)));
    else if (field === 2) name = str(value);
    else if (field === 5) initializers.push(decodeTensor(bytesOf(value)));
    else if (field === 11) inputs.push(decodeValueInfo(bytesOf(value)));
    else if (field === 12) outputs.push(decodeValueInfo(bytesOf(value)));
    else if (field === 13) valueInfo.push(decodeValueInfo(bytesOf(value)));
    else unknown.push({ field, wire, value });
  }
  return { name, nodes, initializers, inputs, outputs, valueInfo, unknown };
}

/** Decodes any ONNX ModelProto; a buffer that is not one throws. */
export function decodeModel(bytes: Uint8Array): OnnxModel {
  let irVersion: number | undefined;
  const opsetImport: OpsetId[] = [];
  let graph: OnnxGraph | undefined;
  const unknown: RawField[] = [];
  for (const [field, wire, value] of fields(bytes)) {
    if (field === 1) irVersion = num(value);
    else if (field === 7) graph = decodeGraph(bytesOf(value));
    else if (field === 8) {
      let domain = '';
      let version = 0;
      for (const [of, , ov] of fields(bytesOf(value))) {
        if (of === 1) domain = str(ov);
        else if (of === 2) version = num(ov);
      }
      opsetImport.push({ domain, version });
    } else unknown.push({ field, wire, value });
  }
  if (graph === undefined) throw new Error('not an ONNX model: no graph');
  return { ...(irVersion !== undefined ? { irVersion } : {}), opsetImport, graph, unknown };
}

type Emit = readonly [number, (w: Writer) => void];

/** Writes known and unknown fields together in field-number order, as protobuf encoders do. */
function emit(known: readonly Emit[], unknown: readonly RawField[]): Writer {
  const all = [...known, ...unknown.map((u): Emit => [u.field, (w) => w.raw(u.field, u.wire, u.value)])];
  all.sort((a, b) => a[0] - b[0]);
  const w = new Writer();
  for (const [, write] of all) write(w);
  return w;
}

const many = <T>(field: number, items: readonly T[], write: (w: Writer, item: T) => void): Emit[] => items.map((item): Emit => [field, (w) => write(w, item)]);

function encodeTensor(t: OnnxTensor): Writer {
  return emit(
    [
      ...many(1, t.dims, (w, d) => w.int(1, d)),
      [2, (w) => w.int(2, t.dataType)],
      ...(t.name !== '' ? [[8, (w: Writer) => w.string(8, t.name)] as const] : []),
      ...(t.external === undefined ? [[9, (w: Writer) => w.bytes(9, t.raw)] as const] : []),
      ...many(13, t.external ?? [], (w, [key, value]) => w.message(13, new Writer().string(1, key).string(2, value))),
    ],
    t.unknown,
  );
}

function encodeAttribute(a: OnnxAttribute): Writer {
  const { f, i, s, t, floats, ints, strings } = a;
  return emit(
    [
      [1, (w) => w.string(1, a.name)],
      ...(f !== undefined ? [[2, (w: Writer) => w.float(2, f)] as const] : []),
      ...(i !== undefined ? [[3, (w: Writer) => w.int(3, i)] as const] : []),
      ...(s !== undefined ? [[4, (w: Writer) => w.bytes(4, s)] as const] : []),
      ...(t !== undefined ? [[5, (w: Writer) => w.message(5, encodeTensor(t))] as const] : []),
      ...many(7, floats ?? [], (w, v) => w.float(7, v)),
      ...many(8, ints ?? [], (w, v) => w.int(8, v)),
      ...many(9, strings ?? [], (w, v) => w.bytes(9, v)),
      [20, (w) => w.int(20, a.type)],
    ],
    a.unknown,
  );
}

function encodeNode(n: OnnxNode): Writer {
  return emit(
    [
      ...many(1, n.inputs, (w, v) => w.string(1, v)),
      ...many(2, n.outputs, (w, v) => w.string(2, v)),
      ...(n.name !== '' ? [[3, (w: Writer) => w.string(3, n.name)] as const] : []),
      [4, (w) => w.string(4, n.opType)],
      ...many(5, n.attributes, (w, a) => w.message(5, encodeAttribute(a))),
      ...(n.domain !== '' ? [[7, (w: Writer) => w.string(7, n.domain)] as const] : []),
    ],
    n.unknown,
  );
}

function encodeGraph(g: OnnxGraph): Writer {
  return emit(
    [
      ...many(1, g.nodes, (w, n) => w.message(1, encodeNode(n))),
      ...(g.name !== '' ? [[2, (w: Writer) => w.string(2, g.name)] as const] : []),
      ...many(5, g.initializers, (w, t) => w.message(5, encodeTensor(t))),
      ...many(11, g.inputs, (w, v) => w.bytes(11, v.bytes)),
      ...many(12, g.outputs, (w, v) => w.bytes(12, v.bytes)),
      ...many(13, g.valueInfo, (w, v) => w.bytes(13, v.bytes)),
    ],
    g.unknown,
  );
}

export function encodeModel(model: OnnxModel): Uint8Array {
  const { irVersion } = model;
  return emit(
    [
      ...(irVersion !== undefined ? [[1, (w: Writer) => w.int(1, irVersion)] as const] : []),
      [7, (w) => w.message(7, encodeGraph(model.graph))],
      ...many(8, model.opsetImport, (w, o) => w.message(8, new Writer().string(1, o.domain).int(2, o.version))),
    ],
    model.unknown,
  ).finish();
}

/** A ValueInfoProto's tensor type: element type code and shape (a number, a symbolic name, or unknown). */
export function valueInfoType(v: OnnxValueInfo): { readonly elemType: number; readonly shape?: readonly (number | string | undefined)[] } | undefined {
  for (const [field, , type] of fields(v.bytes)) {
    if (field !== 2) continue;
    for (const [tf, , tensorType] of fields(bytesOf(type))) {
      if (tf !== 1) continue;
      let elemType = 0;
      let shape: (number | string | undefined)[] | undefined;
      for (const [f, , value] of fields(bytesOf(tensorType))) {
        if (f === 1) elemType = num(value);
        else if (f === 2) {
          shape = [];
          for (const [df, , dim] of fields(bytesOf(value))) {
            if (df !== 1) continue;
            let d: number | string | undefined;
            for (const [kf, , kv] of fields(bytesOf(dim))) {
              if (kf === 1) d = num(kv);
              else if (kf === 2) d = str(kv);
            }
            shape.push(d);
          }
        }
      }
      return { elemType, ...(shape !== undefined ? { shape } : {}) };
    }
  }
  return undefined;
}

/** A tensor ValueInfoProto; without a shape, the rank is left unknown. */
export function makeValueInfo(name: string, elemType: number, shape?: readonly (number | string | undefined)[]): OnnxValueInfo {
  const tensorType = new Writer().int(1, elemType);
  if (shape !== undefined) {
    const s = new Writer();
    for (const d of shape) {
      const dim = new Writer();
      if (typeof d === 'number') dim.int(1, d);
      else if (typeof d === 'string') dim.string(2, d);
      s.message(1, dim);
    }
    tensorType.message(2, s);
  }
  return { name, bytes: new Writer().string(1, name).message(2, new Writer().message(1, tensorType)).finish() };
}

/** A tensor of `dataType` from its little-endian bytes. */
export function makeTensor(name: string, dataType: number, dims: readonly number[], raw: Uint8Array): OnnxTensor {
  return { name, dataType, dims, raw, unknown: [] };
}

/** A float tensor's values; undefined where they are not float or live in an external file. */
export function floatValues(t: OnnxTensor): Float32Array | undefined {
  if (t.dataType !== DATA_TYPE.float || t.external !== undefined) return undefined;
  return new Float32Array(t.raw.buffer, t.raw.byteOffset, t.raw.byteLength / 4);
}

export function floatTensor(name: string, dims: readonly number[], values: Float32Array): OnnxTensor {
  return makeTensor(name, DATA_TYPE.float, dims, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
}
