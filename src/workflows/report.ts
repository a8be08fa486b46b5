/**
 * The JSON shape every command reports energy and emissions in (snake_case, units in names).
 * One mapping from the meter's Measurement, so `train`, `evaluate`, `tune` and `quickstart` agree.
 * @module
 */
import type { Measurement } from '../meter/types.js';

export interface ComponentJson {
  readonly name: string;
  readonly joules: number;
  /** Bounds from the source's documented error model (src/meter/bounds.ts). */
  readonly joules_low: number;
  readonly joules_high: number;
  readonly method: 'measured' | 'estimated';
  readonly model: string;
}

export interface EnergyJson {
  readonly joules: number;
  readonly joules_low: number;
  readonly joules_high: number;
  readonly kwh: number;
  readonly duration_s: number;
  readonly components: readonly ComponentJson[];
}

export interface EmissionsJson {
  readonly kg_co2e: number;
  readonly kg_co2e_low: number;
  readonly kg_co2e_high: number;
  readonly intensity_g_per_kwh: number;
  readonly country: string;
  readonly country_name: string;
  readonly intensity_source: string;
  readonly pue: number;
}

export interface StepJson {
  readonly step: string;
  readonly energy: EnergyJson;
  readonly emissions: EmissionsJson;
}

export function energyJson(m: Measurement): EnergyJson {
  return {
    joules: m.energy.joules,
    joules_low: m.energy.low,
    joules_high: m.energy.high,
    kwh: m.energy.kwh,
    duration_s: m.durationS,
    components: m.energy.components.map((c) => ({ name: c.name, joules: c.joules, joules_low: c.low, joules_high: c.high, method: c.method, model: c.model })),
  };
}

export function emissionsJson(m: Measurement): EmissionsJson {
  return {
    kg_co2e: m.emissions.kgCo2e,
    kg_co2e_low: m.emissions.kgCo2eLow,
    kg_co2e_high: m.emissions.kgCo2eHigh,
    intensity_g_per_kwh: m.emissions.intensityGPerKwh,
    country: m.emissions.country,
    country_name: m.emissions.countryName,
    intensity_source: m.emissions.intensitySource,
    pue: m.emissions.pue,
  };
}

export function stepJson(step: string, m: Measurement): StepJson {
  return { step, energy: energyJson(m), emissions: emissionsJson(m) };
}
