/**
 * The tfjs runtime: the one place that starts tfjs and its wasm backend. Other engine modules
 * (and the engine's tests) take `tf` from here so they all share one initialized instance.
 * @module
 */
import { createRequire } from 'node:module';
import { dirname, sep } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { EcomlError } from '../../errors.js';
import { installWasmKernels } from './wasm-kernels.js';

export { tf };

let starting: Promise<void> | undefined;

/**
 * Loads the wasm backend (single-threaded under Node) with ecoml's kernels and makes it current.
 * Idempotent. Writes nothing to stdout: production mode silences tfjs's console notices.
 */
export function initTfjs(): Promise<void> {
  starting ??= start().catch((error: unknown) => {
    starting = undefined;
    throw error;
  });
  return starting;
}

async function start(): Promise<void> {
  // PROD mode turns off tfjs's console notices (the "install tfjs-node" banner, deprecations).
  tf.enableProdMode();
  // In Node the wasm loader reads the binaries from disk: give it the package's dist folder, as a
  // prefix ending with the separator (the loader appends the binary's file name).
  const require = createRequire(import.meta.url);
  setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}${sep}`);
  let ok: boolean;
  try {
    ok = await tf.setBackend('wasm');
  } catch (error) {
    throw new EcomlError('E_ENGINE_FAILED', `could not start the tfjs wasm backend: ${describe(error)}`, { cause: error });
  }
  if (!ok) throw new EcomlError('E_ENGINE_FAILED', 'could not start the tfjs wasm backend');
  installWasmKernels();
  registerGeluNewAlias();
}

/**
 * tfjs-layers saves the gelu_new activation under that name but camel-cases it to geluNew when it
 * loads a model, a name it never registered, so such models would not load: register the same
 * activation under that name too.
 */
function registerGeluNewAlias(): void {
  // The activation classes are not exported: take gelu_new's from a layer that uses it.
  const probe = tf.layers.activation({ activation: 'gelu_new' }) as unknown as { activation: object };
  const GeluNew = probe.activation.constructor as new () => { getConfig(): tf.serialization.ConfigDict };
  class GeluNewAlias extends GeluNew {
    static readonly className = 'geluNew';
  }
  tf.serialization.registerClass(GeluNewAlias as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  // The wasm loader rejects with a plain { message } object.
  if (typeof error === 'object' && error !== null && 'message' in error) return String(error.message);
  return String(error);
}
