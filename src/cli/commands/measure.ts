/**
 * `ecoml measure [options] -- COMMAND [ARGS…]`: run any command and report the energy and CO2e of
 * its process tree (CodeCarbon's `monitor -- <cmd>`, attributed to the command as Scaphandre does).
 *
 * stdout belongs to the command: our summary goes to stderr. With --json, stdout carries exactly one
 * JSON object, after the command ends, and the command's own stdout is sent to stderr so that
 * `ecoml measure --json -- cmd | jq` sees our object only. The command's exit status is ours
 * (`exit_code`: its code, or 128 + the signal number).
 * @module
 */
import { resolve } from 'node:path';
import { ERROR_CATALOGUE, EcomlError, toEcomlError, type ErrorCode } from '../../errors.js';
import { checkOutputFile } from '../../util/fs.js';
import { newRunMetadata } from '../../meter/outputs/sink.js';
import { appendEmissionsCsv } from '../../meter/outputs/codecarbon-csv.js';
import { exitStatusOf, runMeasured } from '../../meter/process/run-measured.js';
import { emissionsJson, energyJson, type EmissionsJson, type EnergyJson } from '../../workflows/report.js';
import { numberOption, stringOption } from '../args.js';
import { defineCommand } from '../command.js';
import { formatCo2, formatComponents, formatJoulesShort } from '../format.js';

export interface MeasureResult {
  readonly command: readonly string[];
  readonly pid: number;
  /** What `ecoml measure` exits with: the command's exit code, or 128 + the number of the signal that ended it. */
  readonly exit_code: number;
  readonly child_exit_code: number | null;
  readonly signal: string | null;
  readonly duration_s: number;
  readonly cpu_seconds_tree: number;
  readonly machine_active_cpu_seconds: number;
  /** The tree's share of the machine's active CPU time over the run. */
  readonly cpu_share: number;
  readonly gpu_shares: Readonly<Record<string, number | null>>;
  readonly processes_seen: number;
  readonly energy: EnergyJson;
  readonly emissions: EmissionsJson;
  /** Heat the devices dissipated: all the electrical energy they drew. */
  readonly heat_kwh: number;
  /** Machine-wide energy per measured component, before attribution. */
  readonly machine_joules: Readonly<Record<string, number>>;
  readonly notes: readonly string[];
  /** The emissions.csv the row was appended to. */
  readonly output?: string;
  /** Why the row could not be appended; a command that succeeded then exits with this error's status. */
  readonly output_error?: { readonly code: ErrorCode; readonly message: string };
}

const measure = defineCommand<MeasureResult>({
  // The wrapped program owns stdout; our summary goes to stderr.
  renderTo: 'stderr',
  name: 'measure',
  summary: 'Run a command and report the energy and CO2e of its process tree.',
  usage: 'ecoml measure [options] -- COMMAND [ARGS...]',
  description: [
    'Machine energy (RAPL, NVML) is read every --interval ms and attributed to the command by its share',
    "of the machine's CPU time (and, per GPU, of SM utilisation where available); without RAPL, CPU",
    "energy is estimated from the command's own CPU time. The summary goes to stderr; exit status is",
    "the command's (or, when it succeeded but the --output row could not be written, that error's).",
    "With --json, stdout holds one JSON object and the command's stdout goes to stderr.",
  ].join('\n'),
  options: {
    country: { type: 'string', valueName: 'CODE', description: 'grid country for CO2e, ISO 3166 alpha-2/3 (default $ECOML_COUNTRY, else world average)' },
    pue: { type: 'string', valueName: 'X', description: 'data-centre power usage effectiveness (default $ECOML_PUE, else 1.0)' },
    output: { type: 'string', short: 'o', valueName: 'FILE', description: 'append a row to this CodeCarbon emissions.csv (created with its header if missing)' },
    project: { type: 'string', valueName: 'NAME', description: 'project_name of the emissions.csv row (default ecoml)' },
    interval: { type: 'string', valueName: 'MS', description: 'poll the process tree and energy counters every MS milliseconds (default 500)' },
  },
  async run({ positionals, values }, ctx) {
    const [command, ...args] = positionals;
    if (command === undefined) throw new EcomlError('E_CONFIG_INVALID', "missing COMMAND: give it after '--', e.g. ecoml measure -- python train.py");
    const country = stringOption(values, 'country');
    const pue = numberOption(values, 'pue', { min: 1 });
    const intervalMs = numberOption(values, 'interval', { integer: true, min: 10 });
    const projectName = stringOption(values, 'project');
    const outputOption = stringOption(values, 'output');
    const output = outputOption === undefined ? undefined : resolve(ctx.cwd, outputOption);
    // Refuse a path we could never write before the command runs, not after an hour of it.
    if (output !== undefined) checkOutputFile(output, `--output ${outputOption as string}`);

    const run = await runMeasured({
      command,
      args,
      cwd: ctx.cwd,
      env: ctx.env,
      meterEnv: ctx.env,
      stdio: ctx.json ? ['inherit', 2, 'inherit'] : 'inherit',
      ...(country !== undefined ? { country } : {}),
      ...(pue !== undefined ? { pue } : {}),
      ...(intervalMs !== undefined ? { intervalMs } : {}),
    });
    const m = run.measurement;

    let outputError: MeasureResult['output_error'];
    if (output !== undefined) {
      try {
        await appendEmissionsCsv(output, { run: newRunMetadata({ trackingMode: 'process', ...(projectName !== undefined ? { projectName } : {}) }), measurement: m });
      } catch (error) {
        const e = toEcomlError(error);
        outputError = { code: e.code, message: e.message };
      }
    }
    return {
      command: run.command,
      pid: run.pid,
      exit_code: exitStatusOf(run),
      child_exit_code: run.exitCode,
      signal: run.signal,
      duration_s: run.durationS,
      cpu_seconds_tree: run.cpuSecondsTree,
      machine_active_cpu_seconds: run.machineActiveCpuSeconds,
      cpu_share: run.share,
      gpu_shares: run.gpuShares,
      processes_seen: run.processesSeen,
      energy: energyJson(m),
      emissions: emissionsJson(m),
      heat_kwh: m.heat?.kwh ?? m.energy.kwh,
      machine_joules: run.machineJoules,
      notes: run.notes,
      ...(output !== undefined && outputError === undefined ? { output } : {}),
      ...(outputError !== undefined ? { output_error: outputError } : {}),
    };
  },
  // The command's failure is the first news; after a success, a lost row must not pass for one.
  exitCode: (r) => (r.output_error !== undefined && r.exit_code === 0 ? ERROR_CATALOGUE[r.output_error.code].exitCode : r.exit_code),
  render(r) {
    const ended = r.signal !== null ? `was killed by ${r.signal}` : `exited ${r.child_exit_code ?? r.exit_code}`;
    const lines = [
      `ecoml measure: \`${r.command.join(' ')}\` (pid ${r.pid}) ${ended} after ${r.duration_s.toFixed(1)} s`,
      `  process tree: ${r.cpu_seconds_tree.toFixed(2)} CPU-s in ${r.processes_seen} process(es), ${(r.cpu_share * 100).toFixed(1)}% of the machine's active CPU time`,
      formatComponents(r.energy, '  '),
      `  total ${formatJoulesShort(r.energy.joules)} = ${r.energy.kwh.toPrecision(3)} kWh → ${formatCo2(r.emissions.kg_co2e)} @ ${r.emissions.intensity_g_per_kwh.toFixed(0)} g/kWh ${r.emissions.country} (PUE ${r.emissions.pue})`,
      `  heat ${r.heat_kwh.toPrecision(3)} kWh (every joule the devices drew ends as heat)`,
      ...r.notes.map((note) => `  note: ${note}`),
    ];
    if (r.output !== undefined) lines.push(`  appended a row to ${r.output}`);
    if (r.output_error !== undefined) lines.push(`  error ${r.output_error.code}: could not append to the emissions file: ${r.output_error.message}`);
    return lines.join('\n');
  },
});

/** cli.ts prints the rendering on stderr for this command: its stdout is the measured command's. */
export default measure;
