/**
 * Grid carbon intensity per country from the shipped OWID/Ember table (lifecycle gCO2e/kWh, latest
 * year per country, CC BY 4.0). Countries are looked up by ISO 3166-1 alpha-3, alpha-2 or English
 * name, case- and accent-insensitively; no country means the world average. Nothing is looked up
 * over the network (no IP geolocation).
 * @module
 */

import { EcomlError } from '../../errors.js';
import { readCsvTable } from '../csv.js';
import { CARBON_INTENSITY_CSV } from '../data-files.js';
import { WORLD_AVERAGE_INTENSITY, type CarbonIntensity, type CarbonIntensityProvider } from './carbon-intensity.js';
import { ISO2_TO_ISO3 } from './iso-codes.js';

export interface CountryTableOptions {
  readonly file?: URL | string;
}

interface CountryTable {
  readonly byIso3: ReadonlyMap<string, CarbonIntensity>;
  readonly byName: ReadonlyMap<string, CarbonIntensity>;
}

export function createCountryTableProvider(options: CountryTableOptions = {}): CarbonIntensityProvider {
  const file = options.file ?? CARBON_INTENSITY_CSV;
  let table: Promise<CountryTable> | undefined;

  return {
    name: 'country-table',
    async intensityFor(country) {
      const query = country?.trim();
      if (!query) return WORLD_AVERAGE_INTENSITY;
      table ??= loadCountryTable(file);
      const { byIso3, byName } = await table;
      const upper = query.toUpperCase();
      const iso3 = upper.length === 2 ? ISO2_TO_ISO3[upper] : upper;
      const found = (iso3 === undefined ? undefined : byIso3.get(iso3)) ?? byName.get(nameKey(query));
      if (found) return found;
      throw new EcomlError(
        'E_CONFIG_INVALID',
        `unknown country "${query}": give an ISO 3166-1 alpha-3 code (e.g. FRA), an alpha-2 code (FR) or an English name as listed in data/carbon-intensity-by-country.csv (${byIso3.size} countries), or leave it unset for the world average`,
        { details: { country: query, validCodes: [...byIso3.keys()].sort() } },
      );
    },
  };
}

async function loadCountryTable(file: URL | string): Promise<CountryTable> {
  const rows = await readCsvTable(file, ['iso3', 'country', 'year', 'g_co2e_per_kwh']);
  const byIso3 = new Map<string, CarbonIntensity>();
  const byName = new Map<string, CarbonIntensity>();
  for (const { line, fields } of rows) {
    const iso3 = fields.iso3 ?? '';
    const countryName = fields.country ?? '';
    const year = fields.year ?? '';
    const gPerKwh = Number(fields.g_co2e_per_kwh);
    // Zero is a real value (an all-hydro grid), so only negative or non-numeric figures are rejected.
    if (!/^[A-Z]{3}$/.test(iso3) || countryName === '' || !/^\d{4}$/.test(year) || !(Number.isFinite(gPerKwh) && gPerKwh >= 0)) {
      throw new EcomlError('E_DATA_MALFORMED', `${String(file)}:${line}: expected iso3,country,year,g_co2e_per_kwh, got ${Object.values(fields).join(',')}`, {
        details: { line },
      });
    }
    const intensity: CarbonIntensity = Object.freeze({ gPerKwh, country: iso3, countryName, source: `table:OWID/Ember ${year}` });
    byIso3.set(iso3, intensity);
    byName.set(nameKey(countryName), intensity);
  }
  return { byIso3, byName };
}

function nameKey(name: string): string {
  return name
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim();
}
