/**
 * What every wire protocol of the model server must do alike, run once per protocol through an
 * adapter that knows how that protocol spells a request and reads a response: errors as
 * `{"error": …}` JSON with the status the specs give (404 unknown model or version, 400 malformed
 * JSON or a tensor that does not fit, 413 too large, 401 without the bearer token), gzip both
 * ways, the energy headers on every answer, and model names that try to climb out of the
 * repository. Every server here holds `affine` (y = 2x + 1 on x FP32 [batch, 3]).
 * @module
 */
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../cli/helpers.js';
import { startTestServer, type TestServer } from './harness.js';
import { affineOnnx, writeOnnx } from './models.js';
import { rawRequest } from './wire.js';

export interface ProtocolAdapter {
  readonly name: string;
  /** The inference route of `model` (a URL segment, already percent-encoded) and optional version. */
  inferUrl(model: string, version?: string): string;
  /** A request computing `affine` on these rows of x. */
  inferBody(rows: readonly (readonly number[])[]): unknown;
  /** The rows of y from a successful response's parsed body. */
  readRows(body: unknown): number[][];
  /** The model status route (TF Serving's status, OIP's model ready). */
  statusUrl(model: string, version?: string): string;
  /** How the status route answers for a model or version it does not serve: status, and whether the body is a JSON error. */
  readonly statusMissing: { readonly status: number; readonly jsonError: boolean };
  metadataUrl(model: string, version?: string): string;
  /** Requests for `affine` whose input "x" has the wrong datatype, the wrong shape, or too few elements for its shape. */
  readonly invalid: Readonly<Record<'datatype' | 'shape' | 'count', unknown>>;
  /** Routes that answer without the bearer token. */
  readonly openUrls: readonly string[];
  /** The protocol's other routes, which need the token like every model route. */
  readonly otherRoutes: readonly (readonly ['GET' | 'POST', string, unknown])[];
}

type Response = Awaited<ReturnType<TestServer['request']>>;

/** A JSON error response: the status, `application/json`, and a body of exactly `{"error": "<non-empty>"}`. */
export function expectJsonError(response: Response, status: number | readonly number[]): string {
  const statuses = typeof status === 'number' ? [status] : status;
  expect(statuses, `status ${response.status}, body ${response.body}`).toContain(response.status);
  expect(String(response.headers['content-type'])).toMatch(/^application\/json\b/);
  const body = response.json<Record<string, unknown>>();
  expect(Object.keys(body)).toEqual(['error']);
  expect(typeof body.error).toBe('string');
  expect((body.error as string).length).toBeGreaterThan(0);
  return body.error as string;
}

/** The energy headers every successful inference carries (this VM has no RAPL, so they are estimates). */
export function expectEnergyHeaders(headers: Readonly<Record<string, unknown>>): void {
  const joules = Number(headers['ecoml-energy-joules']);
  const low = Number(headers['ecoml-energy-joules-low']);
  const high = Number(headers['ecoml-energy-joules-high']);
  expect(Number.isFinite(joules) && joules > 0, `ecoml-energy-joules: ${String(headers['ecoml-energy-joules'])}`).toBe(true);
  expect(Number.isFinite(low) && low >= 0, `ecoml-energy-joules-low: ${String(headers['ecoml-energy-joules-low'])}`).toBe(true);
  expect(low).toBeLessThanOrEqual(joules);
  expect(joules).toBeLessThanOrEqual(high);
  expect(headers['ecoml-energy-method']).toBe('estimated');
}

/** Only what the suite uses: each model loaded costs a worker thread and a session. */
const affineRepo = async (repo: string): Promise<void> => {
  await writeOnnx(join(repo, 'affine', '1'), affineOnnx(3, 2, 1));
};

const ROWS = [
  [1, 2, 3],
  [-1, 0, 0.5],
];
const Y = [
  [3, 5, 7],
  [-1, 1, 2],
];

export function runProtocolSuite(adapter: ProtocolAdapter): void {
  const json = (body: unknown): string => JSON.stringify(body);

  describe(`${adapter.name}: behaviour every protocol shares`, () => {
    let t: TestServer;
    let outside: string;
    beforeAll(async () => {
      // A servable model just outside the repository: a name that climbed out would find it.
      outside = await tempDir('ecoml-outside-');
      await writeOnnx(join(outside, '1'), affineOnnx(3, 2, 1));
      t = await startTestServer(async (repo) => {
        await affineRepo(repo);
        // A directory inside a model directory that is not a version: not a model either.
        await writeOnnx(join(repo, 'affine', 'nested', '1'), affineOnnx(3, 2, 1));
      });
    });
    afterAll(async () => {
      await t.close();
      await rm(outside, { recursive: true, force: true });
    });

    it('answers an inference: y = 2x + 1, with the energy headers', async () => {
      const r = await t.request('POST', adapter.inferUrl('affine'), adapter.inferBody(ROWS));
      expect(r.status, r.body).toBe(200);
      expect(String(r.headers['content-type'])).toMatch(/^application\/json\b/);
      expect(adapter.readRows(r.json())).toEqual(Y);
      expectEnergyHeaders(r.headers);
    });

    it('puts the energy headers on every successful inference, one row or many', async () => {
      for (const rows of [[[0, 0, 0]], Array.from({ length: 7 }, (_, i) => [i, i, i])]) {
        const r = await t.request('POST', adapter.inferUrl('affine'), adapter.inferBody(rows));
        expect(r.status, r.body).toBe(200);
        expectEnergyHeaders(r.headers);
      }
    });

    it('puts no energy headers on a failed request', async () => {
      const r = await t.request('POST', adapter.inferUrl('affine'), adapter.invalid.shape);
      expectJsonError(r, 400);
      expect(r.headers['ecoml-energy-joules']).toBeUndefined();
    });

    it('answers an unknown model with 404 and a JSON error, on inference and metadata', async () => {
      expect(expectJsonError(await t.request('POST', adapter.inferUrl('nosuchmodel'), adapter.inferBody(ROWS)), 404)).toContain('nosuchmodel');
      expectJsonError(await t.request('GET', adapter.metadataUrl('nosuchmodel')), 404);
      const status = await t.request('GET', adapter.statusUrl('nosuchmodel'));
      expect(status.status).toBe(adapter.statusMissing.status);
      if (adapter.statusMissing.jsonError) expectJsonError(status, adapter.statusMissing.status);
    });

    it('answers an unknown version with 404 on inference and metadata', async () => {
      expectJsonError(await t.request('POST', adapter.inferUrl('affine', '7'), adapter.inferBody(ROWS)), 404);
      expectJsonError(await t.request('GET', adapter.metadataUrl('affine', '7')), 404);
      const status = await t.request('GET', adapter.statusUrl('affine', '7'));
      expect(status.status).toBe(adapter.statusMissing.status);
      if (adapter.statusMissing.jsonError) expectJsonError(status, adapter.statusMissing.status);
    });

    it('serves the version it is asked for', async () => {
      const r = await t.request('POST', adapter.inferUrl('affine', '1'), adapter.inferBody(ROWS));
      expect(r.status, r.body).toBe(200);
      expect(adapter.readRows(r.json())).toEqual(Y);
      expect((await t.request('GET', adapter.statusUrl('affine', '1'))).status).toBe(200);
      expect((await t.request('GET', adapter.metadataUrl('affine', '1'))).status).toBe(200);
    });

    it('answers malformed JSON with 400 and a JSON error', async () => {
      for (const body of [json(adapter.inferBody(ROWS)).slice(0, -3), '{"a": }', 'not json', '{"a": 1} trailing']) {
        expectJsonError(await t.request('POST', adapter.inferUrl('affine'), body, { 'content-type': 'application/json' }), 400);
      }
    });

    it.each(['datatype', 'shape', 'count'] as const)('answers an input with the wrong %s with 400 naming the input', async (what) => {
      const r = await t.request('POST', adapter.inferUrl('affine'), adapter.invalid[what]);
      expect(expectJsonError(r, 400)).toContain('"x"');
    });

    it('accepts a gzip-compressed request body (Content-Encoding: gzip)', async () => {
      const body = gzipSync(Buffer.from(json(adapter.inferBody(ROWS))));
      const r = await t.request('POST', adapter.inferUrl('affine'), body, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      expect(r.status, r.body).toBe(200);
      expect(adapter.readRows(r.json())).toEqual(Y);
    });

    it('answers a body that is not the gzip it claims with 400', async () => {
      const r = await t.request('POST', adapter.inferUrl('affine'), json(adapter.inferBody(ROWS)), { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      expectJsonError(r, 400);
    });

    it('compresses a large response when the client accepts gzip, and only then', async () => {
      // 60 rows: under the default max_batch_size of 64, and a response well over 1 KiB.
      const rows = Array.from({ length: 60 }, (_, i) => [i + 0.125, i + 0.5, -i - 0.25]);
      const expected = rows.map((row) => row.map((x) => 2 * x + 1));
      const body = json(adapter.inferBody(rows));
      const gz = await rawRequest(t, 'POST', adapter.inferUrl('affine'), body, { 'content-type': 'application/json', 'accept-encoding': 'gzip' });
      expect(gz.status).toBe(200);
      expect(gz.headers['content-encoding']).toBe('gzip');
      expect(gz.raw.byteLength).toBeLessThan(gz.plain.byteLength);
      expect(adapter.readRows(JSON.parse(gz.plain.toString('utf8')))).toEqual(expected);
      expectEnergyHeaders(gz.headers);
      const plain = await rawRequest(t, 'POST', adapter.inferUrl('affine'), body, { 'content-type': 'application/json' });
      expect(plain.status).toBe(200);
      expect(plain.headers['content-encoding']).toBeUndefined();
      expect(adapter.readRows(JSON.parse(plain.raw.toString('utf8')))).toEqual(expected);
    });

    it('never lets a model name reach outside the repository: 404 or 400, never a model, never 500', async () => {
      const name = basename(outside);
      const segments = [
        '..',
        '.',
        '%2e%2e',
        '%2E%2E',
        '%2F',
        '%2Fetc%2Fpasswd',
        '..%2F..%2F..%2Fetc%2Fpasswd',
        `..%2F${name}`,
        `%2e%2e%2f${name}`,
        encodeURIComponent(outside),
        `affine%2Fnested`,
        `affine%2F..%2Faffine`,
        '%00affine',
        '%',
        '%C0%AE%C0%AE',
        '%E0%A4',
      ];
      for (const segment of segments) {
        const infer = await t.request('POST', adapter.inferUrl(segment), adapter.inferBody(ROWS));
        expectJsonError(infer, [400, 404]);
        expectJsonError(await t.request('GET', adapter.metadataUrl(segment)), [400, 404]);
        const status = await t.request('GET', adapter.statusUrl(segment));
        expect([400, 404], `${adapter.statusUrl(segment)}: ${status.status} ${status.body}`).toContain(status.status);
      }
    });
  });

  describe(`${adapter.name}: the body limit`, () => {
    let t: TestServer;
    beforeAll(async () => {
      t = await startTestServer(affineRepo, { serve: { maxBodyBytes: 1024 } });
    });
    afterAll(async () => t.close());

    it('takes a body under the limit', async () => {
      const r = await t.request('POST', adapter.inferUrl('affine'), adapter.inferBody(ROWS));
      expect(r.status, r.body).toBe(200);
    });

    it('answers a body over the limit with 413 and a JSON error', async () => {
      const rows = Array.from({ length: 100 }, (_, i) => [i, i, i]);
      const body = json(adapter.inferBody(rows));
      expect(body.length).toBeGreaterThan(1024);
      expectJsonError(await t.request('POST', adapter.inferUrl('affine'), body, { 'content-type': 'application/json' }), 413);
    });

    it('answers a small gzip body that inflates past the limit with 413', async () => {
      const rows = Array.from({ length: 400 }, () => [1, 1, 1]);
      const body = gzipSync(Buffer.from(json(adapter.inferBody(rows))));
      expect(body.byteLength).toBeLessThan(1024);
      expectJsonError(await t.request('POST', adapter.inferUrl('affine'), body, { 'content-type': 'application/json', 'content-encoding': 'gzip' }), 413);
    });
  });

  describe(`${adapter.name}: the bearer token`, () => {
    let t: TestServer;
    beforeAll(async () => {
      t = await startTestServer(affineRepo, { serve: { authToken: 't' } });
    });
    afterAll(async () => t.close());

    it('refuses every model route without the token: 401, WWW-Authenticate: Bearer, a JSON error', async () => {
      const requests: (readonly ['GET' | 'POST', string, unknown])[] = [
        ['POST', adapter.inferUrl('affine'), adapter.inferBody(ROWS)],
        ['GET', adapter.statusUrl('affine'), undefined],
        ['GET', adapter.metadataUrl('affine'), undefined],
        ['POST', adapter.inferUrl('nosuchmodel'), adapter.inferBody(ROWS)],
        ...adapter.otherRoutes,
      ];
      for (const [method, url, body] of requests) {
        for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 't' }, { authorization: 'Basic dDp0' }] as Record<string, string>[]) {
          const r = await t.request(method, url, body, headers);
          expectJsonError(r, 401);
          expect(r.headers['www-authenticate']).toBe('Bearer');
          expect(r.headers['ecoml-energy-joules']).toBeUndefined();
        }
      }
    });

    it('answers with the token (what was refused did nothing)', async () => {
      const r = await t.request('POST', adapter.inferUrl('affine'), adapter.inferBody(ROWS), { authorization: 'Bearer t' });
      expect(r.status, r.body).toBe(200);
      expect(adapter.readRows(r.json())).toEqual(Y);
      expect((await t.request('GET', adapter.statusUrl('affine'), undefined, { authorization: 'Bearer t' })).status).toBe(200);
      expect((await t.request('GET', adapter.metadataUrl('affine'), undefined, { authorization: 'Bearer t' })).status).toBe(200);
    });

    it('leaves the health routes open', async () => {
      for (const url of ['/v2/health/live', '/v2/health/ready', ...adapter.openUrls]) {
        const r = await t.request('GET', url);
        expect(r.status, url).toBe(200);
      }
    });
  });
}

