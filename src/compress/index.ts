/**
 * Compression for deployment: the public surface.
 * @module
 */
export { constantSparsity, createMagnitudePruner, keptCount, magnitudeMask, polynomialDecay, prunableKernels } from './prune.js';
export type { ConstantSparsityOptions, MagnitudePruner, MagnitudePrunerOptions, PolynomialDecayOptions, PruningSchedule, ScheduleStep } from './prune.js';
export { structuredPrune } from './structured.js';
export type { PrunedLayer, StructuredPruneOptions, StructuredPruneReport, StructuredPruneResult, UnprunedLayer } from './structured.js';
