/**
 * Knowledge distillation at the engine seam: Keras' defaults, what both engines refuse, and the
 * objective for one sample on the host (the reference the engines' graphs are tested against).
 * The loss (Hinton et al. 2015, as Keras' "Knowledge Distillation" example writes it):
 *   α · CE(y, softmax(z)) + (1 − α) · T² · KL(softmax(log p_t / T) ‖ softmax(z / T))
 * with the KL clipped as Keras' KLDivergence clips it (both distributions to [ε, 1]).
 * @module
 */
import { EcomlError } from '../errors.js';
import { parseLayerConfig } from '../models/layers.js';
import type { ModelSpec } from '../models/spec.js';
import type { Distillation } from './types.js';

/** Keras' example's values. */
export const DISTILLATION_DEFAULTS: Distillation = { temperature: 10, alpha: 0.1 };

/** Keras' fuzz factor, which its cross-entropies and KLDivergence clip probabilities by. */
export const EPSILON = 1e-7;

/**
 * The smallest normal float32: a probability below it (one that underflowed to 0) is raised to it
 * before its log, so no −∞ reaches a softmax. log(2^−126) ≈ −87.3 nats, below any logit gap a
 * float32 softmax can still tell from 0.
 */
export const PROBABILITY_FLOOR = 2 ** -126;

/** Throws unless `spec` can be distilled with `d`: sparse labels into a dense softmax head, T > 0, α in [0, 1]. */
export function checkDistillation(spec: ModelSpec, d: Distillation): void {
  if (!(Number.isFinite(d.temperature) && d.temperature > 0)) {
    throw new EcomlError('E_CONFIG_INVALID', `the distillation temperature must be a finite number above 0, got ${d.temperature}`, { details: { temperature: d.temperature } });
  }
  if (!(d.alpha >= 0 && d.alpha <= 1)) throw new EcomlError('E_CONFIG_INVALID', `the distillation weight alpha must be in [0, 1], got ${d.alpha}`, { details: { alpha: d.alpha } });
  const at = `model.layers[${spec.layers.length - 1}]`;
  const raw = spec.layers.at(-1);
  const last = raw === undefined ? undefined : parseLayerConfig(raw, at);
  const refusal =
    spec.compile.loss !== 'sparse_categorical_crossentropy'
      ? `its loss is ${spec.compile.loss}`
      : last?.type !== 'dense' || last.activation !== 'softmax'
        ? `its last layer (${at}) is not dense with softmax`
        : undefined;
  if (refusal !== undefined) {
    throw new EcomlError('E_SPEC_INVALID', `model "${spec.name}" cannot be distilled: ${refusal}; distillation needs sparse_categorical_crossentropy and a last dense layer with softmax`, {
      details: { loss: spec.compile.loss, path: at },
    });
  }
}

/** What trainBatch checks before a step: a teacher's n × classes probabilities exactly when compiled for distillation. */
export function checkTeacher(d: Distillation | undefined, teacher: Float32Array | undefined, n: number, classes: number): void {
  if (d === undefined && teacher !== undefined) {
    throw new EcomlError('E_CONFIG_INVALID', 'teacher probabilities were given to a model not compiled for distillation (CompileOptions.distillation)');
  }
  if (d === undefined) return;
  if (teacher === undefined) throw new EcomlError('E_CONFIG_INVALID', "the model is compiled for distillation: each training batch needs the teacher's probabilities");
  if (teacher.length !== n * classes) {
    throw new EcomlError('E_SHAPE_MISMATCH', `${n} samples of ${classes} classes need ${n * classes} teacher probabilities, got ${teacher.length}`, {
      details: { expected: n * classes, got: teacher.length },
    });
  }
}

/** softmax(log p / T), the floor keeping log p finite. */
function soften(probs: ArrayLike<number>, temperature: number): number[] {
  const logits = Array.from(probs, (p) => Math.log(Math.max(p, PROBABILITY_FLOOR)) / temperature);
  const top = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - top));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

const clip = (p: number, hi: number): number => Math.min(Math.max(p, EPSILON), hi);

/**
 * One sample's distillation loss from the student's and the teacher's class probabilities (the
 * student's logits enter as log p, equal to them up to a shift softmax ignores), in float64.
 * The hard term is the engines' sparse cross-entropy: −log p_y, p clipped to [ε, 1 − ε].
 */
export function kdLoss(studentProbs: ArrayLike<number>, teacherProbs: ArrayLike<number>, label: number, temperature: number, alpha: number): number {
  const hard = -Math.log(clip(studentProbs[label] as number, 1 - EPSILON));
  const [q, s] = [soften(teacherProbs, temperature), soften(studentProbs, temperature)];
  const kl = q.reduce((sum, qc, c) => sum + clip(qc, 1) * Math.log(clip(qc, 1) / clip(s[c] as number, 1)), 0);
  return alpha * hard + (1 - alpha) * temperature * temperature * kl;
}
