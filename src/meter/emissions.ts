/**
 * Energy → emissions, water and heat, pure. Reported joules and kWh are the devices' own energy; PUE
 * scales that to facility energy (cooling, power conversion) only when emissions are computed, so
 * kgCo2e = kWh × PUE × gCO2e/kWh / 1000. Bounds are carried through every conversion.
 * @module
 */

import { EcomlError } from '../errors.js';
import type { CarbonIntensity } from './intensity/carbon-intensity.js';
import type { EmissionsReport, EnergyReport, HeatReport, WaterReport } from './types.js';

export const JOULES_PER_KWH = 3_600_000;
/** The international-table BTU: 1 kWh = 3,412.14 BTU. */
export const BTU_PER_KWH = 3412.14;

/** A device energy figure with its bounds. */
export type BoundedJoules = Pick<EnergyReport, 'joules' | 'low' | 'high'>;

export function joulesToKwh(joules: number): number {
  return joules / JOULES_PER_KWH;
}

/** Emissions of device energy drawn from a grid of the given intensity, in a facility of the given PUE. */
export function emissionsFor(energy: BoundedJoules, intensity: CarbonIntensity, pue: number): EmissionsReport {
  const kg = (joules: number) => (joulesToKwh(joules) * pue * intensity.gPerKwh) / 1000;
  return {
    kgCo2e: kg(energy.joules),
    kgCo2eLow: kg(energy.low),
    kgCo2eHigh: kg(energy.high),
    intensityGPerKwh: intensity.gPerKwh,
    country: intensity.country,
    countryName: intensity.countryName,
    intensitySource: intensity.source,
    pue,
  };
}

/**
 * Cooling water evaporated on site for device energy at a water usage effectiveness in L/kWh. WUE is
 * defined per IT kWh (The Green Grid), so PUE does not enter; CodeCarbon applies it to PUE-scaled energy.
 */
export function waterFor(energy: BoundedJoules, wueLPerKwh: number): WaterReport {
  const liters = (joules: number) => joulesToKwh(joules) * wueLPerKwh;
  return { liters: liters(energy.joules), litersLow: liters(energy.low), litersHigh: liters(energy.high), wueLPerKwh };
}

/** Heat released by the devices: every joule of electricity they draw ends up as heat. */
export function heatFor(energy: BoundedJoules): HeatReport {
  const btu = (joules: number) => joulesToKwh(joules) * BTU_PER_KWH;
  return { kwh: joulesToKwh(energy.joules), btu: btu(energy.joules), btuLow: btu(energy.low), btuHigh: btu(energy.high) };
}

export interface SciInputs {
  /** O: operational emissions, e.g. measurement.emissions.kgCo2e. */
  readonly operationalKg: number;
  /** M: embodied emissions, e.g. measurement.embodied.kgCo2e. */
  readonly embodiedKg: number;
  /** R: how many functional units the emissions bought (runs, thousands of inferences, API calls…). */
  readonly units: number;
}

/**
 * The Software Carbon Intensity, SCI = (O + M) per R (GSF SCI v1.1, ISO/IEC 21031:2024), in kgCO2e per
 * functional unit. For per-1,000-inference figures pass units = inferences / 1000.
 */
export function sciScore({ operationalKg, embodiedKg, units }: SciInputs): number {
  const bad = (what: string, value: number) =>
    new EcomlError('E_CONFIG_INVALID', `SCI needs ${what}, got ${value}`, { details: { operationalKg, embodiedKg, units } });
  if (!(Number.isFinite(operationalKg) && operationalKg >= 0)) throw bad('operational emissions ≥ 0 kg', operationalKg);
  if (!(Number.isFinite(embodiedKg) && embodiedKg >= 0)) throw bad('embodied emissions ≥ 0 kg', embodiedKg);
  if (!(Number.isFinite(units) && units > 0)) throw bad('a positive number of functional units', units);
  return (operationalKg + embodiedKg) / units;
}
