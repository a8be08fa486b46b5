/**
 * A minimal ONNX ModelProto encoder and the one decoding step `load` needs (initializers back out
 * of a saved model). Field numbers follow onnx/onnx.proto; only what ecoml's graphs use is here.
 * @module
 */
import { fields, Writer } from '../../util/protobuf.js';

export type ElemType = 'float' | 'int64' | 'bool';
const ELEM_CODE: Record<ElemType, number> = { float: 1, int64: 7, bool: 9 };

export type Attr = { readonly f: number } | { readonly i: number } | { readonly ints: readonly number[] } | { readonly s: string } | { readonly t: TensorData };

export interface TensorData {
  readonly name?: string;
  readonly type: ElemType;
  readonly dims: readonly number[];
  /** Little-endian element bytes; empty when the bytes live in an external-data file. */
  readonly raw: Uint8Array;
  /** Where the bytes live instead, relative to the model file (ONNX's external data). */
  readonly external?: ExternalData;
}

export interface ExternalData {
  readonly location: string;
  readonly offset: number;
  readonly length: number;
}

export interface NodeData {
  /** Default: `n<index>`. */
  readonly name?: string;
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs?: Readonly<Record<string, Attr>>;
}

export interface ValueInfo {
  readonly name: string;
  readonly type: ElemType;
  /** A negative or string dimension is symbolic (the batch). */
  readonly shape: readonly (number | string)[];
}

export interface GraphData {
  readonly nodes: readonly NodeData[];
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly initializers?: readonly TensorData[];
}

const OPSET = 18;
const IR_VERSION = 8;

function tensorProto(t: TensorData): Writer {
  const w = new Writer();
  for (const d of t.dims) w.int(1, d);
  w.int(2, ELEM_CODE[t.type]);
  if (t.name !== undefined) w.string(8, t.name);
  if (t.external === undefined) return w.bytes(9, t.raw);
  const entry = (key: string, value: string): Writer => new Writer().string(1, key).string(2, value);
  w.message(13, entry('location', t.external.location));
  w.message(13, entry('offset', String(t.external.offset)));
  w.message(13, entry('length', String(t.external.length)));
  // data_location = EXTERNAL
  return w.int(14, 1);
}

function attribute(name: string, a: Attr): Writer {
  const w = new Writer().string(1, name);
  if ('f' in a) return w.float(2, a.f).int(20, 1);
  if ('i' in a) return w.int(3, a.i).int(20, 2);
  if ('s' in a) return w.string(4, a.s).int(20, 3);
  if ('t' in a) return w.message(5, tensorProto(a.t)).int(20, 4);
  for (const v of a.ints) w.int(8, v);
  return w.int(20, 7);
}

function valueInfo(v: ValueInfo): Writer {
  const shape = new Writer();
  for (const d of v.shape) {
    shape.message(1, typeof d === 'string' || d < 0 ? new Writer().string(2, typeof d === 'string' ? d : 'N') : new Writer().int(1, d));
  }
  const tensorType = new Writer().int(1, ELEM_CODE[v.type]).message(2, shape);
  return new Writer().string(1, v.name).message(2, new Writer().message(1, tensorType));
}

export function encodeModel(graph: GraphData): Uint8Array {
  const g = new Writer();
  graph.nodes.forEach((n, i) => {
    const node = new Writer();
    for (const input of n.inputs) node.string(1, input);
    for (const output of n.outputs) node.string(2, output);
    node.string(3, n.name ?? `n${i}`).string(4, n.op);
    for (const [name, a] of Object.entries(n.attrs ?? {})) node.message(5, attribute(name, a));
    g.message(1, node);
  });
  g.string(2, 'ecoml');
  for (const t of graph.initializers ?? []) g.message(5, tensorProto(t));
  for (const v of graph.inputs) g.message(11, valueInfo(v));
  for (const v of graph.outputs) g.message(12, valueInfo(v));
  return new Writer()
    .int(1, IR_VERSION)
    .string(2, 'ecoml')
    .message(7, g)
    .message(8, new Writer().string(1, '').int(2, OPSET))
    .finish();
}

export function floatTensor(values: Float32Array | readonly number[], dims: readonly number[], name?: string): TensorData {
  const f = values instanceof Float32Array ? values : Float32Array.from(values);
  return { type: 'float', dims, raw: new Uint8Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength)), ...(name !== undefined ? { name } : {}) };
}

export function int64Tensor(values: readonly number[], dims: readonly number[] = [values.length]): TensorData {
  const b = BigInt64Array.from(values, (v) => BigInt(v));
  return { type: 'int64', dims, raw: new Uint8Array(b.buffer) };
}

/** The external-data files a model's initializers name (ONNX Runtime reads them from beside the model file). */
export function externalDataLocations(model: Uint8Array): string[] {
  const locations = new Set<string>();
  const text = new TextDecoder();
  for (const [field, , graph] of fields(model)) {
    if (field !== 7 || !(graph instanceof Uint8Array)) continue;
    for (const [gf, , tensor] of fields(graph)) {
      if (gf !== 5 || !(tensor instanceof Uint8Array)) continue;
      for (const [tf, , entry] of fields(tensor)) {
        if (tf !== 13 || !(entry instanceof Uint8Array)) continue;
        let key = '';
        let value = '';
        for (const [ef, , v] of fields(entry)) {
          if (ef === 1 && v instanceof Uint8Array) key = text.decode(v);
          else if (ef === 2 && v instanceof Uint8Array) value = text.decode(v);
        }
        if (key === 'location') locations.add(value);
      }
    }
  }
  return [...locations];
}

/** The float initializers of a model written by `encodeModel`. */
export function decodeInitializers(model: Uint8Array): { name: string; dims: number[]; values: Float32Array }[] {
  const out: { name: string; dims: number[]; values: Float32Array }[] = [];
  for (const [field, , graph] of fields(model)) {
    if (field !== 7 || !(graph instanceof Uint8Array)) continue;
    for (const [gf, , tensor] of fields(graph)) {
      if (gf !== 5 || !(tensor instanceof Uint8Array)) continue;
      let name = '';
      const dims: number[] = [];
      let raw: Uint8Array = new Uint8Array(0);
      for (const [tf, , v] of fields(tensor)) {
        if (tf === 1 && typeof v === 'bigint') dims.push(Number(v));
        else if (tf === 8 && v instanceof Uint8Array) name = new TextDecoder().decode(v);
        else if (tf === 9 && v instanceof Uint8Array) raw = v;
      }
      // Copy into a fresh buffer: Node Buffers' slice() is a view into a shared pool.
      const bytes = new Uint8Array(raw.length);
      bytes.set(raw);
      out.push({ name, dims, values: new Float32Array(bytes.buffer) });
    }
  }
  return out;
}
