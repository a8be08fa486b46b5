/**
 * Compression for deployment: the public surface.
 * @module
 */
export { CALIBRATORS, type CalibrationMethod, type CalibrationOptions, type EntropyOptions, type MinMaxOptions, type PercentileOptions, type RangeCollector, type TensorRange } from './calibrate.js';
export { detectInt8Capability, int8CapabilityFromCpuInfo, type CpuArchitecture, type Int8Capability, type Int8CapabilityOptions } from './int8-capability.js';
export { dropPp, guardAccuracy, rankSensitivity } from './guard.js';
export type { GuardCandidate, GuardInput, GuardResult, GuardStep, LayerSensitivity } from './guard.js';
export { constantSparsity, createMagnitudePruner, keptCount, magnitudeMask, polynomialDecay, prunableKernels } from './prune.js';
export type { ConstantSparsityOptions, MagnitudePruner, MagnitudePrunerOptions, PolynomialDecayOptions, PruningSchedule, ScheduleStep } from './prune.js';
export { structuredPrune } from './structured.js';
export type { PrunedLayer, StructuredPruneOptions, StructuredPruneReport, StructuredPruneResult, UnprunedLayer } from './structured.js';
