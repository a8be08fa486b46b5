import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngines } from '../../src/engine/index.js';
import { CUDA_PROVIDER_FILES, DEVICES, deviceFailure, executionProviders, graphOptionsFor } from '../../src/engine/onnx/device.js';
import { defineSpec, resolveModelSpec } from '../../src/models/index.js';
import { openWorkspace } from '../../src/workflows/workspace.js';

// The CUDA provider fails to load on purpose below: keep ONNX Runtime's own error log out of the test output.
ort.env.logLevel = 'fatal';

let empty: string;
let installed: string;

beforeAll(async () => {
  empty = await mkdtemp(join(tmpdir(), 'ecoml-ort-'));
  installed = await mkdtemp(join(tmpdir(), 'ecoml-ort-'));
  // Stand-ins for the provider libraries: the check looks for the files, ONNX Runtime then loads its own.
  for (const f of CUDA_PROVIDER_FILES) await writeFile(join(installed, f), '');
});
afterAll(async () => {
  await Promise.all([empty, installed].map((d) => rm(d, { recursive: true, force: true })));
});

const spec = resolveModelSpec(defineSpec({ name: 'tiny', numClasses: 3, model: { input: [4], layers: [{ type: 'dense', units: 3, activation: 'softmax' }] } }), {});

describe('onnx engine devices', () => {
  it('runs on the CPU provider by default', () => {
    expect(executionProviders('cpu', empty)).toEqual(['cpu']);
  });

  it('webgpu uses the bundled WebGPU provider, the CPU one taking the ops it lacks, max pools without indices, no Col2Im and Split/Concat of at most 7 parts; only the CPU updates on the host', () => {
    expect(executionProviders('webgpu', empty)).toEqual([{ name: 'webgpu' }, 'cpu']);
    expect(Object.fromEntries(DEVICES.map((d) => [d, graphOptionsFor(d)]))).toEqual({
      cpu: { poolIndices: true, col2Im: true, hostUpdate: true },
      cuda: { poolIndices: true, col2Im: false, hostUpdate: false },
      webgpu: { poolIndices: false, col2Im: false, maxParts: 7 },
    });
  });

  it.each([
    ['webgpu', 'Failed to get a WebGPU adapter: No supported adapters', /--device webgpu: ONNX Runtime could not start its WebGPU provider \(Failed to get a WebGPU adapter.*\); .*Vulkan loader \(Debian's libvulkan1\)/],
    ['cuda', 'libcudart.so.12: cannot open shared object file', /--device cuda: ONNX Runtime could not start its CUDA provider \(libcudart.*\); .*CUDA 12 and cuDNN 9/],
  ] as const)('a %s provider that will not start is named with what it needs', (device, reason, message) => {
    expect(deviceFailure(device, new Error(reason))).toMatchObject({ code: 'E_DEVICE_UNAVAILABLE', message: expect.stringMatching(message) });
    expect(deviceFailure('cpu', new Error(reason))).toBeUndefined();
  });

  it.runIf(process.platform === 'linux' && process.arch === 'x64')('cuda names each missing provider library and how to install it', async () => {
    expect(() => executionProviders('cuda', empty)).toThrow(/missing libonnxruntime_providers_shared\.so, libonnxruntime_providers_cuda\.so in .*ONNXRUNTIME_NODE_INSTALL=cuda12/);
    expect(executionProviders('cuda', installed)).toEqual([{ name: 'cuda', deviceId: 0 }, 'cpu']);
    const engine = createEngines({ device: 'cuda', bindingDir: empty }).onnx;
    await expect(engine.ready()).rejects.toMatchObject({ code: 'E_DEVICE_UNAVAILABLE' });
    await expect(engine.compile(spec, { seed: 1 })).rejects.toMatchObject({ code: 'E_DEVICE_UNAVAILABLE' });
  });

  it.runIf(process.platform === 'linux' && process.arch === 'x64')('a provider that will not start is reported as the device, not as an engine bug', async () => {
    const engine = createEngines({ device: 'cuda', bindingDir: installed }).onnx;
    const failure = engine.compile(spec, { seed: 1 });
    // Where a real CUDA provider and GPU exist this compiles; everywhere else ONNX Runtime's load fails.
    await failure.then(
      (model) => model.dispose(),
      (error: unknown) => expect(error).toMatchObject({ code: 'E_DEVICE_UNAVAILABLE', message: expect.stringContaining('could not start its CUDA provider') }),
    );
  });

  it('a model the onnx engine cannot compile is refused on cuda rather than moved to the CPU', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ecoml-ws-'));
    // The device setting decides the refusal; CPU engines stand in, as no CUDA provider starts here.
    const ws = await openWorkspace({ cwd: dir, env: {}, device: 'cuda', engines: createEngines() });
    try {
      const padded = resolveModelSpec(
        defineSpec({ name: 'padded', numClasses: 10, model: { input: [5, 5, 1], layers: [{ type: 'averagePooling2d', poolSize: 2, padding: 'same' }, { type: 'flatten' }, { type: 'dense', units: 10, activation: 'softmax' }] } }),
        {},
      );
      expect(() => ws.engineFor(padded)).toThrow(/--device cuda: padded \(the onnx engine does not support averagePooling2d .*\) runs on the CPU only/);
      expect(ws.engineFor(spec).name).toBe('onnx');
    } finally {
      await ws.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
