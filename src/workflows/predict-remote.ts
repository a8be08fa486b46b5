/**
 * `predict --server`: the same inputs `predict` reads (IDX, CSV, PNG, JSON), sent to a model server
 * over the Open Inference Protocol or TF Serving's REST API, a batch per request. The server
 * preprocesses (an ecoml model served by ecoml carries its own), so the features go as read. The
 * energy is what the server reports per request, summed; a server that reports none leaves it out.
 * @module
 */
import { resolve } from 'node:path';
import { loadPredictInput } from '../data/index.js';
import { EcomlError } from '../errors.js';
import type { Method } from '../meter/index.js';
import { createClient, type ClientProtocol } from '../serve/client.js';
import type { Tensor } from '../serve/tensors.js';
import { argmaxRows } from './evaluate.js';
import type { Prediction } from './saved.js';

export interface RemotePredictOptions {
  readonly url: string;
  readonly protocol: ClientProtocol;
  readonly binary: boolean;
  readonly token?: string;
  readonly model: string;
  readonly version?: string;
  readonly input: string;
  readonly labelsPath?: string;
  readonly batchSize: number;
  readonly cwd: string;
}

export interface RemoteEnergy {
  readonly joules: number;
  readonly low: number;
  readonly high: number;
  /** measured only when every request's figure was. */
  readonly method: Method;
  readonly kgCo2e: number;
  readonly requests: number;
}

export interface RemotePredictReport {
  readonly server: string;
  readonly protocol: ClientProtocol;
  readonly model: string;
  readonly version?: string;
  readonly input: string;
  readonly n: number;
  readonly predictions: readonly Prediction[];
  readonly accuracy?: number;
  /** What the server reported; absent when it reports no energy (a server other than ecoml). */
  readonly serverEnergy?: RemoteEnergy;
}

export async function predictRemote(options: RemotePredictOptions): Promise<RemotePredictReport> {
  const client = createClient({ url: options.url, protocol: options.protocol, binary: options.binary, ...(options.token !== undefined ? { token: options.token } : {}) });
  const meta = await client.metadata(options.model, options.version);
  const [input, ...otherInputs] = meta.inputs;
  const [output] = meta.outputs;
  if (input === undefined || otherInputs.length > 0 || output === undefined || input.datatype !== 'FP32' || input.shape[0] !== -1 || input.shape.slice(1).some((d) => d < 0)) {
    throw new EcomlError('E_SHAPE_MISMATCH', `predict --server reads files for models with one FP32 input shaped [batch, …fixed dims]; "${options.model}" takes ${meta.inputs.map((i) => `${i.name} ${i.datatype} [${i.shape.join(', ')}]`).join(', ')}`, {
      details: { model: options.model },
    });
  }
  const featureShape = input.shape.slice(1);
  const path = resolve(options.cwd, options.input);
  const data = loadPredictInput(path, { featureShape, preprocessing: { kind: 'none' }, ...(options.labelsPath !== undefined ? { labelsPath: resolve(options.cwd, options.labelsPath) } : {}) });
  const perSample = data.x.length / data.n;
  const rows: Float32Array[] = [];
  let classes = 0;
  let energy: RemoteEnergy | undefined;
  let allReported = true;
  for (let start = 0; start < data.n; start += options.batchSize) {
    const count = Math.min(options.batchSize, data.n - start);
    const x: Tensor = { datatype: 'FP32', shape: [count, ...featureShape], data: data.x.slice(start * perSample, (start + count) * perSample) };
    const result = await client.infer(options.model, new Map([[input.name, x]]), { ...(options.version !== undefined ? { version: options.version } : {}), outputs: [output.name] });
    const y = result.outputs.get(output.name);
    if (y === undefined || y.shape[0] !== count) throw new EcomlError('E_SERVER_UNREACHABLE', `the server's "${output.name}" does not hold ${count} rows`);
    classes = y.shape.length > 1 ? (y.shape.at(-1) as number) : 1;
    rows.push(Float32Array.from(y.data as ArrayLike<number>, Number));
    const e = result.energy;
    if (e === undefined) allReported = false;
    else {
      energy = {
        joules: (energy?.joules ?? 0) + e.joules,
        low: (energy?.low ?? 0) + e.low,
        high: (energy?.high ?? 0) + e.high,
        method: energy?.method === 'estimated' || e.method === 'estimated' ? 'estimated' : 'measured',
        kgCo2e: (energy?.kgCo2e ?? 0) + (e.kgCo2e ?? 0),
        requests: (energy?.requests ?? 0) + 1,
      };
    }
  }
  const probabilities = new Float32Array(data.n * classes);
  let offset = 0;
  for (const r of rows) {
    probabilities.set(r, offset);
    offset += r.length;
  }
  const predicted = argmaxRows(probabilities, data.n, classes);
  const predictions = Array.from(predicted, (c, i) => ({ index: i, class: c, probabilities: Array.from(probabilities.subarray(i * classes, (i + 1) * classes)) }));
  let accuracy: number | undefined;
  if (data.labels) accuracy = predicted.reduce((n, c, i) => n + (c === data.labels?.[i] ? 1 : 0), 0) / data.n;
  return {
    server: options.url,
    protocol: options.protocol,
    model: options.model,
    ...(options.version !== undefined ? { version: options.version } : {}),
    input: path,
    n: data.n,
    predictions,
    ...(accuracy !== undefined ? { accuracy } : {}),
    ...(energy !== undefined && allReported ? { serverEnergy: energy } : {}),
  };
}
