import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withBounds } from '../../src/meter/bounds.js';
import { BASE_SERVER_RAM_GB, DEFAULT_LIFESPAN_YEARS, EMBODIED_DEFAULTS, embodiedFor, embodiedModel } from '../../src/meter/embodied.js';
import { BTU_PER_KWH, heatFor, sciScore, waterFor } from '../../src/meter/emissions.js';
import { createMeterFromChains, sumMeasurements, WORLD_AVERAGE_INTENSITY, type EnergySource, type HardwareDescription } from '../../src/meter/index.js';
import { createFakeClock } from './fake-clock.js';

const HOUR_S = 3600;
const YEAR_S = 365.25 * 24 * HOUR_S;
const server: HardwareDescription = {
  cpuModel: 'Intel Xeon Platinum 8480+',
  logicalCpus: 224,
  cpuSockets: 2,
  tdpWatts: 700,
  tdpSource: 'table:Intel Xeon Platinum 8480+',
  ramGb: 2048,
  gpus: [
    { index: 0, name: 'NVIDIA H200' },
    { index: 1, name: 'NVIDIA H200' },
  ],
  platform: 'linux-x64',
};

describe('embodied emissions (SCI M = TE × TiR/EL × RR/ToR)', () => {
  it('reproduces the SCI worked example: 1,000 kg over 4 years, reserved for an hour, is ≈ 28 g', () => {
    const model = { lifespanYears: 4, devices: [{ name: 'server', totalKgCo2e: 1000, share: 1, source: 'SCI example' }] };
    expect(embodiedFor(model, HOUR_S).kgCo2e).toBeCloseTo(0.0285, 4);
  });

  it('defaults to the CCF/Teads figures per device class, over 4 years', () => {
    const model = embodiedModel(server);
    expect(model.lifespanYears).toBe(DEFAULT_LIFESPAN_YEARS);
    expect(model.devices.map((d) => [d.name, d.totalKgCo2e, d.share])).toEqual([
      ['server', 1000 + 100, 1],
      ['ram', (533 / 384) * (2048 - BASE_SERVER_RAM_GB), 1],
      ['gpu:0', 150, 1],
      ['gpu:1', 150, 1],
    ]);
    expect(model.devices[0]?.source).toMatch(/Teads\/Cloud Carbon Footprint.*2 sockets\)/);
    expect(model.devices[2]?.source).toContain('NVIDIA H200');
    const year = embodiedFor(model, YEAR_S);
    expect(year.kgCo2e).toBeCloseTo((1100 + (533 / 384) * 2032 + 300) / 4, 6);
    expect(year.components.reduce((s, c) => s + c.kgCo2e, 0)).toBeCloseTo(year.kgCo2e, 9);
    expect(EMBODIED_DEFAULTS.gpu.kgCo2e).toBe(150);
  });

  it('charges only the reserved share of CPUs and RAM, and assumes one socket when unknown', () => {
    const { cpuSockets: _sockets, ...unknownSockets } = server;
    const model = embodiedModel(unknownSockets, { reservedCpus: 56, reservedRamGb: 16 + 508 });
    expect(model.devices[0]).toMatchObject({ totalKgCo2e: 1000, share: 0.25, source: expect.stringContaining('1 socket, assumed') });
    expect(model.devices[1]?.share).toBeCloseTo(508 / 2032, 12);
  });

  it('takes figures from the options', () => {
    const model = embodiedModel({ ...server, gpus: [{ index: 0, name: 'NVIDIA H200' }] }, { serverKgCo2e: 2500, ramKgCo2ePerGb: 1, gpuKgCo2e: 318, lifespanYears: 6 });
    expect(model.devices.map((d) => [d.name, d.totalKgCo2e, d.source.startsWith('option')])).toEqual([
      ['server', 2500, true],
      ['ram', 2032, true],
      ['gpu:0', 318, true],
    ]);
    expect(embodiedFor(model, 6 * YEAR_S).kgCo2e).toBeCloseTo(2500 + 2032 + 318, 6);
  });

  it.each([
    [{ lifespanYears: 0 }, /lifespanYears must be a positive number of years/],
    [{ gpuKgCo2e: -1 }, /gpuKgCo2e must be kgCO2e ≥ 0/],
    [{ serverKgCo2e: Number.NaN }, /serverKgCo2e/],
    [{ reservedCpus: 225 }, /reservedCpus must be in \(0, 224\]/],
    [{ reservedRamGb: 4096 }, /reservedRamGb must be in \[0, 2048\.0\]/],
  ])('rejects %j with E_CONFIG_INVALID', (options, message) => {
    expect(() => embodiedModel(server, options)).toThrow(expect.objectContaining({ code: 'E_CONFIG_INVALID', message: expect.stringMatching(message) }));
  });

  it('grows linearly with time and share', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e9, noNaN: true }), fc.integer({ min: 1, max: 224 }), (seconds, cpus) => {
        const model = embodiedModel(server, { reservedCpus: cpus });
        const m = embodiedFor(model, seconds);
        expect(m.kgCo2e).toBeGreaterThanOrEqual(0);
        expect(embodiedFor(model, 2 * seconds).kgCo2e).toBeCloseTo(2 * m.kgCo2e, 9);
      }),
    );
  });
});

describe('SCI score', () => {
  it('is (O + M) per functional unit', () => {
    expect(sciScore({ operationalKg: 0.3, embodiedKg: 0.1, units: 1 })).toBeCloseTo(0.4, 12);
    // Per 1,000 inferences, for 250,000 inferences.
    expect(sciScore({ operationalKg: 0.3, embodiedKg: 0.1, units: 250_000 / 1000 })).toBeCloseTo(0.0016, 12);
  });

  it.each([
    [{ operationalKg: -1, embodiedKg: 0, units: 1 }, /operational/],
    [{ operationalKg: 0, embodiedKg: Number.NaN, units: 1 }, /embodied/],
    [{ operationalKg: 0, embodiedKg: 0, units: 0 }, /functional units/],
  ])('rejects %j', (inputs, message) => {
    expect(() => sciScore(inputs)).toThrow(expect.objectContaining({ code: 'E_CONFIG_INVALID', message: expect.stringMatching(message) }));
  });
});

describe('water and heat', () => {
  const energy = { joules: 3.6e6, low: 1.8e6, high: 7.2e6 };

  it('counts water as device kWh × WUE, with bounds', () => {
    expect(waterFor(energy, 1.8)).toEqual({ liters: 1.8, litersLow: 0.9, litersHigh: 3.6, wueLPerKwh: 1.8 });
    expect(waterFor(energy, 0).liters).toBe(0);
  });

  it('counts every joule as heat: 1 kWh = 3,412.14 BTU', () => {
    expect(BTU_PER_KWH).toBe(3412.14);
    expect(heatFor(energy)).toEqual({ kwh: 1, btu: 3412.14, btuLow: 1706.07, btuHigh: 6824.28 });
  });
});

describe('the meter reports embodied emissions, water and heat per window, and totals add them up', () => {
  it('from the hardware, the duration and the options', async () => {
    const time = createFakeClock();
    let joules = 0;
    const cpu: EnergySource = {
      name: 'scripted',
      probe: async () => ({ available: true }),
      read: async () => ({ components: [withBounds({ name: 'cpu:package-0', joules, method: 'measured', model: 'rapl:package-0' }, 'rapl-package')] }),
      close: async () => undefined,
    };
    const meter = await createMeterFromChains({
      chains: [{ component: 'cpu', sources: [cpu] }],
      hardware: server,
      intensity: WORLD_AVERAGE_INTENSITY,
      pue: 1.2,
      wue: 1.8,
      embodied: { reservedCpus: 112 },
      clock: time.clock,
      samplingIntervalMs: 60_000,
    });
    try {
      expect(meter.wue).toBe(1.8);
      const first = await meter.begin('a');
      joules = 3.6e6;
      time.advance(HOUR_S * 1000);
      const a = await first.end();
      const second = await meter.begin('b');
      joules = 7.2e6;
      time.advance(HOUR_S * 1000);
      const b = await second.end();

      expect(a.water).toEqual({ liters: 1.8, litersLow: 1.8 * 0.95, litersHigh: 1.8 * 1.05, wueLPerKwh: 1.8 });
      expect(a.heat?.btu).toBeCloseTo(3412.14, 9);
      const hourly = embodiedFor(embodiedModel(server, { reservedCpus: 112 }), HOUR_S);
      expect(a.embodied?.kgCo2e).toBeCloseTo(hourly.kgCo2e, 12);
      expect(a.embodied?.components[0]).toMatchObject({ name: 'server', share: 0.5 });
      // Operational emissions stay apart from embodied ones.
      expect(a.emissions.kgCo2e).toBeCloseTo(1 * 1.2 * 0.475, 12);

      const total = sumMeasurements('total', [a, b]);
      expect(total.embodied?.kgCo2e).toBeCloseTo(2 * hourly.kgCo2e, 12);
      expect(total.water?.liters).toBeCloseTo(3.6, 12);
      expect(total.heat?.kwh).toBeCloseTo(2, 12);
      expect(total.notes).toEqual([]);

      const { embodied: _embodied, water: _water, ...bare } = b;
      const mixed = sumMeasurements('mixed', [a, bare]);
      expect(mixed.embodied).toBeUndefined();
      expect(mixed.water).toBeUndefined();
      expect(mixed.heat?.kwh).toBeCloseTo(2, 12);
      expect(mixed.notes).toEqual(['embodied emissions left out of the total: not every part reports it', 'water left out of the total: not every part reports it']);
    } finally {
      await meter.close();
    }
  });
});
