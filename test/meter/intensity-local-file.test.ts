import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalFileProvider } from '../../src/meter/intensity/local-file.js';
import { runCarbonIntensityProviderSuite } from './carbon-intensity-provider.suite.js';
import { createFakeClock } from './fake-clock.js';

const NOW = new Date('2026-01-01T12:00:00Z');
const clock = createFakeClock(0, NOW).clock;

const ZONED_CSV = [
  '# site export, lifecycle gCO2e/kWh',
  'timestamp,g_co2e_per_kwh,zone',
  '2026-01-01T00:00:00Z,40,FR',
  '2026-01-01T06:00:00Z,55.5,FR',
  '2026-01-01T00:00:00Z,400,DE',
  '2026-01-01T09:00:00+01:00,350,DE',
  '2026-01-01T12:00:00Z,0,FR',
  '2026-01-02T00:00:00Z,45,FR',
  '',
].join('\n');

let dir: string;
const file = (name: string) => join(dir, name);
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ecoml-intensity-file-'));
  await writeFile(file('zoned.csv'), ZONED_CSV);
  await writeFile(file('plain.csv'), 'timestamp,g_co2e_per_kwh\n2026-01-01,120\n2026-01-01T10:00Z,80\n');
  await writeFile(
    file('series.json'),
    JSON.stringify(
      [
        { timestamp: '2026-01-01T00:00:00Z', value: 300 },
        { timestamp: '2026-01-01T11:30:00Z', value: 250, zone: 'US-CAL-CISO' },
        { timestamp: '2026-01-01T00:00:00Z', value: 310, zone: 'US-CAL-CISO' },
      ],
      null,
      2,
    ),
  );
});
afterAll(() => rm(dir, { recursive: true }));

runCarbonIntensityProviderSuite('file (zoned CSV)', () => createLocalFileProvider({ path: file('zoned.csv'), clock }), {
  knownCountry: 'FR',
  unknownCountry: 'Atlantis',
  noLocation: 'rejects',
  at: new Date('2026-01-01T07:30:00Z'),
  forecastRange: { from: new Date('2026-01-01T05:00:00Z'), to: new Date('2026-01-01T13:00:00Z') },
});

describe('local file provider', () => {
  it('picks the value in force at the requested time, per zone', async () => {
    const provider = createLocalFileProvider({ path: file('zoned.csv'), clock });
    expect(await provider.intensityFor('FR', new Date('2026-01-01T05:59:59Z'))).toEqual({
      gPerKwh: 40,
      country: 'FRA',
      countryName: 'France',
      source: `file:${file('zoned.csv')} FR 2026-01-01T00:00:00.000Z (average)`,
      zone: 'FR',
      kind: 'average',
      validFrom: '2026-01-01T00:00:00.000Z',
      validTo: '2026-01-01T06:00:00.000Z',
    });
    expect(await provider.intensityFor('fra', new Date('2026-01-01T06:00:00Z'))).toMatchObject({ gPerKwh: 55.5 });
    expect(await provider.intensityFor('France')).toMatchObject({ gPerKwh: 0, validFrom: '2026-01-01T12:00:00.000Z' });
    expect(await provider.intensityFor('DE', new Date('2026-01-01T08:30:00Z'))).toMatchObject({ gPerKwh: 350, country: 'DEU', validFrom: '2026-01-01T08:00:00.000Z' });
    // The last row stays in force: a file has no horizon of its own.
    expect(await provider.intensityFor('FR', new Date('2027-01-01T00:00:00Z'))).toMatchObject({ gPerKwh: 45 });
    await expect(provider.intensityFor('FR', new Date('2025-12-31T23:00:00Z'))).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringContaining('no value is in force') });
  });

  it('reads zoneless CSV and JSON series, with the country from options or the zone', async () => {
    const plain = createLocalFileProvider({ path: file('plain.csv'), clock, country: 'GB', kind: 'marginal' });
    expect(await plain.intensityFor()).toMatchObject({ gPerKwh: 80, country: 'GBR', kind: 'marginal' });
    expect(await plain.intensityFor(undefined, new Date('2026-01-01T09:00:00Z'))).toMatchObject({ gPerKwh: 120, validTo: '2026-01-01T10:00:00.000Z' });
    // Zoneless rows answer for any location; the location names the country when nothing else does.
    expect(await createLocalFileProvider({ path: file('plain.csv'), clock }).intensityFor('DE')).toMatchObject({ gPerKwh: 80, country: 'DEU' });

    const json = createLocalFileProvider({ path: new URL(`file://${file('series.json')}`), clock });
    expect(await json.intensityFor('us-cal-ciso')).toMatchObject({ gPerKwh: 250, zone: 'US-CAL-CISO', country: 'USA', countryName: 'United States (US-CAL-CISO)' });
    expect(await json.intensityFor('CAISO')).toMatchObject({ gPerKwh: 300, country: 'WORLD' });
    const forecast = await json.forecast?.('US-CAL-CISO', new Date('2026-01-01T10:00:00Z'), new Date('2026-01-01T13:00:00Z'));
    expect(forecast?.points).toEqual([
      { validFrom: '2026-01-01T00:00:00.000Z', validTo: '2026-01-01T11:30:00.000Z', gPerKwh: 310 },
      { validFrom: '2026-01-01T11:30:00.000Z', gPerKwh: 250 },
    ]);
  });

  it('asks which zone when a file holds several and no location is given', async () => {
    await expect(createLocalFileProvider({ path: file('zoned.csv'), clock }).intensityFor()).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringContaining('FR, DE') });
  });

  it.each([
    ['bad-time.csv', 'timestamp,g_co2e_per_kwh\n2026-01-01T00:00:00Z,10\n2026-01-01 05:00,12\n', /bad-time\.csv:3: timestamp "2026-01-01 05:00" is not ISO 8601/],
    ['negative.csv', '# c\ntimestamp,g_co2e_per_kwh\n2026-01-01T00:00:00Z,-3\n', /negative\.csv:3: the intensity should be a number ≥ 0/],
    ['empty-value.csv', 'timestamp,g_co2e_per_kwh\n2026-01-01T00:00:00Z,\n', /empty-value\.csv:2: the intensity should be a number/],
    ['no-header.csv', 'time,value\n2026-01-01T00:00:00Z,3\n', /no-header\.csv:1: header lacks column\(s\) timestamp, g_co2e_per_kwh/],
    ['ragged.csv', 'timestamp,g_co2e_per_kwh\n2026-01-01T00:00:00Z,3,FR\n', /ragged\.csv:2: expected 2 fields, found 3/],
    ['duplicate.csv', 'timestamp,g_co2e_per_kwh,zone\n2026-01-01T00:00:00Z,3,FR\n2026-01-01T01:00:00+01:00,4,fr\n', /duplicate\.csv:3: repeats the timestamp of line 2 for zone FR/],
    ['empty.csv', 'timestamp,g_co2e_per_kwh\n', /empty\.csv: no rows/],
    ['broken.json', '[\n  {"timestamp": "2026-01-01T00:00:00Z", "value": 1},\n  {"timestamp": \n]', /broken\.json:4: not valid JSON/],
    ['missing-value.json', '[\n  {"timestamp": "2026-01-01T00:00:00Z", "value": 1},\n\n  {"timestamp": "2026-01-01T01:00:00Z"}\n]', /missing-value\.json:4: the intensity should be a number ≥ 0 gCO2e\/kWh, got nothing/],
    ['string-value.json', '[{"timestamp": "2026-01-01T00:00:00Z", "value": "12"}]', /string-value\.json:1: the intensity should be a number/],
    ['not-object.json', '[\n 1\n]', /not-object\.json:2: entry 0 should be an object/],
  ])('reports %s as E_DATA_MALFORMED with its line', async (name, text, pattern) => {
    await writeFile(file(name), text);
    await expect(createLocalFileProvider({ path: file(name), clock }).intensityFor()).rejects.toMatchObject({ code: 'E_DATA_MALFORMED', message: expect.stringMatching(pattern) });
  });

  it('reports a missing file as E_FILE_NOT_FOUND and reads it once it appears', async () => {
    const provider = createLocalFileProvider({ path: file('later.csv'), clock });
    await expect(provider.intensityFor()).rejects.toMatchObject({ code: 'E_FILE_NOT_FOUND' });
    await writeFile(file('later.csv'), 'timestamp,g_co2e_per_kwh\n2026-01-01T00:00:00Z,77\n');
    expect(await provider.intensityFor()).toMatchObject({ gPerKwh: 77 });
  });

  it('rejects a kind it does not know', () => {
    expect(() => createLocalFileProvider({ path: file('plain.csv'), kind: 'lifecycle' as 'average' })).toThrow(/kind must be/);
  });
});
