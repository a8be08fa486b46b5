import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createElectricityMapsProvider, type ElectricityMapsOptions } from '../../src/meter/intensity/electricity-maps.js';
import { withResilience } from '../../src/meter/intensity/resilient.js';
import { runCarbonIntensityProviderSuite } from './carbon-intensity-provider.suite.js';
import { createFakeClock } from './fake-clock.js';
import { recordingSleep, startFakeServer, withServer, type FakeServer, type RecordedRequest, type Reply } from './intensity-fake-server.js';

// "Now" for every test: 10:20 UTC, so the latest hourly reading is the one for 10:00.
const NOW = new Date('2026-01-01T10:20:00Z');
const HOUR = 3_600_000;
const TOKEN = 'test-token';
const ZONES: Readonly<Record<string, number>> = { FR: 32, DE: 380, 'US-CAL-CISO': 210 };

/** A reading as the documented latest/past/history endpoints return it. */
function reading(zone: string, hourMs: number, offset = 0): Record<string, unknown> {
  return {
    zone,
    carbonIntensity: (ZONES[zone] ?? 0) + offset,
    datetime: new Date(hourMs).toISOString(),
    updatedAt: NOW.toISOString(),
    createdAt: '2025-12-30T00:00:00.000Z',
    emissionFactorType: 'lifecycle',
    isEstimated: false,
    estimationMethod: null,
  };
}

const floorHour = (ms: number): number => Math.floor(ms / HOUR) * HOUR;

/** Answers like the Electricity Maps v3 API for the zones above. */
function electricityMaps(request: RecordedRequest): Reply {
  if (request.headers['auth-token'] !== TOKEN) {
    return { status: 401, json: { error: 'Invalid auth-token', message: 'The provided token is invalid.' } };
  }
  const zone = request.query.get('zone') ?? '';
  if (!(zone in ZONES)) return { status: 404, json: { error: `Zone '${zone}' does not exist` } };
  const latestHour = floorHour(NOW.getTime());
  switch (request.path) {
    case '/v3/carbon-intensity/latest':
      return { json: reading(zone, latestHour) };
    case '/v3/carbon-intensity/past':
      return { json: reading(zone, floorHour(Date.parse(request.query.get('datetime') ?? '')), -10) };
    case '/v3/carbon-intensity/history':
      return { json: { zone, history: Array.from({ length: 24 }, (_, i) => reading(zone, latestHour - (23 - i) * HOUR, i)) } };
    case '/v3/carbon-intensity/forecast':
      return {
        json: {
          zone,
          forecast: Array.from({ length: 24 }, (_, i) => ({ carbonIntensity: (ZONES[zone] ?? 0) + 100 + i, datetime: new Date(latestHour + i * HOUR).toISOString() })),
          updatedAt: NOW.toISOString(),
        },
      };
    default:
      return { status: 404, json: { error: 'not found' } };
  }
}

let server: FakeServer;
beforeAll(async () => {
  server = await startFakeServer(electricityMaps);
});
afterAll(() => server.close());

const provider = (options: Partial<ElectricityMapsOptions> = {}) =>
  createElectricityMapsProvider({ token: TOKEN, baseUrl: server.baseUrl, clock: createFakeClock(0, NOW).clock, env: {}, ...options });

runCarbonIntensityProviderSuite('electricity-maps', () => provider(), {
  knownCountry: 'FR',
  unknownCountry: 'Atlantis',
  noLocation: 'rejects',
  at: new Date('2026-01-01T06:30:00Z'),
  forecastRange: { from: new Date('2026-01-01T12:30:00Z'), to: new Date('2026-01-01T15:00:00Z') },
});

runCarbonIntensityProviderSuite('electricity-maps (resilient)', () => withResilience(provider(), { clock: createFakeClock(0, NOW).clock }), {
  knownCountry: 'US-CAL-CISO',
  unknownCountry: 'Atlantis',
  noLocation: 'rejects',
});

describe('Electricity Maps provider', () => {
  it('reads the documented latest shape with the token header, and never lets the API guess the place', async () => {
    const before = server.requests.length;
    expect(await provider().intensityFor('FR')).toEqual({
      gPerKwh: 32,
      country: 'FRA',
      countryName: 'France',
      source: 'live:electricity-maps FR 2026-01-01T10:00:00.000Z (average, lifecycle)',
      zone: 'FR',
      kind: 'average',
      validFrom: '2026-01-01T10:00:00.000Z',
      validTo: '2026-01-01T11:00:00.000Z',
      forecast: false,
    });
    const request = server.requests[before] as RecordedRequest;
    expect(request.path).toBe('/v3/carbon-intensity/latest');
    expect(request.headers['auth-token']).toBe(TOKEN);
    expect(Object.fromEntries(request.query)).toEqual({ zone: 'FR', shouldUseFallbackCallerLookup: 'false' });
  });

  it('takes countries by alpha-3 code or name, and sub-zones with their country', async () => {
    expect(await provider().intensityFor('FRA')).toMatchObject({ zone: 'FR', country: 'FRA' });
    expect(await provider().intensityFor('france')).toMatchObject({ zone: 'FR', country: 'FRA' });
    expect(await provider().intensityFor('us-cal-ciso')).toMatchObject({ zone: 'US-CAL-CISO', country: 'USA', countryName: 'United States (US-CAL-CISO)', gPerKwh: 210 });
    expect(await provider({ zone: 'DE' }).intensityFor()).toMatchObject({ zone: 'DE', country: 'DEU', gPerKwh: 380 });
  });

  it('answers for a time: recent history, older past, and the forecast ahead', async () => {
    const p = provider();
    expect(await p.intensityFor('FR', new Date('2026-01-01T07:40:00Z'))).toMatchObject({
      gPerKwh: 32 + 20,
      validFrom: '2026-01-01T07:00:00.000Z',
      validTo: '2026-01-01T08:00:00.000Z',
      forecast: false,
    });
    const before = server.requests.length;
    expect(await p.intensityFor('FR', new Date('2025-12-20T05:30:00Z'))).toMatchObject({ gPerKwh: 22, validFrom: '2025-12-20T05:00:00.000Z' });
    expect(server.requests[before]).toMatchObject({ path: '/v3/carbon-intensity/past' });
    expect(server.requests[before]?.query.get('datetime')).toBe('2025-12-20T05:30:00.000Z');
    expect(await p.intensityFor('FR', new Date('2026-01-01T15:10:00Z'))).toMatchObject({
      gPerKwh: 32 + 100 + 5,
      validFrom: '2026-01-01T15:00:00.000Z',
      forecast: true,
      source: expect.stringContaining('forecast'),
    });
    await expect(p.intensityFor('FR', new Date('2026-01-05T00:00:00Z'))).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringMatching(/no value.*forecast covers/) });
  });

  it('forecasts the documented forecast shape, clipped to the range', async () => {
    const forecast = await provider().forecast?.('FR', new Date('2026-01-01T12:30:00Z'), new Date('2026-01-01T14:00:00Z'));
    expect(forecast).toMatchObject({ country: 'FRA', zone: 'FR', kind: 'average' });
    expect(forecast?.points).toEqual([
      { validFrom: '2026-01-01T12:00:00.000Z', validTo: '2026-01-01T13:00:00.000Z', gPerKwh: 134 },
      { validFrom: '2026-01-01T13:00:00.000Z', validTo: '2026-01-01T14:00:00.000Z', gPerKwh: 135 },
    ]);
  });

  it('passes the emission-factor choice on', async () => {
    const before = server.requests.length;
    await provider({ emissionFactorType: 'direct' }).intensityFor('DE');
    expect(server.requests[before]?.query.get('emissionFactorType')).toBe('direct');
  });

  it('reads the token from ELECTRICITYMAPS_TOKEN, and says so when it is missing', async () => {
    expect(await provider({ token: undefined, env: { ELECTRICITYMAPS_TOKEN: TOKEN } }).intensityFor('FR')).toMatchObject({ gPerKwh: 32 });
    const before = server.requests.length;
    await expect(provider({ token: undefined }).intensityFor('FR')).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringContaining('ELECTRICITYMAPS_TOKEN') });
    expect(server.requests.length).toBe(before);
  });

  it('turns a 401 into E_CONFIG_INVALID naming the provider and the env var, without retrying', async () => {
    const { sleeps, sleep } = recordingSleep();
    const before = server.requests.length;
    const error = await withResilience(provider({ token: 'wrong' }), { sleep })
      .intensityFor('FR')
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringMatching(/electricity-maps.*HTTP 401.*provided token is invalid.*ELECTRICITYMAPS_TOKEN/) });
    expect(server.requests.length - before).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it('refuses an unknown zone the API rejects, and an answer for another zone', async () => {
    await expect(provider().intensityFor('FR-ZZ')).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringContaining('HTTP 404') });
    await withServer(
      () => ({ json: reading('DE', floorHour(NOW.getTime())) }),
      async (other) => {
        await expect(provider({ baseUrl: other.baseUrl }).intensityFor('FR')).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringContaining('"DE"') });
      },
    );
  });

  it('retries a 429 after the Retry-After the server asked for, then succeeds', async () => {
    await withServer(
      (request, i) => (i === 0 ? { status: 429, headers: { 'retry-after': '2' }, json: { error: 'Too many requests' } } : electricityMaps(request)),
      async (other) => {
        const { sleeps, sleep } = recordingSleep();
        const intensity = await withResilience(provider({ baseUrl: other.baseUrl }), { sleep, random: () => 0 }).intensityFor('FR');
        expect(intensity.gPerKwh).toBe(32);
        expect(other.requests.length).toBe(2);
        expect(sleeps).toEqual([2000]);
      },
    );
  });

  it('retries 5xx with exponential backoff and jitter', async () => {
    await withServer(
      (request, i) => (i < 2 ? { status: 503, text: 'upstream unavailable' } : electricityMaps(request)),
      async (other) => {
        const { sleeps, sleep } = recordingSleep();
        await withResilience(provider({ baseUrl: other.baseUrl }), { sleep, random: () => 0.5, baseDelayMs: 100 }).intensityFor('FR');
        expect(other.requests.length).toBe(3);
        // Equal jitter: half of each doubling step fixed, half scaled by random().
        expect(sleeps).toEqual([75, 150]);
      },
    );
  });

  it('aborts a request the server never answers, quickly, and retries it', async () => {
    await withServer(
      () => 'hang',
      async (other) => {
        const { sleeps, sleep } = recordingSleep();
        const started = Date.now();
        const error = await withResilience(provider({ baseUrl: other.baseUrl }), { sleep, timeoutMs: 50, retries: 1 })
          .intensityFor('FR')
          .catch((e: unknown) => e);
        expect(error).toMatchObject({ code: 'E_DOWNLOAD_FAILED', message: expect.stringMatching(/timed out.*gave up after 2 attempts/) });
        expect(Date.now() - started).toBeLessThan(3000);
        expect(other.requests.length).toBe(2);
        expect(sleeps.length).toBe(1);
      },
    );
  });

  it('reports a body that is not JSON, or lacks the documented fields, as E_DATA_MALFORMED without retrying', async () => {
    for (const [reply, pattern] of [
      [{ text: '<html>gateway</html>' }, /not JSON/],
      [{ json: { zone: 'FR', datetime: '2026-01-01T10:00:00.000Z' } }, /carbonIntensity should be a number/],
      [{ json: { zone: 'FR', carbonIntensity: null, datetime: '2026-01-01T10:00:00.000Z' } }, /carbonIntensity should be a number ≥ 0, got null/],
      [{ json: { zone: 'FR', carbonIntensity: 30, datetime: 'yesterday' } }, /datetime should be a timestamp/],
      [{ json: [1, 2] }, /the body should be an object/],
    ] as const) {
      await withServer(
        () => reply,
        async (other) => {
          const { sleeps, sleep } = recordingSleep();
          const error = await withResilience(provider({ baseUrl: other.baseUrl }), { sleep })
            .intensityFor('FR')
            .catch((e: unknown) => e);
          expect(error).toMatchObject({ code: 'E_DATA_MALFORMED', message: expect.stringMatching(pattern) });
          expect(other.requests.length).toBe(1);
          expect(sleeps).toEqual([]);
        },
      );
    }
  });

  it('serves repeat calls from the cache until the TTL passes', async () => {
    const fake = createFakeClock(0, NOW);
    const cached = withResilience(provider({ clock: fake.clock }), { clock: fake.clock, cacheTtlMs: 60_000 });
    const count = () => server.count('/v3/carbon-intensity/latest');
    const before = count();
    const first = await cached.intensityFor('FR');
    expect(await cached.intensityFor('fr')).toEqual(first);
    expect(count() - before).toBe(1);
    await cached.intensityFor('DE');
    expect(count() - before).toBe(2);
    fake.advance(60_001);
    await cached.intensityFor('FR');
    expect(count() - before).toBe(3);
  });
});
