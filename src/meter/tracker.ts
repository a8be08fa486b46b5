/**
 * The tracker: the meter behind the calls other tools made familiar. start()/stop() for one overall
 * measurement (CodeCarbon), track(fn) for one function, and named windows begin(name)/end(name) that
 * may nest and overlap (Zeus's begin_window/end_window). Counters are read at each window's edges;
 * between them the meter's background sampler (samplingIntervalMs, 1 s by default, shorter where RAPL
 * needs it) keeps counter-wrap tracking and power integration going, so long windows stay exact.
 * @example
 * const tracker = await createTracker({ country: 'FR' });
 * await tracker.begin('epoch 1');
 * const { result, measurement } = await tracker.track(() => evaluate(model), 'eval');
 * const epoch = await tracker.end('epoch 1');
 * await tracker.close();
 * @module
 */

import { EcomlError } from '../errors.js';
import { createMeter, type Meter, type MeterOptions, type MeterWindow } from './meter.js';
import type { Measurement } from './types.js';

/** Meter options for a meter the tracker creates and closes, or a meter of the caller's, which the caller closes. */
export type TrackerOptions = MeterOptions | { readonly meter: Meter };

export interface Tracker {
  readonly meter: Meter;
  /** The named windows open now, in the order they were begun. */
  readonly openWindows: readonly string[];
  /** Starts the overall measurement; E_CONFIG_INVALID if it is already running. */
  start(label?: string): Promise<void>;
  /** Ends the overall measurement and returns it; E_CONFIG_INVALID if it was not started. It can be started again. */
  stop(): Promise<Measurement>;
  /** Measures one function, sync or async. If it throws, its window is ended and the error passed on. */
  track<T>(fn: () => T | Promise<T>, label?: string): Promise<{ readonly result: T; readonly measurement: Measurement }>;
  /** Opens a named window; E_CONFIG_INVALID if a window of that name is open. */
  begin(name: string): Promise<void>;
  /** Ends a named window and returns its measurement; E_CONFIG_INVALID if no window of that name is open. */
  end(name: string): Promise<Measurement>;
  /** Closes the meter if the tracker created it; idempotent. Windows still open can no longer end. */
  close(): Promise<void>;
}

export async function createTracker(options: TrackerOptions = {}): Promise<Tracker> {
  const owned = !('meter' in options);
  const meter = 'meter' in options ? options.meter : await createMeter(options);
  // Windows are registered before their counters are read, so a name is taken from the moment begin is called.
  const windows = new Map<string, Promise<MeterWindow>>();
  let overall: Promise<MeterWindow> | undefined;
  let closing: Promise<void> | undefined;

  const invalid = (message: string, details: Record<string, unknown>) => new EcomlError('E_CONFIG_INVALID', message, { details });

  return {
    meter,
    get openWindows() {
      return [...windows.keys()];
    },
    async start(label = 'run') {
      if (overall) throw invalid('the tracker is already started; stop() it first', { label });
      overall = meter.begin(label);
      await overall.catch((error: unknown) => {
        overall = undefined;
        throw error;
      });
    },
    async stop() {
      if (!overall) throw invalid('the tracker was not started; call start() first', {});
      const window = overall;
      overall = undefined;
      return (await window).end();
    },
    async track(fn, label = 'track') {
      const window = await meter.begin(label);
      let result;
      try {
        result = await fn();
      } catch (error) {
        // The function's failure is what the caller needs; the window is ended only to release it.
        await window.end().catch(() => undefined);
        throw error;
      }
      return { result, measurement: await window.end() };
    },
    async begin(name) {
      if (typeof name !== 'string' || name === '') throw invalid(`a window needs a non-empty name, got ${JSON.stringify(name)}`, { name });
      if (windows.has(name)) throw invalid(`a window named "${name}" is already open; names are unique while open`, { name, open: [...windows.keys()] });
      const opening = meter.begin(name);
      windows.set(name, opening);
      await opening.catch((error: unknown) => {
        windows.delete(name);
        throw error;
      });
    },
    async end(name) {
      const opening = windows.get(name);
      if (opening === undefined) {
        const open = [...windows.keys()];
        throw invalid(`no window named "${name}" is open (open: ${open.length > 0 ? open.map((n) => `"${n}"`).join(', ') : 'none'})`, { name, open });
      }
      windows.delete(name);
      return (await opening).end();
    },
    close() {
      closing ??= owned ? meter.close() : Promise.resolve();
      return closing;
    },
  };
}
