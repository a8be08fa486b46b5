/**
 * The model server's public surface: `startServer` (TF Serving REST and the Open Inference
 * Protocol on one port, ONNX and TF.js runtimes in worker threads, dynamic batching, energy per
 * model and per request), its defaults, and a typed client for either protocol.
 * @module
 */
import type { ServeDefaults } from './models.js';

export { startServer, PROTOCOLS, type ModelServer, type ModelSource, type ServeOptions, type ServeSummary } from './server.js';
export type { ServeDefaults, VersionInfo, VersionStatus, ResolvedFiles } from './models.js';
export { createFileResolver, ONNX_FILE, TFJS_FILE, type FileResolverOptions } from './files.js';
export type { BatchingSettings } from './batcher.js';
export type { EnergyAmount, LabelledEnergy, ModelUsage, RequestRecord, WindowAttribution } from './energy.js';
export { DATATYPES, type Datatype, type Tensor, type TensorData } from './tensors.js';
export type { Signature, TensorSignature, Runtime, LoadedModel } from './runtimes/runtime.js';
export { createOnnxRuntime } from './runtimes/onnx.js';
export { createTfjsRuntime } from './runtimes/tfjs.js';
export { CLIENT_PROTOCOLS, createClient, type ClientOptions, type ClientProtocol, type InferenceClient, type InferOptions, type InferResult, type ModelMetadata, type RequestEnergy } from './client.js';

/**
 * Server-wide defaults. Dynamic batching is on, with no added delay: requests merge only when they
 * queue behind a busy instance, so batching costs no latency. Idle models unload after 5 minutes
 * (Ollama's keep-alive) and reload on their next request.
 */
export const DEFAULT_SERVE: ServeDefaults = Object.freeze({
  threads: 1,
  instances: 1,
  idleTimeoutS: 300,
  batching: true,
  maxBatchSize: 64,
  maxQueueDelayMs: 0,
  maxQueueSize: 1024,
  timeoutMs: 30_000,
});
