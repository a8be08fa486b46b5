/**
 * Every source's error model, in one table: the factors by which the true energy may plausibly differ
 * from what the source reports, and why. They are honest ranges, not guarantees; a source reports its
 * figure with `withBounds`, and windows and totals carry the bounds along (sums of bounds).
 * @module
 */

import type { ComponentEnergy } from './types.js';

export interface ErrorModel {
  /** The true energy is taken to lie between lowFactor × and highFactor × the reported figure. */
  readonly lowFactor: number;
  readonly highFactor: number;
  /** Why these factors, with sources. */
  readonly basis: string;
}

export const ERROR_MODELS = {
  'rapl-package': {
    lowFactor: 0.95,
    highFactor: 1.05,
    basis:
      'RAPL package energy is measured by on-die sensors since Intel Haswell (Hackenberg et al., IPDPSW 2015) and tracks external power meters closely (Khan et al., "RAPL in Action", ACM TOMPECS 2018); ±5% is a modest allowance for older, model-based generations (Sandy/Ivy Bridge) and calibration. It covers the CPU package only: DRAM unless opted in, chipset, fans and PSU losses lie outside it, and AMD multi-die parts have been seen double counted (CodeCarbon #788).',
  },
  'rapl-dram': {
    lowFactor: 0.9,
    highFactor: 1.1,
    basis:
      'DRAM RAPL was validated against measured DIMM power on Haswell-EP servers (Desrochers et al., MEMSYS 2016), but other generations model DRAM energy rather than measure it: ±10%.',
  },
  'nvml-energy-counter': {
    lowFactor: 0.95,
    highFactor: 1.05,
    basis:
      "NVIDIA documents its board power readings as accurate to ±5% (nvmlDeviceGetPowerUsage reference); the total-energy counter integrates the same sensor. On our H200 it read 4,387 J over a 10 s load against pynvml's 4,449 J for a window started ~0.1 s apart (shared/reference/metering.md).",
  },
  'nvml-power-sampling': {
    lowFactor: 0.9,
    highFactor: 1.15,
    basis:
      'Integrating sampled nvmlDeviceGetPowerUsage read 6–7.5% below the energy counter under load on our H200 and lagged it in cool-down (Ampere and newer report a 1 s average; sampling sees only part of the runtime, arXiv 2312.02741): skewed high, −10%/+15%.',
  },
  'cpu-tdp-estimate': {
    lowFactor: 0.3,
    highFactor: 2,
    basis:
      'TDP is a thermal rating, not a draw: memory-bound or lightly loaded cores draw far below their TDP share (0.3×). Splitting TDP per logical CPU also ignores package idle and uncore power and turbo at low load, so a lightly loaded machine can draw over twice the charge (2×).',
  },
  'cpu-calibrated-estimate': {
    lowFactor: 0.75,
    highFactor: 1.4,
    basis:
      'Fitted on this CPU model from RAPL (±5%) with a scalar busy loop on every thread. Real work differs: memory stalls draw less per busy thread (0.75×); vector units, and turbo when few threads are busy (one busy thread costs more than the all-thread average), draw more (1.4×).',
  },
  'ram-estimate': {
    lowFactor: 0.5,
    highFactor: 2,
    basis:
      '0.375 W/GiB (3 W per 8 GB) is a rule of thumb: DRAM power follows DIMM count, generation and access rate more than resident bytes, and process RSS leaves out page cache and shared memory (CodeCarbon v3 moved to a per-DIMM model for this reason).',
  },
} as const satisfies Record<string, ErrorModel>;

export type ErrorModelName = keyof typeof ERROR_MODELS;

/** A source's figure with the bounds of its error model. */
export function withBounds(component: Omit<ComponentEnergy, 'low' | 'high'>, errorModel: ErrorModelName): ComponentEnergy {
  const { lowFactor, highFactor } = ERROR_MODELS[errorModel];
  const { joules } = component;
  // min/max rather than the factors alone: the bounds must contain the figure even if it is negative.
  const scaled = [joules * lowFactor, joules * highFactor];
  return { ...component, low: Math.min(joules, ...scaled), high: Math.max(joules, ...scaled) };
}
