/**
 * `compress`: a saved model made smaller and cheaper to run — pruned (whole filters and units, or
 * by magnitude) and/or distilled from a teacher during a short fine-tune, then quantized (static
 * int8 QDQ with calibration, dynamic int8, or float16) on its ONNX graph — with the accuracy guard
 * between it and the output, and the source and the result measured side by side.
 * @module
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  CALIBRATORS,
  calibrationTargets,
  convertToFloat16,
  decodeModel,
  detectInt8Capability,
  encodeModel,
  guardAccuracy,
  createMagnitudePruner,
  polynomialDecay,
  quantizableNodes,
  quantizeDynamic,
  quantizeStatic,
  structuredPrune,
  withOutputs,
  type CalibrationMethod,
  type GuardResult,
  type Int8Capability,
  type LayerSensitivity,
  type OnnxModel,
  type QuantizationReport,
  type StructuredPruneReport,
  type TensorRange,
} from '../compress/index.js';
import { applyPreprocessing, featureSize, loadTrainTest, selectRows, type Dataset } from '../data/index.js';
import { GRAPH_FILE, ONNX_GRAPH_ENGINE, OnnxGraphModel, openOnnxInference, type CompiledModel, type NamedWeight, type Predictor } from '../engine/index.js';
import { EcomlError, lookup } from '../errors.js';
import type { Measurement } from '../meter/index.js';
import { checkModelDirTarget, loadModelDir, readModelDir, saveModelDir, type ModelSidecar } from '../models/index.js';
import { fit, type EpochRecord, type FitOptions } from '../train/index.js';
import { PyRandom, shuffleInPlace } from '../util/random.js';
import { moveToEngine } from './engines.js';
import { argmaxRows } from './evaluate.js';
import { openModel } from './saved.js';
import type { Workspace } from './workspace.js';

/** Each quantization: what it writes and whether it needs calibration data. */
export const QUANTIZATIONS = {
  int8: { precision: 'int8', calibrated: true },
  dynamic: { precision: 'int8 (dynamic activations)', calibrated: false },
  fp16: { precision: 'float16', calibrated: false },
} as const;
export type Quantization = keyof typeof QUANTIZATIONS;

export const PRUNE_METHODS = { structured: 'structured', magnitude: 'magnitude' } as const;
export type PruneMethod = keyof typeof PRUNE_METHODS;

export const COMPRESS_DEFAULTS = {
  calibration: 'minmax' as CalibrationMethod,
  calibrationSamples: 1000,
  pruneMethod: 'structured' as PruneMethod,
  fineTuneEpochs: 2,
  maxAccuracyDropPp: 0.5,
  // Not Keras' example's T = 10, α = 0.1 (DISTILLATION_DEFAULTS): for a student much smaller than
  // its teacher Hinton et al. found lower temperatures better, and here (the recipe taught by the
  // 2-conv CNN, 1 epoch alone + 3 distilled, two seeds) T = 4, α = 0.5 gained 0.29 pp over the
  // student trained alone for 4 epochs where Keras' values gained 0.17.
  temperature: 4,
  alpha: 0.5,
  seed: 42,
};

export interface CompressSettings {
  readonly out: string;
  readonly quantize?: Quantization;
  readonly calibration?: CalibrationMethod;
  readonly calibrationSamples?: number;
  /** Fraction of filters/units (structured) or of weights (magnitude) to remove. */
  readonly prune?: number;
  readonly pruneMethod?: PruneMethod;
  readonly distillFrom?: string;
  readonly temperature?: number;
  readonly alpha?: number;
  /** Epochs of fine-tuning after pruning or for distillation. */
  readonly fineTuneEpochs?: number;
  readonly batchSize?: number;
  readonly maxAccuracyDropPp?: number;
  /** Use only the first N training samples (fine-tune, calibration) / held-out samples (guard, report). */
  readonly trainLimit?: number;
  readonly evalLimit?: number;
  readonly seed?: number;
}

export type CompressPhase = 'load' | 'prune' | 'distill' | 'fine-tune' | 'calibrate' | 'guard' | 'measure' | 'save';

export interface CompressCallbacks {
  readonly onPhase?: (phase: CompressPhase, detail: string) => void;
  /** The fine-tune's batches and epochs, as `fit` reports them. */
  readonly onBatch?: FitOptions['onBatch'];
  readonly onEpochEnd?: (record: EpochRecord, epochs: number) => void;
  readonly signal?: AbortSignal;
}

/** One model's figures, measured in the same run as its counterpart's. */
export interface ModelFigures {
  readonly bytes: number;
  readonly parameters: number;
  readonly flopsPerSample: number;
  readonly accuracy: number;
  readonly samplesPerSecondBatch1: number;
  readonly samplesPerSecondBatch256: number;
  readonly joulesPer1000: number;
  readonly joulesPer1000Low: number;
  readonly joulesPer1000High: number;
  /** measured | estimated, and the model behind it. */
  readonly method: string;
  readonly energyModel: string;
}

export interface CompressionRecord {
  readonly source: string;
  readonly prune?: { readonly method: PruneMethod; readonly fraction: number; readonly epochs: number; readonly structured?: StructuredPruneReport; readonly sparsity?: Readonly<Record<string, number>> };
  readonly distill?: {
    readonly teacher: string;
    readonly temperature: number;
    readonly alpha: number;
    readonly epochs: number;
    /** The teacher's accuracy on the training samples it taught. */
    readonly teacherTrainingAccuracy: number;
  };
  readonly quantize?: {
    readonly mode: Quantization;
    readonly calibration?: { readonly method: CalibrationMethod; readonly samples: number };
    readonly cpu: Int8Capability;
    readonly reduceRange: boolean;
    readonly nodes: QuantizationReport['nodes'];
  };
  readonly guard: {
    readonly maxAccuracyDropPp: number;
    readonly sourceAccuracy: number;
    readonly accuracy: number;
    readonly dropPp: number;
    readonly keptFloat: readonly string[];
    readonly sensitivity?: readonly LayerSensitivity[];
    readonly evaluations: number;
    readonly heldOutSamples: number;
  };
}

export interface CompressReport {
  readonly modelDir: string;
  readonly out: string;
  readonly before: ModelFigures;
  readonly after: ModelFigures;
  readonly record: CompressionRecord;
  readonly runId: string;
  readonly measurement: Measurement;
}

const MEASURE_ROUNDS = 3;
const LATENCY_SAMPLES = 100;
const CALIBRATION_BATCH = 64;

export async function compressModel(ws: Workspace, dir: string, settings: CompressSettings, callbacks: CompressCallbacks = {}): Promise<CompressReport> {
  const source = resolve(ws.cwd, dir);
  const out = resolve(ws.cwd, settings.out);
  checkModelDirTarget(out, `--out ${settings.out}`);
  const sidecar = await readModelDir(source);
  const s = { ...COMPRESS_DEFAULTS, batchSize: sidecar.spec.train.batchSize, ...settings };
  if (settings.quantize !== undefined) lookup(QUANTIZATIONS, settings.quantize, 'quantization');
  lookup(CALIBRATORS, s.calibration, 'calibration method');
  lookup(PRUNE_METHODS, s.pruneMethod, 'prune method');
  if (s.prune !== undefined && !(s.prune > 0 && s.prune < 1)) throw new EcomlError('E_CONFIG_INVALID', `--prune takes a fraction between 0 and 1 (exclusive), got ${s.prune}`, { details: { prune: s.prune } });
  if (s.quantize === undefined && s.prune === undefined && s.distillFrom === undefined) {
    throw new EcomlError('E_CONFIG_INVALID', 'nothing to do: give --quantize int8|fp16|dynamic, --prune F and/or --distill-from TEACHER_DIR');
  }
  const phase = callbacks.onPhase ?? ((): void => undefined);
  if (sidecar.engine === ONNX_GRAPH_ENGINE) {
    throw new EcomlError('E_CONFIG_INVALID', `${source} is already a compressed ONNX graph; compress the model it was made from`, { details: { dir: source } });
  }
  const run = ws.store.createRun({ kind: 'compress', name: sidecar.spec.name, params: { modelDir: source, ...settings, out } });
  const window = await ws.meter.begin('compress');
  const temp = await mkdtemp(join(tmpdir(), 'ecoml-compress-'));
  const disposables: { dispose(): void }[] = [];
  let measurement: Measurement | undefined;
  try {
    phase('load', source);
    const data = loadData(sidecar, s);
    const { compiled: stored } = await loadModelDir(source, ws.reference);
    disposables.push(stored);
    const trainer = await moveToEngine(stored, ws.engineFor(stored.spec), s.seed);
    if (trainer !== stored) disposables.push(trainer);

    const sourceBytes = await graphBytes(ws, trainer, join(temp, 'source'));
    const sourceGraph = await OnnxGraphModel.open(trainer.spec, sourceBytes);
    disposables.push(sourceGraph);
    const sourceAccuracy = await accuracyOf(sourceGraph, data.heldOut);

    const trained = await trainPhase(ws, trainer, data.train, s, phase, callbacks, disposables);
    const floatBytes = trained.model === trainer ? sourceBytes : await graphBytes(ws, trained.model, join(temp, 'trained'));
    const spec = trained.model.spec;

    const quantize = s.quantize === undefined ? undefined : await quantizer(floatBytes, s.quantize, data.train, spec.input, s, phase);
    phase('guard', `held-out accuracy against the source's ${(sourceAccuracy * 100).toFixed(2)}%`);
    const guard: GuardResult<QuantizationReport | undefined> = await guardAccuracy({
      layers: quantize?.layers ?? [],
      build: async (keepFloat) => (quantize ? quantize.build(keepFloat) : { bytes: floatBytes, report: undefined }),
      accuracy: async (bytes) => {
        const model = await OnnxGraphModel.open(spec, bytes);
        try {
          return await accuracyOf(model, data.heldOut);
        } finally {
          model.dispose();
        }
      },
      sourceAccuracy,
      maxDropPp: s.maxAccuracyDropPp,
      onStep: (step) => phase('guard', `${step.phase}: ${(step.accuracy * 100).toFixed(2)}%${step.keepFloat.length > 0 ? ` with ${step.keepFloat.join(', ')} in float` : ''}`),
    });

    const result = await OnnxGraphModel.open(spec, guard.candidate.bytes);
    disposables.push(result);
    phase('measure', 'the source and the result, side by side');
    const [before, after] = await measurePair(ws, [sourceGraph, sourceBytes.byteLength, sourceAccuracy], [result, guard.candidate.bytes.byteLength, guard.accuracy], data.heldOut);

    const record: CompressionRecord = {
      source,
      ...(trained.prune ? { prune: trained.prune } : {}),
      ...(trained.distill ? { distill: trained.distill } : {}),
      ...(quantize && guard.candidate.report
        ? { quantize: { mode: quantize.mode, ...(quantize.calibration ? { calibration: quantize.calibration } : {}), cpu: quantize.cpu, reduceRange: quantize.cpu.reduceRange, nodes: guard.candidate.report.nodes } }
        : {}),
      guard: {
        maxAccuracyDropPp: s.maxAccuracyDropPp,
        sourceAccuracy,
        accuracy: guard.accuracy,
        dropPp: guard.dropPp,
        keptFloat: guard.keptFloat,
        ...(guard.sensitivity ? { sensitivity: guard.sensitivity } : {}),
        evaluations: guard.evaluations,
        heldOutSamples: data.heldOut.n,
      },
    };
    phase('save', out);
    measurement = await window.end();
    await saveModelDir(out, result, {
      spec: sidecar.spec,
      specDir: sidecar.specDir,
      hyperparameters: sidecar.hyperparameters,
      preprocessing: sidecar.preprocessing,
      ...(sidecar.classNames ? { classNames: sidecar.classNames } : {}),
      runId: run.id,
      metrics: { test_accuracy: guard.accuracy, source_test_accuracy: sourceAccuracy },
      energy: measurement,
      inference: after,
      compression: record,
    });
    ws.store.finishRun(run.id, {
      status: 'completed',
      metrics: { accuracy: guard.accuracy, source_accuracy: sourceAccuracy, size_ratio: before.bytes / after.bytes, joules_ratio: before.joulesPer1000 / after.joulesPer1000 },
      measurement,
      modelDir: out,
    });
    return { modelDir: source, out, before, after, record, runId: run.id, measurement };
  } catch (error) {
    measurement ??= await window.end();
    ws.store.finishRun(run.id, { status: 'failed', error: error instanceof Error ? error.message : String(error), measurement });
    throw error;
  } finally {
    for (const d of disposables.reverse()) d.dispose();
    await rm(temp, { recursive: true, force: true });
  }
}

interface CompressData {
  readonly train: Dataset;
  /** The source's test split: what the guard and the report score on. */
  readonly heldOut: Dataset;
}

/** The model's own training and test splits, prepared exactly as its sidecar records (not refitted). */
function loadData(sidecar: ModelSidecar, s: CompressSettings): CompressData {
  const loaded = loadTrainTest(sidecar.spec.data, {
    baseDir: sidecar.specDir,
    normalize: 'none',
    numClasses: sidecar.resolvedSpec.numClasses,
    ...(s.trainLimit !== undefined ? { trainLimit: s.trainLimit } : {}),
    ...(s.evalLimit !== undefined ? { testLimit: s.evalLimit } : {}),
  });
  if (loaded.test === undefined) {
    throw new EcomlError('E_CONFIG_INVALID', `the spec of the model names no test data: compress scores the result on it (held out from training)`, { details: { specDir: sidecar.specDir } });
  }
  for (const ds of [loaded.train, loaded.test]) applyPreprocessing(sidecar.preprocessing, ds.x);
  return { train: loaded.train, heldOut: loaded.test };
}

/** The model's ONNX inference graph (weights baked in), through the onnx engine. */
async function graphBytes(ws: Workspace, model: CompiledModel, dir: string): Promise<Uint8Array> {
  const onnx = ws.engines.onnx;
  const reason = onnx === undefined ? 'there is no onnx engine' : onnx.unsupportedReason?.(model.spec);
  if (onnx === undefined || reason !== undefined) {
    throw new EcomlError('E_CONFIG_INVALID', `compress works on the model's ONNX graph, and the onnx engine cannot take this model: ${reason}`, { details: { reason } });
  }
  const moved = await moveToEngine(model, onnx, 0);
  try {
    await moved.saveTo(dir);
    return new Uint8Array(await readFile(join(dir, GRAPH_FILE)));
  } finally {
    if (moved !== model) moved.dispose();
  }
}

async function accuracyOf(model: Predictor, data: Dataset): Promise<number> {
  const metrics = await model.evaluate(data.x, data.y, data.n, 256);
  if (metrics.accuracy === undefined) throw new EcomlError('E_CONFIG_INVALID', 'compress guards accuracy, and the model does not report it (add accuracy to compile.metrics)');
  return metrics.accuracy;
}

interface Trained {
  readonly model: CompiledModel;
  readonly prune?: CompressionRecord['prune'];
  readonly distill?: CompressionRecord['distill'];
}

/** Pruning and distillation: one fine-tune on the training engine, when either is asked for. */
async function trainPhase(
  ws: Workspace,
  source: CompiledModel,
  train: Dataset,
  s: CompressSettings & typeof COMPRESS_DEFAULTS,
  phase: (p: CompressPhase, detail: string) => void,
  callbacks: CompressCallbacks,
  disposables: { dispose(): void }[],
): Promise<Trained> {
  if (s.prune === undefined && s.distillFrom === undefined) return { model: source };
  let spec = source.spec;
  let weights = await source.getWeights();
  let structured: StructuredPruneReport | undefined;
  if (s.prune !== undefined && s.pruneMethod === 'structured') {
    phase('prune', `removing ${(s.prune * 100).toFixed(0)}% of each hidden layer's filters and units (smallest L1 norm)`);
    const pruned = structuredPrune(spec, weights, { fraction: s.prune });
    spec = pruned.spec;
    weights = [...pruned.weights];
    structured = pruned.report;
  }
  let teacher: { probs: Float32Array; accuracy: number } | undefined;
  if (s.distillFrom !== undefined) {
    phase('distill', `teacher ${s.distillFrom}: its probabilities on ${train.n} training samples`);
    const loaded = await openModel(ws, s.distillFrom);
    try {
      if (loaded.compiled.spec.numClasses !== spec.numClasses) {
        throw new EcomlError('E_SHAPE_MISMATCH', `the teacher has ${loaded.compiled.spec.numClasses} classes and the student ${spec.numClasses}`);
      }
      const probs = await loaded.compiled.predict(train.x, train.n, 256);
      const predicted = argmaxRows(probs, train.n, spec.numClasses);
      teacher = { probs, accuracy: predicted.filter((c, i) => c === train.y[i]).length / train.n };
    } finally {
      loaded.compiled.dispose();
    }
  }
  const distillation = teacher !== undefined ? { temperature: s.temperature, alpha: s.alpha } : undefined;
  const student = await ws.engineFor(spec).compile(spec, { seed: s.seed, ...(distillation ? { distillation } : {}) });
  disposables.push(student);
  student.setWeights(weights);
  const batchSize = s.batchSize ?? 32;
  const steps = Math.ceil(train.n / batchSize) * s.fineTuneEpochs;
  // TF-MOT's recipe: sparsity rising from 0 on its polynomial schedule over the fine-tune, every
  // conv and dense kernel pruned (the output layer's too, as prune_low_magnitude on a whole model does).
  const pruner =
    s.prune !== undefined && s.pruneMethod === 'magnitude'
      ? createMagnitudePruner(student, {
          schedule: polynomialDecay({ initialSparsity: 0, finalSparsity: s.prune, beginStep: 0, endStep: Math.max(1, steps - 1), frequency: Math.max(1, Math.min(100, Math.floor(steps / 10))) }),
          includeOutput: true,
        })
      : undefined;
  await pruner?.update(0);
  phase('fine-tune', `${s.fineTuneEpochs} epochs of ${train.n} samples${distillation ? `, distilled at T=${s.temperature}, α=${s.alpha}` : ''}`);
  await fit({
    model: student,
    train,
    epochs: s.fineTuneEpochs,
    batchSize,
    seed: s.seed,
    shuffle: true,
    meter: ws.meter,
    ...(callbacks.signal ? { signal: callbacks.signal } : {}),
    ...(callbacks.onBatch ? { onBatch: callbacks.onBatch } : {}),
    ...(callbacks.onEpochEnd ? { onEpochEnd: (record: EpochRecord) => callbacks.onEpochEnd?.(record, s.fineTuneEpochs) } : {}),
    ...(pruner ? { afterStep: (step: number) => pruner.update(step) } : {}),
    ...(teacher ? { teacher: teacher.probs } : {}),
  });
  return {
    model: student,
    ...(s.prune !== undefined
      ? { prune: { method: s.pruneMethod, fraction: s.prune, epochs: s.fineTuneEpochs, ...(structured ? { structured } : {}), ...(pruner ? { sparsity: sparsityOf(await student.getWeights(), pruner.targets) } : {}) } }
      : {}),
    ...(teacher && s.distillFrom !== undefined
      ? { distill: { teacher: resolve(ws.cwd, s.distillFrom), temperature: s.temperature, alpha: s.alpha, epochs: s.fineTuneEpochs, teacherTrainingAccuracy: teacher.accuracy } }
      : {}),
  };
}

/** The fraction of zeros in each of `targets`. */
function sparsityOf(weights: readonly NamedWeight[], targets: readonly string[]): Record<string, number> {
  return Object.fromEntries(weights.filter((w) => targets.includes(w.name)).map((w) => [w.name, w.values.filter((v) => v === 0).length / w.values.length]));
}

interface Quantizer {
  readonly mode: Quantization;
  readonly layers: readonly string[];
  readonly cpu: Int8Capability;
  readonly calibration?: { readonly method: CalibrationMethod; readonly samples: number };
  build(keepFloat: ReadonlySet<string>): Promise<{ bytes: Uint8Array; report: QuantizationReport }>;
}

/** Decodes the float graph once, calibrates once (static int8), and quantizes it with any set of layers left in float. */
async function quantizer(
  floatBytes: Uint8Array,
  mode: Quantization,
  train: Dataset,
  input: readonly number[],
  s: CompressSettings & typeof COMPRESS_DEFAULTS,
  phase: (p: CompressPhase, detail: string) => void,
): Promise<Quantizer> {
  const model = decodeModel(floatBytes);
  const cpu = await detectInt8Capability();
  const layers = quantizableNodes(model).map((n) => n.name);
  const reduceRange = cpu.reduceRange;
  if (mode === 'int8') {
    const samples = Math.min(s.calibrationSamples, train.n);
    phase('calibrate', `${s.calibration} on ${samples} training samples; ${cpu.summary}`);
    const ranges = await calibrate(model, train, input, samples, s.calibration, s.seed);
    return { mode, layers, cpu, calibration: { method: s.calibration, samples }, build: async (keepFloat) => encoded(quantizeStatic(model, ranges, { reduceRange, keepFloat })) };
  }
  if (mode === 'dynamic') return { mode, layers, cpu, build: async (keepFloat) => encoded(quantizeDynamic(model, { reduceRange, keepFloat })) };
  return { mode, layers, cpu, build: async (keepFloat) => encoded(convertToFloat16(model, { keepFloat })) };
}

function encoded(q: { model: OnnxModel; report: QuantizationReport }): { bytes: Uint8Array; report: QuantizationReport } {
  return { bytes: encodeModel(q.model), report: q.report };
}

/** Ranges of every tensor static quantization needs, from `samples` seeded-random training samples fed through the float graph. */
async function calibrate(model: OnnxModel, train: Dataset, input: readonly number[], samples: number, method: CalibrationMethod, seed: number): Promise<Map<string, TensorRange>> {
  const targets = calibrationTargets(model);
  const probe = await openOnnxInference(encodeModel(withOutputs(model, targets)));
  try {
    const order = Array.from({ length: train.n }, (_, i) => i);
    shuffleInPlace(order, new PyRandom(seed));
    const picked = selectRows(train, order.slice(0, samples), 'calibration');
    const collectors = targets.map((t) => [t, CALIBRATORS[method]()] as const);
    const size = featureSize(input);
    for (let start = 0; start < picked.n; start += CALIBRATION_BATCH) {
      const count = Math.min(CALIBRATION_BATCH, picked.n - start);
      const feeds = { x: { type: 'float32' as const, dims: [count, ...input], data: picked.x.subarray(start * size, (start + count) * size) } };
      const outputs = await probe.run(feeds, targets);
      for (const [t, collector] of collectors) collector.add(outputs[t]?.data as Float32Array);
    }
    return new Map(collectors.map(([t, collector]) => [t, collector.range()]));
  } finally {
    await probe.release();
  }
}

interface Tally {
  joules: number;
  low: number;
  high: number;
  samples: number;
  seconds: number;
  methods: Set<string>;
  models: Set<string>;
}

/**
 * Both models' inference figures, measured in turns within the same run (rounds alternate which goes
 * first), so that load and thermal state fall on both alike: batch-256 passes over the held-out data
 * under a meter window each, then single-sample predictions.
 */
async function measurePair(
  ws: Workspace,
  a: readonly [Predictor, number, number],
  b: readonly [Predictor, number, number],
  data: Dataset,
): Promise<[ModelFigures, ModelFigures]> {
  const pair = [a, b] as const;
  // Session set-up and first-run allocations are not what a served prediction costs.
  for (const [model] of pair) await model.predict(data.x, Math.min(256, data.n), 256);
  const tallies: Tally[] = pair.map(() => ({ joules: 0, low: 0, high: 0, samples: 0, seconds: 0, methods: new Set(), models: new Set() }));
  for (let round = 0; round < MEASURE_ROUNDS; round++) {
    const order = round % 2 === 0 ? [0, 1] : [1, 0];
    for (const i of order) {
      const [model] = pair[i] as (typeof pair)[number];
      const tally = tallies[i] as Tally;
      const window = await ws.meter.begin('compress-measure');
      const started = performance.now();
      await model.predict(data.x, data.n, 256);
      tally.seconds += (performance.now() - started) / 1000;
      const m = await window.end();
      tally.samples += data.n;
      tally.joules += m.energy.joules;
      tally.low += m.energy.low;
      tally.high += m.energy.high;
      for (const c of m.energy.components) {
        tally.methods.add(c.method);
        tally.models.add(`${c.name}: ${c.model}`);
      }
    }
  }
  const perSample = data.x.length / data.n;
  const latency = pair.map(() => 0);
  const count = Math.min(LATENCY_SAMPLES, data.n);
  for (let j = 0; j < count; j++) {
    for (const i of j % 2 === 0 ? [0, 1] : [1, 0]) {
      const [model] = pair[i] as (typeof pair)[number];
      const started = performance.now();
      await model.predict(data.x.subarray(j * perSample, (j + 1) * perSample), 1, 1);
      latency[i] = (latency[i] as number) + (performance.now() - started) / 1000;
    }
  }
  const figures = pair.map(([model, bytes, accuracy], i): ModelFigures => {
    const t = tallies[i] as Tally;
    return {
      bytes,
      parameters: model.parameterCount,
      flopsPerSample: model.flopsPerSample,
      accuracy,
      samplesPerSecondBatch1: count / (latency[i] as number),
      samplesPerSecondBatch256: t.samples / t.seconds,
      joulesPer1000: (t.joules / t.samples) * 1000,
      joulesPer1000Low: (t.low / t.samples) * 1000,
      joulesPer1000High: (t.high / t.samples) * 1000,
      method: [...t.methods].join('+'),
      energyModel: [...t.models].join('; '),
    };
  });
  return [figures[0] as ModelFigures, figures[1] as ModelFigures];
}
