/**
 * What an optimizer is to the onnx engine. Its update runs inside the training step: each weight's
 * slots are graph inputs and outputs, and the few scalars that change per step (Adam's bias
 * corrections) are fed from state the engine keeps on the host, which the optimizer defines: where
 * it starts, how it advances per step, and the names it is saved under.
 * @module
 */
import type { ModelSpec } from '../../../models/spec.js';
import type { AdamScalars } from '../fused.js';
import type { Graph, Value } from '../graph.js';

export type OptimizerSpec = ModelSpec['compile']['optimizer'];

/** Scalars an optimizer keeps on the host between steps (Adam's β powers), by the names they are saved under. */
export type HostState = Readonly<Record<string, number>>;

/** One weight's new value and its slots' new values, in the optimizer's `slots` order. */
export interface Updated {
  readonly weight: Value;
  readonly slots: readonly Value[];
}

/** The update of one weight from its gradient and its slots (in `slots` order). */
export type WeightUpdate = (weight: Value, grad: Value, slots: readonly Value[]) => Updated;

/** An optimizer as configured by a spec, its settings resolved. */
export interface OnnxOptimizer {
  /** Slots per trained weight: graph inputs `${weight}/${slot}` (zeros at the start), their new values outputs `new:${weight}/${slot}`. */
  readonly slots: readonly string[];
  /** Adds the step-wide part of the update to `g` (its scalar inputs and what follows from them alone) and returns the update of one weight. */
  graphUpdate(g: Graph): WeightUpdate;
  /** The host state after `step` steps: the start, and what a resumed run whose saved state lacks it takes. */
  hostState(step: number): HostState;
  /** The host state one step on. */
  advance(state: HostState): HostState;
  /** The step's scalar graph inputs by name, from the host state: the one place they are computed. */
  stepInputs(state: HostState): Readonly<Record<string, number>>;
  /**
   * Where the update also runs on the host, fused (fused.ts: Adam's, bit-identical to graphUpdate's
   * from the same gradient): the step's scalars for it, from the host state.
   */
  readonly fused?: (state: HostState) => AdamScalars;
}

/** The host side of an optimizer that keeps no state there. */
export const NO_HOST_STATE: Pick<OnnxOptimizer, 'hostState' | 'advance' | 'stepInputs'> = {
  hostState: () => ({}),
  advance: (state) => state,
  stepInputs: () => ({}),
};
