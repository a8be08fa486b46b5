import fc from 'fast-check';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { counterDeltaMicrojoules, createRaplSource, type EnergySource } from '../../src/meter/index.js';
import { runEnergySourceSuite } from './energy-source.suite.js';
import { makeRaplTree, packageZone, REAL_MAX_RANGE_UJ, type FakeRaplTree } from './fake-rapl-tree.js';

runEnergySourceSuite(
  'rapl (fake sysfs)',
  async () => {
    const tree = await makeRaplTree([packageZone(0, 1_000_000), packageZone(1, 5_000_000)]);
    let step = 0;
    return {
      source: createRaplSource({ root: tree.root }),
      async advance() {
        step++;
        await tree.setEnergy('intel-rapl:0', 1_000_000 + step * 2_000_000);
        await tree.setEnergy('intel-rapl:1', 5_000_000 + step * 3_000_000);
      },
      cleanup: () => tree.cleanup(),
    };
  },
  { makeUnavailable: () => createRaplSource({ root: join(tmpdir(), 'ecoml-no-such-powercap') }) },
);

describe('counterDeltaMicrojoules', () => {
  it('is the plain difference without a wrap and adds the range across one', () => {
    expect(counterDeltaMicrojoules(100, 250, 1000)).toBe(150);
    expect(counterDeltaMicrojoules(900, 100, 1000)).toBe(200);
    expect(counterDeltaMicrojoules(500, 500, 1000)).toBe(0);
  });

  it('stays in [0, maxRange) and agrees with arithmetic modulo maxRange', () => {
    const counter = fc
      .bigInt({ min: 1n, max: 2n ** 52n })
      .chain((max) => fc.tuple(fc.constant(max), fc.bigInt({ min: 0n, max: max - 1n }), fc.bigInt({ min: 0n, max: max - 1n })));
    fc.assert(
      fc.property(counter, ([max, prev, next]) => {
        const delta = counterDeltaMicrojoules(Number(prev), Number(next), Number(max));
        expect(delta).toBeGreaterThanOrEqual(0);
        expect(delta).toBeLessThan(Number(max));
        expect((prev + BigInt(delta)) % max).toBe(next);
      }),
    );
  });
});

describe('RAPL source on a fake sysfs tree', () => {
  let tree: FakeRaplTree | undefined;
  const sources: EnergySource[] = [];
  const open = (options: Parameters<typeof createRaplSource>[0]) => {
    const source = createRaplSource(options);
    sources.push(source);
    return source;
  };
  afterEach(async () => {
    await Promise.all(sources.splice(0).map((s) => s.close()));
    await tree?.cleanup();
    tree = undefined;
  });

  it('counts every package and skips core/uncore/dram subzones, psys and MMIO zones', async () => {
    tree = await makeRaplTree(
      [packageZone(0, 10_000_000), packageZone(1, 20_000_000)],
      [
        { id: 'intel-rapl:2', name: 'psys', energyUj: 0, maxUj: REAL_MAX_RANGE_UJ },
        { id: 'intel-rapl-mmio:0', name: 'package-0', energyUj: 0, maxUj: REAL_MAX_RANGE_UJ },
      ],
    );
    const source = open({ root: tree.root });
    expect(await source.probe()).toEqual({ available: true });
    await tree.setEnergy('intel-rapl:0', 13_500_000);
    await tree.setEnergy('intel-rapl:1', 21_000_000);
    await tree.setEnergy('intel-rapl:0:0', 99_000_000);
    await tree.setEnergy('intel-rapl:2', 99_000_000);
    expect((await source.read()).components).toEqual([
      { name: 'cpu:package-0', joules: 3.5, low: 3.5 * 0.95, high: 3.5 * 1.05, method: 'measured', model: 'rapl:package-0' },
      { name: 'cpu:package-1', joules: 1, low: 0.95, high: 1.05, method: 'measured', model: 'rapl:package-1' },
    ]);
  });

  it('adds DRAM subzones only when asked', async () => {
    tree = await makeRaplTree([packageZone(0, 0), packageZone(1, 0)]);
    const both = open({ root: tree.root, include: ['package', 'dram'] });
    const dramOnly = open({ root: tree.root, include: ['dram'] });
    await Promise.all([both.probe(), dramOnly.probe()]);
    await tree.setEnergy('intel-rapl:0:2', 2_000_033);
    expect((await both.read()).components.map((c) => [c.name, c.model, c.joules])).toEqual([
      ['cpu:package-0', 'rapl:package-0', 0],
      ['ram:dram-0', 'rapl:package-0/dram', 2],
      ['cpu:package-1', 'rapl:package-1', 0],
      ['ram:dram-1', 'rapl:package-1/dram', 0],
    ]);
    expect((await both.read()).components.find((c) => c.name === 'ram:dram-0')).toMatchObject({ low: 1.8, high: 2.2 });
    expect(dramOnly.name).toBe('rapl-dram');
    expect((await dramOnly.read()).components.map((c) => c.name)).toEqual(['ram:dram-0', 'ram:dram-1']);
  });

  it('handles a counter wrap between two reads', async () => {
    const max = 1_000_000;
    tree = await makeRaplTree([packageZone(0, 900_000, max)]);
    const source = open({ root: tree.root });
    await source.probe();
    await tree.setEnergy('intel-rapl:0', 150_000);
    expect((await source.read()).components[0]?.joules).toBeCloseTo(0.25, 12);
  });

  it('counts several wraps inside one window when sampled', async () => {
    tree = await makeRaplTree([packageZone(0, REAL_MAX_RANGE_UJ - 1_000_000)]);
    const source = open({ root: tree.root });
    await source.probe();
    const start = (await source.read()).components[0]?.joules ?? NaN;
    // The counter passes zero four times, each sample seeing under one full range of progress: net 3 × range + 2 J.
    const raws = [REAL_MAX_RANGE_UJ / 2, REAL_MAX_RANGE_UJ - 10, 5_000_000, REAL_MAX_RANGE_UJ / 2, 100, REAL_MAX_RANGE_UJ - 500_000, 1_000_000];
    for (const raw of raws) {
      await tree.setEnergy('intel-rapl:0', raw);
      await source.sample?.();
    }
    const end = (await source.read()).components[0]?.joules ?? NaN;
    expect(end - start).toBeCloseTo((3 * REAL_MAX_RANGE_UJ + 2_000_000) / 1e6, 6);
  });

  it('applies concurrent updates in order even when file reads finish out of order', async () => {
    let raw = 0;
    const readText = async (path: string) => {
      if (!path.endsWith('energy_uj')) return readFile(path, 'utf8');
      raw += 1_000;
      const value = raw;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
      return `${value}\n`;
    };
    tree = await makeRaplTree([packageZone(0, 0, 10_000_000)]);
    const source = open({ root: tree.root, readText });
    await source.probe();
    const calls = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? source.read() : source.sample?.()));
    await Promise.all(calls);
    const last = await source.read();
    expect(last.components[0]?.joules).toBeCloseTo((raw - 1_000) / 1e6, 9);
  });

  it('is unavailable, saying why, when energy_uj is root-only (Linux ≥ 5.10)', async () => {
    tree = await makeRaplTree([packageZone(0, 0)]);
    const readText = async (path: string) => {
      if (path.endsWith('energy_uj')) throw Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES' });
      return readFile(path, 'utf8');
    };
    const probe = await open({ root: tree.root, readText }).probe();
    expect(probe.available).toBe(false);
    if (!probe.available) {
      expect(probe.reason).toMatch(/permission denied/);
      expect(probe.reason).toMatch(/5\.10/);
      expect(probe.reason).toMatch(/root/);
      expect(probe.reason).toContain('intel-rapl:0/energy_uj');
    }
  });

  it('is unavailable when there is no powercap tree, no package zone, or no max range', async () => {
    const missing = await open({ root: join(tmpdir(), 'ecoml-no-such-powercap') }).probe();
    expect(missing).toMatchObject({ available: false, reason: expect.stringMatching(/no powercap sysfs/) });

    const empty = await mkdtemp(join(tmpdir(), 'ecoml-empty-powercap-'));
    try {
      expect(await open({ root: empty }).probe()).toMatchObject({ available: false, reason: expect.stringMatching(/no RAPL package zones/) });
    } finally {
      await rm(empty, { recursive: true });
    }

    tree = await makeRaplTree([packageZone(0, 0)]);
    await rm(join(tree.root, 'intel-rapl:0', 'max_energy_range_uj'));
    expect(await open({ root: tree.root }).probe()).toMatchObject({ available: false, reason: expect.stringMatching(/max_energy_range_uj does not exist/) });
  });

  it('fails a read loudly when a counter turns unreadable mid-run', async () => {
    tree = await makeRaplTree([packageZone(0, 0)]);
    const source = open({ root: tree.root });
    await source.probe();
    await tree.setEnergy('intel-rapl:0', Number.NaN);
    await expect(source.read()).rejects.toMatchObject({ code: 'E_DATA_MALFORMED' });
  });
});
