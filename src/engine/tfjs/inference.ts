/**
 * Any TF.js layers model (model.json + weight shards) opened for inference alone: the model
 * server's fallback runtime. Inputs and outputs come from the model's own topology.
 * @module
 */
import { EcomlError } from '../../errors.js';
import type { ElementType, HostTensor, InferenceModel, TensorSpec } from '../types.js';
import { loadLayers } from './io.js';
import { initTfjs, tf } from './runtime.js';
// Registers ecoml's custom layers (transformer blocks) so their models deserialize.
import './transformer.js';

/** tfjs dtypes as the inference seam names them. */
const TYPES: Readonly<Record<tf.DataType, ElementType | undefined>> = { float32: 'float32', int32: 'int32', bool: 'bool', string: 'string', complex64: undefined };

function describe(name: string, tensor: tf.SymbolicTensor, dir: string): TensorSpec {
  const type = TYPES[tensor.dtype];
  if (type === undefined) throw new EcomlError('E_MODEL_CORRUPT', `${dir}: "${name}" has dtype ${tensor.dtype}, which is not served`, { details: { dir } });
  return { name, type, shape: tensor.shape.map((d) => (d === null || d < 0 ? -1 : d)) };
}

export async function openTfjsInference(dir: string): Promise<InferenceModel> {
  await initTfjs();
  const model = await loadLayers(dir);
  const inputs = model.inputs.map((t, i) => describe(model.inputNames[i] ?? t.name, t, dir));
  const outputs = model.outputs.map((t, i) => describe(model.outputNames[i] ?? t.name, t, dir));
  return {
    inputs,
    outputs,
    run(feeds, names) {
      const ys = tf.tidy(() => {
        const xs = inputs.map((spec) => {
          const feed = feeds[spec.name];
          if (feed === undefined) throw new EcomlError('E_REQUEST_INVALID', `input "${spec.name}" is missing`, { details: { input: spec.name } });
          return tf.tensor(feed.data as tf.TypedArray | string[], [...feed.dims], spec.type as tf.DataType);
        });
        const predicted = model.predict(xs.length === 1 ? (xs[0] as tf.Tensor) : xs);
        return Array.isArray(predicted) ? predicted : [predicted];
      });
      try {
        const out: Record<string, HostTensor> = {};
        outputs.forEach((spec, i) => {
          const y = ys[i] as tf.Tensor;
          if (names.includes(spec.name)) out[spec.name] = { type: spec.type, dims: [...y.shape], data: y.dataSync() as HostTensor['data'] };
        });
        return Promise.resolve(out);
      } finally {
        tf.dispose(ys);
      }
    },
    release() {
      model.dispose();
      return Promise.resolve();
    },
  };
}
