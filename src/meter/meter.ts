/**
 * The composer: ordered fallback chains of energy sources per component, a background sampler, and
 * windows that read every usable source at their own edges.
 *
 * Every available source in a chain is read at each window edge, not just the first: if the active
 * source fails mid-window, the next one already has a reading from the window's start and covers the
 * whole window. A failed source is reported in the notes and skipped from then on; no window ever
 * counts a source that could not be read as zero.
 * @module
 */

import { totalmem } from 'node:os';
import { EcomlError } from '../errors.js';
import { systemClock, type Clock } from './clock.js';
import { emissionsFor, joulesToKwh } from './emissions.js';
import { DEFAULT_SAMPLING_INTERVAL_MS } from './sampling.js';
import type { EnergySource, SourceReading } from './energy-source.js';
import type { CarbonIntensity, CarbonIntensityProvider } from './intensity/carbon-intensity.js';
import { createCountryTableProvider } from './intensity/country-table.js';
import { detectCpu } from './sources/cpu-info.js';
import { createCpuEstimateSource } from './sources/cpu-estimate.js';
import { loadTdpTable, resolveCpuPower } from './sources/cpu-tdp.js';
import type { NvmlLibrary } from './sources/nvml-library.js';
import { createNvmlSource } from './sources/nvml.js';
import { createRamEstimateSource } from './sources/ram-estimate.js';
import { createRaplSource } from './sources/rapl.js';
import type { ComponentEnergy, HardwareDescription, Measurement } from './types.js';

/** The fallback order for one component: the first source that can be read wins. */
export interface SourceChain {
  readonly component: string;
  readonly sources: readonly EnergySource[];
}

export type SourceState = 'active' | 'standby' | 'unavailable' | 'failed';

export interface SourceStatus {
  readonly component: string;
  readonly source: string;
  /** active: feeds the component; standby: read as a fallback; unavailable: failed its probe; failed: threw while running. */
  readonly state: SourceState;
  readonly reason?: string;
}

export interface MeterWindow {
  readonly label: string;
  /** Reads the counters again and returns the window's energy; calling it twice returns the same result. */
  end(): Promise<Measurement>;
}

export interface Meter {
  readonly hardware: HardwareDescription;
  readonly intensity: CarbonIntensity;
  readonly pue: number;
  /** A snapshot of every source and its state. */
  readonly sources: readonly SourceStatus[];
  /** Opens a window; windows may overlap and nest. */
  begin(label: string): Promise<MeterWindow>;
  /** Samples the sources that need polling now (the background sampler does this periodically). */
  sample(): Promise<void>;
  /** Stops sampling and closes every source; idempotent. Windows still open can no longer end. */
  close(): Promise<void>;
}

export interface MeterOptions {
  /** The powercap sysfs directory (default /sys/class/powercap). */
  readonly raplRoot?: string;
  /** Count RAPL DRAM zones as measured RAM energy, ahead of the RSS estimate. Off by default, as in CodeCarbon. */
  readonly raplDram?: boolean;
  /** An NVML library to use, or false to leave GPUs out; by default libnvidia-ml is loaded through koffi. */
  readonly nvml?: NvmlLibrary | false;
  readonly cpuInfoPath?: string;
  /** Whole-machine CPU TDP in watts, overriding the table. */
  readonly tdpWatts?: number;
  /** Country for grid intensity (ISO alpha-3/alpha-2 or name); default env ECOML_COUNTRY, else the world average. */
  readonly country?: string;
  /** Power usage effectiveness ≥ 1; default env ECOML_PUE, else 1.0. */
  readonly pue?: number;
  readonly samplingIntervalMs?: number;
  readonly clock?: Clock;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where grid intensity comes from; default the shipped country table. */
  readonly carbonIntensity?: CarbonIntensityProvider;
}

/** Builds the default chains for this machine: cpu = RAPL else TDP estimate; gpu = NVML; ram = (RAPL DRAM else) RSS estimate. */
export async function createMeter(options: MeterOptions = {}): Promise<Meter> {
  const env = options.env ?? process.env;
  const clock = options.clock ?? systemClock;
  const samplingIntervalMs = checkSamplingInterval(options.samplingIntervalMs ?? DEFAULT_SAMPLING_INTERVAL_MS);
  const pue = resolvePue(options.pue, env.ECOML_PUE);
  const intensity = await (options.carbonIntensity ?? createCountryTableProvider()).intensityFor(options.country ?? env.ECOML_COUNTRY);
  const [cpu, tdpTable] = await Promise.all([detectCpu(options.cpuInfoPath === undefined ? {} : { cpuInfoPath: options.cpuInfoPath }), loadTdpTable()]);
  const power = resolveCpuPower(cpu, tdpTable, options.tdpWatts);

  const nvml =
    options.nvml === false ? undefined : createNvmlSource({ clock, samplingIntervalMs, ...(options.nvml === undefined ? {} : { library: options.nvml }) });
  // Probe now: the hardware description lists the GPUs found.
  await nvml?.probe();
  const rapl = (include: readonly ('package' | 'dram')[]) => createRaplSource({ include, ...(options.raplRoot === undefined ? {} : { root: options.raplRoot }) });

  return createMeterFromChains({
    chains: [
      { component: 'cpu', sources: [rapl(['package']), createCpuEstimateSource({ power })] },
      ...(nvml ? [{ component: 'gpu', sources: [nvml] }] : []),
      { component: 'ram', sources: [...(options.raplDram ? [rapl(['dram'])] : []), createRamEstimateSource({ clock })] },
    ],
    hardware: {
      cpuModel: power.cpuModel,
      logicalCpus: power.logicalCpus,
      tdpWatts: power.tdpWatts,
      tdpSource: power.tdpSource,
      ramGb: totalmem() / 2 ** 30,
      gpus: nvml?.gpus ?? [],
      platform: `${process.platform}-${process.arch}`,
    },
    intensity,
    pue,
    clock,
    samplingIntervalMs,
    notes: options.nvml === false ? ['gpu: NVML disabled by the nvml option; GPU energy is not metered'] : [],
  });
}

export interface MeterFromChainsOptions {
  readonly chains: readonly SourceChain[];
  readonly hardware: HardwareDescription;
  readonly intensity: CarbonIntensity;
  readonly pue: number;
  readonly clock?: Clock;
  readonly samplingIntervalMs?: number;
  /** Notes to carry on every measurement. */
  readonly notes?: readonly string[];
}

interface Entry {
  readonly component: string;
  readonly source: EnergySource;
  health: { readonly state: 'ok' } | { readonly state: 'unavailable' | 'failed'; readonly reason: string };
}

/** Composes a meter from explicit chains (custom sources, tests). Throws E_METER_UNAVAILABLE if no source at all can be read. */
export async function createMeterFromChains(options: MeterFromChainsOptions): Promise<Meter> {
  const clock = options.clock ?? systemClock;
  const samplingIntervalMs = checkSamplingInterval(options.samplingIntervalMs ?? DEFAULT_SAMPLING_INTERVAL_MS);
  const { chains, hardware, intensity, pue } = options;

  const entries: Entry[] = await Promise.all(
    chains.flatMap((chain) =>
      chain.sources.map(async (source): Promise<Entry> => {
        const probe = await source.probe();
        return { component: chain.component, source, health: probe.available ? { state: 'ok' } : { state: 'unavailable', reason: probe.reason } };
      }),
    ),
  );
  const isOk = (entry: Entry) => entry.health.state === 'ok';
  if (!entries.some(isOk)) {
    await Promise.all(entries.map((entry) => entry.source.close()));
    const reasons = entries.map((entry) => `${entry.source.name}: ${entry.health.state === 'ok' ? 'ok' : entry.health.reason}`);
    throw new EcomlError('E_METER_UNAVAILABLE', `no energy source can be read (${reasons.join('; ')})`, { details: { reasons } });
  }

  const fail = (entry: Entry, error: unknown): void => {
    if (!isOk(entry)) return;
    entry.health = { state: 'failed', reason: error instanceof Error ? error.message : String(error) };
    // The failure is what gets reported; an error while releasing the broken source adds nothing.
    void entry.source.close().catch(() => undefined);
  };

  const readAll = async (list: readonly Entry[]): Promise<Map<Entry, SourceReading>> => {
    const readings = new Map<Entry, SourceReading>();
    await Promise.all(
      list.map(async (entry) => {
        try {
          readings.set(entry, await entry.source.read());
        } catch (error) {
          fail(entry, error);
        }
      }),
    );
    return readings;
  };

  const sampleAll = async (): Promise<void> => {
    await Promise.all(
      entries.filter(isOk).map(async (entry) => {
        try {
          await entry.source.sample?.();
        } catch (error) {
          fail(entry, error);
        }
      }),
    );
  };

  const statusNotes = (): string[] =>
    entries.flatMap((entry) => (entry.health.state === 'ok' ? [] : [`${entry.component}: ${entry.source.name} ${entry.health.state}: ${entry.health.reason}`]));

  let inFlight: Promise<void> | undefined;
  const timer = setInterval(() => {
    // A slow sample must not pile up behind itself.
    inFlight ??= sampleAll().finally(() => {
      inFlight = undefined;
    });
  }, samplingIntervalMs);
  timer.unref();

  let closing: Promise<void> | undefined;
  const closedError = (what: string) => new EcomlError('E_METER_UNAVAILABLE', `the meter is closed: ${what}`);

  const endWindow = async (label: string, startedAt: Date, startMs: number, start: ReadonlyMap<Entry, SourceReading>): Promise<Measurement> => {
    if (closing) throw closedError(`window "${label}" was still open`);
    const end = await readAll([...start.keys()].filter(isOk));
    const durationS = (clock.monotonicMs() - startMs) / 1000;
    const components: ComponentEnergy[] = [];
    const notes = [...(options.notes ?? []), ...statusNotes()];
    for (const chain of chains) {
      const inChain = entries.filter((entry) => entry.component === chain.component);
      const activeAtStart = inChain.find((entry) => start.has(entry));
      const chosen = inChain.find((entry) => start.has(entry) && end.has(entry));
      if (activeAtStart === undefined) continue;
      if (chosen === undefined) {
        notes.push(`${chain.component}: no source could be read across this window; component omitted`);
        continue;
      }
      if (chosen !== activeAtStart) notes.push(`${chain.component}: ${chosen.source.name} stood in for ${activeAtStart.source.name} in this window`);
      const diff = windowComponents(start.get(chosen) as SourceReading, end.get(chosen) as SourceReading);
      components.push(...diff.components);
      notes.push(...diff.notes.map((note) => `${chain.component}: ${note}`));
    }
    if (components.length === 0) {
      throw new EcomlError('E_METER_UNAVAILABLE', `no energy source could be read across window "${label}"`, { details: { label, notes } });
    }
    const joules = components.reduce((sum, c) => sum + c.joules, 0);
    return {
      label,
      startedAt: startedAt.toISOString(),
      durationS,
      energy: { joules, kwh: joulesToKwh(joules), components },
      emissions: emissionsFor(joules, intensity, pue),
      hardware,
      notes: [...new Set(notes)],
    };
  };

  return {
    hardware,
    intensity,
    pue,
    get sources() {
      return entries.map((entry): SourceStatus => {
        if (entry.health.state !== 'ok') return { component: entry.component, source: entry.source.name, state: entry.health.state, reason: entry.health.reason };
        const first = entries.find((other) => other.component === entry.component && isOk(other));
        return { component: entry.component, source: entry.source.name, state: first === entry ? 'active' : 'standby' };
      });
    },
    async begin(label) {
      if (closing) throw closedError(`cannot begin window "${label}"`);
      const startedAt = clock.wallTime();
      const startMs = clock.monotonicMs();
      const start = await readAll(entries.filter(isOk));
      let ending: Promise<Measurement> | undefined;
      return { label, end: () => (ending ??= endWindow(label, startedAt, startMs, start)) };
    },
    sample: () => (closing ? Promise.resolve() : sampleAll()),
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        await inFlight;
        // Failed sources were closed when they failed.
        await Promise.all(entries.filter((entry) => entry.health.state !== 'failed').map((entry) => entry.source.close()));
      })();
      return closing;
    },
  };
}

/** A window's energy from a source's readings at its two edges. */
function windowComponents(start: SourceReading, end: SourceReading): { components: ComponentEnergy[]; notes: string[] } {
  const before = new Map(start.components.map((c) => [c.name, c.joules]));
  const components: ComponentEnergy[] = [];
  const notes = [...(end.notes ?? [])];
  for (const component of end.components) {
    const startJoules = before.get(component.name);
    if (startJoules === undefined) notes.push(`${component.name} appeared mid-window and is left out`);
    else components.push({ ...component, joules: component.joules - startJoules });
  }
  return { components, notes };
}

function checkSamplingInterval(ms: number): number {
  if (Number.isFinite(ms) && ms > 0) return ms;
  throw new EcomlError('E_CONFIG_INVALID', `samplingIntervalMs must be a positive number of milliseconds, got ${ms}`, { details: { samplingIntervalMs: ms } });
}

/** PUE from the option, else ECOML_PUE, else 1.0; it must be a number ≥ 1 (facility energy never undercuts device energy). */
export function resolvePue(option: number | undefined, envValue: string | undefined): number {
  const fromEnv = envValue?.trim() ? Number(envValue) : undefined;
  const pue = option ?? fromEnv ?? 1;
  if (!(Number.isFinite(pue) && pue >= 1)) {
    const origin = option === undefined ? `ECOML_PUE="${envValue}"` : `pue ${option}`;
    throw new EcomlError('E_CONFIG_INVALID', `${origin} is not a valid PUE: it must be a number ≥ 1 (1.0 = no facility overhead; 1.58 = the 2023 industry average per Uptime Institute)`, {
      details: { pue: option ?? envValue },
    });
  }
  return pue;
}
