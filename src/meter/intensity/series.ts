/**
 * Step-series helpers shared by the providers that return time series: a value is in force from its
 * start until the next one starts (or until its own stated end).
 * @module
 */

import { EcomlError } from '../../errors.js';
import type { IntensityPoint } from './carbon-intensity.js';

/**
 * Sorts by start and closes each point's interval at the next start; the last point keeps its own
 * end, or gets `lastStepMs` when given (open-ended otherwise).
 */
export function closeIntervals(points: readonly IntensityPoint[], lastStepMs?: number): IntensityPoint[] {
  const sorted = [...points].sort((a, b) => Date.parse(a.validFrom) - Date.parse(b.validFrom));
  return sorted.map((point, i) => {
    const next = sorted[i + 1];
    if (next !== undefined) return { ...point, validTo: point.validTo ?? next.validFrom };
    if (point.validTo !== undefined || lastStepMs === undefined) return point;
    return { ...point, validTo: new Date(Date.parse(point.validFrom) + lastStepMs).toISOString() };
  });
}

/** The point in force at `atMs` (start ≤ at < end); undefined before the first or after the last. */
export function pointAt(points: readonly IntensityPoint[], atMs: number): IntensityPoint | undefined {
  for (let i = points.length - 1; i >= 0; i--) {
    const point = points[i] as IntensityPoint;
    if (Date.parse(point.validFrom) <= atMs) return point.validTo === undefined || atMs < Date.parse(point.validTo) ? point : undefined;
  }
  return undefined;
}

/** The points whose interval overlaps [fromMs, toMs). */
export function overlapping(points: readonly IntensityPoint[], fromMs: number, toMs: number): IntensityPoint[] {
  return points.filter((point) => Date.parse(point.validFrom) < toMs && (point.validTo === undefined || Date.parse(point.validTo) > fromMs));
}

/** Checks a requested time and range, so a bad Date fails as a config error rather than as NaN downstream. */
export function checkTime(at: Date, provider: string, what = 'time'): number {
  const ms = at instanceof Date ? at.getTime() : Number.NaN;
  if (!Number.isFinite(ms)) throw new EcomlError('E_CONFIG_INVALID', `${provider}: the requested ${what} is not a valid Date`);
  return ms;
}

export function checkRange(from: Date, to: Date, provider: string): { fromMs: number; toMs: number } {
  const fromMs = checkTime(from, provider, 'start');
  const toMs = checkTime(to, provider, 'end');
  if (toMs <= fromMs) throw new EcomlError('E_CONFIG_INVALID', `${provider}: the forecast range ends (${to.toISOString()}) before it starts (${from.toISOString()})`);
  return { fromMs, toMs };
}
