/**
 * `ecoml compress` on the MNIST recipe and the 2-conv CNN: int8, structured pruning + int8, and a
 * distilled student against the same student trained alone for the same epochs. Every figure comes
 * from the compress workflow itself, which measures the source and the result side by side.
 * Prints a table and writes bench/results/compress.json.
 * Usage: npx tsx bench/compress.ts [--epochs N] [--prune F] [--seeds 1,2,3]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compressModel, type CompressReport } from '../src/workflows/compress.js';
import { trainFromSpec } from '../src/workflows/train.js';
import { openWorkspace } from '../src/workflows/workspace.js';
import { writeResult } from './harness.js';

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '10' },
    prune: { type: 'string', default: '0.6' },
    seeds: { type: 'string', default: '1,2,3' },
    'student-epochs': { type: 'string', default: '1' },
    'distill-epochs': { type: 'string', default: '3' },
  },
});
const epochs = Number(values.epochs);
const pruneFraction = Number(values.prune);
const seeds = values.seeds.split(',').map(Number);
const studentEpochs = Number(values['student-epochs']);
const distillEpochs = Number(values['distill-epochs']);
const GOALS = { int8Size: 3.5, int8DropPp: 0.3, int8Joules: 1.5, prunedSize: 8, prunedDropPp: 0.5, distillGainPp: 0.3 };

const repo = new URL('..', import.meta.url).pathname;
const work = await mkdtemp(join(tmpdir(), 'ecoml-bench-compress-'));
const ws = await openWorkspace({ storeDir: join(work, 'store'), cwd: repo, log: () => undefined });
const log = (line: string): void => void process.stderr.write(`${line}\n`);

async function train(spec: string, name: string, trainEpochs: number, seed = 42): Promise<{ dir: string; accuracy: number }> {
  const dir = join(work, name);
  log(`training ${spec} for ${trainEpochs} epochs (seed ${seed})`);
  const report = await trainFromSpec(ws, { specPath: spec, outDir: dir, epochs: trainEpochs, seed });
  return { dir, accuracy: report.metrics.test_accuracy ?? Number.NaN };
}

interface Row {
  readonly model: string;
  readonly compression: string;
  readonly sizeRatio: number;
  readonly dropPp: number;
  readonly joulesRatio: number;
  readonly report: Omit<CompressReport, 'measurement'>;
}

async function compress(model: string, label: string, dir: string, settings: Parameters<typeof compressModel>[2]): Promise<Row> {
  log(`compressing ${model}: ${label}`);
  const { measurement: _m, ...report } = await compressModel(ws, dir, settings, { onPhase: (phase, detail) => log(`  ${phase}: ${detail}`) });
  return { model, compression: label, sizeRatio: report.before.bytes / report.after.bytes, dropPp: report.record.guard.dropPp, joulesRatio: report.before.joulesPer1000 / report.after.joulesPer1000, report };
}

const rows: Row[] = [];
const trained: Record<string, { dir: string; accuracy: number }> = {};
try {
  for (const [model, spec] of [
    ['recipe', 'examples/mnist-cnn.yaml'],
    ['cnn2', 'examples/mnist-cnn2.yaml'],
  ] as const) {
    const source = await train(spec, model, epochs);
    trained[model] = source;
    rows.push(await compress(model, 'int8', source.dir, { out: join(work, `${model}-int8`), quantize: 'int8' }));
    rows.push(await compress(model, `structured ${pruneFraction} + int8`, source.dir, { out: join(work, `${model}-pruned-int8`), prune: pruneFraction, quantize: 'int8' }));
  }

  // Distillation: the recipe as the student, the 2-conv CNN as the teacher. Both students get the same
  // epochs from the same seed; the distilled one spends its last ones learning from the teacher.
  const teacher = trained.cnn2 as { dir: string; accuracy: number };
  const distillation: { seed: number; alone: number; distilled: number; gainPp: number }[] = [];
  for (const seed of seeds) {
    const alone = await train('examples/mnist-cnn.yaml', `student-alone-${seed}`, studentEpochs + distillEpochs, seed);
    const start = await train('examples/mnist-cnn.yaml', `student-${seed}`, studentEpochs, seed);
    const row = await compress('recipe student', `distilled from cnn2, seed ${seed}`, start.dir, {
      out: join(work, `student-distilled-${seed}`),
      distillFrom: teacher.dir,
      fineTuneEpochs: distillEpochs,
      seed,
      maxAccuracyDropPp: 100,
    });
    const distilled = row.report.after.accuracy;
    distillation.push({ seed, alone: alone.accuracy, distilled, gainPp: (distilled - alone.accuracy) * 100 });
  }

  const meanGain = distillation.reduce((a, d) => a + d.gainPp, 0) / distillation.length;
  const met = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  console.log(`ecoml compress, MNIST, ${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}; sources trained ${epochs} epochs`);
  console.log('model   compression                size   acc before  acc after  drop pp  samples/s b256 before→after  J/1000 before→after (method)  J ratio');
  for (const r of rows) {
    const b = r.report.before;
    const a = r.report.after;
    console.log(
      `${r.model.padEnd(7)} ${r.compression.padEnd(26)} ${r.sizeRatio.toFixed(2).padStart(5)}×  ${(b.accuracy * 100).toFixed(2).padStart(9)}%  ${(a.accuracy * 100).toFixed(2).padStart(8)}%  ${r.dropPp.toFixed(2).padStart(7)}  ${b.samplesPerSecondBatch256.toFixed(0).padStart(12)}→${a.samplesPerSecondBatch256.toFixed(0).padEnd(14)}  ${b.joulesPer1000.toFixed(3)}→${a.joulesPer1000.toFixed(3)} J (${a.method})  ${r.joulesRatio.toFixed(2)}×`,
    );
  }
  console.log(`distillation (recipe student, cnn2 teacher ${(teacher.accuracy * 100).toFixed(2)}%; ${studentEpochs}+${distillEpochs} epochs vs ${studentEpochs + distillEpochs} alone):`);
  for (const d of distillation) console.log(`  seed ${d.seed}: alone ${(d.alone * 100).toFixed(2)}%, distilled ${(d.distilled * 100).toFixed(2)}%, gain ${d.gainPp.toFixed(2)} pp`);
  const goals = {
    int8: rows
      .filter((r) => r.compression === 'int8')
      .map((r) => ({ model: r.model, size: met(r.sizeRatio >= GOALS.int8Size), drop: met(r.dropPp <= GOALS.int8DropPp), joules: met(r.joulesRatio >= GOALS.int8Joules) })),
    prunedInt8: rows.filter((r) => r.compression.startsWith('structured')).map((r) => ({ model: r.model, size: met(r.sizeRatio >= GOALS.prunedSize), drop: met(r.dropPp <= GOALS.prunedDropPp) })),
    distillation: met(meanGain >= GOALS.distillGainPp),
  };
  console.log(`goals (${JSON.stringify(GOALS)}): ${JSON.stringify(goals)}; mean distillation gain ${meanGain.toFixed(2)} pp`);
  console.log(`wrote ${await writeResult('compress', { epochs, pruneFraction, goals: GOALS, verdicts: goals, rows, distillation: { studentEpochs, distillEpochs, teacherAccuracy: teacher.accuracy, seeds: distillation, meanGainPp: meanGain } })}`);
} finally {
  await ws.close();
  await rm(work, { recursive: true, force: true });
}
