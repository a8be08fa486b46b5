import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withBounds } from '../../src/meter/bounds.js';
import { emissionsFor, formatJoules, JOULES_PER_KWH, sumMeasurements, type CarbonIntensity, type Measurement } from '../../src/meter/index.js';

const france: CarbonIntensity = { gPerKwh: 56.04, country: 'FRA', countryName: 'France', source: 'table:OWID/Ember 2023' };
const hardware = { cpuModel: 'AMD EPYC', logicalCpus: 2, tdpWatts: 8, tdpSource: 'default:model not in table', ramGb: 8, gpus: [], platform: 'linux-x64' };

describe('emissionsFor', () => {
  it('converts device joules to kWh, scales by PUE, then applies the grid intensity', () => {
    const report = emissionsFor({ joules: 3.6e6, low: 1.8e6, high: 7.2e6 }, { ...france, gPerKwh: 500 }, 1.5);
    expect(report).toEqual({
      kgCo2e: 0.75,
      kgCo2eLow: 0.375,
      kgCo2eHigh: 1.5,
      intensityGPerKwh: 500,
      country: 'FRA',
      countryName: 'France',
      intensitySource: 'table:OWID/Ember 2023',
      pue: 1.5,
    });
  });

  it('is linear in energy, PUE and intensity', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e12, noNaN: true }), fc.double({ min: 1, max: 3, noNaN: true }), fc.double({ min: 0, max: 2000, noNaN: true }), (joules, pue, gPerKwh) => {
        const point = (j: number) => ({ joules: j, low: j, high: j });
        const { kgCo2e } = emissionsFor(point(joules), { ...france, gPerKwh }, pue);
        expect(kgCo2e).toBeCloseTo(((joules / JOULES_PER_KWH) * pue * gPerKwh) / 1000, 9);
        expect(emissionsFor(point(2 * joules), { ...france, gPerKwh }, pue).kgCo2e).toBeCloseTo(2 * kgCo2e, 9);
      }),
    );
  });
});

const componentArb = fc
  .record({
    name: fc.constantFrom('cpu', 'ram', 'gpu:0', 'cpu:package-0'),
    joules: fc.double({ min: 0, max: 1e7, noNaN: true }),
    method: fc.constantFrom('measured' as const, 'estimated' as const),
    model: fc.constantFrom('rapl:package-0', 'tdp-per-core×process-cpu-time (x)', 'nvml:total-energy-counter (H200)'),
  })
  .map((c) => withBounds(c, c.method === 'measured' ? 'rapl-package' : 'cpu-tdp-estimate'));

const measurementArb = fc
  .record({
    components: fc.uniqueArray(componentArb, { selector: (c) => c.name, maxLength: 4 }),
    durationS: fc.double({ min: 0, max: 1e5, noNaN: true }),
    startMs: fc.integer({ min: 0, max: 1e12 }),
    pue: fc.constantFrom(1, 1.2, 1.58),
    intensity: fc.constantFrom(france, { ...france, gPerKwh: 475, country: 'WORLD', countryName: 'World', source: 'default' }),
  })
  .map(({ components, durationS, startMs, pue, intensity }): Measurement => {
    const sum = (pick: (c: (typeof components)[number]) => number) => components.reduce((s, c) => s + pick(c), 0);
    const energy = { joules: sum((c) => c.joules), low: sum((c) => c.low), high: sum((c) => c.high) };
    return {
      label: 'part',
      startedAt: new Date(startMs).toISOString(),
      durationS,
      energy: { ...energy, kwh: energy.joules / JOULES_PER_KWH, components },
      emissions: emissionsFor(energy, intensity, pue),
      hardware,
      notes: [],
    };
  });

describe('sumMeasurements', () => {
  it('totals are the sum of their parts, per component and overall', () => {
    fc.assert(
      fc.property(fc.array(measurementArb, { minLength: 1, maxLength: 6 }), (parts) => {
        const total = sumMeasurements('total', parts);
        const all = parts.flatMap((m) => m.energy.components);
        const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
        const near = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(b)));
        near(total.energy.joules, sum(all.map((c) => c.joules)));
        near(total.energy.joules, sum(total.energy.components.map((c) => c.joules)));
        near(total.energy.kwh, total.energy.joules / JOULES_PER_KWH);
        near(total.emissions.kgCo2e, sum(parts.map((m) => m.emissions.kgCo2e)));
        near(total.energy.low, sum(all.map((c) => c.low)));
        near(total.energy.high, sum(all.map((c) => c.high)));
        near(total.emissions.kgCo2eLow, sum(parts.map((m) => m.emissions.kgCo2eLow)));
        near(total.emissions.kgCo2eHigh, sum(parts.map((m) => m.emissions.kgCo2eHigh)));
        near(total.durationS, sum(parts.map((m) => m.durationS)));
        for (const component of total.energy.components) {
          const pieces = all.filter((c) => c.name === component.name);
          near(component.joules, sum(pieces.map((c) => c.joules)));
          expect(component.method).toBe(pieces.every((c) => c.method === 'measured') ? 'measured' : 'estimated');
          for (const piece of pieces) expect(component.model).toContain(piece.model);
        }
        // The effective grid figures reproduce the summed emissions.
        if (total.energy.kwh > 1e-9) near((total.energy.kwh * total.emissions.pue * total.emissions.intensityGPerKwh) / 1000, total.emissions.kgCo2e);
      }),
    );
  });

  it('labels a component estimated, naming every model, when its parts mix methods', () => {
    const part = (method: 'measured' | 'estimated', model: string): Measurement => ({
      label: 'p',
      startedAt: '2026-01-01T00:00:00.000Z',
      durationS: 1,
      energy: { joules: 10, low: 5, high: 20, kwh: 10 / JOULES_PER_KWH, components: [{ name: 'cpu', joules: 10, low: 5, high: 20, method, model }] },
      emissions: emissionsFor({ joules: 10, low: 5, high: 20 }, france, 1),
      hardware,
      notes: [],
    });
    const total = sumMeasurements('both', [part('measured', 'rapl:package-0'), part('estimated', 'tdp-per-core×process-cpu-time (x)')]);
    expect(total.energy.components).toEqual([{ name: 'cpu', joules: 20, low: 10, high: 40, method: 'estimated', model: 'rapl:package-0 + tdp-per-core×process-cpu-time (x)' }]);
    expect(total.emissions).toMatchObject({ country: 'FRA', intensityGPerKwh: 56.04, pue: 1 });
    expect(total.label).toBe('both');
  });

  it('refuses to sum nothing', () => {
    expect(() => sumMeasurements('empty', [])).toThrow(expect.objectContaining({ code: 'E_CONFIG_INVALID' }));
  });
});

describe('formatJoules', () => {
  it.each([
    [12_400, '12.4 kJ'],
    [0, '0 J'],
    [0.5, '500 mJ'],
    [1, '1 J'],
    [999.96, '1 kJ'],
    [123_456, '123 kJ'],
    [4.387e6, '4.39 MJ'],
    [-2_500, '-2.5 kJ'],
  ])('formats %d J as %s', (joules, text) => {
    expect(formatJoules(joules)).toBe(text);
  });
});
