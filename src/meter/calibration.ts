/**
 * CPU power calibration: where RAPL can be read, measure the package power at idle and with busy loops
 * on N threads, and keep the result as a profile per CPU model. Where RAPL cannot be read later (a VM
 * or container on the same CPU model, a user without root), the CPU estimate uses the matching profile
 * instead of the TDP split: power = idle share + per-thread active power × busy threads.
 *
 * Profiles are JSON files in a directory: `ECOML_CALIBRATION_DIR`, else
 * `$XDG_CONFIG_HOME/ecoml/calibration` (`~/.config/ecoml/calibration`). They match on the normalised CPU
 * model string (the TDP table's normalisation), the newest winning.
 * @module
 */

import { readdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { EcomlError } from '../errors.js';
import { ensureDirectory, fsError } from '../util/fs.js';
import { systemClock, type Clock } from './clock.js';
import { DEFAULT_SAMPLING_INTERVAL_MS } from './sampling.js';
import type { CpuInfo } from './sources/cpu-info.js';
import { normaliseCpuModel } from './sources/cpu-tdp.js';
import { createRaplSource, type RaplOptions } from './sources/rapl.js';

export interface CalibrationProfile {
  readonly version: 1;
  readonly cpuModel: string;
  /** What profiles are matched on: normaliseCpuModel(cpuModel). */
  readonly normalisedCpuModel: string;
  readonly logicalCpus: number;
  /** Threads kept busy for loadedWatts. */
  readonly loadedThreads: number;
  /** Package power (all RAPL packages) with the machine idle, as far as this process can tell. */
  readonly idleWatts: number;
  readonly loadedWatts: number;
  /** (loadedWatts − idleWatts) / loadedThreads: what one busy thread adds. */
  readonly perThreadWatts: number;
  readonly idleSeconds: number;
  readonly loadSeconds: number;
  /** The RAPL components summed, e.g. ['cpu:package-0', 'cpu:package-1']. */
  readonly domains: readonly string[];
  readonly createdAt: string;
}

/** A profile and the file it was read from or written to. */
export interface StoredProfile {
  readonly path: string;
  readonly profile: CalibrationProfile;
}

export const DEFAULT_IDLE_SECONDS = 5;
export const DEFAULT_LOAD_SECONDS = 5;
/** Busy threads run this long before the loaded window opens, so start-up and clock ramp-up stay outside it. */
export const BUSY_WARMUP_MS = 500;

export function defaultCalibrationDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  if (env.ECOML_CALIBRATION_DIR?.trim()) return env.ECOML_CALIBRATION_DIR;
  return join(env.XDG_CONFIG_HOME?.trim() ? env.XDG_CONFIG_HOME : join(homedir(), '.config'), 'ecoml', 'calibration');
}

/** Keeps `threads` threads busy until stopped. */
export interface BusyLoad {
  stop(): Promise<void>;
}

/** Busy loops on worker threads, resolved once every thread runs. */
export async function startBusyThreads(threads: number): Promise<BusyLoad> {
  const workers = Array.from({ length: threads }, () => new Worker('for (;;) {}', { eval: true }));
  await Promise.all(workers.map((worker) => new Promise<void>((resolve, reject) => worker.once('online', resolve).once('error', reject))));
  return {
    async stop() {
      await Promise.all(workers.map((worker) => worker.terminate()));
    },
  };
}

export interface CalibrateOptions extends Pick<RaplOptions, 'readText'> {
  /** The CPU being calibrated (detectCpu()). */
  readonly cpu: CpuInfo;
  /** The powercap sysfs directory (default /sys/class/powercap). */
  readonly raplRoot?: string;
  readonly idleSeconds?: number;
  readonly loadSeconds?: number;
  /** Busy threads for the loaded phase; default every logical CPU. */
  readonly threads?: number;
  readonly clock?: Clock;
  /** Seams for tests: waiting, and the busy load. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly startBusy?: (threads: number) => Promise<BusyLoad>;
  /** Told what is being measured, as each phase starts. */
  readonly onProgress?: (message: string) => void;
  /** Stops the calibration (E_INTERRUPTED) within one sampling step, releasing the busy threads. */
  readonly signal?: AbortSignal;
}

export type CalibrationOutcome = { readonly available: true; readonly profile: CalibrationProfile } | { readonly available: false; readonly reason: string };

/**
 * Measures idle and loaded package power through RAPL. Unavailable (with RAPL's reason) where RAPL
 * cannot be read; throws E_METER_UNAVAILABLE when load does not raise the power above idle.
 */
export async function calibrateCpu(options: CalibrateOptions): Promise<CalibrationOutcome> {
  const { cpu } = options;
  const clock = options.clock ?? systemClock;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const startBusy = options.startBusy ?? startBusyThreads;
  const idleSeconds = positive('idleSeconds', options.idleSeconds ?? DEFAULT_IDLE_SECONDS);
  const loadSeconds = positive('loadSeconds', options.loadSeconds ?? DEFAULT_LOAD_SECONDS);
  const threads = options.threads ?? cpu.logicalCpus;
  if (!(Number.isInteger(threads) && threads >= 1 && threads <= cpu.logicalCpus)) {
    throw new EcomlError('E_CONFIG_INVALID', `threads must be an integer from 1 to ${cpu.logicalCpus} (the logical CPUs here), got ${threads}`, { details: { threads } });
  }

  const rapl = createRaplSource({
    include: ['package'],
    ...(options.raplRoot === undefined ? {} : { root: options.raplRoot }),
    ...(options.readText === undefined ? {} : { readText: options.readText }),
  });
  try {
    const probe = await rapl.probe();
    if (!probe.available) return { available: false, reason: probe.reason };
    const stepMs = Math.min(DEFAULT_SAMPLING_INTERVAL_MS, rapl.maxSampleIntervalMs ?? Infinity);
    const packageJoules = async () => {
      const { components } = await rapl.read();
      return { joules: components.reduce((sum, c) => sum + c.joules, 0), domains: components.map((c) => c.name) };
    };
    // Samples throughout, so counter wraps inside a phase are all counted.
    const averageWatts = async (seconds: number): Promise<number> => {
      const start = await packageJoules();
      const startMs = clock.monotonicMs();
      for (let elapsed = 0; elapsed < seconds * 1000; elapsed = clock.monotonicMs() - startMs) {
        await sleep(Math.min(stepMs, seconds * 1000 - elapsed));
        if (options.signal?.aborted) throw new EcomlError('E_INTERRUPTED', 'calibration interrupted');
        await rapl.sample?.();
      }
      const end = await packageJoules();
      return (end.joules - start.joules) / ((clock.monotonicMs() - startMs) / 1000);
    };

    const { domains } = await packageJoules();
    options.onProgress?.(`measuring idle package power for ${idleSeconds} s (${domains.join(', ')}); leave the machine alone`);
    const idleWatts = await averageWatts(idleSeconds);
    options.onProgress?.(`measuring package power with ${threads} busy thread${threads === 1 ? '' : 's'} for ${loadSeconds} s`);
    const load = await startBusy(threads);
    let loadedWatts: number;
    try {
      await sleep(BUSY_WARMUP_MS);
      loadedWatts = await averageWatts(loadSeconds);
    } finally {
      await load.stop();
    }
    if (!(loadedWatts > idleWatts)) {
      throw new EcomlError(
        'E_METER_UNAVAILABLE',
        `calibration failed: package power with ${threads} busy threads (${loadedWatts.toFixed(1)} W) was not above idle (${idleWatts.toFixed(1)} W); other work may have been running during the idle phase, or the counters are not updating`,
        { details: { idleWatts, loadedWatts, threads } },
      );
    }
    const cpuModel = cpu.model ?? 'unknown';
    return {
      available: true,
      profile: {
        version: 1,
        cpuModel,
        normalisedCpuModel: normaliseCpuModel(cpuModel),
        logicalCpus: cpu.logicalCpus,
        loadedThreads: threads,
        idleWatts,
        loadedWatts,
        perThreadWatts: (loadedWatts - idleWatts) / threads,
        idleSeconds,
        loadSeconds,
        domains,
        createdAt: clock.wallTime().toISOString(),
      },
    };
  } finally {
    await rapl.close();
  }
}

function positive(name: string, value: number): number {
  if (Number.isFinite(value) && value > 0) return value;
  throw new EcomlError('E_CONFIG_INVALID', `${name} must be a positive number of seconds, got ${value}`, { details: { [name]: value } });
}

/** The file a profile is kept in: one per normalised CPU model. */
export function calibrationProfilePath(dir: string, profile: Pick<CalibrationProfile, 'normalisedCpuModel'>): string {
  const slug = profile.normalisedCpuModel.replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return join(dir, `${slug || 'unknown-cpu'}.json`);
}

/** Writes the profile into dir (created if need be), replacing the one for the same CPU model; returns its path. */
export async function saveCalibrationProfile(profile: CalibrationProfile, dir: string): Promise<string> {
  const path = calibrationProfilePath(dir, profile);
  const what = `calibration profile ${path}`;
  ensureDirectory(dir, what);
  try {
    await writeFile(path, `${JSON.stringify(profile, null, 2)}\n`);
  } catch (error) {
    throw fsError(error, what, path, 'write');
  }
  return path;
}

/** Every profile in dir, and why any file there could not be used. A missing dir holds no profiles. */
export async function loadCalibrationProfiles(dir: string): Promise<{ readonly profiles: readonly StoredProfile[]; readonly problems: readonly string[] }> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { profiles: [], problems: [] };
    return { profiles: [], problems: [`calibration profiles in ${dir} cannot be listed: ${(error as Error).message}`] };
  }
  const profiles: StoredProfile[] = [];
  const problems: string[] = [];
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    const path = join(dir, name);
    try {
      profiles.push({ path, profile: parseProfile(JSON.parse(await readFile(path, 'utf8'))) });
    } catch (error) {
      problems.push(`calibration profile ${path} ignored: ${(error as Error).message}`);
    }
  }
  return { profiles, problems };
}

/** The newest profile for this CPU model, if any, and why any profile file could not be read. */
export async function findCalibrationProfile(
  cpuModel: string | undefined,
  dir: string,
): Promise<{ readonly match: StoredProfile | undefined; readonly problems: readonly string[] }> {
  const { profiles, problems } = await loadCalibrationProfiles(dir);
  const wanted = cpuModel === undefined ? undefined : normaliseCpuModel(cpuModel);
  const match = profiles
    .filter((p) => p.profile.normalisedCpuModel === wanted)
    .sort((a, b) => Date.parse(b.profile.createdAt) - Date.parse(a.profile.createdAt))[0];
  return { match, problems };
}

function parseProfile(value: unknown): CalibrationProfile {
  const p = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const fault = (why: string) => new Error(`not a calibration profile: ${why}`);
  if (p.version !== 1) throw fault(`version ${JSON.stringify(p.version)}, expected 1`);
  for (const key of ['cpuModel', 'normalisedCpuModel', 'createdAt'] as const) if (typeof p[key] !== 'string') throw fault(`${key} is not a string`);
  for (const key of ['logicalCpus', 'loadedThreads', 'idleWatts', 'loadedWatts', 'perThreadWatts', 'idleSeconds', 'loadSeconds'] as const) {
    const n = p[key];
    if (!(typeof n === 'number' && Number.isFinite(n) && n >= 0)) throw fault(`${key} is not a number ≥ 0`);
  }
  if (!(Array.isArray(p.domains) && p.domains.every((d) => typeof d === 'string'))) throw fault('domains is not a list of names');
  if (Number.isNaN(Date.parse(p.createdAt as string))) throw fault('createdAt is not a date');
  return p as unknown as CalibrationProfile;
}
