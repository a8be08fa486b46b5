import { describe, expect, it } from 'vitest';
import { createMeter, runMeasured, type CarbonIntensity, type CarbonIntensityProvider } from '../../src/meter/index.js';

function fakeProvider(values: (number | Error)[]): CarbonIntensityProvider & { calls: (Date | undefined)[] } {
  const calls: (Date | undefined)[] = [];
  return {
    name: 'fake-live',
    calls,
    async intensityFor(_location?: string, at?: Date): Promise<CarbonIntensity> {
      calls.push(at);
      const next = values.shift() ?? 100;
      if (next instanceof Error) throw next;
      return { gPerKwh: next, country: 'FRA', countryName: 'France', source: `fake ${next}` } as CarbonIntensity;
    },
  } as CarbonIntensityProvider & { calls: (Date | undefined)[] };
}

describe('live carbon intensity per window', () => {
  it('asks the provider for each window at its midpoint, and falls back with a note when it fails', async () => {
    const provider = fakeProvider([50, 200, new Error('HTTP 503')]);
    const meter = await createMeter({ nvml: false, raplRoot: '/nonexistent', carbonIntensity: provider, env: {} });
    try {
      const first = await (await meter.begin('a')).end();
      const second = await (await meter.begin('b')).end();
      expect(meter.intensity.gPerKwh).toBe(50);
      expect(first.emissions.intensityGPerKwh).toBe(200);
      expect(second.emissions.intensityGPerKwh).toBe(50);
      expect(second.notes?.some((n) => n.includes('live lookup failed (HTTP 503)'))).toBe(true);
      const at = provider.calls[1];
      expect(at).toBeInstanceOf(Date);
      expect(Math.abs((at as Date).getTime() - Date.parse(first.startedAt))).toBeLessThan(60_000);
    } finally {
      await meter.close();
    }
  });

  it('without a live provider keeps the table value and asks nothing per window', async () => {
    const meter = await createMeter({ nvml: false, raplRoot: '/nonexistent', country: 'FR', env: {} });
    try {
      const m = await (await meter.begin('a')).end();
      expect(m.emissions.intensityGPerKwh).toBe(meter.intensity.gPerKwh);
      expect(m.emissions.country).toBe('FRA');
    } finally {
      await meter.close();
    }
  });

  it('ecoml measure uses the same provider: the intensity at the run’s midpoint', async () => {
    const provider = fakeProvider([50, 300]);
    const run = await runMeasured({
      command: process.execPath,
      args: ['-e', ''],
      raplRoot: '/nonexistent',
      nvml: false,
      carbonIntensity: provider,
      meterEnv: {},
      stdio: 'ignore',
      tdpWatts: 64,
    });
    expect(provider.calls).toHaveLength(2);
    expect(run.measurement.emissions.intensityGPerKwh).toBe(300);
  });
});
