import { readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import { parseCsvTable } from '../../src/meter/csv.js';
import {
  appendEmissionsCsv,
  CODECARBON_COLUMNS,
  csvField,
  csvLine,
  describeHost,
  toCodeCarbonRow,
  trackingModeOf,
} from '../../src/meter/outputs/index.js';
import { HOST, hourMeasurement, record, tempDir } from './outputs-fixtures.js';

/**
 * CodeCarbon v3.x `EmissionsData` field order (mlco2/codecarbon codecarbon/output_methods/emissions_data.py),
 * written out again here so a change to the constant has to be made twice, on purpose.
 */
const CODECARBON_V3_HEADER =
  'timestamp,project_name,run_id,experiment_id,duration,emissions,emissions_rate,cpu_power,gpu_power,ram_power,' +
  'cpu_energy,gpu_energy,ram_energy,energy_consumed,water_consumed,country_name,country_iso_code,region,' +
  'cloud_provider,cloud_region,os,python_version,codecarbon_version,cpu_count,cpu_model,gpu_count,gpu_model,' +
  'longitude,latitude,ram_total_size,tracking_mode,cpu_utilization_percent,gpu_utilization_percent,' +
  'ram_utilization_percent,ram_used_gb,on_cloud,pue,wue';

const RUN_ID = record().run.runId;

async function rowsOf(path: string) {
  return parseCsvTable(await readFile(path, 'utf8'), CODECARBON_COLUMNS, path);
}

describe('CodeCarbon column parity', () => {
  it('pins exactly CodeCarbon v3 emissions.csv column names, in order', () => {
    expect(CODECARBON_COLUMNS.join(',')).toBe(CODECARBON_V3_HEADER);
    expect(CODECARBON_COLUMNS).toHaveLength(38);
    expect(new Set(CODECARBON_COLUMNS).size).toBe(38);
  });

  it('writes that header and rows with exactly that many fields', async () => {
    const path = join(await tempDir(), 'emissions.csv');
    await appendEmissionsCsv(path, record({ run: { projectName: 'has, a comma' } }), HOST);
    const text = await readFile(path, 'utf8');
    const [header, row, rest] = text.split('\n');
    expect(header).toBe(CODECARBON_V3_HEADER);
    expect(rest).toBe('');
    // parseCsvTable checks every row has the header's field count, with RFC 4180 quoting.
    const rows = await rowsOf(path);
    expect(rows).toHaveLength(1);
    expect(Object.keys(rows[0]?.fields ?? {})).toEqual([...CODECARBON_COLUMNS]);
    expect(row?.startsWith('2026-03-01T11:00:00,"has, a comma",')).toBe(true);
  });

  it('the row object has one value per column', () => {
    expect(Object.keys(toCodeCarbonRow(record(), HOST)).sort()).toEqual([...CODECARBON_COLUMNS].sort());
  });
});

describe('units', () => {
  it('3.6e6 J over 3600 s → 1 kWh and 1000 W, per group and in total', () => {
    const row = toCodeCarbonRow(record(), HOST);
    expect(row.duration).toBe(3600);
    expect(row.energy_consumed).toBeCloseTo(1, 12);
    expect(row.cpu_energy).toBeCloseTo(0.5, 12);
    expect(row.gpu_energy).toBeCloseTo(1 / 3, 12);
    expect(row.ram_energy).toBeCloseTo(1 / 6, 12);
    expect(row.cpu_power).toBeCloseTo(500, 9);
    expect(row.gpu_power).toBeCloseTo(1000 / 3, 9);
    expect(row.ram_power).toBeCloseTo(1000 / 6, 9);
    expect((row.cpu_power as number) + (row.gpu_power as number) + (row.ram_power as number)).toBeCloseTo(1000, 9);
    expect(row.emissions).toBeCloseTo(0.056, 12); // kg: 1 kWh × 56 g/kWh
    expect(row.emissions_rate).toBeCloseTo(0.056 / 3600, 15); // kg/s
    expect(row.ram_total_size).toBe(125.5);
    expect(row.pue).toBe(1);
  });

  it('sums every cpu:* / gpu:* / ram:* component into its group and counts other components in energy_consumed only', () => {
    const m = hourMeasurement();
    const components = [
      { name: 'cpu:package-0', joules: 1.8e6, low: 1.7e6, high: 1.9e6, method: 'measured' as const, model: 'rapl:package-0' },
      { name: 'cpu:package-1', joules: 1.8e6, low: 1.7e6, high: 1.9e6, method: 'measured' as const, model: 'rapl:package-1' },
      { name: 'gpu:0', joules: 3.6e6, low: 3.5e6, high: 3.7e6, method: 'measured' as const, model: 'nvml:total-energy-counter (H200)' },
      { name: 'gpu:1', joules: 3.6e6, low: 3.5e6, high: 3.7e6, method: 'measured' as const, model: 'nvml:total-energy-counter (H200)' },
      { name: 'ram:dram-0', joules: 0.36e6, low: 0.3e6, high: 0.4e6, method: 'measured' as const, model: 'rapl:package-0/dram' },
      { name: 'disk', joules: 0.36e6, low: 0.3e6, high: 0.4e6, method: 'estimated' as const, model: 'constant' },
    ];
    const row = toCodeCarbonRow(
      { run: record().run, measurement: { ...m, energy: { ...m.energy, joules: 11.52e6, components } } },
      HOST,
    );
    expect(row.cpu_energy).toBeCloseTo(1, 12);
    expect(row.gpu_energy).toBeCloseTo(2, 12);
    expect(row.ram_energy).toBeCloseTo(0.1, 12);
    expect(row.energy_consumed).toBeCloseTo(3.2, 12);
    expect(row.gpu_power).toBeCloseTo(2000, 9);
    expect(row.tracking_mode).toBe('machine');
  });

  it('applies PUE to energy (as CodeCarbon does) but not to power', () => {
    const base = hourMeasurement();
    const kg = (1.5 * 56) / 1000;
    const row = toCodeCarbonRow(record({ measurement: { emissions: { ...base.emissions, pue: 1.5, kgCo2e: kg } } }), HOST);
    expect(row.energy_consumed).toBeCloseTo(1.5, 12);
    expect(row.cpu_energy).toBeCloseTo(0.75, 12);
    expect(row.cpu_power).toBeCloseTo(500, 9);
    expect(row.pue).toBe(1.5);
    // CodeCarbon tools rely on emissions = energy_consumed × intensity.
    expect(row.emissions).toBeCloseTo(((row.energy_consumed as number) * 56) / 1000, 12);
  });

  it('water: 0 L and WUE 0 without a water report, the report’s figures with one', () => {
    expect(toCodeCarbonRow(record(), HOST)).toMatchObject({ water_consumed: 0, wue: 0 });
    const water = { liters: 1.8, litersLow: 1.5, litersHigh: 2.1, wueLPerKwh: 1.8 };
    expect(toCodeCarbonRow(record({ measurement: { water } }), HOST)).toMatchObject({ water_consumed: 1.8, wue: 1.8 });
  });

  it('a zero-length window has zero power and rate rather than dividing by zero', () => {
    const row = toCodeCarbonRow(record({ measurement: { durationS: 0 } }), HOST);
    expect(row).toMatchObject({ cpu_power: 0, gpu_power: 0, ram_power: 0, emissions_rate: 0 });
  });
});

describe('metadata columns', () => {
  it('timestamp is the window end in CodeCarbon’s %Y-%m-%dT%H:%M:%S (UTC)', () => {
    expect(toCodeCarbonRow(record({ measurement: { durationS: 90.6 } }), HOST).timestamp).toBe('2026-03-01T10:01:30');
  });

  it('names the runtime and ecoml in the version columns, and describes the GPUs as CodeCarbon does', () => {
    const row = toCodeCarbonRow(
      record({ measurement: { hardware: { ...hourMeasurement().hardware, gpus: [0, 1].map((index) => ({ index, name: 'NVIDIA H200' })) } } }),
      HOST,
    );
    expect(row).toMatchObject({
      python_version: 'node 20.0.0',
      codecarbon_version: 'ecoml 0.1.0',
      os: HOST.os,
      gpu_count: 2,
      gpu_model: '2 x NVIDIA H200',
      cpu_count: 16,
      cpu_model: 'Test CPU @ 2.0GHz',
      country_name: 'France',
      country_iso_code: 'FRA',
      project_name: 'ecoml-tests',
      run_id: RUN_ID,
      on_cloud: 'N',
    });
    // Not sampled by ecoml: empty cells (NaN in pandas), not a claimed 0 %.
    expect(row.cpu_utilization_percent).toBeUndefined();
    expect(row.ram_used_gb).toBeUndefined();
  });

  it('a CPU-only machine has gpu_count 0 and an empty gpu_model, as CodeCarbon writes', () => {
    const row = toCodeCarbonRow(record({ measurement: { hardware: { ...hourMeasurement().hardware, gpus: [] } } }), HOST);
    expect(row).toMatchObject({ gpu_count: 0, gpu_model: '' });
  });

  it('cloud metadata sets on_cloud = Y', () => {
    const row = toCodeCarbonRow(record({ run: { cloudProvider: 'gcp', cloudRegion: 'europe-west1', region: 'Île-de-France' } }), HOST);
    expect(row).toMatchObject({ on_cloud: 'Y', cloud_provider: 'gcp', cloud_region: 'europe-west1', region: 'Île-de-France' });
  });

  it('tracking_mode: process when CPU and RAM are per-process models, machine for RAPL, the run’s choice when given', () => {
    expect(trackingModeOf(hourMeasurement())).toBe('process');
    const m = hourMeasurement();
    const rapl = { ...m, energy: { ...m.energy, components: m.energy.components.map((c) => (c.name === 'cpu' ? { ...c, model: 'rapl:package-0' } : c)) } };
    expect(trackingModeOf(rapl)).toBe('machine');
    expect(toCodeCarbonRow(record({ run: { trackingMode: 'machine' } }), HOST).tracking_mode).toBe('machine');
  });

  it('describeHost names this Node and the package version', async () => {
    const host = await describeHost();
    expect(host.runtime).toBe(`node ${process.versions.node}`);
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(host.ecomlVersion).toBe(pkg.version);
    expect(host.os).toMatch(/^\w+-\S+-\S+$/);
  });
});


describe('appendEmissionsCsv', () => {
  it('creates the file with a header, then appends rows under it', async () => {
    const path = join(await tempDir(), 'emissions.csv');
    await appendEmissionsCsv(path, record({ run: { runId: 'a' } }), HOST);
    await appendEmissionsCsv(path, record({ run: { runId: 'b' } }), HOST);
    const text = await readFile(path, 'utf8');
    expect(text.split('\n').filter((line) => line.startsWith('timestamp,'))).toHaveLength(1);
    expect((await rowsOf(path)).map((r) => r.fields.run_id)).toEqual(['a', 'b']);
  });

  it('writes the header into an existing empty file', async () => {
    const path = join(await tempDir(), 'emissions.csv');
    await writeFile(path, '');
    await appendEmissionsCsv(path, record(), HOST);
    expect((await readFile(path, 'utf8')).startsWith(`${CODECARBON_V3_HEADER}\n`)).toBe(true);
  });

  it('refuses a file whose header differs, naming it, and leaves it untouched', async () => {
    const path = join(await tempDir(), 'emissions.csv');
    // CodeCarbon 2.x's header: no experiment_id, water, utilisation or wue columns.
    const old =
      'timestamp,project_name,run_id,duration,emissions,emissions_rate,cpu_power,gpu_power,ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,country_name,country_iso_code,region,cloud_provider,cloud_region,os,python_version,codecarbon_version,cpu_count,cpu_model,gpu_count,gpu_model,longitude,latitude,ram_total_size,tracking_mode,on_cloud,pue\n' +
      '2021-09-23T15:04:51,codecarbon,0a57,161.2,0.00045,0.0000028,0.27,0.0,12.88,0.0,0,0.00057,0.00057,Morocco,MAR,casablanca-settat,,,macOS,3.8.0,2.1.3,12,Intel,,,-7.9,33.6,,machine,N,1.0\n';
    await writeFile(path, old);
    const error = await appendEmissionsCsv(path, record(), HOST).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EcomlError);
    expect((error as EcomlError).code).toBe('E_DATA_MALFORMED');
    expect((error as EcomlError).message).toContain(path);
    expect((error as EcomlError).message).toMatch(/missing experiment_id, water_consumed/);
    expect(await readFile(path, 'utf8')).toBe(old);
  });

  it('refuses a file that is not CSV at all', async () => {
    const path = join(await tempDir(), 'emissions.csv');
    await writeFile(path, '{"not":"csv"}\n');
    await expect(appendEmissionsCsv(path, record(), HOST)).rejects.toMatchObject({ code: 'E_DATA_MALFORMED' });
  });

  it('appends by name under CodeCarbon’s columns in another order (CodeCarbon accepts that too)', async () => {
    const path = join(await tempDir(), 'emissions.csv');
    const reversed = [...CODECARBON_COLUMNS].reverse();
    await writeFile(path, csvLine(reversed));
    await appendEmissionsCsv(path, record(), HOST);
    const [row] = await rowsOf(path);
    expect(row?.fields).toMatchObject({ run_id: RUN_ID, project_name: 'ecoml-tests', energy_consumed: '1', tracking_mode: 'process' });
  });

  it('starts a new line when the file’s last line was cut short', async () => {
    const path = join(await tempDir(), 'emissions.csv');
    await appendEmissionsCsv(path, record({ run: { runId: 'a' } }), HOST);
    const size = (await readFile(path)).length;
    await truncate(path, size - 1);
    await appendEmissionsCsv(path, record({ run: { runId: 'b' } }), HOST);
    expect((await rowsOf(path)).map((r) => r.fields.run_id)).toEqual(['a', 'b']);
  });

  it('accepts a CRLF header (a file saved on Windows)', async () => {
    const path = join(await tempDir(), 'emissions.csv');
    await writeFile(path, `${CODECARBON_V3_HEADER}\r\n`);
    await appendEmissionsCsv(path, record(), HOST);
    expect(await rowsOf(path)).toHaveLength(1);
  });

  it('a missing directory is E_FILE_NOT_FOUND naming the path', async () => {
    const path = join(await tempDir(), 'no', 'such', 'emissions.csv');
    await expect(appendEmissionsCsv(path, record(), HOST)).rejects.toMatchObject({ code: 'E_FILE_NOT_FOUND', message: expect.stringContaining(path) });
  });
});

describe('RFC 4180 quoting', () => {
  it('quotes fields with commas, quotes or line breaks, doubling quotes, and nothing else', () => {
    expect(csvField('plain text')).toBe('plain text');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\r')).toBe('"cr\r"');
    expect(csvField(undefined)).toBe('');
    expect(csvField(Number.NaN)).toBe('');
    expect(csvField(1e-7)).toBe('1e-7');
  });

  it('round-trips commas and quotes in a written row', async () => {
    const path = join(await tempDir(), 'emissions.csv');
    const cpuModel = 'Intel(R) Xeon(R) "Gold" 6226R CPU @ 2.90GHz, 2 sockets';
    await appendEmissionsCsv(
      path,
      record({ run: { projectName: 'p,"q"', region: 'a, b' }, measurement: { hardware: { ...hourMeasurement().hardware, cpuModel } } }),
      HOST,
    );
    const [row] = await rowsOf(path);
    expect(row?.fields).toMatchObject({ project_name: 'p,"q"', region: 'a, b', cpu_model: cpuModel });
  });
});
