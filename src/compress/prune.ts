/**
 * Magnitude pruning as TF-MOT's `prune_low_magnitude` does it: a schedule says at which steps the
 * masks are recomputed and at what sparsity (pruning_schedule.py), a mask keeps the weights whose
 * magnitude reaches the k-th largest (pruning_impl.py, block 1×1), and the weights are multiplied
 * by their masks before every step, so the optimizer's moves of pruned weights never last.
 * @module
 */
import type { CompiledModel, NamedWeight } from '../engine/types.js';
import { EcomlError } from '../errors.js';
import { layerNames, parseLayerConfig, type LayerType } from '../models/layers.js';
import type { ModelSpec } from '../models/spec.js';

/** What a schedule says for one step: whether to recompute the masks, and at which sparsity. */
export interface ScheduleStep {
  readonly update: boolean;
  readonly sparsity: number;
}

/** Maps a training step (TF-MOT's pruning_step: 1 on the first batch) to what pruning does there. */
export type PruningSchedule = (step: number) => ScheduleStep;

export interface PolynomialDecayOptions {
  readonly initialSparsity: number;
  readonly finalSparsity: number;
  readonly beginStep: number;
  readonly endStep: number;
  /** Default 3, as TF-MOT's. */
  readonly power?: number;
  /** Masks are recomputed every `frequency` steps from beginStep (default 100, as TF-MOT's). */
  readonly frequency?: number;
}

export interface ConstantSparsityOptions {
  readonly targetSparsity: number;
  readonly beginStep: number;
  /** -1 (the default, as TF-MOT's) prunes to the end of training. */
  readonly endStep?: number;
  readonly frequency?: number;
}

function invalid(message: string, details: Record<string, unknown>): EcomlError {
  return new EcomlError('E_CONFIG_INVALID', `pruning schedule: ${message}`, { details });
}

function checkSparsity(name: string, value: number): void {
  if (!(value >= 0 && value < 1)) throw invalid(`${name} must be in [0, 1), got ${value}`, { [name]: value });
}

/** TF-MOT's _validate_step: forever (-1) only where `forever` is allowed. */
function checkSteps(beginStep: number, endStep: number, frequency: number, forever: boolean): void {
  if (!Number.isInteger(beginStep) || beginStep < 0) throw invalid(`beginStep must be an integer ≥ 0, got ${beginStep}`, { beginStep });
  if (!Number.isInteger(frequency) || frequency <= 0) throw invalid(`frequency must be a positive integer, got ${frequency}`, { frequency });
  if (forever && endStep === -1) return;
  if (!Number.isInteger(endStep) || endStep < beginStep) throw invalid(`endStep must be an integer ≥ beginStep (${beginStep})${forever ? ' or -1' : ''}, got ${endStep}`, { beginStep, endStep });
}

/** TF-MOT's _should_prune_in_step: inside [beginStep, endStep] (endStep -1: no end), every `frequency` steps from beginStep. */
function isPruningTurn(step: number, beginStep: number, endStep: number, frequency: number): boolean {
  return step >= beginStep && (step <= endStep || endStep < 0) && (step - beginStep) % frequency === 0;
}

/**
 * TF-MOT's PolynomialDecay: s_t = s_f + (s_i − s_f)·(1 − p)^power, p = (t − t0)/(t_end − t0)
 * clamped to [0, 1], in float32 as TensorFlow computes it. TF-MOT accepts endStep = beginStep and
 * then divides 0 by 0; here that is refused.
 */
export function polynomialDecay(options: PolynomialDecayOptions): PruningSchedule {
  const { initialSparsity, finalSparsity, beginStep, endStep, power = 3, frequency = 100 } = options;
  checkSteps(beginStep, endStep, frequency, false);
  if (endStep === beginStep) throw invalid(`endStep must be after beginStep (${beginStep}): the decay needs at least one step`, { beginStep, endStep });
  checkSparsity('initialSparsity', initialSparsity);
  checkSparsity('finalSparsity', finalSparsity);
  const f = Math.fround;
  const span = f(endStep - beginStep);
  const drop = f(initialSparsity - finalSparsity);
  const final = f(finalSparsity);
  return (step) => {
    const p = Math.min(1, Math.max(0, f(f(step - beginStep) / span)));
    return { update: isPruningTurn(step, beginStep, endStep, frequency), sparsity: f(f(drop * f((f(1 - p)) ** power)) + final) };
  };
}

/** TF-MOT's ConstantSparsity: the target sparsity at every pruning turn. */
export function constantSparsity(options: ConstantSparsityOptions): PruningSchedule {
  const { targetSparsity, beginStep, endStep = -1, frequency = 100 } = options;
  checkSteps(beginStep, endStep, frequency, true);
  checkSparsity('targetSparsity', targetSparsity);
  const sparsity = Math.fround(targetSparsity);
  return (step) => ({ update: isPruningTurn(step, beginStep, endStep, frequency), sparsity });
}

/** tf.math.round: halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** TF-MOT's k: round(size·(1 − sparsity)) in float32, at least 1. */
export function keptCount(size: number, sparsity: number): number {
  const f = Math.fround;
  return Math.max(roundHalfEven(f(f(size) * f(1 - f(sparsity)))), 1);
}

/**
 * TF-MOT's mask (block 1×1): 1 where |w| is at least the k-th largest magnitude, k = keptCount.
 * Ties with the k-th are all kept, so more than k may survive, exactly as there.
 */
export function magnitudeMask(values: Float32Array, sparsity: number): Uint8Array {
  const mask = new Uint8Array(values.length);
  if (values.length === 0) return mask;
  const sorted = Float32Array.from(values, Math.abs).sort();
  const threshold = sorted[sorted.length - keptCount(values.length, sparsity)] as number;
  for (let i = 0; i < values.length; i++) mask[i] = Math.abs(values[i] as number) >= threshold ? 1 : 0;
  return mask;
}

/** The layer types whose kernels prune_low_magnitude prunes here. */
const KERNEL_LAYERS: ReadonlySet<LayerType> = new Set(['conv2d', 'conv1d', 'dense']);

/**
 * The kernels magnitude pruning takes by weight name: those of every conv2d, conv1d and dense
 * layer, the last of them (the classifier) only when `includeOutput`. Biases are never pruned.
 */
export function prunableKernels(spec: ModelSpec, includeOutput = false): string[] {
  const layers = spec.layers.map((l, i) => parseLayerConfig(l, `model.layers[${i}]`));
  const names = layerNames(layers);
  const kernels = layers.flatMap((l, i) => (KERNEL_LAYERS.has(l.type) ? [`${names[i] as string}/kernel`] : []));
  return includeOutput ? kernels : kernels.slice(0, -1);
}

export interface MagnitudePrunerOptions {
  readonly schedule: PruningSchedule;
  /** Prune the last conv/dense layer's kernel too (default false). */
  readonly includeOutput?: boolean;
}

export interface MagnitudePruner {
  /** The pruned kernels, by weight name. */
  readonly targets: readonly string[];
  /**
   * After `steps` optimizer steps (0 before the first): recomputes the masks from the current
   * weights where the schedule says so for the coming step (steps + 1, TF-MOT's pruning_step), then
   * zeroes the pruned weights. Fit's `afterStep` takes it as it is; call it with 0 before fitting.
   */
  update(steps: number): Promise<void>;
}

/** A magnitude pruner over a compiled model's conv and dense kernels (through getWeights/setWeights). */
export function createMagnitudePruner(model: CompiledModel, options: MagnitudePrunerOptions): MagnitudePruner {
  const targets = prunableKernels(model.spec, options.includeOutput);
  if (targets.length === 0) {
    throw new EcomlError('E_CONFIG_INVALID', `model "${model.spec.name}" has no conv or dense kernel to prune${options.includeOutput === true ? '' : ' besides its output layer'}`, {
      details: { model: model.spec.name },
    });
  }
  const masks = new Map<string, Uint8Array>();
  const prune = (w: NamedWeight, update: boolean, sparsity: number): NamedWeight => {
    if (!targets.includes(w.name)) return w;
    if (update) masks.set(w.name, magnitudeMask(w.values, sparsity));
    const mask = masks.get(w.name);
    return mask === undefined ? w : { ...w, values: w.values.map((v, i) => (mask[i] === 1 ? v : 0)) };
  };
  return {
    targets,
    async update(steps) {
      const { update, sparsity } = options.schedule(steps + 1);
      // Before the first mask every weight is kept: nothing to write.
      if (!update && masks.size === 0) return;
      const weights = await model.getWeights();
      model.setWeights(weights.map((w) => prune(w, update, sparsity)));
    },
  };
}
