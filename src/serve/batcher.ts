/**
 * Per-model request scheduling, Triton's dynamic batcher in behaviour: requests wait in one bounded
 * FIFO queue; whenever an instance is free, the oldest request and the compatible ones behind it
 * (same inputs, same shapes but for the batch dimension) are merged into one batch of at most
 * `maxBatchSize` samples. A batch leaves at once when it is full or reaches a preferred size, or when
 * its oldest request has waited `maxQueueDelayMs`; otherwise it waits, under one timer. A full batch
 * may also go to a busy instance, to start as its current run ends (PIPELINE_DEPTH). Without dynamic
 * batching each request runs as sent. A full queue refuses (E_OVERLOADED, 503); a request not
 * answered within its timeout gets E_TIMEOUT (504).
 * @module
 */
import { EcomlError } from '../errors.js';
import { PIPELINE_DEPTH, type InferOutcome, type LoadedModel } from './runtimes/runtime.js';
import { DATATYPE_INFO, elementCount, type NumericArray, type Tensor } from './tensors.js';

export interface BatchingSettings {
  /** Largest batch in samples along the first dimension; 0 when the model does not batch. */
  readonly maxBatchSize: number;
  /** Merge requests into batches (needs maxBatchSize > 0). */
  readonly dynamic: boolean;
  readonly maxQueueDelayMs: number;
  /** Batch sizes to send as soon as they are reached (ascending). */
  readonly preferredBatchSizes: readonly number[];
  /** Requests that may wait; one more is refused. */
  readonly maxQueueSize: number;
  /** How long a request may take from arrival to answer, unless it asks for less. */
  readonly timeoutMs: number;
}

export interface BatchRequest {
  readonly inputs: ReadonlyMap<string, Tensor>;
  readonly outputs: readonly string[];
  /** Its own timeout in milliseconds (Triton's `parameters.timeout`), at most the model's. */
  readonly timeoutMs?: number;
}

export interface BatchAnswer {
  readonly outputs: ReadonlyMap<string, Tensor>;
  /** Samples in the batch it ran in. */
  readonly batchSize: number;
  readonly queueMs: number;
  /** Its share of the batch's compute time, by samples. */
  readonly computeMs: number;
}

/** What one executed batch was: for metrics and energy attribution. */
export interface BatchRecord {
  readonly size: number;
  readonly requests: number;
  readonly computeMs: number;
  readonly queueMs: readonly number[];
}

interface Entry {
  readonly request: BatchRequest;
  readonly key: string;
  readonly samples: number;
  readonly arrivedMs: number;
  readonly resolve: (answer: BatchAnswer) => void;
  readonly reject: (error: EcomlError) => void;
  /** When it times out (performance.now() milliseconds), and after how long. */
  readonly deadlineMs: number;
  readonly timeoutMs: number;
  settled: boolean;
}

/** Inputs whose names, datatypes and shapes past the first dimension agree can share a batch. */
function compatibilityKey(inputs: ReadonlyMap<string, Tensor>, batched: boolean): string {
  return [...inputs]
    .map(([name, t]) => `${name}:${t.datatype}:${(batched ? t.shape.slice(1) : t.shape).join('x')}`)
    .sort()
    .join('|');
}

/** Stacks the same input of several requests along the first dimension. */
export function concatenate(parts: readonly Tensor[]): Tensor {
  const first = parts[0] as Tensor;
  if (parts.length === 1) return first;
  const rows = parts.reduce((n, t) => n + (t.shape[0] as number), 0);
  const shape = [rows, ...first.shape.slice(1)];
  if (DATATYPE_INFO[first.datatype].kind === 'bytes') return { datatype: first.datatype, shape, data: parts.flatMap((t) => t.data as readonly Uint8Array[]) };
  const Array_ = (first.data as NumericArray).constructor as new (length: number) => NumericArray;
  const out = new Array_(elementCount(shape));
  let offset = 0;
  for (const t of parts) {
    const data = t.data as NumericArray;
    (out as Float32Array).set(data as Float32Array, offset);
    offset += data.length;
  }
  return { datatype: first.datatype, shape, data: out };
}

/** Splits a batch's output back into per-request tensors of `rows[i]` samples each. */
export function split(tensor: Tensor, rows: readonly number[]): Tensor[] {
  if (rows.length === 1) return [tensor];
  const total = rows.reduce((a, b) => a + b, 0);
  if (tensor.shape[0] !== total) {
    throw new EcomlError('E_ENGINE_FAILED', `an output's first dimension is ${tensor.shape[0]}, not the batch's ${total}: this model's outputs cannot be split into requests`);
  }
  const perRow = elementCount(tensor.shape.slice(1));
  let offset = 0;
  return rows.map((n) => {
    const shape = [n, ...tensor.shape.slice(1)];
    const data = tensor.data as NumericArray | readonly Uint8Array[];
    const piece = data.slice(offset * perRow, (offset + n) * perRow) as NumericArray | Uint8Array[];
    offset += n;
    return { datatype: tensor.datatype, shape, data: piece };
  });
}

export class Batcher {
  private readonly queue: Entry[] = [];
  private running = 0;
  /** Requests in a batch that is running, watched for their deadlines like the queued ones. */
  private readonly inFlight = new Set<Entry>();
  private timer: NodeJS.Timeout | undefined;
  /** One timer for the earliest deadline, not one per request: requests arrive by the thousand per second. */
  private deadlineTimer: NodeJS.Timeout | undefined;
  private deadlineAt = Infinity;
  private draining = false;
  /** Send what waits without waiting for more (shutting down), still taking new requests. */
  private flushing = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly model: Pick<LoadedModel, 'infer' | 'instances'>,
    private readonly settings: BatchingSettings,
    private readonly onBatch: (record: BatchRecord) => void = () => undefined,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Requests waiting or running. */
  get pending(): number {
    return this.queue.length + this.running;
  }

  submit(request: BatchRequest): Promise<BatchAnswer> {
    const batched = this.settings.maxBatchSize > 0;
    const samples = batched ? samplesOf(request.inputs) : 1;
    if (batched && samples > this.settings.maxBatchSize) {
      return Promise.reject(
        new EcomlError('E_REQUEST_INVALID', `the request's batch of ${samples} is larger than the model's max_batch_size ${this.settings.maxBatchSize}`, {
          details: { batch: samples, maxBatchSize: this.settings.maxBatchSize },
        }),
      );
    }
    if (this.draining) return Promise.reject(new EcomlError('E_OVERLOADED', 'the server is shutting down and takes no new requests'));
    if (this.queue.length >= this.settings.maxQueueSize) {
      return Promise.reject(
        new EcomlError('E_OVERLOADED', `the model's queue is full (${this.settings.maxQueueSize} requests waiting); try again later`, { details: { maxQueueSize: this.settings.maxQueueSize } }),
      );
    }
    return new Promise((resolve, reject) => {
      const arrivedMs = this.now();
      const timeoutMs = Math.min(request.timeoutMs ?? Infinity, this.settings.timeoutMs);
      const entry: Entry = { request, key: compatibilityKey(request.inputs, batched), samples, arrivedMs, resolve, reject, deadlineMs: arrivedMs + timeoutMs, timeoutMs, settled: false };
      this.queue.push(entry);
      if (entry.deadlineMs < this.deadlineAt) this.armDeadline(entry.deadlineMs);
      this.pump();
    });
  }

  /** From now on, sends what waits without waiting for more requests to batch with. */
  flush(): void {
    this.flushing = true;
    this.pump();
  }

  /** Sends everything waiting without further delay and resolves once nothing is waiting or running; new requests are refused. */
  drain(): Promise<void> {
    this.draining = true;
    this.pump();
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private armDeadline(at: number): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineAt = at;
    this.deadlineTimer = Number.isFinite(at) ? setTimeout(() => this.expireDue(), Math.max(0, at - this.now())) : undefined;
  }

  /** Answers E_TIMEOUT to every request past its deadline, queued or running, and watches for the next. */
  private expireDue(): void {
    const now = this.now();
    let next = Infinity;
    for (const entry of [...this.queue, ...this.inFlight]) {
      if (entry.settled) continue;
      if (entry.deadlineMs > now) {
        next = Math.min(next, entry.deadlineMs);
        continue;
      }
      const at = this.queue.indexOf(entry);
      if (at >= 0) this.queue.splice(at, 1);
      this.settle(entry, new EcomlError('E_TIMEOUT', `the request was not answered within ${entry.timeoutMs} ms${at >= 0 ? ' (it was still queued)' : ''}`, { details: { timeoutMs: entry.timeoutMs } }));
    }
    this.armDeadline(next);
    this.checkIdle();
  }

  private settle(entry: Entry, outcome: BatchAnswer | EcomlError): void {
    if (entry.settled) return;
    entry.settled = true;
    this.inFlight.delete(entry);
    if (outcome instanceof EcomlError) entry.reject(outcome);
    else entry.resolve(outcome);
  }

  private pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length > 0 && this.running < this.model.instances * PIPELINE_DEPTH) {
      const batch = this.next(this.running < this.model.instances);
      if (batch === undefined) break;
      void this.execute(batch);
    }
  }

  /**
   * The next batch to send now, or undefined when it should wait (with the timer armed when an
   * instance is free). With every instance busy only what cannot grow goes on: a full batch, or a
   * request that runs as sent; it queues in an instance's thread and starts as the current run ends.
   */
  private next(free: boolean): Entry[] | undefined {
    const { dynamic, maxBatchSize, maxQueueDelayMs, preferredBatchSizes } = this.settings;
    const head = this.queue[0] as Entry;
    if (!dynamic || maxBatchSize === 0) return this.take([head]);
    const candidates: Entry[] = [];
    let total = 0;
    for (const entry of this.queue) {
      if (entry.key !== head.key || total + entry.samples > maxBatchSize) continue;
      candidates.push(entry);
      total += entry.samples;
      if (total === maxBatchSize) break;
    }
    if (total >= maxBatchSize || this.draining || this.flushing) return this.take(candidates);
    if (!free) return undefined;
    const waited = this.now() - head.arrivedMs;
    if (waited >= maxQueueDelayMs) return this.take(candidates);
    // The largest preferred size the queue fills now leaves at once.
    let reached = 0;
    let prefix = 0;
    let count = 0;
    for (const entry of candidates) {
      prefix += entry.samples;
      count++;
      if (preferredBatchSizes.includes(prefix)) reached = count;
    }
    if (reached > 0) return this.take(candidates.slice(0, reached));
    this.timer = setTimeout(() => this.pump(), maxQueueDelayMs - waited);
    return undefined;
  }

  private take(entries: Entry[]): Entry[] {
    const chosen = new Set(entries);
    for (let i = this.queue.length - 1; i >= 0; i--) if (chosen.has(this.queue[i] as Entry)) this.queue.splice(i, 1);
    return entries;
  }

  private async execute(entries: Entry[]): Promise<void> {
    this.running++;
    for (const entry of entries) this.inFlight.add(entry);
    const startedMs = this.now();
    const rows = entries.map((e) => e.samples);
    const size = rows.reduce((a, b) => a + b, 0);
    try {
      const first = (entries[0] as Entry).request;
      const inputs = new Map([...first.inputs.keys()].map((name) => [name, concatenate(entries.map((e) => e.request.inputs.get(name) as Tensor))]));
      const outputs = [...new Set(entries.flatMap((e) => e.request.outputs))];
      let outcome: InferOutcome;
      try {
        outcome = await this.model.infer(inputs, outputs);
      } finally {
        this.running--;
      }
      const pieces = new Map([...outcome.outputs].map(([name, t]) => [name, split(t, rows)]));
      this.onBatch({ size, requests: entries.length, computeMs: outcome.computeMs, queueMs: entries.map((e) => startedMs - e.arrivedMs) });
      entries.forEach((entry, i) => {
        const own = new Map(entry.request.outputs.map((name) => [name, (pieces.get(name) as Tensor[])[i] as Tensor]));
        this.settle(entry, { outputs: own, batchSize: size, queueMs: startedMs - entry.arrivedMs, computeMs: (outcome.computeMs * entry.samples) / size });
      });
    } catch (error) {
      const failure = error instanceof EcomlError ? error : new EcomlError('E_ENGINE_FAILED', String(error), { cause: error });
      for (const entry of entries) this.settle(entry, failure);
    }
    this.pump();
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.pending === 0 && this.deadlineTimer !== undefined) this.armDeadline(Infinity);
    if (this.pending > 0 || this.idleWaiters.length === 0) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

/** A request's batch: the first dimension its inputs share. */
function samplesOf(inputs: ReadonlyMap<string, Tensor>): number {
  let samples: number | undefined;
  for (const [name, t] of inputs) {
    const rows = t.shape[0];
    if (rows === undefined) throw new EcomlError('E_REQUEST_INVALID', `input "${name}" is a scalar, but this model batches along its inputs' first dimension`, { details: { input: name } });
    if (samples !== undefined && rows !== samples) {
      throw new EcomlError('E_REQUEST_INVALID', `inputs disagree on the batch size: "${name}" has ${rows}, another ${samples}`, { details: { input: name } });
    }
    samples = rows;
  }
  if (samples === undefined || samples < 1) throw new EcomlError('E_REQUEST_INVALID', 'a request needs at least one sample in its batch', { details: {} });
  return samples;
}
