import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withResilience } from '../../src/meter/intensity/resilient.js';
import { createUkCarbonIntensityProvider, parseUkLocation, type UkCarbonIntensityOptions } from '../../src/meter/intensity/uk-carbon-intensity.js';
import { runCarbonIntensityProviderSuite } from './carbon-intensity-provider.suite.js';
import { createFakeClock } from './fake-clock.js';
import { recordingSleep, startFakeServer, type FakeServer, type RecordedRequest, type Reply } from './intensity-fake-server.js';

const NOW = new Date('2026-01-01T10:10:00Z');
const HALF_HOUR = 1_800_000;
const REGIONS: Readonly<Record<string, { id: number; name: string; dno: string; base: number }>> = {
  RG10: { id: 12, name: 'South England', dno: 'SSE South', base: 120 },
  '13': { id: 13, name: 'London', dno: 'UKPN London', base: 150 },
};

/** The API's own timestamp style: minutes and a Z. */
const stamp = (ms: number): string => `${new Date(ms).toISOString().slice(0, 16)}Z`;
const floorHalf = (ms: number): number => Math.floor(ms / HALF_HOUR) * HALF_HOUR;

/** National periods from `fromMs`: actual once the half hour is over, as the API publishes. */
function national(fromMs: number, count: number) {
  return Array.from({ length: count }, (_, i) => {
    const from = fromMs + i * HALF_HOUR;
    return { from: stamp(from), to: stamp(from + HALF_HOUR), intensity: { forecast: 200 + i, actual: from + HALF_HOUR <= NOW.getTime() ? 190 + i : null, index: 'moderate' } };
  });
}

function regional(key: string, fromMs: number, count: number) {
  const region = REGIONS[key] as (typeof REGIONS)[string];
  return {
    regionid: region.id,
    dnoregion: region.dno,
    shortname: region.name,
    ...(key === 'RG10' ? { postcode: 'RG10' } : {}),
    data: Array.from({ length: count }, (_, i) => ({
      from: stamp(fromMs + i * HALF_HOUR),
      to: stamp(fromMs + (i + 1) * HALF_HOUR),
      intensity: { forecast: region.base + i, index: 'low' },
      generationmix: [
        { fuel: 'gas', perc: 30.2 },
        { fuel: 'wind', perc: 40.1 },
      ],
    })),
  };
}

const badPostcode: Reply = { status: 400, json: { error: { code: '400 Bad Request', message: 'Please enter a valid postcode' } } };

/** Answers like api.carbonintensity.org.uk for national, RG10 and region 13. */
function ukApi(request: RecordedRequest): Reply {
  const current = floorHalf(NOW.getTime());
  const path = request.path;
  if (path === '/intensity') return { json: { data: national(current - HALF_HOUR, 1) } };
  let m = /^\/intensity\/([^/]+)\/(fw24h|fw48h)$/.exec(path);
  if (m) return { json: { data: national(floorHalf(Date.parse(m[1] as string)), m[2] === 'fw24h' ? 48 : 96) } };
  m = /^\/regional\/(postcode|regionid)\/([^/]+)$/.exec(path);
  if (m) return (m[2] as string) in REGIONS ? { json: { data: [regional(m[2] as string, current, 1)] } } : badPostcode;
  m = /^\/regional\/intensity\/([^/]+)\/(fw24h|fw48h)\/(postcode|regionid)\/([^/]+)$/.exec(path);
  if (m) return (m[4] as string) in REGIONS ? { json: { data: regional(m[4] as string, floorHalf(Date.parse(m[1] as string)), m[2] === 'fw24h' ? 48 : 96) } } : badPostcode;
  return { status: 404, json: { error: { code: '404', message: 'not found' } } };
}

let server: FakeServer;
beforeAll(async () => {
  server = await startFakeServer(ukApi);
});
afterAll(() => server.close());

const provider = (options: Partial<UkCarbonIntensityOptions> = {}) => createUkCarbonIntensityProvider({ baseUrl: server.baseUrl, clock: createFakeClock(0, NOW).clock, ...options });

runCarbonIntensityProviderSuite('uk (postcode)', () => provider(), {
  knownCountry: 'RG10',
  unknownCountry: 'Atlantis',
  noLocation: 'own-default',
  at: new Date('2026-01-01T08:45:00Z'),
  forecastRange: { from: new Date('2026-01-01T12:00:00Z'), to: new Date('2026-01-02T12:00:00Z') },
});

runCarbonIntensityProviderSuite('uk (national)', () => withResilience(provider()), {
  knownCountry: 'gb',
  unknownCountry: 'France',
  noLocation: 'own-default',
  at: new Date('2026-01-01T09:59:59Z'),
  forecastRange: { from: new Date('2026-01-01T10:00:00Z'), to: new Date('2026-01-01T11:00:00Z') },
});

describe('UK Carbon Intensity provider', () => {
  it('reads places: GB, region ids and outward postcodes', () => {
    expect(parseUkLocation('United Kingdom')).toEqual({ kind: 'national' });
    expect(parseUkLocation('13')).toEqual({ kind: 'regionid', id: 13 });
    expect(parseUkLocation('region 7')).toEqual({ kind: 'regionid', id: 7 });
    expect(parseUkLocation('18')).toBeUndefined();
    expect(parseUkLocation('sw1a 1aa')).toEqual({ kind: 'postcode', postcode: 'SW1A' });
    expect(parseUkLocation('EN2')).toEqual({ kind: 'postcode', postcode: 'EN2' });
    expect(parseUkLocation('FR')).toBeUndefined();
  });

  it('uses the national actual when published', async () => {
    const before = server.requests.length;
    expect(await provider().intensityFor()).toEqual({
      gPerKwh: 190,
      country: 'GBR',
      countryName: 'United Kingdom (Great Britain, national)',
      source: 'live:carbonintensity.org.uk national 2026-01-01T09:30:00.000Z–2026-01-01T10:00:00.000Z (average, actual, index moderate)',
      zone: 'GB',
      kind: 'average',
      validFrom: '2026-01-01T09:30:00.000Z',
      validTo: '2026-01-01T10:00:00.000Z',
      forecast: false,
    });
    expect(server.requests[before]?.path).toBe('/intensity');
  });

  it('falls back to the forecast where there is no actual (regions, the future)', async () => {
    expect(await provider().intensityFor('rg10')).toMatchObject({
      gPerKwh: 120,
      countryName: 'United Kingdom (Great Britain, South England, region 12)',
      zone: 'GB-region-12',
      forecast: true,
      source: expect.stringContaining('(average, forecast, index low)'),
    });
    expect(server.requests.at(-1)?.path).toBe('/regional/postcode/RG10');
    expect(await provider({ location: 'region 13' }).intensityFor()).toMatchObject({ gPerKwh: 150, zone: 'GB-region-13' });
    expect(server.requests.at(-1)?.path).toBe('/regional/regionid/13');
    expect(await provider().intensityFor('GB', new Date('2026-01-01T13:40:00Z'))).toMatchObject({ validFrom: '2026-01-01T13:30:00.000Z', forecast: true, gPerKwh: 201 });
    expect(server.requests.at(-1)?.path).toBe('/intensity/2026-01-01T13:10Z/fw24h');
  });

  it('reads the regional window shape (data as an object) for a time', async () => {
    expect(await provider().intensityFor('13', new Date('2026-01-01T11:15:00Z'))).toMatchObject({ gPerKwh: 151, validFrom: '2026-01-01T11:00:00.000Z', validTo: '2026-01-01T11:30:00.000Z' });
    expect(server.requests.at(-1)?.path).toBe('/regional/intensity/2026-01-01T10:45Z/fw24h/regionid/13');
  });

  it('forecasts 48 hours ahead, clipped to the range', async () => {
    const forecast = await provider().forecast?.('RG10', new Date('2026-01-01T12:00:00Z'), new Date('2026-01-01T13:00:00Z'));
    expect(forecast?.points).toEqual([
      { validFrom: '2026-01-01T12:00:00.000Z', validTo: '2026-01-01T12:30:00.000Z', gPerKwh: 121 },
      { validFrom: '2026-01-01T12:30:00.000Z', validTo: '2026-01-01T13:00:00.000Z', gPerKwh: 122 },
    ]);
    expect(server.requests.at(-1)?.path).toBe('/regional/intensity/2026-01-01T11:30Z/fw48h/postcode/RG10');
  });

  it('passes the API refusing a postcode on as E_CONFIG_INVALID with its message', async () => {
    await expect(provider().intensityFor('ZZ99')).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringMatching(/postcode ZZ99.*HTTP 400.*Please enter a valid postcode/) });
  });

  it('retries a 502 and then reads the answer; gives up with the last error', async () => {
    const flaky = await startFakeServer((request, i) => (i < 1 ? { status: 502, text: 'Bad Gateway' } : ukApi(request)));
    try {
      const { sleeps, sleep } = recordingSleep();
      expect(await withResilience(provider({ baseUrl: flaky.baseUrl }), { sleep }).intensityFor('GB')).toMatchObject({ gPerKwh: 190 });
      expect(sleeps.length).toBe(1);
    } finally {
      await flaky.close();
    }
    const down = await startFakeServer(() => ({ status: 500, json: { error: { message: 'down' } } }));
    try {
      const { sleeps, sleep } = recordingSleep();
      await expect(withResilience(provider({ baseUrl: down.baseUrl }), { sleep, retries: 2 }).intensityFor('GB')).rejects.toMatchObject({
        code: 'E_DOWNLOAD_FAILED',
        message: expect.stringMatching(/HTTP 500.*down.*gave up after 3 attempts/),
      });
      expect(down.requests.length).toBe(3);
      expect(sleeps.length).toBe(2);
    } finally {
      await down.close();
    }
  });

  it('rejects bodies that do not have the documented shape', async () => {
    for (const [reply, location, pattern] of [
      [{ text: 'maintenance' }, 'GB', /not JSON/],
      [{ json: { data: [{ from: '2026-01-01T10:00Z', to: '2026-01-01T10:30Z', intensity: { forecast: null, actual: null } }] } }, 'GB', /intensity\.forecast should be a number/],
      [{ json: { data: [] } }, 'GB', /data is empty/],
      [{ json: { data: [{ regionid: 'x', data: [] }] } }, 'RG10', /regionid should be a whole number/],
      [{ json: { data: [{ regionid: 12, data: [{ from: 'soon', to: '2026-01-01T10:30Z', intensity: { forecast: 5 } }] }] } }, 'RG10', /from should be a timestamp/],
    ] as const) {
      const bad = await startFakeServer(() => reply);
      try {
        await expect(provider({ baseUrl: bad.baseUrl }).intensityFor(location)).rejects.toMatchObject({ code: 'E_DATA_MALFORMED', message: expect.stringMatching(pattern) });
      } finally {
        await bad.close();
      }
    }
  });

  it('times out a server that never answers', async () => {
    const silent = await startFakeServer(() => 'hang');
    try {
      await expect(withResilience(provider({ baseUrl: silent.baseUrl }), { timeoutMs: 30, retries: 0 }).intensityFor()).rejects.toMatchObject({ code: 'E_DOWNLOAD_FAILED', message: expect.stringContaining('timed out') });
    } finally {
      await silent.close();
    }
  });
});
