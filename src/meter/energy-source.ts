/**
 * The energy plug-in point. A source reports cumulative energy per component since it was opened
 * (its first successful probe), so any window's energy is the difference of two readings.
 * @module
 */

import type { ComponentEnergy } from './types.js';

export type ProbeResult = { readonly available: true } | { readonly available: false; readonly reason: string };

export interface SourceReading {
  /** Cumulative joules per component since the source was opened, each labelled with method and model. */
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
  /** Present on sources that must be polled (counter wrap tracking, power integration); the meter calls it periodically. */
  sample?(): Promise<void>;
  /** Releases the source; idempotent. */
  close(): Promise<void>;
}
