/**
 * TF.js layers models (model.json + shards) on tfjs's wasm backend, each instance a worker thread:
 * the fallback for models ONNX Runtime cannot take, and the browser format served as it is.
 * @module
 */
import { layersModelBytes } from '../../engine/index.js';
import type { Runtime } from './runtime.js';
import { workerRuntime } from './worker-pool.js';

export function createTfjsRuntime(): Runtime {
  return workerRuntime('tfjs', layersModelBytes);
}
