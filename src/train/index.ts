/** Training: the engine-neutral fit loop, early stopping and checkpoints. @module */
export { fit } from './fit.js';
export type { BatchProgress, EpochMeter, EpochMetrics, EpochRecord, FitOptions, FitResult, StopReason } from './fit.js';
export { INITIAL_EARLY_STOPPING, monitorDirection, stepEarlyStopping } from './early-stopping.js';
export type { EarlyStoppingConfig, EarlyStoppingState } from './early-stopping.js';
export { readCheckpoint, writeCheckpoint } from './checkpoint.js';
export type { CheckpointState } from './checkpoint.js';
export { budgetStop, forecastRun } from './budget.js';
export type { Budget, Forecast } from './budget.js';
