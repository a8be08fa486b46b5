/**
 * CPU energy estimated from this process's CPU time (all its threads, not child processes), with one of
 * two power models:
 * - TDP split (CodeCarbon's "process" tracking mode): each CPU-second is charged one logical CPU's share
 *   of the TDP, assuming a busy core draws its full share and charging no idle power;
 * - a calibration profile for this CPU model (calibration.ts): the package's idle power, scaled to the
 *   logical CPUs here when the profile was taken on a larger host, plus the measured power of one busy
 *   thread per CPU-second. It stands in for RAPL, so like RAPL it includes idle.
 * @module
 */

import { basename } from 'node:path';
import { withBounds } from '../bounds.js';
import type { StoredProfile } from '../calibration.js';
import { systemClock, type Clock } from '../clock.js';
import type { EnergySource } from '../energy-source.js';
import type { CpuPower } from './cpu-tdp.js';
import { createSourceLifecycle } from './source-lifecycle.js';

export interface CpuEstimateOptions {
  readonly power: CpuPower;
  /** A calibration profile for this CPU model; replaces the TDP split. */
  readonly calibration?: StoredProfile;
  /** Seam for process.cpuUsage(): user and system CPU time in microseconds. */
  readonly cpuUsage?: () => { readonly user: number; readonly system: number };
  readonly clock?: Clock;
}

export function createCpuEstimateSource(options: CpuEstimateOptions): EnergySource {
  const cpuUsage = options.cpuUsage ?? (() => process.cpuUsage());
  const clock = options.clock ?? systemClock;
  const { power, calibration } = options;
  const watts = calibration ? calibratedWatts(power, calibration) : tdpWatts(power);
  const cpuMicroseconds = () => {
    const usage = cpuUsage();
    return usage.user + usage.system;
  };
  const lifecycle = createSourceLifecycle('cpu-estimate', async () => ({
    available: true,
    state: { startMicroseconds: cpuMicroseconds(), startMs: clock.monotonicMs() },
  }));

  return {
    name: 'cpu-estimate',
    probe: () => lifecycle.probe(),
    async read() {
      const { startMicroseconds, startMs } = await lifecycle.opened();
      const cpuSeconds = (cpuMicroseconds() - startMicroseconds) / 1e6;
      const seconds = (clock.monotonicMs() - startMs) / 1000;
      const joules = watts.idle * seconds + watts.perBusyThread * cpuSeconds;
      return { components: [withBounds({ name: 'cpu', joules, method: 'estimated', model: watts.model }, watts.errorModel)] };
    },
    close: () => lifecycle.close(),
  };
}

interface PowerModel {
  readonly idle: number;
  readonly perBusyThread: number;
  readonly model: string;
  readonly errorModel: 'cpu-tdp-estimate' | 'cpu-calibrated-estimate';
}

function tdpWatts(power: CpuPower): PowerModel {
  return {
    idle: 0,
    perBusyThread: power.tdpWatts / power.logicalCpus,
    model: `tdp-per-core×process-cpu-time (${power.tdpSummary})`,
    errorModel: 'cpu-tdp-estimate',
  };
}

function calibratedWatts(power: CpuPower, { path, profile }: StoredProfile): PowerModel {
  const idleShare = Math.min(1, power.logicalCpus / profile.logicalCpus);
  const idle = profile.idleWatts * idleShare;
  const share = idleShare < 1 ? ` (${power.logicalCpus}/${profile.logicalCpus} threads)` : '';
  return {
    idle,
    perBusyThread: profile.perThreadWatts,
    model: `calibrated:${basename(path)} (${profile.cpuModel}: ${round(idle)} W idle${share} + ${round(profile.perThreadWatts)} W per busy thread×process-cpu-time, RAPL-calibrated ${profile.createdAt.slice(0, 10)})`,
    errorModel: 'cpu-calibrated-estimate',
  };
}

function round(watts: number): number {
  return Number(watts.toPrecision(3));
}
