/**
 * The real koffi binding on whatever machine runs the tests: where no NVIDIA driver exists it must
 * say why (never a zero); where one does, every GPU must be metered with the energy counter or sampled power.
 */
import { describe, expect, it } from 'vitest';
import { createNvmlSource } from '../../src/meter/index.js';

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
