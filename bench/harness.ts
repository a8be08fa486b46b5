/** Shared pieces of the benchmarks: metered timing of a piece of work and writing results. */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { batches, type Dataset } from '../src/data/index.js';
import type { CompiledModel } from '../src/engine/index.js';
import type { Meter, Measurement } from '../src/meter/index.js';

export interface Timed {
  readonly samplesPerSecond: number;
  readonly samplesPerCpuSecond: number;
  readonly measurement: Measurement;
}

export async function timed(meter: Meter, label: string, samples: number, work: () => Promise<void>): Promise<Timed> {
  const window = await meter.begin(label);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await work();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const measurement = await window.end();
  return { samplesPerSecond: samples / seconds, samplesPerCpuSecond: samples / ((cpu.user + cpu.system) / 1e6), measurement };
}

export function methodOf(m: Measurement): string {
  return [...new Set(m.energy.components.map((c) => c.method))].join('+');
}

/**
 * Training throughput after `warmup` steps (kernel compilation, allocation): the best of `epochs`
 * epochs, since an epoch is short and a shared machine's noise is not.
 */
export async function timeTraining(meter: Meter, label: string, model: CompiledModel, data: Dataset, batchSize: number, epochs = 3, warmup = 5): Promise<Timed> {
  let warm = 0;
  for (const b of batches(data, batchSize, { shuffle: true, seed: 1, epoch: 0 })) {
    await model.trainBatch(b.x, b.y, b.n);
    if (++warm >= warmup) break;
  }
  return best(epochs, (epoch) =>
    timed(meter, label, data.n, async () => {
      for (const b of batches(data, batchSize, { shuffle: true, seed: 1, epoch: epoch + 1 })) await model.trainBatch(b.x, b.y, b.n);
    }),
  );
}

/** The fastest of `runs` runs, or of as many more as fit in `seconds` of running (at most 20). */
async function best(runs: number, run: (i: number) => Promise<Timed>, seconds = 0): Promise<Timed> {
  let top: Timed | undefined;
  const t0 = performance.now();
  for (let i = 0; i < 20 && (i < runs || performance.now() - t0 < seconds * 1000); i++) {
    const t = await run(i);
    if (top === undefined || t.samplesPerSecond > top.samplesPerSecond) top = t;
  }
  return top as Timed;
}

/**
 * Prediction throughput at one batch size (batch 1 over the first 200 samples): the best of at
 * least three passes and of as many as fit in 2 s (at most 20), since a fast engine's pass takes
 * tens of milliseconds and a shared machine's bursts of noise last longer (bench/pytorch/models.py
 * times PyTorch the same way).
 */
export async function timeInference(meter: Meter, label: string, model: CompiledModel, data: Dataset, batchSize: number): Promise<Timed> {
  const perSample = data.x.length / data.n;
  const n = batchSize === 1 ? Math.min(200, data.n) : data.n;
  await model.predict(data.x.subarray(0, perSample * batchSize), batchSize, batchSize);
  return best(
    3,
    () =>
      timed(meter, label, n, async () => {
        await model.predict(data.x.subarray(0, perSample * n), n, batchSize);
      }),
    2,
  );
}

export async function writeResult(name: string, result: Record<string, unknown>): Promise<string> {
  const out = new URL('./results/', import.meta.url);
  await mkdir(out, { recursive: true });
  const file = new URL(`${name}.json`, out);
  await writeFile(file, `${JSON.stringify({ bench: name, date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, cpus: cpus().length, ...result }, null, 2)}\n`);
  return file.pathname;
}
