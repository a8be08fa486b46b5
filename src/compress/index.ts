/**
 * Compression for deployment: the public surface.
 * @module
 */
export { constantSparsity, createMagnitudePruner, keptCount, magnitudeMask, polynomialDecay, prunableKernels } from './prune.js';
export type { ConstantSparsityOptions, MagnitudePruner, MagnitudePrunerOptions, PolynomialDecayOptions, PruningSchedule, ScheduleStep } from './prune.js';
