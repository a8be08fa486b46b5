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
export { TPESampler, splitTrials } from './samplers/tpe.js';
export type { TpeOptions, TrialSplit } from './samplers/tpe.js';
export { GridSampler, gridCombinations, gridValues, gridWalk } from './samplers/grid.js';
export { NSGA2_DEFAULTS, Nsga2Sampler, type Nsga2Settings } from './samplers/nsga2.js';
export { parameterImportances, type Importance, type ImportanceOptions } from './importance.js';
export { SAVED_ENERGY_METHOD, energySaved, energySpent, studyReport, toCsv, trialRows, type BestTrial, type EnergySaved, type EnergySpent, type Lineage, type ReportInput, type StudyReport, type TrialRow } from './report.js';
export { TrialPruned } from './pruner.js';
export type { Pruner, PrunerFactory, PrunerOptions, TrialPlan } from './pruner.js';
export { NopPruner } from './pruners/nop.js';
export { MedianPruner, isFirstInIntervalStep, nanPercentile } from './pruners/median.js';
export type { PercentilePrunerOptions } from './pruners/median.js';
export { SuccessiveHalvingPruner, isParetoPromotable, isPromotable, paretoRanks } from './pruners/asha.js';
export type { ParetoRank, SuccessiveHalvingOptions } from './pruners/asha.js';
export { HyperbandPruner, hyperbandBracketCount, hyperbandBrackets, hyperbandTotals } from './pruners/hyperband.js';
export type { HyperbandBracket, HyperbandOptions, HyperbandRound, HyperbandTotals } from './pruners/hyperband.js';
export { createPruners, createSamplers } from './registry.js';
export { bestTrial, storageErrors } from './storage.js';
export type { CreateStudyInput, Objectives, StudyRecord, StudyStatus, StudyStorage, TrialUpdate } from './storage.js';
export { MemoryStudyStorage } from './storage/memory.js';
export { SqliteStudyStorage } from './storage/sqlite.js';
export { TRIAL_OBJECTIVES, inferDirection, parseConstraint, parseObjective } from './objectives.js';
export { optimize } from './define-by-run.js';
export type { NumberRange, ObjectiveResult, OptimizeOptions, Trial } from './define-by-run.js';
export { MAX_COLLISIONS, MAX_CONSECUTIVE_FAILED_TRIALS, combineSummaries, formatResultsSummary, runStudy, scoreTrial } from './study.js';
export type { ExecutionResult, RunTrial, StudyOptions, StudyResult, TrialContext } from './study.js';
