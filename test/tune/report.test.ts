import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { energySaved, energySpent, SAVED_ENERGY_METHOD, studyReport, toCsv, trialRows } from '../../src/tune/report.js';
import { createSearchSpace } from '../../src/tune/space.js';
import type { ExecutionRecord, Objective } from '../../src/tune/trial.js';
import { frozenTrial } from './helpers.js';

const ONE_EXECUTION: ExecutionRecord[] = [{ seed: 1, metricsByEpoch: [] }];
const ACC_JOULES: readonly [Objective, Objective] = [
  { name: 'val_accuracy', direction: 'max' },
  { name: 'joules', direction: 'min' },
];

describe('energySpent', () => {
  it('sums joules and kg CO2e over every trial, whatever its state, and counts the trials', () => {
    const trials = [
      frozenTrial({ number: 0, summary: { joules: 10, kg_co2e: 0.001, epochs: 5 } }),
      frozenTrial({ number: 1, state: 'pruned', summary: { joules: 4, kg_co2e: 0.0005, epochs: 2 } }),
      frozenTrial({ number: 2, state: 'failed' }),
      frozenTrial({ number: 3, state: 'running', summary: { joules: 1 } }),
    ];
    const spent = energySpent(trials);
    expect(spent).toEqual({ joules: 15, kgCo2e: expect.closeTo(0.0015, 12), trials: 4, measuredTrials: 3, byState: { running: 1, completed: 1, pruned: 1, failed: 1 } });
  });
});

describe('energySaved', () => {
  it('a pruned trial that ran 3 of 10 epochs at 2 J per epoch saved 14 J', () => {
    const saved = energySaved([frozenTrial({ number: 0, state: 'pruned', summary: { joules: 6, kg_co2e: 0.003, epochs: 3 } })], 10);
    expect(saved).toMatchObject({ method: SAVED_ENERGY_METHOD, savedJoules: 14, epochsRun: 3, epochsNotRun: 7, fullEpochs: 10, notEstimable: 0 });
    expect(saved.savedKgCo2e).toBeCloseTo(0.007, 12);
    expect(saved.lineages[0]).toMatchObject({ trials: [0], state: 'pruned', joulesPerEpoch: 2, savedJoules: 14 });
  });

  it('counts a Hyperband lineage (1 → 4 → 10 epochs) as one configuration: the survivor saved 0, the one stopped at 4 saved its 6 epochs', () => {
    const trials = [
      frozenTrial({ number: 0, executions: ONE_EXECUTION, summary: { joules: 2, epochs: 1 }, attrs: { epochs: 1 } }),
      frozenTrial({ number: 1, executions: ONE_EXECUTION, summary: { joules: 4, epochs: 1 }, attrs: { epochs: 1 } }),
      frozenTrial({ number: 2, executions: ONE_EXECUTION, summary: { joules: 6, epochs: 3 }, attrs: { epochs: 4, parent: 0 } }),
      frozenTrial({ number: 3, executions: ONE_EXECUTION, summary: { joules: 12, epochs: 3 }, attrs: { epochs: 4, parent: 1 } }),
      frozenTrial({ number: 4, executions: ONE_EXECUTION, summary: { joules: 12, epochs: 6 }, attrs: { epochs: 10, parent: 2 } }),
    ];
    const saved = energySaved(trials, 10);
    expect(saved.lineages.map((l) => [l.trials, l.epochsRun, l.savedJoules])).toEqual([
      [[0, 2, 4], 10, 0],
      [[1, 3], 4, 6 * 4],
    ]);
    expect(saved).toMatchObject({ savedJoules: 24, epochsRun: 14, fullEpochs: 20, epochsNotRun: 6 });
  });

  it('counts every execution a trial was to run: maxEpochs × executions', () => {
    const twoRuns = frozenTrial({ number: 0, executions: [...ONE_EXECUTION, ...ONE_EXECUTION], summary: { joules: 16, epochs: 8 } });
    expect(energySaved([twoRuns], 5).lineages[0]).toMatchObject({ fullEpochs: 10, savedJoules: 4 });
    // Pruned in its first execution: by default only that attempted execution counts; told the plan, both do.
    const pruned = frozenTrial({ number: 0, state: 'pruned', summary: { joules: 4, epochs: 2 } });
    expect(energySaved([pruned], 5).savedJoules).toBe(6);
    expect(energySaved([pruned], 5, 2).savedJoules).toBe(16);
  });

  it('never guesses: no epochs, no joules, still running, failed or more epochs than a full run give no estimate', () => {
    const trials = [
      frozenTrial({ number: 0, state: 'pruned', summary: { joules: 0.5, epochs: 0 } }),
      frozenTrial({ number: 1, state: 'pruned', summary: { epochs: 2 } }),
      frozenTrial({ number: 2, state: 'pruned' }),
      frozenTrial({ number: 3, state: 'running', summary: { joules: 1, epochs: 1 } }),
      frozenTrial({ number: 4, state: 'failed', summary: { joules: 1, epochs: 1 } }),
      frozenTrial({ number: 5, executions: ONE_EXECUTION, summary: { joules: 30, epochs: 12 } }),
      frozenTrial({ number: 6, state: 'pruned', summary: { joules: 2, epochs: 1 } }),
    ];
    const saved = energySaved(trials, 10);
    expect(saved).toMatchObject({ savedJoules: 18, epochsRun: 1, fullEpochs: 10, notEstimable: 6 });
    expect(saved.lineages.map((l) => l.note)).toEqual([
      'not estimable: no epochs recorded',
      'not estimable: joules not measured',
      'not estimable: no epochs recorded',
      'still running',
      'ended by a failure, not stopped early',
      'not estimable: ran 12 epochs, more than the 10 of a full run',
      undefined,
    ]);
  });

  it('a completed trial that ran every epoch saved nothing; a lineage whose kg CO2e was not measured saves joules only', () => {
    const saved = energySaved([frozenTrial({ number: 0, executions: ONE_EXECUTION, summary: { joules: 20, epochs: 10 } }), frozenTrial({ number: 1, state: 'pruned', summary: { joules: 2, epochs: 1 } })], 10);
    expect(saved.savedJoules).toBe(18);
    expect(saved.savedKgCo2e).toBe(0);
    expect(saved.lineages[1]?.savedKgCo2e).toBeUndefined();
  });
});

describe('studyReport', () => {
  const space = createSearchSpace({ units: { type: 'int', min: 16, max: 64, step: 16 }, act: { type: 'choice', values: ['relu', 'tanh'] } });
  const trials = [
    frozenTrial({ number: 0, values: { units: 16, act: 'relu' }, scores: [0.9, 100], violation: 0, summary: { joules: 100, epochs: 10 } }),
    frozenTrial({ number: 1, values: { units: 64, act: 'relu' }, scores: [0.99, 400], violation: 0, summary: { joules: 400, epochs: 10 } }),
    frozenTrial({ number: 2, values: { units: 32, act: 'tanh' }, scores: [0.95, 500], violation: 0, summary: { joules: 500, epochs: 10 } }),
    frozenTrial({ number: 3, values: { units: 48, act: 'tanh' }, scores: [0.999, 50], violation: 0.2, summary: { joules: 50, epochs: 10 } }),
    frozenTrial({ number: 4, values: { units: 48, act: 'relu' }, state: 'pruned', summary: { joules: 20, epochs: 2 } }),
  ];

  it('has the best feasible trial per objective, the Pareto front rows, and importances per objective', () => {
    const report = studyReport({ trials, objectives: ACC_JOULES, maxEpochs: 10, space, seed: 1 });
    expect(report.best).toEqual([
      { objective: ACC_JOULES[0], number: 1, value: 0.99, feasible: true },
      { objective: ACC_JOULES[1], number: 0, value: 100, feasible: true },
    ]);
    expect(report.front.map((r) => r.number)).toEqual([0, 1]);
    expect(report.front[0]).toEqual({ number: 0, state: 'completed', params: { units: 16, act: 'relu' }, scores: { val_accuracy: 0.9, joules: 100 }, joules: 100, epochs: 10, violation: 0 });
    expect(report.importances.map((i) => i.objective)).toEqual(['val_accuracy', 'joules']);
    expect(report.importances[0]?.importances.map((i) => i.name).sort()).toEqual(['act', 'units']);
    expect(report.energy.joules).toBe(1070);
    expect(report.saved.savedJoules).toBe(80);
  });

  it('names the least infeasible trial when none meets the constraints, and has no importances without a space', () => {
    const infeasible = [frozenTrial({ number: 0, scores: [0.9, 1], violation: 2 }), frozenTrial({ number: 1, scores: [0.8, 2], violation: 1 })];
    const report = studyReport({ trials: infeasible, objectives: ACC_JOULES, maxEpochs: 10 });
    expect(report.best.map((b) => [b.number, b.feasible])).toEqual([
      [1, false],
      [1, false],
    ]);
    expect(report.front).toEqual([]);
    expect(report.importances).toEqual([]);
  });

  it('exports JSON-ready rows: a JSON round trip changes nothing', () => {
    const rows = trialRows(trials, ACC_JOULES);
    expect(JSON.parse(JSON.stringify(rows))).toEqual(rows);
    expect(rows[4]).toEqual({ number: 4, state: 'pruned', params: { units: 48, act: 'relu' }, scores: {}, joules: 20, epochs: 2 });
  });
});

/** An RFC 4180 reader for the tests: records of fields, CRLF after each record. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted && ch === '"' && text[i + 1] === '"') {
      field += '"';
      i++;
    } else if (ch === '"') {
      quoted = !quoted;
    } else if (!quoted && ch === ',') {
      record.push(field);
      field = '';
    } else if (!quoted && ch === '\r' && text[i + 1] === '\n') {
      records.push([...record, field]);
      [record, field] = [[], ''];
      i++;
    } else {
      field += ch;
    }
  }
  return records;
}

describe('toCsv', () => {
  it('has one row per trial with the fixed columns, and empty fields for what a trial lacks', () => {
    const trials = [
      frozenTrial({ number: 1, values: { lr: 0.01 }, state: 'pruned', summary: { joules: 3, epochs: 1 }, attrs: { parent: 0 } }),
      frozenTrial({ number: 0, values: { lr: 0.1, act: 'relu' }, scores: [0.9, 12], violation: 0, durationS: 4.5, summary: { joules: 12, kg_co2e: 0.002, epochs: 10 } }),
    ];
    expect(toCsv(trials, ACC_JOULES)).toBe(
      [
        'number,state,params_lr,params_act,values_val_accuracy,values_joules,joules,kg_co2e,epochs,duration_s,violation,parent',
        '0,completed,0.1,relu,0.9,12,12,0.002,10,4.5,0,',
        '1,pruned,0.01,,,,3,,1,,,0',
        '',
      ].join('\r\n'),
    );
  });

  it('quotes fields with commas, quotes or line breaks (RFC 4180), so any value reads back unchanged', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', ',', '"', '\r', '\n', ' ', 'é') }), fc.string({ unit: fc.constantFrom('b', ',', '"', '\n') }), (value, name) => {
        const csv = toCsv([frozenTrial({ number: 0, values: { [`p${name}`]: value } })], [{ name: 'loss', direction: 'min' }]);
        const [header, row] = parseCsv(csv);
        expect(header?.[2]).toBe(`params_p${name}`);
        expect(row?.[2]).toBe(value);
        expect(row).toHaveLength(header?.length ?? -1);
      }),
    );
  });
});
