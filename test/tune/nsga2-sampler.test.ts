import { describe, expect, it } from 'vitest';
import { EcomlError } from '../../src/errors.js';
import type { HpValue } from '../../src/models/spec.js';
import { hypervolume2d, paretoFront } from '../../src/tune/pareto.js';
import type { Sampler } from '../../src/tune/sampler.js';
import { Nsga2Sampler, parentPopulation } from '../../src/tune/samplers/nsga2.js';
import { RandomSampler } from '../../src/tune/samplers/random.js';
import { createSearchSpace } from '../../src/tune/space.js';
import type { FrozenTrial, Objective } from '../../src/tune/trial.js';
import { frozenTrial } from './helpers.js';
import { runSamplerSuite, sampleWith } from './sampler.suite.js';

runSamplerSuite('nsga2', (seed) => new Nsga2Sampler({ seed }));
// Small populations reach crossover and mutation within the suite's trials.
runSamplerSuite('nsga2 (population 4)', (seed) => new Nsga2Sampler({ seed, populationSize: 4 }));

const ZDT1_SPACE = createSearchSpace({
  x1: { type: 'float', min: 0, max: 1 },
  x2: { type: 'float', min: 0, max: 1 },
  x3: { type: 'float', min: 0, max: 1 },
});
const BOTH_MIN: readonly [Objective, Objective] = [
  { name: 'f1', direction: 'min' },
  { name: 'f2', direction: 'min' },
];

/** ZDT1 over three parameters: the Pareto front is f2 = 1 − √f1 where x2 = x3 = 0. */
function zdt1(values: Readonly<Record<string, HpValue>>): number[] {
  const [x1, x2, x3] = [values.x1, values.x2, values.x3] as number[];
  const g = 1 + (9 * ((x2 as number) + (x3 as number))) / 2;
  return [x1 as number, g * (1 - Math.sqrt((x1 as number) / g))];
}

/** Runs `n` trials of `evaluate` as the study loop would, every trial completing. */
function study(sampler: Sampler, n: number, evaluate: (values: Readonly<Record<string, HpValue>>) => number[], space = ZDT1_SPACE): FrozenTrial[] {
  const history: FrozenTrial[] = [];
  for (let number = 0; number < n; number++) {
    const values = sampleWith(sampler, space, history, BOTH_MIN as [Objective, Objective]);
    const scores = evaluate(values);
    history.push(frozenTrial({ number, values, scores, score: scores[0], violation: 0 }));
  }
  return history;
}

describe('Nsga2Sampler', () => {
  it("finds a front with a larger hypervolume than random search's on ZDT1, at equal trials, for every seed", () => {
    const reference = [1.1, 11];
    const hypervolume = (trials: FrozenTrial[]) => hypervolume2d(paretoFront(trials, BOTH_MIN).map((t) => t.scores as number[]), reference, ['min', 'min']);
    for (const seed of [1, 2, 3, 4, 5]) {
      const nsga2 = hypervolume(study(new Nsga2Sampler({ seed }), 300, zdt1));
      // Random search's consecutive seeds overlap (its state steps by one per parameter): space them out.
      const random = hypervolume(study(new RandomSampler({ seed: seed * 1000 }), 300, zdt1));
      expect(nsga2, `seed ${seed}`).toBeGreaterThan(random);
    }
  });

  it('draws a trial from the history alone: a fresh instance (a resumed study) repeats it', () => {
    const history = study(new Nsga2Sampler({ seed: 8, populationSize: 10 }), 35, zdt1);
    for (const k of [5, 12, 27, 34]) {
      const resumed = sampleWith(new Nsga2Sampler({ seed: 8, populationSize: 10 }), ZDT1_SPACE, history.slice(0, k), [...BOTH_MIN] as [Objective, Objective]);
      expect(resumed, `trial ${k}`).toEqual(history[k]?.values);
    }
  });

  it('draws again differently when the study retries a trial (a duplicate)', () => {
    const sampler = new Nsga2Sampler({ seed: 3, populationSize: 4 });
    const history = study(sampler, 12, zdt1);
    const objectives = [...BOTH_MIN] as [Objective, Objective];
    expect(sampleWith(sampler, ZDT1_SPACE, history, objectives)).not.toEqual(sampleWith(sampler, ZDT1_SPACE, history, objectives));
  });

  it('without mutation, children of identical parents inherit every value, conditional ones included', () => {
    const space = createSearchSpace({
      lr: { type: 'float', min: 1e-4, max: 1e-1, sampling: 'log' },
      units: { type: 'int', min: 16, max: 256, step: 16 },
      head: { type: 'choice', values: ['mlp', 'cnn'] },
      kernel: { type: 'choice', values: [3, 5], parentName: 'head', parentValues: ['cnn'] },
    });
    const values = { lr: 0.0123, units: 112, head: 'cnn', kernel: 5 };
    const history = Array.from({ length: 4 }, (_, number) => frozenTrial({ number, values, scores: [number, -number], violation: 0 }));
    for (const seed of [1, 2, 3]) {
      expect(sampleWith(new Nsga2Sampler({ seed, populationSize: 4, mutationProb: 0 }), space, history, [...BOTH_MIN] as [Objective, Objective])).toEqual(values);
    }
  });

  it('draws a conditional parameter at random when no parent has it active', () => {
    const space = createSearchSpace({
      head: { type: 'choice', values: ['mlp', 'cnn'] },
      kernel: { type: 'choice', values: [3, 5, 7], parentName: 'head', parentValues: ['cnn'] },
    });
    const history = Array.from({ length: 4 }, (_, number) => frozenTrial({ number, values: { head: 'mlp' }, scores: [number, -number], violation: 0 }));
    const sampler = new Nsga2Sampler({ seed: 1, populationSize: 4, mutationProb: 0 });
    const draw = sampler.begin({ space, history, trialNumber: 4, objectives: [...BOTH_MIN] as [Objective, Objective], constraints: [] });
    const kernels = new Set([3, 5, 7].map(() => draw.value(space[1] as (typeof space)[number], { head: 'cnn' })));
    expect([...kernels].every((k) => [3, 5, 7].includes(k as number))).toBe(true);
  });

  it('rejects settings out of range', () => {
    expect(() => new Nsga2Sampler({ seed: 1.5 })).toThrow(EcomlError);
    expect(() => new Nsga2Sampler({ seed: 1, populationSize: 1 })).toThrow(EcomlError);
    expect(() => new Nsga2Sampler({ seed: 1, crossoverProb: 1.5 })).toThrow(EcomlError);
    expect(() => new Nsga2Sampler({ seed: 1, mutationProb: -0.1 })).toThrow(EcomlError);
  });
});

describe('parentPopulation', () => {
  const directions = ['min', 'min'] as const;
  const trial = (number: number, scores: number[], extra: Partial<FrozenTrial> = {}) => frozenTrial({ number, scores, violation: 0, ...extra });

  it('is empty in the first generation, and counts only new configurations (not promotions) towards a generation', () => {
    const history = [trial(0, [1, 1]), trial(1, [2, 2]), trial(2, [3, 3], { attrs: { parent: 0 } })];
    expect(parentPopulation(history, 3, [...directions], 3)).toEqual([]);
    expect(parentPopulation([...history, trial(3, [0, 0])], 4, [...directions], 3).map((i) => i.trial.number)).toEqual([3, 0, 1]);
  });

  it('keeps whole fronts while they fit, feasible before infeasible, and ignores trials without scores', () => {
    const history = [
      trial(0, [0, 0], { violation: 2 }),
      trial(1, [5, 5]),
      trial(2, [1, 4]),
      trial(3, [2, 3]),
      trial(4, [4, 1]),
      trial(5, [9, 9], { state: 'failed', scores: undefined }),
    ];
    expect(parentPopulation(history, 6, [...directions], 6).map((i) => i.trial.number)).toEqual([2, 3, 4, 1, 0]);
    // The next generation scores worse than all but the infeasible trial: ties on crowding keep order.
    const next = history.map((t) => ({ ...t, number: t.number + 6, scores: [99, 99] }));
    expect(parentPopulation([...history, ...next], 12, [...directions], 6).map((i) => i.trial.number)).toEqual([2, 3, 4, 1, 7, 8]);
  });

  it('cuts the last front that does not fit by crowding distance, boundary points first', () => {
    const history = [trial(0, [1, 4]), trial(1, [4, 1]), trial(2, [9, 9]), trial(3, [2, 3]), trial(4, [3, 2.5]), trial(5, [9.5, 9.5])];
    // Front {0, 1, 3, 4}: 0 and 1 are boundaries; 4 (gaps 2/3 + 2/3) is less crowded than 3 (2/3 + 1.5/3).
    expect(parentPopulation(history, 6, [...directions], 3).map((i) => i.trial.number)).toEqual([0, 1, 4]);
  });

  it('takes the elite of the union of the new generation and the elite before it', () => {
    const first = [trial(0, [3, 3]), trial(1, [4, 4])];
    const second = [trial(2, [1, 1]), trial(3, [5, 5])];
    expect(parentPopulation([...first, ...second], 4, [...directions], 2).map((i) => i.trial.number)).toEqual([2, 0]);
  });
});
