/**
 * Working with saved model directories: predict on files and evaluate on labelled data.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { applyPreprocessing, loadCsvDataset, loadIdxPair, loadMnist, loadPredictInput, type Dataset } from '../data/index.js';
import { EcomlError } from '../errors.js';
import type { Measurement } from '../meter/index.js';
import { loadModelDir, readModelDir, type ModelSidecar } from '../models/index.js';
import { GRAPH_FILE, ONNX_GRAPH_ENGINE, OnnxGraphModel, type Predictor } from '../engine/index.js';
import { argmaxRows, evaluateModel, type EvaluationReport } from './evaluate.js';
import { moveToEngine } from './engines.js';
import type { Workspace } from './workspace.js';

export interface LoadedModel {
  readonly dir: string;
  /** A trained model on the workspace's engine, or, for a compressed model, its ONNX graph. */
  readonly compiled: Predictor;
  readonly sidecar: ModelSidecar;
  readonly measurement: Measurement;
}

export async function openModel(ws: Workspace, dir: string): Promise<LoadedModel> {
  const full = resolve(ws.cwd, dir);
  const window = await ws.meter.begin('load');
  const sidecar = await readModelDir(full);
  if (sidecar.engine === ONNX_GRAPH_ENGINE) {
    const graph = await OnnxGraphModel.open(sidecar.resolvedSpec, await readFile(join(full, GRAPH_FILE)));
    return { dir: full, compiled: graph, sidecar, measurement: await window.end() };
  }
  const { compiled: stored } = await loadModelDir(full, ws.reference);
  const engine = ws.engineFor(stored.spec);
  const compiled = await moveToEngine(stored, engine, 0);
  if (compiled !== stored) stored.dispose();
  return { dir: full, compiled, sidecar, measurement: await window.end() };
}

export interface Prediction {
  readonly index: number;
  readonly class: number;
  readonly label?: string;
  readonly probabilities: readonly number[];
}

export interface PredictReport {
  readonly model_dir: string;
  readonly input: string;
  readonly n: number;
  readonly predictions: readonly Prediction[];
  /** Present when the input carried labels. */
  readonly accuracy?: number;
  readonly measurement: Measurement;
}

export async function predictWithModel(
  ws: Workspace,
  model: LoadedModel,
  input: { readonly path: string; readonly labelsPath?: string },
  options: { readonly batchSize?: number } = {},
): Promise<PredictReport> {
  const path = resolve(ws.cwd, input.path);
  const data = await loadPredictInput(path, inputOptions(ws, model, input.labelsPath));
  const window = await ws.meter.begin('predict');
  const probabilities = await model.compiled.predict(data.x, data.n, options.batchSize ?? 256);
  const measurement = await window.end();
  const classes = model.compiled.spec.numClasses;
  const predicted = argmaxRows(probabilities, data.n, classes);
  const names = model.sidecar.classNames;
  const predictions: Prediction[] = Array.from(predicted, (c, i) => {
    const label = names?.[c];
    return {
      index: i,
      class: c,
      ...(label !== undefined ? { label } : {}),
      probabilities: Array.from(probabilities.subarray(i * classes, (i + 1) * classes)),
    };
  });
  let accuracy: number | undefined;
  if (data.labels) {
    let correct = 0;
    for (let i = 0; i < data.n; i++) if (predicted[i] === data.labels[i]) correct++;
    accuracy = correct / data.n;
  }
  return { model_dir: model.dir, input: path, n: data.n, predictions, ...(accuracy !== undefined ? { accuracy } : {}), measurement };
}

/**
 * The labelled data to evaluate on: an explicit file (IDX images + labels, or CSV with the label
 * column), else the test split of the data the model was trained on.
 */
export async function evaluationData(
  ws: Workspace,
  model: LoadedModel,
  source: { readonly path?: string; readonly labelsPath?: string; readonly limit?: number },
): Promise<Dataset> {
  if (source.path === undefined) return applySidecarPreprocessing(model, rawTestSplit(model, source.limit));
  const data = await loadPredictInput(resolve(ws.cwd, source.path), inputOptions(ws, model, source.labelsPath));
  if (!data.labels) {
    throw new EcomlError('E_CONFIG_INVALID', `${source.path} carries no labels: evaluate needs IDX images with --labels, or a CSV with the label column`);
  }
  const n = source.limit !== undefined ? Math.min(source.limit, data.n) : data.n;
  const perSample = data.x.length / data.n;
  return {
    name: source.path,
    x: data.x.subarray(0, n * perSample),
    y: data.labels.subarray(0, n),
    n,
    featureShape: model.compiled.spec.input,
    numClasses: model.compiled.spec.numClasses,
  };
}

/** How the model's training data was read: shape, preprocessing, the CSV label column and class names. */
function inputOptions(ws: Workspace, model: LoadedModel, labelsPath: string | undefined): Parameters<typeof loadPredictInput>[1] {
  const data = model.sidecar.spec.data;
  return {
    featureShape: model.compiled.spec.input,
    preprocessing: model.sidecar.preprocessing,
    ...(labelsPath !== undefined ? { labelsPath: resolve(ws.cwd, labelsPath) } : {}),
    ...(data.source === 'csv' ? { labelColumn: data.labelColumn } : {}),
    ...(model.sidecar.classNames ? { classNames: model.sidecar.classNames } : {}),
  };
}

/** The test split named by the model's spec, unprocessed; relative paths resolve against the spec's directory. */
function rawTestSplit(model: LoadedModel, limit: number | undefined): Dataset {
  const data = model.sidecar.spec.data;
  const numClasses = model.compiled.spec.numClasses;
  const limits = limit !== undefined ? { limit } : {};
  if (data.source === 'mnist') return loadMnist('test', limits);
  const baseDir = model.sidecar.specDir;
  if (data.source === 'idx' && data.testImages !== undefined && data.testLabels !== undefined) {
    return loadIdxPair(resolve(baseDir, data.testImages), resolve(baseDir, data.testLabels), { numClasses, ...limits });
  }
  if (data.source === 'csv' && data.test !== undefined) {
    const classNames = model.sidecar.classNames;
    return loadCsvDataset(resolve(baseDir, data.test), { labelColumn: data.labelColumn, numClasses, ...(classNames ? { classNames } : {}), ...limits });
  }
  throw new EcomlError('E_CONFIG_INVALID', `the spec of ${model.dir} names no test data: pass --data FILE`);
}

/** Raw test data is prepared exactly as the model's training data was, from the sidecar's record. */
function applySidecarPreprocessing(model: LoadedModel, raw: Dataset): Dataset {
  applyPreprocessing(model.sidecar.preprocessing, raw.x);
  return raw;
}

export async function evaluateSaved(
  ws: Workspace,
  model: LoadedModel,
  data: Dataset,
  options: { readonly batchSize?: number } = {},
): Promise<EvaluationReport> {
  return evaluateModel(ws, model.compiled, data, {
    batchSize: options.batchSize ?? 256,
    ...(model.sidecar.classNames ? { classNames: model.sidecar.classNames } : {}),
  });
}
