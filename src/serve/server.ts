/**
 * The model server: one fastify app carrying every protocol's routes on one port, with bearer-token
 * auth, a body limit, compressed bodies both ways, one error mapping (errors.ts → status and
 * `{"error": …}`), Prometheus metrics, the repository poll, idle unloads and the meter's windows,
 * and a drain on close that answers what was accepted before it stops.
 * @module
 */
import { timingSafeEqual } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { promisify } from 'node:util';
import { deflate, gunzip, gzip, inflate } from 'node:zlib';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { EcomlError, toEcomlError } from '../errors.js';
import type { Meter } from '../meter/index.js';
import { listenFailure, startWindowLoop, type WindowLoopSummary } from '../meter/outputs/index.js';
import { EnergyLedger, type LabelledEnergy, type WindowAttribution } from './energy.js';
import { registerServeMetrics } from './metrics.js';
import { ModelManager, type ResolvedFiles, type ServeDefaults } from './models.js';
import type { InferenceAnswer, Protocol, ServeContext } from './protocols/protocol.js';
import { tfservingProtocol } from './protocols/tfserving.js';
import { v2Protocol } from './protocols/v2.js';
import { type ConfigCache, type ModelConfig, type ModelEntry, type Platform, type RepositoryScan, scanRepository, scanSingleModel } from './repository.js';
import { createOnnxRuntime } from './runtimes/onnx.js';
import type { Runtime } from './runtimes/runtime.js';
import { createTfjsRuntime } from './runtimes/tfjs.js';
import { checkInputs } from './signature.js';
import { StatsBook } from './stats.js';

export const PROTOCOLS: Readonly<Record<string, Protocol>> = Object.freeze({ tfserving: tfservingProtocol, v2: v2Protocol });

/** Where models come from: a repository of model directories, or one model directory. */
export type ModelSource = { readonly repository: string } | { readonly modelDir: string; readonly name: string };

export interface ServeOptions {
  readonly source: ModelSource;
  readonly defaults: ServeDefaults;
  readonly meter: Meter;
  readonly resolveFiles: (dir: string, config: ModelConfig) => Promise<ResolvedFiles>;
  readonly log: Logger;
  /** Seconds between repository scans; 0: scan only at start and on the repository API. */
  readonly pollIntervalS: number;
  /** Length of the meter's windows, milliseconds. */
  readonly meterIntervalMs: number;
  /** Required as `Authorization: Bearer …` on every route but health checks. */
  readonly authToken?: string;
  readonly maxBodyBytes: number;
  readonly serverVersion: string;
  readonly runtimes?: Readonly<Record<Platform, Runtime>>;
  /** Each closed meter window, shared out (to record it in the run store). */
  readonly onWindow?: (attribution: WindowAttribution) => void;
}

export interface ServeSummary extends WindowLoopSummary {
  readonly requests: number;
}

export interface ModelServer {
  readonly app: FastifyInstance;
  readonly models: ModelManager;
  /** Starts listening; returns the address. */
  listen(host: string, port: number): Promise<string>;
  /** Stops taking requests, answers those accepted (up to `drainTimeoutMs`), unloads every model and closes the last meter window. */
  close(drainTimeoutMs?: number): Promise<ServeSummary>;
}

/** Per-request bookkeeping an inference route fills in, read when the response has gone. */
interface Account {
  readonly model: string;
  readonly protocol: string;
  /** Milliseconds since the epoch. */
  readonly receivedAt: number;
  readonly startMs: number;
  version?: number;
  id?: string;
  inferences: number;
  queueMs: number;
  computeMs: number;
  energy?: LabelledEnergy;
}

declare module 'fastify' {
  interface FastifyRequest {
    inference: Account | null;
  }
}

/** Health probes stay open without the token (Kubernetes' probes carry none). */
const OPEN_PATHS = new Set(['/v2/health/live', '/v2/health/ready']);
/** The meter's window length while no model is used. */
export const IDLE_WINDOW_MS = 10_000;
/** Responses smaller than this go uncompressed: compressing them costs more than it saves. */
const COMPRESS_MIN_BYTES = 1024;

const codecs = {
  gzip: { compress: promisify(gzip), decompress: promisify(gunzip) },
  deflate: { compress: promisify(deflate), decompress: promisify(inflate) },
} as const;

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.startsWith('Bearer ') ? header.slice(7) : '', 'utf8');
  const expected = Buffer.from(token, 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Fastify's own errors (body too large, bad content length…) in the catalogue's terms. */
function fromFastify(error: FastifyError): EcomlError {
  if (error.statusCode === 413) return new EcomlError('E_PAYLOAD_TOO_LARGE', `the request body is larger than the server's limit (${error.message})`);
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) return new EcomlError('E_REQUEST_INVALID', error.message, { details: { fastify: error.code } });
  return toEcomlError(error);
}

async function scan(source: ModelSource, cache: ConfigCache): Promise<RepositoryScan> {
  if ('repository' in source) return scanRepository(source.repository, cache);
  return { models: [await scanSingleModel(source.modelDir, source.name, cache)], problems: [] };
}

export async function startServer(options: ServeOptions): Promise<ModelServer> {
  const { log, meter, defaults } = options;
  const runtimes = options.runtimes ?? { onnx: createOnnxRuntime(), tfjs: createTfjsRuntime() };
  const registry = new Registry();
  const stats = new StatsBook();
  const ledger = new EnergyLedger({
    prior: { wattsPerThread: meter.hardware.tdpWatts / meter.hardware.logicalCpus, threads: defaults.threads, model: `tdp-per-core×compute-time (${meter.hardware.cpuModel}, ${meter.hardware.tdpWatts} W TDP)` },
  });
  // Metrics read the models only when scraped, after both exist.
  const metrics = registerServeMetrics(registry, () => models.all());
  const models = new ModelManager({
    runtimes,
    defaults,
    resolveFiles: options.resolveFiles,
    log,
    onBatch(model, version, record) {
      ledger.addCompute(model, version, record.computeMs);
      metrics.batch(model, version, record);
      stats.batch(model, version, record);
    },
    onLoad(model, version, seconds, cold) {
      // Loading is the model's work too: its energy is the model's, not spread over requests' compute.
      ledger.addCompute(model, version, seconds * 1000);
      metrics.load(model, version, seconds, cold);
    },
  });

  // While nothing is asked the meter's windows grow to IDLE_WINDOW_MS, so an idle server wakes less;
  // the first request after that cuts the idle window short, so its energy stays the server's own.
  let idleWindow = false;
  let activity = false;
  const windows = startWindowLoop({
    meter,
    interval: options.meterIntervalMs,
    nextInterval: () => (idleWindow ? Math.max(IDLE_WINDOW_MS, options.meterIntervalMs) : options.meterIntervalMs),
    label: 'serve',
    onWindow(measurement) {
      const attribution = ledger.close(measurement);
      idleWindow = !activity && attribution.models.length === 0;
      activity = false;
      metrics.window(attribution);
      stats.window(attribution);
      options.onWindow?.(attribution);
    },
    onError: (error) => log.warn(`meter window failed: ${error.code}: ${error.message}`),
  });

  let started = false;
  let draining = false;
  const configs: ConfigCache = new Map();
  const initial = await scan(options.source, configs).catch(async (error: unknown) => {
    await windows.stop();
    throw error;
  });
  for (const problem of initial.problems) log.warn(problem);
  models.apply(initial, { initial: true });

  const sendError = (caught: FastifyError | EcomlError, request: FastifyRequest, reply: FastifyReply): void => {
    const error = caught instanceof EcomlError ? caught : fromFastify(caught);
    if (error.code === 'E_INTERNAL' || error.code === 'E_ENGINE_FAILED') log.error({ url: request.url, err: caught }, error.message);
    void reply.code(error.httpStatus).type('application/json').send(JSON.stringify({ error: error.message }));
  };
  const app = Fastify({
    logger: false,
    bodyLimit: options.maxBodyBytes,
    routerOptions: { caseSensitive: false, maxParamLength: 512 },
    return503OnClosing: true,
    // The router's own refusals (bad percent-encoding, a parameter over maxParamLength) skip the error handler.
    frameworkErrors: sendError,
    // Bytes that are not HTTP never reach fastify's handlers: answer them in the same {"error"} shape.
    clientErrorHandler(error: NodeJS.ErrnoException, socket) {
      if (!socket.writable) return;
      const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      const body = JSON.stringify({ error: `malformed HTTP request (${error.code ?? error.message})` });
      socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    },
  });
  app.decorateRequest('inference', null);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
    const encoding = String(request.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding === 'identity') return done(null, body);
    const codec = encoding === 'gzip' || encoding === 'deflate' ? codecs[encoding] : undefined;
    if (codec === undefined) return done(new EcomlError('E_REQUEST_INVALID', `Content-Encoding "${encoding}" is not supported; use gzip, deflate or none`));
    codec.decompress(body as Buffer, { maxOutputLength: options.maxBodyBytes }).then(
      (plain) => done(null, plain),
      (error: NodeJS.ErrnoException) =>
        done(
          error.code === 'ERR_BUFFER_TOO_LARGE'
            ? new EcomlError('E_PAYLOAD_TOO_LARGE', `the request body decompresses to more than the server's limit of ${options.maxBodyBytes} bytes`)
            : new EcomlError('E_REQUEST_INVALID', `the ${encoding} request body cannot be decompressed: ${error.message}`),
        ),
    );
  });

  if (options.authToken !== undefined) {
    const token = options.authToken;
    app.addHook('onRequest', async (request, reply) => {
      if (OPEN_PATHS.has(request.url.split('?', 1)[0] as string)) return;
      if (tokenMatches(request.headers.authorization, token)) return;
      reply.header('WWW-Authenticate', 'Bearer');
      throw new EcomlError('E_UNAUTHORIZED', request.headers.authorization ? 'the bearer token is not valid' : 'this server needs "Authorization: Bearer <token>"');
    });
  }

  app.setErrorHandler(sendError);
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).type('application/json').send(JSON.stringify({ error: `no such endpoint: ${request.method} ${request.url.split('?', 1)[0]}` }));
  });

  app.addHook('onSend', (request, reply, payload, done) => {
    const accept = request.headers['accept-encoding'];
    const size = typeof payload === 'string' ? Buffer.byteLength(payload) : Buffer.isBuffer(payload) ? payload.byteLength : 0;
    const encoding = accept === undefined || size < COMPRESS_MIN_BYTES || reply.hasHeader('content-encoding') ? undefined : /\bgzip\b/.test(accept) ? 'gzip' : /\bdeflate\b/.test(accept) ? 'deflate' : undefined;
    if (encoding === undefined) return done(null, payload);
    reply.header('content-encoding', encoding);
    reply.header('vary', 'accept-encoding');
    codecs[encoding].compress(typeof payload === 'string' ? Buffer.from(payload) : (payload as Buffer)).then(
      (compressed) => done(null, compressed),
      (error: Error) => done(error),
    );
  });

  app.addHook('onResponse', (request, reply, done) => {
    const a = request.inference;
    if (a !== null) account(a, reply.statusCode);
    done();
  });

  /** Books an answered inference request: metrics, statistics and its place in the energy ledger. */
  const account = (a: Account, status: number): void => {
    const ms = performance.now() - a.startMs;
    metrics.request(a.model, a.version, a.protocol, status, ms / 1000, a.energy);
    if (a.version === undefined) return;
    stats.request(a.model, a.version, status < 400, ms, a.receivedAt + ms);
    ledger.addRequest({
      model: a.model,
      version: a.version,
      protocol: a.protocol,
      ...(a.id !== undefined ? { id: a.id } : {}),
      status,
      receivedAt: a.receivedAt,
      inferences: status < 400 ? a.inferences : 0,
      queueMs: a.queueMs,
      computeMs: a.computeMs,
    });
  };

  const ctx: ServeContext = {
    serverName: 'ecoml',
    serverVersion: options.serverVersion,
    models,
    stats,
    ready: () => started && !draining,
    async rescan(name) {
      if ('modelDir' in options.source) return name === options.source.name ? scanSingleModel(options.source.modelDir, name, configs) : undefined;
      return (await scanRepository(options.source.repository, configs)).models.find((m) => m.name === name);
    },
    index: async (): Promise<readonly ModelEntry[]> => (await scan(options.source, configs)).models,
    async infer(request, target, decode): Promise<InferenceAnswer> {
      activity = true;
      if (idleWindow) {
        idleWindow = false;
        windows.cut();
      }
      const account: Account = { model: target.model, protocol: target.protocol, receivedAt: Date.now(), startMs: performance.now(), inferences: 0, queueMs: 0, computeMs: 0 };
      request.inference = account;
      const lease = await models.acquire(target.model, target);
      account.version = lease.version;
      try {
        const decoded = decode(lease.signature, lease.batching);
        checkInputs(lease.signature, decoded.inputs);
        account.inferences = decoded.inferences;
        if (decoded.id !== undefined) account.id = decoded.id;
        const answer = await lease.batcher.submit({ inputs: decoded.inputs, outputs: decoded.outputs, ...(decoded.timeoutMs !== undefined ? { timeoutMs: decoded.timeoutMs } : {}) });
        account.queueMs = answer.queueMs;
        account.computeMs = answer.computeMs;
        const energy = ledger.estimate(answer.computeMs);
        account.energy = energy;
        return { model: target.model, version: lease.version, signature: lease.signature, outputs: answer.outputs, energy };
      } finally {
        lease.release();
      }
    },
    energyHeaders(reply, energy) {
      reply.header('ecoml-energy-joules', energy.joules.toPrecision(6));
      reply.header('ecoml-energy-joules-low', energy.low.toPrecision(6));
      reply.header('ecoml-energy-joules-high', energy.high.toPrecision(6));
      reply.header('ecoml-energy-method', energy.method);
      reply.header('ecoml-emissions-kg', energy.kgCo2e.toPrecision(6));
    },
  };

  app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  for (const protocol of Object.values(PROTOCOLS)) protocol.register(app, ctx);

  // One timer does the polling and the idle sweep: an idle server wakes once per interval, no more.
  let lastScan = initial;
  const tick = setInterval(
    () => {
      models.sweepIdle();
      if (options.pollIntervalS <= 0) return;
      void scan(options.source, configs).then(
        (next) => {
          for (const problem of next.problems) if (!lastScan.problems.includes(problem)) log.warn(problem);
          lastScan = next;
          models.apply(next);
        },
        (error: unknown) => log.warn(`repository scan failed: ${(error as Error).message}`),
      );
    },
    Math.max(100, (options.pollIntervalS > 0 ? options.pollIntervalS : 1) * 1000),
  );
  tick.unref();

  await models.settled();
  started = true;

  let closing: Promise<ServeSummary> | undefined;
  return {
    app,
    models,
    async listen(host, port) {
      try {
        return await app.listen({ host, port });
      } catch (error) {
        throw listenFailure({ host, port }, error);
      }
    },
    close(drainTimeoutMs = 30_000) {
      closing ??= (async () => {
        draining = true;
        clearInterval(tick);
        // app.close stops accepting and waits for the requests in flight; a stuck one is cut off after the timeout.
        const cutoff = setTimeout(() => app.server.closeAllConnections(), drainTimeoutMs);
        const closingApp = app.close();
        // Requests held back to fill a batch are answered now, not after their queue delay.
        models.flushQueues();
        await closingApp;
        clearTimeout(cutoff);
        await models.close();
        const summary = await windows.stop();
        return { ...summary, requests: stats.select().reduce((n, s) => n + s.success.count + s.fail.count, 0) };
      })();
      return closing;
    },
  };
}

