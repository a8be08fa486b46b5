/**
 * The real NVML binding: libnvidia-ml through koffi. This is the only file that imports koffi, and it
 * does so lazily, so machines without a GPU (or without koffi's native build) never load it.
 * @module
 */

import { EcomlError } from '../../errors.js';
import {
  NVML_ERROR_INSUFFICIENT_SIZE,
  NVML_ERROR_NOT_FOUND,
  type NvmlLibrary,
  type NvmlProcessUtilization,
  type NvmlResult,
  type NvmlRunningProcess,
} from './nvml-library.js';

/** The soname the NVIDIA driver installs; dlopen finds it on the usual library path. */
export const DEFAULT_NVML_LIBRARY_PATH = 'libnvidia-ml.so.1';

/** NVML_DEVICE_NAME_V2_BUFFER_SIZE from nvml.h. */
const NAME_BUFFER_BYTES = 96;
const NVML_SUCCESS = 0;
/** NVML_ERROR_FUNCTION_NOT_FOUND: what NVML itself answers for an entry point this driver lacks. */
const NVML_ERROR_FUNCTION_NOT_FOUND = 13;
/** NVML_TEMPERATURE_GPU: the die sensor. */
const NVML_TEMPERATURE_GPU = 0;
/** NVML_VALUE_NOT_AVAILABLE for an unsigned long long, and the "no MIG instance" id. */
const NOT_AVAILABLE_U64 = 2n ** 64n - 1n;
const NO_INSTANCE_U32 = 0xffff_ffff;
/** Processes can start between the sizing call and the filling call: room for this many more. */
const LIST_SLACK = 8;

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
  const uintOut = koffi.out(koffi.pointer('unsigned int'));
  const countInOut = koffi.inout(koffi.pointer('unsigned int'));
  // nvml.h layouts; koffi applies the C alignment (a 4-byte pad after each leading pid).
  const processInfo = koffi.struct({ pid: 'unsigned int', usedGpuMemory: 'unsigned long long', gpuInstanceId: 'unsigned int', computeInstanceId: 'unsigned int' });
  const utilizationSample = koffi.struct({
    pid: 'unsigned int',
    timeStamp: 'unsigned long long',
    smUtil: 'unsigned int',
    memUtil: 'unsigned int',
    encUtil: 'unsigned int',
    decUtil: 'unsigned int',
  });

  let fns;
  try {
    fns = {
      nvmlInit_v2: lib.func('nvmlInit_v2', 'int', []),
      nvmlShutdown: lib.func('nvmlShutdown', 'int', []),
      nvmlErrorString: lib.func('nvmlErrorString', 'const char *', ['int']),
      nvmlDeviceGetCount_v2: lib.func('nvmlDeviceGetCount_v2', 'int', [uintOut]),
      nvmlDeviceGetHandleByIndex_v2: lib.func('nvmlDeviceGetHandleByIndex_v2', 'int', ['unsigned int', koffi.out(koffi.pointer(deviceStruct, 2))]),
      nvmlDeviceGetName: lib.func('nvmlDeviceGetName', 'int', [device, koffi.out(koffi.pointer('uint8_t')), 'unsigned int']),
      nvmlDeviceGetTotalEnergyConsumption: lib.func('nvmlDeviceGetTotalEnergyConsumption', 'int', [device, koffi.out(koffi.pointer('unsigned long long'))]),
      nvmlDeviceGetPowerUsage: lib.func('nvmlDeviceGetPowerUsage', 'int', [device, uintOut]),
    };
  } catch (error) {
    throw unavailable(`${libraryPath} lacks an NVML entry point (${messageOf(error)}): the driver is too old`, error);
  }
  // Telemetry and per-process entry points are optional: a driver without them still meters energy.
  const optional = (name: string, args: Parameters<typeof koffi.sizeof>[0][]) => {
    try {
      return lib.func(name, 'int', args);
    } catch {
      return undefined;
    }
  };
  const extras = {
    nvmlDeviceGetTemperature: optional('nvmlDeviceGetTemperature', [device, 'int', uintOut]),
    nvmlDeviceGetFanSpeed: optional('nvmlDeviceGetFanSpeed', [device, uintOut]),
    nvmlDeviceGetProcessUtilization: optional('nvmlDeviceGetProcessUtilization', [device, 'void *', countInOut, 'unsigned long long']),
    nvmlDeviceGetComputeRunningProcesses_v3: optional('nvmlDeviceGetComputeRunningProcesses_v3', [device, countInOut, 'void *']),
  };

  const check = (fn: string, code: unknown): NvmlResult<void> => {
    if (code === NVML_SUCCESS) return { ok: true, value: undefined };
    return { ok: false, error: `${fn}: ${String(fns.nvmlErrorString(code))} (NVML return code ${String(code)})`, code: Number(code) };
  };

  /** An optional entry point, or the failure NVML itself gives for one it lacks. */
  const extra = (fn: keyof typeof extras): NvmlResult<(...args: unknown[]) => unknown> => {
    const bound = extras[fn];
    return bound
      ? { ok: true, value: bound }
      : { ok: false, error: `${fn}: not in ${libraryPath}: the driver is too old (NVML return code ${NVML_ERROR_FUNCTION_NOT_FOUND})`, code: NVML_ERROR_FUNCTION_NOT_FOUND };
  };

  /** Calls an NVML function whose last argument is a single-value out pointer. */
  const getOne = (fn: string, call: (...args: unknown[]) => unknown, ...args: unknown[]): NvmlResult<unknown> => {
    const out: unknown[] = [null];
    const status = check(fn, call(...args, out));
    return status.ok ? { ok: true, value: out[0] } : status;
  };

  const getNumber = (fn: string, call: (...args: unknown[]) => unknown, ...args: unknown[]): NvmlResult<number> => {
    const result = getOne(fn, call, ...args);
    // 64-bit integers beyond 2^53 come back as BigInt; a millijoule counter never gets there.
    return result.ok ? { ok: true, value: Number(result.value) } : result;
  };

  const getExtraNumber = (fn: keyof typeof extras, ...args: unknown[]): NvmlResult<number> => {
    const call = extra(fn);
    return call.ok ? getNumber(fn, call.value, ...args) : call;
  };

  /**
   * NVML's list idiom: ask with the capacity we have; INSUFFICIENT_SIZE says how many there are, so
   * grow and ask again. `call(count, buffer)` fills up to count[0] entries and sets count[0].
   */
  const getList = <T>(
    fn: keyof typeof extras,
    type: typeof processInfo,
    call: (count: number[], buffer: Buffer | null) => unknown,
    decode: (entry: Record<string, unknown>) => T,
  ): NvmlResult<readonly T[]> => {
    let capacity = 0;
    for (let attempt = 0; attempt < 3; attempt++) {
      const count = [capacity];
      const buffer = capacity === 0 ? null : Buffer.alloc(capacity * koffi.sizeof(type));
      const status = check(fn, call(count, buffer));
      const found = count[0] ?? 0;
      if (status.ok) return { ok: true, value: buffer === null || found === 0 ? [] : (koffi.decode(buffer, type, found) as Record<string, unknown>[]).map(decode) };
      if (status.code === NVML_ERROR_NOT_FOUND) return { ok: true, value: [] };
      if (status.code !== NVML_ERROR_INSUFFICIENT_SIZE) return status;
      capacity = found + LIST_SLACK;
    }
    return { ok: false, error: `${fn}: the list kept growing between calls`, code: NVML_ERROR_INSUFFICIENT_SIZE };
  };

  return {
    init: () => check('nvmlInit_v2', fns.nvmlInit_v2()),
    shutdown: () => check('nvmlShutdown', fns.nvmlShutdown()),
    deviceCount: () => getNumber('nvmlDeviceGetCount_v2', fns.nvmlDeviceGetCount_v2),
    deviceHandle: (index) => getOne('nvmlDeviceGetHandleByIndex_v2', fns.nvmlDeviceGetHandleByIndex_v2, index),
    deviceName: (handle) => {
      const buffer = Buffer.alloc(NAME_BUFFER_BYTES);
      const status = check('nvmlDeviceGetName', fns.nvmlDeviceGetName(handle, buffer, buffer.length));
      if (!status.ok) return status;
      const end = buffer.indexOf(0);
      return { ok: true, value: buffer.toString('utf8', 0, end < 0 ? buffer.length : end) };
    },
    totalEnergyMillijoules: (handle) => getNumber('nvmlDeviceGetTotalEnergyConsumption', fns.nvmlDeviceGetTotalEnergyConsumption, handle),
    powerUsageMilliwatts: (handle) => getNumber('nvmlDeviceGetPowerUsage', fns.nvmlDeviceGetPowerUsage, handle),
    temperatureCelsius: (handle) => getExtraNumber('nvmlDeviceGetTemperature', handle, NVML_TEMPERATURE_GPU),
    fanSpeedPercent: (handle) => getExtraNumber('nvmlDeviceGetFanSpeed', handle),
    processUtilization: (handle, sinceTimestampUs) => {
      const call = extra('nvmlDeviceGetProcessUtilization');
      if (!call.ok) return call;
      return getList(
        'nvmlDeviceGetProcessUtilization',
        utilizationSample,
        (count, buffer) => call.value(handle, buffer, count, sinceTimestampUs),
        (s): NvmlProcessUtilization => ({
          pid: Number(s.pid),
          timestampUs: Number(s.timeStamp),
          smPercent: Number(s.smUtil),
          memoryPercent: Number(s.memUtil),
          encoderPercent: Number(s.encUtil),
          decoderPercent: Number(s.decUtil),
        }),
      );
    },
    computeRunningProcesses: (handle) => {
      const call = extra('nvmlDeviceGetComputeRunningProcesses_v3');
      if (!call.ok) return call;
      return getList(
        'nvmlDeviceGetComputeRunningProcesses_v3',
        processInfo,
        (count, buffer) => call.value(handle, count, buffer),
        (p): NvmlRunningProcess => ({
          pid: Number(p.pid),
          usedGpuMemoryBytes: BigInt(p.usedGpuMemory as number | bigint) === NOT_AVAILABLE_U64 ? undefined : Number(p.usedGpuMemory),
          gpuInstanceId: p.gpuInstanceId === NO_INSTANCE_U32 ? undefined : Number(p.gpuInstanceId),
          computeInstanceId: p.computeInstanceId === NO_INSTANCE_U32 ? undefined : Number(p.computeInstanceId),
        }),
      );
    },
  };
}

function unavailable(message: string, cause: unknown): EcomlError {
  return new EcomlError('E_METER_UNAVAILABLE', message, { cause });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
