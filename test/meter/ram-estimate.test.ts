import { describe, expect, it } from 'vitest';
import { createRamEstimateSource, RAM_WATTS_PER_GIB } from '../../src/meter/index.js';
import { runEnergySourceSuite } from './energy-source.suite.js';
import { createFakeClock } from './fake-clock.js';

const GIB = 2 ** 30;

runEnergySourceSuite('ram-estimate (fake RSS and clock)', () => {
  const time = createFakeClock();
  let rss = GIB;
  return {
    source: createRamEstimateSource({ clock: time.clock, rssBytes: () => rss }),
    advance() {
      time.advance(1_000);
      rss += GIB / 4;
    },
  };
});

runEnergySourceSuite('ram-estimate (real RSS and clock)', () => ({
  source: createRamEstimateSource(),
  advance: () => new Promise<void>((resolve) => setTimeout(resolve, 5)),
}));

describe('RAM estimate', () => {
  it('integrates 0.375 W/GiB of resident memory over time with the trapezoid rule', async () => {
    const time = createFakeClock();
    let rss = 2 * GIB;
    const source = createRamEstimateSource({ clock: time.clock, rssBytes: () => rss });
    await source.probe();
    time.advance(10_000);
    rss = 4 * GIB;
    await source.sample?.();
    time.advance(10_000);
    const [ram] = (await source.read()).components;
    // 10 s ramping 2→4 GiB (mean 3 GiB), then 10 s at 4 GiB.
    expect(RAM_WATTS_PER_GIB).toBe(0.375);
    expect(ram?.joules).toBeCloseTo(0.375 * 3 * 10 + 0.375 * 4 * 10, 9);
    expect(ram).toMatchObject({ name: 'ram', method: 'estimated', model: expect.stringMatching(/0\.375 W\/GiB.*rss/) });
    await source.close();
  });
});
