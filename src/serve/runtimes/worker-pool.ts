/**
 * The main thread's side of a model's inference workers: one worker thread per instance, each
 * running runtimes/worker.ts. A run goes to the least busy instance; an instance may hold
 * PIPELINE_DEPTH runs (the next waits in its thread's queue and starts the moment the current ends,
 * with no round trip through the main thread between them), and beyond that runs wait here. An
 * instance whose thread dies fails its runs and is replaced.
 * @module
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { EcomlError } from '../../errors.js';
import type { Tensor } from '../tensors.js';
import { TRANSFER_MIN_BYTES, type Backend, type FromWorker, type NamedTensor, type ToWorker, type WorkerSetup } from './messages.js';
import { PIPELINE_DEPTH, type InferOutcome, type LoadedModel, type Runtime, type Signature } from './runtime.js';

const WORKER_URL = new URL(`./worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/**
 * Starts a worker on runtimes/worker. Run from TypeScript sources (tsx, vitest), the worker first
 * registers tsx's loader: Node 20 does not pass the parent's loader hooks on to worker threads.
 */
function spawn(setup: WorkerSetup): Worker {
  if (!WORKER_URL.pathname.endsWith('.ts')) return new Worker(WORKER_URL, { workerData: setup });
  const api = createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs');
  const bootstrap = `import(${JSON.stringify(pathToFileURL(api).href)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER_URL.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData: setup });
}

interface Pending {
  readonly resolve: (outcome: InferOutcome) => void;
  readonly reject: (error: EcomlError) => void;
}

interface Instance {
  readonly worker: Worker;
  /** The runs sent to it and not yet answered, in the order sent. */
  readonly runs: Map<number, Pending>;
}

interface Waiting {
  readonly inputs: readonly NamedTensor[];
  readonly outputs: readonly string[];
  readonly pending: Pending;
}

/** Buffers to move to the worker: each large numeric input's whole buffer, when the tensor owns all of it. */
function transferables(inputs: readonly NamedTensor[]): ArrayBuffer[] {
  const seen = new Set<ArrayBuffer>();
  for (const { tensor } of inputs) {
    if (Array.isArray(tensor.data)) continue;
    const view = tensor.data as ArrayBufferView;
    if (view.buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.byteLength >= TRANSFER_MIN_BYTES) seen.add(view.buffer);
  }
  return [...seen];
}

/** Starts one worker and waits for its model to open; a model that cannot open rejects with the worker's error. */
function startInstance(setup: WorkerSetup): Promise<{ worker: Worker; signature: Signature }> {
  return new Promise((resolve, reject) => {
    const worker = spawn(setup);
    // Only our own listeners come off: Worker keeps its message port running through listeners of its own.
    const detach = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    const fail = (error: EcomlError): void => {
      detach();
      void worker.terminate();
      reject(error);
    };
    const onMessage = (message: FromWorker): void => {
      if (message.type === 'ready') {
        detach();
        resolve({ worker, signature: message.signature });
      } else if (message.type === 'failed') fail(new EcomlError(message.error.code, message.error.message));
      else fail(new EcomlError('E_INTERNAL', `inference worker sent ${message.type} before it was ready`));
    };
    const onError = (error: Error): void => fail(new EcomlError('E_ENGINE_FAILED', `inference worker failed to start: ${error.message}`, { cause: error }));
    const onExit = (code: number): void => fail(new EcomlError('E_ENGINE_FAILED', `inference worker exited with code ${code} before its model opened`));
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

export class WorkerPool implements Pick<LoadedModel, 'signature' | 'instances' | 'infer' | 'unload'> {
  private readonly all = new Set<Instance>();
  private readonly waiting: Waiting[] = [];
  private nextId = 1;
  private closing: Promise<void> | undefined;
  private idle: (() => void) | undefined;

  private constructor(
    private readonly setup: WorkerSetup,
    readonly signature: Signature,
    workers: readonly Worker[],
  ) {
    for (const worker of workers) this.adopt(worker);
  }

  /** Starts `instances` workers in parallel; if any model fails to open, all are stopped and the first error thrown. */
  static async start(setup: WorkerSetup, instances: number): Promise<WorkerPool> {
    const started = await Promise.allSettled(Array.from({ length: instances }, () => startInstance(setup)));
    const failure = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    const ok = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    if (failure !== undefined || ok[0] === undefined) {
      await Promise.all(ok.map((s) => s.worker.terminate()));
      throw failure?.reason ?? new EcomlError('E_CONFIG_INVALID', 'a model needs at least one instance');
    }
    return new WorkerPool(setup, ok[0].signature, ok.map((s) => s.worker));
  }

  get instances(): number {
    return this.all.size;
  }

  private adopt(worker: Worker): void {
    const instance: Instance = { worker, runs: new Map() };
    this.all.add(instance);
    worker.on('message', (message: FromWorker) => this.settle(instance, message));
    worker.on('error', (error) => this.lose(instance, new EcomlError('E_ENGINE_FAILED', `inference worker crashed: ${error.message}`, { cause: error })));
    worker.on('exit', (code) => this.lose(instance, new EcomlError('E_ENGINE_FAILED', `inference worker exited with code ${code}`)));
    this.drain();
  }

  private settle(instance: Instance, message: FromWorker): void {
    if (message.type !== 'done' && message.type !== 'error') return;
    const pending = instance.runs.get(message.id);
    if (pending === undefined) return;
    instance.runs.delete(message.id);
    if (message.type === 'done') pending.resolve({ outputs: new Map(message.outputs.map((o) => [o.name, o.tensor])), computeMs: message.computeMs });
    else pending.reject(new EcomlError(message.error.code, message.error.message));
    this.drain();
  }

  /** A dead instance fails its runs and, unless the pool is closing, is replaced by a new worker. */
  private lose(instance: Instance, error: EcomlError): void {
    if (!this.all.delete(instance)) return;
    for (const pending of instance.runs.values()) pending.reject(error);
    instance.runs.clear();
    if (this.closing) {
      this.checkIdle();
      return;
    }
    void startInstance(this.setup).then(
      ({ worker }) => (this.closing ? void worker.terminate() : this.adopt(worker)),
      (failure: EcomlError) => {
        if (this.all.size > 0) return;
        // No instance left to run what waits.
        for (const w of this.waiting.splice(0)) w.pending.reject(new EcomlError('E_MODEL_UNAVAILABLE', `the model's instances died and none could be restarted: ${failure.message}`));
      },
    );
  }

  /** The instance with the fewest runs, if it can take one more. */
  private leastBusy(): Instance | undefined {
    let best: Instance | undefined;
    for (const instance of this.all) if (best === undefined || instance.runs.size < best.runs.size) best = instance;
    return best !== undefined && best.runs.size < PIPELINE_DEPTH ? best : undefined;
  }

  /** Sends waiting runs to instances with room, then checks whether the pool has gone idle. */
  private drain(): void {
    for (let instance = this.leastBusy(); instance !== undefined && this.waiting.length > 0; instance = this.leastBusy()) this.dispatch(instance, this.waiting.shift() as Waiting);
    this.checkIdle();
  }

  private dispatch(instance: Instance, run: Waiting): void {
    const id = this.nextId++;
    instance.runs.set(id, run.pending);
    const message: ToWorker = { type: 'run', id, inputs: run.inputs, outputs: run.outputs };
    instance.worker.postMessage(message, transferables(run.inputs));
  }

  infer(inputs: ReadonlyMap<string, Tensor>, outputs: readonly string[]): Promise<InferOutcome> {
    if (this.closing) return Promise.reject(new EcomlError('E_MODEL_UNAVAILABLE', 'the model is unloaded'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ inputs: [...inputs].map(([name, tensor]) => ({ name, tensor })), outputs, pending: { resolve, reject } });
      this.drain();
    });
  }

  private checkIdle(): void {
    if (this.idle !== undefined && this.waiting.length === 0 && [...this.all].every((i) => i.runs.size === 0)) this.idle();
  }

  unload(): Promise<void> {
    this.closing ??= (async () => {
      await new Promise<void>((resolve) => {
        this.idle = resolve;
        this.checkIdle();
      });
      await Promise.all(
        [...this.all].map(
          (instance) =>
            new Promise<void>((resolve) => {
              instance.worker.once('exit', () => resolve());
              instance.worker.postMessage({ type: 'close' } satisfies ToWorker);
            }),
        ),
      );
      this.all.clear();
    })();
    return this.closing;
  }
}

/** A runtime whose instances are worker threads running `backend`, memory estimated by `weightBytes` per instance. */
export function workerRuntime(backend: Backend, weightBytes: (source: string) => Promise<number>): Runtime {
  return {
    name: backend,
    weightBytes,
    async load({ source, threads, instances, device, preprocessing }) {
      const bytes = await weightBytes(source);
      const pool = await WorkerPool.start({ backend, source, threads, ...(device ? { device } : {}), ...(preprocessing ? { preprocessing } : {}) }, instances);
      return { signature: pool.signature, instances: pool.instances, memoryBytes: bytes * pool.instances, infer: (i, o) => pool.infer(i, o), unload: () => pool.unload() };
    },
  };
}
