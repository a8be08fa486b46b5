/**
 * Measurements as rows of CodeCarbon's `emissions.csv`, so pandas scripts, `carbonboard` and anything
 * else built on CodeCarbon's file read ecoml runs unchanged.
 *
 * Column meanings and units are CodeCarbon v3's; where ecoml departs from it, it says so:
 * - `*_energy` and `energy_consumed` are kWh **after PUE** (CodeCarbon multiplies every energy delta by
 *   its PUE), so `emissions = energy_consumed × intensity` holds as CodeCarbon users expect; `*_power`
 *   is the device's average W over the window, without PUE; `emissions` kg, `emissions_rate` kg/s,
 *   `duration` s, `water_consumed` L, `ram_total_size` GB (GiB, as CodeCarbon computes it).
 * - `water_consumed` and `wue` come from the measurement's water report (0 and 0, CodeCarbon's
 *   defaults, without one). ecoml applies WUE to device energy (The Green Grid's definition); CodeCarbon
 *   applies it to PUE-scaled energy, so with PUE > 1 CodeCarbon would report PUE times more water.
 * - `timestamp` is the window's end, in CodeCarbon's `%Y-%m-%dT%H:%M:%S` form, in UTC (CodeCarbon
 *   writes local time; UTC keeps rows from different hosts comparable).
 * - `energy_consumed` covers every component; components other than cpu/gpu/ram count there only.
 * - `python_version` holds `node <version>` and `codecarbon_version` holds `ecoml <version>`: every
 *   CodeCarbon consumer we checked treats both as free text (FileOutput compares header names only;
 *   carbonboard reads project_name, timestamp, duration, emissions, energy_consumed, country_*, region,
 *   on_cloud, cloud_*), and a bare Node version under `python_version` would pass for a Python one.
 * - Utilisation columns are left empty (pandas reads NaN): ecoml does not sample utilisation, and
 *   CodeCarbon's default 0 would claim an idle machine.
 * - Embodied emissions have no CodeCarbon column and stay out of `emissions`, which CodeCarbon tools
 *   read as operational (energy × grid) emissions; JSONL and Prometheus carry them.
 * @module
 */

import { splitCsvLine } from '../csv.js';
import { readFile } from 'node:fs/promises';
import { machine, release, type } from 'node:os';
import { EcomlError } from '../../errors.js';
import { JOULES_PER_KWH } from '../emissions.js';
import type { Measurement } from '../types.js';
import { appendToFile } from './append-file.js';
import { createSerialSink, type EmissionsRecord, type EmissionsSink, type TrackingMode } from './sink.js';

/**
 * CodeCarbon's emissions.csv columns, in file order: the fields of the `EmissionsData` dataclass in
 * mlco2/codecarbon `codecarbon/output_methods/emissions_data.py` (v3.x), whose declaration order is
 * the column order because FileOutput writes `pd.DataFrame.from_records([dict(total.values)])`.
 * CodeCarbon itself compares header *sets* and moves a file with other columns aside to `.bak` before
 * writing, so a CodeCarbon release with more columns will start a fresh file rather than mix formats.
 */
export const CODECARBON_COLUMNS = [
  'timestamp',
  'project_name',
  'run_id',
  'experiment_id',
  'duration',
  'emissions',
  'emissions_rate',
  'cpu_power',
  'gpu_power',
  'ram_power',
  'cpu_energy',
  'gpu_energy',
  'ram_energy',
  'energy_consumed',
  'water_consumed',
  'country_name',
  'country_iso_code',
  'region',
  'cloud_provider',
  'cloud_region',
  'os',
  'python_version',
  'codecarbon_version',
  'cpu_count',
  'cpu_model',
  'gpu_count',
  'gpu_model',
  'longitude',
  'latitude',
  'ram_total_size',
  'tracking_mode',
  'cpu_utilization_percent',
  'gpu_utilization_percent',
  'ram_utilization_percent',
  'ram_used_gb',
  'on_cloud',
  'pue',
  'wue',
] as const;

export type CodeCarbonColumn = (typeof CODECARBON_COLUMNS)[number];

/** A row before formatting: numbers in CodeCarbon's units, strings as written, undefined for an empty cell. */
export type CodeCarbonRow = Readonly<Record<CodeCarbonColumn, string | number | undefined>>;

/** What the host contributes to a row. */
export interface HostInfo {
  /** Written to `os`, shaped like Python's platform.platform(): 'Linux-6.8.0-45-generic-x86_64'. */
  readonly os: string;
  /** Written to `python_version`. */
  readonly runtime: string;
  /** Written to `codecarbon_version` as `ecoml <version>`. */
  readonly ecomlVersion: string;
}

export async function describeHost(): Promise<HostInfo> {
  const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return { os: `${type()}-${release()}-${machine()}`, runtime: `node ${process.versions.node}`, ecomlVersion: pkg.version };
}

type Group = 'cpu' | 'gpu' | 'ram';

/** 'cpu', 'cpu:package-0' → cpu; 'gpu:0' → gpu; 'ram', 'ram:dram-0' → ram; anything else → none. */
function groupOf(name: string): Group | undefined {
  const head = name.split(':', 1)[0];
  return head === 'cpu' || head === 'gpu' || head === 'ram' ? head : undefined;
}

/**
 * CodeCarbon's 'process' mode attributes CPU and RAM to the process and takes whole GPUs; ecoml's
 * per-process models name it ('…process-cpu-time…', '…process-rss…'). Anything else (RAPL package or
 * DRAM) is machine-wide.
 */
export function trackingModeOf(measurement: Measurement): TrackingMode {
  const hostSide = measurement.energy.components.filter((c) => groupOf(c.name) === 'cpu' || groupOf(c.name) === 'ram');
  return hostSide.length > 0 && hostSide.every((c) => c.model.includes('process')) ? 'process' : 'machine';
}

/** `%Y-%m-%dT%H:%M:%S` in UTC. */
function codeCarbonTimestamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}

function gpuModel(gpus: Measurement['hardware']['gpus']): string {
  const counts = new Map<string, number>();
  for (const gpu of gpus) counts.set(gpu.name, (counts.get(gpu.name) ?? 0) + 1);
  return [...counts].map(([name, count]) => `${count} x ${name}`).join(', ');
}

export function toCodeCarbonRow(record: EmissionsRecord, host: HostInfo): CodeCarbonRow {
  const { run, measurement: m } = record;
  const { pue } = m.emissions;
  const joules: Record<Group, number> = { cpu: 0, gpu: 0, ram: 0 };
  for (const component of m.energy.components) {
    const group = groupOf(component.name);
    if (group) joules[group] += component.joules;
  }
  const watts = (j: number) => (m.durationS > 0 ? j / m.durationS : 0);
  const facilityKwh = (j: number) => (j * pue) / JOULES_PER_KWH;

  return {
    timestamp: codeCarbonTimestamp(Date.parse(m.startedAt) + m.durationS * 1000),
    project_name: run.projectName,
    run_id: run.runId,
    experiment_id: run.experimentId,
    duration: m.durationS,
    emissions: m.emissions.kgCo2e,
    emissions_rate: m.durationS > 0 ? m.emissions.kgCo2e / m.durationS : 0,
    cpu_power: watts(joules.cpu),
    gpu_power: watts(joules.gpu),
    ram_power: watts(joules.ram),
    cpu_energy: facilityKwh(joules.cpu),
    gpu_energy: facilityKwh(joules.gpu),
    ram_energy: facilityKwh(joules.ram),
    energy_consumed: facilityKwh(m.energy.joules),
    water_consumed: m.water?.liters ?? 0,
    country_name: m.emissions.countryName,
    country_iso_code: m.emissions.country,
    region: run.region,
    cloud_provider: run.cloudProvider,
    cloud_region: run.cloudRegion,
    os: host.os,
    python_version: host.runtime,
    codecarbon_version: `ecoml ${host.ecomlVersion}`,
    cpu_count: m.hardware.logicalCpus,
    cpu_model: m.hardware.cpuModel,
    gpu_count: m.hardware.gpus.length,
    gpu_model: gpuModel(m.hardware.gpus),
    longitude: run.longitude,
    latitude: run.latitude,
    ram_total_size: m.hardware.ramGb,
    tracking_mode: run.trackingMode ?? trackingModeOf(m),
    cpu_utilization_percent: undefined,
    gpu_utilization_percent: undefined,
    ram_utilization_percent: undefined,
    ram_used_gb: undefined,
    on_cloud: run.cloudProvider ? 'Y' : 'N',
    pue,
    wue: m.water?.wueLPerKwh ?? 0,
  };
}

/** RFC 4180: a field holding a comma, quote or line break is quoted, quotes doubled. */
export function csvField(value: string | number | undefined): string {
  if (value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function csvLine(values: readonly (string | number | undefined)[]): string {
  return `${values.map(csvField).join(',')}\n`;
}

/**
 * The column order to append in, from an existing file's header: CodeCarbon's own order, or the same
 * columns reordered (CodeCarbon accepts that too, and rows are written by name). Anything else is
 * refused, since appending positional rows under another header would corrupt the file.
 */
function columnOrderFor(path: string, header: string): readonly CodeCarbonColumn[] {
  // An unclosed quote cannot be CodeCarbon's header: no names, so every column counts as missing.
  const names = splitCsvLine(header) ?? [];
  const expected = new Set<string>(CODECARBON_COLUMNS);
  const missing = CODECARBON_COLUMNS.filter((column) => !names.includes(column));
  const unexpected = names.filter((name) => !expected.has(name));
  if (missing.length === 0 && unexpected.length === 0 && names.length === CODECARBON_COLUMNS.length) return names as CodeCarbonColumn[];
  const why = [missing.length ? `missing ${missing.join(', ')}` : '', unexpected.length ? `unexpected ${unexpected.join(', ')}` : '']
    .filter(Boolean)
    .join('; ');
  throw new EcomlError(
    'E_DATA_MALFORMED',
    `${path}: its header is not CodeCarbon's emissions.csv header (${why || 'duplicate columns'}); refusing to append to it. Write to a new file, or move this one aside.`,
    { details: { path, missing, unexpected } },
  );
}

/**
 * Appends one row to a CodeCarbon emissions.csv: creates it with the header if it is missing or empty,
 * appends otherwise, and refuses (E_DATA_MALFORMED) a file whose header is not CodeCarbon's.
 */
export async function appendEmissionsCsv(path: string, record: EmissionsRecord, host?: HostInfo): Promise<void> {
  const row = toCodeCarbonRow(record, host ?? (await describeHost()));
  const line = (order: readonly CodeCarbonColumn[]) => csvLine(order.map((column) => row[column]));
  await appendToFile(path, {
    created: () => csvLine(CODECARBON_COLUMNS) + line(CODECARBON_COLUMNS),
    existing: ({ firstLine }) => line(columnOrderFor(path, firstLine)),
  });
}

export interface CodeCarbonCsvSinkOptions {
  readonly path: string;
  /** Default: this host, read once per sink. */
  readonly host?: HostInfo;
}

export function createCodeCarbonCsvSink(options: CodeCarbonCsvSinkOptions): EmissionsSink {
  let host: Promise<HostInfo> | undefined;
  return createSerialSink(options.path, async (record) => {
    host ??= options.host ? Promise.resolve(options.host) : describeHost();
    await appendEmissionsCsv(options.path, record, await host);
  });
}
