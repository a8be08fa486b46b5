/**
 * ONNX models through onnxruntime-node, each instance a worker thread with its own session
 * (intra-op threads as configured, spinning off). Serves any ONNX file ONNX Runtime opens:
 * any opset it supports, named inputs and outputs, dynamic dimensions, external-data files.
 * @module
 */
import { onnxModelBytes } from '../../engine/index.js';
import type { Runtime } from './runtime.js';
import { workerRuntime } from './worker-pool.js';

export function createOnnxRuntime(): Runtime {
  return workerRuntime('onnx', onnxModelBytes);
}
