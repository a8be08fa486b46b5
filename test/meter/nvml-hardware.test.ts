/**
 * The real koffi binding on whatever machine runs the tests: where no NVIDIA driver exists it must
 * say why (never a zero); where one does, every GPU must be metered with the energy counter or sampled power.
 */
import { describe, expect, it } from 'vitest';
import { createNvmlSource, openKoffiNvml } from '../../src/meter/index.js';
import { NVML_ERROR_NOT_SUPPORTED } from '../../src/meter/sources/nvml-library.js';

describe('NVML through koffi on this machine', () => {
  it('meters every GPU it finds, or reports why it cannot', async () => {
    const source = createNvmlSource({ samplingIntervalMs: 50 });
    try {
      const probe = await source.probe();
      if (!probe.available) {
        expect(probe.reason).toMatch(/\S/);
        await expect(source.read()).rejects.toMatchObject({ code: 'E_METER_UNAVAILABLE' });
        return;
      }
      expect(source.gpus.length).toBeGreaterThan(0);
      const first = await source.read();
      await new Promise((resolve) => setTimeout(resolve, 300));
      await source.sample?.();
      const second = await source.read();
      expect(second.components.map((c) => c.name)).toEqual(source.gpus.map((g) => `gpu:${g.index}`));
      second.components.forEach((component, i) => {
        expect(component.joules).toBeGreaterThanOrEqual(first.components[i]?.joules ?? Infinity);
        expect(component.model).toMatch(/^nvml:/);
      });
    } finally {
      await source.close();
    }
  });
});

describe('NVML telemetry and per-process queries through koffi on this machine', () => {
  it('reads temperature, and fan speed and process lists or NOT_SUPPORTED, on every GPU', async () => {
    let library;
    try {
      library = await openKoffiNvml();
    } catch (error) {
      expect(error).toMatchObject({ code: 'E_METER_UNAVAILABLE' });
      return;
    }
    const init = library.init();
    if (!init.ok) return;
    try {
      const count = library.deviceCount();
      for (let index = 0; count.ok && index < count.value; index++) {
        const handle = library.deviceHandle(index);
        if (!handle.ok) continue;
        const temperature = library.temperatureCelsius(handle.value);
        if (temperature.ok) expect(temperature.value).toBeGreaterThan(0);
        const fan = library.fanSpeedPercent(handle.value);
        if (!fan.ok) expect(fan.code).toBe(NVML_ERROR_NOT_SUPPORTED);
        for (const list of [library.computeRunningProcesses(handle.value), library.processUtilization(handle.value, 0)]) {
          if (list.ok) for (const entry of list.value) expect(entry.pid).toBeGreaterThan(0);
          else expect(list.code).toBe(NVML_ERROR_NOT_SUPPORTED);
        }
      }
    } finally {
      library.shutdown();
    }
  });
});
