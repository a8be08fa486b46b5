/**
 * The engine layer's public surface and the engine registry.
 * @module
 */
import { createTfjsEngine } from './tfjs/index.js';
import type { Engine } from './types.js';

export type { BatchMetrics, CompiledModel, CompileOptions, Engine, NamedWeight } from './types.js';
export { createTfjsEngine, fromLayersModel, TfjsEngine } from './tfjs/index.js';
export type { LayersModel, LayersModelOptions, Tfjs, TfjsModel } from './tfjs/index.js';

/** Every engine by name, as plain data; each call makes fresh instances. */
export function createEngines(): { readonly tfjs: Engine } {
  return { tfjs: createTfjsEngine() } satisfies Record<string, Engine>;
}
