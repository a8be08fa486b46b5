/**
 * NVIDIA GPU energy through NVML. Per GPU, the driver's total-energy counter is preferred (measured);
 * where the driver refuses it (pre-Volta), sampled power is integrated with the trapezoid rule and
 * labelled as an estimate: on an H200 that read 7.5% below the counter (shared/reference/metering.md).
 * Each sample and read also takes the GPU's temperature and fan speed where the GPU reports them
 * (passively cooled datacenter GPUs have no fan speed); the meter keeps their range per window.
 * @module
 */

import { EcomlError } from '../../errors.js';
import { withBounds } from '../bounds.js';
import { systemClock, type Clock } from '../clock.js';
import type { EnergySource, SourceSample } from '../energy-source.js';
import { DEFAULT_SAMPLING_INTERVAL_MS } from '../sampling.js';
import type { ComponentEnergy, GpuTelemetrySample } from '../types.js';
import type { NvmlDevice, NvmlLibrary, NvmlResult } from './nvml-library.js';
import { openKoffiNvml } from './nvml-koffi.js';
import { extendPowerIntegral, startPowerIntegral, type PowerIntegral } from './power-integral.js';
import { createSourceLifecycle } from './source-lifecycle.js';

export interface GpuInfo {
  readonly index: number;
  readonly name: string;
}

export interface NvmlSourceOptions {
  /** The library, or a loader for it; defaults to the koffi binding of libnvidia-ml.so.1. */
  readonly library?: NvmlLibrary | (() => Promise<NvmlLibrary>);
  readonly clock?: Clock;
  /** How often the meter samples; only named in the model of power-integrated GPUs. */
  readonly samplingIntervalMs?: number;
}

export interface NvmlSource extends EnergySource {
  /** The GPUs being metered; empty until a successful probe. */
  readonly gpus: readonly GpuInfo[];
  sample(): Promise<SourceSample>;
}

/** Which telemetry the GPU answered at open; the rest is left out for good. */
interface Telemetry {
  readonly temperature: boolean;
  readonly fan: boolean;
}

interface CounterGpu {
  readonly kind: 'counter';
  readonly info: GpuInfo;
  readonly handle: NvmlDevice;
  readonly telemetry: Telemetry;
  readonly baselineMillijoules: number;
}

interface PowerGpu {
  readonly kind: 'power';
  readonly info: GpuInfo;
  readonly handle: NvmlDevice;
  readonly telemetry: Telemetry;
  /** Why the energy counter could not be used. */
  readonly counterError: string;
  integral: PowerIntegral;
}

type Gpu = CounterGpu | PowerGpu;

interface OpenNvml {
  readonly library: NvmlLibrary;
  readonly gpus: readonly Gpu[];
  /** GPUs left out at open, with why. */
  readonly notes: readonly string[];
}

export function createNvmlSource(options: NvmlSourceOptions = {}): NvmlSource {
  const clock = options.clock ?? systemClock;
  const load = options.library ?? (() => openKoffiNvml());
  const powerModel = (gpu: GpuInfo) =>
    `nvml:power-sampling (${gpu.name}; nvmlDeviceGetPowerUsage every ~${options.samplingIntervalMs ?? DEFAULT_SAMPLING_INTERVAL_MS} ms, trapezoidal)`;
  let gpus: readonly GpuInfo[] = [];

  const lifecycle = createSourceLifecycle<OpenNvml>(
    'nvml',
    async () => {
      const library = typeof load === 'function' ? await load() : load;
      const init = library.init();
      if (!init.ok) return { available: false, reason: init.error };
      const count = library.deviceCount();
      if (!count.ok || count.value === 0) {
        library.shutdown();
        return { available: false, reason: count.ok ? 'NVML reports no GPUs' : count.error };
      }
      const opened: Gpu[] = [];
      const notes: string[] = [];
      for (let index = 0; index < count.value; index++) {
        const gpu = openGpu(library, index, clock);
        if ('skipped' in gpu) {
          notes.push(gpu.skipped);
          continue;
        }
        opened.push(gpu);
        notes.push(...gpu.telemetryNotes);
        if ('counterError' in gpu) notes.push(`gpu:${index} has no energy counter (${gpu.counterError}); its power is sampled and integrated`);
      }
      if (opened.length === 0) {
        library.shutdown();
        return { available: false, reason: notes.join('; ') };
      }
      gpus = opened.map((gpu) => gpu.info);
      return { available: true, state: { library, gpus: opened, notes } };
    },
    ({ library }) => {
      library.shutdown();
    },
  );

  const samplePower = (library: NvmlLibrary, gpu: PowerGpu): PowerIntegral => {
    const milliwatts = must(library.powerUsageMilliwatts(gpu.handle), gpu.info);
    gpu.integral = extendPowerIntegral(gpu.integral, milliwatts / 1000, clock.monotonicMs());
    return gpu.integral;
  };

  const componentOf = (library: NvmlLibrary, gpu: Gpu): ComponentEnergy => {
    const name = `gpu:${gpu.info.index}`;
    if (gpu.kind === 'counter') {
      const millijoules = must(library.totalEnergyMillijoules(gpu.handle), gpu.info);
      const joules = (millijoules - gpu.baselineMillijoules) / 1000;
      return withBounds({ name, joules, method: 'measured', model: `nvml:total-energy-counter (${gpu.info.name})` }, 'nvml-energy-counter');
    }
    return withBounds({ name, joules: samplePower(library, gpu).joules, method: 'estimated', model: powerModel(gpu.info) }, 'nvml-power-sampling');
  };

  return {
    name: 'nvml',
    get gpus() {
      return gpus;
    },
    probe: () => lifecycle.probe(),
    async sample() {
      const { library, gpus: open } = await lifecycle.opened();
      for (const gpu of open) if (gpu.kind === 'power') samplePower(library, gpu);
      return { gpuTelemetry: open.map((gpu) => telemetryOf(library, gpu)) };
    },
    async read() {
      const { library, gpus: open, notes } = await lifecycle.opened();
      return { components: open.map((gpu) => componentOf(library, gpu)), gpuTelemetry: open.map((gpu) => telemetryOf(library, gpu)), notes };
    },
    close: () => lifecycle.close(),
  };
}

function openGpu(library: NvmlLibrary, index: number, clock: Clock): (Gpu & { readonly telemetryNotes: readonly string[] }) | { readonly skipped: string } {
  const handle = library.deviceHandle(index);
  if (!handle.ok) return { skipped: `gpu:${index} skipped: ${handle.error}` };
  const name = library.deviceName(handle.value);
  const info = { index, name: name.ok ? name.value : `GPU ${index}` };
  const temperature = library.temperatureCelsius(handle.value);
  const fan = library.fanSpeedPercent(handle.value);
  const telemetry = { temperature: temperature.ok, fan: fan.ok };
  const telemetryNotes = [
    ...(temperature.ok ? [] : [`gpu:${index} reports no temperature (${temperature.error}); left out`]),
    ...(fan.ok ? [] : [`gpu:${index} reports no fan speed (${fan.error}), as passively cooled datacenter GPUs do; left out`]),
  ];
  const common = { info, handle: handle.value, telemetry, telemetryNotes };
  const energy = library.totalEnergyMillijoules(handle.value);
  if (energy.ok) return { kind: 'counter', ...common, baselineMillijoules: energy.value };
  const power = library.powerUsageMilliwatts(handle.value);
  if (!power.ok) return { skipped: `gpu:${index} skipped: no energy counter (${energy.error}) and no power reading (${power.error})` };
  return { kind: 'power', ...common, counterError: energy.error, integral: startPowerIntegral(power.value / 1000, clock.monotonicMs()) };
}

/** The GPU's telemetry now; a reading that fails this once is left out of this sample, not fatal. */
function telemetryOf(library: NvmlLibrary, gpu: Gpu): GpuTelemetrySample {
  const temperature = gpu.telemetry.temperature ? library.temperatureCelsius(gpu.handle) : undefined;
  const fan = gpu.telemetry.fan ? library.fanSpeedPercent(gpu.handle) : undefined;
  return {
    index: gpu.info.index,
    ...(temperature?.ok ? { temperatureC: temperature.value } : {}),
    ...(fan?.ok ? { fanSpeedPercent: fan.value } : {}),
  };
}

function must<T>(result: NvmlResult<T>, gpu: GpuInfo): T {
  if (result.ok) return result.value;
  throw new EcomlError('E_METER_UNAVAILABLE', `gpu:${gpu.index} (${gpu.name}) can no longer be read: ${result.error}`, {
    details: { gpu: gpu.index, reason: result.error },
  });
}
