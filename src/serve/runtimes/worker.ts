/**
 * An inference worker: one model instance on its own thread. It opens the model with the backend
 * named in its setup, says what the model takes and gives, then runs what the main thread sends,
 * one request at a time, and returns each output with the time it computed.
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import { applyPreprocessing } from '../../data/preprocess.js';
import type { HostTensor, InferenceModel, TensorSpec } from '../../engine/types.js';
import { toEcomlError } from '../../errors.js';
import { DATATYPE_INFO, datatypeOfOrt, type Tensor } from '../tensors.js';
import { TRANSFER_MIN_BYTES, type FromWorker, type NamedTensor, type ToWorker, type WireError, type WorkerSetup } from './messages.js';
import type { TensorSignature } from './runtime.js';

const port = parentPort;
if (port === null) throw new Error('runtimes/worker.ts runs only as a worker thread');
const setup = workerData as WorkerSetup;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function wire(error: unknown): WireError {
  const e = toEcomlError(error);
  return { code: e.code, message: e.message };
}

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(message, transfer);
}

async function open(): Promise<InferenceModel> {
  // Each backend loads only its own runtime, so an ONNX worker never starts tfjs.
  if (setup.backend === 'onnx') {
    const { openOnnxInference } = await import('../../engine/onnx/session.js');
    return openOnnxInference(setup.source, { threads: setup.threads, ...(setup.device ? { device: setup.device } : {}) });
  }
  const { openTfjsInference } = await import('../../engine/tfjs/inference.js');
  return openTfjsInference(setup.source);
}

function signatureOf(spec: TensorSpec): TensorSignature {
  const datatype = datatypeOfOrt(spec.type);
  // Every ElementType has a datatype (tensors.ts maps each one).
  if (datatype === undefined) throw new Error(`no datatype for element type ${spec.type}`);
  return { name: spec.name, datatype, shape: spec.shape };
}

function toHost(tensor: Tensor): HostTensor {
  const info = DATATYPE_INFO[tensor.datatype];
  const data = info.kind === 'bytes' ? (tensor.data as readonly Uint8Array[]).map((b) => decoder.decode(b)) : (tensor.data as HostTensor['data']);
  return { type: info.ort, dims: tensor.shape, data };
}

function fromHost(host: HostTensor): Tensor {
  const datatype = datatypeOfOrt(host.type);
  if (datatype === undefined) throw new Error(`no datatype for element type ${host.type}`);
  const data = Array.isArray(host.data) ? (host.data as readonly string[]).map((s) => encoder.encode(s)) : (host.data as Tensor['data']);
  return { datatype, shape: host.dims, data };
}

/** Buffers to move to the main thread: each large numeric output's own, whole (an ORT output owns its buffer). */
function transferables(outputs: readonly NamedTensor[]): ArrayBuffer[] {
  const seen = new Set<ArrayBuffer>();
  for (const { tensor } of outputs) {
    if (Array.isArray(tensor.data)) continue;
    const view = tensor.data as ArrayBufferView;
    if (view.buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.byteLength >= TRANSFER_MIN_BYTES) seen.add(view.buffer);
  }
  return [...seen];
}

async function main(): Promise<void> {
  let model: InferenceModel;
  try {
    model = await open();
    post({ type: 'ready', signature: { inputs: model.inputs.map(signatureOf), outputs: model.outputs.map(signatureOf) } });
  } catch (error) {
    post({ type: 'failed', error: wire(error) });
    port?.close();
    return;
  }
  const preprocessing = setup.preprocessing;
  // An ecoml model has one input; its preprocessing names it or takes the first.
  const preprocessed = preprocessing?.input ?? model.inputs[0]?.name;
  let queue: Promise<void> = Promise.resolve();
  port?.on('message', (message: ToWorker) => {
    if (message.type === 'close') {
      void queue.then(() => model.release()).finally(() => port.close());
      return;
    }
    const { id, inputs, outputs } = message;
    // One run at a time, in order: a run queued behind another must not count its wait as compute.
    queue = queue.then(async () => {
      try {
        const feeds: Record<string, HostTensor> = {};
        for (const { name, tensor } of inputs) {
          if (preprocessing !== undefined && preprocessed === name && tensor.data instanceof Float32Array) applyPreprocessing(preprocessing.record, tensor.data);
          feeds[name] = toHost(tensor);
        }
        const started = performance.now();
        const result = await model.run(feeds, outputs);
        const computeMs = performance.now() - started;
        const named = outputs.map((name) => ({ name, tensor: fromHost(result[name] as HostTensor) }));
        post({ type: 'done', id, outputs: named, computeMs }, transferables(named));
      } catch (error) {
        post({ type: 'error', id, error: wire(error) });
      }
    });
  });
}

void main();
