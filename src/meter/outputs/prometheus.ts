/**
 * Meter windows as Prometheus metrics, registered in a Registry the caller passes in (theirs, or a
 * fresh one), never prom-client's global default unless that is what they pass.
 *
 * Energy is device energy (before PUE), as in the Measurement; emissions include PUE. Every energy,
 * power and emissions series is labelled with `method` (measured | estimated) so dashboards can keep
 * the two apart. Water and heat counters are registered the first time a measurement carries them,
 * so a meter that does not report them exports no misleading zeros.
 * @module
 */

import { Counter, Gauge, type Registry } from 'prom-client';
import { EcomlError } from '../../errors.js';
import type { ComponentEnergy, Measurement, Method } from '../types.js';
import { heatJoulesOf } from './extensions.js';

export interface MeterMetricsOptions {
  /** Metric name prefix; default 'ecoml_'. */
  readonly prefix?: string;
  /** The `source` label of a component; default its model up to the first ' (' or ',' ('rapl:package-0', 'nvml:total-energy-counter'). */
  readonly sourceOf?: (component: ComponentEnergy) => string;
}

export interface MeterMetrics {
  /** Adds one window's energy and emissions to the counters and sets the gauges to its averages. */
  observe(measurement: Measurement): void;
}

/** A model string cut to its stable leading part, fit for a label value. */
export function defaultSourceOf(component: ComponentEnergy): string {
  return component.model.split(/ \(|,/, 1)[0]?.trim() || component.model;
}

/** The metric names registered for a prefix (water and heat only once a measurement carries them). */
export function meterMetricNames(prefix = 'ecoml_') {
  return {
    energy: `${prefix}energy_joules_total`,
    energyLow: `${prefix}energy_joules_low_total`,
    energyHigh: `${prefix}energy_joules_high_total`,
    power: `${prefix}power_watts`,
    emissions: `${prefix}emissions_kg_total`,
    emissionsLow: `${prefix}emissions_kg_low_total`,
    emissionsHigh: `${prefix}emissions_kg_high_total`,
    intensity: `${prefix}carbon_intensity_g_per_kwh`,
    embodied: `${prefix}embodied_kg_total`,
    water: `${prefix}water_liters_total`,
    heat: `${prefix}heat_joules_total`,
  } as const;
}

/** prom-client throws on a negative increment; a bad figure (a meter fault, an old stored record) is skipped, not fatal. */
const countable = (value: number | undefined): value is number => value !== undefined && Number.isFinite(value) && value >= 0;

export function registerMeterMetrics(registry: Registry, options: MeterMetricsOptions = {}): MeterMetrics {
  const names = meterMetricNames(options.prefix);
  const sourceOf = options.sourceOf ?? defaultSourceOf;
  const registers = [registry];

  // Checked for every name up front, so a clash surfaces here rather than at the first window.
  for (const metricName of Object.values(names)) {
    if (registry.getSingleMetric(metricName)) {
      throw new EcomlError('E_CONFIG_INVALID', `metric ${metricName} is already registered in this registry; pass a fresh Registry or another prefix`, {
        details: { metric: metricName },
      });
    }
  }
  const counter = (name: string, help: string, labelNames: readonly string[]) => new Counter({ name, help, labelNames, registers });

  const componentLabels = ['component', 'method', 'source'] as const;
  const energy = counter(names.energy, 'Device energy per component (before PUE), joules.', componentLabels);
  const energyLow = counter(names.energyLow, 'Lower bound of device energy per component (before PUE), joules.', componentLabels);
  const energyHigh = counter(names.energyHigh, 'Upper bound of device energy per component (before PUE), joules.', componentLabels);
  const power = new Gauge({ name: names.power, help: 'Average device power per component over the last metered window, watts.', labelNames: ['component', 'method'], registers });
  const emissionsHelp = (what: string) => `${what} operational emissions (energy × PUE × grid intensity), kgCO2e, split by the method behind the energy.`;
  const emissions = counter(names.emissions, emissionsHelp('Estimated'), ['method']);
  const emissionsLow = counter(names.emissionsLow, emissionsHelp('Lower bound of'), ['method']);
  const emissionsHigh = counter(names.emissionsHigh, emissionsHelp('Upper bound of'), ['method']);
  const intensity = new Gauge({ name: names.intensity, help: 'Grid carbon intensity used for emissions, gCO2e/kWh.', labelNames: ['country', 'source'], registers });
  const embodied = counter(names.embodied, 'Embodied (manufacturing) emissions apportioned to the metered windows, kgCO2e.', ['component']);

  let water: Counter | undefined;
  let heat: Counter | undefined;

  /** Splits a window's kg across methods in proportion to their joules (emissions are linear in energy). */
  const addByMethod = (metric: Counter, kg: number, joulesOf: (c: ComponentEnergy) => number, components: readonly ComponentEnergy[]) => {
    const byMethod = new Map<Method, number>();
    for (const c of components) if (countable(joulesOf(c))) byMethod.set(c.method, (byMethod.get(c.method) ?? 0) + joulesOf(c));
    const total = [...byMethod.values()].reduce((a, b) => a + b, 0);
    if (!(total > 0) || !countable(kg)) return;
    for (const [method, joules] of byMethod) metric.inc({ method }, (kg * joules) / total);
  };

  return {
    observe(m) {
      const { components } = m.energy;
      // Only the components of this window: one that stopped reporting must not keep its old power.
      power.reset();
      for (const c of components) {
        const labels = { component: c.name, method: c.method, source: sourceOf(c) };
        if (countable(c.joules)) energy.inc(labels, c.joules);
        if (countable(c.low)) energyLow.inc(labels, c.low);
        if (countable(c.high)) energyHigh.inc(labels, c.high);
        if (m.durationS > 0 && Number.isFinite(c.joules)) power.set({ component: c.name, method: c.method }, c.joules / m.durationS);
      }

      addByMethod(emissions, m.emissions.kgCo2e, (c) => c.joules, components);
      addByMethod(emissionsLow, m.emissions.kgCo2eLow, (c) => c.low, components);
      addByMethod(emissionsHigh, m.emissions.kgCo2eHigh, (c) => c.high, components);

      // One series: the grid in force now, not every grid seen since start.
      intensity.reset();
      intensity.set({ country: m.emissions.country, source: m.emissions.intensitySource }, m.emissions.intensityGPerKwh);

      for (const part of m.embodied?.components ?? []) if (countable(part.kgCo2e)) embodied.inc({ component: part.name }, part.kgCo2e);
      if (m.water && countable(m.water.liters)) {
        water ??= counter(names.water, 'Water evaporated on site to cool the devices (device kWh × WUE), liters.', []);
        water.inc(m.water.liters);
      }
      const heatJoules = heatJoulesOf(m);
      if (countable(heatJoules)) {
        heat ??= counter(names.heat, 'Heat released by the metered devices (all their electrical energy), joules.', []);
        heat.inc(heatJoules);
      }
    },
  };
}
