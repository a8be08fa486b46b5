/**
 * Hyperband with Keras Tuner's brackets: the bracket arithmetic against keras_tuner/tuners/
 * hyperband.py's formulas, and the scheduler driven through the real study loop, sequentially,
 * concurrently and resumed after a crash.
 */
import { describe, expect, it } from 'vitest';
import { dominates } from '../../src/tune/pareto.js';
import { HyperbandPruner, hyperbandBracketCount, hyperbandBrackets, hyperbandTotals } from '../../src/tune/pruners/hyperband.js';
import { RandomSampler } from '../../src/tune/samplers/random.js';
import { createSearchSpace } from '../../src/tune/space.js';
import type { TrialUpdate } from '../../src/tune/storage.js';
import { MemoryStudyStorage } from '../../src/tune/storage/memory.js';
import { runStudy } from '../../src/tune/study.js';
import type { RunTrial, StudyOptions } from '../../src/tune/study.js';
import type { FrozenTrial } from '../../src/tune/trial.js';

const shape = (maxEpochs: number, factor: number) => hyperbandBrackets(maxEpochs, factor).map((b) => b.rounds.map((r) => [r.size, r.epochs]));

describe('hyperbandBrackets (Keras Tuner _get_size / _get_epochs)', () => {
  it('gives (max_epochs 10, factor 3): 30 trials, 22 new configurations, 120 epochs', () => {
    // b0 = ceil(1 + log3 10) = 4. Bracket 2: ceil(4/3·9) = 12 at ceil(10/9) = 2 epochs, 4 at 4, 2 at 10.
    expect(shape(10, 3)).toEqual([
      [
        [12, 2],
        [4, 4],
        [2, 10],
      ],
      [
        [6, 4],
        [2, 10],
      ],
      [[4, 10]],
    ]);
    // 12·2 + 4·(4−2) + 2·(10−4) + 6·4 + 2·(10−4) + 4·10 = 120.
    expect(hyperbandTotals(hyperbandBrackets(10, 3))).toEqual({ trials: 30, newConfigurations: 22, epochs: 120 });
  });

  it('gives (max_epochs 100, factor 3): 254 trials, 172 new configurations, 2,672 epochs', () => {
    // b0 = ceil(1 + log3 100) = 6; size(b, r) = ceil(6/(b+1)·3^(b−r)), epochs(b, r) = ceil(100/3^(b−r)).
    expect(shape(100, 3)).toEqual([
      [
        [98, 2],
        [33, 4],
        [11, 12],
        [4, 34],
        [2, 100],
      ],
      [
        [41, 4],
        [14, 12],
        [5, 34],
        [2, 100],
      ],
      [
        [18, 12],
        [6, 34],
        [2, 100],
      ],
      [
        [9, 34],
        [3, 100],
      ],
      [[6, 100]],
    ]);
    // Per bracket, 570 + 518 + 480 + 504 + 600 epochs; against 172·100 = 17,200 training every configuration fully.
    expect(hyperbandTotals(hyperbandBrackets(100, 3))).toEqual({ trials: 254, newConfigurations: 172, epochs: 2672 });
  });

  it("takes log(max_epochs, factor) as CPython does, so powers of the factor get Keras Tuner's b0", () => {
    // CPython 3.11: math.log(9, 3) = 2.0 (b0 = 3) and math.log(81, 3) = 4.0 (b0 = 5); V8's Math.log
    // ratio gives 2.0000000000000004 and 4.000000000000001, which would make them 4 and 6.
    expect(shape(9, 3)).toEqual([
      [
        [9, 1],
        [3, 3],
        [1, 9],
      ],
      [
        [5, 3],
        [2, 9],
      ],
      [[3, 9]],
    ]);
    expect(shape(81, 3)[0]).toEqual([
      [81, 1],
      [27, 3],
      [9, 9],
      [3, 27],
      [1, 81],
    ]);
    expect([hyperbandBracketCount(1, 3), hyperbandBracketCount(3, 3), hyperbandBracketCount(100, 3)]).toEqual([1, 2, 5]);
  });

  it('refuses arguments Keras Tuner refuses', () => {
    expect(() => hyperbandBrackets(10, 1)).toThrow('factor');
    expect(() => new HyperbandPruner({ maxEpochs: 0 })).toThrow('maxEpochs');
  });
});

const space = createSearchSpace({ x: { type: 'float', min: 0, max: 1 }, y: { type: 'float', min: 0, max: 1 } });
/** A learning curve whose ranking changes with the epochs: x leads early, y later. */
const accuracy = (values: FrozenTrial['values'], epoch: number) => (values['x'] as number) * (1 - 0.5 ** (epoch + 1)) + ((values['y'] as number) * epoch) / 20;

/** Trains epochs initialEpoch+1 … epochs, reporting each, as a checkpointed trainer would. */
const train: RunTrial = async (ctx) => {
  const metricsByEpoch = Array.from({ length: ctx.epochs }, (_, e) => ({ val_accuracy: accuracy(ctx.values, e) }));
  for (let epoch = ctx.initialEpoch + 1; epoch <= ctx.epochs; epoch++) ctx.report(epoch, metricsByEpoch[epoch - 1] as { val_accuracy: number });
  return { metricsByEpoch, summary: { epochs: ctx.epochs - ctx.initialEpoch } };
};

function study(overrides: Partial<StudyOptions> = {}): StudyOptions {
  return {
    name: 'hyperband',
    space,
    sampler: new RandomSampler({ seed: 7 }),
    pruner: new HyperbandPruner({ maxEpochs: 10 }),
    storage: new MemoryStudyStorage(),
    objectives: [{ name: 'val_accuracy', direction: 'max' }],
    maxEpochs: 10,
    seed: 7,
    runTrial: train,
    ...overrides,
  };
}

/** [epochs, initialEpoch, bracket, round] of each trial, Keras Tuner's order for (10, 3) run one at a time. */
const KT_10_3 = [
  ...Array<number[]>(12).fill([2, 0, 2, 0]),
  ...Array<number[]>(4).fill([4, 2, 2, 1]),
  ...Array<number[]>(2).fill([10, 4, 2, 2]),
  ...Array<number[]>(6).fill([4, 0, 1, 0]),
  ...Array<number[]>(2).fill([10, 4, 1, 1]),
  ...Array<number[]>(4).fill([10, 0, 0, 0]),
];

const layout = (trials: readonly FrozenTrial[]) => trials.map((t) => ['epochs', 'initialEpoch', 'bracket', 'round'].map((k) => t.attrs?.[k]));
const roundOf = (trials: readonly FrozenTrial[], bracket: number, round: number, iteration = 0) =>
  trials.filter((t) => t.attrs?.['bracket'] === bracket && t.attrs?.['round'] === round && t.attrs?.['iteration'] === iteration);

/**
 * Keras Tuner's promotions, run one at a time, as a batch rule: round r takes the size(r) best of
 * round r−1 by score (ties: the earlier trial), best first.
 */
function expectKerasTunerPromotions(trials: readonly FrozenTrial[], maxEpochs: number, iterations = 1): void {
  for (let iteration = 0; iteration < iterations; iteration++) {
    for (const { bracket, rounds } of hyperbandBrackets(maxEpochs, 3)) {
      rounds.forEach((round, r) => {
        const members = roundOf(trials, bracket, r, iteration);
        expect(members).toHaveLength(round.size);
        if (r === 0) return;
        const ranked = [...roundOf(trials, bracket, r - 1, iteration)].sort((a, b) => (b.score as number) - (a.score as number) || a.number - b.number);
        expect(members.map((t) => t.attrs?.['parent'])).toEqual(ranked.slice(0, round.size).map((t) => t.number));
        for (const t of members) expect(t.values).toEqual(trials[t.attrs?.['parent'] as number]?.values);
      });
    }
  }
}

const epochsRun = (trials: readonly FrozenTrial[]) => trials.reduce((sum, t) => sum + (t.summary?.['epochs'] ?? 0), 0);

describe('HyperbandPruner driving runStudy', () => {
  it("runs Keras Tuner's (10, 3) schedule: trials, epochs, parents", async () => {
    const result = await runStudy(study());
    expect(result.status).toBe('completed');
    expect(result.trials.every((t) => t.state === 'completed')).toBe(true);
    expect(layout(result.trials)).toEqual(KT_10_3);
    expectKerasTunerPromotions(result.trials, 10);
    expect(result.trials.filter((t) => t.attrs?.['parent'] === undefined)).toHaveLength(22);
    expect(epochsRun(result.trials)).toBe(120);
    // A promotion reports only the epochs it trains: 3 … 4 for a 2 → 4 promotion.
    expect(result.trials[12]?.intermediateValues.map((v) => v.step)).toEqual([3, 4]);
  });

  it("runs Keras Tuner's (100, 3) schedule: 254 trials, 172 configurations, 2,672 epochs", async () => {
    const result = await runStudy(study({ pruner: new HyperbandPruner({ maxEpochs: 100 }), maxEpochs: 100 }));
    expect(result.trials).toHaveLength(254);
    expectKerasTunerPromotions(result.trials, 100);
    expect(result.trials.filter((t) => t.attrs?.['parent'] === undefined)).toHaveLength(172);
    expect(epochsRun(result.trials)).toBe(2672);
  });

  it('sweeps the brackets again for each hyperband iteration', async () => {
    const result = await runStudy(study({ pruner: new HyperbandPruner({ maxEpochs: 10, hyperbandIterations: 2 }) }));
    expect(result.trials).toHaveLength(60);
    expect(layout(result.trials.slice(30))).toEqual(KT_10_3);
    expectKerasTunerPromotions(result.trials, 10, 2);
  });

  it('runs trials concurrently: the next bracket starts while a round waits, then it waits for the last trials', async () => {
    const result = await runStudy(study({ concurrency: 4 }));
    expect(result.status).toBe('completed');
    expect(result.trials).toHaveLength(30);
    expect(epochsRun(result.trials)).toBe(120);
    for (const { bracket, rounds } of hyperbandBrackets(10, 3)) {
      rounds.forEach((round, r) => {
        const members = roundOf(result.trials, bracket, r);
        expect(members).toHaveLength(round.size);
        const previous = new Set(roundOf(result.trials, bracket, r - 1).map((t) => t.number));
        for (const t of members) if (r > 0) expect(previous.has(t.attrs?.['parent'] as number)).toBe(true);
        expect(new Set(members.map((t) => t.attrs?.['parent'])).size).toBe(r === 0 ? 1 : members.length);
      });
    }
  });

  it('plans on where a study that crashed mid-trial stopped, repeating nothing', async () => {
    /** Loses the process: once armed, writing a trial's end throws, so the trial stays 'running'. */
    class CrashingStorage extends MemoryStudyStorage {
      armed = false;
      override updateTrial(studyId: number, trialNumber: number, update: TrialUpdate): FrozenTrial {
        if (this.armed && update.state !== undefined) throw new Error('process died');
        return super.updateTrial(studyId, trialNumber, update);
      }
    }
    const storage = new CrashingStorage();
    // Trial 14 is a promotion (bracket 2, round 1): it dies after its first epoch.
    const crashing: RunTrial = async (ctx) => {
      if (ctx.trialNumber !== 14) return train(ctx);
      ctx.report(ctx.initialEpoch + 1, { val_accuracy: accuracy(ctx.values, ctx.initialEpoch) });
      storage.armed = true;
      throw new Error('killed');
    };
    await expect(runStudy(study({ storage, runTrial: crashing }))).rejects.toThrow('process died');
    const [crashed] = storage.listStudies();
    const studyId = crashed?.id as number;
    expect(storage.getTrials(studyId).map((t) => t.state)).toEqual([...Array<string>(14).fill('completed'), 'running']);

    storage.armed = false;
    // A new process: new pruner and sampler instances, the same storage.
    const result = await runStudy(study({ storage, resume: studyId, pruner: new HyperbandPruner({ maxEpochs: 10 }), sampler: new RandomSampler({ seed: 7 }) }));
    expect(result.status).toBe('completed');
    expect(result.trials.every((t) => t.state === 'completed')).toBe(true);
    expect(layout(result.trials)).toEqual(KT_10_3);
    expectKerasTunerPromotions(result.trials, 10);
    expect(epochsRun(result.trials)).toBe(120);
  });

  it('promotes on the Pareto ranks with several objectives', async () => {
    const result = await runStudy(
      study({
        objectives: [
          { name: 'val_accuracy', direction: 'max' },
          { name: 'joules', direction: 'min' },
        ],
        runTrial: async (ctx) => {
          const trained = await train({ ...ctx, report: (step, metrics) => ctx.report(step, { ...metrics, joules: (ctx.values['y'] as number) * step }) });
          return { ...trained, summary: { ...trained.summary, joules: (ctx.values['y'] as number) * ctx.epochs } };
        },
      }),
    );
    expect(result.trials).toHaveLength(30);
    // Round 1 of bracket 2 takes the 4 best Pareto ranks of round 0: never a dominated trial while
    // a non-dominated one waits.
    const round0 = roundOf(result.trials, 2, 0);
    const promoted = new Set(roundOf(result.trials, 2, 1).map((t) => t.attrs?.['parent']));
    const directions = ['max', 'min'] as const;
    const front = round0.filter((t) => !round0.some((o) => dominates(o.scores ?? [], t.scores ?? [], directions)));
    if (front.length >= 4) for (const n of promoted) expect(front.map((t) => t.number)).toContain(n);
    else for (const t of front) expect(promoted.has(t.number)).toBe(true);
  });

  it('never prunes a reported step', () => {
    expect(new HyperbandPruner({ maxEpochs: 10 }).prune()).toBe(false);
  });
});
