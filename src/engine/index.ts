/**
 * The engine layer's public surface and the engine registry.
 * @module
 */
import { createOnnxEngine } from './onnx/index.js';
import { createTfjsEngine } from './tfjs/index.js';
import type { Engine } from './types.js';

export type { BatchMetrics, CompiledModel, CompileOptions, Distillation, ElementType, Engine, HostData, HostTensor, InferenceModel, NamedWeight, Predictor, TensorSpec } from './types.js';
export { DISTILLATION_DEFAULTS, kdLoss } from './distillation.js';
export { createTfjsEngine, fromLayersModel, layersModelBytes, openTfjsInference, TfjsEngine } from './tfjs/index.js';
export type { LayersModel, LayersModelOptions, Tfjs, TfjsModel } from './tfjs/index.js';

import type { OnnxEngineOptions } from './onnx/index.js';
export { createOnnxEngine, DEVICES, GRAPH_FILE, ONNX_GRAPH_ENGINE, ONNX_LAYERS, onnxModelBytes, OnnxGraphModel, openOnnxInference, supports as onnxSupports } from './onnx/index.js';
export type { Device, OnnxEngineOptions, OnnxGraphModelOptions, OnnxInferenceOptions } from './onnx/index.js';

/** Every engine by name, as plain data; each call makes fresh instances. */
export function createEngines(options: OnnxEngineOptions = {}): { readonly tfjs: Engine; readonly onnx: Engine } {
  return { tfjs: createTfjsEngine(), onnx: createOnnxEngine(options) } satisfies Record<string, Engine>;
}

/** The tfjs engine is the reference: it compiles every spec and writes the TF.js model format. */
export const REFERENCE_ENGINE = 'tfjs';
/** The onnx engine trains 3–9× faster here (bench/engine.ts); specs it cannot compile fall back to the reference. */
export const DEFAULT_ENGINE = 'onnx';
