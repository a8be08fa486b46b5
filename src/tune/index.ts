/**
 * Hyperparameter search: the space, the sampler/pruner/storage seams with their built-in
 * implementations, and the study loop.
 * @module
 */
export { createSearchSpace, drawSpace, gridSize, isActive, probToValue, pyFloorDiv, valueToProb } from './space.js';
export type { HyperparameterInput, Sampling, SearchSpace, SpaceEntry } from './space.js';
export { averageCurves, bestTrials, deriveSeed, isBetter, scoreCurve, scoreExecutions, valuesHash } from './trial.js';
export type { Constraint, Direction, EpochMetrics, ExecutionRecord, FrozenTrial, IntermediateValue, Objective, StudyView, TrialAttrs, TrialState } from './trial.js';
export type { SampleContext, Sampler, SamplerFactory, SamplerOptions, TrialDraw } from './sampler.js';
export { constrainedDominates, crowdingDistance, dominates, hypervolume2d, nonDominatedSort, paretoFront, violationOf } from './pareto.js';
export type { Scored } from './pareto.js';
export { RandomSampler } from './samplers/random.js';
export { NSGA2_DEFAULTS, Nsga2Sampler, type Nsga2Settings } from './samplers/nsga2.js';
export { parameterImportances, type Importance, type ImportanceOptions } from './importance.js';
export { SAVED_ENERGY_METHOD, energySaved, energySpent, studyReport, toCsv, trialRows, type BestTrial, type EnergySaved, type EnergySpent, type Lineage, type ReportInput, type StudyReport, type TrialRow } from './report.js';
export { TrialPruned } from './pruner.js';
export type { Pruner, PrunerFactory, PrunerOptions, TrialPlan } from './pruner.js';
export { NopPruner } from './pruners/nop.js';
export { createPruners, createSamplers } from './registry.js';
export { bestTrial, storageErrors } from './storage.js';
export type { CreateStudyInput, Objectives, StudyRecord, StudyStatus, StudyStorage, TrialUpdate } from './storage.js';
export { MemoryStudyStorage } from './storage/memory.js';
export { SqliteStudyStorage } from './storage/sqlite.js';
export { MAX_COLLISIONS, MAX_CONSECUTIVE_FAILED_TRIALS, combineSummaries, formatResultsSummary, runStudy, scoreTrial } from './study.js';
export type { ExecutionResult, RunTrial, StudyOptions, StudyResult, TrialContext } from './study.js';
