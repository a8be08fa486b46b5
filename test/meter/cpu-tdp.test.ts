import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  detectCpu,
  loadTdpTable,
  matchCpuModel,
  normaliseCpuModel,
  parseCpuInfo,
  resolveCpuPower,
  UNDETECTED_CPU_TDP_WATTS,
  UNLISTED_CPU_WATTS_PER_THREAD,
  type TdpTable,
} from '../../src/meter/index.js';

let table: TdpTable;
beforeAll(async () => {
  table = await loadTdpTable();
});

describe('CPU TDP table', () => {
  it('loads the shipped table, setting aside the rows whose TDP is not a positive number', () => {
    expect(table.size).toBeGreaterThan(4_800);
    expect(table.skipped.map((row) => `${row.name}: ${row.tdp}`)).toEqual([
      'Intel Celeron 1000A: 27.29.5',
      'Intel Celeron 1100A: 27.29.5',
      'Intel Celeron 1200: 29.32.9',
      'Intel Celeron 1400: 33.34.8',
      'Intel Quark Microcontroller D1000: 0.0',
    ]);
    expect(matchCpuModel('Intel Quark Microcontroller D1000', table)).toBeUndefined();
  });

  it.each([
    ['Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz', 'Intel Xeon Platinum 8259CL', 210],
    ['AMD EPYC 7R13 Processor', 'AMD EPYC 7R13', 225],
    ['AMD Ryzen 9 5950X 16-Core Processor', 'AMD Ryzen 9 5950X', 105],
    ['Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz', 'Intel Xeon E5-2686 v4', 145],
    ['Intel(R) Xeon(R) CPU E5-2680 0 @ 2.70GHz', 'Intel Xeon E5-2680', 130],
    ['11th Gen Intel(R) Core(TM) i7-1185G7 @ 3.00GHz', 'Intel Core i7-1185G7', 28],
    ['AMD Ryzen 7 PRO 4750U with Radeon Graphics', 'AMD Ryzen 7 PRO 4750U', 15],
    ['AMD EPYC 7763 64-Core Processor', 'AMD EPYC 7763', 280],
    ['AMD Opteron(tm) Processor 6140', 'AMD Opteron 6140', 115],
  ])('matches %s', (model, name, tdpWatts) => {
    expect(matchCpuModel(model, table)).toEqual({ name, tdpWatts });
  });

  it.each([
    ['AMD EPYC', 'no model number (as on this kind of VM)'],
    ['Intel(R) Xeon(R) CPU @ 2.20GHz', 'no model number'],
    ['Intel Xeon Processor (Icelake)', 'no model number'],
    ['Intel(R) Xeon(R) CPU E5-2686 v3 @ 2.30GHz', 'a different generation from the listed v4'],
    ['Apple M1 Pro', 'a different variant from the listed M1'],
    ['AMD Phenom II X4 945', 'two rows disagree (95 W and 125 W)'],
    ['Neoverse-N1', 'not in the table'],
  ])('leaves %s unmatched: %s', (model) => {
    expect(matchCpuModel(model, table)).toBeUndefined();
  });

  it('normalises vendor noise away', () => {
    expect(normaliseCpuModel('Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz')).toBe('intel xeon platinum 8259cl');
    expect(normaliseCpuModel('AMD Ryzen 9 5950X 16-Core Processor')).toBe('amd ryzen 9 5950x');
    expect(normaliseCpuModel('Intel® Core™ i7-8700K')).toBe('intel core i7-8700k');
  });
});

describe('resolveCpuPower', () => {
  it('uses the table TDP times the sockets', () => {
    const power = resolveCpuPower({ model: 'Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz', logicalCpus: 96, sockets: 2 }, table);
    expect(power).toEqual({
      cpuModel: 'Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz',
      logicalCpus: 96,
      tdpWatts: 420,
      tdpSource: 'table:Intel Xeon Platinum 8259CL',
      tdpSummary: 'Intel Xeon Platinum 8259CL, 210 W TDP × 2 sockets / 96 threads',
    });
  });

  it('charges 4 W per thread for a detected model the table lacks (CodeCarbon)', () => {
    const power = resolveCpuPower({ model: 'AMD EPYC', logicalCpus: 2, sockets: 1 }, table);
    expect(power.tdpWatts).toBe(UNLISTED_CPU_WATTS_PER_THREAD * 2);
    expect(power.tdpSource).toBe('default:model not in table');
    expect(power.tdpSummary).toBe('AMD EPYC, not in TDP table: 4 W per thread × 2 threads');
  });

  it('assumes 85 W when the model cannot be detected (CodeCarbon)', () => {
    const power = resolveCpuPower({ model: undefined, logicalCpus: 8, sockets: 1 }, table);
    expect(power).toMatchObject({ cpuModel: 'unknown', tdpWatts: UNDETECTED_CPU_TDP_WATTS, tdpSource: 'default:model not detected' });
  });

  it('takes an override, and rejects a nonsensical one', () => {
    expect(resolveCpuPower({ model: 'AMD EPYC', logicalCpus: 2, sockets: 1 }, table, 35)).toMatchObject({ tdpWatts: 35, tdpSource: 'override' });
    expect(() => resolveCpuPower({ model: 'AMD EPYC', logicalCpus: 2, sockets: 1 }, table, 0)).toThrow(expect.objectContaining({ code: 'E_CONFIG_INVALID' }));
  });
});

describe('CPU detection', () => {
  const twoSockets = ['processor\t: 0', 'model name\t: Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz', 'physical id\t: 0', '']
    .concat(['processor\t: 1', 'model name\t: Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz', 'physical id\t: 1', ''])
    .join('\n');

  it('parses model, processors and sockets from /proc/cpuinfo', () => {
    expect(parseCpuInfo(twoSockets)).toEqual({ model: 'Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz', processors: 2, sockets: 2 });
    expect(parseCpuInfo('processor\t: 0\nBogoMIPS\t: 50.00\nCPU part\t: 0xd0c\n')).toEqual({ model: undefined, processors: 1, sockets: 0 });
  });

  it('reads the injected cpuinfo path, else falls back to os.cpus()', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ecoml-cpuinfo-'));
    try {
      const path = join(dir, 'cpuinfo');
      await writeFile(path, twoSockets);
      expect(await detectCpu({ cpuInfoPath: path, osCpus: () => [] })).toEqual({ model: 'Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz', logicalCpus: 2, sockets: 2 });
      const osCpus = () => [{ model: 'Apple M2' }, { model: 'Apple M2' }];
      expect(await detectCpu({ cpuInfoPath: join(dir, 'absent'), osCpus })).toEqual({ model: 'Apple M2', logicalCpus: 2, sockets: 1 });
      expect(await detectCpu({ cpuInfoPath: join(dir, 'absent'), osCpus: () => [{ model: 'unknown' }] })).toEqual({ model: undefined, logicalCpus: 1, sockets: 1 });
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});
