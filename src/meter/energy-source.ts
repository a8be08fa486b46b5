/**
 * The energy plug-in point. A source reports cumulative energy per component since it was opened
 * (its first successful probe), so any window's energy is the difference of two readings.
 * @module
 */

import type { ComponentEnergy, GpuTelemetrySample } from './types.js';

export type ProbeResult = { readonly available: true } | { readonly available: false; readonly reason: string };

/** Instantaneous readings a source takes alongside energy; the meter keeps their range per window. */
export interface SourceSample {
  readonly gpuTelemetry?: readonly GpuTelemetrySample[];
}

export interface SourceReading extends SourceSample {
  /**
   * Cumulative joules per component since the source was opened, each labelled with method and model
   * and bounded by its error model (bounds.ts: withBounds). Bounds are cumulative too.
   */
  readonly components: readonly ComponentEnergy[];
  /** What this source left out and why (e.g. a GPU whose power cannot be read). */
  readonly notes?: readonly string[];
}

export interface EnergySource {
  readonly name: string;
  /** Opens the source on first success; later calls return the same outcome. */
  probe(): Promise<ProbeResult>;
  /** Throws E_METER_UNAVAILABLE when the source is unavailable or closed, or when a counter can no longer be read. */
  read(): Promise<SourceReading>;
  /** Present on sources that must be polled (counter wrap tracking, power integration, telemetry); the meter calls it periodically. */
  sample?(): Promise<SourceSample | void>;
  /**
   * The longest gap between samples the source tolerates without losing energy (e.g. a counter that
   * could wrap twice), known after a successful probe; the meter samples at least this often.
   */
  readonly maxSampleIntervalMs?: number;
  /** Releases the source; idempotent. */
  close(): Promise<void>;
}
