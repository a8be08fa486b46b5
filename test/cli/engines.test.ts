import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CUDA_PROVIDER_FILES, ortBindingDir } from '../../src/engine/onnx/device.js';
import { webgpuUnavailable } from '../engine/webgpu.js';
import { cli, tempDir, unsupportedSpec } from './helpers.js';

const RECIPE = new URL('../../examples/mnist-cnn.yaml', import.meta.url).pathname;
const TINY = ['--train-limit', '256', '--test-limit', '128', '--epochs', '1', '--batch-size', '64'];

describe('--engine onnx through the CLI', () => {
  it('trains on ONNX Runtime, saves TF.js format, and both engines evaluate the saved model alike', async () => {
    const cwd = await tempDir();
    const train = await cli(['train', RECIPE, ...TINY, '--engine', 'onnx', '--json'], cwd);
    expect(train.code, train.stderr).toBe(0);
    const t = train.json<{ engine: string; model_dir: string; metrics: Record<string, number> }>();
    expect(t.engine).toBe('onnx');
    const sidecar = JSON.parse(readFileSync(join(t.model_dir, 'ecoml.json'), 'utf8')) as { engine: string; trainedOn: string; files: Record<string, string> };
    expect(sidecar).toMatchObject({ engine: 'tfjs', trainedOn: 'onnx' });
    expect(Object.keys(sidecar.files)).toContain('model.json');

    const results: Record<string, { test_loss: number; test_accuracy: number }> = {};
    for (const engine of ['tfjs', 'onnx']) {
      const r = await cli(['evaluate', t.model_dir, '--engine', engine, '--limit', '128', '--json'], cwd);
      expect(r.code, r.stderr).toBe(0);
      results[engine] = r.json<{ metrics: { test_loss: number; test_accuracy: number } }>().metrics;
    }
    expect(results.onnx?.test_accuracy).toBeCloseTo(results.tfjs?.test_accuracy ?? -1, 6);
    expect(results.onnx?.test_loss).toBeCloseTo(results.tfjs?.test_loss ?? -1, 4);
    expect(results.tfjs?.test_accuracy).toBeCloseTo(t.metrics.test_accuracy ?? -1, 6);
  });

  it.each(['tfjs', 'onnx'])('seeded runs on %s with the same thread count reproduce their losses exactly', async (engine) => {
    const run = async () => {
      const r = await cli(['train', RECIPE, ...TINY, '--epochs', '2', '--seed', '7', '--engine', engine, '--json'], await tempDir());
      expect(r.code, r.stderr).toBe(0);
      return r.json<{ epochs: { metrics: Record<string, number> }[] }>().epochs.map((e) => e.metrics);
    };
    expect(await run()).toEqual(await run());
  });

  it('falls back to tfjs for a spec the onnx engine cannot compile, and says so', async () => {
    const cwd = await tempDir();
    const r = await cli(['train', await unsupportedSpec(cwd), ...TINY, '--engine', 'onnx', '--json'], cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json<{ engine: string }>().engine).toBe('tfjs');
    expect(r.stderr).toContain('engine: onnx does not support averagePooling2d with padding "same" that pads this input (model.layers[0]); padded-pool runs on tfjs');
  });

  it('trains on onnx by default', async () => {
    const r = await cli(['train', RECIPE, ...TINY, '--json'], await tempDir());
    expect(r.code, r.stderr).toBe(0);
    expect(r.json<{ engine: string }>().engine).toBe('onnx');
  });

  it.skipIf(CUDA_PROVIDER_FILES.every((f) => existsSync(join(ortBindingDir(), f))))('--device cuda without the CUDA provider fails naming the missing files', async () => {
    const r = await cli(['train', RECIPE, ...TINY, '--device', 'cuda', '--json'], await tempDir());
    expect(r.code).toBe(11);
    const error = r.json<{ error: { code: string; message: string } }>().error;
    expect(error.code).toBe('E_DEVICE_UNAVAILABLE');
    expect(error.message).toContain('libonnxruntime_providers_cuda.so');
    expect(error.message).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12');
  });

  it('--device webgpu trains as the CPU does (to rounding) where a WebGPU adapter starts, and elsewhere fails naming the driver it needs', async () => {
    const train = async (device: string) => cli(['train', RECIPE, ...TINY, '--seed', '7', '--device', device, '--json'], await tempDir());
    const gpu = await train('webgpu');
    if (webgpuUnavailable !== undefined) {
      expect(gpu.code).toBe(11);
      expect(gpu.json<{ error: { code: string; message: string } }>().error).toMatchObject({ code: 'E_DEVICE_UNAVAILABLE', message: expect.stringContaining('Vulkan') });
      return;
    }
    const cpu = await train('cpu');
    expect([gpu.code, cpu.code], gpu.stderr).toEqual([0, 0]);
    const metrics = (r: typeof gpu) => r.json<{ engine: string; metrics: Record<string, number> }>();
    expect(metrics(gpu).engine).toBe('onnx');
    expect(metrics(gpu).metrics.loss).toBeCloseTo(metrics(cpu).metrics.loss ?? -1, 4);
    expect(metrics(gpu).metrics.test_loss).toBeCloseTo(metrics(cpu).metrics.test_loss ?? -1, 3);
  });

  it('--device cuda refuses the CPU-only tfjs engine', async () => {
    const r = await cli(['train', RECIPE, ...TINY, '--engine', 'tfjs', '--device', 'cuda'], await tempDir());
    expect(r.code).toBe(11);
    expect(r.stderr).toContain('E_DEVICE_UNAVAILABLE: --device cuda: the tfjs engine runs on the CPU only');
  });

  it('an unknown device lists the valid ones', async () => {
    const r = await cli(['train', RECIPE, ...TINY, '--device', 'gpu'], await tempDir());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown device "gpu"; valid: cpu, cuda, webgpu/);
  });

  it('an unknown engine lists the valid ones', async () => {
    const r = await cli(['train', RECIPE, ...TINY, '--engine', 'torch'], await tempDir());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown engine "torch"; valid: onnx, tfjs/);
  });
});
