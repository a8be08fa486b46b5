/**
 * The grid-intensity plug-in point: how many grams of CO2e one kWh drawn in a given place costs, now
 * or at a given time, and (for providers that have one) a forecast.
 *
 * Providers answer for a *location*: a country (ISO 3166-1 alpha-3, alpha-2 or name, as each
 * provider documents) or the provider's own zone or region id (Electricity Maps 'US-CAL-CISO',
 * WattTime 'CAISO_NORTH', a GB postcode). Every answer still names an ISO alpha-3 country (or
 * 'WORLD'), so reports stay comparable whichever provider answered.
 * @module
 */

/** Average (attributional, what the grid mix emits per kWh) or marginal (what one more kWh emits, e.g. WattTime MOER). */
export type IntensityKind = 'average' | 'marginal';

export interface CarbonIntensity {
  readonly gPerKwh: number;
  /** ISO 3166-1 alpha-3, or 'WORLD' for the world-average default. */
  readonly country: string;
  readonly countryName: string;
  /** Where the figure came from, e.g. 'table:OWID/Ember 2023' or 'live:electricity-maps FR 2026-01-01T10:00:00.000Z'. */
  readonly source: string;
  /** The provider's own zone or region id when it is finer than (or spelled unlike) the country. */
  readonly zone?: string;
  /** Absent means 'average', as the country table (which predates this field) reports. */
  readonly kind?: IntensityKind;
  /** Start of the interval the figure is for, ISO 8601 UTC; absent for yearly tables. */
  readonly validFrom?: string;
  /** End of that interval (exclusive) when the provider says. */
  readonly validTo?: string;
  /** True when the figure is a forecast rather than a measured or estimated actual. */
  readonly forecast?: boolean;
}

/** One step of a time series: the intensity in force from validFrom until validTo (or the next point). */
export interface IntensityPoint {
  readonly validFrom: string;
  readonly validTo?: string;
  readonly gPerKwh: number;
}

export interface IntensityForecast {
  readonly country: string;
  readonly countryName: string;
  readonly zone?: string;
  readonly kind: IntensityKind;
  readonly source: string;
  /** Sorted by validFrom; only points whose interval overlaps the requested [from, to). */
  readonly points: readonly IntensityPoint[];
}

/** Per-call options; the resilience wrapper uses the signal to abort a request that ran past its timeout. */
export interface IntensityRequestOptions {
  readonly signal?: AbortSignal;
}

export interface CarbonIntensityProvider {
  readonly name: string;
  /**
   * The intensity for a location (see the module note), in force at `at` (default: now), or the
   * provider's documented default when no location is given. An unknown location throws
   * E_CONFIG_INVALID.
   */
  intensityFor(location?: string, at?: Date, options?: IntensityRequestOptions): Promise<CarbonIntensity>;
  /** The series over [from, to), for providers that publish forecasts or hold a time series. */
  forecast?(location: string | undefined, from: Date, to: Date, options?: IntensityRequestOptions): Promise<IntensityForecast>;
}

/** The world average CodeCarbon falls back to (IEA 2019); used when no country is configured. */
export const WORLD_AVERAGE_INTENSITY: CarbonIntensity = Object.freeze({
  gPerKwh: 475,
  country: 'WORLD',
  countryName: 'World',
  source: 'default:world-average 475 gCO2e/kWh (IEA 2019, as CodeCarbon); set ECOML_COUNTRY or the country option for a national figure',
});
