/**
 * The one interface every emissions output (CSV, JSONL…) implements, the record it takes, and the
 * write queue they share so that every sink orders, flushes and closes the same way.
 * @module
 */

import { randomUUID } from 'node:crypto';
import { EcomlError } from '../../errors.js';
import type { Measurement } from '../types.js';

/** CodeCarbon's `tracking_mode`: whole-machine energy, or energy attributed to this process. */
export type TrackingMode = 'machine' | 'process';

/** What a measurement belongs to: CodeCarbon's run columns, and where it ran. */
export interface RunMetadata {
  readonly projectName: string;
  readonly runId: string;
  readonly experimentId?: string;
  /** Default: derived from the components' models (see `trackingModeOf`). */
  readonly trackingMode?: TrackingMode;
  /** Province, state or city, as CodeCarbon's `region`. */
  readonly region?: string;
  /** e.g. 'gcp', 'aws', 'azure'; setting it marks the row `on_cloud = Y`. */
  readonly cloudProvider?: string;
  readonly cloudRegion?: string;
  readonly longitude?: number;
  readonly latitude?: number;
}

/** One line of output: a metered window and the run it belongs to. */
export interface EmissionsRecord {
  readonly run: RunMetadata;
  readonly measurement: Measurement;
}

export interface EmissionsSink {
  /** Where the records go, for messages. */
  readonly target: string;
  /** Appends one record; writes land in call order, never interleaved. */
  write(record: EmissionsRecord): Promise<void>;
  /** Waits for pending writes; idempotent. Writing afterwards rejects. */
  close(): Promise<void>;
}

/** Run metadata with CodeCarbon's default project name and a fresh run id, as CodeCarbon starts a run. */
export function newRunMetadata(overrides: Partial<RunMetadata> = {}): RunMetadata {
  return { projectName: 'ecoml', runId: randomUUID(), ...overrides };
}

/**
 * A sink from a function that appends one record. Writes go through one queue: appends to one file
 * from one process never interleave, and close() has a single tail to wait on.
 */
export function createSerialSink(target: string, append: (record: EmissionsRecord) => Promise<void>): EmissionsSink {
  let tail: Promise<unknown> = Promise.resolve();
  let closed = false;
  return {
    target,
    write(record) {
      if (closed) return Promise.reject(new EcomlError('E_INTERNAL', `emissions sink ${target} is closed; write() after close()`, { details: { target } }));
      const done = tail.then(() => append(record));
      // One failed write is reported to its caller and must not poison the ones queued behind it.
      tail = done.catch(() => undefined);
      return done;
    },
    async close() {
      closed = true;
      await tail;
    },
  };
}
