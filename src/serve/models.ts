/**
 * The models the server holds and the life of each version: found on disk → loading → warmed up →
 * ready; the newest ready version answers unversioned requests, so a new one is switched in only
 * once it can serve; a version that leaves the policy or the disk stops taking requests and is
 * unloaded when its last one is answered. Idle versions are unloaded after their idle timeout, and
 * the least recently used ones when the memory budget needs room; both reload on their next request.
 * @module
 */
import type { Logger } from 'pino';
import type { Preprocessing } from '../data/types.js';
import type { Device } from '../engine/index.js';
import { EcomlError } from '../errors.js';
import { Batcher, type BatchingSettings, type BatchRecord } from './batcher.js';
import { type ModelConfig, type ModelEntry, type Platform, type RepositoryScan, selectVersions } from './repository.js';
import type { LoadedModel, Runtime, Signature } from './runtimes/runtime.js';
import { DATATYPE_INFO, elementCount, type NumericArray, type Tensor } from './tensors.js';

/** Server-wide settings, which a model's config overrides. */
export interface ServeDefaults {
  readonly threads: number;
  readonly instances: number;
  /** Seconds without a request before a version is unloaded; 0 keeps it loaded. */
  readonly idleTimeoutS: number;
  /** Dynamic batching for models whose config does not say. */
  readonly batching: boolean;
  readonly maxBatchSize: number;
  readonly maxQueueDelayMs: number;
  readonly maxQueueSize: number;
  readonly timeoutMs: number;
  /** Bytes all loaded models together may hold; undefined: no budget. */
  readonly maxMemoryBytes?: number;
  readonly device?: Device;
}

/** What to load for a version directory, found by models' resolver (serve/files.ts). */
export interface ResolvedFiles {
  readonly platform: Platform;
  /** The ONNX file, or the TF.js model's directory. */
  readonly source: string;
  /** An ecoml model's recorded preprocessing, for its input (the first, when unnamed). */
  readonly preprocessing?: { readonly input?: string; readonly record: Preprocessing };
  /** Class names for TF Serving's classify (an ecoml model's sidecar). */
  readonly classNames?: readonly string[];
  /** How the files were found, for people: 'model.onnx', 'ecoml model converted to ONNX (cached)'… */
  readonly origin: string;
}

export type VersionStatus = 'loading' | 'ready' | 'idle' | 'unloaded' | 'failed' | 'unloading';

export interface VersionInfo {
  readonly model: string;
  readonly version: number;
  readonly status: VersionStatus;
  readonly reason?: string;
  readonly platform?: Platform;
  readonly signature?: Signature;
  readonly batching?: BatchingSettings;
  readonly classNames?: readonly string[];
  readonly memoryBytes: number;
  readonly instances: number;
  readonly origin?: string;
}

export interface ModelManagerOptions {
  readonly runtimes: Readonly<Record<Platform, Runtime>>;
  readonly defaults: ServeDefaults;
  readonly resolveFiles: (dir: string, config: ModelConfig) => Promise<ResolvedFiles>;
  readonly log: Logger;
  readonly onBatch?: (model: string, version: number, record: BatchRecord) => void;
  /** A load finished: how long it took, and whether a request waited for it (a cold start). */
  readonly onLoad?: (model: string, version: number, seconds: number, coldStart: boolean) => void;
  readonly now?: () => number;
}

interface Loaded {
  readonly model: LoadedModel;
  readonly batcher: Batcher;
}

interface VersionState {
  readonly model: string;
  readonly version: number;
  readonly path: string;
  fingerprint: string;
  status: VersionStatus;
  reason?: string;
  files?: ResolvedFiles;
  signature?: Signature;
  batching?: BatchingSettings;
  loaded?: Loaded;
  loading?: Promise<Loaded>;
  /** Bytes reserved in the budget while it loads. */
  reservedBytes: number;
  inflight: number;
  lastUsedMs: number;
  /** No longer in the policy or on disk: takes no new requests, unloads when the last is answered. */
  retiring: boolean;
  /** The fingerprint a failed load saw: the next try waits for the files to change. */
  failedFingerprint?: string;
  /** The load failed for want of memory, not for its files: a request tries it again. */
  transientFailure?: boolean;
  /** The unload in progress, which a request for this version waits out before reloading it. */
  unloading?: Promise<void>;
  /** Called when inflight drops to 0. */
  idleWaiters: (() => void)[];
}

interface ModelState {
  readonly name: string;
  entry: ModelEntry;
  readonly versions: Map<number, VersionState>;
  /** Unloaded through the repository API: not served or reloaded until loaded again. */
  pinnedUnloaded: boolean;
  /** Gone from the repository: forgotten once its last version is unloaded. */
  removed: boolean;
}

/** A version checked out for one request; release it when the request is answered. */
export interface Lease {
  readonly version: number;
  readonly signature: Signature;
  readonly batching: BatchingSettings;
  readonly batcher: Batcher;
  release(): void;
}

function unavailable(message: string, details: Record<string, unknown>): EcomlError {
  return new EcomlError('E_MODEL_UNAVAILABLE', message, { details });
}

/** Zeros for every input, batch and other free dimensions 1: the first run pays for lazy initialization, not a client. */
export function warmupInputs(signature: Signature): Map<string, Tensor> {
  return new Map(
    signature.inputs.map((input) => {
      const shape = input.shape.map((d) => (d < 0 ? 1 : d));
      const info = DATATYPE_INFO[input.datatype];
      const count = elementCount(shape);
      const data = info.kind === 'bytes' ? Array.from({ length: count }, () => new Uint8Array(0)) : new (info.array as new (n: number) => NumericArray)(count);
      return [input.name, { datatype: input.datatype, shape, data }];
    }),
  );
}

export class ModelManager {
  private readonly models = new Map<string, ModelState>();
  private readonly now: () => number;
  private closing = false;

  constructor(private readonly options: ModelManagerOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  /** Names known from the last scan, sorted. */
  names(): string[] {
    return [...this.models.keys()].sort();
  }

  has(name: string): boolean {
    return this.models.has(name);
  }

  /**
   * Brings the held versions in line with a scan: loads what the policies now select (at once on
   * the first scan; later only once a version's files look the same on two scans running, so a
   * version being copied in is not loaded half-written), and retires what they no longer select.
   */
  apply(scan: RepositoryScan, options: { readonly initial?: boolean } = {}): void {
    if (this.closing) return;
    const seen = new Set<string>();
    for (const entry of scan.models) {
      seen.add(entry.name);
      let state = this.models.get(entry.name);
      if (state === undefined) {
        state = { name: entry.name, entry, versions: new Map(), pinnedUnloaded: false, removed: false };
        this.models.set(entry.name, state);
      }
      state.removed = false;
      const previous = state.entry;
      state.entry = entry;
      this.reconcile(state, options.initial === true ? undefined : previous);
    }
    for (const state of this.models.values()) {
      if (seen.has(state.name)) continue;
      state.removed = true;
      for (const v of state.versions.values()) this.retire(v);
      if (state.versions.size === 0) this.models.delete(state.name);
    }
  }

  private reconcile(state: ModelState, previous: ModelEntry | undefined): void {
    const { entry } = state;
    const config = entry.config;
    const onDisk = new Map(entry.versions.map((v) => [v.version, v]));
    const wanted = config instanceof EcomlError ? [] : selectVersions([...onDisk.keys()], config.versionPolicy);
    this.retireUnwanted(state, wanted, onDisk);
    if (config instanceof EcomlError) {
      this.options.log.error({ model: entry.name }, config.message);
      return;
    }
    if (state.pinnedUnloaded) return;
    for (const version of wanted) {
      const dir = onDisk.get(version);
      if (dir === undefined) continue;
      const stable = previous === undefined || previous.versions.some((p) => p.version === version && p.fingerprint === dir.fingerprint);
      const existing = state.versions.get(version);
      if (existing === undefined || existing.retiring) {
        if (!stable) continue;
        const fresh: VersionState = {
          model: entry.name,
          version,
          path: dir.path,
          fingerprint: dir.fingerprint,
          status: 'loading',
          reservedBytes: 0,
          inflight: 0,
          lastUsedMs: this.now(),
          retiring: false,
          idleWaiters: [],
        };
        state.versions.set(version, fresh);
        void this.load(fresh, false).catch(() => undefined);
      } else if (existing.status === 'failed' && stable && existing.failedFingerprint !== dir.fingerprint) {
        existing.fingerprint = dir.fingerprint;
        existing.files = undefined;
        void this.load(existing, false).catch(() => undefined);
      }
    }
  }

  /**
   * Retires the versions the policy no longer selects, but keeps answering with them while no
   * selected version can serve yet (availability first, as TF Serving's default policy): a new
   * version replaces an old one only once it is ready, and one that fails to load leaves the old
   * one serving. A version whose files are gone is retired at once.
   */
  private retireUnwanted(state: ModelState, wanted: readonly number[], onDisk: ReadonlyMap<number, unknown>): void {
    const replacementReady = wanted.some((n) => {
      const v = state.versions.get(n);
      return v !== undefined && !v.retiring && (v.status === 'ready' || v.status === 'idle');
    });
    for (const v of state.versions.values()) {
      if (wanted.includes(v.version)) continue;
      if (replacementReady || wanted.length === 0 || !onDisk.has(v.version)) this.retire(v);
    }
  }

  private retire(v: VersionState): void {
    if (v.retiring) return;
    v.retiring = true;
    void this.unloadWhenIdle(v, 'end').catch((error: unknown) => this.options.log.error({ model: v.model, version: v.version }, `unloading failed: ${(error as Error).message}`));
  }

  /**
   * Waits for the version's requests to be answered, unloads it and, when it is retired, forgets it.
   * An idle unload is called off if a request used the version while it waited.
   */
  private unloadWhenIdle(v: VersionState, next: 'idle' | 'unloaded' | 'end'): Promise<void> {
    const decidedMs = this.now();
    const previous = v.unloading ?? Promise.resolve();
    const unloading = previous.then(async () => {
      if (v.loading) await v.loading.catch(() => undefined);
      const loaded = v.loaded;
      if (loaded !== undefined) {
        if (v.inflight > 0) await new Promise<void>((resolve) => v.idleWaiters.push(resolve));
        if (next === 'idle' && !v.retiring && v.lastUsedMs > decidedMs) return;
        // From here requests wait for this unload to end, then load the version again.
        v.loaded = undefined;
        v.status = 'unloading';
        await loaded.batcher.drain();
        await loaded.model.unload();
        this.options.log.info({ model: v.model, version: v.version }, next === 'end' || v.retiring ? 'unloaded (no longer served)' : `unloaded (${next})`);
      }
      if (next === 'end' || v.retiring) {
        const state = this.models.get(v.model);
        if (state?.versions.get(v.version) === v) state.versions.delete(v.version);
        if (state !== undefined && state.removed && state.versions.size === 0) this.models.delete(v.model);
        return;
      }
      if (v.loaded === undefined && v.status !== 'failed') v.status = next;
    });
    v.unloading = unloading;
    void unloading.finally(() => {
      if (v.unloading === unloading) v.unloading = undefined;
    });
    return unloading;
  }

  /** After a load ends: the versions it was to replace can go (or, if it failed, stay). */
  private settleModel(name: string): void {
    const state = this.models.get(name);
    if (state === undefined || this.closing) return;
    const config = state.entry.config;
    const onDisk = new Map(state.entry.versions.map((v) => [v.version, v]));
    const wanted = config instanceof EcomlError ? [] : selectVersions([...onDisk.keys()], config.versionPolicy);
    this.retireUnwanted(state, wanted, onDisk);
  }

  private config(v: VersionState): ModelConfig {
    const config = this.models.get(v.model)?.entry.config;
    if (config === undefined || config instanceof EcomlError) throw unavailable(`model "${v.model}" has no valid config`, { model: v.model });
    return config;
  }

  /** Loads (or reloads) a version: resolve files, make room in the budget, start instances, warm up, start its batcher. */
  private load(v: VersionState, coldStart: boolean): Promise<Loaded> {
    if (v.loading) return v.loading;
    const started = this.now();
    v.status = 'loading';
    v.reason = undefined;
    const loading = (async (): Promise<Loaded> => {
      const config = this.config(v);
      const { defaults, runtimes } = this.options;
      const files = v.files ?? (await this.options.resolveFiles(v.path, config));
      v.files = files;
      const runtime = runtimes[files.platform];
      const instances = config.instances ?? defaults.instances;
      v.reservedBytes = await this.reservation(v);
      await this.makeRoom(v);
      const model = await runtime.load({
        source: files.source,
        threads: config.threads ?? defaults.threads,
        instances,
        ...(defaults.device ? { device: defaults.device } : {}),
        ...(files.preprocessing ? { preprocessing: files.preprocessing } : {}),
      });
      try {
        if (config.warmup) await this.warmUp(v, model);
        const batching = batchingFor(model.signature, config, defaults, (message) => this.options.log.warn({ model: v.model, version: v.version }, message));
        const batcher = new Batcher(model, batching, (record) => this.options.onBatch?.(v.model, v.version, record), this.now);
        v.signature = model.signature;
        v.batching = batching;
        return { model, batcher };
      } catch (error) {
        await model.unload();
        throw error;
      }
    })();
    v.loading = loading;
    loading.then(
      (loaded) => {
        v.loading = undefined;
        v.reservedBytes = 0;
        if (this.closing) {
          void loaded.model.unload();
          return;
        }
        v.loaded = loaded;
        v.status = 'ready';
        v.lastUsedMs = this.now();
        const seconds = (this.now() - started) / 1000;
        this.options.onLoad?.(v.model, v.version, seconds, coldStart);
        this.options.log.info(
          { model: v.model, version: v.version, platform: v.files?.platform, origin: v.files?.origin, seconds: Number(seconds.toFixed(3)), memoryBytes: loaded.model.memoryBytes, coldStart },
          `loaded ${v.model} version ${v.version}`,
        );
        if (v.retiring) void this.unloadWhenIdle(v, 'end');
        else this.settleModel(v.model);
      },
      (error: unknown) => {
        v.loading = undefined;
        v.reservedBytes = 0;
        v.status = 'failed';
        v.reason = (error as Error).message;
        v.failedFingerprint = v.fingerprint;
        v.transientFailure = error instanceof EcomlError && error.code === 'E_OVERLOADED';
        this.options.log.error({ model: v.model, version: v.version }, `failed to load: ${v.reason}`);
        this.settleModel(v.model);
      },
    );
    return loading;
  }

  private async warmUp(v: VersionState, model: LoadedModel): Promise<void> {
    const signature = model.signature;
    const outputs = signature.outputs.map((o) => o.name);
    try {
      // One run per instance: the pool hands each to a different free instance.
      await Promise.all(Array.from({ length: model.instances }, () => model.infer(warmupInputs(signature), outputs)));
    } catch (error) {
      // A synthetic input a model refuses (say, it needs longer sequences) says nothing about real requests.
      this.options.log.warn({ model: v.model, version: v.version }, `warm-up with zeros failed (${(error as Error).message}); serving without it`);
    }
  }

  /** What a version's instances will hold, from its files. */
  private async reservation(v: VersionState): Promise<number> {
    const files = v.files as ResolvedFiles;
    const config = this.config(v);
    return (await this.options.runtimes[files.platform].weightBytes(files.source)) * (config.instances ?? this.options.defaults.instances);
  }

  /** Bytes held or reserved by every version. */
  memoryBytes(): number {
    let total = 0;
    for (const state of this.models.values()) for (const v of state.versions.values()) total += (v.loaded?.model.memoryBytes ?? 0) + v.reservedBytes;
    return total;
  }

  /**
   * Unloads least recently used idle versions until `v`'s reservation fits the budget; versions
   * still loading are waited for first, since they may become what can be unloaded.
   */
  private async makeRoom(v: VersionState): Promise<void> {
    const budget = this.options.defaults.maxMemoryBytes;
    if (budget === undefined) return;
    if (v.reservedBytes > budget) {
      throw new EcomlError('E_OVERLOADED', `${v.model} version ${v.version} needs ${v.reservedBytes} bytes, more than the whole memory budget of ${budget}`, {
        details: { model: v.model, needed: v.reservedBytes, budget },
      });
    }
    const others = (): VersionState[] => [...this.models.values()].flatMap((s) => [...s.versions.values()]).filter((o) => o !== v);
    while (this.memoryBytes() > budget) {
      const idle = others()
        .filter((o) => o.loaded !== undefined && o.status === 'ready' && o.inflight === 0)
        .sort((a, b) => a.lastUsedMs - b.lastUsedMs)[0];
      if (idle !== undefined) {
        this.options.log.info({ model: idle.model, version: idle.version }, 'unloading the least recently used model to make room in the memory budget');
        await this.unloadWhenIdle(idle, 'idle');
        continue;
      }
      const loading = others().flatMap((o) => (o.loading ? [o.loading] : []));
      if (loading.length === 0) break;
      // Reserved bytes of loads in progress count against the budget until they finish.
      v.reservedBytes = 0;
      await Promise.allSettled(loading);
      v.reservedBytes = await this.reservation(v);
    }
    if (this.memoryBytes() > budget) {
      throw new EcomlError('E_OVERLOADED', `the memory budget of ${budget} bytes is spent by models that are busy; ${v.model} version ${v.version} needs ${v.reservedBytes}`, {
        details: { model: v.model, needed: v.reservedBytes, budget, held: this.memoryBytes() - v.reservedBytes },
      });
    }
  }

  /** The version a request names (a number, a label, or the newest that can serve), loading it if it was idle. */
  async acquire(name: string, selector: { readonly version?: number; readonly label?: string } = {}): Promise<Lease> {
    if (this.closing) throw new EcomlError('E_OVERLOADED', 'the server is shutting down and takes no new requests', { details: {} });
    const state = this.models.get(name);
    if (state === undefined) throw new EcomlError('E_MODEL_NOT_FOUND', `model "${name}" is not in the repository`, { details: { model: name } });
    if (state.pinnedUnloaded) throw unavailable(`model "${name}" is unloaded; load it through the repository API`, { model: name });
    const v = this.pick(state, selector);
    v.inflight++;
    try {
      let loaded = v.loaded;
      if (loaded === undefined) {
        // An unload past its point of no return is waited out; the version then loads again.
        if (v.unloading !== undefined) await v.unloading;
        if (v.status === 'failed' && !v.transientFailure) throw unavailable(`model "${name}" version ${v.version} failed to load: ${v.reason ?? 'unknown reason'}`, { model: name, version: v.version });
        loaded = v.loaded ?? (await (v.loading ?? this.load(v, true)));
      }
      let released = false;
      return {
        version: v.version,
        signature: v.signature as Signature,
        batching: v.batching as BatchingSettings,
        batcher: loaded.batcher,
        release: () => {
          if (released) return;
          released = true;
          this.leave(v);
        },
      };
    } catch (error) {
      this.leave(v);
      throw error;
    }
  }

  private leave(v: VersionState): void {
    v.inflight--;
    v.lastUsedMs = this.now();
    if (v.inflight === 0) for (const resolve of v.idleWaiters.splice(0)) resolve();
  }

  private pick(state: ModelState, selector: { readonly version?: number; readonly label?: string }): VersionState {
    const name = state.name;
    const wanted = selector.label !== undefined ? this.versionForLabel(name, selector.label) : selector.version;
    if (wanted !== undefined) {
      const v = state.versions.get(wanted);
      if (v === undefined || v.retiring) throw new EcomlError('E_MODEL_NOT_FOUND', `model "${name}" has no version ${wanted} being served`, { details: { model: name, version: wanted } });
      return v;
    }
    // The common case, one version answering, without building lists on every request.
    if (state.versions.size === 1) {
      const only = state.versions.values().next().value as VersionState;
      if (!only.retiring && (only.status === 'ready' || only.status === 'idle')) return only;
    }
    // The newest that can answer now; else the newest still loading; else say why none can.
    const byNewest = [...state.versions.values()].filter((v) => !v.retiring).sort((a, b) => b.version - a.version);
    const serving =
      byNewest.find((v) => v.status === 'ready' || v.status === 'idle') ??
      byNewest.find((v) => v.status === 'loading') ??
      byNewest.find((v) => v.status === 'failed' && v.transientFailure === true);
    if (serving !== undefined) return serving;
    const reasons = byNewest.map((v) => `version ${v.version} ${v.status}${v.reason ? `: ${v.reason}` : ''}`);
    throw unavailable(`model "${name}" has no version that can serve${reasons.length ? ` (${reasons.join('; ')})` : ' (no version directory found)'}`, { model: name });
  }

  /** The version a label names in the model's config; an unknown label is an invalid argument (400), as in TF Serving. */
  versionForLabel(name: string, label: string): number {
    const config = this.models.get(name)?.entry.config;
    const labels = config === undefined || config instanceof EcomlError ? {} : config.versionLabels;
    // Own keys only: a label such as "constructor" must not find Object.prototype's.
    const version = Object.hasOwn(labels, label) ? labels[label] : undefined;
    if (version === undefined) throw new EcomlError('E_REQUEST_INVALID', `Unrecognized servable version label: ${label}`, { details: { model: name, label } });
    return version;
  }

  /** Resolves once no version is loading (each has loaded or failed). */
  async settled(): Promise<void> {
    for (;;) {
      const loading = [...this.models.values()].flatMap((s) => [...s.versions.values()]).flatMap((v) => (v.loading ? [v.loading] : []));
      if (loading.length === 0) return;
      await Promise.allSettled(loading);
    }
  }

  /** Unloads versions idle for longer than their timeout; called by the server's tick. */
  sweepIdle(): void {
    const nowMs = this.now();
    for (const state of this.models.values()) {
      const config = state.entry.config;
      if (config instanceof EcomlError) continue;
      const timeoutS = config.idleTimeoutS ?? this.options.defaults.idleTimeoutS;
      if (!(timeoutS > 0)) continue;
      for (const v of state.versions.values()) {
        if (v.status !== 'ready' || v.inflight > 0 || v.loaded === undefined || v.loaded.batcher.pending > 0) continue;
        if (nowMs - v.lastUsedMs < timeoutS * 1000) continue;
        void this.unloadWhenIdle(v, 'idle');
      }
    }
  }

  /** The repository API's load: serve the model again and wait until its policy's versions are ready. */
  async loadModel(entry: ModelEntry): Promise<VersionInfo[]> {
    const state = this.models.get(entry.name);
    if (state !== undefined) state.pinnedUnloaded = false;
    this.apply({ models: [...[...this.models.values()].filter((s) => s.name !== entry.name).map((s) => s.entry), entry], problems: [] }, { initial: true });
    const current = this.models.get(entry.name) as ModelState;
    if (entry.config instanceof EcomlError) throw unavailable(`model "${entry.name}" cannot load: ${entry.config.message}`, { model: entry.name });
    await Promise.all(
      [...current.versions.values()]
        .filter((v) => !v.retiring)
        .map((v) => (v.loaded ? Promise.resolve() : (v.loading ?? this.load(v, false)).then(() => undefined))),
    ).catch((error: unknown) => {
      throw unavailable(`model "${entry.name}" failed to load: ${(error as Error).message}`, { model: entry.name });
    });
    return this.describe(entry.name);
  }

  /** The repository API's unload: stop serving the model, unloading each version once its requests are answered. */
  async unloadModel(name: string): Promise<void> {
    const state = this.models.get(name);
    if (state === undefined) throw new EcomlError('E_MODEL_NOT_FOUND', `model "${name}" is not in the repository`, { details: { model: name } });
    state.pinnedUnloaded = true;
    await Promise.all([...state.versions.values()].map((v) => this.unloadWhenIdle(v, 'unloaded')));
    for (const v of state.versions.values()) if (v.status !== 'failed') v.status = 'unloaded';
  }

  /** Every version held for `name` (retired ones excluded), newest first. */
  describe(name: string): VersionInfo[] {
    const state = this.models.get(name);
    if (state === undefined) return [];
    return [...state.versions.values()]
      .filter((v) => !v.retiring)
      .sort((a, b) => b.version - a.version)
      .map((v) => this.info(v, state));
  }

  private info(v: VersionState, state: ModelState): VersionInfo {
    return {
      model: v.model,
      version: v.version,
      status: state.pinnedUnloaded && v.status !== 'failed' ? 'unloaded' : v.status,
      ...(v.reason !== undefined ? { reason: v.reason } : {}),
      ...(v.files ? { platform: v.files.platform, origin: v.files.origin } : {}),
      ...(v.files?.classNames ? { classNames: v.files.classNames } : {}),
      ...(v.signature ? { signature: v.signature } : {}),
      ...(v.batching ? { batching: v.batching } : {}),
      memoryBytes: v.loaded?.model.memoryBytes ?? 0,
      instances: v.loaded?.model.instances ?? 0,
    };
  }

  /** Every held version of every model. */
  all(): VersionInfo[] {
    return this.names().flatMap((name) => this.describe(name));
  }

  /** Shutting down: every queue sends what it holds at once instead of waiting to fill a batch. */
  flushQueues(): void {
    for (const state of this.models.values()) for (const v of state.versions.values()) v.loaded?.batcher.flush();
  }

  /** Answers what is waiting, then unloads everything; later requests are refused. */
  async close(): Promise<void> {
    this.closing = true;
    const versions = [...this.models.values()].flatMap((s) => [...s.versions.values()]);
    await Promise.all(versions.map((v) => this.unloadWhenIdle(v, 'end').catch(() => undefined)));
  }
}

/** A version's batching: its config, else the server's defaults, for models whose first dimensions are all free. */
export function batchingFor(signature: Signature, config: ModelConfig, defaults: ServeDefaults, warn: (message: string) => void): BatchingSettings {
  const batchable = [...signature.inputs, ...signature.outputs].every((t) => t.shape.length > 0 && t.shape[0] === -1);
  let maxBatchSize = config.maxBatchSize ?? (batchable ? defaults.maxBatchSize : 0);
  if (maxBatchSize > 0 && !batchable) {
    warn(`max_batch_size ${maxBatchSize} ignored: not every input and output has a free first dimension, so requests cannot be stacked`);
    maxBatchSize = 0;
  }
  const dynamic = config.dynamicBatching;
  return {
    maxBatchSize,
    dynamic: maxBatchSize > 0 && (dynamic === undefined ? defaults.batching : dynamic !== false),
    maxQueueDelayMs: dynamic ? dynamic.maxQueueDelayMs : defaults.maxQueueDelayMs,
    preferredBatchSizes: dynamic ? dynamic.preferredBatchSizes : [],
    maxQueueSize: (dynamic ? dynamic.maxQueueSize : undefined) ?? defaults.maxQueueSize,
    timeoutMs: (dynamic ? dynamic.timeoutMs : undefined) ?? defaults.timeoutMs,
  };
}
