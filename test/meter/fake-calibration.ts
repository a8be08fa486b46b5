/**
 * A machine to calibrate on: a fake RAPL tree of two packages whose counters follow a fake clock, an
 * idle draw plus a fixed draw per busy thread, and a busy load that only flips that state.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BusyLoad, CalibrationProfile } from '../../src/meter/calibration.js';
import { createFakeClock, type FakeClock } from './fake-clock.js';
import { makeRaplTree, packageZone, type FakeRaplTree } from './fake-rapl-tree.js';

export const XEON_6338 = 'Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz';

export interface FakeCalibrationMachine {
  readonly time: FakeClock;
  readonly tree: FakeRaplTree;
  readonly busy: { threads: number; starts: number[]; stops: number };
  /** Waits by moving the clock and the counters on; power is constant between busy changes. */
  sleep(ms: number): Promise<void>;
  startBusy(threads: number): Promise<BusyLoad>;
}

/**
 * idleWatts across both packages, plus wattsPerThread per busy thread. A 200 J counter range makes the
 * counters wrap every few seconds, so calibration must sample through its phases.
 */
export async function fakeCalibrationMachine(idleWatts: number, wattsPerThread: number, rangeUj = 200_000_000): Promise<FakeCalibrationMachine> {
  const time = createFakeClock(0, new Date('2026-11-28T12:00:00Z'));
  const tree = await makeRaplTree([packageZone(0, 150_000_000, rangeUj), packageZone(1, 10_000_000, rangeUj)]);
  const busy = { threads: 0, starts: [] as number[], stops: 0 };
  const totals = [150_000_000, 10_000_000];
  return {
    time,
    tree,
    busy,
    async sleep(ms) {
      time.advance(ms);
      const perPackageUj = ((idleWatts + wattsPerThread * busy.threads) / 2) * ms * 1000;
      for (const [i, id] of ['intel-rapl:0', 'intel-rapl:1'].entries()) {
        totals[i] = (totals[i] as number) + perPackageUj;
        await tree.setEnergy(id, Math.round(totals[i] as number) % rangeUj);
      }
    },
    async startBusy(threads) {
      busy.threads = threads;
      busy.starts.push(threads);
      return {
        async stop() {
          busy.threads = 0;
          busy.stops++;
        },
      };
    },
  };
}

/** A /proc/cpuinfo for `logicalCpus` threads of one model over `sockets` sockets. */
export async function fakeCpuInfo(model: string, logicalCpus: number, sockets = 1): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ecoml-cpuinfo-'));
  const path = join(dir, 'cpuinfo');
  const blocks = Array.from({ length: logicalCpus }, (_, i) => `processor\t: ${i}\nmodel name\t: ${model}\nphysical id\t: ${i % sockets}\n`);
  await writeFile(path, blocks.join('\n'));
  return path;
}

/** A stored profile of the XEON_6338 test machine: 50 W idle, 3 W per busy thread. */
export function calibrationProfile(overrides: Partial<CalibrationProfile> = {}): CalibrationProfile {
  return {
    version: 1,
    cpuModel: XEON_6338,
    normalisedCpuModel: 'intel xeon gold 6338',
    logicalCpus: 8,
    loadedThreads: 8,
    idleWatts: 50,
    loadedWatts: 74,
    perThreadWatts: 3,
    idleSeconds: 5,
    loadSeconds: 5,
    domains: ['cpu:package-0', 'cpu:package-1'],
    createdAt: '2026-11-28T12:00:00.000Z',
    ...overrides,
  };
}
