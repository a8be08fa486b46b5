/**
 * The real NVML binding: libnvidia-ml through koffi. This is the only file that imports koffi, and it
 * does so lazily, so machines without a GPU (or without koffi's native build) never load it.
 * @module
 */

import { EcomlError } from '../../errors.js';
import type { NvmlDevice, NvmlLibrary, NvmlResult } from './nvml-library.js';

/** The soname the NVIDIA driver installs; dlopen finds it on the usual library path. */
export const DEFAULT_NVML_LIBRARY_PATH = 'libnvidia-ml.so.1';

/** NVML_DEVICE_NAME_V2_BUFFER_SIZE from nvml.h. */
const NAME_BUFFER_BYTES = 96;
const NVML_SUCCESS = 0;

/** Loads NVML; throws E_METER_UNAVAILABLE saying why when koffi or the library cannot be loaded. */
export async function openKoffiNvml(libraryPath: string = DEFAULT_NVML_LIBRARY_PATH): Promise<NvmlLibrary> {
  const koffi = await import('koffi').then(
    (module) => module.default,
    (error: unknown) => {
      throw unavailable(`the koffi FFI package could not be loaded (${messageOf(error)})`, error);
    },
  );

  let lib: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load(libraryPath);
  } catch (error) {
    throw unavailable(`${libraryPath} could not be loaded (${messageOf(error)}): no NVIDIA driver on this machine`, error);
  }

  // Unnamed types: koffi's named types are process-wide, and a second open must not collide.
  const deviceStruct = koffi.opaque();
  const device = koffi.pointer(deviceStruct);
  let fns;
  try {
    fns = {
      nvmlInit_v2: lib.func('nvmlInit_v2', 'int', []),
      nvmlShutdown: lib.func('nvmlShutdown', 'int', []),
      nvmlErrorString: lib.func('nvmlErrorString', 'const char *', ['int']),
      nvmlDeviceGetCount_v2: lib.func('nvmlDeviceGetCount_v2', 'int', [koffi.out(koffi.pointer('unsigned int'))]),
      nvmlDeviceGetHandleByIndex_v2: lib.func('nvmlDeviceGetHandleByIndex_v2', 'int', ['unsigned int', koffi.out(koffi.pointer(deviceStruct, 2))]),
      nvmlDeviceGetName: lib.func('nvmlDeviceGetName', 'int', [device, koffi.out(koffi.pointer('uint8_t')), 'unsigned int']),
      nvmlDeviceGetTotalEnergyConsumption: lib.func('nvmlDeviceGetTotalEnergyConsumption', 'int', [device, koffi.out(koffi.pointer('unsigned long long'))]),
      nvmlDeviceGetPowerUsage: lib.func('nvmlDeviceGetPowerUsage', 'int', [device, koffi.out(koffi.pointer('unsigned int'))]),
    };
  } catch (error) {
    throw unavailable(`${libraryPath} lacks an NVML entry point (${messageOf(error)}): the driver is too old`, error);
  }

  const check = (fn: string, code: unknown): NvmlResult<void> => {
    if (code === NVML_SUCCESS) return { ok: true, value: undefined };
    return { ok: false, error: `${fn}: ${String(fns.nvmlErrorString(code))} (NVML return code ${String(code)})` };
  };

  /** Calls an NVML function whose last argument is a single-value out pointer. */
  const getOne = (fn: keyof typeof fns, ...args: unknown[]): NvmlResult<unknown> => {
    const out: unknown[] = [null];
    const status = check(fn, fns[fn](...args, out));
    return status.ok ? { ok: true, value: out[0] } : status;
  };

  const getNumber = (fn: keyof typeof fns, handle: NvmlDevice): NvmlResult<number> => {
    const result = getOne(fn, handle);
    // 64-bit integers beyond 2^53 come back as BigInt; a millijoule counter never gets there.
    return result.ok ? { ok: true, value: Number(result.value) } : result;
  };

  return {
    init: () => check('nvmlInit_v2', fns.nvmlInit_v2()),
    shutdown: () => check('nvmlShutdown', fns.nvmlShutdown()),
    deviceCount: () => {
      const result = getOne('nvmlDeviceGetCount_v2');
      return result.ok ? { ok: true, value: Number(result.value) } : result;
    },
    deviceHandle: (index) => getOne('nvmlDeviceGetHandleByIndex_v2', index),
    deviceName: (handle) => {
      const buffer = Buffer.alloc(NAME_BUFFER_BYTES);
      const status = check('nvmlDeviceGetName', fns.nvmlDeviceGetName(handle, buffer, buffer.length));
      if (!status.ok) return status;
      const end = buffer.indexOf(0);
      return { ok: true, value: buffer.toString('utf8', 0, end < 0 ? buffer.length : end) };
    },
    totalEnergyMillijoules: (handle) => getNumber('nvmlDeviceGetTotalEnergyConsumption', handle),
    powerUsageMilliwatts: (handle) => getNumber('nvmlDeviceGetPowerUsage', handle),
  };
}

function unavailable(message: string, cause: unknown): EcomlError {
  return new EcomlError('E_METER_UNAVAILABLE', message, { cause });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
