/**
 * Whether ONNX Runtime's WebGPU provider starts here: on a GPU, or on Mesa's CPU Vulkan driver
 * (lavapipe), which .ci/run installs. Where ECOML_REQUIRE_WEBGPU=1 (.ci/run sets it once lavapipe
 * is in place) a provider that will not start fails the engine tests instead of skipping them.
 */
import { createOnnxEngine } from '../../src/engine/index.js';

async function probe(): Promise<string | undefined> {
  try {
    await createOnnxEngine({ device: 'webgpu' }).ready();
    return undefined;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (process.env.ECOML_REQUIRE_WEBGPU === '1') throw new Error(`ECOML_REQUIRE_WEBGPU=1, but ${reason}`, { cause: error });
    return reason;
  }
}

/** Why the WebGPU provider cannot run here, or undefined where it can. */
export const webgpuUnavailable: string | undefined = await probe();
