import { readFile } from 'node:fs/promises';
import { parseCsvTable } from '../../src/meter/csv.js';
import { CODECARBON_COLUMNS, createCodeCarbonCsvSink, createJsonlSink, readEmissionsJsonl } from '../../src/meter/outputs/index.js';
import { HOST } from './outputs-fixtures.js';
import { runSinkSuite } from './outputs-sink.suite.js';

runSinkSuite('CodeCarbon emissions.csv', {
  open: (path) => createCodeCarbonCsvSink({ path, host: HOST }),
  fileName: 'emissions.csv',
  async readBack(path) {
    const rows = parseCsvTable(await readFile(path, 'utf8'), CODECARBON_COLUMNS, path);
    return rows.map((row) => ({ runId: row.fields.run_id ?? '', kgCo2e: Number(row.fields.emissions) }));
  },
});

runSinkSuite('JSON Lines', {
  open: (path) => createJsonlSink({ path }),
  fileName: 'emissions.jsonl',
  async readBack(path) {
    return (await readEmissionsJsonl(path)).map((r) => ({ runId: r.run.runId, kgCo2e: r.measurement.emissions.kgCo2e }));
  },
});
