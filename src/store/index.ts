/**
 * The run store's public surface.
 * @module
 */
export {
  DEFAULT_STORE_DIR,
  FINAL_RUN_STATUSES,
  RUN_KINDS,
  RUN_STATUSES,
  SCHEMA_VERSION,
  STORE_FILE,
  guardStore,
  openRunStore,
  resolveStoreDir,
} from './run-store.js';
export type { CreateRunInput, EpochRecord, FinalRunStatus, FinishRunInput, ListRunsOptions, RunKind, RunPart, RunRecord, RunStatus, RunStore, RunStoreOptions } from './run-store.js';
export { decodeJson, deepFreeze, encodeJson } from './json.js';
export { DEFAULT_REQUEST_LOG_ROWS, recordServeWindow, serveRequestCount, serveRequests, serveUsage, type ServeRequest, type ServeUsage, type ServeWindowRecord } from './serving.js';
