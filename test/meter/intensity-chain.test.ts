import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import { WORLD_AVERAGE_INTENSITY, type CarbonIntensity, type CarbonIntensityProvider } from '../../src/meter/intensity/carbon-intensity.js';
import { createIntensityChain } from '../../src/meter/intensity/chain.js';
import { createCountryTableProvider } from '../../src/meter/intensity/country-table.js';
import { createIntensityProviders, parseIntensitySpec, resolveIntensityChain } from '../../src/meter/intensity/registry.js';
import { runCarbonIntensityProviderSuite } from './carbon-intensity-provider.suite.js';
import { createFakeClock } from './fake-clock.js';
import { recordingSleep, startFakeServer, type FakeServer } from './intensity-fake-server.js';

const NOW = new Date('2026-01-01T10:20:00Z');
const FRANCE_TABLE = { gPerKwh: 56.04, country: 'FRA', countryName: 'France', source: 'table:OWID/Ember 2023' };

// Three live services, each broken in its own way, plus one that works.
let unauthorized: FakeServer;
let unavailable: FakeServer;
let garbled: FakeServer;
let healthy: FakeServer;
beforeAll(async () => {
  unauthorized = await startFakeServer(() => ({ status: 401, json: { error: 'Invalid auth-token', message: 'The provided token is invalid.' } }));
  unavailable = await startFakeServer((request) => (request.path === '/login' ? { json: { token: 't' } } : { status: 503, headers: { 'retry-after': '1' }, text: 'maintenance' }));
  garbled = await startFakeServer(() => ({ text: '<html>captive portal</html>' }));
  healthy = await startFakeServer((request) => ({
    json: { zone: request.query.get('zone'), carbonIntensity: 44, datetime: '2026-01-01T10:00:00.000Z', emissionFactorType: 'lifecycle', isEstimated: true, estimationMethod: 'TIME_SLICER_AVERAGE' },
  }));
});
afterAll(() => Promise.all([unauthorized, unavailable, garbled, healthy].map((s) => s.close())));

const clock = createFakeClock(0, NOW).clock;

function providers(overrides: { em?: string; wattTime?: string; uk?: string } = {}) {
  const { sleep } = recordingSleep();
  return createIntensityProviders({
    env: { ELECTRICITYMAPS_TOKEN: 'tok', WATTTIME_USER: 'alice', WATTTIME_PASSWORD: 'secret' },
    clock,
    resilience: { sleep, retries: 2 },
    electricityMaps: { baseUrl: overrides.em ?? unauthorized.baseUrl },
    watttime: { baseUrl: overrides.wattTime ?? unavailable.baseUrl },
    uk: { baseUrl: overrides.uk ?? garbled.baseUrl },
  });
}

runCarbonIntensityProviderSuite(
  'chain (live providers failing, then the table)',
  () => {
    const p = providers();
    return createIntensityChain([p['electricity-maps'](), { provider: p.watttime(), location: 'CAISO_NORTH' }, { provider: p.uk(), location: 'RG10' }]);
  },
  { knownCountry: 'France', unknownCountry: 'Atlantis', unknownLocation: 'world-fallback', forecastRange: { from: new Date('2026-01-01T11:00:00Z'), to: new Date('2026-01-01T12:00:00Z') } },
);

runCarbonIntensityProviderSuite(
  'chain (a live provider answering)',
  () => createIntensityChain([providers({ em: healthy.baseUrl })['electricity-maps']()]),
  { knownCountry: 'DE', unknownCountry: 'Atlantis', unknownLocation: 'world-fallback' },
);

describe('intensity fallback chain', () => {
  it('falls through every failing provider to the country table, with one warning each', async () => {
    const p = providers();
    const chain = createIntensityChain([p['electricity-maps'](), { provider: p.watttime(), location: 'CAISO_NORTH' }, { provider: p.uk(), location: 'RG10' }]);
    expect(chain.providers).toEqual(['electricity-maps', 'watttime@CAISO_NORTH', 'uk@RG10', 'country-table']);
    const result = await chain.intensityFor('FR');
    expect(result).toEqual({ ...FRANCE_TABLE, provider: 'country-table', warnings: expect.any(Array) });
    expect(result.warnings).toHaveLength(3);
    const [em, wt, uk] = result.warnings;
    expect(em).toMatch(/^electricity-maps: .*HTTP 401.*ELECTRICITYMAPS_TOKEN.*\[E_CONFIG_INVALID\]$/);
    expect(wt).toMatch(/^watttime@CAISO_NORTH: .*HTTP 503.*gave up after 3 attempts\) \[E_DOWNLOAD_FAILED\]$/);
    expect(uk).toMatch(/^uk@RG10: .*not JSON.*\[E_DATA_MALFORMED\]$/);
    expect(unavailable.count('/v3/forecast')).toBeGreaterThanOrEqual(3);
  });

  it('stops at the first provider that answers, keeping the earlier failures as warnings', async () => {
    const p = providers({ wattTime: healthy.baseUrl });
    const chain = createIntensityChain([p['electricity-maps'](), providers({ em: healthy.baseUrl })['electricity-maps'](), p['country-table']()]);
    const result = await chain.intensityFor('DE');
    expect(result).toMatchObject({ gPerKwh: 44, country: 'DEU', provider: 'electricity-maps', kind: 'average', source: expect.stringContaining('estimated by TIME_SLICER_AVERAGE') });
    expect(result.warnings).toEqual([expect.stringContaining('HTTP 401')]);
  });

  it('gives the table the country of a zone it does not know, else the world average', async () => {
    const chain = createIntensityChain([]);
    expect(await chain.intensityFor('US-CAL-CISO')).toMatchObject({ country: 'USA', provider: 'country-table', warnings: [expect.stringContaining('unknown country "US-CAL-CISO"'), expect.stringContaining('used its country "US"')] });
    const nowhere = await chain.intensityFor('CAISO_NORTH');
    expect(nowhere).toMatchObject({ ...WORLD_AVERAGE_INTENSITY, provider: 'default' });
    expect(nowhere.warnings.at(-1)).toBe('country-table: using the world average');
    expect(await chain.intensityFor()).toEqual({ ...WORLD_AVERAGE_INTENSITY, provider: 'country-table', warnings: [] });
  });

  it('never fails, even when the last resort does', async () => {
    const broken: CarbonIntensityProvider = { name: 'broken', intensityFor: () => Promise.reject(new EcomlError('E_FILE_NOT_FOUND', 'table missing')) };
    const result = await createIntensityChain([], { lastResort: broken }).intensityFor('FR');
    expect(result).toMatchObject({ gPerKwh: 475, country: 'WORLD', warnings: ['broken: table missing [E_FILE_NOT_FOUND]', 'broken: using the world average'] });
  });

  it('forecasts from the first provider that can, or flat from the last resort', async () => {
    const series: CarbonIntensityProvider = {
      name: 'series',
      intensityFor: () => Promise.resolve(FRANCE_TABLE as CarbonIntensity),
      forecast: (_location, from, to) => Promise.resolve({ country: 'FRA', countryName: 'France', kind: 'average', source: 'test', points: [{ validFrom: from.toISOString(), validTo: to.toISOString(), gPerKwh: 12 }] }),
    };
    const from = new Date('2026-01-01T11:00:00Z');
    const to = new Date('2026-01-01T12:00:00Z');
    const p = providers();
    expect(await createIntensityChain([p.uk(), series]).forecast('GB', from, to)).toMatchObject({ provider: 'series', points: [{ gPerKwh: 12 }], warnings: [expect.stringMatching(/^uk: .*not JSON/)] });
    const flat = await createIntensityChain([p.uk()]).forecast('FR', from, to);
    expect(flat).toMatchObject({ provider: 'country-table', country: 'FRA', points: [{ validFrom: from.toISOString(), validTo: to.toISOString(), gPerKwh: 56.04 }] });
    expect(flat.warnings.at(-1)).toContain('no provider could forecast');
  });
});

describe('intensity provider registry', () => {
  it('lists the providers by name as plain data; a miss lists the valid names', () => {
    const registry = createIntensityProviders();
    expect(Object.keys(registry).sort()).toEqual(['country-table', 'electricity-maps', 'file', 'uk', 'watttime']);
    expect(registry['country-table']().name).toBe('country-table');
    expect(() => resolveIntensityChain({ env: { ECOML_INTENSITY: 'electricity-maps,carbon-magic' }, electricityMaps: { token: 't' } })).toThrow(
      expect.objectContaining({ code: 'E_UNKNOWN_NAME', message: 'unknown carbon-intensity provider "carbon-magic"; valid: country-table, electricity-maps, file, uk, watttime' }),
    );
  });

  it('parses ECOML_INTENSITY with pinned locations', () => {
    expect(parseIntensitySpec(' Electricity-Maps@US-CAL-CISO , uk@SW1A 1AA,,country-table ')).toEqual([
      { name: 'electricity-maps', location: 'US-CAL-CISO' },
      { name: 'uk', location: 'SW1A 1AA' },
      { name: 'country-table' },
    ]);
    expect(() => parseIntensitySpec(' , ')).toThrow(expect.objectContaining({ code: 'E_CONFIG_INVALID' }));
    expect(() => parseIntensitySpec('uk@')).toThrow(/empty location/);
  });

  it('builds the chain from the environment, the table last', async () => {
    const env = { ECOML_INTENSITY: 'electricity-maps,uk@RG10,country-table', ELECTRICITYMAPS_TOKEN: 'tok' };
    const chain = resolveIntensityChain({ env, clock, electricityMaps: { baseUrl: healthy.baseUrl }, uk: { baseUrl: garbled.baseUrl } });
    expect(chain.providers).toEqual(['electricity-maps', 'uk@RG10', 'country-table']);
    expect(await chain.intensityFor('FR')).toMatchObject({ gPerKwh: 44, provider: 'electricity-maps', warnings: [] });
    expect(healthy.requests.at(-1)?.headers['auth-token']).toBe('tok');
    expect(resolveIntensityChain({ env: {} }).providers).toEqual(['country-table']);
    expect(resolveIntensityChain({ env: {}, providers: ['uk', 'country-table@FR'] }).providers).toEqual(['uk', 'country-table@FR', 'country-table']);
  });

  it('reports a listed provider without its credentials before anything runs', () => {
    expect(() => resolveIntensityChain({ env: { ECOML_INTENSITY: 'electricity-maps' } })).toThrow(
      expect.objectContaining({ code: 'E_CONFIG_INVALID', message: expect.stringContaining('set ELECTRICITYMAPS_TOKEN') }),
    );
    expect(() => resolveIntensityChain({ env: { ECOML_INTENSITY: 'watttime', WATTTIME_USER: 'alice' } })).toThrow(/set WATTTIME_USER and WATTTIME_PASSWORD/);
    expect(() => resolveIntensityChain({ env: { ECOML_INTENSITY: 'file' } })).toThrow(/set ECOML_INTENSITY_FILE/);
  });

  it('leaves the table unwrapped and the live providers resilient', async () => {
    const table = createCountryTableProvider();
    expect(await createIntensityProviders()['country-table']().intensityFor('FR')).toEqual(await table.intensityFor('FR'));
    const { sleeps, sleep } = recordingSleep();
    const before = unavailable.requests.length;
    const wt = createIntensityProviders({ env: { WATTTIME_USER: 'a', WATTTIME_PASSWORD: 'b' }, resilience: { sleep, retries: 1 }, watttime: { baseUrl: unavailable.baseUrl } }).watttime();
    await expect(wt.intensityFor('CAISO_NORTH')).rejects.toMatchObject({ code: 'E_DOWNLOAD_FAILED' });
    expect(sleeps).toEqual([1000]);
    expect(unavailable.requests.length - before).toBe(3);
    const bare = createIntensityProviders({ env: { WATTTIME_USER: 'a', WATTTIME_PASSWORD: 'b' }, resilience: false, watttime: { baseUrl: unavailable.baseUrl } }).watttime();
    const bareBefore = unavailable.count('/v3/forecast');
    await expect(bare.intensityFor('CAISO_NORTH')).rejects.toMatchObject({ code: 'E_DOWNLOAD_FAILED' });
    expect(unavailable.count('/v3/forecast') - bareBefore).toBe(1);
  });
});
