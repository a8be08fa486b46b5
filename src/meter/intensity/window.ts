/**
 * When to start a job on a forecast: the start whose run sees the lowest mean grid intensity, and the
 * first moment the intensity drops below a threshold. Pure: the series and times come in, no clock.
 * A point is in force from its validFrom until its validTo, else until the next point's start; the
 * last point without a validTo stays in force (a forecast's last figure is the best guess past it).
 * @module
 */

import type { IntensityPoint } from './carbon-intensity.js';
import { closeIntervals } from './series.js';

export interface GreenestWindowRequest {
  /** The earliest start (now), epoch milliseconds. */
  readonly fromMs: number;
  /** Starts are considered in [fromMs, fromMs + horizonMs); 0 means now only. */
  readonly horizonMs: number;
  /** How long the job runs; its mean intensity is taken over [start, start + durationMs). */
  readonly durationMs: number;
}

export interface GreenestWindow {
  readonly startMs: number;
  /** The time-weighted mean intensity over the job's run, in gCO2e/kWh, over the part the series covers. */
  readonly meanGPerKwh: number;
}

/**
 * Means equal to within this relative margin count as equal, so rounding in the sums cannot move a
 * start later for nothing (a flat series starts now).
 */
export const MEAN_TIE_TOLERANCE = 1e-9;

interface Step {
  readonly fromMs: number;
  readonly toMs: number;
  readonly gPerKwh: number;
}

function stepsOf(points: readonly IntensityPoint[]): Step[] {
  return closeIntervals(points).map((p) => ({
    fromMs: Date.parse(p.validFrom),
    toMs: p.validTo === undefined ? Number.POSITIVE_INFINITY : Date.parse(p.validTo),
    gPerKwh: p.gPerKwh,
  }));
}

function meanOver(steps: readonly Step[], fromMs: number, toMs: number): number | undefined {
  let weighted = 0;
  let covered = 0;
  for (const step of steps) {
    const overlap = Math.min(step.toMs, toMs) - Math.max(step.fromMs, fromMs);
    if (overlap <= 0) continue;
    weighted += overlap * step.gPerKwh;
    covered += overlap;
  }
  return covered > 0 ? weighted / covered : undefined;
}

/**
 * The time-weighted mean intensity over [fromMs, toMs) (toMs > fromMs), over the part the series
 * covers; undefined when it covers none of it.
 */
export function meanIntensity(points: readonly IntensityPoint[], fromMs: number, toMs: number): number | undefined {
  return meanOver(stepsOf(points), fromMs, toMs);
}

/**
 * The start in the horizon whose run has the lowest mean intensity, the earliest among equals;
 * undefined when the series covers none of the candidate runs.
 * The mean is a ratio of functions linear in the start between the moments where the run's start or
 * end crosses a step boundary, so it is monotone there and its minimum lies at one of those moments
 * (or at either end of the horizon, whose last start is its last millisecond): only they are tried.
 */
export function greenestStart(points: readonly IntensityPoint[], request: GreenestWindowRequest): GreenestWindow | undefined {
  const { fromMs, horizonMs, durationMs } = request;
  const steps = stepsOf(points);
  const endMs = fromMs + Math.max(0, horizonMs);
  const inHorizon = (ms: number): boolean => ms === fromMs || (ms > fromMs && ms < endMs);
  const boundaries = steps.flatMap((s) => [s.fromMs, s.toMs]).filter(Number.isFinite);
  // The last millisecond of the horizon too: the mean may still fall as the start nears its end.
  const candidates = [...new Set([fromMs, endMs - 1, ...boundaries, ...boundaries.map((b) => b - durationMs)])].filter(inHorizon).sort((a, b) => a - b);
  let best: GreenestWindow | undefined;
  for (const startMs of candidates) {
    const mean = meanOver(steps, startMs, startMs + Math.max(durationMs, 1));
    if (mean === undefined) continue;
    if (best === undefined || mean < best.meanGPerKwh - MEAN_TIE_TOLERANCE * Math.abs(best.meanGPerKwh)) best = { startMs, meanGPerKwh: mean };
  }
  return best;
}

/** The first moment in [fromMs, untilMs) at which the intensity in force is below `thresholdGPerKwh`, or undefined. */
export function firstBelow(points: readonly IntensityPoint[], thresholdGPerKwh: number, fromMs: number, untilMs: number): number | undefined {
  for (const step of stepsOf(points)) {
    if (step.toMs <= fromMs || step.fromMs >= untilMs || !(step.gPerKwh < thresholdGPerKwh)) continue;
    return Math.max(step.fromMs, fromMs);
  }
  return undefined;
}
