/**
 * Energy from sampled power, trapezoid rule: the one integration both power-sampling sources use.
 * @module
 */

export interface PowerIntegral {
  readonly joules: number;
  readonly lastWatts: number;
  readonly lastMs: number;
}

export function startPowerIntegral(watts: number, atMs: number): PowerIntegral {
  return { joules: 0, lastWatts: watts, lastMs: atMs };
}

/** Adds the interval since the last sample, assuming power changed linearly across it. */
export function extendPowerIntegral(integral: PowerIntegral, watts: number, atMs: number): PowerIntegral {
  const seconds = (atMs - integral.lastMs) / 1000;
  return { joules: integral.joules + ((integral.lastWatts + watts) / 2) * seconds, lastWatts: watts, lastMs: atMs };
}
