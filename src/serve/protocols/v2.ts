/**
 * The Open Inference Protocol (KServe V2) over REST, as Triton speaks it, with the Triton
 * extensions its clients rely on: binary tensor data (tritonclient's and perf_analyzer's default),
 * model configuration, statistics, the model repository API and classification. Versions are
 * strings on the wire; errors are `{"error": "…"}`.
 * @module
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { EcomlError } from '../../errors.js';
import type { BatchingSettings } from '../batcher.js';
import { parseWireJson, stringifyWireJson, type WireJson } from '../json.js';
import type { VersionInfo } from '../models.js';
import type { Signature, TensorSignature } from '../runtimes/runtime.js';
import { checkOutputs, findInput } from '../signature.js';
import type { VersionStats } from '../stats.js';
import {
  DATATYPE_INFO,
  datatypeOf,
  elementCount,
  type NumericArray,
  type Tensor,
  tensorFromBytes,
  tensorFromJson,
  tensorToBytes,
  tensorToJson,
} from '../tensors.js';
import { encodeBinaryBody, HEADER_LENGTH_HEADER, parseHeaderLength, sliceBinarySection, splitBinaryBody } from './binary.js';
import type { DecodedRequest, Protocol, ServeContext, VersionSelector } from './protocol.js';

export const V2_EXTENSIONS = ['binary_tensor_data', 'classification', 'model_configuration', 'model_repository', 'statistics', 'schedule_policy'] as const;

const PLATFORM = { onnx: 'onnxruntime_onnx', tfjs: 'tensorflowjs' } as const;

function invalid(message: string, details: Record<string, unknown> = {}): EcomlError {
  return new EcomlError('E_REQUEST_INVALID', message, { details });
}

type JsonObject = { readonly [key: string]: WireJson };

function isObject(value: WireJson | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A version segment of the URL: an integer, which clients send as a string. */
export function parseVersion(text: string | undefined): number | undefined {
  // Only a route without the segment leaves it undefined; an empty one (`versions//infer`) is malformed.
  if (text === undefined) return undefined;
  if (!/^\d{1,15}$/.test(text)) throw invalid(`model version must be a non-negative integer, got "${text}"`, { version: text });
  return Number(text);
}

interface OutputRequest {
  readonly name: string;
  readonly binary?: boolean;
  readonly classification?: number;
}

interface V2Request {
  readonly id?: string;
  readonly binaryOutput?: boolean;
  readonly timeoutMs?: number;
  readonly inputs: readonly { readonly name: string; readonly shape: readonly number[]; readonly datatype: string; readonly data?: WireJson; readonly binarySize?: number }[];
  readonly outputs?: readonly OutputRequest[];
}

function optionalBoolean(value: WireJson | undefined, what: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalid(`${what} must be true or false`);
  return value;
}

function positiveInteger(value: WireJson | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw invalid(`${what} must be a non-negative integer`);
  return n;
}

/** The JSON header of an infer request, checked field by field (bodies can be large: no schema library over the data). */
export function readInferHeader(json: WireJson): V2Request {
  if (!isObject(json)) throw invalid('the request body must be a JSON object with "inputs"');
  const id = json.id;
  if (id !== undefined && typeof id !== 'string') throw invalid('"id" must be a string');
  const parameters = json.parameters;
  if (parameters !== undefined && !isObject(parameters)) throw invalid('"parameters" must be an object');
  const timeoutUs = positiveInteger(parameters?.timeout, 'parameters.timeout (microseconds)');
  const inputs = json.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) throw invalid('"inputs" must be a non-empty array of tensors');
  const names = new Set<string>();
  const readInputs = inputs.map((input, i) => {
    if (!isObject(input)) throw invalid(`inputs[${i}] must be an object with name, shape, datatype and data`);
    const { name, shape, datatype, data } = input;
    if (typeof name !== 'string' || name === '') throw invalid(`inputs[${i}].name must be a non-empty string`);
    if (names.has(name)) throw invalid(`input "${name}" is given twice`, { input: name });
    names.add(name);
    if (!Array.isArray(shape)) throw invalid(`input "${name}": shape must be an array of non-negative integers`, { input: name });
    if (typeof datatype !== 'string') throw invalid(`input "${name}": datatype must be a string such as "FP32"`, { input: name });
    const params = input.parameters;
    if (params !== undefined && !isObject(params)) throw invalid(`input "${name}": parameters must be an object`, { input: name });
    const binarySize = positiveInteger(params?.binary_data_size, `input "${name}": parameters.binary_data_size`);
    if ((data === undefined) === (binarySize === undefined)) throw invalid(`input "${name}" needs exactly one of "data" or parameters.binary_data_size`, { input: name });
    return { name, shape: shape as number[], datatype, ...(data !== undefined ? { data } : {}), ...(binarySize !== undefined ? { binarySize } : {}) };
  });
  const outputs = json.outputs;
  if (outputs !== undefined && !Array.isArray(outputs)) throw invalid('"outputs" must be an array');
  const readOutputs = outputs?.map((output, i): OutputRequest => {
    if (!isObject(output) || typeof output.name !== 'string') throw invalid(`outputs[${i}] must be an object with a name`);
    const params = output.parameters;
    if (params !== undefined && !isObject(params)) throw invalid(`output "${output.name}": parameters must be an object`);
    const binary = optionalBoolean(params?.binary_data, `output "${output.name}": parameters.binary_data`);
    const classification = positiveInteger(params?.classification, `output "${output.name}": parameters.classification`);
    if (classification === 0) throw invalid(`output "${output.name}": parameters.classification must be at least 1`);
    return { name: output.name, ...(binary !== undefined ? { binary } : {}), ...(classification !== undefined ? { classification } : {}) };
  });
  const binaryOutput = optionalBoolean(parameters?.binary_data_output, 'parameters.binary_data_output');
  return {
    ...(id !== undefined ? { id } : {}),
    ...(binaryOutput !== undefined ? { binaryOutput } : {}),
    // Triton reads a timeout of 0 as "none of its own": the model's default applies.
    ...(timeoutUs !== undefined && timeoutUs !== 0 ? { timeoutMs: timeoutUs / 1000 } : {}),
    inputs: readInputs,
    ...(readOutputs !== undefined ? { outputs: readOutputs } : {}),
  };
}

interface ParsedBody {
  readonly header: V2Request;
  readonly tensors: (signature: Signature, batching: BatchingSettings) => Map<string, Tensor>;
}

/** A body as JSON, as JSON header + binary tensors, or as one raw binary input (header length 0). */
export function parseInferBody(body: Buffer, headerLength: number | undefined): ParsedBody {
  if (headerLength === 0) {
    return {
      header: { inputs: [] },
      tensors: (signature) => new Map([rawInput(signature, body)]),
    };
  }
  const split = headerLength === undefined ? { header: body.toString('utf8'), binary: new Uint8Array(0) } : splitBinaryBody(body, headerLength);
  const header = readInferHeader(parseWireJson(split.header));
  const slices = sliceBinarySection(
    header.inputs.map((i) => i.binarySize),
    split.binary,
    header.inputs.map((i) => i.name),
  );
  return {
    header,
    tensors: () =>
      new Map(
        header.inputs.map((input, i) => {
          const datatype = datatypeOf(input.datatype, `input "${input.name}"`);
          const bytes = slices[i];
          return [input.name, bytes !== undefined ? tensorFromBytes(input.name, datatype, input.shape, bytes) : tensorFromJson(input.name, datatype, input.shape, input.data as WireJson)];
        }),
      ),
  };
}

/** Triton's raw binary request: the whole body is the single input's bytes; its free dimension is inferred from their count. */
function rawInput(signature: Signature, body: Buffer): [string, Tensor] {
  const [input, ...others] = signature.inputs;
  if (input === undefined || others.length > 0) throw invalid('a raw binary request (Inference-Header-Content-Length: 0) needs a model with exactly one input');
  const info = DATATYPE_INFO[input.datatype];
  if (info.kind === 'bytes') return [input.name, tensorFromBytes(input.name, input.datatype, input.shape.map((d) => (d < 0 ? 1 : d)), body)];
  const free = input.shape.filter((d) => d < 0).length;
  const fixed = elementCount(input.shape.filter((d) => d >= 0)) * info.bytes;
  if (free > 1) throw invalid(`a raw binary request needs an input with at most one free dimension; "${input.name}" is [${input.shape.join(', ')}]`);
  const rows = body.byteLength / fixed;
  if (!Number.isInteger(rows) || (free === 0 && rows !== 1)) {
    throw invalid(`the raw body's ${body.byteLength} bytes are not a whole number of ${input.datatype} rows of ${fixed} bytes for input "${input.name}"`);
  }
  return [input.name, tensorFromBytes(input.name, input.datatype, input.shape.map((d) => (d < 0 ? rows : d)), body)];
}

/**
 * Triton's classification extension: the top k scores of each batch item (of the whole tensor when
 * the model does not batch), over all of its elements, as BYTES "score:index[:label]" shaped
 * [batch, k] (or [k]). Integer scores of any width count; FP16 and BOOL do not, as in Triton.
 */
export function classify(tensor: Tensor, k: number, labels: readonly string[] | undefined, name: string, batched: boolean): Tensor {
  const kind = DATATYPE_INFO[tensor.datatype].kind;
  if (kind !== 'float' && kind !== 'int' && kind !== 'bigint') {
    throw invalid(`output "${name}" is ${tensor.datatype}: classification needs numeric scores`, { output: name });
  }
  const rows = batched ? (tensor.shape[0] ?? 1) : 1;
  const classes = elementCount(batched ? tensor.shape.slice(1) : tensor.shape);
  const data = tensor.data as NumericArray;
  const take = Math.min(k, classes);
  const encoder = new TextEncoder();
  const out: Uint8Array[] = [];
  for (let r = 0; r < rows; r++) {
    const base = r * classes;
    // Compared as they are: INT64 scores past 2^53 keep their order, and print with every digit.
    const score = (c: number): number | bigint => data[base + c] as number | bigint;
    const order = Array.from({ length: classes }, (_, c) => c).sort((a, b) => (score(a) > score(b) ? -1 : score(a) < score(b) ? 1 : 0));
    for (const c of order.slice(0, take)) out.push(encoder.encode(`${score(c)}:${c}${labels?.[c] !== undefined ? `:${labels[c]}` : ''}`));
  }
  return { datatype: 'BYTES', shape: batched ? [rows, take] : [take], data: out };
}

interface EncodedOutput {
  readonly json: Record<string, WireJson>;
  readonly binary?: Uint8Array;
}

function encodeOutput(name: string, tensor: Tensor, binary: boolean): EncodedOutput {
  const base = { name, datatype: tensor.datatype, shape: [...tensor.shape] };
  if (!binary) return { json: { ...base, data: tensorToJson(tensor) } };
  const bytes = tensorToBytes(tensor);
  return { json: { ...base, parameters: { binary_data_size: bytes.byteLength } }, binary: bytes };
}

function sendJson(reply: FastifyReply, value: WireJson): FastifyReply {
  return reply.type('application/json').send(stringifyWireJson(value));
}

function target(request: FastifyRequest): { model: string } & VersionSelector {
  const params = request.params as { model: string; version?: string };
  const version = parseVersion(params.version);
  return { model: params.model, ...(version !== undefined ? { version } : {}) };
}

function platformOf(info: VersionInfo | undefined): string {
  return info?.platform ? PLATFORM[info.platform] : 'unknown';
}

/** The version a metadata or config request means, with its signature known. */
function described(ctx: ServeContext, model: string, version: number | undefined): { info: VersionInfo; all: VersionInfo[]; signature: Signature } {
  if (!ctx.models.has(model)) throw new EcomlError('E_MODEL_NOT_FOUND', `model "${model}" is not in the repository`, { details: { model } });
  const all = ctx.models.describe(model);
  const info = version === undefined ? (all.find((v) => v.signature !== undefined && v.status !== 'failed') ?? all[0]) : all.find((v) => v.version === version);
  if (info === undefined) throw new EcomlError('E_MODEL_NOT_FOUND', `model "${model}" has no ${version === undefined ? 'version' : `version ${version}`} being served`, { details: { model, version } });
  if (info.signature === undefined) throw new EcomlError('E_MODEL_UNAVAILABLE', `model "${model}" version ${info.version} is ${info.status}${info.reason ? `: ${info.reason}` : ''}`, { details: { model } });
  return { info, all, signature: info.signature };
}

const serveable = (v: VersionInfo): boolean => v.status === 'ready' || v.status === 'idle';

function tensorMetadata(t: TensorSignature): WireJson {
  return { name: t.name, datatype: t.datatype, shape: [...t.shape] };
}

/** Triton's model configuration: dims without the batch dimension when the model batches. */
export function modelConfig(info: VersionInfo, signature: Signature): WireJson {
  const batching = info.batching;
  const maxBatch = batching?.maxBatchSize ?? 0;
  const dims = (t: TensorSignature): number[] => (maxBatch > 0 ? t.shape.slice(1) : [...t.shape]);
  const io = (t: TensorSignature): WireJson => ({ name: t.name, data_type: DATATYPE_INFO[t.datatype].triton, dims: dims(t) });
  return {
    name: info.model,
    platform: platformOf(info),
    backend: info.platform === 'onnx' ? 'onnxruntime' : 'tfjs',
    max_batch_size: maxBatch,
    input: signature.inputs.map(io),
    output: signature.outputs.map(io),
    ...(batching?.dynamic
      ? {
          dynamic_batching: {
            preferred_batch_size: [...batching.preferredBatchSizes],
            max_queue_delay_microseconds: Math.round(batching.maxQueueDelayMs * 1000),
            default_queue_policy: { max_queue_size: batching.maxQueueSize, default_timeout_microseconds: Math.round(batching.timeoutMs * 1000), allow_timeout_override: true },
          },
        }
      : {}),
    instance_group: [{ count: info.instances, kind: 'KIND_CPU' }],
    ...(info.origin ? { parameters: { ecoml_origin: { string_value: info.origin } } } : {}),
  };
}

function duration(d: { count: number; ns: number }): WireJson {
  return { count: d.count, ns: d.ns };
}

function statsJson(s: VersionStats | undefined, model: string, version: number): WireJson {
  const zero = { count: 0, ns: 0 };
  return {
    name: model,
    version: String(version),
    last_inference: s?.lastInferenceMs ?? 0,
    inference_count: s?.inferenceCount ?? 0,
    execution_count: s?.executionCount ?? 0,
    inference_stats: {
      success: duration(s?.success ?? zero),
      fail: duration(s?.fail ?? zero),
      queue: duration(s?.queue ?? zero),
      compute_input: duration(zero),
      compute_infer: duration(s?.computeInfer ?? zero),
      compute_output: duration(zero),
      cache_hit: duration(zero),
      cache_miss: duration(zero),
    },
    batch_stats: [...(s?.batches ?? new Map<number, { count: number; ns: number }>())]
      .sort(([a], [b]) => a - b)
      .map(([size, d]) => ({ batch_size: size, compute_input: { count: d.count, ns: 0 }, compute_infer: duration(d), compute_output: { count: d.count, ns: 0 } })),
    memory_usage: [],
    energy: s ? { joules: s.energy.joules, joules_low: s.energy.low, joules_high: s.energy.high, kg_co2e: s.energy.kgCo2e } : { joules: 0, joules_low: 0, joules_high: 0, kg_co2e: 0 },
  };
}

const REPOSITORY_STATE: Readonly<Record<VersionInfo['status'], string>> = {
  loading: 'LOADING',
  ready: 'READY',
  idle: 'READY',
  unloaded: 'UNAVAILABLE',
  failed: 'UNAVAILABLE',
  unloading: 'UNLOADING',
};

function bodyJson(request: FastifyRequest): WireJson | undefined {
  const body = request.body as Buffer | undefined;
  if (body === undefined || body.byteLength === 0) return undefined;
  return parseWireJson(body.toString('utf8'));
}

export const v2Protocol: Protocol = {
  name: 'v2',
  register(app: FastifyInstance, ctx: ServeContext) {
    app.get('/v2', async (_request, reply) => sendJson(reply, { name: ctx.serverName, version: ctx.serverVersion, extensions: [...V2_EXTENSIONS] }));
    app.get('/v2/health/live', async (_request, reply) => reply.code(200).send());
    app.get('/v2/health/ready', async (_request, reply) => reply.code(ctx.ready() ? 200 : 400).send());

    const ready = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
      const { model, version } = target(request);
      const versions = ctx.models.describe(model);
      const ok = versions.some((v) => serveable(v) && (version === undefined || v.version === version));
      return reply.code(ok ? 200 : 400).send();
    };
    app.get('/v2/models/:model/ready', ready);
    app.get('/v2/models/:model/versions/:version/ready', ready);

    const metadata = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
      const { model, version } = target(request);
      const { info, all, signature } = described(ctx, model, version);
      return sendJson(reply, {
        name: model,
        versions: all.filter(serveable).map((v) => String(v.version)),
        platform: platformOf(info),
        inputs: signature.inputs.map(tensorMetadata),
        outputs: signature.outputs.map(tensorMetadata),
      });
    };
    app.get('/v2/models/:model', metadata);
    app.get('/v2/models/:model/versions/:version', metadata);

    const config = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
      const { model, version } = target(request);
      const { info, signature } = described(ctx, model, version);
      return sendJson(reply, modelConfig(info, signature));
    };
    app.get('/v2/models/:model/config', config);
    app.get('/v2/models/:model/versions/:version/config', config);

    const stats = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
      const params = request.params as { model?: string; version?: string };
      const version = parseVersion(params.version);
      if (params.model !== undefined && !ctx.models.has(params.model)) throw new EcomlError('E_MODEL_NOT_FOUND', `model "${params.model}" is not in the repository`, { details: { model: params.model } });
      const names = params.model === undefined ? ctx.models.names() : [params.model];
      const entries = names.flatMap((name) => {
        const held = ctx.models.describe(name).map((v) => v.version);
        const seen = ctx.stats.select(name).map((s) => s.version);
        const versions = [...new Set([...held, ...seen])].filter((v) => version === undefined || v === version).sort((a, b) => a - b);
        return versions.map((v) => statsJson(ctx.stats.select(name, v)[0], name, v));
      });
      if (version !== undefined && entries.length === 0) throw new EcomlError('E_MODEL_NOT_FOUND', `model "${params.model}" has no version ${version}`, { details: { model: params.model, version } });
      return sendJson(reply, { model_stats: entries });
    };
    app.get('/v2/models/stats', stats);
    app.get('/v2/models/:model/stats', stats);
    app.get('/v2/models/:model/versions/:version/stats', stats);

    const infer = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
      const body = (request.body as Buffer | undefined) ?? Buffer.alloc(0);
      const headerLength = parseHeaderLength(request.headers[HEADER_LENGTH_HEADER], body.byteLength);
      const selector = target(request);
      let parsed: ParsedBody | undefined;
      let batched = false;
      const answer = await ctx.infer(request, { ...selector, protocol: 'v2' }, (signature, batching): DecodedRequest => {
        batched = batching.maxBatchSize > 0;
        parsed = parseInferBody(body, headerLength);
        const inputs = parsed.tensors(signature, batching);
        for (const name of inputs.keys()) findInput(signature, name);
        const outputs = checkOutputs(signature, parsed.header.outputs?.map((o) => o.name));
        const first = [...inputs.values()][0];
        const inferences = batching.maxBatchSize > 0 ? (first?.shape[0] ?? 1) : 1;
        return { inputs, outputs, inferences, ...(parsed.header.timeoutMs !== undefined ? { timeoutMs: parsed.header.timeoutMs } : {}), ...(parsed.header.id !== undefined ? { id: parsed.header.id } : {}) };
      });
      const header = (parsed as ParsedBody).header;
      // An empty "outputs" asks for every output, as an absent one does (checkOutputs computed them all).
      const requested = header.outputs !== undefined && header.outputs.length > 0 ? header.outputs : answer.signature.outputs.map((o): OutputRequest => ({ name: o.name }));
      const encoded = requested.map((o) => {
        const tensor = answer.outputs.get(o.name) as Tensor;
        const classNames = o.classification === undefined ? undefined : ctx.models.describe(answer.model).find((v) => v.version === answer.version)?.classNames;
        const shown = o.classification !== undefined ? classify(tensor, o.classification, classNames, o.name, batched) : tensor;
        return encodeOutput(o.name, shown, o.binary ?? header.binaryOutput ?? false);
      });
      const json = stringifyWireJson({
        model_name: answer.model,
        model_version: String(answer.version),
        ...(header.id !== undefined ? { id: header.id } : {}),
        outputs: encoded.map((e) => e.json),
      });
      ctx.energyHeaders(reply, answer.energy);
      const chunks = encoded.flatMap((e) => (e.binary ? [e.binary] : []));
      if (chunks.length === 0) return reply.type('application/json').send(json);
      const { body: out, headerLength: length } = encodeBinaryBody(json, chunks);
      return reply.type('application/octet-stream').header('Inference-Header-Content-Length', String(length)).send(out);
    };
    app.post('/v2/models/:model/infer', infer);
    app.post('/v2/models/:model/versions/:version/infer', infer);

    app.post('/v2/repository/index', async (request, reply) => {
      const body = bodyJson(request);
      if (body !== undefined && !isObject(body)) throw invalid('the index request body must be a JSON object such as {"ready": true}');
      const onlyReady = optionalBoolean(body?.ready, '"ready"') ?? false;
      const entries: WireJson[] = [];
      for (const entry of await ctx.index()) {
        const versions = ctx.models.describe(entry.name);
        if (versions.length === 0) {
          if (!onlyReady) entries.push({ name: entry.name, state: 'UNAVAILABLE', reason: entry.config instanceof EcomlError ? entry.config.message : 'unloaded' });
          continue;
        }
        for (const v of versions) {
          const state = REPOSITORY_STATE[v.status];
          if (onlyReady && state !== 'READY') continue;
          const reason = v.status === 'idle' ? 'unloaded while idle; loads on the next request' : (v.reason ?? (v.status === 'unloaded' ? 'unloaded' : ''));
          entries.push({ name: entry.name, version: String(v.version), state, reason });
        }
      }
      return sendJson(reply, entries);
    });

    app.post('/v2/repository/models/:model/load', async (request, reply) => {
      const { model } = request.params as { model: string };
      const body = bodyJson(request);
      if (body !== undefined && (!isObject(body) || (body.parameters !== undefined && !(isObject(body.parameters) && Object.keys(body.parameters).length === 0)))) {
        throw new EcomlError('E_REQUEST_INVALID', 'load parameters (a config override or model files in the request) are not supported: put the files in the repository', { details: { model } });
      }
      const entry = await ctx.rescan(model);
      if (entry === undefined) throw new EcomlError('E_MODEL_NOT_FOUND', `failed to load "${model}": no such model directory in the repository`, { details: { model } });
      await ctx.models.loadModel(entry);
      return reply.code(200).send();
    });

    app.post('/v2/repository/models/:model/unload', async (request, reply) => {
      const { model } = request.params as { model: string };
      const body = bodyJson(request);
      if (body !== undefined && (!isObject(body) || (body.parameters !== undefined && !isObject(body.parameters)))) {
        throw invalid('the unload request body must be a JSON object such as {"parameters": {"unload_dependents": false}}', { model });
      }
      await ctx.models.unloadModel(model);
      return reply.code(200).send();
    });
  },
};
