import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCountryTableProvider, WORLD_AVERAGE_INTENSITY } from '../../src/meter/index.js';
import { readCsvTable } from '../../src/meter/csv.js';
import { CARBON_INTENSITY_CSV } from '../../src/meter/data-files.js';
import { ISO2_TO_ISO3 } from '../../src/meter/intensity/iso-codes.js';
import { runCarbonIntensityProviderSuite } from './carbon-intensity-provider.suite.js';

runCarbonIntensityProviderSuite('country-table', () => createCountryTableProvider(), { knownCountry: 'France', unknownCountry: 'Atlantis' });

describe('country table provider', () => {
  const provider = createCountryTableProvider();
  const france = { gPerKwh: 56.04, country: 'FRA', countryName: 'France', source: 'table:OWID/Ember 2023' };

  it.each(['FRA', 'fra', 'FR', 'fr', 'France', 'FRANCE', ' france '])('finds France from %j', async (query) => {
    expect(await provider.intensityFor(query)).toEqual(france);
  });

  it('matches names without regard to accents', async () => {
    expect(await provider.intensityFor("Côte d'Ivoire")).toMatchObject({ country: 'CIV' });
  });

  it('keeps a real zero (an all-hydro grid) rather than treating it as missing', async () => {
    expect(await provider.intensityFor('CF')).toMatchObject({ country: 'CAF', gPerKwh: 0 });
  });

  it('falls back to the IEA 2019 world average of 475 g/kWh, saying so', async () => {
    expect(await provider.intensityFor(undefined)).toBe(WORLD_AVERAGE_INTENSITY);
    expect(WORLD_AVERAGE_INTENSITY).toMatchObject({ gPerKwh: 475, country: 'WORLD', source: expect.stringMatching(/IEA 2019/) });
  });

  it('lists the valid codes when a country is unknown', async () => {
    const error = await provider.intensityFor('XX').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringMatching(/alpha-3.*alpha-2.*carbon-intensity-by-country\.csv/) });
    expect((error as { details: { validCodes: string[] } }).details.validCodes).toContain('FRA');
  });

  it('maps ISO alpha-2 for exactly the countries in the table', async () => {
    const rows = await readCsvTable(CARBON_INTENSITY_CSV, ['iso3']);
    expect(Object.values(ISO2_TO_ISO3).sort()).toEqual(rows.map((r) => r.fields.iso3).sort());
  });

  it('reports a missing or malformed table with the right codes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ecoml-intensity-'));
    try {
      await expect(createCountryTableProvider({ file: join(dir, 'absent.csv') }).intensityFor('FR')).rejects.toMatchObject({ code: 'E_FILE_NOT_FOUND' });
      const bad = join(dir, 'bad.csv');
      await writeFile(bad, '# comment\niso3,country,year,g_co2e_per_kwh\nFRA,France,2023,-5\n');
      await expect(createCountryTableProvider({ file: bad }).intensityFor('FR')).rejects.toMatchObject({ code: 'E_DATA_MALFORMED', message: expect.stringContaining('bad.csv:3') });
      // The world default needs no table at all.
      expect(await createCountryTableProvider({ file: bad }).intensityFor()).toBe(WORLD_AVERAGE_INTENSITY);
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});
