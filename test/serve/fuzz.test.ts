/**
 * The model server under fire: more than ten thousand random and malformed requests over both
 * protocols and every route family (garbled JSON, JSON of the wrong structure, wrong datatypes and
 * values, shapes that disagree with their data, huge dimensions and nesting, Triton binary bodies
 * with lying headers and sizes, bad base64, path tricks, wrong methods, bad or lying compression).
 * Every one must be refused with a 4xx: `{"error": "…"}` as JSON, or no body at all from HEAD and
 * the readiness probes' plain 400. Every 500 requests, and at the end, correct requests must still
 * get exact answers over both protocols. Then the same abuse at the socket: a slow body, a
 * truncated one, headers cut off, bytes that are not HTTP.
 *
 * Seeds are fixed (FUZZ_SEED changes the base seed); on a failure fast-check prints the seed, the
 * path and the counterexample, and the error names the request and the response.
 * @module
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import { deflateSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeModel } from '../../src/engine/onnx/protobuf.js';
import { stringifyWireJson, type WireJson } from '../../src/serve/json.js';
import { standardRepo, startTestServer, type TestServer } from './harness.js';
import { writeOnnx } from './models.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20_250_611);
const SANITY_EVERY = 500;
const MIN_REQUESTS = 10_000;

// ---------------------------------------------------------------------------------------------
// The models: the standard repository's affine and third, and a BYTES model for base64 and
// length-prefixed binary strings.

/**
 * text BYTES [batch] → Identity → text_bytes BYTES [batch]. The ONNX encoder knows no string
 * type, so the graph is written with BOOL and both value infos' elem_type (TypeProto.Tensor field
 * 1: bytes 08 09, after the Tensor message's key 0a and length, before its shape's key 12) is
 * patched to STRING (8).
 */
function echoBytesOnnx(): Uint8Array {
  const bytes = encodeModel({
    nodes: [{ op: 'Identity', inputs: ['text'], outputs: ['text_bytes'] }],
    inputs: [{ name: 'text', type: 'bool', shape: ['batch'] }],
    outputs: [{ name: 'text_bytes', type: 'bool', shape: ['batch'] }],
  });
  let patched = 0;
  for (let i = 0; i + 4 < bytes.length; i++) {
    if (bytes[i] === 0x0a && bytes[i + 2] === 0x08 && bytes[i + 3] === 0x09 && bytes[i + 4] === 0x12) {
      bytes[i + 3] = 0x08;
      patched++;
    }
  }
  if (patched !== 2) throw new Error(`echo model: patched ${patched} elem_type fields, expected 2`);
  return bytes;
}

const MODELS = ['affine', 'third', 'echo'] as const;
type Model = (typeof MODELS)[number];
const OUTPUTS: Readonly<Record<Model, readonly string[]>> = { affine: ['y'], third: ['score', 'total', 'positive'], echo: ['text_bytes'] };

type JsonObject = { [key: string]: WireJson };

interface Input {
  readonly name: string;
  readonly datatype: 'FP32' | 'INT64' | 'BYTES';
  readonly shape: readonly number[];
  readonly values: readonly (number | string)[];
}

const small = fc.integer({ min: -50, max: 50 });
const word = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'), maxLength: 6 });
const vector = (length: number): fc.Arbitrary<number[]> => fc.array(small, { minLength: length, maxLength: length });

/** A correct set of inputs for `model` (small integers: every answer is exact in FP32). */
function validInputs(model: Model): fc.Arbitrary<Input[]> {
  switch (model) {
    case 'affine':
      return fc.integer({ min: 1, max: 4 }).chain((b) => vector(b * 3).map((v): Input[] => [{ name: 'x', datatype: 'FP32', shape: [b, 3], values: v }]));
    case 'third':
      return fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 })).chain(([b, s]) =>
        fc.tuple(vector(b * s), vector(b)).map(([tokens, scale]): Input[] => [
          { name: 'tokens', datatype: 'INT64', shape: [b, s], values: tokens },
          { name: 'scale', datatype: 'FP32', shape: [b, 1], values: scale },
        ]),
      );
    case 'echo':
      return fc.array(word, { minLength: 1, maxLength: 4 }).map((v): Input[] => [{ name: 'text', datatype: 'BYTES', shape: [v.length], values: v }]);
  }
}

const modelCase = fc.constantFrom(...MODELS).chain((model) => validInputs(model).map((inputs) => ({ model, inputs })));
type ModelCase = { readonly model: Model; readonly inputs: readonly Input[] };

/** Triton's binary form of a tensor: little-endian numbers, or 4-byte lengths before each string. */
function bytesOf(input: Input): Buffer {
  switch (input.datatype) {
    case 'FP32':
      return Buffer.from(new Float32Array(input.values as number[]).buffer);
    case 'INT64':
      return Buffer.from(new BigInt64Array((input.values as number[]).map((v) => BigInt(v))).buffer);
    case 'BYTES':
      return Buffer.concat(
        (input.values as string[]).map((s) => {
          const text = Buffer.from(s, 'utf8');
          const length = Buffer.alloc(4);
          length.writeUInt32LE(text.byteLength);
          return Buffer.concat([length, text]);
        }),
      );
  }
}

const v2Tensor = (input: Input): JsonObject => ({ name: input.name, shape: [...input.shape], datatype: input.datatype, data: [...input.values] });
const v2Body = (c: ModelCase): JsonObject => ({ inputs: c.inputs.map(v2Tensor) });
/** Extended, so that a NaN put in on purpose is written as the bare token the Open Inference Protocol refuses. */
const json = (value: WireJson): string => stringifyWireJson(value, { extended: true });
const clone = <T>(value: T): T => structuredClone(value);

// ---------------------------------------------------------------------------------------------
// Requests and what their refusal must look like.

type Method = 'GET' | 'POST' | 'HEAD' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS';
/** `json`: a 4xx with `{"error": "…"}`; `empty`: a 4xx with no body (HEAD, and a readiness probe's "not ready"). */
type Refusal = 'json' | 'empty';

interface FuzzRequest {
  /** The malformation, for the report. */
  readonly what: string;
  readonly method: Method;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  readonly refusal: Refusal;
}

function request(what: string, method: Method, url: string, body?: string | Buffer, headers: Record<string, string> = {}, refusal?: Refusal): FuzzRequest {
  return { what, method, url, headers, ...(body !== undefined && method !== 'GET' && method !== 'HEAD' ? { body } : {}), refusal: refusal ?? (method === 'HEAD' ? 'empty' : 'json') };
}

/** Any request may ask for a compressed answer: a refusal's body is then read through the encoding it names. */
const acceptEncoding = fc.constantFrom<string | undefined>(undefined, undefined, 'gzip', 'deflate', 'gzip, deflate', 'br', 'identity');
function withAccept(arb: fc.Arbitrary<FuzzRequest>): fc.Arbitrary<FuzzRequest> {
  return fc.tuple(arb, acceptEncoding).map(([r, accept]) => (accept === undefined ? r : { ...r, headers: { ...r.headers, 'accept-encoding': accept } }));
}

const JSON_HEADERS = { 'content-type': 'application/json' };
const INFER = (model: string): string => `/v2/models/${model}/infer`;
const PREDICT = (model: string): string => `/v1/models/${model}:predict`;

// Values that are wrong wherever they are put: each list leaves out what the field takes.
const nonObject = fc.constantFrom<WireJson>(null, true, false, 0, 3.5, 'x', '', [], [{}], 2n ** 80n);
const nonArray = fc.constantFrom<WireJson>(null, true, 0, 3.5, 'x', '', {}, { 0: 1 }, 2n ** 80n);
const nonBoolean = fc.constantFrom<WireJson>(null, 0, 1, 'true', '', [], {}, [true]);
const nonCount = fc.constantFrom<WireJson>(null, true, -1, -7, 1.5, 1e-9, '12', '', [], {}, [3], 2n ** 64n, -(2n ** 70n));
const nonName = fc.constantFrom<WireJson>(null, true, 0, 7, -1.5, '', [], {}, ['x'], { name: 'x' }, 2n ** 80n);
/** A string no model has as an input, output or model name. */
const unknownName = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 10 }).map((s) => `zz${s}`);

// ---------------------------------------------------------------------------------------------
// 1. Text that is not JSON at all, to every route that reads a JSON body.

interface JsonRoute {
  readonly url: string;
  /** A correct body for it. */
  readonly body: string;
  /** The route takes an empty body (the repository API). */
  readonly emptyOk: boolean;
}

/** Correct bodies, for requests whose path or headers are what is wrong. */
const v2Infer = json({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] });
const v1Predict = json({ instances: [[1, 2, 3]] });
const thirdInfer = json({ inputs: [{ name: 'tokens', shape: [1, 2], datatype: 'INT64', data: [4, 5] }, { name: 'scale', shape: [1, 1], datatype: 'FP32', data: [0.5] }] });

const JSON_ROUTES: readonly JsonRoute[] = [
  { url: INFER('affine'), body: v2Infer, emptyOk: false },
  { url: '/v2/models/affine/versions/1/infer', body: json({ inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }], outputs: [{ name: 'y' }] }), emptyOk: false },
  { url: INFER('third'), body: thirdInfer, emptyOk: false },
  { url: INFER('echo'), body: json({ id: 'r1', inputs: [{ name: 'text', shape: [2], datatype: 'BYTES', data: ['ab', 'c'] }] }), emptyOk: false },
  { url: PREDICT('affine'), body: v1Predict, emptyOk: false },
  { url: '/v1/models/affine/versions/1:predict', body: json({ signature_name: 'serving_default', inputs: { x: [[1, 2, 3]] } }), emptyOk: false },
  { url: PREDICT('third'), body: json({ instances: [{ tokens: [1, 2], scale: [3] }] }), emptyOk: false },
  { url: PREDICT('echo'), body: json({ instances: [{ b64: 'aGk=' }, 'x'] }), emptyOk: false },
  { url: '/v1/models/affine:classify', body: json({ examples: [{ x: [1, 2, 3] }] }), emptyOk: false },
  { url: '/v1/models/affine:regress', body: json({ examples: [{ x: [1, 2, 3] }] }), emptyOk: false },
  { url: '/v2/repository/index', body: json({ ready: true }), emptyOk: true },
  { url: '/v2/repository/models/affine/load', body: json({ parameters: {} }), emptyOk: true },
  { url: '/v2/repository/models/affine/unload', body: json({ parameters: { unload_dependents: false } }), emptyOk: true },
];

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Characters that break JSON where they land outside a string (inside one, `parses` filters the result). */
const junkChar = fc.constantFrom(',', ']', '}', ':', '{', '[', '"', '\\', "'", 'x', '\u0001', '\n', '\u00ff', '\ud83d\ude00', '/', '#', '-', '.', 'e');

const garbledText: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    fc.constantFrom(...JSON_ROUTES),
    fc.oneof(
      fc.nat().map((n) => ({ how: 'truncated', edit: (t: string) => t.slice(0, n % t.length) })),
      fc.tuple(fc.nat(), junkChar).map(([n, c]) => ({ how: `inserted ${JSON.stringify(c)}`, edit: (t: string) => t.slice(0, n % t.length) + c + t.slice(n % t.length) })),
      fc.tuple(fc.nat(), junkChar).map(([n, c]) => ({ how: `replaced by ${JSON.stringify(c)}`, edit: (t: string) => t.slice(0, n % t.length) + c + t.slice((n % t.length) + 1) })),
      fc.nat().map((n) => ({ how: 'character dropped', edit: (t: string) => t.slice(0, n % t.length) + t.slice((n % t.length) + 1) })),
      fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => ({ how: 'slice repeated', edit: (t: string) => t.slice(0, Math.max(a, b) % t.length) + t.slice(Math.min(a, b) % t.length) })),
      fc.string({ unit: 'binary', maxLength: 64 }).map((s) => ({ how: 'random text', edit: () => s })),
      fc.string({ unit: fc.constantFrom('{', '[', '"', ':', ',', ']', '}', ' ', '1', 'n'), maxLength: 40 }).map((s) => ({ how: 'random punctuation', edit: () => s })),
      fc.integer({ min: 1, max: 300 }).map((n) => ({ how: `${n} open brackets`, edit: () => '['.repeat(n) })),
      fc.constantFrom('NaN', '-Infinity', '{"inputs": NaN}', "{'inputs': []}", '{"inputs":[],}', '[1,]', '\ufeff{}', '{"a":1}{"b":2}', 'undefined', '0x10', '.5', '01', '"\\x41"', '"\\u12"')
        .map((s) => ({ how: 'near-JSON', edit: () => s })),
    ),
  )
  .map(([route, g]) => ({ route, how: g.how, text: g.edit(route.body) }))
  // The server's grammar is JSON.parse's (TF Serving's NaN and Infinity parse, but never as an object).
  .filter(({ route, text }) => !parses(text) && !(route.emptyOk && text === ''))
  .map(({ route, how, text }) => request(`garbled: ${how}`, 'POST', route.url, text, JSON_HEADERS));

/** Bytes that are not UTF-8, or UTF-8 that is not JSON. */
const garbledBytes: fc.Arbitrary<FuzzRequest> = fc
  .tuple(fc.constantFrom(...JSON_ROUTES), fc.uint8Array({ minLength: 1, maxLength: 96 }))
  .filter(([, bytes]) => !parses(Buffer.from(bytes).toString('utf8')))
  .map(([route, bytes]) => request('garbled: random bytes', 'POST', route.url, Buffer.from(bytes), { 'content-type': 'application/octet-stream' }));

// ---------------------------------------------------------------------------------------------
// 2. Open Inference Protocol JSON: valid JSON, wrong structure.

interface Mutation<C> {
  readonly what: string;
  readonly edit: (body: JsonObject, c: C) => WireJson;
}
const mutation = <C>(what: string, edit: (body: JsonObject, c: C) => WireJson): Mutation<C> => ({ what, edit });

const inputsOf = (body: JsonObject): JsonObject[] => body.inputs as JsonObject[];
const pick = <T>(list: readonly T[], n: number): T => list[n % list.length] as T;
const setInput = (field: string, value: WireJson | undefined, n: number) => (body: JsonObject) => {
  const input = pick(inputsOf(body), n);
  if (value === undefined) delete input[field];
  else input[field] = value;
  return body;
};

const v2Structure: fc.Arbitrary<Mutation<ModelCase>>[] = [
  fc.oneof(nonObject, fc.constant<WireJson>('[body]')).map((v) => mutation(`body is ${json(v)}`, (body) => (v === '[body]' ? [body] : v))),
  fc.oneof(nonArray, fc.constantFrom<WireJson>([], [null], [5], ['x'], [[]])).map((v) => mutation(`"inputs" is ${json(v)}`, (body) => ({ ...body, inputs: v }))),
  fc.constant(mutation('"inputs" missing', (body) => (delete body.inputs, body))),
  fc.tuple(fc.nat(), nonObject).map(([n, v]) => mutation(`an input is ${json(v)}`, (body) => (((body.inputs as WireJson[])[n % inputsOf(body).length] = v), body))),
  fc.tuple(fc.nat(), fc.oneof(nonName, unknownName)).map(([n, v]) => mutation(`an input's name is ${json(v)}`, setInput('name', v, n))),
  fc.nat().map((n) => mutation("an input's name missing", setInput('name', undefined, n))),
  fc.nat().map((n) => mutation('an input given twice', (body) => (inputsOf(body).push(clone(pick(inputsOf(body), n))), body))),
  unknownName.map((name) => mutation('an unknown input', (body) => (inputsOf(body).push({ name, shape: [1], datatype: 'FP32', data: [1] }), body))),
  fc.nat().map((n) =>
    mutation('a missing input', (body, c) => (c.inputs.length > 1 ? { ...body, inputs: inputsOf(body).filter((_, i) => i !== n % c.inputs.length) } : { ...body, inputs: [] })),
  ),
  fc.tuple(fc.nat(), fc.oneof(nonArray, fc.constantFrom<WireJson>([true], ['1', '3'], [null], [[1], [3]], [1, {}], [2n ** 70n]))).map(([n, v]) =>
    mutation(`a shape is ${json(v)}`, setInput('shape', v, n)),
  ),
  fc.nat().map((n) => mutation('a shape missing', setInput('shape', undefined, n))),
  fc.tuple(
    fc.nat(),
    fc.oneof(nonName, fc.constantFrom<WireJson>('FP128', 'fp32', 'float32', 'TYPE_FP32', 'BF16', ' FP32', 'INT64 ', '__proto__', 'constructor', 'toString'), unknownName),
  ).map(([n, v]) => mutation(`a datatype is ${json(v)}`, setInput('datatype', v, n))),
  fc.nat().map((n) => mutation('a datatype missing', setInput('datatype', undefined, n))),
  fc.tuple(fc.nat(), fc.constantFrom<WireJson>(null, 5, 'x', true, {}, { 0: 1 })).map(([n, v]) => mutation(`data is ${json(v)}`, setInput('data', v, n))),
  fc.nat().map((n) => mutation('data missing (and no binary_data_size)', setInput('data', undefined, n))),
  fc.tuple(fc.nat(), nonObject).map(([n, v]) => mutation(`an input's parameters are ${json(v)}`, setInput('parameters', v, n))),
  fc.tuple(fc.nat(), nonCount).map(([n, v]) => mutation(`binary_data_size is ${json(v)} beside data`, setInput('parameters', { binary_data_size: v }, n))),
  fc.tuple(fc.nat(), fc.nat({ max: 64 })).map(([n, size]) =>
    mutation(`binary_data_size ${size} with no binary section`, (body) => {
      const input = pick(inputsOf(body), n);
      delete input.data;
      input.parameters = { binary_data_size: size };
      return body;
    }),
  ),
  fc.tuple(fc.nat(), fc.nat({ max: 64 })).map(([n, size]) => mutation(`data and binary_data_size ${size} both`, setInput('parameters', { binary_data_size: size }, n))),
  nonObject.map((v) => mutation(`"parameters" is ${json(v)}`, (body) => ({ ...body, parameters: v }))),
  nonCount.map((v) => mutation(`parameters.timeout is ${json(v)}`, (body) => ({ ...body, parameters: { timeout: v } }))),
  nonBoolean.map((v) => mutation(`parameters.binary_data_output is ${json(v)}`, (body) => ({ ...body, parameters: { binary_data_output: v } }))),
  fc.constantFrom<WireJson>(5, null, true, [], {}, 1.5).map((v) => mutation(`"id" is ${json(v)}`, (body) => ({ ...body, id: v }))),
  nonArray.map((v) => mutation(`"outputs" is ${json(v)}`, (body) => ({ ...body, outputs: v }))),
  fc.constantFrom<WireJson>(5, null, 'y', [], {}, { name: 5 }, { name: null }, { parameters: {} }).map((v) => mutation(`an output is ${json(v)}`, (body) => ({ ...body, outputs: [v] }))),
  unknownName.map((name) => mutation('an unknown output', (body) => ({ ...body, outputs: [{ name }] }))),
  fc.nat().map((n) =>
    mutation('an output asked twice', (body, c) => {
      const name = pick(OUTPUTS[c.model], n);
      return { ...body, outputs: [{ name }, { name }] };
    }),
  ),
  fc.tuple(fc.nat(), nonObject).map(([n, v]) =>
    mutation(`an output's parameters are ${json(v)}`, (body, c) => ({ ...body, outputs: [{ name: pick(OUTPUTS[c.model], n), parameters: v }] })),
  ),
  fc.tuple(fc.nat(), nonBoolean).map(([n, v]) =>
    mutation(`an output's binary_data is ${json(v)}`, (body, c) => ({ ...body, outputs: [{ name: pick(OUTPUTS[c.model], n), parameters: { binary_data: v } }] })),
  ),
  fc.tuple(fc.nat(), fc.oneof(nonCount, fc.constant<WireJson>(0))).map(([n, v]) =>
    mutation(`classification is ${json(v)}`, (body, c) => ({ ...body, outputs: [{ name: pick(OUTPUTS[c.model], n), parameters: { classification: v } }] })),
  ),
  fc.constant(
    mutation('classification of a non-numeric output (or of 0 classes)', (body, c) => ({
      ...body,
      outputs: [{ name: c.model === 'echo' ? 'text_bytes' : c.model === 'third' ? 'positive' : 'y', parameters: { classification: c.model === 'affine' ? 0 : 1 } }],
    })),
  ),
];

function v2Request(mutations: readonly fc.Arbitrary<Mutation<ModelCase>>[], family: string): fc.Arbitrary<FuzzRequest> {
  return fc
    .tuple(modelCase, fc.oneof(...mutations), fc.boolean())
    .map(([c, m, versioned]) =>
      request(`${family}: ${m.what}`, 'POST', versioned ? `/v2/models/${c.model}/versions/1/infer` : INFER(c.model), json(m.edit(v2Body(c), c)), JSON_HEADERS),
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Open Inference Protocol JSON: right structure, wrong tensors.

/** A value of the wrong kind for each datatype's elements. */
const WRONG_ELEMENT: Readonly<Record<Input['datatype'], readonly WireJson[]>> = {
  FP32: ['x', '1', true, false, null, {}, { b64: 'AAAAAA==' }, [], Number.NaN, Number.POSITIVE_INFINITY],
  INT64: [1.5, -0.5, 1e-7, 1e300, 2n ** 63n, -(2n ** 63n) - 1n, 2n ** 64n, '1', true, null, {}, Number.NaN],
  BYTES: [5, 1.5, true, null, {}, { b64: 'aGk=' }, 2n ** 70n],
};

/** Each datatype's wrong-but-valid datatypes and how its values read in them. */
const OTHER_DATATYPE: Readonly<Record<Input['datatype'], readonly { readonly datatype: string; readonly value: (v: number | string) => WireJson }[]>> = {
  FP32: [
    { datatype: 'FP64', value: (v) => v },
    { datatype: 'FP16', value: (v) => v },
    { datatype: 'INT32', value: (v) => v },
    { datatype: 'INT64', value: (v) => v },
    { datatype: 'INT8', value: (v) => v },
    { datatype: 'UINT8', value: (v) => Math.abs(Number(v)) },
    { datatype: 'BOOL', value: (v) => Number(v) > 0 },
    { datatype: 'BYTES', value: (v) => String(v) },
  ],
  INT64: [
    { datatype: 'INT32', value: (v) => v },
    { datatype: 'UINT64', value: (v) => Math.abs(Number(v)) },
    { datatype: 'FP32', value: (v) => v },
    { datatype: 'FP64', value: (v) => v },
    { datatype: 'BYTES', value: (v) => String(v) },
  ],
  BYTES: [
    { datatype: 'FP32', value: (v) => String(v).length },
    { datatype: 'UINT8', value: (v) => String(v).length },
    { datatype: 'BOOL', value: (v) => String(v).length > 0 },
  ],
};

const HUGE_SHAPES: readonly WireJson[] = [
  [1e9, 1e9],
  [2 ** 31],
  [2 ** 31 - 1],
  [2 ** 32, 2 ** 32],
  [2 ** 53],
  [2 ** 53 + 2],
  [Number.MAX_VALUE],
  [99999999999999999999n],
  [1, 2 ** 31 - 1],
  [2 ** 30, 2, 1],
  [0, 2 ** 40],
  [2 ** 31 - 1, 0, 2 ** 31 - 1],
];

function nestDeep(value: WireJson, depth: number): WireJson {
  let out = value;
  for (let i = 0; i < depth; i++) out = [out];
  return out;
}

const v2Tensors: fc.Arbitrary<Mutation<ModelCase>>[] = [
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 5 })).map(([n, k]) =>
    mutation(`${k} element(s) too many`, (body) => {
      const input = pick(inputsOf(body), n);
      const data = input.data as WireJson[];
      for (let i = 0; i < k; i++) data.push(data[0] ?? 0);
      return body;
    }),
  ),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 12 })).map(([n, k]) =>
    mutation('element(s) missing', (body) => {
      const input = pick(inputsOf(body), n);
      const data = input.data as WireJson[];
      input.data = data.slice(0, Math.max(0, data.length - k));
      return body;
    }),
  ),
  fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 1000 })).map(([n, d, k]) =>
    mutation(`a dimension ${k} larger than the data`, (body) => {
      const shape = pick(inputsOf(body), n).shape as number[];
      shape[d % shape.length] = (shape[d % shape.length] as number) + k;
      return body;
    }),
  ),
  fc.nat().map((n) =>
    mutation("the right element count in the wrong rank", (body) => {
      const input = pick(inputsOf(body), n);
      const shape = input.shape as number[];
      input.shape = shape.length === 1 ? [...shape, 1] : [shape.reduce((a, b) => a * b, 1)];
      return body;
    }),
  ),
  fc.tuple(fc.nat(), fc.constantFrom(...HUGE_SHAPES)).map(([n, shape]) => mutation(`a huge shape ${json(shape)}`, setInput('shape', shape, n))),
  fc.tuple(fc.nat(), fc.array(fc.integer({ min: 2 ** 16, max: 2 ** 40 }), { minLength: 2, maxLength: 5 })).map(([n, shape]) =>
    mutation(`a huge shape ${json(shape)}`, setInput('shape', shape, n)),
  ),
  fc.tuple(fc.nat(), fc.integer({ min: 17, max: 80 })).map(([n, rank]) => mutation(`${rank} dimensions`, setInput('shape', new Array<WireJson>(rank).fill(1), n))),
  fc.tuple(fc.nat(), fc.nat(), fc.constantFrom<WireJson>(-1, -(2 ** 31), 0.5, 1.5, 1e-300, 2 ** 53, -0.5)).map(([n, d, v]) =>
    mutation(`a dimension is ${json(v)}`, (body) => {
      const shape = pick(inputsOf(body), n).shape as WireJson[];
      shape[d % shape.length] = v;
      return body;
    }),
  ),
  fc.constant(
    mutation('a batch of 0', (body) => {
      for (const input of inputsOf(body)) {
        input.shape = [0, ...(input.shape as number[]).slice(1)];
        input.data = [];
      }
      return body;
    }),
  ),
  fc.tuple(fc.nat(), fc.nat()).map(([n, k]) =>
    mutation('another valid datatype', (body, c) => {
      const i = n % c.inputs.length;
      const source = c.inputs[i] as Input;
      const other = pick(OTHER_DATATYPE[source.datatype], k);
      const input = inputsOf(body)[i] as JsonObject;
      input.datatype = other.datatype;
      input.data = source.values.map(other.value);
      return body;
    }),
  ),
  fc.tuple(fc.nat(), fc.nat(), fc.nat()).map(([n, e, k]) =>
    mutation('an element of the wrong kind', (body, c) => {
      const i = n % c.inputs.length;
      const source = c.inputs[i] as Input;
      const data = (inputsOf(body)[i] as JsonObject).data as WireJson[];
      data[e % data.length] = clone(pick(WRONG_ELEMENT[source.datatype], k));
      return body;
    }),
  ),
  fc.tuple(fc.nat(), fc.constantFrom<WireJson>({ 0: 1 }, 'abc', 7)).map(([n, v]) => mutation(`data is ${json(v)}`, setInput('data', v, n))),
  fc.integer({ min: 1, max: 3 }).map((k) =>
    mutation('inputs disagree on the batch', (body, c) => {
      if (c.model !== 'third') return { ...body, inputs: [...inputsOf(body), ...inputsOf(body)] };
      const scale = inputsOf(body)[1] as JsonObject;
      const shape = scale.shape as number[];
      scale.shape = [(shape[0] as number) + k, 1];
      scale.data = [...(scale.data as WireJson[]), ...new Array<WireJson>(k).fill(1)];
      return body;
    }),
  ),
  fc.tuple(fc.nat(), fc.integer({ min: 62, max: 400 })).map(([n, depth]) => mutation(`data nested ${depth} deep`, (body) => setInput('data', nestDeep(pick(inputsOf(body), n).data as WireJson, depth), n)(body))),
];

// ---------------------------------------------------------------------------------------------
// 4. Triton's binary tensor extension: lying headers and sizes.

interface BinaryDraft {
  header: JsonObject;
  /** Each input's bytes; undefined where it travels as JSON data. */
  binaries: (Buffer | undefined)[];
  extra: Buffer;
  truncate: number;
  headerLength?: (jsonLength: number, bodyLength: number) => string;
  rawHeader?: (header: Buffer) => Buffer;
  /** A raw body (header length 0): a body that would fit the affine model's rows gets one more byte. */
  raw?: boolean;
}

const binaryCase = fc.tuple(modelCase, fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), fc.constantFrom('none', 'each', 'all')).map(([c, asBinary, outputs]) => {
  const binary = c.inputs.map((_, i) => asBinary[i] === true || (i === 0 && !asBinary.slice(0, c.inputs.length).some(Boolean)));
  const header: JsonObject = {
    inputs: c.inputs.map((input, i) => (binary[i] ? { name: input.name, shape: [...input.shape], datatype: input.datatype, parameters: { binary_data_size: bytesOf(input).byteLength } } : v2Tensor(input))),
    ...(outputs === 'each' ? { outputs: OUTPUTS[c.model].map((name) => ({ name, parameters: { binary_data: true } })) } : {}),
    ...(outputs === 'all' ? { parameters: { binary_data_output: true } } : {}),
  };
  return { c, binary, header };
});
type BinaryCase = { readonly c: ModelCase; readonly binary: readonly boolean[]; readonly header: JsonObject };

function binaryDraft(b: BinaryCase): BinaryDraft {
  return { header: clone(b.header), binaries: b.c.inputs.map((input, i) => (b.binary[i] ? bytesOf(input) : undefined)), extra: Buffer.alloc(0), truncate: 0 };
}

function binaryBody(b: BinaryCase, d: BinaryDraft): { body: Buffer; headerLength: string } {
  let head: Buffer = Buffer.from(json(d.header), 'utf8');
  if (d.rawHeader) head = d.rawHeader(head);
  let body = Buffer.concat([head, ...d.binaries.filter((x): x is Buffer => x !== undefined), d.extra]);
  body = body.subarray(0, Math.max(0, body.byteLength - d.truncate));
  if (d.raw && b.c.model === 'affine' && body.byteLength % 12 === 0) body = Buffer.concat([body, Buffer.from([0])]);
  return { body, headerLength: d.raw ? '0' : d.headerLength ? d.headerLength(head.byteLength, body.byteLength) : String(head.byteLength) };
}

type BinaryEdit = { readonly what: string; readonly edit: (d: BinaryDraft, b: BinaryCase) => void };
const binaryEdit = (what: string, edit: (d: BinaryDraft, b: BinaryCase) => void): BinaryEdit => ({ what, edit });
/** Index of a binary input, the `n`th (wrapping). */
const binaryIndex = (b: BinaryCase, n: number): number => pick(b.binary.flatMap((isBinary, i) => (isBinary ? [i] : [])), n);
const sizeOf = (d: BinaryDraft, i: number): JsonObject => ((d.header.inputs as JsonObject[])[i] as JsonObject).parameters as JsonObject;

const binaryEdits: fc.Arbitrary<BinaryEdit>[] = [
  fc
    .constantFrom('-1', '-12', 'abc', '1e3', '', ' ', '0x10', '12.5', '+12', '٣', '1_000', 'Infinity', '999999999999999', '9999999999999999', '99999999999999999999')
    .map((v) => binaryEdit(`Inference-Header-Content-Length ${JSON.stringify(v)}`, (d) => (d.headerLength = () => v))),
  fc.constant(binaryEdit('Inference-Header-Content-Length given twice', (d) => (d.headerLength = (l) => `${l}, ${l}`))),
  fc.integer({ min: 1, max: 1_000_000 }).map((k) => binaryEdit(`Inference-Header-Content-Length ${k} past the body`, (d) => (d.headerLength = (_l, n) => String(n + k)))),
  fc.nat().map((k) => binaryEdit('Inference-Header-Content-Length short of the JSON', (d) => (d.headerLength = (l) => String(1 + (k % (l - 1)))))),
  fc.nat().map((k) =>
    binaryEdit('Inference-Header-Content-Length into the binary section', (d) => (d.headerLength = (l, n) => String(n > l ? l + 1 + (k % (n - l)) : n + 1))),
  ),
  fc.constant(binaryEdit('Inference-Header-Content-Length 0 (a raw body) that cannot be one', (d) => (d.raw = true))),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 64 }), fc.boolean()).map(([n, k, up]) =>
    binaryEdit(`binary_data_size ${up ? 'over' : 'under'} by ${k}`, (d, b) => {
      const p = sizeOf(d, binaryIndex(b, n));
      const size = Number(p.binary_data_size);
      p.binary_data_size = up || size < k ? size + k : size - k;
    }),
  ),
  fc.tuple(fc.nat(), nonCount).map(([n, v]) => binaryEdit(`binary_data_size ${json(v)}`, (d, b) => (sizeOf(d, binaryIndex(b, n)).binary_data_size = v))),
  fc.nat().map((n) =>
    binaryEdit('binary_data_size and data both', (d, b) => {
      const i = binaryIndex(b, n);
      ((d.header.inputs as JsonObject[])[i] as JsonObject).data = [...(b.c.inputs[i] as Input).values];
    }),
  ),
  fc.integer({ min: 1, max: 16 }).map((k) => binaryEdit(`${k} byte(s) after the last tensor`, (d) => (d.extra = Buffer.alloc(k, 0x20)))),
  fc.integer({ min: 1, max: 16 }).map((k) => binaryEdit(`body cut ${k} byte(s) short`, (d) => (d.truncate = k))),
  fc.nat().map((n) =>
    binaryEdit('a shape one row longer than its bytes or data', (d) => {
      const shape = pick(d.header.inputs as JsonObject[], n).shape as number[];
      shape[0] = (shape[0] as number) + 1;
    }),
  ),
  fc.nat().map((n) =>
    binaryEdit('the right bytes in the wrong rank', (d, b) => {
      const input = (d.header.inputs as JsonObject[])[binaryIndex(b, n)] as JsonObject;
      const shape = input.shape as number[];
      input.shape = shape.length === 1 ? [...shape, 1] : [shape.reduce((x, y) => x * y, 1)];
    }),
  ),
  fc.tuple(fc.nat(), fc.nat()).map(([n, k]) =>
    binaryEdit('another datatype over the same bytes', (d, b) => {
      const i = binaryIndex(b, n);
      const input = (d.header.inputs as JsonObject[])[i] as JsonObject;
      input.datatype = pick(OTHER_DATATYPE[(b.c.inputs[i] as Input).datatype], k).datatype;
    }),
  ),
  fc.tuple(fc.nat(), fc.constantFrom(0xffffffff, 0x7fffffff, 0x10000)).map(([n, length]) =>
    binaryEdit(`a BYTES length prefix of ${length}`, (d, b) => {
      const i = binaryIndex(b, n);
      const bytes = d.binaries[i] as Buffer;
      if ((b.c.inputs[i] as Input).datatype === 'BYTES') bytes.writeUInt32LE(length, 0);
      else d.extra = Buffer.from([1]);
    }),
  ),
  fc.nat().map((n) =>
    binaryEdit('the last BYTES element cut short (sizes agreeing)', (d, b) => {
      const i = binaryIndex(b, n);
      const bytes = d.binaries[i] as Buffer;
      if ((b.c.inputs[i] as Input).datatype !== 'BYTES' || bytes.byteLength === 0) {
        d.truncate = 1;
        return;
      }
      d.binaries[i] = bytes.subarray(0, bytes.byteLength - 1);
      sizeOf(d, i).binary_data_size = bytes.byteLength - 1;
      // A last element that was empty loses a byte of its length prefix instead: still malformed.
    }),
  ),
  fc.constantFrom<[number, string]>([0, '['], [-1, ','], [-1, ' '], [0, ' ']).map(([at, c]) =>
    binaryEdit(`the JSON header's ${at === 0 ? 'first' : 'last'} byte made ${JSON.stringify(c)}`, (d) => {
      d.rawHeader = (head) => {
        const out = Buffer.from(head);
        out[at < 0 ? out.length + at : at] = c.charCodeAt(0);
        return out;
      };
    }),
  ),
];

const binaryRequest: fc.Arbitrary<FuzzRequest> = fc.tuple(binaryCase, fc.oneof(...binaryEdits), fc.boolean()).map(([b, e, octet]) => {
  const d = binaryDraft(b);
  e.edit(d, b);
  const { body, headerLength } = binaryBody(b, d);
  return request(`binary: ${e.what}`, 'POST', INFER(b.c.model), body, {
    'inference-header-content-length': headerLength,
    ...(octet ? { 'content-type': 'application/octet-stream' } : {}),
  });
});

// ---------------------------------------------------------------------------------------------
// 5. TF Serving's REST API: row and columnar predict, classify and regress, base64.

type TfForm = 'rows' | 'columns' | 'named-columns' | 'examples';
interface TfCase extends ModelCase {
  readonly form: TfForm;
}

function rowsOf(input: Input): WireJson[] {
  const [b, ...sample] = input.shape as [number, ...number[]];
  const size = sample.reduce((x, y) => x * y, 1);
  return Array.from({ length: b }, (_, r) => (sample.length === 0 ? (input.values[r] as WireJson) : input.values.slice(r * size, (r + 1) * size)));
}

function tfBody(c: TfCase): JsonObject {
  const [first] = c.inputs as [Input, ...Input[]];
  const named = c.inputs.length > 1;
  switch (c.form) {
    case 'rows':
      return { instances: named ? rowsOf(first).map((_, r) => Object.fromEntries(c.inputs.map((i) => [i.name, rowsOf(i)[r] as WireJson]))) : rowsOf(first) };
    case 'columns':
      return named ? { inputs: Object.fromEntries(c.inputs.map((i) => [i.name, rowsOf(i)])) } : { inputs: rowsOf(first) };
    case 'named-columns':
      return { signature_name: 'serving_default', inputs: Object.fromEntries(c.inputs.map((i) => [i.name, rowsOf(i)])) };
    case 'examples':
      return { examples: rowsOf(first).map((row) => ({ [first.name]: row })) };
  }
}

const tfCase: fc.Arbitrary<TfCase> = fc.tuple(modelCase, fc.constantFrom<TfForm>('rows', 'columns', 'named-columns')).map(([c, form]) => ({ ...c, form }));

/** Base64 no reading takes: a character outside both alphabets, or a length neither accepts. */
const badBase64 = fc.oneof(
  fc.constantFrom('!!', 'a', 'abcde', 'ab=c', '====', 'a===', 'aGk=\n', ' aGk=', 'aGk=aGk=', '%aGk', 'aGk===', 'aG=k'),
  fc.tuple(fc.string({ maxLength: 8 }), fc.constantFrom('!', '*', ' ', '.', '\n', 'é', '%', '~', '\u0000'), fc.string({ maxLength: 8 })).map(([a, c, b]) => a + c + b),
);

const rowsKey = (body: JsonObject): 'instances' | 'inputs' => (body.instances !== undefined ? 'instances' : 'inputs');
/** Input `name`'s rows in a predict body: from each named instance, the instances themselves, or its column. */
function column(body: JsonObject, c: TfCase, name: string): WireJson[] {
  if (rowsKey(body) === 'instances') return c.inputs.length > 1 ? (body.instances as JsonObject[]).map((row) => row[name] as WireJson) : (body.instances as WireJson[]);
  const inputs = body.inputs as WireJson;
  return Array.isArray(inputs) ? inputs : ((inputs as JsonObject)[name] as WireJson[]);
}
/** Replaces input `name`'s row `row` (or one element of it) in a predict body. */
function setCell(body: JsonObject, c: TfCase, name: string, row: number, value: WireJson, element?: number): void {
  const list = column(body, c, name);
  const r = row % list.length;
  const cell = list[r];
  const next = element !== undefined && Array.isArray(cell) && cell.length > 0 ? cell.map((v, k) => (k === element % cell.length ? value : v)) : value;
  if (rowsKey(body) === 'instances' && c.inputs.length > 1) ((body.instances as JsonObject[])[r] as JsonObject)[name] = next;
  else list[r] = next;
}

const WRONG_TF_ELEMENT: Readonly<Record<Input['datatype'], readonly WireJson[]>> = {
  FP32: ['x', '1', true, null, {}, { b64: 'AAAAAA==' }, { b64: '!!' }],
  INT64: [1.5, -0.5, 1e300, 2n ** 63n, -(2n ** 63n) - 1n, '1', true, null, {}, { b64: 'AQ==' }, Number.NaN, Number.POSITIVE_INFINITY],
  // Not {"text": …}: for the one-input echo model that is a named instance, and valid.
  BYTES: [5, 1.5, true, null, {}, { b64: 'aGk=', x: 1 }, { b64: 5 }, { b64: null }, { txt: 'x' }],
};

const tfEdits: fc.Arbitrary<Mutation<TfCase>>[] = [
  fc.oneof(nonObject, fc.constant<WireJson>('[body]')).map((v) => mutation(`body is ${json(v)}`, (body) => (v === '[body]' ? [body] : v))),
  fc.constant(
    mutation('both "instances" and "inputs"', (body, c) => {
      const other = tfBody({ ...c, form: c.form === 'rows' ? 'columns' : 'rows' });
      return { ...body, instances: body.instances ?? other.instances ?? [], inputs: body.inputs ?? other.inputs ?? [] };
    }),
  ),
  fc.constantFrom('instance', 'Instances', 'input', 'data', 'examples').map((key) =>
    mutation(`neither "instances" nor "inputs" (${key} instead)`, (body) => ({ [key]: body.instances ?? body.inputs ?? body.examples ?? [] })),
  ),
  fc.oneof(nonArray, fc.constant<WireJson>([])).map((v) => mutation(`"instances" is ${json(v)}`, () => ({ instances: v }))),
  fc.oneof(fc.constantFrom<WireJson>('nope', 'serving_defaultx', 'SERVING_DEFAULT', 5, true, [], {}, null), unknownName).map((v) =>
    mutation(`signature_name ${json(v)}`, (body) => ({ ...body, signature_name: v })),
  ),
  fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat()).map(([n, r, e, k]) =>
    mutation('an element of the wrong kind', (body, c) => {
      const input = pick(c.inputs, n);
      setCell(body, c, input.name, r, clone(pick(WRONG_TF_ELEMENT[input.datatype], k)), e);
      return body;
    }),
  ),
  fc.tuple(fc.nat(), fc.nat(), fc.boolean()).map(([n, r, longer]) =>
    mutation(`a row ${longer ? 'longer' : 'shorter'} than the others`, (body, c) => {
      const input = pick(c.inputs, n);
      const list = column(body, c, input.name);
      const cell = list[r % list.length];
      if (!Array.isArray(cell) || (!longer && cell.length === 0)) {
        setCell(body, c, input.name, r, [[cell ?? 0]]);
        return body;
      }
      // One row alone has nothing to be ragged against (and tokens' length is free): it goes one level deeper instead.
      setCell(body, c, input.name, r, list.length === 1 ? [[...cell]] : longer ? [...cell, cell[0] ?? 1] : cell.slice(1));
      return body;
    }),
  ),
  fc.tuple(fc.nat(), fc.nat()).map(([n, r]) =>
    mutation('a row nested one level deeper', (body, c) => {
      const input = pick(c.inputs, n);
      const list = column(body, c, input.name);
      setCell(body, c, input.name, r, [list[r % list.length] ?? 0]);
      return body;
    }),
  ),
  fc.nat().map((n) =>
    mutation('an input missing', (body, c): WireJson => {
      const name = pick(c.inputs, n).name;
      const key = rowsKey(body);
      if (c.inputs.length === 1 && key === 'inputs' && Array.isArray(body.inputs)) return { inputs: { zz: body.inputs } };
      if (key === 'inputs' && !Array.isArray(body.inputs)) delete (body.inputs as JsonObject)[name];
      else if (key === 'instances' && c.inputs.length > 1) delete ((body.instances as JsonObject[])[0] as JsonObject)[name];
      else return { instances: (body.instances as WireJson[]).map((row) => ({ zz: row })) };
      return body;
    }),
  ),
  unknownName.map((name) =>
    mutation('an unknown input beside the others', (body, c): WireJson => {
      const key = rowsKey(body);
      const first = c.inputs[0] as Input;
      if (key === 'instances') {
        const named = (row: WireJson): JsonObject => (c.inputs.length > 1 ? (row as JsonObject) : { [first.name]: row });
        // Only instance 0's keys are checked against the model's inputs (TF Serving's behaviour too).
        return { instances: (body.instances as WireJson[]).map((row, r) => (r === 0 ? { ...named(row), [name]: 1 } : named(row))) };
      }
      return { ...body, inputs: Array.isArray(body.inputs) ? { [first.name]: body.inputs, [name]: [1] } : { ...(body.inputs as JsonObject), [name]: [1] } };
    }),
  ),
  fc.integer({ min: 1, max: 3 }).map((k) =>
    mutation('inputs disagree on the batch', (body, c) => {
      if (c.model !== 'third') return { instances: [] };
      const cols = tfBody({ ...c, form: 'columns' });
      const scale = (cols.inputs as JsonObject).scale as WireJson[];
      for (let i = 0; i < k; i++) scale.push([1]);
      return cols;
    }),
  ),
  fc.tuple(fc.nat(), fc.nat(), badBase64).map(([r, e, b64]) =>
    mutation(`bad base64 ${JSON.stringify(b64)}`, (body, c) => {
      const input = c.inputs.find((i) => i.datatype === 'BYTES') ?? pick(c.inputs, r);
      setCell(body, c, input.name, r, { b64 }, e);
      return body;
    }),
  ),
  fc.integer({ min: 62, max: 3000 }).map((depth) => mutation(`rows nested ${depth} deep`, (body) => ({ ...body, [rowsKey(body)]: nestDeep(body[rowsKey(body)] as WireJson, depth) }))),
];

/** :classify on affine (the one model that can), its tf.Example-like body broken. */
const classifyEdits: fc.Arbitrary<Mutation<TfCase>>[] = [
  fc.oneof(nonObject, fc.constant<WireJson>('[body]')).map((v) => mutation(`body is ${json(v)}`, (body) => (v === '[body]' ? [body] : v))),
  fc.oneof(nonArray, fc.constant<WireJson>([])).map((v) => mutation(`"examples" is ${json(v)}`, () => ({ examples: v }))),
  fc.tuple(fc.nat(), fc.constantFrom<WireJson>(5, 'x', null, [], [1, 2, 3])).map(([r, v]) =>
    mutation(`an example is ${json(v)}`, (body) => {
      const examples = body.examples as WireJson[];
      examples[r % examples.length] = v;
      return body;
    }),
  ),
  fc.nat().map((r) => mutation('a feature missing', (body) => (delete pick(body.examples as JsonObject[], r).x, body))),
  fc.tuple(fc.nat(), fc.constantFrom<WireJson>([1, 2], [1, 2, 3, 4], [], 5, [[1, 2, 3], [4]], ['a', 'b', 'c'], [1, {}, 3], [true, 2, 3])).map(([r, v]) =>
    mutation(`a feature is ${json(v)}`, (body) => ((pick(body.examples as JsonObject[], r).x = v), body)),
  ),
  fc.constantFrom<WireJson>(5, [], 'x', true, null).map((v) => mutation(`"context" is ${json(v)}`, (body) => ({ ...body, context: v }))),
  fc.constantFrom<WireJson>('nope', 5, true, []).map((v) => mutation(`signature_name ${json(v)}`, (body) => ({ ...body, signature_name: v }))),
  fc.integer({ min: 62, max: 3000 }).map((depth) => mutation(`examples nested ${depth} deep`, (body) => ({ examples: nestDeep(body.examples as WireJson, depth) }))),
];

function tfRequest(c: TfCase, what: string, body: WireJson, method: 'predict' | 'classify' | 'regress', versioned: boolean): FuzzRequest {
  const url = `/v1/models/${c.model}${versioned ? '/versions/1' : ''}:${method}`;
  return request(`tfserving: ${what}`, 'POST', url, json(body), JSON_HEADERS);
}

const tfMalformed: fc.Arbitrary<FuzzRequest> = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(tfCase, fc.oneof(...tfEdits), fc.boolean()).map(([c, m, versioned]) => tfRequest(c, m.what, m.edit(tfBody(c), c), 'predict', versioned)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(validInputs('affine'), fc.oneof(...classifyEdits), fc.boolean())
      .map(([inputs, m, versioned]) => {
        const c: TfCase = { model: 'affine', inputs, form: 'examples' };
        return tfRequest(c, `:classify ${m.what}`, m.edit(tfBody(c), c), 'classify', versioned);
      }),
  },
);

/** Correct bodies to methods the model cannot serve: none of these models regresses, only affine classifies. */
const tfWrongMethod: fc.Arbitrary<FuzzRequest> = fc.tuple(modelCase, fc.constantFrom<'classify' | 'regress'>('classify', 'regress')).filter(([c, m]) => m === 'regress' || c.model !== 'affine').map(([c, method]) =>
  tfRequest({ ...c, form: 'examples' }, `:${method} on ${c.model}`, tfBody({ ...c, form: 'examples' }), method, false),
);

// ---------------------------------------------------------------------------------------------
// 6. Path tricks.

const REAL_NAMES = new Set<string>(MODELS);
/** A model-name segment that names no model, however it is decoded or normalized. */
const badModelSegment: fc.Arbitrary<{ readonly segment: string; readonly routerRefuses: boolean }> = fc.oneof(
  fc
    .constantFrom('..%2F..%2Fetc', '..%2Faffine', '%2e%2e%2Faffine', 'affine%2F..%2Faffine', '%00', 'affine%00', '%20affine', 'affine%20', 'AFFINE', 'Affine', '__proto__', 'constructor', 'toString', 'affine%3Apredict', 'affine%2Finfer', '%2e%2e%5C%2e%2e%5Cwindows', '-', '~affine', '%E2%80%AEenifa')
    .map((segment) => ({ segment, routerRefuses: false })),
  fc.constantFrom('%E0%A4%A', '%ZZ', '%', '%%', 'a%2', '%ED%A0%80', '%FF', '%C0', '%80abc', '%C0%AE%C0%AE').map((segment) => ({ segment, routerRefuses: true })),
  fc.integer({ min: 600, max: 4000 }).map((n) => ({ segment: 'a'.repeat(n), routerRefuses: true })),
  fc
    .string({ unit: 'grapheme', minLength: 1, maxLength: 12 })
    // Not a model, not a dot segment URL resolution would remove, not the /v2/models/stats route (paths are case-insensitive).
    .filter((s) => !REAL_NAMES.has(s) && !/^\.+$/.test(s) && s.toLowerCase() !== 'stats')
    .map((s) => ({ segment: encodeURIComponent(s), routerRefuses: false })),
);

/** Version segments: `syntax` says whether the v2 protocol reads them as a version at all. */
const badVersionSegment: fc.Arbitrary<{ readonly segment: string; readonly syntax: boolean; readonly routerRefuses: boolean }> = fc.oneof(
  fc
    .constantFrom('-1', '1e3', '1.0', '+1', 'x', '0x1', '%201', '1%20', '1%00', '-0', 'NaN', 'Infinity', '9999999999999999', '11111111111111111111', '%E2%91%A0', '%D9%A3', '', '1,2', 'latest', '%31%2e0')
    .map((segment) => ({ segment, syntax: false, routerRefuses: false })),
  fc.constantFrom('2', '0', '7', '999999999999999', '000000000000002').map((segment) => ({ segment, syntax: true, routerRefuses: false })),
  fc.constantFrom('%ZZ', '%E0%A4%A').map((segment) => ({ segment, syntax: false, routerRefuses: true })),
);

const V2_SUFFIXES = ['', '/ready', '/config', '/stats', '/infer'] as const;
const querySuffix = fc.constantFrom('', '', '', '?x=%ZZ', '?a=1&a=2', `?${'q'.repeat(2000)}`, '?__proto__[x]=1', '?#');

const pathMethod = fc.constantFrom<Method>('GET', 'POST', 'HEAD');

const pathTricks: fc.Arbitrary<FuzzRequest>[] = [
  // An unknown or undecodable model, on every v2 model route.
  fc.tuple(badModelSegment, fc.constantFrom(...V2_SUFFIXES), fc.boolean(), pathMethod, querySuffix).map(([m, suffix, versioned, method, query]) => {
    const url = `/v2/models/${m.segment}${versioned ? '/versions/1' : ''}${suffix}${query}`;
    const probe = suffix === '/ready' && method === 'GET' && !m.routerRefuses;
    return request(`path: model ${m.segment.slice(0, 40)}`, method, url, v2Infer, JSON_HEADERS, method === 'HEAD' || probe ? 'empty' : 'json');
  }),
  // A real model, a version that is malformed or not served.
  fc.tuple(fc.constantFrom(...MODELS), badVersionSegment, fc.constantFrom(...V2_SUFFIXES), pathMethod, querySuffix).map(([model, v, suffix, method, query]) => {
    const url = `/v2/models/${model}/versions/${v.segment}${suffix}${query}`;
    const probe = suffix === '/ready' && method === 'GET' && v.syntax;
    return request(`path: version ${v.segment}`, method, url, v2Infer, JSON_HEADERS, method === 'HEAD' || probe ? 'empty' : 'json');
  }),
  // A real model, a route that is not one.
  fc
    .tuple(
      fc.constantFrom(...MODELS),
      fc.constantFrom('/infer/', '/infer;x', '/inferx', '//infer', '/infer%2F', '%2Finfer', '/inference', '/versions/', '/versions//', '/versions/1/infer/extra', '/stats/x', '/ready/', '/config/', '/versions/1/2/infer', '/infer/..%2Finfer', '/load', '/unload'),
      pathMethod,
    )
    .map(([model, suffix, method]) => request(`path: /v2/models/${model}${suffix}`, method, `/v2/models/${model}${suffix}`, v2Infer, JSON_HEADERS)),
  // The repository API on models that are not there.
  fc.tuple(badModelSegment, fc.constantFrom('/load', '/unload', '', '/reload', '/load/')).map(([m, action]) =>
    request(`path: repository ${m.segment.slice(0, 40)}${action}`, 'POST', `/v2/repository/models/${m.segment}${action}`, '{}', JSON_HEADERS),
  ),
  // TF Serving: unknown models, bad versions, labels no model has, both, and suffixes that are not methods.
  fc.tuple(badModelSegment, fc.constantFrom('', '/metadata', ':predict', ':classify', ':regress', '/versions/1', '/versions/1:predict', '/labels/stable:predict'), pathMethod, querySuffix).map(
    ([m, suffix, method, query]) => request(`path: v1 model ${m.segment.slice(0, 40)}`, method, `/v1/models/${m.segment}${suffix}${query}`, v1Predict, JSON_HEADERS),
  ),
  fc
    .tuple(
      fc.constantFrom(...MODELS),
      fc.constantFrom('-1', '1e3', 'x', '', '2', '0', '99999999999999999999', '%31', '1.0', '+1'),
      fc.constantFrom('', '/metadata', ':predict', ':classify', ':regress'),
      pathMethod,
    )
    .map(([model, version, suffix, method]) => request(`path: v1 version ${version}`, method, `/v1/models/${model}/versions/${version}${suffix}`, v1Predict, JSON_HEADERS)),
  fc
    .tuple(
      fc.constantFrom(...MODELS),
      fc.oneof(fc.constantFrom('stable', 'canary', 'constructor', '__proto__', 'toString', 'hasOwnProperty', '%25ED', '1'), unknownName.map(encodeURIComponent)),
      fc.constantFrom('', '/metadata', ':predict', ':classify', '/versions/1:predict'),
      pathMethod,
    )
    .map(([model, label, suffix, method]) => request(`path: v1 label ${label.slice(0, 20)}`, method, `/v1/models/${model}/labels/${label}${suffix}`, v1Predict, JSON_HEADERS)),
  fc
    .tuple(
      fc.constantFrom(...MODELS),
      fc.constantFrom(':predictx', ':', '::predict', ':predict:predict', '/metadata/', '/metadata:predict', ':PREDICTX', '/versions/:predict', '/versions/1/labels/x:predict', '/:predict', ':predict/', ':infer', '/infer'),
      pathMethod,
    )
    .map(([model, suffix, method]) => request(`path: /v1/models/${model}${suffix}`, method, `/v1/models/${model}${suffix}`, v1Predict, JSON_HEADERS)),
  fc
    .constantFrom('/v1', '/v1/', '/v1/models', '/v1/models/', '/v2/', '/v2/models', '/v2/models/', '/v2/health', '/v2/health/', '/v2/health/live/', '/v2/repository', '/v2/repository/', '/metrics/', '/', '/favicon.ico', '/v3/models/affine/infer', '/V2/MODELS')
    .chain((url) => pathMethod.map((method) => request(`path: ${url}`, method, url, v2Infer, JSON_HEADERS))),
];

// ---------------------------------------------------------------------------------------------
// 7. Methods a route does not take.

const GET_ROUTES = ['/v2', '/v2/health/live', '/v2/health/ready', '/v2/models/affine', '/v2/models/affine/ready', '/v2/models/affine/versions/1', '/v2/models/affine/config', '/v2/models/affine/stats', '/v2/models/stats', '/metrics'];
const POST_ROUTES = ['/v2/models/affine/infer', '/v2/models/third/versions/1/infer', '/v2/repository/index', '/v2/repository/models/affine/load', '/v2/repository/models/affine/unload'];
const OTHER_METHODS = ['PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

const wrongMethod: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    fc.oneof(
      fc.tuple(fc.constantFrom(...GET_ROUTES), fc.constantFrom<Method>('POST', ...OTHER_METHODS)),
      fc.tuple(fc.constantFrom(...POST_ROUTES), fc.constantFrom<Method>('GET', 'HEAD', ...OTHER_METHODS)),
      fc.tuple(fc.constantFrom('/v1/models/affine', '/v1/models/affine/metadata', '/v1/models/affine:predict', '/v1/models/affine/versions/1'), fc.constantFrom<Method>(...OTHER_METHODS)),
      fc.tuple(fc.constantFrom('/v1/models/affine:predict', '/v1/models/third:classify', '/v1/models/affine/versions/1:predict'), fc.constant<Method>('GET')),
      fc.tuple(fc.constantFrom('/v1/models/affine', '/v1/models/affine/metadata', '/v1/models/affine/versions/1'), fc.constant<Method>('POST')),
    ),
    fc.constantFrom(v2Infer, v1Predict, '{', '', '{}'),
  )
  .map(([[url, method], body]) => request(`method: ${method} ${url}`, method, url, body === '' ? undefined : body, JSON_HEADERS));

// ---------------------------------------------------------------------------------------------
// 8. Content encodings and types.

const ENCODED_ROUTES = [
  { url: INFER('affine'), body: v2Infer },
  { url: PREDICT('affine'), body: v1Predict },
  { url: '/v2/repository/index', body: json({ ready: false }) },
  { url: INFER('third'), body: thirdInfer },
] as const;

const GZIP_BOMB = gzipSync(Buffer.alloc(9 * 2 ** 20, 0x20));
const flipLast = (bytes: Buffer, back: number): Buffer => {
  const out = Buffer.from(bytes);
  const at = out.length - back;
  out[at] = (out[at] as number) ^ 0xff;
  return out;
};

const unsupportedEncoding = fc.oneof(
  fc.constantFrom('br', 'compress', 'x-gzip', 'zstd', 'gzip, gzip', 'identity, gzip', 'gzip;q=1', 'chunked', '*', 'gzip deflate', ''),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/).filter((s) => !['identity', 'gzip', 'deflate'].includes(s)),
);

/** Built once per route: arbitraries made inside a chain would be rebuilt (regular expressions compiled) for every sample. */
function encodingsFor(route: (typeof ENCODED_ROUTES)[number]): fc.Arbitrary<FuzzRequest> {
  const plain = Buffer.from(route.body);
  const gz = gzipSync(plain);
  const df = deflateSync(plain);
  const post = (what: string, body: Buffer | string, headers: Record<string, string>): FuzzRequest => request(`encoding: ${what}`, 'POST', route.url, body, headers);
  return fc.oneof(
    unsupportedEncoding.map((encoding) => post(`Content-Encoding ${JSON.stringify(encoding)}`, route.body, { 'content-encoding': encoding })),
    fc.tuple(fc.constantFrom('gzip', 'deflate', 'GZIP', 'Deflate'), fc.uint8Array({ minLength: 1, maxLength: 200 })).map(([encoding, bytes]) =>
      post(`${encoding} over random bytes`, Buffer.from(bytes), { 'content-encoding': encoding }),
    ),
    fc.nat().map((n) => post('gzip cut short', gz.subarray(0, 1 + (n % (gz.length - 1))), { 'content-encoding': 'gzip' })),
    fc.nat().map((n) => post('deflate cut short', df.subarray(0, 1 + (n % (df.length - 1))), { 'content-encoding': 'deflate' })),
    fc.integer({ min: 5, max: 8 }).map((back) => post('gzip with a bad CRC', flipLast(gz, back), { 'content-encoding': 'gzip' })),
    fc.integer({ min: 1, max: 4 }).map((back) => post('gzip with a bad length', flipLast(gz, back), { 'content-encoding': 'gzip' })),
    fc.integer({ min: 1, max: 4 }).map((back) => post('deflate with a bad Adler-32', flipLast(df, back), { 'content-encoding': 'deflate' })),
    fc.constant(post('gzip sent as deflate', gz, { 'content-encoding': 'deflate' })),
    fc.constant(post('deflate sent as gzip', df, { 'content-encoding': 'gzip' })),
    fc.constant(post('gzip twice, declared once', gzipSync(gz), { 'content-encoding': 'gzip' })),
    fc.constantFrom('{', '[1,2', '{"inputs":', 'null', '[]', '"x"', '{"instances": [[1,2,3]]').map((text) => post(`gzip of ${JSON.stringify(text)}`, gzipSync(text), { 'content-encoding': 'gzip' })),
    fc.tuple(fc.constantFrom(';;;', 'application/json; charset', '/', 'text/html; boundary=', 'multipart/form-data'), fc.nat()).map(([type, n]) =>
      post(`Content-Type ${JSON.stringify(type)} over garbled JSON`, route.body.slice(0, 1 + (n % (route.body.length - 1))), { 'content-type': type }),
    ),
    fc.tuple(fc.constantFrom(1, -1), fc.integer({ min: 1, max: 8 })).map(([sign, k]) =>
      post(`Content-Length ${sign > 0 ? 'over' : 'under'} the body by ${k}`, route.body, { 'content-length': String(Buffer.byteLength(route.body) + sign * k) }),
    ),
  );
}

const encodings: fc.Arbitrary<FuzzRequest> = fc.oneof(
  { weight: 40, arbitrary: fc.oneof(...ENCODED_ROUTES.map(encodingsFor)) },
  // Each bomb costs tens of milliseconds of decompression: a few suffice.
  { weight: 1, arbitrary: fc.constantFrom(...ENCODED_ROUTES).map((route) => request('encoding: a gzip bomb (9 MiB of spaces)', 'POST', route.url, GZIP_BOMB, { 'content-encoding': 'gzip' })) },
);

// ---------------------------------------------------------------------------------------------
// 9. The repository API.

const repository: fc.Arbitrary<FuzzRequest> = fc.oneof(
  fc
    .oneof(
      fc.constantFrom<WireJson>([], 5, 'x', null, true, [{}]).map((v) => json(v)),
      fc.constantFrom<WireJson>(1, 0, 'true', null, {}, [], [true]).map((v) => json({ ready: v })),
      fc.constantFrom('{', '{"ready":', '{"ready":tru}', '{"ready":true,}', 'ready=true'),
    )
    .map((body) => request(`repository: index body ${body}`, 'POST', '/v2/repository/index', body, JSON_HEADERS)),
  fc
    .tuple(
      fc.constantFrom(...MODELS),
      fc.constantFrom('load', 'unload'),
      fc.oneof(
        fc.constantFrom<WireJson>([], 5, 'x', null, true).map((v) => json(v)),
        fc.constantFrom<WireJson>(5, 'x', [], true).map((v) => json({ parameters: v })),
        fc.constantFrom('{', '{"parameters":', 'garbage', '{"parameters":{}}}'),
      ),
    )
    .map(([model, action, body]) => request(`repository: ${action} ${model} with ${body}`, 'POST', `/v2/repository/models/${model}/${action}`, body, JSON_HEADERS)),
  fc
    .tuple(fc.constantFrom(...MODELS), fc.constantFrom<WireJson>({ config: '{"max_batch_size": 8}' }, { 'file:1/model.onnx': 'AAAA' }, { config: 5 }, { unload_dependents: true }))
    .map(([model, parameters]) => request(`repository: load ${model} with parameters ${json(parameters)}`, 'POST', `/v2/repository/models/${model}/load`, json({ parameters }), JSON_HEADERS)),
  fc
    .tuple(unknownName.map(encodeURIComponent), fc.constantFrom('load', 'unload'), fc.constantFrom('', '{}', '{"parameters":{}}'))
    .map(([model, action, body]) => request(`repository: ${action} an unknown model`, 'POST', `/v2/repository/models/${model}/${action}`, body === '' ? undefined : body, JSON_HEADERS)),
);

// ---------------------------------------------------------------------------------------------
// 10. Huge and deep: nesting far past the parser's limit, thousands of inputs, long names and numbers.

const hugeAndDeep: fc.Arbitrary<FuzzRequest> = fc.oneof(
  fc.tuple(fc.constantFrom(...JSON_ROUTES.slice(0, 10)), fc.integer({ min: 65, max: 50_000 }), fc.constantFrom('[', '{"a":', '[{"b":')).map(([route, depth, open]) => {
    const close = open === '[' ? ']' : open === '{"a":' ? '}' : '}]';
    return request(`huge: ${depth} levels of ${open}`, 'POST', route.url, `${open.repeat(depth)}1${close.repeat(depth)}`, JSON_HEADERS);
  }),
  fc.tuple(fc.constantFrom(...JSON_ROUTES.slice(0, 10)), fc.integer({ min: 65, max: 200_000 })).map(([route, depth]) => request(`huge: ${depth} unclosed brackets`, 'POST', route.url, '['.repeat(depth), JSON_HEADERS)),
  fc.integer({ min: 500, max: 5000 }).map((n) =>
    request(`huge: ${n} unknown inputs`, 'POST', INFER('affine'), json({ inputs: Array.from({ length: n }, (_, i) => ({ name: `zz${i}`, shape: [1], datatype: 'FP32', data: [i] })) }), JSON_HEADERS),
  ),
  fc.integer({ min: 10_000, max: 200_000 }).map((n) =>
    request(`huge: an input name of ${n} characters`, 'POST', INFER('affine'), json({ inputs: [{ name: 'x'.repeat(n), shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] }), JSON_HEADERS),
  ),
  fc.integer({ min: 10_000, max: 100_000 }).map((n) =>
    request(`huge: a datatype of ${n} characters`, 'POST', INFER('affine'), json({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'F'.repeat(n), data: [1, 2, 3] }] }), JSON_HEADERS),
  ),
  fc.integer({ min: 20, max: 20_000 }).map((digits) =>
    request(
      `huge: an INT64 of ${digits} digits`,
      'POST',
      INFER('third'),
      `{"inputs":[{"name":"tokens","shape":[1,1],"datatype":"INT64","data":[${'9'.repeat(digits)}]},{"name":"scale","shape":[1,1],"datatype":"FP32","data":[1]}]}`,
      JSON_HEADERS,
    ),
  ),
  fc.integer({ min: 20, max: 20_000 }).map((digits) =>
    request(`huge: a dimension of ${digits} digits`, 'POST', INFER('affine'), `{"inputs":[{"name":"x","shape":[${'9'.repeat(digits)},3],"datatype":"FP32","data":[1,2,3]}]}`, JSON_HEADERS),
  ),
  fc.integer({ min: 10_000, max: 300_000 }).map((n) =>
    request(`huge: ${n} elements for a shape of 3`, 'POST', INFER('affine'), json({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: new Array<WireJson>(n).fill(1) }] }), JSON_HEADERS),
  ),
  fc.integer({ min: 10_000, max: 1_000_000 }).map((n) => request(`huge: ${n} spaces then garbage`, 'POST', PREDICT('affine'), `${' '.repeat(n)}x`, JSON_HEADERS)),
);

/** Over the 8 MiB body limit: built once, sent a few times. */
const OVERSIZED = Buffer.alloc(8 * 2 ** 20 + 1, 0x20);

// ---------------------------------------------------------------------------------------------
// Sending and judging.

interface Seen {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | number | undefined>>;
  /** The body, decoded from the Content-Encoding it names. */
  readonly body: Buffer;
}

function show(bytes: string | Buffer | undefined, limit = 300): string {
  if (bytes === undefined) return '(none)';
  const text = typeof bytes === 'string' ? bytes : bytes.toString('latin1');
  return `${JSON.stringify(text.slice(0, limit))}${text.length > limit ? ` … (${text.length} in all)` : ''}`;
}

function describeExchange(r: FuzzRequest, seen: Seen): string {
  return [
    `  request:  ${r.method} ${r.url.slice(0, 300)} [${r.what}]`,
    `            headers ${JSON.stringify(r.headers)}, body ${show(r.body)}`,
    `  response: ${seen.status} ${String(seen.headers['content-type'] ?? '(no content-type)')} ${show(seen.body)}`,
  ].join('\n');
}

/** Why the answer is not the refusal `r` must get, or undefined when it is. */
function fault(r: FuzzRequest, seen: Seen): string | undefined {
  if (seen.status < 400 || seen.status >= 500) return `status ${seen.status}, not a 4xx`;
  if (r.refusal === 'empty') return seen.body.byteLength === 0 ? undefined : 'a body where none belongs';
  const type = String(seen.headers['content-type'] ?? '');
  if (!/^application\/json\b/.test(type)) return `content-type ${JSON.stringify(type)}, not JSON`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(seen.body.toString('utf8'));
  } catch {
    return 'a body that is not JSON';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'a JSON body that is not an object';
  const keys = Object.keys(parsed);
  const error = (parsed as { error?: unknown }).error;
  if (keys.length !== 1 || typeof error !== 'string' || error === '') return `a body other than {"error": "…"} (keys ${JSON.stringify(keys)})`;
  return undefined;
}

describe('fuzzing the model server', () => {
  let t: TestServer;
  let sent = 0;
  let sanityRounds = 0;
  const counts = new Map<string, number>();

  beforeAll(async () => {
    t = await startTestServer(async (repo) => {
      await standardRepo(repo);
      await writeOnnx(join(repo, 'echo', '1'), echoBytesOnnx());
    });
  });
  afterAll(async () => t?.close());

  async function inject(method: Method, url: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Seen> {
    const response = await t.server.app.inject({ method, url, headers, ...(body !== undefined ? { payload: body } : {}) });
    const encoding = String(response.headers['content-encoding'] ?? '');
    const raw = response.rawPayload;
    // A HEAD answer names the encoding its GET would have, with no body to decode.
    const decoded = raw.byteLength === 0 ? raw : encoding === 'gzip' ? gunzipSync(raw) : encoding === 'deflate' ? inflateSync(raw) : raw;
    return { status: response.statusCode, headers: response.headers, body: decoded };
  }

  /** Correct requests over both protocols, with exact answers, and the liveness probe. */
  async function assertServing(): Promise<void> {
    sanityRounds++;
    const r = sanityRounds;
    const live = await inject('GET', '/v2/health/live');
    expect(live.status, 'liveness').toBe(200);
    const x = [r % 11, -(r % 7), 0.5];
    const y = x.map((v) => 2 * v + 1);
    // A timeout of 0 is Triton's "no timeout of its own", not "answer within 0 µs".
    const v2 = await t.request('POST', INFER('affine'), { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: x }], ...(r % 2 === 0 ? { parameters: { timeout: 0 } } : {}) });
    expect([v2.status, v2.json()]).toEqual([200, { model_name: 'affine', model_version: '1', outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 3], data: y }] }]);
    const v1 = await t.request('POST', PREDICT('affine'), { instances: [x] });
    expect([v1.status, v1.json()]).toEqual([200, { predictions: [y] }]);
    // third, with binary inputs and one binary output, and every output asked for by an empty list.
    const tokens = new BigInt64Array([BigInt(r), 2n, 3n]);
    const head = Buffer.from(
      JSON.stringify({
        inputs: [
          { name: 'tokens', shape: [1, 3], datatype: 'INT64', parameters: { binary_data_size: 24 } },
          { name: 'scale', shape: [1, 1], datatype: 'FP32', data: [0.5] },
        ],
        outputs: [],
      }),
    );
    const third = await inject('POST', INFER('third'), Buffer.concat([head, Buffer.from(tokens.buffer)]), { 'inference-header-content-length': String(head.byteLength) });
    expect([third.status, JSON.parse(third.body.toString('utf8'))]).toEqual([
      200,
      {
        model_name: 'third',
        model_version: '1',
        outputs: [
          { name: 'score', datatype: 'FP32', shape: [1, 1], data: [(r + 5) * 0.5] },
          { name: 'total', datatype: 'INT64', shape: [1, 1], data: [r + 5] },
          { name: 'positive', datatype: 'BOOL', shape: [1, 1], data: [true] },
        ],
      },
    ]);
    const word = `w${r}é`;
    const echo = await t.request('POST', PREDICT('echo'), { instances: [{ b64: Buffer.from(word).toString('base64') }, 'plain'] });
    expect([echo.status, echo.json()]).toEqual([200, { predictions: [{ b64: Buffer.from(word).toString('base64') }, { b64: Buffer.from('plain').toString('base64') }] }]);
  }

  async function fire(r: FuzzRequest): Promise<Seen> {
    const seen = await inject(r.method, r.url, r.body, { ...r.headers });
    sent++;
    const family = r.what.split(':', 1)[0] as string;
    counts.set(family, (counts.get(family) ?? 0) + 1);
    const why = fault(r, seen);
    if (why !== undefined) throw new Error(`refused wrongly: ${why}\n${describeExchange(r, seen)}`);
    if (sent % SANITY_EVERY === 0) await assertServing();
    return seen;
  }

  const FAMILIES: readonly (readonly [string, number, fc.Arbitrary<FuzzRequest>])[] = [
    ['garbled JSON text and bytes', 1200, fc.oneof({ arbitrary: garbledText, weight: 4 }, { arbitrary: garbledBytes, weight: 1 })],
    ['v2 JSON of the wrong structure', 1300, v2Request(v2Structure, 'v2 structure')],
    ['v2 tensors: datatypes, values, shapes, dimensions, nesting', 1500, v2Request(v2Tensors, 'v2 tensors')],
    ['v2 binary bodies: header lengths, sizes, bytes', 1500, binaryRequest],
    ['TF Serving bodies, base64, methods', 1500, fc.oneof({ arbitrary: tfMalformed, weight: 9 }, { arbitrary: tfWrongMethod, weight: 1 })],
    ['path tricks', 1500, fc.oneof(...pathTricks)],
    ['methods a route does not take', 500, wrongMethod],
    ['content encodings and types', 800, encodings],
    ['the repository API', 500, repository],
    ['huge and deep', 300, hugeAndDeep],
  ];

  FAMILIES.forEach(([name, runs, arbitrary], index) => {
    it(`refuses ${runs} requests: ${name}`, { timeout: 60_000 }, async () => {
      await fc.assert(
        fc.asyncProperty(withAccept(arbitrary), async (r) => void (await fire(r))),
        { seed: SEED + index, numRuns: runs },
      );
    });
  });

  it('refuses bodies over the size limit with 413', { timeout: 30_000 }, async () => {
    for (const url of [INFER('affine'), PREDICT('affine'), '/v2/repository/index']) {
      expect((await fire(request('oversized: an 8 MiB + 1 body', 'POST', url, OVERSIZED, JSON_HEADERS))).status).toBe(413);
    }
  });

  it(`sent at least ${MIN_REQUESTS} malformed requests and still answers correctly`, async () => {
    await assertServing();
    const table = [...counts].map(([family, n]) => `${family} ${n}`).join(', ');
    console.info(`fuzz: ${sent} malformed requests (seed ${SEED}; ${sanityRounds} correctness rounds): ${table}`);
    expect(sent).toBeGreaterThanOrEqual(MIN_REQUESTS);
  });

  // -------------------------------------------------------------------------------------------
  // At the socket: slow, truncated and broken HTTP.

  describe('over a real socket', () => {
    let port = 0;
    const BODY = v2Infer;
    const ANSWER = { model_name: 'affine', model_version: '1', outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 3], data: [3, 5, 7] }] };
    const head = (length: number): string =>
      `POST /v2/models/affine/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`;

    beforeAll(async () => {
      port = Number(new URL(await t.server.listen('127.0.0.1', 0)).port);
    });

    interface Exchange {
      readonly data: Buffer;
      /** The server closed the connection (or reset it) before the wait ran out. */
      readonly closed: boolean;
    }

    /** Writes each step (text, bytes, or a pause in ms), optionally half-closes, then reads until the server closes or `waitMs` runs out. */
    function exchange(steps: readonly (string | Buffer | number)[], options: { readonly end: boolean; readonly waitMs: number }): Promise<Exchange> {
      return new Promise((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port });
        const chunks: Buffer[] = [];
        let settled = false;
        const finish = (closed: boolean): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          socket.destroy();
          resolve({ data: Buffer.concat(chunks), closed });
        };
        const timer = setTimeout(() => finish(false), options.waitMs);
        socket.on('data', (chunk: Buffer) => chunks.push(chunk));
        socket.on('close', () => finish(true));
        socket.on('error', (error: NodeJS.ErrnoException) => {
          if (error.code === 'ECONNRESET' || error.code === 'EPIPE') finish(true);
          else if (!settled) {
            settled = true;
            clearTimeout(timer);
            socket.destroy();
            reject(error);
          }
        });
        socket.once('connect', () => {
          void (async () => {
            for (const step of steps) {
              if (typeof step === 'number') await new Promise((done) => setTimeout(done, step));
              else if (!socket.destroyed) socket.write(step);
            }
            if (options.end && !socket.destroyed) socket.end();
          })();
        });
      });
    }

    function parseResponse(data: Buffer): { status: number; body: string } | undefined {
      const text = data.toString('utf8');
      const match = /^HTTP\/1\.[01] (\d{3}) /.exec(text);
      if (match === null) return undefined;
      const split = text.indexOf('\r\n\r\n');
      if (split < 0) return { status: Number(match[1]), body: '' };
      // The first response only: garbage can hold more than one request, each answered in turn.
      const headers = text.slice(0, split + 2);
      const length = /\r\ncontent-length: (\d+)\r\n/i.exec(headers);
      const rest = data.subarray(Buffer.byteLength(text.slice(0, split + 4)));
      if (length === null && /\r\ntransfer-encoding: chunked\r\n/i.test(headers) && rest.toString('latin1').startsWith('0\r\n\r\n')) return { status: Number(match[1]), body: '' };
      return { status: Number(match[1]), body: (length === null ? rest : rest.subarray(0, Number(length[1]))).toString('utf8') };
    }

    /** A correct request on a fresh connection, answered exactly. */
    async function assertAnswers(): Promise<void> {
      const response = await fetch(`http://127.0.0.1:${port}${INFER('affine')}`, { method: 'POST', body: BODY, headers: JSON_HEADERS, signal: AbortSignal.timeout(10_000) });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual(ANSWER);
      expect((await fetch(`http://127.0.0.1:${port}/v2/health/live`, { signal: AbortSignal.timeout(10_000) })).status).toBe(200);
    }

    it('answers a body that arrives slowly, in pieces', { timeout: 20_000 }, async () => {
      const third = Math.ceil(BODY.length / 3);
      const pieces = [BODY.slice(0, third), BODY.slice(third, 2 * third), BODY.slice(2 * third)];
      const { data, closed } = await exchange([head(Buffer.byteLength(BODY)), 40, pieces[0] as string, 40, pieces[1] as string, 40, pieces[2] as string], { end: false, waitMs: 10_000 });
      expect(closed).toBe(true);
      const response = parseResponse(data);
      expect(response?.status).toBe(200);
      expect(JSON.parse(response?.body ?? '')).toEqual(ANSWER);
      // Headers dribbled out too.
      const request = head(Buffer.byteLength(BODY)) + BODY;
      const dribble = Array.from({ length: 6 }, (_, i) => request.slice((i * request.length) / 6, ((i + 1) * request.length) / 6)).flatMap((p) => [p, 15]);
      const slow = parseResponse((await exchange(dribble, { end: false, waitMs: 10_000 })).data);
      expect(slow?.status).toBe(200);
      expect(JSON.parse(slow?.body ?? '')).toEqual(ANSWER);
    });

    it('survives a body cut short of its Content-Length', { timeout: 20_000 }, async () => {
      for (const sent of [0, 10, BODY.length - 1]) {
        const { data, closed } = await exchange([head(Buffer.byteLength(BODY) + 100), BODY.slice(0, sent)], { end: true, waitMs: 5_000 });
        const response = parseResponse(data);
        // Either the server refuses what it got with a 4xx, or it closes without an answer.
        expect(response === undefined ? closed : response.status >= 400 && response.status < 500, `truncated after ${sent} bytes: ${show(data)}`).toBe(true);
        await assertAnswers();
      }
    });

    it('survives a request cut off in its headers', { timeout: 20_000 }, async () => {
      const full = head(Buffer.byteLength(BODY));
      for (const cut of [1, 5, 20, full.indexOf('Content-Length') + 10, full.length - 2]) {
        const { data, closed } = await exchange([full.slice(0, cut)], { end: true, waitMs: 5_000 });
        const response = parseResponse(data);
        expect(response === undefined ? closed : response.status >= 400 && response.status < 500, `cut after ${cut} bytes: ${show(data)}`).toBe(true);
      }
      await assertAnswers();
    });

    it('answers bytes that are not HTTP with 400 or a closed connection', { timeout: 30_000 }, async () => {
      const random = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 300 }), { seed: SEED, numRuns: 12 }).map((b) => Buffer.concat([Buffer.from(b), Buffer.from('\r\n\r\n')]));
      const known = [
        'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
        Buffer.from('16030100a5010000a10303', 'hex'),
        'GET / HTTP/9.9\r\n\r\n',
        'POST /v2/models/affine/infer HTTP/1.1\r\nContent-Length: -5\r\n\r\n',
        'POST /v2/models/affine/infer HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        'POST /v2/models/affine/infer HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
        `GET /v2/health/live HTTP/1.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
        'GET /v2/health/live HTTP/1.1\r\nBad Header\r\n\r\n',
        '\r\n\r\n\r\n',
        'GET /\u0000 HTTP/1.1\r\n\r\n',
      ];
      for (const garbage of [...known, ...random]) {
        const { data, closed } = await exchange([garbage], { end: true, waitMs: 5_000 });
        const response = parseResponse(data);
        expect(response === undefined ? closed : response.status >= 400 && response.status < 500, `garbage ${show(garbage, 60)} got ${show(data, 200)}`).toBe(true);
        // What answer there is keeps the server's {"error": "…"} shape, or has no body at all (a chunked
        // body broken mid-request is answered by Node's HTTP layer as well as by the server).
        if (response !== undefined && response.body !== '') expect(JSON.parse(response.body), `garbage ${show(garbage, 60)}`).toEqual({ error: expect.any(String) });
      }
      await assertAnswers();
    });
  });
});
