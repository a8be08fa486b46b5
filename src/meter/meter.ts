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
import { defaultCalibrationDir, findCalibrationProfile } from './calibration.js';
import { systemClock, type Clock } from './clock.js';
import { embodiedFor, embodiedModel, type EmbodiedModel, type EmbodiedOptions } from './embodied.js';
import { emissionsFor, heatFor, waterFor } from './emissions.js';
import { DEFAULT_SAMPLING_INTERVAL_MS } from './sampling.js';
import type { EnergySource, SourceReading, SourceSample } from './energy-source.js';
import type { CarbonIntensity, CarbonIntensityProvider } from './intensity/carbon-intensity.js';
import { createCountryTableProvider } from './intensity/country-table.js';
import { INTENSITY_PROVIDERS_ENV, resolveIntensityChain } from './intensity/registry.js';
import { type CpuInfo, detectCpu } from './sources/cpu-info.js';
import { createCpuEstimateSource } from './sources/cpu-estimate.js';
import { type CpuPower, loadTdpTable, resolveCpuPower } from './sources/cpu-tdp.js';
import type { NvmlLibrary } from './sources/nvml-library.js';
import { createNvmlSource } from './sources/nvml.js';
import { createRamEstimateSource } from './sources/ram-estimate.js';
import { createRaplSource } from './sources/rapl.js';
import { energyReport, mergeGpuTelemetry, telemetryOfSamples } from './totals.js';
import type { ComponentEnergy, GpuTelemetry, HardwareDescription, Measurement } from './types.js';

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
  /** Water usage effectiveness in L/kWh (0: water not counted). */
  readonly wue: number;
  /** How often sources are sampled: the requested interval, shortened where a source needs it (RAPL wraps). */
  readonly samplingIntervalMs: number;
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
  /** Whole-machine CPU TDP in watts, overriding the table and any calibration profile. */
  readonly tdpWatts?: number;
  /** Where CPU calibration profiles are looked up (calibration.ts); default env ECOML_CALIBRATION_DIR, else ~/.config/ecoml/calibration. */
  readonly calibrationDir?: string;
  /** Country for grid intensity (ISO alpha-3/alpha-2 or name); default env ECOML_COUNTRY, else the world average. */
  readonly country?: string;
  /** Power usage effectiveness ≥ 1; default env ECOML_PUE, else 1.0. */
  readonly pue?: number;
  /** Water usage effectiveness in L per device kWh ≥ 0; default env ECOML_WUE, else 0 (not counted, as in CodeCarbon). */
  readonly wue?: number;
  /** Embodied-emissions figures and the share of the machine reserved (embodied.ts). */
  readonly embodied?: EmbodiedOptions;
  /** Default 1 s; shortened where a source needs it. */
  readonly samplingIntervalMs?: number;
  readonly clock?: Clock;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where grid intensity comes from; default the shipped country table. */
  readonly carbonIntensity?: CarbonIntensityProvider;
}

/** Where grid intensity comes from: a live provider (given, or named by ECOML_INTENSITY), or the shipped table. */
export interface Grid {
  /** Read once at start; stands in whenever a live lookup fails. */
  readonly intensity: CarbonIntensity;
  /** Asked again for each window; absent for the bare table, which never changes. */
  readonly live?: { readonly provider: CarbonIntensityProvider; readonly location?: string };
}

export async function resolveGrid(
  options: { readonly carbonIntensity?: CarbonIntensityProvider; readonly country?: string },
  env: Readonly<Record<string, string | undefined>>,
  clock: Clock,
): Promise<Grid> {
  const location = options.country ?? env.ECOML_COUNTRY;
  const provider = options.carbonIntensity ?? (env[INTENSITY_PROVIDERS_ENV]?.trim() ? resolveIntensityChain({ env, clock }) : undefined);
  const intensity = await (provider ?? createCountryTableProvider()).intensityFor(location);
  return provider ? { intensity, live: { provider, ...(location === undefined ? {} : { location }) } } : { intensity };
}

/** The intensity at `at`: the live provider's (its warnings added to `notes`), else the start value with a note. */
export async function gridIntensityAt(grid: { readonly intensity: CarbonIntensity; readonly live?: Grid['live'] }, at: Date, notes: string[]): Promise<CarbonIntensity> {
  if (grid.live === undefined) return grid.intensity;
  try {
    const found = await grid.live.provider.intensityFor(grid.live.location, at);
    const warnings = 'warnings' in found && Array.isArray(found.warnings) ? (found.warnings as readonly string[]) : [];
    notes.push(...warnings.map((warning) => `intensity: ${warning}`));
    return found;
  } catch (error) {
    notes.push(`intensity: live lookup failed (${(error as Error).message}); used the intensity read when the meter started`);
    return grid.intensity;
  }
}

/** What both meters settle before they start: the grid, the PUE and the CPU's power model. */
export interface MachineSetup {
  readonly grid: Grid;
  readonly pue: number;
  readonly cpu: CpuInfo;
  readonly power: CpuPower;
}

/** Settles MachineSetup from the options, then the environment (ECOML_COUNTRY, ECOML_PUE, ECOML_INTENSITY). */
export async function resolveMachine(
  options: { readonly carbonIntensity?: CarbonIntensityProvider; readonly country?: string; readonly pue?: number; readonly cpuInfoPath?: string; readonly tdpWatts?: number },
  env: Readonly<Record<string, string | undefined>>,
  clock: Clock,
): Promise<MachineSetup> {
  const pue = resolvePue(options.pue, env.ECOML_PUE);
  const grid = await resolveGrid(options, env, clock);
  const [cpu, tdpTable] = await Promise.all([detectCpu(options.cpuInfoPath === undefined ? {} : { cpuInfoPath: options.cpuInfoPath }), loadTdpTable()]);
  return { grid, pue, cpu, power: resolveCpuPower(cpu, tdpTable, options.tdpWatts) };
}

/** The hardware a measurement ran on, as reports describe it. */
export function hardwareOf({ cpu, power }: MachineSetup, gpus: HardwareDescription['gpus']): HardwareDescription {
  return {
    cpuModel: power.cpuModel,
    logicalCpus: power.logicalCpus,
    cpuSockets: cpu.sockets,
    tdpWatts: power.tdpWatts,
    tdpSource: power.tdpSource,
    ramGb: totalmem() / 2 ** 30,
    gpus,
    platform: `${process.platform}-${process.arch}`,
  };
}

/** Builds the default chains for this machine: cpu = RAPL else TDP estimate; gpu = NVML; ram = (RAPL DRAM else) RSS estimate. */
export async function createMeter(options: MeterOptions = {}): Promise<Meter> {
  const env = options.env ?? process.env;
  const clock = options.clock ?? systemClock;
  const samplingIntervalMs = checkSamplingInterval(options.samplingIntervalMs ?? DEFAULT_SAMPLING_INTERVAL_MS);
  const wue = resolveWue(options.wue, env.ECOML_WUE);
  const machine = await resolveMachine(options, env, clock);
  const { cpu, power, grid, pue } = machine;
  const calibration =
    options.tdpWatts === undefined && cpu.model !== undefined
      ? await findCalibrationProfile(cpu.model, options.calibrationDir ?? defaultCalibrationDir(env))
      : { match: undefined, problems: [] };

  const nvml =
    options.nvml === false ? undefined : createNvmlSource({ clock, samplingIntervalMs, ...(options.nvml === undefined ? {} : { library: options.nvml }) });
  // Probe now: the hardware description lists the GPUs found.
  await nvml?.probe();
  const rapl = (include: readonly ('package' | 'dram')[]) => createRaplSource({ include, ...(options.raplRoot === undefined ? {} : { root: options.raplRoot }) });

  return createMeterFromChains({
    chains: [
      { component: 'cpu', sources: [rapl(['package']), createCpuEstimateSource({ power, clock, ...(calibration.match ? { calibration: calibration.match } : {}) })] },
      ...(nvml ? [{ component: 'gpu', sources: [nvml] }] : []),
      { component: 'ram', sources: [...(options.raplDram ? [rapl(['dram'])] : []), createRamEstimateSource({ clock })] },
    ],
    hardware: hardwareOf(machine, nvml?.gpus ?? []),
    intensity: grid.intensity,
    ...(grid.live ? { liveIntensity: grid.live } : {}),
    pue,
    wue,
    ...(options.embodied === undefined ? {} : { embodied: options.embodied }),
    clock,
    samplingIntervalMs,
    notes: [
      ...(options.nvml === false ? ['gpu: NVML disabled by the nvml option; GPU energy is not metered'] : []),
      ...calibration.problems.map((problem) => `cpu: ${problem}`),
    ],
  });
}

export interface MeterFromChainsOptions {
  readonly chains: readonly SourceChain[];
  readonly hardware: HardwareDescription;
  readonly intensity: CarbonIntensity;
  /** Asked for the intensity at each window's midpoint; `intensity` stands in (with a note) when it fails. */
  readonly liveIntensity?: { readonly provider: CarbonIntensityProvider; readonly location?: string };
  readonly pue: number;
  /** L per device kWh; default 0. */
  readonly wue?: number;
  readonly embodied?: EmbodiedOptions;
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
  const requestedIntervalMs = checkSamplingInterval(options.samplingIntervalMs ?? DEFAULT_SAMPLING_INTERVAL_MS);
  const { chains, hardware, intensity, pue } = options;
  const allSources = chains.flatMap((chain) => chain.sources);
  let wue: number;
  let embodied: EmbodiedModel;
  try {
    wue = resolveWue(options.wue, undefined);
    embodied = embodiedModel(hardware, options.embodied);
  } catch (error) {
    // The meter owns its sources, some perhaps already probed (createMeter lists the GPUs first).
    await Promise.all(allSources.map((source) => source.close()));
    throw error;
  }

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

  // A source that would lose energy between sparser samples (a counter wrapping twice) sets the pace.
  const paceSetters = entries.filter((entry) => isOk(entry) && (entry.source.maxSampleIntervalMs ?? Infinity) < requestedIntervalMs);
  const samplingIntervalMs = Math.min(requestedIntervalMs, ...paceSetters.map((entry) => entry.source.maxSampleIntervalMs ?? Infinity));
  const baseNotes = [
    ...(options.notes ?? []),
    ...paceSetters.map(
      (entry) =>
        `${entry.component}: sampled every ${Number(samplingIntervalMs.toPrecision(3))} ms rather than ${requestedIntervalMs} ms so that ${entry.source.name} counters cannot wrap unseen`,
    ),
  ];

  // Every open window keeps the range of the GPU telemetry read while it is open.
  const openTelemetry = new Set<{ telemetry: readonly GpuTelemetry[] }>();
  const record = (sample: SourceSample | void) => {
    if (!sample?.gpuTelemetry?.length) return;
    const telemetry = telemetryOfSamples(sample.gpuTelemetry);
    for (const window of openTelemetry) window.telemetry = mergeGpuTelemetry(window.telemetry, telemetry);
  };

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
          const reading = await entry.source.read();
          readings.set(entry, reading);
          record(reading);
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
          record(await entry.source.sample?.());
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

  interface OpenWindow {
    readonly label: string;
    readonly startedAt: Date;
    readonly startMs: number;
    readonly start: ReadonlyMap<Entry, SourceReading>;
    readonly telemetry: { telemetry: readonly GpuTelemetry[] };
  }

  const endWindow = async ({ label, startedAt, startMs, start, telemetry }: OpenWindow): Promise<Measurement> => {
    if (closing) throw closedError(`window "${label}" was still open`);
    const end = await readAll([...start.keys()].filter(isOk));
    openTelemetry.delete(telemetry);
    const durationS = (clock.monotonicMs() - startMs) / 1000;
    const components: ComponentEnergy[] = [];
    const notes = [...baseNotes, ...statusNotes()];
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
    const energy = energyReport(components);
    const windowIntensity = await intensityAt(new Date(startedAt.getTime() + (durationS * 1000) / 2), notes);
    return {
      label,
      startedAt: startedAt.toISOString(),
      durationS,
      energy,
      emissions: emissionsFor(energy, windowIntensity, pue),
      hardware,
      embodied: embodiedFor(embodied, durationS),
      water: waterFor(energy, wue),
      heat: heatFor(energy),
      ...(telemetry.telemetry.length > 0 ? { gpuTelemetry: telemetry.telemetry } : {}),
      notes: [...new Set(notes)],
    };
  };

  const intensityAt = (at: Date, notes: string[]): Promise<CarbonIntensity> => gridIntensityAt({ intensity, live: options.liveIntensity }, at, notes);

  return {
    hardware,
    intensity,
    pue,
    wue,
    samplingIntervalMs,
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
      const telemetry = { telemetry: [] };
      openTelemetry.add(telemetry);
      const start = await readAll(entries.filter(isOk));
      let ending: Promise<Measurement> | undefined;
      return { label, end: () => (ending ??= endWindow({ label, startedAt, startMs, start, telemetry })) };
    },
    sample: () => (closing ? Promise.resolve() : sampleAll()),
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        openTelemetry.clear();
        await inFlight;
        // Failed sources were closed when they failed.
        await Promise.all(entries.filter((entry) => entry.health.state !== 'failed').map((entry) => entry.source.close()));
      })();
      return closing;
    },
  };
}

/**
 * A window's energy from a source's readings at its two edges. Bounds are differenced like the energy,
 * then widened if need be so that rounding in the two subtractions never puts joules outside them.
 */
function windowComponents(start: SourceReading, end: SourceReading): { components: ComponentEnergy[]; notes: string[] } {
  const before = new Map(start.components.map((c) => [c.name, c]));
  const components: ComponentEnergy[] = [];
  const notes = [...(end.notes ?? [])];
  for (const component of end.components) {
    const atStart = before.get(component.name);
    if (atStart === undefined) {
      notes.push(`${component.name} appeared mid-window and is left out`);
      continue;
    }
    const joules = component.joules - atStart.joules;
    components.push({
      ...component,
      joules,
      low: Math.min(joules, component.low - atStart.low),
      high: Math.max(joules, component.high - atStart.high),
    });
  }
  return { components, notes };
}

function checkSamplingInterval(ms: number): number {
  if (Number.isFinite(ms) && ms > 0) return ms;
  throw new EcomlError('E_CONFIG_INVALID', `samplingIntervalMs must be a positive number of milliseconds, got ${ms}`, { details: { samplingIntervalMs: ms } });
}

/** WUE (L/kWh) from the option, else ECOML_WUE, else 0; it must be a number ≥ 0. */
export function resolveWue(option: number | undefined, envValue: string | undefined): number {
  const fromEnv = envValue?.trim() ? Number(envValue) : undefined;
  const wue = option ?? fromEnv ?? 0;
  if (!(Number.isFinite(wue) && wue >= 0)) {
    const origin = option === undefined ? `ECOML_WUE="${envValue}"` : `wue ${option}`;
    throw new EcomlError('E_CONFIG_INVALID', `${origin} is not a valid WUE: it must be litres per kWh ≥ 0 (0 = on-site water not counted)`, {
      details: { wue: option ?? envValue },
    });
  }
  return wue;
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
