/**
 * The model layer's public surface: spec files, the layer registry, profiles and model directories.
 * @module
 */
export * from './spec.js';
export { ACTIVATIONS, LAYER_TYPES, analyzeLayer, isLayerType, parseLayerConfig } from './layers.js';
export type { Activation, LayerAnalysis, LayerConfigOf, LayerType, RecurrentLayerConfig, Shape, TypedLayerConfig } from './layers.js';
export { defaultHpValues, defineSpec, loadSpecFile, modelProfile, parseSpecText, resolveModelSpec } from './load.js';
export type { LayerProfile, ModelProfile, ResolveOptions, SpecInput } from './load.js';
export { checkModelDirTarget, loadModelDir, readModelDir, saveModelDir, SIDECAR_FILE, SIDECAR_FORMAT } from './artifact.js';
export type { ModelDirProfile, ModelSidecar, SavableModel, SidecarInput } from './artifact.js';
