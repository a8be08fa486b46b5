/** An NVML stand-in: GPUs whose counters, power and telemetry the test sets, with NVML-style errors and codes. */
import type { NvmlLibrary, NvmlProcessUtilization, NvmlResult, NvmlRunningProcess } from '../../src/meter/sources/nvml-library.js';

export interface FakeGpu {
  name: string;
  /** Undefined: the energy counter is not supported (pre-Volta). */
  energyMj?: number;
  /** Undefined: power readings are not supported. */
  powerMw?: number;
  /** Undefined: no temperature sensor reading. */
  temperatureC?: number;
  /** Undefined: no fan speed (passively cooled datacenter GPUs). */
  fanPercent?: number;
  /** Undefined: per-process queries are not supported (vGPU, old GPUs). */
  processes?: NvmlRunningProcess[];
  utilization?: NvmlProcessUtilization[];
  /** Set to make every later call on this GPU fail. */
  lost?: boolean;
}

export interface FakeNvml {
  readonly library: NvmlLibrary;
  readonly gpus: FakeGpu[];
  readonly calls: { init: number; shutdown: number };
}

const NOT_SUPPORTED = { why: 'Not Supported (NVML return code 3)', code: 3 };
const GPU_LOST = { why: 'GPU is lost (NVML return code 15)', code: 15 };

export function createFakeNvml(gpus: FakeGpu[], options: { initError?: string } = {}): FakeNvml {
  const calls = { init: 0, shutdown: 0 };
  const ok = <T>(value: T): NvmlResult<T> => ({ ok: true, value });
  const fail = (fn: string, { why, code }: { why: string; code: number }): NvmlResult<never> => ({ ok: false, error: `${fn}: ${why}`, code });
  const gpuOf = (handle: unknown): FakeGpu => gpus[(handle as { index: number }).index] as FakeGpu;
  /** A per-GPU reading: lost beats unsupported beats the value. */
  const reading =
    <T>(fn: string, pick: (gpu: FakeGpu) => T | undefined) =>
    (handle: unknown): NvmlResult<T> => {
      const gpu = gpuOf(handle);
      if (gpu.lost) return fail(fn, GPU_LOST);
      const value = pick(gpu);
      return value === undefined ? fail(fn, NOT_SUPPORTED) : ok(value);
    };
  const library: NvmlLibrary = {
    init: () => {
      calls.init++;
      return options.initError ? fail('nvmlInit_v2', { why: options.initError, code: 9 }) : ok(undefined);
    },
    shutdown: () => {
      calls.shutdown++;
      return ok(undefined);
    },
    deviceCount: () => ok(gpus.length),
    deviceHandle: (index) => (index < gpus.length ? ok({ index }) : fail('nvmlDeviceGetHandleByIndex_v2', { why: 'Invalid Argument (NVML return code 2)', code: 2 })),
    deviceName: (handle) => ok(gpuOf(handle).name),
    totalEnergyMillijoules: reading('nvmlDeviceGetTotalEnergyConsumption', (gpu) => gpu.energyMj),
    powerUsageMilliwatts: reading('nvmlDeviceGetPowerUsage', (gpu) => gpu.powerMw),
    temperatureCelsius: reading('nvmlDeviceGetTemperature', (gpu) => gpu.temperatureC),
    fanSpeedPercent: reading('nvmlDeviceGetFanSpeed', (gpu) => gpu.fanPercent),
    computeRunningProcesses: reading('nvmlDeviceGetComputeRunningProcesses_v3', (gpu) => gpu.processes),
    processUtilization: (handle, sinceTimestampUs) =>
      reading('nvmlDeviceGetProcessUtilization', (gpu) => gpu.utilization?.filter((s) => s.timestampUs > sinceTimestampUs))(handle),
  };
  return { library, gpus, calls };
}
