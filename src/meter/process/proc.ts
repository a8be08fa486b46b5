/**
 * A process tree's CPU time from procfs, and the machine's, polled together so the tree's share of
 * the machine can be taken per interval (Scaphandre and Kepler read the same files).
 *
 * What is counted. Every process that descends from the root is tracked from the first poll that
 * sees it until it is gone, even if it is reparented (its parent exited), and new children of any
 * tracked process join the tree. Per process we keep its own CPU time (utime+stime, all threads) and
 * the CPU time of the children it has reaped (cutime+cstime) as last read. A child that exits
 * between two polls is never seen, but its parent's cutime holds it once reaped; a child that was
 * seen and then reaped is in both places, so its own figures are dropped as soon as its parent has
 * been read after it was gone (see `treeTicks`). The root is reaped by us: our own cutime, less its
 * value before the command started, covers the root's last moments and everything it reaped.
 *
 * Left out: a descendant that was orphaned and exited inside one poll interval (its CPU goes to
 * init's cutime and is read from its last sighting only); a child auto-reaped by a parent ignoring
 * SIGCHLD is still counted from its last sighting. Both are bounded by one interval of one process.
 * @module
 */

import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EcomlError } from '../../errors.js';
import { systemClock, type Clock } from '../clock.js';

export const DEFAULT_PROC_ROOT = '/proc';
/** Poll interval: short enough to see most short-lived children, cheap enough to read every /proc/<pid>/stat. */
export const DEFAULT_TREE_POLL_MS = 500;
/** USER_HZ on every mainstream Linux build; getconf is asked in case this one differs. */
export const DEFAULT_CLOCK_TICKS_PER_SECOND = 100;
export const DEFAULT_PAGE_SIZE_BYTES = 4096;

/** The fields of /proc/<pid>/stat we use (proc(5) numbering in the comments). */
export interface ProcStat {
  /** (1) */
  readonly pid: number;
  /** (2) the executable name, without the parentheses; it may hold spaces and parentheses itself. */
  readonly comm: string;
  /** (3) R, S, D, Z… */
  readonly state: string;
  /** (4) */
  readonly ppid: number;
  /** (5) process group */
  readonly pgrp: number;
  /** (7) controlling terminal, 0 when none */
  readonly ttyNr: number;
  /** (8) foreground process group of the controlling terminal, -1 when none */
  readonly tpgid: number;
  /** (14)+(15) user and system CPU of all the process's threads, in clock ticks */
  readonly utimeTicks: number;
  readonly stimeTicks: number;
  /** (16)+(17) CPU of the children this process has waited for (and of theirs), in clock ticks */
  readonly cutimeTicks: number;
  readonly cstimeTicks: number;
  /** (22) start time after boot, in clock ticks: with pid, it tells a process from a later one reusing the pid */
  readonly startTimeTicks: number;
  /** (24) resident set size in pages */
  readonly rssPages: number;
}

/** Parses /proc/<pid>/stat; throws E_DATA_MALFORMED on anything else. */
export function parseProcStat(text: string): ProcStat {
  // comm is the only field that can hold spaces or ')' (a program may name itself anything): it runs
  // from the first '(' to the last ')'.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const malformed = (why: string) => new EcomlError('E_DATA_MALFORMED', `not a /proc/<pid>/stat line (${why}): "${text.slice(0, 120)}"`);
  if (open < 0 || close < open) throw malformed('no (comm)');
  const pid = Number(text.slice(0, open).trim());
  const rest = text.slice(close + 1).trim().split(/\s+/);
  // rest[0] is field (3); field (n) is rest[n - 3].
  const field = (n: number): number => {
    const value = Number(rest[n - 3]);
    if (rest[n - 3] === undefined || !Number.isFinite(value)) throw malformed(`field ${n} is "${rest[n - 3] ?? ''}"`);
    return value;
  };
  if (!Number.isInteger(pid) || pid <= 0) throw malformed('bad pid');
  return {
    pid,
    comm: text.slice(open + 1, close),
    state: rest[0] ?? '',
    ppid: field(4),
    pgrp: field(5),
    ttyNr: field(7),
    tpgid: field(8),
    utimeTicks: field(14),
    stimeTicks: field(15),
    cutimeTicks: field(16),
    cstimeTicks: field(17),
    startTimeTicks: field(22),
    rssPages: field(24),
  };
}

/** The machine's CPU time from the aggregate `cpu` line of /proc/stat, in clock ticks. */
export interface MachineCpuTicks {
  readonly totalTicks: number;
  /** total − idle − iowait: time some CPU spent running something. */
  readonly activeTicks: number;
}

export function parseMachineCpu(text: string): MachineCpuTicks {
  const line = text.split('\n').find((l) => /^cpu\s/.test(l));
  if (line === undefined) throw new EcomlError('E_DATA_MALFORMED', '/proc/stat has no aggregate "cpu" line');
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  if (values.length < 4 || values.some((v) => !Number.isFinite(v))) {
    throw new EcomlError('E_DATA_MALFORMED', `/proc/stat "cpu" line is malformed: "${line}"`);
  }
  // user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is already inside
  // user and nice, so only the first eight add up to the total.
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = values;
  const totalTicks = user + nice + system + idle + iowait + irq + softirq + steal;
  return { totalTicks, activeTicks: totalTicks - idle - iowait };
}

export interface SystemConstants {
  readonly clockTicksPerSecond: number;
  readonly pageSizeBytes: number;
}

/** CLK_TCK and PAGESIZE from getconf, with Linux's usual values where getconf is missing or odd. */
export async function readSystemConstants(getconf: (name: string) => Promise<string> = runGetconf): Promise<SystemConstants> {
  const ask = async (name: string, fallback: number): Promise<number> => {
    try {
      const value = Number((await getconf(name)).trim());
      return Number.isInteger(value) && value > 0 ? value : fallback;
    } catch {
      // No getconf (minimal containers): the kernel's ABI value is the only sensible answer.
      return fallback;
    }
  };
  const [clockTicksPerSecond, pageSizeBytes] = await Promise.all([ask('CLK_TCK', DEFAULT_CLOCK_TICKS_PER_SECOND), ask('PAGESIZE', DEFAULT_PAGE_SIZE_BYTES)]);
  return { clockTicksPerSecond, pageSizeBytes };
}

function runGetconf(name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('getconf', [name], { timeout: 5000 }, (error, stdout) => (error ? reject(error) : resolve(stdout)));
  });
}

/** The procfs reads the sampler needs; the root is a directory laid out like /proc (tests use fake trees). */
export interface Procfs {
  readonly root: string;
  /** Numeric entries of the root, i.e. the live (and zombie) processes. */
  listPids(): Promise<number[]>;
  /** /proc/<pid>/stat, or undefined once the process is gone. */
  readStat(pid: number): Promise<ProcStat | undefined>;
  readMachineCpu(): Promise<MachineCpuTicks>;
}

export function createProcfs(root: string = DEFAULT_PROC_ROOT): Procfs {
  return {
    root,
    async listPids() {
      try {
        return (await readdir(root)).filter((name) => /^\d+$/.test(name)).map(Number);
      } catch (error) {
        throw new EcomlError('E_METER_UNAVAILABLE', `cannot list processes in ${root}: ${(error as Error).message} (measure needs Linux procfs)`, {
          details: { root },
          cause: error,
        });
      }
    },
    async readStat(pid) {
      let text: string;
      try {
        text = await readFile(join(root, String(pid), 'stat'), 'utf8');
      } catch (error) {
        // ESRCH: the process died while its stat file was being read.
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ESRCH') return undefined;
        throw new EcomlError('E_METER_UNAVAILABLE', `cannot read ${join(root, String(pid), 'stat')}: ${(error as Error).message}`, { cause: error });
      }
      return parseProcStat(text);
    },
    async readMachineCpu() {
      const path = join(root, 'stat');
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        throw new EcomlError('E_METER_UNAVAILABLE', `cannot read ${path}: ${(error as Error).message} (measure needs Linux procfs)`, { cause: error });
      }
      return parseMachineCpu(text);
    },
  };
}

/** One tracked process as last read. */
interface Tracked {
  readonly pid: number;
  readonly startTimeTicks: number;
  ownTicks: number;
  childTicks: number;
  rssPages: number;
  /** The tracked process that was its parent at the last read; undefined when the parent is not in the tree (the reaper, or init after reparenting). */
  parent: Tracked | undefined;
  /** Read sequence number of the last successful read. */
  readSeq: number;
  /** Sequence number by which it was certainly gone (absent from a listing, or a failed read); undefined while alive. */
  goneSeq: number | undefined;
}

/**
 * The tree's CPU ticks: per process its own ticks, plus its cutime or, if larger, the sum over the
 * children it was read after they were gone (cutime already holds those, and holds more: children
 * never seen). Children read while still present are added on top, since cutime cannot hold them yet.
 */
function subtreeTicks(node: Tracked, children: ReadonlyMap<Tracked, readonly Tracked[]>): number {
  let folded = 0;
  let open = 0;
  for (const child of children.get(node) ?? []) {
    const value = subtreeTicks(child, children);
    if (child.goneSeq !== undefined && node.readSeq > child.goneSeq) folded += value;
    else open += value;
  }
  return node.ownTicks + Math.max(node.childTicks, folded) + open;
}

export interface TreeSample {
  /** Monotonic ms at the end of the poll. */
  readonly atMs: number;
  /** Tree CPU seconds since tracking started (cumulative). */
  readonly treeCpuSeconds: number;
  /** Machine active CPU seconds (all CPUs) since the sampler was created (cumulative). */
  readonly machineActiveCpuSeconds: number;
  /** Resident memory of the tree's live processes now (summed RSS: pages shared between them count once per process). */
  readonly treeRssBytes: number;
  /** Live tracked processes now. */
  readonly livePids: readonly number[];
}

/** Something that runs a callback later: setTimeout by default, a hand-driven queue in tests. */
export interface Scheduler {
  schedule(callback: () => void, ms: number): { cancel(): void };
}

export const timerScheduler: Scheduler = {
  schedule(callback, ms) {
    const handle = setTimeout(callback, ms);
    // The measured command keeps the process alive; the poll timer must not.
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

export interface ProcessTreeSamplerOptions {
  /** procfs root (default /proc). */
  readonly procRoot?: string;
  /** A procfs reader (overrides procRoot). */
  readonly procfs?: Procfs;
  readonly constants?: SystemConstants;
  readonly intervalMs?: number;
  readonly clock?: Clock;
  readonly scheduler?: Scheduler;
  /** The process that will reap the root: this one, which spawns it (default process.pid). */
  readonly reaperPid?: number;
}

export interface ProcessTreeSampler {
  readonly intervalMs: number;
  readonly constants: SystemConstants;
  /** Starts tracking the tree under rootPid (a child of the reaper, spawned after the sampler was created). */
  track(rootPid: number): void;
  /** Reads procfs now and returns the cumulative figures. Polls never overlap: a call during one waits for it. */
  poll(): Promise<TreeSample>;
  /** Polls now and then every intervalMs after the previous sample was handled; an error (from a poll or onSample) goes to onError and ends the loop. */
  start(onSample?: (sample: TreeSample) => Promise<void> | void, onError?: (error: unknown) => void): void;
  /** Ends the loop and waits for the tick in progress, onSample included. */
  stop(): Promise<void>;
  /** Every pid the tree has had. */
  readonly seenPids: ReadonlySet<number>;
}

/**
 * Creates a sampler and reads the baselines (the reaper's cutime, the machine's CPU ticks): create it
 * before spawning the command, so that nothing the command does precedes them.
 */
export async function createProcessTreeSampler(options: ProcessTreeSamplerOptions = {}): Promise<ProcessTreeSampler> {
  const procfs = options.procfs ?? createProcfs(options.procRoot);
  const constants = options.constants ?? (await readSystemConstants());
  const intervalMs = options.intervalMs ?? DEFAULT_TREE_POLL_MS;
  if (!(Number.isFinite(intervalMs) && intervalMs > 0)) {
    throw new EcomlError('E_CONFIG_INVALID', `the poll interval must be a positive number of milliseconds, got ${intervalMs}`, { details: { intervalMs } });
  }
  const clock = options.clock ?? systemClock;
  const scheduler = options.scheduler ?? timerScheduler;
  const reaperPid = options.reaperPid ?? process.pid;

  const readReaper = async (): Promise<ProcStat> => {
    const stat = await procfs.readStat(reaperPid);
    if (stat === undefined) throw new EcomlError('E_METER_UNAVAILABLE', `cannot read ${procfs.root}/${reaperPid}/stat (the measuring process itself)`);
    return stat;
  };
  const reaperBase = await readReaper();
  const reaperBaselineTicks = reaperBase.cutimeTicks + reaperBase.cstimeTicks;
  const machineBase = await procfs.readMachineCpu();

  let rootPid: number | undefined;
  let rootNode: Tracked | undefined;
  const tracked = new Map<number, Tracked>();
  const all: Tracked[] = [];
  const seenPids = new Set<number>();
  let seq = 0;
  let queue: Promise<unknown> = Promise.resolve();
  let timer: { cancel(): void } | undefined;
  /** The tick in progress (its poll and its onSample), which stop() waits for. */
  let current: Promise<void> = Promise.resolve();
  let running = false;

  const adopt = (stat: ProcStat, readSeq: number): Tracked => {
    const node: Tracked = {
      pid: stat.pid,
      startTimeTicks: stat.startTimeTicks,
      ownTicks: 0,
      childTicks: 0,
      rssPages: 0,
      parent: undefined,
      readSeq,
      goneSeq: undefined,
    };
    tracked.set(stat.pid, node);
    all.push(node);
    seenPids.add(stat.pid);
    return node;
  };

  const record = (node: Tracked, stat: ProcStat, readSeq: number): void => {
    node.ownTicks = stat.utimeTicks + stat.stimeTicks;
    node.childTicks = stat.cutimeTicks + stat.cstimeTicks;
    node.rssPages = stat.state === 'Z' ? 0 : stat.rssPages;
    const parent = tracked.get(stat.ppid);
    node.parent = parent !== undefined && parent !== node && parent.goneSeq === undefined ? parent : undefined;
    node.readSeq = readSeq;
  };

  const pollOnce = async (): Promise<TreeSample> => {
    const pids = await procfs.listPids();
    const listSeq = ++seq;
    const listed = new Set(pids);
    for (const node of tracked.values()) if (node.goneSeq === undefined && !listed.has(node.pid)) node.goneSeq = listSeq;

    const stats = new Map<number, ProcStat>();
    await Promise.all(
      pids.map(async (pid) => {
        const stat = await procfs.readStat(pid);
        if (stat !== undefined) stats.set(pid, stat);
      }),
    );
    const readSeq = ++seq;
    const vanishedSeq = ++seq;
    const vanished: Tracked[] = [];
    for (const node of tracked.values()) {
      if (node.goneSeq !== undefined) continue;
      const stat = stats.get(node.pid);
      if (stat !== undefined && stat.startTimeTicks === node.startTimeTicks) record(node, stat, readSeq);
      else {
        node.goneSeq = vanishedSeq;
        vanished.push(node);
      }
    }
    // A process that vanished during this poll may have been reaped after its parent was read, so its
    // parent's cutime may or may not hold it: read the parent again, now, when it certainly does.
    const reread = new Set<Tracked>();
    while (vanished.length > 0) {
      const parent = (vanished.pop() as Tracked).parent;
      if (parent === undefined || parent.goneSeq !== undefined || reread.has(parent)) continue;
      reread.add(parent);
      const stat = await procfs.readStat(parent.pid);
      const at = ++seq;
      if (stat !== undefined && stat.startTimeTicks === parent.startTimeTicks) record(parent, stat, at);
      else {
        parent.goneSeq = at;
        vanished.push(parent);
      }
    }

    // Join new children of live tracked processes; the root joins on the first poll that lists it.
    const childrenOf = new Map<number, ProcStat[]>();
    for (const stat of stats.values()) {
      const list = childrenOf.get(stat.ppid) ?? [];
      list.push(stat);
      childrenOf.set(stat.ppid, list);
    }
    const queue: Tracked[] = [];
    const rootStat = rootPid === undefined ? undefined : stats.get(rootPid);
    if (rootStat !== undefined && rootNode === undefined && rootStat.ppid === reaperPid) {
      rootNode = adopt(rootStat, readSeq);
      record(rootNode, rootStat, readSeq);
    }
    for (const node of tracked.values()) if (node.goneSeq === undefined) queue.push(node);
    while (queue.length > 0) {
      const node = queue.pop() as Tracked;
      for (const stat of childrenOf.get(node.pid) ?? []) {
        const known = tracked.get(stat.pid);
        if (known !== undefined && known.goneSeq === undefined) continue;
        const child = adopt(stat, readSeq);
        record(child, stat, readSeq);
        queue.push(child);
      }
    }

    // Read last: every process seen gone above was reaped before these reads.
    const reaper = await readReaper();
    const reaperSeq = ++seq;
    const machine = await procfs.readMachineCpu();

    const children = new Map<Tracked, Tracked[]>();
    const reaperChildren: Tracked[] = [];
    const orphans: Tracked[] = [];
    for (const node of all) {
      if (node.parent !== undefined) {
        const list = children.get(node.parent) ?? [];
        list.push(node);
        children.set(node.parent, list);
      } else if (node === rootNode) reaperChildren.push(node);
      else orphans.push(node);
    }
    // The reaper is a node like the others, with no own ticks and cutime counted from the baseline.
    const reaperNode: Tracked = {
      pid: reaperPid,
      startTimeTicks: reaper.startTimeTicks,
      ownTicks: 0,
      childTicks: reaper.cutimeTicks + reaper.cstimeTicks - reaperBaselineTicks,
      rssPages: 0,
      parent: undefined,
      readSeq: reaperSeq,
      goneSeq: undefined,
    };
    children.set(reaperNode, reaperChildren);
    const ticks = subtreeTicks(reaperNode, children) + orphans.reduce((sum, node) => sum + subtreeTicks(node, children), 0);
    const live = [...tracked.values()].filter((node) => node.goneSeq === undefined);
    return {
      atMs: clock.monotonicMs(),
      treeCpuSeconds: ticks / constants.clockTicksPerSecond,
      machineActiveCpuSeconds: (machine.activeTicks - machineBase.activeTicks) / constants.clockTicksPerSecond,
      treeRssBytes: live.reduce((sum, node) => sum + node.rssPages, 0) * constants.pageSizeBytes,
      livePids: live.map((node) => node.pid),
    };
  };

  const poll = (): Promise<TreeSample> => {
    // Polls must not interleave: each one's sequence numbers order reads against the previous one's.
    const run = queue.then(pollOnce);
    queue = run.catch(() => undefined);
    return run;
  };

  return {
    intervalMs,
    constants,
    seenPids,
    track(pid) {
      if (rootPid !== undefined) throw new EcomlError('E_INTERNAL', `the sampler already tracks pid ${rootPid}`);
      rootPid = pid;
    },
    poll,
    start(onSample, onError) {
      if (running) return;
      running = true;
      const tick = (): void => {
        timer = undefined;
        current = poll()
          .then(async (sample) => {
            await onSample?.(sample);
            if (running) timer = scheduler.schedule(tick, intervalMs);
          })
          .catch((error: unknown) => {
            running = false;
            onError?.(error);
          });
      };
      // The first poll at once: the sooner the root is seen, the fewer of its children can slip by.
      tick();
    },
    async stop() {
      running = false;
      timer?.cancel();
      timer = undefined;
      await current;
      await queue;
    },
  };
}
