/**
 * `ecoml serve`: the model server, until SIGINT or SIGTERM, which drain it. Logs go to stderr
 * (JSON lines, or one readable line each on a terminal); the result is the session's totals.
 * @module
 */
import type { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { EcomlError } from '../../errors.js';
import type { Measurement } from '../../meter/index.js';
import { DEFAULT_SERVE } from '../../serve/index.js';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_POLL_S, startServing } from '../../workflows/serve.js';
import { numberOption, stringOption } from '../args.js';
import type { OptionValues } from '../command.js';
import { defineCommand } from '../command.js';
import { formatComponents, formatEnergy } from '../format.js';
import { packageVersion } from '../version.js';
import { meteredJson, workspaceFrom, type MeteredJson } from './shared.js';

export const DEFAULT_SERVE_PORT = 8501;
export const DEFAULT_SERVE_HOST = '127.0.0.1';
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'silent'] as const;

export interface ServeResult extends Partial<MeteredJson> {
  readonly run_id: string;
  readonly address: string;
  readonly models: readonly string[];
  readonly requests: number;
  readonly windows: number;
  readonly run_seconds?: number;
}

const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** A byte count: a plain number, or one with a K, M, G or T suffix (binary: 1K = 1024). */
export function sizeOption(values: OptionValues, name: string): number | undefined {
  const raw = stringOption(values, name);
  if (raw === undefined) return undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(raw);
  const bytes = match === null ? NaN : Number(match[1]) * (SIZE_UNITS[(match[2] ?? '').toLowerCase()] as number);
  if (!(Number.isFinite(bytes) && bytes >= 1)) {
    throw new EcomlError('E_CONFIG_INVALID', `--${name} must be a size such as 512M, 2G or a number of bytes, got "${raw}"`, { details: { option: name, value: raw } });
  }
  return Math.floor(bytes);
}

/** JSON lines for machines; on a terminal, `HH:MM:SS level message key=value…`. */
function createLogger(stream: Writable, isTTY: boolean, level: string): Logger {
  if (!isTTY) return pino({ level, base: { pid: process.pid } }, stream);
  const readable = {
    write(line: string) {
      const { time, level: n, msg, pid: _pid, hostname: _host, ...fields } = JSON.parse(line) as Record<string, unknown>;
      const name = pino.levels.labels[n as number] ?? String(n);
      const extra = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
      stream.write(`${new Date(time as number).toISOString().slice(11, 19)} ${name.padEnd(5)} ${String(msg)}${extra.length ? `  ${extra.join(' ')}` : ''}\n`);
    },
  };
  return pino({ level }, readable);
}

function abortion(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

function onOff(values: OptionValues, name: string): boolean | undefined {
  const raw = stringOption(values, name);
  if (raw === undefined) return undefined;
  if (raw === 'on' || raw === 'off') return raw === 'on';
  throw new EcomlError('E_CONFIG_INVALID', `--${name} must be on or off, got "${raw}"`, { details: { option: name, value: raw } });
}

export default defineCommand<ServeResult>({
  name: 'serve',
  summary: 'Serve models over TF Serving REST (/v1) and the Open Inference Protocol (/v2, KServe/Triton), with energy per model and request.',
  usage: 'ecoml serve (--model-repository DIR | MODEL_DIR) [--port N] [--host ADDR] [options]',
  description: [
    'DIR holds <model>/<version>/ directories, each with model.onnx (any ONNX model), an ecoml model (served through its ONNX export, made and cached on first load) or TF.js layers files; <model>/config.pbtxt (Triton) or config.json sets batching, version policy, labels, threads, instances and idle timeout.',
    'The repository is polled; new versions are loaded, warmed up and switched in, old ones unloaded once their requests are answered. Every inference response carries ecoml-energy-joules (and -low, -high, -method); /metrics has per-model joules and CO2e.',
    'SIGINT or SIGTERM stops taking requests, answers those accepted, and exits.',
  ].join(' '),
  options: {
    'model-repository': { type: 'string', valueName: 'DIR', description: 'a repository of <model>/<version>/ directories' },
    name: { type: 'string', valueName: 'NAME', description: 'the name MODEL_DIR is served under (default: its directory name)' },
    host: { type: 'string', valueName: 'ADDR', description: `address to listen on (default ${DEFAULT_SERVE_HOST}; 0.0.0.0 exposes it to the network)` },
    port: { type: 'string', valueName: 'N', description: `port (default ${DEFAULT_SERVE_PORT}, TF Serving's REST port; 0 picks a free one)` },
    threads: { type: 'string', valueName: 'N', description: `intra-op threads per model instance (default ${DEFAULT_SERVE.threads})` },
    instances: { type: 'string', valueName: 'N', description: `instances (worker threads) per model version (default ${DEFAULT_SERVE.instances})` },
    batching: { type: 'string', valueName: 'on|off', description: 'dynamic batching for models whose config does not say (default on: requests queued behind a busy instance run together)' },
    'max-batch-size': { type: 'string', valueName: 'N', description: `largest batch, in samples (default ${DEFAULT_SERVE.maxBatchSize})` },
    'max-queue-delay': { type: 'string', valueName: 'MS', description: `how long a request may wait for others to batch with (default ${DEFAULT_SERVE.maxQueueDelayMs})` },
    'max-queue-size': { type: 'string', valueName: 'N', description: `requests a model queues before answering 503 (default ${DEFAULT_SERVE.maxQueueSize})` },
    'request-timeout': { type: 'string', valueName: 'MS', description: `time to answer a request before a 504 (default ${DEFAULT_SERVE.timeoutMs})` },
    'idle-unload': { type: 'string', valueName: 'S', description: `unload a model after S seconds without requests; it reloads on the next (default ${DEFAULT_SERVE.idleTimeoutS}; 0: never)` },
    'max-memory': { type: 'string', valueName: 'SIZE', description: 'memory budget for loaded models (e.g. 2G): least recently used models are unloaded to make room' },
    poll: { type: 'string', valueName: 'S', description: `seconds between repository scans (default ${DEFAULT_POLL_S}; 0: only at start and on the load API)` },
    'auth-token': { type: 'string', valueName: 'TOKEN', description: 'require "Authorization: Bearer TOKEN" (default $ECOML_SERVE_TOKEN; health checks stay open)' },
    'max-body-size': { type: 'string', valueName: 'SIZE', description: `largest request body, before 413 (default ${DEFAULT_MAX_BODY_BYTES / 2 ** 20}M)` },
    'drain-timeout': { type: 'string', valueName: 'S', description: 'on SIGTERM, seconds to answer requests in flight before closing their connections (default 30)' },
    'meter-interval': { type: 'string', valueName: 'MS', description: 'length of the meter windows energy is shared out over (default 1000)' },
    'log-level': { type: 'string', valueName: 'LEVEL', description: `${LOG_LEVELS.join(', ')} (default info)` },
    store: { type: 'string', valueName: 'DIR', description: 'run store directory (default .ecoml, or $ECOML_STORE); converted models are cached there' },
    country: { type: 'string', valueName: 'CODE', description: 'grid country for CO2e, ISO 3166 alpha-2/3 (default $ECOML_COUNTRY, else world average)' },
    pue: { type: 'string', valueName: 'X', description: 'data-centre power usage effectiveness (default $ECOML_PUE, else 1.0)' },
  },
  async run({ positionals, values }, ctx) {
    const repository = stringOption(values, 'model-repository');
    const modelDir = positionals[0];
    if ((repository === undefined) === (modelDir === undefined)) throw new EcomlError('E_CONFIG_INVALID', 'give either --model-repository DIR or one MODEL_DIR (see --help)');
    const host = stringOption(values, 'host') ?? DEFAULT_SERVE_HOST;
    const port = numberOption(values, 'port', { integer: true, min: 0, max: 65535 }) ?? DEFAULT_SERVE_PORT;
    const level = stringOption(values, 'log-level') ?? 'info';
    if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new EcomlError('E_CONFIG_INVALID', `--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${level}"`);
    const batching = onOff(values, 'batching');
    const defaults = {
      ...optional('threads', numberOption(values, 'threads', { integer: true, min: 1 })),
      ...optional('instances', numberOption(values, 'instances', { integer: true, min: 1 })),
      ...optional('batching', batching),
      ...optional('maxBatchSize', numberOption(values, 'max-batch-size', { integer: true, min: 1 })),
      ...optional('maxQueueDelayMs', numberOption(values, 'max-queue-delay', { min: 0 })),
      ...optional('maxQueueSize', numberOption(values, 'max-queue-size', { integer: true, min: 1 })),
      ...optional('timeoutMs', numberOption(values, 'request-timeout', { min: 1 })),
      ...optional('idleTimeoutS', numberOption(values, 'idle-unload', { min: 0 })),
      ...optional('maxMemoryBytes', sizeOption(values, 'max-memory')),
    };
    const pollIntervalS = numberOption(values, 'poll', { min: 0 });
    const drainTimeoutS = numberOption(values, 'drain-timeout', { min: 0 }) ?? 30;
    const meterIntervalMs = numberOption(values, 'meter-interval', { integer: true, min: 100 });
    const maxBodyBytes = sizeOption(values, 'max-body-size');
    const authToken = stringOption(values, 'auth-token') ?? (ctx.env.ECOML_SERVE_TOKEN || undefined);
    const log = createLogger(ctx.stderr, ctx.isTTY, level);

    const ws = await workspaceFrom(values, ctx);
    try {
      const session = await startServing(ws, {
        ...(repository !== undefined ? { repository } : { modelDir: modelDir as string }),
        ...optional('name', stringOption(values, 'name')),
        defaults,
        ...optional('pollIntervalS', pollIntervalS),
        ...optional('meterIntervalMs', meterIntervalMs),
        ...optional('authToken', authToken),
        ...optional('maxBodyBytes', maxBodyBytes),
        serverVersion: packageVersion(),
        log,
      });
      let address: string;
      try {
        address = await session.server.listen(host, port);
      } catch (error) {
        await session.close(0);
        throw error;
      }
      const models = session.server.models.names();
      log.info({ address, models }, `serving ${models.length} model(s) on ${address}: TF Serving REST /v1, Open Inference Protocol /v2, metrics /metrics; Ctrl-C stops`);
      await abortion(ctx.signal);
      log.info(`stopping: answering requests in flight (up to ${drainTimeoutS} s)`);
      const summary = await session.close(drainTimeoutS * 1000);
      const total: Measurement | undefined = summary.total;
      return {
        run_id: session.runId,
        address,
        models,
        requests: summary.requests,
        windows: summary.windows,
        ...(total !== undefined ? { run_seconds: total.durationS, ...meteredJson(total, []) } : {}),
      };
    } finally {
      await ws.close();
    }
  },
  render(r) {
    const lines = [`served ${r.models.length} model(s) on ${r.address}: ${r.requests} request(s)${r.run_seconds !== undefined ? ` in ${r.run_seconds.toFixed(1)} s` : ''} (run ${r.run_id}; per model: ecoml runs show ${r.run_id})`];
    if (r.energy && r.emissions) lines.push(`  ${formatEnergy(r.energy, r.emissions)}`, 'components:', formatComponents(r.energy));
    return lines.join('\n');
  },
});

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
