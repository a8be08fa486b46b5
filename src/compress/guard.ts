/**
 * The accuracy guard: a compressed model is scored on held-out data against its source; when it
 * loses more than allowed, the layers it hurts most go back to float, one at a time, until it
 * holds. Which layers hurt most is measured, not guessed: each quantized layer is left in float
 * alone and the accuracy it recovers is its sensitivity (the per-layer pass of ONNX Runtime's and
 * Intel Neural Compressor's tuning loops).
 * @module
 */
import { EcomlError } from '../errors.js';

/** One compressed candidate, whatever the compression: its bytes and whatever the caller keeps with them. */
export interface GuardCandidate<R> {
  readonly bytes: Uint8Array;
  readonly report: R;
}

export interface GuardInput<R> {
  /** The layers (ONNX node names) that compression touched and can leave in float instead. */
  readonly layers: readonly string[];
  /** The model compressed with `keepFloat` left in float. */
  build(keepFloat: ReadonlySet<string>): Promise<GuardCandidate<R>>;
  /** Accuracy in [0, 1] on the held-out data. */
  accuracy(bytes: Uint8Array): Promise<number>;
  readonly sourceAccuracy: number;
  /** The most accuracy the compressed model may lose, in percentage points. */
  readonly maxDropPp: number;
  onStep?(step: GuardStep): void;
}

export interface GuardStep {
  readonly phase: 'full' | 'sensitivity' | 'fallback';
  readonly keepFloat: readonly string[];
  readonly accuracy: number;
}

export interface LayerSensitivity {
  readonly layer: string;
  /** Accuracy with this layer alone left in float. */
  readonly accuracyWhenFloat: number;
}

export interface GuardResult<R> {
  readonly candidate: GuardCandidate<R>;
  readonly accuracy: number;
  /** Percentage points lost against the source (negative: it gained). */
  readonly dropPp: number;
  readonly keptFloat: readonly string[];
  /** Present when the fully compressed model failed the guard and the per-layer pass ran. */
  readonly sensitivity?: readonly LayerSensitivity[];
  /** Candidates scored, the full one included. */
  readonly evaluations: number;
}

export function dropPp(sourceAccuracy: number, accuracy: number): number {
  return (sourceAccuracy - accuracy) * 100;
}

/** Layers ranked most sensitive first: the most accuracy recovered in float, ties in the given order. */
export function rankSensitivity(sensitivity: readonly LayerSensitivity[]): LayerSensitivity[] {
  return sensitivity.map((s, i) => ({ s, i })).sort((a, b) => b.s.accuracyWhenFloat - a.s.accuracyWhenFloat || a.i - b.i).map(({ s }) => s);
}

export async function guardAccuracy<R>(input: GuardInput<R>): Promise<GuardResult<R>> {
  const { layers, sourceAccuracy, maxDropPp } = input;
  let evaluations = 0;
  const score = async (keepFloat: ReadonlySet<string>, phase: GuardStep['phase']): Promise<{ candidate: GuardCandidate<R>; accuracy: number }> => {
    const candidate = await input.build(keepFloat);
    const accuracy = await input.accuracy(candidate.bytes);
    evaluations++;
    input.onStep?.({ phase, keepFloat: [...keepFloat], accuracy });
    return { candidate, accuracy };
  };
  const holds = (accuracy: number): boolean => dropPp(sourceAccuracy, accuracy) <= maxDropPp;

  const full = await score(new Set(), 'full');
  if (holds(full.accuracy)) return { ...full, dropPp: dropPp(sourceAccuracy, full.accuracy), keptFloat: [], evaluations };

  const sensitivity: LayerSensitivity[] = [];
  for (const layer of layers) sensitivity.push({ layer, accuracyWhenFloat: (await score(new Set([layer]), 'sensitivity')).accuracy });
  const ranked = rankSensitivity(sensitivity);
  const keepFloat = new Set<string>();
  let best = full;
  // The last layer would leave nothing compressed: a model that fails with all but one in float fails the guard.
  for (const { layer } of ranked.slice(0, Math.max(0, ranked.length - 1))) {
    keepFloat.add(layer);
    best = await score(keepFloat, 'fallback');
    if (holds(best.accuracy)) {
      return { ...best, dropPp: dropPp(sourceAccuracy, best.accuracy), keptFloat: [...keepFloat], sensitivity, evaluations };
    }
  }
  const worst = ranked.slice(0, 5).map((s) => `${s.layer} (${(s.accuracyWhenFloat * 100).toFixed(2)}% when float)`);
  throw new EcomlError(
    'E_ACCURACY_GUARD',
    `compression loses ${dropPp(sourceAccuracy, best.accuracy).toFixed(2)} pp of accuracy (source ${(sourceAccuracy * 100).toFixed(2)}%, allowed ${maxDropPp} pp) even with ${keepFloat.size} of ${layers.length} layers kept in float; the most sensitive layers: ${worst.join(', ') || 'none (the loss is not in any compressed layer)'}. Nothing was written`,
    { details: { sourceAccuracy, accuracy: best.accuracy, maxDropPp, sensitivity: ranked } },
  );
}
