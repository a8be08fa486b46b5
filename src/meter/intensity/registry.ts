/**
 * The intensity providers by name, as plain data, and the chain built from settings such as
 * ECOML_INTENSITY=electricity-maps@FR,watttime@CAISO_NORTH,country-table with tokens from the
 * environment. Live providers come wrapped in the resilience layer (cache, timeout, retries).
 * Misconfiguration (an unknown name, a listed provider without its token) fails at once; a provider
 * that fails at run time only adds a warning, since the chain falls back.
 * @module
 */

import { EcomlError, lookup } from '../../errors.js';
import type { Clock } from '../clock.js';
import type { CarbonIntensityProvider } from './carbon-intensity.js';
import { createIntensityChain, type ChainEntry, type IntensityChain } from './chain.js';
import { createCountryTableProvider, type CountryTableOptions } from './country-table.js';
import { createElectricityMapsProvider, ELECTRICITY_MAPS_TOKEN_ENV, type ElectricityMapsOptions } from './electricity-maps.js';
import type { FetchLike } from './http.js';
import { createLocalFileProvider, INTENSITY_FILE_ENV, type LocalFileOptions } from './local-file.js';
import { withResilience, type ResilienceOptions } from './resilient.js';
import { createUkCarbonIntensityProvider, type UkCarbonIntensityOptions } from './uk-carbon-intensity.js';
import { createWattTimeProvider, WATTTIME_PASSWORD_ENV, WATTTIME_USER_ENV, type WattTimeOptions } from './watttime.js';

export const INTENSITY_PROVIDERS_ENV = 'ECOML_INTENSITY';

export type IntensityProviderName = 'electricity-maps' | 'watttime' | 'uk' | 'file' | 'country-table';
export type IntensityProviderFactory = () => CarbonIntensityProvider;

export interface IntensityProvidersConfig {
  /** Where tokens, ECOML_INTENSITY and ECOML_INTENSITY_FILE are read; default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly fetch?: FetchLike;
  readonly clock?: Clock;
  /** Cache, timeout and retry settings for the live providers; false leaves them bare. */
  readonly resilience?: ResilienceOptions | false;
  readonly electricityMaps?: Omit<ElectricityMapsOptions, 'fetch' | 'clock' | 'env'>;
  readonly watttime?: Omit<WattTimeOptions, 'fetch' | 'clock' | 'env'>;
  readonly uk?: Omit<UkCarbonIntensityOptions, 'fetch' | 'clock'>;
  /** The path defaults to env ECOML_INTENSITY_FILE. */
  readonly file?: Partial<Omit<LocalFileOptions, 'clock'>>;
  readonly countryTable?: CountryTableOptions;
}

export function createIntensityProviders(config: IntensityProvidersConfig = {}): Readonly<Record<IntensityProviderName, IntensityProviderFactory>> {
  const env = config.env ?? process.env;
  const { fetch, clock } = config;
  const resilient = (provider: CarbonIntensityProvider): CarbonIntensityProvider =>
    config.resilience === false ? provider : withResilience(provider, { ...(clock ? { clock } : {}), ...config.resilience });
  return Object.freeze({
    'electricity-maps': () => resilient(createElectricityMapsProvider({ ...config.electricityMaps, fetch, clock, env })),
    watttime: () => resilient(createWattTimeProvider({ ...config.watttime, fetch, clock, env })),
    uk: () => resilient(createUkCarbonIntensityProvider({ ...config.uk, fetch, clock })),
    file: () => {
      const path = config.file?.path ?? env[INTENSITY_FILE_ENV];
      if (!path) throw new EcomlError('E_CONFIG_INVALID', `file: no time-series path: set ${INTENSITY_FILE_ENV} or the file.path option`, { details: { envVar: INTENSITY_FILE_ENV } });
      return createLocalFileProvider({ ...config.file, path, clock });
    },
    'country-table': () => createCountryTableProvider(config.countryTable),
  });
}

export interface IntensityChainSettings extends IntensityProvidersConfig {
  /**
   * Provider names in the order to try, each optionally pinned to a location with @:
   * 'electricity-maps@US-CAL-CISO,uk@RG10,country-table'. Default env ECOML_INTENSITY, else the
   * country table alone. A trailing bare 'country-table' becomes the last resort; the table is the
   * last resort whether listed or not.
   */
  readonly providers?: string | readonly string[];
}

export interface IntensitySpecItem {
  readonly name: string;
  readonly location?: string;
}

/** Splits 'a,b@LOC' (or a list of such items) into names and pinned locations. */
export function parseIntensitySpec(spec: string | readonly string[]): IntensitySpecItem[] {
  const parts = (typeof spec === 'string' ? spec.split(',') : spec.flatMap((item) => item.split(','))).map((part) => part.trim()).filter((part) => part !== '');
  if (parts.length === 0) throw new EcomlError('E_CONFIG_INVALID', `${INTENSITY_PROVIDERS_ENV} lists no providers; e.g. electricity-maps,country-table`);
  return parts.map((part) => {
    const at = part.indexOf('@');
    if (at < 0) return { name: part.toLowerCase() };
    const location = part.slice(at + 1).trim();
    if (location === '') throw new EcomlError('E_CONFIG_INVALID', `${INTENSITY_PROVIDERS_ENV}: "${part}" has an empty location after @`);
    return { name: part.slice(0, at).trim().toLowerCase(), location };
  });
}

export function resolveIntensityChain(settings: IntensityChainSettings = {}): IntensityChain {
  const env = settings.env ?? process.env;
  const items = parseIntensitySpec(settings.providers ?? (env[INTENSITY_PROVIDERS_ENV]?.trim() || 'country-table'));
  const factories = createIntensityProviders(settings);
  const entries: ChainEntry[] = [];
  let lastResort: CarbonIntensityProvider | undefined;
  items.forEach((item, i) => {
    const factory = lookup(factories, item.name, 'carbon-intensity provider');
    requireCredentials(item.name, settings, env);
    const provider = factory();
    if (item.name === 'country-table' && item.location === undefined && i === items.length - 1) lastResort = provider;
    else entries.push(item.location === undefined ? { provider } : { provider, location: item.location });
  });
  return createIntensityChain(entries, lastResort ? { lastResort } : {});
}

/** A listed provider without its credentials is a configuration mistake, reported before any run. */
function requireCredentials(name: string, settings: IntensityChainSettings, env: Readonly<Record<string, string | undefined>>): void {
  if (name === 'electricity-maps' && !(settings.electricityMaps?.token ?? env[ELECTRICITY_MAPS_TOKEN_ENV])) {
    throw new EcomlError('E_CONFIG_INVALID', `${INTENSITY_PROVIDERS_ENV} lists electricity-maps but no token is set: set ${ELECTRICITY_MAPS_TOKEN_ENV}`, {
      details: { provider: name, envVar: ELECTRICITY_MAPS_TOKEN_ENV },
    });
  }
  if (name === 'watttime' && !((settings.watttime?.username ?? env[WATTTIME_USER_ENV]) && (settings.watttime?.password ?? env[WATTTIME_PASSWORD_ENV]))) {
    throw new EcomlError('E_CONFIG_INVALID', `${INTENSITY_PROVIDERS_ENV} lists watttime but no account is set: set ${WATTTIME_USER_ENV} and ${WATTTIME_PASSWORD_ENV}`, {
      details: { provider: name, envVar: [WATTTIME_USER_ENV, WATTTIME_PASSWORD_ENV] },
    });
  }
}
