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
export { DEFAULT_CPUINFO_PATH, detectCpu, parseCpuInfo, type CpuInfo, type CpuInfoOptions } from './sources/cpu-info.js';
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

// Honest figures: error models and bounds, embodied emissions (SCI), water, heat.
export { ERROR_MODELS, withBounds, type ErrorModel, type ErrorModelName } from './bounds.js';
export { BASE_SERVER_RAM_GB, DEFAULT_LIFESPAN_YEARS, EMBODIED_DEFAULTS, embodiedFor, embodiedModel, type EmbodiedModel, type EmbodiedOptions } from './embodied.js';
export { BTU_PER_KWH, heatFor, sciScore, waterFor, type BoundedJoules, type SciInputs } from './emissions.js';
export { energyReport, mergeGpuTelemetry, telemetryOfSamples } from './totals.js';
export { formatEnergyWithBounds } from './format.js';
export type { EmbodiedComponent, EmbodiedReport, GpuTelemetry, GpuTelemetrySample, HeatReport, SampledRange, WaterReport } from './types.js';
export type { SourceSample } from './energy-source.js';
export { resolveWue } from './meter.js';
export { RAPL_MAX_DOMAIN_WATTS } from './sources/rapl.js';
export { NVML_ERROR_INSUFFICIENT_SIZE, NVML_ERROR_NOT_FOUND, NVML_ERROR_NOT_SUPPORTED, type NvmlProcessUtilization, type NvmlRunningProcess } from './sources/nvml-library.js';

// Zeus-style tracker: start/stop, track(fn), named nestable windows.
export { createTracker, type Tracker, type TrackerOptions } from './tracker.js';

// Calibration profiles for machines of the same CPU without RAPL.
export {
  BUSY_WARMUP_MS,
  DEFAULT_IDLE_SECONDS,
  DEFAULT_LOAD_SECONDS,
  calibrateCpu,
  calibrationProfilePath,
  defaultCalibrationDir,
  findCalibrationProfile,
  loadCalibrationProfiles,
  saveCalibrationProfile,
  startBusyThreads,
  type BusyLoad,
  type CalibrateOptions,
  type CalibrationOutcome,
  type CalibrationProfile,
  type StoredProfile,
} from './calibration.js';

// Live grid intensity: providers, resilience, the fallback chain.
export type { IntensityForecast, IntensityKind, IntensityPoint, IntensityRequestOptions } from './intensity/carbon-intensity.js';
export { ELECTRICITY_MAPS_TOKEN_ENV, createElectricityMapsProvider, type ElectricityMapsOptions } from './intensity/electricity-maps.js';
export {
  G_PER_KWH_PER_LB_PER_MWH,
  WATTTIME_PASSWORD_ENV,
  WATTTIME_USER_ENV,
  createWattTimeProvider,
  type WattTimeOptions,
  type WattTimeProvider,
  type WattTimeSignalIndex,
} from './intensity/watttime.js';
export { createUkCarbonIntensityProvider, parseUkLocation, type UkCarbonIntensityOptions } from './intensity/uk-carbon-intensity.js';
export { INTENSITY_FILE_ENV, createLocalFileProvider, type LocalFileOptions } from './intensity/local-file.js';
export { MEAN_TIE_TOLERANCE, firstBelow, greenestStart, meanIntensity, type GreenestWindow, type GreenestWindowRequest } from './intensity/window.js';
export { DEFAULT_RESILIENCE, withResilience, type ResilienceOptions } from './intensity/resilient.js';
export { createIntensityChain, type ChainEntry, type ChainedForecast, type ChainedIntensity, type IntensityChain, type IntensityChainOptions } from './intensity/chain.js';
export {
  INTENSITY_PROVIDERS_ENV,
  createIntensityProviders,
  parseIntensitySpec,
  resolveIntensityChain,
  type IntensityChainSettings,
  type IntensityProviderName,
  type IntensityProvidersConfig,
} from './intensity/registry.js';

// Per-process metering (`ecoml measure`).
export { exitStatusOf, runMeasured, type MeasuredRun, type RunMeasuredOptions } from './process/run-measured.js';
export { createProcessTreeSampler } from './process/proc.js';
export { attribute } from './process/attribution.js';
export type { GpuProcessUtilization } from './process/gpu-share.js';

// File sinks. Prometheus metrics and the exporter live in 'ecoml/meter/outputs' (prom-client and
// fastify load only there).
export { createSerialSink, newRunMetadata, type EmissionsRecord, type EmissionsSink, type RunMetadata, type TrackingMode } from './outputs/sink.js';
export {
  CODECARBON_COLUMNS,
  appendEmissionsCsv,
  createCodeCarbonCsvSink,
  describeHost,
  toCodeCarbonRow,
  trackingModeOf,
  type CodeCarbonColumn,
  type CodeCarbonRow,
  type HostInfo,
} from './outputs/codecarbon-csv.js';
export { appendEmissionsJsonl, createJsonlSink, readEmissionsJsonl, toJsonLine } from './outputs/jsonl.js';
