/**
 * Training and inference throughput of the reference recipe model (Conv2D(32,3×3) → Flatten →
 * Dense(10)) on each engine, with the energy per sample as the meter reports it.
 * Prints a table and writes bench/results/train.json. Usage: npx tsx bench/train.ts [--samples N]
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { applyPreprocessing, loadMnist } from '../src/data/index.js';
import { createEngines } from '../src/engine/index.js';
import { createMeter } from '../src/meter/index.js';
import { defaultHpValues, loadSpecFile, resolveModelSpec } from '../src/models/index.js';
import { methodOf, timeInference, timeTraining, writeResult } from './harness.js';

const { values } = parseArgs({ options: { samples: { type: 'string', default: '6400' } } });
const file = await loadSpecFile(new URL('../examples/mnist-cnn.yaml', import.meta.url).pathname);
const spec = resolveModelSpec(file, defaultHpValues(file.tune?.space ?? {}), { numClasses: 10 });
const data = loadMnist('train', { limit: Number(values.samples) });
applyPreprocessing({ kind: 'scale', scale: 1 / 255 }, data.x);
const meter = await createMeter({});

const rows: { engine: string; phase: 'train' | 'inference'; batch: number; samplesPerSecond: number; samplesPerCpuSecond: number; joulesPerSample: number; method: string }[] = [];
for (const [name, engine] of Object.entries(createEngines())) {
  await engine.ready();
  for (const batch of [32, 64]) {
    const model = await engine.compile(spec, { seed: 1 });
    const t = await timeTraining(meter, `${name} train b${batch}`, model, data, batch);
    rows.push({ engine: name, phase: 'train', batch, samplesPerSecond: t.samplesPerSecond, samplesPerCpuSecond: t.samplesPerCpuSecond, joulesPerSample: t.measurement.energy.joules / data.n, method: methodOf(t.measurement) });
    if (batch === 64) {
      for (const inferBatch of [1, 64, 256]) {
        const p = await timeInference(meter, `${name} predict b${inferBatch}`, model, data, inferBatch);
        const n = inferBatch === 1 ? Math.min(200, data.n) : data.n;
        rows.push({ engine: name, phase: 'inference', batch: inferBatch, samplesPerSecond: p.samplesPerSecond, samplesPerCpuSecond: p.samplesPerCpuSecond, joulesPerSample: p.measurement.energy.joules / n, method: methodOf(p.measurement) });
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
console.log(`wrote ${await writeResult('train', { samples: data.n, rows })}`);
