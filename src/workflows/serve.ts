/**
 * `serve`: the model server on a workspace. The workspace's meter feeds the energy ledger, its
 * engines convert ecoml model directories to ONNX (checked against the source, cached in the run
 * store's folder), and the serving session is a run in the store: its energy and CO2e, per model and
 * per request.
 * @module
 */
import { createHash } from 'node:crypto';
import { access } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { EcomlError } from '../errors.js';
import { sumMeasurements, type Measurement } from '../meter/index.js';
import type { ModelSidecar } from '../models/index.js';
import type { WindowAttribution } from '../serve/energy.js';
import { createFileResolver, ONNX_FILE } from '../serve/files.js';
import { DEFAULT_SERVE, type ServeDefaults } from '../serve/index.js';
import { startServer, type ModelServer, type ModelSource, type ServeSummary } from '../serve/server.js';
import { recordServeWindow, type ServeWindowRecord } from '../store/index.js';
import { exportModel } from './export.js';
import type { Workspace } from './workspace.js';

export interface ServeSettings {
  /** A repository of model directories (`<repo>/<model>/<version>/`)… */
  readonly repository?: string;
  /** …or one model directory, served under `name` (default: the directory's name). */
  readonly modelDir?: string;
  readonly name?: string;
  readonly defaults?: Partial<ServeDefaults>;
  readonly pollIntervalS?: number;
  readonly meterIntervalMs?: number;
  readonly authToken?: string;
  readonly maxBodyBytes?: number;
  readonly serverVersion: string;
  readonly log: Logger;
}

/** Where converted ecoml models are kept: one folder per set of model files, named by their hashes. */
export const SERVE_CACHE_DIR = 'serve-cache';

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * The ONNX file for an ecoml model directory: made by `exportModel` (which checks it against the
 * model within 1e-4) the first time, then taken from the cache.
 */
function onnxConverter(ws: Workspace, log: Logger): (dir: string, sidecar: ModelSidecar) => Promise<{ file: string } | { unsupported: string }> {
  const converting = new Map<string, Promise<{ file: string }>>();
  return async (dir, sidecar) => {
    const onnx = ws.engines.onnx;
    const reason = onnx === undefined ? 'there is no onnx engine' : onnx.unsupportedReason?.(sidecar.resolvedSpec);
    if (reason !== undefined) return { unsupported: `the onnx engine does not support ${reason}` };
    const key = createHash('sha256').update(JSON.stringify(sidecar.files)).digest('hex').slice(0, 32);
    const out = join(ws.storeDir, SERVE_CACHE_DIR, key);
    const file = join(out, ONNX_FILE);
    if (await exists(file)) return { file };
    let pending = converting.get(key);
    if (pending === undefined) {
      log.info({ dir, cache: out }, 'converting the ecoml model to ONNX');
      pending = exportModel(ws, dir, { format: 'onnx', out }).then(() => ({ file }));
      converting.set(key, pending);
      void pending.finally(() => converting.delete(key)).catch(() => undefined);
    }
    return pending;
  };
}

/** A window's shares as the run store keeps them. */
export function windowRecord(attribution: WindowAttribution, total: Measurement): ServeWindowRecord {
  const method = attribution.label.method;
  return {
    total,
    usage: attribution.models.map((u) => ({
      model: u.model,
      version: u.version,
      requests: u.requests,
      failures: u.failures,
      inferences: u.inferences,
      computeS: u.computeMs / 1000,
      joules: u.energy.joules,
      joulesLow: u.energy.low,
      joulesHigh: u.energy.high,
      kgCo2e: u.energy.kgCo2e,
      method,
    })),
    requests: attribution.requests.map((r) => ({
      at: new Date(r.receivedAt).toISOString(),
      model: r.model,
      version: r.version,
      protocol: r.protocol,
      ...(r.id !== undefined ? { requestId: r.id } : {}),
      status: r.status,
      inferences: r.inferences,
      queueMs: r.queueMs,
      computeMs: r.computeMs,
      joules: r.energy.joules,
      kgCo2e: r.energy.kgCo2e,
      method,
    })),
  };
}

/** A server whose session is a run in the workspace's store; close() finishes the run with its energy. */
export interface ServingSession {
  readonly server: ModelServer;
  readonly runId: string;
  close(drainTimeoutMs?: number): Promise<ServeSummary>;
}

export async function startServing(ws: Workspace, settings: ServeSettings): Promise<ServingSession> {
  const { repository, modelDir } = settings;
  if ((repository === undefined) === (modelDir === undefined)) {
    throw new EcomlError('E_CONFIG_INVALID', 'serve needs either a model repository (--model-repository DIR) or one model directory, not both', { details: {} });
  }
  const source: ModelSource =
    repository !== undefined
      ? { repository: resolve(ws.cwd, repository) }
      : { modelDir: resolve(ws.cwd, modelDir as string), name: settings.name ?? (basename(resolve(ws.cwd, modelDir as string)) || 'model') };
  const name = 'repository' in source ? basename(source.repository) || 'repository' : source.name;
  const run = ws.store.createRun({ kind: 'serve', name, params: { source, defaults: settings.defaults ?? {} } });
  let total: Measurement | undefined;
  let recordedAt = 0;
  let server: ModelServer;
  try {
    server = await startServer({
      source,
      defaults: { ...DEFAULT_SERVE, ...settings.defaults },
      meter: ws.meter,
      resolveFiles: createFileResolver({ toOnnx: onnxConverter(ws, settings.log) }),
      log: settings.log,
      pollIntervalS: settings.pollIntervalS ?? DEFAULT_POLL_S,
      meterIntervalMs: settings.meterIntervalMs ?? 1000,
      ...(settings.authToken !== undefined ? { authToken: settings.authToken } : {}),
      maxBodyBytes: settings.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      serverVersion: settings.serverVersion,
      onWindow(attribution) {
        total = total === undefined ? attribution.measurement : sumMeasurements('serve', [total, attribution.measurement]);
        // An idle window changes only the running total: it is written now and then, not at every wake-up.
        const idle = attribution.models.length === 0 && attribution.requests.length === 0;
        if (idle && Date.now() - recordedAt < IDLE_RECORD_MS) return;
        recordedAt = Date.now();
        try {
          recordServeWindow(ws.store, run.id, windowRecord(attribution, total));
        } catch (error) {
          // The server keeps serving; the store catches up at the next window.
          settings.log.warn(`recording the window in the run store failed: ${(error as Error).message}`);
        }
      },
    });
  } catch (error) {
    ws.store.finishRun(run.id, { status: 'failed', error });
    throw error;
  }
  return {
    server,
    runId: run.id,
    async close(drainTimeoutMs) {
      const summary = await server.close(drainTimeoutMs);
      ws.store.finishRun(run.id, { status: 'completed', ...(summary.total ? { measurement: summary.total } : {}) });
      return summary;
    },
  };
}

/** Seconds between repository scans: new versions appear within two scans (a version's files must look the same twice). */
export const DEFAULT_POLL_S = 2;

/** How often an idle session's running total is written to the run store. */
const IDLE_RECORD_MS = 60_000;

/** Triton's default limit on an HTTP request body. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 2 ** 20;

export type { ModelServer, ServeSummary };
