/**
 * The runtime seam: how the server loads a model's files and runs them. Each implementation runs
 * its models off the event loop (ONNX Runtime's and tfjs's inference block the thread they run
 * on) and answers the same contract (test/serve/runtime.suite.ts).
 * @module
 */
import type { Preprocessing } from '../../data/types.js';
import type { Device } from '../../engine/index.js';
import type { Datatype, Tensor } from '../tensors.js';

/** One input or output as clients see it: -1 in `shape` where any size goes. */
export interface TensorSignature {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: readonly number[];
}

export interface Signature {
  readonly inputs: readonly TensorSignature[];
  readonly outputs: readonly TensorSignature[];
}

export interface RuntimeLoadOptions {
  /** The ONNX file, or the TF.js model's directory. */
  readonly source: string;
  /** Intra-op threads per instance. */
  readonly threads: number;
  /** Instances that run in parallel, each on its own thread with its own copy of the weights. */
  readonly instances: number;
  readonly device?: Device;
  readonly preprocessing?: { readonly input?: string; readonly record: Preprocessing };
}

export interface InferOutcome {
  readonly outputs: ReadonlyMap<string, Tensor>;
  /** Time the model spent computing, on the instance that ran it. */
  readonly computeMs: number;
}

/**
 * Runs an instance may hold at once: the one it computes and the next, queued in its own thread so
 * it starts without a round trip through the main thread. The batcher sends a second run to a busy
 * instance only when it is a full batch (waiting could not have made it larger).
 */
export const PIPELINE_DEPTH = 2;

export interface LoadedModel {
  readonly signature: Signature;
  readonly instances: number;
  /** Host memory the model's instances hold, estimated from the weights' bytes. */
  readonly memoryBytes: number;
  /** Runs on the least busy instance (up to PIPELINE_DEPTH each), or waits. Inputs are taken over (their buffers may move to another thread). */
  infer(inputs: ReadonlyMap<string, Tensor>, outputs: readonly string[]): Promise<InferOutcome>;
  /** Waits for runs in progress, then frees every instance; later infer calls fail with E_MODEL_UNAVAILABLE. Idempotent. */
  unload(): Promise<void>;
}

export interface Runtime {
  readonly name: string;
  /** The bytes one instance of the model at `source` would hold, from its files, before loading it. */
  weightBytes(source: string): Promise<number>;
  /** Loads the model's files (for onnx a .onnx file, for tfjs a directory with model.json); anything else fails with E_MODEL_CORRUPT. */
  load(options: RuntimeLoadOptions): Promise<LoadedModel>;
}
