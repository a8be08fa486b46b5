/**
 * Human-readable energy figures.
 * @module
 */

const UNITS = [
  { symbol: 'mJ', joules: 1e-3 },
  { symbol: 'J', joules: 1 },
  { symbol: 'kJ', joules: 1e3 },
  { symbol: 'MJ', joules: 1e6 },
  { symbol: 'GJ', joules: 1e9 },
  { symbol: 'TJ', joules: 1e12 },
] as const;

type Unit = (typeof UNITS)[number];

/**
 * Joules with an SI prefix and three significant figures.
 * @example formatJoules(12_400) // '12.4 kJ'
 * @example formatJoules(0.5) // '500 mJ'
 */
export function formatJoules(joules: number): string {
  if (!Number.isFinite(joules)) return `${joules} J`;
  if (joules === 0) return '0 J';
  const scaled = (unit: Unit) => Number((joules / unit.joules).toPrecision(3));
  const unit = UNITS.findLast((u) => Math.abs(joules) >= u.joules) ?? UNITS[0];
  const next = UNITS[UNITS.indexOf(unit) + 1];
  // Rounding to three figures can carry into the next unit (999.96 J is 1 kJ, not 1000 J).
  const shown = next !== undefined && Math.abs(scaled(unit)) >= 1000 ? next : unit;
  return `${scaled(shown)} ${shown.symbol}`;
}
