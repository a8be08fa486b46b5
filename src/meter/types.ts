/**
 * The shapes every meter result takes. Units are in the names: joules, kwh, kgCo2e, gPerKwh, watts.
 * @module
 */

/** How a figure was obtained: read from a hardware counter, or computed from a named model. */
export type Method = 'measured' | 'estimated';

/** The energy one component used inside one window. */
export interface ComponentEnergy {
  /** Stable component name: 'cpu', 'ram', 'gpu:0', 'cpu:package-1'… */
  readonly name: string;
  readonly joules: number;
  readonly method: Method;
  /** The source and model behind the figure, e.g. 'rapl:package-0', 'nvml:total-energy-counter', 'tdp-per-core×cpu-time (Intel Xeon …, 165 W TDP)'. */
  readonly model: string;
}

export interface HardwareDescription {
  readonly cpuModel: string;
  readonly logicalCpus: number;
  readonly tdpWatts: number;
  /** Where tdpWatts came from: 'table:<matched name>', 'default', 'override'. */
  readonly tdpSource: string;
  readonly ramGb: number;
  readonly gpus: readonly { readonly index: number; readonly name: string }[];
  readonly platform: string;
}

export interface EnergyReport {
  readonly joules: number;
  readonly kwh: number;
  readonly components: readonly ComponentEnergy[];
}

export interface EmissionsReport {
  readonly kgCo2e: number;
  readonly intensityGPerKwh: number;
  /** ISO 3166-1 alpha-3 code, or 'WORLD' for the world-average default. */
  readonly country: string;
  readonly countryName: string;
  /** Where the intensity came from, e.g. 'table:OWID/Ember 2023' or 'default:world-average (IEA 2019)'. */
  readonly intensitySource: string;
  readonly pue: number;
}

/** One metered window (a training epoch, a whole run, a tuning trial…). */
export interface Measurement {
  readonly label: string;
  readonly startedAt: string;
  readonly durationS: number;
  readonly energy: EnergyReport;
  readonly emissions: EmissionsReport;
  readonly hardware: HardwareDescription;
  /** Sources that were unavailable, failed or stood in for another, and anything they left out, with why. */
  readonly notes?: readonly string[];
}
