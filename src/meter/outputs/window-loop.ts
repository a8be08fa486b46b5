/**
 * Back-to-back meter windows: every interval the open window ends and the next begins at the same
 * instant, so no energy falls between them. The meter exporter and the model server both run one.
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { EcomlError, toEcomlError } from '../../errors.js';
import type { Meter, MeterWindow } from '../meter.js';
import { sumMeasurements } from '../totals.js';
import type { Measurement } from '../types.js';

export interface WindowLoopOptions {
  readonly meter: Pick<Meter, 'begin'>;
  /** Window length in milliseconds. */
  readonly interval: number;
  /**
   * The length of the next window, asked as each one begins (default: `interval`): a server that
   * had nothing to do can meter in longer windows and wake less often.
   */
  readonly nextInterval?: () => number;
  /** The total's label. */
  readonly label: string;
  /** Called with every window in turn; a rejection counts as a failed window. */
  readonly onWindow?: (measurement: Measurement) => void | Promise<void>;
  /** Called when a window cannot be read or handled; the loop carries on with the next one. */
  readonly onError?: (error: EcomlError) => void;
}

export interface WindowLoopSummary {
  readonly windows: number;
  readonly failedWindows: number;
  /** All windows added up; absent when none completed. */
  readonly total?: Measurement;
}

export interface WindowLoop extends WindowLoopSummary {
  /** When the last window ended (ISO 8601). */
  readonly lastWindowAt?: string;
  /** The last failure, cleared by the next window that succeeds. */
  readonly lastError?: EcomlError;
  /** Ends the open window now and begins the next (e.g. when work starts after an idle spell). */
  cut(): void;
  /** Ends the loop after observing the last, partial window; idempotent. */
  stop(): Promise<WindowLoopSummary>;
}

export function checkInterval(interval: number): void {
  if (!(Number.isFinite(interval) && interval > 0)) {
    throw new EcomlError('E_CONFIG_INVALID', `interval must be a positive number of milliseconds, got ${interval}`, { details: { interval } });
  }
}

export function startWindowLoop(options: WindowLoopOptions): WindowLoop {
  const { meter, interval } = options;
  checkInterval(interval);
  let windows = 0;
  let failedWindows = 0;
  let total: Measurement | undefined;
  let lastWindowAt: string | undefined;
  let lastError: EcomlError | undefined;
  let current: MeterWindow | undefined;
  let sequence = 0;

  const fail = (error: unknown): void => {
    failedWindows++;
    lastError = toEcomlError(error);
    options.onError?.(lastError);
  };

  const record = async (measurement: Measurement): Promise<void> => {
    windows++;
    // A running sum, not a list: the loop may run for weeks.
    total = total === undefined ? measurement : sumMeasurements(options.label, [total, measurement]);
    lastWindowAt = new Date(Date.parse(measurement.startedAt) + measurement.durationS * 1000).toISOString();
    lastError = undefined;
    await options.onWindow?.(measurement);
  };

  /** Ends the open window and (unless final) opens the next at the same instant. */
  const roll = async (final: boolean): Promise<void> => {
    const previous = current;
    const [ended, begun] = await Promise.allSettled([previous?.end(), final ? undefined : meter.begin(`window ${++sequence}`)]);
    current = begun.status === 'fulfilled' ? begun.value : undefined;
    if (begun.status === 'rejected') fail(begun.reason);
    if (ended.status === 'rejected') fail(ended.reason);
    else if (ended.value !== undefined) {
      try {
        await record(ended.value);
      } catch (error) {
        fail(error);
      }
    }
  };

  const stopLoop = new AbortController();
  let wake: AbortController | undefined;
  const loop = (async (): Promise<void> => {
    await roll(false);
    while (!stopLoop.signal.aborted) {
      wake = new AbortController();
      try {
        await sleep(options.nextInterval?.() ?? interval, undefined, { signal: AbortSignal.any([stopLoop.signal, wake.signal]) });
      } catch {
        if (stopLoop.signal.aborted) break;
      }
      await roll(false);
    }
    await roll(true);
  })();

  let stopping: Promise<WindowLoopSummary> | undefined;
  return {
    get windows() {
      return windows;
    },
    get failedWindows() {
      return failedWindows;
    },
    get total() {
      return total;
    },
    get lastWindowAt() {
      return lastWindowAt;
    },
    get lastError() {
      return lastError;
    },
    cut() {
      wake?.abort();
    },
    stop() {
      stopping ??= (async () => {
        stopLoop.abort();
        await loop;
        return { windows, failedWindows, ...(total === undefined ? {} : { total }) };
      })();
      return stopping;
    },
  };
}
