/**
 * The onnx engine on a GPU against the same engine on the CPU, same machine, same run, for the
 * recipe CNN, the 2-conv CNN and the LSTM:
 * - agreement: the seeded start's predictions, then the loss of each of 20 training steps on the
 *   same batches (dropout masks included);
 * - training samples/s and joules per sample at batch 64 and 256 (best of three epochs), and
 *   inference samples/s at batch 256 and 1024 (best of three passes), each with how the meter
 *   obtained its energy (NVML measures an NVIDIA GPU; the CPU is measured by RAPL or estimated).
 * Where PyTorch with CUDA is installed, its rows (bench/pytorch/models.py on cuda, same models and
 * data) show what a native CUDA stack does on the same GPU; their energy is not metered here.
 * A device that will not start is reported with the engine's error, not skipped in silence.
 * Prints a table and writes bench/results/gpu-engine.json (or --out DIR).
 * Usage: npx tsx bench/gpu-engine.ts [--device webgpu|cuda] [--samples N] [--threads N] [--python P] [--out DIR]
 */
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { applyPreprocessing, batches, limitDataset, loadMnist, mnistDataDir } from '../src/data/index.js';
import { createOnnxEngine, DEVICES } from '../src/engine/onnx/index.js';
import type { Device } from '../src/engine/onnx/index.js';
import type { CompiledModel } from '../src/engine/types.js';
import { createMeter, type Measurement } from '../src/meter/index.js';
import { defaultHpValues, loadSpecFile, resolveModelSpec } from '../src/models/index.js';
import { methodOf, timeInference, timeTraining, type Timed } from './harness.js';
import { maxAbsDiff } from '../src/util/arrays.js';

const { values } = parseArgs({
  options: {
    device: { type: 'string', default: 'webgpu' },
    samples: { type: 'string', default: '6400' },
    threads: { type: 'string', default: String(Math.min(16, cpus().length)) },
    python: { type: 'string', default: 'python3' },
    out: { type: 'string' },
  },
});
const device = values.device as Device;
if (device === 'cpu' || !DEVICES.includes(device)) throw new Error(`--device must be a GPU device (${DEVICES.filter((d) => d !== 'cpu').join(', ')}), got ${values.device}`);
const samples = Number(values.samples);
const threads = Number(values.threads);
const MODELS = [
  { key: 'recipe', spec: 'mnist-cnn.yaml' },
  { key: 'cnn2', spec: 'mnist-cnn2.yaml' },
  { key: 'lstm', spec: 'mnist-lstm.yaml' },
] as const;
const AGREEMENT_STEPS = 20;

interface Phase {
  readonly samplesPerSecond: number;
  readonly joulesPerSample?: number;
  readonly joulesByComponent?: Record<string, number>;
  readonly method?: string;
  /** What the meter said it could not measure, and why. */
  readonly notes?: readonly string[];
}
interface Row {
  readonly model: string;
  readonly engine: string;
  readonly train: Record<string, Phase>;
  readonly inference: Record<string, Phase>;
}

function phase(t: Timed, n: number): Phase {
  const m: Measurement = t.measurement;
  return {
    samplesPerSecond: t.samplesPerSecond,
    joulesPerSample: m.energy.joules / n,
    joulesByComponent: Object.fromEntries(m.energy.components.map((c) => [`${c.name} (${c.method})`, c.joules])),
    method: methodOf(m),
    ...(m.notes !== undefined && m.notes.length > 0 ? { notes: m.notes } : {}),
  };
}

/** PyTorch on CUDA for one model and training batch size, or why it did not run. */
function pytorchCuda(model: string, batchSize: number): { train: Phase; inference: Record<string, Phase> } | string {
  const script = fileURLToPath(new URL('./pytorch/models.py', import.meta.url));
  const args = [script, '--model', model, '--samples', String(samples), '--batch', String(batchSize), '--device', 'cuda', '--infer-batches', '256,1024', '--data', mnistDataDir()];
  const r = spawnSync(values.python, args, { encoding: 'utf8' });
  if (r.status !== 0) return `${values.python} ${script} --device cuda failed: ${(r.stderr || String(r.error)).trim().split('\n').at(-1) ?? ''}`;
  const j = JSON.parse(r.stdout.trim()) as { train_samples_per_second: number; inference_samples_per_second: Record<string, number>; version: string };
  return { train: { samplesPerSecond: j.train_samples_per_second }, inference: Object.fromEntries(Object.entries(j.inference_samples_per_second).map(([b, v]) => [b, { samplesPerSecond: v }])) };
}

const all = loadMnist('train', { limit: samples });
applyPreprocessing({ kind: 'scale', scale: 1 / 255 }, all.x);
const meter = await createMeter({});
const cpu = createOnnxEngine({ threads });
const gpu = createOnnxEngine({ threads, device });
const unavailable = await gpu.ready().then(
  () => undefined,
  (error: unknown) => (error instanceof Error ? error.message : String(error)),
);
const cuda = device === 'cuda' ? undefined : await createOnnxEngine({ device: 'cuda' }).ready().then(() => 'starts', (error: unknown) => (error instanceof Error ? error.message : String(error)));

const rows: Row[] = [];
let pytorchNote: string | undefined;
const agreement: Record<string, { predictions: number; losses: number }> = {};
for (const m of unavailable === undefined ? MODELS : []) {
  const file = await loadSpecFile(fileURLToPath(new URL(`../examples/${m.spec}`, import.meta.url)));
  const spec = resolveModelSpec(file, defaultHpValues(file.tune?.space ?? {}), { numClasses: 10 });
  const data = limitDataset(all, samples);

  const [a, b] = [await cpu.compile(spec, { seed: 1 }), await gpu.compile(spec, { seed: 1 })];
  const probe = data.x.subarray(0, (data.x.length / data.n) * 256);
  const predictions = maxAbsDiff(await a.predict(probe, 256), await b.predict(probe, 256));
  let losses = 0;
  let step = 0;
  for (const batch of batches(data, 64, { shuffle: true, seed: 3, epoch: 0 })) {
    const [la, lb] = [await a.trainBatch(batch.x, batch.y, batch.n), await b.trainBatch(batch.x, batch.y, batch.n)];
    losses = Math.max(losses, Math.abs(la.loss - lb.loss));
    if (++step >= AGREEMENT_STEPS) break;
  }
  agreement[m.key] = { predictions, losses };
  a.dispose();
  b.dispose();

  for (const [engine, e] of [[`onnx-cpu-${threads}t`, cpu], [`onnx-${device}`, gpu]] as const) {
    const train: Record<string, Phase> = {};
    const inference: Record<string, Phase> = {};
    let model: CompiledModel | undefined;
    for (const batchSize of [64, 256]) {
      model?.dispose();
      model = await e.compile(spec, { seed: 1 });
      train[batchSize] = phase(await timeTraining(meter, `${m.key} ${engine} train b${batchSize}`, model, data, batchSize), data.n);
    }
    for (const batchSize of [256, 1024].filter((b) => b <= data.n)) inference[batchSize] = phase(await timeInference(meter, `${m.key} ${engine} predict b${batchSize}`, model as CompiledModel, data, batchSize), data.n);
    model?.dispose();
    rows.push({ model: m.key, engine, train, inference });
  }
  const [t64, t256] = [pytorchCuda(m.key, 64), pytorchCuda(m.key, 256)];
  if (typeof t64 === 'string' || typeof t256 === 'string') pytorchNote = [t64, t256].find((t) => typeof t === 'string') as string;
  else rows.push({ model: m.key, engine: 'pytorch-cuda', train: { 64: t64.train, 256: t256.train }, inference: t64.inference });
}
await meter.close();

if (unavailable !== undefined) console.log(`${device}: unavailable: ${unavailable}`);
if (cuda !== undefined) console.log(`cuda: ${cuda}`);
for (const [key, a] of Object.entries(agreement)) {
  console.log(`${key}: ${device} vs cpu: predictions differ by ≤ ${a.predictions.toExponential(2)}; the losses of ${AGREEMENT_STEPS} steps by ≤ ${a.losses.toExponential(2)}`);
}
const cell = (p: Phase | undefined): string =>
  p === undefined ? '-'.padStart(19) : `${p.samplesPerSecond.toFixed(0).padStart(8)} ${(p.joulesPerSample === undefined ? '-' : (p.joulesPerSample * 1e3).toFixed(3)).padStart(10)}`;
console.log(`${samples} MNIST samples; cells: samples/s, mJ/sample`);
console.log('model   engine          train b64           train b256          infer b256          infer b1024         energy method');
for (const r of rows) {
  console.log(`${r.model.padEnd(7)} ${r.engine.padEnd(14)} ${cell(r.train['64'])} ${cell(r.train['256'])} ${cell(r.inference['256'])} ${cell(r.inference['1024'])} ${r.train['64']?.method ?? ''}`);
}
for (const note of new Set(rows.flatMap((r) => Object.values(r.train).flatMap((p) => p.notes ?? [])))) console.log(`meter: ${note}`);
if (pytorchNote !== undefined) console.log(`pytorch-cuda: ${pytorchNote}`);
const dir = values.out ?? fileURLToPath(new URL('./results/', import.meta.url));
await mkdir(dir, { recursive: true });
const file = join(dir, 'gpu-engine.json');
const result = { bench: 'gpu-engine', date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, cpus: cpus().length, device, threads, samples, unavailable, cuda, pytorch: pytorchNote, agreement, rows };
await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${file}`);
