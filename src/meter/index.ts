/**
 * The meter's public surface: energy per component (measured where the hardware allows, labelled
 * estimates otherwise), converted to kWh and kgCO2e for the configured grid and PUE.
 * @example
 * const meter = await createMeter({ country: 'FR' });
 * const window = await meter.begin('epoch 1');
 * // … work …
 * const m = await window.end(); // m.energy.components: [{ name: 'cpu', method: 'estimated', … }, …]
 * await meter.close();
 * @module
 */

export type { ComponentEnergy, EmissionsReport, EnergyReport, HardwareDescription, Measurement, Method } from './types.js';
export type { EnergySource, ProbeResult, SourceReading } from './energy-source.js';
export { systemClock, type Clock } from './clock.js';

export {
  createMeter,
  createMeterFromChains,
  resolvePue,
  type Meter,
  type MeterFromChainsOptions,
  type MeterOptions,
  type MeterWindow,
  type SourceChain,
  type SourceState,
  type SourceStatus,
} from './meter.js';
export { DEFAULT_SAMPLING_INTERVAL_MS } from './sampling.js';
export { emissionsFor, joulesToKwh, JOULES_PER_KWH } from './emissions.js';
export { sumMeasurements } from './totals.js';
export { formatJoules } from './format.js';

export { WORLD_AVERAGE_INTENSITY, type CarbonIntensity, type CarbonIntensityProvider } from './intensity/carbon-intensity.js';
export { createCountryTableProvider, type CountryTableOptions } from './intensity/country-table.js';

export { counterDeltaMicrojoules, createRaplSource, DEFAULT_POWERCAP_ROOT, type RaplDomainKind, type RaplOptions } from './sources/rapl.js';
export { createNvmlSource, type GpuInfo, type NvmlSource, type NvmlSourceOptions } from './sources/nvml.js';
export type { NvmlDevice, NvmlLibrary, NvmlResult } from './sources/nvml-library.js';
export { openKoffiNvml, DEFAULT_NVML_LIBRARY_PATH } from './sources/nvml-koffi.js';
export { createCpuEstimateSource, type CpuEstimateOptions } from './sources/cpu-estimate.js';
export { detectCpu, parseCpuInfo, type CpuInfo, type CpuInfoOptions } from './sources/cpu-info.js';
export {
  loadTdpTable,
  matchCpuModel,
  normaliseCpuModel,
  resolveCpuPower,
  UNDETECTED_CPU_TDP_WATTS,
  UNLISTED_CPU_WATTS_PER_THREAD,
  type CpuPower,
  type SkippedTdpRow,
  type TdpEntry,
  type TdpTable,
} from './sources/cpu-tdp.js';
export { createRamEstimateSource, RAM_WATTS_PER_GIB, type RamEstimateOptions } from './sources/ram-estimate.js';
