/**
 * The engine layer's public surface and the engine registry.
 * @module
 */
import { createOnnxEngine } from './onnx/index.js';
import { createTfjsEngine } from './tfjs/index.js';
import type { Engine } from './types.js';

export type { BatchMetrics, CompiledModel, CompileOptions, Engine, NamedWeight } from './types.js';
export { createTfjsEngine, fromLayersModel, TfjsEngine } from './tfjs/index.js';
export type { LayersModel, LayersModelOptions, Tfjs, TfjsModel } from './tfjs/index.js';

export { createOnnxEngine, ONNX_LAYERS, supports as onnxSupports } from './onnx/index.js';
export type { OnnxEngineOptions } from './onnx/index.js';

/** Every engine by name, as plain data; each call makes fresh instances. */
export function createEngines(options: { readonly threads?: number } = {}): { readonly tfjs: Engine; readonly onnx: Engine } {
  return { tfjs: createTfjsEngine(), onnx: createOnnxEngine(options.threads !== undefined ? { threads: options.threads } : {}) } satisfies Record<string, Engine>;
}

/** The tfjs engine is the reference: it compiles every spec and writes the TF.js model format. */
export const REFERENCE_ENGINE = 'tfjs';
