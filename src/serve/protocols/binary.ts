/**
 * Triton's binary tensor data extension to the Open Inference Protocol, the default of tritonclient
 * and perf_analyzer: a body is a JSON header of `Inference-Header-Content-Length` bytes followed by
 * the tensors' raw little-endian bytes, in the header's order, each sized by its
 * `parameters.binary_data_size`. Pure functions over bytes; the v2 protocol decides what they mean.
 * @module
 */
import { EcomlError } from '../../errors.js';

export const HEADER_LENGTH_HEADER = 'inference-header-content-length';

function invalid(message: string, details: Record<string, unknown> = {}): EcomlError {
  return new EcomlError('E_REQUEST_INVALID', message, { details });
}

/** The declared JSON header length: a non-negative decimal integer no longer than the body. */
export function parseHeaderLength(value: string | string[] | undefined, bodyLength: number): number | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || !/^\s*\d{1,15}\s*$/.test(text)) {
    throw invalid(`Inference-Header-Content-Length must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  const length = Number(text);
  if (length > bodyLength) throw invalid(`Inference-Header-Content-Length is ${length} but the body has only ${bodyLength} bytes`, { headerLength: length, bodyLength });
  return length;
}

export interface BinarySplit {
  /** The JSON header, as text. */
  readonly header: string;
  /** Everything after the header: the tensors' bytes. */
  readonly binary: Uint8Array;
}

export function splitBinaryBody(body: Uint8Array, headerLength: number): BinarySplit {
  const header = Buffer.from(body.buffer, body.byteOffset, headerLength).toString('utf8');
  return { header, binary: body.subarray(headerLength) };
}

/**
 * Each tensor's slice of the binary section, in order; a size of undefined means the tensor came
 * as JSON and takes no bytes. The sizes must add up to the section exactly.
 */
export function sliceBinarySection(sizes: readonly (number | undefined)[], binary: Uint8Array, names: readonly string[]): (Uint8Array | undefined)[] {
  let offset = 0;
  const slices = sizes.map((size, i) => {
    if (size === undefined) return undefined;
    const name = names[i] ?? `#${i}`;
    if (!Number.isSafeInteger(size) || size < 0) throw invalid(`input "${name}": binary_data_size must be a non-negative integer, got ${JSON.stringify(size)}`, { input: name });
    if (offset + size > binary.byteLength) {
      throw invalid(`input "${name}": binary_data_size ${size} runs past the end of the body (${binary.byteLength - offset} bytes left)`, { input: name, size, left: binary.byteLength - offset });
    }
    const slice = binary.subarray(offset, offset + size);
    offset += size;
    return slice;
  });
  if (offset !== binary.byteLength) {
    throw invalid(`the body has ${binary.byteLength - offset} bytes after the last binary tensor; binary_data_size must account for every byte`, { extra: binary.byteLength - offset });
  }
  return slices;
}

/** A response body: the JSON header, then each binary output's bytes in order. */
export function encodeBinaryBody(header: string, chunks: readonly Uint8Array[]): { readonly body: Buffer; readonly headerLength: number } {
  const head = Buffer.from(header, 'utf8');
  return { body: Buffer.concat([head, ...chunks]), headerLength: head.byteLength };
}
