/**
 * The engine seam: everything training, tuning and prediction need from a tensor runtime.
 * The tfjs engine (tfjs-backend-wasm) is the reference; faster engines (ONNX Runtime) plug in here.
 * Data crosses this seam as typed arrays, never as runtime tensors.
 * @module
 */
import type { ModelSpec } from '../models/spec.js';

export interface BatchMetrics {
  readonly loss: number;
  /** Fraction in [0, 1]; present when the spec asks for accuracy. */
  readonly accuracy?: number;
}

export interface NamedWeight {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

/**
 * What evaluation and prediction need: a model of `spec` that predicts, whether it can also train
 * (a CompiledModel) or is an inference graph only (a compressed model's ONNX file).
 */
export interface Predictor {
  readonly engine: string;
  readonly spec: ModelSpec;
  /** Loss and metrics over `n` samples (no weight update), computed in batches of `batchSize`. */
  evaluate(x: Float32Array, y: Int32Array, n: number, batchSize: number): Promise<BatchMetrics>;
  /** Class probabilities, row-major n × numClasses. */
  predict(x: Float32Array, n: number, batchSize?: number): Promise<Float32Array>;
  readonly parameterCount: number;
  readonly flopsPerSample: number;
  dispose(): void;
}

/** A model compiled for one engine: weights, optimizer state and the compiled graphs. */
export interface CompiledModel extends Predictor {
  /**
   * One optimizer step on a batch of `n` samples. A model compiled for distillation takes the
   * teacher's class probabilities for the batch (`n` × numClasses, row-major) and refuses to step
   * without them; any other model refuses them. The loss reported is the one trained on;
   * `evaluate` still reports the spec's own loss (no teacher there).
   */
  trainBatch(x: Float32Array, y: Int32Array, n: number, teacher?: Float32Array): Promise<BatchMetrics>;
  /** The weights in the tfjs engine's names and layouts (asynchronous: a GPU engine reads them back from the device). */
  getWeights(): Promise<NamedWeight[]>;
  setWeights(weights: readonly NamedWeight[]): void;
  /** Optimizer state (moments, step count) so `--resume` continues exactly. */
  getOptimizerState(): Promise<NamedWeight[]>;
  setOptimizerState(state: readonly NamedWeight[]): Promise<void>;
  /** Writes the engine's native model files (for tfjs: model.json + weight shards) into `dir`, creating it. */
  saveTo(dir: string): Promise<{ files: string[] }>;
}

/**
 * Knowledge distillation (Hinton et al. 2015, as Keras' example writes it): the loss becomes
 * α · CE(y, softmax(z)) + (1 − α) · T² · KL(softmax(log p_t / T) ‖ softmax(z / T)), with z the
 * student's logits and p_t the teacher's probabilities. DISTILLATION_DEFAULTS holds Keras' values.
 */
export interface Distillation {
  /** T > 0: how much both distributions are softened. */
  readonly temperature: number;
  /** α in [0, 1]: the hard-label term's weight; 1 is ordinary training. */
  readonly alpha: number;
}

export interface CompileOptions {
  readonly seed: number;
  /** Train from a teacher's probabilities as well as the labels (see CompiledModel.trainBatch). */
  readonly distillation?: Distillation;
}

export interface Engine {
  readonly name: string;
  /** Why this engine cannot compile `spec` (e.g. the first unsupported layer), or undefined when it can; absent means every spec (the tfjs reference engine). */
  unsupportedReason?(spec: ModelSpec): string | undefined;
  /** Prepares the runtime (e.g. loads the wasm backend). Idempotent. */
  ready(): Promise<void>;
  compile(spec: ModelSpec, options: CompileOptions): Promise<CompiledModel>;
  /** Loads native model files written by `saveTo` (weights included) for `spec`. */
  load(dir: string, spec: ModelSpec): Promise<CompiledModel>;
  /** Live runtime tensors, for leak checks. */
  liveTensors(): number;
}

/**
 * Element types by ONNX Runtime's names, which both runtimes' inference adapters use (tfjs's float32,
 * int32, bool and string are among them).
 */
export type ElementType = 'bool' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'int8' | 'int16' | 'int32' | 'int64' | 'float16' | 'float32' | 'float64' | 'string';

export type HostData =
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Float32Array
  | Float64Array
  | readonly string[];

/** A tensor in host memory, as it crosses an inference adapter. */
export interface HostTensor {
  readonly type: ElementType;
  readonly dims: readonly number[];
  readonly data: HostData;
}

/** One input or output of a model: -1 in `shape` where any size goes (the batch, a sequence…). */
export interface TensorSpec {
  readonly name: string;
  readonly type: ElementType;
  readonly shape: readonly number[];
}

/**
 * A model loaded for inference only, whatever its origin (any ONNX file, any TF.js layers model):
 * what the model server runs. `run` computes the named outputs from named inputs.
 */
export interface InferenceModel {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  run(feeds: Readonly<Record<string, HostTensor>>, outputs: readonly string[]): Promise<Record<string, HostTensor>>;
  release(): Promise<void>;
}
