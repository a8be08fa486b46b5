/**
 * Live *marginal* grid intensity from the WattTime API v3: the MOER (marginal operating emissions
 * rate), the emissions of the generators that answer one more kWh of demand now. It is not the
 * average grid mix the country table and Electricity Maps report, and is usually higher; results
 * say so with kind: 'marginal'. Needs an account: the username/password options or WATTTIME_USER
 * and WATTTIME_PASSWORD (the names WattTime's own Python client reads).
 *
 * Documented shapes (https://docs.watttime.org, OpenAPI at https://docs.watttime.org/openapi.json):
 *   GET /login with HTTP basic auth → { token }  (a bearer token valid 30 minutes; on a 401 from a
 *     data endpoint we log in again once, as WattTime advises)
 *   GET /v3/forecast?region=CAISO_NORTH&signal_type=co2_moer[&horizon_hours=N]
 *   GET /v3/historical?region=…&signal_type=co2_moer&start=ISO&end=ISO
 *     → { data: [ { point_time, value } ], meta: { region, signal_type, units: 'lbs_co2_per_mwh',
 *         data_point_period_seconds: 300, generated_at?, model, warnings } }
 *   GET /v3/signal-index?region=…&signal_type=co2_moer
 *     → { data: [ { point_time, value } ], meta: { units: 'percentile', … } }
 * Which endpoint gives g/kWh: /v3/forecast (whose first point is the current 5-minute interval) and
 * /v3/historical return the MOER in lbs CO2/MWh, converted here with 1 lb/MWh = 453.59237 g per
 * 1,000 kWh = 0.45359237 g/kWh. /v3/signal-index returns a 0–100 percentile of the MOER over
 * recent weeks: useful for deciding *when* to run (signalIndex()), but not an intensity, so it never
 * feeds gPerKwh. The free plan serves CAISO_NORTH only (others answer 403).
 * @module
 */

import { EcomlError, isEcomlError } from '../../errors.js';
import { systemClock, type Clock } from '../clock.js';
import { arrayAt, intensityAt, malformed, recordAt, stringAt, timeAt } from './body.js';
import type { CarbonIntensity, CarbonIntensityProvider, IntensityForecast, IntensityPoint, IntensityRequestOptions } from './carbon-intensity.js';
import { getJson, type FetchLike, type HttpContext } from './http.js';
import { checkRange, checkTime, closeIntervals, overlapping, pointAt } from './series.js';
import { countryOf, countryPrefixOf, iso2Of, iso3Of, placeName, type Country } from './zones.js';

export const WATTTIME_USER_ENV = 'WATTTIME_USER';
export const WATTTIME_PASSWORD_ENV = 'WATTTIME_PASSWORD';
export const WATTTIME_BASE_URL = 'https://api.watttime.org';
/** g/kWh per lb/MWh: 453.59237 g per lb, 1,000 kWh per MWh. */
export const G_PER_KWH_PER_LB_PER_MWH = 0.45359237;

export interface WattTimeOptions {
  /** Default env WATTTIME_USER. */
  readonly username?: string;
  /** Default env WATTTIME_PASSWORD. */
  readonly password?: string;
  /** Region used when a call gives no location, e.g. 'CAISO_NORTH'. */
  readonly region?: string;
  /**
   * The country (alpha-3 or alpha-2) the region lies in, for reports. By default a region named
   * after an ISO alpha-2 code (DE, AU_NSW) is that country, a Canadian balancing authority is
   * Canada, and any other region is taken to be a US balancing authority.
   */
  readonly country?: string;
  readonly baseUrl?: string;
  /** How long a login token is reused before logging in again; WattTime's last 30 minutes. */
  readonly tokenLifetimeMs?: number;
  readonly fetch?: FetchLike;
  readonly clock?: Clock;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface WattTimeSignalIndex {
  readonly region: string;
  /** 0 (cleanest) to 100 (dirtiest): where the current MOER sits among recent values. Not g/kWh. */
  readonly percentile: number;
  readonly validFrom: string;
  readonly source: string;
}

export interface WattTimeProvider extends CarbonIntensityProvider {
  forecast(location: string | undefined, from: Date, to: Date, options?: IntensityRequestOptions): Promise<IntensityForecast>;
  signalIndex(location?: string, options?: IntensityRequestOptions): Promise<WattTimeSignalIndex>;
}

const DEFAULT_PERIOD_MS = 300_000;
const HOUR_MS = 3_600_000;
// Balancing authorities in Canada; the rest of WattTime's non-ISO-named regions are in the US.
const CANADIAN_AUTHORITIES = /^(?:AESO|BCHA|HQT|IESO|MHEB|NBSO|SPC)(?:_|$)/;

interface Region {
  readonly id: string;
  /** As the caller spelled it, for messages. */
  readonly asked: string;
  readonly country: Country;
}

interface Moer {
  readonly points: IntensityPoint[];
  readonly lbsPerMwh: ReadonlyMap<string, number>;
  readonly periodMs: number;
  readonly where: string;
}

export function createWattTimeProvider(options: WattTimeOptions = {}): WattTimeProvider {
  const name = 'watttime';
  const env = options.env ?? process.env;
  const clock = options.clock ?? systemClock;
  const baseUrl = options.baseUrl ?? WATTTIME_BASE_URL;
  const tokenLifetimeMs = options.tokenLifetimeMs ?? 25 * 60_000;
  const ctx: HttpContext = {
    provider: name,
    credentialHint: `set ${WATTTIME_USER_ENV} and ${WATTTIME_PASSWORD_ENV} (or the username/password options) to a WattTime account; a 403 also means the plan does not cover this region or endpoint (the free plan covers CAISO_NORTH only)`,
    fetch: options.fetch ?? globalThis.fetch,
    now: () => clock.wallTime().getTime(),
  };
  let token: { readonly value: string; readonly expiresAt: number } | undefined;
  let loggingIn: Promise<string> | undefined;

  async function resolveRegion(location: string | undefined): Promise<Region> {
    const query = location?.trim() || options.region?.trim();
    if (!query) {
      throw new EcomlError('E_CONFIG_INVALID', `${name}: no region given: pass a location, set the region option, or list it as watttime@CAISO_NORTH in ECOML_INTENSITY`);
    }
    const upper = query.toUpperCase();
    if (!/^[A-Z0-9_]+$/.test(upper)) {
      throw new EcomlError('E_CONFIG_INVALID', `${name}: "${query}" is not a WattTime region id (letters, digits and _, e.g. CAISO_NORTH)`, { details: { provider: name, location: query } });
    }
    // An alpha-3 country code is asked for by its alpha-2 name, as WattTime names national regions.
    const id = upper.length === 3 && iso3Of(upper) !== undefined ? (iso2Of(upper) as string) : upper;
    const override = options.country === undefined ? undefined : iso3Of(options.country);
    if (options.country !== undefined && override === undefined) {
      throw new EcomlError('E_CONFIG_INVALID', `${name}: country option "${options.country}" is not an ISO alpha-2/alpha-3 code in data/carbon-intensity-by-country.csv`);
    }
    const iso3 = override ?? (/^[A-Z]{2}(?:_|$)/.test(id) ? countryPrefixOf(id) : undefined) ?? (CANADIAN_AUTHORITIES.test(id) ? 'CAN' : 'USA');
    return { id, asked: query, country: await countryOf(iso3) };
  }

  function credentials(): { username: string; password: string } {
    const username = options.username ?? env[WATTTIME_USER_ENV];
    const password = options.password ?? env[WATTTIME_PASSWORD_ENV];
    if (!username || !password) {
      throw new EcomlError('E_CONFIG_INVALID', `${name}: no account: set ${WATTTIME_USER_ENV} and ${WATTTIME_PASSWORD_ENV} (or the username/password options)`, {
        details: { provider: name, envVar: [WATTTIME_USER_ENV, WATTTIME_PASSWORD_ENV] },
      });
    }
    return { username, password };
  }

  async function login(signal: AbortSignal | undefined): Promise<string> {
    const { username, password } = credentials();
    const url = new URL('/login', baseUrl);
    const where = `${name}: ${url.pathname}`;
    const basic = Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
    const body = recordAt(await getJson(ctx, url, { subject: `user "${username}"`, headers: { authorization: `Basic ${basic}` }, ...(signal ? { signal } : {}) }), where, 'the body');
    const value = stringAt(body.token, where, 'token');
    token = { value, expiresAt: clock.monotonicMs() + tokenLifetimeMs };
    return value;
  }

  function currentToken(signal: AbortSignal | undefined): Promise<string> {
    if (token !== undefined && token.expiresAt > clock.monotonicMs()) return Promise.resolve(token.value);
    // Concurrent calls share one login.
    loggingIn ??= login(signal).finally(() => {
      loggingIn = undefined;
    });
    return loggingIn;
  }

  async function authorizedGet(path: string, region: Region, params: Record<string, string>, signal: AbortSignal | undefined): Promise<unknown> {
    const url = new URL(path, baseUrl);
    url.searchParams.set('region', region.id);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const reused = token !== undefined && token.expiresAt > clock.monotonicMs();
    const get = (bearer: string): Promise<unknown> =>
      getJson(ctx, url, { subject: subjectOf(region), headers: { authorization: `Bearer ${bearer}` }, ...(signal ? { signal } : {}) });
    try {
      return await get(await currentToken(signal));
    } catch (error) {
      // A reused token may have expired early: log in again, once. A fresh token refused means the
      // account itself is refused, and a 403 is about the plan, so neither is retried.
      if (!reused || !isEcomlError(error) || error.details.status !== 401) throw error;
      token = undefined;
      return get(await currentToken(signal));
    }
  }

  async function moer(path: string, region: Region, params: Record<string, string>, signal: AbortSignal | undefined): Promise<Moer> {
    const where = `${name}: ${path} for region "${region.id}"`;
    const body = recordAt(await authorizedGet(path, region, { signal_type: 'co2_moer', ...params }, signal), where, 'the body');
    const meta = recordAt(body.meta, where, 'meta');
    if (meta.units !== 'lbs_co2_per_mwh') throw malformed(where, `meta.units is ${JSON.stringify(meta.units)}; expected "lbs_co2_per_mwh"`);
    const period = meta.data_point_period_seconds;
    const periodMs = typeof period === 'number' && Number.isFinite(period) && period > 0 ? period * 1000 : DEFAULT_PERIOD_MS;
    const lbsPerMwh = new Map<string, number>();
    const raw = arrayAt(body.data, where, 'data').map((entry, i) => {
      const record = recordAt(entry, where, `data[${i}]`);
      const validFrom = timeAt(record.point_time, where, `data[${i}].point_time`);
      const value = intensityAt(record.value, where, `data[${i}].value`);
      lbsPerMwh.set(validFrom, value);
      return { validFrom, gPerKwh: value * G_PER_KWH_PER_LB_PER_MWH };
    });
    if (raw.length === 0) throw malformed(where, 'data is empty');
    return { points: closeIntervals(raw, periodMs), lbsPerMwh, periodMs, where };
  }

  function result(region: Region, point: IntensityPoint, lbs: number, nowMs: number): CarbonIntensity {
    const isForecast = Date.parse(point.validFrom) > nowMs;
    return {
      gPerKwh: point.gPerKwh,
      country: region.country.iso3,
      countryName: placeName(region.country, region.id),
      source: `live:watttime ${region.id} ${point.validFrom} (marginal MOER co2_moer${isForecast ? ' forecast' : ''}: ${lbs} lbs/MWh × ${G_PER_KWH_PER_LB_PER_MWH}; the emissions of one more kWh, not the average mix)`,
      zone: region.id,
      kind: 'marginal',
      validFrom: point.validFrom,
      ...(point.validTo === undefined ? {} : { validTo: point.validTo }),
      forecast: isForecast,
    };
  }

  function subjectOf(region: Region): string {
    return region.asked === region.id ? `region "${region.id}"` : `region "${region.id}" (asked as "${region.asked}")`;
  }

  function noValue(where: string, atMs: number, points: readonly IntensityPoint[]): EcomlError {
    const first = points[0]?.validFrom ?? 'nothing';
    const last = points[points.length - 1]?.validTo ?? 'open end';
    return new EcomlError('E_CONFIG_INVALID', `${where}: no value for ${new Date(atMs).toISOString()} (the data cover ${first} to ${last})`, { details: { provider: name } });
  }

  return {
    name,
    async intensityFor(location?: string, at?: Date, request?: IntensityRequestOptions): Promise<CarbonIntensity> {
      const region = await resolveRegion(location);
      const signal = request?.signal;
      const now = clock.wallTime().getTime();
      const atMs = at === undefined ? now : checkTime(at, name);
      if (atMs >= now - DEFAULT_PERIOD_MS) {
        const data = await moer('/v3/forecast', region, {}, signal);
        const first = data.points[0] as IntensityPoint;
        // The forecast starts with the interval in force now; a clock slightly behind WattTime's still means "now".
        const point = pointAt(data.points, atMs) ?? (atMs < Date.parse(first.validFrom) && Date.parse(first.validFrom) - atMs <= data.periodMs ? first : undefined);
        if (point === undefined) throw noValue(data.where, atMs, data.points);
        return result(region, point, data.lbsPerMwh.get(point.validFrom) as number, now);
      }
      const data = await moer('/v3/historical', region, { start: new Date(atMs - 2 * DEFAULT_PERIOD_MS).toISOString(), end: new Date(atMs + DEFAULT_PERIOD_MS).toISOString() }, signal);
      const point = pointAt(data.points, atMs);
      if (point === undefined) throw noValue(data.where, atMs, data.points);
      return result(region, point, data.lbsPerMwh.get(point.validFrom) as number, now);
    },

    async forecast(location: string | undefined, from: Date, to: Date, request?: IntensityRequestOptions): Promise<IntensityForecast> {
      const { fromMs, toMs } = checkRange(from, to, name);
      const region = await resolveRegion(location);
      // The API takes 0–72 hours ahead; ask for what the range needs.
      const hours = Math.min(72, Math.max(1, Math.ceil((toMs - clock.wallTime().getTime()) / HOUR_MS)));
      const data = await moer('/v3/forecast', region, { horizon_hours: String(hours) }, request?.signal);
      return {
        country: region.country.iso3,
        countryName: placeName(region.country, region.id),
        zone: region.id,
        kind: 'marginal',
        source: `forecast:watttime ${region.id} (marginal MOER co2_moer, lbs/MWh × ${G_PER_KWH_PER_LB_PER_MWH})`,
        points: overlapping(data.points, fromMs, toMs),
      };
    },

    async signalIndex(location?: string, request?: IntensityRequestOptions): Promise<WattTimeSignalIndex> {
      const region = await resolveRegion(location);
      const where = `${name}: /v3/signal-index for region "${region.id}"`;
      const body = recordAt(await authorizedGet('/v3/signal-index', region, { signal_type: 'co2_moer' }, request?.signal), where, 'the body');
      const meta = recordAt(body.meta, where, 'meta');
      if (meta.units !== 'percentile') throw malformed(where, `meta.units is ${JSON.stringify(meta.units)}; expected "percentile"`);
      const entry = recordAt(arrayAt(body.data, where, 'data')[0], where, 'data[0]');
      const percentile = intensityAt(entry.value, where, 'data[0].value');
      if (percentile > 100) throw malformed(where, `data[0].value should be a percentile 0–100, got ${percentile}`);
      const validFrom = timeAt(entry.point_time, where, 'data[0].point_time');
      return { region: region.id, percentile, validFrom, source: `live:watttime ${region.id} ${validFrom} (co2_moer signal index: percentile, not g/kWh)` };
    },
  };
}
