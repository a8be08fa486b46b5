/**
 * A typed client for any server speaking the Open Inference Protocol (Triton, KServe, ecoml) or
 * TF Serving's REST API: health, metadata and inference with the library's Tensor type, JSON or
 * Triton's binary tensor format, and the energy an ecoml server reports for each request.
 * @example
 * const client = createClient({ url: 'http://127.0.0.1:8501', protocol: 'v2', binary: true });
 * const { outputs, energy } = await client.infer('mnist', new Map([['x', { datatype: 'FP32', shape: [1, 28, 28, 1], data: pixels }]]));
 * @module
 */
import { EcomlError, type ErrorCode } from '../errors.js';
import { parseWireJson, stringifyWireJson, type WireJson } from './json.js';
import type { TensorSignature } from './runtimes/runtime.js';
import { checkShape, DATATYPE_INFO, DATATYPES, type Datatype, isDatatype, nest, type Tensor, tensorFromBytes, tensorFromJson, tensorToBytes, tensorToJson } from './tensors.js';
import { encodeBinaryBody, HEADER_LENGTH_HEADER, parseHeaderLength, sliceBinarySection, splitBinaryBody } from './protocols/binary.js';
import type { Method } from '../meter/index.js';

export const CLIENT_PROTOCOLS = ['v2', 'tfserving'] as const;
export type ClientProtocol = (typeof CLIENT_PROTOCOLS)[number];

export interface ClientOptions {
  /** The server's base URL, e.g. http://127.0.0.1:8501. */
  readonly url: string;
  /** Default v2 (Open Inference Protocol). */
  readonly protocol?: ClientProtocol;
  /** v2 only: send and receive tensors in Triton's binary format (tritonclient's default). */
  readonly binary?: boolean;
  /** Sent as `Authorization: Bearer …`. */
  readonly token?: string;
  /** Per-request timeout (default 60 s). */
  readonly timeoutMs?: number;
}

export interface ModelMetadata {
  readonly name: string;
  readonly versions: readonly string[];
  readonly platform: string;
  readonly inputs: readonly TensorSignature[];
  readonly outputs: readonly TensorSignature[];
}

/** The energy an ecoml server reports for one request (other servers report none). */
export interface RequestEnergy {
  readonly joules: number;
  readonly low: number;
  readonly high: number;
  readonly method: Method;
  readonly kgCo2e?: number;
}

export interface InferResult {
  readonly model: string;
  readonly version?: string;
  readonly outputs: ReadonlyMap<string, Tensor>;
  readonly energy?: RequestEnergy;
}

export interface InferOptions {
  readonly version?: string | number;
  /** Outputs to return (default all). */
  readonly outputs?: readonly string[];
}

export interface InferenceClient {
  readonly protocol: ClientProtocol;
  /** The server answers (v2: /v2/health/live; tfserving: the model status route answers at all). */
  live(): Promise<boolean>;
  /** v2: /v2/health/ready; tfserving: live. */
  ready(): Promise<boolean>;
  modelReady(name: string, version?: string | number): Promise<boolean>;
  metadata(name: string, version?: string | number): Promise<ModelMetadata>;
  infer(name: string, inputs: ReadonlyMap<string, Tensor>, options?: InferOptions): Promise<InferResult>;
}

/** A failed HTTP exchange as the catalogue code a caller can act on; the server's message is kept. */
const STATUS_CODES: Readonly<Record<number, ErrorCode>> = {
  400: 'E_REQUEST_INVALID',
  401: 'E_UNAUTHORIZED',
  404: 'E_MODEL_NOT_FOUND',
  413: 'E_PAYLOAD_TOO_LARGE',
  429: 'E_OVERLOADED',
  503: 'E_MODEL_UNAVAILABLE',
  504: 'E_TIMEOUT',
};

export function createClient(options: ClientOptions): InferenceClient {
  const base = options.url.replace(/\/+$/, '');
  const protocol = options.protocol ?? 'v2';
  if (!(CLIENT_PROTOCOLS as readonly string[]).includes(protocol)) {
    throw new EcomlError('E_UNKNOWN_NAME', `unknown protocol "${protocol}"; valid: ${CLIENT_PROTOCOLS.join(', ')}`, { details: { valid: [...CLIENT_PROTOCOLS] } });
  }
  let parsedBase: URL;
  try {
    parsedBase = new URL(base);
  } catch {
    throw new EcomlError('E_CONFIG_INVALID', `not a server URL: "${options.url}" (e.g. http://127.0.0.1:8501)`, { details: { url: options.url } });
  }
  if (parsedBase.protocol !== 'http:' && parsedBase.protocol !== 'https:') throw new EcomlError('E_CONFIG_INVALID', `the server URL must be http or https, got "${options.url}"`);

  const call = async (method: 'GET' | 'POST', path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<Response> => {
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers: { ...(options.token !== undefined ? { authorization: `Bearer ${options.token}` } : {}), ...headers },
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
      });
    } catch (error) {
      // fetch says only "fetch failed"; the cause says why (ECONNREFUSED, a timeout, a port fetch refuses).
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (error as Error).message;
      throw new EcomlError('E_SERVER_UNREACHABLE', `cannot reach ${base}${path}: ${why}`, { details: { url: base }, cause: error });
    }
    return response;
  };

  const failure = async (response: Response, path: string): Promise<EcomlError> => {
    const text = await response.text();
    let message = text.trim() || response.statusText;
    try {
      const json = JSON.parse(text) as { error?: unknown };
      if (typeof json.error === 'string') message = json.error;
    } catch {
      // Not JSON: the body itself is the message.
    }
    const code = STATUS_CODES[response.status] ?? 'E_SERVER_UNREACHABLE';
    return new EcomlError(code, `${response.status} from ${path}: ${message}`, { details: { status: response.status } });
  };

  const json = async (method: 'GET' | 'POST', path: string, body?: string): Promise<WireJson> => {
    const response = await call(method, path, body, body !== undefined ? { 'content-type': 'application/json' } : {});
    if (!response.ok) throw await failure(response, path);
    return parseWireJson(await response.text(), { extended: protocol === 'tfserving' });
  };

  const ok = async (path: string): Promise<boolean> => {
    const response = await call('GET', path);
    await response.arrayBuffer();
    return response.ok;
  };

  const versionPath = (name: string, version: string | number | undefined, v1: boolean): string =>
    `/${v1 ? 'v1' : 'v2'}/models/${encodeURIComponent(name)}${version !== undefined ? `/versions/${encodeURIComponent(String(version))}` : ''}`;

  return {
    protocol,
    live: () => (protocol === 'v2' ? ok('/v2/health/live') : ok('/v1/models/-').then(() => true, () => false)),
    ready: () => (protocol === 'v2' ? ok('/v2/health/ready') : ok('/v1/models/-').then(() => true, () => false)),
    async modelReady(name, version) {
      if (protocol === 'v2') return ok(`${versionPath(name, version, false)}/ready`);
      const response = await call('GET', versionPath(name, version, true));
      if (!response.ok) return false;
      const status = (await response.json()) as { model_version_status?: { state?: string }[] };
      return (status.model_version_status ?? []).some((s) => s.state === 'AVAILABLE');
    },
    async metadata(name, version) {
      if (protocol === 'v2') return v2Metadata(await json('GET', versionPath(name, version, false)));
      return tfMetadata(name, await json('GET', `${versionPath(name, version, true)}/metadata`));
    },
    async infer(name, inputs, inferOptions = {}) {
      const version = inferOptions.version;
      if (protocol === 'tfserving') {
        const path = `${versionPath(name, version, true)}:predict`;
        const body = { inputs: Object.fromEntries([...inputs].map(([n, t]) => [n, nest(tensorToJson(t, { bytesAs: 'b64' }), t.shape)])) };
        const response = await call('POST', path, stringifyWireJson(body, { extended: true }), { 'content-type': 'application/json' });
        if (!response.ok) throw await failure(response, path);
        const energy = energyOf(response.headers);
        const meta = await this.metadata(name, version);
        const outputs = tfOutputs(parseWireJson(await response.text(), { extended: true }), meta, inferOptions.outputs);
        return { model: name, ...(version !== undefined ? { version: String(version) } : {}), outputs, ...(energy ? { energy } : {}) };
      }
      const path = `${versionPath(name, version, false)}/infer`;
      const binary = options.binary === true;
      const header: Record<string, WireJson> = {
        inputs: [...inputs].map(
          ([n, t]): WireJson => ({
            name: n,
            shape: [...t.shape],
            datatype: t.datatype,
            ...(binary ? { parameters: { binary_data_size: tensorToBytes(t).byteLength } } : { data: tensorToJson(t) }),
          }),
        ),
        ...(inferOptions.outputs ? { outputs: inferOptions.outputs.map((o) => ({ name: o, parameters: { binary_data: binary } })) } : binary ? { parameters: { binary_data_output: true } } : {}),
      };
      const text = stringifyWireJson(header);
      const { body, headerLength } = binary ? encodeBinaryBody(text, [...inputs.values()].map(tensorToBytes)) : { body: Buffer.from(text), headerLength: undefined };
      const response = await call('POST', path, body, binary ? { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) } : { 'content-type': 'application/json' });
      if (!response.ok) throw await failure(response, path);
      const energy = energyOf(response.headers);
      const bytes = Buffer.from(await response.arrayBuffer());
      const { model, version: answered, outputs } = v2Outputs(bytes, response.headers.get(HEADER_LENGTH_HEADER) ?? undefined);
      return { model, ...(answered !== undefined ? { version: answered } : {}), outputs, ...(energy ? { energy } : {}) };
    },
  };
}

function unexpected(what: string): EcomlError {
  return new EcomlError('E_SERVER_UNREACHABLE', `the server's answer is not the protocol's: ${what}`);
}

function energyOf(headers: Headers): RequestEnergy | undefined {
  const joules = Number(headers.get('ecoml-energy-joules'));
  const method = headers.get('ecoml-energy-method');
  if (!Number.isFinite(joules) || headers.get('ecoml-energy-joules') === null || (method !== 'measured' && method !== 'estimated')) return undefined;
  const kg = Number(headers.get('ecoml-emissions-kg'));
  return { joules, low: Number(headers.get('ecoml-energy-joules-low') ?? joules), high: Number(headers.get('ecoml-energy-joules-high') ?? joules), method, ...(Number.isFinite(kg) ? { kgCo2e: kg } : {}) };
}

function signatureList(value: WireJson | undefined, what: string): TensorSignature[] {
  if (!Array.isArray(value)) throw unexpected(`${what} is not a list`);
  return value.map((t) => {
    if (typeof t !== 'object' || t === null || Array.isArray(t) || typeof t.name !== 'string' || !isDatatype(t.datatype) || !Array.isArray(t.shape)) throw unexpected(`a tensor in ${what} lacks name, datatype or shape`);
    return { name: t.name, datatype: t.datatype, shape: t.shape.map(Number) };
  });
}

function v2Metadata(json: WireJson): ModelMetadata {
  if (typeof json !== 'object' || json === null || Array.isArray(json) || typeof json.name !== 'string') throw unexpected('model metadata has no name');
  return {
    name: json.name,
    versions: Array.isArray(json.versions) ? json.versions.map(String) : [],
    platform: typeof json.platform === 'string' ? json.platform : '',
    inputs: signatureList(json.inputs, 'inputs'),
    outputs: signatureList(json.outputs, 'outputs'),
  };
}

const FROM_TF = new Map<string, Datatype>(DATATYPES.map((d) => [DATATYPE_INFO[d].tf, d]));

function tfMetadata(name: string, json: WireJson): ModelMetadata {
  const path = (v: WireJson | undefined, ...keys: string[]): WireJson | undefined =>
    keys.reduce<WireJson | undefined>((o, k) => (typeof o === 'object' && o !== null && !Array.isArray(o) ? o[k] : undefined), v);
  const signature = path(json, 'metadata', 'signature_def', 'signature_def', 'serving_default');
  const list = (group: 'inputs' | 'outputs'): TensorSignature[] => {
    const tensors = path(signature, group);
    if (typeof tensors !== 'object' || tensors === null || Array.isArray(tensors)) throw unexpected(`metadata has no serving_default ${group}`);
    return Object.entries(tensors).map(([tensorName, info]) => {
      const datatype = FROM_TF.get(String(path(info, 'dtype')));
      const dims = path(info, 'tensor_shape', 'dim');
      if (datatype === undefined || !Array.isArray(dims)) throw unexpected(`metadata of "${tensorName}" has no known dtype or shape`);
      return { name: tensorName, datatype, shape: dims.map((d) => Number(path(d, 'size'))) };
    });
  };
  const spec = path(json, 'model_spec', 'version');
  return { name, versions: spec !== undefined ? [String(spec)] : [], platform: 'tensorflow', inputs: list('inputs'), outputs: list('outputs') };
}

function tfOutputs(json: WireJson, meta: ModelMetadata, wanted: readonly string[] | undefined): Map<string, Tensor> {
  if (typeof json !== 'object' || json === null || Array.isArray(json) || json.outputs === undefined) throw unexpected('a predict answer has no "outputs"');
  const single = meta.outputs.length === 1;
  const out = new Map<string, Tensor>();
  for (const spec of meta.outputs) {
    if (wanted !== undefined && !wanted.includes(spec.name)) continue;
    const value = single ? json.outputs : (json.outputs as Record<string, WireJson>)[spec.name];
    if (value === undefined) throw unexpected(`output "${spec.name}" is missing`);
    const shape: number[] = [];
    for (let v: WireJson = value; Array.isArray(v); v = v[0] as WireJson) shape.push(v.length);
    out.set(spec.name, tensorFromJson(spec.name, spec.datatype, shape, Array.isArray(value) ? value : [value], { b64: true }));
  }
  return out;
}

function v2Outputs(body: Buffer, headerLengthText: string | undefined): { model: string; version?: string; outputs: Map<string, Tensor> } {
  const headerLength = parseHeaderLength(headerLengthText, body.byteLength);
  const split = headerLength === undefined ? { header: body.toString('utf8'), binary: new Uint8Array(0) } : splitBinaryBody(body, headerLength);
  const json = parseWireJson(split.header);
  if (typeof json !== 'object' || json === null || Array.isArray(json) || !Array.isArray(json.outputs)) throw unexpected('an infer answer has no "outputs"');
  const list = json.outputs.map((o) => {
    if (typeof o !== 'object' || o === null || Array.isArray(o) || typeof o.name !== 'string' || !isDatatype(o.datatype) || !Array.isArray(o.shape)) throw unexpected('an output lacks name, datatype or shape');
    const size = typeof o.parameters === 'object' && o.parameters !== null && !Array.isArray(o.parameters) ? o.parameters.binary_data_size : undefined;
    const shape = o.shape.map(Number);
    checkShape(shape, `output "${o.name}"`);
    return { name: o.name, datatype: o.datatype, shape, data: o.data, size: typeof size === 'number' ? size : undefined };
  });
  const slices = sliceBinarySection(list.map((o) => o.size), split.binary, list.map((o) => o.name));
  const outputs = new Map(list.map((o, i) => [o.name, slices[i] !== undefined ? tensorFromBytes(o.name, o.datatype, o.shape, slices[i] as Uint8Array) : tensorFromJson(o.name, o.datatype, o.shape, o.data ?? [])]));
  return { model: typeof json.model_name === 'string' ? json.model_name : '', ...(typeof json.model_version === 'string' ? { version: json.model_version } : {}), outputs };
}
