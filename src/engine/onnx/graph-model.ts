/**
 * A model of a spec held as one ONNX inference graph only, with no training graph behind it: what
 * `ecoml compress` writes (int8, float16 or pruned graphs that no engine trains). It predicts and
 * evaluates as the onnx engine does, and saves its graph as `model.onnx`.
 * @module
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { EcomlError } from '../../errors.js';
import { modelProfile } from '../../models/load.js';
import type { ModelSpec } from '../../models/spec.js';
import { ensureDirectory } from '../../util/fs.js';
import type { BatchMetrics, Predictor } from '../types.js';
import { evaluateByPredicting, predictInBatches } from './batch.js';
import { size } from './layout.js';
import { sessionOptions } from './session.js';

/** The engine name such a model's directory records: it loads for inference, never for training. */
export const ONNX_GRAPH_ENGINE = 'onnx-graph';
export const GRAPH_FILE = 'model.onnx';

export interface OnnxGraphModelOptions {
  /** Intra-op threads (default 1, the serving default). */
  readonly threads?: number;
}

export class OnnxGraphModel implements Predictor {
  readonly engine = ONNX_GRAPH_ENGINE;
  readonly parameterCount: number;
  readonly flopsPerSample: number;
  private readonly inputSize: number;

  private constructor(
    readonly spec: ModelSpec,
    /** The graph's bytes, as saved. */
    readonly bytes: Uint8Array,
    private readonly session: ort.InferenceSession,
  ) {
    const profile = modelProfile(spec);
    this.parameterCount = profile.parameterCount;
    this.flopsPerSample = profile.flopsPerSample;
    this.inputSize = size(spec.input);
  }

  /** Opens `bytes` (an ONNX model taking `x` [batch, ...spec.input] and giving `probs` [batch, classes]) for `spec`. */
  static async open(spec: ModelSpec, bytes: Uint8Array, options: OnnxGraphModelOptions = {}): Promise<OnnxGraphModel> {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, sessionOptions(options.threads ?? 1, ['cpu'], true));
    } catch (error) {
      throw new EcomlError('E_MODEL_CORRUPT', `ONNX Runtime cannot load the model's graph: ${error instanceof Error ? error.message.trim() : String(error)}`, { cause: error });
    }
    if (!session.inputNames.includes('x') || !session.outputNames.includes('probs')) {
      await session.release();
      throw new EcomlError('E_MODEL_CORRUPT', `the graph must take "x" and give "probs" (it takes ${session.inputNames.join(', ')} and gives ${session.outputNames.join(', ')})`);
    }
    return new OnnxGraphModel(spec, bytes, session);
  }

  async evaluate(x: Float32Array, y: Int32Array, n: number, batchSize: number): Promise<BatchMetrics> {
    return evaluateByPredicting(this.spec, this.inputSize, (xs, count, size) => this.predict(xs, count, size), x, y, n, batchSize);
  }

  async predict(x: Float32Array, n: number, batchSize = 256): Promise<Float32Array> {
    return predictInBatches(ONNX_GRAPH_ENGINE, this.spec, this.inputSize, async () => this.session, x, n, batchSize);
  }

  async saveTo(dir: string): Promise<{ files: string[] }> {
    ensureDirectory(dir, `model directory ${dir}`);
    await writeFile(join(dir, GRAPH_FILE), this.bytes);
    return { files: [GRAPH_FILE] };
  }

  dispose(): void {
    void this.session.release().catch(() => undefined);
  }
}
