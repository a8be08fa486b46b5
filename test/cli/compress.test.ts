import { existsSync, readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir } from './helpers.js';

const RECIPE = new URL('../../examples/mnist-cnn.yaml', import.meta.url).pathname;
const CNN2 = new URL('../../examples/mnist-cnn2.yaml', import.meta.url).pathname;
const SMALL = ['--train-limit', '8000', '--test-limit', '500', '--epochs', '2', '--batch-size', '32'];
const FAST = ['--train-limit', '1000', '--eval-limit', '2000', '--calibration-samples', '200', '--json'];

interface Figures {
  bytes: number;
  parameters: number;
  flops_per_sample: number;
  accuracy: number;
  samples_per_second_batch1: number;
  samples_per_second_batch256: number;
  joules_per_1000: number;
  joules_per_1000_low: number;
  joules_per_1000_high: number;
  method: string;
  energy_model: string;
}
interface Result {
  out: string;
  before: Figures;
  after: Figures;
  size_ratio: number;
  accuracy_drop_pp: number;
  compression: {
    prune?: { method: string; fraction: number; sparsity?: Record<string, number> };
    distill?: { temperature: number; alpha: number; teacherTrainingAccuracy: number };
    quantize?: { mode: string; calibration?: { method: string; samples: number }; reduceRange: boolean; nodes: { name: string; op: string; precision: string }[] };
    guard: { maxAccuracyDropPp: number; sourceAccuracy: number; accuracy: number; keptFloat: string[]; heldOutSamples: number };
  };
}

let cwd: string;
let recipe: string;

beforeAll(async () => {
  cwd = await tempDir();
  const trained = await cli(['train', RECIPE, ...SMALL, '--out', 'recipe', '--json'], cwd);
  expect(trained.code, trained.stderr).toBe(0);
  recipe = trained.json<{ model_dir: string }>().model_dir;
}, 120_000);

describe('ecoml compress', () => {
  it('int8: a QDQ graph ONNX Runtime loads, ~4× smaller, guarded, measured beside its source; evaluate takes it', async () => {
    const r = await cli(['compress', recipe, '--out', 'int8', '--quantize', 'int8', '--max-accuracy-drop', '1', ...FAST], cwd);
    expect(r.code, r.stderr).toBe(0);
    const result = r.json<Result>();
    expect(result.compression.guard.keptFloat).toEqual([]);
    expect(readdirSync(result.out).sort()).toEqual(['ecoml.json', 'model.onnx']);
    expect(result.size_ratio).toBeGreaterThan(3.5);
    expect(result.after.parameters).toBe(result.before.parameters);
    expect(result.accuracy_drop_pp).toBeLessThanOrEqual(1);
    expect(result.compression.guard.heldOutSamples).toBe(2000);
    const q = result.compression.quantize;
    expect(q?.calibration).toEqual({ method: 'minmax', samples: 200 });
    expect(q?.nodes.filter((n) => n.precision === 'int8').map((n) => n.op).sort()).toEqual(expect.arrayContaining(['Conv']));
    // ecoml's graphs name each node after the layer it lowers, so the report and the guard can name layers.
    expect(q?.nodes.find((n) => n.op === 'Conv')?.name).toMatch(/^conv2d[^/]*\/Conv_\d+$/);
    for (const f of [result.before, result.after]) {
      expect(f.joules_per_1000).toBeGreaterThan(0);
      expect(f.joules_per_1000_low).toBeLessThanOrEqual(f.joules_per_1000);
      expect(f.joules_per_1000_high).toBeGreaterThanOrEqual(f.joules_per_1000);
      // This VM has no RAPL: every figure must say it is a model's estimate.
      expect(f.method).toBe('estimated');
      expect(f.samples_per_second_batch1).toBeGreaterThan(0);
    }
    const session = await ort.InferenceSession.create(join(result.out, 'model.onnx'));
    await session.release();
    const sidecar = JSON.parse(await readFile(join(result.out, 'ecoml.json'), 'utf8')) as { engine: string; compression: unknown };
    expect(sidecar.engine).toBe('onnx-graph');
    expect(sidecar.compression).toEqual(result.compression);

    const evaluated = await cli(['evaluate', result.out, '--limit', '2000', '--json'], cwd);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(evaluated.json<{ accuracy: number }>().accuracy).toBeCloseTo(result.after.accuracy, 10);
    await writeFile(join(cwd, 'digits.json'), JSON.stringify([Array.from({ length: 784 }, (_, i) => (i * 37) % 256), Array.from({ length: 784 }, () => 0)]));
    const exported = await cli(['export', result.out, '--format', 'onnx', '--out', 'again'], cwd);
    expect(exported.code).toBe(2);
    expect(exported.stderr).toMatch(/is a compressed model: its model.onnx is already the ONNX graph/);
    const predicted = await cli(['predict', result.out, 'digits.json', '--json'], cwd);
    expect(predicted.code, predicted.stderr).toBe(0);
    const rows = predicted.json<{ predictions: { probabilities: number[] }[] }>().predictions;
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
  }, 180_000);

  it('structured pruning + int8: fewer filters in the spec, fewer parameters and FLOPs, smaller than int8 alone', async () => {
    const r = await cli(['compress', recipe, '--out', 'pruned', '--prune', '0.5', '--quantize', 'int8', '--fine-tune-epochs', '1', ...FAST], cwd);
    expect(r.code, r.stderr).toBe(0);
    const result = r.json<Result>();
    expect(result.after.parameters).toBeLessThan(result.before.parameters * 0.55);
    expect(result.after.flops_per_sample).toBeLessThan(result.before.flops_per_sample * 0.55);
    expect(result.size_ratio).toBeGreaterThan(7);
    const sidecar = JSON.parse(await readFile(join(result.out, 'ecoml.json'), 'utf8')) as { resolvedSpec: { layers: { type: string; filters?: number }[] } };
    expect(sidecar.resolvedSpec.layers[0]?.filters).toBe(16);
  }, 180_000);

  it('magnitude pruning reaches its sparsity; fp16 and dynamic quantization write graphs ONNX Runtime runs', async () => {
    const magnitude = await cli(['compress', recipe, '--out', 'sparse', '--prune', '0.8', '--prune-method', 'magnitude', '--fine-tune-epochs', '1', '--max-accuracy-drop', '5', ...FAST], cwd);
    expect(magnitude.code, magnitude.stderr).toBe(0);
    const sparsity = Object.values(magnitude.json<Result>().compression.prune?.sparsity ?? {});
    expect(sparsity.length).toBeGreaterThan(0);
    for (const s of sparsity) expect(s).toBeCloseTo(0.8, 2);
    for (const mode of ['fp16', 'dynamic']) {
      const r = await cli(['compress', recipe, '--out', mode, '--quantize', mode, ...FAST], cwd);
      expect(r.code, r.stderr).toBe(0);
      const result = r.json<Result>();
      expect(result.compression.quantize?.mode).toBe(mode);
      expect(result.size_ratio).toBeGreaterThan(1.8);
      expect(result.accuracy_drop_pp).toBeLessThanOrEqual(0.5);
    }
  }, 240_000);

  it('distils a student from a teacher, recording both', async () => {
    const teacher = await cli(['train', CNN2, ...SMALL, '--out', 'teacher', '--json'], cwd);
    expect(teacher.code, teacher.stderr).toBe(0);
    const r = await cli(['compress', recipe, '--out', 'student', '--distill-from', 'teacher', '--fine-tune-epochs', '1', '--temperature', '4', '--alpha', '0.2', '--max-accuracy-drop', '5', ...FAST], cwd);
    expect(r.code, r.stderr).toBe(0);
    const d = r.json<Result>().compression.distill;
    expect(d).toMatchObject({ temperature: 4, alpha: 0.2 });
    expect(d?.teacherTrainingAccuracy).toBeGreaterThan(0.5);
  }, 240_000);

  it('when the guard cannot hold, fails with E_ACCURACY_GUARD, names the cause, and writes nothing', async () => {
    const r = await cli(['compress', recipe, '--out', 'ruined', '--prune', '0.95', '--fine-tune-epochs', '1', '--max-accuracy-drop', '0', ...FAST], cwd);
    expect(r.code).toBe(21);
    expect(r.stderr).toMatch(/E_ACCURACY_GUARD|accuracy/);
    expect(existsSync(join(cwd, 'ruined'))).toBe(false);
    const none = await cli(['compress', recipe, '--out', 'x'], cwd);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/nothing to do/);
  }, 180_000);
});
