/**
 * Never prunes: every trial runs all its epochs, as in Keras Tuner's random search.
 * @module
 */
import type { Pruner } from '../pruner.js';

export class NopPruner implements Pruner {
  readonly name = 'nop';

  prune(): boolean {
    return false;
  }
}
