/**
 * What the server's main thread and its inference workers say to each other. Tensors cross as the
 * server's own Tensor type; numeric buffers are transferred, not copied.
 * @module
 */
import type { Preprocessing } from '../../data/types.js';
import type { Device } from '../../engine/index.js';
import type { ErrorCode } from '../../errors.js';
import type { Tensor } from '../tensors.js';
import type { Signature } from './runtime.js';

export type Backend = 'onnx' | 'tfjs';

/**
 * Buffers smaller than this are copied into a message rather than transferred: in a busy server a
 * transfer (detaching the buffer) measured several times slower than copying a few kilobytes.
 */
export const TRANSFER_MIN_BYTES = 64 * 1024;

export interface WorkerSetup {
  readonly backend: Backend;
  /** The ONNX file, or the TF.js model's directory. */
  readonly source: string;
  readonly threads: number;
  readonly device?: Device;
  /** An ecoml model's recorded preprocessing, applied to its (FP32) input before the model runs. */
  readonly preprocessing?: { readonly input?: string; readonly record: Preprocessing };
}

export interface NamedTensor {
  readonly name: string;
  readonly tensor: Tensor;
}

export interface WireError {
  readonly code: ErrorCode;
  readonly message: string;
}

export type FromWorker =
  | { readonly type: 'ready'; readonly signature: Signature }
  | { readonly type: 'failed'; readonly error: WireError }
  | { readonly type: 'done'; readonly id: number; readonly outputs: readonly NamedTensor[]; readonly computeMs: number }
  | { readonly type: 'error'; readonly id: number; readonly error: WireError };

export type ToWorker = { readonly type: 'run'; readonly id: number; readonly inputs: readonly NamedTensor[]; readonly outputs: readonly string[] } | { readonly type: 'close' };
