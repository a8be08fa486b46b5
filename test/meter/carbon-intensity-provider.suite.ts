/** The contract every CarbonIntensityProvider keeps. */
import { describe, expect, it } from 'vitest';
import { isEcomlError } from '../../src/errors.js';
import type { CarbonIntensity, CarbonIntensityProvider } from '../../src/meter/intensity/carbon-intensity.js';

export interface CarbonIntensityProviderSuiteOptions {
  /** A country (or zone) the provider knows, spelled as its users would. */
  readonly knownCountry: string;
  readonly unknownCountry: string;
  /**
   * What a call without a location gives: the documented world default (the country table), the
   * provider's own documented default place (the GB national figure), or E_CONFIG_INVALID saying
   * what to set (live providers with no configured zone). Default 'world-default'.
   */
  readonly noLocation?: 'world-default' | 'own-default' | 'rejects';
  /** What an unknown location gives: E_CONFIG_INVALID (default), or the world average with warnings (a chain, which never fails). */
  readonly unknownLocation?: 'rejects' | 'world-fallback';
  /** A time the provider has data for: the answer must be the figure in force then. */
  readonly at?: Date;
  /** A range to check forecast() on, for providers that have one. */
  readonly forecastRange?: { readonly from: Date; readonly to: Date };
}

export function runCarbonIntensityProviderSuite(
  name: string,
  makeProvider: () => CarbonIntensityProvider,
  options: CarbonIntensityProviderSuiteOptions,
): void {
  const noLocation = options.noLocation ?? 'world-default';
  const unknownLocation = options.unknownLocation ?? 'rejects';

  const expectWellFormed = (intensity: CarbonIntensity) => {
    expect(Number.isFinite(intensity.gPerKwh)).toBe(true);
    expect(intensity.gPerKwh).toBeGreaterThanOrEqual(0);
    expect(intensity.country).toMatch(/^(?:[A-Z]{3}|WORLD)$/);
    expect(intensity.countryName).toMatch(/\S/);
    expect(intensity.source).toMatch(/\S/);
    if (intensity.kind !== undefined) expect(['average', 'marginal']).toContain(intensity.kind);
    if (intensity.zone !== undefined) expect(intensity.zone).toMatch(/\S/);
    if (intensity.forecast !== undefined) expect(typeof intensity.forecast).toBe('boolean');
    if (intensity.validFrom !== undefined) expect(Number.isFinite(Date.parse(intensity.validFrom))).toBe(true);
    if (intensity.validTo !== undefined) {
      expect(intensity.validFrom).toBeDefined();
      expect(Date.parse(intensity.validTo)).toBeGreaterThan(Date.parse(intensity.validFrom as string));
    }
  };

  const expectConfigError = (error: unknown, mentioning?: string) => {
    expect(isEcomlError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'E_CONFIG_INVALID' });
    if (mentioning !== undefined) expect((error as Error).message).toContain(mentioning);
  };

  describe(`CarbonIntensityProvider conformance: ${name}`, () => {
    if (noLocation === 'rejects') {
      it('rejects a call without a location with E_CONFIG_INVALID that says what to set', async () => {
        const provider = makeProvider();
        for (const none of [undefined, '', '  ']) {
          const error = await provider.intensityFor(none).catch((e: unknown) => e);
          expectConfigError(error);
          expect((error as Error).message).toMatch(/set|pass|give/i);
        }
      });
    } else {
      it(noLocation === 'world-default' ? 'gives a documented world default when no country is set' : 'gives its documented default place when no location is set', async () => {
        const provider = makeProvider();
        for (const none of [undefined, '', '  ']) {
          const intensity = await provider.intensityFor(none);
          expectWellFormed(intensity);
          expect(intensity.gPerKwh).toBeGreaterThan(0);
          if (noLocation === 'world-default') {
            expect(intensity.country).toBe('WORLD');
            expect(intensity.source).toMatch(/default/);
          } else {
            expect(intensity.country).not.toBe('WORLD');
          }
        }
      });
    }

    it('resolves a known country case-insensitively to its alpha-3 code', async () => {
      const provider = makeProvider();
      const intensity = await provider.intensityFor(options.knownCountry);
      expectWellFormed(intensity);
      expect(intensity.country).not.toBe('WORLD');
      expect(await provider.intensityFor(options.knownCountry.toLowerCase())).toEqual(intensity);
      expect(await provider.intensityFor(options.knownCountry.toUpperCase())).toEqual(intensity);
    });

    if (unknownLocation === 'rejects') {
      it('rejects an unknown country with E_CONFIG_INVALID that says how to fix it', async () => {
        const error = await makeProvider()
          .intensityFor(options.unknownCountry)
          .catch((e: unknown) => e);
        expectConfigError(error, options.unknownCountry);
      });
    } else {
      it('answers an unknown location with the world average and warnings saying why', async () => {
        const intensity = (await makeProvider().intensityFor(options.unknownCountry)) as CarbonIntensity & { warnings?: readonly string[] };
        expectWellFormed(intensity);
        expect(intensity.country).toBe('WORLD');
        expect(intensity.warnings?.join('\n')).toContain(options.unknownCountry);
      });
    }

    const at = options.at;
    if (at !== undefined) {
      it('gives the figure in force at the requested time', async () => {
        const intensity = await makeProvider().intensityFor(options.knownCountry, at);
        expectWellFormed(intensity);
        if (intensity.validFrom !== undefined) expect(Date.parse(intensity.validFrom)).toBeLessThanOrEqual(at.getTime());
        if (intensity.validTo !== undefined) expect(Date.parse(intensity.validTo)).toBeGreaterThan(at.getTime());
      });
    }

    const range = options.forecastRange;
    if (range !== undefined) {
      it('forecasts a sorted, well-formed series overlapping the requested range', async () => {
        const provider = makeProvider();
        expect(provider.forecast).toBeTypeOf('function');
        const forecast = await provider.forecast?.(options.knownCountry, range.from, range.to);
        expect(forecast?.country).toMatch(/^(?:[A-Z]{3}|WORLD)$/);
        expect(['average', 'marginal']).toContain(forecast?.kind);
        expect(forecast?.source).toMatch(/\S/);
        const points = forecast?.points ?? [];
        expect(points.length).toBeGreaterThan(0);
        let previous = Number.NEGATIVE_INFINITY;
        for (const point of points) {
          const start = Date.parse(point.validFrom);
          expect(start).toBeGreaterThan(previous);
          previous = start;
          expect(start).toBeLessThan(range.to.getTime());
          if (point.validTo !== undefined) expect(Date.parse(point.validTo)).toBeGreaterThan(range.from.getTime());
          expect(Number.isFinite(point.gPerKwh) && point.gPerKwh >= 0).toBe(true);
        }
        const error = await provider.forecast?.(options.knownCountry, range.to, range.from).catch((e: unknown) => e);
        expectConfigError(error);
      });
    }
  });
}
