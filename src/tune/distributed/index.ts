/**
 * Trials on a BullMQ queue in Redis: one coordinator enqueues and decides, any number of workers
 * run. Generic: a job is a JSON payload in and a JSON value out, with progress reports between.
 * @module
 */
export { createQueueRunner, type OnReport, type QueueRunner, type QueueRunnerOptions } from './coordinator.js';
export { startQueueWorker, type Execute, type ExecuteContext, type QueueWorker, type QueueWorkerOptions } from './worker.js';
export { parseQueueUrl, type QueueTarget } from './connection.js';
export { JobPrunedError, PRUNED_ERROR_NAME, type JsonValue } from './protocol.js';
