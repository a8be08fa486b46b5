/**
 * Loading and resolving spec files: parse (YAML or JSON), validate the structure and every
 * hyperparameter reference, substitute hyperparameter values, validate each layer with its schema
 * and infer shapes through the stack. Everything here is engine-agnostic.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { EcomlError } from '../errors.js';
import { fsError } from '../util/fs.js';
import { analyzeLayer, describeIssues, parseLayerConfig, type LayerAnalysis, type Shape, type TypedLayerConfig } from './layers.js';
import { HpRefSchema, SpecFileSchema } from './spec.js';
import type { Hyperparameter, HpRef, HpValue, LayerConfig, ModelSpec, RawLayer, SpecFile } from './spec.js';

/** The spec as the TS API accepts it: the file's structure, defaults optional. */
export type SpecInput = z.input<typeof SpecFileSchema>;

/** Reads and fully validates a spec file (`.json` as JSON, anything else as YAML, a superset of JSON). */
export async function loadSpecFile(path: string): Promise<SpecFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw fsError(error, 'spec file', path);
  }
  return parseSpecText(text, path, extname(path).toLowerCase() === '.json' ? 'json' : 'yaml');
}

/** Parses and validates spec text; `source` names it in errors. */
export function parseSpecText(text: string, source: string, format: 'yaml' | 'json'): SpecFile {
  return validateSpec(format === 'json' ? parseJson(text, source) : parseYamlText(text, source), source);
}

/** Validates a spec given as an object (the TS API), exactly as a spec file is validated. */
export function defineSpec(spec: SpecInput): SpecFile {
  return validateSpec(spec, 'spec');
}

function syntaxError(source: string, kind: string, message: string, line: number, column: number): EcomlError {
  return new EcomlError('E_SPEC_INVALID', `${source}:${line}:${column}: ${kind} syntax error: ${message}`, {
    details: { file: source, line, column },
  });
}

function parseYamlText(text: string, source: string): unknown {
  try {
    return parseYaml(text);
  } catch (error) {
    if (error instanceof YAMLParseError) {
      const pos = error.linePos?.[0] ?? { line: 1, col: 1 };
      // The message's first line, without the position the pretty form appends (we prefix our own).
      const message = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
      throw syntaxError(source, 'YAML', message, pos.line, pos.col);
    }
    throw error;
  }
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    const position = Number(/position (\d+)/.exec(error.message)?.[1] ?? text.length);
    const before = text.slice(0, position).split('\n');
    throw syntaxError(source, 'JSON', error.message, before.length, (before.at(-1)?.length ?? 0) + 1);
  }
}

function invalid(source: string, lines: readonly { path: string; message: string }[]): EcomlError {
  return new EcomlError('E_SPEC_INVALID', lines.map((l) => `${source}: ${l.message}`).join('\n'), {
    details: { file: source, issues: lines },
  });
}

function validateSpec(raw: unknown, source: string): SpecFile {
  const parsed = SpecFileSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) throw invalid(source, describeIssues('', parsed.error.issues));
  const file = parsed.data;
  checkHpRefs(file, source);
  // A dry resolution with the default hyperparameters catches bad layer fields and shapes now,
  // not after the data has loaded. The class count is checked only when the spec states it.
  try {
    resolveModelSpec(file, defaultHpValues(file.tune?.space ?? {}), { numClasses: file.numClasses ?? 'from-model' });
  } catch (error) {
    if (error instanceof EcomlError) {
      const message = error.message
        .split('\n')
        .map((line) => `${source}: ${line}`)
        .join('\n');
      throw new EcomlError(error.code, message, { details: { file: source, ...error.details } });
    }
    throw error;
  }
  return file;
}

function isHpRef(value: unknown): value is HpRef {
  return HpRefSchema.safeParse(value).success;
}

/** Every HpRef in `value` with its field path. */
function findHpRefs(value: unknown, path: string, out: { path: string; hp: string }[]): void {
  if (isHpRef(value)) out.push({ path, hp: value.hp });
  else if (Array.isArray(value)) value.forEach((v, i) => findHpRefs(v, `${path}[${i}]`, out));
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) findHpRefs(v, `${path}.${k}`, out);
}

function checkHpRefs(file: SpecFile, source: string): void {
  const refs: { path: string; hp: string }[] = [];
  file.model.layers.forEach((layer, i) => findHpRefs(layer, `model.layers[${i}]`, refs));
  findHpRefs(file.compile.optimizer.learningRate, 'compile.optimizer.learningRate', refs);
  const space = file.tune?.space ?? {};
  const defined = Object.keys(space);
  const unknown = refs.filter((r) => !Object.hasOwn(space, r.hp));
  if (unknown.length > 0) {
    const valid = defined.length > 0 ? `defined: ${defined.join(', ')}` : 'the spec has no tune.space';
    throw invalid(
      source,
      unknown.map((r) => ({ path: r.path, message: `${r.path}: hyperparameter "${r.hp}" is not in tune.space (${valid})` })),
    );
  }
}

/**
 * Each hyperparameter's default, as Keras Tuner picks it: int/float the given default else min;
 * choice the given default else its first value; boolean the given default else false; fixed its value.
 */
export function defaultHpValues(space: Readonly<Record<string, Hyperparameter>>): Record<string, HpValue> {
  const values: Record<string, HpValue> = {};
  for (const [name, hp] of Object.entries(space)) {
    switch (hp.type) {
      case 'int':
      case 'float':
        values[name] = hp.default ?? hp.min;
        break;
      case 'choice':
        values[name] = hp.default ?? (hp.values[0] as HpValue);
        break;
      case 'boolean':
        values[name] = hp.default ?? false;
        break;
      case 'fixed':
        values[name] = hp.value;
        break;
    }
  }
  return values;
}

function substitute(value: unknown, values: Readonly<Record<string, HpValue>>): unknown {
  if (isHpRef(value)) return values[value.hp];
  if (Array.isArray(value)) return value.map((v) => substitute(v, values));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, values)]));
  }
  return value;
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** `from-model`: take the class count from the model's output (used to validate a spec before data exists). */
export interface ResolveOptions {
  readonly numClasses?: number | 'from-model';
}

/** Losses whose targets are class labels over the model's last axis (one-hot for the non-sparse ones). */
const LABEL_LOSSES = ['sparse_categorical_crossentropy', 'categorical_crossentropy', 'mean_squared_error', 'mean_absolute_error'] as const;

/**
 * The spec with hyperparameters resolved: HpRefs replaced by `hpValues` (missing ones take their
 * defaults), every layer validated, shapes inferred, and the model's output checked against the
 * class count (from `options.numClasses`, else the spec's `numClasses`). Frozen.
 */
export function resolveModelSpec(file: SpecFile, hpValues: Readonly<Record<string, HpValue>>, options: ResolveOptions = {}): ModelSpec {
  const space = file.tune?.space ?? {};
  const values = { ...defaultHpValues(space), ...hpValues };
  const layers: TypedLayerConfig[] = file.model.layers.map((raw, i) => parseLayerConfig(substitute(raw, values) as RawLayer, `model.layers[${i}]`));
  const analyses = analyzeStack(file.model.input, layers);
  const last = analyses.at(-1) as LayerAnalysis;
  const loss = file.compile.loss;
  const lastAt = `model.layers[${layers.length - 1}] (${layers.at(-1)?.type})`;
  const requested = options.numClasses ?? file.numClasses;
  let numClasses: number;
  if (requested === undefined) {
    throw new EcomlError('E_SPEC_INVALID', 'numClasses: unknown; set it in the spec or pass the data’s class count', { details: { path: 'numClasses' } });
  } else if (requested === 'from-model') {
    numClasses = loss === 'binary_crossentropy' ? 2 : (last.outputShape.at(-1) ?? 0);
  } else {
    numClasses = requested;
    if (file.numClasses !== undefined && file.numClasses !== requested) {
      throw new EcomlError('E_SHAPE_MISMATCH', `numClasses: the spec says ${file.numClasses} classes but the data has ${requested}`, {
        details: { path: 'numClasses', spec: file.numClasses, data: requested },
      });
    }
  }
  const out = last.outputShape;
  if (loss === 'binary_crossentropy') {
    if (out.length !== 1 || out[0] !== 1 || numClasses !== 2) {
      throw new EcomlError(
        'E_SHAPE_MISMATCH',
        `${lastAt}: binary_crossentropy needs one output unit and 2 classes; the model outputs [${out.join(', ')}] and the data has ${numClasses} classes`,
        { details: { path: lastAt, outputShape: [...out], numClasses } },
      );
    }
  } else if ((LABEL_LOSSES as readonly string[]).includes(loss) && (out.length !== 1 || out[0] !== numClasses)) {
    throw new EcomlError(
      'E_SHAPE_MISMATCH',
      `${lastAt}: the model outputs [${out.join(', ')}] but the data has ${numClasses} classes; the last layer needs ${numClasses} units (${loss})`,
      { details: { path: lastAt, outputShape: [...out], numClasses } },
    );
  }
  const { learningRate: lr, ...optimizer } = file.compile.optimizer;
  const learningRate = isHpRef(lr) ? values[lr.hp] : lr;
  if (learningRate !== undefined && (typeof learningRate !== 'number' || !(learningRate > 0))) {
    throw new EcomlError('E_SPEC_INVALID', `compile.optimizer.learningRate: expected a positive number, got ${JSON.stringify(learningRate)}`, {
      details: { path: 'compile.optimizer.learningRate' },
    });
  }
  return deepFreeze({
    name: file.name,
    input: [...file.model.input],
    numClasses,
    layers: layers satisfies readonly LayerConfig[],
    compile: {
      optimizer: learningRate === undefined ? optimizer : { ...optimizer, learningRate },
      loss,
      metrics: [...file.compile.metrics],
    },
  });
}

function analyzeStack(input: Shape, layers: readonly TypedLayerConfig[]): LayerAnalysis[] {
  let shape = input;
  return layers.map((layer, i) => {
    const analysis = analyzeLayer(layer, shape, `model.layers[${i}] (${layer.type})`);
    shape = analysis.outputShape;
    return analysis;
  });
}

export interface LayerProfile {
  readonly type: string;
  readonly outputShape: readonly number[];
  readonly params: number;
  readonly flops: number;
}

export interface ModelProfile {
  readonly parameterCount: number;
  /** Forward-pass FLOPs for one sample (conventions in layers.ts). */
  readonly flopsPerSample: number;
  readonly layers: readonly LayerProfile[];
}

/** Parameter count and FLOPs per sample of a resolved spec, layer by layer. */
export function modelProfile(spec: ModelSpec): ModelProfile {
  const layers = spec.layers.map((l, i) => parseLayerConfig(l, `model.layers[${i}]`));
  const analyses = analyzeStack(spec.input, layers);
  const rows = analyses.map((a, i) => ({ type: layers[i]?.type ?? '', outputShape: a.outputShape, params: a.params, flops: a.flops }));
  return {
    parameterCount: rows.reduce((s, r) => s + r.params, 0),
    flopsPerSample: rows.reduce((s, r) => s + r.flops, 0),
    layers: rows,
  };
}
