/**
 * Embodied emissions, SCI's M: the share of the hardware's manufacturing emissions a window uses up,
 * M = TE × (TiR / EL) × (RR / ToR): total embodied emissions, time reserved over expected lifespan,
 * resources reserved over total resources (GSF SCI v1.1).
 *
 * The defaults are the per-device figures Cloud Carbon Footprint derived with Teads from the Dell
 * PowerEdge R740 life-cycle assessment (ccf-coefficients, constants.py). They are coarse: an actual
 * product carbon footprint sheet for the machine at hand should replace them through the options.
 * @module
 */

import { EcomlError } from '../errors.js';
import type { EmbodiedComponent, EmbodiedReport, HardwareDescription } from './types.js';

const CCF_CONSTANTS = 'Teads/Cloud Carbon Footprint (ccf-coefficients constants.py)';

/** Default TE per device class, with where each figure comes from. */
export const EMBODIED_DEFAULTS = {
  /** A mono-socket, low-DRAM (16 GB), no-storage commodity rack server. */
  server: { kgCo2e: 1000, source: `${CCF_CONSTANTS}: mono-socket, 16 GB, diskless rack server` },
  /** Each CPU socket beyond the first. */
  extraSocket: { kgCo2e: 100, source: `${CCF_CONSTANTS}: per additional CPU` },
  /** DRAM beyond the server's base 16 GB: 533 kgCO2e for 12 × 32 GB DIMMs in the Dell R740 LCA. */
  ramPerGb: { kgCo2e: 533 / 384, source: `${CCF_CONSTANTS}: Dell R740 LCA, 533 kg per 384 GB` },
  /**
   * One GPU card. Likely low for HBM-heavy accelerators: Chien et al. (HotCarbon 2023) put an A100 with
   * its share of the host at 318 kg.
   */
  gpu: { kgCo2e: 150, source: `${CCF_CONSTANTS}: per GPU card` },
} as const;

/** RAM already counted in the base server figure. */
export const BASE_SERVER_RAM_GB = 16;
/** EL: the 4-year server life CCF and Teads take from the Dell R740 LCA (also the SCI spec's worked example). */
export const DEFAULT_LIFESPAN_YEARS = 4;
const SECONDS_PER_YEAR = 365.25 * 24 * 3600;

export interface EmbodiedOptions {
  /** TE of the host without GPUs and without RAM beyond 16 GB; default 1,000 kg + 100 kg per extra socket. */
  readonly serverKgCo2e?: number;
  readonly ramKgCo2ePerGb?: number;
  readonly gpuKgCo2e?: number;
  /** EL in years; default 4. */
  readonly lifespanYears?: number;
  /** Logical CPUs reserved for this work (the server's RR); default all of them. */
  readonly reservedCpus?: number;
  /** GB of RAM reserved; default all installed. */
  readonly reservedRamGb?: number;
}

/** Per device: TE, RR/ToR and the source of TE, fixed for a machine; a window adds its duration. */
export interface EmbodiedModel {
  readonly lifespanYears: number;
  readonly devices: readonly Omit<EmbodiedComponent, 'kgCo2e'>[];
}

/** The devices reserved on this hardware and their embodied emissions; throws E_CONFIG_INVALID on bad options. */
export function embodiedModel(hardware: HardwareDescription, options: EmbodiedOptions = {}): EmbodiedModel {
  const check = (name: keyof EmbodiedOptions, rule: (v: number) => boolean, what: string): number | undefined => {
    const value = options[name];
    if (value === undefined || (Number.isFinite(value) && rule(value))) return value;
    throw new EcomlError('E_CONFIG_INVALID', `embodied.${name} must be ${what}, got ${value}`, { details: { [name]: value } });
  };
  const nonNegative = (v: number) => v >= 0;
  const serverKg = check('serverKgCo2e', nonNegative, 'kgCO2e ≥ 0');
  const ramKgPerGb = check('ramKgCo2ePerGb', nonNegative, 'kgCO2e per GB ≥ 0') ?? EMBODIED_DEFAULTS.ramPerGb.kgCo2e;
  const gpuKg = check('gpuKgCo2e', nonNegative, 'kgCO2e ≥ 0') ?? EMBODIED_DEFAULTS.gpu.kgCo2e;
  const lifespanYears = check('lifespanYears', (v) => v > 0, 'a positive number of years') ?? DEFAULT_LIFESPAN_YEARS;
  const reservedCpus = check('reservedCpus', (v) => v > 0 && v <= hardware.logicalCpus, `in (0, ${hardware.logicalCpus}], the logical CPUs here`);
  const reservedRamGb = check('reservedRamGb', (v) => v >= 0 && v <= hardware.ramGb, `in [0, ${hardware.ramGb.toFixed(1)}], the GB installed`);

  const sockets = hardware.cpuSockets ?? 1;
  const extraRamGb = Math.max(0, hardware.ramGb - BASE_SERVER_RAM_GB);
  const server =
    serverKg === undefined
      ? {
          totalKgCo2e: EMBODIED_DEFAULTS.server.kgCo2e + EMBODIED_DEFAULTS.extraSocket.kgCo2e * (sockets - 1),
          source: `${EMBODIED_DEFAULTS.server.source}, + ${EMBODIED_DEFAULTS.extraSocket.kgCo2e} kg per extra socket (${sockets} socket${sockets === 1 ? '' : 's'}${hardware.cpuSockets === undefined ? ', assumed' : ''})`,
        }
      : { totalKgCo2e: serverKg, source: 'option serverKgCo2e' };
  return {
    lifespanYears,
    devices: [
      { name: 'server', ...server, share: (reservedCpus ?? hardware.logicalCpus) / hardware.logicalCpus },
      {
        name: 'ram',
        totalKgCo2e: ramKgPerGb * extraRamGb,
        // The base server's 16 GB are reserved with the server; only the rest is shared out by GB.
        share: extraRamGb === 0 ? 1 : Math.max(0, (reservedRamGb ?? hardware.ramGb) - BASE_SERVER_RAM_GB) / extraRamGb,
        source: `${options.ramKgCo2ePerGb === undefined ? EMBODIED_DEFAULTS.ramPerGb.source : 'option ramKgCo2ePerGb'}, × ${extraRamGb.toFixed(1)} GB beyond the server's base ${BASE_SERVER_RAM_GB} GB`,
      },
      ...hardware.gpus.map((gpu) => ({
        name: `gpu:${gpu.index}`,
        totalKgCo2e: gpuKg,
        share: 1,
        source: `${options.gpuKgCo2e === undefined ? EMBODIED_DEFAULTS.gpu.source : 'option gpuKgCo2e'} (${gpu.name})`,
      })),
    ],
  };
}

/** M for a window of durationS seconds: Σ TE × (TiR / EL) × (RR / ToR). */
export function embodiedFor(model: EmbodiedModel, durationS: number): EmbodiedReport {
  const timeShare = durationS / (model.lifespanYears * SECONDS_PER_YEAR);
  const components = model.devices.map((device): EmbodiedComponent => ({ ...device, kgCo2e: device.totalKgCo2e * timeShare * device.share }));
  return { kgCo2e: components.reduce((sum, c) => sum + c.kgCo2e, 0), lifespanYears: model.lifespanYears, components };
}
