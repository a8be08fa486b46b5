/**
 * The onnx engine's optimizer table: one entry per optimizer type of the models floor, so a
 * type without an entry here is a type error.
 * @module
 */
import { adam } from './adam.js';
import type { OnnxOptimizer, OptimizerSpec } from './optimizer.js';
import { rmsprop } from './rmsprop.js';
import { sgd } from './sgd.js';

const OPTIMIZERS: { readonly [T in OptimizerSpec['type']]: (spec: OptimizerSpec) => OnnxOptimizer } = {
  adam: (spec) => adam(spec, false),
  adamw: (spec) => adam(spec, true),
  sgd,
  rmsprop,
};

/** The optimizer types the onnx engine runs, as its errors list them. */
export const ONNX_OPTIMIZERS = Object.keys(OPTIMIZERS) as readonly OptimizerSpec['type'][];

/** The optimizer `spec` configures. */
export function onnxOptimizer(spec: OptimizerSpec): OnnxOptimizer {
  return OPTIMIZERS[spec.type](spec);
}

export type { HostState, OnnxOptimizer } from './optimizer.js';
