import { Registry, register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import { defaultSourceOf, meterMetricNames, registerMeterMetrics } from '../../src/meter/outputs/index.js';
import { hourMeasurement } from './outputs-fixtures.js';

type Sample = { value: number; labels: Record<string, string | number> };

async function samples(registry: Registry, name: string): Promise<Sample[]> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? []) as Sample[];
}

async function value(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  return (await samples(registry, name)).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

describe('registerMeterMetrics', () => {
  it('exports energy per component with method and source labels, adding up across windows', async () => {
    const registry = new Registry();
    const metrics = registerMeterMetrics(registry);
    metrics.observe(hourMeasurement());
    expect(await samples(registry, 'ecoml_energy_joules_total')).toEqual([
      { value: 1.8e6, labels: { component: 'cpu', method: 'estimated', source: 'tdp-per-core×process-cpu-time' } },
      { value: 1.2e6, labels: { component: 'gpu:0', method: 'measured', source: 'nvml:total-energy-counter' } },
      { value: 0.6e6, labels: { component: 'ram', method: 'estimated', source: '0.375 W/GiB×process-rss' } },
    ]);
    metrics.observe(hourMeasurement());
    expect(await value(registry, 'ecoml_energy_joules_total', { component: 'gpu:0' })).toBe(2.4e6);
  });

  it('sets power to the last window’s average watts per component', async () => {
    const registry = new Registry();
    const metrics = registerMeterMetrics(registry);
    metrics.observe(hourMeasurement());
    expect(await value(registry, 'ecoml_power_watts', { component: 'cpu', method: 'estimated' })).toBeCloseTo(500, 9);
    expect(await value(registry, 'ecoml_power_watts', { component: 'gpu:0', method: 'measured' })).toBeCloseTo(1000 / 3, 9);
    const short = hourMeasurement({ durationS: 10 });
    metrics.observe({ ...short, energy: { ...short.energy, components: short.energy.components.filter((c) => c.name !== 'ram') } });
    expect(await value(registry, 'ecoml_power_watts', { component: 'cpu' })).toBeCloseTo(180_000, 6);
    // A component absent from the last window no longer reports a power.
    expect(await value(registry, 'ecoml_power_watts', { component: 'ram' })).toBeUndefined();
  });

  it('splits emissions by the method behind the energy, summing to the window’s kg', async () => {
    const registry = new Registry();
    registerMeterMetrics(registry).observe(hourMeasurement());
    const measured = (await value(registry, 'ecoml_emissions_kg_total', { method: 'measured' })) ?? Number.NaN;
    const estimated = (await value(registry, 'ecoml_emissions_kg_total', { method: 'estimated' })) ?? Number.NaN;
    expect(measured).toBeCloseTo((0.056 * 1.2) / 3.6, 12);
    expect(measured + estimated).toBeCloseTo(0.056, 12);
    const m = hourMeasurement();
    const low = (await samples(registry, 'ecoml_emissions_kg_low_total')).reduce((s, x) => s + x.value, 0);
    const high = (await samples(registry, 'ecoml_emissions_kg_high_total')).reduce((s, x) => s + x.value, 0);
    expect(low).toBeCloseTo(m.emissions.kgCo2eLow, 12);
    expect(high).toBeCloseTo(m.emissions.kgCo2eHigh, 12);
  });

  it('exports the energy bounds per component', async () => {
    const registry = new Registry();
    registerMeterMetrics(registry).observe(hourMeasurement());
    expect(await value(registry, 'ecoml_energy_joules_low_total', { component: 'cpu', method: 'estimated' })).toBeCloseTo(1.26e6, 3);
    expect(await value(registry, 'ecoml_energy_joules_high_total', { component: 'gpu:0', method: 'measured', source: 'nvml:total-energy-counter' })).toBeCloseTo(1.26e6, 3);
  });

  it('keeps one carbon-intensity series: the grid of the last window', async () => {
    const registry = new Registry();
    const metrics = registerMeterMetrics(registry);
    metrics.observe(hourMeasurement());
    expect(await samples(registry, 'ecoml_carbon_intensity_g_per_kwh')).toEqual([{ value: 56, labels: { country: 'FRA', source: 'table:OWID/Ember 2023' } }]);
    const m = hourMeasurement();
    metrics.observe({ ...m, emissions: { ...m.emissions, country: 'WORLD', intensitySource: 'default', intensityGPerKwh: 475 } });
    expect(await samples(registry, 'ecoml_carbon_intensity_g_per_kwh')).toEqual([{ value: 475, labels: { country: 'WORLD', source: 'default' } }]);
  });

  it('exports water and heat only once a measurement carries them, and embodied emissions per component', async () => {
    const registry = new Registry();
    const metrics = registerMeterMetrics(registry);
    metrics.observe(hourMeasurement());
    const text = await registry.metrics();
    expect(text).not.toContain('ecoml_water_liters_total');
    expect(text).not.toContain('ecoml_heat_joules_total');
    expect(text).not.toMatch(/^ecoml_embodied_kg_total/m);
    metrics.observe(
      hourMeasurement({
        water: { liters: 1.8, litersLow: 1.5, litersHigh: 2.1, wueLPerKwh: 1.8 },
        heat: { kwh: 1, btu: 3412.14, btuLow: 3000, btuHigh: 3800 },
        embodied: { kgCo2e: 0.03, lifespanYears: 4, components: [{ name: 'server', totalKgCo2e: 1000, share: 1, kgCo2e: 0.03, source: 'test' }] },
      }),
    );
    expect(await value(registry, 'ecoml_water_liters_total', {})).toBeCloseTo(1.8, 12);
    expect(await value(registry, 'ecoml_heat_joules_total', {})).toBeCloseTo(3.6e6, 6);
    expect(await value(registry, 'ecoml_embodied_kg_total', { component: 'server' })).toBeCloseTo(0.03, 12);
  });

  it('skips figures a counter cannot take (negative, NaN) instead of throwing', async () => {
    const registry = new Registry();
    const m = hourMeasurement();
    const broken = { ...m, energy: { ...m.energy, components: [{ ...m.energy.components[0]!, joules: -5, low: Number.NaN }] } };
    expect(() => registerMeterMetrics(registry).observe(broken)).not.toThrow();
    expect(await value(registry, 'ecoml_energy_joules_total', { component: 'cpu' })).toBeUndefined();
  });

  it('registers in the given registry only, never the global default', async () => {
    const before = (await globalRegistry.getMetricsAsJSON()).length;
    const registry = new Registry();
    registerMeterMetrics(registry).observe(hourMeasurement());
    expect((await globalRegistry.getMetricsAsJSON()).length).toBe(before);
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
    const { water: _water, heat: _heat, ...eager } = meterMetricNames();
    expect(names.sort()).toEqual(Object.values(eager).sort());
  });

  it('a second registration in the same registry is E_CONFIG_INVALID; another prefix works', () => {
    const registry = new Registry();
    registerMeterMetrics(registry);
    expect(() => registerMeterMetrics(registry)).toThrow(EcomlError);
    expect(() => registerMeterMetrics(registry)).toThrow(/ecoml_energy_joules_total is already registered/);
    expect(() => registerMeterMetrics(registry, { prefix: 'job2_' })).not.toThrow();
  });

  it('serves valid exposition text with HELP and TYPE lines', async () => {
    const registry = new Registry();
    registerMeterMetrics(registry).observe(hourMeasurement());
    const text = await registry.metrics();
    expect(text).toContain('# TYPE ecoml_energy_joules_total counter');
    expect(text).toContain('# TYPE ecoml_power_watts gauge');
    expect(text).toContain('ecoml_energy_joules_total{component="gpu:0",method="measured",source="nvml:total-energy-counter"} 1200000');
  });

  it('takes a model’s leading part as its source label', () => {
    const c = hourMeasurement().energy.components[0]!;
    expect(defaultSourceOf({ ...c, model: 'rapl:package-0' })).toBe('rapl:package-0');
    expect(defaultSourceOf({ ...c, model: 'nvml:power-sampling (H200; every ~1000 ms)' })).toBe('nvml:power-sampling');
  });
});
