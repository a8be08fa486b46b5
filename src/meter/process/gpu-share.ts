/**
 * How much of each GPU's streaming-multiprocessor activity belonged to the process tree, from the
 * driver's per-process utilisation samples (NVML nvmlDeviceGetProcessUtilization; Kepler and
 * experiment-impact-tracker split GPU power the same way).
 *
 * Every sample the driver buffers carries one process's SM % at one instant, and the driver samples
 * all processes at the same rate, so the tree's share is the sum of its samples' SM % over the sum of
 * everyone's. PIDs are matched against every PID the tree has had, so a process that exited still
 * counts for the samples it left.
 *
 * Containers: NVML reports host PIDs, which a container's PID namespace does not show. When all the
 * activity comes from PIDs that are neither in the tree nor in our /proc, the split is unusable and
 * is reported as such rather than as zero.
 * @module
 */

/** The fields of NVML's per-process sample we use (an NvmlProcessUtilization fits as it is). */
export interface GpuProcessSample {
  readonly pid: number;
  /** The driver's CPU timestamp of the sample, in microseconds. */
  readonly timestampUs: number;
  /** Percent of the driver's sampling period the SMs ran this process's kernels. */
  readonly smPercent: number;
}

/** NvmlResult's shape, so an NVML call can be returned as it is. */
export type UtilizationResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** Per-process GPU utilisation, by GPU index (the index NVML and the nvml energy source use). */
export interface GpuProcessUtilization {
  /**
   * nvmlDeviceGetProcessUtilization: the samples the driver has buffered after `sinceTimestampUs`
   * (0: all it holds). NVML_ERROR_NOT_FOUND (no process has a sample) must come back as an empty
   * list; any other failure (e.g. Not Supported) as an error.
   */
  processUtilization(gpuIndex: number, sinceTimestampUs: number): UtilizationResult<readonly GpuProcessSample[]>;
}

/** Sums of SM % over samples since tracking started. */
export interface GpuSmTotals {
  readonly treeSm: number;
  readonly totalSm: number;
  /** SM % of PIDs that are neither the tree's nor visible in our /proc (another PID namespace). */
  readonly invisibleSm: number;
}

export type GpuSmState = { readonly available: true; readonly totals: GpuSmTotals } | { readonly available: false; readonly reason: string };

export interface GpuShareTracker {
  readonly gpuIndices: readonly number[];
  /** Reads the samples buffered since the last poll and returns the cumulative totals per GPU index. */
  poll(treePids: ReadonlySet<number>): Promise<ReadonlyMap<number, GpuSmState>>;
}

interface GpuEntry {
  readonly index: number;
  lastSeenUs: number;
  state: { available: true; totals: { treeSm: number; totalSm: number; invisibleSm: number } } | { available: false; reason: string };
}

/**
 * Opens tracking: the samples already buffered are skipped (they predate the command), so create it
 * before spawning. `isVisible` says whether a PID exists in our procfs.
 */
export function createGpuShareTracker(
  reader: GpuProcessUtilization,
  gpuIndices: readonly number[],
  isVisible: (pid: number) => Promise<boolean>,
): GpuShareTracker {
  const entries: GpuEntry[] = gpuIndices.map((index) => {
    const baseline = reader.processUtilization(index, 0);
    if (!baseline.ok) return { index, lastSeenUs: 0, state: { available: false, reason: baseline.error } };
    return { index, lastSeenUs: latest(baseline.value, 0), state: { available: true, totals: { treeSm: 0, totalSm: 0, invisibleSm: 0 } } };
  });

  return {
    gpuIndices,
    async poll(treePids) {
      const visible = new Map<number, boolean>();
      const visibleCached = async (pid: number): Promise<boolean> => {
        let known = visible.get(pid);
        if (known === undefined) {
          known = await isVisible(pid);
          visible.set(pid, known);
        }
        return known;
      };
      for (const entry of entries) {
        const { state } = entry;
        if (!state.available) continue;
        const result = reader.processUtilization(entry.index, entry.lastSeenUs);
        if (!result.ok) {
          // A split that stops part-way cannot be completed: the whole GPU is counted instead.
          entry.state = { available: false, reason: `per-process utilisation failed during the run: ${result.error}` };
          continue;
        }
        for (const sample of result.value) {
          if (sample.timestampUs <= entry.lastSeenUs || !(sample.smPercent > 0)) continue;
          state.totals.totalSm += sample.smPercent;
          if (treePids.has(sample.pid)) state.totals.treeSm += sample.smPercent;
          else if (!(await visibleCached(sample.pid))) state.totals.invisibleSm += sample.smPercent;
        }
        entry.lastSeenUs = latest(result.value, entry.lastSeenUs);
      }
      return new Map(
        entries.map((entry): [number, GpuSmState] => [
          entry.index,
          entry.state.available ? { available: true, totals: { ...entry.state.totals } } : { available: false, reason: entry.state.reason },
        ]),
      );
    },
  };
}

function latest(samples: readonly GpuProcessSample[], floor: number): number {
  return samples.reduce((max, sample) => Math.max(max, sample.timestampUs), floor);
}
