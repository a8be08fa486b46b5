import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import { withBounds } from '../../src/meter/bounds.js';
import {
  createMeter,
  createMeterFromChains,
  WORLD_AVERAGE_INTENSITY,
  type EnergySource,
  type HardwareDescription,
  type Meter,
  type Method,
} from '../../src/meter/index.js';
import { createFakeClock } from './fake-clock.js';
import { createFakeNvml } from './fake-nvml.js';
import { makeRaplTree, packageZone, type FakeRaplTree } from './fake-rapl-tree.js';

const NO_RAPL = join(tmpdir(), 'ecoml-no-such-powercap');
const NO_CALIBRATION = join(tmpdir(), 'ecoml-no-such-calibration');
const noDriver = () => createFakeNvml([], { initError: 'Driver Not Loaded (NVML return code 9)' }).library;

function burnCpu(ms: number): void {
  const until = performance.now() + ms;
  let x = 0;
  while (performance.now() < until) x += Math.sqrt(x + 1);
}

/** A source whose cumulative joules the test sets, and which can be broken on demand. */
function scripted(name: string, component: string, method: Method = 'measured', available = true) {
  const state = { joules: 0, broken: undefined as string | undefined, samples: 0, closes: 0 };
  const check = () => {
    if (state.broken) throw new EcomlError('E_METER_UNAVAILABLE', state.broken);
  };
  const source: EnergySource = {
    name,
    probe: async () => (available ? { available: true } : { available: false, reason: `${name} is switched off` }),
    read: async () => {
      check();
      return { components: [withBounds({ name: component, joules: state.joules, method, model: `${name}-model` }, method === 'measured' ? 'rapl-package' : 'cpu-tdp-estimate')] };
    },
    sample: async () => {
      state.samples++;
      check();
    },
    close: async () => {
      state.closes++;
    },
  };
  return { source, state };
}

const hardware: HardwareDescription = { cpuModel: 'test', logicalCpus: 1, tdpWatts: 1, tdpSource: 'override', ramGb: 1, gpus: [], platform: 'test' };
const meters: Meter[] = [];
const track = (meter: Meter) => {
  meters.push(meter);
  return meter;
};
afterEach(async () => {
  await Promise.all(meters.splice(0).map((m) => m.close()));
});

describe('createMeter on a machine without RAPL or a GPU', () => {
  it('estimates CPU and RAM energy, non-zero after burning CPU, and says why nothing was measured', async () => {
    const meter = track(await createMeter({ raplRoot: NO_RAPL, nvml: noDriver(), calibrationDir: NO_CALIBRATION, env: {} }));
    const window = await meter.begin('burn');
    burnCpu(200);
    const m = await window.end();

    expect(m.label).toBe('burn');
    expect(m.durationS).toBeGreaterThanOrEqual(0.19);
    expect(m.energy.components.map((c) => [c.name, c.method])).toEqual([
      ['cpu', 'estimated'],
      ['ram', 'estimated'],
    ]);
    for (const c of m.energy.components) expect(c.joules).toBeGreaterThan(0);
    expect(m.energy.components[0]?.model).toMatch(/^tdp-per-core×process-cpu-time \(/);
    expect(m.energy.joules).toBeCloseTo(m.energy.components.reduce((s, c) => s + c.joules, 0), 12);
    expect(m.energy.kwh).toBeCloseTo(m.energy.joules / 3.6e6, 15);
    expect(m.notes).toEqual([
      expect.stringMatching(/^cpu: rapl unavailable: no powercap sysfs at .*ecoml-no-such-powercap/),
      'gpu: nvml unavailable: nvmlInit_v2: Driver Not Loaded (NVML return code 9)',
    ]);
    expect(m.emissions).toMatchObject({ country: 'WORLD', intensityGPerKwh: 475, pue: 1 });
    expect(m.emissions.kgCo2e).toBeCloseTo((m.energy.kwh * 475) / 1000, 15);
    expect(m.hardware).toMatchObject({ gpus: [], platform: `${process.platform}-${process.arch}` });
    expect(m.hardware.logicalCpus).toBeGreaterThan(0);
    expect(meter.sources.map((s) => `${s.component}/${s.source}: ${s.state}`)).toEqual([
      'cpu/rapl: unavailable',
      'cpu/cpu-estimate: active',
      'gpu/nvml: unavailable',
      'ram/ram-estimate: active',
    ]);
  });

  it('works with every default, whatever this machine has', async () => {
    const meter = track(await createMeter({ env: {} }));
    const window = await meter.begin('defaults');
    burnCpu(50);
    const m = await window.end();
    expect(m.energy.components.some((c) => c.name === 'cpu' || c.name.startsWith('cpu:'))).toBe(true);
    expect(m.energy.components.some((c) => c.name === 'ram' || c.name.startsWith('ram:'))).toBe(true);
    for (const status of meter.sources.filter((s) => s.state === 'unavailable')) {
      expect(status.reason).toMatch(/\S/);
      expect(m.notes).toContain(`${status.component}: ${status.source} unavailable: ${status.reason}`);
    }
  });

  it('reads country and PUE from the environment, options first', async () => {
    const fromEnv = track(await createMeter({ raplRoot: NO_RAPL, nvml: false, env: { ECOML_COUNTRY: 'de', ECOML_PUE: '1.2' } }));
    expect(fromEnv.intensity).toMatchObject({ country: 'DEU', countryName: 'Germany' });
    expect(fromEnv.pue).toBe(1.2);
    const fromOptions = track(await createMeter({ raplRoot: NO_RAPL, nvml: false, country: 'FR', pue: 1.58, env: { ECOML_COUNTRY: 'de', ECOML_PUE: '1.2' } }));
    expect(fromOptions.intensity.country).toBe('FRA');
    expect(fromOptions.pue).toBe(1.58);
    const world = track(await createMeter({ raplRoot: NO_RAPL, nvml: false, env: {} }));
    expect(world.intensity).toBe(WORLD_AVERAGE_INTENSITY);
    expect(world.pue).toBe(1);

    const window = await fromOptions.begin('w');
    burnCpu(20);
    const m = await window.end();
    expect(m.emissions.kgCo2e).toBeCloseTo((m.energy.kwh * 1.58 * 56.04) / 1000, 15);
    expect(m.notes).toContain('gpu: NVML disabled by the nvml option; GPU energy is not metered');
  });

  it.each([
    [{ env: { ECOML_PUE: '0.9' } }, /ECOML_PUE="0.9" is not a valid PUE/],
    [{ pue: Number.NaN, env: {} }, /pue NaN is not a valid PUE/],
    [{ country: 'Atlantis', env: {} }, /unknown country "Atlantis"/],
    [{ samplingIntervalMs: 0, env: {} }, /samplingIntervalMs must be a positive/],
    [{ tdpWatts: -1, env: {} }, /tdpWatts must be a positive/],
    [{ env: { ECOML_WUE: '-1' } }, /ECOML_WUE="-1" is not a valid WUE/],
    [{ wue: Number.POSITIVE_INFINITY, env: {} }, /wue Infinity is not a valid WUE/],
    [{ embodied: { lifespanYears: 0 }, env: {} }, /embodied.lifespanYears must be a positive number of years/],
  ])('rejects bad configuration %j with E_CONFIG_INVALID', async (options, message) => {
    await expect(createMeter({ raplRoot: NO_RAPL, nvml: false, ...options })).rejects.toMatchObject({ code: 'E_CONFIG_INVALID', message: expect.stringMatching(message) });
  });
});

describe('createMeter with measured sources', () => {
  let tree: FakeRaplTree | undefined;
  afterEach(async () => {
    await tree?.cleanup();
    tree = undefined;
  });

  it('prefers RAPL packages and the NVML counter, keeping the estimate on standby', async () => {
    tree = await makeRaplTree([packageZone(0, 0), packageZone(1, 0)]);
    const nvml = createFakeNvml([{ name: 'NVIDIA H200', energyMj: 1_000, temperatureC: 41 }]);
    const meter = track(await createMeter({ raplRoot: tree.root, nvml: nvml.library, raplDram: true, env: {} }));
    expect(meter.hardware.gpus).toEqual([{ index: 0, name: 'NVIDIA H200' }]);
    expect(meter.sources.map((s) => `${s.component}/${s.source}: ${s.state}`)).toEqual([
      'cpu/rapl: active',
      'cpu/cpu-estimate: standby',
      'gpu/nvml: active',
      'ram/rapl-dram: active',
      'ram/ram-estimate: standby',
    ]);
    const window = await meter.begin('measured');
    await tree.setEnergy('intel-rapl:0', 30_000_000);
    await tree.setEnergy('intel-rapl:1', 20_000_000);
    await tree.setEnergy('intel-rapl:0:2', 5_000_033);
    (nvml.gpus[0] as { energyMj: number }).energyMj += 438_700;
    const m = await window.end();
    expect(m.energy.components.map((c) => [c.name, c.joules, c.method])).toEqual([
      ['cpu:package-0', 30, 'measured'],
      ['cpu:package-1', 20, 'measured'],
      ['gpu:0', 438.7, 'measured'],
      ['ram:dram-0', 5, 'measured'],
      ['ram:dram-1', 0, 'measured'],
    ]);
    expect(m.energy.joules).toBeCloseTo(493.7, 9);
    expect(m.energy.low).toBeCloseTo(0.95 * 488.7 + 0.9 * 5, 9); // RAPL packages and NVML ±5%, RAPL DRAM ±10%
    expect(m.gpuTelemetry).toEqual([{ index: 0, temperatureC: { min: 41, max: 41, last: 41, samples: 2 } }]);
    expect(m.notes).toEqual(['gpu: gpu:0 reports no fan speed (nvmlDeviceGetFanSpeed: Not Supported (NVML return code 3)), as passively cooled datacenter GPUs do; left out']);
    await meter.close();
    expect(nvml.calls).toEqual({ init: 1, shutdown: 1 });
  });

  it('releases the GPUs it listed when an option turns out bad', async () => {
    const nvml = createFakeNvml([{ name: 'NVIDIA H200', energyMj: 0 }]);
    await expect(createMeter({ raplRoot: NO_RAPL, nvml: nvml.library, embodied: { gpuKgCo2e: -5 }, env: {} })).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
    expect(nvml.calls).toEqual({ init: 1, shutdown: 1 });
  });
});

describe('createMeterFromChains', () => {
  const compose = async (chains: Parameters<typeof createMeterFromChains>[0]['chains'], clock = createFakeClock().clock) =>
    track(await createMeterFromChains({ chains, hardware, intensity: WORLD_AVERAGE_INTENSITY, pue: 1, clock, samplingIntervalMs: 60_000 }));

  it('measures overlapping and nested windows each from its own edges', async () => {
    const time = createFakeClock();
    const cpu = scripted('meterA', 'cpu');
    const meter = await compose([{ component: 'cpu', sources: [cpu.source] }], time.clock);
    const outer = await meter.begin('outer');
    cpu.state.joules = 10;
    time.advance(1_000);
    const inner = await meter.begin('inner');
    cpu.state.joules = 25;
    time.advance(2_000);
    const overlapping = await meter.begin('overlapping');
    cpu.state.joules = 30;
    time.advance(500);
    const innerM = await inner.end();
    cpu.state.joules = 100;
    time.advance(4_000);
    const outerM = await outer.end();
    const overlappingM = await overlapping.end();
    expect([innerM.energy.joules, innerM.durationS]).toEqual([20, 2.5]);
    expect([outerM.energy.joules, outerM.durationS]).toEqual([100, 7.5]);
    expect([overlappingM.energy.joules, overlappingM.durationS]).toEqual([75, 4.5]);
    expect(outerM.startedAt).toBe('2026-01-01T00:00:00.000Z');
    expect(innerM.startedAt).toBe('2026-01-01T00:00:01.000Z');
    expect(await inner.end()).toBe(innerM);
  });

  it('replaces a source that fails mid-window by the next in its chain for the whole window, and says so', async () => {
    const rapl = scripted('rapl', 'cpu:package-0');
    const estimate = scripted('cpu-estimate', 'cpu', 'estimated');
    const meter = await compose([{ component: 'cpu', sources: [rapl.source, estimate.source] }]);
    expect(meter.sources.map((s) => s.state)).toEqual(['active', 'standby']);

    const window = await meter.begin('epoch 1');
    rapl.state.joules = 50;
    estimate.state.joules = 40;
    rapl.state.broken = 'cannot read /sys/class/powercap/intel-rapl:0/energy_uj';
    const m = await window.end();
    expect(m.energy.components).toEqual([{ name: 'cpu', joules: 40, low: 12, high: 80, method: 'estimated', model: 'cpu-estimate-model' }]);
    expect(m.notes).toEqual([
      'cpu: rapl failed: cannot read /sys/class/powercap/intel-rapl:0/energy_uj',
      'cpu: cpu-estimate stood in for rapl in this window',
    ]);
    expect(meter.sources).toEqual([
      { component: 'cpu', source: 'rapl', state: 'failed', reason: 'cannot read /sys/class/powercap/intel-rapl:0/energy_uj' },
      { component: 'cpu', source: 'cpu-estimate', state: 'active' },
    ]);
    expect(rapl.state.closes).toBe(1);

    const next = await meter.begin('epoch 2');
    estimate.state.joules = 45;
    const m2 = await next.end();
    expect(m2.energy.joules).toBe(5);
    expect(m2.notes).toEqual(['cpu: rapl failed: cannot read /sys/class/powercap/intel-rapl:0/energy_uj']);
  });

  it('marks a source that throws while sampling as failed', async () => {
    const gpu = scripted('nvml', 'gpu:0');
    const cpu = scripted('cpu-estimate', 'cpu', 'estimated');
    const meter = await compose([
      { component: 'cpu', sources: [cpu.source] },
      { component: 'gpu', sources: [gpu.source] },
    ]);
    const window = await meter.begin('w');
    gpu.state.broken = 'GPU is lost';
    await meter.sample();
    cpu.state.joules = 3;
    const m = await window.end();
    expect(m.energy.components.map((c) => c.name)).toEqual(['cpu']);
    expect(m.notes).toEqual(['gpu: nvml failed: GPU is lost', 'gpu: no source could be read across this window; component omitted']);
  });

  it('refuses a window in which nothing could be read rather than reporting zero', async () => {
    const only = scripted('only', 'cpu');
    const meter = await compose([{ component: 'cpu', sources: [only.source] }]);
    const window = await meter.begin('w');
    only.state.broken = 'gone';
    await expect(window.end()).rejects.toMatchObject({ code: 'E_METER_UNAVAILABLE' });
  });

  it('refuses to start when no source at all can be read', async () => {
    const off = scripted('off', 'cpu', 'measured', false);
    await expect(createMeterFromChains({ chains: [{ component: 'cpu', sources: [off.source] }], hardware, intensity: WORLD_AVERAGE_INTENSITY, pue: 1 })).rejects.toMatchObject({
      code: 'E_METER_UNAVAILABLE',
      message: expect.stringContaining('off: off is switched off'),
    });
    expect(off.state.closes).toBe(1);
  });

  it('samples in the background until closed', async () => {
    const ram = scripted('ram-estimate', 'ram', 'estimated');
    const meter = track(await createMeterFromChains({ chains: [{ component: 'ram', sources: [ram.source] }], hardware, intensity: WORLD_AVERAGE_INTENSITY, pue: 1, samplingIntervalMs: 10 }));
    await vi.waitFor(() => expect(ram.state.samples).toBeGreaterThanOrEqual(2), { timeout: 5_000 });
    await meter.close();
    const after = ram.state.samples;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ram.state.samples).toBe(after);
  });

  it('closes once; windows cannot begin or end afterwards', async () => {
    const cpu = scripted('cpu-estimate', 'cpu', 'estimated');
    const meter = await compose([{ component: 'cpu', sources: [cpu.source] }]);
    const open = await meter.begin('open');
    await Promise.all([meter.close(), meter.close()]);
    await meter.close();
    expect(cpu.state.closes).toBe(1);
    await expect(meter.begin('late')).rejects.toMatchObject({ code: 'E_METER_UNAVAILABLE' });
    await expect(open.end()).rejects.toMatchObject({ code: 'E_METER_UNAVAILABLE' });
  });
});
