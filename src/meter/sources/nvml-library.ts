/**
 * The NVML calls the meter needs, mirrored one to one so a fake can stand in for the driver.
 * Failures are values, not exceptions: "Not Supported" is an expected answer on many GPUs, and callers
 * tell it apart by `code` (NVML_ERROR_NOT_SUPPORTED).
 * @module
 */

export type NvmlResult<T> =
  | { readonly ok: true; readonly value: T }
  /** error: 'nvmlFunction: NVML's error string (NVML return code N)'; code: the nvmlReturn_t. */
  | { readonly ok: false; readonly error: string; readonly code: number };

/** nvmlReturn_t values callers act on (nvml.h). */
export const NVML_ERROR_NOT_SUPPORTED = 3;
export const NVML_ERROR_NOT_FOUND = 6;
export const NVML_ERROR_INSUFFICIENT_SIZE = 7;

/** An opaque nvmlDevice_t handle. */
export type NvmlDevice = unknown;

/** One nvmlProcessUtilizationSample_t: a process's share of the GPU over the driver's last sampling period. */
export interface NvmlProcessUtilization {
  readonly pid: number;
  /** CPU timestamp of the sample, in microseconds (pass the newest back as sinceTimestampUs). */
  readonly timestampUs: number;
  /** Percent of the period the SMs ran this process's kernels. */
  readonly smPercent: number;
  readonly memoryPercent: number;
  readonly encoderPercent: number;
  readonly decoderPercent: number;
}

/** One nvmlProcessInfo_t from nvmlDeviceGetComputeRunningProcesses_v3. */
export interface NvmlRunningProcess {
  readonly pid: number;
  /** Undefined where the driver does not say (NVML_VALUE_NOT_AVAILABLE: e.g. Windows WDDM, or no permission). */
  readonly usedGpuMemoryBytes: number | undefined;
  /** MIG instance ids; undefined outside MIG mode (0xFFFFFFFF in NVML). */
  readonly gpuInstanceId: number | undefined;
  readonly computeInstanceId: number | undefined;
}

export interface NvmlLibrary {
  /** nvmlInit_v2 */
  init(): NvmlResult<void>;
  /** nvmlDeviceGetCount_v2 */
  deviceCount(): NvmlResult<number>;
  /** nvmlDeviceGetHandleByIndex_v2 */
  deviceHandle(index: number): NvmlResult<NvmlDevice>;
  /** nvmlDeviceGetName */
  deviceName(device: NvmlDevice): NvmlResult<string>;
  /** nvmlDeviceGetTotalEnergyConsumption: millijoules since the driver was loaded (Volta and newer). */
  totalEnergyMillijoules(device: NvmlDevice): NvmlResult<number>;
  /** nvmlDeviceGetPowerUsage: milliwatts drawn now (a 1 s average on Ampere and newer). */
  powerUsageMilliwatts(device: NvmlDevice): NvmlResult<number>;
  /** nvmlDeviceGetTemperature with NVML_TEMPERATURE_GPU (the die sensor), in °C. */
  temperatureCelsius(device: NvmlDevice): NvmlResult<number>;
  /**
   * nvmlDeviceGetFanSpeed: the intended fan speed as a percent of maximum (it can exceed 100). Passively
   * cooled datacenter GPUs answer NOT_SUPPORTED: leave the reading out rather than fail.
   */
  fanSpeedPercent(device: NvmlDevice): NvmlResult<number>;
  /**
   * nvmlDeviceGetProcessUtilization: per-process utilisation samples newer than sinceTimestampUs (0 for
   * all the driver still holds). No samples since then (NVML_ERROR_NOT_FOUND) is an empty list, not a
   * failure. NOT_SUPPORTED on GPUs older than Maxwell, under vGPU and in some containers: per-process
   * attribution is then unavailable on that GPU.
   */
  processUtilization(device: NvmlDevice, sinceTimestampUs: number): NvmlResult<readonly NvmlProcessUtilization[]>;
  /**
   * nvmlDeviceGetComputeRunningProcesses_v3: the processes holding a compute context on the GPU. Inside a
   * container PIDs may be the host's, not this namespace's; NOT_SUPPORTED is possible on vGPU.
   */
  computeRunningProcesses(device: NvmlDevice): NvmlResult<readonly NvmlRunningProcess[]>;
  /** nvmlShutdown */
  shutdown(): NvmlResult<void>;
}
