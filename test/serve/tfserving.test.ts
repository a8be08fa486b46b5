/**
 * Conformance of TensorFlow Serving's REST API (v1) as its server code behaves, from the serving
 * notes: status and metadata with versions as strings and `signature_def` nested twice, predict in
 * row and columnar form (half_plus_two's golden vectors), `{"b64"}` values, classify and regress
 * answering `results`, extended JSON, the request errors, version labels and policies, and
 * case-insensitive paths.
 * @module
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import { decodePredict, encodePredict } from '../../src/serve/protocols/tfserving.js';
import type { Signature } from '../../src/serve/runtimes/runtime.js';
import type { Tensor } from '../../src/serve/tensors.js';
import { standardRepo, startTestServer, writeConfig, type TestServer } from './harness.js';
import { writeOnnx } from './models.js';
import { expectEnergyHeaders, expectJsonError, runProtocolSuite } from './protocol.suite.js';
import { halfPlusOnnx, int64EchoOnnx, regressorOnnx } from './wire.js';

runProtocolSuite({
  name: 'TF Serving v1',
  inferUrl: (model, version) => `/v1/models/${model}${version === undefined ? '' : `/versions/${version}`}:predict`,
  inferBody: (rows) => ({ instances: rows }),
  readRows: (body) => (body as { predictions: number[][] }).predictions,
  statusUrl: (model, version) => `/v1/models/${model}${version === undefined ? '' : `/versions/${version}`}`,
  statusMissing: { status: 404, jsonError: true },
  metadataUrl: (model, version) => `/v1/models/${model}${version === undefined ? '' : `/versions/${version}`}/metadata`,
  invalid: {
    datatype: { instances: [['a', 'b', 'c']] },
    shape: { instances: [[1, 2]] },
    count: {
      instances: [
        [1, 2, 3],
        [1, 2],
      ],
    },
  },
  openUrls: [],
  otherRoutes: [
    ['POST', '/v1/models/affine:classify', { examples: [{ x: [1, 2, 3] }] }],
    ['POST', '/v1/models/affine:regress', { examples: [{ x: [1, 2, 3] }] }],
    ['GET', '/v1/models/affine/labels/stable', undefined],
  ],
});

/**
 * half_plus_two (y = 0.5x + 2 on x [batch]), affine, third, regress (y = x0 + 2·x1), echo (INT64 identity), and three
 * models with versions 1 (half_plus_two) and 2 (half_plus_three): latest (no config: latest(1)),
 * labelled (all, stable → 1, canary → 2) and specific (versions [1]); broken, whose file is not a model.
 */
async function tfRepo(repo: string): Promise<void> {
  await standardRepo(repo);
  await writeOnnx(join(repo, 'half_plus_two', '1'), halfPlusOnnx(2));
  await writeOnnx(join(repo, 'regress', '1'), regressorOnnx(1, 2));
  await writeOnnx(join(repo, 'echo', '1'), int64EchoOnnx());
  for (const model of ['latest', 'labelled', 'specific']) {
    await writeOnnx(join(repo, model, '1'), halfPlusOnnx(2));
    await writeOnnx(join(repo, model, '2'), halfPlusOnnx(3));
  }
  await writeConfig(repo, 'labelled', { version_policy: { all: {} }, version_labels: { stable: 1, canary: 2 } });
  await writeConfig(repo, 'specific', { version_policy: { specific: { versions: [1] } } });
  await mkdir(join(repo, 'broken', '1'), { recursive: true });
  await writeFile(join(repo, 'broken', '1', 'model.onnx'), 'not a model');
}

const HALF_PLUS_TWO = { predictions: [2.5, 3, 4.5] };
const HALF_PLUS_THREE = { predictions: [3.5, 4, 5.5] };
const available = (version: string): unknown => ({ version, state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } });

describe('TF Serving v1', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(tfRepo);
  });
  afterAll(async () => t.close());

  const predict = (url: string, body: unknown): ReturnType<TestServer['request']> => t.request('POST', url, typeof body === 'string' ? body : JSON.stringify(body), { 'content-type': 'application/json' });

  describe('model status', () => {
    it('lists each version as a string, AVAILABLE, with error_code OK', async () => {
      const r = await t.request('GET', '/v1/models/half_plus_two');
      expect(r.status).toBe(200);
      expect(String(r.headers['content-type'])).toMatch(/^application\/json\b/);
      expect(r.json()).toEqual({ model_version_status: [available('1')] });
      expect((await t.request('GET', '/v1/models/half_plus_two/versions/1')).json()).toEqual({ model_version_status: [available('1')] });
    });

    it('covers every served version when the URL names none', async () => {
      const body = (await t.request('GET', '/v1/models/labelled')).json<{ model_version_status: { version: string }[] }>();
      expect([...body.model_version_status].sort((a, b) => a.version.localeCompare(b.version))).toEqual([available('1'), available('2')]);
    });

    it('answers the version a label names; an unknown label with 400', async () => {
      expect((await t.request('GET', '/v1/models/labelled/labels/stable')).json()).toEqual({ model_version_status: [available('1')] });
      expect((await t.request('GET', '/v1/models/labelled/labels/canary')).json()).toEqual({ model_version_status: [available('2')] });
      expect(expectJsonError(await t.request('GET', '/v1/models/labelled/labels/nope'), 400)).toContain('nope');
      expectJsonError(await t.request('GET', '/v1/models/labelled/labels/constructor'), 400);
    });

    it('reports a version that failed to load as END, with its error', async () => {
      const r = await t.request('GET', '/v1/models/broken');
      expect(r.status).toBe(200);
      const [status] = r.json<{ model_version_status: { version: string; state: string; status: { error_code: string; error_message: string } }[] }>().model_version_status;
      expect(status?.version).toBe('1');
      expect(status?.state).toBe('END');
      expect(status?.status.error_code).not.toBe('OK');
      expect(status?.status.error_message).toMatch(/\S/);
    });

    it('answers an unknown model or version with 404', async () => {
      expectJsonError(await t.request('GET', '/v1/models/nosuchmodel'), 404);
      expectJsonError(await t.request('GET', '/v1/models/half_plus_two/versions/2'), 404);
    });
  });

  describe('model metadata', () => {
    const info = (name: string, dtype: string, sizes: string[]): unknown => ({ dtype, tensor_shape: { dim: sizes.map((size) => ({ size, name: '' })), unknown_rank: false }, name: `${name}:0` });

    it('half_plus_two: signature_def nested twice, DT_FLOAT, sizes as strings', async () => {
      const r = await t.request('GET', '/v1/models/half_plus_two/metadata');
      expect(r.status).toBe(200);
      expect(r.json()).toEqual({
        model_spec: { name: 'half_plus_two', signature_name: '', version: '1' },
        metadata: {
          signature_def: {
            signature_def: {
              serving_default: {
                inputs: { x: info('x', 'DT_FLOAT', ['-1']) },
                outputs: { y: info('y', 'DT_FLOAT', ['-1']) },
                method_name: 'tensorflow/serving/predict',
              },
            },
          },
        },
      });
      expect((await t.request('GET', '/v1/models/half_plus_two/versions/1/metadata')).json()).toEqual(r.json());
    });

    it('third: DT_INT64, DT_FLOAT and DT_BOOL with every dimension', async () => {
      const body = (await t.request('GET', '/v1/models/third/metadata')).json<{ metadata: { signature_def: { signature_def: { serving_default: unknown } } } }>();
      expect(body.metadata.signature_def.signature_def.serving_default).toEqual({
        inputs: { tokens: info('tokens', 'DT_INT64', ['-1', '-1']), scale: info('scale', 'DT_FLOAT', ['-1', '1']) },
        outputs: { score: info('score', 'DT_FLOAT', ['-1', '1']), total: info('total', 'DT_INT64', ['-1', '1']), positive: info('positive', 'DT_BOOL', ['-1', '1']) },
        method_name: 'tensorflow/serving/predict',
      });
    });

    it('describes the newest version, or the one a version or label names', async () => {
      const version = async (url: string): Promise<unknown> => (await t.request('GET', url)).json<{ model_spec: { version: string } }>().model_spec.version;
      expect(await version('/v1/models/labelled/metadata')).toBe('2');
      expect(await version('/v1/models/labelled/versions/1/metadata')).toBe('1');
      expect(await version('/v1/models/labelled/labels/stable/metadata')).toBe('1');
      expectJsonError(await t.request('GET', '/v1/models/labelled/labels/nope/metadata'), 400);
      expectJsonError(await t.request('GET', '/v1/models/labelled/versions/3/metadata'), 404);
    });
  });

  describe(':predict', () => {
    it('half_plus_two, row form: {"instances":[1,2,5]} → {"predictions":[2.5,3.0,4.5]}', async () => {
      const r = await predict('/v1/models/half_plus_two:predict', { instances: [1, 2, 5] });
      expect(r.status, r.body).toBe(200);
      expect(r.json()).toEqual(HALF_PLUS_TWO);
      expectEnergyHeaders(r.headers);
    });

    it('half_plus_two, row form with named instances', async () => {
      expect((await predict('/v1/models/half_plus_two:predict', { instances: [{ x: 1 }, { x: 2 }, { x: 5 }] })).json()).toEqual(HALF_PLUS_TWO);
    });

    it('half_plus_two, columnar form: a value or an object of named inputs → {"outputs": …}', async () => {
      for (const inputs of [[1, 2, 5], { x: [1, 2, 5] }]) {
        const r = await predict('/v1/models/half_plus_two:predict', { inputs });
        expect(r.status, r.body).toBe(200);
        expect(r.json()).toEqual({ outputs: [2.5, 3, 4.5] });
      }
    });

    it('half_plus_three: 3.5, 4.0, 5.5', async () => {
      expect((await predict('/v1/models/labelled/versions/2:predict', { instances: [1, 2, 5] })).json()).toEqual(HALF_PLUS_THREE);
    });

    it('answers rows of a rank-2 input row by row', async () => {
      const r = await predict('/v1/models/affine:predict', { instances: [[1, 2, 3], [-1, 0, 0.5]] });
      expect(r.json()).toEqual({ predictions: [[3, 5, 7], [-1, 1, 2]] });
      const c = await predict('/v1/models/affine:predict', { inputs: [[1, 2, 3], [-1, 0, 0.5]] });
      expect(c.json()).toEqual({ outputs: [[3, 5, 7], [-1, 1, 2]] });
    });

    it('several inputs, row form: instances are objects; predictions are objects of every output', async () => {
      const r = await predict('/v1/models/third:predict', { instances: [{ tokens: [1, 2, 3], scale: [2] }, { tokens: [4, 5, 6], scale: [-1] }] });
      expect(r.status, r.body).toBe(200);
      expect(r.json()).toEqual({
        predictions: [
          { score: [12], total: [6], positive: [true] },
          { score: [-15], total: [15], positive: [false] },
        ],
      });
    });

    it('several inputs, columnar form: "inputs" is an object; "outputs" an object of every output', async () => {
      const r = await predict('/v1/models/third:predict', { inputs: { tokens: [[1, 2, 3], [4, 5, 6]], scale: [[2], [-1]] } });
      expect(r.status, r.body).toBe(200);
      expect(r.json()).toEqual({ outputs: { score: [[12], [-15]], total: [[6], [15]], positive: [[true], [false]] } });
    });

    it('refuses instances that miss an input, name an unknown one, or disagree in shape', async () => {
      expect(expectJsonError(await predict('/v1/models/third:predict', { instances: [{ tokens: [1, 2, 3] }] }), 400)).toContain('scale');
      expect(expectJsonError(await predict('/v1/models/third:predict', { instances: [{ tokens: [1], scale: [1], extra: [1] }] }), 400)).toContain('extra');
      expectJsonError(await predict('/v1/models/third:predict', { instances: [{ tokens: [1, 2], scale: [1] }, { tokens: [1, 2, 3], scale: [1] }] }), 400);
      expectJsonError(await predict('/v1/models/third:predict', { inputs: [[1, 2, 3]] }), 400);
    });

    it('takes {"b64": …} only for string inputs: 400 on a float input', async () => {
      for (const body of [{ instances: [{ b64: 'AAAAAA==' }] }, { instances: [{ x: { b64: 'AAAAAA==' } }] }, { inputs: [{ b64: 'AAAAAA==' }] }]) {
        expect(expectJsonError(await predict('/v1/models/half_plus_two:predict', body), 400)).toContain('"x"');
      }
    });

    it('takes the default signature by name; refuses any other with 400', async () => {
      for (const signature_name of ['serving_default', '']) {
        expect((await predict('/v1/models/half_plus_two:predict', { signature_name, instances: [1, 2, 5] })).json()).toEqual(HALF_PLUS_TWO);
      }
      expect(expectJsonError(await predict('/v1/models/half_plus_two:predict', { signature_name: 'classify_x', instances: [1] }), 400)).toContain('classify_x');
    });

    it('refuses both "instances" and "inputs", neither, or an empty or non-list "instances" with 400', async () => {
      for (const body of [{ instances: [1], inputs: [1] }, {}, { signature_name: 'serving_default' }, { instances: [] }, { instances: 1 }, [1, 2], '']) {
        expectJsonError(await predict('/v1/models/half_plus_two:predict', body), 400);
      }
    });

    it('carries INT64 values beyond 2^53 exactly, both ways', async () => {
      const r = await predict('/v1/models/echo:predict', '{"instances": [[9007199254740993, -9223372036854775808], [9223372036854775807, 1]]}');
      expect(r.status, r.body).toBe(200);
      expect(r.body).toBe('{"predictions":[[9007199254740993,-9223372036854775808],[9223372036854775807,1]]}');
      const c = await predict('/v1/models/echo:predict', '{"inputs": {"ids": [[12345678901234567]]}}');
      expect(c.body).toBe('{"outputs":[[12345678901234567]]}');
    });

    it('reads extended JSON: NaN and ±Infinity in, bare NaN and ±Infinity out', async () => {
      const r = await predict('/v1/models/affine:predict', '{"instances": [[NaN, Infinity, -Infinity]]}');
      expect(r.status, r.body).toBe(200);
      expect(r.body).toBe('{"predictions":[[NaN,Infinity,-Infinity]]}');
      const c = await predict('/v1/models/half_plus_two:predict', '{"inputs": [NaN, 2]}');
      expect(c.body).toBe('{"outputs":[NaN,3]}');
    });
  });

  describe(':classify and :regress', () => {
    it('classify answers {"results": [[[label, score], …], …]}', async () => {
      const r = await predict('/v1/models/affine:classify', { examples: [{ x: [1, 2, 3] }, { x: [0, 0, 1] }] });
      expect(r.status, r.body).toBe(200);
      const body = r.json<{ results: [string, number][][] }>();
      expect(Object.keys(body)).toEqual(['results']);
      expect(body.results.map((row) => row.map(([, score]) => score))).toEqual([
        [3, 5, 7],
        [1, 1, 3],
      ]);
      for (const row of body.results) {
        expect(row.every((pair) => pair.length === 2 && typeof pair[0] === 'string')).toBe(true);
        expect(new Set(row.map(([label]) => label)).size).toBe(3);
      }
      expectEnergyHeaders(r.headers);
    });

    it('classify takes features from "context" for every example', async () => {
      const r = await predict('/v1/models/affine:classify', { context: { x: [1, 2, 3] }, examples: [{}, { x: [0, 0, 0] }] });
      expect(r.json<{ results: [string, number][][] }>().results.map((row) => row.map(([, score]) => score))).toEqual([
        [3, 5, 7],
        [1, 1, 1],
      ]);
    });

    it('regress on a model with one [batch, 1] output answers {"results": [v, …]}', async () => {
      const r = await predict('/v1/models/regress:regress', { examples: [{ x: [1, 2] }, { x: [3, -1] }] });
      expect(r.status, r.body).toBe(200);
      expect(r.json()).toEqual({ results: [5, 1] });
      expectEnergyHeaders(r.headers);
    });

    it('regress on a model with one [batch] output', async () => {
      const r = await predict('/v1/models/half_plus_two:regress', { examples: [{ x: 1 }, { x: [2] }, { x: 5 }] });
      expect(r.json()).toEqual({ results: [2.5, 3, 4.5] });
    });

    it('refuses to classify or regress with a model that cannot, with 400', async () => {
      expectJsonError(await predict('/v1/models/third:classify', { examples: [{ tokens: [1], scale: [1] }] }), 400);
      expectJsonError(await predict('/v1/models/half_plus_two:classify', { examples: [{ x: 1 }] }), 400);
      expectJsonError(await predict('/v1/models/third:regress', { examples: [{ tokens: [1], scale: [1] }] }), 400);
      expectJsonError(await predict('/v1/models/affine:regress', { examples: [{ x: [1, 2, 3] }] }), 400);
    });

    it('refuses missing or empty examples, and a missing feature, with 400', async () => {
      for (const body of [{}, { examples: [] }, { examples: [{}] }, { examples: [{ y: [1, 2] }] }]) {
        expectJsonError(await predict('/v1/models/regress:regress', body), 400);
      }
    });
  });

  describe('versions and labels', () => {
    it('refuses a version and a label together with 400', async () => {
      expectJsonError(await predict('/v1/models/labelled/versions/1/labels/stable:predict', { instances: [1] }), 400);
      expectJsonError(await predict('/v1/models/labelled/labels/stable/versions/1:predict', { instances: [1] }), 400);
      expectJsonError(await t.request('GET', '/v1/models/labelled/versions/1/labels/stable'), 400);
      expectJsonError(await t.request('GET', '/v1/models/labelled/versions/1/labels/stable/metadata'), 400);
    });

    it('serves the version a label names', async () => {
      expect((await predict('/v1/models/labelled/labels/stable:predict', { instances: [1, 2, 5] })).json()).toEqual(HALF_PLUS_TWO);
      expect((await predict('/v1/models/labelled/labels/canary:predict', { instances: [1, 2, 5] })).json()).toEqual(HALF_PLUS_THREE);
    });

    it('latest(1), the default policy, serves only the newest version', async () => {
      expect((await t.request('GET', '/v1/models/latest')).json()).toEqual({ model_version_status: [available('2')] });
      expect((await predict('/v1/models/latest:predict', { instances: [1, 2, 5] })).json()).toEqual(HALF_PLUS_THREE);
      expect((await predict('/v1/models/latest/versions/2:predict', { instances: [1, 2, 5] })).json()).toEqual(HALF_PLUS_THREE);
      expectJsonError(await predict('/v1/models/latest/versions/1:predict', { instances: [1, 2, 5] }), 404);
      expectJsonError(await t.request('GET', '/v1/models/latest/versions/1'), 404);
    });

    it('all serves every version; the newest without a version', async () => {
      expect((await predict('/v1/models/labelled/versions/1:predict', { instances: [1, 2, 5] })).json()).toEqual(HALF_PLUS_TWO);
      expect((await predict('/v1/models/labelled/versions/2:predict', { instances: [1, 2, 5] })).json()).toEqual(HALF_PLUS_THREE);
      expect((await predict('/v1/models/labelled:predict', { instances: [1, 2, 5] })).json()).toEqual(HALF_PLUS_THREE);
    });

    it('specific serves the versions listed', async () => {
      expect((await t.request('GET', '/v1/models/specific')).json()).toEqual({ model_version_status: [available('1')] });
      expect((await predict('/v1/models/specific:predict', { instances: [1, 2, 5] })).json()).toEqual(HALF_PLUS_TWO);
      expectJsonError(await predict('/v1/models/specific/versions/2:predict', { instances: [1, 2, 5] }), 404);
    });
  });

  describe('paths', () => {
    it('matches the whole pattern case-insensitively; the model name must still match its directory', async () => {
      expect((await predict('/V1/MODELS/half_plus_two:PREDICT', { instances: [1, 2, 5] })).json()).toEqual(HALF_PLUS_TWO);
      expect((await predict('/v1/Models/labelled/Versions/1:Predict', { instances: [1, 2, 5] })).json()).toEqual(HALF_PLUS_TWO);
      expect((await predict('/v1/models/labelled/LABELS/canary:predict', { instances: [1, 2, 5] })).json()).toEqual(HALF_PLUS_THREE);
      expect((await t.request('GET', '/V1/MODELS/half_plus_two')).json()).toEqual({ model_version_status: [available('1')] });
      expect((await t.request('GET', '/V1/Models/half_plus_two/METADATA')).json()).toMatchObject({ model_spec: { name: 'half_plus_two' } });
      expectJsonError(await predict('/v1/models/HALF_PLUS_TWO:predict', { instances: [1, 2, 5] }), 404);
    });

    it('URL-decodes the model name', async () => {
      expect((await predict('/v1/models/half%5Fplus%5Ftwo:predict', { instances: [1, 2, 5] })).json()).toEqual(HALF_PLUS_TWO);
    });

    it('answers a path outside its patterns with 400, as TF Serving does', async () => {
      expectJsonError(await predict('/v1/models/half_plus_two:explain', { instances: [1] }), 400);
      expectJsonError(await predict('/v1/models/half_plus_two/versions/one:predict', { instances: [1] }), 400);
      expectJsonError(await t.request('GET', '/v1/models/half_plus_two:predict'), 400);
      expectJsonError(await t.request('GET', '/v1/models'), 400);
    });
  });
});

describe('TF Serving v1: string tensors (no ONNX model here takes strings: the codec directly)', () => {
  const signature: Signature = { inputs: [{ name: 'text', datatype: 'BYTES', shape: [-1] }], outputs: [] };
  const strings = (tensor: Tensor | undefined): string[] => (tensor?.data as Uint8Array[]).map((b) => Buffer.from(b).toString('utf8'));

  it('takes {"b64": …} and plain strings for a string input, in row and columnar form', () => {
    const rows = decodePredict({ instances: [{ b64: Buffer.from('hello').toString('base64') }, 'plain'] }, signature);
    expect(strings(rows.inputs.get('text'))).toEqual(['hello', 'plain']);
    expect(rows.inputs.get('text')?.shape).toEqual([2]);
    const named = decodePredict({ instances: [{ text: { b64: 'aGk=' } }, { text: 'x' }] }, signature);
    expect(strings(named.inputs.get('text'))).toEqual(['hi', 'x']);
    const columns = decodePredict({ inputs: { text: [{ b64: 'aGk=' }, 'x'] } }, signature);
    expect(strings(columns.inputs.get('text'))).toEqual(['hi', 'x']);
  });

  it('refuses a {"b64"} value that is not base64, with 400', () => {
    const error = ((): unknown => {
      try {
        decodePredict({ instances: [{ b64: 'not base64!' }] }, signature);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(EcomlError);
    expect((error as EcomlError).httpStatus).toBe(400);
  });

  it('answers outputs whose name ends in _bytes as {"b64": …}, other strings as strings', () => {
    const request = decodePredict({ instances: ['a', 'b'] }, signature);
    const bytes = (values: string[]): Tensor => ({ datatype: 'BYTES', shape: [values.length], data: values.map((v) => new Uint8Array(Buffer.from(v))) });
    const outputs = new Map([
      ['image_bytes', bytes(['\u0000\u00ff', 'ok'])],
      ['label', bytes(['cat', 'dog'])],
    ]);
    expect(encodePredict(request, outputs)).toEqual({
      predictions: [
        { image_bytes: { b64: Buffer.from('\u0000\u00ff').toString('base64') }, label: 'cat' },
        { image_bytes: { b64: 'b2s=' }, label: 'dog' },
      ],
    });
  });
});
