/**
 * Human-readable renderings shared by commands. Every energy figure shows its method.
 * @module
 */
import { formatEnergyWithBounds, type ComponentEnergy } from '../meter/index.js';
import type { ComponentJson, EnergyJson, EmissionsJson, StepJson } from '../workflows/report.js';
import type { EpochRecord, Forecast } from '../train/index.js';

export function formatJoulesShort(joules: number): string {
  const abs = Math.abs(joules);
  if (abs >= 3.6e6) return `${(joules / 3.6e6).toFixed(3)} kWh`;
  if (abs >= 1e6) return `${(joules / 1e6).toFixed(2)} MJ`;
  if (abs >= 1e3) return `${(joules / 1e3).toFixed(2)} kJ`;
  if (abs >= 1) return `${joules.toFixed(1)} J`;
  return `${(joules * 1e3).toFixed(1)} mJ`;
}

export function formatCo2(kg: number): string {
  if (kg >= 1) return `${kg.toFixed(3)} kgCO2e`;
  if (kg >= 1e-3) return `${(kg * 1e3).toFixed(2)} gCO2e`;
  return `${(kg * 1e6).toFixed(1)} mgCO2e`;
}


function componentOf(c: ComponentJson): ComponentEnergy {
  return { name: c.name, joules: c.joules, low: c.joules_low, high: c.joules_high, method: c.method, model: c.model };
}

/** e.g. `12.4 kJ (9.8–15.1, estimated)`: the figure, its bounds and how it was obtained. */
export function formatBoundedEnergy(energy: EnergyJson): string {
  return formatEnergyWithBounds({ joules: energy.joules, low: energy.joules_low, high: energy.joules_high, kwh: energy.kwh, components: energy.components.map(componentOf) });
}

export function formatEnergy(energy: EnergyJson, emissions: EmissionsJson): string {
  return `${formatBoundedEnergy(energy)} → ${formatCo2(emissions.kg_co2e)} @ ${emissions.intensity_g_per_kwh.toFixed(0)} g/kWh ${emissions.country}`;
}

export function formatComponents(energy: EnergyJson, indent = '    '): string {
  return energy.components
    .map((c) => `${indent}${c.name.padEnd(8)} ${formatEnergyWithBounds(componentOf(c)).padStart(30)}  ${c.model}`)
    .join('\n');
}

export function formatSteps(steps: readonly StepJson[], total: StepJson): string {
  const rows = [...steps, total].map((s) => {
    const name = s.step === total.step ? 'total' : s.step;
    return `  ${name.padEnd(10)} ${s.energy.duration_s.toFixed(1).padStart(7)} s  ${formatEnergy(s.energy, s.emissions)}`;
  });
  return rows.join('\n');
}

export function formatMetrics(metrics: Readonly<Record<string, number>>): string {
  return Object.entries(metrics)
    .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(4)}`)
    .join('  ');
}

export function formatEpochLine(record: EpochRecord, epochs: number): string {
  const energy = record.measurement ? `  ${formatJoulesShort(record.measurement.energy.joules)}` : '';
  return `epoch ${record.epoch}/${epochs}  ${formatMetrics(record.metrics)}  ${record.durationS.toFixed(1)}s  ${record.samplesPerSecond.toFixed(0)} samples/s${energy}`;
}

/** Seconds as '42 s', '12.5 min' or '3.2 h'. */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(0)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

export function formatForecast(f: Forecast): string {
  const minutes = f.durationS / 60;
  const duration = minutes >= 1 ? `${minutes.toFixed(1)} min` : `${f.durationS.toFixed(0)} s`;
  return `forecast for ${f.epochs} epochs (from ${f.basedOn}): ${duration}, ${formatJoulesShort(f.joules)} (${f.kwh.toPrecision(3)} kWh), ${formatCo2(f.kgCo2e)}`;
}
