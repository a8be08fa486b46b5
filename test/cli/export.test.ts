import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { openModel, openWorkspace } from '../../src/index.js';
import { cli, tempDir, unsupportedSpec } from './helpers.js';

const RECIPE = new URL('../../examples/mnist-cnn.yaml', import.meta.url).pathname;
const TINY = ['--train-limit', '256', '--test-limit', '64', '--epochs', '1', '--batch-size', '64'];

describe('ecoml export', () => {
  it('writes an ONNX graph with a dynamic batch that onnxruntime loads and that matches the source within 1e-4', async () => {
    const cwd = await tempDir();
    const trained = await cli(['train', RECIPE, ...TINY, '--json'], cwd);
    expect(trained.code, trained.stderr).toBe(0);
    const modelDir = trained.json<{ model_dir: string }>().model_dir;

    const r = await cli(['export', modelDir, '--format', 'onnx', '--out', 'exported', '--json'], cwd);
    expect(r.code, r.stderr).toBe(0);
    const report = r.json<{ files: string[]; max_abs_diff: number; out: string }>();
    expect(report.files).toEqual(['model.onnx']);
    expect(report.max_abs_diff).toBeLessThanOrEqual(1e-4);

    const ws = await openWorkspace({ cwd, env: {} });
    const source = await openModel(ws, modelDir);
    const session = await ort.InferenceSession.create(join(report.out, 'model.onnx'));
    try {
      for (const batch of [3, 5]) {
        const x = Float32Array.from({ length: batch * 784 }, (_, i) => ((i * 7919) % 256) / 255);
        const expected = await source.compiled.predict(x, batch);
        const [inputName] = session.inputNames;
        const [outputName] = session.outputNames;
        const result = await session.run({ [inputName as string]: new ort.Tensor('float32', x, [batch, 28, 28, 1]) });
        const actual = result[outputName as string]?.data as Float32Array;
        expect(actual).toHaveLength(batch * 10);
        for (let i = 0; i < actual.length; i++) expect(Math.abs((actual[i] as number) - (expected[i] as number))).toBeLessThanOrEqual(1e-4);
      }
    } finally {
      await session.release();
      source.compiled.dispose();
      await ws.close();
    }
  });

  it('writes TF.js layers files for browsers, and refuses a non-empty target', async () => {
    const cwd = await tempDir();
    const modelDir = (await cli(['train', RECIPE, ...TINY, '--json'], cwd)).json<{ model_dir: string }>().model_dir;
    const r = await cli(['export', modelDir, '--format', 'tfjs', '--out', 'web', '--json'], cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(join(cwd, 'web')).sort()).toEqual(['group1-shard1of1.bin', 'model.json']);
    const again = await cli(['export', modelDir, '--format', 'tfjs', '--out', 'web'], cwd);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/exists and is not empty/);
  });

  it('a model the onnx engine cannot express is refused with the reason, and nothing is written', async () => {
    const cwd = await tempDir();
    const trained = await cli(['train', await unsupportedSpec(cwd), ...TINY, '--json'], cwd);
    expect(trained.code, trained.stderr).toBe(0);
    const r = await cli(['export', trained.json<{ model_dir: string }>().model_dir, '--format', 'onnx', '--out', 'x'], cwd);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error E_UNKNOWN_NAME: the onnx engine does not support averagePooling1d with padding "same" that pads this input/);
    expect(existsSync(join(cwd, 'x'))).toBe(false);
  });
});
