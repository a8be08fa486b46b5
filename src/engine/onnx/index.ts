/**
 * The ONNX Runtime engine's public surface. This folder is the only importer of onnxruntime-node.
 * @module
 */
export { checkSupported, supports, unsupportedReason } from './compile.js';
export { ONNX_LAYERS } from './layers/index.js';
export { createOnnxEngine, OnnxEngine, OnnxModel } from './engine.js';
export type { OnnxEngineOptions } from './engine.js';
export { DEVICES } from './device.js';
export { GRAPH_FILE, ONNX_GRAPH_ENGINE, OnnxGraphModel, type OnnxGraphModelOptions } from './graph-model.js';
export { onnxModelBytes, openOnnxInference, type OnnxInferenceOptions } from './session.js';
export type { Device } from './device.js';
