/** Synthetic measurements for the output tests: round numbers, so every unit conversion is checkable by eye. */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ComponentEnergy, Measurement } from '../../src/meter/index.js';
import type { EmissionsRecord, HostInfo, RunMetadata } from '../../src/meter/outputs/index.js';

export const HOST: HostInfo = { os: 'Linux-6.8.0-test-x86_64', runtime: 'node 20.0.0', ecomlVersion: '0.1.0' };
export const RUN: RunMetadata = { projectName: 'ecoml-tests', runId: '00000000-0000-4000-8000-000000000001' };

const component = (name: string, joules: number, method: ComponentEnergy['method'], model: string, spread: number): ComponentEnergy => ({
  name,
  joules,
  low: joules * (1 - spread),
  high: joules * (1 + spread),
  method,
  model,
});

/** 3.6e6 J (1 kWh) over 3600 s (1000 W): CPU 1.8 MJ estimated, GPU 1.2 MJ measured, RAM 0.6 MJ estimated; France at 56 g/kWh. */
export function hourMeasurement(overrides: Partial<Measurement> = {}): Measurement {
  const components = [
    component('cpu', 1.8e6, 'estimated', 'tdp-per-core×process-cpu-time (Test CPU @ 2.0GHz, 100 W TDP)', 0.3),
    component('gpu:0', 1.2e6, 'measured', 'nvml:total-energy-counter (NVIDIA H200)', 0.05),
    component('ram', 0.6e6, 'estimated', '0.375 W/GiB×process-rss, sampled and trapezoid-integrated (CodeCarbon v2 / Eco2AI: 3 W per 8 GB)', 0.5),
  ];
  const sum = (pick: (c: ComponentEnergy) => number) => components.reduce((s, c) => s + pick(c), 0);
  const kg = (joules: number) => ((joules / 3.6e6) * 56) / 1000;
  return {
    label: 'epoch 1',
    startedAt: '2026-03-01T10:00:00.000Z',
    durationS: 3600,
    energy: { joules: sum((c) => c.joules), low: sum((c) => c.low), high: sum((c) => c.high), kwh: 1, components },
    emissions: {
      kgCo2e: kg(sum((c) => c.joules)),
      kgCo2eLow: kg(sum((c) => c.low)),
      kgCo2eHigh: kg(sum((c) => c.high)),
      intensityGPerKwh: 56,
      country: 'FRA',
      countryName: 'France',
      intensitySource: 'table:OWID/Ember 2023',
      pue: 1,
    },
    hardware: {
      cpuModel: 'Test CPU @ 2.0GHz',
      logicalCpus: 16,
      tdpWatts: 100,
      tdpSource: 'override',
      ramGb: 125.5,
      gpus: [{ index: 0, name: 'NVIDIA H200' }],
      platform: 'linux-x64',
    },
    notes: [],
    ...overrides,
  };
}

export function record(overrides: { run?: Partial<RunMetadata>; measurement?: Partial<Measurement> } = {}): EmissionsRecord {
  return { run: { ...RUN, ...overrides.run }, measurement: hourMeasurement(overrides.measurement) };
}

export async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'ecoml-outputs-'));
}
