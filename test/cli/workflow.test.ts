import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeIdx } from '../../src/data/index.js';
import { cli, tempDir } from './helpers.js';

const RECIPE = new URL('../../examples/mnist-cnn.yaml', import.meta.url).pathname;
const TINY = ['--train-limit', '256', '--test-limit', '128', '--epochs', '2', '--batch-size', '64'];

interface TrainJson {
  run_id: string;
  model_dir: string;
  metrics: Record<string, number>;
  energy: { joules: number; kwh: number; components: { name: string; joules: number; method: string; model: string }[] };
  emissions: { kg_co2e: number; intensity_g_per_kwh: number; country: string };
  epochs: { epoch: number; metrics: Record<string, number> }[];
}

describe('train → evaluate → predict → runs through the CLI', () => {
  it('reports the documented JSON fields, every energy figure labelled, and records everything', async () => {
    const cwd = await tempDir();
    const train = await cli(['train', RECIPE, ...TINY, '--country', 'FR', '--json'], cwd);
    expect(train.code, train.stderr).toBe(0);
    const t = train.json<TrainJson>();
    expect(t.metrics.test_accuracy).toBeGreaterThan(0.1);
    expect(t.epochs).toHaveLength(2);
    expect(t.model_dir).toBe(join(cwd, 'models', 'mnist-cnn'));
    expect(existsSync(join(t.model_dir, 'model.json'))).toBe(true);
    expect(t.energy.joules).toBeGreaterThan(0);
    expect(t.energy.kwh).toBeCloseTo(t.energy.joules / 3.6e6, 12);
    for (const c of t.energy.components) {
      expect(['measured', 'estimated']).toContain(c.method);
      expect(c.joules).toBeGreaterThan(0);
      expect(c.model.length).toBeGreaterThan(0);
    }
    expect(t.emissions).toMatchObject({ country: 'FRA' });
    expect(t.emissions.kg_co2e).toBeCloseTo((t.energy.kwh * t.emissions.intensity_g_per_kwh) / 1000, 12);

    const sidecar = JSON.parse(readFileSync(join(t.model_dir, 'ecoml.json'), 'utf8')) as { profile: { parameterCount: number }; metrics: Record<string, number> };
    expect(sidecar.profile.parameterCount).toBe(216_650);
    expect(sidecar.metrics.test_accuracy).toBe(t.metrics.test_accuracy);

    const evaluate = await cli(['evaluate', t.model_dir, '--limit', '128', '--json'], cwd);
    expect(evaluate.code, evaluate.stderr).toBe(0);
    const e = evaluate.json<TrainJson & { confusion_matrix: number[][]; per_class: unknown[]; profile: { flops_per_sample: number }; inference: { joules_per_1000: number } }>();
    // Same weights, same 128 test samples: the saved model scores what training reported.
    expect(e.metrics.test_accuracy).toBe(t.metrics.test_accuracy);
    expect(e.confusion_matrix.flat().reduce((a, b) => a + b, 0)).toBe(128);
    expect(e.per_class).toHaveLength(10);
    expect(e.profile.flops_per_sample).toBeGreaterThan(800_000);
    expect(e.inference.joules_per_1000).toBeGreaterThan(0);
    expect(e.energy.components.length).toBeGreaterThan(0);

    // Predict on JSON input: 2 all-zero images.
    const input = join(cwd, 'two.json');
    await writeFile(input, JSON.stringify({ instances: [new Array(784).fill(0), new Array(784).fill(255)] }));
    const predict = await cli(['predict', t.model_dir, input, '--json'], cwd);
    expect(predict.code, predict.stderr).toBe(0);
    const p = predict.json<{ n: number; predictions: { class: number; probabilities: number[] }[] }>();
    expect(p.n).toBe(2);
    for (const row of p.predictions) {
      expect(row.probabilities).toHaveLength(10);
      expect(row.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
      expect(row.class).toBe(row.probabilities.indexOf(Math.max(...row.probabilities)));
    }

    // Predict on IDX with labels → accuracy, written as CSV.
    const images = join(cwd, 'imgs.idx');
    const labels = join(cwd, 'labels.idx');
    await writeFile(images, encodeIdx('ubyte', [3, 28, 28], new Uint8Array(3 * 784)));
    await writeFile(labels, encodeIdx('ubyte', [3], Uint8Array.from([1, 2, 3])));
    const csvOut = join(cwd, 'p.csv');
    const idx = await cli(['predict', t.model_dir, images, '--labels', labels, '--out', csvOut, '--json'], cwd);
    expect(idx.code, idx.stderr).toBe(0);
    expect(idx.json<{ accuracy: number }>().accuracy).toBeGreaterThanOrEqual(0);
    const csv = readFileSync(csvOut, 'utf8').trim().split('\n');
    expect(csv[0]).toBe('index,class,p0,p1,p2,p3,p4,p5,p6,p7,p8,p9');
    expect(csv).toHaveLength(4);

    const runs = await cli(['runs', '--json'], cwd);
    const listed = runs.json<{ runs: { id: string; kind: string; status: string }[] }>().runs;
    expect(listed.map((r) => r.kind).sort()).toEqual(['evaluate', 'train']);
    const shown = await cli(['runs', 'show', t.run_id.slice(0, -2), '--json'], cwd);
    expect(shown.code, shown.stderr).toBe(0);
    const s = shown.json<{ run: { status: string; params: Record<string, unknown>; measurement: { energy: { joules: number } } }; epochs: unknown[] }>();
    expect(s.run.status).toBe('completed');
    // The run records its settings, not the CLI's callbacks or signal.
    expect(s.run.params).toEqual({ specPath: RECIPE, trainLimit: 256, testLimit: 128, epochs: 2, batchSize: 64 });
    expect(s.epochs).toHaveLength(2);
    expect(s.run.measurement.energy.joules).toBeCloseTo(t.energy.joules, 9);
  });

  it('a shape mismatch between data and model is one clear error, and no model directory is written', async () => {
    const cwd = await tempDir();
    const spec = join(cwd, 'wrong.yaml');
    await writeFile(
      spec,
      ['name: wrong', 'model:', '  input: [32, 32, 1]', '  layers:', '    - { type: flatten }', '    - { type: dense, units: 10, activation: softmax }'].join('\n'),
    );
    const r = await cli(['train', spec, ...TINY], cwd);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^error E_SHAPE_MISMATCH: .*\[28, 28, 1\].*\[32, 32, 1\]/);
    expect(existsSync(join(cwd, 'models'))).toBe(false);
  });

  it('forecasts after the first epoch and stops cleanly on an energy budget, checkpoint kept', async () => {
    const cwd = await tempDir();
    const r = await cli(['train', RECIPE, ...TINY, '--epochs', '5', '--budget-kwh', '1e-12', '--json'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const t = r.json<TrainJson & { stop_reason: string; forecast: { epochs: number; joules: number } }>();
    expect(t.stop_reason).toBe('budget');
    expect(t.epochs).toHaveLength(1);
    expect(t.forecast.epochs).toBe(5);
    expect(t.forecast.joules).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/forecast for 5 epochs \(from 1\)/);
    const shown = (await cli(['runs', 'show', t.run_id, '--json'], cwd)).json<{ run: { status: string; stopReason: string } }>();
    expect(shown.run).toMatchObject({ status: 'stopped', stopReason: 'budget' });
    expect(existsSync(join(cwd, '.ecoml', 'checkpoints', t.run_id, 'checkpoint.json'))).toBe(true);
  });

  it('--resume continues a run from its checkpoint to the requested epochs', async () => {
    const cwd = await tempDir();
    const first = await cli(['train', RECIPE, ...TINY, '--epochs', '1', '--json'], cwd);
    expect(first.code, first.stderr).toBe(0);
    const id = first.json<TrainJson>().run_id;
    const resumed = await cli(['train', RECIPE, ...TINY, '--epochs', '2', '--resume', id, '--json'], cwd);
    expect(resumed.code, resumed.stderr).toBe(0);
    const r = resumed.json<TrainJson>();
    expect(r.run_id).toBe(id);
    expect(r.epochs.map((e) => e.epoch)).toEqual([1, 2]);
    expect(resumed.stderr).toContain(`resuming ${id} after epoch 1`);
    // Weights, optimizer state and the shuffling order all continue: the same as one uninterrupted run.
    const straight = await cli(['train', RECIPE, ...TINY, '--epochs', '2', '--json'], await tempDir());
    const s = straight.json<TrainJson>();
    expect(r.epochs[1]?.metrics).toEqual(s.epochs[1]?.metrics);
  });

  it("a resumed run's energy is the sum of every process that worked on it, parts listed; resuming a finished run adds to it", async () => {
    type Resumed = TrainJson & { parts: { part: number; pid: number; status: string; joules: number }[]; steps: { step: string; energy: { joules: number } }[] };
    const cwd = await tempDir();
    const first = (await cli(['train', RECIPE, ...TINY, '--epochs', '1', '--json'], cwd)).json<TrainJson>();
    const resumed = await cli(['train', RECIPE, ...TINY, '--epochs', '2', '--resume', first.run_id, '--json'], cwd);
    expect(resumed.code, resumed.stderr).toBe(0);
    const r = resumed.json<Resumed>();
    expect(r.parts.map((p) => [p.part, p.status])).toEqual([
      [1, 'completed'],
      [2, 'completed'],
    ]);
    expect(r.parts[0]?.joules).toBeCloseTo(first.energy.joules, 9);
    const [one, two] = r.parts.map((p) => p.joules) as [number, number];
    expect(r.energy.joules).toBeCloseTo(one + two, 9);
    expect(r.steps[0]).toMatchObject({ step: 'earlier' });
    expect(r.steps[0]?.energy.joules).toBeCloseTo(first.energy.joules, 9);
    const shown = (await cli(['runs', 'show', r.run_id, '--json'], cwd)).json<{ run: { measurement: { energy: { joules: number } }; parts: unknown[] } }>();
    expect(shown.run.measurement.energy.joules).toBeCloseTo(r.energy.joules, 9);
    expect((await cli(['runs', 'show', r.run_id], cwd)).stdout).toMatch(/over 2 parts \(each process that worked on it\):\n {4}part 1: .+ completed, pid \d+ on /);

    // A finished run taken up again keeps what it had spent, and adds this process's share.
    const again = (await cli(['train', RECIPE, ...TINY, '--epochs', '2', '--resume', r.run_id, '--json'], cwd)).json<Resumed>();
    expect(again.parts).toHaveLength(3);
    expect(again.energy.joules).toBeGreaterThan(r.energy.joules);
    expect(again.energy.joules).toBeCloseTo(r.energy.joules + (again.parts[2]?.joules ?? Number.NaN), 9);
  });
});
