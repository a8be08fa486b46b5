/**
 * `ecoml meter calibrate`: measure this CPU's idle and loaded package power through RAPL and keep it as
 * a profile, which the CPU estimate then uses wherever RAPL cannot be read on the same CPU model. Where
 * RAPL cannot be read here, it says why and what the CPU estimate rests on instead, and exits 0.
 * @module
 */
import { resolve } from 'node:path';
import {
  calibrateCpu,
  DEFAULT_IDLE_SECONDS,
  DEFAULT_LOAD_SECONDS,
  defaultCalibrationDir,
  findCalibrationProfile,
  saveCalibrationProfile,
  type CalibrateOptions,
} from '../../meter/calibration.js';
import { detectCpu } from '../../meter/sources/cpu-info.js';
import { loadTdpTable, resolveCpuPower } from '../../meter/sources/cpu-tdp.js';
import { checkOutputDirectory } from '../../util/fs.js';
import { numberOption, stringOption } from '../args.js';
import { defineCommand, type Command } from '../command.js';

/** What the CPU estimate rests on where RAPL cannot be read. */
export type EstimateBasisJson =
  | { readonly basis: 'calibration-profile'; readonly profile_path: string; readonly description: string }
  | { readonly basis: 'tdp-table' | 'tdp-default'; readonly tdp_watts: number; readonly tdp_source: string; readonly description: string };

export type MeterCalibrateResult =
  | {
      readonly status: 'calibrated';
      readonly profile_path: string;
      readonly cpu_model: string;
      readonly logical_cpus: number;
      readonly threads: number;
      readonly idle_watts: number;
      readonly loaded_watts: number;
      readonly per_thread_watts: number;
      readonly idle_seconds: number;
      readonly load_seconds: number;
      readonly domains: readonly string[];
      readonly created_at: string;
    }
  | {
      readonly status: 'no-rapl';
      readonly reason: string;
      readonly cpu_model: string;
      readonly logical_cpus: number;
      readonly estimate: EstimateBasisJson;
    };

/** Seams for tests: the measurement's clock, waits and load, the RAPL files and /proc/cpuinfo. */
export interface MeterCalibrateDeps extends Pick<CalibrateOptions, 'clock' | 'sleep' | 'startBusy' | 'readText'> {
  readonly cpuInfoPath?: string;
}

export function meterCalibrateCommand(deps: MeterCalibrateDeps = {}): Command<MeterCalibrateResult> {
  return defineCommand<MeterCalibrateResult>({
    name: 'meter calibrate',
    summary: 'Measure this CPU’s idle and loaded power through RAPL and save it as a profile for the CPU estimate.',
    usage: 'ecoml meter calibrate [--idle-seconds S] [--load-seconds S] [--threads N] [--dir DIR] [--powercap DIR]',
    description:
      'Reads RAPL package power with the machine idle, then with busy loops on N threads, and saves idle W, loaded W and W per busy thread for this CPU model. Where RAPL cannot be read (VMs, containers, no root), the meter then estimates CPU power from the profile instead of the TDP. Without RAPL here, it explains what the estimate rests on.',
    options: {
      'idle-seconds': { type: 'string', valueName: 'S', description: `seconds to measure idle power (default ${DEFAULT_IDLE_SECONDS})` },
      'load-seconds': { type: 'string', valueName: 'S', description: `seconds to measure loaded power (default ${DEFAULT_LOAD_SECONDS})` },
      threads: { type: 'string', valueName: 'N', description: 'busy threads for the loaded phase (default: every logical CPU)' },
      dir: { type: 'string', valueName: 'DIR', description: 'profiles directory (default $ECOML_CALIBRATION_DIR, else ~/.config/ecoml/calibration)' },
      powercap: { type: 'string', valueName: 'DIR', description: 'powercap sysfs directory (default /sys/class/powercap)' },
    },
    async run({ values }, ctx) {
      const idleSeconds = numberOption(values, 'idle-seconds', { min: 0.1 });
      const loadSeconds = numberOption(values, 'load-seconds', { min: 0.1 });
      const threads = numberOption(values, 'threads', { integer: true, min: 1 });
      const dirOption = stringOption(values, 'dir');
      const powercap = stringOption(values, 'powercap');
      const dir = dirOption === undefined ? defaultCalibrationDir(ctx.env) : resolve(ctx.cwd, dirOption);
      // A --dir the profile could never be written to is refused before the measurement, not after it.
      if (dirOption !== undefined) checkOutputDirectory(dir, `--dir ${dirOption}`);
      const cpu = await detectCpu(deps.cpuInfoPath === undefined ? {} : { cpuInfoPath: deps.cpuInfoPath });

      const outcome = await calibrateCpu({
        cpu,
        ...deps,
        ...(powercap === undefined ? {} : { raplRoot: resolve(ctx.cwd, powercap) }),
        ...(idleSeconds === undefined ? {} : { idleSeconds }),
        ...(loadSeconds === undefined ? {} : { loadSeconds }),
        ...(threads === undefined ? {} : { threads }),
        onProgress: (message) => ctx.stderr.write(`${message}\n`),
        signal: ctx.signal,
      });
      if (outcome.available) {
        const { profile } = outcome;
        return {
          status: 'calibrated',
          profile_path: await saveCalibrationProfile(profile, dir),
          cpu_model: profile.cpuModel,
          logical_cpus: profile.logicalCpus,
          threads: profile.loadedThreads,
          idle_watts: profile.idleWatts,
          loaded_watts: profile.loadedWatts,
          per_thread_watts: profile.perThreadWatts,
          idle_seconds: profile.idleSeconds,
          load_seconds: profile.loadSeconds,
          domains: profile.domains,
          created_at: profile.createdAt,
        };
      }

      // No RAPL: say what the meter's CPU estimate will rest on instead, exactly as createMeter chooses it.
      const power = resolveCpuPower(cpu, await loadTdpTable());
      const { match } = cpu.model === undefined ? { match: undefined } : await findCalibrationProfile(cpu.model, dir);
      const estimate: EstimateBasisJson = match
        ? {
            basis: 'calibration-profile',
            profile_path: match.path,
            description: `the calibration profile ${match.path}, taken on this CPU model on ${match.profile.createdAt.slice(0, 10)}: ${round(match.profile.idleWatts)} W idle (scaled to the threads here) + ${round(match.profile.perThreadWatts)} W per busy thread`,
          }
        : {
            basis: power.tdpSource.startsWith('table:') ? 'tdp-table' : 'tdp-default',
            tdp_watts: power.tdpWatts,
            tdp_source: power.tdpSource,
            description: `${power.tdpSummary}: each CPU-second of this process is charged TDP / logical CPUs (${round(power.tdpWatts / power.logicalCpus)} W), and idle power is not counted`,
          };
      return { status: 'no-rapl', reason: outcome.reason, cpu_model: power.cpuModel, logical_cpus: power.logicalCpus, estimate };
    },
    render(r) {
      if (r.status === 'calibrated') {
        return [
          `calibrated ${r.cpu_model} (${r.logical_cpus} logical CPUs) from RAPL ${r.domains.join(' + ')}:`,
          `  idle              ${round(r.idle_watts)} W over ${r.idle_seconds} s`,
          `  ${r.threads} busy thread${r.threads === 1 ? ' ' : 's'}    ${round(r.loaded_watts)} W over ${r.load_seconds} s`,
          `  per busy thread   ${round(r.per_thread_watts)} W`,
          `profile saved to ${r.profile_path}; where RAPL cannot be read on this CPU model, the CPU estimate now uses it instead of the TDP.`,
        ].join('\n');
      }
      return [
        `RAPL cannot be read here, so nothing was calibrated: ${r.reason}`,
        `The CPU energy of ${r.cpu_model} (${r.logical_cpus} logical CPUs) is estimated from ${r.estimate.description}.`,
        'To calibrate it, run this command on a machine with the same CPU model where RAPL is readable (bare metal, as root) and copy the profile into the profiles directory here.',
      ].join('\n');
    },
  });
}

function round(watts: number): number {
  return Number(watts.toPrecision(3));
}

export default meterCalibrateCommand();
