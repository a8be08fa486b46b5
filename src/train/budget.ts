/**
 * Carbontracker-style forecasts and energy/carbon budgets, as pure functions over the epoch history:
 * the mean of the epochs so far, times the epochs left, predicts the rest of the run.
 * @module
 */
import type { EpochRecord } from './fit.js';

export interface Budget {
  readonly kwh?: number;
  readonly kgCo2e?: number;
}

export interface Forecast {
  /** Epochs the forecast covers (the whole run). */
  readonly epochs: number;
  /** Epochs measured so far, that the forecast rests on. */
  readonly basedOn: number;
  readonly durationS: number;
  readonly joules: number;
  readonly kwh: number;
  readonly kgCo2e: number;
}

interface Spent {
  readonly durationS: number;
  readonly joules: number;
  readonly kwh: number;
  readonly kgCo2e: number;
  readonly measured: number;
}

function spent(history: readonly EpochRecord[]): Spent {
  let durationS = 0;
  let joules = 0;
  let kwh = 0;
  let kgCo2e = 0;
  let measured = 0;
  for (const e of history) {
    durationS += e.durationS;
    if (!e.measurement) continue;
    measured++;
    joules += e.measurement.energy.joules;
    kwh += e.measurement.energy.kwh;
    kgCo2e += e.measurement.emissions.kgCo2e;
  }
  return { durationS, joules, kwh, kgCo2e, measured };
}

/** The whole run's predicted totals, or undefined before any metered epoch. */
export function forecastRun(history: readonly EpochRecord[], totalEpochs: number): Forecast | undefined {
  const s = spent(history);
  if (s.measured === 0 || history.length === 0) return undefined;
  const epochsLeft = Math.max(0, totalEpochs - history.length);
  const perEpoch = (x: number, n: number): number => x / n;
  return {
    epochs: totalEpochs,
    basedOn: history.length,
    durationS: s.durationS + perEpoch(s.durationS, history.length) * epochsLeft,
    joules: s.joules + perEpoch(s.joules, s.measured) * epochsLeft,
    kwh: s.kwh + perEpoch(s.kwh, s.measured) * epochsLeft,
    kgCo2e: s.kgCo2e + perEpoch(s.kgCo2e, s.measured) * epochsLeft,
  };
}

/**
 * 'budget' when running one more (mean-sized) epoch would take the spent energy or emissions past
 * the budget; undefined while it fits, or before any epoch has been metered.
 */
export function budgetStop(history: readonly EpochRecord[], budget: Budget): 'budget' | undefined {
  const s = spent(history);
  if (s.measured === 0) return undefined;
  const exceeds = (limit: number | undefined, used: number): boolean => limit !== undefined && used + used / s.measured > limit;
  return exceeds(budget.kwh, s.kwh) || exceeds(budget.kgCo2e, s.kgCo2e) ? 'budget' : undefined;
}
