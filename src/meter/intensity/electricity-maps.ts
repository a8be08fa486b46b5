/**
 * Live grid intensity from the Electricity Maps API v3 (average, lifecycle gCO2eq/kWh by default,
 * the same basis as the shipped OWID/Ember table). Needs a token: the `token` option or
 * ELECTRICITYMAPS_TOKEN.
 *
 * Documented shapes (https://portal.electricitymaps.com/developer-hub/api/reference and
 * https://portal.electricitymaps.com/docs/getting-started), all with header `auth-token: <token>`:
 *   GET /v3/carbon-intensity/latest?zone=FR
 *   GET /v3/carbon-intensity/past?zone=FR&datetime=2026-01-01T10:00:00.000Z
 *     → { zone, carbonIntensity, datetime, updatedAt, createdAt, emissionFactorType, isEstimated,
 *         estimationMethod, temporalGranularity? }
 *   GET /v3/carbon-intensity/history?zone=FR   (last 24 h, on the free tier too)
 *     → { zone, history: [ { carbonIntensity, datetime, … as above } ] }
 *   GET /v3/carbon-intensity/forecast?zone=FR
 *     → { zone, forecast: [ { carbonIntensity, datetime } ], updatedAt }
 * Data are hourly unless temporalGranularity says otherwise. Without a zone the API falls back to
 * the caller's IP location; we always send a zone, set shouldUseFallbackCallerLookup=false, and
 * check the zone that comes back, so no figure is ever silently for somewhere else.
 * @module
 */

import { EcomlError } from '../../errors.js';
import { systemClock, type Clock } from '../clock.js';
import { arrayAt, intensityAt, malformed, recordAt, timeAt } from './body.js';
import type { CarbonIntensity, CarbonIntensityProvider, IntensityForecast, IntensityPoint, IntensityRequestOptions } from './carbon-intensity.js';
import { getJson, type FetchLike, type HttpContext } from './http.js';
import { checkRange, checkTime, closeIntervals, overlapping, pointAt } from './series.js';
import { countryOf, countryPrefixOf, findCountry, iso2Of, placeName, type Country } from './zones.js';

export const ELECTRICITY_MAPS_TOKEN_ENV = 'ELECTRICITYMAPS_TOKEN';
export const ELECTRICITY_MAPS_BASE_URL = 'https://api.electricitymaps.com';

export interface ElectricityMapsOptions {
  /** API token; default env ELECTRICITYMAPS_TOKEN. */
  readonly token?: string;
  /** Zone used when a call gives no location, e.g. 'FR' or 'US-CAL-CISO'. */
  readonly zone?: string;
  readonly baseUrl?: string;
  /** 'lifecycle' (the API's default, as the country table) or 'direct' (combustion only). */
  readonly emissionFactorType?: 'lifecycle' | 'direct';
  readonly fetch?: FetchLike;
  readonly clock?: Clock;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

const HOUR_MS = 3_600_000;
const GRANULARITY_MS: Readonly<Record<string, number>> = Object.freeze({ '5_minutes': 300_000, '15_minutes': 900_000, hourly: HOUR_MS });

interface Zone {
  readonly key: string;
  readonly country: Country;
}

export function createElectricityMapsProvider(options: ElectricityMapsOptions = {}): CarbonIntensityProvider {
  const name = 'electricity-maps';
  const env = options.env ?? process.env;
  const clock = options.clock ?? systemClock;
  const baseUrl = options.baseUrl ?? ELECTRICITY_MAPS_BASE_URL;
  const ctx: HttpContext = {
    provider: name,
    credentialHint: `set ${ELECTRICITY_MAPS_TOKEN_ENV} (or the token option) to a valid Electricity Maps API token with access to this zone`,
    fetch: options.fetch ?? globalThis.fetch,
    now: () => clock.wallTime().getTime(),
  };

  async function resolveZone(location: string | undefined): Promise<Zone> {
    const query = location?.trim() || options.zone?.trim();
    if (!query) {
      throw new EcomlError('E_CONFIG_INVALID', `${name}: no zone given: pass a location, set the zone option, or list it as electricity-maps@FR in ECOML_INTENSITY`);
    }
    const upper = query.toUpperCase();
    // Zone keys: an ISO alpha-2 country, optionally with sub-zones (US-CAL-CISO, DK-DK1). Anything
    // else must be a country the table knows, by alpha-3 code or name.
    const key = /^[A-Z]{2}(?:-[A-Z0-9]+)*$/.test(upper) ? upper : iso2Of((await findCountry(query))?.iso3 ?? '');
    const iso3 = key === undefined ? undefined : countryPrefixOf(key);
    if (key === undefined || iso3 === undefined) {
      throw new EcomlError(
        'E_CONFIG_INVALID',
        `${name}: "${query}" is not an Electricity Maps zone (e.g. FR, DE, US-CAL-CISO, DK-DK1) nor a country in data/carbon-intensity-by-country.csv`,
        { details: { provider: name, location: query } },
      );
    }
    return { key, country: await countryOf(iso3) };
  }

  function token(): string {
    const value = options.token ?? env[ELECTRICITY_MAPS_TOKEN_ENV];
    if (!value) throw new EcomlError('E_CONFIG_INVALID', `${name}: no API token: set ${ELECTRICITY_MAPS_TOKEN_ENV} or the token option`, { details: { provider: name, envVar: ELECTRICITY_MAPS_TOKEN_ENV } });
    return value;
  }

  async function get(path: string, zone: Zone, extra: Record<string, string>, signal: AbortSignal | undefined): Promise<{ body: Readonly<Record<string, unknown>>; where: string }> {
    const url = new URL(path, baseUrl);
    url.searchParams.set('zone', zone.key);
    for (const [k, v] of Object.entries(extra)) url.searchParams.set(k, v);
    if (options.emissionFactorType !== undefined) url.searchParams.set('emissionFactorType', options.emissionFactorType);
    url.searchParams.set('shouldUseFallbackCallerLookup', 'false');
    const subject = `zone "${zone.key}"`;
    const where = `${name}: ${url.pathname} for ${subject}`;
    const body = recordAt(await getJson(ctx, url, { subject, headers: { 'auth-token': token() }, ...(signal ? { signal } : {}) }), where, 'the body');
    if (body.zone !== undefined && body.zone !== zone.key) {
      throw new EcomlError('E_CONFIG_INVALID', `${where}: the answer is for zone ${JSON.stringify(body.zone)}; the API has no data for "${zone.key}"`, {
        details: { provider: name, zone: zone.key, answered: body.zone },
      });
    }
    return { body, where };
  }

  /** One reading as the latest/past endpoints (and history entries) return it. */
  function reading(entry: unknown, where: string, path: string, zone: Zone, isForecast: boolean): CarbonIntensity {
    const record = recordAt(entry, where, path);
    const gPerKwh = intensityAt(record.carbonIntensity, where, `${path}.carbonIntensity`);
    const validFrom = timeAt(record.datetime, where, `${path}.datetime`);
    const stepMs = typeof record.temporalGranularity === 'string' ? GRANULARITY_MS[record.temporalGranularity] : HOUR_MS;
    const factor = typeof record.emissionFactorType === 'string' ? record.emissionFactorType : (options.emissionFactorType ?? 'lifecycle');
    const notes = [factor, ...(record.isEstimated === true ? [`estimated${typeof record.estimationMethod === 'string' ? ` by ${record.estimationMethod}` : ''}`] : []), ...(isForecast ? ['forecast'] : [])];
    return {
      gPerKwh,
      country: zone.country.iso3,
      countryName: placeName(zone.country, zone.key),
      source: `live:electricity-maps ${zone.key} ${validFrom} (average, ${notes.join(', ')})`,
      zone: zone.key,
      kind: 'average',
      validFrom,
      ...(stepMs === undefined ? {} : { validTo: new Date(Date.parse(validFrom) + stepMs).toISOString() }),
      forecast: isForecast,
    };
  }

  async function series(kind: 'history' | 'forecast', zone: Zone, signal: AbortSignal | undefined): Promise<{ readings: CarbonIntensity[]; points: IntensityPoint[]; where: string }> {
    const { body, where } = await get(`/v3/carbon-intensity/${kind}`, zone, {}, signal);
    const entries = arrayAt(body[kind], where, kind);
    const readings = entries.map((entry, i) => reading(entry, where, `${kind}[${i}]`, zone, kind === 'forecast'));
    const points = closeIntervals(
      readings.map(({ validFrom, gPerKwh }) => ({ validFrom: validFrom as string, gPerKwh })),
      HOUR_MS,
    );
    return { readings, points, where };
  }

  async function fromSeries(kind: 'history' | 'forecast', zone: Zone, atMs: number, signal: AbortSignal | undefined): Promise<CarbonIntensity> {
    const { readings, points, where } = await series(kind, zone, signal);
    const point = pointAt(points, atMs);
    const found = point && readings.find((r) => r.validFrom === point.validFrom);
    if (!point || !found) {
      throw new EcomlError('E_CONFIG_INVALID', `${where}: no value for ${new Date(atMs).toISOString()} (${kind} covers ${describeCoverage(points)})`, {
        details: { provider: name, zone: zone.key },
      });
    }
    return { ...found, validTo: point.validTo as string };
  }

  return {
    name,
    async intensityFor(location?: string, at?: Date, request?: IntensityRequestOptions): Promise<CarbonIntensity> {
      const zone = await resolveZone(location);
      const signal = request?.signal;
      const now = clock.wallTime().getTime();
      const atMs = at === undefined ? now : checkTime(at, name);
      // Hourly data: within an hour of now, the latest figure is the one in force.
      if (Math.abs(atMs - now) <= HOUR_MS) {
        const { body, where } = await get('/v3/carbon-intensity/latest', zone, {}, signal);
        return reading(body, where, 'the body', zone, false);
      }
      if (atMs > now) return fromSeries('forecast', zone, atMs, signal);
      if (now - atMs <= 24 * HOUR_MS) return fromSeries('history', zone, atMs, signal);
      const { body, where } = await get('/v3/carbon-intensity/past', zone, { datetime: new Date(atMs).toISOString() }, signal);
      return reading(body, where, 'the body', zone, false);
    },

    async forecast(location: string | undefined, from: Date, to: Date, request?: IntensityRequestOptions): Promise<IntensityForecast> {
      const { fromMs, toMs } = checkRange(from, to, name);
      const zone = await resolveZone(location);
      const { points, where } = await series('forecast', zone, request?.signal);
      if (points.length === 0) throw malformed(where, 'the forecast is empty');
      return {
        country: zone.country.iso3,
        countryName: placeName(zone.country, zone.key),
        zone: zone.key,
        kind: 'average',
        source: `forecast:electricity-maps ${zone.key} (average, ${options.emissionFactorType ?? 'lifecycle'})`,
        points: overlapping(points, fromMs, toMs),
      };
    },
  };
}

function describeCoverage(points: readonly IntensityPoint[]): string {
  const first = points[0];
  const last = points[points.length - 1];
  if (first === undefined || last === undefined) return 'nothing';
  return `${first.validFrom} to ${last.validTo ?? 'open end'}`;
}
