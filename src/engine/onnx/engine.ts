/**
 * The ONNX Runtime engine: each compiled model holds two sessions (a training step and
 * inference), with weights and optimizer state kept as ORT tensors between steps. Weights cross
 * the seam in the tfjs engine's names and layouts, so they move between engines exactly.
 * @module
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { EcomlError } from '../../errors.js';
import { ensureDirectory } from '../../util/fs.js';
import { checkDistillation, checkTeacher } from '../distillation.js';
import { guarded } from '../guard.js';
import { modelProfile } from '../../models/load.js';
import type { ModelSpec } from '../../models/spec.js';
import { mixSeed, PyRandom } from '../../util/random.js';
import type { BatchMetrics, CompileOptions, CompiledModel, Distillation, Engine, NamedWeight } from '../types.js';
import { compileGraphs, type CompiledGraphs, unsupportedReason } from './compile.js';
import { Graph } from './graph.js';
import type { ParamInfo } from './layers/layer.js';
import { FusedAdam } from './fused.js';
import { onnxShape, size, toOnnxLayout, toTfjsLayout } from './layout.js';
import { batchMetrics, checkBatch, evaluateByPredicting, predictInBatches } from './batch.js';
import type { HostState } from './optimizers/index.js';
import { decodeInitializers, floatTensor } from './protobuf.js';
import { type Device, deviceFailure, executionProviders, graphOptionsFor } from './device.js';
import { sessionOptions } from './session.js';

export const MODEL_FILE = 'model.onnx';

export interface OnnxEngineOptions {
  /** ORT intra-op threads per session (default 1: the most samples per CPU-second, which the energy estimate counts, in bench/engine.ts; more finish sooner). */
  readonly threads?: number;
  /** Where sessions run (default cpu); cuda needs onnxruntime-node's CUDA provider, webgpu a GPU driver (see device.ts). */
  readonly device?: Device;
  /** Where onnxruntime-node's native libraries are (a seam for tests of the device check). */
  readonly bindingDir?: string;
  /** Run Adam's update on the host, fused (default true on the CPU; GraphOptions.hostUpdate); false keeps it in the graph. */
  readonly hostUpdate?: boolean;
}

/** Keras' initial value for batch-norm vectors: gamma and the moving variance 1, the rest 0. */
const NORM_FILL: Readonly<Record<string, number>> = { gamma: 1, beta: 0, moving_mean: 0, moving_variance: 1 };

/**
 * Keras' orthogonal initializer (gain 1) for a [rows, cols] matrix: Gaussian values whose shorter
 * side is made orthonormal by Gram–Schmidt, as a QR decomposition would.
 */
function orthogonal(rng: PyRandom, rows: number, cols: number): Float32Array<ArrayBuffer> {
  const [n, m] = rows <= cols ? [rows, cols] : [cols, rows];
  const v = Array.from({ length: n }, () => Float64Array.from({ length: m }, () => Math.sqrt(-2 * Math.log(1 - rng.random())) * Math.cos(2 * Math.PI * rng.random())));
  v.forEach((row, i) => {
    for (let j = 0; j < i; j++) {
      const prior = v[j] as Float64Array;
      const dot = row.reduce((a, x, k) => a + x * (prior[k] as number), 0);
      row.forEach((x, k) => (row[k] = x - dot * (prior[k] as number)));
    }
    const norm = Math.hypot(...row);
    row.forEach((x, k) => (row[k] = x / norm));
  });
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = rows <= cols ? ((v[r] as Float64Array)[c] as number) : ((v[c] as Float64Array)[r] as number);
  return out;
}

/**
 * Keras' starts, from one seeded stream: glorot uniform kernels (fan over the receptive field),
 * orthogonal recurrent kernels, embeddings uniform in ±0.05, biases 0 but LSTM forget biases 1.
 */
function initialWeights(params: readonly ParamInfo[], seed: number): NamedWeight[] {
  const rng = new PyRandom(seed);
  return params.map((p) => {
    let values = new Float32Array(size(p.shape));
    const fill = NORM_FILL[p.name.slice(p.name.lastIndexOf('/') + 1)];
    if (fill !== undefined) values.fill(fill);
    else if (p.forgetBias !== undefined) values.fill(1, p.forgetBias, 2 * p.forgetBias);
    else if (p.orthogonal === true) values = orthogonal(rng, p.shape[0] as number, p.shape[1] as number);
    else if (p.uniform !== undefined) for (let i = 0; i < values.length; i++) values[i] = (rng.random() * 2 - 1) * p.uniform;
    else if (!p.name.endsWith('/bias')) {
      const receptive = size(p.shape.slice(0, -2));
      const fanIn = (p.shape[p.shape.length - 2] as number) * receptive;
      const fanOut = (p.shape[p.shape.length - 1] as number) * receptive;
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      for (let i = 0; i < values.length; i++) values[i] = (rng.random() * 2 - 1) * limit;
    }
    return { name: p.name, shape: p.shape, values };
  });
}

export class OnnxModel implements CompiledModel {
  readonly engine = 'onnx';
  readonly parameterCount: number;
  readonly flopsPerSample: number;
  private readonly inputSize: number;
  private weights = new Map<string, ort.Tensor>();
  private state = new Map<string, ort.Tensor>();
  private step = 0;
  /** The optimizer's scalars between steps (Adam's β powers; see OnnxOptimizer). */
  private hostState: HostState = {};
  /** Bumped whenever the weights change, so the inference session knows when it is stale. */
  private weightsVersion = 0;
  private inference: { readonly version: number; readonly session: Promise<ort.InferenceSession> } | undefined;
  /** The weights and optimizer state read back from the GPU since they last changed (see hostTensors). */
  private host: Promise<ReadonlyMap<string, ort.Tensor>> | undefined;
  private readback: Promise<ort.InferenceSession> | undefined;
  /** Settles once every read-back begun so far has ended: the tensors it reads live until then. */
  private reads: Promise<unknown> = Promise.resolve();
  /**
   * Where the update runs on the host (CompiledGraphs.hostUpdate): the trained weights and their
   * slots live in its memory, and `weights` and `state` hold tensors over it.
   */
  private readonly fused: FusedAdam | undefined;

  constructor(
    readonly spec: ModelSpec,
    private readonly graphs: CompiledGraphs,
    private readonly training: ort.InferenceSession,
    private readonly createSession: (model: Uint8Array) => Promise<ort.InferenceSession>,
    private readonly seed: number,
    weights: readonly NamedWeight[],
  ) {
    const profile = modelProfile(spec);
    this.parameterCount = profile.parameterCount;
    this.flopsPerSample = profile.flopsPerSample;
    this.inputSize = size(spec.input);
    this.fused = graphs.hostUpdate ? new FusedAdam(this.trained().map((p) => size(p.shape))) : undefined;
    this.setWeights(weights);
    this.resetOptimizer();
  }

  /** The params the optimizer updates (batch-norm moving statistics are not among them). */
  private trained(): ParamInfo[] {
    return this.graphs.params.filter((p) => p.moving !== true);
  }

  private resetOptimizer(): void {
    this.retire(this.state.values());
    this.step = 0;
    this.hostState = this.graphs.optimizer.hostState(0);
    this.state = new Map(
      this.graphs.optimizer.slots.flatMap((slot) => this.trained().map((p) => [`${p.name}/${slot}`, new ort.Tensor('float32', new Float32Array(size(p.shape)), onnxShape(p))] as const)),
    );
    this.adopt();
  }

  /**
   * With the update on the host: copies the weights and slots the maps hold into its memory, where
   * they are not there already, and points the maps at it.
   */
  private adopt(): void {
    const fused = this.fused;
    if (fused === undefined) return;
    const adopted = (held: ort.Tensor | undefined, here: Float32Array<ArrayBuffer>, shape: number[]): ort.Tensor => {
      const data = held?.data as Float32Array | undefined;
      if (data !== undefined && data.buffer !== here.buffer) here.set(data);
      return new ort.Tensor('float32', here, shape);
    };
    this.trained().forEach((p, i) => {
      this.weights.set(p.name, adopted(this.weights.get(p.name), fused.weight(i), onnxShape(p)));
      for (const slot of this.graphs.optimizer.slots as readonly ('m' | 'v')[]) {
        const name = `${p.name}/${slot}`;
        if (this.state.has(name)) this.state.set(name, adopted(this.state.get(name), fused.moment(i, slot), onnxShape(p)));
      }
    });
  }

  private inputs(x: Float32Array, start: number, n: number): ort.Tensor {
    return new ort.Tensor('float32', x.subarray(start * this.inputSize, (start + n) * this.inputSize), [n, ...this.spec.input]);
  }

  private labels(y: Int32Array, start: number, n: number): ort.Tensor {
    return new ort.Tensor('int64', BigInt64Array.from(y.subarray(start, start + n), (v) => BigInt(v)), [n]);
  }

  /** Dropout masks for this step: seeded by (seed, layer, step, site) so a resumed run replays them. */
  private masks(n: number): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {};
    for (const d of this.graphs.dropouts) {
      const rng = new PyRandom(mixSeed(this.seed, d.layer, this.step, ...(d.site === undefined ? [] : [d.site])));
      const keep = 1 / (1 - d.rate);
      const values = new Float32Array(n * size(d.shape));
      for (let i = 0; i < values.length; i++) values[i] = rng.random() >= d.rate ? keep : 0;
      feeds[d.name] = new ort.Tensor('float32', values, [n, ...d.shape]);
    }
    return feeds;
  }


  async trainBatch(x: Float32Array, y: Int32Array, n: number, teacher?: Float32Array): Promise<BatchMetrics> {
    checkBatch(this.spec, this.inputSize, x, n, y);
    checkTeacher(this.graphs.distillation, teacher, n, this.spec.numClasses);
    if (n === 0) throw new EcomlError('E_SHAPE_MISMATCH', 'cannot train on 0 samples');
    const feeds: Record<string, ort.Tensor> = { x: this.inputs(x, 0, n), labels: this.labels(y, 0, n), ...this.masks(n) };
    if (teacher !== undefined) feeds.teacher = new ort.Tensor('float32', teacher, [n, this.spec.numClasses]);
    for (const [name, t] of this.weights) feeds[name] = t;
    const fused = this.fused;
    // With the update on the host the graph takes neither slots nor the step's scalars.
    if (fused === undefined) {
      for (const [name, t] of this.state) feeds[name] = t;
      for (const [name, v] of Object.entries(this.graphs.optimizer.stepInputs(this.hostState))) feeds[name] = new ort.Tensor('float32', Float32Array.of(v), []);
    }
    const out = await guarded('onnx', 'training', () => this.training.run(feeds));
    if (fused === undefined) {
      // The step's outputs become the next step's inputs as they are, on the GPU where it ran: no copies.
      this.retire([...this.weights.values(), ...this.state.values()]);
      for (const name of this.weights.keys()) this.weights.set(name, out[`new:${name}`] as ort.Tensor);
      for (const name of this.state.keys()) this.state.set(name, out[`new:${name}`] as ort.Tensor);
    } else {
      const scalars = (this.graphs.optimizer.fused as NonNullable<typeof this.graphs.optimizer.fused>)(this.hostState);
      this.trained().forEach((p, i) => fused.update(i, (out[`grad:${p.name}`] as ort.Tensor).data as Float32Array, scalars));
      for (const p of this.graphs.params) if (p.moving === true) this.weights.set(p.name, out[`new:${p.name}`] as ort.Tensor);
    }
    this.weightsVersion++;
    this.step++;
    this.hostState = this.graphs.optimizer.advance(this.hostState);
    return batchMetrics(this.spec, (out.loss?.data as Float32Array)[0] as number, (out.correct?.data as Float32Array)[0] as number, n);
  }

  async evaluate(x: Float32Array, y: Int32Array, n: number, batchSize: number): Promise<BatchMetrics> {
    return evaluateByPredicting(this.spec, this.inputSize, (xs, count, size) => this.predict(xs, count, size), x, y, n, batchSize);
  }

  async predict(x: Float32Array, n: number, batchSize = 256): Promise<Float32Array> {
    return predictInBatches('onnx', this.spec, this.inputSize, () => this.inferenceSession(), x, n, batchSize);
  }

  /**
   * The inference graph with the current weights baked in as constants: ONNX Runtime then
   * pre-packs them and, where CompiledGraphs.blockedLayout says it pays, runs convolutions in its
   * blocked NCHWc layout (1.7× the samples per CPU-second on the 2-conv CNN here). Rebuilt lazily
   * after the weights change.
   */
  private inferenceSession(): Promise<ort.InferenceSession> {
    if (this.inference?.version !== this.weightsVersion) {
      const stale = this.inference?.session;
      this.inference = { version: this.weightsVersion, session: this.bakedInferenceGraph().then(this.createSession) };
      void stale?.then((session) => session.release(), () => undefined);
    }
    return this.inference.session;
  }

  private bakedInferenceGraph(): Promise<Uint8Array> {
    return this.withHost((host) => {
      const initializers = this.graphs.params.map((p) => {
        const values = (host.get(p.name) as ort.Tensor).data as Float32Array;
        // A blocked-layout inference graph flattens images in tfjs's HWC order (see ParamInfo.chwRows).
        return floatTensor(this.graphs.blockedLayout && p.chwRows !== undefined ? toTfjsLayout(values, p.shape, false, p.chwRows) : values, onnxShape(p), p.name);
      });
      return this.graphs.inference.toModel(initializers);
    });
  }

  private toSeam(p: ParamInfo, t: ort.Tensor): NamedWeight {
    const data = t.data as Float32Array;
    return { name: p.name, shape: [...p.shape], values: toTfjsLayout(data, p.shape, p.hwio, p.chwRows) };
  }

  private fromSeam(p: ParamInfo, w: NamedWeight): ort.Tensor {
    if (w.shape.length !== p.shape.length || w.shape.some((d, i) => d !== p.shape[i]) || w.values.length !== size(p.shape)) {
      throw new EcomlError('E_SHAPE_MISMATCH', `weight ${w.name} has shape [${w.shape.join(', ')}], the model needs [${p.shape.join(', ')}]`, {
        details: { weight: w.name, got: [...w.shape], expected: [...p.shape] },
      });
    }
    return new ort.Tensor('float32', toOnnxLayout(w.values, p.shape, p.hwio, p.chwRows), onnxShape(p));
  }

  /**
   * `read` of the weights and optimizer state as host tensors: at once where they are on the host
   * (the fused update changes its memory in place, so a read must not wait for a later step), and
   * once read back where they are on the GPU.
   */
  private withHost<T>(read: (host: ReadonlyMap<string, ort.Tensor>) => T): Promise<T> {
    const all = new Map([...this.weights, ...this.state]);
    if ([...all.values()].some((t) => t.location === 'gpu-buffer')) return this.hostTensors(all).then(read);
    try {
      return Promise.resolve(read(all));
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /**
   * The weights and optimizer state `all`, some on the GPU, as host tensors. A training session on
   * a GPU leaves its outputs there (see OnnxEngine.build), so they are copied back by a session of
   * Identity nodes, once per change: a GPU tensor's own getData() aborts the process in
   * onnxruntime-node 1.30.
   */
  private hostTensors(all: ReadonlyMap<string, ort.Tensor>): Promise<ReadonlyMap<string, ort.Tensor>> {
    if (this.host === undefined) {
      const reading = this.readBack(all);
      this.host = reading;
      // A failed read is tried again next time.
      const ended = reading.catch(() => {
        if (this.host === reading) this.host = undefined;
      });
      this.reads = Promise.all([this.reads, ended]);
    }
    return this.host;
  }

  private async readBack(all: ReadonlyMap<string, ort.Tensor>): Promise<ReadonlyMap<string, ort.Tensor>> {
    if (this.readback === undefined) {
      const g = new Graph();
      for (const [name, t] of all) g.output(g.input(name, 'float', t.dims), `host:${name}`);
      this.readback = this.createSession(g.toModel());
    }
    const session = await this.readback;
    const out = await guarded('onnx', 'reading weights back from the device', () => session.run(Object.fromEntries(all)));
    return new Map([...all.keys()].map((name) => [name, out[`host:${name}`] as ort.Tensor]));
  }

  /**
   * Frees the GPU memory of tensors the model no longer holds, once any read-back that feeds them
   * has run (host tensors need nothing: the garbage collector takes them).
   */
  private retire(tensors: Iterable<ort.Tensor>): void {
    this.host = undefined;
    const onDevice = [...tensors].filter((t) => t.location === 'gpu-buffer');
    if (onDevice.length > 0) void this.reads.then(() => onDevice.forEach((t) => t.dispose()));
  }

  getWeights(): Promise<NamedWeight[]> {
    return this.withHost((host) => this.graphs.params.map((p) => this.toSeam(p, host.get(p.name) as ort.Tensor)));
  }

  setWeights(weights: readonly NamedWeight[]): void {
    const byName = new Map(weights.map((w) => [w.name, w]));
    const unknown = [...byName.keys()].filter((name) => !this.graphs.params.some((p) => p.name === name));
    if (unknown.length > 0) throw new EcomlError('E_SHAPE_MISMATCH', `the model has no weight named ${unknown.join(', ')}`, { details: { unknown } });
    // Convert every weight before storing any, so a bad set leaves the model as it was.
    const next = this.graphs.params.map((p) => {
      const w = byName.get(p.name);
      if (w === undefined) throw new EcomlError('E_SHAPE_MISMATCH', `no value given for weight ${p.name}`, { details: { weight: p.name } });
      return [p.name, this.fromSeam(p, w)] as const;
    });
    this.retire(this.weights.values());
    this.weights = new Map(next);
    this.adopt();
    this.weightsVersion++;
  }

  getOptimizerState(): Promise<NamedWeight[]> {
    return this.withHost((host) => {
      const state: NamedWeight[] = [{ name: 'iter', shape: [], values: Float32Array.of(this.step) }];
      for (const slot of this.graphs.optimizer.slots) {
        for (const p of this.trained()) {
          const name = `${p.name}/${slot}`;
          state.push({ ...this.toSeam(p, host.get(name) as ort.Tensor), name });
        }
      }
      for (const [name, v] of Object.entries(this.hostState)) state.push({ name, shape: [], values: Float32Array.of(v) });
      return state;
    });
  }

  setOptimizerState(state: readonly NamedWeight[]): Promise<void> {
    const params = new Map(this.trained().map((p) => [p.name, p]));
    const next = new Map(this.state);
    let step = this.step;
    const saved: Record<string, number> = {};
    for (const s of state) {
      const value = s.values[0] ?? 0;
      if (s.name === 'iter') step = value;
      else if (Object.hasOwn(this.hostState, s.name)) saved[s.name] = value;
      else {
        const p = params.get(s.name.slice(0, s.name.lastIndexOf('/')));
        if (p === undefined || !next.has(s.name)) throw new EcomlError('E_SHAPE_MISMATCH', `optimizer state ${s.name} [${s.shape.join(', ')}] fits no weight of this model`, { details: { name: s.name } });
        next.set(s.name, this.fromSeam(p, s));
      }
    }
    this.retire([...this.state].filter(([name, t]) => next.get(name) !== t).map(([, t]) => t));
    this.state = next;
    this.adopt();
    this.step = step;
    // Host state a saved state lacks (one from elsewhere) follows from the step count, as Adam's β powers do.
    this.hostState = { ...this.graphs.optimizer.hostState(step), ...saved };
    return Promise.resolve();
  }

  async saveTo(dir: string): Promise<{ files: string[] }> {
    ensureDirectory(dir, `model directory ${dir}`);
    await writeFile(join(dir, MODEL_FILE), await this.bakedInferenceGraph());
    return { files: [MODEL_FILE] };
  }

  dispose(): void {
    // The tensors a GPU session left on the device are freed before the sessions are released
    // (the other order crashes onnxruntime-node), and after any read-back still feeding on them.
    this.retire([...this.weights.values(), ...this.state.values()]);
    const sessions = [Promise.resolve(this.training), this.inference?.session, this.readback];
    void this.reads.then(() => {
      for (const session of sessions) void session?.then((s) => s.release(), () => undefined);
    });
  }
}

export class OnnxEngine implements Engine {
  readonly name = 'onnx';
  private readonly threads: number;
  private readonly device: Device;
  private readonly bindingDir: string | undefined;
  private readonly hostUpdate: boolean;
  private checkedProviders: ort.InferenceSession.ExecutionProviderConfig[] | undefined;
  private started: Promise<void> | undefined;

  constructor(options: OnnxEngineOptions = {}) {
    this.threads = options.threads ?? 1;
    this.device = options.device ?? 'cpu';
    this.bindingDir = options.bindingDir;
    this.hostUpdate = options.hostUpdate ?? true;
  }

  unsupportedReason(spec: ModelSpec): string | undefined {
    return unsupportedReason(spec);
  }

  /** The device's execution providers, checked once: a missing provider throws here. */
  private providers(): ort.InferenceSession.ExecutionProviderConfig[] {
    return (this.checkedProviders ??= executionProviders(this.device, this.bindingDir));
  }

  /**
   * Checks that the device's provider is installed and, on a GPU, that it starts (a one-op
   * session, once per engine), so a missing driver or provider is reported before any work.
   */
  ready(): Promise<void> {
    return (this.started ??= this.start());
  }

  private async start(): Promise<void> {
    const providers = this.providers();
    if (this.device === 'cpu') return;
    const probe = new Graph();
    probe.output(probe.unary('Relu', probe.input('x', 'float', [1])), 'y');
    const session = await this.sessionFactory(sessionOptions(this.threads, providers, false))(probe.toModel());
    await session.release();
  }

  private sessionFactory(options: ort.InferenceSession.SessionOptions): (model: Uint8Array) => Promise<ort.InferenceSession> {
    return (model) =>
      guarded('onnx', 'session creation', () =>
        ort.InferenceSession.create(model, options).catch((error: unknown) => {
          throw deviceFailure(this.device, error) ?? error;
        }),
      );
  }

  private async build(spec: ModelSpec, seed: number, weights: (graphs: CompiledGraphs) => readonly NamedWeight[], distillation?: Distillation): Promise<OnnxModel> {
    const graphs = compileGraphs(spec, { ...graphOptionsFor(this.device), ...(this.hostUpdate ? {} : { hostUpdate: false }) }, distillation);
    const options = sessionOptions(this.threads, this.providers(), graphs.blockedLayout);
    // On webgpu the step's new weights and optimizer state stay on the device as the next step's
    // inputs, instead of crossing to the host and back every step; the host reads them back only
    // when asked (OnnxModel.hostTensors). On lavapipe, whose device memory is host memory, this
    // measured within noise; bench/gpu-engine.ts measures it on a real GPU.
    const resident = this.device === 'webgpu' ? Object.fromEntries(graphs.training.outputs.filter((o) => o.name.startsWith('new:')).map((o) => [o.name, 'gpu-buffer' as const])) : undefined;
    const training = await this.sessionFactory(resident === undefined ? options : { ...options, preferredOutputLocation: resident })(graphs.training.toModel());
    return new OnnxModel(spec, graphs, training, this.sessionFactory(options), seed, weights(graphs));
  }

  async compile(spec: ModelSpec, options: CompileOptions): Promise<CompiledModel> {
    if (options.distillation !== undefined) checkDistillation(spec, options.distillation);
    return this.build(spec, options.seed, (g) => initialWeights(g.params, options.seed), options.distillation);
  }

  async load(dir: string, spec: ModelSpec): Promise<CompiledModel> {
    const file = join(dir, MODEL_FILE);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(file);
    } catch (error) {
      throw new EcomlError('E_MODEL_NOT_FOUND', `${file}: cannot read the ONNX model`, { details: { dir }, cause: error });
    }
    let stored: ReturnType<typeof decodeInitializers>;
    try {
      stored = decodeInitializers(bytes);
    } catch (error) {
      throw new EcomlError('E_MODEL_CORRUPT', `${file}: not a readable ONNX model`, { details: { dir }, cause: error });
    }
    return this.build(spec, 0, (graphs) =>
      graphs.params.map((p) => {
        const t = stored.find((s) => s.name === p.name);
        const expected = onnxShape(p);
        if (t === undefined || t.dims.length !== expected.length || t.dims.some((d, i) => d !== expected[i])) {
          throw new EcomlError('E_MODEL_CORRUPT', `${file}: weight ${p.name} is missing or not shaped [${expected.join(', ')}]`, { details: { dir, weight: p.name } });
        }
        // A model.onnx holds the inference graph, whose rows after a flatten may already be tfjs's.
        return { name: p.name, shape: p.shape, values: toTfjsLayout(t.values, p.shape, p.hwio, graphs.blockedLayout ? undefined : p.chwRows) };
      }),
    );
  }

  liveTensors(): number {
    return 0;
  }
}

export function createOnnxEngine(options: OnnxEngineOptions = {}): Engine {
  return new OnnxEngine(options);
}
