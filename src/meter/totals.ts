/**
 * Adding measurements up (the epochs of a run, the steps of a command), pure.
 * @module
 */

import { EcomlError } from '../errors.js';
import { joulesToKwh } from './emissions.js';
import type { ComponentEnergy, EmissionsReport, Measurement } from './types.js';

/**
 * One measurement holding the sum of several. Components are added by name; where the parts of a
 * component disagree on method the total is 'estimated' and its model lists every model used.
 * durationS is the sum of the windows' durations (metered time, not the wall-clock span), startedAt
 * the earliest start, hardware that of the first measurement. Emissions are summed; if the parts
 * differ in grid or PUE, the total reports the energy-weighted effective intensity and PUE and names
 * every source.
 */
export function sumMeasurements(label: string, measurements: readonly Measurement[]): Measurement {
  const first = measurements[0];
  if (first === undefined) throw new EcomlError('E_CONFIG_INVALID', `cannot sum zero measurements for "${label}"`, { details: { label } });

  const byName = new Map<string, { joules: number; methods: Set<ComponentEnergy['method']>; models: Set<string> }>();
  for (const component of measurements.flatMap((m) => m.energy.components)) {
    const total = byName.get(component.name) ?? { joules: 0, methods: new Set(), models: new Set() };
    total.joules += component.joules;
    total.methods.add(component.method);
    total.models.add(component.model);
    byName.set(component.name, total);
  }
  const components: ComponentEnergy[] = [...byName].map(([name, total]) => ({
    name,
    joules: total.joules,
    method: total.methods.size === 1 && total.methods.has('measured') ? 'measured' : 'estimated',
    model: [...total.models].join(' + '),
  }));
  const joules = components.reduce((sum, c) => sum + c.joules, 0);
  const starts = measurements.map((m) => Date.parse(m.startedAt));

  return {
    label,
    startedAt: new Date(Math.min(...starts)).toISOString(),
    durationS: measurements.reduce((sum, m) => sum + m.durationS, 0),
    energy: { joules, kwh: joulesToKwh(joules), components },
    emissions: sumEmissions(measurements),
    hardware: first.hardware,
    notes: [...new Set(measurements.flatMap((m) => m.notes ?? []))],
  };
}

function sumEmissions(measurements: readonly Measurement[]): EmissionsReport {
  const first = (measurements[0] as Measurement).emissions;
  const kgCo2e = measurements.reduce((sum, m) => sum + m.emissions.kgCo2e, 0);
  const same = (key: keyof EmissionsReport) => measurements.every((m) => m.emissions[key] === first[key]);
  if (same('intensityGPerKwh') && same('pue') && same('country') && same('intensitySource')) return { ...first, kgCo2e };

  // Weight by energy so the effective figures reproduce the summed kgCo2e; equal weights if no energy.
  const kwh = measurements.map((m) => m.energy.kwh);
  const weights = kwh.some((k) => k > 0) ? kwh : kwh.map(() => 1);
  const weightTotal = weights.reduce((a, b) => a + b, 0);
  const mean = (pick: (e: EmissionsReport) => number) =>
    measurements.reduce((sum, m, i) => sum + pick(m.emissions) * (weights[i] as number), 0) / weightTotal;
  const pue = mean((e) => e.pue);
  const list = (pick: (e: EmissionsReport) => string) => [...new Set(measurements.map((m) => pick(m.emissions)))];
  const countries = list((e) => e.country);
  return {
    kgCo2e,
    intensityGPerKwh: mean((e) => e.pue * e.intensityGPerKwh) / pue,
    country: countries.length === 1 ? (countries[0] as string) : 'MIXED',
    countryName: list((e) => e.countryName).join(' + '),
    intensitySource: `mixed: ${list((e) => e.intensitySource).join('; ')}`,
    pue,
  };
}
