/**
 * Maps provider zone and region ids to the ISO alpha-3 country every CarbonIntensity names, with the
 * English name from the shipped table, so live figures read like table ones in reports.
 * @module
 */

import { isEcomlError } from '../../errors.js';
import { createCountryTableProvider } from './country-table.js';
import { ISO2_TO_ISO3 } from './iso-codes.js';

export interface Country {
  readonly iso3: string;
  readonly name: string;
}

const ISO3_TO_ISO2: Readonly<Record<string, string>> = Object.freeze(Object.fromEntries(Object.entries(ISO2_TO_ISO3).map(([a2, a3]) => [a3, a2])));

// One shared table: it is read once, lazily, and only for names.
const names = createCountryTableProvider();

/** Alpha-3 for an alpha-2 or alpha-3 code of a country in the table (any case); undefined otherwise. */
export function iso3Of(code: string): string | undefined {
  const upper = code.trim().toUpperCase();
  if (/^[A-Z]{2}$/.test(upper)) return ISO2_TO_ISO3[upper];
  if (/^[A-Z]{3}$/.test(upper) && Object.hasOwn(ISO3_TO_ISO2, upper)) return upper;
  return undefined;
}

/** Alpha-2 for an alpha-2 or alpha-3 code of a country in the table (any case); undefined otherwise. */
export function iso2Of(code: string): string | undefined {
  const iso3 = iso3Of(code);
  return iso3 === undefined ? undefined : ISO3_TO_ISO2[iso3];
}

/** The country a zone id starts with ('US-CAL-CISO', 'DK-DK1', 'AU_NSW' → its alpha-3), if any. */
export function countryPrefixOf(zone: string): string | undefined {
  const head = zone.trim().split(/[-_]/)[0] ?? '';
  return /^[A-Za-z]{2,3}$/.test(head) ? iso3Of(head) : undefined;
}

/** A country from a code or English name the table knows (as the country-table provider reads them); undefined otherwise. */
export async function findCountry(query: string): Promise<Country | undefined> {
  if (query.trim() === '') return undefined;
  try {
    const { country, countryName } = await names.intensityFor(query);
    return { iso3: country, name: countryName };
  } catch (error) {
    if (isEcomlError(error) && error.code === 'E_CONFIG_INVALID') return undefined;
    throw error;
  }
}

export async function countryOf(iso3: string): Promise<Country> {
  const { countryName } = await names.intensityFor(iso3);
  return { iso3, name: countryName };
}

/** 'France', or 'United States (US-CAL-CISO)' when the zone is finer than the country. */
export function placeName(country: Country, zone: string | undefined): string {
  if (zone === undefined || iso3Of(zone) === country.iso3) return country.name;
  return `${country.name} (${zone})`;
}
