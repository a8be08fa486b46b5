/**
 * Grid intensity from a time series on disk: for sites with their own meter data, an export from a
 * provider, or offline runs. A value is in force from its timestamp until the next one for the same
 * zone. Two formats, told apart by the first character:
 *   CSV   timestamp,g_co2e_per_kwh[,zone]     (# comments allowed; RFC 4180 quoting)
 *   JSON  [{ "timestamp": "…", "value": 123.4, "zone"?: "FR" }, …]
 * Timestamps are ISO 8601 with a Z or an offset (or a bare date, read as UTC midnight): a local
 * time would mean something different on every machine. Any malformed entry fails the whole file
 * with E_DATA_MALFORMED naming its line.
 * @module
 */

import { fileURLToPath } from 'node:url';
import { EcomlError } from '../../errors.js';
import { systemClock, type Clock } from '../clock.js';
import { parseCsvTable, readTextFile } from '../csv.js';
import type { CarbonIntensity, CarbonIntensityProvider, IntensityForecast, IntensityKind, IntensityPoint } from './carbon-intensity.js';
import { checkRange, checkTime, closeIntervals, overlapping, pointAt } from './series.js';
import { countryOf, countryPrefixOf, findCountry, placeName, type Country } from './zones.js';

export const INTENSITY_FILE_ENV = 'ECOML_INTENSITY_FILE';

export interface LocalFileOptions {
  readonly path: URL | string;
  /** The country (code or name) of zoneless rows, for reports; default: the location asked for, if it is a country. */
  readonly country?: string;
  /** What the figures are; default 'average'. */
  readonly kind?: IntensityKind;
  readonly clock?: Clock;
}

interface Row {
  readonly line: number;
  readonly atMs: number;
  readonly gPerKwh: number;
  /** Upper-cased; '' for rows without a zone. */
  readonly zone: string;
}

interface Series {
  /** By zone key ('' = zoneless rows), each sorted and closed. */
  readonly byZone: ReadonlyMap<string, readonly IntensityPoint[]>;
  /** As spelled in the file, for messages and results. */
  readonly spelled: ReadonlyMap<string, string>;
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2}))?$/;

export function createLocalFileProvider(options: LocalFileOptions): CarbonIntensityProvider {
  const name = 'file';
  const path = options.path instanceof URL ? fileURLToPath(options.path) : options.path;
  const clock = options.clock ?? systemClock;
  const kind = options.kind ?? 'average';
  if (kind !== 'average' && kind !== 'marginal') throw new EcomlError('E_CONFIG_INVALID', `${name}: kind must be "average" or "marginal", got ${JSON.stringify(kind)}`);
  let loaded: Promise<Series> | undefined;

  async function pick(location: string | undefined): Promise<{ zone: string; spelled: string | undefined; points: readonly IntensityPoint[] }> {
    loaded ??= loadSeries(path);
    const series = await loaded.catch((error: unknown) => {
      loaded = undefined; // a fixed file is read again on the next call
      throw error;
    });
    const zones = [...series.spelled.values()];
    const query = location?.trim() ?? '';
    const zoneless = series.byZone.get('');
    if (query === '') {
      if (zoneless !== undefined) return { zone: '', spelled: undefined, points: zoneless };
      const only = zones.length === 1 ? (zones[0] as string) : undefined;
      if (only !== undefined) return { zone: only.toUpperCase(), spelled: only, points: series.byZone.get(only.toUpperCase()) ?? [] };
      throw new EcomlError('E_CONFIG_INVALID', `${name}: ${path} holds several zones (${zones.join(', ')}); pass one as the location`, { details: { provider: name, zones } });
    }
    const key = await matchZone(query, series);
    if (key !== undefined) return { zone: key, spelled: series.spelled.get(key), points: series.byZone.get(key) ?? [] };
    if (zoneless !== undefined) return { zone: '', spelled: undefined, points: zoneless };
    throw new EcomlError('E_CONFIG_INVALID', `${name}: ${path} has no rows for "${query}"; its zones: ${zones.join(', ')}`, { details: { provider: name, location: query, zones } });
  }

  async function countryFor(zoneSpelled: string | undefined, location: string | undefined): Promise<Country | undefined> {
    for (const candidate of [zoneSpelled, options.country, location]) {
      if (candidate === undefined || candidate.trim() === '') continue;
      const found = (await findCountry(candidate)) ?? (countryPrefixOf(candidate) === undefined ? undefined : await countryOf(countryPrefixOf(candidate) as string));
      if (found !== undefined) return found;
    }
    return undefined;
  }

  async function describe(zoneSpelled: string | undefined, location: string | undefined): Promise<{ country: string; countryName: string }> {
    const country = await countryFor(zoneSpelled, location);
    if (country === undefined) return { country: 'WORLD', countryName: zoneSpelled ?? 'unspecified (set the file provider\'s country option)' };
    return { country: country.iso3, countryName: placeName(country, zoneSpelled) };
  }

  return {
    name,
    async intensityFor(location?: string, at?: Date): Promise<CarbonIntensity> {
      const atMs = at === undefined ? clock.wallTime().getTime() : checkTime(at, name);
      const { spelled, points } = await pick(location);
      const point = pointAt(points, atMs);
      if (point === undefined) {
        throw new EcomlError('E_CONFIG_INVALID', `${name}: ${path}${spelled ? ` (zone ${spelled})` : ''} starts at ${points[0]?.validFrom ?? '?'}; no value is in force at ${new Date(atMs).toISOString()}`, {
          details: { provider: name },
        });
      }
      return {
        gPerKwh: point.gPerKwh,
        ...(await describe(spelled, location)),
        source: `file:${path}${spelled ? ` ${spelled}` : ''} ${point.validFrom} (${kind})`,
        ...(spelled ? { zone: spelled } : {}),
        kind,
        validFrom: point.validFrom,
        ...(point.validTo === undefined ? {} : { validTo: point.validTo }),
      };
    },

    async forecast(location: string | undefined, from: Date, to: Date): Promise<IntensityForecast> {
      const { fromMs, toMs } = checkRange(from, to, name);
      const { spelled, points } = await pick(location);
      return {
        ...(await describe(spelled, location)),
        ...(spelled ? { zone: spelled } : {}),
        kind,
        source: `file:${path}${spelled ? ` ${spelled}` : ''} (${kind})`,
        points: overlapping(points, fromMs, toMs),
      };
    },
  };
}

/** The file's zone for a location: the same key, or the same country (FR matches FRA or France). */
async function matchZone(query: string, series: Series): Promise<string | undefined> {
  const upper = query.toUpperCase();
  if (series.byZone.has(upper)) return upper;
  const wanted = await findCountry(query);
  if (wanted === undefined) return undefined;
  for (const [key, spelled] of series.spelled) {
    if ((await findCountry(spelled))?.iso3 === wanted.iso3) return key;
  }
  return undefined;
}

async function loadSeries(path: string): Promise<Series> {
  const text = await readTextFile(path);
  const rows = text.trimStart().startsWith('[') ? jsonRows(text, path) : csvRows(text, path);
  if (rows.length === 0) throw new EcomlError('E_DATA_MALFORMED', `${path}: no rows`, { details: { path } });
  const grouped = new Map<string, Row[]>();
  const spelled = new Map<string, string>();
  for (const row of rows) {
    const list = grouped.get(row.zone) ?? [];
    const clash = list.find((other) => other.atMs === row.atMs);
    if (clash) throw new EcomlError('E_DATA_MALFORMED', `${path}:${row.line}: repeats the timestamp of line ${clash.line}${row.zone ? ` for zone ${row.zone}` : ''}`, { details: { path, line: row.line } });
    list.push(row);
    grouped.set(row.zone, list);
  }
  for (const row of rows) if (row.zone !== '' && !spelled.has(row.zone)) spelled.set(row.zone, row.zone);
  const byZone = new Map<string, readonly IntensityPoint[]>();
  for (const [zone, list] of grouped) byZone.set(zone, closeIntervals(list.map((row) => ({ validFrom: new Date(row.atMs).toISOString(), gPerKwh: row.gPerKwh }))));
  return { byZone, spelled };
}

function csvRows(text: string, path: string): Row[] {
  return parseCsvTable(text, ['timestamp', 'g_co2e_per_kwh'], path).map(({ line, fields }) =>
    row(path, line, fields.timestamp, fields.g_co2e_per_kwh?.trim() ? Number(fields.g_co2e_per_kwh) : undefined, fields.zone, JSON.stringify(fields.g_co2e_per_kwh ?? '')),
  );
}

function jsonRows(text: string, path: string): Row[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    const line = lineAt(text, jsonErrorOffset(text, (error as Error).message));
    throw new EcomlError('E_DATA_MALFORMED', `${path}:${line}: not valid JSON: ${(error as Error).message.replace(/\s+/g, ' ')}`, { details: { path, line } });
  }
  if (!Array.isArray(data)) throw new EcomlError('E_DATA_MALFORMED', `${path}:1: expected an array of {timestamp, value[, zone]}`, { details: { path, line: 1 } });
  const lines = elementLines(text);
  return data.map((entry: unknown, i) => {
    const line = lines[i] ?? 1;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      throw new EcomlError('E_DATA_MALFORMED', `${path}:${line}: entry ${i} should be an object {timestamp, value[, zone]}`, { details: { path, line } });
    }
    const { timestamp, value, zone } = entry as { timestamp?: unknown; value?: unknown; zone?: unknown };
    if (zone !== undefined && typeof zone !== 'string') throw new EcomlError('E_DATA_MALFORMED', `${path}:${line}: entry ${i}: zone should be a string`, { details: { path, line } });
    return row(path, line, typeof timestamp === 'string' ? timestamp : undefined, typeof value === 'number' ? value : undefined, zone, JSON.stringify(value) ?? 'nothing');
  });
}

function row(path: string, line: number, timestamp: string | undefined, value: number | undefined, zone: string | undefined, rawValue: string | undefined): Row {
  const atMs = timestamp !== undefined && TIMESTAMP.test(timestamp.trim()) ? Date.parse(timestamp.trim()) : Number.NaN;
  if (!Number.isFinite(atMs)) {
    throw new EcomlError('E_DATA_MALFORMED', `${path}:${line}: timestamp ${JSON.stringify(timestamp ?? null)} is not ISO 8601 with a Z or an offset`, { details: { path, line } });
  }
  // Zero is a real value (an all-hydro hour); negative or non-numeric is not.
  if (value === undefined || !Number.isFinite(value) || value < 0) {
    throw new EcomlError('E_DATA_MALFORMED', `${path}:${line}: the intensity should be a number ≥ 0 gCO2e/kWh, got ${rawValue ?? 'nothing'}`, { details: { path, line } });
  }
  return { line, atMs, gPerKwh: value, zone: (zone ?? '').trim().toUpperCase() };
}

/**
 * Where JSON.parse gave up. V8 names the position only for some errors, so otherwise find the
 * longest prefix that is still the start of valid JSON: the next character is the culprit.
 */
function jsonErrorOffset(text: string, message: string): number {
  const stated = /position (\d+)/.exec(message);
  if (stated) return Number(stated[1]);
  const viable = (length: number): boolean => {
    try {
      JSON.parse(text.slice(0, length));
      return true;
    } catch (error) {
      // Errors at the very end of the prefix only mean it stopped early, not that it went wrong.
      const said = (error as Error).message;
      const at = /position (\d+)/.exec(said);
      return /Unexpected end of JSON input|Unterminated/.test(said) || (at !== null && Number(at[1]) >= length);
    }
  };
  let low = 0;
  let high = text.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (viable(mid)) low = mid;
    else high = mid - 1;
  }
  return low;
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text[i] === '\n') line++;
  return line;
}

/** The line each top-level array element starts on, so errors can point at it. */
function elementLines(text: string): number[] {
  const lines: number[] = [];
  let line = 1;
  let depth = 0;
  let inString = false;
  let expectingElement = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') line++;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') continue;
    if (depth === 1 && expectingElement && c !== ']') {
      lines.push(line);
      expectingElement = false;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      depth++;
      if (depth === 1) expectingElement = true;
    } else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 1) expectingElement = true;
  }
  return lines;
}
