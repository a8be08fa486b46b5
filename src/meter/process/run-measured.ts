/**
 * Runs a command and meters the energy of its process tree, as CodeCarbon's `monitor -- <cmd>` does,
 * but attributed rather than whole-machine: machine energy (RAPL, NVML) is read at every poll together
 * with the tree's and the machine's CPU time, and split by the rules in attribution.ts. Where RAPL is
 * missing, CPU energy is estimated from the tree's own CPU seconds; RAM is estimated from the tree's
 * resident memory unless RAPL DRAM is asked for.
 *
 * The command runs without a shell, with the given stdio (inherited by default). SIGINT, SIGTERM and
 * SIGHUP sent to us are forwarded to it while it runs, so that we outlive it and can report; a SIGINT
 * typed at the terminal already reached it (it shares our foreground process group), so that one is
 * not sent a second time.
 * @module
 */

import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { EcomlError } from '../../errors.js';
import { systemClock, type Clock } from '../clock.js';
import { basename } from 'node:path';
import type { StoredProfile } from '../calibration.js';
import { emissionsFor, heatFor } from '../emissions.js';
import type { EnergySource } from '../energy-source.js';
import type { CarbonIntensityProvider } from '../intensity/carbon-intensity.js';
import { gridIntensityAt, hardwareOf, resolveMachine } from '../meter.js';
import type { NvmlLibrary } from '../sources/nvml-library.js';
import { createNvmlSource } from '../sources/nvml.js';
import { openKoffiNvml } from '../sources/nvml-koffi.js';
import { RAM_WATTS_PER_GIB } from '../sources/ram-estimate.js';
import { createRaplSource } from '../sources/rapl.js';
import { energyReport } from '../totals.js';
import type { Measurement } from '../types.js';
import type { CpuPower } from '../sources/cpu-tdp.js';
import {
  attribute,
  type AttributionSnapshot,
  type ComponentKind,
  type CpuEstimateModel,
  type CumulativeEnergy,
  type MachineComponent,
} from './attribution.js';
import { createGpuShareTracker, type GpuProcessUtilization, type GpuShareTracker, type GpuSmTotals } from './gpu-share.js';
import { createProcessTreeSampler, createProcfs, DEFAULT_TREE_POLL_MS, type Procfs, type Scheduler, type TreeSample } from './proc.js';

export const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type ForwardedSignal = (typeof FORWARDED_SIGNALS)[number];

/** Where signals to us arrive: `process` by default, an EventEmitter in tests. */
export interface SignalSource {
  on(signal: ForwardedSignal, listener: () => void): unknown;
  off(signal: ForwardedSignal, listener: () => void): unknown;
}

export interface RunMeasuredOptions {
  readonly command: string;
  readonly args?: readonly string[];
  readonly cwd?: string;
  /** The command's environment (default process.env); its PATH is where the command is looked up. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The command's stdio (default: inherit all three). */
  readonly stdio?: StdioOptions;
  /** Poll interval in ms (default 500). */
  readonly intervalMs?: number;
  /** Grid country (default env ECOML_COUNTRY, else the world average). */
  readonly country?: string;
  /** PUE ≥ 1 (default env ECOML_PUE, else 1.0). */
  readonly pue?: number;
  readonly carbonIntensity?: CarbonIntensityProvider;
  /** Where ECOML_COUNTRY and ECOML_PUE are read (default process.env). */
  readonly meterEnv?: Readonly<Record<string, string | undefined>>;
  readonly procRoot?: string;
  readonly raplRoot?: string;
  /** Count RAPL DRAM as measured RAM energy (split by CPU share) instead of the RSS estimate. */
  readonly raplDram?: boolean;
  /** An NVML library, or false to leave GPUs out; by default libnvidia-ml through koffi. */
  readonly nvml?: NvmlLibrary | false;
  /** Per-process GPU utilisation; without it each GPU is counted whole, with a note. */
  readonly gpuProcessUtilization?: GpuProcessUtilization;
  readonly cpuInfoPath?: string;
  readonly tdpWatts?: number;
  /** A calibration profile for this CPU model: its per-thread and idle watts replace the TDP split when RAPL is missing. */
  readonly calibration?: StoredProfile;
  readonly clock?: Clock;
  readonly scheduler?: Scheduler;
  readonly signalSource?: SignalSource;
  /** Whether a SIGINT now most likely came from the terminal and so already reached the command (default: from procfs). */
  readonly sigintFromTerminal?: (childPid: number) => Promise<boolean>;
  /** Aborting sends SIGTERM to the command (the programmatic way to stop it). */
  readonly signal?: AbortSignal;
  readonly label?: string;
  /** Called once the command is running, with its pid. */
  readonly onSpawn?: (pid: number) => void;
}

export interface MeasuredRun {
  readonly command: readonly string[];
  readonly pid: number;
  /** The command's exit code, or null when a signal ended it. */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly durationS: number;
  /** Energy attributed to the command's process tree. */
  readonly measurement: Measurement;
  /** CPU seconds of the whole tree. */
  readonly cpuSecondsTree: number;
  /** Active CPU seconds of the whole machine over the same time. */
  readonly machineActiveCpuSeconds: number;
  /** The tree's share of the machine's active CPU time over the run. */
  readonly share: number;
  /** Per GPU component, the share of its energy attributed to the tree; null where it was counted whole. */
  readonly gpuShares: Readonly<Record<string, number | null>>;
  /** Machine-wide energy per measured component over the run, before attribution. */
  readonly machineJoules: Readonly<Record<string, number>>;
  /** Processes the tree had, the root included. */
  readonly processesSeen: number;
  readonly notes: readonly string[];
}

/** The shell's convention for a command's status: its exit code, or 128 + the number of the signal that ended it. */
export function exitStatusOf(run: Pick<MeasuredRun, 'exitCode' | 'signal'>): number {
  if (run.exitCode !== null) return run.exitCode;
  const number = run.signal === null ? undefined : osConstants.signals[run.signal];
  return number === undefined ? 1 : 128 + number;
}

interface Slot {
  readonly kind: ComponentKind;
  readonly source: EnergySource;
  components: readonly MachineComponent[];
  failed: boolean;
}

/** The machine-wide sources, read together; one that fails is dropped from the whole run (as the meter drops it from a window). */
interface MachineEnergy {
  readonly notes: string[];
  /** The longest poll interval every source tolerates (RAPL wrap), if any says. */
  readonly maxIntervalMs: number | undefined;
  read(): Promise<Record<string, CumulativeEnergy>>;
  components(): MachineComponent[];
  close(): Promise<void>;
}

const FALLBACK: Readonly<Record<ComponentKind, string>> = {
  cpu: "CPU energy is estimated from the command's CPU time",
  ram: "RAM energy is estimated from the command's resident memory",
  gpu: 'GPU energy is not metered',
};

async function openMachineEnergy(sources: readonly { readonly kind: ComponentKind; readonly source: EnergySource }[]): Promise<MachineEnergy> {
  const notes: string[] = [];
  const slots: Slot[] = [];
  const fail = (slot: Slot, error: unknown): void => {
    slot.failed = true;
    notes.push(`${slot.kind}: ${slot.source.name} failed during the run (${error instanceof Error ? error.message : String(error)}); ${FALLBACK[slot.kind]}`);
    void slot.source.close().catch(() => undefined);
  };
  for (const { kind, source } of sources) {
    const probe = await source.probe();
    if (!probe.available) {
      notes.push(`${kind}: ${source.name} unavailable (${probe.reason}); ${FALLBACK[kind]}`);
      await source.close();
      continue;
    }
    slots.push({ kind, source, components: [], failed: false });
  }
  let readingNotes: readonly string[] = [];
  const read = async (): Promise<Record<string, CumulativeEnergy>> => {
    const energy: Record<string, CumulativeEnergy> = {};
    const notesNow: string[] = [];
    await Promise.all(
      slots
        .filter((slot) => !slot.failed)
        .map(async (slot) => {
          try {
            const reading = await slot.source.read();
            slot.components = reading.components.map((c) => ({ name: c.name, kind: slot.kind, method: c.method, model: c.model }));
            for (const c of reading.components) energy[c.name] = { joules: c.joules, low: c.low, high: c.high };
            notesNow.push(...(reading.notes ?? []).map((note) => `${slot.kind}: ${note}`));
          } catch (error) {
            fail(slot, error);
          }
        }),
    );
    readingNotes = notesNow;
    return energy;
  };
  const limits = slots.map((slot) => slot.source.maxSampleIntervalMs).filter((ms): ms is number => ms !== undefined && ms > 0);
  return {
    get notes() {
      return [...notes, ...readingNotes];
    },
    maxIntervalMs: limits.length > 0 ? Math.min(...limits) : undefined,
    read,
    components: () => slots.filter((slot) => !slot.failed).flatMap((slot) => slot.components),
    close: async () => {
      await Promise.all(slots.filter((slot) => !slot.failed).map((slot) => slot.source.close()));
    },
  };
}

/**
 * Runs the command to its end and returns its status and the energy attributed to it. Throws
 * E_FILE_NOT_FOUND when the command cannot be found, E_CONFIG_INVALID when it cannot be executed or an
 * option is invalid, E_METER_UNAVAILABLE when procfs cannot be read (measure needs Linux).
 */
/** Per-process SM utilisation straight from an NVML library. */
function nvmlProcessUtilization(library: NvmlLibrary): GpuProcessUtilization {
  return {
    processUtilization(gpuIndex, sinceUs) {
      const handle = library.deviceHandle(gpuIndex);
      return handle.ok ? library.processUtilization(handle.value, sinceUs) : handle;
    },
  };
}

export async function runMeasured(options: RunMeasuredOptions): Promise<MeasuredRun> {
  const args = options.args ?? [];
  const clock = options.clock ?? systemClock;
  const meterEnv = options.meterEnv ?? process.env;
  const requestedIntervalMs = options.intervalMs ?? DEFAULT_TREE_POLL_MS;
  // Everything that can reject the options is settled before the command starts.
  const machine = await resolveMachine(options, meterEnv, clock);
  const { grid, pue, power } = machine;
  const procfs: Procfs = createProcfs(options.procRoot);

  // One NVML library serves both the energy counters and the per-process SM utilisation split.
  const library = options.nvml === false ? undefined : (options.nvml ?? (await openKoffiNvml().catch(() => undefined)));
  const nvml = options.nvml === false ? undefined : createNvmlSource({ clock, samplingIntervalMs: requestedIntervalMs, ...(library ? { library } : {}) });
  const gpuProcessUtilization = options.gpuProcessUtilization ?? (library ? nvmlProcessUtilization(library) : undefined);
  const rapl = (include: 'package' | 'dram') => createRaplSource({ include: [include], ...(options.raplRoot === undefined ? {} : { root: options.raplRoot }) });
  const energy = await openMachineEnergy([
    { kind: 'cpu', source: rapl('package') },
    ...(nvml ? [{ kind: 'gpu' as const, source: nvml }] : []),
    ...(options.raplDram ? [{ kind: 'ram' as const, source: rapl('dram') }] : []),
  ]);
  const baseNotes: string[] = options.nvml === false ? ['gpu: NVML disabled by the nvml option; GPU energy is not metered'] : [];
  // Energy is read at every poll, so the poll must come often enough for every counter (RAPL wraps).
  const intervalMs = energy.maxIntervalMs !== undefined && requestedIntervalMs > energy.maxIntervalMs ? Math.max(1, Math.floor(energy.maxIntervalMs)) : requestedIntervalMs;
  if (intervalMs !== requestedIntervalMs) baseNotes.push(`polled every ${intervalMs} ms instead of ${requestedIntervalMs} ms, so that no energy counter can wrap unseen`);

  let child: ChildProcess | undefined;
  try {
    const gpus = nvml?.gpus ?? [];
    const gpuNoSplit: Record<string, string> = {};
    let gpuTracker: GpuShareTracker | undefined;
    if (gpus.length > 0) {
      if (gpuProcessUtilization === undefined) {
        for (const gpu of gpus) gpuNoSplit[`gpu:${gpu.index}`] = 'no per-process utilisation reader was given';
      } else {
        gpuTracker = createGpuShareTracker(
          gpuProcessUtilization,
          gpus.map((gpu) => gpu.index),
          async (pid) => (await procfs.readStat(pid)) !== undefined,
        );
      }
    }
    const hardware = hardwareOf(machine, gpus);

    const sampler = await createProcessTreeSampler({ procfs, intervalMs, clock, ...(options.scheduler ? { scheduler: options.scheduler } : {}) });
    const zeroSm: Record<string, GpuSmTotals> = Object.fromEntries((gpuTracker?.gpuIndices ?? []).map((i) => [`gpu:${i}`, { treeSm: 0, totalSm: 0, invisibleSm: 0 }]));
    const snapshots: AttributionSnapshot[] = [
      { atMs: clock.monotonicMs(), treeCpuSeconds: 0, machineActiveCpuSeconds: 0, treeRssBytes: 0, energy: await energy.read(), gpuSm: zeroSm },
    ];
    const snapshotOf = async (tree: TreeSample): Promise<AttributionSnapshot> => {
      const readings = await energy.read();
      const gpuSm: Record<string, GpuSmTotals> = {};
      for (const [index, state] of (await gpuTracker?.poll(sampler.seenPids)) ?? []) {
        if (state.available) gpuSm[`gpu:${index}`] = state.totals;
        else gpuNoSplit[`gpu:${index}`] ??= state.reason;
      }
      return { atMs: tree.atMs, treeCpuSeconds: tree.treeCpuSeconds, machineActiveCpuSeconds: tree.machineActiveCpuSeconds, treeRssBytes: tree.treeRssBytes, energy: readings, gpuSm };
    };

    // Spawn; the exit listener is attached before anything can await, so no exit is missed.
    const started = spawnChild(options, args);
    child = started.child;
    // Handlers go in at once: a signal between spawn and here would end us and orphan the command.
    const stopForwarding = forwardSignals(
      started.child,
      options.signalSource ?? process,
      options.sigintFromTerminal ?? ((childPid) => sigintReachedChild(procfs, childPid)),
    );
    const onAbort = () => started.child.kill('SIGTERM');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const unhook = () => {
      stopForwarding();
      options.signal?.removeEventListener('abort', onAbort);
    };
    let pid: number;
    try {
      pid = await started.spawned;
    } catch (error) {
      unhook();
      throw error;
    }
    const startedAt = clock.wallTime();
    const startMs = clock.monotonicMs();
    options.onSpawn?.(pid);

    let pollError: unknown;
    let status: { code: number | null; signal: NodeJS.Signals | null };
    let endMs: number;
    try {
      sampler.track(pid);
      sampler.start(
        async (tree) => {
          snapshots.push(await snapshotOf(tree));
        },
        (error) => {
          pollError = error;
        },
      );
      status = await started.exited;
      endMs = clock.monotonicMs();
    } finally {
      unhook();
      await sampler.stop();
    }
    // After the exit: the root is reaped, so our cutime now holds all it did.
    const final = await sampler.poll().catch((error: unknown) => {
      throw new EcomlError('E_METER_UNAVAILABLE', `cannot read the process tree after the command ended: ${describe(error)}`, { cause: error });
    });
    snapshots.push(await snapshotOf(final));

    const result = attribute({
      snapshots,
      components: energy.components(),
      cpuEstimate: cpuEstimateModel(power, options.calibration),
      ramWattsPerGib: RAM_WATTS_PER_GIB,
      gpuNoSplit,
      intervalMs: sampler.intervalMs,
    });
    const leftOver = final.livePids;
    const notes = [
      ...baseNotes,
      ...energy.notes,
      ...result.notes,
      ...(pollError === undefined ? [] : [`polling stopped early (${describe(pollError)}); the figures rest on the polls before that and the one after the command ended`]),
      ...(leftOver.length > 0
        ? [`${leftOver.length} process(es) of the tree still ran when the command exited (pid ${leftOver.join(', ')}); their CPU time is counted up to then`]
        : []),
    ];
    const report = energyReport(result.components);
    const durationS = (endMs - startMs) / 1000;
    const intensity = await gridIntensityAt(grid, new Date(startedAt.getTime() + (durationS * 1000) / 2), notes);
    const commandLine = [options.command, ...args];
    const measurement: Measurement = {
      label: options.label ?? `measure: ${commandLine.join(' ')}`,
      startedAt: startedAt.toISOString(),
      durationS,
      energy: report,
      emissions: emissionsFor(report, intensity, pue),
      hardware,
      heat: heatFor(report),
      notes: [...new Set(notes)],
    };
    return {
      command: commandLine,
      pid,
      exitCode: status.code,
      signal: status.signal,
      durationS,
      measurement,
      cpuSecondsTree: result.treeCpuSeconds,
      machineActiveCpuSeconds: result.machineActiveCpuSeconds,
      share: result.cpuShare,
      gpuShares: result.gpuShares,
      machineJoules: result.machineJoules,
      processesSeen: sampler.seenPids.size,
      notes: measurement.notes ?? [],
    };
  } catch (error) {
    // Whatever failed on our side, the command must not be left running unobserved.
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    throw error;
  } finally {
    await energy.close();
  }
}

interface Started {
  readonly child: ChildProcess;
  /** The pid once running; rejects with an EcomlError when the command cannot be started. */
  readonly spawned: Promise<number>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnChild(options: RunMeasuredOptions, args: readonly string[]): Started {
  const env = options.env ?? process.env;
  const child = spawn(options.command, [...args], {
    stdio: options.stdio ?? 'inherit',
    shell: false,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env: Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined)),
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const spawned = new Promise<number>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => reject(spawnError(options.command, error));
    child.once('error', onError);
    child.once('spawn', () => {
      child.off('error', onError);
      // A later 'error' (a failed kill) must not crash the process as an unhandled event.
      child.on('error', () => undefined);
      resolve(child.pid as number);
    });
  });
  return { child, spawned, exited };
}

function spawnError(command: string, error: NodeJS.ErrnoException): EcomlError {
  if (error.code === 'ENOENT') {
    return new EcomlError('E_FILE_NOT_FOUND', `command not found: ${command} (looked up on PATH; no shell is used)`, { details: { command }, cause: error });
  }
  if (error.code === 'EACCES' || error.code === 'ENOEXEC' || error.code === 'EISDIR') {
    return new EcomlError('E_CONFIG_INVALID', `cannot execute ${command}: ${error.message}`, { details: { command, code: error.code }, cause: error });
  }
  return new EcomlError('E_INTERNAL', `cannot start ${command}: ${error.message}`, { details: { command }, cause: error });
}

/**
 * Sends the signals we receive on to the command while it runs; returns the function that removes the
 * handlers. Holding a handler also keeps us alive through the signal, so we can wait for the command
 * and report.
 */
export function forwardSignals(child: ChildProcess, source: SignalSource, sigintFromTerminal: (childPid: number) => Promise<boolean>): () => void {
  const running = () => child.exitCode === null && child.signalCode === null;
  const listeners = FORWARDED_SIGNALS.map((signal) => {
    const listener = (): void => {
      const pid = child.pid;
      if (pid === undefined || !running()) return;
      if (signal !== 'SIGINT') {
        child.kill(signal);
        return;
      }
      void sigintFromTerminal(pid)
        .catch(() => false)
        .then((already) => {
          if (!already && running()) child.kill(signal);
        });
    };
    source.on(signal, listener);
    return [signal, listener] as const;
  });
  return () => {
    for (const [signal, listener] of listeners) source.off(signal, listener);
  };
}

/**
 * Ctrl-C signals the terminal's whole foreground process group: if we are in it, on a terminal, and the
 * command shares our group, the command got this SIGINT too, and a second one would often cut its
 * clean-up short (Python raises KeyboardInterrupt again inside the handler).
 */
export async function sigintReachedChild(procfs: Procfs, childPid: number, selfPid: number = process.pid): Promise<boolean> {
  const [self, child] = await Promise.all([procfs.readStat(selfPid), procfs.readStat(childPid)]);
  if (self === undefined || child === undefined) return false;
  return self.ttyNr !== 0 && self.tpgid === self.pgrp && child.pgrp === self.pgrp;
}

/** The busy-thread power (and idle power, for a calibration profile) charged when RAPL is missing. */
export function cpuEstimateModel(power: CpuPower, calibration?: StoredProfile): CpuEstimateModel {
  if (calibration === undefined) {
    return {
      idleWatts: 0,
      wattsPerBusyThread: power.tdpWatts / power.logicalCpus,
      model: `tdp-per-core×process-tree-cpu-time (${power.tdpSummary})`,
      errorModel: 'cpu-tdp-estimate',
    };
  }
  const { path, profile } = calibration;
  // A profile taken on a larger host: only this host's share of its idle power (as cpu-estimate does).
  const idleWatts = profile.idleWatts * Math.min(1, power.logicalCpus / profile.logicalCpus);
  const round = (watts: number) => Number(watts.toPrecision(3));
  return {
    idleWatts,
    wattsPerBusyThread: profile.perThreadWatts,
    model: `calibrated:${basename(path)} (${profile.cpuModel}: ${round(idleWatts)} W idle × tree CPU share + ${round(profile.perThreadWatts)} W per busy thread×process-tree-cpu-time, RAPL-calibrated ${profile.createdAt.slice(0, 10)})`,
    errorModel: 'cpu-calibrated-estimate',
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
