/**
 * Where measurements go: CodeCarbon-compatible emissions.csv, JSON Lines, Prometheus metrics and a
 * small exporter server.
 * @module
 */

export { createSerialSink, newRunMetadata, type EmissionsRecord, type EmissionsSink, type RunMetadata, type TrackingMode } from './sink.js';
export {
  appendEmissionsCsv,
  CODECARBON_COLUMNS,
  createCodeCarbonCsvSink,
  csvField,
  csvLine,
  describeHost,
  toCodeCarbonRow,
  trackingModeOf,
  type CodeCarbonColumn,
  type CodeCarbonCsvSinkOptions,
  type CodeCarbonRow,
  type HostInfo,
} from './codecarbon-csv.js';
export { appendEmissionsJsonl, createJsonlSink, readEmissionsJsonl, toJsonLine, type JsonlSinkOptions } from './jsonl.js';
export { defaultSourceOf, meterMetricNames, registerMeterMetrics, type MeterMetrics, type MeterMetricsOptions } from './prometheus.js';
export { heatJoulesOf } from './extensions.js';
export { buildMeterServer, listenFailure, type ListenOptions, type MeterServer, type MeterServerOptions, type MeterServerSummary } from './metrics-server.js';
export { startWindowLoop, type WindowLoop, type WindowLoopOptions, type WindowLoopSummary } from './window-loop.js';
