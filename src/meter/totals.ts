/**
 * Adding measurements up (the epochs of a run, the steps of a command), pure.
 * @module
 */

import { EcomlError } from '../errors.js';
import { joulesToKwh } from './emissions.js';
import type {
  ComponentEnergy,
  EmbodiedReport,
  EmissionsReport,
  EnergyReport,
  GpuTelemetry,
  GpuTelemetrySample,
  HeatReport,
  Measurement,
  SampledRange,
  WaterReport,
} from './types.js';

/**
 * The report of a set of components: totals and their bounds are sums in the same order, so (rounding
 * being monotone) low ≤ joules ≤ high holds for the totals whenever it holds for every component.
 */
export function energyReport(components: readonly ComponentEnergy[]): EnergyReport {
  const sum = (pick: (c: ComponentEnergy) => number) => components.reduce((total, c) => total + pick(c), 0);
  const joules = sum((c) => c.joules);
  return { joules, low: sum((c) => c.low), high: sum((c) => c.high), kwh: joulesToKwh(joules), components };
}

/**
 * One measurement holding the sum of several. Components are added by name, bounds with them; where the
 * parts of a component disagree on method the total is 'estimated' and its model lists every model used.
 * durationS is the sum of the windows' durations (metered time, not the wall-clock span), startedAt
 * the earliest start, hardware that of the first measurement. Emissions are summed; if the parts
 * differ in grid or PUE, the total reports the energy-weighted effective intensity and PUE and names
 * every source. Embodied emissions, water and heat are summed where every part has them (and, for
 * embodied and water, used the same settings); otherwise they are left out and a note says why. GPU
 * telemetry ranges are merged, `last` from the part that ended last.
 */
export function sumMeasurements(label: string, measurements: readonly Measurement[]): Measurement {
  const first = measurements[0];
  if (first === undefined) throw new EcomlError('E_CONFIG_INVALID', `cannot sum zero measurements for "${label}"`, { details: { label } });

  const byName = new Map<string, { joules: number; low: number; high: number; methods: Set<ComponentEnergy['method']>; models: Set<string> }>();
  for (const component of measurements.flatMap((m) => m.energy.components)) {
    const total = byName.get(component.name) ?? { joules: 0, low: 0, high: 0, methods: new Set(), models: new Set() };
    total.joules += component.joules;
    total.low += component.low;
    total.high += component.high;
    total.methods.add(component.method);
    total.models.add(component.model);
    byName.set(component.name, total);
  }
  const components: ComponentEnergy[] = [...byName].map(([name, total]) => ({
    name,
    joules: total.joules,
    low: total.low,
    high: total.high,
    method: total.methods.size === 1 && total.methods.has('measured') ? 'measured' : 'estimated',
    model: [...total.models].join(' + '),
  }));
  const starts = measurements.map((m) => Date.parse(m.startedAt));
  const notes = measurements.flatMap((m) => m.notes ?? []);
  const embodied = sumEmbodied(measurements, notes);
  const water = sumWater(measurements, notes);
  const heat = sumHeat(measurements, notes);
  const gpuTelemetry = [...measurements]
    .sort((a, b) => Date.parse(a.startedAt) + a.durationS * 1000 - (Date.parse(b.startedAt) + b.durationS * 1000))
    .reduce<readonly GpuTelemetry[]>((merged, m) => mergeGpuTelemetry(merged, m.gpuTelemetry ?? []), []);

  return {
    label,
    startedAt: new Date(Math.min(...starts)).toISOString(),
    durationS: measurements.reduce((sum, m) => sum + m.durationS, 0),
    energy: energyReport(components),
    emissions: sumEmissions(measurements),
    hardware: first.hardware,
    ...(embodied ? { embodied } : {}),
    ...(water ? { water } : {}),
    ...(heat ? { heat } : {}),
    ...(gpuTelemetry.length > 0 ? { gpuTelemetry } : {}),
    notes: [...new Set(notes)],
  };
}

function sumEmissions(measurements: readonly Measurement[]): EmissionsReport {
  const first = (measurements[0] as Measurement).emissions;
  const total = (pick: (e: EmissionsReport) => number) => measurements.reduce((sum, m) => sum + pick(m.emissions), 0);
  const kg = { kgCo2e: total((e) => e.kgCo2e), kgCo2eLow: total((e) => e.kgCo2eLow), kgCo2eHigh: total((e) => e.kgCo2eHigh) };
  const same = (key: keyof EmissionsReport) => measurements.every((m) => m.emissions[key] === first[key]);
  if (same('intensityGPerKwh') && same('pue') && same('country') && same('intensitySource')) return { ...first, ...kg };

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
    ...kg,
    intensityGPerKwh: mean((e) => e.pue * e.intensityGPerKwh) / pue,
    country: countries.length === 1 ? (countries[0] as string) : 'MIXED',
    countryName: list((e) => e.countryName).join(' + '),
    intensitySource: `mixed: ${list((e) => e.intensitySource).join('; ')}`,
    pue,
  };
}

/** Every part's field, or undefined (with a note) when a part lacks it. */
function allParts<T>(measurements: readonly Measurement[], pick: (m: Measurement) => T | undefined, what: string, notes: string[]): T[] | undefined {
  const parts = measurements.map(pick);
  if (parts.every((p): p is T => p !== undefined)) return parts;
  if (parts.some((p) => p !== undefined)) notes.push(`${what} left out of the total: not every part reports it`);
  return undefined;
}

function sumEmbodied(measurements: readonly Measurement[], notes: string[]): EmbodiedReport | undefined {
  const parts = allParts(measurements, (m) => m.embodied, 'embodied emissions', notes);
  const first = parts?.[0];
  if (parts === undefined || first === undefined) return undefined;
  const settings = (e: EmbodiedReport) => JSON.stringify([e.lifespanYears, e.components.map((c) => [c.name, c.totalKgCo2e, c.share, c.source])]);
  if (parts.some((e) => settings(e) !== settings(first))) {
    notes.push('embodied emissions left out of the total: the parts used different hardware or embodied settings');
    return undefined;
  }
  const components = first.components.map((c, i) => ({ ...c, kgCo2e: parts.reduce((sum, e) => sum + (e.components[i]?.kgCo2e ?? 0), 0) }));
  return { kgCo2e: components.reduce((sum, c) => sum + c.kgCo2e, 0), lifespanYears: first.lifespanYears, components };
}

function sumWater(measurements: readonly Measurement[], notes: string[]): WaterReport | undefined {
  const parts = allParts(measurements, (m) => m.water, 'water', notes);
  const first = parts?.[0];
  if (parts === undefined || first === undefined) return undefined;
  if (parts.some((w) => w.wueLPerKwh !== first.wueLPerKwh)) {
    notes.push('water left out of the total: the parts used different WUE');
    return undefined;
  }
  const total = (pick: (w: WaterReport) => number) => parts.reduce((sum, w) => sum + pick(w), 0);
  return { liters: total((w) => w.liters), litersLow: total((w) => w.litersLow), litersHigh: total((w) => w.litersHigh), wueLPerKwh: first.wueLPerKwh };
}

function sumHeat(measurements: readonly Measurement[], notes: string[]): HeatReport | undefined {
  const parts = allParts(measurements, (m) => m.heat, 'heat', notes);
  if (parts === undefined) return undefined;
  const total = (pick: (h: HeatReport) => number) => parts.reduce((sum, h) => sum + pick(h), 0);
  return { kwh: total((h) => h.kwh), btu: total((h) => h.btu), btuLow: total((h) => h.btuLow), btuHigh: total((h) => h.btuHigh) };
}

/** Instantaneous GPU readings as one-sample ranges, ready to merge. */
export function telemetryOfSamples(samples: readonly GpuTelemetrySample[]): GpuTelemetry[] {
  const range = (value: number | undefined): SampledRange | undefined => (value === undefined ? undefined : { min: value, max: value, last: value, samples: 1 });
  return samples.map((s) => {
    const temperatureC = range(s.temperatureC);
    const fanSpeedPercent = range(s.fanSpeedPercent);
    return { index: s.index, ...(temperatureC ? { temperatureC } : {}), ...(fanSpeedPercent ? { fanSpeedPercent } : {}) };
  });
}

/** Per-GPU ranges over both inputs; `later` supplies `last` where it has a reading. */
export function mergeGpuTelemetry(earlier: readonly GpuTelemetry[], later: readonly GpuTelemetry[]): GpuTelemetry[] {
  const merge = (a: SampledRange | undefined, b: SampledRange | undefined): SampledRange | undefined =>
    a === undefined || b === undefined ? (a ?? b) : { min: Math.min(a.min, b.min), max: Math.max(a.max, b.max), last: b.last, samples: a.samples + b.samples };
  const indices = [...new Set([...earlier, ...later].map((t) => t.index))].sort((a, b) => a - b);
  return indices.map((index) => {
    const a = earlier.find((t) => t.index === index);
    const b = later.find((t) => t.index === index);
    const temperatureC = merge(a?.temperatureC, b?.temperatureC);
    const fanSpeedPercent = merge(a?.fanSpeedPercent, b?.fanSpeedPercent);
    return { index, ...(temperatureC ? { temperatureC } : {}), ...(fanSpeedPercent ? { fanSpeedPercent } : {}) };
  });
}
