/**
 * Never prunes: every trial runs all its epochs, as in Keras Tuner's random search.
 * @module
 */
import type { Pruner } from '../pruner.js';

export class NopPruner implements Pruner {
  readonly name = 'none';

  prune(): boolean {
    return false;
  }
}
