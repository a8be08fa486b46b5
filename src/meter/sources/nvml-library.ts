/**
 * The NVML calls the GPU source needs, mirrored one to one so a fake can stand in for the driver.
 * Failures are values, not exceptions: "Not Supported" is an expected answer on older GPUs.
 * @module
 */

export type NvmlResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** An opaque nvmlDevice_t handle. */
export type NvmlDevice = unknown;

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
  /** nvmlDeviceGetPowerUsage: milliwatts drawn now. */
  powerUsageMilliwatts(device: NvmlDevice): NvmlResult<number>;
  /** nvmlShutdown */
  shutdown(): NvmlResult<void>;
}
