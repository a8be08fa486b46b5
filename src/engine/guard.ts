/**
 * What every engine does at its edge: runtime errors become E_ENGINE_FAILED naming the engine (ours
 * pass through), and batch sizes are checked before they reach a runtime.
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
