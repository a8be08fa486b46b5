/**
 * A tf.LayersModel behind the engine-neutral CompiledModel seam: typed arrays in and out, every
 * tensor created here disposed before the call returns.
 * @module
 */
import { EcomlError } from '../../errors.js';
import { checkTeacher, EPSILON, PROBABILITY_FLOOR } from '../distillation.js';
import { checkBatchSize, guarded, inBatches } from '../guard.js';
import { isAdam, type ModelSpec } from '../../models/spec.js';
import type { BatchMetrics, CompiledModel, Distillation, NamedWeight } from '../types.js';
import { mixSeed } from '../../util/random.js';
import { LOSSES, type TargetKind } from './build.js';
import { dirSaveHandler, MODEL_JSON, WEIGHT_SHARD } from './io.js';
import { tf } from './runtime.js';
import { TransformerEncoder } from './transformer.js';

/** Layer classes whose dropout masks follow a `seed` they read at every call. */
const SEEDED_DROPOUT = new Set(['Dropout', TransformerEncoder.className]);

/** Extra optimizer-state entries for values tfjs keeps outside getWeights(). */
const ADAM_ACC_BETA = ['adam/accBeta1', 'adam/accBeta2'] as const;

/** The parts of tfjs objects this module reaches past their public typings. */
interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
}
interface DropoutInternals {
  seed?: number;
}
/** A Sequential compiles an inner functional model, which holds the loss functions. */
interface SequentialInternals {
  model?: tf.LayersModel;
}

function featureSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function toFloat32(values: tf.TypedArray | tf.backend_util.BackendValues): Float32Array {
  if (values instanceof Float32Array) return values;
  if (values instanceof Int32Array || values instanceof Uint8Array) return Float32Array.from(values);
  throw new Error('expected numeric tensor data');
}

export class TfjsModel implements CompiledModel {
  readonly engine = 'tfjs';
  private readonly inputSize: number;
  private readonly targets: TargetKind;
  /** Layers with dropout and their base seeds: each step reseeds them from (base, step) so masks differ per step yet replay on resume. */
  private readonly dropouts: readonly { readonly layer: DropoutInternals; readonly seed: number }[];

  constructor(
    readonly model: tf.LayersModel,
    readonly spec: ModelSpec,
    readonly parameterCount: number,
    readonly flopsPerSample: number,
    private readonly distillation?: Distillation,
  ) {
    this.inputSize = featureSize(spec.input);
    this.targets = LOSSES[spec.compile.loss].targets;
    this.dropouts = model.layers.flatMap((layer) => {
      const seed: unknown = SEEDED_DROPOUT.has(layer.getClassName()) ? layer.getConfig().seed : undefined;
      // Dropout's seed is private in tfjs's typings; it is read at every call, which is what we use.
      return typeof seed === 'number' ? [{ layer: layer as unknown as DropoutInternals, seed }] : [];
    });
  }

  private checkBatch(x: Float32Array, n: number, y?: Int32Array): void {
    if (!Number.isInteger(n) || n < 0) throw new EcomlError('E_SHAPE_MISMATCH', `the sample count must be a non-negative integer, got ${n}`);
    if (x.length < n * this.inputSize) {
      throw new EcomlError(
        'E_SHAPE_MISMATCH',
        `${n} samples of shape [${this.spec.input.join(', ')}] need ${n * this.inputSize} values, got ${x.length}`,
        { details: { expected: n * this.inputSize, got: x.length, featureShape: [...this.spec.input] } },
      );
    }
    if (y === undefined) return;
    if (y.length < n) throw new EcomlError('E_SHAPE_MISMATCH', `${n} samples need ${n} labels, got ${y.length}`, { details: { expected: n, got: y.length } });
    const classes = this.spec.numClasses;
    for (let i = 0; i < n; i++) {
      const label = y[i] as number;
      if (label < 0 || label >= classes) {
        throw new EcomlError('E_SHAPE_MISMATCH', `label ${label} at index ${i} is outside 0…${classes - 1} (the model has ${classes} classes)`, {
          details: { index: i, label, numClasses: classes },
        });
      }
    }
  }

  private inputs(x: Float32Array, start: number, n: number): tf.Tensor {
    return tf.tensor(x.subarray(start * this.inputSize, (start + n) * this.inputSize), [n, ...this.spec.input], 'float32');
  }

  private labels(y: Int32Array, start: number, n: number): tf.Tensor {
    const ids = y.subarray(start, start + n);
    switch (this.targets) {
      case 'sparse':
        return tf.tensor1d(Float32Array.from(ids), 'float32');
      case 'binary':
        return tf.tensor2d(Float32Array.from(ids), [n, 1], 'float32');
      case 'onehot':
        return tf.tidy(() => tf.oneHot(tf.tensor1d(ids, 'int32'), this.spec.numClasses).toFloat());
    }
  }

  private metrics(values: readonly number[]): BatchMetrics {
    const [loss, accuracy] = values;
    return { loss: loss ?? Number.NaN, ...(this.spec.compile.metrics.includes('accuracy') && accuracy !== undefined ? { accuracy } : {}) };
  }

  async trainBatch(x: Float32Array, y: Int32Array, n: number, teacher?: Float32Array): Promise<BatchMetrics> {
    this.checkBatch(x, n, y);
    checkTeacher(this.distillation, teacher, n, this.spec.numClasses);
    if (n === 0) throw new EcomlError('E_SHAPE_MISMATCH', 'cannot train on 0 samples');
    const step = this.model.optimizer.iterations;
    for (const d of this.dropouts) d.layer.seed = mixSeed(d.seed, step);
    const xs = this.inputs(x, 0, n);
    const ys = this.labels(y, 0, n);
    const distillation = this.distillation;
    try {
      const result = await guarded('tfjs', 'training', () =>
        distillation === undefined || teacher === undefined ? this.model.trainOnBatch(xs, ys) : this.distillationStep(xs, ys, tf.tensor2d(teacher, [n, this.spec.numClasses]), distillation),
      );
      return this.metrics(Array.isArray(result) ? result : [result]);
    } finally {
      tf.dispose([xs, ys]);
      // Saved topologies keep the base seed.
      for (const d of this.dropouts) d.layer.seed = d.seed;
    }
  }

  /**
   * trainOnBatch's step (the model run in training mode, the per-sample loss averaged, the
   * regularizers added, one minimize over the trainable weights) on the distillation objective.
   * The student's logits are only seen through its softmax: log p stands in for them (equal up to a
   * shift softmax ignores). The hard term is the compiled loss itself, so α = 1 is trainOnBatch's.
   */
  private async distillationStep(xs: tf.Tensor, ys: tf.Tensor, teacher: tf.Tensor, d: Distillation): Promise<number[]> {
    const compiled = (this.model as unknown as SequentialInternals).model ?? this.model;
    const hard = compiled.lossFunctions[0] as (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;
    const soften = (probs: tf.Tensor): tf.Tensor => tf.clipByValue(tf.softmax(tf.div(tf.log(tf.maximum(probs, PROBABILITY_FLOOR)), d.temperature)), EPSILON, 1);
    const q = tf.tidy(() => soften(teacher));
    const outputs: tf.Scalar[] = [];
    try {
      const loss = this.model.optimizer.minimize(
        () => {
          const probs = this.model.apply(xs, { training: true }) as tf.Tensor;
          const kl = tf.sum(tf.mul(q, tf.log(tf.div(q, soften(probs)))), -1);
          const perSample = tf.add(tf.mul(hard(ys, probs), d.alpha), tf.mul(kl, (1 - d.alpha) * d.temperature ** 2));
          if (this.spec.compile.metrics.includes('accuracy')) outputs.push(tf.keep(tf.mean(tf.metrics.sparseCategoricalAccuracy(ys, probs))));
          return this.model.calculateLosses().reduce((total, regularizer) => tf.add(total, regularizer), tf.mean(perSample)) as tf.Scalar;
        },
        true,
        this.model.trainableWeights.map((w) => w.read() as tf.Variable),
      ) as tf.Scalar;
      outputs.unshift(loss);
      return await Promise.all(outputs.map(async (t) => (await t.data())[0] as number));
    } finally {
      tf.dispose([q, teacher, ...outputs]);
    }
  }

  async evaluate(x: Float32Array, y: Int32Array, n: number, batchSize: number): Promise<BatchMetrics> {
    this.checkBatch(x, n, y);
    checkBatchSize(batchSize);
    if (n === 0) throw new EcomlError('E_SHAPE_MISMATCH', 'cannot evaluate on 0 samples');
    const sums: number[] = [];
    for (let start = 0; start < n; start += batchSize) {
      const count = Math.min(batchSize, n - start);
      const xs = this.inputs(x, start, count);
      const ys = this.labels(y, start, count);
      try {
        await guarded('tfjs', 'evaluation', async () => {
          const out = this.model.evaluate(xs, ys, { batchSize: count });
          const scalars = Array.isArray(out) ? out : [out];
          // Each batch's metrics are means: weight them by the batch's size.
          scalars.forEach((s, i) => (sums[i] = (sums[i] ?? 0) + (s.dataSync()[0] as number) * count));
          tf.dispose(scalars);
        });
      } finally {
        tf.dispose([xs, ys]);
      }
    }
    return this.metrics(sums.map((s) => s / n));
  }

  async predict(x: Float32Array, n: number, batchSize = 256): Promise<Float32Array> {
    this.checkBatch(x, n);
    return inBatches(n, batchSize, this.spec.numClasses, async (start, count) => {
      const xs = this.inputs(x, start, count);
      try {
        return await guarded('tfjs', 'prediction', async () => {
          const probs = tf.tidy(() => {
            const p = this.model.predict(xs, { batchSize: count }) as tf.Tensor;
            // One sigmoid unit gives P(class 1); report both classes.
            return this.targets === 'binary' ? tf.concat([tf.sub(1, p), p], 1) : p;
          });
          const values = toFloat32(probs.dataSync());
          probs.dispose();
          return values;
        });
      } finally {
        xs.dispose();
      }
    });
  }

  getWeights(): Promise<NamedWeight[]> {
    return Promise.resolve(
      this.model.weights.map((w) => {
        const t = w.read();
        return { name: w.originalName, shape: [...t.shape], values: toFloat32(t.dataSync()) };
      }),
    );
  }

  setWeights(weights: readonly NamedWeight[]): void {
    const byName = new Map(weights.map((w) => [w.name, w]));
    const variables = this.model.weights;
    const unknown = [...byName.keys()].filter((name) => !variables.some((v) => v.originalName === name));
    if (unknown.length > 0) throw new EcomlError('E_SHAPE_MISMATCH', `the model has no weight named ${unknown.join(', ')}`, { details: { unknown } });
    // Check every weight before writing any, so a bad set leaves the model as it was.
    const writes = variables.map((v) => {
      const w = byName.get(v.originalName);
      if (w === undefined) throw new EcomlError('E_SHAPE_MISMATCH', `no value given for weight ${v.originalName}`, { details: { weight: v.originalName } });
      if (w.shape.length !== v.shape.length || w.shape.some((d, i) => d !== v.shape[i]) || w.values.length !== featureSize(w.shape)) {
        throw new EcomlError('E_SHAPE_MISMATCH', `weight ${w.name} has shape [${w.shape.join(', ')}], the model needs [${v.shape.join(', ')}]`, {
          details: { weight: w.name, got: [...w.shape], expected: [...v.shape] },
        });
      }
      return { variable: v, weight: w };
    });
    for (const { variable, weight } of writes) {
      const t = tf.tensor(weight.values, [...weight.shape], 'float32');
      variable.write(t);
      t.dispose();
    }
  }

  /** Registered tfjs variable name → stable weight name (tfjs suffixes names that recur in a process). */
  private stableNames(): Map<string, string> {
    return new Map(this.model.weights.map((w) => [w.name, w.originalName]));
  }

  async getOptimizerState(): Promise<NamedWeight[]> {
    const optimizer = this.model.optimizer;
    const entries = await optimizer.getWeights();
    const stable = this.stableNames();
    const state = entries.map(({ name, tensor }) => {
      const slash = name.lastIndexOf('/');
      const variable = slash > 0 ? stable.get(name.slice(0, slash)) : undefined;
      return { name: variable === undefined ? name : `${variable}${name.slice(slash)}`, shape: [...tensor.shape], values: toFloat32(tensor.dataSync()) };
    });
    // getWeights() makes a fresh tensor for the step count only; the rest are live accumulators.
    tf.dispose(entries.filter((e) => e.name === 'iter').map((e) => e.tensor));
    if (isAdam(this.spec.compile.optimizer)) {
      // Adam's running β powers are not in getWeights(); setWeights() recomputes them with pow(),
      // which can differ in the last bit from the product accumulated step by step.
      const adam = optimizer as unknown as AdamInternals;
      state.push(
        { name: ADAM_ACC_BETA[0], shape: [], values: toFloat32(adam.accBeta1.dataSync()) },
        { name: ADAM_ACC_BETA[1], shape: [], values: toFloat32(adam.accBeta2.dataSync()) },
      );
    }
    return state;
  }

  async setOptimizerState(state: readonly NamedWeight[]): Promise<void> {
    const optimizer = this.model.optimizer;
    const registered = new Map([...this.stableNames()].map(([name, stable]) => [stable, name]));
    const shapes = new Map(this.model.weights.map((w) => [w.originalName, w.shape]));
    const accBetas = state.filter((s) => (ADAM_ACC_BETA as readonly string[]).includes(s.name));
    const named = state
      .filter((s) => !(ADAM_ACC_BETA as readonly string[]).includes(s.name))
      .map((s) => {
        if (s.name === 'iter') return { name: s.name, tensor: tf.scalar(s.values[0] ?? 0, 'int32') };
        const slash = s.name.lastIndexOf('/');
        const stable = s.name.slice(0, slash);
        const shape = shapes.get(stable);
        if (slash <= 0 || shape === undefined || shape.length !== s.shape.length || shape.some((d, i) => d !== s.shape[i])) {
          throw new EcomlError('E_SHAPE_MISMATCH', `optimizer state ${s.name} [${s.shape.join(', ')}] fits no weight of this model`, { details: { name: s.name } });
        }
        return { name: `${registered.get(stable)}${s.name.slice(slash)}`, tensor: tf.tensor(s.values, [...s.shape], 'float32') };
      });
    // setWeights() replaces the accumulator variables without disposing the old ones.
    const previous = (await optimizer.getWeights()).map((e) => e.tensor);
    try {
      await optimizer.setWeights(named);
    } finally {
      tf.dispose(named.map((e) => e.tensor));
    }
    tf.dispose(previous);
    if (isAdam(this.spec.compile.optimizer) && accBetas.length === 2) {
      const adam = optimizer as unknown as AdamInternals;
      for (const [variable, entry] of [
        [adam.accBeta1, accBetas.find((s) => s.name === ADAM_ACC_BETA[0])],
        [adam.accBeta2, accBetas.find((s) => s.name === ADAM_ACC_BETA[1])],
      ] as const) {
        if (entry !== undefined) tf.tidy(() => variable.assign(tf.scalar(entry.values[0] ?? 0)));
      }
    }
  }

  async saveTo(dir: string): Promise<{ files: string[] }> {
    await this.model.save(dirSaveHandler(dir));
    return { files: [MODEL_JSON, WEIGHT_SHARD] };
  }

  dispose(): void {
    this.model.optimizer.dispose();
    this.model.dispose();
  }
}
