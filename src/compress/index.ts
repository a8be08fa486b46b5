/**
 * Compression for deployment: the ONNX codec, quantization (static int8 with calibration, dynamic
 * int8, float16), pruning (magnitude and structured), and the accuracy guard.
 * @module
 */
export { decodeModel, encodeModel, DATA_TYPE, makeValueInfo, valueInfoType } from './onnx/model.js';
export type { OnnxAttribute, OnnxGraph, OnnxModel, OnnxNode, OnnxTensor, OnnxValueInfo, OpsetId, RawField } from './onnx/model.js';
export { calibrationTargets, quantizableNodes, quantizeDynamic, quantizeStatic, withOutputs } from './quantize.js';
export type { CompressResult, NodeReport, Precision, QuantizationReport, QuantizeOptions } from './quantize.js';
export { convertToFloat16 } from './float16.js';
export { CALIBRATORS, type CalibrationMethod, type CalibrationOptions, type EntropyOptions, type MinMaxOptions, type PercentileOptions, type RangeCollector, type TensorRange } from './calibrate.js';
export { detectInt8Capability, int8CapabilityFromCpuInfo, type CpuArchitecture, type Int8Capability, type Int8CapabilityOptions } from './int8-capability.js';
export { dropPp, guardAccuracy, rankSensitivity } from './guard.js';
export type { GuardCandidate, GuardInput, GuardResult, GuardStep, LayerSensitivity } from './guard.js';
export { constantSparsity, createMagnitudePruner, keptCount, magnitudeMask, polynomialDecay, prunableKernels } from './prune.js';
export type { ConstantSparsityOptions, MagnitudePruner, MagnitudePrunerOptions, PolynomialDecayOptions, PruningSchedule, ScheduleStep } from './prune.js';
export { structuredPrune } from './structured.js';
export type { PrunedLayer, StructuredPruneOptions, StructuredPruneReport, StructuredPruneResult, UnprunedLayer } from './structured.js';
