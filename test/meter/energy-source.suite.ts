/**
 * The contract every EnergySource keeps, run against each implementation (and available to third-party
 * sources): probe shape, cumulative non-decreasing readings, labelled components, idempotent close.
 */
import { describe, expect, it } from 'vitest';
import type { EnergySource, SourceReading } from '../../src/meter/index.js';

export interface EnergySourceHarness {
  readonly source: EnergySource;
  /** Moves the world on (time, counters, CPU usage) so the next reading should be higher. */
  advance(): Promise<void> | void;
  cleanup?(): Promise<void>;
}

export interface EnergySourceSuiteOptions {
  /** A source of the same kind that cannot be read here. */
  readonly makeUnavailable?: () => Promise<EnergySource> | EnergySource;
}

export function runEnergySourceSuite(
  name: string,
  makeSource: () => Promise<EnergySourceHarness> | EnergySourceHarness,
  options: EnergySourceSuiteOptions = {},
): void {
  const withHarness = (test: (harness: EnergySourceHarness) => Promise<void>) => async () => {
    const harness = await makeSource();
    try {
      await test(harness);
    } finally {
      await harness.source.close();
      await harness.cleanup?.();
    }
  };

  describe(`EnergySource conformance: ${name}`, () => {
    it(
      'probes as available, and probing again gives the same answer',
      withHarness(async ({ source }) => {
        expect(source.name).toMatch(/\S/);
        expect(await source.probe()).toEqual({ available: true });
        expect(await source.probe()).toEqual({ available: true });
      }),
    );

    it(
      'reads cumulative, non-decreasing joules with the same components each time',
      withHarness(async (harness) => {
        const { source } = harness;
        await source.probe();
        const readings: SourceReading[] = [await source.read()];
        for (let i = 0; i < 3; i++) {
          await harness.advance();
          await source.sample?.();
          readings.push(await source.read());
        }
        const names = readings[0]?.components.map((c) => c.name);
        expect(names?.length).toBeGreaterThan(0);
        for (const [i, reading] of readings.entries()) {
          expect(reading.components.map((c) => c.name)).toEqual(names);
          for (const [j, component] of reading.components.entries()) {
            expect(Number.isFinite(component.joules)).toBe(true);
            expect(component.joules).toBeGreaterThanOrEqual(0);
            if (i > 0) expect(component.joules).toBeGreaterThanOrEqual(readings[i - 1]?.components[j]?.joules ?? Infinity);
          }
        }
        const total = (r: SourceReading | undefined) => r?.components.reduce((s, c) => s + c.joules, 0) ?? 0;
        expect(total(readings.at(-1))).toBeGreaterThan(total(readings[0]));
      }),
    );

    it(
      'labels every component with a method, a model and bounds around its joules',
      withHarness(async ({ source }) => {
        for (const component of (await source.read()).components) {
          expect(component.name).toMatch(/\S/);
          expect(['measured', 'estimated']).toContain(component.method);
          expect(component.model).toMatch(/\S/);
          expect(component.low).toBeLessThanOrEqual(component.joules);
          expect(component.high).toBeGreaterThanOrEqual(component.joules);
        }
      }),
    );

    it(
      'keeps concurrent reads and samples in order',
      withHarness(async (harness) => {
        const { source } = harness;
        await source.probe();
        await harness.advance();
        const [first, , second, , third] = await Promise.all([source.read(), source.sample?.(), source.read(), source.sample?.(), source.read()]);
        const totals = [first, second, third].map((r) => r.components.reduce((s, c) => s + c.joules, 0));
        expect([...totals].sort((a, b) => a - b)).toEqual(totals);
      }),
    );

    it(
      'closes idempotently, after which it cannot be read',
      withHarness(async ({ source }) => {
        await source.probe();
        await source.close();
        await source.close();
        await expect(source.read()).rejects.toMatchObject({ code: 'E_METER_UNAVAILABLE' });
        expect((await source.probe()).available).toBe(false);
      }),
    );

    if (options.makeUnavailable) {
      const makeUnavailable = options.makeUnavailable;
      it('reports unavailability with a reason and refuses to read (never a zero)', async () => {
        const source = await makeUnavailable();
        const probe = await source.probe();
        expect(probe.available).toBe(false);
        if (!probe.available) expect(probe.reason).toMatch(/\S/);
        await expect(source.read()).rejects.toMatchObject({ code: 'E_METER_UNAVAILABLE' });
        await source.close();
        await source.close();
      });
    }
  });
}
