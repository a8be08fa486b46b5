/**
 * What the protocol conformance tests need beyond the harness: the extra small ONNX models the
 * specs' test vectors call for (TF Serving's half_plus_two, a regressor, a BOOL model), raw
 * responses (compressed or binary bodies, which the harness's text body would mangle), and the
 * Triton binary tensor extension's bodies built and read by hand, as a client would.
 * @module
 */
import { gunzipSync } from 'node:zlib';
import { encodeModel, floatTensor } from '../../src/engine/onnx/protobuf.js';
import type { TestServer } from './harness.js';

/** TF Serving's canonical test model: y FP32 [batch] = x × slope + intercept (0.5 and 2: half_plus_two; 0.5 and 3: half_plus_three). */
export function halfPlusOnnx(intercept: number, slope = 0.5): Uint8Array {
  return encodeModel({
    nodes: [
      { op: 'Mul', inputs: ['x', 'slope'], outputs: ['scaled'] },
      { op: 'Add', inputs: ['scaled', 'intercept'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', type: 'float', shape: ['batch'] }],
    outputs: [{ name: 'y', type: 'float', shape: ['batch'] }],
    initializers: [floatTensor([slope], [], 'slope'), floatTensor([intercept], [], 'intercept')],
  });
}

/** y FP32 [batch, 1] = x · w for x FP32 [batch, 2] and w = [weights]: a model :regress can call. */
export function regressorOnnx(w0: number, w1: number): Uint8Array {
  return encodeModel({
    nodes: [{ op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }],
    inputs: [{ name: 'x', type: 'float', shape: ['batch', 2] }],
    outputs: [{ name: 'y', type: 'float', shape: ['batch', 1] }],
    initializers: [floatTensor([w0, w1], [2, 1], 'w')],
  });
}

/** ids INT64 [batch, n] → same INT64 [batch, n], unchanged (ONNX Runtime's int64 ReduceSum rounds through doubles past 2^53, Identity does not). */
export function int64EchoOnnx(): Uint8Array {
  return encodeModel({
    nodes: [{ op: 'Identity', inputs: ['ids'], outputs: ['same'] }],
    inputs: [{ name: 'ids', type: 'int64', shape: ['batch', 'n'] }],
    outputs: [{ name: 'same', type: 'int64', shape: ['batch', 'n'] }],
  });
}

/** flags BOOL [batch, 2] → negated BOOL [batch, 2] = not flags. */
export function notOnnx(): Uint8Array {
  return encodeModel({
    nodes: [{ op: 'Not', inputs: ['flags'], outputs: ['negated'] }],
    inputs: [{ name: 'flags', type: 'bool', shape: ['batch', 2] }],
    outputs: [{ name: 'negated', type: 'bool', shape: ['batch', 2] }],
  });
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | number | undefined>>;
  readonly raw: Buffer;
  /** The body, gunzipped when the response says it is gzip-encoded. */
  readonly plain: Buffer;
}

/** A request through fastify's inject, with the response's bytes as sent. */
export async function rawRequest(t: TestServer, method: 'GET' | 'POST', url: string, payload?: Buffer | string, headers: Record<string, string> = {}): Promise<RawResponse> {
  const response = await t.server.app.inject({ method, url, headers, ...(payload !== undefined ? { payload } : {}) });
  const raw = response.rawPayload;
  const plain = response.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
  return { status: response.statusCode, headers: response.headers, raw, plain };
}

/** A binary-extension body: the JSON header, then each chunk's bytes; and the header's length in bytes. */
export function binaryBody(header: unknown, chunks: readonly Uint8Array[]): { readonly body: Buffer; readonly headerLength: number } {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  return { body: Buffer.concat([json, ...chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength))]), headerLength: json.byteLength };
}

export function bytesOf(array: Float32Array | BigInt64Array | Uint8Array | Int32Array): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

export interface BinaryOutput {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly data?: unknown;
  readonly parameters?: { readonly binary_data_size?: number };
  /** This output's bytes, when it came binary. */
  readonly bytes?: Buffer;
}

/** Reads a binary-extension response by hand: the JSON header of Inference-Header-Content-Length bytes, then each binary output's bytes in order. */
export function readBinaryResponse(response: RawResponse): { readonly header: Record<string, unknown>; readonly outputs: readonly BinaryOutput[] } {
  const length = Number(response.headers['inference-header-content-length']);
  if (!Number.isInteger(length)) throw new Error(`no Inference-Header-Content-Length in ${JSON.stringify(response.headers)}`);
  const header = JSON.parse(response.plain.subarray(0, length).toString('utf8')) as Record<string, unknown>;
  let offset = length;
  const outputs = (header.outputs as BinaryOutput[]).map((o) => {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) return o;
    const bytes = response.plain.subarray(offset, offset + size);
    offset += size;
    return { ...o, bytes };
  });
  if (offset !== response.plain.byteLength) throw new Error(`the binary section has ${response.plain.byteLength - offset} bytes no output accounts for`);
  return { header, outputs };
}

/** A typed array over a copy of `bytes` (the slice of a Buffer need not be aligned). */
export function asFloat32(bytes: Uint8Array): number[] {
  return Array.from(new Float32Array(new Uint8Array(bytes).buffer));
}

export function asBigInt64(bytes: Uint8Array): bigint[] {
  return Array.from(new BigInt64Array(new Uint8Array(bytes).buffer));
}
