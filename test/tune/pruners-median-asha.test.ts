/**
 * MedianPruner and SuccessiveHalvingPruner verdicts on histories built by hand, with the values
 * Optuna's _percentile.py and _successive_halving.py compute for them worked out in comments.
 */
import { describe, expect, it } from 'vitest';
import { SuccessiveHalvingPruner } from '../../src/tune/pruners/asha.js';
import { MedianPruner, isFirstInIntervalStep, nanPercentile } from '../../src/tune/pruners/median.js';
import type { FrozenTrial, IntermediateValue, Objective, StudyView, TrialState } from '../../src/tune/trial.js';
import { frozenTrial } from './helpers.js';

function studyOf(trials: readonly FrozenTrial[], objectives: readonly [Objective, ...Objective[]]): StudyView {
  return { id: 1, name: 'hand-built', objective: objectives[0], objectives, constraints: [], trials: () => trials };
}

const LOSS = [{ name: 'val_loss', direction: 'min' }] as const;
const ACCURACY = [{ name: 'val_accuracy', direction: 'max' }] as const;

/** Values at steps first, first + 1, …; a number array for one objective, vectors for several. */
function curve(values: readonly (number | readonly number[])[], first = 1): IntermediateValue[] {
  return values.map((v, i) => (typeof v === 'number' ? { step: first + i, value: v } : { step: first + i, value: v[0] as number, values: v }));
}

function trial(number: number, values: readonly (number | readonly number[])[], state: TrialState = 'completed', first = 1): FrozenTrial {
  return frozenTrial({ number, state, intermediateValues: curve(values, first) });
}

describe('MedianPruner (Optuna PercentilePruner at 50)', () => {
  // Five completed trials whose step-3 values sort to [0.2, 0.3, 0.4, 0.5, 0.6]: median 0.4.
  const completed = [0.5, 0.4, 0.3, 0.6, 0.2].map((last, number) => trial(number, [1, 0.8, last]));
  const verdict = (values: readonly number[], options = {}, history = completed, step = values.length) => {
    const running = trial(history.length, values, 'running');
    return new MedianPruner(options).prune(studyOf([...history, running], LOSS), running, step);
  };

  it("prunes when the trial's best value so far is worse than the completed trials' median at the step", () => {
    expect(verdict([1, 0.9, 0.45])).toBe(true); // best 0.45 > 0.4
    expect(verdict([1, 0.9, 0.39])).toBe(false); // best 0.39 ≤ 0.4
  });

  it('compares its best value over all steps, not the value just reported', () => {
    expect(verdict([1, 0.35, 0.45])).toBe(false); // best 0.35 ≤ 0.4, though 0.45 > 0.4
  });

  it('interpolates an even count as numpy does, and flips the percentile for max', () => {
    // Four completed: [0.3, 0.4, 0.5, 0.6], index 1.5 → 0.5 − 0.1·0.5 = 0.45.
    const four = completed.slice(0, 4);
    expect(verdict([1, 0.9, 0.46], { nStartupTrials: 4 }, four)).toBe(true);
    expect(verdict([1, 0.9, 0.44], { nStartupTrials: 4 }, four)).toBe(false);
    // Maximising, the percentile is 100 − 50: the same median, worse is below it.
    const up = (values: readonly number[]) => {
      const history = [0.5, 0.4, 0.3, 0.6, 0.2].map((last, number) => trial(number, [0, 0.1, last]));
      const running = trial(5, values, 'running');
      return new MedianPruner().prune(studyOf([...history, running], ACCURACY), running, 3);
    };
    expect(up([0, 0.1, 0.39])).toBe(true);
    expect(up([0, 0.1, 0.41])).toBe(false);
  });

  it('waits for n_startup_trials completed trials, n_warmup_steps and n_min_trials', () => {
    expect(verdict([1, 0.9, 0.9], {}, completed.slice(0, 4))).toBe(false); // 4 < 5 completed
    expect(verdict([1, 0.9, 0.9], { nWarmupSteps: 4 })).toBe(false); // step 3 < 4
    expect(verdict([1, 0.9, 0.9], { nMinTrials: 6 })).toBe(false); // 5 values at step 3 < 6
    // Pruned and running trials are not in the median: the completed ones alone say 0.4.
    const noisy = [...completed, trial(5, [0, 0, 0], 'pruned'), trial(6, [0, 0, 0], 'running')];
    expect(verdict([1, 0.9, 0.45], {}, noisy)).toBe(true);
  });

  it('judges once per interval, at the first step reported in it', () => {
    // interval 2, no warmup: the checks fall at steps 0, 2, 4; step 3 follows step 2 in the same interval.
    expect(isFirstInIntervalStep(2, [0, 1, 2], 0, 2)).toBe(true);
    expect(isFirstInIntervalStep(3, [0, 1, 2, 3], 0, 2)).toBe(false);
    expect(isFirstInIntervalStep(3, [0, 1, 3], 0, 2)).toBe(true); // step 2 was never reported
    expect(verdict([1, 0.9, 0.9], { intervalSteps: 2 }, completed, 3)).toBe(false);
  });

  it('prunes an all-NaN trial and does not judge a step a later execution re-reports', () => {
    expect(verdict([Number.NaN, Number.NaN, Number.NaN])).toBe(true);
    expect(verdict([1, 0.9, 0.9], {}, completed, 2)).toBe(false);
  });

  it('refuses a study with several objectives, as Optuna does', () => {
    const objectives = [LOSS[0], { name: 'joules', direction: 'min' }] as const;
    const running = trial(0, [[1, 1]], 'running');
    expect(() => new MedianPruner({ nStartupTrials: 0 }).prune(studyOf([running], objectives), running, 1)).toThrow('use the asha pruner');
  });

  it('computes percentiles bit for bit as numpy.nanpercentile', () => {
    // numpy 2.4.6, method 'linear', where a + (b − a)·t would be one ulp off.
    expect(nanPercentile([138.40774964442448, 0.05275492379532281], 50)).toBe(69.23025228410991);
    expect(nanPercentile([-0.009129825816118098, -0.05550951284776673], 90)).toBe(-0.01376779451928296);
    expect(nanPercentile([-0.0008122808264515302, 0.7866340851152702, Number.NaN], 50)).toBe(0.3929109021444093);
    expect(nanPercentile([Number.NaN], 50)).toBeNaN();
  });
});

describe('SuccessiveHalvingPruner (Optuna asynchronous successive halving)', () => {
  // min_resource 1, η = 2: rungs at steps 1, 2, 4, 8.
  const pruner = new SuccessiveHalvingPruner({ minResource: 1, reductionFactor: 2 });
  // Step-1 values 0.5, 0.3, 0.7; trial 2 was pruned at step 1; trial 3 skipped step 2 (its rung-2 value is step 3's).
  const history = [trial(0, [0.5, 0.4, 0.35, 0.3]), trial(1, [0.3, 0.2, 0.15, 0.1]), trial(2, [0.7], 'pruned'), trial(3, [0.6, Number.NaN], 'running')];
  const judge = (values: readonly number[], others = history, step = values.length) => {
    const running = trial(others.length, values, 'running');
    return pruner.prune(studyOf([...others, running], LOSS), running, step);
  };

  it('keeps a trial in the top ⌊n/η⌋ of the values recorded at its rung', () => {
    // Rung 0 (step 1): competing [0.5, 0.3, 0.7, 0.6, v], n = 5, ⌊5/2⌋ = 2 kept: v ≤ sorted[1].
    expect(judge([0.45])).toBe(false); // [0.3, 0.45, …]: 0.45 ≤ 0.45
    expect(judge([0.55])).toBe(true); // [0.3, 0.5, …]: 0.55 > 0.5
  });

  it("reads a rung's value at the first step reported at or past it, and skips NaN", () => {
    // Rung 1 (step 2): trial 0 0.4, trial 1 0.2, trial 3 NaN (Optuna prunes before recording it),
    // trial 2 never got there: competing [0.4, 0.2, v], n = 3, 1 kept: v ≤ 0.2.
    expect(judge([0.1, 0.2])).toBe(false);
    expect(judge([0.1, 0.25])).toBe(true);
    // Trial 4 reported steps 1 and 3, so its rung-1 value is step 3's 0.22, and it lets 2 of 4 go
    // on: [0.2, 0.21, 0.22, 0.4], 0.21 ≤ sorted[1]. Without it, 1 of 3: 0.21 > 0.2.
    const skipped = frozenTrial({ number: 4, state: 'running', intermediateValues: [{ step: 1, value: 0.3 }, { step: 3, value: 0.22 }] });
    expect(judge([0.1, 0.21], [...history, skipped])).toBe(false);
    expect(judge([0.1, 0.21])).toBe(true);
  });

  it('is not consulted between rungs, nor on a re-reported step', () => {
    expect(judge([0.1, 0.2, 99])).toBe(false); // step 3 is no rung
    expect(judge([0.1, 0.2, 0.1], history, 2)).toBe(false); // step 2 was judged when first reported
  });

  it('judges every rung a report skips past, with the value of that report', () => {
    const running = frozenTrial({ number: 4, state: 'running', intermediateValues: [{ step: 4, value: 0.32 }] });
    // Step 4 crosses rungs 0, 1 and 2 at once. Rung 0: [0.5, 0.3, 0.7, 0.6, 0.32], 2 kept, 0.32 ≤ 0.5.
    // Rung 1: [0.4, 0.2, 0.32], 1 kept: 0.32 > 0.2 → pruned there.
    expect(pruner.prune(studyOf([...history, running], LOSS), running, 4)).toBe(true);
  });

  it('compares the first η − 1 trials at a rung with the best', () => {
    const one = [trial(0, [0.5])];
    expect(judge([0.5], one)).toBe(false); // n = 2 < η: 0.5 ≤ min 0.5
    expect(judge([0.6], one)).toBe(true);
    expect(judge([0.6], [])).toBe(false); // alone at the rung
  });

  it('prunes a NaN at a rung and, with bootstrap_count, until enough trials reached the rung', () => {
    expect(judge([Number.NaN])).toBe(true);
    const bootstrapping = new SuccessiveHalvingPruner({ minResource: 1, reductionFactor: 2, bootstrapCount: 5 });
    const running = trial(4, [0.01], 'running');
    expect(bootstrapping.prune(studyOf([...history, running], LOSS), running, 1)).toBe(true); // 5 competing ≤ 5
  });

  it("estimates min_resource 'auto' as max(last step of the completed trials ÷ 100, 1)", () => {
    const auto = new SuccessiveHalvingPruner({ reductionFactor: 2 });
    const lone = trial(0, [9], 'running');
    expect(auto.prune(studyOf([lone], LOSS), lone, 1)).toBe(false); // nothing completed: no rungs yet
    // A completed trial that reported 250 steps: min_resource 2, rungs at 2, 4, 8.
    const long = frozenTrial({ number: 0, intermediateValues: Array.from({ length: 250 }, (_, i) => ({ step: i + 1, value: 0.1 })) });
    const worse = trial(1, [0.9, 0.9], 'running');
    expect(auto.prune(studyOf([long, worse], LOSS), worse, 2)).toBe(true); // [0.1, 0.9], 0.9 > min
    expect(auto.prune(studyOf([long, trial(1, [0.9], 'running')], LOSS), trial(1, [0.9], 'running'), 1)).toBe(false); // step 1 is below the first rung
  });

  it('decides on the vector of objectives in a multi-objective study', () => {
    const objectives = [{ name: 'val_accuracy', direction: 'max' }, { name: 'joules', direction: 'min' }] as const;
    const others = [trial(0, [[0.9, 10]]), trial(1, [[0.8, 5]])];
    const verdict = (vector: readonly number[]) => {
      const running = trial(2, [vector], 'running');
      return pruner.prune(studyOf([...others, running], objectives), running, 1);
    };
    // n = 3, 1 kept. [0.7, 20] is dominated by both: 2 ahead of it.
    expect(verdict([0.7, 20])).toBe(true);
    // [0.95, 30] joins the first front at an end (infinite crowding distance): nobody is ahead.
    expect(verdict([0.95, 30])).toBe(false);
    // [0.85, 7] is on the first front but between the two ends: both are ahead of it.
    expect(verdict([0.85, 7])).toBe(true);
  });

  it('checks its options as Optuna does', () => {
    expect(() => new SuccessiveHalvingPruner({ reductionFactor: 1 })).toThrow('reductionFactor');
    expect(() => new SuccessiveHalvingPruner({ minResource: 0 })).toThrow('minResource');
    expect(() => new SuccessiveHalvingPruner({ bootstrapCount: 1 })).toThrow("numeric minResource, not 'auto'");
  });
});
