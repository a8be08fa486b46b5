/**
 * The composition root for library workflows: one run store, one meter and the engine registry,
 * built once from validated settings and passed down (no module globals).
 * @module
 */
import { createEngines, DEFAULT_ENGINE, type Device, DEVICES, REFERENCE_ENGINE } from '../engine/index.js';
import type { ModelSpec } from '../models/spec.js';
import type { Engine } from '../engine/types.js';
import { EcomlError, lookup } from '../errors.js';
import { createMeter, resolveIntensityChain, type IntensityChain, type Meter } from '../meter/index.js';
import { openRunStore, resolveStoreDir, type RunStore } from '../store/index.js';

export interface WorkspaceSettings {
  /** Run store directory; default `.ecoml` in the working directory. */
  readonly storeDir?: string;
  readonly cwd?: string;
  readonly country?: string;
  readonly pue?: number;
  /** Preferred engine: 'onnx' (default) or 'tfjs'; specs it cannot compile fall back to tfjs, with a log line. */
  readonly engine?: string;
  /** Threads for the onnx engine (default 1). */
  readonly threads?: number;
  /** Where the onnx engine runs: 'cpu' (default), 'cuda' or 'webgpu'; the tfjs engine runs on the CPU only. */
  readonly device?: string;
  /** The engine registry (default: createEngines with `threads` and `device`). */
  readonly engines?: Readonly<Record<string, Engine>>;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Informational lines for people (stderr in the CLI). */
  readonly log?: (line: string) => void;
}

export interface Workspace {
  readonly store: RunStore;
  readonly meter: Meter;
  /** The preferred engine. */
  readonly engine: Engine;
  /** The reference engine (tfjs): compiles every spec and reads/writes the TF.js model format. */
  readonly reference: Engine;
  /** Every engine by name (export targets). */
  readonly engines: Readonly<Record<string, Engine>>;
  /** Where the onnx engine runs; advise builds engines of other thread counts on it. */
  readonly device: Device;
  /** The grid's intensity providers (ECOML_INTENSITY, else the country table) and the place asked about: what carbon-aware starts read forecasts from. */
  readonly grid: { readonly provider: IntensityChain; readonly location?: string };
  /** The preferred engine when it can compile `spec`, else the reference (said once per spec name). */
  engineFor(spec: ModelSpec): Engine;
  readonly storeDir: string;
  readonly cwd: string;
  log(line: string): void;
  close(): Promise<void>;
}

function onCpuOnly(what: string, device: Device): EcomlError {
  return new EcomlError('E_DEVICE_UNAVAILABLE', `--device ${device}: ${what} runs on the CPU only; drop --device or use the onnx engine with a model it supports`, { details: { device } });
}

export async function openWorkspace(settings: WorkspaceSettings = {}): Promise<Workspace> {
  const cwd = settings.cwd ?? process.cwd();
  const env = settings.env ?? process.env;
  const storeDir = resolveStoreDir(cwd, settings.storeDir, env);
  const device = lookup<Device>(Object.fromEntries(DEVICES.map((d) => [d, d])), settings.device ?? 'cpu', 'device');
  const engines = settings.engines ?? createEngines({ device, ...(settings.threads !== undefined ? { threads: settings.threads } : {}) });
  const engine = lookup<Engine>(engines, settings.engine ?? DEFAULT_ENGINE, 'engine');
  const reference = lookup<Engine>(engines, REFERENCE_ENGINE, 'engine');
  if (device !== 'cpu' && engine === reference) throw onCpuOnly(`the ${reference.name} engine`, device);
  const log = settings.log ?? (() => undefined);
  const fellBack = new Set<string>();
  // Built before the store opens: a misconfigured chain fails with nothing to release.
  const location = settings.country ?? env.ECOML_COUNTRY;
  const grid = { provider: resolveIntensityChain({ env }), ...(location === undefined ? {} : { location }) };
  const store = openRunStore(storeDir);
  const meter = await createMeter({
    env,
    ...(settings.country !== undefined ? { country: settings.country } : {}),
    ...(settings.pue !== undefined ? { pue: settings.pue } : {}),
  }).catch((error: unknown) => {
    store.close();
    throw error;
  });
  await Promise.all([engine.ready(), reference.ready()]).catch(async (error: unknown) => {
    await meter.close();
    store.close();
    throw error;
  });
  return {
    store,
    meter,
    engine,
    reference,
    engines,
    device,
    grid,
    engineFor(spec) {
      const reason = engine.unsupportedReason?.(spec);
      if (reason === undefined) return engine;
      if (device !== 'cpu') throw onCpuOnly(`${spec.name} (the ${engine.name} engine does not support ${reason}, so it would run on ${reference.name})`, device);
      if (!fellBack.has(spec.name)) {
        fellBack.add(spec.name);
        log(`engine: ${engine.name} does not support ${reason}; ${spec.name} runs on ${reference.name}`);
      }
      return reference;
    },
    storeDir,
    cwd,
    log,
    async close() {
      await meter.close();
      store.close();
    },
  };
}
