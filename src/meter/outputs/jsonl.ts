/**
 * Measurements as JSON Lines: one `{"run": …, "measurement": …}` object per line, the full Measurement
 * (components with their methods, models and any bounds, notes, hardware) and its run metadata.
 * @module
 */

import { readTextFile } from '../csv.js';
import { EcomlError } from '../../errors.js';
import { appendToFile } from './append-file.js';
import { createSerialSink, type EmissionsRecord, type EmissionsSink } from './sink.js';

export function toJsonLine(record: EmissionsRecord): string {
  return `${JSON.stringify({ run: record.run, measurement: record.measurement })}\n`;
}

export async function appendEmissionsJsonl(path: string, record: EmissionsRecord): Promise<void> {
  const line = toJsonLine(record);
  await appendToFile(path, { created: () => line, existing: () => line });
}

/** Reads every record back; a line that is not a record throws E_DATA_MALFORMED naming the file and line. */
export async function readEmissionsJsonl(path: string): Promise<EmissionsRecord[]> {
  const text = await readTextFile(path);
  const records: EmissionsRecord[] = [];
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') return;
    const malformed = (why: string, cause?: unknown) =>
      new EcomlError('E_DATA_MALFORMED', `${path}:${i + 1}: ${why}`, { details: { path, line: i + 1 }, ...(cause === undefined ? {} : { cause }) });
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      throw malformed(`not JSON (${(error as Error).message})`, error);
    }
    if (!isRecord(value)) throw malformed('not an emissions record: expected an object with "run" and "measurement"');
    records.push(value);
  });
  return records;
}

function isRecord(value: unknown): value is EmissionsRecord {
  if (typeof value !== 'object' || value === null) return false;
  const { run, measurement } = value as Record<string, unknown>;
  return typeof run === 'object' && run !== null && typeof measurement === 'object' && measurement !== null;
}

export interface JsonlSinkOptions {
  readonly path: string;
}

export function createJsonlSink(options: JsonlSinkOptions): EmissionsSink {
  return createSerialSink(options.path, (record) => appendEmissionsJsonl(options.path, record));
}
