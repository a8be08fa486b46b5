/**
 * Human-readable energy figures.
 * @module
 */

import type { ComponentEnergy, EnergyReport, Method } from './types.js';

const UNITS = [
  { symbol: 'mJ', joules: 1e-3 },
  { symbol: 'J', joules: 1 },
  { symbol: 'kJ', joules: 1e3 },
  { symbol: 'MJ', joules: 1e6 },
  { symbol: 'GJ', joules: 1e9 },
  { symbol: 'TJ', joules: 1e12 },
] as const;

type Unit = (typeof UNITS)[number];

const inUnit = (joules: number, unit: Unit) => Number((joules / unit.joules).toPrecision(3));

/** The SI unit that shows `joules` with three significant figures and 1 ≤ |mantissa| < 1000. */
function unitFor(joules: number): Unit {
  const unit = UNITS.findLast((u) => Math.abs(joules) >= u.joules) ?? UNITS[0];
  const next = UNITS[UNITS.indexOf(unit) + 1];
  // Rounding to three figures can carry into the next unit (999.96 J is 1 kJ, not 1000 J).
  return next !== undefined && Math.abs(inUnit(joules, unit)) >= 1000 ? next : unit;
}

/**
 * Joules with an SI prefix and three significant figures.
 * @example formatJoules(12_400) // '12.4 kJ'
 * @example formatJoules(0.5) // '500 mJ'
 */
export function formatJoules(joules: number): string {
  if (!Number.isFinite(joules)) return `${joules} J`;
  if (joules === 0) return '0 J';
  const unit = unitFor(joules);
  return `${inUnit(joules, unit)} ${unit.symbol}`;
}

/**
 * A component's or a report's energy with its bounds, in the point value's unit, and how it was obtained.
 * @example formatEnergyWithBounds(report) // '12.4 kJ (9.8–15.1, estimated)'
 */
export function formatEnergyWithBounds(energy: ComponentEnergy | EnergyReport): string {
  const methods: ReadonlySet<Method> = new Set('components' in energy ? energy.components.map((c) => c.method) : [energy.method]);
  const how = (['measured', 'estimated'] as const).filter((m) => methods.has(m)).join('+') || 'no components';
  if (![energy.joules, energy.low, energy.high].every(Number.isFinite)) return `${formatJoules(energy.joules)} (${energy.low}–${energy.high} J, ${how})`;
  const unit = energy.joules === 0 ? unitFor(energy.high || 1) : unitFor(energy.joules);
  return `${inUnit(energy.joules, unit)} ${unit.symbol} (${inUnit(energy.low, unit)}–${inUnit(energy.high, unit)}, ${how})`;
}
