/** The contract every CarbonIntensityProvider keeps. */
import { describe, expect, it } from 'vitest';
import { isEcomlError } from '../../src/errors.js';
import type { CarbonIntensity, CarbonIntensityProvider } from '../../src/meter/index.js';

export interface CarbonIntensityProviderSuiteOptions {
  /** A country the provider knows, spelled as its users would. */
  readonly knownCountry: string;
  readonly unknownCountry: string;
}

export function runCarbonIntensityProviderSuite(
  name: string,
  makeProvider: () => CarbonIntensityProvider,
  options: CarbonIntensityProviderSuiteOptions,
): void {
  const expectWellFormed = (intensity: CarbonIntensity) => {
    expect(Number.isFinite(intensity.gPerKwh)).toBe(true);
    expect(intensity.gPerKwh).toBeGreaterThanOrEqual(0);
    expect(intensity.country).toMatch(/^(?:[A-Z]{3}|WORLD)$/);
    expect(intensity.countryName).toMatch(/\S/);
    expect(intensity.source).toMatch(/\S/);
  };

  describe(`CarbonIntensityProvider conformance: ${name}`, () => {
    it('gives a documented world default when no country is set', async () => {
      const provider = makeProvider();
      for (const none of [undefined, '', '  ']) {
        const intensity = await provider.intensityFor(none);
        expectWellFormed(intensity);
        expect(intensity.country).toBe('WORLD');
        expect(intensity.gPerKwh).toBeGreaterThan(0);
        expect(intensity.source).toMatch(/default/);
      }
    });

    it('resolves a known country case-insensitively to its alpha-3 code', async () => {
      const provider = makeProvider();
      const intensity = await provider.intensityFor(options.knownCountry);
      expectWellFormed(intensity);
      expect(intensity.country).not.toBe('WORLD');
      expect(await provider.intensityFor(options.knownCountry.toLowerCase())).toEqual(intensity);
      expect(await provider.intensityFor(options.knownCountry.toUpperCase())).toEqual(intensity);
    });

    it('rejects an unknown country with E_CONFIG_INVALID that says how to fix it', async () => {
      const error = await makeProvider()
        .intensityFor(options.unknownCountry)
        .catch((e: unknown) => e);
      expect(isEcomlError(error)).toBe(true);
      expect(error).toMatchObject({ code: 'E_CONFIG_INVALID' });
      expect((error as Error).message).toContain(options.unknownCountry);
    });
  });
}
