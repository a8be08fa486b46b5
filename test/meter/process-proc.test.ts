import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import {
  createProcessTreeSampler,
  createProcfs,
  parseMachineCpu,
  parseProcStat,
  readSystemConstants,
  type ProcStat,
  type Procfs,
  type Scheduler,
} from '../../src/meter/process/proc.js';
import { createFakeClock } from './fake-clock.js';

const CONSTANTS = { clockTicksPerSecond: 100, pageSizeBytes: 4096 };
const REAPER = 100;
const ROOT = 200;

/** One fake process: what its stat line says. */
interface FakeProc {
  pid: number;
  ppid: number;
  comm?: string;
  state?: string;
  utime?: number;
  stime?: number;
  cutime?: number;
  cstime?: number;
  start?: number;
  rss?: number;
}

function statLine(p: FakeProc): string {
  // Fields 3…24 of proc(5); the ones we do not read hold plausible filler.
  const fields = [
    p.state ?? 'R',
    p.ppid,
    p.pid, // pgrp
    p.pid, // session
    0, // tty_nr
    -1, // tpgid
    4194304, // flags
    10, 0, 0, 0, // minflt cminflt majflt cmajflt
    p.utime ?? 0,
    p.stime ?? 0,
    p.cutime ?? 0,
    p.cstime ?? 0,
    20, 0, 1, 0, // priority nice num_threads itrealvalue
    p.start ?? p.pid, // starttime
    123456, // vsize
    p.rss ?? 0,
  ];
  return `${p.pid} (${p.comm ?? `proc-${p.pid}`}) ${fields.join(' ')} 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n`;
}

/** A directory laid out like /proc: <pid>/stat files and the machine's stat. */
async function makeProcTree() {
  const root = await mkdtemp(join(tmpdir(), 'ecoml-proc-'));
  const procs = new Map<number, FakeProc>();
  let machine = { user: 1000, nice: 0, system: 500, idle: 10_000, iowait: 100, guest: 0 };
  const writeMachine = () =>
    writeFile(
      join(root, 'stat'),
      `cpu  ${machine.user} ${machine.nice} ${machine.system} ${machine.idle} ${machine.iowait} 0 0 0 ${machine.guest} 0\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 1\n`,
    );
  const tree = {
    root,
    async set(p: FakeProc) {
      procs.set(p.pid, p);
      await mkdir(join(root, String(p.pid)), { recursive: true });
      await writeFile(join(root, String(p.pid), 'stat'), statLine(p));
    },
    async update(pid: number, change: Partial<FakeProc>) {
      const p = procs.get(pid);
      if (!p) throw new Error(`no fake pid ${pid}`);
      await tree.set({ ...p, ...change });
    },
    async remove(pid: number) {
      procs.delete(pid);
      await rm(join(root, String(pid)), { recursive: true, force: true });
    },
    async machine(change: Partial<typeof machine>) {
      machine = { ...machine, ...change };
      await writeMachine();
    },
  };
  await writeMachine();
  await tree.set({ pid: 1, ppid: 0, comm: 'init' });
  await tree.set({ pid: REAPER, ppid: 1, comm: 'ecoml' });
  return tree;
}

const trees: string[] = [];
afterEach(async () => {
  await Promise.all(trees.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function setup() {
  const tree = await makeProcTree();
  trees.push(tree.root);
  const sampler = await createProcessTreeSampler({ procRoot: tree.root, constants: CONSTANTS, reaperPid: REAPER });
  return { tree, sampler };
}

describe('parseProcStat', () => {
  it('reads the fields by position after the last ")"', () => {
    const stat = parseProcStat(statLine({ pid: 42, ppid: 7, utime: 150, stime: 50, cutime: 30, cstime: 5, start: 9999, rss: 256 }));
    expect(stat).toMatchObject({ pid: 42, comm: 'proc-42', state: 'R', ppid: 7, pgrp: 42, ttyNr: 0, tpgid: -1, utimeTicks: 150, stimeTicks: 50 });
    expect(stat).toMatchObject({ cutimeTicks: 30, cstimeTicks: 5, startTimeTicks: 9999, rssPages: 256 });
  });

  it('keeps a comm holding spaces and parentheses whole', () => {
    const stat = parseProcStat(statLine({ pid: 5, ppid: 1, comm: 'evil) 1 2 (x', utime: 7 }));
    expect(stat.comm).toBe('evil) 1 2 (x');
    expect(stat.ppid).toBe(1);
    expect(stat.utimeTicks).toBe(7);
  });

  it('rejects what is not a stat line', () => {
    expect(() => parseProcStat('garbage')).toThrow(EcomlError);
    expect(() => parseProcStat('12 (x) R 1 2')).toThrow(/field 7/);
  });
});

describe('parseMachineCpu', () => {
  it('active = total − idle − iowait, with guest time not counted twice', () => {
    const ticks = parseMachineCpu('cpu  100 10 50 1000 20 5 5 10 40 4\ncpu0 1 1 1 1 1 1 1 1 1 1\n');
    expect(ticks.totalTicks).toBe(100 + 10 + 50 + 1000 + 20 + 5 + 5 + 10);
    expect(ticks.activeTicks).toBe(100 + 10 + 50 + 5 + 5 + 10);
  });

  it('needs the aggregate cpu line', () => {
    expect(() => parseMachineCpu('cpu0 1 2 3 4\n')).toThrow(/aggregate/);
  });
});

describe('readSystemConstants', () => {
  it('takes getconf’s answers', async () => {
    const answers: Record<string, string> = { CLK_TCK: '250\n', PAGESIZE: '16384\n' };
    await expect(readSystemConstants(async (name) => answers[name] ?? '')).resolves.toEqual({ clockTicksPerSecond: 250, pageSizeBytes: 16384 });
  });

  it('falls back to 100 Hz and 4 KiB when getconf is missing or odd', async () => {
    await expect(readSystemConstants(async () => Promise.reject(new Error('ENOENT')))).resolves.toEqual({ clockTicksPerSecond: 100, pageSizeBytes: 4096 });
    await expect(readSystemConstants(async () => 'undefined\n')).resolves.toEqual({ clockTicksPerSecond: 100, pageSizeBytes: 4096 });
  });

  it('reads this machine (getconf or the defaults)', async () => {
    const constants = await readSystemConstants();
    expect(constants.clockTicksPerSecond).toBeGreaterThan(0);
    expect(constants.pageSizeBytes).toBeGreaterThan(0);
  });
});

describe('ProcessTreeSampler on a fake /proc', () => {
  it('sums the tree and the machine’s active time since the baseline, and the tree’s RSS', async () => {
    const { tree, sampler } = await setup();
    await tree.set({ pid: ROOT, ppid: REAPER, utime: 10, stime: 5, rss: 100 });
    await tree.set({ pid: 300, ppid: 1, utime: 999 }); // not ours
    sampler.track(ROOT);
    const first = await sampler.poll();
    expect(first.treeCpuSeconds).toBeCloseTo(0.15);
    expect(first.livePids).toEqual([ROOT]);
    expect(first.treeRssBytes).toBe(100 * 4096);

    await tree.set({ pid: 201, ppid: ROOT, utime: 20, rss: 50 });
    await tree.update(ROOT, { utime: 40 });
    await tree.machine({ user: 1300, idle: 10_500, iowait: 150 });
    const second = await sampler.poll();
    expect(second.treeCpuSeconds).toBeCloseTo((40 + 5 + 20) / 100);
    expect(second.machineActiveCpuSeconds).toBeCloseTo(3);
    expect(second.treeRssBytes).toBe(150 * 4096);
    expect([...sampler.seenPids].sort()).toEqual([ROOT, 201]);
  });

  it('counts a child that lived and died between polls through its parent’s cutime', async () => {
    const { tree, sampler } = await setup();
    await tree.set({ pid: ROOT, ppid: REAPER, utime: 10 });
    sampler.track(ROOT);
    await sampler.poll();
    await tree.update(ROOT, { utime: 12, cutime: 70, cstime: 8 });
    expect((await sampler.poll()).treeCpuSeconds).toBeCloseTo((12 + 78) / 100);
  });

  it('does not count a reaped child twice: its last sighting gives way to the parent’s cutime', async () => {
    const { tree, sampler } = await setup();
    await tree.set({ pid: ROOT, ppid: REAPER, utime: 10 });
    await tree.set({ pid: 201, ppid: ROOT, utime: 30, cutime: 4 });
    sampler.track(ROOT);
    expect((await sampler.poll()).treeCpuSeconds).toBeCloseTo(0.44);
    // The child ran 5 more ticks after we last saw it, then was reaped by the root.
    await tree.remove(201);
    await tree.update(ROOT, { cutime: 39 });
    expect((await sampler.poll()).treeCpuSeconds).toBeCloseTo(0.49);
  });

  it('keeps its last sighting when the parent’s cutime did not take it (auto-reaped)', async () => {
    const { tree, sampler } = await setup();
    await tree.set({ pid: ROOT, ppid: REAPER, utime: 10 });
    await tree.set({ pid: 201, ppid: ROOT, utime: 50 });
    sampler.track(ROOT);
    await sampler.poll();
    await tree.remove(201);
    expect((await sampler.poll()).treeCpuSeconds).toBeCloseTo(0.6);
  });

  it('follows a grandchild reparented to init when its parent exits, and the children it starts later', async () => {
    const { tree, sampler } = await setup();
    await tree.set({ pid: ROOT, ppid: REAPER, utime: 10 });
    await tree.set({ pid: 201, ppid: ROOT, utime: 20 });
    await tree.set({ pid: 202, ppid: 201, utime: 30 });
    sampler.track(ROOT);
    expect((await sampler.poll()).treeCpuSeconds).toBeCloseTo(0.6);

    // 201 exits (reaped by the root, 25 ticks in all); 202 is orphaned to init and keeps running.
    await tree.remove(201);
    await tree.update(ROOT, { cutime: 25 });
    await tree.update(202, { ppid: 1, utime: 45 });
    expect((await sampler.poll()).treeCpuSeconds).toBeCloseTo((10 + 25 + 45) / 100);

    await tree.set({ pid: 203, ppid: 202, utime: 7 });
    const sample = await sampler.poll();
    expect(sample.treeCpuSeconds).toBeCloseTo((10 + 25 + 45 + 7) / 100);
    expect([...sample.livePids].sort()).toEqual([ROOT, 202, 203]);
  });

  it('takes the root’s final figures from the reaper’s cutime once it has exited', async () => {
    const tree = await makeProcTree();
    trees.push(tree.root);
    await tree.update(REAPER, { cutime: 500, cstime: 20 }); // earlier children of ours: the baseline
    const sampler2 = await createProcessTreeSampler({ procRoot: tree.root, constants: CONSTANTS, reaperPid: REAPER });
    await tree.set({ pid: ROOT, ppid: REAPER, utime: 10, cutime: 5 });
    sampler2.track(ROOT);
    await sampler2.poll();
    // The root works on, reaps a child, exits and is reaped by us: 60 + 30 ticks in all.
    await tree.remove(ROOT);
    await tree.update(REAPER, { cutime: 500 + 80, cstime: 20 + 10 });
    const sample = await sampler2.poll();
    expect(sample.treeCpuSeconds).toBeCloseTo(0.9);
    expect(sample.livePids).toEqual([]);
  });

  it('counts a root that exited before the first poll through the reaper alone', async () => {
    const { tree, sampler } = await setup();
    sampler.track(ROOT);
    await tree.update(REAPER, { cutime: 12, cstime: 3 });
    expect((await sampler.poll()).treeCpuSeconds).toBeCloseTo(0.15);
    expect(sampler.seenPids.size).toBe(0);
  });

  it('does not adopt a process that reuses a gone pid unless it is a child of the tree', async () => {
    const { tree, sampler } = await setup();
    await tree.set({ pid: ROOT, ppid: REAPER, utime: 10 });
    await tree.set({ pid: 201, ppid: ROOT, utime: 20, start: 5000 });
    sampler.track(ROOT);
    await sampler.poll();
    await tree.remove(201);
    await tree.update(ROOT, { cutime: 20 });
    await sampler.poll();
    await tree.set({ pid: 201, ppid: 1, utime: 1000, start: 9000 });
    expect((await sampler.poll()).treeCpuSeconds).toBeCloseTo(0.3);
  });

  it('rereads the parent of a process that vanished during a poll, so its cutime holds it', async () => {
    // An in-memory procfs in which 201 is listed, then gone (reaped, 40 ticks in all) when its stat is read.
    let phase: 'alive' | 'reaping' = 'alive';
    const stats = new Map<number, ProcStat>();
    const put = (p: FakeProc) => stats.set(p.pid, parseProcStat(statLine(p)));
    put({ pid: REAPER, ppid: 1 });
    put({ pid: ROOT, ppid: REAPER, utime: 10 });
    put({ pid: 201, ppid: ROOT, utime: 30 });
    const procfs: Procfs = {
      root: 'memory',
      listPids: async () => [...stats.keys()],
      readStat: async (pid) => {
        if (phase === 'reaping' && pid === 201) {
          stats.delete(201);
          put({ pid: ROOT, ppid: REAPER, utime: 10, cutime: 40 });
          return undefined;
        }
        return stats.get(pid);
      },
      readMachineCpu: async () => ({ totalTicks: 100, activeTicks: 50 }),
    };
    const sampler = await createProcessTreeSampler({ procfs, constants: CONSTANTS, reaperPid: REAPER });
    sampler.track(ROOT);
    expect((await sampler.poll()).treeCpuSeconds).toBeCloseTo(0.4);
    phase = 'reaping';
    // Reads run concurrently: the root may have been read before 201 was reaped.
    stats.set(ROOT, parseProcStat(statLine({ pid: ROOT, ppid: REAPER, utime: 10 })));
    expect((await sampler.poll()).treeCpuSeconds).toBeCloseTo(0.5);
  });

  it('polls at once, then every interval after each sample; stop() ends the loop', async () => {
    const { tree } = await setup();
    await tree.set({ pid: ROOT, ppid: REAPER, utime: 10 });
    const pending: { callback: () => void; ms: number; cancelled: boolean }[] = [];
    const scheduler: Scheduler = {
      schedule(callback, ms) {
        const entry = { callback, ms, cancelled: false };
        pending.push(entry);
        return { cancel: () => void (entry.cancelled = true) };
      },
    };
    const fake = createFakeClock();
    const sampler = await createProcessTreeSampler({ procRoot: tree.root, constants: CONSTANTS, reaperPid: REAPER, intervalMs: 250, scheduler, clock: fake.clock });
    sampler.track(ROOT);
    const seen: number[] = [];
    let resolveSample: () => void = () => undefined;
    const next = () => new Promise<void>((resolve) => (resolveSample = resolve));
    let wait = next();
    sampler.start((sample) => {
      seen.push(sample.treeCpuSeconds);
      resolveSample();
    });
    await wait;
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual([0.1]);
    expect(pending.map((p) => p.ms)).toEqual([250]);

    await tree.update(ROOT, { utime: 30 });
    wait = next();
    fake.advance(250);
    (pending[0] as (typeof pending)[number]).callback();
    await wait;
    expect(seen).toEqual([0.1, 0.3]);
    await new Promise((r) => setImmediate(r));
    expect(pending).toHaveLength(2);
    await sampler.stop();
    expect(pending[1]?.cancelled).toBe(true);
    expect(seen).toHaveLength(2);
  });

  it('hands a failed poll to onError and stops', async () => {
    const { tree } = await setup();
    const sampler = await createProcessTreeSampler({ procRoot: tree.root, constants: CONSTANTS, reaperPid: REAPER });
    sampler.track(ROOT);
    await rm(join(tree.root, 'stat'));
    const error = await new Promise<unknown>((resolve) => sampler.start(undefined, resolve));
    expect(error).toBeInstanceOf(EcomlError);
    expect((error as EcomlError).code).toBe('E_METER_UNAVAILABLE');
    await sampler.stop();
  });

  it('needs procfs: a missing root is E_METER_UNAVAILABLE before anything runs', async () => {
    await expect(createProcessTreeSampler({ procRoot: join(tmpdir(), 'ecoml-no-such-proc'), constants: CONSTANTS, reaperPid: REAPER })).rejects.toMatchObject({
      code: 'E_METER_UNAVAILABLE',
    });
  });

  it('reads the real /proc for this process', async () => {
    const procfs = createProcfs();
    const self = await procfs.readStat(process.pid);
    expect(self?.pid).toBe(process.pid);
    expect(self?.ppid).toBe(process.ppid);
    expect((await procfs.listPids()).includes(process.pid)).toBe(true);
    expect((await procfs.readMachineCpu()).activeTicks).toBeGreaterThan(0);
  });
});
