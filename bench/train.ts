/**
 * Training and inference throughput of the reference recipe model (Conv2D(32,3×3) → Flatten →
 * Dense(10)) on each engine, with the energy per sample as the meter reports it.
 * Prints a table and writes bench/results/train.json. Usage: npx tsx bench/train.ts [--samples N]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { applyPreprocessing, batches, loadMnist } from '../src/data/index.js';
import { createEngines } from '../src/engine/index.js';
import { createMeter } from '../src/meter/index.js';
import type { Measurement } from '../src/meter/index.js';
import { loadSpecFile, resolveModelSpec, defaultHpValues } from '../src/models/index.js';

const { values } = parseArgs({ options: { samples: { type: 'string', default: '6400' } } });
const trainSamples = Number(values.samples);

const file = await loadSpecFile(new URL('../examples/mnist-cnn.yaml', import.meta.url).pathname);
const spec = resolveModelSpec(file, defaultHpValues(file.tune?.space ?? {}), { numClasses: 10 });
const data = loadMnist('train', { limit: trainSamples });
applyPreprocessing({ kind: 'scale', scale: 1 / 255 }, data.x);
const meter = await createMeter({});

interface Row {
  engine: string;
  phase: 'train' | 'inference';
  batch: number;
  samplesPerSecond: number;
  samplesPerCpuSecond: number;
  joulesPerSample: number;
  method: string;
}
const rows: Row[] = [];

async function timed(label: string, samples: number, work: () => Promise<void>): Promise<{ sps: number; spcs: number; m: Measurement }> {
  const window = await meter.begin(label);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await work();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const m = await window.end();
  return { sps: samples / seconds, spcs: samples / ((cpu.user + cpu.system) / 1e6), m };
}

function methodOf(m: Measurement): string {
  return [...new Set(m.energy.components.map((c) => c.method))].join('+');
}

const engines = createEngines();
for (const [name, engine] of Object.entries(engines)) {
  await engine.ready();
  for (const batch of [32, 64]) {
    const model = await engine.compile(spec, { seed: 1 });
    // Warm-up: first steps compile kernels and allocate.
    const warm = batches(data, batch, { shuffle: true, seed: 1, epoch: 0 });
    let i = 0;
    for (const b of warm) {
      await model.trainBatch(b.x, b.y, b.n);
      if (++i >= 5) break;
    }
    const r = await timed(`${name} train b${batch}`, data.n, async () => {
      for (const b of batches(data, batch, { shuffle: true, seed: 1, epoch: 1 })) await model.trainBatch(b.x, b.y, b.n);
    });
    rows.push({ engine: name, phase: 'train', batch, samplesPerSecond: r.sps, samplesPerCpuSecond: r.spcs, joulesPerSample: r.m.energy.joules / data.n, method: methodOf(r.m) });
    if (batch === 64) {
      for (const inferBatch of [1, 64, 256]) {
        const n = inferBatch === 1 ? 500 : data.n;
        await model.predict(data.x.subarray(0, 784 * inferBatch), inferBatch, inferBatch);
        const p = await timed(`${name} predict b${inferBatch}`, n, async () => {
          await model.predict(data.x.subarray(0, 784 * n), n, inferBatch);
        });
        rows.push({ engine: name, phase: 'inference', batch: inferBatch, samplesPerSecond: p.sps, samplesPerCpuSecond: p.spcs, joulesPerSample: p.m.energy.joules / n, method: methodOf(p.m) });
      }
    }
    model.dispose();
  }
}
await meter.close();

console.log(`recipe model, ${data.n} MNIST samples, ${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}`);
console.log('engine  phase      batch  samples/s  samples/CPU-s  mJ/sample  method');
for (const r of rows) {
  console.log(
    `${r.engine.padEnd(7)} ${r.phase.padEnd(10)} ${String(r.batch).padStart(5)}  ${r.samplesPerSecond.toFixed(0).padStart(9)}  ${r.samplesPerCpuSecond.toFixed(0).padStart(13)}  ${(r.joulesPerSample * 1e3).toFixed(3).padStart(9)}  ${r.method}`,
  );
}
const out = new URL('./results/', import.meta.url);
await mkdir(out, { recursive: true });
const result = { bench: 'train', date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, cpus: cpus().length, samples: data.n, rows };
await writeFile(new URL('train.json', out), `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${new URL('train.json', out).pathname}`);
