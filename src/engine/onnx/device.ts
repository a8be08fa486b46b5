/**
 * Where ONNX Runtime runs a model: the CPU; an NVIDIA GPU through its CUDA execution provider; or
 * any GPU through its WebGPU provider (Dawn, over Vulkan on Linux, Metal on macOS, D3D12 on
 * Windows). onnxruntime-node bundles the CPU and WebGPU providers. The CUDA one
 * (libonnxruntime_providers_cuda.so and libonnxruntime_providers_shared.so) is fetched from NuGet
 * by its install script on request, and then needs CUDA 12 and cuDNN 9 on the machine. Each
 * missing piece is named in the error.
 * @module
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as ort from 'onnxruntime-node';
import { EcomlError } from '../../errors.js';
import type { GraphOptions } from './compile.js';

export const DEVICES = ['cpu', 'cuda', 'webgpu'] as const;
export type Device = (typeof DEVICES)[number];

/** The CUDA provider's libraries, which must sit next to onnxruntime-node's binding. */
export const CUDA_PROVIDER_FILES = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'] as const;

const INSTALL_HINT =
  'install it with `ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js` (downloads Microsoft.ML.OnnxRuntime.Gpu.Linux from NuGet; this project\'s package.json denies that install script in allowScripts, so npm ci skips it); it needs CUDA 12 and cuDNN 9 on the library path';

/** The folder holding onnxruntime-node's native binding for this platform. */
export function ortBindingDir(): string {
  const entry = createRequire(import.meta.url).resolve('onnxruntime-node');
  return join(dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

/**
 * The execution providers for `device`, after checking that its provider libraries exist in
 * `bindingDir` (an injectable seam: tests point it at a temporary folder).
 */
export function executionProviders(device: Device, bindingDir: string = ortBindingDir()): ort.InferenceSession.ExecutionProviderConfig[] {
  if (device === 'cpu') return ['cpu'];
  // The CPU provider takes the ops a GPU provider lacks (ONNX Runtime places each node on the first that has it).
  if (device === 'webgpu') return [{ name: 'webgpu' }, 'cpu'];
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new EcomlError('E_DEVICE_UNAVAILABLE', `--device cuda: onnxruntime-node has a CUDA provider for linux/x64 only, not ${process.platform}/${process.arch}`, { details: { device } });
  }
  const missing = CUDA_PROVIDER_FILES.filter((f) => !existsSync(join(bindingDir, f)));
  if (missing.length > 0) {
    throw new EcomlError('E_DEVICE_UNAVAILABLE', `--device cuda: onnxruntime-node's CUDA execution provider is not installed (missing ${missing.join(', ')} in ${bindingDir}); ${INSTALL_HINT}`, {
      details: { device, missing: missing.map((f) => join(bindingDir, f)) },
    });
  }
  return [{ name: 'cuda', deviceId: 0 }, 'cpu'];
}

/**
 * How graphs are built for `device`. ONNX Runtime's WebGPU MaxPool has no argmax output, and a
 * WebGPU shader is guaranteed only 8 buffers, so a Split or Concat there takes at most 7 parts
 * (an LSTM's 28 steps split in one node failed). Its GPU providers have no Col2Im, so
 * ConvTranspose computes conv input gradients there.
 */
export function graphOptionsFor(device: Device): GraphOptions {
  if (device === 'webgpu') return { poolIndices: false, col2Im: false, maxParts: 7 };
  return { poolIndices: true, col2Im: device === 'cpu', hostUpdate: device === 'cpu' };
}

const NEEDS: Readonly<Record<Exclude<Device, 'cpu'>, string>> = {
  cuda: 'it needs an NVIDIA driver, CUDA 12 and cuDNN 9 on the library path (LD_LIBRARY_PATH)',
  webgpu:
    "it needs a GPU with a WebGPU-capable driver: on Linux the Vulkan loader (Debian's libvulkan1) and the GPU's Vulkan driver (NVIDIA's driver ships one; Mesa's mesa-vulkan-drivers ≥ 24 has AMD, Intel and a CPU one, lavapipe), on macOS Metal, on Windows D3D12",
};

/** Rewords a session that failed to start on `device` (e.g. libcudart.so.12 not found, or no WebGPU adapter). */
export function deviceFailure(device: Device, error: unknown): EcomlError | undefined {
  if (device === 'cpu') return undefined;
  const reason = (error instanceof Error ? error.message : String(error)).trim();
  return new EcomlError('E_DEVICE_UNAVAILABLE', `--device ${device}: ONNX Runtime could not start its ${device === 'cuda' ? 'CUDA' : 'WebGPU'} provider (${reason}); ${NEEDS[device]}`, {
    details: { device },
    cause: error,
  });
}
