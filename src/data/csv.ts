/**
 * CSV tables: a header row, then one sample per row. RFC 4180 basics: comma separated, fields
 * optionally in double quotes ("" escapes a quote; quoted fields may hold commas and newlines;
 * spaces around the quotes are ignored), LF or CRLF line ends. Blank lines are skipped wherever
 * they are, as pandas does, so a trailing newline or two never becomes a ragged row.
 * @module
 */
import { EcomlError } from '../errors.js';
import { readInputFile } from './files.js';
import { resolveLimit } from './shape.js';
import type { Dataset } from './types.js';

/** One record and the (1-based) line it starts on. */
export interface CsvRecord {
  readonly line: number;
  readonly fields: readonly string[];
}

export interface CsvTable {
  readonly file: string;
  /** Header names, trimmed. */
  readonly header: readonly string[];
  readonly headerLine: number;
  readonly records: readonly CsvRecord[];
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;

/**
 * Where a problem is: `column` is 1-based, a character column for quoting errors and a field
 * number (with the header `name`) for cell errors.
 */
interface Position {
  readonly line: number;
  readonly column?: number;
  readonly name?: string;
}

function malformed(file: string, at: Position, what: string, details: Record<string, unknown> = {}): EcomlError {
  const column = at.column === undefined ? '' : `, column ${at.column}${at.name === undefined ? '' : ` ("${at.name}")`}`;
  return new EcomlError('E_DATA_MALFORMED', `CSV file "${file}" is malformed at line ${at.line}${column}: ${what}`, {
    details: { file, line: at.line, ...(at.column === undefined ? {} : { column: at.column }), ...details },
  });
}

/** Spaces and tabs around a quoted field are padding, not part of it (a common laxity of hand-written CSV). */
function skipBlanks(text: string, i: number): number {
  while (text.charCodeAt(i) === 0x20 || text.charCodeAt(i) === 0x09) i++;
  return i;
}

/** Splits text into records; checks quoting only (row lengths and cell contents are the caller's). */
export function parseCsv(text: string, file: string): CsvTable {
  const records: CsvRecord[] = [];
  const len = text.length;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a UTF-8 BOM is not part of the first header name
  let line = 1;
  let lineStart = i;
  const syntax = (at: number, atLine: number, atLineStart: number, what: string): EcomlError =>
    malformed(file, { line: atLine, column: at - atLineStart + 1 }, what);

  while (i < len) {
    const recordLine = line;
    const fields: string[] = [];
    for (;;) {
      const quoteAt = skipBlanks(text, i);
      if (text.charCodeAt(quoteAt) === QUOTE) {
        i = quoteAt;
        const [openAt, openLine, openLineStart] = [i, line, lineStart];
        let value = '';
        let segment = ++i;
        for (;;) {
          if (i >= len) throw syntax(openAt, openLine, openLineStart, 'quoted field is never closed');
          const c = text.charCodeAt(i);
          if (c === QUOTE) {
            value += text.slice(segment, i);
            if (text.charCodeAt(i + 1) !== QUOTE) break;
            value += '"';
            i += 2;
            segment = i;
            continue;
          }
          if (c === LF) {
            line++;
            lineStart = i + 1;
          }
          i++;
        }
        i = skipBlanks(text, i + 1);
        const after = text.charCodeAt(i);
        if (i < len && after !== COMMA && after !== LF && after !== CR) {
          throw syntax(i, line, lineStart, 'unexpected text after a closing quote (a quote inside a field must be doubled)');
        }
        fields.push(value);
      } else {
        const start = i;
        for (; i < len; i++) {
          const c = text.charCodeAt(i);
          if (c === COMMA || c === LF || c === CR) break;
          if (c === QUOTE) throw syntax(i, line, lineStart, 'quote inside an unquoted field (quote the whole field and double the quote)');
        }
        fields.push(text.slice(start, i));
      }
      if (i >= len) break;
      if (text.charCodeAt(i) === COMMA) {
        i++;
        continue;
      }
      i += text.charCodeAt(i) === CR && text.charCodeAt(i + 1) === LF ? 2 : 1;
      line++;
      lineStart = i;
      break;
    }
    const blank = fields.length === 1 && (fields[0] as string).trim() === '';
    if (!blank) records.push({ line: recordLine, fields });
  }

  const [head, ...rows] = records;
  if (head === undefined) throw malformed(file, { line: 1 }, 'empty file: expected a header row');
  if (rows.length === 0) throw malformed(file, { line: head.line + 1 }, 'no data rows after the header');
  for (const row of rows) {
    if (row.fields.length !== head.fields.length) {
      throw malformed(file, { line: row.line }, `ragged row: expected ${head.fields.length} columns (as in the header), found ${row.fields.length}`);
    }
  }
  return { file, header: head.fields.map((h) => h.trim()), headerLine: head.line, records: rows };
}

export function readCsvFile(file: string): CsvTable {
  return parseCsv(readInputFile(file).toString('utf8'), file);
}

/** Plain decimal numbers only: Number() would also take '', '0x1f' and 'Infinity'. */
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;
const INT32_MAX = 0x7fffffff;

/** A cell's position: its line and 0-based column index, reported 1-based with the header name. */
function cellError(table: CsvTable, line: number, col: number, what: string): EcomlError {
  return malformed(table.file, { line, column: col + 1, name: table.header[col] }, what);
}

/** Index of the label column; a miss lists the header. */
export function labelColumnIndex(table: CsvTable, name: string): number {
  const index = table.header.indexOf(name);
  if (index < 0) {
    throw malformed(table.file, { line: table.headerLine }, `label column "${name}" is not in the header (columns: ${table.header.join(', ')})`, {
      labelColumn: name,
      header: table.header,
    });
  }
  const again = table.header.indexOf(name, index + 1);
  if (again >= 0) throw cellError(table, table.headerLine, again, `label column "${name}" appears twice in the header`);
  return index;
}

export interface CsvFeatures {
  readonly x: Float32Array;
  readonly n: number;
  readonly featureNames: readonly string[];
}

/** Every column except `skip` (the label column) as float32 features, row-major. */
export function csvFeatures(table: CsvTable, skip?: number): CsvFeatures {
  const columns = table.header.map((_, c) => c).filter((c) => c !== skip);
  if (columns.length === 0) {
    throw malformed(table.file, { line: table.headerLine }, 'no feature columns besides the label column');
  }
  const n = table.records.length;
  const k = columns.length;
  const x = new Float32Array(n * k);
  table.records.forEach((record, r) => {
    columns.forEach((c, j) => {
      const text = (record.fields[c] as string).trim();
      if (!NUMBER.test(text)) throw cellError(table, record.line, c, `non-numeric value "${text}"`);
      x[r * k + j] = Number(text);
    });
  });
  return { x, n, featureNames: columns.map((c) => table.header[c] as string) };
}

export interface CsvLabelOptions {
  /** Labels must be below this; by default it is the number of classes found. */
  readonly numClasses?: number;
  /** A fixed name → id mapping (the training split's), so every split uses the same ids. */
  readonly classNames?: readonly string[];
}

export interface CsvLabels {
  readonly y: Int32Array;
  readonly numClasses: number;
  readonly classNames?: readonly string[];
}

/**
 * Labels from one column. Whole numbers ≥ 0 are class ids. If any label is other text, each
 * distinct text is a class, numbered in sorted order, and the names are kept.
 */
export function csvLabels(table: CsvTable, column: number, options: CsvLabelOptions = {}): CsvLabels {
  const texts = table.records.map((record) => (record.fields[column] as string).trim());
  const fail = (r: number, what: string): EcomlError => cellError(table, (table.records[r] as CsvRecord).line, column, what);
  const empty = texts.indexOf('');
  if (empty >= 0) throw fail(empty, 'empty label');

  const classNames = options.classNames ?? (texts.every((t) => INTEGER.test(t)) ? undefined : [...new Set(texts)].sort());
  const ids = classNames === undefined ? undefined : new Map(classNames.map((name, id) => [name, id]));
  const y = new Int32Array(texts.length);
  texts.forEach((text, r) => {
    const id = ids === undefined ? Number(text) : ids.get(text);
    if (id === undefined) throw fail(r, `label "${text}" is not one of the classes ${(classNames ?? []).join(', ')}`);
    if (id < 0 || id > INT32_MAX) throw fail(r, `label out of range: ${text} (class ids are 0…${INT32_MAX})`);
    if (options.numClasses !== undefined && id >= options.numClasses) {
      throw fail(r, `label out of range: "${text}" is class ${id}, numClasses is ${options.numClasses}`);
    }
    y[r] = id;
  });
  const numClasses = options.numClasses ?? classNames?.length ?? y.reduce((max, id) => Math.max(max, id), 0) + 1;
  return { y, numClasses, ...(classNames === undefined ? {} : { classNames }) };
}

export interface CsvDatasetOptions extends CsvLabelOptions {
  readonly labelColumn: string;
  readonly name?: string;
  readonly limit?: number;
}

/** A CSV file as a dataset with featureShape [k] (k = columns other than the label column). */
export function loadCsvDataset(file: string, options: CsvDatasetOptions): Dataset {
  const full = readCsvFile(file);
  const table = { ...full, records: full.records.slice(0, resolveLimit(full.records.length, options.limit)) };
  const label = labelColumnIndex(table, options.labelColumn);
  const { x, n, featureNames } = csvFeatures(table, label);
  return { name: options.name ?? file, x, n, featureShape: [featureNames.length], featureNames, ...csvLabels(table, label, options) };
}
