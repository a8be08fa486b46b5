/**
 * Normalisation fitted on the training split and recorded as plain data, so a saved model's
 * sidecar can repeat it exactly at predict time.
 *
 * - 'scale' multiplies by one factor (Keras Rescaling's convention): 1/valueMax for sources with a
 *   fixed encoding range (ubyte IDX, PNG: 1/255, giving [0, 1]); otherwise (CSV, wider IDX types)
 *   1/max|x| over the training split, giving [-1, 1]. CSV users usually want 'standardize'.
 * - 'standardize' subtracts a mean and divides by a standard deviation (population, as
 *   scikit-learn's StandardScaler), one pair per entry of the sample's last axis: per column for
 *   CSV [k], per channel for images [h, w, c], never per pixel. A constant feature's std is
 *   recorded as 1 so it maps to 0 instead of dividing by zero.
 * - 'none' leaves values as they are.
 * @module
 */
import { z } from 'zod';
import { EcomlError } from '../errors.js';
import type { Dataset, Preprocessing } from './types.js';

export type NormalizeKind = Preprocessing['kind'];

/** Validates a record read back from a sidecar. */
export const PreprocessingSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('scale'), scale: z.number().positive() }).strict(),
  z.object({ kind: z.literal('standardize'), mean: z.array(z.number()).min(1), std: z.array(z.number().positive()).min(1) }).strict(),
  z.object({ kind: z.literal('none') }).strict(),
]);

type FitInput = Pick<Dataset, 'x' | 'featureShape' | 'valueMax'>;

export function fitPreprocessing(kind: NormalizeKind, data: FitInput): Preprocessing {
  switch (kind) {
    case 'none':
      return { kind };
    case 'scale': {
      const max = data.valueMax ?? data.x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      return { kind, scale: max > 0 ? 1 / max : 1 };
    }
    case 'standardize':
      return standardizeStats(data.x, data.featureShape.at(-1) ?? 1);
  }
}

function standardizeStats(x: Float32Array, channels: number): Preprocessing {
  const count = x.length / channels;
  // Two passes in float64: a one-pass sum of squares loses the variance of large-valued features.
  const mean = new Float64Array(channels);
  for (let i = 0; i < x.length; i++) mean[i % channels] = (mean[i % channels] as number) + (x[i] as number);
  for (let c = 0; c < channels; c++) mean[c] = (mean[c] as number) / count;
  const sq = new Float64Array(channels);
  for (let i = 0; i < x.length; i++) {
    const d = (x[i] as number) - (mean[i % channels] as number);
    sq[i % channels] = (sq[i % channels] as number) + d * d;
  }
  const std = Array.from(sq, (s) => Math.sqrt(s / count) || 1);
  return { kind: 'standardize', mean: Array.from(mean), std };
}

/** Applies `p` to `x` in place (and returns it). */
export function applyPreprocessing(p: Preprocessing, x: Float32Array): Float32Array {
  switch (p.kind) {
    case 'none':
      return x;
    case 'scale':
      for (let i = 0; i < x.length; i++) x[i] = (x[i] as number) * p.scale;
      return x;
    case 'standardize': {
      const channels = p.mean.length;
      if (x.length % channels !== 0) {
        throw new EcomlError('E_SHAPE_MISMATCH', `standardization has ${channels} channels but ${x.length} values are not a whole number of them`, {
          details: { channels, values: x.length },
        });
      }
      const { mean, std } = p;
      for (let i = 0; i < x.length; i++) x[i] = ((x[i] as number) - (mean[i % channels] as number)) / (std[i % channels] as number);
      return x;
    }
  }
}
