/**
 * `serve`: the model server on a workspace. The workspace's meter feeds the energy ledger, its
 * engines convert ecoml model directories to ONNX (checked against the source, cached in the run
 * store's folder), and the serving session is a run in the store: its energy and CO2e, per model and
 * per request.
 * @module
 */
import { createHash } from 'node:crypto';
import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { EcomlError } from '../errors.js';
import type { ModelSidecar } from '../models/index.js';
import { createFileResolver, ONNX_FILE } from '../serve/files.js';
import { DEFAULT_SERVE, type ServeDefaults } from '../serve/index.js';
import { startServer, type ModelServer, type ServeSummary } from '../serve/server.js';
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

export async function startServing(ws: Workspace, settings: ServeSettings): Promise<ModelServer> {
  const { repository, modelDir } = settings;
  if ((repository === undefined) === (modelDir === undefined)) {
    throw new EcomlError('E_CONFIG_INVALID', 'serve needs either a model repository (--model-repository DIR) or one model directory, not both', { details: {} });
  }
  const source =
    repository !== undefined
      ? { repository: resolve(ws.cwd, repository) }
      : { modelDir: resolve(ws.cwd, modelDir as string), name: settings.name ?? resolve(ws.cwd, modelDir as string).split('/').at(-1) ?? 'model' };
  return startServer({
    source,
    defaults: { ...DEFAULT_SERVE, ...settings.defaults },
    meter: ws.meter,
    resolveFiles: createFileResolver({ toOnnx: onnxConverter(ws, settings.log) }),
    log: settings.log,
    pollIntervalS: settings.pollIntervalS ?? 1,
    meterIntervalMs: settings.meterIntervalMs ?? 1000,
    ...(settings.authToken !== undefined ? { authToken: settings.authToken } : {}),
    maxBodyBytes: settings.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    serverVersion: settings.serverVersion,
  });
}

/** Triton's default limit on an HTTP request body. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 2 ** 20;

export type { ModelServer, ServeSummary };
