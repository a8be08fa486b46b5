import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERROR_MODELS, withBounds, type ErrorModelName } from '../../src/meter/bounds.js';
import { formatEnergyWithBounds } from '../../src/meter/format.js';
import { createMeterFromChains, emissionsFor, sumMeasurements, WORLD_AVERAGE_INTENSITY, type ComponentEnergy, type EnergySource, type Measurement } from '../../src/meter/index.js';
import { energyReport } from '../../src/meter/totals.js';
import { createFakeClock } from './fake-clock.js';

const modelNames = Object.keys(ERROR_MODELS) as ErrorModelName[];
const anyJoules = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.double({ min: 0, max: 1e-300, noNaN: true }), fc.integer({ min: 0, max: 2 ** 53 }));

/** A component whose bounds are any that contain it, as a third-party source might report. */
const boundedComponent = fc
  .record({
    name: fc.constantFrom('cpu', 'ram', 'gpu:0', 'cpu:package-0'),
    joules: fc.double({ min: 0, max: 1e9, noNaN: true }),
    below: fc.double({ min: 0, max: 1e9, noNaN: true }),
    above: fc.double({ min: 0, max: 1e9, noNaN: true }),
    method: fc.constantFrom('measured' as const, 'estimated' as const),
  })
  .map(({ below, above, ...c }): ComponentEnergy => ({ ...c, low: Math.max(0, c.joules - below), high: c.joules + above, model: `${c.method}-model` }));

const contains = (b: { joules: number; low: number; high: number }) => {
  expect(b.low).toBeLessThanOrEqual(b.joules);
  expect(b.high).toBeGreaterThanOrEqual(b.joules);
};

describe('the error-model table', () => {
  it.each(modelNames)('%s brackets the reported figure and says why', (name) => {
    const model = ERROR_MODELS[name];
    expect(model.lowFactor).toBeGreaterThan(0);
    expect(model.lowFactor).toBeLessThanOrEqual(1);
    expect(model.highFactor).toBeGreaterThanOrEqual(1);
    expect(model.basis.length).toBeGreaterThan(40);
  });

  it('keeps measured counters narrow and estimates wide', () => {
    expect(ERROR_MODELS['rapl-package']).toMatchObject({ lowFactor: 0.95, highFactor: 1.05 });
    expect(ERROR_MODELS['nvml-energy-counter']).toMatchObject({ lowFactor: 0.95, highFactor: 1.05 });
    expect(ERROR_MODELS['nvml-power-sampling']).toMatchObject({ lowFactor: 0.9, highFactor: 1.15 });
    expect(ERROR_MODELS['cpu-tdp-estimate']).toMatchObject({ lowFactor: 0.3, highFactor: 2 });
    expect(ERROR_MODELS['ram-estimate']).toMatchObject({ lowFactor: 0.5, highFactor: 2 });
    const width = (name: ErrorModelName) => ERROR_MODELS[name].highFactor / ERROR_MODELS[name].lowFactor;
    expect(width('cpu-calibrated-estimate')).toBeLessThan(width('cpu-tdp-estimate'));
  });
});

describe('bounds always contain the point value', () => {
  it('for any figure and any error model', () => {
    fc.assert(
      fc.property(anyJoules, fc.constantFrom(...modelNames), (joules, errorModel) => {
        const c = withBounds({ name: 'x', joules, method: 'estimated', model: 'm' }, errorModel);
        contains(c);
        expect(c.joules).toBe(joules);
      }),
      { numRuns: 2000 },
    );
  });

  it('for random components and their reports, sums and emissions', () => {
    fc.assert(
      fc.property(fc.array(fc.array(boundedComponent, { maxLength: 5 }), { minLength: 1, maxLength: 5 }), (parts) => {
        const measurements = parts.map((components, i): Measurement => {
          const energy = energyReport(components);
          contains(energy);
          return {
            label: `part ${i}`,
            startedAt: new Date(i * 1000).toISOString(),
            durationS: 1,
            energy,
            emissions: emissionsFor(energy, WORLD_AVERAGE_INTENSITY, 1.2),
            hardware: { cpuModel: 'x', logicalCpus: 1, tdpWatts: 1, tdpSource: 'override', ramGb: 1, gpus: [], platform: 'test' },
          };
        });
        const total = sumMeasurements('total', measurements);
        contains(total.energy);
        total.energy.components.forEach(contains);
        for (const m of [...measurements, total]) {
          expect(m.emissions.kgCo2eLow).toBeLessThanOrEqual(m.emissions.kgCo2e);
          expect(m.emissions.kgCo2eHigh).toBeGreaterThanOrEqual(m.emissions.kgCo2e);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('for any window over cumulative readings, however the counters move', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 2, maxLength: 12 }),
        fc.double({ min: 0, max: 1e12, noNaN: true }),
        fc.constantFrom(...modelNames),
        async (increments, offset, errorModel) => {
          // A cumulative counter already far from zero: window bounds come from differences of large numbers.
          let cumulative = offset;
          const source: EnergySource = {
            name: 'scripted',
            probe: async () => ({ available: true }),
            read: async () => ({ components: [withBounds({ name: 'cpu', joules: cumulative, method: 'estimated', model: 'm' }, errorModel)] }),
            close: async () => undefined,
          };
          const meter = await createMeterFromChains({
            chains: [{ component: 'cpu', sources: [source] }],
            hardware: { cpuModel: 'x', logicalCpus: 1, tdpWatts: 1, tdpSource: 'override', ramGb: 1, gpus: [], platform: 'test' },
            intensity: WORLD_AVERAGE_INTENSITY,
            pue: 1,
            clock: createFakeClock().clock,
            samplingIntervalMs: 60_000,
          });
          try {
            const windows = [];
            for (const increment of increments) {
              windows.push(await meter.begin('w'));
              cumulative += increment;
            }
            for (const window of windows) {
              const m = await window.end();
              contains(m.energy);
              m.energy.components.forEach(contains);
              expect(m.heat?.btuLow).toBeLessThanOrEqual(m.heat?.btu ?? NaN);
            }
          } finally {
            await meter.close();
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('formatEnergyWithBounds', () => {
  const component = (joules: number, low: number, high: number, method: 'measured' | 'estimated' = 'estimated'): ComponentEnergy => ({
    name: 'cpu',
    joules,
    low,
    high,
    method,
    model: 'm',
  });

  it('shows the figure and its bounds in the figure’s unit, with how it was obtained', () => {
    expect(formatEnergyWithBounds(component(12_400, 9_800, 15_100))).toBe('12.4 kJ (9.8–15.1, estimated)');
    expect(formatEnergyWithBounds(component(500, 475, 525, 'measured'))).toBe('500 J (475–525, measured)');
    expect(formatEnergyWithBounds(component(999.96, 300, 2000))).toBe('1 kJ (0.3–2, estimated)');
    expect(formatEnergyWithBounds(component(0, 0, 0, 'measured'))).toBe('0 J (0–0, measured)');
  });

  it('labels a report by the methods of its components', () => {
    const report = energyReport([component(4_387, 4_167.65, 4_606.35, 'measured'), component(100, 30, 200)]);
    expect(formatEnergyWithBounds(report)).toBe('4.49 kJ (4.2–4.81, measured+estimated)');
    expect(formatEnergyWithBounds(energyReport([component(2e6, 1.9e6, 2.1e6, 'measured')]))).toBe('2 MJ (1.9–2.1, measured)');
  });
});
