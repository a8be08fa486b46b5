/**
 * CPU energy estimated from this process's CPU time: each CPU-second is charged one logical CPU's share
 * of the TDP (TDP / logical CPUs), CodeCarbon's "process" tracking mode. It counts this process only
 * (all its threads, not child processes) and assumes a busy core draws its full share.
 * @module
 */

import type { EnergySource } from '../energy-source.js';
import type { CpuPower } from './cpu-tdp.js';
import { createSourceLifecycle } from './source-lifecycle.js';

export interface CpuEstimateOptions {
  readonly power: CpuPower;
  /** Seam for process.cpuUsage(): user and system CPU time in microseconds. */
  readonly cpuUsage?: () => { readonly user: number; readonly system: number };
}

export function createCpuEstimateSource(options: CpuEstimateOptions): EnergySource {
  const cpuUsage = options.cpuUsage ?? (() => process.cpuUsage());
  const wattsPerLogicalCpu = options.power.tdpWatts / options.power.logicalCpus;
  const model = `tdp-per-core×process-cpu-time (${options.power.tdpSummary})`;
  const cpuMicroseconds = () => {
    const usage = cpuUsage();
    return usage.user + usage.system;
  };
  const lifecycle = createSourceLifecycle('cpu-estimate', async () => ({ available: true, state: { startMicroseconds: cpuMicroseconds() } }));

  return {
    name: 'cpu-estimate',
    probe: () => lifecycle.probe(),
    async read() {
      const { startMicroseconds } = await lifecycle.opened();
      const cpuSeconds = (cpuMicroseconds() - startMicroseconds) / 1e6;
      return { components: [{ name: 'cpu', joules: cpuSeconds * wattsPerLogicalCpu, method: 'estimated', model }] };
    },
    close: () => lifecycle.close(),
  };
}
