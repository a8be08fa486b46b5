/**
 * How often sources that need polling are sampled: 1 s, as CodeCarbon's power monitor, Carbontracker
 * and experiment-impact-tracker do. That is far inside a RAPL wrap period (minutes) and fine-grained
 * enough for power integration.
 * @module
 */

export const DEFAULT_SAMPLING_INTERVAL_MS = 1000;
