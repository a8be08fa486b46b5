import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendEmissionsJsonl, readEmissionsJsonl, toJsonLine } from '../../src/meter/outputs/index.js';
import { record, tempDir } from './outputs-fixtures.js';

describe('JSON Lines output', () => {
  it('round-trips full records: run metadata, components with bounds and models, water, heat, embodied, notes', async () => {
    const path = join(await tempDir(), 'emissions.jsonl');
    const first = record({
      run: { experimentId: 'exp-1', trackingMode: 'process', cloudProvider: 'gcp' },
      measurement: {
        water: { liters: 1.8, litersLow: 1.5, litersHigh: 2.1, wueLPerKwh: 1.8 },
        heat: { kwh: 1, btu: 3412.14, btuLow: 3000, btuHigh: 3800 },
        embodied: { kgCo2e: 0.01, lifespanYears: 4, components: [{ name: 'server', totalKgCo2e: 1000, share: 1, kgCo2e: 0.01, source: 'test' }] },
        notes: ['gpu: nvml standby'],
      },
    });
    const second = record({ run: { runId: 'second' }, measurement: { label: 'epoch 2, "quoted"\nand two lines' } });
    await appendEmissionsJsonl(path, first);
    await appendEmissionsJsonl(path, second);
    expect(await readEmissionsJsonl(path)).toEqual([first, second]);
  });

  it('writes exactly one JSON object per line', async () => {
    const path = join(await tempDir(), 'emissions.jsonl');
    await appendEmissionsJsonl(path, record());
    await appendEmissionsJsonl(path, record());
    const lines = (await readFile(path, 'utf8')).split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('');
    for (const line of lines.slice(0, 2)) expect(Object.keys(JSON.parse(line) as object)).toEqual(['run', 'measurement']);
    expect(toJsonLine(record()).endsWith('}\n')).toBe(true);
  });

  it('reading a malformed line names the file and line', async () => {
    const path = join(await tempDir(), 'emissions.jsonl');
    await writeFile(path, `${toJsonLine(record())}{"truncated":\n`);
    await expect(readEmissionsJsonl(path)).rejects.toMatchObject({ code: 'E_DATA_MALFORMED', message: expect.stringContaining(`${path}:2:`) });
    await writeFile(path, '[1,2]\n');
    await expect(readEmissionsJsonl(path)).rejects.toMatchObject({ code: 'E_DATA_MALFORMED', message: expect.stringContaining(`${path}:1: not an emissions record`) });
  });

  it('a record appended after a cut-short line lands on its own line', async () => {
    const path = join(await tempDir(), 'emissions.jsonl');
    await writeFile(path, '{"run":');
    await appendEmissionsJsonl(path, record());
    const lines = (await readFile(path, 'utf8')).split('\n');
    expect(lines[0]).toBe('{"run":');
    expect(JSON.parse(lines[1] ?? '')).toEqual(record());
  });

  it('reading a missing file is E_FILE_NOT_FOUND', async () => {
    await expect(readEmissionsJsonl(join(await tempDir(), 'none.jsonl'))).rejects.toMatchObject({ code: 'E_FILE_NOT_FOUND' });
  });
});
