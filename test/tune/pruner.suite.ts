/**
 * The conformance suite every Pruner runs: a boolean verdict for any step, taken from frozen
 * snapshots alone, the same verdict for the same inputs.
 */
import { describe, expect, it } from 'vitest';
import type { Pruner } from '../../src/tune/pruner.js';
import type { FrozenTrial, StudyView } from '../../src/tune/trial.js';
import { frozenTrial } from './helpers.js';

function studyOf(trials: readonly FrozenTrial[]): StudyView {
  const objective = Object.freeze({ name: 'val_loss', direction: 'min' as const });
  return Object.freeze({ id: 1, name: 'suite', objective, objectives: [objective] as const, constraints: [], trials: () => trials });
}

const curve = (values: number[]) => values.map((value, step) => ({ step, value }));

export function runPrunerSuite(name: string, makePruner: () => Pruner): void {
  describe(`Pruner conformance: ${name}`, () => {
    const finished = Object.freeze(
      [0.5, 0.4, 0.3, 0.6, 0.2].map((last, number) =>
        frozenTrial({ number, score: last, intermediateValues: curve([1, 0.8, last]), metrics: [{ val_loss: 1 }, { val_loss: 0.8 }, { val_loss: last }] }),
      ),
    );
    const running = (values: number[]) => frozenTrial({ number: 5, state: 'running', intermediateValues: curve(values) });

    it('has a name', () => {
      expect(makePruner().name).toMatch(/^[a-z][a-z0-9_-]*$/);
    });

    it('answers a boolean at every step, with and without history', () => {
      const pruner = makePruner();
      for (const history of [[], finished]) {
        for (const values of [[0.1], [9, 9, 9], [1, 0.8, 0.25]]) {
          expect(typeof pruner.prune(studyOf([...history, running(values)]), running(values), values.length - 1)).toBe('boolean');
        }
      }
    });

    it('gives the same verdict for the same snapshots', () => {
      const trial = running([1, 0.9, 0.95]);
      const verdicts = [makePruner(), makePruner()].map((pruner) => pruner.prune(studyOf([...finished, trial]), trial, 2));
      expect(verdicts[0]).toBe(verdicts[1]);
    });
  });
}
