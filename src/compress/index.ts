export { CALIBRATORS, type CalibrationMethod, type CalibrationOptions, type EntropyOptions, type MinMaxOptions, type PercentileOptions, type RangeCollector, type TensorRange } from './calibrate.js';
export { detectInt8Capability, int8CapabilityFromCpuInfo, type CpuArchitecture, type Int8Capability, type Int8CapabilityOptions } from './int8-capability.js';
export { dropPp, guardAccuracy, rankSensitivity } from './guard.js';
export type { GuardCandidate, GuardInput, GuardResult, GuardStep, LayerSensitivity } from './guard.js';
