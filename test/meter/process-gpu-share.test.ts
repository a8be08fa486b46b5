import { describe, expect, it } from 'vitest';
import { createGpuShareTracker, type GpuProcessSample, type GpuProcessUtilization, type GpuSmState } from '../../src/meter/process/gpu-share.js';

/** A driver buffer per GPU that the test fills; calls return the samples newer than `since`. */
function fakeDriver(failing: Record<number, string> = {}) {
  const buffers = new Map<number, GpuProcessSample[]>();
  const calls: { index: number; since: number }[] = [];
  const reader: GpuProcessUtilization = {
    processUtilization(index, since) {
      calls.push({ index, since });
      const failure = failing[index];
      if (failure !== undefined) return { ok: false, error: failure };
      return { ok: true, value: (buffers.get(index) ?? []).filter((s) => s.timestampUs > since) };
    },
  };
  return {
    reader,
    calls,
    push(index: number, ...samples: GpuProcessSample[]) {
      buffers.set(index, [...(buffers.get(index) ?? []), ...samples]);
    },
    fail(index: number, why: string) {
      failing[index] = why;
    },
  };
}

const visible = (pids: number[]) => async (pid: number) => pids.includes(pid);
const totals = (state: GpuSmState | undefined) => (state?.available ? state.totals : state);

describe('GPU SM share tracker', () => {
  it('skips what the driver buffered before the start, then sums tree and total SM per GPU', async () => {
    const driver = fakeDriver();
    driver.push(0, { pid: 10, timestampUs: 1000, smPercent: 90 });
    const tracker = createGpuShareTracker(driver.reader, [0, 1], visible([10, 11]));
    driver.push(0, { pid: 200, timestampUs: 2000, smPercent: 60 }, { pid: 10, timestampUs: 2000, smPercent: 20 });
    driver.push(1, { pid: 201, timestampUs: 2100, smPercent: 30 });
    const first = await tracker.poll(new Set([200, 201]));
    expect(totals(first.get(0))).toEqual({ treeSm: 60, totalSm: 80, invisibleSm: 0 });
    expect(totals(first.get(1))).toEqual({ treeSm: 30, totalSm: 30, invisibleSm: 0 });
    // The next call asks only for newer samples, and a sample is never counted twice.
    driver.push(0, { pid: 200, timestampUs: 3000, smPercent: 10 });
    const second = await tracker.poll(new Set([200, 201]));
    expect(totals(second.get(0))).toEqual({ treeSm: 70, totalSm: 90, invisibleSm: 0 });
    expect(driver.calls.filter((c) => c.index === 0).map((c) => c.since)).toEqual([0, 1000, 2000]);
  });

  it('matches samples of tree processes that have exited', async () => {
    const driver = fakeDriver();
    const tracker = createGpuShareTracker(driver.reader, [0], visible([]));
    driver.push(0, { pid: 200, timestampUs: 5, smPercent: 40 });
    expect(totals((await tracker.poll(new Set([200]))).get(0))).toEqual({ treeSm: 40, totalSm: 40, invisibleSm: 0 });
  });

  it('counts SM of PIDs that are neither the tree’s nor visible here as invisible', async () => {
    const driver = fakeDriver();
    const tracker = createGpuShareTracker(driver.reader, [0], visible([10]));
    driver.push(0, { pid: 99999, timestampUs: 5, smPercent: 70 }, { pid: 10, timestampUs: 5, smPercent: 10 });
    expect(totals((await tracker.poll(new Set([200]))).get(0))).toEqual({ treeSm: 0, totalSm: 80, invisibleSm: 70 });
  });

  it('reports a GPU without per-process utilisation, from the start or from a failure mid-run', async () => {
    const driver = fakeDriver({ 1: 'nvmlDeviceGetProcessUtilization: Not Supported (NVML return code 3)' });
    const tracker = createGpuShareTracker(driver.reader, [0, 1], visible([]));
    expect((await tracker.poll(new Set())).get(1)).toEqual({ available: false, reason: 'nvmlDeviceGetProcessUtilization: Not Supported (NVML return code 3)' });
    driver.fail(0, 'GPU is lost');
    const state = (await tracker.poll(new Set())).get(0);
    expect(state?.available).toBe(false);
    expect(state?.available === false && state.reason).toMatch(/failed during the run: GPU is lost/);
  });
});
