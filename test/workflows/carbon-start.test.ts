import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCountryTableProvider, createIntensityChain, createLocalFileProvider } from '../../src/meter/index.js';
import { waitForCarbon, type CarbonWait } from '../../src/workflows/carbon-start.js';
import { createFakeClock } from '../meter/fake-clock.js';

const NOW = new Date('2026-03-01T00:00:00Z');
const HOUR = 3_600_000;
const at = (hours: number): string => new Date(NOW.getTime() + hours * HOUR).toISOString();

async function intensityFile(rows: readonly [number, number][]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ecoml-carbon-start-'));
  const path = join(dir, 'grid.csv');
  await writeFile(path, ['timestamp,g_co2e_per_kwh', ...rows.map(([h, g]) => `${at(h)},${g}`), ''].join('\n'));
  return path;
}

/** A fake clock and a sleep that moves it instead of waiting; every nap is kept. */
function fakeTime() {
  const fake = createFakeClock(0, NOW);
  const naps: number[] = [];
  return {
    clock: fake.clock,
    naps,
    sleep: (ms: number) => {
      naps.push(ms);
      fake.advance(ms);
      return Promise.resolve();
    },
  };
}

describe('waitForCarbon, greenest window', () => {
  it('sleeps until the cheapest window in the horizon and records the wait', async () => {
    const time = fakeTime();
    const provider = createLocalFileProvider({ path: await intensityFile([[-1, 400], [3, 80], [5, 420]]), clock: time.clock });
    const waits: CarbonWait[] = [];
    const start = await waitForCarbon({ provider, mode: { greenestWindowHours: 8, durationHours: 2 }, clock: time.clock, sleep: time.sleep, onWait: (w) => waits.push(w) });
    expect(start).toMatchObject({ waitedS: 3 * 3600, startedAt: at(3), intensityAtStartGPerKwh: 80, reason: 'greenest_window', expectedMeanGPerKwh: 80 });
    expect(waits).toEqual([expect.objectContaining({ mode: 'greenest_window', until: at(3), currentGPerKwh: 400, targetGPerKwh: 80 })]);
    // Slept in slices of at most a minute, adding up to the wait.
    expect(Math.max(...time.naps)).toBeLessThanOrEqual(60_000);
    expect(time.naps.reduce((a, b) => a + b, 0)).toBe(3 * HOUR);
  });

  it('starts at once when the cheapest window is now', async () => {
    const time = fakeTime();
    const provider = createLocalFileProvider({ path: await intensityFile([[-2, 90], [1, 500]]), clock: time.clock });
    const start = await waitForCarbon({ provider, mode: { greenestWindowHours: 6, durationHours: 1 }, clock: time.clock, sleep: time.sleep });
    expect(start).toMatchObject({ waitedS: 0, startedAt: at(0), intensityAtStartGPerKwh: 90, reason: 'greenest_window' });
    expect(time.naps).toEqual([]);
  });

  it('waits no longer than --max-wait: the horizon is cut to it', async () => {
    const time = fakeTime();
    const provider = createLocalFileProvider({ path: await intensityFile([[-1, 400], [2, 300], [5, 10]]), clock: time.clock });
    const start = await waitForCarbon({ provider, mode: { greenestWindowHours: 12, durationHours: 1 }, maxWaitHours: 3, clock: time.clock, sleep: time.sleep });
    expect(start).toMatchObject({ startedAt: at(2), intensityAtStartGPerKwh: 300 });
  });

  it('starts now, with the chain’s warning, when nobody forecasts', async () => {
    const time = fakeTime();
    const warnings: string[] = [];
    const provider = createIntensityChain([], { lastResort: createCountryTableProvider() });
    const start = await waitForCarbon({ provider, location: 'FR', mode: { greenestWindowHours: 6, durationHours: 1 }, clock: time.clock, sleep: time.sleep, onWarning: (w) => warnings.push(w) });
    expect(start.waitedS).toBe(0);
    expect(warnings).toContain('no provider could forecast; the series is flat at the current figure');
    expect(start.warnings).toEqual(warnings);
  });
});

describe('waitForCarbon, below a threshold', () => {
  it('re-reads every poll interval and starts once the intensity is below', async () => {
    const time = fakeTime();
    const provider = createLocalFileProvider({ path: await intensityFile([[-1, 400], [1.25, 120], [2, 60]]), clock: time.clock });
    const start = await waitForCarbon({ provider, mode: { belowGPerKwh: 100 }, pollMinutes: 30, clock: time.clock, sleep: time.sleep });
    expect(start).toMatchObject({ waitedS: 2 * 3600, intensityAtStartGPerKwh: 60, reason: 'below_threshold' });
    expect(time.naps).toEqual([30, 30, 30, 30].map((m) => m * 60_000));
  });

  it('starts anyway when the longest wait runs out', async () => {
    const time = fakeTime();
    const provider = createLocalFileProvider({ path: await intensityFile([[-1, 400]]), clock: time.clock });
    const start = await waitForCarbon({ provider, mode: { belowGPerKwh: 100 }, maxWaitHours: 1, pollMinutes: 25, clock: time.clock, sleep: time.sleep });
    expect(start).toMatchObject({ waitedS: 3600, intensityAtStartGPerKwh: 400, reason: 'max_wait' });
    expect(time.naps).toEqual([25, 25, 10].map((m) => m * 60_000));
  });

  it('ends with E_INTERRUPTED when the signal aborts while waiting', async () => {
    const time = fakeTime();
    const controller = new AbortController();
    const provider = createLocalFileProvider({ path: await intensityFile([[-1, 400]]), clock: time.clock });
    const sleep = (ms: number): Promise<void> => {
      controller.abort();
      return time.sleep(ms);
    };
    await expect(waitForCarbon({ provider, mode: { belowGPerKwh: 100 }, clock: time.clock, sleep, signal: controller.signal })).rejects.toMatchObject({ code: 'E_INTERRUPTED' });
  });

  it('refuses a negative threshold with E_CONFIG_INVALID', async () => {
    const provider = createCountryTableProvider();
    await expect(waitForCarbon({ provider, mode: { belowGPerKwh: -1 } })).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
  });
});
