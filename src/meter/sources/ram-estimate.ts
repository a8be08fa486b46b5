/**
 * RAM energy estimated from this process's resident memory at 0.375 W per GiB (3 W per 8 GB DIMM:
 * CodeCarbon v2, and Eco2AI on used memory). We charge the process's RSS rather than the machine's
 * installed RAM, which CodeCarbon found grossly overstates shared hosts (378 W on a 1 TB host,
 * codecarbon #629). RSS changes over time, so it is sampled and integrated with the trapezoid rule.
 * @module
 */

import { withBounds } from '../bounds.js';
import { systemClock, type Clock } from '../clock.js';
import type { EnergySource } from '../energy-source.js';
import { extendPowerIntegral, startPowerIntegral, type PowerIntegral } from './power-integral.js';
import { createSourceLifecycle } from './source-lifecycle.js';

export const RAM_WATTS_PER_GIB = 0.375;
const BYTES_PER_GIB = 2 ** 30;

export interface RamEstimateOptions {
  /** Seam for process.memoryUsage.rss(). */
  readonly rssBytes?: () => number;
  readonly clock?: Clock;
}

export function createRamEstimateSource(options: RamEstimateOptions = {}): EnergySource {
  const rssBytes = options.rssBytes ?? (() => process.memoryUsage.rss());
  const clock = options.clock ?? systemClock;
  const watts = () => (rssBytes() / BYTES_PER_GIB) * RAM_WATTS_PER_GIB;
  const model = `${RAM_WATTS_PER_GIB} W/GiB×process-rss, sampled and trapezoid-integrated (CodeCarbon v2 / Eco2AI: 3 W per 8 GB)`;
  const lifecycle = createSourceLifecycle<{ integral: PowerIntegral }>('ram-estimate', async () => ({
    available: true,
    state: { integral: startPowerIntegral(watts(), clock.monotonicMs()) },
  }));

  const step = (state: { integral: PowerIntegral }): PowerIntegral => {
    state.integral = extendPowerIntegral(state.integral, watts(), clock.monotonicMs());
    return state.integral;
  };

  return {
    name: 'ram-estimate',
    probe: () => lifecycle.probe(),
    async sample() {
      step(await lifecycle.opened());
    },
    async read() {
      const { joules } = step(await lifecycle.opened());
      return { components: [withBounds({ name: 'ram', joules, method: 'estimated', model }, 'ram-estimate')] };
    },
    close: () => lifecycle.close(),
  };
}
