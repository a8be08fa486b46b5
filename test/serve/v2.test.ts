/**
 * Conformance of the Open Inference Protocol (KServe V2 REST) with the Triton extensions its
 * clients use, from the spec table in the serving notes: server and model metadata, health and
 * readiness, /config, /stats, JSON and binary-tensor inference (bodies built and read by hand),
 * classification, the repository API, INT64 beyond 2^53 and the version routes.
 * @module
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { standardRepo, startTestServer, writeConfig, type TestServer } from './harness.js';
import { affineOnnx, THIRD_PARTY_SIGNATURE, thirdPartyOnnx, writeOnnx } from './models.js';
import { expectEnergyHeaders, expectJsonError, runProtocolSuite } from './protocol.suite.js';
import { asBigInt64, asFloat32, binaryBody, bytesOf, halfPlusOnnx, int64EchoOnnx, notOnnx, rawRequest, readBinaryResponse, type BinaryOutput } from './wire.js';

interface V2Output {
  readonly name: string;
  readonly datatype: string;
  readonly shape: number[];
  readonly data: unknown[];
}

runProtocolSuite({
  name: 'OIP v2',
  inferUrl: (model, version) => `/v2/models/${model}${version === undefined ? '' : `/versions/${version}`}/infer`,
  inferBody: (rows) => ({ inputs: [{ name: 'x', shape: [rows.length, 3], datatype: 'FP32', data: rows }] }),
  readRows(body) {
    const y = (body as { outputs: V2Output[] }).outputs.find((o) => o.name === 'y') as V2Output;
    expect(y.datatype).toBe('FP32');
    const width = y.shape[1] as number;
    return Array.from({ length: y.shape[0] as number }, (_, i) => (y.data as number[]).slice(i * width, (i + 1) * width));
  },
  statusUrl: (model, version) => `/v2/models/${model}${version === undefined ? '' : `/versions/${version}`}/ready`,
  statusMissing: { status: 400, jsonError: false },
  metadataUrl: (model, version) => `/v2/models/${model}${version === undefined ? '' : `/versions/${version}`}`,
  invalid: {
    datatype: { inputs: [{ name: 'x', shape: [1, 3], datatype: 'INT32', data: [1, 2, 3] }] },
    shape: { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] },
    count: { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2] }] },
  },
  openUrls: [],
  otherRoutes: [
    ['GET', '/v2', undefined],
    ['GET', '/v2/models/affine/config', undefined],
    ['GET', '/v2/models/stats', undefined],
    ['POST', '/v2/repository/index', {}],
    ['POST', '/v2/repository/models/affine/unload', {}],
    ['POST', '/v2/repository/models/affine/load', {}],
  ],
});

const X = { name: 'x', shape: [2, 3], datatype: 'FP32' } as const;
const ROWS = [
  [1, 2, 3],
  [-1, 0, 0.5],
];
const Y_FLAT = [3, 5, 7, -1, 1, 2];
const octet = (headerLength: number | string): Record<string, string> => ({ 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) });

/** affine, third, flags (BOOL), echo (INT64 identity), half_plus_two (rank 1), fixed (no batching), small (max_batch_size 8), multi (versions 1 and 2, 2x+1 and 3x), counted (for /stats) and CamelCase. */
async function v2Repo(repo: string): Promise<void> {
  await standardRepo(repo);
  await writeOnnx(join(repo, 'flags', '1'), notOnnx());
  await writeOnnx(join(repo, 'echo', '1'), int64EchoOnnx());
  await writeOnnx(join(repo, 'half_plus_two', '1'), halfPlusOnnx(2));
  await writeOnnx(join(repo, 'fixed', '1'), affineOnnx(3, 2, 1));
  await writeConfig(repo, 'fixed', { max_batch_size: 0 });
  await writeOnnx(join(repo, 'small', '1'), affineOnnx(3, 2, 1));
  await writeConfig(repo, 'small', { max_batch_size: 8 });
  await writeOnnx(join(repo, 'multi', '1'), affineOnnx(3, 2, 1));
  await writeOnnx(join(repo, 'multi', '2'), affineOnnx(3, 3, 0));
  await writeConfig(repo, 'multi', { version_policy: { all: {} } });
  await writeOnnx(join(repo, 'counted', '1'), affineOnnx(3, 2, 1));
  await writeOnnx(join(repo, 'CamelCase', '1'), affineOnnx(3, 2, 1));
}

function output(body: unknown, name: string): V2Output {
  const found = (body as { outputs: V2Output[] }).outputs.find((o) => o.name === name);
  if (found === undefined) throw new Error(`no output ${name} in ${JSON.stringify(body)}`);
  return found;
}

/** The text of one output object in a JSON response, to read INT64 digits JSON.parse would round. */
function outputText(text: string, name: string): string {
  const match = new RegExp(`\\{[^{}]*"name":"${name}"[^{}]*\\}`).exec(text);
  if (match === null) throw new Error(`no output ${name} in ${text}`);
  return match[0];
}

describe('OIP v2', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(v2Repo);
  });
  afterAll(async () => t.close());

  describe('server routes', () => {
    it('GET /v2: name, version and the extensions clients look for', async () => {
      const r = await t.request('GET', '/v2');
      expect(r.status).toBe(200);
      expect(String(r.headers['content-type'])).toMatch(/^application\/json\b/);
      const body = r.json<{ name: string; version: string; extensions: string[] }>();
      expect(Object.keys(body).sort()).toEqual(['extensions', 'name', 'version']);
      expect(body.name).toBe('ecoml');
      expect(body.version).toBe('test');
      expect(body.extensions).toEqual(expect.arrayContaining(['binary_tensor_data', 'model_repository', 'statistics', 'model_configuration', 'classification']));
      expect(body.extensions.every((e) => typeof e === 'string')).toBe(true);
    });

    it('health live and ready: 200 with an empty body', async () => {
      for (const url of ['/v2/health/live', '/v2/health/ready']) {
        const r = await t.request('GET', url);
        expect(r.status, url).toBe(200);
        expect(r.body, url).toBe('');
      }
    });

    it('model ready: 200 (empty) for a served model or version, 400 for anything else', async () => {
      for (const url of ['/v2/models/affine/ready', '/v2/models/affine/versions/1/ready', '/v2/models/multi/versions/1/ready', '/v2/models/multi/versions/2/ready']) {
        const r = await t.request('GET', url);
        expect(r.status, url).toBe(200);
        expect(r.body, url).toBe('');
      }
      for (const url of ['/v2/models/affine/versions/2/ready', '/v2/models/nosuchmodel/ready', '/v2/models/nosuchmodel/versions/1/ready']) {
        expect((await t.request('GET', url)).status, url).toBe(400);
      }
    });

    it('keeps the case of model names in the URL', async () => {
      expect((await t.request('GET', '/v2/models/CamelCase/ready')).status).toBe(200);
      expect((await t.request('GET', '/v2/models/camelcase/ready')).status).toBe(400);
      const r = await t.request('POST', '/v2/models/CamelCase/infer', { inputs: [{ ...X, data: ROWS }] });
      expect(r.status, r.body).toBe(200);
      expect(r.json<{ model_name: string }>().model_name).toBe('CamelCase');
    });
  });

  describe('model metadata', () => {
    it('affine: versions as strings, platform, inputs and outputs with -1 for the batch', async () => {
      const r = await t.request('GET', '/v2/models/affine');
      expect(r.status).toBe(200);
      expect(r.json()).toEqual({
        name: 'affine',
        versions: ['1'],
        platform: 'onnxruntime_onnx',
        inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3] }],
        outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 3] }],
      });
      expect((await t.request('GET', '/v2/models/affine/versions/1')).json()).toEqual(r.json());
    });

    it('third: INT64, FP32 and BOOL tensors, every free dimension -1', async () => {
      const r = await t.request('GET', '/v2/models/third');
      expect(r.json()).toEqual({
        name: 'third',
        versions: ['1'],
        platform: 'onnxruntime_onnx',
        ...THIRD_PARTY_SIGNATURE,
      });
    });

    it('lists every served version of a model', async () => {
      const body = (await t.request('GET', '/v2/models/multi')).json<{ versions: string[] }>();
      expect([...body.versions].sort()).toEqual(['1', '2']);
      expect((await t.request('GET', '/v2/models/multi/versions/2')).status).toBe(200);
    });
  });

  describe('/config', () => {
    it('a batching model: max_batch_size, dims without the batch dimension, TYPE_ data types', async () => {
      const r = await t.request('GET', '/v2/models/small/config');
      expect(r.status).toBe(200);
      const config = r.json<Record<string, unknown>>();
      expect(config).toMatchObject({ name: 'small', max_batch_size: 8 });
      expect(config.input).toEqual([{ name: 'x', data_type: 'TYPE_FP32', dims: [3] }]);
      expect(config.output).toEqual([{ name: 'y', data_type: 'TYPE_FP32', dims: [3] }]);
      expect((await t.request('GET', '/v2/models/small/versions/1/config')).json()).toEqual(config);
    });

    it('batching by default with the server-wide max_batch_size and dynamic_batching', async () => {
      const config = (await t.request('GET', '/v2/models/affine/config')).json<Record<string, unknown>>();
      expect(config).toMatchObject({ name: 'affine', max_batch_size: 64, dynamic_batching: expect.any(Object) });
      expect(config.input).toEqual([{ name: 'x', data_type: 'TYPE_FP32', dims: [3] }]);
    });

    it('max_batch_size 0: dims are the full shape', async () => {
      const config = (await t.request('GET', '/v2/models/fixed/config')).json<Record<string, unknown>>();
      expect(config).toMatchObject({ name: 'fixed', max_batch_size: 0 });
      expect(config.input).toEqual([{ name: 'x', data_type: 'TYPE_FP32', dims: [-1, 3] }]);
      expect(config.output).toEqual([{ name: 'y', data_type: 'TYPE_FP32', dims: [-1, 3] }]);
      expect(config).not.toHaveProperty('dynamic_batching');
    });

    it('INT64, FP32 and BOOL as Triton names them', async () => {
      const config = (await t.request('GET', '/v2/models/third/config')).json<Record<string, unknown>>();
      expect(config.input).toEqual([
        { name: 'tokens', data_type: 'TYPE_INT64', dims: [-1] },
        { name: 'scale', data_type: 'TYPE_FP32', dims: [1] },
      ]);
      expect(config.output).toEqual([
        { name: 'score', data_type: 'TYPE_FP32', dims: [1] },
        { name: 'total', data_type: 'TYPE_INT64', dims: [1] },
        { name: 'positive', data_type: 'TYPE_BOOL', dims: [1] },
      ]);
    });

    it('unknown model or version: 404', async () => {
      expectJsonError(await t.request('GET', '/v2/models/nosuchmodel/config'), 404);
      expectJsonError(await t.request('GET', '/v2/models/affine/versions/9/config'), 404);
    });

    it('refuses a batch larger than max_batch_size with 400', async () => {
      const rows = Array.from({ length: 9 }, () => [1, 2, 3]);
      expectJsonError(await t.request('POST', '/v2/models/small/infer', { inputs: [{ ...X, shape: [9, 3], data: rows }] }), 400);
      expect((await t.request('POST', '/v2/models/small/infer', { inputs: [{ ...X, shape: [8, 3], data: rows.slice(1) }] })).status).toBe(200);
    });
  });

  describe('/stats', () => {
    interface Duration {
      count: number;
      ns: number;
    }
    interface ModelStats {
      name: string;
      version: string;
      last_inference: number;
      inference_count: number;
      execution_count: number;
      inference_stats: Record<'success' | 'fail' | 'queue' | 'compute_input' | 'compute_infer' | 'compute_output', Duration>;
      batch_stats: { batch_size: number; compute_infer: Duration }[];
    }
    const stats = async (url: string): Promise<ModelStats[]> => {
      const r = await t.request('GET', url);
      expect(r.status, r.body).toBe(200);
      return r.json<{ model_stats: ModelStats[] }>().model_stats;
    };

    it('covers every model, one model, or one version', async () => {
      const all = await stats('/v2/models/stats');
      expect(all.map((s) => `${s.name}/${s.version}`).sort()).toEqual(
        ['CamelCase/1', 'affine/1', 'counted/1', 'echo/1', 'fixed/1', 'flags/1', 'half_plus_two/1', 'multi/1', 'multi/2', 'small/1', 'third/1'].sort(),
      );
      expect((await stats('/v2/models/multi/stats')).map((s) => s.version).sort()).toEqual(['1', '2']);
      expect((await stats('/v2/models/multi/versions/2/stats')).map((s) => [s.name, s.version])).toEqual([['multi', '2']]);
    });

    it('unknown model or version: 404; a version that is not a number: 400', async () => {
      expectJsonError(await t.request('GET', '/v2/models/nosuchmodel/stats'), 404);
      expectJsonError(await t.request('GET', '/v2/models/counted/versions/5/stats'), 404);
      expectJsonError(await t.request('GET', '/v2/models/counted/versions/one/stats'), 400);
    });

    it('counts samples (inference_count) and batches (execution_count); durations are numbers', async () => {
      const [before] = await stats('/v2/models/counted/stats');
      expect(before).toMatchObject({ name: 'counted', version: '1', inference_count: 0, execution_count: 0, last_inference: 0 });
      for (const rows of [2, 3, 1]) {
        const r = await t.request('POST', '/v2/models/counted/infer', { inputs: [{ ...X, shape: [rows, 3], data: Array.from({ length: rows * 3 }, (_, i) => i) }] });
        expect(r.status, r.body).toBe(200);
      }
      expectJsonError(await t.request('POST', '/v2/models/counted/infer', { inputs: [{ ...X, shape: [1, 2], data: [1, 2] }] }), 400);
      await vi.waitFor(async () => {
        const [s] = await stats('/v2/models/counted/stats');
        expect(s?.inference_stats.success.count).toBe(3);
        expect(s?.inference_stats.fail.count).toBe(1);
      });
      const [after] = (await stats('/v2/models/counted/versions/1/stats')) as [ModelStats];
      expect(after.inference_count).toBe(6);
      expect(after.execution_count).toBe(3);
      expect(after.last_inference).toBeGreaterThan(0);
      for (const [key, d] of Object.entries(after.inference_stats)) {
        expect(typeof d.count, key).toBe('number');
        expect(typeof d.ns, key).toBe('number');
        expect(Number.isInteger(d.ns) && d.ns >= 0, key).toBe(true);
      }
      expect(after.inference_stats.success.ns).toBeGreaterThan(0);
      expect(after.inference_stats.compute_infer.count).toBe(3);
      expect(after.batch_stats.map((b) => [b.batch_size, b.compute_infer.count]).sort()).toEqual([
        [1, 1],
        [2, 1],
        [3, 1],
      ]);
    });
  });

  describe('infer, JSON', () => {
    const expected = { model_name: 'affine', model_version: '1', outputs: [{ name: 'y', datatype: 'FP32', shape: [2, 3], data: Y_FLAT }] };

    it('takes nested and flat data alike and answers the exact response', async () => {
      for (const data of [ROWS, ROWS.flat()]) {
        const r = await t.request('POST', '/v2/models/affine/infer', { inputs: [{ ...X, data }] });
        expect(r.status, r.body).toBe(200);
        expect(r.json()).toEqual(expected);
        expectEnergyHeaders(r.headers);
      }
    });

    it('echoes the request id', async () => {
      const r = await t.request('POST', '/v2/models/affine/infer', { id: 'request-42', inputs: [{ ...X, data: ROWS }] });
      expect(r.json()).toEqual({ ...expected, id: 'request-42' });
    });

    it('answers a multi-input model with INT64, FP32 and BOOL outputs', async () => {
      const r = await t.request('POST', '/v2/models/third/infer', {
        inputs: [
          { name: 'tokens', shape: [2, 3], datatype: 'INT64', data: [1, 2, 3, 4, 5, 6] },
          { name: 'scale', shape: [2, 1], datatype: 'FP32', data: [2, -1] },
        ],
      });
      expect(r.status, r.body).toBe(200);
      const body = r.json<{ model_name: string; model_version: string; outputs: V2Output[] }>();
      expect(body.model_name).toBe('third');
      expect(body.model_version).toBe('1');
      expect([...body.outputs].sort((a, b) => a.name.localeCompare(b.name))).toEqual([
        { name: 'positive', datatype: 'BOOL', shape: [2, 1], data: [true, false] },
        { name: 'score', datatype: 'FP32', shape: [2, 1], data: [12, -15] },
        { name: 'total', datatype: 'INT64', shape: [2, 1], data: [6, 15] },
      ]);
    });

    const thirdInputs = [
      { name: 'tokens', shape: [1, 2], datatype: 'INT64', data: [1, 2] },
      { name: 'scale', shape: [1, 1], datatype: 'FP32', data: [1] },
    ];

    it('answers only the outputs asked for', async () => {
      const r = await t.request('POST', '/v2/models/third/infer', { inputs: thirdInputs, outputs: [{ name: 'total' }] });
      expect(r.json()).toEqual({ model_name: 'third', model_version: '1', outputs: [{ name: 'total', datatype: 'INT64', shape: [1, 1], data: [3] }] });
      const two = await t.request('POST', '/v2/models/third/infer', { inputs: thirdInputs, outputs: [{ name: 'positive' }, { name: 'score' }] });
      expect(two.json<{ outputs: V2Output[] }>().outputs.map((o) => o.name).sort()).toEqual(['positive', 'score']);
    });

    it('answers every output when "outputs" is an empty list', async () => {
      const r = await t.request('POST', '/v2/models/third/infer', { inputs: thirdInputs, outputs: [] });
      expect(r.json<{ outputs: V2Output[] }>().outputs.map((o) => o.name).sort()).toEqual(['positive', 'score', 'total']);
    });

    it('reads strict JSON: NaN and Infinity are refused with 400', async () => {
      for (const token of ['NaN', 'Infinity', '-Infinity']) {
        const body = `{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[${token},1,2]}]}`;
        expectJsonError(await t.request('POST', '/v2/models/affine/infer', body, { 'content-type': 'application/json' }), 400);
      }
    });

    it('refuses an unknown output with 400 naming it', async () => {
      const r = await t.request('POST', '/v2/models/third/infer', { inputs: thirdInputs, outputs: [{ name: 'nosuchoutput' }] });
      expect(expectJsonError(r, 400)).toContain('nosuchoutput');
    });

    it('refuses an unknown input, a missing input, or an unknown datatype with 400', async () => {
      expect(expectJsonError(await t.request('POST', '/v2/models/affine/infer', { inputs: [{ ...X, data: ROWS }, { ...X, name: 'z', data: ROWS }] }), 400)).toContain('"z"');
      expect(expectJsonError(await t.request('POST', '/v2/models/third/infer', { inputs: [thirdInputs[0]] }), 400)).toContain('scale');
      expectJsonError(await t.request('POST', '/v2/models/affine/infer', { inputs: [{ ...X, datatype: 'FP8', data: ROWS }] }), 400);
      expectJsonError(await t.request('POST', '/v2/models/affine/infer', { inputs: [{ ...X, shape: [-1, 3], data: ROWS }] }), 400);
      expectJsonError(await t.request('POST', '/v2/models/affine/infer', { inputs: [] }), 400);
      expectJsonError(await t.request('POST', '/v2/models/affine/infer', {}), 400);
    });

    it('carries INT64 values beyond 2^53 exactly, both ways', async () => {
      const values = '[9007199254740993,-9007199254740993,9223372036854775807,-9223372036854775808,12345678901234567]';
      const request = `{"inputs":[{"name":"ids","shape":[1,5],"datatype":"INT64","data":${values}}]}`;
      const r = await t.request('POST', '/v2/models/echo/infer', request, { 'content-type': 'application/json' });
      expect(r.status, r.body).toBe(200);
      expect(outputText(r.body, 'same')).toContain(`"data":${values}`);
      const nested = `{"inputs":[{"name":"ids","shape":[2,1],"datatype":"INT64","data":[[9007199254740995],[-9007199254740995]]}]}`;
      const s = await t.request('POST', '/v2/models/echo/infer', nested, { 'content-type': 'application/json' });
      expect(outputText(s.body, 'same')).toContain('"data":[9007199254740995,-9007199254740995]');
    });

    it('refuses an INT64 value outside the type with 400', async () => {
      const request = `{"inputs":[{"name":"tokens","shape":[1,1],"datatype":"INT64","data":[9223372036854775808]},{"name":"scale","shape":[1,1],"datatype":"FP32","data":[1]}]}`;
      expect(expectJsonError(await t.request('POST', '/v2/models/third/infer', request, { 'content-type': 'application/json' }), 400)).toContain('tokens');
    });

    it('answers with binary outputs when parameters.binary_data_output is true', async () => {
      const r = await rawRequest(t, 'POST', '/v2/models/affine/infer', JSON.stringify({ parameters: { binary_data_output: true }, inputs: [{ ...X, data: ROWS }] }), { 'content-type': 'application/json' });
      expect(r.status).toBe(200);
      expect(String(r.headers['content-type'])).toMatch(/^application\/octet-stream\b/);
      const { header, outputs } = readBinaryResponse(r);
      expect(header).toMatchObject({ model_name: 'affine', model_version: '1' });
      const [y] = outputs as [BinaryOutput];
      expect(y).toMatchObject({ name: 'y', datatype: 'FP32', shape: [2, 3], parameters: { binary_data_size: 24 } });
      expect(y).not.toHaveProperty('data');
      expect(asFloat32(y.bytes as Buffer)).toEqual(Y_FLAT);
      expectEnergyHeaders(r.headers);
    });
  });

  describe('infer, binary tensor extension', () => {
    it('takes binary inputs (little-endian FP32) and answers JSON by default', async () => {
      const x = Float32Array.from(ROWS.flat());
      const { body, headerLength } = binaryBody({ inputs: [{ ...X, parameters: { binary_data_size: 24 } }] }, [bytesOf(x)]);
      const r = await t.request('POST', '/v2/models/affine/infer', body, octet(headerLength));
      expect(r.status, r.body).toBe(200);
      expect(r.json()).toEqual({ model_name: 'affine', model_version: '1', outputs: [{ name: 'y', datatype: 'FP32', shape: [2, 3], data: Y_FLAT }] });
    });

    it('takes JSON and binary inputs in one request and answers binary and JSON outputs in one response', async () => {
      const scale = Float32Array.of(2, -1);
      const { body, headerLength } = binaryBody(
        {
          id: 'mixed',
          inputs: [
            { name: 'tokens', shape: [2, 3], datatype: 'INT64', data: [[1, 2, 3], [4, 5, 6]] },
            { name: 'scale', shape: [2, 1], datatype: 'FP32', parameters: { binary_data_size: 8 } },
          ],
          outputs: [{ name: 'total', parameters: { binary_data: true } }, { name: 'score' }, { name: 'positive', parameters: { binary_data: true } }],
        },
        [bytesOf(scale)],
      );
      const r = await rawRequest(t, 'POST', '/v2/models/third/infer', body, octet(headerLength));
      expect(r.status, r.plain.toString()).toBe(200);
      const { header, outputs } = readBinaryResponse(r);
      expect(header).toMatchObject({ model_name: 'third', model_version: '1', id: 'mixed' });
      const byName = new Map(outputs.map((o) => [o.name, o]));
      expect(byName.get('score')).toEqual({ name: 'score', datatype: 'FP32', shape: [2, 1], data: [12, -15] });
      const total = byName.get('total') as BinaryOutput;
      expect(total).toMatchObject({ datatype: 'INT64', shape: [2, 1], parameters: { binary_data_size: 16 } });
      expect(asBigInt64(total.bytes as Buffer)).toEqual([6n, 15n]);
      const positive = byName.get('positive') as BinaryOutput;
      expect(positive).toMatchObject({ datatype: 'BOOL', shape: [2, 1], parameters: { binary_data_size: 2 } });
      expect([...(positive.bytes as Buffer)]).toEqual([1, 0]);
    });

    it('carries INT64 beyond 2^53 in binary both ways, and as JSON from binary', async () => {
      const ids = BigInt64Array.of(9223372036854775807n, -9223372036854775808n, 9007199254740993n, -3n);
      const request = (binaryOut: boolean): ReturnType<typeof binaryBody> =>
        binaryBody({ inputs: [{ name: 'ids', shape: [2, 2], datatype: 'INT64', parameters: { binary_data_size: 32 } }], outputs: [{ name: 'same', parameters: { binary_data: binaryOut } }] }, [bytesOf(ids)]);
      const binary = request(true);
      const r = await rawRequest(t, 'POST', '/v2/models/echo/infer', binary.body, octet(binary.headerLength));
      expect(r.status, r.plain.toString()).toBe(200);
      const [same] = readBinaryResponse(r).outputs as [BinaryOutput];
      expect(same).toMatchObject({ name: 'same', datatype: 'INT64', shape: [2, 2], parameters: { binary_data_size: 32 } });
      expect(asBigInt64(same.bytes as Buffer)).toEqual([...ids]);
      const json = request(false);
      const j = await t.request('POST', '/v2/models/echo/infer', json.body, octet(json.headerLength));
      expect(outputText(j.body, 'same')).toContain('"data":[9223372036854775807,-9223372036854775808,9007199254740993,-3]');
    });

    it('takes and answers BOOL as one byte per element', async () => {
      const { body, headerLength } = binaryBody(
        { inputs: [{ name: 'flags', shape: [2, 2], datatype: 'BOOL', parameters: { binary_data_size: 4 } }], parameters: { binary_data_output: true } },
        [Uint8Array.of(1, 0, 0, 0)],
      );
      const r = await rawRequest(t, 'POST', '/v2/models/flags/infer', body, octet(headerLength));
      expect(r.status, r.plain.toString()).toBe(200);
      const [negated] = readBinaryResponse(r).outputs as [BinaryOutput];
      expect(negated).toMatchObject({ name: 'negated', datatype: 'BOOL', shape: [2, 2], parameters: { binary_data_size: 4 } });
      expect([...(negated.bytes as Buffer)]).toEqual([0, 1, 1, 1]);
      const json = await t.request('POST', '/v2/models/flags/infer', { inputs: [{ name: 'flags', shape: [2, 2], datatype: 'BOOL', data: [true, false, false, false] }] });
      expect(json.json()).toEqual({ model_name: 'flags', model_version: '1', outputs: [{ name: 'negated', datatype: 'BOOL', shape: [2, 2], data: [false, true, true, true] }] });
    });

    it('lets one output turn binary off when binary_data_output is on', async () => {
      const r = await rawRequest(
        t,
        'POST',
        '/v2/models/third/infer',
        JSON.stringify({
          parameters: { binary_data_output: true },
          inputs: [
            { name: 'tokens', shape: [1, 2], datatype: 'INT64', data: [1, 2] },
            { name: 'scale', shape: [1, 1], datatype: 'FP32', data: [1] },
          ],
          outputs: [{ name: 'score', parameters: { binary_data: false } }, { name: 'total' }],
        }),
        { 'content-type': 'application/json' },
      );
      const byName = new Map(readBinaryResponse(r).outputs.map((o) => [o.name, o]));
      expect(byName.get('score')).toEqual({ name: 'score', datatype: 'FP32', shape: [1, 1], data: [3] });
      expect(asBigInt64(byName.get('total')?.bytes as Buffer)).toEqual([3n]);
    });

    it('reads Inference-Header-Content-Length in the gzip-decoded body', async () => {
      const { body, headerLength } = binaryBody({ inputs: [{ ...X, parameters: { binary_data_size: 24 } }] }, [bytesOf(Float32Array.from(ROWS.flat()))]);
      const r = await t.request('POST', '/v2/models/affine/infer', gzipSync(body), { ...octet(headerLength), 'content-encoding': 'gzip' });
      expect(r.status, r.body).toBe(200);
      expect(output(r.json(), 'y').data).toEqual(Y_FLAT);
    });

    it('compresses a large binary response whole; its header length counts the decoded JSON', async () => {
      const rows = Array.from({ length: 200 }, (_, i) => [i, -i, i / 4]);
      const r = await rawRequest(t, 'POST', '/v2/models/fixed/infer', JSON.stringify({ inputs: [{ ...X, shape: [200, 3], data: rows }], parameters: { binary_data_output: true } }), {
        'content-type': 'application/json',
        'accept-encoding': 'gzip',
      });
      expect(r.status).toBe(200);
      expect(r.headers['content-encoding']).toBe('gzip');
      const [y] = readBinaryResponse(r).outputs as [BinaryOutput];
      expect(y).toMatchObject({ name: 'y', shape: [200, 3], parameters: { binary_data_size: 2400 } });
      expect(asFloat32(y.bytes as Buffer)).toEqual(rows.flat().map((x) => 2 * x + 1));
    });

    it('takes a raw binary request (Inference-Header-Content-Length: 0) for a one-input model', async () => {
      const r = await t.request('POST', '/v2/models/affine/infer', Buffer.from(bytesOf(Float32Array.from(ROWS.flat()))), octet(0));
      expect(r.status, r.body).toBe(200);
      expect(r.json()).toEqual({ model_name: 'affine', model_version: '1', outputs: [{ name: 'y', datatype: 'FP32', shape: [2, 3], data: Y_FLAT }] });
    });

    it('refuses a raw binary request that is not whole rows, or for a model with several inputs', async () => {
      expectJsonError(await t.request('POST', '/v2/models/affine/infer', Buffer.alloc(10), octet(0)), 400);
      expectJsonError(await t.request('POST', '/v2/models/third/infer', Buffer.alloc(16), octet(0)), 400);
    });

    describe('error paths: 400 and a JSON error', () => {
      const x = bytesOf(Float32Array.from(ROWS.flat()));
      const header = { inputs: [{ ...X, parameters: { binary_data_size: 24 } }] };

      it('a header length past the end of the body', async () => {
        const { body } = binaryBody(header, [x]);
        expectJsonError(await t.request('POST', '/v2/models/affine/infer', body, octet(body.byteLength + 1)), 400);
      });

      it.each(['abc', '-1', '1.5', '', '12abc', '0x10'])('a header length of %j', async (length) => {
        const { body } = binaryBody(header, [x]);
        expectJsonError(await t.request('POST', '/v2/models/affine/infer', body, octet(length)), 400);
      });

      it('a header length that cuts the JSON short', async () => {
        const { body, headerLength } = binaryBody(header, [x]);
        expectJsonError(await t.request('POST', '/v2/models/affine/infer', body, octet(headerLength - 5)), 400);
      });

      it("a binary_data_size that is not the shape's bytes", async () => {
        const { body, headerLength } = binaryBody({ inputs: [{ ...X, parameters: { binary_data_size: 20 } }] }, [x.subarray(0, 20)]);
        expect(expectJsonError(await t.request('POST', '/v2/models/affine/infer', body, octet(headerLength)), 400)).toContain('"x"');
      });

      it('sizes that do not add up to the body: bytes left over, or too few', async () => {
        const extra = binaryBody(header, [x, Uint8Array.of(0, 0, 0, 0)]);
        expectJsonError(await t.request('POST', '/v2/models/affine/infer', extra.body, octet(extra.headerLength)), 400);
        const short = binaryBody(header, [x.subarray(0, 12)]);
        expectJsonError(await t.request('POST', '/v2/models/affine/infer', short.body, octet(short.headerLength)), 400);
      });

      it('binary bytes when no input is binary', async () => {
        const { body, headerLength } = binaryBody({ inputs: [{ ...X, data: ROWS }] }, [x]);
        expectJsonError(await t.request('POST', '/v2/models/affine/infer', body, octet(headerLength)), 400);
      });

      it('both data and binary_data_size, or neither', async () => {
        const both = binaryBody({ inputs: [{ ...X, data: ROWS, parameters: { binary_data_size: 24 } }] }, [x]);
        expect(expectJsonError(await t.request('POST', '/v2/models/affine/infer', both.body, octet(both.headerLength)), 400)).toContain('"x"');
        const neither = binaryBody({ inputs: [{ ...X }] }, []);
        expectJsonError(await t.request('POST', '/v2/models/affine/infer', neither.body, octet(neither.headerLength)), 400);
      });

      it.each([-24, 2.5, '24', null])('a binary_data_size of %j', async (size) => {
        const { body, headerLength } = binaryBody({ inputs: [{ ...X, parameters: { binary_data_size: size } }] }, [x]);
        expectJsonError(await t.request('POST', '/v2/models/affine/infer', body, octet(headerLength)), 400);
      });
    });
  });

  describe('classification extension', () => {
    /** "score:index" → [score, index], checking the form. */
    const parse = (text: unknown): [number, number] => {
      expect(text).toMatch(/^-?\d+(\.\d+)?(e[+-]?\d+)?:\d+$/);
      const [score, index] = (text as string).split(':');
      return [Number(score), Number(index)];
    };

    it('answers the top k of each row as BYTES "score:index"', async () => {
      const r = await t.request('POST', '/v2/models/affine/infer', {
        inputs: [{ ...X, data: [[1, 3, 2], [0, -1, 5]] }],
        outputs: [{ name: 'y', parameters: { classification: 2 } }],
      });
      expect(r.status, r.body).toBe(200);
      const y = output(r.json(), 'y');
      expect(y.datatype).toBe('BYTES');
      expect(y.shape).toEqual([2, 2]);
      expect(y.data.map(parse)).toEqual([
        [7, 1],
        [5, 2],
        [11, 2],
        [1, 0],
      ]);
    });

    it('answers every class when k exceeds them', async () => {
      const r = await t.request('POST', '/v2/models/affine/infer', { inputs: [{ ...X, shape: [1, 3], data: [3, 1, 2] }], outputs: [{ name: 'y', parameters: { classification: 10 } }] });
      const y = output(r.json(), 'y');
      expect(y.shape).toEqual([1, 3]);
      expect(y.data.map(parse)).toEqual([
        [7, 0],
        [5, 2],
        [3, 1],
      ]);
    });

    it('sends the classes as binary BYTES: a 4-byte little-endian length before each', async () => {
      const r = await rawRequest(
        t,
        'POST',
        '/v2/models/affine/infer',
        JSON.stringify({ inputs: [{ ...X, shape: [1, 3], data: [1, 3, 2] }], outputs: [{ name: 'y', parameters: { classification: 2, binary_data: true } }] }),
        { 'content-type': 'application/json' },
      );
      expect(r.status).toBe(200);
      const [y] = readBinaryResponse(r).outputs as [BinaryOutput];
      expect(y).toMatchObject({ name: 'y', datatype: 'BYTES', shape: [1, 2] });
      const bytes = y.bytes as Buffer;
      const elements: string[] = [];
      for (let offset = 0; offset < bytes.byteLength; ) {
        const length = bytes.readUInt32LE(offset);
        elements.push(bytes.subarray(offset + 4, offset + 4 + length).toString('utf8'));
        offset += 4 + length;
      }
      expect(elements.map(parse)).toEqual([
        [7, 1],
        [5, 2],
      ]);
    });

    it('classifies each batch item over all its elements: a [batch] output gives [batch, 1]', async () => {
      const r = await t.request('POST', '/v2/models/half_plus_two/infer', { inputs: [{ name: 'x', shape: [3], datatype: 'FP32', data: [1, 2, 5] }], outputs: [{ name: 'y', parameters: { classification: 1 } }] });
      expect(r.status, r.body).toBe(200);
      const y = output(r.json(), 'y');
      expect(y.shape).toEqual([3, 1]);
      expect(y.data.map(parse)).toEqual([
        [2.5, 0],
        [3, 0],
        [4.5, 0],
      ]);
    });

    it('classifies the whole output of a model that does not batch: [k]', async () => {
      const r = await t.request('POST', '/v2/models/fixed/infer', { inputs: [{ ...X, data: [[1, 3, 2], [0, -1, 5]] }], outputs: [{ name: 'y', parameters: { classification: 2 } }] });
      expect(r.status, r.body).toBe(200);
      const y = output(r.json(), 'y');
      expect(y.shape).toEqual([2]);
      expect(y.data.map(parse)).toEqual([
        [11, 5],
        [7, 1],
      ]);
    });

    it('classifies INT64 scores, every digit kept', async () => {
      const body = '{"inputs":[{"name":"ids","shape":[1,3],"datatype":"INT64","data":[9007199254740992,9007199254740993,1]}],"outputs":[{"name":"same","parameters":{"classification":2}}]}';
      const r = await t.request('POST', '/v2/models/echo/infer', body, { 'content-type': 'application/json' });
      expect(r.status, r.body).toBe(200);
      expect(output(r.json(), 'same')).toEqual({ name: 'same', datatype: 'BYTES', shape: [1, 2], data: ['9007199254740993:1', '9007199254740992:0'] });
    });

    it('refuses to classify a BOOL output with 400', async () => {
      const r = await t.request('POST', '/v2/models/flags/infer', {
        inputs: [{ name: 'flags', shape: [1, 2], datatype: 'BOOL', data: [true, false] }],
        outputs: [{ name: 'negated', parameters: { classification: 1 } }],
      });
      expectJsonError(r, 400);
    });
  });

  describe('version routes', () => {
    it('serves a version by number, and the newest without one', async () => {
      const body = { inputs: [{ ...X, shape: [1, 3], data: [1, 2, 3] }] };
      const v1 = await t.request('POST', '/v2/models/multi/versions/1/infer', body);
      expect(v1.json()).toEqual({ model_name: 'multi', model_version: '1', outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 3], data: [3, 5, 7] }] });
      const v2 = await t.request('POST', '/v2/models/multi/versions/2/infer', body);
      expect(v2.json()).toEqual({ model_name: 'multi', model_version: '2', outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 3], data: [3, 6, 9] }] });
      const latest = await t.request('POST', '/v2/models/multi/infer', body);
      expect(latest.json()).toEqual(v2.json());
    });

    it('refuses a version that is not a number with 400', async () => {
      for (const version of ['one', '-1', '1.0', 'latest']) {
        const infer = await t.request('POST', `/v2/models/affine/versions/${version}/infer`, { inputs: [{ ...X, data: ROWS }] });
        expectJsonError(infer, 400);
        expectJsonError(await t.request('GET', `/v2/models/affine/versions/${version}`), 400);
        expectJsonError(await t.request('GET', `/v2/models/affine/versions/${version}/config`), 400);
      }
    });
  });
});

describe('OIP v2: the model repository API', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(async (repo) => {
      await writeOnnx(join(repo, 'affine', '1'), affineOnnx(3, 2, 1));
      await writeOnnx(join(repo, 'spare', '1'), thirdPartyOnnx());
      await mkdir(join(repo, 'broken', '1'), { recursive: true });
      await writeFile(join(repo, 'broken', '1', 'model.onnx'), 'not a model');
    });
  });
  afterAll(async () => t.close());

  interface IndexEntry {
    name: string;
    version?: string;
    state: string;
    reason?: string;
  }
  const index = async (body?: unknown): Promise<IndexEntry[]> => {
    const r = await t.request('POST', '/v2/repository/index', body);
    expect(r.status, r.body).toBe(200);
    expect(String(r.headers['content-type'])).toMatch(/^application\/json\b/);
    return r.json<IndexEntry[]>().sort((a, b) => a.name.localeCompare(b.name));
  };
  const spareInfer = (): Promise<Awaited<ReturnType<TestServer['request']>>> =>
    t.request('POST', '/v2/models/spare/infer', {
      inputs: [
        { name: 'tokens', shape: [1, 1], datatype: 'INT64', data: [5] },
        { name: 'scale', shape: [1, 1], datatype: 'FP32', data: [1] },
      ],
      outputs: [{ name: 'total' }],
    });

  it('indexes every model, with or without {"ready": true}; a failed load as UNAVAILABLE with its reason', async () => {
    const all = await index();
    expect(all.map((e) => [e.name, e.version, e.state])).toEqual([
      ['affine', '1', 'READY'],
      ['broken', '1', 'UNAVAILABLE'],
      ['spare', '1', 'READY'],
    ]);
    expect(all.find((e) => e.name === 'broken')?.reason).toMatch(/\S/);
    expect(await index({})).toEqual(all);
    expect(await index({ ready: true })).toEqual(all.filter((e) => e.name !== 'broken'));
    expect((await t.request('GET', '/v2/models/broken/ready')).status).toBe(400);
  });

  it('unloads a model: not ready (400), inference 503, UNAVAILABLE in the index; load makes it ready again', async () => {
    const unload = await t.request('POST', '/v2/repository/models/spare/unload', {});
    expect(unload.status, unload.body).toBe(200);
    expect((await t.request('GET', '/v2/models/spare/ready')).status).toBe(400);
    expect((await t.request('GET', '/v2/models/spare/versions/1/ready')).status).toBe(400);
    expectJsonError(await spareInfer(), 503);
    const all = await index();
    expect(all.find((e) => e.name === 'spare')?.state).toBe('UNAVAILABLE');
    expect(all.find((e) => e.name === 'affine')?.state).toBe('READY');
    expect(all.find((e) => e.name === 'spare')?.version).toBe('1');
    expect((await index({ ready: true })).map((e) => e.name)).toEqual(['affine']);
    expect((await t.request('GET', '/v2/models/affine/ready')).status).toBe(200);

    const load = await t.request('POST', '/v2/repository/models/spare/load', {});
    expect(load.status, load.body).toBe(200);
    expect((await t.request('GET', '/v2/models/spare/ready')).status).toBe(200);
    const r = await spareInfer();
    expect(r.status, r.body).toBe(200);
    expect(r.json()).toEqual({ model_name: 'spare', model_version: '1', outputs: [{ name: 'total', datatype: 'INT64', shape: [1, 1], data: [5] }] });
    expect((await index({ ready: true })).map((e) => e.name)).toEqual(['affine', 'spare']);
  });

  it('takes load and unload with no body', async () => {
    expect((await t.request('POST', '/v2/repository/models/spare/unload')).status).toBe(200);
    expect((await t.request('POST', '/v2/repository/models/spare/load')).status).toBe(200);
    expect((await spareInfer()).status).toBe(200);
  });

  it('answers a load of an unknown model with 404, whatever its name tries', async () => {
    expectJsonError(await t.request('POST', '/v2/repository/models/nosuchmodel/load', {}), 404);
    for (const name of ['..', '%2e%2e', '..%2Faffine', '%2Ftmp', 'affine%2F1', 'affine%2F..%2Fspare', encodeURIComponent(t.repo), encodeURIComponent(join(t.repo, 'affine'))]) {
      const r = await t.request('POST', `/v2/repository/models/${name}/load`, {});
      expectJsonError(r, [400, 404]);
    }
    expect((await index()).map((e) => e.name)).toEqual(['affine', 'broken', 'spare']);
  });

  it('refuses an index body that is not an object with 400', async () => {
    expectJsonError(await t.request('POST', '/v2/repository/index', '[1]', { 'content-type': 'application/json' }), 400);
    expectJsonError(await t.request('POST', '/v2/repository/index', '{"ready": "yes"}', { 'content-type': 'application/json' }), 400);
  });
});
