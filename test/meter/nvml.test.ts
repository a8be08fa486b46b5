import { describe, expect, it } from 'vitest';
import { createMeterFromChains, createNvmlSource, openKoffiNvml, sumMeasurements, WORLD_AVERAGE_INTENSITY } from '../../src/meter/index.js';
import { NVML_ERROR_NOT_SUPPORTED } from '../../src/meter/sources/nvml-library.js';
import { runEnergySourceSuite } from './energy-source.suite.js';
import { createFakeClock } from './fake-clock.js';
import { createFakeNvml } from './fake-nvml.js';

runEnergySourceSuite(
  'nvml (fake library, energy counter)',
  () => {
    const fake = createFakeNvml([{ name: 'NVIDIA H200', energyMj: 5_000_000 }]);
    return {
      source: createNvmlSource({ library: fake.library }),
      advance() {
        (fake.gpus[0] as { energyMj: number }).energyMj += 4_387;
      },
    };
  },
  { makeUnavailable: () => createNvmlSource({ library: createFakeNvml([], { initError: 'Driver Not Loaded (NVML return code 9)' }).library }) },
);

runEnergySourceSuite('nvml (fake library, power sampling)', () => {
  const time = createFakeClock();
  const fake = createFakeNvml([{ name: 'Tesla P100-PCIE-16GB', powerMw: 250_000 }]);
  return { source: createNvmlSource({ library: fake.library, clock: time.clock }), advance: () => time.advance(500) };
});

describe('NVML source', () => {
  it('reads the total-energy counter per GPU as measured joules since open', async () => {
    const fake = createFakeNvml([
      { name: 'NVIDIA H200', energyMj: 1_000_000, temperatureC: 30, fanPercent: 0 },
      { name: 'NVIDIA H200', energyMj: 7_000_000, temperatureC: 31, fanPercent: 0 },
    ]);
    const source = createNvmlSource({ library: fake.library });
    expect(await source.probe()).toEqual({ available: true });
    expect(source.gpus).toEqual([
      { index: 0, name: 'NVIDIA H200' },
      { index: 1, name: 'NVIDIA H200' },
    ]);
    (fake.gpus[0] as { energyMj: number }).energyMj += 4_387_000;
    (fake.gpus[1] as { energyMj: number }).energyMj += 78_500;
    const reading = await source.read();
    expect(reading.components).toEqual([
      { name: 'gpu:0', joules: 4_387, low: 4_387 * 0.95, high: 4_387 * 1.05, method: 'measured', model: 'nvml:total-energy-counter (NVIDIA H200)' },
      { name: 'gpu:1', joules: 78.5, low: 78.5 * 0.95, high: 78.5 * 1.05, method: 'measured', model: 'nvml:total-energy-counter (NVIDIA H200)' },
    ]);
    expect(reading.notes).toEqual([]);
    await source.close();
  });

  it('integrates sampled power where the counter is not supported, labelled as an estimate', async () => {
    const time = createFakeClock();
    const fake = createFakeNvml([
      { name: 'NVIDIA H200', energyMj: 0, temperatureC: 30, fanPercent: 0 },
      { name: 'Tesla P100-PCIE-16GB', powerMw: 200_000, temperatureC: 30, fanPercent: 0 },
    ]);
    const source = createNvmlSource({ library: fake.library, clock: time.clock, samplingIntervalMs: 250 });
    await source.probe();
    time.advance(1_000);
    (fake.gpus[1] as { powerMw: number }).powerMw = 300_000;
    await source.sample?.();
    time.advance(1_000);
    const reading = await source.read();
    const gpu1 = reading.components.find((c) => c.name === 'gpu:1');
    // Trapezoids: (200 + 300) / 2 W × 1 s, then 300 W × 1 s.
    expect(gpu1?.joules).toBeCloseTo(550, 9);
    // Sampled power reads low against the counter: its bounds lean high.
    expect(gpu1?.low).toBeCloseTo(550 * 0.9, 9);
    expect(gpu1?.high).toBeCloseTo(550 * 1.15, 9);
    expect(gpu1?.method).toBe('estimated');
    expect(gpu1?.model).toBe('nvml:power-sampling (Tesla P100-PCIE-16GB; nvmlDeviceGetPowerUsage every ~250 ms, trapezoidal)');
    expect(reading.components.find((c) => c.name === 'gpu:0')?.method).toBe('measured');
    expect(reading.notes).toEqual([expect.stringMatching(/gpu:1 has no energy counter \(nvmlDeviceGetTotalEnergyConsumption: Not Supported.*\)/)]);
    await source.close();
  });

  it('skips a GPU that offers neither counter nor power, and says so', async () => {
    const fake = createFakeNvml([{ name: 'NVIDIA H200', energyMj: 0, temperatureC: 30, fanPercent: 0 }, { name: 'Mystery GPU' }]);
    const source = createNvmlSource({ library: fake.library });
    await source.probe();
    expect(source.gpus.map((g) => g.index)).toEqual([0]);
    const reading = await source.read();
    expect(reading.components.map((c) => c.name)).toEqual(['gpu:0']);
    expect(reading.notes).toEqual([expect.stringMatching(/gpu:1 skipped: no energy counter .* and no power reading/)]);
    await source.close();
  });

  it('is unavailable, with NVML’s reason, when init fails, no GPU exists or none can be read', async () => {
    const initFails = createFakeNvml([], { initError: 'Driver Not Loaded (NVML return code 9)' });
    expect(await createNvmlSource({ library: initFails.library }).probe()).toEqual({
      available: false,
      reason: 'nvmlInit_v2: Driver Not Loaded (NVML return code 9)',
    });

    const none = createFakeNvml([]);
    expect(await createNvmlSource({ library: none.library }).probe()).toEqual({ available: false, reason: 'NVML reports no GPUs' });
    expect(none.calls.shutdown).toBe(1);

    const unreadable = createFakeNvml([{ name: 'Mystery GPU' }]);
    expect(await createNvmlSource({ library: unreadable.library }).probe()).toMatchObject({ available: false, reason: expect.stringMatching(/gpu:0 skipped/) });
    expect(unreadable.calls.shutdown).toBe(1);
  });

  it('is unavailable, not an error, when the library cannot be loaded', async () => {
    const loader = () => openKoffiNvml('/nonexistent/libnvidia-ml.so.1');
    await expect(loader()).rejects.toMatchObject({ code: 'E_METER_UNAVAILABLE', message: expect.stringContaining('/nonexistent/libnvidia-ml.so.1') });
    const probe = await createNvmlSource({ library: loader }).probe();
    expect(probe).toMatchObject({ available: false, reason: expect.stringMatching(/could not be loaded.*no NVIDIA driver/) });
  });

  it('shuts NVML down exactly once however often it is closed', async () => {
    const fake = createFakeNvml([{ name: 'NVIDIA H200', energyMj: 0 }]);
    const source = createNvmlSource({ library: fake.library });
    await source.probe();
    await Promise.all([source.close(), source.close()]);
    await source.close();
    expect(fake.calls).toEqual({ init: 1, shutdown: 1 });
  });

  it('fails a read loudly when a GPU is lost mid-run', async () => {
    const fake = createFakeNvml([{ name: 'NVIDIA H200', energyMj: 0 }]);
    const source = createNvmlSource({ library: fake.library });
    await source.probe();
    (fake.gpus[0] as { lost: boolean }).lost = true;
    await expect(source.read()).rejects.toMatchObject({ code: 'E_METER_UNAVAILABLE', message: expect.stringMatching(/gpu:0 \(NVIDIA H200\) can no longer be read: .*GPU is lost/) });
    await source.close();
  });
});

describe('NVML telemetry', () => {
  it('reads temperature and fan speed with every sample and read, leaving out what the GPU does not report', async () => {
    const fake = createFakeNvml([
      { name: 'NVIDIA H200', energyMj: 0, temperatureC: 34 },
      { name: 'NVIDIA GeForce RTX 4090', energyMj: 0, temperatureC: 50, fanPercent: 30 },
    ]);
    const source = createNvmlSource({ library: fake.library });
    await source.probe();
    expect(await source.sample()).toEqual({
      gpuTelemetry: [
        { index: 0, temperatureC: 34 },
        { index: 1, temperatureC: 50, fanSpeedPercent: 30 },
      ],
    });
    const reading = await source.read();
    expect(reading.gpuTelemetry).toHaveLength(2);
    expect(reading.notes).toEqual([
      'gpu:0 reports no fan speed (nvmlDeviceGetFanSpeed: Not Supported (NVML return code 3)), as passively cooled datacenter GPUs do; left out',
    ]);
    await source.close();
  });

  it('skips a reading that fails once without failing the energy', async () => {
    const fake = createFakeNvml([{ name: 'NVIDIA H200', energyMj: 0, temperatureC: 34, fanPercent: 0 }]);
    const source = createNvmlSource({ library: fake.library });
    await source.probe();
    const gpu = fake.gpus[0] as { temperatureC?: number };
    delete gpu.temperatureC;
    expect(await source.sample()).toEqual({ gpuTelemetry: [{ index: 0, fanSpeedPercent: 0 }] });
    expect((await source.read()).components).toHaveLength(1);
    await source.close();
  });

  it('keeps per-window minimum, maximum and last temperature in the meter, and merges them in totals', async () => {
    const time = createFakeClock();
    const fake = createFakeNvml([{ name: 'NVIDIA H200', energyMj: 0, temperatureC: 30 }]);
    const gpu = fake.gpus[0] as { temperatureC: number; energyMj: number };
    const meter = await createMeterFromChains({
      chains: [{ component: 'gpu', sources: [createNvmlSource({ library: fake.library, clock: time.clock })] }],
      hardware: { cpuModel: 'x', logicalCpus: 1, tdpWatts: 1, tdpSource: 'override', ramGb: 1, gpus: [{ index: 0, name: 'NVIDIA H200' }], platform: 'test' },
      intensity: WORLD_AVERAGE_INTENSITY,
      pue: 1,
      clock: time.clock,
      samplingIntervalMs: 60_000,
    });
    try {
      const warmUp = await meter.begin('warm-up');
      for (const t of [45, 61, 58]) {
        time.advance(1_000);
        gpu.temperatureC = t;
        gpu.energyMj += 400_000;
        await meter.sample();
      }
      const coolDown = await meter.begin('cool-down');
      time.advance(1_000);
      gpu.temperatureC = 52;
      const first = await warmUp.end();
      time.advance(1_000);
      gpu.temperatureC = 40;
      await meter.sample();
      const second = await coolDown.end();
      expect(first.gpuTelemetry).toEqual([{ index: 0, temperatureC: { min: 30, max: 61, last: 52, samples: 6 } }]);
      expect(second.gpuTelemetry).toEqual([{ index: 0, temperatureC: { min: 40, max: 58, last: 40, samples: 4 } }]);
      expect(sumMeasurements('both', [second, first]).gpuTelemetry).toEqual([{ index: 0, temperatureC: { min: 30, max: 61, last: 40, samples: 10 } }]);
    } finally {
      await meter.close();
    }
  });
});

describe('NVML per-process queries (for attribution)', () => {
  it('list compute processes and their utilisation since a timestamp, with NOT_SUPPORTED as a coded failure', () => {
    const fake = createFakeNvml([
      {
        name: 'NVIDIA H200',
        energyMj: 0,
        processes: [{ pid: 4242, usedGpuMemoryBytes: 2 ** 30, gpuInstanceId: undefined, computeInstanceId: undefined }],
        utilization: [
          { pid: 4242, timestampUs: 1_000, smPercent: 80, memoryPercent: 40, encoderPercent: 0, decoderPercent: 0 },
          { pid: 4242, timestampUs: 2_000, smPercent: 90, memoryPercent: 45, encoderPercent: 0, decoderPercent: 0 },
        ],
      },
      { name: 'GRID A100-40C', energyMj: 0 },
    ]);
    const { library } = fake;
    const [h200, vgpu] = [library.deviceHandle(0), library.deviceHandle(1)].map((h) => (h.ok ? h.value : undefined));
    expect(library.computeRunningProcesses(h200)).toEqual({ ok: true, value: [{ pid: 4242, usedGpuMemoryBytes: 2 ** 30, gpuInstanceId: undefined, computeInstanceId: undefined }] });
    const since = library.processUtilization(h200, 1_000);
    expect(since.ok && since.value.map((s) => s.smPercent)).toEqual([90]);
    expect(library.processUtilization(vgpu, 0)).toMatchObject({ ok: false, code: NVML_ERROR_NOT_SUPPORTED });
    expect(library.computeRunningProcesses(vgpu)).toMatchObject({ ok: false, code: NVML_ERROR_NOT_SUPPORTED, error: expect.stringContaining('Not Supported') });
  });
});
