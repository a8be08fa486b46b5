/**
 * Inputs to a trained model, in whatever form a user has them: an IDX file (labels from an
 * optional paired labels file), a CSV (labels when it has the label column), PNG images (one file
 * or a directory of them), or JSON instances. Each is checked against the model's sample shape
 * and then preprocessed exactly as the training data was.
 *
 * PNGs become 8-bit grayscale, as MNIST stores digits: luma 0.299 R + 0.587 G + 0.114 B, rounded,
 * with alpha composited onto black, because MNIST digits are white strokes on a black background
 * and a transparent pixel is background.
 * @module
 */
import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { PNG } from 'pngjs';
import { EcomlError } from '../errors.js';
import { fsError } from '../util/fs.js';
import { csvFeatures, csvLabels, labelColumnIndex, parseCsv } from './csv.js';
import { readInputFile } from './files.js';
import { idxImages, idxPair, parseIdx, readIdxFile } from './idx.js';
import { applyPreprocessing } from './preprocess.js';
import { featureSize, formatShape } from './shape.js';
import type { Preprocessing } from './types.js';

export interface PredictInputOptions {
  /** The model's sample shape, e.g. [28, 28, 1]. */
  readonly featureShape: readonly number[];
  /** The training data's preprocessing, from the model's sidecar. */
  readonly preprocessing: Preprocessing;
  /** For an IDX images file: its labels file. */
  readonly labelsPath?: string;
  /** For a CSV: the label column; when the file has it, its labels are returned. */
  readonly labelColumn?: string;
  /** For a CSV with text labels: the training classes, so labels get the training ids. */
  readonly classNames?: readonly string[];
}

export interface PredictInput {
  readonly x: Float32Array;
  readonly n: number;
  readonly labels?: Int32Array;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function loadPredictInput(path: string, options: PredictInputOptions): PredictInput {
  const raw = readRaw(path, options);
  const expected = featureSize(options.featureShape);
  if (raw.x.length !== raw.n * expected) {
    const found = raw.x.length / raw.n;
    throw new EcomlError('E_SHAPE_MISMATCH', `"${path}" has ${found} features per sample; the model expects ${expected} (shape ${formatShape(options.featureShape)})`, {
      details: { file: path, expected, found },
    });
  }
  applyPreprocessing(options.preprocessing, raw.x);
  return raw;
}

type Content = 'png' | 'idx' | 'text' | 'binary';

/** What a file's first bytes say it is: the PNG signature, IDX's two zero bytes, text, or other bytes. */
function sniff(buffer: Buffer): Content {
  if (buffer.subarray(0, 8).equals(PNG_SIGNATURE)) return 'png';
  if (buffer.length >= 2 && buffer[0] === 0 && buffer[1] === 0) return 'idx';
  return buffer.subarray(0, 4096).includes(0) ? 'binary' : 'text';
}

const CONTENT_NAMES: Readonly<Record<Content, string>> = { png: 'a PNG', idx: 'an IDX file', text: 'text', binary: 'binary data of no format ecoml reads' };

/** The format a file's name promises, for the binary formats whose content can be checked. */
function namedAs(path: string): 'png' | 'idx' | undefined {
  if (/\.png$/i.test(path)) return 'png';
  if (/(\.idx\d*|\.ubyte|idx\d-ubyte)$/i.test(path)) return 'idx';
  return undefined;
}

function misnamed(file: string, named: Content, content: Content): EcomlError {
  return new EcomlError('E_DATA_MALFORMED', `"${file}" is named as ${CONTENT_NAMES[named]} but holds ${CONTENT_NAMES[content]}`, { details: { file, named, content } });
}

/**
 * Dispatches on content (the PNG and IDX signatures, else text as JSON or CSV), checked against the
 * name: a file named as a PNG or IDX file that is not one is reported as such, not parsed as a CSV.
 */
function readRaw(path: string, options: PredictInputOptions): PredictInput {
  const buffer = isDirectory(path) ? undefined : readInputFile(path);
  const content = buffer === undefined ? undefined : sniff(buffer);
  const named = namedAs(path);
  if (content !== undefined && named !== undefined && content !== named) throw misnamed(path, named, content);
  if (content === 'idx') return readIdx(path, buffer as Buffer, options);
  if (options.labelsPath !== undefined) {
    throw new EcomlError('E_CONFIG_INVALID', `a labels file goes with IDX images only, and "${path}" is not an IDX file`, {
      details: { file: path, labelsFile: options.labelsPath },
    });
  }
  if (buffer === undefined) return readPngDirectory(path, options.featureShape);
  if (content === 'png') return readPngs([path], [buffer], options.featureShape);
  if (content === 'binary') {
    throw new EcomlError('E_DATA_MALFORMED', `"${path}" holds ${CONTENT_NAMES.binary} (IDX, CSV, PNG or JSON)`, { details: { file: path } });
  }
  const text = buffer.toString('utf8');
  if (extname(path).toLowerCase() === '.json' || /^\uFEFF?\s*[[{]/.test(text)) return readJson(path, text, options.featureShape);
  return readCsv(path, text, options);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false; // readInputFile reports a missing path (or a link loop) with the proper error
  }
}

function readIdx(path: string, buffer: Buffer, options: PredictInputOptions): PredictInput {
  const images = parseIdx(buffer, path);
  if (options.labelsPath === undefined) {
    const { x, n } = idxImages(images);
    return { x, n };
  }
  const { x, n, y } = idxPair(images, readIdxFile(options.labelsPath));
  return { x, n, labels: y };
}

function readCsv(path: string, text: string, options: PredictInputOptions): PredictInput {
  const table = parseCsv(text, path);
  const label = options.labelColumn !== undefined && table.header.includes(options.labelColumn) ? labelColumnIndex(table, options.labelColumn) : undefined;
  const { x, n } = csvFeatures(table, label);
  if (label === undefined) return { x, n };
  return { x, n, labels: csvLabels(table, label, { classNames: options.classNames }).y };
}

function readJson(path: string, text: string, featureShape: readonly number[]): PredictInput {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    // V8 names a position for some syntax errors only; the end of input is the position of the rest.
    const at = /position (\d+)/.exec(message)?.[1] ?? (/end of JSON input/.test(message) ? String(text.length) : undefined);
    const position = at === undefined ? undefined : lineColumn(text, Number(at));
    const where = position === undefined ? '' : ` at line ${position.line}, column ${position.column}`;
    throw new EcomlError('E_DATA_MALFORMED', `JSON file "${path}" is malformed${where}: ${message}`, {
      details: { file: path, ...position },
    });
  }
  const instances = Array.isArray(value) ? value : (value as { instances?: unknown } | null)?.instances;
  if (!Array.isArray(instances) || instances.length === 0) {
    throw new EcomlError('E_DATA_MALFORMED', `JSON file "${path}" must hold a non-empty array of instances, or {"instances": [...]}`, {
      details: { file: path },
    });
  }
  const k = featureSize(featureShape);
  const x = new Float32Array(instances.length * k);
  instances.forEach((instance, i) => {
    let count = 0;
    // Flattens row-major straight into x; counting past k stops writing and is reported below.
    const visit = (node: unknown, at: string): void => {
      if (Array.isArray(node)) {
        node.forEach((child, j) => visit(child, `${at}[${j}]`));
      } else if (typeof node === 'number' && Number.isFinite(node)) {
        if (count < k) x[i * k + count] = node;
        count++;
      } else {
        throw new EcomlError('E_DATA_MALFORMED', `JSON file "${path}" is malformed at ${at}: expected a number, found ${JSON.stringify(node)}`, {
          details: { file: path, instance: i, path: at },
        });
      }
    };
    visit(instance, `instances[${i}]`);
    if (count !== k) {
      throw new EcomlError('E_SHAPE_MISMATCH', `JSON file "${path}": instances[${i}] has ${count} numbers; the model expects ${k} (shape ${formatShape(featureShape)})`, {
        details: { file: path, instance: i, expected: k, found: count },
      });
    }
  });
  return { x, n: instances.length };
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  return { line: before.split('\n').length, column: offset - before.lastIndexOf('\n') };
}

function readPngDirectory(dir: string, featureShape: readonly number[]): PredictInput {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (err) {
    throw fsError(err, 'input directory', dir);
  }
  const names = entries
    .filter((name) => extname(name).toLowerCase() === '.png')
    .sort();
  if (names.length === 0) {
    throw new EcomlError('E_DATA_MALFORMED', `directory "${dir}" holds no .png files`, { details: { file: dir } });
  }
  const files = names.map((name) => join(dir, name));
  return readPngs(files, files.map(readInputFile), featureShape);
}

/** The image size a sample shape asks for: [h, w, 1] or [h, w]; a flat [k] takes any h × w = k. */
function expectedImage(featureShape: readonly number[]): { readonly h?: number; readonly w?: number; readonly pixels: number } {
  const [h, w, ...channels] = featureShape;
  if (h === undefined || w === undefined) return { pixels: featureSize(featureShape) };
  if (featureSize(channels) !== 1) {
    throw new EcomlError('E_SHAPE_MISMATCH', `PNG input becomes 1-channel grayscale, but the model expects shape ${formatShape(featureShape)}`, {
      details: { expected: featureShape },
    });
  }
  return { h, w, pixels: h * w };
}

function readPngs(files: readonly string[], buffers: readonly Buffer[], featureShape: readonly number[]): PredictInput {
  const want = expectedImage(featureShape);
  const x = new Float32Array(files.length * want.pixels);
  files.forEach((file, i) => {
    const png = decodePng(file, buffers[i] as Buffer);
    const fits = want.h === undefined ? png.width * png.height === want.pixels : png.width === want.w && png.height === want.h;
    if (!fits) {
      const expected = want.h === undefined ? `${want.pixels} pixels` : `${want.w}×${want.h}`;
      throw new EcomlError('E_SHAPE_MISMATCH', `PNG "${file}" is ${png.width}×${png.height} (width×height); the model expects ${expected}`, {
        details: { file, expected: want, found: { w: png.width, h: png.height } },
      });
    }
    const rgba = png.data;
    for (let p = 0; p < want.pixels; p++) {
      const o = p * 4;
      const luma = 0.299 * (rgba[o] as number) + 0.587 * (rgba[o + 1] as number) + 0.114 * (rgba[o + 2] as number);
      x[i * want.pixels + p] = Math.round((luma * (rgba[o + 3] as number)) / 255);
    }
  });
  return { x, n: files.length };
}

function decodePng(file: string, buffer: Buffer): PNG {
  // A directory's .png files are taken at their name: each must be one.
  const content = sniff(buffer);
  if (content !== 'png') throw misnamed(file, 'png', content);
  checkPngChunks(file, buffer);
  try {
    return PNG.sync.read(buffer);
  } catch (err) {
    throw new EcomlError('E_DATA_MALFORMED', `PNG file "${file}" is damaged: its image data cannot be decoded (${(err as Error).message})`, { details: { file }, cause: err });
  }
}

/**
 * Walks the chunks (length, type, data, CRC) up to IEND, so a cut-off file is reported with the byte
 * where it ends; the PNG decoder itself only says its stream ended early.
 */
function checkPngChunks(file: string, buffer: Buffer): void {
  const truncated = (why: string, at: number): EcomlError =>
    new EcomlError('E_DATA_MALFORMED', `PNG file "${file}" is truncated: ${why} (the file ends at byte ${buffer.length})`, { details: { file, offset: at, size: buffer.length } });
  let at = PNG_SIGNATURE.length;
  for (;;) {
    if (at + 8 > buffer.length) throw truncated(`a chunk header is due at byte ${at}, but there is no IEND chunk`, at);
    const length = buffer.readUInt32BE(at);
    const type = buffer.toString('latin1', at + 4, at + 8);
    if (at + 12 + length > buffer.length) throw truncated(`chunk ${type} at byte ${at} declares ${length} bytes of data`, at);
    if (type === 'IEND') return;
    at += 12 + length;
  }
}
