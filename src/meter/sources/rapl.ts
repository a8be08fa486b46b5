/**
 * CPU package (and optionally DRAM) energy from Linux powercap RAPL counters: measured, not modelled.
 *
 * Only top-level `intel-rapl:N` zones named `package-N` are counted; their `core`/`uncore` subzones are
 * parts of the package and would double count (CodeCarbon does the same). `psys` and `intel-rapl-mmio`
 * zones are ignored for the same reason. DRAM subzones are separate energy and are opt-in.
 *
 * Counters wrap at `max_energy_range_uj`. Every sample() folds the change since the previous raw value
 * into a running total, so a window spanning several wraps is counted correctly as long as samples are
 * closer together than one wrap period (Zeus polls the same way). The source tells the meter how often
 * that is (maxSampleIntervalMs): half the time the smallest counter takes to wrap at RAPL_MAX_DOMAIN_WATTS,
 * over two minutes for the usual 262 kJ range, so the 1 s default sampling is never tightened on Intel.
 * @module
 */

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EcomlError } from '../../errors.js';
import { withBounds, type ErrorModelName } from '../bounds.js';
import type { EnergySource } from '../energy-source.js';
import { createSourceLifecycle } from './source-lifecycle.js';

export const DEFAULT_POWERCAP_ROOT = '/sys/class/powercap';
/** The most power one RAPL domain is assumed to draw: twice the largest package TDPs sold today (500 W). */
export const RAPL_MAX_DOMAIN_WATTS = 1000;

export type RaplDomainKind = 'package' | 'dram';

export interface RaplOptions {
  /** The powercap class directory, where every zone is listed flat. */
  readonly root?: string;
  /** Which zones to count: packages by default; 'dram' adds (or, alone, selects) the DRAM subzones. */
  readonly include?: readonly RaplDomainKind[];
  /** File-reading seam (tests simulate permission errors through it). */
  readonly readText?: (path: string) => Promise<string>;
}

/**
 * Energy added between two raw counter values, allowing for one wrap at `maxRangeMicrojoules`.
 * Inputs are raw `energy_uj` values in [0, maxRange).
 */
export function counterDeltaMicrojoules(previous: number, next: number, maxRangeMicrojoules: number): number {
  return next >= previous ? next - previous : next + maxRangeMicrojoules - previous;
}

interface RaplDomain {
  readonly component: string;
  readonly model: string;
  readonly errorModel: ErrorModelName;
  readonly energyPath: string;
  readonly maxRangeMicrojoules: number;
  lastRawMicrojoules: number;
  totalMicrojoules: number;
}

type Discovery = { readonly domains: readonly RaplDomain[] } | { readonly reason: string };

const PACKAGE_ZONE = /^intel-rapl:(\d+)$/;
const SUB_ZONE = /^intel-rapl:\d+:\d+$/;

export function createRaplSource(options: RaplOptions = {}): EnergySource {
  const root = options.root ?? DEFAULT_POWERCAP_ROOT;
  const include = new Set(options.include ?? ['package']);
  const readText = options.readText ?? ((path: string) => readFile(path, 'utf8'));
  const name = include.has('package') ? 'rapl' : 'rapl-dram';

  const readChecked = async (path: string): Promise<string> => {
    try {
      return await readText(path);
    } catch (error) {
      throw new EcomlError('E_METER_UNAVAILABLE', describeReadError(path, error), { details: { path }, cause: error });
    }
  };

  const readMicrojoules = async (path: string): Promise<number> => {
    const text = await readChecked(path);
    const value = Number(text.trim());
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new EcomlError('E_DATA_MALFORMED', `${path} holds "${text.trim()}", not a counter in microjoules`, { details: { path } });
    }
    return value;
  };

  const openDomain = async (dir: string, component: string, model: string, errorModel: ErrorModelName): Promise<RaplDomain> => {
    const energyPath = join(dir, 'energy_uj');
    const maxRangeMicrojoules = await readMicrojoules(join(dir, 'max_energy_range_uj'));
    const raw = await readMicrojoules(energyPath);
    return { component, model, errorModel, energyPath, maxRangeMicrojoules, lastRawMicrojoules: raw, totalMicrojoules: 0 };
  };

  const discover = async (): Promise<Discovery> => {
    let zones: string[];
    try {
      zones = await readdir(root);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') return { reason: describeReadError(root, error) };
      return { reason: `no powercap sysfs at ${root}: RAPL is not exposed here, as is usual in VMs, most containers and on non-x86 CPUs` };
    }
    const domains: RaplDomain[] = [];
    for (const zone of zones.sort()) {
      if (!PACKAGE_ZONE.test(zone)) continue;
      const dir = join(root, zone);
      const zoneName = (await readChecked(join(dir, 'name'))).trim();
      const pkg = /^package-(\d+)$/.exec(zoneName);
      if (!pkg) continue;
      if (include.has('package')) domains.push(await openDomain(dir, `cpu:${zoneName}`, `rapl:${zoneName}`, 'rapl-package'));
      if (include.has('dram')) {
        for (const sub of (await readdir(dir)).filter((entry) => SUB_ZONE.test(entry)).sort()) {
          const subDir = join(dir, sub);
          if ((await readChecked(join(subDir, 'name'))).trim() !== 'dram') continue;
          domains.push(await openDomain(subDir, `ram:dram-${pkg[1]}`, `rapl:${zoneName}/dram`, 'rapl-dram'));
        }
      }
    }
    if (domains.length === 0) return { reason: `no RAPL ${[...include].join('/')} zones under ${root}` };
    return { domains };
  };

  let maxSampleIntervalMs: number | undefined;
  const lifecycle = createSourceLifecycle(name, async () => {
    const found = await discover();
    if ('reason' in found) return { available: false, reason: found.reason };
    const smallestRangeJoules = Math.min(...found.domains.map((d) => d.maxRangeMicrojoules / 1e6));
    // At most one wrap between samples, with a factor of two to spare for timer jitter.
    maxSampleIntervalMs = ((smallestRangeJoules / RAPL_MAX_DOMAIN_WATTS) * 1000) / 2;
    return { available: true, state: found.domains };
  });

  // Reads are async, so two overlapping updates could apply raw values out of order and fake a wrap:
  // every update goes through one queue.
  let queue: Promise<unknown> = Promise.resolve();
  const serially = <T>(task: () => Promise<T>): Promise<T> => {
    const run = queue.then(task);
    queue = run.catch(() => undefined);
    return run;
  };

  const update = async (domains: readonly RaplDomain[]): Promise<void> => {
    const raws = await Promise.all(domains.map((domain) => readMicrojoules(domain.energyPath)));
    domains.forEach((domain, i) => {
      const raw = raws[i] as number;
      domain.totalMicrojoules += counterDeltaMicrojoules(domain.lastRawMicrojoules, raw, domain.maxRangeMicrojoules);
      domain.lastRawMicrojoules = raw;
    });
  };

  return {
    name,
    get maxSampleIntervalMs() {
      return maxSampleIntervalMs;
    },
    probe: () => lifecycle.probe(),
    sample: () => serially(async () => update(await lifecycle.opened())),
    read: () =>
      serially(async () => {
        const domains = await lifecycle.opened();
        await update(domains);
        return {
          components: domains.map((d) =>
            withBounds({ name: d.component, joules: d.totalMicrojoules / 1e6, method: 'measured', model: d.model }, d.errorModel),
          ),
        };
      }),
    close: () => lifecycle.close(),
  };
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

function describeReadError(path: string, error: unknown): string {
  const code = errorCode(error);
  if (code === 'EACCES' || code === 'EPERM') {
    return `permission denied reading ${path}: since Linux 5.10 energy_uj is readable by root only (CVE-2020-8694); run as root or grant read access to the energy_uj files (e.g. a udev rule or chmod a+r)`;
  }
  if (code === 'ENOENT') return `${path} does not exist`;
  return `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`;
}
