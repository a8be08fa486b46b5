import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  attribute,
  attributeEnergy,
  cpuShare,
  gpuIntervalShares,
  type AttributionInput,
  type AttributionSnapshot,
  type CpuEstimateModel,
  type MachineComponent,
} from '../../src/meter/process/attribution.js';

const TDP_SPLIT: CpuEstimateModel = { idleWatts: 0, wattsPerBusyThread: 5, model: 'tdp-per-core×process-tree-cpu-time (test)', errorModel: 'cpu-tdp-estimate' };
const RAPL: MachineComponent = { name: 'cpu:package-0', kind: 'cpu', method: 'measured', model: 'rapl:package-0' };
const DRAM: MachineComponent = { name: 'ram:dram-0', kind: 'ram', method: 'measured', model: 'rapl:package-0/dram' };
const GPU: MachineComponent = { name: 'gpu:0', kind: 'gpu', method: 'measured', model: 'nvml:total-energy-counter (H200)' };

/** One poll interval: machine energy per component, the machine's and one or more trees' CPU seconds and SM sums. */
interface Interval {
  readonly ms: number;
  readonly active: number;
  readonly trees: readonly number[];
  readonly joules: Readonly<Record<string, number>>;
  readonly totalSm: number;
  readonly treeSm: readonly number[];
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** Cumulative snapshots for tree `t`, with ±5% bounds on every machine counter. */
function snapshotsFor(intervals: readonly Interval[], t: number, rss = 0): AttributionSnapshot[] {
  const acc = { ms: 0, tree: 0, active: 0, joules: {} as Record<string, number>, treeSm: 0, totalSm: 0 };
  const snap = (): AttributionSnapshot => ({
    atMs: acc.ms,
    treeCpuSeconds: acc.tree,
    machineActiveCpuSeconds: acc.active,
    treeRssBytes: rss,
    energy: Object.fromEntries(Object.entries(acc.joules).map(([name, j]) => [name, { joules: j, low: j * 0.95, high: j * 1.05 }])),
    gpuSm: { 'gpu:0': { treeSm: acc.treeSm, totalSm: acc.totalSm, invisibleSm: 0 } },
  });
  for (const name of [RAPL.name, DRAM.name, GPU.name]) acc.joules[name] = 0;
  const out = [snap()];
  for (const i of intervals) {
    acc.ms += i.ms;
    acc.tree += i.trees[t] ?? 0;
    acc.active += i.active;
    for (const [name, j] of Object.entries(i.joules)) acc.joules[name] = (acc.joules[name] ?? 0) + j;
    acc.treeSm += i.treeSm[t] ?? 0;
    acc.totalSm += i.totalSm;
    out.push(snap());
  }
  return out;
}

function input(intervals: readonly Interval[], t: number, components: readonly MachineComponent[], extra: Partial<AttributionInput> = {}): AttributionInput {
  return {
    snapshots: snapshotsFor(intervals, t),
    components,
    cpuEstimate: TDP_SPLIT,
    ramWattsPerGib: 0.375,
    gpuNoSplit: {},
    intervalMs: 500,
    ...extra,
  };
}

/** Intervals in which two disjoint trees together never use more CPU (or SM) than the machine reports. */
const intervalsArb = fc.array(
  fc
    .record({
      ms: fc.integer({ min: 1, max: 2000 }),
      // CPU time as /proc counts it: whole clock ticks (1/100 s), so sums never lose an interval to rounding.
      activeTicks: fc.integer({ min: 0, max: 6400 }),
      split: fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
      cpuJ: fc.double({ min: 0, max: 1e4, noNaN: true }),
      dramJ: fc.double({ min: 0, max: 1e3, noNaN: true }),
      gpuJ: fc.double({ min: 0, max: 1e4, noNaN: true }),
      totalSm: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 800, noNaN: true })),
      smSplit: fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
    })
    .map(({ ms, activeTicks, split, cpuJ, dramJ, gpuJ, totalSm, smSplit }): Interval => {
      const [a, b] = split;
      const treeA = Math.floor(activeTicks * a);
      const treeB = Math.floor((activeTicks - treeA) * b);
      const active = activeTicks / 100;
      const [sa, sb] = smSplit;
      return {
        ms,
        active,
        // treeA + treeB ≤ activeTicks: the two trees' CPU fits in the machine's.
        trees: [treeA / 100, treeB / 100],
        joules: { [RAPL.name]: cpuJ, [DRAM.name]: dramJ, [GPU.name]: gpuJ },
        totalSm,
        treeSm: [totalSm * sa, totalSm * sb * (1 - sa)],
      };
    }),
  { minLength: 0, maxLength: 12 },
);

const TOLERANCE = 1e-9;

describe('attribution primitives', () => {
  it('cpuShare is always in [0, 1]', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true }), fc.double({ noNaN: true }), (tree, active) => {
        const share = cpuShare(tree, active);
        expect(share).toBeGreaterThanOrEqual(0);
        expect(share).toBeLessThanOrEqual(1);
      }),
    );
    expect(cpuShare(1, 4)).toBe(0.25);
    expect(cpuShare(5, 4)).toBe(1);
    expect(cpuShare(0, 0)).toBe(0);
  });

  it('GPU interval shares are in [0, 1] and idle intervals take the run’s share', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.double({ min: 0, max: 100, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }))), (pairs) => {
        const total = pairs.map(([t]) => t);
        const tree = pairs.map(([t, f]) => t * f);
        for (const share of gpuIntervalShares(tree, total)) {
          expect(share).toBeGreaterThanOrEqual(0);
          expect(share).toBeLessThanOrEqual(1);
        }
      }),
    );
    expect(gpuIntervalShares([30, 0, 10], [60, 0, 40])).toEqual([0.5, 0.4, 0.25]);
    expect(gpuIntervalShares([0], [0])).toEqual([0]);
  });

  it('attributed energy never exceeds the energy it is taken from', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.double({ min: -10, max: 1e6, noNaN: true }), fc.double({ noNaN: true }))), (pairs) => {
        const energy = pairs.map(([e]) => e);
        expect(attributeEnergy(energy, pairs.map(([, s]) => s))).toBeLessThanOrEqual(sum(energy.map((e) => Math.max(0, e))) * (1 + TOLERANCE));
      }),
    );
  });
});

describe('attribute (Scaphandre/Kepler rule)', () => {
  it('properties: attributed ≤ machine per component, bounds hold, and two disjoint trees together ≤ machine', () => {
    fc.assert(
      fc.property(intervalsArb, (intervals) => {
        const components = [RAPL, DRAM, GPU];
        const a = attribute(input(intervals, 0, components));
        const b = attribute(input(intervals, 1, components));
        expect(a.cpuShare).toBeGreaterThanOrEqual(0);
        expect(a.cpuShare).toBeLessThanOrEqual(1);
        for (const c of components) {
          const machine = a.machineJoules[c.name] as number;
          const ofA = a.components.find((x) => x.name === c.name);
          const ofB = b.components.find((x) => x.name === c.name);
          if (!ofA || !ofB) throw new Error(`${c.name} missing`);
          expect(ofA.joules).toBeLessThanOrEqual(machine * (1 + TOLERANCE) + TOLERANCE);
          expect(ofA.joules + ofB.joules).toBeLessThanOrEqual(machine * (1 + TOLERANCE) + TOLERANCE);
          expect(ofA.low).toBeLessThanOrEqual(ofA.joules);
          expect(ofA.high).toBeGreaterThanOrEqual(ofA.joules);
          expect(ofA.method).toBe('measured');
        }
      }),
    );
  });

  it('splits each interval by that interval’s share, not the run’s', () => {
    // Busy alone while the machine idled (100 J, all ours), then quiet while others worked (300 J, 1/10 ours).
    const intervals: Interval[] = [
      { ms: 1000, active: 1, trees: [1], joules: { [RAPL.name]: 100 }, totalSm: 0, treeSm: [] },
      { ms: 1000, active: 10, trees: [1], joules: { [RAPL.name]: 300 }, totalSm: 0, treeSm: [] },
    ];
    const result = attribute(input(intervals, 0, [RAPL]));
    expect(result.components[0]).toMatchObject({ name: 'cpu:package-0', method: 'measured' });
    expect(result.components[0]?.joules).toBeCloseTo(130);
    expect(result.components[0]?.model).toMatch(/^rapl:package-0 × process-tree CPU share/);
    expect(result.cpuShare).toBeCloseTo(2 / 11);
    expect(result.machineJoules['cpu:package-0']).toBeCloseTo(400);
  });

  it('without RAPL, estimates CPU from the tree’s own CPU seconds, with no share applied', () => {
    const intervals: Interval[] = [{ ms: 1000, active: 8, trees: [2], joules: {}, totalSm: 0, treeSm: [] }];
    const [cpu, ram] = attribute(input(intervals, 0, [])).components;
    expect(cpu).toMatchObject({ name: 'cpu', method: 'estimated', joules: 10, model: 'tdp-per-core×process-tree-cpu-time (test)' });
    expect(cpu?.low).toBeCloseTo(3);
    expect(cpu?.high).toBeCloseTo(20);
    expect(ram).toMatchObject({ name: 'ram', method: 'estimated', joules: 0 });
  });

  it('a calibrated estimate charges idle power by CPU share and busy power by the tree’s seconds', () => {
    const model: CpuEstimateModel = { idleWatts: 40, wattsPerBusyThread: 10, model: 'calibrated', errorModel: 'cpu-calibrated-estimate' };
    const intervals: Interval[] = [
      { ms: 1000, active: 4, trees: [1], joules: {}, totalSm: 0, treeSm: [] },
      { ms: 1000, active: 2, trees: [2], joules: {}, totalSm: 0, treeSm: [] },
    ];
    const cpu = attribute(input(intervals, 0, [], { cpuEstimate: model })).components[0];
    expect(cpu?.joules).toBeCloseTo(40 * 0.25 + 40 * 1 + 10 * 3);
  });

  it('estimates RAM from the tree’s RSS, trapezoid-integrated', () => {
    const snapshots: AttributionSnapshot[] = [0, 2 ** 30, 2 ** 31].map((rss, i) => ({
      atMs: i * 1000,
      treeCpuSeconds: 0,
      machineActiveCpuSeconds: 0,
      treeRssBytes: rss,
      energy: {},
      gpuSm: {},
    }));
    const ram = attribute({ snapshots, components: [], cpuEstimate: TDP_SPLIT, ramWattsPerGib: 0.375, gpuNoSplit: {}, intervalMs: 1000 }).components.find(
      (c) => c.name === 'ram',
    );
    expect(ram?.joules).toBeCloseTo(0.375 * (0.5 + 1.5));
    expect(ram?.model).toMatch(/process-tree-rss/);
  });

  it('measured DRAM takes the CPU share', () => {
    const intervals: Interval[] = [{ ms: 1000, active: 4, trees: [1], joules: { [DRAM.name]: 20 }, totalSm: 0, treeSm: [] }];
    const ram = attribute(input(intervals, 0, [DRAM])).components.find((c) => c.name === 'ram:dram-0');
    expect(ram?.joules).toBeCloseTo(5);
    expect(attribute(input(intervals, 0, [DRAM])).components.some((c) => c.name === 'ram')).toBe(false);
  });

  it('splits a GPU by SM share, idle intervals by the run’s share', () => {
    const intervals: Interval[] = [
      { ms: 500, active: 1, trees: [0], joules: { [GPU.name]: 200 }, totalSm: 100, treeSm: [75] },
      { ms: 500, active: 1, trees: [0], joules: { [GPU.name]: 50 }, totalSm: 0, treeSm: [0] },
      { ms: 500, active: 1, trees: [0], joules: { [GPU.name]: 200 }, totalSm: 100, treeSm: [25] },
    ];
    const result = attribute(input(intervals, 0, [GPU]));
    const gpu = result.components.find((c) => c.name === 'gpu:0');
    expect(gpu?.joules).toBeCloseTo(150 + 25 + 50);
    expect(gpu?.model).toMatch(/× process-tree SM share/);
    expect(result.gpuShares['gpu:0']).toBeCloseTo(225 / 450);
  });

  it('counts the whole GPU, with a note, where no per-process split is possible', () => {
    const intervals: Interval[] = [{ ms: 500, active: 1, trees: [0], joules: { [GPU.name]: 200 }, totalSm: 0, treeSm: [] }];
    const result = attribute(input(intervals, 0, [GPU], { gpuNoSplit: { 'gpu:0': 'Not Supported' } }));
    expect(result.components.find((c) => c.name === 'gpu:0')).toMatchObject({ joules: 200, method: 'measured', model: 'nvml:total-energy-counter (H200), whole GPU (no per-process split)' });
    expect(result.gpuShares['gpu:0']).toBeNull();
    expect(result.notes).toContain("gpu:0: no per-process GPU utilisation (Not Supported); the whole GPU's energy is counted");
  });

  it('treats work seen only from PIDs invisible here as a PID namespace, not as an idle tree', () => {
    const snapshots = snapshotsFor([{ ms: 500, active: 1, trees: [0], joules: { [GPU.name]: 200 }, totalSm: 90, treeSm: [0] }], 0).map((s, i) => ({
      ...s,
      gpuSm: { 'gpu:0': { treeSm: 0, totalSm: i * 90, invisibleSm: i * 90 } },
    }));
    const result = attribute({ snapshots, components: [GPU], cpuEstimate: TDP_SPLIT, ramWattsPerGib: 0.375, gpuNoSplit: {}, intervalMs: 500 });
    expect(result.components.find((c) => c.name === 'gpu:0')?.joules).toBe(200);
    expect(result.notes.join('\n')).toMatch(/PID namespace/);
  });

  it('a single baseline snapshot attributes nothing', () => {
    const result = attribute(input([], 0, [RAPL, GPU]));
    expect(result.components.map((c) => c.joules)).toEqual([0, 0, 0]);
    expect(result.treeCpuSeconds).toBe(0);
  });
});
