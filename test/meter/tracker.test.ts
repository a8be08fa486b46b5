import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { withBounds } from '../../src/meter/bounds.js';
import { createMeterFromChains, createRaplSource, WORLD_AVERAGE_INTENSITY, type EnergySource, type HardwareDescription } from '../../src/meter/index.js';
import { createTracker, type Tracker } from '../../src/meter/tracker.js';
import { createFakeClock, type FakeClock } from './fake-clock.js';
import { makeRaplTree, packageZone, type FakeRaplTree } from './fake-rapl-tree.js';

const hardware: HardwareDescription = { cpuModel: 'test', logicalCpus: 4, tdpWatts: 100, tdpSource: 'override', ramGb: 16, gpus: [], platform: 'test' };

function counter() {
  const state = { joules: 0 };
  const source: EnergySource = {
    name: 'scripted',
    probe: async () => ({ available: true }),
    read: async () => ({ components: [withBounds({ name: 'cpu', joules: state.joules, method: 'measured', model: 'scripted' }, 'rapl-package')] }),
    close: async () => undefined,
  };
  return { source, state };
}

const trackers: Tracker[] = [];
let tree: FakeRaplTree | undefined;
afterEach(async () => {
  await Promise.all(trackers.splice(0).map(async (t) => {
    await t.close();
    await t.meter.close();
  }));
  await tree?.cleanup();
  tree = undefined;
});

async function scriptedTracker(time: FakeClock = createFakeClock()) {
  const cpu = counter();
  const meter = await createMeterFromChains({ chains: [{ component: 'cpu', sources: [cpu.source] }], hardware, intensity: WORLD_AVERAGE_INTENSITY, pue: 1, clock: time.clock, samplingIntervalMs: 60_000 });
  const tracker = await createTracker({ meter });
  trackers.push(tracker);
  return { tracker, cpu, time };
}

describe('tracker start/stop and track', () => {
  it('measures the whole run between start and stop, and can run again', async () => {
    const { tracker, cpu, time } = await scriptedTracker();
    await tracker.start();
    cpu.state.joules = 40;
    time.advance(2_000);
    const run = await tracker.stop();
    expect([run.label, run.energy.joules, run.durationS]).toEqual(['run', 40, 2]);
    await tracker.start('second');
    cpu.state.joules = 45;
    expect((await tracker.stop()).energy.joules).toBe(5);
  });

  it('refuses to start twice or stop what was not started', async () => {
    const { tracker } = await scriptedTracker();
    await expect(tracker.stop()).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringMatching(/not started/) });
    await tracker.start();
    await expect(tracker.start()).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringMatching(/already started/) });
  });

  it('measures one function and returns its result', async () => {
    const { tracker, cpu, time } = await scriptedTracker();
    const { result, measurement } = await tracker.track(async () => {
      cpu.state.joules += 12;
      time.advance(500);
      return 'done';
    }, 'step');
    expect(result).toBe('done');
    expect([measurement.label, measurement.energy.joules, measurement.durationS]).toEqual(['step', 12, 0.5]);
    expect((await tracker.track(() => 7)).result).toBe(7);
  });

  it('passes a failing function’s error on', async () => {
    const { tracker } = await scriptedTracker();
    const boom = new Error('boom');
    await expect(
      tracker.track(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    await expect(tracker.track(async () => Promise.reject(boom))).rejects.toBe(boom);
  });
});

describe('tracker named windows', () => {
  it('nests and overlaps windows, each measured from its own edges', async () => {
    const { tracker, cpu, time } = await scriptedTracker();
    await tracker.begin('epoch');
    cpu.state.joules = 10;
    time.advance(1_000);
    await tracker.begin('batch');
    cpu.state.joules = 25;
    time.advance(1_000);
    await tracker.begin('eval');
    expect(tracker.openWindows).toEqual(['epoch', 'batch', 'eval']);
    cpu.state.joules = 30;
    const batch = await tracker.end('batch');
    cpu.state.joules = 50;
    time.advance(1_000);
    const epoch = await tracker.end('epoch');
    const evaluation = await tracker.end('eval');
    expect([batch.label, batch.energy.joules, batch.durationS]).toEqual(['batch', 20, 1]);
    expect([epoch.energy.joules, epoch.durationS]).toEqual([50, 3]);
    expect([evaluation.energy.joules, evaluation.durationS]).toEqual([25, 1]);
    expect(tracker.openWindows).toEqual([]);
  });

  it('keeps names unique while open, and frees a name once ended', async () => {
    const { tracker } = await scriptedTracker();
    const first = tracker.begin('epoch');
    const second = tracker.begin('epoch');
    await first;
    await expect(second).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: 'a window named "epoch" is already open; names are unique while open' });
    await tracker.end('epoch');
    await tracker.begin('epoch');
    expect(tracker.openWindows).toEqual(['epoch']);
  });

  it('refuses to end a window that is not open, naming those that are', async () => {
    const { tracker } = await scriptedTracker();
    await expect(tracker.end('nope')).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: 'no window named "nope" is open (open: none)' });
    await tracker.begin('a');
    await tracker.begin('b');
    await expect(tracker.end('c')).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: 'no window named "c" is open (open: "a", "b")', details: { open: ['a', 'b'] } });
    await expect(tracker.begin('')).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
  });

  it('ends a window whose begin is still reading its counters', async () => {
    const { tracker, cpu } = await scriptedTracker();
    const begun = tracker.begin('fast');
    const ended = tracker.end('fast');
    cpu.state.joules = 3;
    await begun;
    expect((await ended).label).toBe('fast');
  });
});

describe('tracker over RAPL: counter wraps inside long windows', () => {
  /** A package drawing a steady 400 W on a counter that wraps every 1,000 J (2.5 s). */
  const RANGE_UJ = 1_000_000_000;
  const WATTS = 400;
  const START_UJ = 900_000_000;
  const rawAt = (ms: number) => (START_UJ + WATTS * ms * 1000) % RANGE_UJ;

  async function raplTracker(time: FakeClock) {
    tree = await makeRaplTree([packageZone(0, START_UJ, RANGE_UJ)]);
    const meter = await createMeterFromChains({
      chains: [{ component: 'cpu', sources: [createRaplSource({ root: tree.root })] }],
      hardware,
      intensity: WORLD_AVERAGE_INTENSITY,
      pue: 1,
      clock: time.clock,
      // Far sparser than the counter's wrap period: the meter must tighten it.
      samplingIntervalMs: 10_000,
    });
    const tracker = await createTracker({ meter });
    trackers.push(tracker);
    return { tracker, meter, rapl: tree };
  }

  /** Moves time on tick by tick as the background sampler would, the counter following the clock. */
  async function run(time: FakeClock, sample: () => Promise<void>, tickMs: number, ms: number, counter: FakeRaplTree) {
    for (let elapsed = 0; elapsed < ms; elapsed += tickMs) {
      time.advance(tickMs);
      await counter.setEnergy('intel-rapl:0', rawAt(time.clock.monotonicMs()));
      await sample();
    }
  }

  it('samples often enough that windows spanning 3 and 4 wraps are exact', async () => {
    const time = createFakeClock();
    const { tracker, meter, rapl } = await raplTracker(time);
    // At most half a wrap period at RAPL_MAX_DOMAIN_WATTS (1 kW): 1,000 J / 1 kW / 2.
    expect(meter.samplingIntervalMs).toBe(500);
    await tracker.begin('epoch');
    await run(time, () => meter.sample(), meter.samplingIntervalMs, 1_000, rapl);
    await tracker.begin('steps');
    await run(time, () => meter.sample(), meter.samplingIntervalMs, 8_000, rapl);
    const steps = await tracker.end('steps');
    await run(time, () => meter.sample(), meter.samplingIntervalMs, 1_000, rapl);
    const epoch = await tracker.end('epoch');

    expect(steps.durationS).toBe(8);
    expect(steps.energy.joules).toBeCloseTo(3_200, 6); // 3.2 wraps
    expect(epoch.energy.joules).toBeCloseTo(4_000, 6); // 4 wraps
    expect(epoch.energy.components[0]).toMatchObject({ name: 'cpu:package-0', method: 'measured' });
    expect(epoch.notes).toEqual(['cpu: sampled every 500 ms rather than 10000 ms so that rapl counters cannot wrap unseen']);
  });

  it('would lose wraps at the requested 10 s interval (why the meter tightens it)', async () => {
    const time = createFakeClock();
    const { rapl } = await raplTracker(time);
    const sparse = createRaplSource({ root: rapl.root });
    await sparse.probe();
    try {
      const start = (await sparse.read()).components[0]?.joules ?? NaN;
      await run(time, async () => void (await sparse.sample?.()), 10_000, 10_000, rapl);
      const end = (await sparse.read()).components[0]?.joules ?? NaN;
      expect(end - start).toBeLessThan(4_000 - 999);
    } finally {
      await sparse.close();
    }
  });

  it('tightens the sampling of a meter built by createMeter too', async () => {
    tree = await makeRaplTree([packageZone(0, START_UJ, RANGE_UJ)]);
    const tracker = await createTracker({ raplRoot: tree.root, nvml: false, samplingIntervalMs: 10_000, calibrationDir: join(tmpdir(), 'ecoml-no-such-calibration'), env: {} });
    trackers.push(tracker);
    expect(tracker.meter.samplingIntervalMs).toBe(500);
  });

  it('really polls the counters in the background at the tightened interval', async () => {
    // A 40 J range: at most 20 ms between samples.
    tree = await makeRaplTree([packageZone(0, 0, 40_000_000)]);
    let energyReads = 0;
    const readText = async (path: string) => {
      if (path.endsWith('energy_uj')) energyReads++;
      return readFile(path, 'utf8');
    };
    const meter = await createMeterFromChains({
      chains: [{ component: 'cpu', sources: [createRaplSource({ root: tree.root, readText })] }],
      hardware,
      intensity: WORLD_AVERAGE_INTENSITY,
      pue: 1,
      samplingIntervalMs: 10_000,
    });
    const tracker = await createTracker({ meter });
    trackers.push(tracker);
    expect(meter.samplingIntervalMs).toBe(20);
    const before = energyReads;
    await vi.waitFor(() => expect(energyReads - before).toBeGreaterThanOrEqual(5), { timeout: 5_000, interval: 20 });
  });
});

describe('createTracker over createMeter', () => {
  it('creates and closes its own meter', async () => {
    const tracker = await createTracker({ raplRoot: join(tmpdir(), 'ecoml-no-such-powercap'), nvml: false, env: {} });
    const { measurement } = await tracker.track(() => undefined);
    expect(measurement.energy.components.map((c) => c.name)).toEqual(['cpu', 'ram']);
    await tracker.close();
    await tracker.close();
    await expect(tracker.meter.begin('late')).rejects.toMatchObject({ code: 'E_METER_UNAVAILABLE' });
  });

  it('leaves a meter it was given open', async () => {
    const { tracker } = await scriptedTracker();
    await tracker.close();
    await tracker.begin('still works');
    expect((await tracker.end('still works')).label).toBe('still works');
  });
});
