/**
 * Carbon-aware start: hold a job back until the grid is cleaner, either until its intensity drops
 * below a threshold (polled) or until the start of the greenest window in the forecast (slept until).
 * The wait is bounded, interruptible, and returned as a record the caller keeps in the run store.
 * @module
 */

import { setTimeout as sleepFor } from 'node:timers/promises';
import { EcomlError } from '../errors.js';
import { systemClock, type CarbonIntensityProvider, type Clock } from '../meter/index.js';
import { greenestStart } from '../meter/intensity/window.js';
import type { Workspace } from './workspace.js';

const MS_PER_HOUR = 3_600_000;
const MS_PER_MINUTE = 60_000;

/** Defaults: a day's wait at most (a forecast rarely reaches further); a re-check every quarter hour, the grid data's usual step. */
export const CARBON_START_DEFAULTS = Object.freeze({ maxWaitHours: 24, pollMinutes: 15, expectedHours: 1 });

/** Progress is reported at least this often while sleeping towards a start. */
const TICK_MS = 60_000;

export type CarbonStartMode = { readonly belowGPerKwh: number } | { readonly greenestWindowHours: number; readonly durationHours: number };

/** What a command asks for: the mode and its bounds, plain values (recorded as run params). */
export interface CarbonStartRequest {
  readonly mode: CarbonStartMode;
  /** Start anyway after this long; default 24 h. In greenest-window mode it also caps the horizon. */
  readonly maxWaitHours?: number;
  /** Below-threshold mode: how often the intensity is read again; default 15 min. */
  readonly pollMinutes?: number;
}

/** Said once, when waiting begins. */
export interface CarbonWait {
  readonly mode: 'below_threshold' | 'greenest_window';
  /** The planned start (greenest window) or the latest start (below threshold), ISO 8601. */
  readonly until: string;
  readonly currentGPerKwh: number;
  /** The window's expected mean intensity, or the threshold. */
  readonly targetGPerKwh: number;
  readonly source: string;
}

export interface CarbonStartCallbacks {
  readonly onWait?: (wait: CarbonWait) => void;
  /** While waiting, at least once a minute: seconds left until `until` and the latest reading. */
  readonly onTick?: (remainingS: number, currentGPerKwh: number) => void;
  /** A provider failed or nobody forecasts (the chain's warnings). */
  readonly onWarning?: (line: string) => void;
  readonly signal?: AbortSignal;
}

export interface CarbonStartOptions extends CarbonStartRequest, CarbonStartCallbacks {
  readonly provider: CarbonIntensityProvider;
  readonly location?: string;
  readonly clock?: Clock;
  /** Resolves after `ms`, or rejects when the signal aborts; default a timer. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export type CarbonStartReason = 'below_threshold' | 'greenest_window' | 'max_wait';

export interface CarbonStart {
  readonly waitedS: number;
  readonly startedAt: string;
  readonly intensityAtStartGPerKwh: number;
  readonly source: string;
  /** Why the job started: the intensity fell below the threshold, the greenest window came, or the wait ran out. */
  readonly reason: CarbonStartReason;
  /** Greenest-window mode: the mean the forecast promised over the job's expected run. */
  readonly expectedMeanGPerKwh?: number;
  readonly warnings: readonly string[];
}

const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> => sleepFor(ms, undefined, signal ? { signal } : {});

function interrupted(): EcomlError {
  return new EcomlError('E_INTERRUPTED', 'interrupted while waiting for a cleaner grid');
}

/** The warnings a chain attaches to its answers; bare providers have none. */
function warningsOf(answer: object): readonly string[] {
  return 'warnings' in answer && Array.isArray(answer.warnings) ? (answer.warnings as string[]) : [];
}

export function checkCarbonStartRequest(request: CarbonStartRequest): void {
  const bad = (what: string): EcomlError => new EcomlError('E_CONFIG_INVALID', what, { details: { ...request } });
  const positive = (x: number): boolean => Number.isFinite(x) && x > 0;
  const { mode } = request;
  if ('belowGPerKwh' in mode && !(Number.isFinite(mode.belowGPerKwh) && mode.belowGPerKwh >= 0)) throw bad(`the intensity threshold must be ≥ 0 gCO2e/kWh, got ${mode.belowGPerKwh}`);
  if ('greenestWindowHours' in mode && !positive(mode.greenestWindowHours)) throw bad(`the greenest-window horizon must be > 0 hours, got ${mode.greenestWindowHours}`);
  if ('durationHours' in mode && !positive(mode.durationHours)) throw bad(`the expected run time must be > 0 hours, got ${mode.durationHours}`);
  if (request.maxWaitHours !== undefined && !(Number.isFinite(request.maxWaitHours) && request.maxWaitHours >= 0)) throw bad(`the longest wait must be ≥ 0 hours, got ${request.maxWaitHours}`);
  if (request.pollMinutes !== undefined && !positive(request.pollMinutes)) throw bad(`the poll interval must be > 0 minutes, got ${request.pollMinutes}`);
}

/** Waits as the mode asks and returns what happened; an aborted signal ends it with E_INTERRUPTED. */
export async function waitForCarbon(options: CarbonStartOptions): Promise<CarbonStart> {
  checkCarbonStartRequest(options);
  const clock = options.clock ?? systemClock;
  const sleep = options.sleep ?? defaultSleep;
  const { provider, location, mode, signal } = options;
  const maxWaitMs = (options.maxWaitHours ?? CARBON_START_DEFAULTS.maxWaitHours) * MS_PER_HOUR;
  const warnings: string[] = [];
  const warn = (lines: readonly string[]): void => {
    for (const line of lines) {
      if (warnings.includes(line)) continue;
      warnings.push(line);
      options.onWarning?.(line);
    }
  };
  const read = async (): Promise<{ gPerKwh: number; source: string }> => {
    if (signal?.aborted) throw interrupted();
    const answer = await provider.intensityFor(location, clock.wallTime(), signal ? { signal } : {});
    warn(warningsOf(answer));
    return { gPerKwh: answer.gPerKwh, source: answer.source };
  };
  const nap = async (ms: number): Promise<void> => {
    if (signal?.aborted) throw interrupted();
    waited = true;
    try {
      await sleep(ms, signal);
    } catch (error) {
      if (signal?.aborted) throw interrupted();
      throw error;
    }
  };
  const startedMs = clock.wallTime().getTime();
  let waited = false;
  const finish = (reading: { gPerKwh: number; source: string }, reason: CarbonStartReason, extra: { expectedMeanGPerKwh?: number } = {}): CarbonStart => {
    const now = clock.wallTime();
    // A start that never slept did not wait: the lookups' milliseconds are not a wait.
    const waitedS = waited ? Math.max(0, now.getTime() - startedMs) / 1000 : 0;
    return { waitedS, startedAt: now.toISOString(), intensityAtStartGPerKwh: reading.gPerKwh, source: reading.source, reason, ...extra, warnings };
  };

  if ('belowGPerKwh' in mode) {
    const deadlineMs = startedMs + maxWaitMs;
    const pollMs = (options.pollMinutes ?? CARBON_START_DEFAULTS.pollMinutes) * MS_PER_MINUTE;
    let reading = await read();
    if (reading.gPerKwh < mode.belowGPerKwh) return finish(reading, 'below_threshold');
    options.onWait?.({ mode: 'below_threshold', until: new Date(deadlineMs).toISOString(), currentGPerKwh: reading.gPerKwh, targetGPerKwh: mode.belowGPerKwh, source: reading.source });
    for (;;) {
      const leftMs = deadlineMs - clock.wallTime().getTime();
      if (leftMs <= 0) return finish(reading, 'max_wait');
      options.onTick?.(leftMs / 1000, reading.gPerKwh);
      await nap(Math.min(pollMs, leftMs));
      reading = await read();
      if (reading.gPerKwh < mode.belowGPerKwh) return finish(reading, 'below_threshold');
    }
  }

  const horizonMs = Math.min(mode.greenestWindowHours * MS_PER_HOUR, maxWaitMs);
  const durationMs = mode.durationHours * MS_PER_HOUR;
  const forecast = await provider.forecast?.(location, new Date(startedMs), new Date(startedMs + horizonMs + durationMs), signal ? { signal } : {});
  if (forecast === undefined) warn([`${provider.name}: no forecast; starting now`]);
  else warn(warningsOf(forecast));
  const best = forecast === undefined ? undefined : greenestStart(forecast.points, { fromMs: startedMs, horizonMs, durationMs });
  let reading = await read();
  if (best === undefined || best.startMs <= startedMs) return finish(reading, 'greenest_window', best ? { expectedMeanGPerKwh: best.meanGPerKwh } : {});
  options.onWait?.({ mode: 'greenest_window', until: new Date(best.startMs).toISOString(), currentGPerKwh: reading.gPerKwh, targetGPerKwh: best.meanGPerKwh, source: forecast?.source ?? reading.source });
  // Slept in slices, so progress redraws and a clock that jumps (suspend, NTP) is caught up with.
  for (let leftMs = best.startMs - clock.wallTime().getTime(); leftMs > 0; leftMs = best.startMs - clock.wallTime().getTime()) {
    options.onTick?.(leftMs / 1000, reading.gPerKwh);
    await nap(Math.min(TICK_MS, leftMs));
  }
  reading = await read();
  return finish(reading, 'greenest_window', { expectedMeanGPerKwh: best.meanGPerKwh });
}

/** waitForCarbon on the workspace's grid providers and place: what train (and tune) call before any work. */
export function waitForCarbonIn(ws: Workspace, request: CarbonStartRequest, callbacks: CarbonStartCallbacks = {}): Promise<CarbonStart> {
  return waitForCarbon({ ...request, ...callbacks, provider: ws.grid.provider, ...(ws.grid.location === undefined ? {} : { location: ws.grid.location }) });
}

/** What a workflow's request carries to wait for a cleaner grid before it opens its run. */
export interface CarbonStartFields {
  /** Wait for a cleaner grid before any work (the wait is recorded in the run's params and metrics). */
  readonly carbonStart?: CarbonStartRequest;
  readonly onCarbonWait?: CarbonStartCallbacks['onWait'];
  readonly onCarbonTick?: CarbonStartCallbacks['onTick'];
  readonly onCarbonWarning?: CarbonStartCallbacks['onWarning'];
  readonly signal?: AbortSignal;
}

/** The wait a request asks for, if any: after every check that can fail, before its run opens. */
export async function carbonStartFor(ws: Workspace, request: CarbonStartFields): Promise<CarbonStart | undefined> {
  if (!request.carbonStart) return undefined;
  return waitForCarbonIn(ws, request.carbonStart, {
    ...(request.onCarbonWait ? { onWait: request.onCarbonWait } : {}),
    ...(request.onCarbonTick ? { onTick: request.onCarbonTick } : {}),
    ...(request.onCarbonWarning ? { onWarning: request.onCarbonWarning } : {}),
    ...(request.signal ? { signal: request.signal } : {}),
  });
}

/** The record's figures as run metrics (snake_case like every metric in the store). */
export function carbonStartMetrics(start: CarbonStart): Record<string, number> {
  return { wait_s: start.waitedS, start_intensity_g_per_kwh: start.intensityAtStartGPerKwh };
}
