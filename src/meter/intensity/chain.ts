/**
 * An ordered fallback chain of intensity providers: the first that answers wins, every failure on
 * the way is kept as a warning returned with the result, and a last resort (the shipped country
 * table) always answers, so a meter never stops for want of a network. When even the table does not
 * know the location, the chain answers with the world average and says so.
 * @module
 */

import { isEcomlError } from '../../errors.js';
import {
  WORLD_AVERAGE_INTENSITY,
  type CarbonIntensity,
  type CarbonIntensityProvider,
  type IntensityForecast,
  type IntensityRequestOptions,
} from './carbon-intensity.js';
import { createCountryTableProvider } from './country-table.js';
import { checkRange } from './series.js';

/** A provider, optionally pinned to its own location (an Electricity Maps zone, a WattTime region…). */
export interface ChainEntry {
  readonly provider: CarbonIntensityProvider;
  /** Asked instead of the caller's location; the last resort still gets the caller's. */
  readonly location?: string;
}

export interface ChainedIntensity extends CarbonIntensity {
  /** The provider that answered. */
  readonly provider: string;
  /** One line per provider that failed before it, e.g. 'electricity-maps: … HTTP 401 …'. */
  readonly warnings: readonly string[];
}

export interface ChainedForecast extends IntensityForecast {
  readonly provider: string;
  readonly warnings: readonly string[];
}

export interface IntensityChain extends CarbonIntensityProvider {
  /** Provider names in the order tried, the last resort last. */
  readonly providers: readonly string[];
  intensityFor(location?: string, at?: Date, options?: IntensityRequestOptions): Promise<ChainedIntensity>;
  forecast(location: string | undefined, from: Date, to: Date, options?: IntensityRequestOptions): Promise<ChainedForecast>;
}

export interface IntensityChainOptions {
  /** Answers when every entry failed; default the shipped country table. It should not need the network. */
  readonly lastResort?: CarbonIntensityProvider;
}

export function createIntensityChain(entries: readonly (CarbonIntensityProvider | ChainEntry)[], options: IntensityChainOptions = {}): IntensityChain {
  const chain: readonly ChainEntry[] = entries.map((entry) => ('provider' in entry ? entry : { provider: entry }));
  const lastResort = options.lastResort ?? createCountryTableProvider();
  const label = (entry: ChainEntry): string => (entry.location === undefined ? entry.provider.name : `${entry.provider.name}@${entry.location}`);

  async function lastResortIntensity(location: string | undefined, at: Date | undefined, warnings: string[]): Promise<ChainedIntensity> {
    // Zone ids such as US-CAL-CISO or DK-DK1 start with their country: the table can answer for that.
    const candidates = [location, location?.trim().split(/[-_]/)[0]].filter((c, i, all): c is string => c !== undefined && c.trim() !== '' && all.indexOf(c) === i);
    for (const candidate of candidates.length > 0 ? candidates : [undefined]) {
      try {
        const answer = await lastResort.intensityFor(candidate, at);
        if (candidate !== location) warnings.push(`${lastResort.name}: no figure for "${location}"; used its country "${candidate}"`);
        return { ...answer, provider: lastResort.name, warnings };
      } catch (error) {
        warnings.push(`${lastResort.name}: ${message(error)}`);
      }
    }
    warnings.push(`${lastResort.name}: using the world average`);
    return { ...WORLD_AVERAGE_INTENSITY, provider: 'default', warnings };
  }

  return {
    name: 'chain',
    providers: [...chain.map(label), lastResort.name],

    async intensityFor(location?: string, at?: Date, request?: IntensityRequestOptions): Promise<ChainedIntensity> {
      const warnings: string[] = [];
      for (const entry of chain) {
        if (request?.signal?.aborted) break;
        try {
          const answer = await entry.provider.intensityFor(entry.location ?? location, at, request);
          return { ...answer, provider: entry.provider.name, warnings };
        } catch (error) {
          warnings.push(`${label(entry)}: ${message(error)}`);
        }
      }
      return lastResortIntensity(location, at, warnings);
    },

    async forecast(location: string | undefined, from: Date, to: Date, request?: IntensityRequestOptions): Promise<ChainedForecast> {
      checkRange(from, to, 'chain');
      const warnings: string[] = [];
      for (const entry of [...chain, { provider: lastResort }]) {
        const forecast = entry.provider.forecast?.bind(entry.provider);
        if (forecast === undefined) continue;
        try {
          const answer = await forecast(entry.location ?? location, from, to, request);
          return { ...answer, provider: entry.provider.name, warnings };
        } catch (error) {
          warnings.push(`${label(entry)}: ${message(error)}`);
        }
      }
      // Nobody forecasts: a flat line at the last resort's figure is honest about knowing nothing more.
      warnings.push('no provider could forecast; the series is flat at the current figure');
      const flat = await lastResortIntensity(location, undefined, warnings);
      return {
        country: flat.country,
        countryName: flat.countryName,
        ...(flat.zone === undefined ? {} : { zone: flat.zone }),
        kind: flat.kind ?? 'average',
        source: flat.source,
        points: [{ validFrom: from.toISOString(), validTo: to.toISOString(), gPerKwh: flat.gPerKwh }],
        provider: flat.provider,
        warnings: flat.warnings,
      };
    },
  };
}

function message(error: unknown): string {
  if (isEcomlError(error)) return `${error.message} [${error.code}]`;
  return error instanceof Error ? error.message : String(error);
}
