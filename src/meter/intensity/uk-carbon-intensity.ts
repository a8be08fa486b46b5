/**
 * Live grid intensity for Great Britain from the NESO Carbon Intensity API (no key), nationally or
 * for one of its 17 regions by region id or outward postcode. Half-hourly gCO2/kWh, average, on the
 * API's own methodology (not the lifecycle basis of the OWID/Ember table). The national figure has
 * an `actual` once the half hour is over; regional ones are forecasts only. We use actual when
 * present, else forecast, and say which.
 *
 * Documented shapes (https://carbon-intensity.github.io/api-definitions/):
 *   GET /intensity                                  (the current half hour, national)
 *   GET /intensity/{from}/fw24h | /fw48h            (from: ISO 8601, e.g. 2026-01-01T10:00Z)
 *     → { data: [ { from, to, intensity: { forecast, actual, index } } ] }
 *   GET /regional/postcode/{outward}  e.g. RG10     GET /regional/regionid/{1–17}
 *     → { data: [ { regionid, dnoregion, shortname, postcode?,
 *                   data: [ { from, to, intensity: { forecast, index }, generationmix } ] } ] }
 *   GET /regional/intensity/{from}/fw24h|fw48h/postcode/{outward} | /regionid/{id}
 *     → { data: { regionid, dnoregion, shortname, postcode?, data: [ … as above ] } }
 * @module
 */

import { EcomlError } from '../../errors.js';
import { systemClock, type Clock } from '../clock.js';
import { arrayAt, intensityAt, malformed, recordAt, timeAt } from './body.js';
import type { CarbonIntensity, CarbonIntensityProvider, IntensityForecast, IntensityPoint, IntensityRequestOptions } from './carbon-intensity.js';
import { getJson, type FetchLike, type HttpContext } from './http.js';
import { checkRange, checkTime, closeIntervals, overlapping, pointAt } from './series.js';
import { countryOf } from './zones.js';

export const UK_CARBON_INTENSITY_BASE_URL = 'https://api.carbonintensity.org.uk';

export interface UkCarbonIntensityOptions {
  /** Used when a call gives no location: 'GB' (national, the default), a region id 1–17 or an outward postcode. */
  readonly location?: string;
  readonly baseUrl?: string;
  readonly fetch?: FetchLike;
  readonly clock?: Clock;
}

type Target = { readonly kind: 'national' } | { readonly kind: 'postcode'; readonly postcode: string } | { readonly kind: 'regionid'; readonly id: number };

interface Period {
  readonly from: string;
  readonly to: string;
  readonly gPerKwh: number;
  readonly actual: boolean;
  readonly index?: string;
}

interface Answer {
  readonly periods: readonly Period[];
  /** 'national', or 'London, region 13'. */
  readonly area: string;
  readonly zone: string;
  readonly where: string;
}

const HALF_HOUR_MS = 1_800_000;
const NATIONAL_NAMES = new Set(['GB', 'GBR', 'UK', 'UNITED KINGDOM', 'GREAT BRITAIN', 'NATIONAL']);

/** 'GB' and friends, a region id ('13', 'region 13'), or a postcode whose outward part is used ('SW1A 1AA' → SW1A). */
export function parseUkLocation(location: string): Target | undefined {
  const upper = location.trim().toUpperCase().replace(/\s+/g, ' ');
  if (NATIONAL_NAMES.has(upper)) return { kind: 'national' };
  const region = /^(?:REGION ?(?:ID)?[: ]?)?(\d{1,2})$/.exec(upper);
  if (region) {
    const id = Number(region[1]);
    return id >= 1 && id <= 17 ? { kind: 'regionid', id } : undefined;
  }
  const postcode = /^([A-Z]{1,2}\d[A-Z\d]?)(?: ?\d[A-Z]{2})?$/.exec(upper);
  return postcode ? { kind: 'postcode', postcode: postcode[1] as string } : undefined;
}

export function createUkCarbonIntensityProvider(options: UkCarbonIntensityOptions = {}): CarbonIntensityProvider {
  const name = 'uk';
  const clock = options.clock ?? systemClock;
  const baseUrl = options.baseUrl ?? UK_CARBON_INTENSITY_BASE_URL;
  const ctx: HttpContext = {
    provider: name,
    credentialHint: 'the Carbon Intensity API needs no key, so a 401/403 points at a proxy or a wrong base URL',
    fetch: options.fetch ?? globalThis.fetch,
    now: () => clock.wallTime().getTime(),
  };

  function target(location: string | undefined): { target: Target; query: string } {
    const query = location?.trim() || options.location?.trim() || 'GB';
    const parsed = parseUkLocation(query);
    if (parsed === undefined) {
      throw new EcomlError(
        'E_CONFIG_INVALID',
        `${name}: "${query}" is not a place the GB Carbon Intensity API covers: give GB (national), a region id 1–17 or an outward postcode such as RG10 or SW1A`,
        { details: { provider: name, location: query } },
      );
    }
    return { target: parsed, query };
  }

  function periodOf(entry: unknown, where: string, path: string): Period {
    const record = recordAt(entry, where, path);
    const intensity = recordAt(record.intensity, where, `${path}.intensity`);
    const actual = intensity.actual === null || intensity.actual === undefined ? undefined : intensityAt(intensity.actual, where, `${path}.intensity.actual`);
    const gPerKwh = actual ?? intensityAt(intensity.forecast, where, `${path}.intensity.forecast`);
    return {
      from: timeAt(record.from, where, `${path}.from`),
      to: timeAt(record.to, where, `${path}.to`),
      gPerKwh,
      actual: actual !== undefined,
      ...(typeof intensity.index === 'string' ? { index: intensity.index } : {}),
    };
  }

  /** The region block regional endpoints wrap their periods in (an array of one, or a bare object). */
  function regionBlock(data: unknown, where: string): { area: string; zone: string; entries: readonly unknown[] } {
    const block = recordAt(Array.isArray(data) ? data[0] : data, where, Array.isArray(data) ? 'data[0]' : 'data');
    const id = block.regionid;
    if (typeof id !== 'number' || !Number.isInteger(id)) throw malformed(where, `data.regionid should be a whole number, got ${JSON.stringify(id)}`);
    const label = typeof block.shortname === 'string' && block.shortname !== '' ? `${block.shortname}, region ${id}` : `region ${id}`;
    return { area: label, zone: `GB-region-${id}`, entries: arrayAt(block.data, where, 'data.data') };
  }

  async function fetchPeriods(t: Target, window: { from: Date; span: 'fw24h' | 'fw48h' } | undefined, signal: AbortSignal | undefined): Promise<Answer> {
    const stamp = window === undefined ? undefined : `${window.from.toISOString().slice(0, 16)}Z`;
    const path =
      t.kind === 'national'
        ? window === undefined
          ? '/intensity'
          : `/intensity/${stamp}/${window.span}`
        : `${window === undefined ? '/regional' : `/regional/intensity/${stamp}/${window.span}`}/${t.kind}/${t.kind === 'postcode' ? encodeURIComponent(t.postcode) : t.id}`;
    const url = new URL(path, baseUrl);
    const subject = t.kind === 'national' ? 'GB (national)' : t.kind === 'postcode' ? `postcode ${t.postcode}` : `region ${t.id}`;
    const where = `${name}: ${url.pathname} for ${subject}`;
    const body = recordAt(await getJson(ctx, url, { subject, ...(signal ? { signal } : {}) }), where, 'the body');
    if (t.kind === 'national') {
      const periods = arrayAt(body.data, where, 'data').map((entry, i) => periodOf(entry, where, `data[${i}]`));
      return { periods, area: 'national', zone: 'GB', where };
    }
    const { area, zone, entries } = regionBlock(body.data, where);
    return { periods: entries.map((entry, i) => periodOf(entry, where, `data.data[${i}]`)), area, zone, where };
  }

  async function resultFor(answer: Answer, period: Period): Promise<CarbonIntensity> {
    const gb = await countryOf('GBR');
    const basis = period.actual ? 'actual' : 'forecast';
    return {
      gPerKwh: period.gPerKwh,
      country: gb.iso3,
      countryName: `${gb.name} (Great Britain, ${answer.area})`,
      source: `live:carbonintensity.org.uk ${answer.area} ${period.from}–${period.to} (average, ${basis}${period.index ? `, index ${period.index}` : ''})`,
      zone: answer.zone,
      kind: 'average',
      validFrom: period.from,
      validTo: period.to,
      forecast: !period.actual,
    };
  }

  return {
    name,
    async intensityFor(location?: string, at?: Date, request?: IntensityRequestOptions): Promise<CarbonIntensity> {
      const { target: t } = target(location);
      if (at === undefined) {
        const answer = await fetchPeriods(t, undefined, request?.signal);
        const period = answer.periods[0];
        if (period === undefined) throw malformed(answer.where, 'data is empty');
        return resultFor(answer, period);
      }
      const atMs = checkTime(at, name);
      // Start a half hour early so the period containing `at` is in the answer.
      const answer = await fetchPeriods(t, { from: new Date(atMs - HALF_HOUR_MS), span: 'fw24h' }, request?.signal);
      const found = pointAt(
        closeIntervals(answer.periods.map((p) => ({ validFrom: p.from, validTo: p.to, gPerKwh: p.gPerKwh }))),
        atMs,
      );
      const period = found && answer.periods.find((p) => p.from === found.validFrom);
      if (period === undefined) {
        throw new EcomlError('E_CONFIG_INVALID', `${answer.where}: no half hour covers ${at.toISOString()}`, { details: { provider: name } });
      }
      return resultFor(answer, period);
    },

    async forecast(location: string | undefined, from: Date, to: Date, request?: IntensityRequestOptions): Promise<IntensityForecast> {
      const { fromMs, toMs } = checkRange(from, to, name);
      const { target: t } = target(location);
      const answer = await fetchPeriods(t, { from: new Date(fromMs - HALF_HOUR_MS), span: 'fw48h' }, request?.signal);
      const points: IntensityPoint[] = closeIntervals(answer.periods.map((p) => ({ validFrom: p.from, validTo: p.to, gPerKwh: p.gPerKwh })));
      const gb = await countryOf('GBR');
      return {
        country: gb.iso3,
        countryName: `${gb.name} (Great Britain, ${answer.area})`,
        zone: answer.zone,
        kind: 'average',
        source: `forecast:carbonintensity.org.uk ${answer.area} (average; actual where published, else forecast)`,
        points: overlapping(points, fromMs, toMs),
      };
    },
  };
}
