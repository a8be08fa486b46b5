/**
 * IDX files (the MNIST format): magic 0x00 0x00 <type> <ndims>, ndims big-endian uint32 sizes,
 * then the values big-endian in row-major order. Files are read once into a Buffer and decoded
 * straight into one typed array; nothing goes through JS arrays of arrays.
 * @module
 */
import { EcomlError } from '../errors.js';
import { readInputFile } from './files.js';
import { featureSize, resolveLimit } from './shape.js';
import type { Dataset } from './types.js';

export type IdxType = 'ubyte' | 'sbyte' | 'short' | 'int' | 'float' | 'double';

interface IdxTypeInfo {
  readonly name: IdxType;
  readonly code: number;
  readonly size: number;
  /** Integer types only: the values they hold. */
  readonly range?: readonly [number, number];
  readonly read: (view: DataView, offset: number) => number;
  readonly write: (view: DataView, offset: number, value: number) => void;
}

const IDX_TYPES: readonly IdxTypeInfo[] = [
  { name: 'ubyte', code: 0x08, size: 1, range: [0, 255], read: (v, o) => v.getUint8(o), write: (v, o, x) => v.setUint8(o, x) },
  { name: 'sbyte', code: 0x09, size: 1, range: [-128, 127], read: (v, o) => v.getInt8(o), write: (v, o, x) => v.setInt8(o, x) },
  { name: 'short', code: 0x0b, size: 2, range: [-32768, 32767], read: (v, o) => v.getInt16(o), write: (v, o, x) => v.setInt16(o, x) },
  { name: 'int', code: 0x0c, size: 4, range: [-2147483648, 2147483647], read: (v, o) => v.getInt32(o), write: (v, o, x) => v.setInt32(o, x) },
  { name: 'float', code: 0x0d, size: 4, read: (v, o) => v.getFloat32(o), write: (v, o, x) => v.setFloat32(o, x) },
  { name: 'double', code: 0x0e, size: 8, read: (v, o) => v.getFloat64(o), write: (v, o, x) => v.setFloat64(o, x) },
];

const TYPE_LIST = IDX_TYPES.map((t) => `0x${t.code.toString(16).padStart(2, '0')} ${t.name}`).join(', ');

/** A validated IDX file: header fields plus the buffer its data lives in. */
export interface IdxFile {
  readonly file: string;
  readonly type: IdxType;
  /** Dimension sizes; dims[0] is the number of items. */
  readonly dims: readonly number[];
  readonly buffer: Buffer;
  /** Byte offset of the first value. */
  readonly dataOffset: number;
}

function typeInfo(type: IdxType): IdxTypeInfo {
  return IDX_TYPES.find((t) => t.name === type) as IdxTypeInfo;
}

function malformed(file: string, offset: number, what: string): EcomlError {
  return new EcomlError('E_DATA_MALFORMED', `IDX file "${file}" is malformed at byte ${offset}: ${what}`, {
    details: { file, offset },
  });
}

/** Validates the header and that the data length is exactly what the dims require. */
export function parseIdx(buffer: Buffer, file: string): IdxFile {
  if (buffer.length < 4) {
    throw malformed(file, buffer.length, `file is ${buffer.length} bytes, shorter than the 4-byte magic number`);
  }
  if (buffer[0] !== 0 || buffer[1] !== 0) {
    const at = buffer[0] !== 0 ? 0 : 1;
    throw malformed(file, at, `bad magic number: the first two bytes must be 0x00 0x00 (found 0x${hex(buffer[0])} 0x${hex(buffer[1])}); not an IDX file`);
  }
  const info = IDX_TYPES.find((t) => t.code === buffer[2]);
  if (info === undefined) {
    throw malformed(file, 2, `unknown data type code 0x${hex(buffer[2])} (expected one of ${TYPE_LIST})`);
  }
  const ndims = buffer[3] as number;
  if (ndims === 0) throw malformed(file, 3, 'number of dimensions is 0');
  const headerBytes = 4 + 4 * ndims;
  if (buffer.length < headerBytes) {
    throw malformed(file, buffer.length, `header truncated: ${ndims} dimensions need a ${headerBytes}-byte header, file has ${buffer.length} bytes`);
  }
  const dims: number[] = [];
  for (let d = 0; d < ndims; d++) {
    const size = buffer.readUInt32BE(4 + 4 * d);
    if (size === 0) throw malformed(file, 4 + 4 * d, `dimension ${d} has size 0`);
    dims.push(size);
  }
  const expected = featureSize(dims) * info.size;
  const actual = buffer.length - headerBytes;
  if (actual < expected) {
    throw malformed(file, buffer.length, `truncated data: dims [${dims.join(', ')}] of ${info.name} need ${expected} data bytes after the ${headerBytes}-byte header, found ${actual}`);
  }
  if (actual > expected) {
    throw malformed(file, headerBytes + expected, `${actual - expected} unexpected bytes after the ${expected} data bytes that dims [${dims.join(', ')}] of ${info.name} need`);
  }
  return { file, type: info.name, dims, buffer, dataOffset: headerBytes };
}

function hex(byte: number | undefined): string {
  return (byte ?? 0).toString(16).padStart(2, '0');
}

export function readIdxFile(file: string): IdxFile {
  return parseIdx(readInputFile(file), file);
}

/** Encodes values as an IDX file (big-endian); the inverse of parseIdx + decodeIdx. */
export function encodeIdx(type: IdxType, dims: readonly number[], values: ArrayLike<number>): Buffer {
  const info = typeInfo(type);
  if (values.length !== featureSize(dims)) {
    throw new EcomlError('E_SHAPE_MISMATCH', `dims [${dims.join(', ')}] need ${featureSize(dims)} values, got ${values.length}`, {
      details: { dims, values: values.length },
    });
  }
  const header = 4 + 4 * dims.length;
  const buffer = Buffer.alloc(header + values.length * info.size);
  buffer[2] = info.code;
  buffer[3] = dims.length;
  dims.forEach((size, d) => buffer.writeUInt32BE(size, 4 + 4 * d));
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as number;
    // DataView would silently wrap an integer that does not fit; refuse instead.
    if (info.range !== undefined && !(Number.isInteger(value) && value >= info.range[0] && value <= info.range[1])) {
      throw new EcomlError('E_DATA_MALFORMED', `value ${value} at index ${i} is not a ${info.name} (whole number in ${info.range[0]}…${info.range[1]})`, {
        details: { index: i, value, type: info.name },
      });
    }
    info.write(view, header + i * info.size, value);
  }
  return buffer;
}

/** Decodes the first `limit` items (all by default; each prod(dims[1:]) values) into a new `make` array. */
export function decodeIdx<T extends Float32Array | Float64Array>(idx: IdxFile, make: new (length: number) => T, limit?: number): T {
  const info = typeInfo(idx.type);
  const length = resolveLimit(idx.dims[0] as number, limit) * featureSize(idx.dims.slice(1));
  const out = new make(length);
  const start = idx.buffer.byteOffset + idx.dataOffset;
  if (info.size === 1) {
    // Byte types need no byte swapping: let the engine convert the whole range natively.
    const bytes = info.name === 'ubyte' ? new Uint8Array(idx.buffer.buffer, start, length) : new Int8Array(idx.buffer.buffer, start, length);
    out.set(bytes);
    return out;
  }
  const view = new DataView(idx.buffer.buffer, start, length * info.size);
  for (let i = 0; i < length; i++) out[i] = info.read(view, i * info.size);
  return out;
}

/** One sample's shape: [h, w] images get a trailing channel axis, [k] vectors stay as they are. */
export function idxFeatureShape(dims: readonly number[]): number[] {
  const rest = dims.slice(1);
  return rest.length === 2 ? [...rest, 1] : rest;
}

export interface IdxImages {
  readonly x: Float32Array;
  readonly n: number;
  readonly featureShape: readonly number[];
  readonly valueMax?: number;
}

/** The first `limit` samples of an images (or any samples) IDX file, as float32, row-major. */
export function idxImages(idx: IdxFile, limit?: number): IdxImages {
  if (idx.dims.length < 2) {
    throw malformed(idx.file, 3, `an images/features file needs at least 2 dimensions (count, then sample shape), found ${idx.dims.length}`);
  }
  const n = resolveLimit(idx.dims[0] as number, limit);
  return {
    x: decodeIdx(idx, Float32Array, n),
    n,
    featureShape: idxFeatureShape(idx.dims),
    ...(idx.type === 'ubyte' ? { valueMax: 255 } : {}),
  };
}

/** Labels must be whole numbers in [0, numClasses); positions are reported as byte offsets. */
function labelsOf(idx: IdxFile, n: number, numClasses: number | undefined): { y: Int32Array; numClasses: number } {
  if (idx.dims.length !== 1) {
    throw malformed(idx.file, 3, `a labels file must have 1 dimension, found ${idx.dims.length}`);
  }
  const raw = decodeIdx(idx, Float64Array, n);
  const y = new Int32Array(n);
  const size = typeInfo(idx.type).size;
  let max = -1;
  for (let i = 0; i < n; i++) {
    const label = raw[i] as number;
    const problem = labelProblem(label, numClasses);
    if (problem !== undefined) throw malformed(idx.file, idx.dataOffset + i * size, `${problem} (item ${i})`);
    y[i] = label;
    if (label > max) max = label;
  }
  return { y, numClasses: numClasses ?? max + 1 };
}

function labelProblem(label: number, numClasses: number | undefined): string | undefined {
  if (!Number.isInteger(label)) return `label ${label} is not a whole number`;
  if (label < 0) return `label out of range: ${label} is negative`;
  if (numClasses !== undefined && label >= numClasses) return `label out of range: ${label} ≥ numClasses ${numClasses}`;
  return undefined;
}

export interface IdxPairOptions {
  readonly name?: string;
  readonly limit?: number;
  /** Labels must be below this; by default it is the largest label + 1. */
  readonly numClasses?: number;
}

/** An images file and its labels file as one dataset; their item counts must agree. */
export function idxPair(images: IdxFile, labels: IdxFile, options: IdxPairOptions = {}): Dataset {
  const count = images.dims[0] as number;
  if (labels.dims[0] !== count) {
    throw new EcomlError(
      'E_DATA_MALFORMED',
      `IDX files do not pair at byte 4 (item count): images "${images.file}" has ${count} items but labels "${labels.file}" has ${labels.dims[0]}`,
      { details: { file: images.file, labelsFile: labels.file, offset: 4, imagesCount: count, labelsCount: labels.dims[0] } },
    );
  }
  const x = idxImages(images, options.limit);
  const { y, numClasses } = labelsOf(labels, x.n, options.numClasses);
  return { name: options.name ?? images.file, ...x, y, numClasses };
}

export function loadIdxPair(imagesFile: string, labelsFile: string, options: IdxPairOptions = {}): Dataset {
  return idxPair(readIdxFile(imagesFile), readIdxFile(labelsFile), options);
}
