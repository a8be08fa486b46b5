/**
 * Engines against each other and against PyTorch, same machine, same run: training samples/s and
 * samples per CPU-second (batch 64) and inference samples/s at batch 1/64/256 (best of ≥ 3 passes,
 * as many as fit in 2 s), for the recipe CNN, the 2-conv CNN and the LSTM. PyTorch (Debian
 * `python3-torch`) runs at 1 and 2 threads when installed; the onnx engine runs at 1 and 2 threads
 * too. Training is the best epoch of `--rounds` rounds of three epochs each, a round timing the
 * onnx engine and then PyTorch, so that a burst of noise on a shared machine falls on each side in
 * turn rather than on one (tfjs, far slower, trains in the first round only). Goals: onnx ≥ 2×
 * PyTorch's best training on the two CNNs; onnx inference ≥ 5× tfjs at batch 256, on all three.
 * Prints a table and writes bench/results/engine.json.
 * Usage: npx tsx bench/engine.ts [--samples N] [--rounds R] [--models recipe,cnn2,lstm] [--python P]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { applyPreprocessing, limitDataset, loadMnist } from '../src/data/index.js';
import { createOnnxEngine, createTfjsEngine } from '../src/engine/index.js';
import type { CompiledModel } from '../src/engine/index.js';
import { createMeter } from '../src/meter/index.js';
import { defaultHpValues, loadSpecFile, resolveModelSpec } from '../src/models/index.js';
import { timeInference, timeTraining, writeResult } from './harness.js';

const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '6400' },
    rounds: { type: 'string', default: '2' },
    models: { type: 'string', default: 'recipe,cnn2,lstm' },
    python: { type: 'string', default: '/usr/bin/python3' },
  },
});
const samples = Number(values.samples);
const rounds = Math.max(1, Number(values.rounds));
const MODELS = [
  { key: 'recipe', spec: 'mnist-cnn.yaml', samples },
  // The slower models train on half the samples so the tfjs rows stay short.
  { key: 'cnn2', spec: 'mnist-cnn2.yaml', samples: Math.max(640, Math.floor(samples / 2)) },
  { key: 'lstm', spec: 'mnist-lstm.yaml', samples: Math.max(640, Math.floor(samples / 2)) },
].filter((m) => values.models.split(',').includes(m.key));

interface Row {
  readonly model: string;
  readonly engine: string;
  trainSamplesPerSecond?: number;
  trainSamplesPerCpuSecond?: number;
  inference: Record<string, number>;
  note?: string;
}

/** Keeps the faster of `row`'s training figures and `t`'s. */
function keepFaster(row: Row, t: { samplesPerSecond: number; samplesPerCpuSecond: number }): void {
  if ((row.trainSamplesPerSecond ?? 0) >= t.samplesPerSecond) return;
  row.trainSamplesPerSecond = t.samplesPerSecond;
  row.trainSamplesPerCpuSecond = t.samplesPerCpuSecond;
}

const all = loadMnist('train', { limit: samples });
applyPreprocessing({ kind: 'scale', scale: 1 / 255 }, all.x);
const meter = await createMeter({});
const rows: Row[] = [];
const torch = spawnSync(values.python, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
const torchScript = fileURLToPath(new URL('./pytorch/models.py', import.meta.url));

for (const m of MODELS) {
  const file = await loadSpecFile(fileURLToPath(new URL(`../examples/${m.spec}`, import.meta.url)));
  const spec = resolveModelSpec(file, defaultHpValues(file.tune?.space ?? {}), { numClasses: 10 });
  const data = limitDataset(all, m.samples);
  // The onnx engine at 1 and 2 intra-op threads, as PyTorch below: the goals compare the best of each.
  const ours: { row: Row; model: CompiledModel }[] = [];
  for (const [name, engine] of [['tfjs', createTfjsEngine()], ...[1, 2].map((threads) => [`onnx-${threads}t`, createOnnxEngine({ threads })] as const)] as const) {
    const reason = engine.unsupportedReason?.(spec);
    if (reason !== undefined) {
      rows.push({ model: m.key, engine: name, inference: {}, note: `not supported (${reason}): falls back to tfjs` });
      continue;
    }
    await engine.ready();
    const row: Row = { model: m.key, engine: name, inference: {} };
    rows.push(row);
    ours.push({ row, model: await engine.compile(spec, { seed: 1 }) });
  }
  const theirs = torch ? [1, 2].map((threads): Row => ({ model: m.key, engine: `pytorch-${threads}t`, inference: {} })) : [];
  rows.push(...theirs);
  for (let round = 0; round < rounds; round++) {
    for (const { row, model } of ours) if (round === 0 || row.engine !== 'tfjs') keepFaster(row, await timeTraining(meter, `${m.key} ${row.engine} train`, model, data, 64));
    for (const [i, row] of theirs.entries()) {
      const args = [torchScript, '--model', m.key, '--samples', String(m.samples), '--threads', String(i + 1), '--batch', '64', '--infer-batches', round === 0 ? '1,64,256' : ''];
      const r = spawnSync(values.python, args, { encoding: 'utf8' });
      if (r.status !== 0) {
        row.note = `failed: ${r.stderr.trim().split('\n').at(-1) ?? ''}`;
        continue;
      }
      const j = JSON.parse(r.stdout.trim()) as { train_samples_per_second: number; train_samples_per_cpu_second: number; inference_samples_per_second: Record<string, number> };
      keepFaster(row, { samplesPerSecond: j.train_samples_per_second, samplesPerCpuSecond: j.train_samples_per_cpu_second });
      if (round === 0) row.inference = j.inference_samples_per_second;
    }
  }
  for (const { row, model } of ours) {
    for (const b of [1, 64, 256]) row.inference[b] = (await timeInference(meter, `${m.key} ${row.engine} b${b}`, model, data, b)).samplesPerSecond;
    model.dispose();
  }
}
await meter.close();

const fmt = (v: number | undefined): string => (v === undefined ? '-' : v.toFixed(0)).padStart(9);
console.log('model   engine        train/s  train/CPU-s   infer b1  infer b64 infer b256  note');
for (const r of rows) {
  console.log(`${r.model.padEnd(7)} ${r.engine.padEnd(11)} ${fmt(r.trainSamplesPerSecond)} ${fmt(r.trainSamplesPerCpuSecond)}  ${fmt(r.inference['1'])} ${fmt(r.inference['64'])} ${fmt(r.inference['256'])}  ${r.note ?? ''}`);
}
if (!torch) console.log(`PyTorch not found (${values.python} -c "import torch" failed): install it with apt-get install python3-torch to add its rows.`);

const goals: Record<string, string> = {};
const best = (key: string, engine: string, value: (r: Row) => number | undefined): number =>
  Math.max(0, ...rows.filter((r) => r.model === key && r.engine.startsWith(engine)).map((r) => value(r) ?? 0));
for (const key of MODELS.map((m) => m.key)) {
  const onnx = best(key, 'onnx', (r) => r.trainSamplesPerSecond);
  const torchBest = best(key, 'pytorch', (r) => r.trainSamplesPerSecond);
  // The training goal names the two CNNs; every model's inference is held to its goal.
  if (key !== 'lstm' && onnx > 0 && torchBest > 0) goals[`${key}: onnx training ≥ 2× PyTorch (best threads of each)`] = `${(onnx / torchBest).toFixed(2)}× — ${onnx >= 2 * torchBest ? 'met' : 'NOT met'}`;
  const onnxInfer = best(key, 'onnx', (r) => r.inference['256']);
  const tfjsInfer = best(key, 'tfjs', (r) => r.inference['256']);
  if (onnxInfer > 0 && tfjsInfer > 0) goals[`${key}: onnx inference ≥ 5× tfjs (batch 256)`] = `${(onnxInfer / tfjsInfer).toFixed(2)}× — ${onnxInfer >= 5 * tfjsInfer ? 'met' : 'NOT met'}`;
}
for (const [goal, result] of Object.entries(goals)) console.log(`${goal}: ${result}`);
console.log(`wrote ${await writeResult('engine', { samples, rounds, rows, goals })}`);
