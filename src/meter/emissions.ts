/**
 * Energy → emissions, pure. Reported joules and kWh are the devices' own energy; PUE scales that to
 * facility energy (cooling, power conversion) only when emissions are computed, so
 * kgCo2e = kWh × PUE × gCO2e/kWh / 1000.
 * @module
 */

import type { CarbonIntensity } from './intensity/carbon-intensity.js';
import type { EmissionsReport } from './types.js';

export const JOULES_PER_KWH = 3_600_000;

export function joulesToKwh(joules: number): number {
  return joules / JOULES_PER_KWH;
}

/** Emissions of `joules` of device energy drawn from a grid of the given intensity, in a facility of the given PUE. */
export function emissionsFor(joules: number, intensity: CarbonIntensity, pue: number): EmissionsReport {
  return {
    kgCo2e: (joulesToKwh(joules) * pue * intensity.gPerKwh) / 1000,
    intensityGPerKwh: intensity.gPerKwh,
    country: intensity.country,
    countryName: intensity.countryName,
    intensitySource: intensity.source,
    pue,
  };
}
