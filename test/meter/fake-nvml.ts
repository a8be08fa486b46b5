/** An NVML stand-in: GPUs whose counters and power the test sets, with NVML-style error strings. */
import type { NvmlLibrary, NvmlResult } from '../../src/meter/index.js';

export interface FakeGpu {
  name: string;
  /** Undefined: the energy counter is not supported (pre-Volta). */
  energyMj?: number;
  /** Undefined: power readings are not supported. */
  powerMw?: number;
  /** Set to make every later call on this GPU fail. */
  lost?: boolean;
}

export interface FakeNvml {
  readonly library: NvmlLibrary;
  readonly gpus: FakeGpu[];
  readonly calls: { init: number; shutdown: number };
}

const NOT_SUPPORTED = 'Not Supported (NVML return code 3)';
const GPU_LOST = 'GPU is lost (NVML return code 15)';

export function createFakeNvml(gpus: FakeGpu[], options: { initError?: string } = {}): FakeNvml {
  const calls = { init: 0, shutdown: 0 };
  const ok = <T>(value: T): NvmlResult<T> => ({ ok: true, value });
  const fail = (fn: string, why: string): NvmlResult<never> => ({ ok: false, error: `${fn}: ${why}` });
  const gpuOf = (handle: unknown): FakeGpu => gpus[(handle as { index: number }).index] as FakeGpu;
  const library: NvmlLibrary = {
    init: () => {
      calls.init++;
      return options.initError ? fail('nvmlInit_v2', options.initError) : ok(undefined);
    },
    shutdown: () => {
      calls.shutdown++;
      return ok(undefined);
    },
    deviceCount: () => ok(gpus.length),
    deviceHandle: (index) => (index < gpus.length ? ok({ index }) : fail('nvmlDeviceGetHandleByIndex_v2', 'Invalid Argument (NVML return code 2)')),
    deviceName: (handle) => ok(gpuOf(handle).name),
    totalEnergyMillijoules: (handle) => {
      const gpu = gpuOf(handle);
      if (gpu.lost) return fail('nvmlDeviceGetTotalEnergyConsumption', GPU_LOST);
      return gpu.energyMj === undefined ? fail('nvmlDeviceGetTotalEnergyConsumption', NOT_SUPPORTED) : ok(gpu.energyMj);
    },
    powerUsageMilliwatts: (handle) => {
      const gpu = gpuOf(handle);
      if (gpu.lost) return fail('nvmlDeviceGetPowerUsage', GPU_LOST);
      return gpu.powerMw === undefined ? fail('nvmlDeviceGetPowerUsage', NOT_SUPPORTED) : ok(gpu.powerMw);
    },
  };
  return { library, gpus, calls };
}
