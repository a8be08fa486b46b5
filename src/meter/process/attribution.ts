/**
 * Attributing machine energy to one process tree, pure: Scaphandre's and Kepler's rule.
 *
 * - CPU package (RAPL, measured): per poll interval, energy × the tree's CPU share, where share =
 *   tree CPU-time Δ / machine active CPU-time Δ (active = all CPUs' time less idle and iowait),
 *   clamped to [0, 1]. Taking the share per interval, not over the whole run, keeps a tree that was
 *   busy while the machine was otherwise quiet from being charged for other work done later.
 * - RAM, measured (RAPL DRAM): the same CPU share, as Scaphandre does (host power = package + DRAM,
 *   split by CPU time): DRAM energy follows memory traffic, which the CPU work drives, while a
 *   resident-memory share would charge a process that merely holds memory for others' traffic.
 * - CPU, estimated (no RAPL): the tree's own CPU seconds × the power of one busy thread (TDP per
 *   logical CPU, or a calibration profile's per-thread watts). This is the estimate of the tree itself,
 *   so no share applies to it (an estimate of ecoml's own process times a share would measure the
 *   wrong process). A calibrated profile's idle power stands in for RAPL's idle part, and like it is
 *   split by the per-interval CPU share.
 * - RAM, estimated: 0.375 W per GiB of the tree's resident memory, integrated over the polls; i.e.
 *   the installed RAM's estimated power × the tree's RSS share of it.
 * - GPU: per interval, energy × the tree's SM share (its processes' summed SM utilisation over all
 *   processes'); intervals in which no process used the SMs (idle draw) are split by the run's overall
 *   SM share. Where no per-process utilisation exists, the whole GPU is counted and a note says so.
 *
 * Methods carry over (a measured counter stays 'measured'); the model names the rule applied. Bounds
 * are the sources' own, put through the same shares: the share's own uncertainty (tick granularity) is
 * small next to them and is not added.
 * @module
 */

import { withBounds, type ErrorModelName } from '../bounds.js';
import type { ComponentEnergy, Method } from '../types.js';
import type { GpuSmTotals } from './gpu-share.js';

export type ComponentKind = 'cpu' | 'ram' | 'gpu';

/** A machine-wide component that was read at every snapshot. */
export interface MachineComponent {
  /** 'cpu:package-0', 'ram:dram-0', 'gpu:0'… */
  readonly name: string;
  readonly kind: ComponentKind;
  readonly method: Method;
  readonly model: string;
}

/** Cumulative figures at one poll; the first snapshot is the baseline taken before the command started. */
export interface AttributionSnapshot {
  readonly atMs: number;
  readonly treeCpuSeconds: number;
  readonly machineActiveCpuSeconds: number;
  readonly treeRssBytes: number;
  /** Cumulative energy (with its bounds) per machine component name. */
  readonly energy: Readonly<Record<string, CumulativeEnergy>>;
  /** Cumulative SM sums per GPU component name, for GPUs whose split is possible. */
  readonly gpuSm: Readonly<Record<string, GpuSmTotals>>;
}

export interface CumulativeEnergy {
  readonly joules: number;
  readonly low: number;
  readonly high: number;
}

/** The CPU power model used when no CPU component was measured: idle + per busy thread. */
export interface CpuEstimateModel {
  /** Package idle power (0 for the TDP split, which charges busy time only). */
  readonly idleWatts: number;
  readonly wattsPerBusyThread: number;
  /** e.g. 'tdp-per-core×process-tree-cpu-time (Xeon …, 165 W TDP / 32 threads)'. */
  readonly model: string;
  readonly errorModel: Extract<ErrorModelName, 'cpu-tdp-estimate' | 'cpu-calibrated-estimate'>;
}

export interface AttributionInput {
  readonly snapshots: readonly AttributionSnapshot[];
  readonly components: readonly MachineComponent[];
  /** Used when no CPU component was measured. */
  readonly cpuEstimate: CpuEstimateModel;
  /** Used when no RAM component was measured. */
  readonly ramWattsPerGib: number;
  /** GPU component name → why no per-process split is possible; a GPU not named here is split by SM share. */
  readonly gpuNoSplit: Readonly<Record<string, string>>;
  /** For the model text. */
  readonly intervalMs: number;
}

export interface Attribution {
  readonly components: readonly ComponentEnergy[];
  /** The tree's CPU share over the whole run (for reports; energy uses the per-interval shares). */
  readonly cpuShare: number;
  readonly treeCpuSeconds: number;
  readonly machineActiveCpuSeconds: number;
  /** Per GPU component: the share of its energy attributed, or null where the whole GPU was counted. */
  readonly gpuShares: Readonly<Record<string, number | null>>;
  /** Per machine component: its whole energy over the run, before attribution. */
  readonly machineJoules: Readonly<Record<string, number>>;
  readonly notes: readonly string[];
}

const BYTES_PER_GIB = 2 ** 30;

const clamp01 = (x: number): number => (x > 1 ? 1 : x > 0 ? x : 0);

/**
 * The tree's share of the machine's CPU over one interval, in [0, 1]. Per-process times and /proc/stat
 * are counted separately (and in ticks), so over a short interval the tree can appear to exceed the
 * machine: that is clamped to 1. An interval in which the machine reports no activity yields 0 unless
 * the tree reports some.
 */
export function cpuShare(treeCpuSeconds: number, machineActiveCpuSeconds: number): number {
  if (!(machineActiveCpuSeconds > 0)) return treeCpuSeconds > 0 ? 1 : 0;
  return clamp01(treeCpuSeconds / machineActiveCpuSeconds);
}

/**
 * Per-interval GPU shares from SM sums: tree/total where some process used the SMs; where none did,
 * the run's overall share (0 if no process ever used them).
 */
export function gpuIntervalShares(treeSm: readonly number[], totalSm: readonly number[]): number[] {
  const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + Math.max(0, b), 0);
  const total = sum(totalSm);
  const overall = total > 0 ? clamp01(sum(treeSm) / total) : 0;
  return totalSm.map((t, i) => (t > 0 ? clamp01((treeSm[i] ?? 0) / t) : overall));
}

/** Σ energy_i × share_i; negative energy deltas (which no counter should produce) count as zero. */
export function attributeEnergy(energyDeltas: readonly number[], shares: readonly number[]): number {
  return energyDeltas.reduce((sum, e, i) => sum + Math.max(0, e) * clamp01(shares[i] ?? 0), 0);
}

/** Differences between consecutive cumulative values. */
function deltas(values: readonly number[]): number[] {
  return values.slice(1).map((v, i) => v - (values[i] as number));
}

/** Σ of per-interval energy × share, for the figure and each bound; the bounds still contain the figure. */
function attributeBounded(series: readonly CumulativeEnergy[], shares: readonly number[]): CumulativeEnergy {
  const joules = attributeEnergy(deltas(series.map((e) => e.joules)), shares);
  const low = attributeEnergy(deltas(series.map((e) => e.low)), shares);
  const high = attributeEnergy(deltas(series.map((e) => e.high)), shares);
  return { joules, low: Math.min(low, joules), high: Math.max(high, joules) };
}

export function attribute(input: AttributionInput): Attribution {
  const { snapshots, components, intervalMs } = input;
  const first = snapshots[0];
  const last = snapshots[snapshots.length - 1];
  if (first === undefined || last === undefined) throw new RangeError('attribution needs at least one snapshot');

  const treeDeltas = deltas(snapshots.map((s) => s.treeCpuSeconds));
  const activeDeltas = deltas(snapshots.map((s) => s.machineActiveCpuSeconds));
  const cpuShares = treeDeltas.map((t, i) => cpuShare(t, activeDeltas[i] as number));
  const ones = treeDeltas.map(() => 1);
  const treeCpuSeconds = Math.max(0, last.treeCpuSeconds - first.treeCpuSeconds);
  const machineActiveCpuSeconds = Math.max(0, last.machineActiveCpuSeconds - first.machineActiveCpuSeconds);
  const rule = `per ${intervalMs} ms poll`;

  const out: ComponentEnergy[] = [];
  const notes: string[] = [];
  const gpuShares: Record<string, number | null> = {};
  const machineJoules: Record<string, number> = {};
  const seriesOf = (name: string): CumulativeEnergy[] => snapshots.map((s) => s.energy[name] ?? { joules: 0, low: 0, high: 0 });
  const emit = (component: MachineComponent, energy: CumulativeEnergy, model: string): void => {
    out.push({ name: component.name, joules: energy.joules, low: energy.low, high: energy.high, method: component.method, model });
  };

  for (const component of components) {
    const series = seriesOf(component.name);
    const whole = attributeBounded(series, ones);
    machineJoules[component.name] = whole.joules;
    if (component.kind === 'cpu' || component.kind === 'ram') {
      emit(
        component,
        attributeBounded(series, cpuShares),
        `${component.model} × process-tree CPU share (tree CPU-time Δ / machine active CPU-time Δ ${rule}; Scaphandre/Kepler)`,
      );
      continue;
    }
    const noSplit = input.gpuNoSplit[component.name];
    const sm = snapshots.map((s) => s.gpuSm[component.name] ?? { treeSm: 0, totalSm: 0, invisibleSm: 0 });
    const lastSm = sm[sm.length - 1] as GpuSmTotals;
    const firstSm = sm[0] as GpuSmTotals;
    const runTotal = lastSm.totalSm - firstSm.totalSm;
    const runTree = lastSm.treeSm - firstSm.treeSm;
    // All activity from PIDs we cannot see means another PID namespace, not an idle tree.
    const hidden = runTree <= 0 && runTotal > 0 && lastSm.invisibleSm - firstSm.invisibleSm >= runTotal;
    if (noSplit !== undefined || hidden) {
      gpuShares[component.name] = null;
      notes.push(
        noSplit !== undefined
          ? `${component.name}: no per-process GPU utilisation (${noSplit}); the whole GPU's energy is counted`
          : `${component.name}: the driver reports GPU work only by PIDs not visible here (a container's PID namespace?); no per-process split was possible and the whole GPU's energy is counted`,
      );
      emit(component, whole, `${component.model}, whole GPU (no per-process split)`);
      continue;
    }
    const shares = gpuIntervalShares(deltas(sm.map((s) => s.treeSm)), deltas(sm.map((s) => s.totalSm)));
    const attributed = attributeBounded(series, shares);
    gpuShares[component.name] = whole.joules > 0 ? attributed.joules / whole.joules : runTotal > 0 ? clamp01(runTree / runTotal) : 0;
    if (runTotal <= 0 && whole.joules > 0) notes.push(`${component.name}: no process used its SMs during the run; none of its energy is attributed to the command`);
    emit(
      component,
      attributed,
      `${component.model} × process-tree SM share (tree SM-utilisation Σ / all processes' ${rule}; idle polls by the run's share; Kepler)`,
    );
  }

  if (!components.some((c) => c.kind === 'cpu')) {
    const { idleWatts, wattsPerBusyThread, model, errorModel } = input.cpuEstimate;
    // Idle power is the machine's, so it is shared like RAPL's; busy power is the tree's own.
    const seconds = deltas(snapshots.map((s) => s.atMs)).map((ms) => Math.max(0, ms) / 1000);
    const idleJoules = idleWatts > 0 ? attributeEnergy(seconds.map((s) => s * idleWatts), cpuShares) : 0;
    out.unshift(withBounds({ name: 'cpu', joules: idleJoules + treeCpuSeconds * wattsPerBusyThread, method: 'estimated', model }, errorModel));
  }
  if (!components.some((c) => c.kind === 'ram')) {
    let gibSeconds = 0;
    for (let i = 1; i < snapshots.length; i++) {
      const a = snapshots[i - 1] as AttributionSnapshot;
      const b = snapshots[i] as AttributionSnapshot;
      gibSeconds += (((a.treeRssBytes + b.treeRssBytes) / 2) * Math.max(0, b.atMs - a.atMs)) / 1000 / BYTES_PER_GIB;
    }
    out.push(
      withBounds(
        {
          name: 'ram',
          joules: gibSeconds * input.ramWattsPerGib,
          method: 'estimated',
          model: `${input.ramWattsPerGib} W/GiB×process-tree-rss, sampled every ${intervalMs} ms and trapezoid-integrated (CodeCarbon v2 / Eco2AI: 3 W per 8 GB)`,
        },
        'ram-estimate',
      ),
    );
  }

  return {
    components: out,
    cpuShare: cpuShare(treeCpuSeconds, machineActiveCpuSeconds),
    treeCpuSeconds,
    machineActiveCpuSeconds,
    gpuShares,
    machineJoules,
    notes,
  };
}
