/**
 * What every engine does at its edge: runtime errors become E_ENGINE_FAILED naming the engine (ours
 * pass through), batch sizes are checked before they reach a runtime, and predictions are made a
 * batch at a time.
 * @module
 */
import { EcomlError } from '../errors.js';

export async function guarded<T>(engine: string, what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof EcomlError) throw error;
    throw new EcomlError('E_ENGINE_FAILED', `${engine} ${what} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

export function checkBatchSize(batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new EcomlError('E_CONFIG_INVALID', `batch size must be a positive integer, got ${batchSize}`, { details: { batchSize } });
  }
}

/** `n` rows of `width` values, computed `batchSize` rows at a time by `rows(start, count)`. */
export async function inBatches(n: number, batchSize: number, width: number, rows: (start: number, count: number) => Promise<ArrayLike<number>>): Promise<Float32Array> {
  checkBatchSize(batchSize);
  const out = new Float32Array(n * width);
  for (let start = 0; start < n; start += batchSize) {
    const count = Math.min(batchSize, n - start);
    out.set(await rows(start, count), start * width);
  }
  return out;
}
