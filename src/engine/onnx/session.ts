/**
 * ONNX Runtime sessions: the options every session of ecoml's takes, and any ONNX model opened for
 * inference alone (the model server's ONNX runtime), with its inputs and outputs read from the
 * model itself.
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { EcomlError } from '../../errors.js';
import type { ElementType, HostTensor, InferenceModel, TensorSpec } from '../types.js';
import { type Device, deviceFailure, executionProviders } from './device.js';
import { externalDataLocations } from './protobuf.js';

export function sessionOptions(threads: number, providers: ort.InferenceSession.ExecutionProviderConfig[], blockedLayout: boolean): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: providers,
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // ORT's warnings (e.g. that shape ops stay on the CPU beside a GPU provider) are not the user's to act on.
    logSeverityLevel: 3,
    extra: {
      // ORT's threads spin by default, which starves the JS thread on small machines and burns idle cores.
      session: { intra_op: { allow_spinning: '0' } },
      ...(blockedLayout ? {} : { optimization: { disable_specified_optimizers: 'NchwcTransformer' } }),
    },
  };
}

export interface OnnxInferenceOptions {
  /** Intra-op threads (default 1). */
  readonly threads?: number;
  readonly device?: Device;
  /** Where onnxruntime-node's native libraries are (a seam for tests of the device check). */
  readonly bindingDir?: string;
  /** Where ONNX Runtime writes the model as its graph optimizer left it (to see which fusions ran). */
  readonly optimizedModelPath?: string;
}

const ELEMENT_TYPES: ReadonlySet<string> = new Set<ElementType>(['bool', 'uint8', 'uint16', 'uint32', 'uint64', 'int8', 'int16', 'int32', 'int64', 'float16', 'float32', 'float64', 'string']);

function describeValue(meta: ort.InferenceSession.ValueMetadata, file: string): TensorSpec {
  if (!meta.isTensor) throw new EcomlError('E_MODEL_CORRUPT', `${file}: "${meta.name}" is not a tensor (sequences and maps are not served)`, { details: { file, value: meta.name } });
  if (!ELEMENT_TYPES.has(meta.type)) {
    throw new EcomlError('E_MODEL_CORRUPT', `${file}: "${meta.name}" has element type ${meta.type}, which is not served`, { details: { file, value: meta.name, type: meta.type } });
  }
  // Symbolic dimensions (strings) and unknown ones take any size.
  return { name: meta.name, type: meta.type as ElementType, shape: meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : -1)) };
}

/**
 * Opens any ONNX model for inference: a file path (external-data files beside it are found by ONNX
 * Runtime) or the model's bytes. A file ONNX Runtime cannot load is E_MODEL_CORRUPT.
 */
export async function openOnnxInference(source: string | Uint8Array, options: OnnxInferenceOptions = {}): Promise<InferenceModel> {
  const device = options.device ?? 'cpu';
  const file = typeof source === 'string' ? source : 'the ONNX model';
  const settings = {
    ...sessionOptions(options.threads ?? 1, executionProviders(device, options.bindingDir), true),
    ...(options.optimizedModelPath !== undefined ? { optimizedModelFilePath: options.optimizedModelPath } : {}),
  };
  let session: ort.InferenceSession;
  try {
    session = typeof source === 'string' ? await ort.InferenceSession.create(source, settings) : await ort.InferenceSession.create(source, settings);
  } catch (error) {
    const failure = deviceFailure(device, error);
    if (failure) throw failure;
    throw new EcomlError('E_MODEL_CORRUPT', `${file}: ONNX Runtime cannot load it: ${error instanceof Error ? error.message.trim() : String(error)}`, { details: { file }, cause: error });
  }
  try {
    const inputs = session.inputMetadata.map((m) => describeValue(m, file));
    const outputs = session.outputMetadata.map((m) => describeValue(m, file));
    return {
      inputs,
      outputs,
      async run(feeds, names) {
        const tensors: Record<string, ort.Tensor> = {};
        for (const [name, t] of Object.entries(feeds)) tensors[name] = new ort.Tensor(t.type, t.data as ort.Tensor.DataType, t.dims);
        let result: ort.InferenceSession.ReturnType;
        try {
          result = await session.run(tensors, [...names]);
        } catch (error) {
          throw new EcomlError('E_ENGINE_FAILED', `ONNX Runtime failed to run ${file}: ${error instanceof Error ? error.message.trim() : String(error)}`, { details: { file }, cause: error });
        }
        const out: Record<string, HostTensor> = {};
        for (const name of names) {
          const t = result[name] as ort.Tensor;
          out[name] = { type: t.type as ElementType, dims: [...t.dims], data: t.data as HostTensor['data'] };
        }
        return out;
      },
      release: () => session.release(),
    };
  } catch (error) {
    await session.release();
    throw error;
  }
}

/** Model files larger than this hold their weights inline: their external data is not looked for. */
const SCAN_LIMIT_BYTES = 256 * 2 ** 20;

/**
 * The bytes an ONNX model's weights take: the file, plus the external-data files it names (read
 * from the model's initializers), which is what a session holds in memory.
 */
export async function onnxModelBytes(file: string): Promise<number> {
  const { size } = await stat(file);
  if (size > SCAN_LIMIT_BYTES) return size;
  let locations: string[];
  try {
    locations = externalDataLocations(await readFile(file));
  } catch {
    // ONNX Runtime judges the file when it loads it; an unreadable proto has no external data to count.
    return size;
  }
  // Only files inside the model's folder count: ONNX Runtime refuses a location that leaves it.
  const dir = dirname(file);
  const inside = locations.map((l) => resolve(dir, l)).filter((path) => !isAbsolute(relative(dir, path)) && !relative(dir, path).startsWith('..'));
  const sizes = await Promise.all(inside.map((path) => stat(path).then((s) => s.size, () => 0)));
  return sizes.reduce((a, b) => a + b, size);
}
