/**
 * A small reader for the shipped data tables: `#` comment lines, one header row, RFC 4180 quoting.
 * @module
 */

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { EcomlError } from '../errors.js';
import { fsError } from '../util/fs.js';

export interface CsvRow {
  /** 1-based line number in the file, for error messages. */
  readonly line: number;
  readonly fields: Readonly<Record<string, string>>;
}

/** Reads a data table, checking it has the expected columns. */
export async function readCsvTable(file: URL | string, columns: readonly string[]): Promise<readonly CsvRow[]> {
  const path = file instanceof URL ? fileURLToPath(file) : file;
  return parseCsvTable(await readTextFile(path), columns, path);
}

/** A whole text file; one that cannot be read is the catalogue's error for why (see fsError), naming the path. */
export async function readTextFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw fsError(error, 'file', path);
  }
}

/** Parses CSV text; throws E_DATA_MALFORMED naming the file and line on any structural fault. */
export function parseCsvTable(text: string, columns: readonly string[], path: string): readonly CsvRow[] {
  const malformed = (line: number, why: string): EcomlError =>
    new EcomlError('E_DATA_MALFORMED', `${path}:${line}: ${why}`, { details: { path, line } });
  let header: readonly string[] | undefined;
  const rows: CsvRow[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '' || raw.startsWith('#')) return;
    const fields = splitCsvLine(raw);
    if (fields === undefined) throw malformed(line, 'unterminated quoted field');
    if (header === undefined) {
      const missing = columns.filter((column) => !fields.includes(column));
      if (missing.length > 0) throw malformed(line, `header lacks column(s) ${missing.join(', ')}`);
      header = fields;
      return;
    }
    if (fields.length !== header.length) throw malformed(line, `expected ${header.length} fields, found ${fields.length}`);
    const columnsOfHeader = header;
    rows.push({ line, fields: Object.fromEntries(fields.map((value, j) => [columnsOfHeader[j] as string, value])) });
  });
  if (header === undefined) throw malformed(1, 'no header row');
  return rows;
}

/** Splits one line into fields (RFC 4180 quoting); undefined when a quote is left open. */
export function splitCsvLine(line: string): string[] | undefined {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  if (quoted) return undefined;
  fields.push(field);
  return fields;
}
