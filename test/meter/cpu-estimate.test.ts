import { describe, expect, it } from 'vitest';
import { createCpuEstimateSource, type CpuPower } from '../../src/meter/index.js';
import { runEnergySourceSuite } from './energy-source.suite.js';

const power: CpuPower = {
  cpuModel: 'Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz',
  logicalCpus: 64,
  tdpWatts: 300,
  tdpSource: 'table:Intel Xeon Platinum 8375C',
  tdpSummary: 'Intel Xeon Platinum 8375C, 300 W TDP / 64 threads',
};

runEnergySourceSuite('cpu-estimate (fake CPU time)', () => {
  const usage = { user: 0, system: 0 };
  return {
    source: createCpuEstimateSource({ power, cpuUsage: () => ({ ...usage }) }),
    advance() {
      usage.user += 120_000;
      usage.system += 30_000;
    },
  };
});

runEnergySourceSuite('cpu-estimate (real process CPU time)', () => ({
  source: createCpuEstimateSource({ power }),
  advance() {
    const until = performance.now() + 20;
    let x = 0;
    while (performance.now() < until) x += Math.sqrt(x + 1);
  },
}));

describe('CPU estimate', () => {
  it('charges each CPU-second one logical CPU’s share of the TDP', async () => {
    let usage = { user: 5_000_000, system: 1_000_000 };
    const source = createCpuEstimateSource({ power, cpuUsage: () => usage });
    await source.probe();
    usage = { user: 6_500_000, system: 1_500_000 };
    // 2 CPU-seconds × 300 W / 64 threads.
    expect((await source.read()).components).toEqual([
      {
        name: 'cpu',
        joules: 2 * (300 / 64),
        low: 0.3 * 2 * (300 / 64),
        high: 2 * 2 * (300 / 64),
        method: 'estimated',
        model: 'tdp-per-core×process-cpu-time (Intel Xeon Platinum 8375C, 300 W TDP / 64 threads)',
      },
    ]);
    await source.close();
  });
});
