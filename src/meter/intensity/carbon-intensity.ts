/**
 * The grid-intensity plug-in point: how many grams of CO2e one kWh drawn in a given country costs.
 * @module
 */

export interface CarbonIntensity {
  readonly gPerKwh: number;
  /** ISO 3166-1 alpha-3, or 'WORLD' for the world-average default. */
  readonly country: string;
  readonly countryName: string;
  /** Where the figure came from, e.g. 'table:OWID/Ember 2023'. */
  readonly source: string;
}

export interface CarbonIntensityProvider {
  readonly name: string;
  /**
   * The intensity for a country (code or name as the provider documents), or the world average when
   * none is given. An unknown country throws E_CONFIG_INVALID.
   */
  intensityFor(country?: string): Promise<CarbonIntensity>;
}

/** The world average CodeCarbon falls back to (IEA 2019); used when no country is configured. */
export const WORLD_AVERAGE_INTENSITY: CarbonIntensity = Object.freeze({
  gPerKwh: 475,
  country: 'WORLD',
  countryName: 'World',
  source: 'default:world-average 475 gCO2e/kWh (IEA 2019, as CodeCarbon); set ECOML_COUNTRY or the country option for a national figure',
});
