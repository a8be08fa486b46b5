/**
 * Small shape helpers shared by the loaders.
 * @module
 */
import { EcomlError } from '../errors.js';

/** Number of values in one sample of this shape. */
export function featureSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * How many samples a `limit` keeps out of `n`: all of them when undefined, else min(n, limit).
 * A limit that is not a positive integer is a configuration error, not silently "all".
 */
export function resolveLimit(n: number, limit: number | undefined): number {
  if (limit === undefined) return n;
  if (!Number.isSafeInteger(limit) || limit <= 0) {
    throw new EcomlError('E_CONFIG_INVALID', `limit must be a positive integer, got ${limit}`, { details: { limit } });
  }
  return Math.min(n, limit);
}
