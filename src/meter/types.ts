/**
 * The shapes every meter result takes. Units are in the names: joules, kwh, kgCo2e, gPerKwh, watts,
 * liters, btu, temperatureC.
 * @module
 */

/** How a figure was obtained: read from a hardware counter, or computed from a named model. */
export type Method = 'measured' | 'estimated';

/** The energy one component used inside one window. */
export interface ComponentEnergy {
  /** Stable component name: 'cpu', 'ram', 'gpu:0', 'cpu:package-1'… */
  readonly name: string;
  readonly joules: number;
  /** Plausible bounds around joules from the source's error model (bounds.ts); low ≤ joules ≤ high always. */
  readonly low: number;
  readonly high: number;
  readonly method: Method;
  /** The source and model behind the figure, e.g. 'rapl:package-0', 'nvml:total-energy-counter', 'tdp-per-core×cpu-time (Intel Xeon …, 165 W TDP)'. */
  readonly model: string;
}

export interface HardwareDescription {
  readonly cpuModel: string;
  readonly logicalCpus: number;
  /** Physical CPU packages; absent where it could not be told (embodied emissions then assume one). */
  readonly cpuSockets?: number;
  readonly tdpWatts: number;
  /** Where tdpWatts came from: 'table:<matched name>', 'default', 'override'. */
  readonly tdpSource: string;
  readonly ramGb: number;
  readonly gpus: readonly { readonly index: number; readonly name: string }[];
  readonly platform: string;
}

export interface EnergyReport {
  readonly joules: number;
  /** Sums of the components' bounds. */
  readonly low: number;
  readonly high: number;
  readonly kwh: number;
  readonly components: readonly ComponentEnergy[];
}

export interface EmissionsReport {
  readonly kgCo2e: number;
  /** The emissions of the energy bounds; grid-intensity uncertainty is not included. */
  readonly kgCo2eLow: number;
  readonly kgCo2eHigh: number;
  readonly intensityGPerKwh: number;
  /** ISO 3166-1 alpha-3 code, or 'WORLD' for the world-average default. */
  readonly country: string;
  readonly countryName: string;
  /** Where the intensity came from, e.g. 'table:OWID/Ember 2023' or 'default:world-average (IEA 2019)'. */
  readonly intensitySource: string;
  readonly pue: number;
}

/** One device class's share of the hardware's manufacturing emissions (SCI's M). */
export interface EmbodiedComponent {
  /** 'server', 'ram', 'gpu:0'… */
  readonly name: string;
  /** TE: the whole device's embodied emissions. */
  readonly totalKgCo2e: number;
  /** RR/ToR: the fraction of the device reserved. */
  readonly share: number;
  /** TE × (TiR/EL) × (RR/ToR). */
  readonly kgCo2e: number;
  /** Where TE came from. */
  readonly source: string;
}

export interface EmbodiedReport {
  readonly kgCo2e: number;
  /** EL, the expected lifespan the hardware is written off over. */
  readonly lifespanYears: number;
  readonly components: readonly EmbodiedComponent[];
}

/** On-site water evaporated to cool the devices: device kWh × WUE (The Green Grid's definition: per IT kWh). */
export interface WaterReport {
  readonly liters: number;
  readonly litersLow: number;
  readonly litersHigh: number;
  readonly wueLPerKwh: number;
}

/** The devices' electrical energy, all of which ends up as heat. */
export interface HeatReport {
  readonly kwh: number;
  readonly btu: number;
  readonly btuLow: number;
  readonly btuHigh: number;
}

/** The smallest, largest and latest of the values sampled in a window. */
export interface SampledRange {
  readonly min: number;
  readonly max: number;
  readonly last: number;
  readonly samples: number;
}

/** One GPU's instantaneous readings; a field is absent where the GPU does not report it. */
export interface GpuTelemetrySample {
  readonly index: number;
  readonly temperatureC?: number;
  readonly fanSpeedPercent?: number;
}

export interface GpuTelemetry {
  readonly index: number;
  readonly temperatureC?: SampledRange;
  readonly fanSpeedPercent?: SampledRange;
}

/** One metered window (a training epoch, a whole run, a tuning trial…). */
export interface Measurement {
  readonly label: string;
  readonly startedAt: string;
  readonly durationS: number;
  readonly energy: EnergyReport;
  /** Operational emissions (SCI's O); embodied emissions are reported apart. */
  readonly emissions: EmissionsReport;
  readonly hardware: HardwareDescription;
  readonly embodied?: EmbodiedReport;
  readonly water?: WaterReport;
  readonly heat?: HeatReport;
  readonly gpuTelemetry?: readonly GpuTelemetry[];
  /** Sources that were unavailable, failed or stood in for another, and anything they left out, with why. */
  readonly notes?: readonly string[];
}
