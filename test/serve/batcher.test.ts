import { describe, expect, it } from 'vitest';
import { Batcher, type BatchingSettings, type BatchRecord, concatenate, split } from '../../src/serve/batcher.js';
import type { EcomlError } from '../../src/errors.js';
import type { InferOutcome } from '../../src/serve/runtimes/runtime.js';
import type { Tensor } from '../../src/serve/tensors.js';

const settings = (over: Partial<BatchingSettings> = {}): BatchingSettings => ({
  maxBatchSize: 8,
  dynamic: true,
  maxQueueDelayMs: 0,
  preferredBatchSizes: [],
  maxQueueSize: 100,
  timeoutMs: 30_000,
  ...over,
});

/**
 * A runtime whose runs finish when the test says (so queues can be built deterministically): it
 * answers y = x + 1 and keeps every batch it was given.
 */
function gatedModel(instances = 1) {
  const runs: { inputs: ReadonlyMap<string, Tensor>; finish: () => void }[] = [];
  return {
    runs,
    model: {
      instances,
      infer(inputs: ReadonlyMap<string, Tensor>): Promise<InferOutcome> {
        return new Promise((resolve) => {
          const x = inputs.get('x') as Tensor;
          const y = Float32Array.from(x.data as Float32Array, (v) => v + 1);
          runs.push({ inputs, finish: () => resolve({ outputs: new Map([['y', { datatype: 'FP32', shape: x.shape, data: y }]]), computeMs: 4 }) });
        });
      },
    },
  };
}

const request = (values: number[], width = 1) => ({
  inputs: new Map([['x', { datatype: 'FP32' as const, shape: [values.length / width, width], data: Float32Array.from(values) }]]),
  outputs: ['y'],
});

const tick = () => new Promise((r) => setImmediate(r));

describe('Batcher', () => {
  it('merges the requests that queued behind a busy instance into one batch, in order, and splits the answers back', async () => {
    const { model, runs } = gatedModel();
    const records: BatchRecord[] = [];
    const batcher = new Batcher(model, settings(), (r) => records.push(r));
    const first = batcher.submit(request([10]));
    await tick();
    expect(runs).toHaveLength(1);
    const waiting = [batcher.submit(request([1])), batcher.submit(request([2, 3])), batcher.submit(request([4]))];
    await tick();
    expect(runs).toHaveLength(1);
    runs[0]?.finish();
    await first;
    await tick();
    expect(runs).toHaveLength(2);
    expect((runs[1]?.inputs.get('x') as Tensor).shape).toEqual([4, 1]);
    runs[1]?.finish();
    const answers = await Promise.all(waiting);
    expect(answers.map((a) => Array.from(a.outputs.get('y')?.data as Float32Array))).toEqual([[2], [3, 4], [5]]);
    expect(answers.map((a) => a.batchSize)).toEqual([4, 4, 4]);
    // Compute time is shared by samples: 4 ms over 4 samples.
    expect(answers.map((a) => a.computeMs)).toEqual([1, 2, 1]);
    expect(records.map((r) => [r.size, r.requests])).toEqual([[1, 1], [4, 3]]);
  });

  it('never exceeds max_batch_size and keeps the rest for the next batch', async () => {
    const { model, runs } = gatedModel();
    const batcher = new Batcher(model, settings({ maxBatchSize: 3 }));
    const blocker = batcher.submit(request([0]));
    await tick();
    const queued = [1, 2, 3, 4, 5].map((v) => batcher.submit(request([v])));
    runs[0]?.finish();
    await blocker;
    await tick();
    expect((runs[1]?.inputs.get('x') as Tensor).shape[0]).toBe(3);
    runs[1]?.finish();
    await tick();
    await tick();
    expect((runs[2]?.inputs.get('x') as Tensor).shape[0]).toBe(2);
    runs[2]?.finish();
    expect((await Promise.all(queued)).map((a) => (a.outputs.get('y')?.data as Float32Array)[0])).toEqual([2, 3, 4, 5, 6]);
  });

  it('batches only compatible requests (same inputs and shapes past the batch dimension)', async () => {
    const { model, runs } = gatedModel();
    const batcher = new Batcher(model, settings());
    const blocker = batcher.submit(request([0]));
    await tick();
    const a = batcher.submit(request([1, 2], 2));
    const b = batcher.submit(request([3]));
    const c = batcher.submit(request([4, 5], 2));
    runs[0]?.finish();
    await blocker;
    await tick();
    expect((runs[1]?.inputs.get('x') as Tensor).shape).toEqual([2, 2]);
    runs[1]?.finish();
    await tick();
    await tick();
    expect((runs[2]?.inputs.get('x') as Tensor).shape).toEqual([1, 1]);
    runs[2]?.finish();
    await Promise.all([a, b, c]);
  });

  it('without dynamic batching runs each request as sent, the next one queued in the busy instance', async () => {
    const { model, runs } = gatedModel();
    const batcher = new Batcher(model, settings({ dynamic: false }));
    const all = [batcher.submit(request([1])), batcher.submit(request([2])), batcher.submit(request([3]))];
    await tick();
    // One running and one queued behind it (PIPELINE_DEPTH 2); the third waits in the batcher.
    expect(runs).toHaveLength(2);
    runs[0]?.finish();
    await tick();
    await tick();
    expect(runs).toHaveLength(3);
    runs[1]?.finish();
    runs[2]?.finish();
    await Promise.all(all);
    expect(runs.map((r) => (r.inputs.get('x') as Tensor).shape[0])).toEqual([1, 1, 1]);
  });

  it('sends a second batch to a busy instance only when it is full', async () => {
    const { model, runs } = gatedModel();
    const batcher = new Batcher(model, settings({ maxBatchSize: 2 }));
    const first = batcher.submit(request([0]));
    await tick();
    const partial = batcher.submit(request([1]));
    await tick();
    // A partial batch waits for the instance: more requests may join it.
    expect(runs).toHaveLength(1);
    const joining = batcher.submit(request([2]));
    await tick();
    // Now it is full and cannot grow: it goes on, queued in the busy instance.
    expect(runs).toHaveLength(2);
    expect((runs[1]?.inputs.get('x') as Tensor).shape[0]).toBe(2);
    runs.forEach((r) => r.finish());
    await Promise.all([first, partial, joining]);
  });

  it('waits up to max_queue_delay for more requests while an instance is free, and sends a preferred size at once', async () => {
    const { model, runs } = gatedModel();
    const batcher = new Batcher(model, settings({ maxQueueDelayMs: 60_000, preferredBatchSizes: [3] }));
    const a = batcher.submit(request([1]));
    const b = batcher.submit(request([2]));
    await tick();
    expect(runs).toHaveLength(0);
    const c = batcher.submit(request([3]));
    await tick();
    expect(runs).toHaveLength(1);
    expect((runs[0]?.inputs.get('x') as Tensor).shape[0]).toBe(3);
    runs[0]?.finish();
    await Promise.all([a, b, c]);
  });

  it('sends what waited once the oldest request has waited max_queue_delay', async () => {
    const { model, runs } = gatedModel();
    const batcher = new Batcher(model, settings({ maxQueueDelayMs: 20 }));
    const a = batcher.submit(request([1]));
    await tick();
    expect(runs).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 40));
    expect(runs).toHaveLength(1);
    runs[0]?.finish();
    await a;
  });

  it('refuses a request beyond the queue bound with E_OVERLOADED, and one larger than max_batch_size with E_REQUEST_INVALID', async () => {
    const { model, runs } = gatedModel();
    const batcher = new Batcher(model, settings({ maxQueueSize: 2, maxBatchSize: 4 }));
    const blocker = batcher.submit(request([0]));
    await tick();
    const queued = [batcher.submit(request([1])), batcher.submit(request([2]))];
    await expect(batcher.submit(request([3]))).rejects.toMatchObject({ code: 'E_OVERLOADED' });
    await expect(batcher.submit(request([1, 2, 3, 4, 5]))).rejects.toMatchObject({ code: 'E_REQUEST_INVALID' });
    runs[0]?.finish();
    await blocker;
    await tick();
    runs[1]?.finish();
    await Promise.all(queued);
  });

  it('answers E_TIMEOUT to a request not answered in time, queued or running, and the rest carry on', async () => {
    const { model, runs } = gatedModel();
    const batcher = new Batcher(model, settings({ timeoutMs: 30 }));
    const running = batcher.submit(request([1]));
    await tick();
    const queued = batcher.submit({ ...request([2]), timeoutMs: 10 });
    const [r, q] = await Promise.allSettled([running, queued]);
    expect((r as PromiseRejectedResult).reason as EcomlError).toMatchObject({ code: 'E_TIMEOUT' });
    expect((q as PromiseRejectedResult).reason as EcomlError).toMatchObject({ code: 'E_TIMEOUT', message: expect.stringMatching(/still queued/) });
    runs[0]?.finish();
    await tick();
    const later = batcher.submit(request([5]));
    await tick();
    runs[1]?.finish();
    expect(Array.from((await later).outputs.get('y')?.data as Float32Array)).toEqual([6]);
  });

  it('drain sends what waits at once, refuses new requests and resolves when all are answered', async () => {
    const { model, runs } = gatedModel();
    const batcher = new Batcher(model, settings({ maxQueueDelayMs: 60_000 }));
    const a = batcher.submit(request([1]));
    await tick();
    expect(runs).toHaveLength(0);
    let drained = false;
    const draining = batcher.drain().then(() => (drained = true));
    await tick();
    expect(runs).toHaveLength(1);
    await expect(batcher.submit(request([2]))).rejects.toMatchObject({ code: 'E_OVERLOADED' });
    expect(drained).toBe(false);
    runs[0]?.finish();
    await a;
    await draining;
    expect(drained).toBe(true);
  });

  it('uses every instance, two runs deep', async () => {
    const { model, runs } = gatedModel(3);
    const batcher = new Batcher(model, settings({ dynamic: false }));
    const all = [1, 2, 3, 4, 5, 6, 7].map((v) => batcher.submit(request([v])));
    await tick();
    expect(runs).toHaveLength(6);
    runs.forEach((r) => r.finish());
    await tick();
    await tick();
    expect(runs).toHaveLength(7);
    runs[6]?.finish();
    await Promise.all(all);
  });
});

describe('concatenate and split', () => {
  it('stack along the first dimension and cut back exactly, for numbers and byte strings', () => {
    const a: Tensor = { datatype: 'INT64', shape: [1, 2], data: BigInt64Array.of(1n, 2n) };
    const b: Tensor = { datatype: 'INT64', shape: [2, 2], data: BigInt64Array.of(3n, 4n, 5n, 6n) };
    const joined = concatenate([a, b]);
    expect(joined.shape).toEqual([3, 2]);
    expect(Array.from(joined.data as BigInt64Array)).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
    expect(split(joined, [1, 2]).map((t) => [t.shape, Array.from(t.data as BigInt64Array)])).toEqual([
      [[1, 2], [1n, 2n]],
      [[2, 2], [3n, 4n, 5n, 6n]],
    ]);
    const s = concatenate([
      { datatype: 'BYTES', shape: [1], data: [Uint8Array.of(1)] },
      { datatype: 'BYTES', shape: [1], data: [Uint8Array.of(2, 3)] },
    ]);
    expect(split(s, [1, 1]).map((t) => (t.data as Uint8Array[]).map((x) => Array.from(x)))).toEqual([[[1]], [[2, 3]]]);
  });

  it('refuses to split an output whose first dimension is not the batch', () => {
    expect(() => split({ datatype: 'FP32', shape: [1, 3], data: new Float32Array(3) }, [1, 1])).toThrow(/cannot be split/);
  });
});
