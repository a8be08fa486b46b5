/**
 * The one in-memory tensor type the server's protocols decode into and encode from: an Open
 * Inference Protocol datatype, a shape and a typed array (or, for BYTES, one byte string per
 * element). Each datatype's names in the other vocabularies (TensorFlow, Triton's model config,
 * ONNX Runtime) sit in one typed table, so a datatype without them is a compile error.
 * @module
 */
import { endianness } from 'node:os';
import { EcomlError } from '../errors.js';
import type { WireJson } from './json.js';

export const DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'] as const;
export type Datatype = (typeof DATATYPES)[number];

/** ONNX Runtime's element type names (onnxruntime-common Tensor.Type) for the datatypes we carry. */
export type OrtType = 'bool' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'int8' | 'int16' | 'int32' | 'int64' | 'float16' | 'float32' | 'float64' | 'string';

export type NumericArray = Uint8Array | Uint16Array | Uint32Array | BigUint64Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Float32Array | Float64Array;
/** BOOL: Uint8Array of 0/1; FP16: Uint16Array of IEEE half bits; BYTES: one Uint8Array per element. */
export type TensorData = NumericArray | readonly Uint8Array[];

export interface Tensor {
  readonly datatype: Datatype;
  readonly shape: readonly number[];
  readonly data: TensorData;
}

type Kind = 'bool' | 'int' | 'bigint' | 'float' | 'half' | 'bytes';

interface DatatypeInfo {
  /** Bytes per element on the wire; 0 for BYTES, whose elements are length-prefixed. */
  readonly bytes: number;
  readonly kind: Kind;
  /** TensorFlow's DataType enum name (TF Serving metadata). */
  readonly tf: string;
  /** Triton's model-config data_type. */
  readonly triton: string;
  readonly ort: OrtType;
  readonly array?: new (length: number) => NumericArray;
  /** Inclusive range of an integer type. */
  readonly range?: readonly [bigint, bigint];
}

const intRange = (bits: number, signed: boolean): readonly [bigint, bigint] =>
  signed ? [-(2n ** BigInt(bits - 1)), 2n ** BigInt(bits - 1) - 1n] : [0n, 2n ** BigInt(bits) - 1n];

export const DATATYPE_INFO: { readonly [K in Datatype]: DatatypeInfo } = Object.freeze({
  BOOL: { bytes: 1, kind: 'bool', tf: 'DT_BOOL', triton: 'TYPE_BOOL', ort: 'bool', array: Uint8Array },
  UINT8: { bytes: 1, kind: 'int', tf: 'DT_UINT8', triton: 'TYPE_UINT8', ort: 'uint8', array: Uint8Array, range: intRange(8, false) },
  UINT16: { bytes: 2, kind: 'int', tf: 'DT_UINT16', triton: 'TYPE_UINT16', ort: 'uint16', array: Uint16Array, range: intRange(16, false) },
  UINT32: { bytes: 4, kind: 'int', tf: 'DT_UINT32', triton: 'TYPE_UINT32', ort: 'uint32', array: Uint32Array, range: intRange(32, false) },
  UINT64: { bytes: 8, kind: 'bigint', tf: 'DT_UINT64', triton: 'TYPE_UINT64', ort: 'uint64', array: BigUint64Array, range: intRange(64, false) },
  INT8: { bytes: 1, kind: 'int', tf: 'DT_INT8', triton: 'TYPE_INT8', ort: 'int8', array: Int8Array, range: intRange(8, true) },
  INT16: { bytes: 2, kind: 'int', tf: 'DT_INT16', triton: 'TYPE_INT16', ort: 'int16', array: Int16Array, range: intRange(16, true) },
  INT32: { bytes: 4, kind: 'int', tf: 'DT_INT32', triton: 'TYPE_INT32', ort: 'int32', array: Int32Array, range: intRange(32, true) },
  INT64: { bytes: 8, kind: 'bigint', tf: 'DT_INT64', triton: 'TYPE_INT64', ort: 'int64', array: BigInt64Array, range: intRange(64, true) },
  FP16: { bytes: 2, kind: 'half', tf: 'DT_HALF', triton: 'TYPE_FP16', ort: 'float16', array: Uint16Array },
  FP32: { bytes: 4, kind: 'float', tf: 'DT_FLOAT', triton: 'TYPE_FP32', ort: 'float32', array: Float32Array },
  FP64: { bytes: 8, kind: 'float', tf: 'DT_DOUBLE', triton: 'TYPE_FP64', ort: 'float64', array: Float64Array },
  BYTES: { bytes: 0, kind: 'bytes', tf: 'DT_STRING', triton: 'TYPE_STRING', ort: 'string' },
});

/** Dimensions beyond this, or more elements than MAX_ELEMENTS, are refused before anything is allocated. */
export const MAX_RANK = 16;
export const MAX_ELEMENTS = 2 ** 31 - 1;

// The wire formats are little-endian and typed arrays use the host's order: both must agree.
if (endianness() !== 'LE') throw new Error('ecoml serve supports little-endian hosts only');

function invalid(message: string, details: Record<string, unknown> = {}): EcomlError {
  return new EcomlError('E_REQUEST_INVALID', message, { details });
}

export function isDatatype(value: unknown): value is Datatype {
  return typeof value === 'string' && Object.hasOwn(DATATYPE_INFO, value);
}

export function datatypeOf(value: unknown, what: string): Datatype {
  if (isDatatype(value)) return value;
  throw invalid(`${what}: unknown datatype ${JSON.stringify(value)}; valid: ${DATATYPES.join(', ')}`, { datatype: value });
}

export function datatypeOfOrt(type: string): Datatype | undefined {
  return DATATYPES.find((d) => DATATYPE_INFO[d].ort === type);
}

/** Checks a shape from a request (an array of non-negative integers) and returns its element count. */
export function checkShape(shape: unknown, what: string): number {
  if (!Array.isArray(shape)) throw invalid(`${what}: shape must be an array of non-negative integers, got ${describe(shape)}`);
  if (shape.length > MAX_RANK) throw invalid(`${what}: shape has ${shape.length} dimensions; at most ${MAX_RANK} are allowed`);
  let count = 1;
  for (const d of shape as unknown[]) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) throw invalid(`${what}: shape must be an array of non-negative integers, got ${describe(shape)}`);
    count *= d;
  }
  if (count > MAX_ELEMENTS) throw invalid(`${what}: shape [${(shape as number[]).join(', ')}] has ${count} elements; at most ${MAX_ELEMENTS} are allowed`);
  return count;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function describe(value: unknown): string {
  const text = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** JSON element values, flattened row-major from any nesting; null where a value is not an array. */
function flatten(data: WireJson, what: string): WireJson[] {
  if (!Array.isArray(data)) throw invalid(`${what}: data must be an array, got ${describe(data)}`);
  if (!data.some(Array.isArray)) return data;
  const out: WireJson[] = [];
  const stack: { readonly list: readonly WireJson[]; index: number }[] = [{ list: data, index: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as { readonly list: readonly WireJson[]; index: number };
    if (top.index === top.list.length) {
      stack.pop();
      continue;
    }
    const item = top.list[top.index++] as WireJson;
    if (Array.isArray(item)) stack.push({ list: item, index: 0 });
    else out.push(item);
  }
  return out;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

/** Options for JSON element values. */
export interface JsonDataOptions {
  /** TF Serving: a BYTES element may be {"b64": "…"}. */
  readonly b64?: boolean;
}

/**
 * A tensor from JSON element values (nested or flat, row-major), checked against its datatype and
 * its shape's element count. Numbers must fit the datatype (integers in range; no fractions for
 * integer types); BOOL takes true/false; BYTES takes strings (and {"b64"} objects where allowed).
 */
export function tensorFromJson(name: string, datatype: Datatype, shape: readonly number[], data: WireJson, options: JsonDataOptions = {}): Tensor {
  const what = `input "${name}"`;
  const count = checkShape(shape, what);
  const values = flatten(data, what);
  if (values.length !== count) {
    throw invalid(`${what}: shape [${shape.join(', ')}] needs ${count} elements, got ${values.length}`, { input: name, expected: count, got: values.length });
  }
  const info = DATATYPE_INFO[datatype];
  const bad = (i: number, why: string): EcomlError => invalid(`${what}: element ${i} ${why}, got ${describe(values[i])}`, { input: name, index: i });
  if (info.kind === 'bytes') {
    return { datatype, shape: [...shape], data: values.map((v, i) => bytesElement(v, options.b64 === true, () => bad(i, options.b64 ? 'must be a string or {"b64": …}' : 'must be a string'))) };
  }
  const Array_ = info.array as new (length: number) => NumericArray;
  const out = new Array_(count);
  switch (info.kind) {
    case 'float':
    case 'half': {
      const target = info.kind === 'half' ? new Float32Array(count) : (out as Float32Array | Float64Array);
      for (let i = 0; i < count; i++) {
        const v = values[i];
        if (typeof v === 'number') target[i] = v;
        else if (typeof v === 'bigint') target[i] = Number(v);
        else throw bad(i, `must be a number for ${datatype}`);
      }
      if (info.kind === 'half') for (let i = 0; i < count; i++) (out as Uint16Array)[i] = float32ToFloat16Bits(target[i] as number);
      break;
    }
    case 'bool':
      for (let i = 0; i < count; i++) {
        const v = values[i];
        if (typeof v !== 'boolean') throw bad(i, 'must be true or false for BOOL');
        (out as Uint8Array)[i] = v ? 1 : 0;
      }
      break;
    case 'int': {
      const [min, max] = (info.range as readonly [bigint, bigint]).map(Number) as [number, number];
      for (let i = 0; i < count; i++) {
        const v = values[i];
        const n = typeof v === 'bigint' ? Number(v) : v;
        if (typeof n !== 'number' || !Number.isInteger(n)) throw bad(i, `must be an integer for ${datatype}`);
        if (n < min || n > max) throw bad(i, `is outside ${datatype}'s range ${min}…${max}`);
        (out as Int32Array)[i] = n;
      }
      break;
    }
    case 'bigint': {
      const [min, max] = info.range as readonly [bigint, bigint];
      for (let i = 0; i < count; i++) {
        const v = values[i];
        if (!(typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v)))) throw bad(i, `must be an integer for ${datatype}`);
        const b = BigInt(v);
        if (b < min || b > max) throw bad(i, `is outside ${datatype}'s range ${min}…${max}`);
        (out as BigInt64Array)[i] = b;
      }
      break;
    }
  }
  return { datatype, shape: [...shape], data: out };
}

function bytesElement(value: WireJson | undefined, b64: boolean, bad: () => EcomlError): Uint8Array {
  if (typeof value === 'string') return encoder.encode(value);
  if (b64 && typeof value === 'object' && value !== null && !Array.isArray(value) && typeof value.b64 === 'string' && Object.keys(value).length === 1) {
    return decodeBase64(value.b64, bad);
  }
  throw bad();
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Strict base64 (standard, padded; or URL-safe, unpadded, which TF Serving also takes). */
export function decodeBase64(text: string, bad: () => EcomlError): Uint8Array {
  if (BASE64.test(text)) return new Uint8Array(Buffer.from(text, 'base64'));
  if (BASE64URL.test(text) && text.length % 4 !== 1) return new Uint8Array(Buffer.from(text, 'base64url'));
  throw bad();
}

/** Row-major element values as JSON: numbers (integers beyond 2^53 as bigint), booleans, or strings for BYTES. */
export function tensorToJson(tensor: Tensor, options: { readonly bytesAs?: 'string' | 'b64' } = {}): WireJson[] {
  const info = DATATYPE_INFO[tensor.datatype];
  const data = tensor.data;
  switch (info.kind) {
    case 'bytes':
      return (data as readonly Uint8Array[]).map((b) => (options.bytesAs === 'b64' ? { b64: Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64') } : decoder.decode(b)));
    case 'bool':
      return Array.from(data as Uint8Array, (v) => v !== 0);
    case 'bigint':
      return Array.from(data as BigInt64Array, (v) => (v >= -BigInt(Number.MAX_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v));
    case 'half':
      return Array.from(data as Uint16Array, (v) => float16BitsToFloat32(v));
    case 'float':
      return tensor.datatype === 'FP32' ? Array.from(data as Float32Array, shortestFloat32) : Array.from(data as Float64Array);
    case 'int':
      return Array.from(data as Int32Array);
  }
}

/**
 * The shortest decimal that reads back as the same float32: 0.1f prints as 0.1, not as the double
 * 0.10000000149011612, which halves JSON responses and reads as the value the model computed.
 */
export function shortestFloat32(value: number): number {
  if (!Number.isFinite(value) || Number.isInteger(value)) return value;
  for (let digits = 6; digits < 9; digits++) {
    const candidate = Number(value.toPrecision(digits));
    if (Math.fround(candidate) === value) return candidate;
  }
  return Number(value.toPrecision(9));
}

/** Nests row-major values by `shape` (TF Serving answers nested lists); a scalar shape gives the value itself. */
export function nest(values: readonly WireJson[], shape: readonly number[]): WireJson {
  if (shape.length === 0) return values[0] ?? null;
  const build = (offset: number, axis: number): WireJson[] => {
    const size = shape[axis] as number;
    if (axis === shape.length - 1) return values.slice(offset, offset + size);
    const stride = elementCount(shape.slice(axis + 1));
    return Array.from({ length: size }, (_, i) => build(offset + i * stride, axis + 1));
  };
  return build(0, 0);
}

/** Bytes of one tensor on the binary wire (BYTES: 4-byte little-endian length before each element). */
export function tensorByteLength(tensor: Tensor): number {
  const info = DATATYPE_INFO[tensor.datatype];
  if (info.kind !== 'bytes') return (tensor.data as NumericArray).byteLength;
  return (tensor.data as readonly Uint8Array[]).reduce((n, b) => n + 4 + b.byteLength, 0);
}

/** The tensor's binary wire form: a view of its typed array (no copy), or length-prefixed BYTES elements. */
export function tensorToBytes(tensor: Tensor): Uint8Array {
  const info = DATATYPE_INFO[tensor.datatype];
  if (info.kind !== 'bytes') {
    const data = tensor.data as NumericArray;
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  const elements = tensor.data as readonly Uint8Array[];
  const out = new Uint8Array(tensorByteLength(tensor));
  const view = new DataView(out.buffer);
  let offset = 0;
  for (const b of elements) {
    view.setUint32(offset, b.byteLength, true);
    out.set(b, offset + 4);
    offset += 4 + b.byteLength;
  }
  return out;
}

/**
 * A tensor from its binary wire form, checked against the shape's element count. Numeric data is
 * copied into a fresh, aligned buffer that the tensor owns (and may hand to a worker thread).
 */
export function tensorFromBytes(name: string, datatype: Datatype, shape: readonly number[], bytes: Uint8Array): Tensor {
  const what = `input "${name}"`;
  const count = checkShape(shape, what);
  const info = DATATYPE_INFO[datatype];
  if (info.kind === 'bytes') return { datatype, shape: [...shape], data: bytesElements(what, count, bytes) };
  const expected = count * info.bytes;
  if (bytes.byteLength !== expected) {
    throw invalid(`${what}: ${datatype} shape [${shape.join(', ')}] needs ${expected} bytes of binary data, got ${bytes.byteLength}`, { input: name, expected, got: bytes.byteLength });
  }
  const Array_ = info.array as new (length: number) => NumericArray;
  const out = new Array_(count);
  new Uint8Array(out.buffer).set(bytes);
  if (info.kind === 'bool' && (out as Uint8Array).some((v) => v > 1)) throw invalid(`${what}: BOOL elements must be 0 or 1`, { input: name });
  return { datatype, shape: [...shape], data: out };
}

function bytesElements(what: string, count: number, bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.byteLength) {
    if (out.length === count) break;
    if (offset + 4 > bytes.byteLength) throw invalid(`${what}: BYTES element ${out.length} has a truncated length prefix`);
    const length = view.getUint32(offset, true);
    if (offset + 4 + length > bytes.byteLength) throw invalid(`${what}: BYTES element ${out.length} claims ${length} bytes but only ${bytes.byteLength - offset - 4} remain`);
    out.push(bytes.slice(offset + 4, offset + 4 + length));
    offset += 4 + length;
  }
  if (out.length !== count || offset !== bytes.byteLength) {
    throw invalid(`${what}: binary data holds ${out.length} BYTES element(s)${offset !== bytes.byteLength ? ' and trailing bytes' : ''}; the shape needs ${count}`);
  }
  return out;
}

// IEEE 754 half precision, round to nearest even: the FP16 datatype's JSON values cross through float32.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 | (mantissa >>> 13) : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the implicit-one mantissa right, rounding to nearest even.
    if (e < -10) return sign;
    const m = mantissa | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = m & ((1 << shift) - 1);
    let out = m >>> shift;
    if (rest > half || (rest === half && (out & 1) === 1)) out++;
    return sign | out;
  }
  let out = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rest > 0x1000 || (rest === 0x1000 && (out & 1) === 1)) out++;
  return sign | out;
}

export function float16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}
