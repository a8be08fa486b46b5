import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withResilience } from '../../src/meter/intensity/resilient.js';
import { createWattTimeProvider, G_PER_KWH_PER_LB_PER_MWH, type WattTimeOptions } from '../../src/meter/intensity/watttime.js';
import { runCarbonIntensityProviderSuite } from './carbon-intensity-provider.suite.js';
import { createFakeClock } from './fake-clock.js';
import { recordingSleep, startFakeServer, withServer, type FakeServer, type RecordedRequest, type Reply } from './intensity-fake-server.js';

const NOW = new Date('2026-01-01T10:22:00Z');
const FIVE_MIN = 300_000;
const REGIONS: Readonly<Record<string, number>> = { CAISO_NORTH: 1000, DE: 800, IESO_NORTH: 100 };
const BASIC = `Basic ${Buffer.from('alice:secret').toString('base64')}`;

const floor5 = (ms: number): number => Math.floor(ms / FIVE_MIN) * FIVE_MIN;
const meta = (region: string, units = 'lbs_co2_per_mwh') => ({
  region,
  signal_type: 'co2_moer',
  model: { date: '2025-10-01' },
  units,
  data_point_period_seconds: 300,
  generated_at: new Date(floor5(NOW.getTime())).toISOString(),
  warnings: [],
});

/** A WattTime v3 stand-in: /login hands out tok-1, tok-2…; data endpoints want the latest token. */
function createWattTime(): { handler: (request: RecordedRequest) => Reply; expireTokens(): void } {
  let issued = 0;
  let valid = new Set<string>();
  return {
    expireTokens: () => {
      valid = new Set();
    },
    handler(request) {
      if (request.path === '/login') {
        if (request.headers.authorization !== BASIC) return { status: 401, json: { error: 'Unauthorized' } };
        const token = `tok-${++issued}`;
        valid.add(token);
        return { json: { token } };
      }
      const bearer = request.headers.authorization?.replace(/^Bearer /, '') ?? '';
      if (!valid.has(bearer)) return { status: 401, json: { error: 'Invalid token' } };
      const region = request.query.get('region') ?? '';
      if (!(region in REGIONS)) return { status: 400, json: { error: 'INVALID_REGION', message: `region ${region} is not a WattTime region` } };
      if (request.query.get('signal_type') !== 'co2_moer') return { status: 400, json: { error: 'bad signal_type' } };
      const base = REGIONS[region] ?? 0;
      const start = floor5(NOW.getTime());
      switch (request.path) {
        case '/v3/forecast':
          return { json: { data: Array.from({ length: 288 }, (_, i) => ({ point_time: new Date(start + i * FIVE_MIN).toISOString(), value: base + i })), meta: meta(region) } };
        case '/v3/historical': {
          const from = floor5(Date.parse(request.query.get('start') ?? ''));
          const to = Date.parse(request.query.get('end') ?? '');
          const data = [];
          for (let t = from; t <= to; t += FIVE_MIN) data.push({ point_time: new Date(t).toISOString(), value: base - 500 });
          return { json: { data, meta: meta(region) } };
        }
        case '/v3/signal-index':
          return { json: { data: [{ point_time: new Date(start).toISOString(), value: 42 }], meta: meta(region, 'percentile') } };
        default:
          return { status: 404, json: { error: 'not found' } };
      }
    },
  };
}

let server: FakeServer;
const wattTime = createWattTime();
beforeAll(async () => {
  server = await startFakeServer(wattTime.handler);
});
afterAll(() => server.close());

const provider = (options: Partial<WattTimeOptions> = {}) =>
  createWattTimeProvider({ username: 'alice', password: 'secret', baseUrl: server.baseUrl, clock: createFakeClock(0, NOW).clock, env: {}, ...options });

runCarbonIntensityProviderSuite('watttime', () => provider(), {
  knownCountry: 'CAISO_NORTH',
  unknownCountry: 'Atlantis',
  noLocation: 'rejects',
  at: new Date('2026-01-01T08:03:00Z'),
  forecastRange: { from: new Date('2026-01-01T11:00:00Z'), to: new Date('2026-01-01T12:00:00Z') },
});

describe('WattTime provider', () => {
  it('logs in with basic auth, then converts the forecast MOER from lbs/MWh to g/kWh, labelled marginal', async () => {
    const before = server.requests.length;
    const intensity = await provider().intensityFor('CAISO_NORTH');
    expect(intensity).toEqual({
      gPerKwh: 1000 * G_PER_KWH_PER_LB_PER_MWH,
      country: 'USA',
      countryName: 'United States (CAISO_NORTH)',
      source: expect.stringMatching(/^live:watttime CAISO_NORTH 2026-01-01T10:20:00\.000Z \(marginal MOER co2_moer: 1000 lbs\/MWh × 0\.45359237; the emissions of one more kWh, not the average mix\)$/),
      zone: 'CAISO_NORTH',
      kind: 'marginal',
      validFrom: '2026-01-01T10:20:00.000Z',
      validTo: '2026-01-01T10:25:00.000Z',
      forecast: false,
    });
    expect(G_PER_KWH_PER_LB_PER_MWH).toBe(0.45359237);
    const [login, data] = server.requests.slice(before);
    expect(login).toMatchObject({ path: '/login', headers: { authorization: BASIC } });
    expect(data?.path).toBe('/v3/forecast');
    expect(data?.headers.authorization).toMatch(/^Bearer tok-\d+$/);
    expect(Object.fromEntries(data?.query ?? [])).toEqual({ region: 'CAISO_NORTH', signal_type: 'co2_moer' });
  });

  it('reuses the token across calls, and names countries from the region', async () => {
    const p = provider();
    const before = server.count('/login');
    expect(await p.intensityFor('DE')).toMatchObject({ country: 'DEU', countryName: 'Germany', zone: 'DE' });
    expect(await p.intensityFor('DEU')).toMatchObject({ zone: 'DE' });
    expect(await p.intensityFor('ieso_north')).toMatchObject({ country: 'CAN', zone: 'IESO_NORTH' });
    expect(await provider({ country: 'MEX' }).intensityFor('CAISO_NORTH')).toMatchObject({ country: 'MEX' });
    expect(server.count('/login') - before).toBe(2);
  });

  it('reads a later point of the forecast, and the past from /v3/historical', async () => {
    const p = provider();
    expect(await p.intensityFor('CAISO_NORTH', new Date('2026-01-01T11:07:00Z'))).toMatchObject({
      gPerKwh: (1000 + 9) * G_PER_KWH_PER_LB_PER_MWH,
      validFrom: '2026-01-01T11:05:00.000Z',
      forecast: true,
    });
    const before = server.requests.length;
    expect(await p.intensityFor('CAISO_NORTH', new Date('2025-12-31T22:01:00Z'))).toMatchObject({ gPerKwh: 500 * G_PER_KWH_PER_LB_PER_MWH, validFrom: '2025-12-31T22:00:00.000Z' });
    expect(server.requests.slice(before).map((r) => r.path)).toEqual(['/v3/historical']);
  });

  it('forecasts with a horizon that covers the range', async () => {
    const before = server.requests.length;
    const forecast = await provider().forecast('CAISO_NORTH', new Date('2026-01-01T11:00:00Z'), new Date('2026-01-01T11:15:00Z'));
    expect(forecast).toMatchObject({ country: 'USA', zone: 'CAISO_NORTH', kind: 'marginal' });
    expect(forecast.points.map((p) => p.validFrom)).toEqual(['2026-01-01T11:00:00.000Z', '2026-01-01T11:05:00.000Z', '2026-01-01T11:10:00.000Z']);
    expect(server.requests.at(-1)?.query.get('horizon_hours')).toBe('1');
    expect(server.requests.length - before).toBe(2);
  });

  it('reads the signal index as a percentile, never as an intensity', async () => {
    expect(await provider().signalIndex('CAISO_NORTH')).toEqual({
      region: 'CAISO_NORTH',
      percentile: 42,
      validFrom: '2026-01-01T10:20:00.000Z',
      source: expect.stringContaining('percentile, not g/kWh'),
    });
  });

  it('logs in again once when a reused token is refused, and no more', async () => {
    const p = provider();
    await p.intensityFor('CAISO_NORTH');
    wattTime.expireTokens();
    const logins = server.count('/login');
    expect((await p.intensityFor('CAISO_NORTH')).gPerKwh).toBeGreaterThan(0);
    expect(server.count('/login') - logins).toBe(1);

    // A server that refuses every token: one re-login, then E_CONFIG_INVALID.
    await withServer(
      (request) => (request.path === '/login' ? { json: { token: 'never-good' } } : { status: 401, json: { error: 'Invalid token' } }),
      async (other) => {
        const q = provider({ baseUrl: other.baseUrl });
        await expect(q.intensityFor('CAISO_NORTH')).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
        expect(other.requests.map((r) => r.path)).toEqual(['/login', '/v3/forecast']);
        await expect(q.intensityFor('CAISO_NORTH')).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringMatching(/watttime.*HTTP 401.*WATTTIME_USER and WATTTIME_PASSWORD/) });
        // The second call reuses the token, is refused, logs in again once, and is refused again.
        expect(other.requests.map((r) => r.path)).toEqual(['/login', '/v3/forecast', '/v3/forecast', '/login', '/v3/forecast']);
      },
    );
  });

  it('turns refused credentials into E_CONFIG_INVALID naming the env vars, without retrying', async () => {
    const { sleeps, sleep } = recordingSleep();
    const before = server.requests.length;
    await expect(withResilience(provider({ password: 'wrong' }), { sleep }).intensityFor('CAISO_NORTH')).rejects.toMatchObject({
      code: 'E_CONFIG_INVALID',
      message: expect.stringMatching(/watttime.*\/login.*HTTP 401.*WATTTIME_USER and WATTTIME_PASSWORD/),
    });
    expect(server.requests.length - before).toBe(1);
    expect(sleeps).toEqual([]);
    await expect(provider({ username: undefined, password: undefined }).intensityFor('CAISO_NORTH')).rejects.toMatchObject({
      code: 'E_CONFIG_INVALID',
      message: expect.stringContaining('WATTTIME_USER'),
    });
    expect(await provider({ username: undefined, password: undefined, env: { WATTTIME_USER: 'alice', WATTTIME_PASSWORD: 'secret' } }).intensityFor('CAISO_NORTH')).toMatchObject({ zone: 'CAISO_NORTH' });
  });

  it('explains a 403 as a plan that does not cover the region', async () => {
    await withServer(
      (request) => (request.path === '/login' ? { json: { token: 't' } } : { status: 403, json: { error: 'FORBIDDEN', message: 'not authorized for region' } }),
      async (other) => {
        await expect(provider({ baseUrl: other.baseUrl }).intensityFor('PJM_DC')).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringMatching(/HTTP 403.*free plan covers CAISO_NORTH/) });
        expect(other.count('/login')).toBe(1);
      },
    );
  });

  it('retries a 429 on the data endpoint with backoff, keeping the token', async () => {
    let data = 0;
    await withServer(
      (request) => (request.path === '/v3/forecast' && data++ === 0 ? { status: 429, json: { error: 'rate limited' } } : wattTime.handler(request)),
      async (other) => {
        const { sleeps, sleep } = recordingSleep();
        expect(await withResilience(provider({ baseUrl: other.baseUrl }), { sleep, random: () => 0 }).intensityFor('CAISO_NORTH')).toMatchObject({ zone: 'CAISO_NORTH' });
        expect(other.requests.map((r) => r.path)).toEqual(['/login', '/v3/forecast', '/v3/forecast']);
        expect(sleeps).toEqual([250]);
      },
    );
  });

  it('times out a hanging login quickly', async () => {
    await withServer(
      () => 'hang',
      async (other) => {
        const started = Date.now();
        await expect(withResilience(provider({ baseUrl: other.baseUrl }), { timeoutMs: 40, retries: 0 }).intensityFor('CAISO_NORTH')).rejects.toMatchObject({
          code: 'E_DOWNLOAD_FAILED',
          message: expect.stringContaining('timed out'),
        });
        expect(Date.now() - started).toBeLessThan(3000);
      },
    );
  });

  it('rejects bodies that are not JSON, lack fields, or are in units it cannot convert', async () => {
    for (const [reply, pattern] of [
      [{ text: 'Service Unavailable' }, /not JSON/],
      [{ json: { data: [{ point_time: NOW.toISOString(), value: 5 }] } }, /meta should be an object/],
      [{ json: { data: [{ point_time: NOW.toISOString(), value: 55 }], meta: meta('CAISO_NORTH', 'percentile') } }, /meta\.units is "percentile"; expected "lbs_co2_per_mwh"/],
      [{ json: { data: [{ point_time: NOW.toISOString() }], meta: meta('CAISO_NORTH') } }, /data\[0\]\.value should be a number/],
      [{ json: { data: [], meta: meta('CAISO_NORTH') } }, /data is empty/],
    ] as const) {
      await withServer(
        (request) => (request.path === '/login' ? { json: { token: 't' } } : reply),
        async (other) => {
          const error = await withResilience(provider({ baseUrl: other.baseUrl }), { sleep: () => Promise.resolve() })
            .intensityFor('CAISO_NORTH')
            .catch((e: unknown) => e);
          expect(error).toMatchObject({ code: 'E_DATA_MALFORMED', message: expect.stringMatching(pattern) });
          expect(other.count('/v3/forecast')).toBe(1);
        },
      );
    }
    await withServer(
      () => ({ json: { nothing: 'here' } }),
      async (other) => {
        await expect(provider({ baseUrl: other.baseUrl }).intensityFor('CAISO_NORTH')).rejects.toMatchObject({ code: 'E_DATA_MALFORMED', message: expect.stringContaining('token should be a non-empty string') });
      },
    );
  });

  it('caches by region until the TTL passes', async () => {
    const fake = createFakeClock(0, NOW);
    const cached = withResilience(provider({ clock: fake.clock }), { clock: fake.clock });
    const before = server.count('/v3/forecast');
    await cached.intensityFor('CAISO_NORTH');
    await cached.intensityFor('caiso_north');
    expect(server.count('/v3/forecast') - before).toBe(1);
    fake.advance(5 * 60_000 + 1);
    await cached.intensityFor('CAISO_NORTH');
    expect(server.count('/v3/forecast') - before).toBe(2);
  });
});
