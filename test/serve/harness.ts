/**
 * A model server for tests: a temporary repository filled by the test, the real runtimes, a real
 * meter (its estimates: this machine has no RAPL) and fastify's inject, so no port is opened unless
 * a test listens.
 * @module
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { createMeter, type Meter } from '../../src/meter/index.js';
import { createFileResolver, DEFAULT_SERVE, startServer, type ModelServer, type ServeDefaults, type ServeOptions } from '../../src/serve/index.js';
import { tempDir } from '../cli/helpers.js';
import { affineOnnx, thirdPartyOnnx, writeOnnx } from './models.js';

export interface TestServer {
  readonly server: ModelServer;
  readonly repo: string;
  readonly meter: Meter;
  /** fastify inject, JSON body in and the response out. */
  request(method: 'GET' | 'POST', url: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; headers: Record<string, unknown>; body: string; json<T = unknown>(): T }>;
  close(): Promise<void>;
}

export type RepoWriter = (repo: string) => Promise<unknown>;

/** affine/1 (y = 2x + 1 on [batch, 3]) and third/1 (the third-party model: int64 tokens, float scale). */
export const standardRepo: RepoWriter = async (repo) => {
  await writeOnnx(join(repo, 'affine', '1'), affineOnnx(3, 2, 1));
  await writeOnnx(join(repo, 'third', '1'), thirdPartyOnnx());
};

export async function writeConfig(repo: string, model: string, config: Record<string, unknown>): Promise<void> {
  await mkdir(join(repo, model), { recursive: true });
  await writeFile(join(repo, model, 'config.json'), JSON.stringify(config));
}

export async function startTestServer(
  fill: RepoWriter = standardRepo,
  options: { readonly defaults?: Partial<ServeDefaults>; readonly serve?: Partial<Omit<ServeOptions, 'defaults'>> } = {},
): Promise<TestServer> {
  const repo = await tempDir('ecoml-repo-');
  await fill(repo);
  const meter = await createMeter({ nvml: false, env: {} });
  let server: ModelServer;
  try {
    server = await startServer({
      source: { repository: repo },
      defaults: { ...DEFAULT_SERVE, ...options.defaults },
      meter,
      resolveFiles: createFileResolver({ toOnnx: async () => ({ unsupported: 'no converter in these tests' }) }),
      log: pino({ level: 'silent' }),
      pollIntervalS: 0,
      meterIntervalMs: 1000,
      maxBodyBytes: 8 * 2 ** 20,
      serverVersion: 'test',
      ...options.serve,
    });
  } catch (error) {
    await meter.close();
    throw error;
  }
  return {
    server,
    repo,
    meter,
    async request(method, url, body, headers = {}) {
      const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      const response = await server.app.inject({ method, url, headers, ...(payload !== undefined ? { payload } : {}) });
      return { status: response.statusCode, headers: response.headers as Record<string, unknown>, body: response.body, json: <T>() => JSON.parse(response.body) as T };
    },
    async close() {
      await server.close(1000);
      await meter.close();
    },
  };
}
