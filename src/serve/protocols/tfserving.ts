/**
 * TensorFlow Serving's REST API (v1) as its server code behaves (not only as its docs say): model
 * status and metadata with versions as strings, `:predict` in row (`instances`) or columnar
 * (`inputs`) form with `{"b64": …}` values, `:classify` and `:regress` answering `results`, extended
 * JSON (NaN, Infinity), case-insensitive paths and `{"error": "…"}` bodies.
 * @module
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { EcomlError } from '../../errors.js';
import { parseWireJson, stringifyWireJson, type WireJson } from '../json.js';
import type { VersionInfo } from '../models.js';
import type { Signature, TensorSignature } from '../runtimes/runtime.js';
import { formatShape } from '../signature.js';
import { DATATYPE_INFO, elementCount, nest, type NumericArray, type Tensor, tensorFromJson, tensorToJson } from '../tensors.js';
import type { DecodedRequest, Protocol, ServeContext, VersionSelector } from './protocol.js';

const SIGNATURE = 'serving_default';
const POST_PATH = /^\/v1\/models\/([^/:]+)(?:\/versions\/(\d+)|\/labels\/([^/:]+))?:(classify|regress|predict)$/i;
const GET_PATH = /^\/v1\/models\/([^/:]+)(?:\/versions\/(\d+)|\/labels\/([^/:]+))?(\/metadata)?$/i;
const BOTH = /\/(versions\/[^/:]+\/labels|labels\/[^/:]+\/versions)\//i;

type JsonObject = { readonly [key: string]: WireJson };

function invalid(message: string, details: Record<string, unknown> = {}): EcomlError {
  return new EcomlError('E_REQUEST_INVALID', message, { details });
}

function isObject(value: WireJson | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isB64(value: WireJson | undefined): boolean {
  return isObject(value) && Object.keys(value).length === 1 && typeof value.b64 === 'string';
}

/** The shape of a nested JSON array, checked to be rectangular (a b64 object is one element). */
export function shapeOfJson(value: WireJson, what: string): number[] {
  const shape: number[] = [];
  let probe: WireJson = value;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    if (probe.length === 0) break;
    probe = probe[0] as WireJson;
  }
  const check = (v: WireJson, depth: number): void => {
    if (depth === shape.length) {
      if (Array.isArray(v)) throw invalid(`${what}: ragged nested lists (a list where a value was expected at depth ${depth})`);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) throw invalid(`${what}: ragged nested lists (every list at depth ${depth} must have ${shape[depth]} entries)`);
    for (const item of v) check(item, depth + 1);
  };
  check(value, 0);
  return shape;
}

function decodeTarget(match: RegExpExecArray): { model: string } & VersionSelector {
  let model: string;
  try {
    model = decodeURIComponent(match[1] as string);
  } catch {
    throw invalid(`the model name in the URL is not valid percent-encoding: ${match[1]}`);
  }
  const label = match[3] === undefined ? undefined : decodeURIComponent(match[3]);
  return { model, ...(match[2] !== undefined ? { version: Number(match[2]) } : {}), ...(label !== undefined ? { label } : {}) };
}

function checkSignatureName(body: JsonObject): void {
  const name = body.signature_name;
  if (name === undefined || name === SIGNATURE || name === '') return;
  throw invalid(`Serving signature name: "${typeof name === 'string' ? name : JSON.stringify(name)}" not found in signature def`, { signature: name });
}

/** One input from values for each sample (rows) or for the whole batch (columnar). */
function inputTensor(spec: TensorSignature, value: WireJson, rows: number | undefined): Tensor {
  const what = `input "${spec.name}"`;
  const shape = rows === undefined ? shapeOfJson(value, what) : [rows, ...shapeOfJson((value as WireJson[])[0] as WireJson, what)];
  if (rows !== undefined) {
    const sample = shape.slice(1);
    for (const [i, v] of (value as WireJson[]).entries()) {
      const own = shapeOfJson(v, what);
      if (own.length !== sample.length || own.some((d, k) => d !== sample[k])) throw invalid(`${what}: instance ${i} has shape ${formatShape(own)}, instance 0 ${formatShape(sample)}`);
    }
  }
  return tensorFromJson(spec.name, spec.datatype, shape, value, { b64: true });
}

/** The named form of an instance or of `inputs`: an object keyed by input names (a b64 object is a value). */
function isNamed(value: WireJson | undefined, signature: Signature): value is JsonObject {
  return isObject(value) && !isB64(value) && (signature.inputs.length > 1 || Object.hasOwn(value, (signature.inputs[0] as TensorSignature).name));
}

export interface PredictRequest extends DecodedRequest {
  readonly rows: boolean;
}

export function decodePredict(body: WireJson, signature: Signature): PredictRequest {
  if (!isObject(body)) throw invalid('the request body must be a JSON object with "instances" or "inputs"');
  checkSignatureName(body);
  const { instances, inputs } = body;
  if (instances !== undefined && inputs !== undefined) throw invalid('Only one of "instances" or "inputs" may be given, not both');
  if (instances === undefined && inputs === undefined) throw invalid('Missing "inputs" or "instances" key');
  const outputs = signature.outputs.map((o) => o.name);
  const tensors = new Map<string, Tensor>();
  if (instances !== undefined) {
    if (!Array.isArray(instances) || instances.length === 0) throw invalid('"instances" must be a non-empty list');
    const named = isNamed(instances[0], signature);
    for (const spec of signature.inputs) {
      if (spec.shape.length === 0 || (spec.shape[0] !== -1 && spec.shape[0] !== instances.length)) {
        throw invalid(`input "${spec.name}" ${formatShape(spec.shape)} has no batch dimension for ${instances.length} instances; send "inputs" (columnar) instead`, { input: spec.name });
      }
      const values = instances.map((instance, i) => {
        if (!named) return instance;
        if (!isNamed(instance, signature)) throw invalid(`instance ${i} must be an object of named inputs, like instance 0`);
        const v = instance[spec.name];
        if (v === undefined) throw invalid(`instance ${i} is missing input "${spec.name}"`, { input: spec.name, instance: i });
        return v;
      });
      tensors.set(spec.name, inputTensor(spec, values, values.length));
    }
    if (named) for (const key of Object.keys(instances[0] as JsonObject)) if (!signature.inputs.some((s) => s.name === key)) throw invalid(`the model has no input "${key}"`, { input: key });
    return { inputs: tensors, outputs, inferences: instances.length, rows: true };
  }
  const value = inputs as WireJson;
  const named = isNamed(value, signature);
  if (!named && signature.inputs.length > 1) throw invalid(`"inputs" must be an object of named inputs: ${signature.inputs.map((s) => s.name).join(', ')}`);
  for (const spec of signature.inputs) {
    const v = named ? (value as JsonObject)[spec.name] : value;
    if (v === undefined) throw invalid(`"inputs" is missing input "${spec.name}"`, { input: spec.name });
    tensors.set(spec.name, inputTensor(spec, v, undefined));
  }
  if (named) for (const key of Object.keys(value as JsonObject)) if (!signature.inputs.some((s) => s.name === key)) throw invalid(`the model has no input "${key}"`, { input: key });
  const first = tensors.values().next().value as Tensor;
  return { inputs: tensors, outputs, inferences: first.shape[0] ?? 1, rows: false };
}

function outputJson(name: string, tensor: Tensor): WireJson[] {
  return tensorToJson(tensor, { bytesAs: name.endsWith('_bytes') ? 'b64' : 'string' });
}

export function encodePredict(request: PredictRequest, outputs: ReadonlyMap<string, Tensor>): WireJson {
  const entries = [...outputs];
  if (!request.rows) {
    const columns = entries.map(([name, t]) => [name, nest(outputJson(name, t), t.shape)] as const);
    return { outputs: columns.length === 1 ? (columns[0] as readonly [string, WireJson])[1] : Object.fromEntries(columns) };
  }
  const perRow = entries.map(([name, t]) => {
    if (t.shape[0] !== request.inferences) throw new EcomlError('E_ENGINE_FAILED', `output "${name}" has ${t.shape[0]} rows for ${request.inferences} instances; use "inputs" for outputs without a batch dimension`);
    const sample = t.shape.slice(1);
    const values = outputJson(name, t);
    const size = elementCount(sample);
    return { name, row: (i: number) => nest(values.slice(i * size, (i + 1) * size), sample) };
  });
  const predictions = Array.from({ length: request.inferences }, (_, i) =>
    perRow.length === 1 ? (perRow[0] as (typeof perRow)[number]).row(i) : Object.fromEntries(perRow.map((o) => [o.name, o.row(i)])),
  );
  return { predictions };
}

function flatValues(list: readonly WireJson[]): WireJson[] {
  const out: WireJson[] = [];
  const walk = (v: WireJson): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else out.push(v);
  };
  list.forEach(walk);
  return out;
}

/** Classify and regress read tf.Example-like feature maps: each feature a value or a flat list, merged over `context`. */
function decodeExamples(body: WireJson, signature: Signature): DecodedRequest {
  if (!isObject(body)) throw invalid('the request body must be a JSON object with "examples"');
  checkSignatureName(body);
  const { examples, context } = body;
  if (!Array.isArray(examples) || examples.length === 0) throw invalid('"examples" must be a non-empty list of feature objects');
  if (context !== undefined && !isObject(context)) throw invalid('"context" must be an object of features');
  const inputs = new Map<string, Tensor>();
  for (const spec of signature.inputs) {
    const sample = spec.shape.slice(1);
    if (spec.shape[0] !== -1) throw invalid(`input "${spec.name}" ${formatShape(spec.shape)} has no batch dimension for examples`, { input: spec.name });
    const values = examples.map((example, i) => {
      if (!isObject(example)) throw invalid(`example ${i} must be an object of features`);
      const v = example[spec.name] ?? context?.[spec.name];
      if (v === undefined) throw invalid(`example ${i} is missing feature "${spec.name}"`, { input: spec.name, example: i });
      return Array.isArray(v) ? flatValues(v) : [v];
    });
    const length = (values[0] as WireJson[]).length;
    const free = sample.filter((d) => d < 0).length;
    const fixed = elementCount(sample.filter((d) => d >= 0));
    if (free > 1 || (free === 1 && length % fixed !== 0)) throw invalid(`feature "${spec.name}" with ${length} values does not fit the input's sample shape ${formatShape(sample)}`, { input: spec.name });
    const shape = [examples.length, ...sample.map((d) => (d < 0 ? length / fixed : d))];
    inputs.set(spec.name, tensorFromJson(spec.name, spec.datatype, shape, values, { b64: true }));
  }
  return { inputs, outputs: signature.outputs.map((o) => o.name), inferences: examples.length };
}

/** The one output classify and regress read, checked to hold numbers per example. */
function scoresOutput(signature: Signature, method: 'classify' | 'regress'): TensorSignature {
  const [output, ...others] = signature.outputs;
  const numeric = output !== undefined && DATATYPE_INFO[output.datatype].kind !== 'bytes' && DATATYPE_INFO[output.datatype].kind !== 'bool';
  const fits = method === 'classify' ? output?.shape.length === 2 : output?.shape.length === 1 || (output?.shape.length === 2 && output.shape[1] === 1);
  if (output === undefined || others.length > 0 || !numeric || !fits) {
    throw invalid(
      method === 'classify'
        ? 'this model cannot classify: :classify needs one numeric output of class scores shaped [batch, classes]'
        : 'this model cannot regress: :regress needs one numeric output shaped [batch] or [batch, 1]',
      { method },
    );
  }
  return output;
}

const STATE: Readonly<Record<VersionInfo['status'], string>> = { loading: 'LOADING', ready: 'AVAILABLE', idle: 'AVAILABLE', unloaded: 'END', failed: 'END', unloading: 'UNLOADING' };

function statusJson(v: VersionInfo): WireJson {
  const failed = v.status === 'failed';
  return { version: String(v.version), state: STATE[v.status], status: { error_code: failed ? 'UNKNOWN' : 'OK', error_message: failed ? (v.reason ?? '') : '' } };
}

function tensorInfo(t: TensorSignature): WireJson {
  return { dtype: DATATYPE_INFO[t.datatype].tf, tensor_shape: { dim: t.shape.map((d) => ({ size: String(d), name: '' })), unknown_rank: false }, name: `${t.name}:0` };
}

function pickVersion(ctx: ServeContext, model: string, selector: VersionSelector): VersionInfo[] {
  if (!ctx.models.has(model)) throw new EcomlError('E_MODEL_NOT_FOUND', `Servable not found for request: Latest(${model})`, { details: { model } });
  const all = ctx.models.describe(model);
  const version = selector.label !== undefined ? ctx.models.versionForLabel(model, selector.label) : selector.version;
  if (version === undefined) return all;
  const one = all.filter((v) => v.version === version);
  if (one.length === 0) throw new EcomlError('E_MODEL_NOT_FOUND', `Servable not found for request: Specific(${model}, ${version})`, { details: { model, version } });
  return one;
}

function send(reply: FastifyReply, value: WireJson): FastifyReply {
  return reply.type('application/json').send(stringifyWireJson(value, { extended: true }));
}

function readBody(request: FastifyRequest): WireJson {
  const body = request.body as Buffer | undefined;
  if (body === undefined || body.byteLength === 0) throw invalid('the request has no body; send a JSON object');
  return parseWireJson(body.toString('utf8'), { extended: true });
}

export const tfservingProtocol: Protocol = {
  name: 'tfserving',
  register(app: FastifyInstance, ctx: ServeContext) {
    const route = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
      const path = request.url.split('?', 1)[0] as string;
      if (BOTH.test(path)) throw invalid('a request may name a version or a label, not both');
      if (request.method === 'GET') {
        const match = GET_PATH.exec(path);
        // TF Serving answers a path its patterns do not match with INVALID_ARGUMENT: 400, not 404.
        if (match === null) throw invalid(`Malformed request: GET ${path}`, { path });
        const selector = decodeTarget(match);
        const versions = pickVersion(ctx, selector.model, selector);
        if (match[4] === undefined) return send(reply, { model_version_status: versions.map(statusJson) });
        const shown = versions.find((v) => v.signature !== undefined);
        if (shown?.signature === undefined) throw new EcomlError('E_MODEL_UNAVAILABLE', `model "${selector.model}" has no version loaded yet`, { details: { model: selector.model } });
        const signature = shown.signature;
        return send(reply, {
          model_spec: { name: selector.model, signature_name: '', version: String(shown.version) },
          metadata: {
            signature_def: {
              signature_def: {
                [SIGNATURE]: {
                  inputs: Object.fromEntries(signature.inputs.map((t) => [t.name, tensorInfo(t)])),
                  outputs: Object.fromEntries(signature.outputs.map((t) => [t.name, tensorInfo(t)])),
                  method_name: 'tensorflow/serving/predict',
                },
              },
            },
          },
        });
      }
      const match = POST_PATH.exec(path);
      if (request.method !== 'POST' || match === null) throw invalid(`Malformed request: ${request.method} ${path}`, { path });
      const selector = decodeTarget(match);
      const method = (match[4] as string).toLowerCase() as 'predict' | 'classify' | 'regress';
      const body = readBody(request);
      let decoded: DecodedRequest | undefined;
      const answer = await ctx.infer(request, { ...selector, protocol: 'tfserving' }, (signature) => {
        if (method !== 'predict') scoresOutput(signature, method);
        decoded = method === 'predict' ? decodePredict(body, signature) : decodeExamples(body, signature);
        return decoded;
      });
      ctx.energyHeaders(reply, answer.energy);
      if (method === 'predict') return send(reply, encodePredict(decoded as PredictRequest, answer.outputs));
      const output = scoresOutput(answer.signature, method);
      const scores = answer.outputs.get(output.name) as Tensor;
      const values = Array.from(scores.data as NumericArray, Number);
      if (method === 'regress') return send(reply, { results: values });
      const classes = scores.shape[1] as number;
      const names = ctx.models.describe(answer.model).find((v) => v.version === answer.version)?.classNames;
      const results = Array.from({ length: scores.shape[0] as number }, (_, r) => Array.from({ length: classes }, (_, c) => [names?.[c] ?? String(c), values[r * classes + c] as number]));
      return send(reply, { results });
    };
    app.route({ method: ['GET', 'POST'], url: '/v1/*', handler: route });
  },
};
